"""The sandbox server itself: start/stop, URL, the standalone entry point."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox import SANDBOX_CREDENTIALS, SandboxServer
from sandbox.__main__ import _banner, _parse_args


async def test_start_stop_and_url(socket_enabled: None) -> None:
    """The server binds a free port, exposes its URL and stops cleanly, twice."""
    server = SandboxServer(host="127.0.0.1", port=0)
    with pytest.raises(RuntimeError):
        _ = server.url
    await server.start()
    assert server.running
    assert server.url.startswith("http://127.0.0.1:")
    assert not server.url.endswith("/")
    with pytest.raises(RuntimeError):
        await server.start()
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.url + "/api/") as resp,
    ):
        assert resp.status == 200
    await server.stop()
    await server.stop()
    assert not server.running


async def test_async_context_manager(socket_enabled: None) -> None:
    """``async with SandboxServer()`` starts and stops it."""
    async with SandboxServer() as server:
        assert server.running
        assert (
            server.state.flexmeasures.users[1]["email"]
            == (SANDBOX_CREDENTIALS["flexmeasures"]["email"])
        )
    assert not server.running


async def test_state_survives_restart_of_the_object(socket_enabled: None) -> None:
    """Each server has its own state; a new server starts seeded."""
    async with SandboxServer() as first, SandboxServer() as second:
        assert first.url != second.url
        first.state.energy_coordination.users["u"] = {"userId": "u"}
        assert second.state.energy_coordination.users == {}


def test_cli_arguments_and_banner() -> None:
    """``python -m sandbox`` parses host/port and prints URL and credentials."""
    args = _parse_args(["--host", "127.0.0.1", "--port", "9999"])
    assert (args.host, args.port) == ("127.0.0.1", 9999)
    assert (args.webhook_retry_delay, args.webhook_timeout) == (1.0, 5.0)
    args = _parse_args(["--webhook-retry-delay", "0.1", "--webhook-timeout", "2"])
    assert (args.webhook_retry_delay, args.webhook_timeout) == (0.1, 2.0)
    server = SandboxServer()
    server._url = "http://127.0.0.1:9999"
    banner = _banner(server)
    assert "http://127.0.0.1:9999/v1" in banner
    assert "http://127.0.0.1:9999/connect/token" in banner
    assert SANDBOX_CREDENTIALS["flexmeasures"]["password"] in banner
    assert SANDBOX_CREDENTIALS["powernaut"]["client_secret"] in banner
