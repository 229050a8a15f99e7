"""Powernaut Connect resources in the sandbox: CRUD, validation, groups, site status, control."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import Client, basic

if TYPE_CHECKING:
    from sandbox import SandboxServer

SITES = "/v1/connect/sites"
RESOURCES = "/v1/connect/resources"
SITE_BODY: dict[str, Any] = {
    "location": {"latitude": "50.501079", "longitude": "4.476460"},
    "supply_points": [
        {"grid_identifier": "541448820000000001", "direction": "bidirectional"}
    ],
}
DTO_KEYS = {
    "id",
    "type",
    "name",
    "external_id",
    "site_id",
    "power",
    "capacity",
    "group_id",
    "parent_id",
    "created_at",
    "modified_at",
    "last_seen_at",
}
POWER = {"active": {"minimum": "-5.0", "maximum": "5.0"}}


async def create_site(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    """Create a site and return it (with its Default credentials)."""
    status, body, _ = await client.request(
        "POST", SITES, json=SITE_BODY, headers=headers
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def create_resource(
    client: Client, headers: dict[str, str], site_id: str, **fields: Any
) -> dict[str, Any]:
    """Create a resource and return the ResourceDto."""
    body = {"site_id": site_id, "type": "static_battery", "power": POWER, **fields}
    status, answer, _ = await client.request(
        "POST", RESOURCES, json=body, headers=headers
    )
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


async def test_resource_lifecycle(client: Client, sandbox: SandboxServer) -> None:
    """Create, list, get, patch and delete; the site turns onboarded and back."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    assert site["status"] == "no_resources"

    battery = await create_resource(
        client,
        headers,
        site["id"],
        name="Home Battery",
        external_id="NCC-1701",
        capacity={"minimum": "0.0", "maximum": "13.5"},
        power={
            "active": {"minimum": "-5.0", "maximum": "5.0"},
            "reactive": {"minimum": "-1.5", "maximum": "1.5"},
        },
        webhooks={"accepted": "https://gridflex.example/hooks/accepted"},
    )
    assert set(battery) == DTO_KEYS | {"webhooks"}
    assert "status" not in battery
    assert "health_checks" not in battery
    assert battery["type"] == "static_battery"
    assert battery["site_id"] == site["id"]
    assert battery["power"]["reactive"] == {"minimum": "-1.5", "maximum": "1.5"}
    assert battery["capacity"] == {"minimum": "0.0", "maximum": "13.5"}
    assert (battery["group_id"], battery["parent_id"]) == (None, None)
    assert battery["last_seen_at"] is None
    assert battery["created_at"].endswith("Z")
    assert sandbox.state.powernaut.resources[battery["id"]] == battery
    assert sandbox.state.powernaut.sites[site["id"]]["status"] == "onboarded"

    charger = await create_resource(
        client,
        headers,
        site["id"],
        type="electric_vehicle_charging_point",
        power={"active": {"minimum": "0", "maximum": "7.4"}},
    )
    assert set(charger) == DTO_KEYS
    assert (charger["name"], charger["capacity"]) == (None, None)

    for query in (f"site_id={site['id']}", f"connection_point_id={site['id']}", ""):
        status, body, _ = await client.request(
            "GET", f"{RESOURCES}?{query}", headers=headers
        )
        assert status == 200
        assert body == {"total": 2, "items": [battery, charger]}

    status, body, _ = await client.request(
        "GET", f"{RESOURCES}/{battery['id']}", headers=headers
    )
    assert (status, body) == (200, battery)

    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/{battery['id']}",
        json={"name": "Garage Battery", "webhooks": {}},
        headers=headers,
    )
    assert status == 202
    assert body["name"] == "Garage Battery"
    assert body["capacity"] == battery["capacity"]  # not nullable: stays
    assert "webhooks" not in body
    assert body["power"] == battery["power"]
    assert body["external_id"] == "NCC-1701"
    assert body["modified_at"] >= battery["modified_at"]

    for resource in (battery, charger):
        status, body, _ = await client.request(
            "DELETE", f"{RESOURCES}/{resource['id']}", headers=headers
        )
        assert (status, body) == (204, None)
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}/{battery['id']}", headers=headers
    )
    assert (status, body) == (
        404,
        {
            "message": "Resource does not exist",
            "error": "Not Found",
            "status_code": 404,
        },
    )
    assert sandbox.state.powernaut.sites[site["id"]]["status"] == "no_resources"
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"power": {"active": {"minimum": 0, "maximum": "7.4"}}},
            "body.power.active.minimum: 0 is not of type 'string'",
            id="json-number",
        ),
        pytest.param(
            {"power": {"active": {"minimum": "0", "maximum": 7.4}}},
            "body.power.active.maximum: 7.4 is not of type 'string'",
            id="json-float",
        ),
        pytest.param(
            {"power": {"active": {"minimum": "0", "maximum": "7,4"}}},
            "body.power.active.maximum: '7,4' does not match",
            id="comma-decimal",
        ),
        pytest.param(
            {"power": {"active": {"minimum": "0", "maximum": "7.1234567"}}},
            "body.power.active.maximum: '7.1234567' does not match",
            id="seven-decimals",
        ),
        pytest.param(
            {"power": {"active": {"minimum": "8.0", "maximum": "7.4"}}},
            "power.active.minimum must not be greater than power.active.maximum",
            id="minimum-above-maximum",
        ),
        pytest.param(
            {"capacity": {"minimum": "20.0", "maximum": "13.5"}},
            "capacity.minimum must not be greater than capacity.maximum",
            id="capacity-minimum-above-maximum",
        ),
        pytest.param(
            {"capacity": {"maximum": 13.5}},
            "body.capacity.maximum: 13.5 is not of type 'string'",
            id="capacity-number",
        ),
        pytest.param(
            {"power": {"active": {"maximum": "7.4"}}},
            "body.power.active.minimum: is required",
            id="missing-minimum",
        ),
        pytest.param(
            {"power": {"reactive": {"minimum": "0", "maximum": "1"}}},
            "body.power.active: is required",
            id="missing-active",
        ),
        pytest.param(
            {"type": "solar_panel"},
            "body.type: 'solar_panel' is not one of",
            id="unknown-type",
        ),
        pytest.param(
            {"colour": "red"},
            "body.colour: is not allowed",
            id="unknown-field",
        ),
        pytest.param(
            {"power": {"active": {"minimum": "0", "maximum": "1", "nominal": "1"}}},
            "body.power.active.nominal: is not allowed",
            id="unknown-nested-field",
        ),
        pytest.param(
            {"group_id": "g1"}, "body.group_id: 'g1' is not a 'uuid'", id="bad-uuid"
        ),
        pytest.param(
            {"webhooks": {"accepted": "not a url"}},
            "webhooks.accepted must be a URL address",
            id="bad-webhook",
        ),
        pytest.param({"name": ""}, "body.name: '' should be non-empty", id="no-name"),
    ],
)
async def test_resource_validation(
    client: Client, sandbox: SandboxServer, changes: dict[str, Any], expected: str
) -> None:
    """Invalid CreateResourceDtos are 400 listing every message, recorded as violations."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    body = {"site_id": site["id"], "type": "heat_pump", "power": POWER, **changes}
    status, answer, _ = await client.request(
        "POST", RESOURCES, json=body, headers=headers
    )
    assert status == 400
    assert (answer["error"], answer["status_code"]) == ("Bad Request", 400)
    assert any(message.startswith(expected) for message in answer["message"]), answer
    assert sandbox.state.powernaut.resources == {}
    assert sandbox.state.powernaut.sites[site["id"]]["status"] == "no_resources"
    [violation] = sandbox.state.violations
    assert (violation["platform"], violation["path"]) == ("powernaut", RESOURCES)
    assert expected in violation["reason"]


async def test_required_fields_and_unknown_site(
    client: Client, sandbox: SandboxServer
) -> None:
    """type, power and site_id are required; an unknown site is 404."""
    headers = await client.powernaut_headers()
    status, body, _ = await client.request("POST", RESOURCES, json={}, headers=headers)
    assert status == 400
    assert body["message"] == [
        "body.type: is required",
        "body.power: is required",
        "body.site_id: is required",
    ]
    status, body, _ = await client.request(
        "POST",
        RESOURCES,
        json={
            "site_id": "00000000-0000-4000-8000-000000000000",
            "type": "meter",
            "power": POWER,
        },
        headers=headers,
    )
    assert (status, body["message"]) == (404, "Site does not exist")
    # The 404 is a normal answer; only the 400 is a violation.
    assert [v["status"] for v in sandbox.state.violations] == [400]


async def test_at_most_ten_resources_per_site(
    client: Client, sandbox: SandboxServer
) -> None:
    """The 11th resource of a site is refused; another site still takes resources."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    for index in range(10):
        await create_resource(client, headers, site["id"], name=f"Battery {index}")
    status, body, _ = await client.request(
        "POST",
        RESOURCES,
        json={"site_id": site["id"], "type": "static_battery", "power": POWER},
        headers=headers,
    )
    assert (status, body["message"]) == (
        400,
        "A maximum of 10 resources can be created per site",
    )
    assert len(sandbox.state.powernaut.resources) == 10
    [violation] = sandbox.state.violations
    assert "A maximum of 10 resources" in violation["reason"]
    other = await create_site(client, headers)
    await create_resource(client, headers, other["id"])


