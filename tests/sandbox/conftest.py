"""Fixtures for the sandbox tests: a running server, an HTTP session, a client."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import pytest
from sandbox_helpers import Client

from sandbox import SandboxServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def sandbox(socket_enabled: None) -> AsyncIterator[SandboxServer]:
    """Run a sandbox server on a free port.

    The Home Assistant test plugin blocks socket creation; ``socket_enabled``
    lifts that for this test (connections stay limited to 127.0.0.1).
    """
    server = SandboxServer(host="127.0.0.1", port=0)
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
