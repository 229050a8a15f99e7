"""FlexMeasures sensor data in the sandbox: POST and GET /api/v3_0/sensors/{id}/data."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import Client

if TYPE_CHECKING:
    from sandbox import SandboxServer

ASSETS = "/api/v3_0/assets"
SENSORS = "/api/v3_0/sensors"
START = "2026-11-22T10:00:00+01:00"  # 09:00 UTC
PROCESSED = {"status": "PROCESSED", "message": "Request has been processed."}
ALREADY_RECEIVED = {
    "results": "PROCESSED",
    "status": "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED",
    "message": "Some of the data has already been received and successfully processed.",
}
LOCATION = "combined_sensor_data_description"


def utc(hour: int, minute: int = 0) -> str:
    """The key of an event start on 2026-11-22 in the beliefs store."""
    return datetime(2026, 11, 22, hour, minute, tzinfo=UTC).isoformat()


async def power_sensor(
    client: Client, headers: dict[str, str], unit: str = "kW", home: str = "Home"
) -> int:
    """Create an asset with a 15-minute power sensor; return the sensor id."""
    status, asset, _ = await client.request(
        "POST",
        ASSETS,
        json={"name": home, "generic_asset_type_id": 6, "account_id": 1},
        headers=headers,
    )
    assert status == 201, asset
    status, sensor, _ = await client.request(
        "POST",
        SENSORS,
        json={
            "name": "power",
            "unit": unit,
            "event_resolution": "PT15M",
            "generic_asset_id": asset["id"],
        },
        headers=headers,
    )
    assert status == 201, sensor
    return sensor["id"]  # type: ignore[no-any-return]


async def post(
    client: Client, headers: dict[str, str], sensor_id: int, **body: Any
) -> tuple[int, Any]:
    """POST sensor data (a 1-hour kW series at START unless told otherwise)."""
    payload = {"start": START, "duration": "PT1H", "unit": "kW", **body}
    status, answer, _ = await client.request(
        "POST", f"{SENSORS}/{sensor_id}/data", json=payload, headers=headers
    )
    return status, answer


async def get(
    client: Client, headers: dict[str, str], sensor_id: int, **params: str
) -> tuple[int, Any]:
    """GET sensor data (1 hour from START in kW unless told otherwise)."""
    query = {"start": START, "duration": "PT1H", "unit": "kW", **params}
    status, answer, _ = await client.request(
        "GET", f"{SENSORS}/{sensor_id}/data", params=query, headers=headers
    )
    return status, answer


async def test_store_and_read_back(client: Client, sandbox: SandboxServer) -> None:
    """Values are stored per event start in UTC and read back, resampled and converted."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    status, body = await post(
        client, headers, sensor_id, values=[1.0, 2.0, 3.0, 4.5], sensor=sensor_id
    )
    assert (status, body) == (200, PROCESSED)
    store = sandbox.state.flexmeasures
    assert store.beliefs[sensor_id] == {
        utc(9): 1.0,
        utc(9, 15): 2.0,
        utc(9, 30): 3.0,
        utc(9, 45): 4.5,
    }
    assert (store.data_posts, store.replays) == (1, 0)
    assert all(len(times) == 1 for times in store.belief_history[sensor_id].values())

    status, body = await get(client, headers, sensor_id)
    assert status == 200
    assert body == {
        "values": [1.0, 2.0, 3.0, 4.5],
        "start": START,
        "duration": "PT1H",
        "unit": "kW",
        "resolution": "PT15M",
        **PROCESSED,
    }
    # Coarser: averaged; finer: repeated; another unit: converted; beyond: null.
    status, body = await get(client, headers, sensor_id, resolution="PT30M", unit="W")
    assert (status, body["values"], body["resolution"]) == (
        200,
        [1500.0, 3750.0],
        "PT30M",
    )
    status, body = await get(
        client,
        headers,
        sensor_id,
        start="2026-11-22T09:45Z",
        duration="PT30M",
        resolution="PT5M",
    )
    assert body["values"] == [4.5, 4.5, 4.5, None, None, None]
    assert body["start"] == "2026-11-22T09:45:00Z"
    # The state snapshot shows the data and the counters.
    snapshot = await client.control("GET", "/state")
    assert snapshot["flexmeasures"]["beliefs"][str(sensor_id)][utc(9)] == 1.0
    assert snapshot["flexmeasures"]["data_posts"] == 1
    assert sandbox.state.violations == []


