"""Diagnostics for GridFlex, with every secret and personal detail redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import (
    CONF_ADDRESS,
    CONF_EDGE_CREDENTIALS,
    CONF_GRID_IDENTIFIER,
    CONF_INJECTION_GRID_IDENTIFIER,
    CONF_LATITUDE,
    CONF_LONGITUDE,
)
from .coordinator import GridFlexConfigEntry, GridFlexRuntimeData

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
                "report": ledger.outcome(event.event_id, "report"),
            }
            for event in sorted(ledger.events.values(), key=lambda e: e.created_at)
        ],
        "invalid": ledger.invalid,
    }


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
            "grid_events": _grid_events(runtime),
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
