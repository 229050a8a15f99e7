"""FlexMeasures child assets and sensors in the sandbox."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import Client

if TYPE_CHECKING:
    from sandbox import SandboxServer

ASSETS = "/api/v3_0/assets"
SENSORS = "/api/v3_0/sensors"
SENSOR_KEYS = {
    "id",
    "name",
    "unit",
    "timezone",
    "event_resolution",
    "entity_address",
    "attributes",
    "generic_asset_id",
}


async def create_asset(
    client: Client, headers: dict[str, str], name: str, **fields: Any
) -> dict[str, Any]:
    """Create an asset (a building in account 1 unless told otherwise)."""
    body = {"name": name, "generic_asset_type_id": 6, "account_id": 1, **fields}
    status, answer, _ = await client.request("POST", ASSETS, json=body, headers=headers)
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


async def create_sensor(
    client: Client, headers: dict[str, str], asset_id: int, name: str, **fields: Any
) -> dict[str, Any]:
    """Create a kW sensor with a 15-minute resolution on an asset."""
    body = {
        "name": name,
        "unit": "kW",
        "event_resolution": "PT15M",
        "generic_asset_id": asset_id,
        **fields,
    }
    status, answer, _ = await client.request(
        "POST", SENSORS, json=body, headers=headers
    )
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


async def test_child_assets(client: Client, sandbox: SandboxServer) -> None:
    """Children inherit the account, are listed, and names are unique among siblings."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    garage = await create_asset(client, headers, "Garage")
    battery = await create_asset(
        client,
        headers,
        "Battery",
        account_id=None,
        generic_asset_type_id=5,
        parent_asset_id=home["id"],
        attributes=json.dumps({"capacity_in_mw": 0.0135}),
    )
    assert (battery["account_id"], battery["parent_asset_id"]) == (1, home["id"])
    # The same name under another parent is fine; under the same parent it is not.
    await create_asset(client, headers, "Battery", parent_asset_id=garage["id"])
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
    assert status == 422
    assert body["message"]["json"]["name"] == [
        f"An asset with the name 'Battery' already exists under parent asset {home['id']}"
    ]
    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={"name": "Orphan", "generic_asset_type_id": 5, "parent_asset_id": 99},
        headers=headers,
    )
    assert (status, body["message"]["json"]) == (
        422,
        {"parent_asset_id": ["Parent GenericAsset with id 99 doesn't exist."]},
    )

    status, body, _ = await client.request("GET", ASSETS, headers=headers)
    assert status == 200
    assert [(item["name"], item["parent_asset_id"]) for item in body] == [
        ("Home", None),
        ("Garage", None),
        ("Battery", home["id"]),
        ("Battery", garage["id"]),
    ]
    status, body, _ = await client.request(
        "GET", f"{ASSETS}/{home['id']}", headers=headers
    )
    assert status == 200
    assert body["child_assets"][0]["id"] == battery["id"]
    assert body["status"] == 200

    # root/depth select a subtree, fields the keys.
    status, body, _ = await client.request(
        "GET",
        ASSETS,
        params={"root": str(home["id"]), "fields": "id|name|parent_asset_id"},
        headers=headers,
    )
    assert (status, body) == (
        200,
        [
            {"id": home["id"], "name": "Home", "parent_asset_id": None},
            {"id": battery["id"], "name": "Battery", "parent_asset_id": home["id"]},
        ],
    )
    status, body, _ = await client.request(
        "GET", ASSETS, params={"root": str(home["id"]), "depth": "0"}, headers=headers
    )
    assert [item["id"] for item in body] == [home["id"]]
    status, body, _ = await client.request(
        "GET", ASSETS, params={"fields": "id|colour"}, headers=headers
    )
    assert (status, body["message"]) == (
        422,
        {"query": {"fields": ["Unknown asset field(s): colour."]}},
    )

    # PATCH moves a child (partial), checks attributes and refuses cycles.
    status, body, _ = await client.request(
        "PATCH",
        f"{ASSETS}/{battery['id']}",
        json={"name": "Home Battery", "parent_asset_id": garage["id"]},
        headers=headers,
    )
    assert status == 200
    assert (body["parent_asset_id"], body["name"]) == (garage["id"], "Home Battery")
    # The server moved capacity_in_mw into the flex-model when it was created.
    assert json.loads(body["attributes"]) == {}
    assert json.loads(body["flex_model"]) == {"power-capacity": "13.5 kW"}
    status, body, _ = await client.request(
        "PATCH",
        f"{ASSETS}/{garage['id']}",
        json={"parent_asset_id": battery["id"]},
        headers=headers,
    )
    assert (status, body["message"]["json"]) == (
        422,
        {
            "parent_asset_id": [
                "An asset cannot be placed under one of its own descendants."
            ]
        },
    )
    for attributes in ({"a": 1}, "[1, 2]", "{nope"):
        status, body, _ = await client.request(
            "PATCH",
            f"{ASSETS}/{garage['id']}",
            json={"attributes": attributes},
            headers=headers,
        )
        assert status == 422, attributes
        assert "attributes" in body["message"]["json"]
    status, body, _ = await client.request(
        "PATCH",
        f"{ASSETS}/{garage['id']}",
        json={"attributes": json.dumps({"market": "EPEX"})},
        headers=headers,
    )
    assert status == 200
    assert json.loads(body["attributes"]) == {"market": "EPEX"}
    assert len(sandbox.state.violations) == 7