async def test_unit_conversion(client: Client, sandbox: SandboxServer) -> None:
    """W, kW and MW convert into each other; a flow converts to its stock over the resolution."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    status, body = await post(
        client, headers, sensor_id, duration="PT30M", unit="W", values=[1500, 2000]
    )
    assert (status, body) == (200, PROCESSED)
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T10:30+01:00",  # timestamps without seconds are fine
        duration="PT15M",
        unit="MW",
        values=0.003,  # a single value needs no list
    )
    assert (status, body) == (200, PROCESSED)
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T10:45:00+01:00",
        duration="PT15M",
        unit="kWh",
        values=[0.5],  # 0.5 kWh in a quarter-hour is 2 kW
    )
    assert (status, body) == (200, PROCESSED)
    assert sandbox.state.flexmeasures.beliefs[sensor_id] == {
        utc(9): 1.5,
        utc(9, 15): 2.0,
        utc(9, 30): 3.0,
        utc(9, 45): 2.0,
    }
    status, body = await get(client, headers, sensor_id, unit="kWh", resolution="PT1H")
    assert (status, body["values"], body["unit"]) == (200, [2.125], "kWh")


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        ("°C", "Required unit for this sensor is kW, got incompatible unit: °C"),
        (
            "EUR/MWh",
            "Required unit for this sensor is kW, got incompatible unit: EUR/MWh",
        ),
        (
            "kilowatt",
            "Required unit for this sensor is kW, got incompatible unit: kilowatt",
        ),
    ],
)
async def test_wrong_unit(
    client: Client, sandbox: SandboxServer, unit: str, message: str
) -> None:
    """A unit that does not convert to the sensor's is 422 (``_schema``), a violation."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    status, body = await post(
        client, headers, sensor_id, unit=unit, values=[1, 2, 3, 4]
    )
    assert status == 422
    assert body == {
        "message": {LOCATION: {"_schema": [message]}},
        "result": "Rejected",
        "status": "UNPROCESSABLE_ENTITY",
    }
    assert sandbox.state.flexmeasures.beliefs == {}
    assert sandbox.state.flexmeasures.data_posts == 0
    assert [v["status"] for v in sandbox.state.violations] == [422]
    status, body = await get(client, headers, sensor_id, unit=unit)
    assert (status, body["message"][LOCATION]["_schema"]) == (422, [message])


