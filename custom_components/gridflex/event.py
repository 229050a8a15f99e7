"""The grid event entity: the lifecycle of grid events, for automations."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GridFlexConfigEntry
from .entity import site_device_info
from .event_coordinator import EVENT_TYPES, SIGNAL_GRID_EVENT

PARALLEL_UPDATES = 0

GRID_EVENT = EventEntityDescription(
    key="grid_event", translation_key="grid_event", event_types=EVENT_TYPES
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the grid event entity where the platform sends grid events."""
    if entry.runtime_data.event_coordinator is not None:
        async_add_entities([GridEventEntity(entry)])


class GridEventEntity(EventEntity):
    """Fires when a grid event is received, starts, ends or is declined.

    Its types are ``EVENT_TYPES``: LPC events (received, started, ended,
    declined), announced LPCs (``lpc_reservation_received``), activations
    and price curves.
    """

    _attr_has_entity_name = True
    entity_description = GRID_EVENT

    def __init__(self, entry: GridFlexConfigEntry) -> None:
        """Attach the entity to the site device."""
        self._entry_id = entry.entry_id
        self._attr_unique_id = f"{entry.unique_id}_grid_event"
        self._attr_device_info = site_device_info(entry)

    async def async_added_to_hass(self) -> None:
        """Listen for the lifecycle of grid events."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, SIGNAL_GRID_EVENT.format(self._entry_id), self._handle
            )
        )

    @callback
    def _handle(self, kind: str, payload: dict[str, Any]) -> None:
        self._trigger_event(kind, payload)
        self.async_write_ha_state()
