"""FlexMeasures schedules through Home Assistant, against the sandbox over HTTP.

Prices from a Home Assistant price sensor, the flex-model from the resource,
forced new jobs when something the request does not show changed, schedules
on a sensor of their own (plain reads keep measurements and schedules
apart), setup that does not wait for the scheduler, runtime-added batteries,
reinstalls that take assets back and a user read that fails without stopping
setup.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import json
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN

from .conftest import SITE_INPUT, Sandbox, credentials, setup_site, start_flow
from .test_resources import add_resource, reconfigure, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
SCHEDULED = "sensor.home_battery_scheduled_power"
PRICE = "sensor.electricity_price"
BATTERY = {
    "power_entity": "sensor.battery_power",
    "soc_entity": "sensor.battery_soc",
    "power_min_kw": -3,
    "power_max_kw": 4,
    "capacity_kwh": 10,
}
#: EUR/kWh per hour from T0: cheap for three hours, dear for three, then middling.
HOURLY = [0.10] * 3 + [0.40] * 3 + [0.20] * 18


@pytest.fixture(autouse=True)
def at_t0(freezer: FrozenDateTimeFactory) -> None:
    """Start on a quarter hour; the sandbox finishes jobs on its second read."""
    freezer.move_to(T0)


@pytest.fixture(autouse=True)
def no_wait_between_polls() -> Any:
    """The sandbox moves a job one step per read: no need to wait."""
    with patch("custom_components.gridflex.schedules.JOB_POLL_DELAY", 0):
        yield


def _price_sensor(hass: HomeAssistant, hourly: list[float] = HOURLY) -> None:
    """A Nord Pool-like price sensor: the current price, raw_today with the forecast."""
    hass.states.async_set(
        PRICE,
        str(hourly[0]),
        {
            "unit_of_measurement": "EUR/kWh",
            "raw_today": [
                {
                    "start": T0 + timedelta(hours=hour),
                    "end": T0 + timedelta(hours=hour + 1),
                    "value": value,
                }
                for hour, value in enumerate(hourly[:14])
            ],
            "raw_tomorrow": [
                {
                    "start": (T0 + timedelta(hours=hour)).isoformat(),
                    "end": (T0 + timedelta(hours=hour + 1)).isoformat(),
                    "value": value,
                }
                for hour, value in enumerate(hourly[14:], start=14)
            ],
        },
    )


def _battery_sensors(hass: HomeAssistant, soc: str = "40", power: str = "0") -> None:
    hass.states.async_set(
        "sensor.battery_power",
        power,
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    hass.states.async_set("sensor.battery_soc", soc, {"unit_of_measurement": "%"})


async def _options(hass: HomeAssistant, entry: ConfigEntry, **options: Any) -> None:
    """Set the site's options (the entry reloads)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["type"] == "create_entry", result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)


def _requests(sandbox: Sandbox, method: str, suffix: str) -> list[dict[str, Any]]:
    return [
        r
        for r in sandbox.requests("flexmeasures")
        if r["method"] == method and r["path"].endswith(suffix)
    ]