async def test_resolution_must_fit_the_sensor(
    client: Client, sandbox: SandboxServer
) -> None:
    """Multiples are repeated, divisors averaged (start floored); others are 422."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    status, body = await post(
        client, headers, sensor_id, duration="PT21M", values=[1, 2, 3]
    )
    assert status == 422
    assert body["message"][LOCATION] == {
        "_schema": [
            (
                "Resolution of 0:07:00 is incompatible with the sensor's required "
                "resolution of 0:15:00."
            )
        ]
    }
    # One value for an hour is repeated over the four quarter-hours.
    status, body = await post(client, headers, sensor_id, values=7)
    assert (status, body) == (200, PROCESSED)
    # Five-minute values from 11:04:40 are floored to 11:00 and averaged.
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T11:04:40+01:00",
        duration="PT30M",
        values=[1, 2, 3, None, 5, None],
    )
    assert (status, body) == (200, PROCESSED)
    assert sandbox.state.flexmeasures.beliefs[sensor_id] == {
        utc(9): 7.0,
        utc(9, 15): 7.0,
        utc(9, 30): 7.0,
        utc(9, 45): 7.0,
        utc(10): 2.0,
        utc(10, 15): 5.0,
    }
    # Durations are whole minutes; a zero duration needs an instantaneous sensor.
    status, body = await post(client, headers, sensor_id, duration="PT90S", values=1)
    assert body["message"][LOCATION] == {
        "duration": ["FlexMeasures only support multiples of 1 minute."]
    }
    status, body = await post(client, headers, sensor_id, duration="PT0M", values=1)
    assert body["message"][LOCATION]["_schema"] == [
        (
            "Cannot infer a non-zero resolution from one value over zero duration. "
            "This sensor requires a resolution of 0:15:00."
        )
    ]


async def test_field_errors(client: Client, sandbox: SandboxServer) -> None:
    """Field errors are 422 per field; a body that is not JSON is ignored (fields missing)."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T10:00:00",
        duration="one hour",
        values=[1, "2.5", True, None],
        colour="blue",
        type="GetSensorDataRequest",
    )
    # The OpenAPI validation (PostSensorData) answers before the handler.
    assert status == 422
    assert body["message"][LOCATION] == {
        "colour": ["Unknown field."],
        "start": ["Not a valid aware datetime."],
        "duration": ["Cannot parse one hour as ISO8601 duration."],
        "type": [
            (
                "Must be one of: PostSensorDataRequest, PostMeterDataRequest, "
                "PostPrognosisRequest, PostPriceDataRequest, PostWeatherDataRequest."
            )
        ],
    }
    status, body = await post(client, headers, sensor_id, values=[])
    assert body["message"][LOCATION] == {"values": ["Shorter than minimum length 1."]}
    status, body, _ = await client.request(
        "POST", f"{SENSORS}/{sensor_id}/data", data="start=now", headers=headers
    )
    assert (status, body["message"][LOCATION]) == (
        422,
        {
            "start": ["Missing data for required field."],
            "duration": ["Missing data for required field."],
            "unit": ["Missing data for required field."],
            "values": ["Missing data for required field."],
        },
    )
    assert "Body ignored" in sandbox.state.violations[-1]["reason"]
    # Unknown sensors are 404 (not a violation); no token is 401.
    status, body = await post(client, headers, 99, values=[1])
    assert (status, body) == (404, {"message": "Sensor 99 not found", "status": 404})
    status, body = await post(client, {}, sensor_id, values=[1])
    assert (status, body["status"]) == (401, "UNAUTHORIZED")
    assert len(sandbox.state.violations) == 3
    assert sandbox.state.flexmeasures.beliefs == {}


async def test_replay_is_already_received(
    client: Client, sandbox: SandboxServer
) -> None:
    """The same values again are ALREADY_RECEIVED; new values in a partial replay are stored."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    assert await post(client, headers, sensor_id, values=[1, 2, 3, 4]) == (
        200,
        PROCESSED,
    )
    assert await post(client, headers, sensor_id, values=[1, 2, 3, 4]) == (
        200,
        ALREADY_RECEIVED,
    )
    # Half known, half new: the new half is stored, the answer is ALREADY_RECEIVED.
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T10:30:00+01:00",
        values=[3, 4, 5, 6],
    )
    assert (status, body) == (200, ALREADY_RECEIVED)
    store = sandbox.state.flexmeasures
    assert list(store.beliefs[sensor_id].values()) == [1, 2, 3, 4, 5, 6]
    assert (store.data_posts, store.replays) == (3, 2)
    assert all(len(times) == 1 for times in store.belief_history[sensor_id].values())


async def test_conflicting_replay(client: Client, sandbox: SandboxServer) -> None:
    """Another value with the same belief time is 403 INVALID_REPLACEMENT; nothing is stored."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    assert await post(
        client, headers, sensor_id, values=[1, 2, 3, 4], horizon="PT0H"
    ) == (200, PROCESSED)
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T10:30:00+01:00",
        values=[3, 40, 5, 6],  # 40 replaces 4; 5 and 6 are new
        horizon="PT0H",
    )
    assert status == 403
    assert (body["results"], body["status"]) == ("Rejected", "INVALID_REPLACEMENT")
    assert "data represents a replacement" in body["message"]
    store = sandbox.state.flexmeasures
    assert list(store.beliefs[sensor_id].values()) == [1, 2, 3, 4]
    assert (store.data_posts, store.replays) == (1, 0)
    assert sandbox.state.violations[-1]["status"] == 403
    # The same with a fixed prior.
    prior = "2026-11-22T12:00:00+01:00"
    assert await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T12:00+01:00",
        values=1,
        prior=prior,
    ) == (200, PROCESSED)
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T12:00+01:00",
        values=2,
        prior=prior,
    )
    assert (status, body["status"]) == (403, "INVALID_REPLACEMENT")


