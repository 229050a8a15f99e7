"""The energy usage plan of an LPC event, sent once after the acknowledgement.

Inside Home Assistant against the sandbox (OpenAPI validation on, and the
sandbox fixture fails a test on any duplicate acknowledgement, report or
plan). The site's grid power history is fed to the recorder as hourly
statistics; the clock is frozen and moved.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.diagnostics import async_get_config_entry_diagnostics

from .conftest import GSRN_NO, Sandbox, create_lpc_event, setup_site
from .test_resources import add_resource, subentry_by_title

NOW = datetime.fromisoformat("2026-11-19T10:00:00+00:00")  # a Thursday, 11:00 CET
EVENT_START = NOW + timedelta(hours=6)  # 17:00 local
# One limit per hour (kW) from EVENT_START.
LIMITS = (3, 4, 6)
POWER = "sensor.grid_power"
PEAK_KW = 5.0
"""What the home draws every day from 16:00 to 19:00 UTC; 1 kW otherwise."""
POLL = timedelta(minutes=5, seconds=1)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant's test instance."""


@pytest.fixture(autouse=True)
async def oslo(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """A home in Norway, on the morning of the event."""
    await hass.config.async_set_time_zone("Europe/Oslo")
    freezer.move_to(NOW)


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _feed_history(hass: HomeAssistant, now: datetime = NOW, days: int = 15) -> None:
    """Hourly means of the grid power sensor: 1 kW, 5 kW from 16 to 19 UTC."""
    rows = []
    for back in range(days * 24, 0, -1):
        start = now - timedelta(hours=back)
        value = PEAK_KW if 16 <= start.hour < 19 else 1.0
        rows.append({"start": start, "mean": value, "min": value, "max": value})
    async_import_statistics(
        hass,
        {
            "mean_type": StatisticMeanType.ARITHMETIC,
            "has_sum": False,
            "name": "Grid power",
            "source": "recorder",
            "statistic_id": POWER,
            "unit_class": "power",
            "unit_of_measurement": "kW",
        },
        rows,
    )


LIMIT_CONTROL = "switch.home_limit_control"


async def _site(hass: HomeAssistant, sandbox: Sandbox, *, power: bool = True) -> Any:
    hass.states.async_set(
        POWER,
        "1.0",
        {"unit_of_measurement": "kW", "device_class": "power"},
    )
    entry = await setup_site(hass, sandbox, "energy_coordination")
    if power:
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"grid_power_entity": POWER}
        )
        assert result["type"] == "create_entry", result
        await hass.async_block_till_done(wait_background_tasks=True)
    # The plan promises what Limit control will curtail: on, as a homeowner
    # with curtailable loads has it.
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": LIMIT_CONTROL}, blocking=True
    )
    return entry


def _add_load(hass: HomeAssistant, entry: ConfigEntry, name: str, kw: float) -> None:
    """A curtailable load, as the site's ``load`` subentries hold them."""
    priority = 1 + sum(
        1 for s in entry.subentries.values() if s.subentry_type == "load"
    )
    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            data=MappingProxyType(
                {
                    "name": name,
                    "control": {
                        "control_entity": f"switch.{name.lower().replace(' ', '_')}"
                    },
                    "nominal_kw": kw,
                    "priority": priority,
                }
            ),
            subentry_type="load",
            title=name,
            unique_id=None,
        ),
    )


async def _event(
    sandbox: Sandbox, entry: ConfigEntry, start: datetime = EVENT_START
) -> str:
    return await create_lpc_event(sandbox, entry, start, LIMITS)


def _reports(sandbox: Sandbox, event_id: str) -> list[tuple[str, dict[str, Any]]]:
    """``(payloadType, payload)`` of each report on the event, in order."""
    return [
        (kind, report["body"]["payloads"][0])
        for report in sandbox.server.state.energy_coordination.reports
        if report["eventId"] == event_id
        for kind in report["payloadTypes"][:1]
    ]


def _plans(sandbox: Sandbox, event_id: str) -> list[dict[str, Any]]:
    return [p for k, p in _reports(sandbox, event_id) if k == "LocationEnergyUsagePlan"]


async def _plan_row(hass: HomeAssistant, entry: ConfigEntry, event_id: str) -> Any:
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    [row] = [
        e for e in diagnostics["grid_events"]["events"] if e["event_id"] == event_id
    ]
    return row["plan"]


