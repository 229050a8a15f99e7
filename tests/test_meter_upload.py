"""FlexMeasures meter data: interval averages through the outbox, against the sandbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN

from .conftest import Sandbox, setup_site
from .test_resources import add_resource, reconfigure, subentry_by_title

T0 = "2026-11-22T10:00:00+00:00"
GRID = "sensor.grid_power"
QUEUED = "sensor.home_measurements_queued"
DROPPED = "sensor.home_measurements_dropped"
SKIPPED = "sensor.home_invalid_readings_skipped"


@pytest.fixture(autouse=True)
def start_of_day(freezer: FrozenDateTimeFactory) -> None:
    """Start at a quarter-hour so interval boundaries are easy to read."""
    freezer.move_to(T0)


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


def _set(hass: HomeAssistant, entity_id: str, value: str, unit: str = "W") -> None:
    hass.states.async_set(
        entity_id, value, {"unit_of_measurement": unit, "device_class": "power"}
    )


async def _with_grid_sensor(
    hass: HomeAssistant, entry: ConfigEntry, **options: Any
) -> None:
    """Map the site's grid power sensor in the options (the entry reloads)."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID, **options}
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)


def _site_sensor(sandbox: Sandbox, entry: ConfigEntry) -> int:
    """Return the id of the site asset's power sensor in the sandbox."""
    site_asset = int(entry.data["site_id"])
    return next(
        sensor_id
        for sensor_id, sensor in sandbox.server.state.flexmeasures.sensors.items()
        if sensor["generic_asset_id"] == site_asset and sensor["name"] == "power"
    )


def _stored(sandbox: Sandbox, sensor_id: int) -> dict[str, float]:
    return dict(sandbox.server.state.flexmeasures.beliefs.get(sensor_id, {}))


async def test_exact_interval_averages(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A known step input gives exact quarter-hour averages on the platform."""
    _set(hass, GRID, "2000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _with_grid_sensor(hass, entry)
    sensor = _site_sensor(sandbox, entry)

    await _tick(hass, freezer, 5 * 60)
    _set(hass, GRID, "5000")  # 2 kW for 5 min, then 5 kW for 10 min
    await _tick(hass, freezer, 10 * 60)
    _set(hass, GRID, "-1.5", unit="kW")  # exporting 1.5 kW for the next quarter
    await _tick(hass, freezer, 15 * 60)

    assert _stored(sandbox, sensor) == {
        "2026-11-22T10:00:00+00:00": 4.0,
        "2026-11-22T10:15:00+00:00": -1.5,
    }
    assert hass.states.get(QUEUED).state == "0"


async def test_resource_and_export_sensor(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Import minus export for the site; each resource at its own resolution."""
    _set(hass, GRID, "3")
    _set(hass, "sensor.grid_export", "0.5", unit="MW")
    _set(hass, "sensor.charger_power", "7400")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {
            "power_entity": "sensor.charger_power",
            "power_min_kw": 0,
            "power_max_kw": 7.4,
            "resolution_minutes": "5",
        },
    )
    await _with_grid_sensor(hass, entry, grid_export_entity="sensor.grid_export")
    resource = subentry_by_title(entry, "Charger")
    charger_sensor = next(
        sensor_id
        for sensor_id, sensor in sandbox.server.state.flexmeasures.sensors.items()
        if str(sensor["generic_asset_id"]) == resource.data["resource_id"]
    )
    await _tick(hass, freezer, 15 * 60)
    # 3 W imported, 0.5 MW exported: -499.997 kW.
    assert _stored(sandbox, _site_sensor(sandbox, entry)) == {T0: -499.997}
    assert _stored(sandbox, charger_sensor) == {
        "2026-11-22T10:00:00+00:00": 7.4,
        "2026-11-22T10:05:00+00:00": 7.4,
        "2026-11-22T10:10:00+00:00": 7.4,
    }


