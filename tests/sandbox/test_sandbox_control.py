"""The control API: faults, token expiry, credential revocation, statuses, logs, reset."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from sandbox_helpers import EC, FM, PN, Client, basic

from sandbox import SandboxServer

SITE = {
    "location": {"address": "Main Street 1, 2000 Antwerp, Belgium"},
    "supply_points": [
        {"grid_identifier": "541448820000000009", "direction": "offtake"}
    ],
}


async def test_status_fault_per_platform_envelope(client: Client) -> None:
    """A status fault answers in each platform's envelope, ``times`` limits it."""
    pn = await client.powernaut_headers()
    await client.control(
        "POST", "/faults", {"path": "/v1/connect/sites*", "kind": "status", "times": 1}
    )
    status, body, _ = await client.request("GET", "/v1/connect/sites", headers=pn)
    assert (status, body["status_code"], body["error"]) == (
        503,
        503,
        "Service Unavailable",
    )
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=pn)
    assert status == 200

    fm = await client.flexmeasures_headers()
    await client.control(
        "POST",
        "/faults",
        {"method": "GET", "path": "/api/v3_0/*", "kind": "status", "status": 500},
    )
    for _ in range(2):
        status, body, _ = await client.request("GET", "/api/v3_0/assets", headers=fm)
        assert (status, body["status"]) == (500, 500)
    # Another method is not hit.
    status, _, _ = await client.request("POST", "/api/v3_0/assets", json={}, headers=fm)
    assert status == 422
    cleared = await client.control("DELETE", "/faults")
    assert cleared == {"cleared": 1}
    status, _, _ = await client.request("GET", "/api/v3_0/assets", headers=fm)
    assert status == 200


async def test_rate_limit_fault(client: Client, sandbox: SandboxServer) -> None:
    """Rate limits answer 429 with Retry-After, also on token endpoints."""
    answer = await client.control(
        "POST",
        "/faults",
        {"path": "/connect/token", "kind": "rate_limit", "retry_after": 7},
    )
    status, body, resp = await client.request(
        "POST",
        "/connect/token",
        data={"grant_type": "client_credentials", **EC},
    )
    assert status == 429
    assert resp.headers["Retry-After"] == "7"
    assert isinstance(body, str)
    entry = sandbox.state.requests[-1]
    assert (entry["status"], entry["fault"], entry["platform"]) == (
        429,
        answer["id"],
        "energy_coordination",
    )

    await client.control(
        "POST", "/faults", {"path": "/v1/auth/token", "kind": "rate_limit"}
    )
    status, body, resp = await client.request(
        "POST",
        "/v1/auth/token",
        headers={"Authorization": basic(PN["client_id"], PN["client_secret"])},
    )
    assert (status, body["status_code"], resp.headers["Retry-After"]) == (429, 429, "1")

    await client.control("POST", "/faults", {"path": "/api/*", "kind": "rate_limit"})
    status, body, _ = await client.request(
        "POST",
        "/api/requestAuthToken",
        json={"email": FM["email"], "password": FM["password"]},
    )
    assert (status, body["status"], body["result"]) == (
        429,
        "TOO_MANY_REQUESTS",
        "Rejected",
    )


async def test_malformed_fault(client: Client) -> None:
    """Malformed answers 200 application/json with a body that is not JSON."""
    pn = await client.powernaut_headers()
    await client.control(
        "POST", "/faults", {"path": "/v1/*", "kind": "malformed", "times": 1}
    )
    async with client.http.get(
        client.sandbox.url + "/v1/connect/sites", headers=pn
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        with pytest.raises(ValueError):
            await resp.json()


async def test_delay_fault(client: Client) -> None:
    """A delay waits, then answers normally."""
    pn = await client.powernaut_headers()
    await client.control(
        "POST",
        "/faults",
        {"path": "/v1/connect/sites", "kind": "delay", "seconds": 0.3, "times": 1},
    )
    start = time.monotonic()
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=pn)
    assert status == 200
    assert time.monotonic() - start >= 0.3


