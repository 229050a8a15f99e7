"""FlexMeasures schedules (trigger, schedule, job) against recorded responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from custom_components.gridflex.platforms import (
    Environment,
    FlexMeasuresClient,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    PlatformKey,
    create_client,
)
from custom_components.gridflex.platforms.flexmeasures import (
    FlexMeasuresScheduleFailedError,
)
from custom_components.gridflex.platforms.models import StorageFlexModel

from .conftest import FakeClock, FakePlatform, load, reply

if TYPE_CHECKING:
    import aiohttp

TOKEN = "/api/requestAuthToken"
API = "/api/v3_0"
SENSORS = f"{API}/sensors"
SITE = f"{API}/assets/42"
BATTERY = f"{API}/assets/50"
TRIGGER = f"{SITE}/schedules/trigger"
UUID = "364bfd06-c1fa-430b-8d25-8f5a547651fb"
SCHEDULE = f"{SENSORS}/106/schedules/{UUID}"
JOB = f"{API}/jobs/{UUID}"
CET = timezone(timedelta(hours=1))
START = datetime(2026, 11, 22, 10, tzinfo=CET)


def _client(fake: FakePlatform, session: aiohttp.ClientSession) -> FlexMeasuresClient:
    client = create_client(
        PlatformKey.FLEXMEASURES,
        session,
        {"email": "toy-user@flexmeasures.io", "password": "toy-password"},
        environment=Environment.CUSTOM,
        base_url=fake.url,
        request_timeout=2.0,
        clock=FakeClock(),
    )
    assert isinstance(client, FlexMeasuresClient)
    return client


@pytest.fixture(autouse=True)
def routes(fake: FakePlatform) -> None:
    """A token, the battery (child of site 42), the site and the sensors.

    The battery (asset 50) has its power sensor (101) and its scheduled
    power sensor (106); the group member (asset 52) 104 and 107.
    """
    fake.on("POST", TOKEN, reply(fixture="fm_token"))
    fake.on("GET", BATTERY, reply(fixture="fm_resource_asset"))
    fake.on("GET", SITE, reply(fixture="fm_asset"))
    fake.on("GET", SENSORS, reply(fixture="fm_sensors_scheduled"))


MODEL = StorageFlexModel(
    soc_at_start_kwh=Decimal("12.1"),
    soc_min_kwh=Decimal(2),
    soc_max_kwh=Decimal("25.00"),
    consumption_capacity_kw=Decimal("7.4"),
    production_capacity_kw=Decimal(3),
)


async def _trigger(
    client: FlexMeasuresClient, resource: str = "50", **fields: Any
) -> str:
    arguments: dict[str, Any] = {
        "start": START,
        "duration_hours": 24,
        "flex_model": MODEL,
        "consumption_price": "0.2 EUR/kWh",
    }
    arguments.update(fields)
    return await client.trigger_schedule(resource, **arguments)


async def test_trigger_wire_form(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Quantity strings for the resource's scheduled power sensor, on the site asset."""
    fake.on("POST", TRIGGER, reply(202, fixture="fm_schedule_trigger_accepted"))
    assert await _trigger(_client(fake, session)) == UUID
    assert fake.calls() == [
        f"POST {TOKEN}",
        f"GET {SENSORS}",
        f"GET {BATTERY}",
        f"GET {SITE}",
        f"POST {TRIGGER}",
    ]
    assert fake.sent("GET", SENSORS)[0].query == {"asset": "50"}
    assert fake.sent("POST", TRIGGER)[0].json() == {
        "start": "2026-11-22T10:00:00+01:00",
        "duration": "PT24H",
        "flex-model": [
            {
                "sensor": 106,
                "soc-at-start": "12.1 kWh",
                "soc-min": "2.0 kWh",
                "soc-max": "25.0 kWh",
                # Never one symmetric capacity: 7.4 kW in, 3 kW out.
                "power-capacity": "7.4 kW",
                "consumption-capacity": "7.4 kW",
                "production-capacity": "3.0 kW",
            }
        ],
        "flex-context": {"consumption-price": "0.2 EUR/kWh"},
    }