async def test_external_id_is_not_unique(
    client: Client, sandbox: SandboxServer
) -> None:
    """The spec makes ``external_id`` no key: a second resource with it is created."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    first = await create_resource(client, headers, site["id"], external_id="gw-1")
    second = await create_resource(client, headers, site["id"], external_id="gw-1")
    assert first["id"] != second["id"]
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}?site_id={site['id']}", headers=headers
    )
    assert status == 200
    assert [item["external_id"] for item in body["items"]] == ["gw-1", "gw-1"]
    assert sandbox.state.violations == []


async def test_groups(client: Client, sandbox: SandboxServer) -> None:
    """group_id must name a group on the same site; null and deletion ungroup."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    other_site = await create_site(client, headers)
    group = await create_resource(
        client, headers, site["id"], type="group", name="PV + battery"
    )
    foreign_group = await create_resource(
        client, headers, other_site["id"], type="group"
    )
    pv = await create_resource(
        client, headers, site["id"], type="photovoltaic", group_id=group["id"]
    )
    assert pv["group_id"] == group["id"]

    status, body, _ = await client.request(
        "POST",
        RESOURCES,
        json={
            "site_id": site["id"],
            "type": "static_battery",
            "power": POWER,
            "group_id": foreign_group["id"],
        },
        headers=headers,
    )
    assert status == 400
    assert body["message"] == [
        "group_id must refer to a group resource on the same site"
    ]
    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/{pv['id']}",
        json={"group_id": foreign_group["id"]},
        headers=headers,
    )
    assert status == 400
    status, body, _ = await client.request(
        "PATCH", f"{RESOURCES}/{pv['id']}", json={"group_id": pv["id"]}, headers=headers
    )
    assert status == 400
    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/{group['id']}",
        json={"type": "static_battery"},
        headers=headers,
    )
    assert (status, body["message"]) == (
        400,
        ["The resource has group members, so its type must stay group"],
    )

    status, body, _ = await client.request(
        "PATCH", f"{RESOURCES}/{pv['id']}", json={"group_id": None}, headers=headers
    )
    assert (status, body["group_id"]) == (202, None)
    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/{pv['id']}",
        json={"group_id": group["id"]},
        headers=headers,
    )
    assert (status, body["group_id"]) == (202, group["id"])

    status, _, _ = await client.request(
        "DELETE", f"{RESOURCES}/{group['id']}", headers=headers
    )
    assert status == 204
    assert sandbox.state.powernaut.resources[pv["id"]]["group_id"] is None
    assert len(sandbox.state.violations) == 4


