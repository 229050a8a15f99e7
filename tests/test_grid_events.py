"""Energy Coordination LPC events: received, acknowledged once, started, ended."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.calendar import DOMAIN as CALENDAR_DOMAIN
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN

from .conftest import GSRN_NO, Sandbox, setup_site

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
LPC_ACTIVE = "binary_sensor.home_lpc_active"
LIMIT = "sensor.home_power_limit"
NEXT = "sensor.home_next_grid_event"
GRID_EVENT = "event.home_grid_event"
CALENDAR = "calendar.home_grid_events"


@pytest.fixture(autouse=True)
def morning(freezer: FrozenDateTimeFactory) -> None:
    """Start the day at 10:00 UTC."""
    freezer.move_to(T0)


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _lpc_event(sandbox: Sandbox, entry: ConfigEntry, hours: list[float]) -> str:
    """Create an LPC event for the site's location: 5 kW, then 3 kW."""
    location_id = entry.data["site_id"].split("/", 1)[1]
    points = [
        {
            "timestamp": (T0 + timedelta(hours=1 + index)).isoformat(),
            "maxPowerInKiloWatts": limit,
        }
        for index, limit in enumerate(hours)
    ]
    created = await sandbox.control(
        "POST",
        "energy_coordination/events",
        {
            "payload": {
                "payloadType": "LocationLPC",
                "targets": [
                    {
                        "locationId": location_id,
                        "meterPointId": GSRN_NO,
                        "resolution": "01:00:00",
                        "points": points,
                    }
                ],
            }
        },
    )
    return str(created["id"])


def _acknowledgements(sandbox: Sandbox, event_id: str) -> list[dict[str, Any]]:
    return [
        report
        for report in sandbox.server.state.energy_coordination.reports
        if report["eventId"] == event_id
        and "Acknowledgement" in report["body"]["payloads"][0]["payloadType"]
    ]


async def test_lpc_event_lifecycle(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An LPC event is acknowledged once and drives the entities through its hours."""
    bus_events: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", bus_events.append)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    assert hass.states.get(LPC_ACTIVE).state == STATE_OFF
    event_id = await _lpc_event(sandbox, entry, [5, 5, 3])

    await _advance(hass, freezer, T0 + timedelta(minutes=5))  # next poll
    assert len(_acknowledgements(sandbox, event_id)) == 1
    ack = _acknowledgements(sandbox, event_id)[0]["body"]["payloads"][0]
    assert ack["payloadType"] == "LocationLPCAcknowledgement"
    assert ack["acknowledgedTargets"][0]["meterPointId"] == GSRN_NO
    state = hass.states.get(GRID_EVENT)
    assert state.attributes["event_type"] == "lpc_received"
    assert state.attributes["event_id"] == event_id
    assert hass.states.get(NEXT).state == "2026-11-22T11:00:00+00:00"
    assert hass.states.get(LIMIT).state == STATE_UNKNOWN

    calendar = await hass.services.async_call(
        CALENDAR_DOMAIN,
        "get_events",
        {"entity_id": CALENDAR, "duration": {"hours": 24}},
        blocking=True,
        return_response=True,
    )
    summaries = [e["summary"] for e in calendar[CALENDAR]["events"]]
    # Touching hours with the same limit are one window.
    assert summaries == ["LPC 5 kW", "LPC 3 kW"]

    await _advance(hass, freezer, T0 + timedelta(hours=1))
    assert hass.states.get(LPC_ACTIVE).state == STATE_ON
    assert hass.states.get(LIMIT).state == "5"
    assert hass.states.get(GRID_EVENT).attributes["event_type"] == "lpc_started"

    await _advance(hass, freezer, T0 + timedelta(hours=3, minutes=30))
    assert hass.states.get(LIMIT).state == "3"

    await _advance(hass, freezer, T0 + timedelta(hours=4))
    assert hass.states.get(LPC_ACTIVE).state == STATE_OFF
    assert hass.states.get(GRID_EVENT).attributes["event_type"] == "lpc_ended"
    # At 13:00 the 5 kW window ends as the 3 kW one starts (same moment).
    types = [e.data["type"] for e in bus_events]
    assert types[0] == "lpc_received"
    assert sorted(types[1:]) == ["lpc_ended", "lpc_ended", "lpc_started", "lpc_started"]
    assert types[-1] == "lpc_ended"
    assert {
        e.data["limit_kw"] for e in bus_events if e.data["type"] != "lpc_received"
    } == {5.0, 3.0}
    assert len(_acknowledgements(sandbox, event_id)) == 1


async def test_acknowledged_once_across_restart(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A restart does not acknowledge the same event again."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _lpc_event(sandbox, entry, [4])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert len(_acknowledgements(sandbox, event_id)) == 1

    assert await hass.config_entries.async_reload(entry.entry_id)
    await _advance(hass, freezer, T0 + timedelta(minutes=15))
    assert len(_acknowledgements(sandbox, event_id)) == 1
    # The event is still known, and still drives the entities.
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert hass.states.get(LPC_ACTIVE).state == STATE_ON


async def test_acknowledgement_retried(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A failed acknowledgement is sent on a later poll, once."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _lpc_event(sandbox, entry, [4])
    await sandbox.fault("/energy-coordination/v1/reports", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert _acknowledgements(sandbox, event_id) == []
    await sandbox.clear_faults()
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    await _advance(hass, freezer, T0 + timedelta(minutes=15))
    assert len(_acknowledgements(sandbox, event_id)) == 1