async def test_parent_in_another_account_is_forbidden(
    client: Client, sandbox: SandboxServer
) -> None:
    """A child must live in the parent's account (the user's)."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    sandbox.state.flexmeasures.accounts[2] = {
        "id": 2,
        "name": "Neighbour",
        "roles": [],
        "consultancy_account_id": None,
    }
    foreign = {**sandbox.state.flexmeasures.assets[home["id"]], "id": 50}
    foreign.update(account_id=2, name="Neighbour's home", child_assets=[])
    sandbox.state.flexmeasures.assets[50] = foreign
    status, body, _ = await client.request(
        "POST",
        ASSETS,
        json={"name": "Battery", "generic_asset_type_id": 5, "parent_asset_id": 50},
        headers=headers,
    )
    assert (status, body["status"]) == (403, "INVALID_SENDER")
    status, body, _ = await client.request(
        "POST",
        SENSORS,
        json={
            "name": "power",
            "unit": "kW",
            "event_resolution": "PT15M",
            "generic_asset_id": 50,
        },
        headers=headers,
    )
    assert status == 403


async def test_sensor_lifecycle(client: Client, sandbox: SandboxServer) -> None:
    """Create, get, list and delete sensors; assets list their sensors."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    battery = await create_asset(
        client, headers, "Battery", generic_asset_type_id=5, parent_asset_id=home["id"]
    )
    power = await create_sensor(
        client,
        headers,
        battery["id"],
        "power",
        attributes=json.dumps({"consumption_is_positive": True}),
    )
    assert set(power) == SENSOR_KEYS
    assert power["unit"] == "kW"
    assert power["event_resolution"] == "PT15M"
    assert power["timezone"] == "Europe/Amsterdam"
    assert power["generic_asset_id"] == battery["id"]
    assert power["entity_address"].endswith(f":fm1.{power['id']}")
    assert json.loads(power["attributes"]) == {"consumption_is_positive": True}
    assert sandbox.state.flexmeasures.sensors[power["id"]] == power

    soc = await create_sensor(
        client,
        headers,
        battery["id"],
        "state of charge",
        unit="%",
        event_resolution="PT60M",
        timezone="UTC",
    )
    assert (soc["event_resolution"], soc["timezone"]) == ("PT1H", "UTC")
    assert json.loads(soc["attributes"]) == {}
    price = await create_sensor(
        client, headers, home["id"], "price", unit="EUR/MWh", event_resolution="PT1H"
    )

    status, body, _ = await client.request(
        "GET", f"{SENSORS}/{power['id']}", headers=headers
    )
    assert (status, body) == (200, {**power, "status": 200})

    status, body, _ = await client.request(
        "GET", f"{ASSETS}/{battery['id']}", headers=headers
    )
    assert body["sensors"] == [
        {"id": power["id"], "name": "power"},
        {"id": soc["id"], "name": "state of charge"},
    ]

    # GET /sensors?asset=: the asset tree's sensors as a bare list.
    status, body, _ = await client.request(
        "GET", SENSORS, params={"asset": str(home["id"])}, headers=headers
    )
    assert status == 200
    assert isinstance(body, list)
    assert [item["id"] for item in body] == [power["id"], soc["id"], price["id"]]
    assert body[0] == power
    status, body, _ = await client.request(
        "GET", SENSORS, params={"asset": str(battery["id"])}, headers=headers
    )
    assert [item["id"] for item in body] == [power["id"], soc["id"]]
    status, body, _ = await client.request(
        "GET",
        SENSORS,
        params={"asset": str(home["id"]), "page": "1", "per-page": "2"},
        headers=headers,
    )
    assert body == {
        "data": [power, soc],
        "num-records": 3,
        "filtered-records": 3,
        "status": 200,
    }
    status, body, _ = await client.request(
        "GET", SENSORS, params={"unit": "EUR/MWh"}, headers=headers
    )
    assert body == [price]

    # GET /assets/{id}/sensors: the asset's own sensors, always as a page.
    status, body, _ = await client.request(
        "GET", f"{ASSETS}/{battery['id']}/sensors", headers=headers
    )
    assert (status, body) == (
        200,
        {"data": [power, soc], "num-records": 2, "filtered-records": 2, "status": 200},
    )
    status, body, _ = await client.request(
        "GET",
        f"{ASSETS}/{battery['id']}/sensors",
        params={"page": "2", "per-page": "1", "sort-by": "name", "sort-dir": "desc"},
        headers=headers,
    )
    assert (body["data"], body["num-records"]) == ([power], 2)
    status, body, _ = await client.request(
        "GET",
        f"{ASSETS}/{battery['id']}/sensors",
        params={"filter": "charge"},
        headers=headers,
    )
    assert (body["data"], body["num-records"], body["filtered-records"]) == (
        [soc],
        2,
        1,
    )

    status, body, _ = await client.request(
        "DELETE", f"{SENSORS}/{soc['id']}", headers=headers
    )
    assert (status, body) == (204, None)
    status, body, _ = await client.request(
        "GET", f"{SENSORS}/{soc['id']}", headers=headers
    )
    assert (status, body["message"]) == (
        422,
        {"path": {"id": [f"No sensor found with ID {soc['id']}."]}},
    )
    assert sandbox.state.flexmeasures.assets[battery["id"]]["sensors"] == [
        {"id": power["id"], "name": "power"}
    ]
    assert sandbox.state.violations == []


