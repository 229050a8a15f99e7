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

from .const import CONF_ENVIRONMENT, CONF_SITE_ID, DOMAIN
from .coordinator import GridFlexConfigEntry
from .event_coordinator import GridEventCoordinator
from .event_worker import NothingToReportError, ReportIncompleteError
from .grid_events import LPC_KINDS, event_to_dict
from .ledger import DONE, EXPIRED, GIVEN_UP, HISTORY, SENDING, UNKNOWN, AlreadyDoneError
from .limit_services import async_setup_limit_services
from .platforms.errors import GridFlexError
from .platforms.models import Environment
from .programme_services import async_setup_programme_services
from .service_entry import loaded_entry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_EVENT_ID = "event_id"
ATTR_ALLOW_MISSING_HOURS = "allow_missing_hours"

ENTRY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
EVENT_SCHEMA = ENTRY_SCHEMA.extend({vol.Required(ATTR_EVENT_ID): cv.string})
REPORT_SCHEMA = EVENT_SCHEMA.extend(
    {vol.Optional(ATTR_ALLOW_MISSING_HOURS, default=False): cv.boolean}
)


def _events(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[GridFlexConfigEntry, GridEventCoordinator]:
    """Return the loaded entry of the call and its grid events."""
    entry = loaded_entry(call)
    if (events := entry.runtime_data.event_coordinator) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_grid_events",
            translation_placeholders={"site": entry.title},
        )
    return entry, events


def _lpc_event_id(events: GridEventCoordinator, call: ServiceCall) -> str:
    event_id = call.data[ATTR_EVENT_ID]
    event = events.ledger.events.get(event_id)
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


def _refuse(key: str, event_id: str, outcome: dict[str, Any] | None) -> None:
    """Refuse an action that would send a message a second time."""
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={
            "event_id": event_id,
            "at": str((outcome or {}).get("updated_at") or "?"),
        },
    )


def _check_answer(events: GridEventCoordinator, event_id: str, *, accept: bool) -> None:
    """Refuse an answer the platform has (or may have) already."""
    outcome = events.ledger.outcome(event_id, "answer")
    state = None if outcome is None else outcome.get("state")
    if state in (SENDING, UNKNOWN):
        _refuse("answer_pending", event_id, outcome)
    if state == HISTORY:
        _refuse("event_history", event_id, outcome)
    if state != DONE:
        return
    assert outcome is not None
    declined = outcome.get("kind") == "declined"
    if accept:
        _refuse(
            "already_declined" if declined else "already_acknowledged",
            event_id,
            outcome,
        )
    _refuse(
        "already_declined" if declined else "acknowledged_cannot_decline",
        event_id,
        outcome,
    )


async def _answer(hass: HomeAssistant, call: ServiceCall, *, accept: bool) -> None:
    _entry, events = _events(hass, call)
    event_id = _lpc_event_id(events, call)
    _check_answer(events, event_id, accept=accept)
    try:
        result = await events.worker.async_answer(event_id, accept=accept)
    except AlreadyDoneError as err:
        _check_answer(events, event_id, accept=accept)
        raise _platform_error(GridFlexError(str(err))) from err
    if result.error is not None:
        raise _platform_error(result.error) from result.error
    if not accept:
        await events.async_fire_declined(events.ledger.events[event_id])
    events.async_update_listeners()


async def _acknowledge(call: ServiceCall) -> None:
    await _answer(call.hass, call, accept=True)


async def _decline(call: ServiceCall) -> None:
    await _answer(call.hass, call, accept=False)


def _check_report(events: GridEventCoordinator, event_id: str) -> None:
    """Refuse a report the platform has (or may have) already."""
    outcome = events.ledger.outcome(event_id, "report")
    state = None if outcome is None else outcome.get("state")
    if state == DONE:
        _refuse("already_reported", event_id, outcome)
    if state in (SENDING, UNKNOWN):
        _refuse("report_pending", event_id, outcome)
    if state == HISTORY:
        _refuse("event_history", event_id, outcome)
    if state in (GIVEN_UP, EXPIRED):
        _refuse("report_closed", event_id, outcome)


