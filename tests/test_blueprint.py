"""GridFlex's blueprints: each valid, and each run from its trigger."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
import shutil
from typing import Any
from urllib.parse import quote

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.gridflex.const import DOMAIN

from .conftest import GSRN_NO, Sandbox, create_lpc_event, setup_site
from .test_resources import add_resource, subentry_by_title

SOURCE = (
    Path(__file__).parent.parent
    / "blueprints"
    / "automation"
    / "gridflex"
    / "reduce_load_during_lpc.yaml"
)
LPC_ACTIVE = "binary_sensor.home_lpc_active"
NEXT_EVENT = "sensor.home_next_grid_event"


async def test_blueprint_is_valid(hass: HomeAssistant) -> None:
    """Home Assistant's blueprint validation accepts it."""
    data = await hass.async_add_executor_job(load_yaml_dict, str(SOURCE))
    blueprint = models.Blueprint(
        data, expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA
    )
    assert blueprint.name == "Reduce load during an LPC event"
    assert set(blueprint.inputs) == {"lpc_active", "loads"}


async def test_automation_from_blueprint(hass: HomeAssistant) -> None:
    """Loads go off while LPC is active and come back as they were."""
    target = Path(hass.config.path("blueprints", "automation", "gridflex"))
    await hass.async_add_executor_job(lambda: target.mkdir(parents=True, exist_ok=True))
    await hass.async_add_executor_job(shutil.copy, SOURCE, target / SOURCE.name)
    hass.states.async_set(LPC_ACTIVE, "off")
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"charger": {"initial": True}, "boiler": {"initial": False}}},
    )
    assert await async_setup_component(hass, "scene", {})
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": "gridflex/reduce_load_during_lpc.yaml",
                    "input": {
                        "lpc_active": LPC_ACTIVE,
                        "loads": ["input_boolean.charger", "input_boolean.boiler"],
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()

    hass.states.async_set(LPC_ACTIVE, "on")
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.charger").state == "off"
    assert hass.states.get("input_boolean.boiler").state == "off"

    hass.states.async_set(LPC_ACTIVE, "off")
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.charger").state == "on"
    assert hass.states.get("input_boolean.boiler").state == "off"


# --------------------------------------------------------------------------
# Every blueprint, and the four that act on grid events
# --------------------------------------------------------------------------

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "gridflex"
T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
INPUTS: dict[str, set[str]] = {
    "reduce_load_during_lpc.yaml": {"lpc_active", "loads"},
    "pause_ev_charging_during_lpc.yaml": {"lpc_active", "charger", "paused_current"},
    "notify_lpc_received.yaml": {"device", "notify_action", "title"},
    "notify_activation_started.yaml": {"device", "notify_action", "title"},
    "preheat_before_lpc.yaml": {
        "next_event",
        "lpc_active",
        "heater",
        "lead_minutes",
        "boost_temperature",
    },
}


def test_every_blueprint_is_listed() -> None:
    """Each blueprint in the repository is validated and run below."""
    assert {path.name for path in BLUEPRINTS.glob("*.yaml")} == set(INPUTS)


@pytest.mark.parametrize("name", sorted(INPUTS))
async def test_blueprints_are_valid(hass: HomeAssistant, name: str) -> None:
    """Home Assistant's blueprint validation accepts each, with its inputs."""
    data = await hass.async_add_executor_job(load_yaml_dict, str(BLUEPRINTS / name))
    blueprint = models.Blueprint(
        data, expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA
    )
    assert set(blueprint.inputs) == INPUTS[name]
    assert blueprint.metadata["source_url"].endswith(
        f"/blueprints/automation/gridflex/{name}"
    )
    assert blueprint.metadata["homeassistant"]["min_version"] == "2026.10.0"


async def _install(hass: HomeAssistant, *names: str) -> None:
    target = Path(hass.config.path("blueprints", "automation", "gridflex"))
    await hass.async_add_executor_job(lambda: target.mkdir(parents=True, exist_ok=True))
    for name in names:
        await hass.async_add_executor_job(shutil.copy, BLUEPRINTS / name, target / name)
    assert await async_setup_component(hass, "scene", {})
    assert await async_setup_component(hass, "homeassistant", {})


async def _automations(
    hass: HomeAssistant, uses: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    """Set up one automation per name from a blueprint and its inputs; all must load."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "id": name,
                    "alias": name,
                    "use_blueprint": {"path": f"gridflex/{path}", "input": inputs},
                }
                for name, (path, inputs) in uses.items()
            ]
        },
    )
    await hass.async_block_till_done()
    for name in uses:
        assert hass.states.get(f"automation.{name}").state == STATE_ON, name


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _location_lpc(
    sandbox: Sandbox, entry: ConfigEntry, start: datetime, limits: list[float]
) -> None:
    """Create a LocationLPC event on the sandbox: hourly limits from ``start``."""
    await create_lpc_event(sandbox, entry, start, limits)


async def test_pause_ev_charging(hass: HomeAssistant) -> None:
    """A charger switch goes off and back on; a current goes to 0 and back to 16 A."""
    await _install(hass, "pause_ev_charging_during_lpc.yaml")
    hass.states.async_set(LPC_ACTIVE, "off")
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"charger": {"initial": True}, "idle": {"initial": False}}},
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {"input_number": {"current": {"min": 0, "max": 32, "step": 1, "initial": 16}}},
    )
    path = "pause_ev_charging_during_lpc.yaml"
    await _automations(
        hass,
        {
            "switch": (
                path,
                {"lpc_active": LPC_ACTIVE, "charger": "input_boolean.charger"},
            ),
            "idle": (path, {"lpc_active": LPC_ACTIVE, "charger": "input_boolean.idle"}),
            "current": (
                path,
                {
                    "lpc_active": LPC_ACTIVE,
                    "charger": "input_number.current",
                    "paused_current": 0,
                },
            ),
        },
    )
    hass.states.async_set(LPC_ACTIVE, "on")
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.charger").state == "off"
    assert hass.states.get("input_boolean.idle").state == "off"
    assert float(hass.states.get("input_number.current").state) == 0
    # The sensor comes back on (e.g. after being unavailable): still paused,
    # and the state from before the window is kept.
    hass.states.async_set(LPC_ACTIVE, "unavailable")
    await hass.async_block_till_done()
    hass.states.async_set(LPC_ACTIVE, "on")
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.charger").state == "off"

    hass.states.async_set(LPC_ACTIVE, "off")
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.charger").state == "on"
    assert hass.states.get("input_boolean.idle").state == "off"  # was off
    assert float(hass.states.get("input_number.current").state) == 16
    # The earlier states are forgotten once restored.
    assert hass.states.async_entity_ids("scene") == []


async def test_notify_lpc_received(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """An LPC event reaches GridFlex: one notification with its hours and limits."""
    freezer.move_to(T0)
    await hass.config.async_update(time_zone="Europe/Oslo")
    entry = await setup_site(hass, sandbox, "energy_coordination")
    site = device_registry.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert site is not None
    notifications = async_mock_service(hass, "notify", "phone")
    await _install(hass, "notify_lpc_received.yaml")
    await _automations(
        hass,
        {
            "lpc_notice": (
                "notify_lpc_received.yaml",
                {"device": site.id, "notify_action": "notify.phone"},
            )
        },
    )
    location_id = entry.data["site_id"].split("/", 1)[1]
    await sandbox.control(
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
                                "timestamp": (T0 + timedelta(hours=1 + i)).isoformat(),
                                "maxPowerInKiloWatts": limit,
                            }
                            for i, limit in enumerate([5, 5, 3])
                        ],
                    }
                ],
            }
        },
    )
    assert notifications == []
    await _advance(hass, freezer, T0 + timedelta(minutes=5))  # next poll
    assert len(notifications) == 1
    assert notifications[0].data == {
        "title": "Grid limit ahead",
        # 11:00-13:00 and 13:00-14:00 UTC, in Oslo time.
        "message": "Sun 22 Nov 12:00-14:00: at most 5.0 kW\n"
        "Sun 22 Nov 14:00-15:00: at most 3.0 kW",
    }
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert len(notifications) == 1  # received once, not at its start


async def test_notify_activation_started(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A Powernaut activation of the battery starts: one notification."""
    freezer.move_to(T0)
    await hass.config.async_update(time_zone="Europe/Oslo")
    hass.states.async_set(
        "sensor.battery_power",
        "0",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(
        hass,
        entry,
        "Battery",
        "battery",
        {
            "power_entity": "sensor.battery_power",
            "power_min_kw": -5,
            "power_max_kw": 5,
            "capacity_kwh": 10,
        },
    )
    battery = subentry_by_title(entry, "Battery")
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_{battery.subentry_id}"), entry.entry_id
    )
    assert device is not None
    notifications = async_mock_service(hass, "notify", "notify")
    await _install(hass, "notify_activation_started.yaml")
    await _automations(
        hass,
        {"activation": ("notify_activation_started.yaml", {"device": device.id})},
    )
    start = T0 + timedelta(minutes=15)
    bid = await sandbox.control(
        "POST",
        f"powernaut/resources/{battery.data['resource_id']}/bids",
        {
            "timing": {
                "start": start.isoformat().replace("+00:00", "Z"),
                "end": (start + timedelta(minutes=15))
                .isoformat()
                .replace("+00:00", "Z"),
            },
            "curve": [{"value": "2.5"}],
        },
    )
    await sandbox.control(
        "POST", f"powernaut/bids/{bid['id']}/activate", {"value": "2.5"}
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5))  # polled: not started
    assert notifications == []
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert [call.data for call in notifications] == [
        {"title": "Activation started", "message": "Battery: 2.5 kW until 11:30."}
    ]


async def test_preheat_before_lpc(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An hour before the LPC event the heating boosts; at its start it is back."""
    freezer.move_to(T0)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    set_temperature = async_mock_service(hass, "climate", "set_temperature")
    async_mock_service(hass, "climate", "set_hvac_mode")
    hass.states.async_set(
        "climate.living_room",
        "heat",
        {"temperature": 20, "hvac_modes": ["off", "heat"]},
    )
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"boiler": {"initial": False}}}
    )
    await _install(hass, "preheat_before_lpc.yaml")
    path = "preheat_before_lpc.yaml"
    await _automations(
        hass,
        {
            "heating": (
                path,
                {
                    "next_event": NEXT_EVENT,
                    "heater": "climate.living_room",
                    "lead_minutes": 60,
                    "boost_temperature": 22.5,
                },
            ),
            "water": (
                path,
                {
                    "next_event": NEXT_EVENT,
                    "heater": "input_boolean.boiler",
                    "lead_minutes": 30,
                },
            ),
        },
    )
    location_id = entry.data["site_id"].split("/", 1)[1]
    await sandbox.control(
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
                                "timestamp": (T0 + timedelta(hours=3)).isoformat(),
                                "maxPowerInKiloWatts": 4,
                            }
                        ],
                    }
                ],
            }
        },
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert hass.states.get(NEXT_EVENT).state == "2026-11-22T13:00:00+00:00"
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=55))
    assert set_temperature == []
    assert hass.states.get("input_boolean.boiler").state == "off"

    # 12:00: the heating boosts; 12:30 the water.
    await _advance(hass, freezer, T0 + timedelta(hours=2))
    assert [call.data for call in set_temperature] == [
        {"entity_id": ["climate.living_room"], "temperature": 22.5}
    ]
    assert hass.states.get("input_boolean.boiler").state == "off"
    await _advance(hass, freezer, T0 + timedelta(hours=2, minutes=30))
    assert hass.states.get("input_boolean.boiler").state == "on"

    # 13:00: the event starts; both go back to what they were.
    await _advance(hass, freezer, T0 + timedelta(hours=3))
    assert hass.states.get("input_boolean.boiler").state == "off"
    assert [call.data["temperature"] for call in set_temperature] == [22.5, 20]
    assert hass.states.async_entity_ids("scene") == []


def test_readme_links_every_blueprint() -> None:
    """The README has a My Home Assistant import link for each blueprint."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for name in INPUTS:
        raw = (
            "https://raw.githubusercontent.com/gridflex/gridflex/main/"
            f"blueprints/automation/gridflex/{name}"
        )
        link = (
            "https://my.home-assistant.io/redirect/blueprint_import/?blueprint_url="
            + quote(raw, safe="")
        )
        assert f"]({link})" in readme, name


async def test_preheat_until_the_earlier_event(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An earlier event coming in keeps the boost on until that one starts."""
    freezer.move_to(T0)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    hass.states.async_set("water_heater.tank", "eco", {"temperature": 55})
    set_temperature: list[ServiceCall] = []

    async def _set_temperature(call: ServiceCall) -> None:
        """The tank takes the new target temperature."""
        set_temperature.append(call)
        hass.states.async_set(
            "water_heater.tank", "eco", {"temperature": call.data["temperature"]}
        )

    hass.services.async_register("water_heater", "set_temperature", _set_temperature)
    await _install(hass, "preheat_before_lpc.yaml")
    await _automations(
        hass,
        {
            "tank": (
                "preheat_before_lpc.yaml",
                {
                    "next_event": NEXT_EVENT,
                    "lpc_active": LPC_ACTIVE,
                    "heater": "water_heater.tank",
                    "lead_minutes": 120,
                    "boost_temperature": 70,
                },
            )
        },
    )
    await _location_lpc(sandbox, entry, T0 + timedelta(hours=3), [4])  # 13:00
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    await _advance(hass, freezer, T0 + timedelta(hours=1))  # 11:00: boost
    assert [call.data["temperature"] for call in set_temperature] == [70]

    await _location_lpc(sandbox, entry, T0 + timedelta(hours=2), [3])  # 12:00
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=5))
    assert hass.states.get(NEXT_EVENT).state == "2026-11-22T12:00:00+00:00"
    assert [call.data["temperature"] for call in set_temperature] == [70]

    await _advance(hass, freezer, T0 + timedelta(hours=2))  # 12:00: it starts
    assert hass.states.get(NEXT_EVENT).state == "2026-11-22T13:00:00+00:00"
    assert hass.states.get(LPC_ACTIVE).state == STATE_ON
    # Back to 55 °C; no new boost for 13:00 while the 12:00 window is in force.
    assert [call.data["temperature"] for call in set_temperature] == [70, 55]
    assert hass.states.get("water_heater.tank").attributes["temperature"] == 55
    await _advance(hass, freezer, T0 + timedelta(hours=2, minutes=30))
    assert len(set_temperature) == 2
