"""Diagnostics for GridFlex, with every secret and personal detail redacted."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import (
    CONF_ADDRESS,
    CONF_EDGE_CREDENTIALS,
    CONF_GRID_IDENTIFIER,
    CONF_INJECTION_GRID_IDENTIFIER,
    CONF_LATITUDE,
    CONF_LONGITUDE,
    CONF_RESOURCE_ID,
    CONF_SITE_NAME,
)
from .coordinator import GridFlexConfigEntry, GridFlexRuntimeData
from .resources import resource_subentries

TO_REDACT = {
    "client_id",
    "client_secret",
    "email",
    "password",
    "access_token",
    "token",
    "key",
    "secret",
    CONF_EDGE_CREDENTIALS,
    CONF_GRID_IDENTIFIER,
    CONF_INJECTION_GRID_IDENTIFIER,
    CONF_ADDRESS,
    CONF_LATITUDE,
    CONF_LONGITUDE,
    "unique_id",
    "title",
    "site_id",
    "webhook_id",
    "webhook_secret",
    "webhook_url",
    "platform_webhook_id",
    "webhook_resources",
    CONF_SITE_NAME,
    CONF_RESOURCE_ID,
    "external_id",
    "sensor_id",
    "location_id",
    "meter_point_ids",
    "meter_points",
    "enrollment_id",
}


def _grid_events(runtime: GridFlexRuntimeData) -> dict[str, Any] | None:
    """The event ledger: what was received and what the platform was told."""
    if (events := runtime.event_coordinator) is None:
        return None
    ledger = events.ledger
    return {
        "last_poll": ledger.last_poll.isoformat() if ledger.last_poll else None,
        "events": [
            {
                "event_id": event.event_id,
                "kind": event.kind.value,
                "raw_type": event.raw_type,
                "start": event.start.isoformat() if event.start else None,
                "end": event.end.isoformat() if event.end else None,
                "resources": len(event.resource_ids),
                "received_at": ledger.received_at.get(event.event_id),
                "answer": ledger.outcome(event.event_id, "answer"),
                "plan": ledger.outcome(event.event_id, "plan"),
                "report": ledger.outcome(event.event_id, "report"),
            }
            for event in sorted(ledger.events.values(), key=lambda e: e.created_at)
        ],
        "invalid": ledger.invalid,
        "limit_stats": ledger.limit_stats,
    }


def _resources(runtime: GridFlexRuntimeData, entry: GridFlexConfigEntry) -> list[Any]:
    """The resource subentries, with what the platform last said of each."""
    snapshot = runtime.site_coordinator.data
    resources = []
    for subentry_id, subentry in resource_subentries(entry).items():
        on_platform = (
            snapshot.resources.get(subentry.data.get(CONF_RESOURCE_ID, ""))
            if snapshot
            else None
        )
        resources.append(
            {
                "subentry_id": subentry_id,
                "title": subentry.title,
                "data": dict(subentry.data),
                "status": on_platform.status if on_platform else None,
                "health": dict(on_platform.health) if on_platform else None,
            }
        )
    return resources


def _devices(hass: HomeAssistant, entry: GridFlexConfigEntry) -> list[Any]:
    """The entry's devices, names redacted (the site's and resources' names)."""
    return [
        {
            "name": REDACTED if device.name else None,
            "name_by_user": REDACTED if device.name_by_user else None,
            "manufacturer": device.manufacturer,
            "model": device.model,
            "config_subentry_id": device.config_subentry_id,
            "disabled": device.disabled,
        }
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
    ]


def _outbox(runtime: GridFlexRuntimeData) -> dict[str, Any] | None:
    """What waits for delivery: intervals per platform sensor and the oldest."""
    if (meter := runtime.meter) is None or (outbox := meter.outbox) is None:
        return None
    # The outbox has no public view of its queue (outbox.py is not ours to
    # change here); read it without touching it.
    targets = outbox._targets  # noqa: SLF001
    return {
        "queued": outbox.queued,
        "dropped": outbox.dropped,
        "delivered": outbox.delivered,
        "last_delivery": (
            outbox.last_delivery.isoformat() if outbox.last_delivery else None
        ),
        "sensors": [
            {
                "sensor_id": sensor_id,
                "resolution_minutes": target["resolution"],
                "queued": len(target["points"]),
                "oldest": target["points"][0][0] if target["points"] else None,
            }
            for sensor_id, target in targets.items()
        ],
    }


def _programme(runtime: GridFlexRuntimeData) -> dict[str, Any] | None:
    """The latest read of compensation, eligibility and enrollment."""
    if (programme := runtime.programme_coordinator) is None:
        return None
    status = programme.data
    if status is None:
        return {"last_update_success": programme.last_update_success}
    location = status.location
    compensation = status.compensation
    return {
        "last_update_success": programme.last_update_success,
        "read_at": status.read_at.isoformat(),
        "period_start": _iso(compensation.period_start),
        "period_end": _iso(compensation.period_end),
        "locations_listed": len(compensation.locations),
        "compensation": None
        if location is None
        else {
            "location_id": location.location_id,
            "meter_point_ids": list(location.meter_point_ids),
            "active_amount": str(location.active_amount),
            "blocked_amount": str(location.blocked_amount),
            "currency": location.currency,
            "problems": [problem.kind for problem in location.problems],
        },
        "user_eligible": status.eligibility.user_eligible,
        "meter_points": dict(status.eligibility.meter_points),
        "enrolled": status.enrollment.enrolled,
        "enrollment_id": status.enrollment.enrollment_id,
        "enrolled_at": _iso(status.enrollment.enrolled_at),
    }


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: GridFlexConfigEntry
) -> dict[str, Any]:
    """Return the entry, the platform's capabilities and the latest site state."""
    runtime = entry.runtime_data
    coordinator = runtime.site_coordinator
    snapshot = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "capabilities": asdict(runtime.client.capabilities),
            "site": asdict(snapshot.site) if snapshot else None,
            "synced_at": snapshot.synced_at.isoformat() if snapshot else None,
            "last_update_success": coordinator.last_update_success,
            "last_error_kind": coordinator.last_error_kind,
            "platform_reachable": coordinator.platform_reachable,
            "resources": _resources(runtime, entry),
            "devices": _devices(hass, entry),
            "outbox": _outbox(runtime),
            "grid_events": _grid_events(runtime),
            "baselines": (
                baselines.diagnostics()
                if (baselines := runtime.baseline_coordinator) is not None
                else None
            ),
            "bids": (
                dict(bids.diagnostics())
                if (bids := runtime.bid_manager) is not None
                else None
            ),
            "activation_control": (
                executor.diagnostics()
                if (executor := runtime.activation_executor) is not None
                else None
            ),
            "programme": _programme(runtime),
            "limit_control": (
                controller.diagnostics()
                if (controller := runtime.limit_controller) is not None
                else None
            ),
            "meter": (
                {
                    "streams": meter.streams,
                    "uploads": meter.uploads,
                    "stream_connected": meter.connected,
                    "sent": meter.sent,
                    "queued": meter.queued,
                    "dropped": meter.dropped,
                    "skipped": meter.skipped,
                }
                if (meter := runtime.meter) is not None
                else None
            ),
        },
        TO_REDACT,
    )