async def test_plan_sent_once_after_acknowledgement(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Acknowledged, then planned per hour from the history, once; also after a reload."""
    entry = await _site(hass, sandbox)
    _feed_history(hass)
    await async_wait_recording_done(hass)
    _add_load(hass, entry, "Water heater", 1.0)
    _add_load(hass, entry, "EV charger", 0.5)
    await hass.async_block_till_done(wait_background_tasks=True)
    event_id = await _event(sandbox, entry)

    await _advance(hass, freezer, NOW + POLL)
    kinds = [kind for kind, _ in _reports(sandbox, event_id)]
    assert kinds == ["LocationLPCAcknowledgement", "LocationEnergyUsagePlan"]
    [plan] = _plans(sandbox, event_id)
    location_id = entry.data["site_id"].split("/", 1)[1]
    hours = [
        (EVENT_START + timedelta(hours=h)).strftime("%Y-%m-%dT%H:00:00.000Z")
        for h in range(len(LIMITS))
    ]
    assert plan == {
        "locationId": location_id,
        "meterPointId": GSRN_NO,
        "resolution": "01:00:00",
        # The home draws PEAK_KW every evening: an hour's expected import.
        "baseline": [{"timestamp": t, "kiloWattHours": PEAK_KW} for t in hours],
        # min(1.5 kW the loads shed, the import above the limit) for an hour.
        "flexibility": [
            {"timestamp": t, "kiloWattHours": min(1.5, max(0.0, PEAK_KW - limit))}
            for t, limit in zip(hours, LIMITS, strict=True)
        ],
        "payloadType": "LocationEnergyUsagePlan",
    }
    row = await _plan_row(hass, entry, event_id)
    assert row["state"] == "done"
    assert row["platform_id"]
    assert (row["hours"], row["loads"], row["shed_kw"]) == (3, 2, 1.5)
    assert row["confidence"] == "high"
    listed = await hass.services.async_call(
        DOMAIN,
        "list_grid_events",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    [shown] = [e for e in listed["events"] if e["event_id"] == event_id]
    assert shown["plan"]["state"] == "done"

    # Never again: later polls, a reload, the event's start.
    await _advance(hass, freezer, NOW + 2 * POLL)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _advance(hass, freezer, NOW + 3 * POLL)
    await _advance(hass, freezer, EVENT_START + POLL)
    assert len(_plans(sandbox, event_id)) == 1
    assert (await _plan_row(hass, entry, event_id))["state"] == "done"


async def test_plan_follows_limit_control(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Limit control off: no plan (nothing would be curtailed); on before the start: sent."""
    entry = await _site(hass, sandbox)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": LIMIT_CONTROL}, blocking=True
    )
    _feed_history(hass)
    await async_wait_recording_done(hass)
    _add_load(hass, entry, "Water heater", 1.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    event_id = await _event(sandbox, entry)
    await _advance(hass, freezer, NOW + POLL)
    assert [kind for kind, _ in _reports(sandbox, event_id)] == [
        "LocationLPCAcknowledgement"
    ]
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": LIMIT_CONTROL}, blocking=True
    )
    await _advance(hass, freezer, NOW + 2 * POLL)
    assert len(_plans(sandbox, event_id)) == 1


async def test_no_loads_no_plan(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Without a curtailable load the event is acknowledged, and nothing is planned."""
    entry = await _site(hass, sandbox)
    _feed_history(hass)
    await async_wait_recording_done(hass)
    event_id = await _event(sandbox, entry)
    await _advance(hass, freezer, NOW + POLL)
    await _advance(hass, freezer, EVENT_START + POLL)
    assert [kind for kind, _ in _reports(sandbox, event_id)] == [
        "LocationLPCAcknowledgement"
    ]
    assert await _plan_row(hass, entry, event_id) is None  # off: nothing recorded


@pytest.mark.parametrize(
    ("power", "reason"), [(True, "no_history"), (False, "no_power_sensor")]
)
async def test_without_history_no_plan(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    power: bool,
    reason: str,
) -> None:
    """Nothing to forecast from: no plan, retried until the start, then expired with why."""
    entry = await _site(hass, sandbox, power=power)
    _add_load(hass, entry, "Water heater", 2.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    event_id = await _event(sandbox, entry)
    await _advance(hass, freezer, NOW + POLL)
    await _advance(hass, freezer, NOW + 2 * POLL)
    assert [kind for kind, _ in _reports(sandbox, event_id)] == [
        "LocationLPCAcknowledgement"
    ]
    assert await _plan_row(hass, entry, event_id) is None  # still waiting

    await _advance(hass, freezer, EVENT_START + POLL)
    assert _plans(sandbox, event_id) == []
    row = await _plan_row(hass, entry, event_id)
    assert (row["state"], row["reason"]) == ("expired", reason)


async def test_resource_event_gets_no_plan(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A ResourceLPC event is acknowledged only: the plan is the location's."""
    hass.states.async_set(
        "sensor.charger_power",
        "0",
        {"unit_of_measurement": "kW", "device_class": "power"},
    )
    entry = await _site(hass, sandbox)
    _feed_history(hass)
    await async_wait_recording_done(hass)
    await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {"power_entity": "sensor.charger_power", "power_min_kw": 0, "power_max_kw": 7},
    )
    resource_id = subentry_by_title(entry, "Charger").data["resource_id"]
    _add_load(hass, entry, "Charger load", 7.0)
    await hass.async_block_till_done(wait_background_tasks=True)
    location_id = entry.data["site_id"].split("/", 1)[1]
    created = await sandbox.control(
        "POST",
        "energy_coordination/events",
        {
            "payload": {
                "payloadType": "ResourceLPC",
                "targets": [
                    {
                        "meterPointId": GSRN_NO,
                        "locationId": location_id,
                        "resourceId": resource_id,
                        "resolution": "01:00:00",
                        "points": [
                            {
                                "timestamp": EVENT_START.isoformat(),
                                "maxPowerInKiloWatts": 3.7,
                            }
                        ],
                    }
                ],
            }
        },
    )
    event_id = str(created["id"])
    location_event = await _event(sandbox, entry)
    await _advance(hass, freezer, NOW + POLL)
    assert [kind for kind, _ in _reports(sandbox, event_id)] == [
        "ResourceLPCAcknowledgement"
    ]
    assert await _plan_row(hass, entry, event_id) is None
    # The site's own event on the same poll is planned.
    assert len(_plans(sandbox, location_event)) == 1
