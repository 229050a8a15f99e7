"""FlexMeasures in the sandbox: discovery, token, assets, validation."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sandbox_helpers import FM, Client

if TYPE_CHECKING:
    from sandbox import SandboxServer

ASSETS = "/api/v3_0/assets"


async def test_discovery_and_version_headers(client: Client) -> None:
    """GET /api/ lists v3_0; API answers carry the version headers."""
    status, body, resp = await client.request("GET", "/api/")
    assert status == 200
    assert body["versions"] == ["v3_0"]
    assert body["flexmeasures_version"]
    assert resp.headers["API-Version"] == "v3_0"
    assert resp.headers["FlexMeasures-Version"] == body["flexmeasures_version"]


async def test_token_flow(client: Client) -> None:
    """requestAuthToken: 200, 422 missing field, 404 unknown email, 401 wrong password."""
    status, body, _ = await client.request(
        "POST",
        "/api/requestAuthToken",
        json={"email": FM["email"], "password": FM["password"]},
    )
    assert status == 200
    assert set(body) == {"auth_token", "user_id"}
    assert body["user_id"] == 1

    status, body, _ = await client.request(
        "POST", "/api/requestAuthToken", json={"email": FM["email"]}
    )
    assert status == 422
    assert body["message"] == {
        "json": {"password": ["Missing data for required field."]}
    }
    status, body, _ = await client.request(
        "POST",
        "/api/requestAuthToken",
        json={"email": "nobody@example.org", "password": "x"},
    )
    assert status == 404
    status, body, _ = await client.request(
        "POST",
        "/api/requestAuthToken",
        json={"email": FM["email"], "password": "wrong"},
    )
    assert status == 401


async def test_auth_header_is_the_bare_token(
    client: Client, sandbox: SandboxServer
) -> None:
    """``Bearer <token>`` is refused; a missing token is 401 in FlexMeasures' shape."""
    headers = await client.flexmeasures_headers()
    status, _, _ = await client.request("GET", ASSETS, headers=headers)
    assert status == 200
    for bad in ({"Authorization": f"Bearer {headers['Authorization']}"}, {}):
        status, body, _ = await client.request("GET", ASSETS, headers=bad)
        assert status == 401
        assert body["status"] == "UNAUTHORIZED"
        assert body["message"].startswith("You could not be properly authenticated")


async def test_asset_types_and_user(client: Client) -> None:
    """Asset types include FlexMeasures' defaults; the user tells its account."""
    headers = await client.flexmeasures_headers()
    status, body, _ = await client.request("GET", f"{ASSETS}/types", headers=headers)
    assert status == 200
    names = {asset_type["name"] for asset_type in body}
    assert {"solar", "battery", "building", "one-way_evse", "heat-pump"} <= names
    assert all(set(item) == {"id", "name", "description"} for item in body)
    status, body, _ = await client.request("GET", "/api/v3_0/users/1", headers=headers)
    assert (status, body["account_id"], body["email"]) == (200, 1, FM["email"])


async def test_asset_lifecycle(client: Client, sandbox: SandboxServer) -> None:
    """Create, list (bare and paginated), get, patch and delete assets."""
    headers = await client.flexmeasures_headers()
    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={
            "name": "Home",
            "generic_asset_type_id": 6,
            "account_id": 1,
            "latitude": 52.37,
            "longitude": 4.89,
            "attributes": json.dumps({"grid_identifier": "871687120000000001"}),
        },
        headers=headers,
    )
    assert status == 201, body
    home = body
    assert home["generic_asset_type"] == {"id": 6, "name": "building"}
    assert home["account_id"] == 1
    assert isinstance(home["attributes"], str)
    assert json.loads(home["attributes"]) == {"grid_identifier": "871687120000000001"}
    assert home["parent_asset_id"] is None

    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={
            "name": "Battery",
            "generic_asset_type_id": 5,
            "parent_asset_id": home["id"],
        },
        headers=headers,
    )
    assert status == 201, body
    battery = body
    assert battery["account_id"] == 1

    status, body, _ = await client.request("GET", ASSETS, headers=headers)
    assert status == 200
    assert isinstance(body, list)
    assert [asset["id"] for asset in body] == [home["id"], battery["id"]]
    assert body[0]["child_assets"][0]["id"] == battery["id"]

    status, body, _ = await client.request(
        "GET", ASSETS, params={"page": "1", "per-page": "1"}, headers=headers
    )
    assert status == 200
    assert body["num-records"] == 2
    assert body["filtered-records"] == 2
    assert [asset["id"] for asset in body["data"]] == [home["id"]]

    status, body, _ = await client.request(
        "PATCH", f"{ASSETS}/{home['id']}", json={"latitude": 52.0}, headers=headers
    )
    assert status == 200
    assert (body["latitude"], body["longitude"], body["name"]) == (52.0, 4.89, "Home")

    status, body, _ = await client.request(
        "DELETE", f"{ASSETS}/{home['id']}", headers=headers
    )
    assert (status, body) == (204, None)
    status, body, _ = await client.request(
        "GET", f"{ASSETS}/{battery['id']}", headers=headers
    )
    assert (status, body) == (
        404,
        {"message": f"No asset found with ID {battery['id']}.", "status": 404},
    )
    assert sandbox.state.flexmeasures.assets == {}
    assert sandbox.state.violations == []


