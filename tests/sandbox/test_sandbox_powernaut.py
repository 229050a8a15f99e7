"""Powernaut Connect in the sandbox: token, sites, markets, credentials, validation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import PN, Client, basic

if TYPE_CHECKING:
    from sandbox import SandboxServer

SITE_BODY: dict[str, Any] = {
    "location": {"latitude": "50.501079", "longitude": "4.476460"},
    "supply_points": [
        {"grid_identifier": "541448820000000001", "direction": "bidirectional"}
    ],
    "external_id": "home-1",
}


async def create_site(
    client: Client, headers: dict[str, str], **changes: Any
) -> dict[str, Any]:
    """Create a site and return the response body."""
    status, body, _ = await client.request(
        "POST", "/v1/connect/sites", json={**SITE_BODY, **changes}, headers=headers
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def test_token_flow(client: Client) -> None:
    """Basic client credentials give a bearer token; a form body is ignored."""
    status, body, _ = await client.request(
        "POST",
        "/v1/auth/token",
        headers={"Authorization": basic(PN["client_id"], PN["client_secret"])},
        data={"grant_type": "client_credentials"},
    )
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]

    status, body, _ = await client.request(
        "POST",
        "/v1/auth/token",
        headers={"Authorization": basic(PN["client_id"], "wrong")},
    )
    assert (status, body) == (
        403,
        {"message": "Invalid credentials", "error": "Forbidden", "status_code": 403},
    )

    status, body, _ = await client.request("POST", "/v1/auth/token")
    assert status == 400
    assert body["error"] == "Bad Request"


async def test_connect_routes_need_bearer(client: Client) -> None:
    """Without a valid token every /v1/connect route answers 401."""
    for headers in ({}, {"Authorization": "Bearer nope"}):
        status, body, _ = await client.request(
            "GET", "/v1/connect/sites", headers=headers
        )
        assert (status, body) == (
            401,
            {"message": "Unauthorized", "error": "Unauthorized", "status_code": 401},
        )
    # A token of another platform is no Powernaut token.
    ec_headers = await client.energy_coordination_headers()
    status, _, _ = await client.request("GET", "/v1/connect/sites", headers=ec_headers)
    assert status == 401


async def test_site_lifecycle(client: Client, sandbox: SandboxServer) -> None:
    """Create, list, get, patch and delete a site."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    assert site["status"] == "no_resources"
    assert site["upstream_status"] == "no_upstream_registered"
    assert site["grid_identifier"] == "541448820000000001"
    assert site["infer_meter_data_from_resources"] is False
    assert site["head_meter_resource_id"] is None
    assert site["last_seen_at"] is None
    assert site["created_at"].endswith("Z")
    assert site["credentials"]["name"] == "Default"
    assert len(site["credentials"]["key"]) == 36
    assert site["credentials"]["secret"]
    stored = sandbox.state.powernaut.sites[site["id"]]
    assert "credentials" not in stored

    second = await create_site(
        client,
        headers,
        location={"address": "Rue de la Loi 16, 1000 Brussels, Belgium"},
        supply_points=[
            {"grid_identifier": "541448820000000002", "direction": "injection"},
            {"grid_identifier": "541448820000000003", "direction": "offtake"},
        ],
    )
    assert second["grid_identifier"] == "541448820000000003"

    status, body, _ = await client.request("GET", "/v1/connect/sites", headers=headers)
    assert status == 200
    assert body["total"] == 2
    assert [item["id"] for item in body["items"]] == [second["id"], site["id"]]

    status, body, _ = await client.request(
        "GET", "/v1/connect/sites?page=2&page_size=1", headers=headers
    )
    assert (body["total"], [item["id"] for item in body["items"]]) == (2, [site["id"]])

    status, body, _ = await client.request(
        "GET", f"/v1/connect/sites/{site['id']}", headers=headers
    )
    assert status == 200
    assert body == stored

    status, body, _ = await client.request(
        "PATCH",
        f"/v1/connect/sites/{site['id']}",
        json={
            "location": {"address": "Somewhere 1, Ghent, Belgium"},
            "external_id": None,
        },
        headers=headers,
    )
    assert status == 202
    assert body["location"] == {"address": "Somewhere 1, Ghent, Belgium"}
    assert body["external_id"] is None
    assert body["supply_points"] == site["supply_points"]

    status, body, _ = await client.request(
        "DELETE", f"/v1/connect/sites/{site['id']}", headers=headers
    )
    assert (status, body) == (204, None)
    status, body, _ = await client.request(
        "GET", f"/v1/connect/sites/{site['id']}", headers=headers
    )
    assert (status, body["message"]) == (404, "Site does not exist")
    assert sandbox.state.violations == []


