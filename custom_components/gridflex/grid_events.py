"""Grid events in Home Assistant's terms: what they carry, and how they are stored."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from .platforms.models import GridEvent, GridEventKind, LimitWindow, PricePoint

LPC_KINDS = frozenset({GridEventKind.LPC})


def is_location_lpc(event: GridEvent) -> bool:
    """Return whether the event limits the whole site (LocationLPC)."""
    return event.kind in LPC_KINDS and not event.resource_ids


def is_resource_lpc(event: GridEvent) -> bool:
    """Return whether the event limits resources of the site (ResourceLPC)."""
    return event.kind in LPC_KINDS and bool(event.resource_ids)


def event_prefix(event: GridEvent) -> str:
    """Return the prefix of the event entity's types for the event."""
    return "activation" if event.kind is GridEventKind.ACTIVATION else "lpc"


def event_payload(
    event: GridEvent, window: LimitWindow | None = None
) -> dict[str, Any]:
    """Return what the event entity and the bus event carry.

    The window's power is ``limit_kw`` for LPC events (a maximum) and
    ``setpoint_kw`` for activations (the power asked for).
    """
    value_key = "setpoint_kw" if event.kind is GridEventKind.ACTIVATION else "limit_kw"
    return {
        "event_id": event.event_id,
        "kind": event.kind.value,
        "raw_type": event.raw_type,
        "resource_ids": list(event.resource_ids),
        value_key: float(window.max_power_kw) if window else None,
        "start": (
            window.start if window else event.start or event.created_at
        ).isoformat(),
        "end": (window.end if window else event.end or event.created_at).isoformat(),
    }


def event_windows(event: GridEvent) -> list[dict[str, Any]]:
    """Return every window of an LPC event: its start, end and limit in kW."""
    return [
        {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "limit_kw": float(window.max_power_kw),
        }
        for window in event.windows
    ]


def event_to_dict(event: GridEvent) -> dict[str, Any]:
    """Return the event as JSON-safe data."""
    data = asdict(event)

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {k: plain(v) for k, v in data.items()}


def event_from_dict(data: dict[str, Any]) -> GridEvent:
    """Rebuild an event stored by ``event_to_dict``."""
    return GridEvent(
        event_id=data["event_id"],
        kind=GridEventKind(data["kind"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        windows=tuple(
            LimitWindow(
                start=datetime.fromisoformat(w["start"]),
                end=datetime.fromisoformat(w["end"]),
                max_power_kw=Decimal(w["max_power_kw"]),
            )
            for w in data.get("windows", ())
        ),
        prices=tuple(
            PricePoint(
                start=datetime.fromisoformat(p["start"]),
                end=datetime.fromisoformat(p["end"]),
                price=Decimal(p["price"]),
            )
            for p in data.get("prices", ())
        ),
        currency=data.get("currency"),
        resource_ids=tuple(data.get("resource_ids", ())),
        meter_point_id=data.get("meter_point_id"),
        raw_type=data.get("raw_type"),
        eligible=data.get("eligible"),
        # Events stored before price curves had an area and unit have neither.
        price_area=data.get("price_area"),
        energy_unit=data.get("energy_unit"),
    )
