"""Energy Coordination (Volue Spark) in the sandbox: token, users, locations, validation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import EC, Client, basic

if TYPE_CHECKING:
    from sandbox import SandboxServer

BASE = "/energy-coordination/v1"
MPID = "707057500000000001"
MPID_2 = "707057500000000002"


async def test_token_flow(client: Client) -> None:
    """Client credentials give a token; errors follow OAuth2."""
    form = {
        "grant_type": "client_credentials",
        "client_id": EC["client_id"],
        "client_secret": EC["client_secret"],
    }
    status, body, _ = await client.request("POST", "/connect/token", data=form)
    assert status == 200
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert (body["expires_in"], body["token_type"]) == (3600, "Bearer")

    status, body, _ = await client.request(
        "POST", "/connect/token", data={**form, "client_secret": "wrong"}
    )
    assert (status, body) == (400, {"error": "invalid_client"})
    status, body, _ = await client.request(
        "POST", "/connect/token", data={**form, "grant_type": "password"}
    )
    assert (status, body) == (400, {"error": "unsupported_grant_type"})
    status, body, _ = await client.request("POST", "/connect/token", json=form)
    assert (status, body) == (400, {"error": "invalid_request"})
    status, body, _ = await client.request(
        "POST",
        "/connect/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(EC["client_id"], EC["client_secret"])},
    )
    assert status == 200


async def test_bearer_scheme_and_401(client: Client) -> None:
    """The scheme is case-insensitive; a missing or unknown token is 401 without body."""
    headers = await client.energy_coordination_headers()
    token = headers["Authorization"].split(" ", 1)[1]
    status, body, _ = await client.request(
        "GET", f"{BASE}/users", headers={"Authorization": f"bearer {token}"}
    )
    assert status == 200
    for bad in ({}, {"Authorization": "Bearer unknown"}, {"Authorization": token}):
        status, body, resp = await client.request("GET", f"{BASE}/users", headers=bad)
        assert (status, body) == (401, None)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_users(client: Client, sandbox: SandboxServer) -> None:
    """Create, list (paginated), get and delete users."""
    headers = await client.energy_coordination_headers()
    for user_id in ("user-a", "user-b", "user-c"):
        status, body, _ = await client.request(
            "POST", f"{BASE}/users", json={"userId": user_id}, headers=headers
        )
        assert (status, body) == (201, {"userId": user_id})

    status, body, _ = await client.request(
        "POST", f"{BASE}/users", json={"userId": "user-a"}, headers=headers
    )
    assert status == 400
    assert isinstance(body, str)

    status, body, _ = await client.request(
        "GET", f"{BASE}/users?page=2&pageSize=2", headers=headers
    )
    assert status == 200
    assert body["users"] == [{"userId": "user-c"}]
    assert body["pagination"] == {
        "totalRecords": 3,
        "pageSize": 2,
        "currentPage": 2,
        "totalPages": 2,
        "nextPage": None,
        "previousPage": 1,
    }
    for query in ("page=0", "pageSize=1001", "pageSize=x"):
        status, body, _ = await client.request(
            "GET", f"{BASE}/users?{query}", headers=headers
        )
        assert status == 400, query

    status, body, _ = await client.request(
        "GET", f"{BASE}/users/user-b", headers=headers
    )
    assert (status, body) == (200, {"userId": "user-b"})
    status, body, _ = await client.request(
        "GET", f"{BASE}/users/nobody", headers=headers
    )
    assert (status, body) == (404, None)
    status, body, _ = await client.request(
        "DELETE", f"{BASE}/users/user-b", headers=headers
    )
    assert status == 204
    assert set(sandbox.state.energy_coordination.users) == {"user-a", "user-c"}


async def test_locations(client: Client, sandbox: SandboxServer) -> None:
    """Create, list, get, patch, replace and delete locations."""
    headers = await client.energy_coordination_headers()
    await client.request(
        "POST", f"{BASE}/users", json={"userId": "u1"}, headers=headers
    )
    path = f"{BASE}/users/u1/locations"

    status, body, _ = await client.request(
        "POST",
        path,
        json={
            "locationId": "home",
            "locationType": "Residential",
            "meterPointIds": [MPID],
        },
        headers=headers,
    )
    assert status == 201
    assert body == {
        "locationId": "home",
        "locationType": "Residential",
        "coordinates": None,
        "meterPointId": MPID,
        "meterPointIds": [MPID],
        "userId": "u1",
    }

    status, body, _ = await client.request(
        "POST",
        path,
        json={
            "locationId": "cabin",
            "coordinates": {"latitude": 78.22, "longitude": 15.62},
        },
        headers=headers,
    )
    assert status == 201
    assert (body["locationType"], body["meterPointIds"]) == ("Unknown", [])

    status, body, _ = await client.request(
        "POST",
        path,
        json={"locationId": "home", "meterPointIds": [MPID_2]},
        headers=headers,
    )
    assert (status, body) == (409, None)
    status, body, _ = await client.request(
        "POST",
        path,
        json={"locationId": "other", "meterPointIds": [MPID]},
        headers=headers,
    )
    assert status == 409

    status, body, _ = await client.request("GET", path, headers=headers)
    assert [location["locationId"] for location in body] == ["home", "cabin"]

    status, body, _ = await client.request(
        "PATCH",
        f"{path}/home",
        # The spec's own PATCH example sends "locationType": null, but its
        # schema (a $ref without nullable) refuses it: GridFlex leaves it out.
        json={"coordinates": {"latitude": 59.9, "longitude": 10.7}},
        headers=headers,
    )
    assert status == 200
    assert body["locationType"] == "Residential"
    assert body["coordinates"] == {"latitude": 59.9, "longitude": 10.7}
    assert body["meterPointIds"] == [MPID]

    status, body, _ = await client.request(
        "PUT",
        f"{path}/cabin",
        json={
            "locationId": "cabin",
            "locationType": "Other",
            "meterPointIds": [MPID_2],
        },
        headers=headers,
    )
    assert status == 200
    assert body["coordinates"] is None
    assert body["meterPointIds"] == [MPID_2]

    status, body, _ = await client.request("GET", f"{path}/cabin", headers=headers)
    assert (status, body["locationType"]) == (200, "Other")
    status, body, _ = await client.request("DELETE", f"{path}/cabin", headers=headers)
    assert status == 204
    status, body, _ = await client.request("GET", f"{path}/cabin", headers=headers)
    assert (status, body) == (404, None)
    status, body, _ = await client.request(
        "POST",
        f"{BASE}/users/nobody/locations",
        json={"locationId": "x", "meterPointIds": [MPID_2]},
        headers=headers,
    )
    assert status == 404
    assert set(sandbox.state.energy_coordination.locations) == {"home"}
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"locationId": "l", "meterPointIds": ["12345"]}, "GSRN", id="short-gsrn"
        ),
        pytest.param(
            {"locationId": "l", "meterPointIds": ["70705750000000000X"]},
            "GSRN",
            id="non-digit",
        ),
        pytest.param(
            {"locationId": "l", "meterPointIds": [MPID], "extra": 1},
            "body.extra: is not allowed",
            id="unknown-field",
        ),
        pytest.param(
            {"locationId": "l"}, "Either meterPointIds or coordinates", id="neither"
        ),
        pytest.param(
            {"locationId": "l", "meterPointIds": [MPID], "locationType": "House"},
            "body.locationType: 'House' is not one of",
            id="bad-enum",
        ),
        pytest.param(
            {"locationId": "l", "coordinates": {"latitude": "59.9", "longitude": 10.7}},
            "body.coordinates.latitude: '59.9' is not of type 'number'",
            id="string-coordinate",
        ),
        pytest.param(
            {"meterPointIds": [MPID]},
            "body.locationId: is required",
            id="no-location-id",
        ),
    ],
)
async def test_location_validation(
    client: Client, sandbox: SandboxServer, body: dict[str, Any], expected: str
) -> None:
    """Invalid location bodies are 400 with a JSON string, recorded as violations."""
    headers = await client.energy_coordination_headers()
    await client.request(
        "POST", f"{BASE}/users", json={"userId": "u1"}, headers=headers
    )
    status, answer, _ = await client.request(
        "POST", f"{BASE}/users/u1/locations", json=body, headers=headers
    )
    assert status == 400
    assert isinstance(answer, str)
    assert expected in answer
    [violation] = sandbox.state.violations
    assert violation["platform"] == "energy_coordination"
    assert expected in violation["reason"]


async def test_unknown_user_field_is_rejected(client: Client) -> None:
    """PostUserRequest forbids unknown fields."""
    headers = await client.energy_coordination_headers()
    status, body, _ = await client.request(
        "POST", f"{BASE}/users", json={"userId": "u", "name": "x"}, headers=headers
    )
    assert status == 400
    assert body == "body.name: is not allowed (additionalProperties: false)"
