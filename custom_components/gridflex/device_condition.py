"""Device conditions: is an LPC window or an activation in force for the site or a resource.

Each condition reads the device's own binary sensor ("LPC active" or
"Activation active"), found in the entity registry by its translation key,
so a renamed entity keeps working.
"""

from __future__ import annotations

from typing import Final

from homeassistant.const import (
    CONF_CONDITION,
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_TYPE,
    STATE_ON,
    Platform,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.helpers.condition import ConditionCheckerType
from homeassistant.helpers.typing import ConfigType, TemplateVarsType
import probatio as vol

from .const import DOMAIN

CONDITION_TYPES: Final = ("lpc_active", "activation_active")
"""Each is the translation key of the binary sensor it reads."""

CONDITION_SCHEMA = cv.DEVICE_CONDITION_BASE_SCHEMA.extend(
    {vol.Required(CONF_TYPE): vol.In(CONDITION_TYPES)}
)


@callback
def async_condition_entity(
    hass: HomeAssistant, device_id: str, condition_type: str
) -> str | None:
    """Return the device's binary sensor behind a condition, if it has one."""
    for entity in er.async_entries_for_device(er.async_get(hass), device_id):
        if (
            entity.platform == DOMAIN
            and entity.domain == Platform.BINARY_SENSOR
            and entity.translation_key == condition_type
        ):
            return entity.entity_id
    return None


async def async_get_conditions(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, str]]:
    """List the conditions the device has a binary sensor for."""
    return [
        {
            CONF_CONDITION: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: condition_type,
        }
        for condition_type in CONDITION_TYPES
        if async_condition_entity(hass, device_id, condition_type) is not None
    ]


@callback
def async_condition_from_config(
    hass: HomeAssistant, config: ConfigType
) -> ConditionCheckerType:
    """Check the binary sensor's state (looked up at each check: false without one)."""
    device_id: str = config[CONF_DEVICE_ID]
    condition_type: str = config[CONF_TYPE]

    @callback
    def _check(hass: HomeAssistant, variables: TemplateVarsType = None) -> bool:
        entity_id = async_condition_entity(hass, device_id, condition_type)
        return entity_id is not None and hass.states.is_state(entity_id, STATE_ON)

    return _check
