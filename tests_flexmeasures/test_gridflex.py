"""GridFlex inside Home Assistant against a real FlexMeasures 1.0.1 server.

The same config flow, subentry flow and options flow as tests/, with real HTTP
to the server; what GridFlex made is then read back from the server.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import time
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigSubentry,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .conftest import (
    _START_REPORT,
    SITE_INPUT,
    FlexMeasuresAPI,
    FlexMeasuresServer,
    add_site,
    attributes,
    new_ean,
    start_site_flow,
)

pytestmark = pytest.mark.usefixtures("enable_custom_integrations")

GRID = "sensor.grid_power"
BATTERY = {
    "power_entity": "sensor.battery_power",
    "power_min_kw": -5,
    "power_max_kw": 5,
    "capacity_kwh": 10.5,
}
CHARGER = {
    "power_entity": "sensor.charger_power",
    "power_min_kw": 0,
    "power_max_kw": 7.4,
    "resolution_minutes": "5",
}
T0 = "2026-11-22T10:00:00+00:00"
KW_TOLERANCE = 0.005
PRICE = "sensor.electricity_price"
SCHEDULED = "sensor.home_battery_scheduled_power"
STORAGE = {
    "power_entity": "sensor.battery_power",
    "soc_entity": "sensor.battery_soc",
    "power_min_kw": -3,
    "power_max_kw": 4,
    "capacity_kwh": 10,
}
#: EUR/kWh per hour from the current hour: cheap for 3 h, dear for 3 h, then middling.
HOURLY = [0.10] * 3 + [0.40] * 3 + [0.20] * 24
SCHEDULE_WAIT = 120.0
"""Real seconds the HiGHS worker gets for a schedule."""
SOC_TOLERANCE = 0.01


def _set(hass: HomeAssistant, entity_id: str, value: str, unit: str = "W") -> None:
    hass.states.async_set(
        entity_id, value, {"unit_of_measurement": unit, "device_class": "power"}
    )


@pytest.fixture(autouse=True)
def power_sensors(hass: HomeAssistant) -> None:
    """The power sensors the resources and the site map."""
    _set(hass, "sensor.battery_power", "0")
    _set(hass, "sensor.charger_power", "7400")
    _set(hass, GRID, "0")


async def _add_resource(
    hass: HomeAssistant,
    entry: ConfigEntry,
    name: str,
    resource_type: str,
    details: dict[str, Any],
) -> Any:
    """Run the 'Add resource' subentry flow; return the new subentry."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": name, "resource_type": resource_type}
    )
    assert result["step_id"] == "details"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], details
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    return next(s for s in entry.subentries.values() if s.title == name)


