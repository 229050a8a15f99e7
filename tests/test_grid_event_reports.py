"""Energy usage reports after an LPC event, from the recorder's statistics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.gridflex.const import DOMAIN

from .conftest import GSRN_NO, Sandbox, create_lpc_event, setup_site
from .test_resources import add_resource, subentry_by_title

# The night the clocks go back in Norway: local 2026-10-25 has 25 hours.
DAY_START = datetime.fromisoformat("2026-10-24T22:00:00+00:00")  # 00:00 CEST
HOURS = 25
ENERGY = "sensor.grid_import_energy"
CHARGER_ENERGY = "sensor.charger_energy"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant's test instance."""


@pytest.fixture(autouse=True)
async def oslo(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """A home in Norway, the evening before the DST change."""
    await hass.config.async_set_time_zone("Europe/Oslo")
    freezer.move_to(DAY_START - timedelta(hours=1))


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _kwh(hour: int) -> float:
    return round(0.5 + 0.125 * (hour % 7), 3)


def _feed_statistics(
    hass: HomeAssistant, hours: int, *, statistic_id: str = ENERGY, factor: int = 1
) -> None:
    """Hourly statistics of an energy meter, as the recorder keeps them."""
    total = 1000.0
    # The hour before the event, so that its first hour has a starting point.
    rows = [{"start": DAY_START - timedelta(hours=1), "state": total, "sum": total}]
    for hour in range(hours):
        total += factor * _kwh(hour)
        rows.append(
            {"start": DAY_START + timedelta(hours=hour), "state": total, "sum": total}
        )
    async_import_statistics(
        hass,
        {
            "mean_type": StatisticMeanType.NONE,
            "has_sum": True,
            "name": "Grid import",
            "source": "recorder",
            "statistic_id": statistic_id,
            "unit_class": "energy",
            "unit_of_measurement": "kWh",
        },
        rows,
    )


async def _day_long_event(sandbox: Sandbox, entry: ConfigEntry) -> str:
    return await create_lpc_event(sandbox, entry, DAY_START, [6] * HOURS)


def _energy_reports(sandbox: Sandbox, event_id: str) -> list[dict[str, Any]]:
    return [
        report["body"]
        for report in sandbox.server.state.energy_coordination.reports
        if report["eventId"] == event_id
        and report["body"]["payloads"][0]["payloadType"] == "LocationEnergyUsage"
    ]


async def test_report_after_event_across_dst(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """25 distinct UTC hours, exact kWh from the statistics, reported once."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_energy_entity": ENERGY}
    )
    await hass.async_block_till_done()
    event_id = await _day_long_event(sandbox, entry)
    await _advance(hass, freezer, DAY_START - timedelta(minutes=50))

    # The event ends at 23:00 UTC; the recorder has all but the last hour yet.
    _feed_statistics(hass, HOURS - 1)
    await async_wait_recording_done(hass)
    end = DAY_START + timedelta(hours=HOURS)
    await _advance(hass, freezer, end + timedelta(minutes=25))
    assert _energy_reports(sandbox, event_id) == []  # waits for the missing hour

    _feed_statistics(hass, HOURS)
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, end + timedelta(minutes=35))
    [report] = _energy_reports(sandbox, event_id)
    payload = report["payloads"][0]
    assert payload["resolution"] == "01:00:00"
    assert payload["meterPointId"] == GSRN_NO
    stamps = [point["timestamp"] for point in payload["points"]]
    assert len(stamps) == len(set(stamps)) == HOURS
    assert stamps[0] == "2026-10-24T22:00:00.000Z"
    assert stamps[-1] == "2026-10-25T22:00:00.000Z"
    assert [point["kiloWattHours"] for point in payload["points"]] == [
        _kwh(hour) for hour in range(HOURS)
    ]

    # Never twice: not on a later poll, not after a restart.
    await _advance(hass, freezer, end + timedelta(hours=2))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await _advance(hass, freezer, end + timedelta(hours=3))
    assert len(_energy_reports(sandbox, event_id)) == 1


async def test_report_leaves_out_the_hours_between_windows(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Two windows with two hours between: only the event's 3 hours are reported.

    The platform checks a report's hours against the event's and refuses the
    others (the guide: report "the hours that are in the event").
    """
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_energy_entity": ENERGY}
    )
    await hass.async_block_till_done()
    event_id = await create_lpc_event(
        sandbox, entry, DAY_START, [6, 6, 6], hours=[0, 1, 4]
    )
    await _advance(hass, freezer, DAY_START - timedelta(minutes=50))
    _feed_statistics(hass, 5)
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, DAY_START + timedelta(hours=5, minutes=35))
    [report] = _energy_reports(sandbox, event_id)
    points = report["payloads"][0]["points"]
    assert [point["timestamp"] for point in points] == [
        "2026-10-24T22:00:00.000Z",
        "2026-10-24T23:00:00.000Z",
        "2026-10-25T02:00:00.000Z",
    ]
    assert [point["kiloWattHours"] for point in points] == [
        _kwh(0),
        _kwh(1),
        _kwh(4),
    ]
    # (The sandbox fixture fails the test on any request the platform refuses.)


