"""The recorder compiles long-term statistics of the LPC energy totals."""

from __future__ import annotations

from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
    statistics_during_period,
)

from .conftest import Sandbox, create_lpc_event, setup_site

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
IMPORT = "sensor.home_import_during_lpc_windows"
ABOVE = "sensor.home_energy_above_limit"
GRID = "sensor.grid_power"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant's test instance."""


def _grid(hass: HomeAssistant, kw: float) -> None:
    hass.states.async_set(
        GRID, str(kw * 1000), {"unit_of_measurement": "W", "device_class": "power"}
    )


async def _run(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, until: datetime, kw: float
) -> None:
    """Let time pass to ``until``; the meter reports ``kw`` every 20 s."""
    moment = dt_util.utcnow()
    _grid(hass, kw)
    while moment < until:
        moment = min(moment + timedelta(seconds=20), until)
        freezer.move_to(moment)
        _grid(hass, kw)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def _compile(hass: HomeAssistant, start: datetime) -> None:
    """Compile the 5 minutes from ``start`` (and the hour they end)."""
    await async_wait_recording_done(hass)
    do_adhoc_statistics(hass, start=start)
    await async_wait_recording_done(hass)


async def test_lpc_energy_statistics(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The totals' statistics grow by the energy of each window (sum and state)."""
    freezer.move_to(T0)
    _grid(hass, 4)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    # 11:00-12:00 at 3 kW.
    await create_lpc_event(sandbox, entry, T0 + timedelta(hours=1), [3])

    # Compiling an hour's last 5 minutes also compiles the hour.
    await _run(hass, freezer, T0 + timedelta(hours=1), 4)
    await _compile(hass, T0 + timedelta(minutes=55))
    await _run(hass, freezer, T0 + timedelta(hours=3), 4)
    await _compile(hass, T0 + timedelta(hours=2, minutes=55))

    for period in ("5minute", "hour"):
        stats = await hass.async_add_executor_job(
            statistics_during_period,
            hass,
            T0,
            None,
            {IMPORT, ABOVE},
            period,
            None,
            {"state", "sum"},
        )
        assert [(row["state"], row["sum"]) for row in stats[IMPORT]] == [
            (0.0, 0.0),
            (pytest.approx(4.0), pytest.approx(4.0)),
        ], period
        assert [(row["state"], row["sum"]) for row in stats[ABOVE]] == [
            (0.0, 0.0),
            (pytest.approx(1.0), pytest.approx(1.0)),
        ], period
