"""The compensation sensor's long-term statistics grow as the home earns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
    get_start_time,
    statistics_during_period,
)

from .conftest import Sandbox, setup_site

T0 = datetime(2026, 11, 3, 10, 2, tzinfo=UTC)
COMPENSATION = "sensor.home_compensation"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant's test instance."""


async def test_compensation_statistics_grow_over_days(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Each day's earnings show in the statistics' sum (a card's monthly change)."""
    freezer.move_to(T0)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await hass.async_block_till_done(wait_background_tasks=True)
    location = entry.data["site_id"].split("/", 1)[1]
    for _day in range(3):
        await sandbox.control(
            "POST",
            f"energy-coordination/locations/{location}/compensation/earnings",
            {"amount": 12.5},
        )
        # The next read is at most 6 hours later.
        freezer.tick(timedelta(hours=6, seconds=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        await async_wait_recording_done(hass)
        freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        do_adhoc_statistics(
            hass, start=get_start_time(datetime.now(UTC) - timedelta(minutes=5))
        )
        await async_wait_recording_done(hass)
        freezer.tick(timedelta(hours=18))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)

    stats = await hass.async_add_executor_job(
        statistics_during_period,
        hass,
        T0 - timedelta(hours=1),
        None,
        {COMPENSATION},
        "5minute",
        None,
        {"state", "sum"},
    )
    rows = stats[COMPENSATION]
    assert [row["state"] for row in rows] == [12.5, 25.0, 37.5]
    # The sum starts at the first compiled state and grows with each day's earnings.
    sums = [row["sum"] for row in rows]
    assert sums[1] - sums[0] == pytest.approx(12.5)
    assert sums[2] - sums[1] == pytest.approx(12.5)
