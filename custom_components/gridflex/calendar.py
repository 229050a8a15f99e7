"""A calendar of the site's grid events: the last 30 days and all upcoming."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from homeassistant.components.calendar import CalendarEntity, CalendarEvent
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .const import CONF_RESOURCE_ID, DOMAIN
from .coordinator import GridFlexConfigEntry
from .entity import site_device_info
from .event_coordinator import GridEventCoordinator
from .grid_events import LPC_KINDS
from .platforms.models import GridEvent, GridEventKind, LimitWindow
from .resources import resource_subentries

PARALLEL_UPDATES = 0
HISTORY = timedelta(days=30)
CALENDAR_KINDS: Final = LPC_KINDS | {GridEventKind.LPC_RESERVATION}

TEXTS: Final = {
    ("message", "lpc"): "LPC",
    ("message", "lpc_reservation"): "LPC reservation",
    ("message", "for_resources"): "for",
    ("message", "declined"): "declined",
    ("description", "grid_event"): "Grid event",
}
"""The English words of summaries and descriptions; the translations hold the others.

A calendar's ``message`` and ``description`` attributes are the summary and
description of its current event, so their translations
(``state_attributes.<attribute>.state``) are where the words live. State texts
take no placeholders (hassfest), so they hold words only and the summary is put
together here: ``LPC 5 kW``, ``LPC 5 kW for Battery``, ``LPC 5 kW (declined)``.
"""


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
    """One calendar event per limit window, the limit in its summary.

    Windows of the site (LocationLPC), of resources (ResourceLPC, with the
    resources' names) and announced ones (LPCReservation) are listed.
    Declined events stay in the calendar, marked as declined: the calendar is
    the record of what the grid asked and how the home answered, and an event
    left out would look as if the grid had asked nothing. The entities that
    say what is in force (Power limit, LPC active) skip declined events.
    """

    _attr_has_entity_name = True
    _attr_translation_key = "grid_events"

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Attach the calendar to the site device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{entry.unique_id}_grid_events"
        self._attr_device_info = site_device_info(entry)

    def _text(self, attribute: str, key: str) -> str:
        """Return a word in Home Assistant's language (else English)."""
        return str(
            self.platform_data.platform_translations.get(
                f"component.{DOMAIN}.entity.calendar.{self._attr_translation_key}"
                f".state_attributes.{attribute}.state.{key}",
                TEXTS[attribute, key],
            )
        )

    def _summary(
        self, event: GridEvent, window: LimitWindow, names: dict[str, str]
    ) -> str:
        kind = (
            "lpc_reservation" if event.kind is GridEventKind.LPC_RESERVATION else "lpc"
        )
        summary = f"{self._text('message', kind)} {window.max_power_kw} kW"
        if event.resource_ids:
            resources = ", ".join(names.get(r, r) for r in event.resource_ids)
            summary = f"{summary} {self._text('message', 'for_resources')} {resources}"
        if self.coordinator.ledger.declined(event.event_id):
            summary = f"{summary} ({self._text('message', 'declined')})"
        return summary

    def _events(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        oldest = dt_util.utcnow() - HISTORY
        # The platform knows a resource by its id; the homeowner by its name.
        names = {
            resource_id: subentry.title
            for subentry in resource_subentries(self.coordinator.config_entry).values()
            if (resource_id := subentry.data.get(CONF_RESOURCE_ID))
        }
        events = [
            CalendarEvent(
                start=window.start,
                end=window.end,
                summary=self._summary(event, window, names),
                description=(
                    f"{self._text('description', 'grid_event')} {event.event_id}"
                ),
                uid=f"{event.event_id}_{window.start.isoformat()}",
            )
            for event in self.coordinator.ledger.sorted_events(
                lambda e: e.kind in CALENDAR_KINDS
            )
            for window in event.windows
            if window.end > max(start, oldest) and window.start < end
        ]
        return sorted(
            events, key=lambda e: (e.start_datetime_local, e.end_datetime_local)
        )

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
