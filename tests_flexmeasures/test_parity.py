"""Sandbox vs real server: the same raw requests, the same observable outcome.

One test per behaviour of platform-apis.md §6 ("Seen on a real FlexMeasures
1.0.1 server"), each run against the sandbox and against the real server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import json
from typing import Any

from .conftest import Target, attributes, new_ean, next_hours

HOURS = 2
QUARTERS = HOURS * 4
# Cheap, then dear: a price-driven scheduler charges first; an optimising one
# with a full battery as target at the end charges all the time.
PRICES_EUR_PER_MWH = [50.0, 150.0]


@dataclass
class Site:
    """A site asset with battery children, each with a kW power sensor."""

    site_id: int
    batteries: list[int]
    power_sensors: list[int]
    start: datetime
    end: datetime


async def _site(
    target: Target, consumption_positive: tuple[bool, ...] = (True,)
) -> Site:
    """A site (building) with a battery per entry, each with a kW power sensor.

    Each entry says whether the sensor gets ``consumption_is_positive: true``.
    """
    api = target.api
    site = await api.create_asset(f"GridFlex {new_ean()}", "building")
    assets: list[int] = []
    sensors: list[int] = []
    for index, positive in enumerate(consumption_positive):
        battery = await api.create_asset(f"Battery {index}", "battery", site["id"])
        fields: dict[str, Any] = {}
        if positive:
            fields["attributes"] = {"consumption_is_positive": True}
        sensor = await api.create_sensor(battery["id"], **fields)
        assets.append(battery["id"])
        sensors.append(sensor["id"])
    start, end = next_hours(HOURS)
    return Site(site["id"], assets, sensors, start, end)


async def _with_price(target: Target, site: Site) -> int:
    """A price sensor (EUR/MWh, hourly) with prices, named in the site's flex_context."""
    api = target.api
    price = await api.create_sensor(site.site_id, "price", "EUR/MWh", "PT1H")
    await api.ok(
        "POST",
        f"/sensors/{price['id']}/data",
        json_body={
            "start": site.start.isoformat(),
            "duration": f"PT{HOURS}H",
            "values": PRICES_EUR_PER_MWH,
            "unit": "EUR/MWh",
        },
    )
    await api.ok(
        "PATCH",
        f"/assets/{site.site_id}",
        json_body={
            "flex_context": json.dumps(
                {
                    "consumption-price": {"sensor": price["id"]},
                    "production-price": {"sensor": price["id"]},
                }
            )
        },
    )
    return int(price["id"])


def _charge_fully(site: Site, sensor_id: int) -> dict[str, Any]:
    """Empty, 5 kW, and full at the end: the server can only charge at 5 kW."""
    return {
        "sensor": sensor_id,
        "soc-at-start": "0 kWh",
        "soc-min": "0 kWh",
        "soc-max": "10 kWh",
        "power-capacity": "5 kW",
        "soc-targets": [{"datetime": site.end.isoformat(), "value": "10 kWh"}],
    }


async def _trigger(
    target: Target, site: Site, sensor_id: int, **extra: Any
) -> dict[str, Any]:
    """Trigger a schedule on the site asset; it must be accepted with 202."""
    status, body = await target.api.call(
        "POST",
        f"/assets/{site.site_id}/schedules/trigger",
        json_body={
            "start": site.start.isoformat(),
            "duration": f"PT{HOURS}H",
            "flex-model": [_charge_fully(site, sensor_id)],
            **extra,
        },
    )
    assert status == 202, body
    assert body["status"] == "ACCEPTED"
    assert body["schedule"]
    assert body["job"] == body["schedule"]
    return dict(body)


async def _read(target: Target, sensor_id: int, site: Site, **params: str) -> list[Any]:
    """``GET /sensors/{id}/data`` for the site's window, in kW."""
    body = await target.api.ok(
        "GET",
        f"/sensors/{sensor_id}/data",
        params={
            "start": site.start.isoformat(),
            "duration": f"PT{HOURS}H",
            "unit": "kW",
            **params,
        },
    )
    return list(body["values"])


async def test_trigger_without_consumption_price_fails(target: Target) -> None:
    """Accepted (202), then the job fails for want of a consumption price."""
    site = await _site(target)
    trigger = await _trigger(target, site, site.power_sensors[0])
    answers = await target.poll_schedule(site.power_sensors[0], trigger["schedule"])
    status, body = answers[-1]
    assert status == 400, body
    assert body["status"] == "UNKNOWN_SCHEDULE"
    assert "Scheduling job failed" in body["message"]
    assert "Missing consumption price" in body["message"]
    status, job = await target.api.call("GET", f"/jobs/{trigger['job']}")
    assert (status, job["status"]) == (422, "FAILED")


async def test_price_sensor_and_flex_context_make_it_succeed(target: Target) -> None:
    """With a price sensor in the site's flex_context the same trigger is computed."""
    site = await _site(target)
    await _with_price(target, site)
    trigger = await _trigger(target, site, site.power_sensors[0])
    status, body = (await target.poll_schedule(site.power_sensors[0], trigger["job"]))[
        -1
    ]
    assert status == 200, body
    assert body["unit"] == "kW"
    assert len(body["values"]) == QUARTERS
    assert any(value != 0 for value in body["values"]), body
    status, job = await target.api.call("GET", f"/jobs/{trigger['job']}")
    assert (status, job["status"]) == (200, "FINISHED")