def _triggers(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The trigger bodies the sandbox accepted, oldest first."""
    jobs = sandbox.server.state.flexmeasures.jobs.values()
    return [job["body"] for job in sorted(jobs, key=lambda job: job["enqueued-at"])]


def _sensors_of(sandbox: Sandbox, asset_id: str | int) -> dict[str, dict[str, Any]]:
    return {
        sensor["name"]: sensor
        for sensor in sandbox.server.state.flexmeasures.sensors.values()
        if str(sensor["generic_asset_id"]) == str(asset_id)
    }


def _socs(schedule: list[dict[str, Any]], start_kwh: float) -> list[float]:
    """The state of charge after each quarter of a schedule (kW, consumption positive)."""
    socs = []
    soc = start_kwh
    for point in schedule:
        soc += point["power_kw"] / 4
        socs.append(round(soc, 6))
    return socs


async def _home_with_battery(
    hass: HomeAssistant, sandbox: Sandbox, power: str = "0", **options: Any
) -> ConfigEntry:
    _battery_sensors(hass, power=power)
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await add_resource(hass, entry, "Home battery", "battery", dict(BATTERY))
    if options:
        await _options(hass, entry, **options)
    return entry


async def test_battery_schedule_from_a_price_forecast(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Prices from raw_today/raw_tomorrow, the limits per direction: both ways, bounded."""
    _price_sensor(hass)
    entry = await _home_with_battery(hass, sandbox, price_entity=PRICE)
    assert entry.state is ConfigEntryState.LOADED
    store = sandbox.server.state.flexmeasures
    site = entry.data["site_id"]

    # The site's price sensor: EUR/MWh, 15 minutes, the forecast converted.
    price = _sensors_of(sandbox, site)["electricity price"]
    assert (price["unit"], price["event_resolution"]) == ("EUR/MWh", "PT15M")
    assert price["timezone"] == hass.config.time_zone
    stored = store.beliefs[price["id"]]
    assert len(stored) == 4 * len(HOURLY)
    assert stored["2026-11-22T10:00:00+00:00"] == pytest.approx(100.0)
    assert stored["2026-11-22T13:45:00+00:00"] == pytest.approx(400.0)
    assert json.loads(store.assets[int(site)]["flex_context"]) == {
        "consumption-price": {"sensor": price["id"]},
        "production-price": {"sensor": price["id"]},
    }

    # Every power sensor GridFlex made is consumption positive, in the home's
    # zone; the schedule has a sensor of its own, like the power sensor.
    battery = subentry_by_title(entry, "Home battery")
    sensors = _sensors_of(sandbox, battery.data["resource_id"])
    assert set(sensors) == {"power", "scheduled power"}
    power, scheduled = sensors["power"], sensors["scheduled power"]
    for sensor in (power, scheduled):
        assert json.loads(sensor["attributes"]) == {"consumption_is_positive": True}
        assert sensor["timezone"] == hass.config.time_zone
        assert (sensor["unit"], sensor["event_resolution"]) == ("kW", "PT15M")

    # What was sent: the SoC, 0 … capacity, 4 kW in and 3 kW out, the prices.
    (body,) = _triggers(sandbox)
    assert body["start"] == T0.isoformat()
    assert body["flex-model"] == [
        {
            "sensor": scheduled["id"],
            "soc-at-start": "4.0 kWh",
            "soc-min": "0.0 kWh",
            "soc-max": "10.0 kWh",
            "power-capacity": "4.0 kW",
            "consumption-capacity": "4.0 kW",
            "production-capacity": "3.0 kW",
        }
    ]
    assert body["flex-context"] == {
        "consumption-price": {"sensor": price["id"]},
        "production-price": {"sensor": price["id"]},
    }
    assert body["force-new-job-creation"] is True  # the first since the entry started

    # The schedule in Home Assistant: charging while cheap, discharging while
    # dear, never beyond 4 kW in, 3 kW out, 0 … 10 kWh.
    state = hass.states.get(SCHEDULED)
    assert state is not None
    schedule = state.attributes["schedule"]
    assert len(schedule) == 48  # 12 hours of quarters
    powers = [point["power_kw"] for point in schedule]
    assert float(state.state) == powers[0] == max(powers) == 4.0
    assert min(powers) == -3.0
    socs = _socs(schedule, 4.0)
    assert max(socs) == 10.0
    assert min(socs) >= 0.0
    first_discharge = powers.index(-3.0)
    assert schedule[first_discharge]["start"] >= "2026-11-22T13:00:00+00:00"
    assert all(p >= 0 for p in powers[:first_discharge])
    assert sandbox.server.state.violations == []


async def test_without_a_price_source_nothing_is_triggered(
    hass: HomeAssistant, sandbox: Sandbox, issue_registry: ir.IssueRegistry
) -> None:
    """No price: a translated repair, no trigger, and the action refuses."""
    entry = await _home_with_battery(hass, sandbox)
    issue = issue_registry.async_get_issue(DOMAIN, f"no_price_source_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "no_price_source"
    assert issue.translation_placeholders == {"site": entry.title}
    assert _requests(sandbox, "POST", "/schedules/trigger") == []
    assert hass.states.get(SCHEDULED).state == "unknown"

    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "trigger_schedule",
            {"config_entry_id": entry.entry_id},
            blocking=True,
        )
    assert refused.value.translation_key == "no_price_source"
    assert _requests(sandbox, "POST", "/schedules/trigger") == []

    # Choosing a price source clears the repair and schedules.
    _price_sensor(hass)
    await _options(hass, entry, price_entity=PRICE)
    assert (
        issue_registry.async_get_issue(DOMAIN, f"no_price_source_{entry.entry_id}")
        is None
    )
    assert len(_requests(sandbox, "POST", "/schedules/trigger")) == 1


async def test_limit_change_updates_the_flex_model_and_forces_a_new_job(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """New limits: the asset's stored flex-model follows, the next trigger is forced."""
    _price_sensor(hass)
    entry = await _home_with_battery(hass, sandbox, price_entity=PRICE)
    battery = subentry_by_title(entry, "Home battery")
    asset = sandbox.server.state.flexmeasures.assets[int(battery.data["resource_id"])]
    assert json.loads(asset["flex_model"]) == {
        "power-capacity": "4.0 kW",
        "consumption-capacity": "4.0 kW",
        "production-capacity": "3.0 kW",
        "soc-min": "0.0 kWh",
        "soc-max": "10.0 kWh",
    }
    # Asked again without a change: not forced, so FlexMeasures' job cache
    # answers the same request with the same job.
    await hass.services.async_call(
        DOMAIN, "trigger_schedule", {"config_entry_id": entry.entry_id}, blocking=True
    )
    assert len(_requests(sandbox, "POST", "/schedules/trigger")) == 2
    assert len(sandbox.server.state.flexmeasures.jobs) == 1

    result = await reconfigure(
        hass,
        entry,
        battery.subentry_id,
        {**BATTERY, "name": "Home battery", "power_min_kw": -2, "power_max_kw": 5},
    )
    assert result["type"] == "abort", result
    asset = sandbox.server.state.flexmeasures.assets[int(battery.data["resource_id"])]
    assert json.loads(asset["flex_model"]) == {
        "power-capacity": "5.0 kW",
        "consumption-capacity": "5.0 kW",
        "production-capacity": "2.0 kW",
        "soc-min": "0.0 kWh",
        "soc-max": "10.0 kWh",
    }
    assert "capacity_in_mw" not in json.loads(asset["attributes"])
    latest = _triggers(sandbox)[-1]
    assert latest["force-new-job-creation"] is True
    assert latest["flex-model"][0]["production-capacity"] == "2.0 kW"
    assert latest["flex-model"][0]["consumption-capacity"] == "5.0 kW"
    powers = [p["power_kw"] for p in hass.states.get(SCHEDULED).attributes["schedule"]]
    assert (max(powers), min(powers)) == (5.0, -2.0)


async def test_a_failed_job_is_not_asked_again_unforced(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """FlexMeasures answers a failed job again for the same request: GridFlex forces."""
    _price_sensor(hass, [0.10] * 24)  # flat: any schedule will do
    entry = await _home_with_battery(hass, sandbox)
    await sandbox.control("PUT", "flexmeasures/scheduling", {"polls_to_finish": 1000})
    await _options(hass, entry, price_entity=PRICE)
    (job_id,) = sandbox.server.state.flexmeasures.jobs
    await sandbox.control(
        "POST",
        f"flexmeasures/jobs/{job_id}",
        {"status": "FAILED", "message": "Solver gone"},
    )
    with pytest.raises(Exception, match="Solver gone"):
        await hass.services.async_call(
            DOMAIN,
            "trigger_schedule",
            {"config_entry_id": entry.entry_id},
            blocking=True,
        )
    await sandbox.control("PUT", "flexmeasures/scheduling", {"polls_to_finish": 0})
    await hass.services.async_call(
        DOMAIN, "trigger_schedule", {"config_entry_id": entry.entry_id}, blocking=True
    )
    bodies = _triggers(sandbox)
    assert bodies[-1]["force-new-job-creation"] is True
    assert len(sandbox.server.state.flexmeasures.jobs) == 2
    assert hass.states.get(SCHEDULED).state == "0.0"


async def test_measurements_and_schedule_do_not_mix(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Measurements on "power", the schedule on "scheduled power": plain reads agree."""
    _price_sensor(hass)
    # Discharging 1.5 kW all along.
    entry = await _home_with_battery(hass, sandbox, power="-1500", price_entity=PRICE)
    for _ in range(16):  # a quarter passes; the meter posts its average
        freezer.tick(timedelta(minutes=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    battery = subentry_by_title(entry, "Home battery")
    sensors = _sensors_of(sandbox, battery.data["resource_id"])
    power, scheduled = sensors["power"]["id"], sensors["scheduled power"]["id"]
    # The schedule in Home Assistant, read from the job: 4 kW at 10:00.
    assert hass.states.get(SCHEDULED).attributes["schedule"][0]["power_kw"] == 4.0

    # FlexMeasures' default read (no source filter) of each sensor.
    headers = {"Authorization": sandbox.server.state.issue_token("flexmeasures").token}

    async def plain(sensor: int) -> list[float | None]:
        async with sandbox.session.get(
            f"{sandbox.url}/api/v3_0/sensors/{sensor}/data",
            params={"start": T0.isoformat(), "duration": "PT30M", "unit": "kW"},
            headers=headers,
        ) as response:
            assert response.status == 200
            return list((await response.json())["values"])

    # The measurement of 10:00 (the quarter after it is not over yet) …
    assert await plain(power) == [-1.5, None]
    # … and the schedule for the same quarters.
    assert await plain(scheduled) == [4.0, 4.0]
    assert sandbox.server.state.violations == []


async def test_setup_does_not_wait_for_the_scheduler(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The entry loads before any trigger; the sensor fills in once the job is done."""
    _price_sensor(hass)
    entry = await _home_with_battery(hass, sandbox, price_entity=PRICE)
    # A slow scheduler: its jobs stay queued until the test finishes them.
    await sandbox.control("PUT", "flexmeasures/scheduling", {"polls_to_finish": 1000})
    triggers = len(_requests(sandbox, "POST", "/schedules/trigger"))
    assert await hass.config_entries.async_reload(entry.entry_id)
    # Set up and loaded, and nothing asked of the scheduler yet.
    assert entry.state is ConfigEntryState.LOADED
    assert len(_requests(sandbox, "POST", "/schedules/trigger")) == triggers
    assert hass.states.get(SCHEDULED).state == "unknown"

    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(_requests(sandbox, "POST", "/schedules/trigger")) == triggers + 1
    job_id = list(sandbox.server.state.flexmeasures.jobs)[-1]
    assert sandbox.server.state.flexmeasures.jobs[job_id]["status"] == "STARTED"
    assert hass.states.get(SCHEDULED).state == "unknown"  # still being computed

    await sandbox.control("POST", f"flexmeasures/jobs/{job_id}", {"status": "FINISHED"})
    freezer.tick(timedelta(seconds=31))  # a pending job is read again soon
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(SCHEDULED).state == "4.0"
    # Read, not triggered again.
    assert len(_requests(sandbox, "POST", "/schedules/trigger")) == triggers + 1


async def test_a_battery_added_at_runtime_is_scheduled(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """No reload: the new battery gets its scheduled power sensor and a schedule."""
    _price_sensor(hass)
    _battery_sensors(hass)
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _options(hass, entry, price_entity=PRICE)
    runtime = entry.runtime_data
    assert hass.states.get(SCHEDULED) is None
    assert _requests(sandbox, "POST", "/schedules/trigger") == []

    await add_resource(hass, entry, "Home battery", "battery", dict(BATTERY))
    assert entry.runtime_data is runtime  # not reloaded
    assert len(_requests(sandbox, "POST", "/schedules/trigger")) == 1
    assert hass.states.get(SCHEDULED).state == "4.0"


async def _add_site_again(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    """Add the same site once more, declining the offer to take its resources back."""
    result = await start_flow(hass, sandbox, "flexmeasures")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("flexmeasures")
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SITE_INPUT["flexmeasures"]
    )
    if result.get("step_id") == "adopt_resources":
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"adopt_resources": []}
        )
    assert result["type"] == "create_entry", result
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    return entry


async def test_reinstall_takes_the_assets_back(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Remove the entry, add the site and the battery again: no duplicates, no 422."""
    _price_sensor(hass)
    entry = await _home_with_battery(hass, sandbox, price_entity=PRICE)
    store = sandbox.server.state.flexmeasures
    battery_id = subentry_by_title(entry, "Home battery").data["resource_id"]
    assets, sensors = set(store.assets), set(store.sensors)

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    again = await _add_site_again(hass, sandbox)
    await add_resource(hass, again, "Home battery", "battery", dict(BATTERY))
    await _options(hass, again, price_entity=PRICE)

    assert subentry_by_title(again, "Home battery").data["resource_id"] == battery_id
    assert set(store.assets) == assets
    assert set(store.sensors) == sensors
    assert set(_sensors_of(sandbox, battery_id)) == {"power", "scheduled power"}
    assert not [
        r
        for r in sandbox.requests("flexmeasures")
        if r["method"] == "POST" and r["status"] == 422
    ]
    assert hass.states.get(SCHEDULED).state == "4.0"


async def test_setup_goes_on_when_the_user_cannot_be_read(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """GET /users/{id} answering 500: the lost battery is made again, setup completes."""
    _price_sensor(hass)
    entry = await _home_with_battery(hass, sandbox, price_entity=PRICE)
    battery = subentry_by_title(entry, "Home battery")
    store = sandbox.server.state.flexmeasures
    lost = int(battery.data["resource_id"])
    del store.assets[lost]
    for sensor_id in [
        k for k, s in store.sensors.items() if s["generic_asset_id"] == lost
    ]:
        del store.sensors[sensor_id]
    await sandbox.fault("/api/v3_0/users/*", "status", status=500)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert [r["status"] for r in _requests(sandbox, "GET", "/users/1")][-1] == 500
    recreated = entry.subentries[battery.subentry_id].data["resource_id"]
    assert int(recreated) in store.assets and int(recreated) != lost
    assert hass.states.get(SCHEDULED).state == "4.0"


async def test_spent_trigger_budget_and_unknown_soc(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """429 keeps the last schedule and says so; a battery without SoC is not scheduled."""
    _price_sensor(hass)
    entry = await _home_with_battery(hass, sandbox, price_entity=PRICE)
    assert hass.states.get(SCHEDULED).state == "4.0"
    await sandbox.control(
        "PUT", "flexmeasures/scheduling", {"trigger_limit": 1, "polls_to_finish": 0}
    )
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "trigger_schedule",
            {"config_entry_id": entry.entry_id},
            blocking=True,
        )
    assert refused.value.translation_key == "platform_refused"
    assert "slow down" in str(refused.value.translation_placeholders)
    schedules = entry.runtime_data.schedule_coordinator
    assert schedules is not None and schedules.data  # the last schedule is kept

    await sandbox.control("PUT", "flexmeasures/scheduling", {"trigger_limit": None})
    hass.states.async_set("sensor.battery_soc", "unknown")
    triggers = len(_requests(sandbox, "POST", "/schedules/trigger"))
    await hass.services.async_call(
        DOMAIN, "trigger_schedule", {"config_entry_id": entry.entry_id}, blocking=True
    )
    assert len(_requests(sandbox, "POST", "/schedules/trigger")) == triggers
