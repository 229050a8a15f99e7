"""Energy imported during the site's LPC windows, and above their limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import (
    ATTR_STATE_CLASS,
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)

from .conftest import Sandbox, create_lpc_event, setup_site

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
IMPORT = "sensor.home_import_during_lpc_windows"
ABOVE = "sensor.home_energy_above_limit"
GRID = "sensor.grid_power"
REPORT_EVERY = timedelta(seconds=20)


@pytest.fixture(autouse=True)
def morning(freezer: FrozenDateTimeFactory) -> None:
    """Start the day at 10:00 UTC."""
    freezer.move_to(T0)


def _grid(hass: HomeAssistant, kw: float) -> None:
    """The grid meter reports (the same value again counts as a report)."""
    hass.states.async_set(
        GRID, str(kw * 1000), {"unit_of_measurement": "W", "device_class": "power"}
    )


async def _run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    until: datetime,
    kw: float | None,
) -> None:
    """Let time pass to ``until``; the meter reports ``kw`` every 20 s (None: silent)."""
    moment = dt_util.utcnow()
    if kw is not None:
        _grid(hass, kw)  # a report now, then every 20 s
    while moment < until:
        moment = min(moment + REPORT_EVERY, until)
        freezer.move_to(moment)
        if kw is not None:
            _grid(hass, kw)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


def _kwh(hass: HomeAssistant, entity_id: str) -> Decimal:
    return Decimal(hass.states.get(entity_id).state)


async def _site(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    """An Energy Coordination site whose grid meter reads 4 kW."""
    _grid(hass, 4)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


def _close(value: Decimal, expected: str) -> bool:
    return abs(value - Decimal(expected)) <= Decimal("0.000002")


async def test_energy_during_windows(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Import and import above the limit count inside windows only, exactly."""
    entry = await _site(hass, sandbox)
    for entity_id, key in (
        (IMPORT, "lpc_window_import"),
        (ABOVE, "energy_above_limit"),
    ):
        state = hass.states.get(entity_id)
        assert state.state == "0"
        assert state.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ENERGY
        assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kWh"
        assert state.attributes[ATTR_STATE_CLASS] == SensorStateClass.TOTAL_INCREASING
        registered = er.async_get(hass).async_get(entity_id)
        assert registered.unique_id == f"{entry.unique_id}_{key}"
    # 11:00-12:00 at 5 kW, then 12:00-14:00 at 3 kW.
    await create_lpc_event(sandbox, entry, T0 + timedelta(hours=1), [5, 3, 3])

    # Importing 4 kW before the window counts nothing.
    await _run(hass, freezer, T0 + timedelta(hours=1), 4)
    assert _kwh(hass, IMPORT) == 0
    assert _kwh(hass, ABOVE) == 0
    # 4 kW under a 5 kW limit: 4 kWh imported, none above.
    await _run(hass, freezer, T0 + timedelta(hours=2), 4)
    assert _close(_kwh(hass, IMPORT), "4")
    assert _close(_kwh(hass, ABOVE), "0")
    # Half an hour of 4 kW under 3 kW, then half an hour of 6 kW.
    await _run(hass, freezer, T0 + timedelta(hours=2, minutes=30), 4)
    assert _close(_kwh(hass, IMPORT), "6")
    assert _close(_kwh(hass, ABOVE), "0.5")
    await _run(hass, freezer, T0 + timedelta(hours=3), 6)
    assert _close(_kwh(hass, IMPORT), "9")
    assert _close(_kwh(hass, ABOVE), "2")

    # The meter goes silent: its last reading counts for 30 s, no longer.
    await _run(hass, freezer, T0 + timedelta(hours=3, minutes=30), None)
    assert _close(_kwh(hass, IMPORT), "9.05")  # 6 kW for 30 s
    assert _close(_kwh(hass, ABOVE), "2.025")
    # It reports again: counting goes on from the report.
    await _run(hass, freezer, T0 + timedelta(hours=4), 6)
    assert _close(_kwh(hass, IMPORT), "12.05")
    assert _close(_kwh(hass, ABOVE), "3.525")

    # After the window nothing more counts; exporting never counts.
    await _run(hass, freezer, T0 + timedelta(hours=4, minutes=20), 6)
    assert _close(_kwh(hass, IMPORT), "12.05")
    assert _close(_kwh(hass, ABOVE), "3.525")

    # The totals survive a reload of GridFlex.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _close(_kwh(hass, IMPORT), "12.05")
    assert _close(_kwh(hass, ABOVE), "3.525")


