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
from .coordinator import GridFlexConfigEntry

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