async def test_resource_event_report(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A resource LPC event reports the resource's energy only, once."""
    hass.states.async_set(
        "sensor.charger_power",
        "0",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {
            "power_entity": "sensor.charger_power",
            "energy_entity": CHARGER_ENERGY,
            "power_min_kw": 0,
            "power_max_kw": 7.4,
        },
    )
    resource_id = subentry_by_title(entry, "Charger").data["resource_id"]
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_energy_entity": ENERGY}
    )
    await hass.async_block_till_done()
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
                                "timestamp": (
                                    DAY_START + timedelta(hours=h)
                                ).isoformat(),
                                "maxPowerInKiloWatts": 3.7,
                            }
                            for h in range(2)
                        ],
                    }
                ],
            }
        },
    )
    event_id = str(created["id"])
    await _advance(hass, freezer, DAY_START - timedelta(minutes=50))
    _feed_statistics(hass, 2)
    _feed_statistics(hass, 2, statistic_id=CHARGER_ENERGY, factor=2)
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, DAY_START + timedelta(hours=2, minutes=25))

    reports = [
        r["body"]
        for r in sandbox.server.state.energy_coordination.reports
        if r["eventId"] == event_id and "Acknowledgement" not in r["payloadTypes"][0]
    ]
    assert len(reports) == 1
    # Location usage belongs to LocationLPC events: only the resource's.
    payloads = {p["payloadType"]: p for p in reports[0]["payloads"]}
    assert set(payloads) == {"EnergyUsage"}
    usage = payloads["EnergyUsage"]
    assert usage["resourceId"] == resource_id
    assert [p["kiloWattHours"] for p in usage["points"]] == [2 * _kwh(0), 2 * _kwh(1)]


async def _event_at(
    sandbox: Sandbox, entry: ConfigEntry, start: datetime, hours: int
) -> str:
    location_id = entry.data["site_id"].split("/", 1)[1]
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
                        "points": [
                            {
                                "timestamp": (start + timedelta(hours=h)).isoformat(),
                                "maxPowerInKiloWatts": 6,
                            }
                            for h in range(hours)
                        ],
                    }
                ],
            }
        },
    )
    return str(created["id"])


def _reports(sandbox: Sandbox, event_id: str) -> int:
    state = sandbox.server.state.energy_coordination
    return state.count_payloads(event_id, "LocationEnergyUsage") + state.count_payloads(
        event_id, "EnergyUsage"
    )


async def _with_energy_sensor(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_energy_entity": ENERGY}
    )
    await hass.async_block_till_done()
    return entry