async def test_correction_without_belief_time_is_a_newer_belief(
    client: Client, sandbox: SandboxServer
) -> None:
    """Without prior or horizon each POST believes at its own time: a new value wins."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    assert await post(client, headers, sensor_id, values=[1, 2, 3, 4]) == (
        200,
        PROCESSED,
    )
    assert await post(client, headers, sensor_id, values=[1, 2, 3, 40]) == (
        200,
        ALREADY_RECEIVED,  # three of four were unchanged
    )
    store = sandbox.state.flexmeasures
    assert store.beliefs[sensor_id][utc(9, 45)] == 40
    assert len(store.belief_history[sensor_id][utc(9, 45)]) == 2
    # With explicit belief times (events of 2020, so "now" does not matter),
    # GET's prior picks what was believed then.
    early = {"start": "2020-01-01T00:00:00+01:00"}
    first, second = "2020-01-01T02:00:00+01:00", "2020-01-01T03:00:00+01:00"
    assert await post(
        client, headers, sensor_id, values=[5, 6, 7, 8], prior=first, **early
    ) == (200, PROCESSED)
    assert await post(
        client, headers, sensor_id, values=[5, 6, 7, 9], prior=second, **early
    ) == (200, ALREADY_RECEIVED)
    assert store.beliefs[sensor_id]["2019-12-31T23:45:00+00:00"] == 9
    for prior, expected in (
        (first, [5, 6, 7, 8]),
        (second, [5, 6, 7, 9]),
        ("2020-01-01T01:59+01:00", [None, None, None, None]),
    ):
        status, body = await get(client, headers, sensor_id, prior=prior, **early)
        assert (status, body["values"]) == (200, expected)


async def test_null_values(client: Client, sandbox: SandboxServer) -> None:
    """Nulls are allowed and not stored; a request of only nulls stores nothing new."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    status, body = await post(client, headers, sensor_id, values=[1, None, None, 4])
    assert (status, body) == (200, PROCESSED)
    assert sandbox.state.flexmeasures.beliefs[sensor_id] == {utc(9): 1, utc(9, 45): 4}
    status, body = await get(client, headers, sensor_id)
    assert body["values"] == [1, None, None, 4]
    status, body = await post(
        client,
        headers,
        sensor_id,
        start="2026-11-22T11:00:00+01:00",
        values=[None, None],
        duration="PT30M",
    )
    assert (status, body) == (200, ALREADY_RECEIVED)
    assert len(sandbox.state.flexmeasures.beliefs[sensor_id]) == 2
    status, body = await post(client, headers, sensor_id, values=None)
    assert body["message"][LOCATION] == {"values": ["Field may not be null."]}
    # Only nulls on a sensor without data leave no trace but the counters.
    other = await power_sensor(client, headers, unit="MW", home="Cabin")
    assert await post(client, headers, other, values=[None]) == (200, ALREADY_RECEIVED)
    store = sandbox.state.flexmeasures
    assert (other in store.beliefs, store.data_posts, store.replays) == (False, 3, 2)