async def test_trigger_forced_with_price_sensors(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Price sensors by id for both prices; a forced new job says so."""
    fake.on("POST", TRIGGER, reply(202, fixture="fm_schedule_trigger_accepted"))
    await _trigger(
        _client(fake, session),
        consumption_price="105",
        production_price="106",
        force_new=True,
    )
    body = fake.sent("POST", TRIGGER)[0].json()
    assert body["flex-context"] == {
        "consumption-price": {"sensor": 105},
        "production-price": {"sensor": 106},
    }
    assert body["force-new-job-creation"] is True


async def test_trigger_on_an_old_server(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """200 ``{schedule, status: PROCESSED}``; unset fields stay out; a price sensor by id."""
    fake.on("POST", TRIGGER, reply(fixture="fm_schedule_trigger_processed"))
    client = _client(fake, session)
    schedule_id = await _trigger(
        client, flex_model=StorageFlexModel(), consumption_price=" 105 "
    )
    assert schedule_id == UUID
    assert fake.sent("POST", TRIGGER)[0].json() == {
        "start": "2026-11-22T10:00:00+01:00",
        "duration": "PT24H",
        "flex-model": [{"sensor": 106}],
        "flex-context": {"consumption-price": {"sensor": 105}},
    }
    await _trigger(client, consumption_price=None)
    assert "flex-context" not in fake.sent("POST", TRIGGER)[1].json()
    # The scheduled power sensor is looked up once per client.
    assert len(fake.sent("GET", SENSORS)) == 1


async def test_trigger_for_a_group_member(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The trigger goes to the top of the tree, past the group."""
    fake.on("GET", f"{API}/assets/52", reply(body={"id": 52, "parent_asset_id": 51}))
    fake.on("GET", f"{API}/assets/51", reply(fixture="fm_resource_group_asset"))
    fake.on("POST", TRIGGER, reply(202, body={"job": UUID, "status": "ACCEPTED"}))
    assert await _trigger(_client(fake, session), "52") == UUID
    assert fake.sent("POST", TRIGGER)[0].json()["flex-model"][0]["sensor"] == 107


async def test_trigger_site_search_stops(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A loop in the parents, or a tree deeper than 10, ends the search."""
    fake.on(
        "GET",
        SENSORS,
        reply(body=[{"id": 9, "name": "scheduled power", "generic_asset_id": 60}]),
    )
    fake.on("GET", f"{API}/assets/60", reply(body={"id": 60, "parent_asset_id": 61}))
    fake.on("GET", f"{API}/assets/61", reply(body={"id": 61, "parent_asset_id": 60}))
    fake.on(
        "POST", f"{API}/assets/61/schedules/trigger", reply(202, body={"job": UUID})
    )
    client = _client(fake, session)
    assert await _trigger(client, "60") == UUID
    fake.on(
        "GET",
        SENSORS,
        reply(body=[{"id": 8, "name": "scheduled power", "generic_asset_id": 70}]),
    )
    for asset_id in range(70, 90):
        fake.on(
            "GET",
            f"{API}/assets/{asset_id}",
            reply(body={"id": asset_id, "parent_asset_id": asset_id + 1}),
        )
    fake.on(
        "POST", f"{API}/assets/80/schedules/trigger", reply(202, body={"job": UUID})
    )
    assert await _trigger(client, "70") == UUID


@pytest.mark.parametrize(
    ("resource", "fields", "error", "match"),
    [
        (
            "50",
            {"start": datetime(2026, 11, 22, 10)},  # noqa: DTZ001
            GridFlexRequestRejectedError,
            "aware",
        ),
        (
            "50",
            {"duration_hours": 0},
            GridFlexRequestRejectedError,
            "positive number of hours",
        ),
        (
            "50",
            {"flex_model": StorageFlexModel(soc_max_kwh=Decimal("NaN"))},
            GridFlexRequestRejectedError,
            "finite",
        ),
        (
            "50",
            {"flex_model": StorageFlexModel(production_capacity_kw=Decimal(-1))},
            GridFlexRequestRejectedError,
            "negative",
        ),
        ("50", {"consumption_price": "  "}, GridFlexRequestRejectedError, "empty"),
        ("battery", {}, GridFlexNotFoundError, "asset id"),
    ],
)
async def test_trigger_refused_before_sending(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    resource: str,
    fields: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    """Nothing goes out for a request the server would refuse."""
    with pytest.raises(error, match=match):
        await _trigger(_client(fake, session), resource, **fields)
    assert fake.sent() == []


async def test_trigger_without_power_sensor(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A resource asset without its own ``power`` sensor cannot be scheduled."""
    with pytest.raises(GridFlexNotFoundError, match="asset 53 has no 'power' sensor"):
        await _trigger(_client(fake, session), "53")
    assert fake.sent("POST", SENSORS) == []


async def test_first_trigger_makes_the_scheduled_power_sensor(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No scheduled power sensor yet: one is made like the power sensor, then used."""
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    fake.on("GET", f"{API}/assets/52", reply(body={"id": 52, "parent_asset_id": 42}))
    fake.on(
        "POST",
        SENSORS,
        reply(201, body={"id": 110, "name": "scheduled power", "unit": "kW"}),
    )
    fake.on("POST", TRIGGER, reply(202, fixture="fm_schedule_trigger_accepted"))
    client = _client(fake, session)
    client.timezone = "Europe/Brussels"
    assert await _trigger(client, "52") == UUID
    # kW in the member's power sensor's resolution (5 minutes), consumption
    # positive, the home's time zone.
    assert [sent.json() for sent in fake.sent("POST", SENSORS)] == [
        {
            "name": "scheduled power",
            "unit": "kW",
            "event_resolution": "PT5M",
            "generic_asset_id": 52,
            "timezone": "Europe/Brussels",
            "attributes": '{"consumption_is_positive": true}',
        }
    ]
    assert fake.sent("POST", TRIGGER)[0].json()["flex-model"][0]["sensor"] == 110
    # Remembered: the next trigger neither looks it up nor makes it again.
    await _trigger(client, "52")
    assert len(fake.sent("GET", SENSORS)) == 1
    assert len(fake.sent("POST", SENSORS)) == 1
    assert fake.sent("POST", TRIGGER)[1].json()["flex-model"][0]["sensor"] == 110
    fake.on("GET", f"{SENSORS}/110/schedules/{UUID}", reply(fixture="fm_schedule"))
    assert await client.get_schedule("52", UUID, duration_hours=6)


async def test_scheduled_power_sensor_found_again(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An asset taken back keeps its sensor; one without the sign attribute gets it."""
    sensors = load("fm_sensors_scheduled")
    for sensor in sensors:
        if sensor["id"] == 106:
            sensor["attributes"] = '{"note": "kept"}'
    fake.on("GET", SENSORS, reply(body=sensors))
    fake.on("PATCH", f"{SENSORS}/106", reply(body={"id": 106}))
    fake.on("POST", TRIGGER, reply(202, fixture="fm_schedule_trigger_accepted"))
    await _trigger(_client(fake, session))
    assert fake.sent("POST", SENSORS) == []
    assert fake.sent("PATCH", f"{SENSORS}/106")[0].json() == {
        "attributes": '{"note": "kept", "consumption_is_positive": true}'
    }
    assert fake.sent("POST", TRIGGER)[0].json()["flex-model"][0]["sensor"] == 106


@pytest.mark.parametrize("resolution", ["15 minutes", "PT0M", "PT90S", None])
async def test_scheduled_power_sensor_needs_a_readable_resolution(
    fake: FakePlatform, session: aiohttp.ClientSession, resolution: str | None
) -> None:
    """The power sensor's resolution cannot be read: nothing is made or triggered."""
    fake.on(
        "GET",
        SENSORS,
        reply(
            body=[
                {
                    "id": 101,
                    "name": "power",
                    "generic_asset_id": 50,
                    "event_resolution": resolution,
                }
            ]
        ),
    )
    with pytest.raises(GridFlexResponseError, match="resolution"):
        await _trigger(_client(fake, session))
    assert fake.sent("POST", SENSORS) == []
    assert fake.sent("POST", TRIGGER) == []


async def test_schedule_read_makes_no_sensor(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Reading a schedule of an asset without a scheduled power sensor: not found."""
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    with pytest.raises(GridFlexNotFoundError, match="no 'scheduled power' sensor"):
        await _client(fake, session).get_schedule("50", UUID, duration_hours=6)
    assert fake.sent("POST", SENSORS) == []


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (
            reply(429, fixture="fm_error_429_trigger", headers={"Retry-After": "120"}),
            GridFlexRateLimitedError,
            "slow down",
        ),
        (
            reply(422, fixture="fm_error_422_flex_model"),
            GridFlexRequestRejectedError,
            "soc-max: Cannot convert",
        ),
        (
            reply(202, body={"status": "ACCEPTED"}),
            GridFlexResponseError,
            "without a schedule id",
        ),
        (reply(202, body=[UUID]), GridFlexResponseError, "JSON object"),
    ],
)
async def test_trigger_refused(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    answer: Any,
    error: type[Exception],
    match: str,
) -> None:
    """The trigger budget, flex-model errors and unreadable answers."""
    fake.on("POST", TRIGGER, answer)
    with pytest.raises(error, match=match) as caught:
        await _trigger(_client(fake, session))
    if isinstance(caught.value, GridFlexRateLimitedError):
        assert caught.value.retry_after == 120


async def test_get_schedule(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Values per interval start in kW; missing values are left out."""
    fake.on("GET", SCHEDULE, reply(fixture="fm_schedule"))
    points = await _client(fake, session).get_schedule("50", UUID, duration_hours=6)
    assert fake.sent("GET", SCHEDULE)[0].query == {"duration": "PT6H", "unit": "kW"}
    start = datetime(2015, 6, 2, 10, tzinfo=UTC)
    assert points == [
        (start, Decimal(2150)),
        (start + timedelta(minutes=15), Decimal(3000)),
        (start + timedelta(minutes=30), Decimal(2000)),
    ]


@pytest.mark.parametrize(
    "answer",
    [
        reply(400, fixture="fm_schedule_waiting"),
        reply(400, fixture="fm_schedule_in_progress"),
        reply(202, fixture="fm_schedule_started"),
        reply(
            400,
            body={
                "result": "Rejected",
                "status": "UNKNOWN_SCHEDULE",
                "message": "No known schedule for this time period. Scheduling job has "
                "an unknown status. StorageScheduler was used.",
            },
        ),
    ],
)
async def test_get_schedule_pending(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: Any
) -> None:
    """None while the job is queued or running (400 or 202)."""
    fake.on("GET", SCHEDULE, answer)
    assert (
        await _client(fake, session).get_schedule("50", UUID, duration_hours=6) is None
    )


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (
            reply(400, fixture="fm_schedule_failed"),
            FlexMeasuresScheduleFailedError,
            "failed with ValueError",
        ),
        (
            reply(
                400,
                body={
                    "result": "Rejected",
                    "status": "UNKNOWN_SCHEDULE",
                    "message": "No known schedule for this time period. Scheduling "
                    "job failed with ValueError: Missing consumption price for "
                    "commodity 'electricity'. StorageScheduler was used.",
                },
            ),
            FlexMeasuresScheduleFailedError,
            "Missing consumption price",
        ),
        (
            reply(400, fixture="fm_schedule_not_in_db"),
            GridFlexRequestRejectedError,
            "not found in the database",
        ),
        (
            reply(400, fixture="fm_schedule_unrecognized"),
            GridFlexNotFoundError,
            "is not known",
        ),
        (reply(422, fixture="fm_error_422"), GridFlexRequestRejectedError, "HTTP 422"),
        (reply(body={"status": "PROCESSED"}), GridFlexResponseError, "Cannot read"),
        (
            reply(
                body={"values": [1], "start": "2015-06-02T10:00:00", "duration": "PT1H"}
            ),
            GridFlexResponseError,
            "Cannot read",
        ),
        (
            reply(body={"values": [1], "start": "yesterday", "duration": "PT1H"}),
            GridFlexResponseError,
            "Cannot read",
        ),
        (
            reply(body={"values": [1], "duration": "PT1H"}),
            GridFlexResponseError,
            "Cannot read",
        ),
        (
            reply(
                body={"values": [1], "start": "2015-06-02T10:00Z", "duration": "1 hour"}
            ),
            GridFlexResponseError,
            "Cannot read",
        ),
        (
            reply(body={"values": [1], "start": "2015-06-02T10:00Z", "duration": "PT"}),
            GridFlexResponseError,
            "Cannot read",
        ),
        (
            reply(
                body={"values": [1], "start": "2015-06-02T10:00Z", "duration": "P1DT"}
            ),
            GridFlexResponseError,
            "Cannot read",
        ),
        (
            reply(
                body={
                    "values": [1],
                    "start": "2015-06-02T10:00Z",
                    "duration": "PT1H",
                    "unit": "kWh",
                }
            ),
            GridFlexResponseError,
            "not in a power unit: 'kWh'",
        ),
        (
            reply(
                body={"values": ["1"], "start": "2015-06-02T10:00Z", "duration": "PT1H"}
            ),
            GridFlexResponseError,
            "Not a number",
        ),
        (
            reply(
                body={
                    "values": [True],
                    "start": "2015-06-02T10:00Z",
                    "duration": "PT1H",
                }
            ),
            GridFlexResponseError,
            "Not a number",
        ),
    ],
)
async def test_get_schedule_refused(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    answer: Any,
    error: type[Exception],
    match: str,
) -> None:
    """A failed job, an unknown uuid and answers that cannot be read."""
    fake.on("GET", SCHEDULE, answer)
    with pytest.raises(error, match=match):
        await _client(fake, session).get_schedule("50", UUID, duration_hours=6)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            (
                b'{"values": [NaN, 1.5, Infinity], "start": "2015-06-02T10:00:00Z", '
                b'"duration": "P1W"}'
            ),
            [(datetime(2015, 6, 4, 18, tzinfo=UTC), Decimal("1.5"))],
        ),
        (
            (
                b'{"values": [1500, 2500], "start": "2015-06-02T10:00:00+02:00", '
                b'"duration": "P1DT1H30M15.5S", "unit": "W"}'
            ),
            [
                (datetime(2015, 6, 2, 8, tzinfo=UTC), Decimal("1.5")),
                (
                    datetime(2015, 6, 2, 8, tzinfo=UTC)
                    + timedelta(hours=12, minutes=45, seconds=7.75),
                    Decimal("2.5"),
                ),
            ],
        ),
        (b'{"values": [], "start": "2015-06-02T10:00:00Z", "duration": "PT0H"}', []),
    ],
)
async def test_get_schedule_shapes(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    raw: bytes,
    expected: list[tuple[datetime, Decimal]],
) -> None:
    """Non-finite values are gaps; W converts; days and weeks; an empty schedule."""
    fake.on("GET", SCHEDULE, reply(raw=raw))
    assert (
        await _client(fake, session).get_schedule("50", UUID, duration_hours=6)
        == expected
    )


