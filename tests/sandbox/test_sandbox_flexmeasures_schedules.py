"""FlexMeasures schedules in the sandbox: trigger, jobs, schedules, budget and controls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from sandbox_helpers import FM, Client

from custom_components.gridflex.platforms import (
    Environment,
    FlexMeasuresClient,
    Location,
    PlatformKey,
    ResourceSpec,
    ResourceType,
    SiteRegistration,
    create_client,
)
from custom_components.gridflex.platforms.flexmeasures import (
    FlexMeasuresScheduleFailedError,
)
from custom_components.gridflex.platforms.models import PriceSeries, StorageFlexModel
from sandbox.flexmeasures_data import scheduler_beliefs
from sandbox.flexmeasures_schedules import _limit_text, scheduling_settings

if TYPE_CHECKING:
    from sandbox import SandboxServer

ASSETS = "/api/v3_0/assets"
SENSORS = "/api/v3_0/sensors"
JOBS = "/api/v3_0/jobs"
CONTROL = "/_sandbox/flexmeasures"
START = "2026-11-22T10:00:00+01:00"  # 09:00 UTC
#: Cheap in the first hour, dear in the second (sides filled from the nearest).
PRICES = {
    "consumption-price": [
        {"value": "0.1 EUR/kWh", "start": START, "duration": "PT1H"},
        {
            "value": "0.3 EUR/kWh",
            "start": "2026-11-22T11:00:00+01:00",
            "duration": "PT1H",
        },
    ]
}
#: 12.1 kWh, 25 kWh room, 7.4 kW: charge in the cheap hour, discharge in the dear one.
CHARGE = [7.4] * 4 + [-7.4] * 4
UNKNOWN_JOB = "00000000-0000-4000-8000-000000000000"


@dataclass
class Home:
    """A site asset with a battery asset and its 15-minute kW power sensor."""

    headers: dict[str, str]
    site: int
    battery: int
    sensor: int


async def create(
    client: Client, headers: dict[str, str], path: str, body: dict[str, Any]
) -> dict[str, Any]:
    status, answer, _ = await client.request("POST", path, json=body, headers=headers)
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


async def add_sensor(
    client: Client,
    headers: dict[str, str],
    asset: int,
    name: str = "power",
    **extra: Any,
) -> int:
    body = {
        "name": name,
        "unit": "kW",
        "event_resolution": "PT15M",
        "generic_asset_id": asset,
        **extra,
    }
    return (await create(client, headers, SENSORS, body))["id"]  # type: ignore[no-any-return]


async def home(client: Client, **battery: Any) -> Home:
    """Create ``Home`` (building) with a child ``Battery`` and its power sensor."""
    headers = await client.flexmeasures_headers()
    site = await create(
        client,
        headers,
        ASSETS,
        {"name": "Home", "generic_asset_type_id": 6, "account_id": 1},
    )
    asset = await create(
        client,
        headers,
        ASSETS,
        {
            "name": "Battery",
            "generic_asset_type_id": 5,
            "parent_asset_id": site["id"],
            **battery,
        },
    )
    sensor = await add_sensor(client, headers, asset["id"])
    return Home(headers, site["id"], asset["id"], sensor)


def flex(sensor: Any, **fields: Any) -> dict[str, Any]:
    """A flex-model entry: 12.1 → 25 kWh at 7.4 kW unless told otherwise."""
    entry: dict[str, Any] = {
        "sensor": sensor,
        "soc-at-start": "12.1 kWh",
        "soc-min": "0 kWh",
        "soc-max": "25 kWh",
        "power-capacity": "7.4 kW",
    }
    entry.update(fields)
    return {key: value for key, value in entry.items() if value is not None}


async def trigger(
    client: Client,
    house: Home,
    *entries: dict[str, Any],
    asset: int | None = None,
    **body: Any,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    payload: dict[str, Any] = {
        "start": START,
        "duration": "PT2H",
        "flex-model": list(entries) or [flex(house.sensor)],
        **body,
    }
    # The prices, under the test's own flex-context (None: no flex-context).
    given = body.get("flex-context", {})
    if isinstance(given, dict):
        payload["flex-context"] = {**PRICES, **given}
    elif given is None:
        del payload["flex-context"]
    return await client.request(
        "POST",
        f"{ASSETS}/{house.site if asset is None else asset}/schedules/trigger",
        json=payload,
        headers=house.headers,
    )


async def accepted(
    client: Client, house: Home, *entries: dict[str, Any], **body: Any
) -> str:
    status, answer, _ = await trigger(client, house, *entries, **body)
    assert status == 202, answer
    return answer["job"]  # type: ignore[no-any-return]


async def job(client: Client, house: Home, job_id: str) -> tuple[int, Any]:
    status, answer, _ = await client.request(
        "GET", f"{JOBS}/{job_id}", headers=house.headers
    )
    return status, answer


async def schedule(
    client: Client, house: Home, job_id: str, sensor: int | None = None, **query: str
) -> tuple[int, Any]:
    status, answer, _ = await client.request(
        "GET",
        f"{SENSORS}/{house.sensor if sensor is None else sensor}/schedules/{job_id}",
        params=query,
        headers=house.headers,
    )
    return status, answer


async def finished(
    client: Client, house: Home, job_id: str, sensor: int | None = None, **query: str
) -> Any:
    """Poll the schedule until it is there (at most 5 polls)."""
    for _ in range(5):
        status, answer = await schedule(client, house, job_id, sensor, **query)
        if status == 200:
            return answer
    raise AssertionError(answer)


def rejected(answer: Any) -> Any:
    """The messages of a 422 body."""
    assert answer["result"] == "Rejected"
    assert answer["status"] == "UNPROCESSABLE_ENTITY"
    return answer["message"]


async def test_trigger_job_and_schedule(client: Client, sandbox: SandboxServer) -> None:
    """202 with job and schedule; QUEUED, STARTED, FINISHED over three polls."""
    house = await home(client)
    status, answer, response = await trigger(client, house)
    assert status == 202, answer
    job_id = answer["job"]
    assert answer == {
        "status": "ACCEPTED",
        "job": job_id,
        "schedule": job_id,
        "job-url": f"{JOBS}/{job_id}",
        "message": "Request has been accepted for processing.",
    }
    assert response.headers["X-RateLimit-Limit"] == "10"
    assert response.headers["X-RateLimit-Remaining"] == "9"
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    assert response.headers["API-Version"] == "v3_0"

    status, body = await job(client, house, job_id)
    assert (status, body["status"]) == (202, "QUEUED")
    assert body["message"] == "Scheduling job waiting to be processed."
    assert body["started-at"] is None and body["result"] is None
    assert body["func_name"] == body["func-name"]
    status, body = await job(client, house, job_id)
    assert (status, body["status"]) == (202, "STARTED")
    assert body["message"] == "Scheduling job in progress."
    assert body["started_at"] == body["started-at"] is not None
    status, body = await job(client, house, job_id)
    assert (status, body["status"]) == (200, "FINISHED")
    assert body["result"] == {"unresolved": [], "resolved": [], "num-beliefs": 8}
    assert body["ended-at"] is not None and body["exc-info"] is None

    status, answer = await schedule(client, house, job_id)
    assert status == 200, answer
    assert answer == {
        "values": CHARGE,
        "start": "2026-11-22T09:00:00Z",
        "duration": "PT2H",
        "unit": "kW",
        "scheduler_info": {"scheduler": "StorageScheduler"},
        "status": "PROCESSED",
        "message": "Request has been processed. StorageScheduler was used.",
    }
    stored = sandbox.state.flexmeasures.schedules[job_id]
    assert stored["sensors"][str(house.sensor)]["values"] == CHARGE
    assert sandbox.state.violations == []


async def test_schedule_while_pending(client: Client, sandbox: SandboxServer) -> None:
    """Older servers: 400 UNKNOWN_SCHEDULE while waiting and in progress; not violations."""
    house = await home(client)
    await client.control("PUT", "/flexmeasures/scheduling", {"pending_as_202": False})
    job_id = await accepted(client, house)
    status, answer = await schedule(client, house, job_id)
    assert status == 400
    assert answer == {
        "result": "Rejected",
        "status": "UNKNOWN_SCHEDULE",
        "message": "No known schedule for this time period. Scheduling job waiting "
        "to be processed. StorageScheduler was used.",
    }
    status, answer = await schedule(client, house, job_id)
    assert status == 400
    assert "Scheduling job in progress." in answer["message"]
    status, answer = await schedule(client, house, job_id)
    assert status == 200
    assert sandbox.state.violations == []


async def test_pending_as_202_and_immediate_jobs(
    client: Client, sandbox: SandboxServer
) -> None:
    """1.0.1 answers pending schedules 202 (the default); zero polls finish at once."""
    house = await home(client)
    settings = await client.control("GET", "/flexmeasures/scheduling")
    assert settings["pending_as_202"] is True
    job_id = await accepted(client, house)
    assert await schedule(client, house, job_id) == (
        202,
        {"status": "QUEUED", "message": "Scheduling job waiting to be processed."},
    )
    assert (await schedule(client, house, job_id))[1]["status"] == "STARTED"
    scheduling_settings(sandbox.state).polls_to_finish = 0
    quick = await accepted(client, house, flex(house.sensor, **{"soc-max": "20 kWh"}))
    assert (await schedule(client, house, quick))[0] == 200
    status, body = await job(client, house, quick)
    assert (status, body["status"]) == (200, "FINISHED")


async def test_schedule_query(client: Client, sandbox: SandboxServer) -> None:
    """Duration cuts, unit converts, sign-convention flips; bad queries are 422."""
    house = await home(client)
    job_id = await accepted(client, house)
    await finished(client, house, job_id)
    answer = await finished(client, house, job_id, duration="PT30M", unit="W")
    assert (answer["values"], answer["duration"], answer["unit"]) == (
        [7400.0, 7400.0],
        "PT30M",
        "W",
    )
    answer = await finished(client, house, job_id, unit="kWh")
    assert answer["values"][:1] == [1.85]
    answer = await finished(
        client, house, job_id, **{"sign-convention": "production-positive"}
    )
    assert answer["values"][0] == -7.4
    answer = await finished(client, house, job_id, **{"sign-convention": "wysiwyg"})
    assert answer["values"][0] == -7.4
    status, answer = await schedule(
        client, house, job_id, duration="P1M", unit="°C", **{"sign-convention": "up"}
    )
    # The OpenAPI validation refuses the sign convention before the handler.
    assert status == 422
    assert rejected(answer) == {
        "query": {
            "sign-convention": [
                "Must be one of: consumption-positive, production-positive, wysiwyg."
            ],
        }
    }
    status, answer = await schedule(client, house, job_id, duration="P1M", unit="°C")
    assert status == 422
    assert rejected(answer) == {
        "query": {
            "duration": [
                (
                    "Nominal durations (years, months) such as P1M are not supported "
                    "for sensor data."
                )
            ],
            "unit": ["Incompatible units: kW cannot be converted to °C."],
        }
    }
    status, answer = await schedule(
        client, house, job_id, unit="lightyears", duration="PT0M"
    )
    assert rejected(answer) == {
        "query": {
            "duration": ["Must be greater than 0."],
            "unit": ["Invalid unit: lightyears"],
        }
    }


async def test_wysiwyg_with_consumption_positive_sensor(client: Client) -> None:
    """A sensor storing consumption as positive shows it so under wysiwyg."""
    house = await home(client)
    sensor = await add_sensor(
        client,
        house.headers,
        house.battery,
        "charging",
        attributes=json.dumps({"consumption_is_positive": True}),
    )
    job_id = await accepted(client, house, flex(sensor))
    for _ in range(3):
        status, answer = await schedule(
            client, house, job_id, sensor, **{"sign-convention": "wysiwyg"}
        )
    assert status == 200
    assert answer["values"] == CHARGE


@pytest.mark.parametrize(
    ("unit", "fields", "expected"),
    [
        # Plain numbers: the sensor's energy unit (kW → kWh), unless soc-unit says.
        ("kW", {"soc-at-start": 12.1, "soc-max": 25, "soc-min": 0}, CHARGE),
        ("kW", {"soc-at-start": 0.0121, "soc-max": 0.025, "soc-unit": "MWh"}, CHARGE),
        # On an MW sensor numbers are MWh, values come in MW.
        ("MW", {"soc-at-start": 0.0121, "soc-max": 0.025}, [v / 1000 for v in CHARGE]),
        # Quantity strings in any energy unit, with or without a space.
        (
            "W",
            {"soc-at-start": "12100 Wh", "soc-max": "0.025MWh"},
            [v * 1000 for v in CHARGE],
        ),
        # A low soc-max: full after 1.05 kWh more (4.2 kW for a quarter).
        ("kW", {"soc-max": "15 kWh"}, [7.4, 4.2, 0.0, 0.0] + [-7.4] * 4),
    ],
)
async def test_soc_units(
    client: Client, unit: str, fields: dict[str, Any], expected: list[float]
) -> None:
    """SoC values as quantity strings or numbers (FlexMeasures' default unit)."""
    house = await home(client)
    sensor = await add_sensor(client, house.headers, house.battery, "meter", unit=unit)
    job_id = await accepted(client, house, flex(sensor, **fields))
    answer = await finished(client, house, job_id, sensor)
    assert answer["values"] == pytest.approx(expected)
    assert answer["unit"] == unit


@pytest.mark.parametrize(
    ("battery", "entry", "body", "expected"),
    [
        # The asset's capacity_in_mw attribute (as older GridFlex wrote it),
        # moved into its flex-model as power-capacity.
        (
            {"attributes": json.dumps({"capacity_in_mw": 0.005})},
            {"power-capacity": None},
            {},
            [5.0] * 4 + [-5.0] * 4,
        ),
        # The site capacity from the flex-context.
        (
            {},
            {"power-capacity": None},
            {"flex-context": {"site-power-capacity": "4 kW"}},
            [4.0] * 4 + [-4.0] * 4,
        ),
        # Consumption and production capacity narrow the power capacity.
        (
            {},
            {"consumption-capacity": "2 kW", "soc-max": "100 kWh"},
            {},
            [2.0] * 4 + [-7.4] * 4,
        ),
        (
            {},
            {"production-capacity": "3 kW"},
            {},
            [7.4] * 4 + [-3.0] * 4,
        ),
        # So do the site's.
        (
            {},
            {},
            {"flex-context": {"site-production-capacity": "1 kW"}},
            [7.4] * 4 + [-1.0] * 4,
        ),
        # Without soc-max nothing bounds the charging.
        ({}, {"soc-max": None}, {}, CHARGE),
        # Consumption and production capacity without a power capacity.
        (
            {},
            {
                "power-capacity": None,
                "consumption-capacity": "4 kW",
                "production-capacity": "3 kW",
            },
            {},
            [4.0] * 4 + [-3.0] * 4,
        ),
        # soc-max and soc-min bound both ways: 18 → 25 → 18 kWh.
        (
            {},
            {"soc-min": "18 kWh", "soc-at-start": "18 kWh"},
            {},
            [7.4, 7.4, 7.4, 5.8, -7.4, -7.4, -7.4, -5.8],
        ),
        # The stored flex-model of the battery's asset lies under the entry.
        (
            {
                "flex_model": json.dumps(
                    {
                        "power-capacity": "4 kW",
                        "consumption-capacity": "4 kW",
                        "production-capacity": "3 kW",
                        "soc-max": "10 kWh",
                    }
                )
            },
            {
                "power-capacity": None,
                "soc-max": None,
                "soc-at-start": "2 kWh",
            },
            {},
            [4.0] * 4 + [-3.0] * 4,
        ),
        # A coarser resolution keeps the power constant per hour.
        (
            {},
            {"soc-at-start": "0 kWh", "soc-max": "10 kWh", "power-capacity": "8 kW"},
            {"resolution": "PT1H"},
            [8.0] * 4 + [-8.0] * 4,
        ),
        # A start within a quarter is floored to it; P1D lasts a day. After the
        # cheap hour it discharges until empty (19.5 kWh: ten quarters and 1 kWh).
        (
            {},
            {},
            {"start": "2026-11-22T10:07:00+01:00", "duration": "P1D"},
            [7.4] * 4 + [-7.4] * 10 + [-4.0] + [0.0] * 82,
        ),
    ],
)
async def test_schedule_inputs(
    client: Client,
    battery: dict[str, Any],
    entry: dict[str, Any],
    body: dict[str, Any],
    expected: list[float],
) -> None:
    """Capacity fallbacks, resolution blocks, flooring and day-long schedules."""
    house = await home(client, **battery)
    job_id = await accepted(client, house, flex(house.sensor, **entry), **body)
    answer = await finished(client, house, job_id, duration="PT48H")
    assert answer["values"] == pytest.approx(expected)
    assert answer["start"] == "2026-11-22T09:00:00Z"


@pytest.mark.parametrize(
    ("entry", "body", "problem"),
    [
        # FlexMeasures 1.0.1's own messages, checked against a real server.
        ({"soc-min": "30 kWh"}, {}, "InfeasibleProblemException: infeasible"),
        ({"soc-at-start": "26 kWh"}, {}, "InfeasibleProblemException: infeasible"),
        (
            {"soc-min": "10 kWh", "soc-at-start": "5 kWh"},
            {},
            "InfeasibleProblemException: infeasible",
        ),
        (
            {"power-capacity": None},
            {},
            (
                "ValueError: Power capacity on asset {asset} is not defined in "
                "the flex-model."
            ),
        ),
        # A storage schedule needs a consumption price (a real 1.0.1 server
        # accepts the trigger and fails the job).
        (
            {},
            {"flex-context": None},
            "ValueError: Missing consumption price for commodity 'electricity'.",
        ),
        (
            {},
            {
                "flex-context": {
                    "consumption-price": [
                        {
                            "value": "1 EUR/MWh",
                            "start": "2027-01-01T00:00:00+00:00",
                            "duration": "PT1H",
                        }
                    ]
                }
            },
            "UnknownPricesException: Prices unknown for planning window.",
        ),
    ],
)
async def test_failing_jobs(
    client: Client,
    sandbox: SandboxServer,
    entry: dict[str, Any],
    body: dict[str, Any],
    problem: str,
) -> None:
    """Input that cannot be scheduled is accepted; the job fails (422), the schedule 400."""
    house = await home(client)
    problem = problem.format(asset=house.battery)
    failed = problem if problem.endswith(".") else f"{problem}."
    job_id = await accepted(client, house, flex(house.sensor, **entry), **body)
    await job(client, house, job_id)
    await job(client, house, job_id)
    status, answer = await job(client, house, job_id)
    assert (status, answer["status"]) == (422, "FAILED")
    assert answer["message"] == f"Scheduling job failed with {failed}"
    assert problem in answer["exc_info"]
    status, answer = await schedule(client, house, job_id)
    assert status == 400
    assert answer["message"] == (
        "No known schedule for this time period. Scheduling job failed with "
        f"{failed} StorageScheduler was used."
    )
    assert sandbox.state.violations == []
    # FlexMeasures' job cache answers the failed job again for the same
    # request; only a forced trigger makes a new one.
    assert await accepted(client, house, flex(house.sensor, **entry), **body) == job_id
    forced = await accepted(
        client,
        house,
        flex(house.sensor, **entry),
        **body,
        **{"force-new-job-creation": True},
    )
    assert forced != job_id


async def test_a_price_sensor_without_prices(
    client: Client, sandbox: SandboxServer
) -> None:
    """A price sensor with no data in the window fails the job; with data it schedules."""
    house = await home(client)
    price = await add_sensor(
        client,
        house.headers,
        house.site,
        "price",
        unit="EUR/MWh",
        event_resolution="PT1H",
    )
    context = {"flex-context": {"consumption-price": {"sensor": price}}}
    job_id = await accepted(client, house, **context)
    for _ in range(3):
        status, answer = await job(client, house, job_id)
    assert answer["message"] == (
        "Scheduling job failed with UnknownPricesException: Prices unknown for "
        f"planning window. (sensor {price})."
    )
    status, answer, _ = await client.request(
        "POST",
        f"{SENSORS}/{price}/data",
        json={
            "start": START,
            "duration": "PT2H",
            "values": [100, 300],
            "unit": "EUR/MWh",
        },
        headers=house.headers,
    )
    assert status == 200, answer
    job_id = await accepted(
        client, house, **context, **{"force-new-job-creation": True}
    )
    assert (await finished(client, house, job_id))["values"] == CHARGE


async def read_data(
    client: Client, house: Home, sensor: int, **query: str
) -> tuple[int, Any]:
    status, answer, _ = await client.request(
        "GET",
        f"{SENSORS}/{sensor}/data",
        params={"start": START, "duration": "PT2H", "unit": "kW", **query},
        headers=house.headers,
    )
    return status, answer


@pytest.mark.parametrize(("consumption_is_positive", "stored"), [(True, 1), (None, -1)])
async def test_schedules_are_written_into_the_sensor(
    client: Client,
    sandbox: SandboxServer,
    consumption_is_positive: bool | None,
    stored: int,
) -> None:
    """The scheduler's beliefs hide measurements in plain reads; source filters split them.

    Stored consumption positive only with ``consumption_is_positive: true``.
    """
    house = await home(client)
    attributes = (
        {}
        if consumption_is_positive is None
        else {"attributes": json.dumps({"consumption_is_positive": True})}
    )
    sensor = await add_sensor(
        client, house.headers, house.battery, "meter", **attributes
    )
    # A measurement of the first two quarters, posted after they ended.
    status, answer, _ = await client.request(
        "POST",
        f"{SENSORS}/{sensor}/data",
        json={
            "start": START,
            "duration": "PT30M",
            "values": [1.5, 2.5],
            "unit": "kW",
            "prior": "2026-11-22T10:31:00+01:00",
        },
        headers=house.headers,
    )
    assert status == 200, answer
    status, answer = await read_data(
        client, house, sensor, **{"source-type": "scheduler"}
    )
    assert status == 422  # no schedule written yet
    job_id = await accepted(
        client, house, flex(sensor), prior="2026-11-22T10:05:00+01:00"
    )
    await finished(client, house, job_id, sensor)
    schedule_values = [value * stored for value in CHARGE]
    # A plain read answers the schedule, also for the measured quarters: it
    # was formed before they ended (the earliest belief wins across sources).
    status, answer = await read_data(client, house, sensor)
    assert (status, answer["values"]) == (200, schedule_values)
    for query in ({"source": "1"}, {"source-type": "user"}, {"source-account": "1"}):
        status, answer = await read_data(client, house, sensor, **query)
        assert answer["values"] == [1.5, 2.5] + [None] * 6, query
    for query in ({"source": "2"}, {"source-type": "scheduler"}):
        status, answer = await read_data(client, house, sensor, **query)
        assert answer["values"] == schedule_values, query
    status, answer = await read_data(client, house, sensor, source="3")
    assert status == 422
    assert sandbox.state.flexmeasures.beliefs[sensor] != {}
    # The schedule endpoint answers consumption positive whatever the sensor stores.
    assert (await finished(client, house, job_id, sensor))["values"] == CHARGE


async def test_a_sensor_of_its_own_keeps_plain_reads_apart(client: Client) -> None:
    """Schedule on ``scheduled power``, measurements on ``power``: each plain read its own.

    As on a real server: the scheduler writes only into the flex-model's
    sensor, so the other sensor of the same asset keeps answering the
    measurements for the same quarters.
    """
    house = await home(client)
    positive = {"attributes": json.dumps({"consumption_is_positive": True})}
    scheduled = await add_sensor(
        client, house.headers, house.battery, "scheduled power", **positive
    )
    status, answer, _ = await client.request(
        "POST",
        f"{SENSORS}/{house.sensor}/data",
        json={"start": START, "duration": "PT30M", "values": [1.5, 2.5], "unit": "kW"},
        headers=house.headers,
    )
    assert status == 200, answer
    job_id = await accepted(client, house, flex(scheduled))
    await finished(client, house, job_id, scheduled)
    status, answer = await read_data(client, house, house.sensor)
    assert (status, answer["values"]) == (200, [1.5, 2.5] + [None] * 6)
    status, answer = await read_data(client, house, scheduled)
    assert (status, answer["values"]) == (200, CHARGE)
    # Nothing of the scheduler's on the power sensor; no measurement on the other.
    status, answer = await read_data(
        client, house, house.sensor, **{"source-type": "scheduler"}
    )
    assert status == 422
    status, answer = await read_data(
        client, house, scheduled, **{"source-type": "user"}
    )
    assert status == 422
    # The schedule's own sensor only: the power sensor was not scheduled.
    status, answer = await schedule(client, house, job_id)
    assert status == 400, answer
    assert "schedule was not found" in answer["message"]


async def test_stored_flex_context_of_the_site(client: Client) -> None:
    """Prices stored on the site asset's flex_context serve a trigger without them."""
    house = await home(client)
    price = await add_sensor(
        client,
        house.headers,
        house.site,
        "price",
        unit="EUR/MWh",
        event_resolution="PT1H",
    )
    status, answer, _ = await client.request(
        "POST",
        f"{SENSORS}/{price}/data",
        json={
            "start": START,
            "duration": "PT2H",
            "values": [100, 300],
            "unit": "EUR/MWh",
        },
        headers=house.headers,
    )
    assert status == 200, answer
    status, answer, _ = await client.request(
        "PATCH",
        f"{ASSETS}/{house.site}",
        json={
            "flex_context": json.dumps(
                {
                    "consumption-price": {"sensor": price},
                    "production-price": {"sensor": price},
                }
            )
        },
        headers=house.headers,
    )
    assert status == 200, answer
    job_id = await accepted(client, house, **{"flex-context": None})
    assert (await finished(client, house, job_id))["values"] == CHARGE
    # A trigger on the battery asset finds its ancestor's prices too.
    status, answer, _ = await trigger(
        client, house, asset=house.battery, **{"flex-context": None}
    )
    assert status == 202, answer
    assert (await finished(client, house, answer["job"]))["values"] == CHARGE


async def test_unknown_jobs_and_sensors(client: Client, sandbox: SandboxServer) -> None:
    """Unknown jobs: 404 and 400 UNRECOGNIZED_UDI_EVENT; a sensor not in the job: 400."""
    house = await home(client)
    status, answer = await job(client, house, UNKNOWN_JOB)
    assert (status, answer) == (
        404,
        {"status": "ERROR", "message": f"Job {UNKNOWN_JOB} not found."},
    )
    status, answer = await schedule(client, house, UNKNOWN_JOB)
    assert (status, answer["status"]) == (400, "UNRECOGNIZED_UDI_EVENT")
    assert answer["message"] == (
        f"The requested UDI event (id = {UNKNOWN_JOB}, type = job) is not known."
    )
    status, answer = await schedule(client, house, UNKNOWN_JOB, 999)
    assert status == 422
    assert sandbox.state.violations == []
    other = await add_sensor(client, house.headers, house.site)
    job_id = await accepted(client, house)
    await finished(client, house, job_id)
    status, answer = await schedule(client, house, job_id, other)
    assert status == 400
    assert "schedule was not found in the database" in answer["message"]
    assert [v["status"] for v in sandbox.state.violations] == [400]


async def test_other_accounts(client: Client, sandbox: SandboxServer) -> None:
    """Another account's asset (trigger) and job: 403 INVALID_SENDER."""
    house = await home(client)
    job_id = await accepted(client, house)
    store = sandbox.state.flexmeasures
    store.jobs[job_id]["account_id"] = 2
    status, answer = await job(client, house, job_id)
    assert (status, answer["status"]) == (403, "INVALID_SENDER")
    status, answer = await schedule(client, house, job_id)
    assert (status, answer["status"]) == (400, "UNRECOGNIZED_UDI_EVENT")
    store.assets[house.site]["account_id"] = 2
    status, answer, _ = await trigger(client, house)
    assert (status, answer["status"]) == (403, "INVALID_SENDER")
    status, answer, _ = await trigger(client, house, asset=999)
    assert (status, answer) == (
        404,
        {"message": "No asset found with ID 999.", "status": 404},
    )


async def test_auth_required(client: Client) -> None:
    """The three routes need the bare token."""
    house = await home(client)
    for method, path in (
        ("POST", f"{ASSETS}/{house.site}/schedules/trigger"),
        ("GET", f"{JOBS}/{UNKNOWN_JOB}"),
        ("GET", f"{SENSORS}/{house.sensor}/schedules/{UNKNOWN_JOB}"),
    ):
        status, answer, _ = await client.request(method, path, json={})
        assert (status, answer["status"]) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Refused by the OpenAPI validation (AssetTriggerOpenAPI):
        (
            {"start": None, "duration": "PT0M", "typo": 1, "sequential": "perhaps"},
            {
                "typo": ["Unknown field."],
                "start": ["Field may not be null."],
                "sequential": ["Not a valid boolean."],
            },
        ),
        (
            {
                "start": "2026-11-22T10:00:00",
                "prior": "yesterday",
                "resolution": "1 hour",
            },
            {
                "start": ["Not a valid aware datetime."],
                "prior": ["Not a valid aware datetime."],
                "resolution": ["Cannot parse 1 hour as ISO8601 duration."],
            },
        ),
        (
            {
                "flex-model": {"sensor": 1},
                "flex-context": [{"commodity": "electricity"}],
            },
            {
                "flex-model": ["Not a valid list."],
                "flex-context": {"_schema": ["Invalid input type."]},
            },
        ),
        # Valid for the spec, refused by the service:
        ({"duration": "PT0M"}, {"duration": ["Must be greater than 0."]}),
    ],
)
async def test_trigger_fields(
    client: Client,
    sandbox: SandboxServer,
    body: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    """Top-level fields: 422 under ``json``, recorded as violations."""
    house = await home(client)
    status, answer, _ = await trigger(client, house, **body)
    assert status == 422
    assert rejected(answer) == {"json": expected}
    assert sandbox.state.violations[-1]["status"] == 422


async def test_trigger_missing_start_and_not_an_object(client: Client) -> None:
    """``start`` is required; the body must be a JSON object."""
    house = await home(client)
    path = f"{ASSETS}/{house.site}/schedules/trigger"
    status, answer, _ = await client.request(
        "POST",
        path,
        json={"flex-model": [], "sequential": "yes"},
        headers=house.headers,
    )
    assert rejected(answer) == {
        "json": {
            "start": ["Missing data for required field."],
            "sequential": ["Not a valid boolean."],
        }
    }
    status, answer, _ = await client.request(
        "POST", path, json=[1], headers=house.headers
    )
    assert rejected(answer) == {"json": {"_schema": ["Invalid input type."]}}
    status, answer, _ = await client.request(
        "POST",
        path,
        data="start",
        headers={**house.headers, "Content-Type": "text/plain"},
    )
    assert status == 400


async def test_flex_model_entries(client: Client, sandbox: SandboxServer) -> None:
    """Each entry's fields, under ``flex-model.<index>``."""
    house = await home(client)
    temperature = await add_sensor(
        client, house.headers, house.battery, "temp", unit="°C"
    )
    instant = await add_sensor(
        client, house.headers, house.battery, "instant", event_resolution="PT0M"
    )
    # What the spec (StorageFlexModelSchemaOpenAPI) refuses: the OpenAPI
    # validation answers in FlexMeasures' 422 shape before the handler.
    status, answer, _ = await trigger(
        client,
        house,
        flex(house.sensor, typo=1),
        flex(house.sensor, **{"soc-unit": "Wh"}),
        flex(house.sensor, **{"soc-at-start": True}),
        flex("1"),
        {"asset": house.battery},
        "battery",
    )
    assert status == 422
    assert rejected(answer) == {
        "json": {
            "flex-model": {
                "0": {"typo": ["Unknown field."]},
                "1": {"soc-unit": ["Must be one of: kWh, MWh."]},
                "2": {"soc-at-start": ["Not a valid string."]},
                "3": {"sensor": ["Not a valid integer."]},
                "4": {"asset": ["Unknown field."]},
                "5": {"_schema": ["Invalid input type."]},
            }
        }
    }
    # What the spec allows and the service refuses: the handler's messages.
    status, answer, _ = await trigger(
        client,
        house,
        flex(house.sensor, **{"soc-at-start": "12 kW", "soc-max": "abc"}),
        flex(house.sensor, **{"soc-min": "-1 kWh", "power-capacity": 7}),
        flex(house.sensor, **{"production-capacity": "-1 kW"}),
        flex(house.sensor, **{"consumption-capacity": "3 kWh", "soc-max": "25"}),
        flex(999),
        flex(temperature),
        flex(instant),
        {"soc-max": "25 kWh"},
    )
    assert status == 422
    unsupported = (
        "Unsupported value type. `<class 'int'>` was provided but only dict, list, str, "
        "pint Quantity, tuple, and numeric values with a default source unit are "
        "supported."
    )
    assert rejected(answer) == {
        "json": {
            "flex-model": {
                "0": {
                    "soc-at-start": ["Cannot convert value `12 kW` to 'MWh'"],
                    "soc-max": ["Cannot convert value 'abc' to a valid quantity."],
                },
                "1": {
                    "soc-min": ["Must be greater than or equal to 0 megawatt_hour."],
                    "power-capacity": [unsupported],
                },
                "2": {
                    "production-capacity": [
                        "Must be greater than or equal to 0 megawatt."
                    ],
                },
                "3": {
                    "soc-max": ["Cannot convert value `25` to 'MWh'"],
                    "consumption-capacity": ["Cannot convert value `3 kWh` to 'MW'"],
                },
                "4": {"sensor": ["No sensor found with ID 999."]},
                "5": {
                    "sensor": [
                        f"Sensor {temperature} does not record power (unit '°C')."
                    ]
                },
                "6": {
                    "sensor": [
                        (
                            f"Sensor {instant} is instantaneous; the sandbox schedules "
                            "sensors with a resolution."
                        )
                    ]
                },
                "7": {"_schema": ["Specify either a sensor or an asset."]},
            }
        }
    }
    assert sandbox.state.flexmeasures.jobs == {}


async def test_flex_model_sensors_under_the_asset(client: Client) -> None:
    """Sensors must be on the asset or below it, and named once."""
    house = await home(client)
    elsewhere = await create(
        client,
        house.headers,
        ASSETS,
        {"name": "Shed", "generic_asset_type_id": 6, "account_id": 1},
    )
    stranger = await add_sensor(client, house.headers, elsewhere["id"])
    status, answer, _ = await trigger(client, house, flex(stranger))
    assert rejected(answer) == {
        "json": {
            "_schema": [
                (
                    f"Sensor {stranger} does not belong to asset {house.site} "
                    "(or to one of its offspring)"
                )
            ]
        }
    }
    status, answer, _ = await trigger(
        client, house, flex(house.sensor), flex(house.sensor)
    )
    assert rejected(answer) == {
        "json": {
            "_schema": [
                f"Sensor {house.sensor} should not occur more than once in the flex-model"
            ]
        }
    }
    # Triggering on the battery asset itself works as well.
    status, answer, _ = await trigger(client, house, asset=house.battery)
    assert status == 202, answer
    # So do sensor references and time series where quantities may vary.
    status, answer, _ = await trigger(
        client,
        house,
        flex(
            house.sensor,
            **{
                "power-capacity": {"sensor": house.sensor},
                "production-capacity": [
                    {"value": "1 kW", "start": START, "duration": "PT1H"}
                ],
                "roundtrip-efficiency": "90%",
            },
        ),
        **{"flex-context": {"site-power-capacity": "10 kW"}},
    )
    assert status == 202, answer


async def test_flex_context(client: Client, sandbox: SandboxServer) -> None:
    """Prices, capacities, sensor references and booleans in the flex-context."""
    house = await home(client)
    # What the spec (FlexContextOpenAPISchema) refuses, before the handler.
    status, answer, _ = await trigger(
        client,
        house,
        **{
            "flex-context": {
                "inflexible-device-sensors": [house.sensor, "x"],
                "relax-constraints": "maybe",
                "site-peak-production-price": {"value": "1 EUR/kW"},
                "tariff": "cheap",
            }
        },
    )
    assert rejected(answer) == {
        "json": {
            "flex-context": {
                "tariff": ["Unknown field."],
                "inflexible-device-sensors": {"1": ["Not a valid integer."]},
                "relax-constraints": ["Not a valid boolean."],
                "site-peak-production-price": {
                    "sensor": ["Missing data for required field."]
                },
            }
        }
    }
    # What the spec allows and the service refuses.
    status, answer, _ = await trigger(
        client,
        house,
        **{
            "flex-context": {
                "consumption-price": "0.2 EUR/kW",
                "production-price": {"sensor": 999},
                "site-production-capacity": "5 kWh",
                "site-consumption-breach-price": "many",
                "site-power-capacity": 5,
            }
        },
    )
    assert rejected(answer) == {
        "json": {
            "flex-context": {
                "consumption-price": ["Cannot convert value `0.2 EUR/kW` to '/MWh'"],
                "production-price": ["No sensor found with ID 999."],
                "site-production-capacity": ["Cannot convert value `5 kWh` to 'MW'"],
                "site-consumption-breach-price": [
                    "Cannot convert value 'many' to a valid quantity."
                ],
                "site-power-capacity": [
                    (
                        "Unsupported value type. `<class 'int'>` was provided but only dict, "
                        "list, str, pint Quantity, tuple, and numeric values with a default "
                        "source unit are supported."
                    )
                ],
            }
        }
    }
    status, answer, _ = await trigger(
        client, house, **{"flex-context": {"inflexible-device-sensors": 3}}
    )
    assert rejected(answer) == {
        "json": {"flex-context": {"inflexible-device-sensors": ["Not a valid list."]}}
    }
    store = sandbox.state.flexmeasures
    foreign = await add_sensor(
        client, house.headers, house.site, "price", unit="EUR/MWh"
    )
    status, answer, _ = await trigger(
        client,
        house,
        **{
            "flex-context": {
                "consumption-price": {"sensor": foreign},
                "production-price": "50 EUR/MWh",
                "site-consumption-capacity": "3 kW",
                "site-peak-consumption-price": "260 EUR/MW",
                "inflexible-device-sensors": [foreign],
                "relax-soc-constraints": None,
                "relax-capacity-constraints": True,
                "commitments": [],
            },
            "sequential": False,
            "prior": START,
        },
    )
    assert status == 202, answer
    # A referenced sensor of another account is not found.
    store.assets[house.site]["account_id"] = 2
    status, answer, _ = await trigger(
        client,
        house,
        asset=house.battery,
        **{"flex-context": {"consumption-price": {"sensor": foreign}}},
    )
    assert rejected(answer) == {
        "json": {
            "flex-context": {
                "consumption-price": [f"No sensor found with ID {foreign}."]
            }
        }
    }


async def test_job_cache(client: Client, sandbox: SandboxServer) -> None:
    """The same request answers the same job for the cache time, unless forced.

    The key is the request: a changed stored flex-model does not make a new job.
    """
    house = await home(client)
    first = await accepted(client, house)
    assert await accepted(client, house) == first
    status, answer, _ = await client.request(
        "PATCH",
        f"{ASSETS}/{house.battery}",
        json={"flex_model": json.dumps({"production-capacity": "1 kW"})},
        headers=house.headers,
    )
    assert status == 200, answer
    assert await accepted(client, house) == first
    forced = await accepted(client, house, **{"force-new-job-creation": True})
    assert forced != first
    assert (await finished(client, house, forced))["values"] == [7.4] * 4 + [-1.0] * 4
    assert len(sandbox.state.flexmeasures.jobs) == 2
    # Past the cache time the same request makes a new job.
    scheduling_settings(sandbox.state).job_cache_seconds = 0
    assert await accepted(client, house) not in (first, forced)


async def test_trigger_budget(client: Client, sandbox: SandboxServer) -> None:
    """Only accepted triggers count; over the budget: 429 with Retry-After, no job."""
    house = await home(client)
    await client.control("PUT", "/flexmeasures/scheduling", {"trigger_limit": 2})
    bad, _, _ = await trigger(client, house, start="now")
    assert bad == 422
    await accepted(client, house, **{"force-new-job-creation": True})
    await accepted(client, house, **{"force-new-job-creation": True})
    status, answer, response = await trigger(
        client, house, **{"force-new-job-creation": True}
    )
    assert status == 429
    assert answer == {
        "result": "Rejected",
        "status": "TOO_MANY_REQUESTS",
        "message": "You hit a rate limit. The limit you hit allows 2 per 5 minute.",
    }
    assert 1 <= int(response.headers["Retry-After"]) <= 300
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert len(sandbox.state.flexmeasures.jobs) == 2
    assert all(v["status"] != 429 for v in sandbox.state.violations)
    # Unlimited, then a short window that runs out.
    await client.control("PUT", "/flexmeasures/scheduling", {"trigger_limit": None})
    status, _, response = await trigger(
        client, house, **{"force-new-job-creation": True}
    )
    assert status == 202
    assert "X-RateLimit-Limit" not in response.headers
    await client.control(
        "PUT",
        "/flexmeasures/scheduling",
        {"trigger_limit": 1, "trigger_window_seconds": 0.3},
    )
    await asyncio.sleep(0.35)
    assert (await trigger(client, house, **{"force-new-job-creation": True}))[0] == 202
    assert (await trigger(client, house, **{"force-new-job-creation": True}))[0] == 429
    await asyncio.sleep(0.35)
    assert (await trigger(client, house, **{"force-new-job-creation": True}))[0] == 202
    # A reset restores the default budget (10 per 5 minutes) and empties the window.
    await client.control("POST", "/reset")
    assert scheduling_settings(sandbox.state).trigger_limit == 10
    assert sandbox.state.flexmeasures.jobs == {}


@pytest.mark.parametrize(
    ("limit", "window", "text"),
    [
        (10, 300, "10 per 5 minute"),
        (1, 7200, "1 per 2 hour"),
        (3, 86400, "3 per 1 day"),
        (5, 90, "5 per 90 second"),
        (5, 0.5, "5 per 0.5 second"),
    ],
)
def test_limit_text(limit: int, window: float, text: str) -> None:
    """The limit is written as flask-limiter writes it."""
    assert _limit_text(limit, window) == text


async def test_control_jobs(client: Client, sandbox: SandboxServer) -> None:
    """Forced states stick; FINISHED schedules even what would fail."""
    house = await home(client)
    job_id = await accepted(
        client, house, flex(house.sensor, **{"power-capacity": None})
    )
    view = await client.control(
        "POST", f"/flexmeasures/jobs/{job_id}", {"status": "STARTED"}
    )
    assert view["status"] == "STARTED"
    for _ in range(4):
        assert (await job(client, house, job_id))[1]["status"] == "STARTED"
    view = await client.control(
        "POST", f"/flexmeasures/jobs/{job_id}", {"status": "QUEUED"}
    )
    assert (view["status"], view["started-at"]) == ("QUEUED", None)
    view = await client.control(
        "POST", f"/flexmeasures/jobs/{job_id}", {"status": "FINISHED"}
    )
    assert view["result"]["num-beliefs"] == 8
    assert (await schedule(client, house, job_id))[1]["values"] == [0.0] * 8
    view = await client.control(
        "POST",
        f"/flexmeasures/jobs/{job_id}",
        {"status": "FAILED", "message": "Solver gone"},
    )
    assert view["message"] == "Scheduling job failed with ValueError: Solver gone."
    status, body = await job(client, house, job_id)
    assert (status, body["status"]) == (422, "FAILED")
    assert job_id not in sandbox.state.flexmeasures.schedules
    view = await client.control(
        "POST", f"/flexmeasures/jobs/{job_id}", {"status": "FAILED"}
    )
    assert "The sandbox control API failed this job." in view["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        (f"/flexmeasures/jobs/{UNKNOWN_JOB}", {"status": "FAILED"}, 404, "No such job"),
        ("/flexmeasures/jobs/{job}", {"status": "DONE"}, 400, "status must be one of"),
        (
            "/flexmeasures/jobs/{job}",
            {"status": "FAILED", "why": 1},
            400,
            "Unknown fields: why",
        ),
        (
            "/flexmeasures/jobs/{job}",
            {"status": "FAILED", "message": ""},
            400,
            "message must",
        ),
        ("/flexmeasures/jobs/{job}", [1], 400, "must be a JSON object"),
        ("/flexmeasures/scheduling", {"polls": 1}, 400, "Unknown fields: polls"),
        ("/flexmeasures/scheduling", {"polls_to_finish": -1}, 400, "polls_to_finish"),
        ("/flexmeasures/scheduling", {"trigger_limit": 0}, 400, "trigger_limit"),
        ("/flexmeasures/scheduling", {"trigger_limit": True}, 400, "trigger_limit"),
        (
            "/flexmeasures/scheduling",
            {"trigger_window_seconds": 0},
            400,
            "trigger_window",
        ),
        ("/flexmeasures/scheduling", {"pending_as_202": 1}, 400, "pending_as_202"),
        (
            "/flexmeasures/scheduling",
            {"job_cache_seconds": -1},
            400,
            "job_cache_seconds",
        ),
    ],
)
async def test_control_errors(
    client: Client, path: str, body: Any, status: int, error: str
) -> None:
    """Control errors are ``{"error"}`` with 400 or 404."""
    house = await home(client)
    job_id = await accepted(client, house)
    method = "PUT" if path.endswith("scheduling") else "POST"
    code, answer, _ = await client.request(
        method, "/_sandbox" + path.format(job=job_id), json=body
    )
    assert code == status
    assert error in answer["error"]