async def test_parents(client: Client) -> None:
    """parent_id must name a meter on the same site; groups have no parent."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    meter = await create_resource(client, headers, site["id"], type="meter")
    battery = await create_resource(client, headers, site["id"], parent_id=meter["id"])
    assert battery["parent_id"] == meter["id"]
    for fields, expected in (
        ({"parent_id": battery["id"]}, "Only meter resources can be parents"),
        (
            {"type": "group", "parent_id": meter["id"]},
            "Group resources cannot have a parent",
        ),
        (
            {"parent_id": "00000000-0000-4000-8000-000000000000"},
            "parent_id must refer to a resource on the same site",
        ),
    ):
        status, body, _ = await client.request(
            "POST",
            RESOURCES,
            json={"site_id": site["id"], "type": "heat_pump", "power": POWER, **fields},
            headers=headers,
        )
        assert (status, body["message"]) == (400, [expected])
    # A meter cannot become a child of its own child.
    sub_meter = await create_resource(
        client, headers, site["id"], type="meter", parent_id=meter["id"]
    )
    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/{meter['id']}",
        json={"parent_id": sub_meter["id"]},
        headers=headers,
    )
    assert (status, body["message"]) == (
        400,
        ["parent_id would make the resource its own ancestor"],
    )
    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/{battery['id']}",
        json={"parent_id": None},
        headers=headers,
    )
    assert (status, body["parent_id"]) == (202, None)


async def test_patch_rules(client: Client, sandbox: SandboxServer) -> None:
    """site_id cannot change; PATCH validates like create; bad ids are 400, unknown 404."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    other = await create_site(client, headers)
    resource = await create_resource(client, headers, site["id"])
    path = f"{RESOURCES}/{resource['id']}"
    status, body, _ = await client.request(
        "PATCH", path, json={"site_id": other["id"]}, headers=headers
    )
    # The OpenAPI validation (UpdateResourceDto has no site_id) refuses it first.
    assert (status, body["message"]) == (
        400,
        ["body.site_id: is not allowed (additionalProperties: false)"],
    )
    status, body, _ = await client.request(
        "PATCH",
        path,
        json={"power": {"active": {"minimum": "3", "maximum": "1"}}, "type": None},
        headers=headers,
    )
    assert (status, body["message"]) == (400, ["body.type: may not be null"])
    status, body, _ = await client.request(
        "PATCH",
        path,
        json={"power": {"active": {"minimum": "3", "maximum": "1"}}},
        headers=headers,
    )
    assert (status, body["message"]) == (
        400,
        ["power.active.minimum must not be greater than power.active.maximum"],
    )
    status, body, _ = await client.request(
        "PATCH",
        path,
        json={"power": {"active": {"minimum": -3, "maximum": "1"}}},
        headers=headers,
    )
    assert status == 400
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}/not-a-uuid", headers=headers
    )
    assert (status, body["message"]) == (400, ["path.id: 'not-a-uuid' is not a 'uuid'"])
    status, body, _ = await client.request(
        "PATCH",
        f"{RESOURCES}/00000000-0000-4000-8000-000000000000",
        json={"name": "x"},
        headers=headers,
    )
    assert status == 404
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}?page=1&site_id=nope", headers=headers
    )
    assert status == 400
    assert body["message"] == ["query.site_id: 'nope' is not a 'uuid'"]
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}?page=1&site_id={site['id']}", headers=headers
    )
    assert (status, body["message"]) == (400, ["property page should not exist"])
    assert sandbox.state.powernaut.resources[resource["id"]] == resource
    assert [v["status"] for v in sandbox.state.violations] == [400] * 7


