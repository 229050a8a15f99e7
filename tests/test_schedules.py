"""FlexMeasures schedules for a battery: triggered, polled through 'in progress', exposed."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest

from custom_components.gridflex.const import DOMAIN

from .conftest import Sandbox, setup_site
from .test_resources import add_resource, subentry_by_title

SCHEDULED = "sensor.home_battery_scheduled_power"


@pytest.fixture(autouse=True)
def no_wait_between_polls() -> None:
    """The sandbox moves a job one step per read: no need to wait."""
    with patch("custom_components.gridflex.schedules.JOB_POLL_DELAY", 0):
        yield


async def test_battery_schedule(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A schedule is triggered, read once computed, and shown per battery."""
    hass.states.async_set(
        "sensor.battery_power",
        "0",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    hass.states.async_set("sensor.battery_soc", "40", {"unit_of_measurement": "%"})
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await add_resource(
        hass,
        entry,
        "Home battery",
        "battery",
        {
            "power_entity": "sensor.battery_power",
            "soc_entity": "sensor.battery_soc",
            "power_min_kw": -5,
            "power_max_kw": 5,
            "capacity_kwh": 10,
        },
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    state = hass.states.get(SCHEDULED)
    assert state is not None
    # 4 kWh of 10 at 5 kW: the sandbox's scheduler charges at full power first.
    assert state.state == "5.0"
    assert len(state.attributes["schedule"]) == 48  # 12 hours of quarter-hours
    triggers = [
        r
        for r in sandbox.requests("flexmeasures")
        if r["path"].endswith("/schedules/trigger")
    ]
    assert len(triggers) == 1
    reads = [
        r
        for r in sandbox.requests("flexmeasures")
        if "/schedules/" in r["path"] and not r["path"].endswith("trigger")
    ]
    assert [r["status"] for r in reads][:2] == [400, 400]  # in progress, twice
    assert reads[-1]["status"] == 200

    await hass.services.async_call(
        DOMAIN, "trigger_schedule", {"config_entry_id": entry.entry_id}, blocking=True
    )
    triggers = [
        r
        for r in sandbox.requests("flexmeasures")
        if r["path"].endswith("/schedules/trigger")
    ]
    assert len(triggers) == 2
    assert subentry_by_title(entry, "Home battery")

    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN, "trigger_schedule", {"config_entry_id": "nope"}, blocking=True
        )
