"""Actions of the "keep under limit" controller: set and clear a manual limit."""

from __future__ import annotations

from datetime import datetime

from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import probatio as vol

from .const import DOMAIN
from .load_control import LimitController
from .service_entry import loaded_entry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_LIMIT_KW = "limit_kw"
ATTR_UNTIL = "until"

SET_LIMIT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_LIMIT_KW): vol.All(vol.Coerce(float), vol.Range(min=0)),
        vol.Required(ATTR_UNTIL): cv.datetime,
    }
)
CLEAR_LIMIT_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


def _controller(hass: HomeAssistant, call: ServiceCall) -> LimitController:
    """Return the limit controller of the call's loaded entry."""
    entry = loaded_entry(call)
    if entry.runtime_data.limit_controller is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"site": entry.title},
        )
    return entry.runtime_data.limit_controller


async def _set_power_limit(call: ServiceCall) -> None:
    controller = _controller(call.hass, call)
    until: datetime = call.data[ATTR_UNTIL]
    if until.tzinfo is None:
        # A time without a zone is Home Assistant's local time.
        until = until.replace(tzinfo=dt_util.get_default_time_zone())
    until = dt_util.as_utc(until)
    if until <= dt_util.utcnow():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="limit_until_past",
            translation_placeholders={"until": until.isoformat()},
        )
    await controller.async_set_manual_limit(call.data[ATTR_LIMIT_KW], until)


async def _clear_power_limit(call: ServiceCall) -> None:
    await _controller(call.hass, call).async_clear_manual_limit()


@callback
def async_setup_limit_services(hass: HomeAssistant) -> None:
    """Register ``set_power_limit`` and ``clear_power_limit``."""
    hass.services.async_register(
        DOMAIN, "set_power_limit", _set_power_limit, SET_LIMIT_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, "clear_power_limit", _clear_power_limit, CLEAR_LIMIT_SCHEMA
    )
