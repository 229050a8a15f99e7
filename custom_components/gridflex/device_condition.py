"""Device conditions: is an LPC window or an activation in force, is the limit control on.

Each condition reads the device's own entity ("LPC active" or "Activation
active" binary sensor, the site's "Limit control" switch), found in the
entity registry by its translation key, so a renamed entity keeps working.
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

CONDITION_ENTITIES: Final = {
    "lpc_active": (Platform.BINARY_SENSOR, "lpc_active"),
    "activation_active": (Platform.BINARY_SENSOR, "activation_active"),
    "limit_control_on": (Platform.SWITCH, "limit_control"),
}
"""The domain and translation key of the entity each condition reads."""
CONDITION_TYPES: Final = tuple(CONDITION_ENTITIES)

CONDITION_SCHEMA = cv.DEVICE_CONDITION_BASE_SCHEMA.extend(
    {vol.Required(CONF_TYPE): vol.In(CONDITION_TYPES)}
)


@callback
def async_condition_entity(
    hass: HomeAssistant, device_id: str, condition_type: str
) -> str | None:
    """Return the device's entity behind a condition, if it has one."""
    domain, translation_key = CONDITION_ENTITIES[condition_type]
    for entity in er.async_entries_for_device(er.async_get(hass), device_id):
        if (
            entity.platform == DOMAIN
            and entity.domain == domain
            and entity.translation_key == translation_key
        ):
            return entity.entity_id
    return None


async def async_get_conditions(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, str]]:
    """List the conditions the device has an entity for."""
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
    """Check the entity's state (looked up at each check: false without one)."""
    device_id: str = config[CONF_DEVICE_ID]
    condition_type: str = config[CONF_TYPE]

    @callback
    def _check(hass: HomeAssistant, variables: TemplateVarsType = None) -> bool:
        entity_id = async_condition_entity(hass, device_id, condition_type)
        return entity_id is not None and hass.states.is_state(entity_id, STATE_ON)

    return _check