async def _map_grid_sensor(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Map the site's grid power sensor in the options (the entry reloads)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)


async def _server_view(
    fm_api: FlexMeasuresAPI, entry: ConfigEntry
) -> tuple[set[tuple[int, str]], set[tuple[int, str, int]]]:
    """The site's assets (id, name) and sensors (id, name, asset) on the server."""
    site = int(entry.data["site_id"])
    assets = {(a["id"], a["name"]) for a in (await fm_api.tree(site)).values()}
    sensors = {
        (s["id"], s["name"], s["generic_asset_id"])
        for s in (await fm_api.sensors(site)).values()
    }
    return assets, sensors


async def test_config_flow_registers_the_site(
    hass: HomeAssistant, fm_server: FlexMeasuresServer, fm_api: FlexMeasuresAPI
) -> None:
    """Custom URL + credentials + site: one asset in the user's account."""
    ean = new_ean()
    entry = await add_site(hass, fm_server, ean)
    assert entry.data["base_url"] == fm_server.url
    [site] = await fm_api.assets_named(f"GridFlex {ean}")
    assert str(site["id"]) == entry.data["site_id"]
    stored = await fm_api.ok("GET", f"/assets/{site['id']}")
    assert stored["account_id"] == await fm_api.account_id()
    assert stored["parent_asset_id"] is None
    assert (stored["latitude"], stored["longitude"]) == (51.0673, 3.7302)
    assert attributes(stored) == {
        "grid_identifier": ean,
        "country": "BE",
        "address": SITE_INPUT["address"],
    }


async def test_battery_and_charger_resources(
    hass: HomeAssistant, fm_server: FlexMeasuresServer, fm_api: FlexMeasuresAPI
) -> None:
    """Each resource is a child asset of its type with one kW power sensor."""
    entry = await add_site(hass, fm_server, new_ean())
    battery = await _add_resource(hass, entry, "Home battery", "battery", BATTERY)
    charger = await _add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    site = int(entry.data["site_id"])
    tree = await fm_api.tree(site)
    sensors = await fm_api.sensors(site)
    for subentry, asset_type, resolution in (
        (battery, "battery", "PT15M"),
        (charger, "one-way_evse", "PT5M"),
    ):
        asset = tree[int(subentry.data["resource_id"])]
        assert asset["name"] == subentry.title
        assert asset["parent_asset_id"] == site
        assert asset["generic_asset_type"]["name"] == asset_type
        [sensor] = [s for s in sensors.values() if s["generic_asset_id"] == asset["id"]]
        assert (sensor["name"], sensor["unit"]) == ("power", "kW")
        assert sensor["event_resolution"] == resolution
    stored = attributes(tree[int(battery.data["resource_id"])])
    assert stored["gridflex_type"] == "battery"
    assert stored["capacity_kwh"] == "10.5"


async def test_sensors_are_consumption_positive(
    hass: HomeAssistant, fm_server: FlexMeasuresServer, fm_api: FlexMeasuresAPI
) -> None:
    """Every power sensor GridFlex makes says consumption_is_positive (§6 sign)."""
    entry = await add_site(hass, fm_server, new_ean())
    await _add_resource(hass, entry, "Home battery", "battery", BATTERY)
    await _map_grid_sensor(hass, entry)
    sensors = await fm_api.sensors(int(entry.data["site_id"]))
    power = [s for s in sensors.values() if s["unit"] == "kW"]
    assert len(power) == 2  # the site's and the battery's
    for sensor in power:
        assert attributes(sensor).get("consumption_is_positive") is True, sensor


async def _tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Let ``seconds`` pass in Home Assistant, one minute at a time."""
    remaining = seconds
    while remaining > 0:
        step = min(60.0, remaining)
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        remaining -= step


async def test_meter_data_reads_back_as_time_weighted_averages(
    hass: HomeAssistant,
    fm_server: FlexMeasuresServer,
    fm_api: FlexMeasuresAPI,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Quarter-hour averages of the grid, 5-minute ones of a charger, import positive."""
    freezer.move_to(T0)
    _set(hass, GRID, "2000")
    entry = await add_site(hass, fm_server, new_ean())
    charger = await _add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await _map_grid_sensor(hass, entry)
    await _tick(hass, freezer, 5 * 60)
    _set(hass, GRID, "5000")  # 2 kW for 5 min, then 5 kW for 10 min: 4 kW
    await _tick(hass, freezer, 10 * 60)
    _set(hass, GRID, "-1.5", unit="kW")  # exporting 1.5 kW for the next quarter
    await _tick(hass, freezer, 7 * 60)
    _set(hass, GRID, "1234.5")  # 7 min at -1.5 kW, 8 min at 1.2345 kW: -0.04160 kW
    await _tick(hass, freezer, 8 * 60)
    await _tick(hass, freezer, 15 * 60)  # the last quarter is sent after it closed

    site = int(entry.data["site_id"])
    sensors = await fm_api.sensors(site)
    [site_sensor] = [
        s["id"]
        for s in sensors.values()
        if s["generic_asset_id"] == site and s["name"] == "power"
    ]
    [charger_sensor] = [
        s["id"]
        for s in sensors.values()
        if s["generic_asset_id"] == int(charger.data["resource_id"])
    ]

    async def read(sensor: int, duration: str) -> list[Any]:
        body = await fm_api.ok(
            "GET",
            f"/sensors/{sensor}/data",
            params={"start": T0, "duration": duration, "unit": "kW"},
        )
        return list(body["values"])

    expected = [4.0, (-1.5 * 7 + 1.2345 * 8) / 15, 1.2345]
    grid = await read(site_sensor, "PT45M")
    assert grid == pytest.approx(expected, abs=KW_TOLERANCE)
    assert await read(charger_sensor, "PT45M") == pytest.approx(
        [7.4] * 9, abs=KW_TOLERANCE
    )


def _real_seconds() -> float:
    """A monotonic clock freezegun does not freeze (it freezes time.monotonic)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _quarter(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)


def _price_sensor(hass: HomeAssistant, hour: datetime) -> None:
    """A Nord Pool-like price sensor: its forecast from ``hour`` in raw_today/_tomorrow."""
    items = [
        {
            "start": (hour + timedelta(hours=index)).isoformat(),
            "end": (hour + timedelta(hours=index + 1)).isoformat(),
            "value": value,
        }
        for index, value in enumerate(HOURLY)
    ]
    hass.states.async_set(
        PRICE,
        str(HOURLY[0]),
        {
            "unit_of_measurement": "EUR/kWh",
            "raw_today": items[:12],
            "raw_tomorrow": items[12:],
        },
    )


async def _set_options(hass: HomeAssistant, entry: ConfigEntry, **options: Any) -> None:
    """Set the site's options (the entry reloads)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)


async def _wait_for_schedule(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, since: datetime
) -> list[dict[str, Any]]:
    """Wait (real time, bounded) for a schedule from ``since`` on the Scheduled power.

    The worker runs in its own process: the test sleeps for real in between,
    and lets the 30 s after which a pending job is read again pass at once.
    """
    deadline = _real_seconds() + SCHEDULE_WAIT
    while True:
        state = hass.states.get(SCHEDULED)
        schedule = [] if state is None else state.attributes.get("schedule", [])
        if schedule and datetime.fromisoformat(schedule[0]["start"]) >= since:
            return list(schedule)
        assert _real_seconds() < deadline, f"no schedule after {SCHEDULE_WAIT} s"
        await hass.async_add_executor_job(time.sleep, 0.25)
        freezer.tick(timedelta(seconds=31))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def _plain_read(
    fm_api: FlexMeasuresAPI, sensor: int, start: datetime, quarters: int
) -> list[Any]:
    """FlexMeasures' default read of a sensor: no source filter, kW per quarter."""
    body = await fm_api.ok(
        "GET",
        f"/sensors/{sensor}/data",
        params={
            "start": start.isoformat(),
            "duration": f"PT{15 * quarters}M",
            "unit": "kW",
        },
    )
    return list(body["values"])


async def _reconfigure(
    hass: HomeAssistant, entry: ConfigEntry, subentry: ConfigSubentry, data: Any
) -> None:
    """Run the 'Change resource' flow (maps the sensors of a taken-back resource)."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], data
    )
    assert result["type"] is FlowResultType.ABORT, result
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_battery_schedule_from_the_real_solver(
    hass: HomeAssistant,
    fm_server: FlexMeasuresServer,
    fm_api: FlexMeasuresAPI,
    freezer: FrozenDateTimeFactory,
) -> None:
    """HiGHS plans the battery; measurements and schedule each keep their sensor.

    Home Assistant's clock is frozen at the real time (the worker plans from
    the trigger's start); the meter then posts the battery's power for the
    quarters the schedule covers too. Restart and remove + re-add find the
    scheduled power sensor again: no duplicates.
    """
    now = dt_util.utcnow()
    start = _quarter(now)
    _price_sensor(hass, now.replace(minute=0, second=0, microsecond=0))
    _set(hass, "sensor.battery_power", "-1500")  # discharging 1.5 kW all along
    hass.states.async_set("sensor.battery_soc", "40", {"unit_of_measurement": "%"})
    ean = new_ean()
    entry = await add_site(hass, fm_server, ean)
    battery = await _add_resource(hass, entry, "Home battery", "battery", STORAGE)
    begun = _real_seconds()
    with patch("custom_components.gridflex.schedules.JOB_POLL_DELAY", 0):
        await _set_options(hass, entry, price_entity=PRICE)
        schedule = await _wait_for_schedule(hass, freezer, start)
    took = _real_seconds() - begun

    # 12 hours of quarters from the trigger's quarter, within the limits:
    # 4 kW in, 3 kW out, 0 … 10 kWh from 4 kWh; charging and discharging.
    assert len(schedule) == 48
    assert datetime.fromisoformat(schedule[0]["start"]) == start
    powers = [point["power_kw"] for point in schedule]
    assert max(powers) <= 4.0 + KW_TOLERANCE
    assert min(powers) >= -3.0 - KW_TOLERANCE
    assert max(powers) > 1.0
    assert min(powers) < -1.0
    soc, socs = 4.0, []
    for power in powers:
        soc += power / 4
        socs.append(soc)
    assert min(socs) >= -SOC_TOLERANCE
    assert max(socs) <= 10.0 + SOC_TOLERANCE
    state = hass.states.get(SCHEDULED)
    assert state is not None
    current = [
        p for p in schedule if datetime.fromisoformat(p["start"]) <= dt_util.utcnow()
    ]
    assert float(state.state) == pytest.approx(current[-1]["power_kw"])
    _START_REPORT.append(
        f"a battery schedule from the HiGHS worker: {took:.1f} s from the options"
        " flow to the Scheduled power state"
    )

    # The battery's asset has its power and its scheduled power sensor.
    site = int(entry.data["site_id"])
    asset = int(battery.data["resource_id"])
    sensors = {
        s["name"]: s
        for s in (await fm_api.sensors(site)).values()
        if s["generic_asset_id"] == asset
    }
    assert set(sensors) == {"power", "scheduled power"}
    for sensor in sensors.values():
        assert (sensor["unit"], sensor["event_resolution"]) == ("kW", "PT15M")
        assert attributes(sensor).get("consumption_is_positive") is True
        assert sensor["timezone"] == hass.config.time_zone
    power, scheduled = sensors["power"]["id"], sensors["scheduled power"]["id"]

    # The meter posts the battery's quarters the schedule also covers.
    await _tick(
        hass,
        freezer,
        (start + timedelta(minutes=31) - dt_util.utcnow()).total_seconds(),
    )
    measured = await _plain_read(fm_api, power, start, 2)
    planned = await _plain_read(fm_api, scheduled, start, 48)
    assert measured[1] == pytest.approx(-1.5, abs=KW_TOLERANCE)
    assert measured[0] in (None, pytest.approx(-1.5, abs=KW_TOLERANCE))
    # The default read of each sensor answers its own data: the schedule
    # did not hide the measurements, the measurements did not enter the schedule.
    assert planned == pytest.approx(powers, abs=KW_TOLERANCE)
    assert planned[1] != pytest.approx(measured[1], abs=KW_TOLERANCE)

    # Restart, then remove and add again (taking the battery back and
    # mapping its sensors): the same assets and sensors, a schedule again.
    before = await _server_view(fm_api, entry)
    assert len(before[1]) == 3  # the price sensor, power and scheduled power
    with patch("custom_components.gridflex.schedules.JOB_POLL_DELAY", 0):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        await _wait_for_schedule(hass, freezer, _quarter(dt_util.utcnow()))
        assert await _server_view(fm_api, entry) == before

        assert await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        offer = await start_site_flow(hass, fm_server, ean)
        assert offer["step_id"] == "adopt_resources", offer
        result = await hass.config_entries.flow.async_configure(
            offer["flow_id"], {"adopt_resources": [str(asset)]}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
        await hass.async_block_till_done(wait_background_tasks=True)
        again = result["result"]
        assert isinstance(again, ConfigEntry)
        [taken_back] = again.subentries.values()
        await _reconfigure(hass, again, taken_back, {"name": "Home battery", **STORAGE})
        await _set_options(hass, again, price_entity=PRICE)
        await _wait_for_schedule(hass, freezer, _quarter(dt_util.utcnow()))
    assert await _server_view(fm_api, again) == before


async def test_reload_and_reinstall_make_no_duplicates(
    hass: HomeAssistant, fm_server: FlexMeasuresServer, fm_api: FlexMeasuresAPI
) -> None:
    """Restart and remove + add again: the same assets and sensors on the server."""
    ean = new_ean()
    entry = await add_site(hass, fm_server, ean)
    battery = await _add_resource(hass, entry, "Home battery", "battery", BATTERY)
    await _map_grid_sensor(hass, entry)
    before = await _server_view(fm_api, entry)
    assets, sensors = before
    assert len(assets) == 2  # the site and the battery
    assert len(sensors) == 2  # their power sensors

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await _server_view(fm_api, entry) == before

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    offer = await start_site_flow(hass, fm_server, ean)
    # The site is adopted and its battery offered back.
    assert offer["step_id"] == "adopt_resources", offer
    result = await hass.config_entries.flow.async_configure(
        offer["flow_id"], {"adopt_resources": [battery.data["resource_id"]]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    again = result["result"]
    assert isinstance(again, ConfigEntry)
    assert again.data["site_id"] == entry.data["site_id"]
    assert [s.data["resource_id"] for s in again.subentries.values()] == [
        battery.data["resource_id"]
    ]
    await _map_grid_sensor(hass, again)
    assert await _server_view(fm_api, again) == before
    assert len(await fm_api.assets_named(f"GridFlex {ean}")) == 1