async def _fix(hass: HomeAssistant, issue_id: str, choice: str) -> str:
    """Open the repair's fix flow and pick ``choice`` in its menu.

    Through the repairs flow manager (what the frontend's HTTP calls reach):
    after days of time travel the test client's access token has expired.
    """
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    flow = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    assert flow["type"] == "menu"
    result = await manager.async_configure(flow["flow_id"], {"next_step_id": choice})
    return str(result["type"])


async def test_blocked_report_does_not_block_others(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """An event without statistics waits, then asks; a later one is reported."""
    entry = await _with_energy_sensor(hass, sandbox)
    # Event A: two hours the recorder has no statistics for (sensor mapped later).
    early = await _event_at(sandbox, entry, DAY_START - timedelta(hours=1), 2)
    freezer.tick(timedelta(seconds=1))
    later = await _event_at(sandbox, entry, DAY_START + timedelta(hours=2), 2)
    _feed_statistics(hass, 4)
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, DAY_START + timedelta(hours=4, minutes=25))
    assert _reports(sandbox, later) == 1
    assert _reports(sandbox, early) == 0
    issue_id = f"report_incomplete_{entry.entry_id}_{early.replace('-', '_')}"
    assert not issue_registry.async_get_issue(DOMAIN, issue_id)

    # A day later the homeowner is asked; the action refuses an incomplete report.
    await _advance(hass, freezer, DAY_START + timedelta(days=1, hours=2))
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["count"] == "1"
    target = {"config_entry_id": entry.entry_id, "event_id": early}
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "send_energy_report", target, blocking=True
        )
    assert err.value.translation_key == "report_incomplete"
    assert _reports(sandbox, early) == 0

    # The fix flow sends what exists, once.
    assert await _fix(hass, issue_id, "send_available") == "create_entry"
    assert _reports(sandbox, early) == 1
    assert not issue_registry.async_get_issue(DOMAIN, issue_id)
    [report] = [
        r["body"]
        for r in sandbox.server.state.energy_coordination.reports
        if r["eventId"] == early and "LocationEnergyUsage" in r["payloadTypes"]
    ]
    assert len(report["payloads"][0]["points"]) == 1
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "send_energy_report", target, blocking=True
        )
    assert err.value.translation_key == "already_reported"
    await _advance(hass, freezer, DAY_START + timedelta(days=1, hours=3))
    assert _reports(sandbox, early) == 1
    assert _reports(sandbox, later) == 1


async def test_incomplete_report_by_action_and_give_up(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """allow_missing_hours sends what exists; giving up stops asking."""
    entry = await _with_energy_sensor(hass, sandbox)
    first = await _event_at(sandbox, entry, DAY_START - timedelta(hours=1), 2)
    freezer.tick(timedelta(seconds=1))
    second = await _event_at(sandbox, entry, DAY_START - timedelta(hours=1), 2)
    _feed_statistics(hass, 1)
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, DAY_START + timedelta(days=1, hours=1))
    response = await hass.services.async_call(
        DOMAIN,
        "send_energy_report",
        {
            "config_entry_id": entry.entry_id,
            "event_id": first,
            "allow_missing_hours": True,
        },
        blocking=True,
        return_response=True,
    )
    assert response == {"event_id": first, "hours": 1}
    assert _reports(sandbox, first) == 1

    issue_id = f"report_incomplete_{entry.entry_id}_{second.replace('-', '_')}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id)
    assert await _fix(hass, issue_id, "give_up") == "create_entry"
    assert not issue_registry.async_get_issue(DOMAIN, issue_id)
    await _advance(hass, freezer, DAY_START + timedelta(days=2))
    assert _reports(sandbox, second) == 0
    assert not issue_registry.async_get_issue(DOMAIN, issue_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "send_energy_report",
            {"config_entry_id": entry.entry_id, "event_id": second},
            blocking=True,
        )
    assert err.value.translation_key == "report_closed"