async def test_delay_is_cancelled_on_stop(
    http: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Stopping the server cancels a pending delay; nothing lingers."""
    server = SandboxServer()
    await server.start()
    try:
        client = Client(server, http)
        await client.control(
            "POST", "/faults", {"path": "/api/", "kind": "delay", "seconds": 30}
        )
        pending = asyncio.ensure_future(client.request("GET", "/api/"))
        for _ in range(100):
            if server._delays.pending:
                break
            await asyncio.sleep(0.01)
        assert server._delays.pending == 1
    finally:
        await server.stop()
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert server._delays.pending == 0


@pytest.mark.parametrize(
    "spec",
    [
        {"path": "/v1/*", "kind": "explode"},
        {"kind": "status"},
        {"path": "/v1/*", "kind": "status", "status": 404},
        {"path": "/v1/*", "kind": "delay"},
        {"path": "/v1/*", "kind": "delay", "seconds": -1},
        {"path": "/v1/*", "kind": "rate_limit", "retry_after": "soon"},
        {"path": "/v1/*", "kind": "status", "times": 0},
        {"path": "/v1/*", "kind": "status", "method": "BREW"},
        {"path": "/v1/*", "kind": "status", "colour": "red"},
    ],
)
async def test_invalid_fault_specs(client: Client, spec: dict[str, object]) -> None:
    """Fault specs are validated."""
    status, body, _ = await client.request("POST", "/_sandbox/faults", json=spec)
    assert status == 400
    assert body["error"]


async def test_token_lifetime_and_issued_count(client: Client) -> None:
    """A set lifetime is announced and enforced; every issued token is counted."""
    answer = await client.control(
        "PUT", "/tokens/lifetime", {"platform": "powernaut", "seconds": 1}
    )
    assert answer["lifetimes"] == {
        "powernaut": 1,
        "energy_coordination": 3600,
        "flexmeasures": 21600,
    }
    status, body, _ = await client.request(
        "POST",
        "/v1/auth/token",
        headers={"Authorization": basic(PN["client_id"], PN["client_secret"])},
    )
    assert (status, body["expires_in"]) == (200, 1)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=headers)
    assert status == 200
    await asyncio.sleep(1.05)
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=headers)
    assert status == 401
    await client.energy_coordination_headers()
    await client.energy_coordination_headers()
    state = await client.control("GET", "/state")
    assert state["auth"]["issued"] == {
        "powernaut": 1,
        "energy_coordination": 2,
        "flexmeasures": 0,
    }
    # Expired tokens still count as issued; null goes back to the default.
    await client.control("POST", "/tokens/expire")
    answer = await client.control("PUT", "/tokens/lifetime", {"seconds": None})
    assert answer["lifetimes"]["powernaut"] == 3600
    state = await client.control("GET", "/state")
    assert state["auth"]["issued"]["energy_coordination"] == 2
    await client.control("POST", "/reset")
    state = await client.control("GET", "/state")
    assert state["auth"]["issued"]["energy_coordination"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"seconds": 0},
        {"seconds": 1.5},
        {"seconds": "60"},
        {"platform": "nope", "seconds": 60},
        {"seconds": 60, "colour": "red"},
        [60],
    ],
)
async def test_invalid_token_lifetime(client: Client, body: object) -> None:
    """The lifetime control refuses what it cannot apply."""
    status, answer, _ = await client.request(
        "PUT", "/_sandbox/tokens/lifetime", json=body
    )
    assert status == 400
    assert answer["error"]


async def test_expire_tokens(client: Client) -> None:
    """Expired tokens get 401; a new token works."""
    pn = await client.powernaut_headers()
    ec = await client.energy_coordination_headers()
    fm = await client.flexmeasures_headers()
    assert await client.control(
        "POST", "/tokens/expire", {"platform": "powernaut"}
    ) == {"expired": 1}
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=pn)
    assert status == 401
    status, _, _ = await client.request(
        "GET", "/energy-coordination/v1/users", headers=ec
    )
    assert status == 200
    pn = await client.powernaut_headers()
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=pn)
    assert status == 200

    assert await client.control("POST", "/tokens/expire") == {"expired": 3}
    status, _, _ = await client.request(
        "GET", "/energy-coordination/v1/users", headers=ec
    )
    assert status == 401
    status, _, _ = await client.request("GET", "/api/v3_0/assets", headers=fm)
    assert status == 401


async def test_revoke_and_restore_credentials(
    client: Client, sandbox: SandboxServer
) -> None:
    """Revoked credentials are refused at the token endpoint; restore accepts them again."""
    pn = await client.powernaut_headers()
    await client.control("POST", "/credentials/revoke", {"platform": "powernaut"})
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=pn)
    assert status == 401
    status, body, _ = await client.request(
        "POST",
        "/v1/auth/token",
        headers={"Authorization": basic(PN["client_id"], PN["client_secret"])},
    )
    assert (status, body["message"]) == (403, "Invalid credentials")
    await client.control("POST", "/credentials/restore", {"platform": "powernaut"})
    await client.powernaut_headers()

    await client.control(
        "POST", "/credentials/revoke", {"platform": "energy_coordination"}
    )
    status, body, _ = await client.request(
        "POST", "/connect/token", data={"grant_type": "client_credentials", **EC}
    )
    assert (status, body) == (400, {"error": "invalid_client"})
    await client.control("POST", "/credentials/revoke", {"platform": "flexmeasures"})
    status, _, _ = await client.request(
        "POST",
        "/api/requestAuthToken",
        json={"email": FM["email"], "password": FM["password"]},
    )
    assert status == 401
    assert sandbox.state.auth.revoked == {"energy_coordination", "flexmeasures"}
    await client.control("POST", "/credentials/restore")
    assert sandbox.state.auth.revoked == set()
    # Refused credentials are not contract violations.
    assert sandbox.state.violations == []

    status, body, _ = await client.request(
        "POST", "/_sandbox/credentials/revoke", json={"platform": "elsewhere"}
    )
    assert status == 400


async def test_site_status_control(client: Client) -> None:
    """PATCH /_sandbox/powernaut/sites/{id} changes statuses, validating the enums."""
    pn = await client.powernaut_headers()
    _, site, _ = await client.request(
        "POST", "/v1/connect/sites", json=SITE, headers=pn
    )
    changed = await client.control(
        "PATCH",
        f"/powernaut/sites/{site['id']}",
        {"status": "onboarded", "upstream_status": "contract_active"},
    )
    assert (changed["status"], changed["upstream_status"]) == (
        "onboarded",
        "contract_active",
    )
    _, body, _ = await client.request(
        "GET", f"/v1/connect/sites/{site['id']}", headers=pn
    )
    assert (body["status"], body["upstream_status"]) == ("onboarded", "contract_active")

    for bad in ({"status": "active"}, {"upstream_status": "signed"}, {"name": "x"}):
        status, body, _ = await client.request(
            "PATCH", f"/_sandbox/powernaut/sites/{site['id']}", json=bad
        )
        assert status == 400, bad
    status, _, _ = await client.request(
        "PATCH",
        "/_sandbox/powernaut/sites/00000000-0000-0000-0000-000000000000",
        json={},
    )
    assert status == 404


async def test_logs_state_and_reset(client: Client, sandbox: SandboxServer) -> None:
    """Request log, violations, state dump and reset."""
    pn = await client.powernaut_headers()
    await client.request("POST", "/v1/connect/sites", json=SITE, headers=pn)
    await client.request("POST", "/v1/connect/sites", json={"location": 1}, headers=pn)
    await client.request("GET", "/nowhere")

    log = await client.control("GET", "/requests")
    assert [
        (entry["method"], entry["path"], entry["status"], entry["platform"])
        for entry in log
    ] == [
        ("POST", "/v1/auth/token", 200, "powernaut"),
        ("POST", "/v1/connect/sites", 201, "powernaut"),
        ("POST", "/v1/connect/sites", 400, "powernaut"),
        ("GET", "/nowhere", 404, None),
    ]
    violations = await client.control("GET", "/violations")
    assert [(v["path"], v["status"]) for v in violations] == [
        ("/v1/connect/sites", 400),
        ("/nowhere", 404),
    ]

    state = await client.control("GET", "/state")
    assert len(state["powernaut"]["sites"]) == 1
    assert state["flexmeasures"]["accounts"][0]["id"] == 1
    assert state["auth"]["tokens"]["powernaut"] == 1

    await client.control("POST", "/faults", {"path": "*", "kind": "status"})
    state_object = sandbox.state
    await client.control("POST", "/reset")
    assert sandbox.state is state_object
    assert sandbox.state.powernaut.sites == {}
    assert sandbox.state.faults.faults == []
    assert sandbox.state.requests == []
    assert sandbox.state.violations == []
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=pn)
    assert status == 401
    status, body, _ = await client.request("GET", "/_sandbox/nothing")
    assert (status, body["error"]) == (
        404,
        "No such control route: GET /_sandbox/nothing",
    )


async def test_tokens_expire_with_time(client: Client, sandbox: SandboxServer) -> None:
    """A token past its lifetime is refused like an expired one."""
    headers = await client.energy_coordination_headers()
    for issued in sandbox.state.auth.tokens.values():
        issued.expires_at = time.time() - 1
    status, body, _ = await client.request(
        "GET", "/energy-coordination/v1/users", headers=headers
    )
    assert (status, body) == (401, None)