async def test_site_status_and_site_deletion(
    client: Client, sandbox: SandboxServer
) -> None:
    """A paused site keeps its status; deleting a site deletes its resources."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    resource = await create_resource(client, headers, site["id"])
    await client.control(
        "PATCH", f"/powernaut/sites/{site['id']}", {"status": "paused"}
    )
    await client.request("DELETE", f"{RESOURCES}/{resource['id']}", headers=headers)
    assert sandbox.state.powernaut.sites[site["id"]]["status"] == "paused"

    other = await create_site(client, headers)
    meter = await create_resource(client, headers, other["id"], type="meter")
    status, body, _ = await client.request(
        "PATCH",
        f"{SITES}/{other['id']}",
        json={"head_meter_resource_id": meter["id"]},
        headers=headers,
    )
    assert (status, body["status"]) == (202, "onboarded")
    status, _, _ = await client.request(
        "DELETE", f"{RESOURCES}/{meter['id']}", headers=headers
    )
    assert sandbox.state.powernaut.sites[other["id"]]["head_meter_resource_id"] is None
    assert sandbox.state.powernaut.sites[other["id"]]["status"] == "no_resources"

    await create_resource(client, headers, other["id"])
    await client.request("DELETE", f"{SITES}/{other['id']}", headers=headers)
    assert sandbox.state.powernaut.resources == {}


async def test_edge_cloud_credentials_are_scoped_to_their_site(
    client: Client,
) -> None:
    """A site's Basic credentials manage that site's resources only."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    other = await create_site(client, headers)
    foreign = await create_resource(client, headers, other["id"])
    credentials = site["credentials"]
    edge = {"Authorization": basic(credentials["key"], credentials["secret"])}

    own = await create_resource(client, edge, site["id"], type="heat_pump")
    status, body, _ = await client.request(
        "POST",
        RESOURCES,
        json={"site_id": other["id"], "type": "heat_pump", "power": POWER},
        headers=edge,
    )
    assert (status, body["message"]) == (403, "Insufficient permissions")
    status, body, _ = await client.request("GET", RESOURCES, headers=edge)
    assert body == {"total": 1, "items": [own]}
    status, _, _ = await client.request(
        "GET", f"{RESOURCES}?site_id={other['id']}", headers=edge
    )
    assert status == 403
    for method in ("GET", "DELETE"):
        status, _, _ = await client.request(
            method, f"{RESOURCES}/{foreign['id']}", headers=edge
        )
        assert status == 403
    status, body, _ = await client.request(
        "PATCH", f"{RESOURCES}/{own['id']}", json={"name": "Heat pump"}, headers=edge
    )
    assert (status, body["name"]) == (202, "Heat pump")
    status, _, _ = await client.request(
        "DELETE", f"{RESOURCES}/{own['id']}", headers=edge
    )
    assert status == 204
    status, _, _ = await client.request(
        "GET", RESOURCES, headers={"Authorization": basic("nope", "nope")}
    )
    assert status == 401