async def test_body_limit(client: Client, sandbox: SandboxServer) -> None:
    """A body over 3 MiB is 413 PAYLOAD_TOO_LARGE (a violation); 3 MiB is fine."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    payload = {"start": START, "duration": "PT1H", "unit": "kW", "values": 1}
    text = json.dumps(payload)
    limit = 3 * 1024 * 1024
    padded = text[:-1] + " " * (limit - len(text)) + "}"
    status, body, _ = await client.request(
        "POST",
        f"{SENSORS}/{sensor_id}/data",
        data=padded.encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert (status, body) == (200, PROCESSED)
    status, body, _ = await client.request(
        "POST",
        f"{SENSORS}/{sensor_id}/data",
        data=(padded[:-1] + " }").encode(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert status == 413
    assert body == {
        "result": "Rejected",
        "status": "PAYLOAD_TOO_LARGE",
        "message": "Request body exceeds the configured limit of 3145728 bytes.",
    }
    assert sandbox.state.flexmeasures.data_posts == 1
    assert [v["status"] for v in sandbox.state.violations] == [413]


async def test_faults_apply(client: Client, sandbox: SandboxServer) -> None:
    """An injected 503 on the data routes answers in FlexMeasures' envelope; nothing is stored."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    await client.control(
        "POST",
        "/faults",
        {
            "path": "/api/v3_0/sensors/*/data",
            "kind": "status",
            "status": 503,
            "times": 2,
        },
    )
    status, body = await post(client, headers, sensor_id, values=[1, 2, 3, 4])
    assert status == 503
    assert body["status"] == 503
    status, body = await get(client, headers, sensor_id)
    assert status == 503
    assert sandbox.state.flexmeasures.beliefs == {}
    assert sandbox.state.flexmeasures.data_posts == 0
    assert await post(client, headers, sensor_id, values=[1, 2, 3, 4]) == (
        200,
        PROCESSED,
    )
    assert [entry["fault"] is not None for entry in sandbox.state.requests[-3:]] == [
        True,
        True,
        False,
    ]


async def test_seeded_beliefs_and_sensor_deletion(
    client: Client, sandbox: SandboxServer
) -> None:
    """Seeded values count as measurements; deleting the sensor drops its data."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    store = sandbox.state.flexmeasures
    store.beliefs[sensor_id] = {"2026-11-22T09:00:00Z": 1.0, utc(9, 15): 2.0}
    status, body = await post(
        client, headers, sensor_id, duration="PT30M", values=[1, 2], horizon="PT0H"
    )
    assert (status, body) == (200, ALREADY_RECEIVED)
    assert store.beliefs[sensor_id] == {utc(9): 1.0, utc(9, 15): 2.0}
    status, body = await post(
        client, headers, sensor_id, duration="PT30M", values=[1, 3], horizon="PT0H"
    )
    assert (status, body["status"]) == (403, "INVALID_REPLACEMENT")
    status, _, _ = await client.request(
        "DELETE", f"{SENSORS}/{sensor_id}", headers=headers
    )
    assert status == 204
    assert sensor_id not in store.beliefs
    assert sensor_id not in store.belief_history


async def test_get_validation(client: Client, sandbox: SandboxServer) -> None:
    """GET needs start, duration and unit; unknown parameters are 422; snake_case is read."""
    headers = await client.flexmeasures_headers()
    sensor_id = await power_sensor(client, headers)
    status, body, _ = await client.request(
        "GET",
        f"{SENSORS}/{sensor_id}/data",
        params={"start": START, "cache": "1"},
        headers=headers,
    )
    # The OpenAPI validation answers first (it does not know unknown query
    # parameters; the handler refuses "cache" once the request is valid).
    assert status == 422
    assert body["message"][LOCATION] == {
        "duration": ["Missing data for required field."],
        "unit": ["Missing data for required field."],
    }
    status, body = await get(client, headers, sensor_id, cache="1")
    assert (status, body["message"][LOCATION]) == (422, {"cache": ["Unknown field."]})
    status, body = await get(client, headers, sensor_id, source_type="user")
    assert body["message"][LOCATION] == {
        "source-type": [
            "No data source with source-type 'user' has recorded any data on this sensor."
        ]
    }
    # An unescaped "+" in the query reads as a space, which FlexMeasures reads as "+".
    status, body, _ = await client.request(
        "GET",
        f"{SENSORS}/{sensor_id}/data?start=2026-11-22T10:00:00+01:00"
        "&duration=PT30M&unit=MW",
        headers=headers,
    )
    assert (status, body["values"], body["start"]) == (200, [None, None], START)
    # A source type that wrote nothing yet is an answer about the data.
    assert len(sandbox.state.violations) == 2