async def test_window_boundary_splits_a_reading(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A reading that spans a window's start and end counts only inside it."""
    entry = await _site(hass, sandbox)
    # 11:00-12:00 at 2 kW.
    await create_lpc_event(sandbox, entry, T0 + timedelta(hours=1), [2])
    await _run(hass, freezer, T0 + timedelta(hours=1, seconds=-5), 5)
    assert _kwh(hass, IMPORT) == 0
    # The last report 5 s before the window, the next 25 s into it: the
    # reading holds 30 s, 25 of them inside the window.
    await _run(hass, freezer, T0 + timedelta(hours=1, seconds=25), None)
    _grid(hass, 5)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _close(_kwh(hass, IMPORT), str(Decimal(5 * 25) / 3600))
    assert _close(_kwh(hass, ABOVE), str(Decimal(3 * 25) / 3600))
    await _run(hass, freezer, T0 + timedelta(hours=2, seconds=20), 5)
    assert _close(_kwh(hass, IMPORT), "5")
    assert _close(_kwh(hass, ABOVE), "3")
    # Exporting (negative grid power) in a later window counts nothing, nor
    # does a meter that is unavailable or gone.
    await create_lpc_event(sandbox, entry, T0 + timedelta(hours=3), [2, 2])
    await _run(hass, freezer, T0 + timedelta(hours=4), -3)
    assert _close(_kwh(hass, IMPORT), "5")
    assert _close(_kwh(hass, ABOVE), "3")
    hass.states.async_set(GRID, "unavailable")
    await _run(hass, freezer, T0 + timedelta(hours=4, minutes=20), None)
    hass.states.async_remove(GRID)
    await _run(hass, freezer, T0 + timedelta(hours=4, minutes=40), None)
    assert _close(_kwh(hass, IMPORT), "5")
    assert _close(_kwh(hass, ABOVE), "3")
    # Back with 3 kW: counting resumes at once.
    await _run(hass, freezer, T0 + timedelta(hours=5), 3)
    assert _close(_kwh(hass, IMPORT), "6")
    assert _close(_kwh(hass, ABOVE), "3.333333")


async def test_totals_restored_after_a_restart(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """After a restart the totals go on from what Home Assistant stored."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(IMPORT, "41.5"),
                {
                    "native_value": {
                        "__type": "<class 'decimal.Decimal'>",
                        "decimal_str": "41.5",
                    },
                    "native_unit_of_measurement": "kWh",
                },
            ),
            (
                State(ABOVE, "7.25"),
                {"native_value": 7.25, "native_unit_of_measurement": "kWh"},
            ),
        ],
    )
    entry = await _site(hass, sandbox)
    assert _close(_kwh(hass, IMPORT), "41.5")
    assert _close(_kwh(hass, ABOVE), "7.25")
    await create_lpc_event(sandbox, entry, T0 + timedelta(hours=1), [3])
    await _run(hass, freezer, T0 + timedelta(hours=2), 4)
    assert _close(_kwh(hass, IMPORT), "45.5")
    assert _close(_kwh(hass, ABOVE), "8.25")


async def test_unreadable_stored_total_starts_from_zero(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A stored total that is not a number is not taken back."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(IMPORT, "broken"),
                {"native_value": "broken", "native_unit_of_measurement": "kWh"},
            )
        ],
    )
    await _site(hass, sandbox)
    assert _kwh(hass, IMPORT) == 0