async def test_asset_sensors_are_paginated_by_ten_by_default(client: Client) -> None:
    """Without page, GET /assets/{id}/sensors still answers the first 10 sensors."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    for index in range(12):
        await create_sensor(client, headers, home["id"], f"sensor {index:02d}")
    status, body, _ = await client.request(
        "GET", f"{ASSETS}/{home['id']}/sensors", headers=headers
    )
    assert status == 200
    assert (len(body["data"]), body["num-records"], body["filtered-records"]) == (
        10,
        12,
        12,
    )
    status, body, _ = await client.request(
        "GET", f"{ASSETS}/{home['id']}/sensors", params={"page": "2"}, headers=headers
    )
    assert [item["name"] for item in body["data"]] == ["sensor 10", "sensor 11"]
    status, body, _ = await client.request(
        "GET", SENSORS, params={"asset": str(home["id"])}, headers=headers
    )
    assert len(body) == 12


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"unit": "kw"}, {"unit": ["Unit 'kw' cannot be handled."]}, id="bad-unit"
        ),
        pytest.param(
            {"event_resolution": "15 minutes"},
            {"event_resolution": ["Cannot parse 15 minutes as ISO8601 duration."]},
            id="bad-duration",
        ),
        pytest.param(
            {"event_resolution": 900},
            {"event_resolution": ["Not a valid string."]},
            id="number-duration",
        ),
        pytest.param(
            {"generic_asset_id": 99},
            {"generic_asset_id": ["Generic asset with id 99 doesn't exist."]},
            id="unknown-asset",
        ),
        pytest.param(
            {"attributes": {"consumption_is_positive": True}},
            {"attributes": ["Not a valid JSON string."]},
            id="attributes-object",
        ),
        pytest.param(
            {"timezone": "Europe/Amsterdm"},
            # The spec's enum of IANA zones refuses it before the handler's
            # "Invalid timezone ... Did you mean" message.
            {
                "timezone": [
                    "'Europe/Amsterdm' is not one of the 433 values the spec allows"
                ]
            },
            id="bad-timezone",
        ),
        pytest.param(
            {"entity_address": "ea1.x", "colour": "red"},
            # entity_address is a readOnly property of the schema (a response field).
            {"colour": ["Unknown field."]},
            id="unknown-fields",
        ),
        pytest.param(
            {"name": None}, {"name": ["Field may not be null."]}, id="null-name"
        ),
    ],
)
async def test_sensor_validation(
    client: Client,
    sandbox: SandboxServer,
    changes: dict[str, Any],
    expected: dict[str, list[str]],
) -> None:
    """Invalid sensors are 422 in webargs' shape, recorded as violations."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    body = {
        "name": "power",
        "unit": "kW",
        "event_resolution": "PT15M",
        "generic_asset_id": home["id"],
        **changes,
    }
    status, answer, _ = await client.request(
        "POST", SENSORS, json=body, headers=headers
    )
    assert status == 422
    assert answer == {
        "message": {"json": expected},
        "result": "Rejected",
        "status": "UNPROCESSABLE_ENTITY",
    }
    assert sandbox.state.flexmeasures.sensors == {}
    [violation] = sandbox.state.violations
    assert violation["platform"] == "flexmeasures"


