"""A recording fake of the platforms' HTTP APIs, serving recorded responses.

Each test starts its own ``aiohttp`` server on 127.0.0.1. Routes answer with
replies queued per ``(method, path)``: each request takes the next one, the
last one repeats. Every request is recorded so tests can assert the exact
wire form (method, path, query, headers, body).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    """Return the recorded JSON response ``fixtures/<name>.json``."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Reply:
    """One canned answer: JSON (``body``) or raw bytes, after an optional delay."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


def reply(status: int = 200, fixture: str | None = None, **kwargs: Any) -> Reply:
    """Build a ``Reply``, with the body taken from a recorded fixture if named."""
    if fixture is not None:
        kwargs["body"] = load(fixture)
    return Reply(status=status, **kwargs)


@dataclass(frozen=True, slots=True)
class Recorded:
    """A request as the fake platform received it."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body parsed as an HTML form."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class FakePlatform:
    """The recording fake server."""

    url: str = ""
    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def on(self, method: str, path: str, *replies: Reply) -> None:
        """Answer ``method path`` with ``replies`` in turn (the last one repeats)."""
        self.routes[(method, path)] = list(replies)

    def sent(
        self, method: str | None = None, path: str | None = None
    ) -> list[Recorded]:
        """The recorded requests, optionally only those to ``method path``."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (path is None or r.path == path)
        ]

    def calls(self) -> list[str]:
        """``METHOD /path`` of every request, in order."""
        return [f"{r.method} {r.path}" for r in self.requests]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request and answer with the next queued reply."""
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                raw_path=request.raw_path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
            )
        )
        queue = self.routes.get((request.method, request.path))
        if not queue:
            return web.json_response(
                {"message": f"no canned reply for {request.method} {request.path}"},
                status=418,
            )
        canned = queue.pop(0) if len(queue) > 1 else queue[0]
        if canned.delay:
            await asyncio.sleep(canned.delay)
        if canned.raw is not None:
            data = canned.raw
        elif canned.body is not None:
            data = json.dumps(canned.body).encode()
        else:
            data = b""
        return web.Response(
            status=canned.status,
            body=data,
            headers=canned.headers,
            content_type=canned.content_type,
        )


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at an arbitrary point."""
        self.now = 1000.0

    def __call__(self) -> float:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture
async def fake(socket_enabled: None) -> AsyncIterator[FakePlatform]:
    """Run a recording fake platform on 127.0.0.1."""
    platform = FakePlatform()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", platform.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    platform.url = str(server.make_url("")).rstrip("/")
    try:
        yield platform
    finally:
        await server.close()


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session, as Home Assistant would inject."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def clock() -> FakeClock:
    """A clock for token renewal."""
    return FakeClock()
