"""Energy Coordination location-bound resources in the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import Client

if TYPE_CHECKING:
    from sandbox import SandboxServer

BASE = "/energy-coordination/v1"
MPID = "707057500000000001"
MPID_2 = "707057500000000002"


async def setup_location(
    client: Client, user_id: str = "u1", location_id: str = "home", mpid: str = MPID
) -> dict[str, str]:
    """Create a user (if new) with one location; return the auth headers."""
    headers = await client.energy_coordination_headers()
    await client.request(
        "POST", f"{BASE}/users", json={"userId": user_id}, headers=headers
    )
    status, body, _ = await client.request(
        "POST",
        f"{BASE}/users/{user_id}/locations",
        json={"locationId": location_id, "meterPointIds": [mpid]},
        headers=headers,
    )
    assert status == 201, body
    return headers


async def test_resource_lifecycle(client: Client, sandbox: SandboxServer) -> None:
    """Create, list (per location and per user), get and delete resources."""
    headers = await setup_location(client)
    path = f"{BASE}/users/u1/locations/home/resources"
    status, body, _ = await client.request(
        "POST",
        path,
        json={"resourceId": "hp-1", "resourceType": "HVAC", "meterPointId": MPID},
        headers=headers,
    )
    assert status == 201
    assert body == {
        "resourceId": "hp-1",
        "resourceType": "HVAC",
        "locationId": "home",
        "userId": "u1",
        "meterPointId": MPID,
    }
    status, body, _ = await client.request(
        "POST",
        path,
        json={"resourceId": "boiler-1", "resourceType": "HotWaterTank"},
        headers=headers,
    )
    assert (status, body["meterPointId"]) == (201, None)

    status, body, _ = await client.request("GET", path, headers=headers)
    assert status == 200
    assert [item["resourceId"] for item in body] == ["hp-1", "boiler-1"]
    assert set(body[0]) == {
        "resourceId",
        "resourceType",
        "locationId",
        "userId",
        "meterPointId",
    }

    status, body, _ = await client.request(
        "GET", f"{BASE}/resources/hp-1", headers=headers
    )
    assert (status, body) == (
        200,
        {
            "resourceId": "hp-1",
            "resourceType": "HVAC",
            "userId": "u1",
            "locationId": "home",
            "meterPointId": MPID,
        },
    )
    assert sandbox.state.energy_coordination.resources["hp-1"] == body

    status, body, _ = await client.request(
        "GET", f"{BASE}/users/u1/resources", headers=headers
    )
    assert status == 200
    assert [item["resourceId"] for item in body["resources"]] == ["hp-1", "boiler-1"]

    status, body, _ = await client.request(
        "DELETE", f"{BASE}/resources/hp-1", headers=headers
    )
    assert (status, body) == (204, None)
    for method in ("GET", "DELETE"):
        status, body, _ = await client.request(
            method, f"{BASE}/resources/hp-1", headers=headers
        )
        assert (status, body) == (404, None)
    assert list(sandbox.state.energy_coordination.resources) == ["boiler-1"]
    assert sandbox.state.violations == []


async def test_duplicate_resource_id_is_refused_everywhere(
    client: Client, sandbox: SandboxServer
) -> None:
    """A resource id can be registered once, across users and locations."""
    headers = await setup_location(client)
    await setup_location(client, user_id="u2", location_id="cabin", mpid=MPID_2)
    body = {"resourceId": "ev-charger", "resourceType": "Charger"}
    status, _, _ = await client.request(
        "POST", f"{BASE}/users/u1/locations/home/resources", json=body, headers=headers
    )
    assert status == 201
    for path in (
        f"{BASE}/users/u1/locations/home/resources",
        f"{BASE}/users/u2/locations/cabin/resources",
    ):
        status, answer, _ = await client.request(
            "POST", path, json=body, headers=headers
        )
        assert (status, answer) == (
            400,
            "Resource with id 'ev-charger' already exists",
        )
    assert len(sandbox.state.violations) == 2
    assert sandbox.state.energy_coordination.resources["ev-charger"]["userId"] == "u1"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"resourceId": "r", "resourceType": "Heatpump"},
            "body.resourceType: 'Heatpump' is not one of ['Generic',",
            id="bad-enum",
        ),
        pytest.param(
            {"resourceId": "r"}, "body.resourceType: is required", id="missing-type"
        ),
        pytest.param(
            {"resourceType": "Generic"}, "body.resourceId: is required", id="missing-id"
        ),
        pytest.param(
            {"resourceId": "", "resourceType": "Generic"},
            "resourceId is required",
            id="empty-id",
        ),
        pytest.param(
            {"resourceId": "r", "resourceType": "Generic", "locationId": "home"},
            "body.locationId: is not allowed",
            id="unknown-field",
        ),
        pytest.param(
            {"resourceId": "r", "resourceType": "Generic", "meterPointId": "123"},
            "meterPointId '123' is not a meter point id",
            id="bad-meter-point",
        ),
        pytest.param(["r"], "body: ['r'] is not of type 'object'", id="not-an-object"),
    ],
)
async def test_resource_validation(
    client: Client, sandbox: SandboxServer, body: Any, expected: str
) -> None:
    """Invalid bodies are 400 with a JSON string, recorded as violations."""
    headers = await setup_location(client)
    status, answer, _ = await client.request(
        "POST",
        f"{BASE}/users/u1/locations/home/resources",
        json=body,
        headers=headers,
    )
    assert status == 400
    assert isinstance(answer, str)
    assert answer.startswith(expected), answer
    [violation] = sandbox.state.violations
    assert violation["platform"] == "energy_coordination"
    assert sandbox.state.energy_coordination.resources == {}


async def test_unknown_user_or_location_is_404(
    client: Client, sandbox: SandboxServer
) -> None:
    """Unknown users and locations are 404 without body, not violations."""
    headers = await setup_location(client)
    await setup_location(client, user_id="u2", location_id="cabin", mpid=MPID_2)
    body = {"resourceId": "r", "resourceType": "Generic"}
    for path in (
        f"{BASE}/users/nobody/locations/home/resources",
        f"{BASE}/users/u1/locations/nowhere/resources",
        # Another user's location is not found under this user.
        f"{BASE}/users/u1/locations/cabin/resources",
    ):
        for method, kwargs in (("POST", {"json": body}), ("GET", {})):
            status, answer, _ = await client.request(
                method, path, headers=headers, **kwargs
            )
            assert (status, answer) == (404, None), (method, path)
    status, answer, _ = await client.request(
        "GET", f"{BASE}/users/nobody/resources", headers=headers
    )
    assert (status, answer) == (404, None)
    status, answer, _ = await client.request("GET", f"{BASE}/resources/r", headers={})
    assert status == 401
    assert sandbox.state.violations == []


async def test_deleting_a_location_or_user_deletes_its_resources(
    client: Client, sandbox: SandboxServer
) -> None:
    """Resources go with their location, and with their user."""
    headers = await setup_location(client)
    await client.request(
        "POST",
        f"{BASE}/users/u1/locations",
        json={"locationId": "garage", "meterPointIds": [MPID_2]},
        headers=headers,
    )
    for location_id, resource_id in (("home", "hp"), ("garage", "charger")):
        await client.request(
            "POST",
            f"{BASE}/users/u1/locations/{location_id}/resources",
            json={"resourceId": resource_id, "resourceType": "Generic"},
            headers=headers,
        )
    status, _, _ = await client.request(
        "DELETE", f"{BASE}/users/u1/locations/home", headers=headers
    )
    assert status == 204
    assert list(sandbox.state.energy_coordination.resources) == ["charger"]
    status, _, _ = await client.request("GET", f"{BASE}/resources/hp", headers=headers)
    assert status == 404
    status, _, _ = await client.request("DELETE", f"{BASE}/users/u1", headers=headers)
    assert status == 204
    assert sandbox.state.energy_coordination.resources == {}