async def test_decreasing_statistic_is_never_negative(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A statistic whose sum goes down (reset, replaced meter) sends no negative kWh."""
    entry = await _with_energy_sensor(hass, sandbox)
    event_id = await _event_at(sandbox, entry, DAY_START, 3)
    rows = [
        {"start": DAY_START + timedelta(hours=h - 1), "state": total, "sum": total}
        for h, total in enumerate((1000.0, 1001.5, 990.0, 991.25))
    ]
    async_import_statistics(
        hass,
        {
            "mean_type": StatisticMeanType.NONE,
            "has_sum": True,
            "name": "Grid import",
            "source": "recorder",
            "statistic_id": ENERGY,
            "unit_class": "energy",
            "unit_of_measurement": "kWh",
        },
        rows,
    )
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, DAY_START + timedelta(days=1, hours=4))
    assert _reports(sandbox, event_id) == 0  # the decrease is not a usage
    await hass.services.async_call(
        DOMAIN,
        "send_energy_report",
        {
            "config_entry_id": entry.entry_id,
            "event_id": event_id,
            "allow_missing_hours": True,
        },
        blocking=True,
    )
    [report] = [
        r["body"]
        for r in sandbox.server.state.energy_coordination.reports
        if r["eventId"] == event_id and "LocationEnergyUsage" in r["payloadTypes"]
    ]
    values = [p["kiloWattHours"] for p in report["payloads"][0]["points"]]
    assert values == [1.5, 1.25]
    assert all(v >= 0 for v in values)


async def test_reinstall_sends_nothing_again(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Remove and add the site again: 5 acknowledged and 2 reported events stay so."""
    entry = await _with_energy_sensor(hass, sandbox)
    reported = [
        await _event_at(sandbox, entry, DAY_START + timedelta(hours=h), 1)
        for h in (0, 1)
    ]
    running = [
        await _event_at(sandbox, entry, DAY_START + timedelta(hours=h), 1)
        for h in (20, 21, 22)
    ]
    _feed_statistics(hass, 3)
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, DAY_START + timedelta(hours=3))
    state = sandbox.server.state.energy_coordination
    for event_id in reported + running:
        assert state.count_payloads(event_id, "LocationLPCAcknowledgement") == 1
    for event_id in reported:
        assert _reports(sandbox, event_id) == 1
    sent_before = len(state.reports)

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    entry = await _with_energy_sensor(hass, sandbox)
    await _advance(hass, freezer, DAY_START + timedelta(hours=4))
    await _advance(hass, freezer, DAY_START + timedelta(hours=5))
    assert len(state.reports) == sent_before
    listed = await hass.services.async_call(
        DOMAIN,
        "list_grid_events",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    flags = {
        e["event_id"]: (e["acknowledged"], e["reported"]) for e in listed["events"]
    }
    assert all(flags[event_id] == (True, True) for event_id in reported)
    assert all(flags[event_id][0] for event_id in running)


async def test_incomplete_report_fix_flow_failures(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The fix flow says when the platform refuses, and keeps the repair."""
    entry = await _with_energy_sensor(hass, sandbox)
    event_id = await _event_at(sandbox, entry, DAY_START - timedelta(hours=1), 2)
    _feed_statistics(hass, 1)
    await async_wait_recording_done(hass)
    await _advance(hass, freezer, DAY_START + timedelta(days=1, hours=1))
    issue_id = f"report_incomplete_{entry.entry_id}_{event_id.replace('-', '_')}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id)
    await sandbox.fault("/energy-coordination/v1/reports", "status", status=503)
    assert await _fix(hass, issue_id, "send_available") == "abort"
    assert issue_registry.async_get_issue(DOMAIN, issue_id)
    assert _reports(sandbox, event_id) == 0
    await sandbox.clear_faults()
    # Failed sends are retried by the worker only once hours are complete;
    # the homeowner's choice sends it.
    assert await _fix(hass, issue_id, "send_available") == "create_entry"
    assert _reports(sandbox, event_id) == 1