async def test_asset_validation(client: Client, sandbox: SandboxServer) -> None:
    """422s in webargs' shape; duplicate names are refused within the account."""
    headers = await client.flexmeasures_headers()
    good = {"name": "Home", "generic_asset_type_id": 6, "account_id": 1}
    status, _, _ = await client.request("POST", ASSETS, json=good, headers=headers)
    assert status == 201

    status, body, _ = await client.request("POST", ASSETS, json=good, headers=headers)
    assert status == 422
    assert body["result"] == "Rejected"
    assert body["status"] == "UNPROCESSABLE_ENTITY"
    assert "already exists" in body["message"]["json"]["name"][0]

    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={
            "name": "Other",
            "generic_asset_type_id": 99,
            "account_id": 1,
            "attributes": {"not": "a string"},
            "latitude": "52.1",
            "colour": "red",
        },
        headers=headers,
    )
    # The OpenAPI validation (AssetSchema) refuses the request before the
    # handler: only the schema's problems are listed.
    assert status == 422
    assert body["message"]["json"] == {
        "latitude": ["Not a valid number."],
        "colour": ["Unknown field."],
    }
    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={
            "name": "Other",
            "generic_asset_type_id": 99,
            "account_id": 1,
            "attributes": {"not": "a string"},
        },
        headers=headers,
    )
    assert status == 422
    assert body["message"]["json"] == {
        "generic_asset_type_id": ["GenericAssetType with id 99 doesn't exist."],
        "attributes": ["Not a valid JSON string."],
    }

    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={"generic_asset_type_id": 6, "account_id": 1},
        headers=headers,
    )
    assert body["message"]["json"] == {"name": ["Missing data for required field."]}

    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={"name": "Public", "generic_asset_type_id": 6},
        headers=headers,
    )
    assert status == 403
    assert body["status"] == "INVALID_SENDER"

    status, body, _ = await client.request("GET", f"{ASSETS}/abc", headers=headers)
    assert (status, body["message"]) == (
        422,
        {"path": {"id": ["Not a valid integer."]}},
    )
    status, body, _ = await client.request(
        "GET", ASSETS, params={"page": "0"}, headers=headers
    )
    assert status == 422

    reasons = [violation["reason"] for violation in sandbox.state.violations]
    assert len(reasons) == 7
    assert "already exists" in reasons[0]
    assert all(
        violation["platform"] == "flexmeasures"
        for violation in sandbox.state.violations
    )


async def test_patch_is_partial_and_checked(client: Client) -> None:
    """PATCH changes only what is sent and applies the same checks."""
    headers = await client.flexmeasures_headers()
    for name in ("Home", "Garage"):
        await client.request(
            "POST",
            ASSETS,
            json={"name": name, "generic_asset_type_id": 6, "account_id": 1},
            headers=headers,
        )
    status, body, _ = await client.request(
        "PATCH", f"{ASSETS}/2", json={"name": "Home"}, headers=headers
    )
    assert status == 422
    status, body, _ = await client.request(
        "PATCH", f"{ASSETS}/2", json={}, headers=headers
    )
    assert (status, body["message"]) == (422, {"json": "No JSON data provided."})
    status, body, _ = await client.request(
        "PATCH",
        f"{ASSETS}/2",
        json={"flex_context": json.dumps({"site-power-capacity": "17 kVA"})},
        headers=headers,
    )
    assert status == 200
    assert json.loads(body["flex_context"]) == {"site-power-capacity": "17 kVA"}
    assert body["name"] == "Garage"
    status, body, _ = await client.request(
        "PATCH", f"{ASSETS}/99", json={"name": "x"}, headers=headers
    )
    assert status == 404