async def test_patch_grid_identifier_replaces_supply_points(client: Client) -> None:
    """A legacy grid_identifier in PATCH becomes a single bidirectional supply point."""
    headers = await client.powernaut_headers()
    site = await create_site(
        client,
        headers,
        supply_points=[{"grid_identifier": "A1", "direction": "offtake"}],
    )
    status, body, _ = await client.request(
        "PATCH",
        f"/v1/connect/sites/{site['id']}",
        json={"grid_identifier": "B2", "infer_meter_data_from_resources": True},
        headers=headers,
    )
    assert status == 202
    assert body["grid_identifier"] == "B2"
    assert body["supply_points"] == [
        {"grid_identifier": "B2", "direction": "bidirectional"}
    ]
    assert body["infer_meter_data_from_resources"] is True


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"location": {"latitude": 50.5, "longitude": "4.4"}},
            "body.location.latitude: 50.5 is not of type 'string'",
            id="number-for-decimal",
        ),
        pytest.param(
            {"location": {"latitude": "50,5", "longitude": "4.4"}},
            "location.latitude must be a decimal string",
            id="comma-decimal",
        ),
        pytest.param(
            {"location": {"latitude": "50.1234567", "longitude": "4.4"}},
            "location.latitude must be a decimal string",
            id="seven-decimals",
        ),
        pytest.param(
            {"location": {"latitude": "95.0", "longitude": "4.4"}},
            "location.latitude must be between -90 and 90",
            id="latitude-range",
        ),
        pytest.param(
            {"location": {"address": "x", "latitude": "1.0", "longitude": "1.0"}},
            # Neither AddressLocationDto nor GeoLocationDto (OpenAPI oneOf).
            "body.location.latitude: is not allowed",
            id="address-and-coordinates",
        ),
        pytest.param(
            {"colour": "red"}, "body.colour: is not allowed", id="unknown-field"
        ),
        pytest.param(
            {
                "supply_points": [
                    {"grid_identifier": "A", "direction": "bidirectional"},
                    {"grid_identifier": "B", "direction": "injection"},
                ]
            },
            "supply_points must be a single bidirectional point",
            id="bad-combination",
        ),
        pytest.param(
            {"supply_points": [{"grid_identifier": "A", "direction": "injection"}]},
            "supply_points must be a single bidirectional point",
            id="injection-only",
        ),
        pytest.param(
            {"supply_points": [{"grid_identifier": "A", "direction": "both"}]},
            "body.supply_points[0].direction: 'both' is not one of",
            id="bad-enum",
        ),
        pytest.param(
            {"supply_points": []}, "supply_points should not be empty", id="empty"
        ),
        pytest.param(
            {"external_id": ""},
            "body.external_id: '' should be non-empty",
            id="empty-external-id",
        ),
    ],
)
async def test_site_validation(
    client: Client, sandbox: SandboxServer, changes: dict[str, Any], expected: str
) -> None:
    """Invalid site bodies are 400 with every message listed, and recorded as violations."""
    headers = await client.powernaut_headers()
    status, body, _ = await client.request(
        "POST", "/v1/connect/sites", json={**SITE_BODY, **changes}, headers=headers
    )
    assert status == 400
    assert body["error"] == "Bad Request"
    assert body["status_code"] == 400
    assert isinstance(body["message"], list)
    assert any(message.startswith(expected) for message in body["message"]), body
    assert sandbox.state.powernaut.sites == {}
    [violation] = sandbox.state.violations
    assert violation["platform"] == "powernaut"
    assert violation["method"] == "POST"
    assert violation["path"] == "/v1/connect/sites"
    assert expected in violation["reason"]


async def test_missing_required_fields_and_bad_bodies(client: Client) -> None:
    """Required fields, JSON objects and JSON content are enforced."""
    headers = await client.powernaut_headers()
    status, body, _ = await client.request(
        "POST", "/v1/connect/sites", json={}, headers=headers
    )
    assert status == 400
    assert body["message"] == [
        "body.location: is required",
        "body.supply_points: is required",
    ]
    status, body, _ = await client.request(
        "POST", "/v1/connect/sites", data="not json", headers=headers
    )
    assert status == 400
    status, body, _ = await client.request(
        "POST", "/v1/connect/sites", json=[SITE_BODY], headers=headers
    )
    assert status == 400