async def test_invalid_readings_skipped_and_counted(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Unknown, unavailable, non-numeric, NaN and infinite readings are skipped."""
    _set(hass, GRID, "1000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _with_grid_sensor(hass, entry)
    for value in ("unknown", "unavailable", "abc", "nan", "inf"):
        await _tick(hass, freezer, 60)
        _set(hass, GRID, value)
    hass.states.async_set(GRID, "5", {"unit_of_measurement": "°C"})
    await _tick(hass, freezer, 60)
    _set(hass, GRID, "1000")
    await hass.async_block_till_done()
    assert hass.states.get(SKIPPED).state == "6"
    await _tick(hass, freezer, 15 * 60)
    # Only the valid time counts: 1 kW from 10:00 to 10:01 and from 10:06 on.
    assert _stored(sandbox, _site_sensor(sandbox, entry))[T0] == 1.0


async def test_outage_loses_and_duplicates_nothing(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Six hours without the platform, then everything arrives exactly once."""
    _set(hass, GRID, "1000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _with_grid_sensor(hass, entry)
    sensor = _site_sensor(sandbox, entry)
    await sandbox.fault("/api/v3_0/sensors/*/data", "status", status=503)
    for hour in range(6):
        _set(hass, GRID, str(1000 + hour))
        await _tick(hass, freezer, 3600)
    assert _stored(sandbox, sensor) == {}
    assert int(hass.states.get(QUEUED).state) == 24

    await sandbox.clear_faults()
    # The backoff is capped at 1 hour (+20 % jitter): two hours are enough.
    await _tick(hass, freezer, 2 * 3600)
    stored = _stored(sandbox, sensor)
    assert len(stored) == 32  # 10:00 to 17:45, every quarter-hour
    assert stored[T0] == 1.0
    assert stored["2026-11-22T15:45:00+00:00"] == 1.005
    assert stored["2026-11-22T17:45:00+00:00"] == 1.005
    history = sandbox.server.state.flexmeasures.belief_history[sensor]
    assert all(len(beliefs) == 1 for beliefs in history.values())
    assert hass.states.get(QUEUED).state == "0"
    assert hass.states.get(DROPPED).state == "0"


async def test_restart_with_pending_data(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Undelivered data survives a restart of Home Assistant and is delivered."""
    _set(hass, GRID, "2000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _with_grid_sensor(hass, entry)
    sensor = _site_sensor(sandbox, entry)
    await sandbox.fault("/api/v3_0/sensors/*/data", "status", status=503)
    await _tick(hass, freezer, 45 * 60)
    assert int(hass.states.get(QUEUED).state) == 3

    # Home Assistant stops (the outbox is written) and starts again.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await sandbox.clear_faults()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _stored(sandbox, sensor) == {
        "2026-11-22T10:00:00+00:00": 2.0,
        "2026-11-22T10:15:00+00:00": 2.0,
        "2026-11-22T10:30:00+00:00": 2.0,
    }


async def test_retry_after_is_honoured(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """After a 429, nothing is sent before Retry-After has passed."""
    _set(hass, GRID, "2000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _with_grid_sensor(hass, entry)
    sensor = _site_sensor(sandbox, entry)
    await sandbox.fault(
        "/api/v3_0/sensors/*/data", "rate_limit", retry_after=600, times=1
    )
    await _tick(hass, freezer, 15 * 60)
    posts = [r for r in sandbox.requests("flexmeasures") if r["path"].endswith("/data")]
    assert [r["status"] for r in posts] == [429]

    await _tick(hass, freezer, 9 * 60)  # 9 of the 10 minutes: nothing yet
    posts = [r for r in sandbox.requests("flexmeasures") if r["path"].endswith("/data")]
    assert len(posts) == 1
    await _tick(hass, freezer, 2 * 60)
    assert _stored(sandbox, sensor) == {T0: 2.0}


async def test_outbox_bound_drops_oldest(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Past its bound the outbox drops the oldest data, counts it and says so."""
    _set(hass, GRID, "2000")
    with patch("custom_components.gridflex.outbox.MAX_AGE", timedelta(hours=1)):
        entry = await setup_site(hass, sandbox, "flexmeasures")
        await _with_grid_sensor(hass, entry)
        sensor = _site_sensor(sandbox, entry)
        await sandbox.fault("/api/v3_0/sensors/*/data", "status", status=503)
        await _tick(hass, freezer, 90 * 60)
        assert hass.states.get(QUEUED).state == "4"
        assert hass.states.get(DROPPED).state == "2"
        issue = issue_registry.async_get_issue(
            DOMAIN, f"outbox_overflow_{entry.entry_id}"
        )
        assert issue is not None
        assert issue.translation_placeholders["dropped"] == "2"

        await sandbox.clear_faults()
        await _tick(hass, freezer, 2 * 3600)
        dropped = int(hass.states.get(DROPPED).state)
    stored = _stored(sandbox, sensor)
    # 10:00 to 13:30: 14 quarter-hours closed. The oldest were dropped while
    # the platform was away; every newer one arrived, once.
    assert hass.states.get(QUEUED).state == "0"
    assert len(stored) + dropped == 14
    assert T0 not in stored
    assert "2026-11-22T10:15:00+00:00" not in stored
    assert (
        min(stored) == f"2026-11-22T{10 + dropped // 4}:{dropped % 4 * 15:02d}:00+00:00"
    )


async def test_changes_between_ticks_averaged_at_their_own_time(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Changes recorded between two timer runs each count from their own time."""
    _set(hass, GRID, "1000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _with_grid_sensor(hass, entry)
    sensor = _site_sensor(sandbox, entry)
    # No timer runs between these changes: they are read later, together.
    for seconds, value in ((60, "4000"), (120, "unknown"), (180, "-2000")):
        freezer.move_to(f"2026-11-22T10:0{seconds // 60}:00+00:00")
        _set(hass, GRID, value)
        await hass.async_block_till_done()
    await _tick(hass, freezer, 15 * 60)
    # 1 kW for 1 min, 4 kW for 1 min, nothing for 1 min, -2 kW for 12 min:
    # (1 + 4 - 24) / 14 minutes of valid readings.
    assert _stored(sandbox, sensor) == {T0: round((1 + 4 - 24) / 14, 3)}
    assert hass.states.get(SKIPPED).state == "1"


async def test_platform_sensors_found_after_setup(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Setup does not wait for the platform sensors; intervals wait for them."""
    _set(hass, GRID, "2000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    # The site's power sensor cannot be created for now.
    await sandbox.fault("/api/v3_0/sensors", "status", status=503, method="POST")
    await _with_grid_sensor(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    await _tick(hass, freezer, 20 * 60)
    assert not [
        r for r in sandbox.requests("flexmeasures") if r["path"].endswith("/data")
    ]
    await sandbox.clear_faults()
    await _tick(hass, freezer, 2 * 60)  # the next minute's lookup finds it
    sensor = _site_sensor(sandbox, entry)
    assert _stored(sandbox, sensor) == {T0: 2.0}
    await _tick(hass, freezer, 10 * 60)
    assert _stored(sandbox, sensor) == {T0: 2.0, "2026-11-22T10:15:00+00:00": 2.0}


async def test_many_changes_between_ticks(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Hundreds of changes between two timer runs all count, each for its time."""
    _set(hass, GRID, "0")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await _with_grid_sensor(hass, entry)
    sensor = _site_sensor(sandbox, entry)
    # 600 changes, 0.1 s apart, from 10:00:00.1 to 10:01:00: 1, 2, 3 kW …
    start = dt_util.parse_datetime(T0)
    assert start is not None
    for step in range(1, 601):
        freezer.move_to(start + timedelta(seconds=step / 10))
        _set(hass, GRID, str(1000 * (step % 3 + 1)))
    await hass.async_block_till_done()
    await _tick(hass, freezer, 15 * 60 - 60)
    # 0 kW for 0.1 s; each of the 599 values 0.1 s; the last for 14 minutes.
    weighted = sum((step % 3 + 1) * 0.1 for step in range(1, 600))
    weighted += (600 % 3 + 1) * 14 * 60
    assert _stored(sandbox, sensor) == {T0: round(weighted / (15 * 60), 3)}


async def test_resource_without_platform_sensor(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A resource whose platform sensor is gone is left out; the site goes on."""
    _set(hass, GRID, "1000")
    _set(hass, "sensor.charger_power", "7400")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {
            "power_entity": "sensor.charger_power",
            "power_min_kw": 0,
            "power_max_kw": 7.4,
        },
    )
    asset = int(subentry_by_title(entry, "Charger").data["resource_id"])
    sensors = sandbox.server.state.flexmeasures.sensors
    for sensor_id in [i for i, s in sensors.items() if s["generic_asset_id"] == asset]:
        del sensors[sensor_id]
    await _with_grid_sensor(hass, entry)
    assert "No power sensor on the platform for" in caplog.text
    await _tick(hass, freezer, 16 * 60)
    assert _stored(sandbox, _site_sensor(sandbox, entry)) == {T0: 1.0}
    posts = [r for r in sandbox.requests("flexmeasures") if r["path"].endswith("/data")]
    assert len(posts) == 1


async def test_unload_while_looking_up_sensors(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Unloading while the platform sensors are being looked up stops the lookup."""
    _set(hass, GRID, "1000")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await sandbox.fault("/api/v3_0/sensors", "delay", seconds=0.3, method="POST")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID}
    )
    await hass.async_block_till_done()  # reloaded; the lookup waits for the platform
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await sandbox.clear_faults()
    created = [
        s
        for s in sandbox.server.state.flexmeasures.sensors.values()
        if s["generic_asset_id"] == int(entry.data["site_id"])
    ]
    logged = len(sandbox.requests("flexmeasures"))
    await _tick(hass, freezer, 16 * 60)
    # Nothing runs for the unloaded entry any more.
    assert len(sandbox.requests("flexmeasures")) == logged
    assert len(created) <= 1


async def test_reconfigured_power_sensor_is_followed(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A resource moved to another power sensor is measured from that one at once.

    Home Assistant changes a subentry in place when it is reconfigured, so
    the change must be told from the data, not from the subentry objects.
    """
    _set(hass, "sensor.charger_power", "7400")
    _set(hass, "sensor.charger_power_new", "3700")
    entry = await setup_site(hass, sandbox, "flexmeasures")
    details = {
        "power_min_kw": 0,
        "power_max_kw": 7.4,
        "resolution_minutes": "5",
    }
    await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {"power_entity": "sensor.charger_power", **details},
    )
    resource = subentry_by_title(entry, "Charger")
    result = await reconfigure(
        hass,
        entry,
        resource.subentry_id,
        {"name": "Charger", "power_entity": "sensor.charger_power_new", **details},
    )
    assert result["reason"] == "reconfigure_successful"
    charger_sensor = next(
        sensor_id
        for sensor_id, sensor in sandbox.server.state.flexmeasures.sensors.items()
        if str(sensor["generic_asset_id"]) == resource.data["resource_id"]
        and sensor["name"] == "power"
    )
    await _tick(hass, freezer, 10 * 60)
    assert _stored(sandbox, charger_sensor) == {
        "2026-11-22T10:00:00+00:00": 3.7,
        "2026-11-22T10:05:00+00:00": 3.7,
    }
