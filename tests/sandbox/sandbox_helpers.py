"""Helpers for the sandbox tests: credentials, Basic headers, a small HTTP client, a webhook receiver."""

from __future__ import annotations

import asyncio
import base64
import copy
from dataclasses import dataclass, field
import functools
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters

from sandbox import SANDBOX_CREDENTIALS
from sandbox.envelopes import ENERGY_COORDINATION
from sandbox.openapi import _Request, load_specs

if TYPE_CHECKING:
    import aiohttp

    from sandbox import SandboxServer

PN = SANDBOX_CREDENTIALS["powernaut"]
EC = SANDBOX_CREDENTIALS["energy_coordination"]
FM = SANDBOX_CREDENTIALS["flexmeasures"]
JSON_TYPES = ("application/json", "application/problem+json")


def basic(user: str, password: str) -> str:
    """Build an HTTP Basic header value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Client:
    """Thin helper: requests against the sandbox, answering (status, json-or-text)."""

    def __init__(self, sandbox: SandboxServer, http: aiohttp.ClientSession) -> None:
        """Bind to a server and a session."""
        self.sandbox = sandbox
        self.http = http

    async def request(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Send a request; return status, decoded body (None when empty) and the response."""
        async with self.http.request(method, self.sandbox.url + path, **kwargs) as resp:
            text = await resp.text()
            body: Any = None
            if text:
                body = (
                    await resp.json(content_type=None)
                    if resp.content_type in JSON_TYPES
                    else text
                )
            return resp.status, body, resp

    async def powernaut_headers(self) -> dict[str, str]:
        """Fetch a Powernaut token and return the Authorization header."""
        status, body, _ = await self.request(
            "POST",
            "/v1/auth/token",
            headers={"Authorization": basic(PN["client_id"], PN["client_secret"])},
        )
        assert status == 200, body
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def energy_coordination_headers(self) -> dict[str, str]:
        """Fetch an Energy Coordination token and return the Authorization header."""
        status, body, _ = await self.request(
            "POST",
            "/connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": EC["client_id"],
                "client_secret": EC["client_secret"],
            },
        )
        assert status == 200, body
        return {"Authorization": f"Bearer {body['access_token']}"}

    async def flexmeasures_headers(self) -> dict[str, str]:
        """Fetch a FlexMeasures token and return the (bare) Authorization header."""
        status, body, _ = await self.request(
            "POST",
            "/api/requestAuthToken",
            json={"email": FM["email"], "password": FM["password"]},
        )
        assert status == 200, body
        return {"Authorization": body["auth_token"]}

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a control route and return its JSON, asserting success."""
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        status, answer, _ = await self.request(method, "/_sandbox" + path, **kwargs)
        assert status in (200, 201), answer
        return answer


EC_BASE = "/energy-coordination/v1"
MPID = "707057500000000001"
MPID_2 = "707057500000000002"


async def ec_partner(
    client: Client, *, meter_points: tuple[str, ...] = (MPID,), resources: bool = True
) -> dict[str, str]:
    """Register user ``u1`` with location ``home`` (and resources ``hp-1``, ``ev-1``).

    ``hp-1`` has its own meter point (the location's first); ``ev-1`` has
    none. Return the Energy Coordination auth headers.
    """
    headers = await client.energy_coordination_headers()
    status, body, _ = await client.request(
        "POST", f"{EC_BASE}/users", json={"userId": "u1"}, headers=headers
    )
    assert status == 201, body
    status, body, _ = await client.request(
        "POST",
        f"{EC_BASE}/users/u1/locations",
        json={"locationId": "home", "meterPointIds": list(meter_points)},
        headers=headers,
    )
    assert status == 201, body
    if resources:
        for resource in (
            {
                "resourceId": "hp-1",
                "resourceType": "HVAC",
                "meterPointId": meter_points[0],
            },
            {"resourceId": "ev-1", "resourceType": "Charger"},
        ):
            status, body, _ = await client.request(
                "POST",
                f"{EC_BASE}/users/u1/locations/home/resources",
                json=resource,
                headers=headers,
            )
            assert status == 201, body
    return headers


@dataclass
class Received:
    """One request the webhook receiver got."""

    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        """Return the decoded body."""
        return json.loads(self.raw)


@dataclass
class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 standing in for a partner's webhook endpoint.

    ``statuses`` are answered in turn (200 once they run out); while ``hang``
    is set, requests wait (until the receiver stops) without an answer.
    """

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        """Record the request and answer it."""
        self.received.append(Received(dict(request.headers), await request.read()))
        self._arrived.set()
        if self.hang:
            await self._release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)

    async def wait_for(self, count: int, within: float = 5.0) -> list[Received]:
        """Wait until ``count`` requests arrived; return them."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received

    def release(self) -> None:
        """Let hanging requests finish."""
        self._release.set()


# Responses against the vendor spec


@dataclass
class _SpecResponse:
    """A response as openapi-core reads it."""

    data: bytes
    status_code: int
    content_type: str
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)


@functools.cache
def _ec_response_api() -> OpenAPI:
    """The Energy Coordination spec (errata applied), able to read problem+json."""
    document = copy.deepcopy(load_specs().platforms[ENERGY_COORDINATION].document)
    return OpenAPI.from_dict(
        document,
        config=Config(
            extra_media_type_deserializers={"application/problem+json": json.loads}
        ),
    )


def ec_response_problems(
    method: str, path: str, status: int, content_type: str, raw: bytes
) -> list[str]:
    """Check an Energy Coordination answer against the spec's response for it.

    ``path`` is the request path (``/energy-coordination/v1/...``, no query).
    Returns the problems (empty when the status, media type and body are what
    the spec documents for the operation).
    """
    request = _Request(
        method=method.lower(),
        path=path,
        parameters=RequestParameters(),
        content_type="",
        body=None,
    )
    response = _SpecResponse(raw, status, content_type)
    return [
        f"{type(error).__name__}: {error.__cause__ or error}"
        for error in _ec_response_api().iter_response_errors(request, response)
    ]