async def test_paths_and_pagination_are_validated(client: Client) -> None:
    """Invalid uuids and page parameters are 400; unknown routes 404 in the envelope."""
    headers = await client.powernaut_headers()
    status, body, _ = await client.request(
        "GET", "/v1/connect/sites/not-a-uuid", headers=headers
    )
    assert (status, body["message"]) == (400, ["path.id: 'not-a-uuid' is not a 'uuid'"])
    for query in ("page=0", "page_size=0", "page=abc", "page=1.5"):
        status, body, _ = await client.request(
            "GET", f"/v1/connect/sites?{query}", headers=headers
        )
        assert status == 400, query
    status, body, _ = await client.request(
        "GET", "/v1/connect/nothing", headers=headers
    )
    assert (status, body) == (
        404,
        {
            "message": "Cannot GET /v1/connect/nothing",
            "error": "Not Found",
            "status_code": 404,
        },
    )


async def test_markets_default_and_control(client: Client) -> None:
    """Markets are [] until set through the control API."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    path = f"/v1/connect/sites/{site['id']}/markets"
    status, body, _ = await client.request("GET", path, headers=headers)
    assert (status, body) == (200, [])
    markets = [
        {"name": "mFRR", "status": "active"},
        {"name": "aFRR", "status": "ineligible"},
        {
            "name": "FCR",
            "status": "action_required",
            "action": {
                "name": "consent_required",
                "url": "https://app.example/consent",
            },
        },
    ]
    assert (
        await client.control("PUT", f"/powernaut/sites/{site['id']}/markets", markets)
        == markets
    )
    status, body, _ = await client.request("GET", path, headers=headers)
    assert (status, body) == (200, markets)

    status, body, _ = await client.request(
        "PUT",
        f"/_sandbox/powernaut/sites/{site['id']}/markets",
        json=[{"name": "FCR", "status": "action_required"}],
    )
    assert status == 400
    assert "action" in body["error"]


async def test_credentials(client: Client, sandbox: SandboxServer) -> None:
    """Named credential sets: create, conflict, list, delete; edge-cloud reads."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    other = await create_site(client, headers)
    path = f"/v1/connect/sites/{site['id']}/credentials"

    status, body, _ = await client.request(
        "POST", path, json={"name": "Gateway"}, headers=headers
    )
    assert status == 201
    assert body["name"] == "Gateway"
    assert body["key"] and body["secret"]
    gateway = body

    status, body, _ = await client.request(
        "POST", path, json={"name": "Gateway"}, headers=headers
    )
    assert status == 409
    assert body["error"] == "Conflict"

    status, body, _ = await client.request(
        "POST", path, json={"name": ""}, headers=headers
    )
    assert status == 400

    status, body, _ = await client.request("GET", path, headers=headers)
    assert status == 200
    assert [(item["name"], item["is_rotating"]) for item in body["items"]] == [
        ("Default", False),
        ("Gateway", False),
    ]
    assert all("secret" not in item for item in body["items"])

    # Edge-cloud Basic credentials read their own site only.
    edge = {"Authorization": basic(gateway["key"], gateway["secret"])}
    status, body, _ = await client.request("GET", "/v1/connect/sites", headers=edge)
    assert (status, body["total"], body["items"][0]["id"]) == (200, 1, site["id"])
    status, body, _ = await client.request(
        "GET", f"/v1/connect/sites/{site['id']}", headers=edge
    )
    assert status == 200
    status, body, _ = await client.request(
        "GET", f"/v1/connect/sites/{other['id']}", headers=edge
    )
    assert status == 403
    status, body, _ = await client.request("GET", path, headers=edge)
    assert status == 403

    status, body, _ = await client.request(
        "DELETE", path, params={"name": "Gateway"}, headers=headers
    )
    assert status == 204
    status, body, _ = await client.request(
        "GET", f"/v1/connect/sites/{site['id']}", headers=edge
    )
    assert status == 401
    status, body, _ = await client.request(
        "DELETE", path, params={"name": "Gateway"}, headers=headers
    )
    assert status == 404
    status, body, _ = await client.request("DELETE", path, headers=headers)
    assert status == 400
    assert set(sandbox.state.powernaut.site_credentials[site["id"]]) == {"Default"}