async def test_sensor_required_fields_and_duplicates(
    client: Client, sandbox: SandboxServer
) -> None:
    """Missing fields and a name already used on the asset are 422."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    status, body, _ = await client.request("POST", SENSORS, json={}, headers=headers)
    assert (status, body["message"]["json"]) == (
        422,
        {
            "name": ["Missing data for required field."],
            "unit": ["Missing data for required field."],
            "event_resolution": ["Missing data for required field."],
            "generic_asset_id": ["Missing data for required field."],
        },
    )
    await create_sensor(client, headers, home["id"], "power")
    status, body, _ = await client.request(
        "POST",
        SENSORS,
        json={
            "name": "power",
            "unit": "MW",
            "event_resolution": "PT5M",
            "generic_asset_id": home["id"],
        },
        headers=headers,
    )
    assert status == 422
    assert "already exists" in body["message"]["json"]["name"][0]
    assert len(sandbox.state.violations) == 2


async def test_asset_delete_cascades_to_children_and_sensors(
    client: Client, sandbox: SandboxServer
) -> None:
    """Deleting an asset deletes its child assets and all their sensors."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    battery = await create_asset(
        client, headers, "Battery", generic_asset_type_id=5, parent_asset_id=home["id"]
    )
    cell = await create_asset(
        client, headers, "Cell", generic_asset_type_id=5, parent_asset_id=battery["id"]
    )
    other = await create_asset(client, headers, "Other")
    sensors = [
        await create_sensor(client, headers, asset["id"], "power")
        for asset in (home, battery, cell, other)
    ]
    status, _, _ = await client.request(
        "DELETE", f"{ASSETS}/{home['id']}", headers=headers
    )
    assert status == 204
    assert list(sandbox.state.flexmeasures.assets) == [other["id"]]
    assert list(sandbox.state.flexmeasures.sensors) == [sensors[3]["id"]]
    for sensor in sensors[:3]:
        status, body, _ = await client.request(
            "GET", f"{SENSORS}/{sensor['id']}", headers=headers
        )
        assert status == 422
    status, body, _ = await client.request(
        "GET", f"{ASSETS}/{battery['id']}/sensors", headers=headers
    )
    assert (status, body["message"]) == (
        422,
        {"path": {"id": [f"No asset found with ID {battery['id']}."]}},
    )
    # Lookups of things that are gone are answers, not contract violations.
    assert sandbox.state.violations == []


async def test_sensor_list_queries_are_checked(client: Client) -> None:
    """Bad ids and paging values in queries are 422; sensors need the bare token."""
    headers = await client.flexmeasures_headers()
    for params in (
        {"asset": "x"},
        {"asset": "99"},
        {"page": "0"},
        {"unit": "furlongs"},
    ):
        status, _, _ = await client.request(
            "GET", SENSORS, params=params, headers=headers
        )
        assert status == 422, params
    status, _, _ = await client.request(
        "GET", SENSORS, params={"account": "2"}, headers=headers
    )
    assert status == 403
    status, _, _ = await client.request("GET", f"{SENSORS}/abc", headers=headers)
    assert status == 422
    status, body, _ = await client.request(
        "GET", SENSORS, headers={"Authorization": f"Bearer {headers['Authorization']}"}
    )
    assert (status, body["status"]) == (401, "UNAUTHORIZED")