async def _send_report(call: ServiceCall) -> ServiceResponse:
    _entry, events = _events(call.hass, call)
    event_id = _lpc_event_id(events, call)
    event = events.ledger.events[event_id]
    if event.end is None or event.end > dt_util.utcnow():
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="event_not_ended",
            translation_placeholders={"event_id": event_id},
        )
    _check_report(events, event_id)
    try:
        result, hours = await events.worker.async_report(
            event_id, allow_missing=call.data[ATTR_ALLOW_MISSING_HOURS]
        )
    except NothingToReportError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="nothing_to_report",
            translation_placeholders={"event_id": event_id},
        ) from err
    except ReportIncompleteError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="report_incomplete",
            translation_placeholders={
                "event_id": event_id,
                "count": str(len(err.missing)),
                "hours": ", ".join(f"{h:%Y-%m-%dT%H:%M}Z" for h in err.missing[:6]),
            },
        ) from err
    except AlreadyDoneError as err:
        _check_report(events, event_id)
        raise _platform_error(GridFlexError(str(err))) from err
    events.async_update_listeners()
    if result.error is not None:
        raise _platform_error(result.error) from result.error
    return {"event_id": event_id, "hours": hours}


def _outcome(outcome: dict[str, Any] | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    keep = ("state", "kind", "sent_at", "updated_at", "attempts", "resent", "error")
    return {key: outcome[key] for key in keep if key in outcome} | (
        {"platform_id": outcome["platform_id"]} if outcome.get("platform_id") else {}
    )


def _limit_stats(stats: dict[str, float] | None) -> dict[str, Any]:
    """Time and energy above the limit while the limit control was on (else ``None``)."""
    if stats is None:
        return {"minutes_above_limit": None, "kwh_above_limit": None}
    return {
        "minutes_above_limit": round(stats.get("seconds_above", 0.0) / 60, 2),
        "kwh_above_limit": round(stats.get("kwh_above", 0.0), 4),
        "minutes_controlled": round(stats.get("seconds_controlled", 0.0) / 60, 2),
    }


async def _list(call: ServiceCall) -> ServiceResponse:
    _entry, events = _events(call.hass, call)
    ledger = events.ledger
    listed: list[Any] = []
    for event in sorted(ledger.events.values(), key=lambda e: e.created_at):
        answer = ledger.outcome(event.event_id, "answer")
        report = ledger.outcome(event.event_id, "report")
        plan = ledger.outcome(event.event_id, "plan")
        listed.append(
            {
                **event_to_dict(event),
                "valid": True,
                "received_at": ledger.received_at.get(event.event_id),
                "acknowledged": bool(
                    answer
                    and answer.get("state") == DONE
                    and answer.get("kind") == "acknowledged"
                ),
                "declined": ledger.declined(event.event_id),
                "reported": bool(report and report.get("state") == DONE),
                "answer": _outcome(answer),
                "report": _outcome(report),
                "plan": _outcome(plan),
                **_limit_stats(ledger.limit_stats.get(event.event_id)),
            }
        )
    listed.extend(
        {"event_id": event_id, "valid": False, **item}
        for event_id, item in sorted(ledger.invalid.items())
    )
    return {"events": listed}


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
    if not schedules.prices.configured:
        # FlexMeasures would take the trigger and fail the job.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_price_source",
            translation_placeholders={"site": entry.title},
        )
    await schedules.async_trigger_now()
    if not schedules.last_update_success or schedules.errors:
        error = schedules.last_exception if not schedules.last_update_success else None
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="platform_refused",
            translation_placeholders={
                "error": str(error)
                if error is not None
                else "; ".join(schedules.errors.values())
            },
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
        REPORT_SCHEMA,
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
    async_setup_limit_services(hass)
    async_setup_programme_services(hass)
