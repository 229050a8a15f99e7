"""Energy usage reports after an LPC event, from the recorder's statistics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from .conftest import GSRN_NO, Sandbox, setup_site
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
                                "timestamp": (
                                    DAY_START + timedelta(hours=h)
                                ).isoformat(),
                                "maxPowerInKiloWatts": 6,
                            }
                            for h in range(HOURS)
                        ],
                    }
                ],
            }
        },
    )
    return str(created["id"])


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


async def test_resource_event_report(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A resource LPC event reports the site and the resource's energy, once."""
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
    payloads = {p["payloadType"]: p for p in reports[0]["payloads"]}
    assert [p["kiloWattHours"] for p in payloads["LocationEnergyUsage"]["points"]] == [
        _kwh(0),
        _kwh(1),
    ]
    usage = payloads["EnergyUsage"]
    assert usage["resourceId"] == resource_id
    assert [p["kiloWattHours"] for p in usage["points"]] == [2 * _kwh(0), 2 * _kwh(1)]
