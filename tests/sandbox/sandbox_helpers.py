"""Helpers for the sandbox tests: credentials, Basic headers, a small HTTP client."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from sandbox import SANDBOX_CREDENTIALS

if TYPE_CHECKING:
    import aiohttp

    from sandbox import SandboxServer

PN = SANDBOX_CREDENTIALS["powernaut"]
EC = SANDBOX_CREDENTIALS["energy_coordination"]
FM = SANDBOX_CREDENTIALS["flexmeasures"]


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
                    await resp.json()
                    if resp.content_type == "application/json"
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