async def _schedule(target: Target, site: Site, sensor: int) -> list[float]:
    """Trigger and read the schedule of one power sensor (consumption positive)."""
    trigger = await _trigger(target, site, sensor)
    status, body = (await target.poll_schedule(sensor, trigger["job"]))[-1]
    assert status == 200, body
    values = [float(value) for value in body["values"]]
    assert len(values) == QUARTERS
    assert any(value != 0 for value in values), values
    return values


async def test_schedule_written_into_the_power_sensor(target: Target) -> None:
    """The schedule lands in the device's sensor, under the scheduler's source."""
    site = await _site(target)
    await _with_price(target, site)
    sensor = site.power_sensors[0]
    # Measurements of another source (the user) for the same intervals.
    await target.api.ok(
        "POST",
        f"/sensors/{sensor}/data",
        json_body={
            "start": site.start.isoformat(),
            "duration": f"PT{HOURS}H",
            "values": [1.0] * QUARTERS,
            "unit": "kW",
        },
    )
    schedule = await _schedule(target, site, sensor)
    assert schedule != [1.0] * QUARTERS
    # A plain read returns the scheduler's beliefs, not the measurements.
    assert await _read(target, sensor, site) == schedule
    assert await _read(target, sensor, site, **{"source-type": "scheduler"}) == schedule
    assert (
        await _read(target, sensor, site, **{"source-type": "user"}) == [1.0] * QUARTERS
    )


async def test_consumption_is_positive_sign_convention(target: Target) -> None:
    """Schedules are consumption positive; stored negated without consumption_is_positive."""
    site = await _site(target, consumption_positive=(True, False))
    await _with_price(target, site)
    positive, plain = site.power_sensors
    positive_schedule = await _schedule(target, site, positive)
    plain_schedule = await _schedule(target, site, plain)
    assert await _read(target, positive, site) == positive_schedule
    # Charging (consumption, +5 kW in the schedule) is stored as -5 kW.
    assert await _read(target, plain, site) == [-value for value in plain_schedule]


async def test_capacity_in_mw_moves_into_flex_model(target: Target) -> None:
    """Created with attributes.capacity_in_mw: it becomes flex_model power-capacity.

    A later PATCH of the attributes is stored as sent (nothing moves).
    """
    api = target.api
    status, asset = await api.call(
        "POST",
        "/assets",
        json_body=await api.asset_body(
            f"GridFlex {new_ean()}",
            "battery",
            attributes={"capacity_in_mw": 0.005, "gridflex_type": "battery"},
        ),
    )
    assert status == 201, asset
    stored = await api.ok("GET", f"/assets/{asset['id']}")
    for answer in (asset, stored):
        assert attributes(answer) == {"gridflex_type": "battery"}
        assert attributes({"attributes": answer["flex_model"]}) == {
            "power-capacity": "5.0 kW"
        }
    patched = await api.ok(
        "PATCH",
        f"/assets/{asset['id']}",
        json_body={"attributes": '{"capacity_in_mw": 0.007}'},
    )
    assert attributes(patched) == {"capacity_in_mw": 0.007}
    assert attributes({"attributes": patched["flex_model"]}) == {
        "power-capacity": "5.0 kW"
    }


async def test_pending_polls_answer_202(target: Target) -> None:
    """Until the job is done a poll answers 202 QUEUED or STARTED (never 400)."""
    site = await _site(target)
    await _with_price(target, site)
    sensor = site.power_sensors[0]
    pending: list[tuple[int, Any]] = []
    # A fast worker may finish before the first poll: a new job each try.
    for _ in range(5):
        trigger = await _trigger(
            target, site, sensor, **{"force-new-job-creation": True}
        )
        answers = await target.poll_schedule(sensor, trigger["job"])
        assert answers[-1][0] == 200, answers[-1]
        pending = answers[:-1]
        if pending:
            break
    assert pending, "never saw the job pending"
    for status, body in pending:
        assert status == 202, body
        assert body["status"] in {"QUEUED", "STARTED"}
        assert "values" not in body


async def test_sensor_timezone_defaults_to_the_server_timezone(target: Target) -> None:
    """A sensor made without a timezone gets FLEXMEASURES_TIMEZONE; one sent is kept."""
    api = target.api
    asset = await api.create_asset(f"GridFlex {new_ean()}", "building")
    default = await api.create_sensor(asset["id"], "power")
    assert default["timezone"] == target.timezone
    utc = await api.create_sensor(asset["id"], "other", timezone="UTC")
    assert utc["timezone"] == "UTC"
    assert (await api.ok("GET", f"/sensors/{default['id']}"))[
        "timezone"
    ] == target.timezone


async def test_asset_names_unique_per_account(target: Target) -> None:
    """A top-level name once per account, a child name once per parent: else 422."""
    api = target.api
    target.expect_rejection("already exists")
    name = f"GridFlex {new_ean()}"
    site = await api.create_asset(name, "building")
    status, body = await api.call(
        "POST", "/assets", json_body=await api.asset_body(name, "building")
    )
    assert status == 422, body
    assert body["status"] == "UNPROCESSABLE_ENTITY"
    assert name in str(body["message"])
    await api.create_asset("Battery", "battery", site["id"])
    status, body = await api.call(
        "POST",
        "/assets",
        json_body=await api.asset_body("Battery", "battery", site["id"]),
    )
    assert status == 422, body
    assert "Battery" in str(body["message"])
    # Another parent, or a child named like a top-level asset: allowed.
    other = await api.create_asset(f"GridFlex {new_ean()}", "building")
    await api.create_asset("Battery", "battery", other["id"])
    await api.create_asset(name, "building", other["id"])
