"""The 'Reduce load during an LPC event' blueprint: valid, and it works."""

from __future__ import annotations

from pathlib import Path
import shutil

from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint import models
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict

SOURCE = (
    Path(__file__).parent.parent
    / "blueprints"
    / "automation"
    / "gridflex"
    / "reduce_load_during_lpc.yaml"
)
LPC_ACTIVE = "binary_sensor.home_lpc_active"


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
