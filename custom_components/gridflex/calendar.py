"""A calendar of the site's grid events: the last 30 days and all upcoming."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .coordinator import GridFlexConfigEntry
from .entity import site_device_info
from .event_coordinator import GridEventCoordinator
from .grid_events import LPC_KINDS

PARALLEL_UPDATES = 0
HISTORY = timedelta(days=30)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the grid event calendar where the platform sends grid events."""
    coordinator = entry.runtime_data.event_coordinator
    if coordinator is not None and entry.runtime_data.client.capabilities.lpc_events:
        async_add_entities([GridEventCalendar(coordinator, entry)])


class GridEventCalendar(CoordinatorEntity[GridEventCoordinator], CalendarEntity):
    """One calendar event per limit window, the limit in its summary."""

    _attr_has_entity_name = True
    _attr_translation_key = "grid_events"

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Attach the calendar to the site device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{entry.unique_id}_grid_events"
        self._attr_device_info = site_device_info(entry)

    def _events(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        oldest = dt_util.utcnow() - HISTORY
        return [
            CalendarEvent(
                start=window.start,
                end=window.end,
                summary=f"LPC {window.max_power_kw} kW",
                description=f"Grid event {event.event_id}",
                uid=f"{event.event_id}_{window.start.isoformat()}",
            )
            for event in self.coordinator.store.sorted_events(
                lambda e: e.kind in LPC_KINDS
            )
            for window in event.windows
            if window.end > max(start, oldest) and window.start < end
        ]

    @property
    def event(self) -> CalendarEvent | None:
        """Return the current or next window."""
        now = dt_util.utcnow()
        upcoming = self._events(now, now + timedelta(days=3650))
        return upcoming[0] if upcoming else None

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """Return the windows between the dates."""
        return self._events(start_date, end_date)