async def test_status_and_health_checks_control(
    client: Client, sandbox: SandboxServer
) -> None:
    """The control API adds status and health checks to the DTO; null removes them."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    resource = await create_resource(client, headers, site["id"])
    path = f"{RESOURCES}/{resource['id']}"
    control = f"/powernaut/resources/{resource['id']}"

    answer = await client.control(
        "PATCH",
        control,
        {"status": "degraded", "health_checks": {"availability": "offline"}},
    )
    assert answer["status"] == "degraded"
    # The product docs' names of the checks, in snake_case.
    assert answer["health_checks"] == {
        "availability": "offline",
        "activation_compliance": "initial",
        "baselines_too_inaccurate": "initial",
        "no_bids": "initial",
        "meter_data_anomalies": "initial",
    }
    status, body, _ = await client.request("GET", path, headers=headers)
    assert status == 200
    assert set(body) == DTO_KEYS | {"status", "health_checks"}
    assert body["status"] == "degraded"
    assert body["health_checks"]["availability"] == "offline"
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}?site_id={site['id']}", headers=headers
    )
    assert body["items"][0]["status"] == "degraded"

    answer = await client.control(
        "PATCH", control, {"health_checks": {"meter_data": "rare_anomaly"}}
    )
    assert answer["health_checks"]["availability"] == "offline"
    # A shorter name replaces the docs' name of the same check.
    assert answer["health_checks"]["meter_data"] == "rare_anomaly"
    assert "meter_data_anomalies" not in answer["health_checks"]
    answer = await client.control(
        "PATCH", control, {"health_checks": {"no_bids": "no_bids", "bids": "active"}}
    )
    assert answer["health_checks"]["bids"] == "active"
    assert "no_bids" not in answer["health_checks"]

    await client.control("PATCH", control, {"status": None})
    status, body, _ = await client.request("GET", path, headers=headers)
    assert "status" not in body
    assert body["health_checks"]["meter_data"] == "rare_anomaly"
    await client.control("PATCH", control, {"health_checks": None})
    status, body, _ = await client.request("GET", path, headers=headers)
    assert set(body) == DTO_KEYS

    for bad in (
        {"status": "broken"},
        {"health_checks": {"availability": "compliant"}},
        {"health_checks": {"baselines": "ok"}},
        {"health_checks": {"uptime": "ok"}},
        {"health_checks": "ok"},
        {"colour": "red"},
    ):
        status, answer, _ = await client.request(
            "PATCH", f"/_sandbox{control}", json=bad
        )
        assert status == 400, bad
        assert "error" in answer
    status, answer, _ = await client.request(
        "PATCH",
        "/_sandbox/powernaut/resources/00000000-0000-4000-8000-000000000000",
        json={"status": "operational"},
    )
    assert (status, answer) == (404, {"error": "Resource does not exist"})
    assert sandbox.state.violations == []


async def test_faults_and_request_log_cover_resources(
    client: Client, sandbox: SandboxServer
) -> None:
    """Injected faults hit the resource routes; requests are logged."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    await client.control(
        "POST",
        "/faults",
        {"path": f"{RESOURCES}*", "kind": "status", "status": 503, "times": 1},
    )
    status, body, _ = await client.request(
        "POST",
        RESOURCES,
        json={"site_id": site["id"], "type": "wind", "power": POWER},
        headers=headers,
    )
    assert (status, body["status_code"]) == (503, 503)
    assert sandbox.state.powernaut.resources == {}
    await create_resource(client, headers, site["id"], type="wind")
    status, body, _ = await client.request(
        "GET",
        f"{RESOURCES}?site_id=00000000-0000-4000-8000-000000000000",
        headers=headers,
    )
    assert (status, body) == (200, {"total": 0, "items": []})
    logged = [
        (entry["method"], entry["status"], entry["fault"] is not None)
        for entry in sandbox.state.requests
        if entry["path"] == RESOURCES
    ]
    assert logged == [("POST", 503, True), ("POST", 201, False), ("GET", 200, False)]
