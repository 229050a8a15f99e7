"""Fixtures for the sandbox tests: a running server, an HTTP session, a client, a webhook receiver."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
import pytest
from sandbox_helpers import Client, WebhookReceiver

from sandbox import SandboxServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def sandbox(socket_enabled: None) -> AsyncIterator[SandboxServer]:
    """Run a sandbox server on a free port.

    The Home Assistant test plugin blocks socket creation; ``socket_enabled``
    lifts that for this test (connections stay limited to 127.0.0.1).
    Webhook retries back off from 0.05 s and attempts time out after 1 s.
    """
    server = SandboxServer(
        host="127.0.0.1", port=0, webhook_retry_base_delay=0.05, webhook_timeout=1.0
    )
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Give an HTTP client session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(sandbox: SandboxServer, http: aiohttp.ClientSession) -> Client:
    """Give the request helper."""
    return Client(sandbox, http)


@pytest.fixture
async def receiver(socket_enabled: None) -> AsyncIterator[WebhookReceiver]:
    """Run a webhook receiver (``POST /notify``) on a free port of 127.0.0.1."""
    hook = WebhookReceiver()
    app = web.Application()
    app.router.add_post("/notify", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/notify"
    yield hook
    hook.release()
    await runner.cleanup()