async def test_control_settings(client: Client) -> None:
    """GET answers the settings; a body that is not JSON is 400."""
    assert await client.control("GET", "/flexmeasures/scheduling") == {
        "polls_to_finish": 2,
        "trigger_limit": 10,
        "trigger_window_seconds": 300.0,
        "pending_as_202": True,
        "job_cache_seconds": 3600.0,
    }
    status, answer, _ = await client.request(
        "PUT", "/_sandbox/flexmeasures/scheduling", data="x"
    )
    assert status == 400
    assert "Content-Type" in answer["error"]
    updated = await client.control(
        "PUT",
        "/flexmeasures/scheduling",
        {"polls_to_finish": 0, "trigger_window_seconds": 60},
    )
    assert (updated["polls_to_finish"], updated["trigger_window_seconds"]) == (0, 60.0)


async def test_gridflex_client_against_the_sandbox(
    sandbox: SandboxServer, http: aiohttp.ClientSession
) -> None:
    """The integration's client: trigger, poll the job and the schedule, read kW."""
    client = create_client(
        PlatformKey.FLEXMEASURES,
        http,
        dict(FM),
        environment=Environment.CUSTOM,
        base_url=sandbox.url,
    )
    assert isinstance(client, FlexMeasuresClient)
    site = await client.register_site(
        SiteRegistration(
            name="Home",
            country="NL",
            grid_identifier="871685900000000001",
            location=Location(),
        )
    )
    group = await client.create_resource(
        site.site.site_id,
        ResourceSpec(
            name="Storage",
            type=ResourceType.GROUP,
            power_minimum_kw=Decimal(0),
            power_maximum_kw=Decimal(0),
        ),
    )
    battery = await client.create_resource(
        site.site.site_id,
        ResourceSpec(
            name="Battery",
            type=ResourceType.BATTERY,
            power_minimum_kw=Decimal(-5),
            power_maximum_kw=Decimal("7.4"),
            capacity_kwh=Decimal(25),
            group_id=group.resource_id,
        ),
    )
    start = datetime(2026, 11, 22, 10, tzinfo=timezone(timedelta(hours=1)))
    # The battery's stored flex-model holds its limits (-5 … 7.4 kW, 25 kWh).
    stored = sandbox.state.flexmeasures.assets[int(battery.resource_id)]
    assert json.loads(stored["flex_model"]) == {
        "power-capacity": "7.4 kW",
        "consumption-capacity": "7.4 kW",
        "production-capacity": "5.0 kW",
        "soc-min": "0.0 kWh",
        "soc-max": "25.0 kWh",
    }
    # Prices: the site's price sensor, named by the site's flex-context.
    price = await client.ensure_price_sensor(site.site.site_id, "EUR/MWh")
    await client.post_price_series(
        PriceSeries(
            price.sensor_id,
            start,
            15,
            (Decimal(100),) * 4 + (Decimal(300),) * 4,
            price.unit,
        )
    )
    assert await client.set_site_prices(site.site.site_id, price.sensor_id)
    schedule_id = await client.trigger_schedule(
        battery.resource_id,
        start=start,
        duration_hours=2,
        flex_model=StorageFlexModel(soc_at_start_kwh=Decimal("12.1")),
    )
    job_record = sandbox.state.flexmeasures.jobs[schedule_id]
    assert job_record["asset_id"] == int(site.site.site_id)
    # The battery's own scheduled power sensor, made for the first trigger.
    store = sandbox.state.flexmeasures
    [scheduled] = [
        sensor
        for sensor in store.sensors.values()
        if sensor["generic_asset_id"] == int(battery.resource_id)
        and sensor["name"] == "scheduled power"
    ]
    assert (scheduled["unit"], scheduled["event_resolution"]) == ("kW", "PT15M")
    assert json.loads(scheduled["attributes"]) == {"consumption_is_positive": True}
    assert scheduled["id"] != int(battery.power_sensor_id or 0)
    assert job_record["body"]["flex-model"] == [
        {"sensor": scheduled["id"], "soc-at-start": "12.1 kWh"}
    ]
    assert "flex-context" not in job_record["body"]
    assert await client.get_job(schedule_id) == "QUEUED"
    assert (
        await client.get_schedule(battery.resource_id, schedule_id, duration_hours=2)
        is None  # 202 QUEUED
    )
    points = await client.get_schedule(
        battery.resource_id, schedule_id, duration_hours=2
    )
    assert points is not None
    # The stored limits apply: 7.4 kW in, 5 kW out.
    assert [point[1] for point in points] == [Decimal("7.4")] * 4 + [Decimal(-5)] * 4
    assert points[0][0] == start
    assert points[-1][0] == start + timedelta(minutes=105)
    assert await client.get_job(schedule_id) == "FINISHED"
    # The schedule went into the scheduled power sensor only.
    assert store.beliefs.get(int(battery.power_sensor_id or 0), {}) == {}
    assert scheduler_beliefs(store, scheduled["id"])
    assert not scheduler_beliefs(store, int(battery.power_sensor_id or 0))
    # An infeasible request: the job fails.
    failing = await client.trigger_schedule(
        battery.resource_id,
        start=start,
        duration_hours=2,
        flex_model=StorageFlexModel(soc_at_start_kwh=Decimal(30)),
    )
    await client.get_job(failing)
    await client.get_job(failing)
    assert await client.get_job(failing) == "FAILED"
    with pytest.raises(FlexMeasuresScheduleFailedError, match="infeasible"):
        await client.get_schedule(battery.resource_id, failing, duration_hours=2)
    assert sandbox.state.violations == []
