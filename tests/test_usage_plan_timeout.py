"""An energy usage plan whose answer comes too late is recorded as unknown, never resent.

Real time here (no frozen clock), so that the client's timeout and the
sandbox's late answer run as they would: the platform stores the plan, then
answers after GridFlex gave up.
"""

from __future__ import annotations

from datetime import timedelta

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.gridflex import event_worker

from .conftest import Sandbox
from .test_usage_plan import _add_load, _event, _feed_history, _plan_row, _plans, _site


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant's test instance."""


async def test_timeout_recorded_and_not_resent(
    hass: HomeAssistant, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan is stored but answered late: ``unknown``, 1 attempt, 1 plan on the platform."""
    monkeypatch.setattr(event_worker, "SEND_TIMEOUT", 0.5)
    now = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    entry = await _site(hass, sandbox)
    _feed_history(hass, now)
    await async_wait_recording_done(hass)
    events = entry.runtime_data.event_coordinator
    event_id = await _event(sandbox, entry, now + timedelta(hours=3))
    await events.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert events.ledger.state(event_id, "answer") == "done"
    assert _plans(sandbox, event_id) == []  # no load yet

    _add_load(hass, entry, "Water heater", 2.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    events = entry.runtime_data.event_coordinator
    await sandbox.fault(
        "/energy-coordination/v1/reports", "delay_after", seconds=2, times=1
    )
    await events.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(_plans(sandbox, event_id)) == 1  # the platform has it
    row = await _plan_row(hass, entry, event_id)
    assert row["state"] == "unknown", row
    assert "platform_id" not in row

    # Not resent: not at the next polls, not after a reload.
    for _ in range(2):
        await events.async_refresh()
        await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await entry.runtime_data.event_coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(_plans(sandbox, event_id)) == 1
    row = await _plan_row(hass, entry, event_id)
    assert (row["state"], row["attempts"]) == ("unknown", 1)