async def test_capacity_in_mw_moves_into_the_flex_model(client: Client) -> None:
    """As 1.0.1 does: capacity_in_mw leaves the attributes for flex-model power-capacity."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    battery = await create_asset(
        client,
        headers,
        "Battery",
        parent_asset_id=home["id"],
        attributes=json.dumps({"capacity_in_mw": 0.0135, "kept": "yes"}),
    )
    assert json.loads(battery["attributes"]) == {"kept": "yes"}
    assert json.loads(battery["flex_model"]) == {"power-capacity": "13.5 kW"}
    # A power capacity already in the flex-model wins; the attribute still goes.
    other = await create_asset(
        client,
        headers,
        "Other battery",
        parent_asset_id=home["id"],
        attributes=json.dumps({"capacity_in_mw": 0.002}),
        flex_model=json.dumps({"power-capacity": "4 kW"}),
    )
    assert json.loads(other["attributes"]) == {}
    assert json.loads(other["flex_model"]) == {"power-capacity": "4 kW"}
    # A PATCH stores the attributes as sent: nothing moves.
    status, body, _ = await client.request(
        "PATCH",
        f"{ASSETS}/{battery['id']}",
        json={"attributes": json.dumps({"capacity_in_mw": 0.007})},
        headers=headers,
    )
    assert status == 200, body
    assert json.loads(body["attributes"]) == {"capacity_in_mw": 0.007}
    assert json.loads(body["flex_model"]) == {"power-capacity": "13.5 kW"}


@pytest.mark.parametrize(
    ("field", "value", "errors"),
    [
        (
            "flex_model",
            {"soc-at-start": "1 kWh", "soc-max": "10 kW", "production-capacity": 3},
            {
                "soc-at-start": ["Unknown field."],
                "soc-max": ["Cannot convert value `10 kW` to 'MWh'"],
                "production-capacity": [
                    (
                        "Unsupported value type. `<class 'int'>` was provided but only "
                        "dict, list, str, pint Quantity, tuple, and numeric values with "
                        "a default source unit are supported."
                    )
                ],
            },
        ),
        (
            "flex_model",
            {"consumption-capacity": [{"value": "1 kW"}], "soc-min": {"sensor": 999}},
            {
                "consumption-capacity": [
                    (
                        "A time series specification (listing segments) is not "
                        "supported when storing flex-model fields. Use a fixed "
                        "quantity or a sensor reference instead."
                    )
                ],
                "soc-min": ["No sensor found with ID 999."],
            },
        ),
        (
            "flex_context",
            {"consumption-price": "0.2 EUR", "tariff": "x"},
            {
                "consumption-price": ["Cannot convert value `0.2 EUR` to '/MWh'"],
                "tariff": ["Unknown field."],
            },
        ),
    ],
)
async def test_stored_flex_fields_are_checked(
    client: Client, field: str, value: dict[str, Any], errors: dict[str, Any]
) -> None:
    """An asset's flex_model / flex_context is checked as FlexMeasures' DB schemas do."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    status, body, _ = await client.request(
        "PATCH",
        f"{ASSETS}/{home['id']}",
        json={field: json.dumps(value)},
        headers=headers,
    )
    assert status == 422
    # Beside the asset's own fields, as a real 1.0.1 server answers.
    assert body["message"] == {"json": errors}


async def test_sensor_patch(client: Client, sandbox: SandboxServer) -> None:
    """PATCH /sensors/{id} is partial; fixed fields, duplicates and bad values are 422."""
    headers = await client.flexmeasures_headers()
    home = await create_asset(client, headers, "Home")
    power = await create_sensor(client, headers, home["id"], "power")
    await create_sensor(client, headers, home["id"], "other")
    assert power["timezone"] == "Europe/Amsterdam"  # the server's, not UTC
    status, body, _ = await client.request(
        "PATCH",
        f"{SENSORS}/{power['id']}",
        json={
            "attributes": json.dumps({"consumption_is_positive": True}),
            "timezone": "Europe/Brussels",
        },
        headers=headers,
    )
    assert status == 200, body
    assert json.loads(body["attributes"]) == {"consumption_is_positive": True}
    assert (body["timezone"], body["name"], body["unit"]) == (
        "Europe/Brussels",
        "power",
        "kW",
    )
    stored = sandbox.state.flexmeasures.sensors[power["id"]]
    assert json.loads(stored["attributes"]) == {"consumption_is_positive": True}
    status, body, _ = await client.request(
        "PATCH",
        f"{SENSORS}/{power['id']}",
        json={"name": "other", "generic_asset_id": 1, "unit": "parsecs"},
        headers=headers,
    )
    assert status == 422
    assert body["message"] == {
        "json": {
            "generic_asset_id": ["Cannot be updated."],
            "unit": ["Unit 'parsecs' cannot be handled."],
            "name": [
                f"A sensor with the name 'other' already exists on asset {home['id']}."
            ],
        }
    }
    status, body, _ = await client.request(
        "PATCH", f"{SENSORS}/{power['id']}", json={}, headers=headers
    )
    assert status == 422
