"""Grid events: one persisted, deduplicated store, and the lifecycle around it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN
from .platforms.models import GridEvent, GridEventKind, LimitWindow, PricePoint

STORAGE_VERSION = 1

LPC_KINDS = frozenset({GridEventKind.LPC})


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
    )


class GridEventStore:
    """The site's grid events by id, with what GridFlex has done about each.

    Fed by polling and by push alike; an event is stored once, whichever way
    it arrives first. Acknowledgements and energy reports are recorded here,
    on disk, as soon as the platform accepted them, so an event is not
    acknowledged or reported twice, also across restarts.
    """

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Prepare the store of one config entry."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.grid_events"
        )
        self.events: dict[str, GridEvent] = {}
        self.acknowledged: set[str] = set()
        self.reported: set[str] = set()

    async def async_load(self) -> None:
        """Read the events and acknowledgements of earlier runs."""
        if stored := await self._store.async_load():
            self.events = {
                event_id: event_from_dict(data)
                for event_id, data in stored.get("events", {}).items()
            }
            self.acknowledged = set(stored.get("acknowledged", ()))
            self.reported = set(stored.get("reported", ()))

    async def async_save(self) -> None:
        """Write the store now (acknowledgements must not be lost)."""
        await self._store.async_save(
            {
                "events": {k: event_to_dict(v) for k, v in self.events.items()},
                "acknowledged": sorted(self.acknowledged),
                "reported": sorted(self.reported),
            }
        )

    def known(self, event_id: str) -> bool:
        """Return whether the event was seen before."""
        return event_id in self.events

    def add(self, events: list[GridEvent]) -> list[GridEvent]:
        """Store the events not seen before; return those."""
        new = [event for event in events if event.event_id not in self.events]
        for event in new:
            self.events[event.event_id] = event
        return new

    def sorted_events(
        self, predicate: Callable[[GridEvent], bool] = lambda _: True
    ) -> list[GridEvent]:
        """Return the stored events with windows, by start."""
        return sorted(
            (e for e in self.events.values() if e.windows and predicate(e)),
            key=lambda e: e.windows[0].start,
        )
