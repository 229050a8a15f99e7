"""Actions: answer, report, list and simulate grid events."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import probatio as vol

from .const import CONF_ENVIRONMENT, CONF_GRID_ENERGY_ENTITY, CONF_SITE_ID, DOMAIN
from .coordinator import GridFlexConfigEntry
from .event_coordinator import GridEventCoordinator
from .grid_events import LPC_KINDS, event_to_dict
from .platforms.errors import GridFlexError
from .platforms.models import Environment

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_EVENT_ID = "event_id"

ENTRY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
EVENT_SCHEMA = ENTRY_SCHEMA.extend({vol.Required(ATTR_EVENT_ID): cv.string})


def _events(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[GridFlexConfigEntry, GridEventCoordinator]:
    """Return the loaded entry of the call and its grid events."""
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: GridFlexConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_entry",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"site": entry.title},
        )
    if (events := entry.runtime_data.event_coordinator) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_grid_events",
            translation_placeholders={"site": entry.title},
        )
    return entry, events


def _lpc_event_id(events: GridEventCoordinator, call: ServiceCall) -> str:
    event_id = call.data[ATTR_EVENT_ID]
    event = events.store.events.get(event_id)
    if event is None or event.kind not in LPC_KINDS:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_event",
            translation_placeholders={"event_id": event_id},
        )
    return str(event_id)


def _platform_error(err: GridFlexError) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="platform_refused",
        translation_placeholders={"error": str(err) or type(err).__name__},
    )


async def _answer(hass: HomeAssistant, call: ServiceCall, *, accept: bool) -> None:
    _entry, events = _events(hass, call)
    event_id = _lpc_event_id(events, call)
    try:
        await events.async_answer(event_id, accept=accept)
    except GridFlexError as err:
        raise _platform_error(err) from err


async def _acknowledge(call: ServiceCall) -> None:
    await _answer(call.hass, call, accept=True)


async def _decline(call: ServiceCall) -> None:
    await _answer(call.hass, call, accept=False)


async def _send_report(call: ServiceCall) -> ServiceResponse:
    entry, events = _events(call.hass, call)
    event_id = _lpc_event_id(events, call)
    event = events.store.events[event_id]
    if not entry.options.get(CONF_GRID_ENERGY_ENTITY):
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_energy_sensor"
        )
    if event.end is None or event.end > dt_util.utcnow():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="event_not_ended",
            translation_placeholders={"event_id": event_id},
        )
    try:
        hours = await events.async_report_now(event_id)
    except GridFlexError as err:
        raise _platform_error(err) from err
    return {"event_id": event_id, "hours": hours}


async def _list(call: ServiceCall) -> ServiceResponse:
    _entry, events = _events(call.hass, call)
    return {
        "events": [
            {
                **event_to_dict(event),
                "acknowledged": event.event_id in events.store.acknowledged,
                "reported": event.event_id in events.store.reported,
            }
            for event in sorted(
                events.store.events.values(), key=lambda e: e.created_at
            )
        ]
    }


async def _simulate(call: ServiceCall) -> None:
    entry, events = _events(call.hass, call)
    if entry.data[CONF_ENVIRONMENT] == Environment.PRODUCTION:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="simulation_sandbox_only"
        )
    client: Any = entry.runtime_data.client
    try:
        await client.simulate_lpc_event(entry.data[CONF_SITE_ID])
    except GridFlexError as err:
        raise _platform_error(err) from err
    await events.async_request_refresh()


async def _trigger_schedule(call: ServiceCall) -> None:
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: GridFlexConfigEntry | None = call.hass.config_entries.async_get_entry(
        entry_id
    )
    if (
        entry is None
        or entry.domain != DOMAIN
        or entry.state is not ConfigEntryState.LOADED
        or (schedules := entry.runtime_data.schedule_coordinator) is None
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_schedules",
            translation_placeholders={"entry_id": entry_id},
        )
    await schedules.async_refresh()
    if not schedules.last_update_success:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="platform_refused",
            translation_placeholders={"error": str(schedules.last_exception)},
        )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register GridFlex's actions."""
    hass.services.async_register(
        DOMAIN, "acknowledge_event", _acknowledge, EVENT_SCHEMA
    )
    hass.services.async_register(DOMAIN, "decline_event", _decline, EVENT_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        "send_energy_report",
        _send_report,
        EVENT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        "list_grid_events",
        _list,
        ENTRY_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(DOMAIN, "simulate_lpc_event", _simulate, ENTRY_SCHEMA)
    hass.services.async_register(
        DOMAIN, "trigger_schedule", _trigger_schedule, ENTRY_SCHEMA
    )