@pytest.mark.parametrize(
    ("resource", "schedule_id", "hours", "error"),
    [
        ("50", UUID, 0, GridFlexRequestRejectedError),
        ("50", "a/b", 6, GridFlexNotFoundError),
        ("50", "", 6, GridFlexNotFoundError),
        ("x", UUID, 6, GridFlexNotFoundError),
    ],
)
async def test_get_schedule_refused_before_sending(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    resource: str,
    schedule_id: str,
    hours: int,
    error: type[Exception],
) -> None:
    """Bad ids and durations are refused without a request."""
    with pytest.raises(error):
        await _client(fake, session).get_schedule(
            resource, schedule_id, duration_hours=hours
        )
    assert fake.sent() == []


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (reply(202, fixture="fm_job_queued"), "QUEUED"),
        (reply(fixture="fm_job_finished"), "FINISHED"),
        (reply(422, fixture="fm_job_failed"), "FAILED"),
    ],
)
async def test_get_job(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: Any, status: str
) -> None:
    """202 queued or running, 200 finished, 422 failed."""
    fake.on("GET", JOB, answer)
    assert await _client(fake, session).get_job(UUID) == status


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        (reply(404, fixture="fm_job_not_found"), GridFlexNotFoundError, "not found"),
        (reply(400, fixture="fm_job_not_found"), GridFlexNotFoundError, "not found"),
        (
            reply(400, body={"message": "Bad job"}),
            GridFlexRequestRejectedError,
            "Bad job",
        ),
        (reply(body={"message": "no status"}), GridFlexResponseError, "no status"),
    ],
)
async def test_get_job_refused(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    answer: Any,
    error: type[Exception],
    match: str,
) -> None:
    """Unknown jobs (404; 400 on v3.0-31), other refusals and unreadable answers."""
    fake.on("GET", JOB, answer)
    with pytest.raises(error, match=match):
        await _client(fake, session).get_job(UUID)
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).get_job("../assets")
