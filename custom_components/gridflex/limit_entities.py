"""The base of the site's "keep under limit" entities (switch, sensors, binary sensor).

The entities themselves live in their platform modules.
"""

from __future__ import annotations

from homeassistant.helpers.entity import Entity

from .coordinator import GridFlexConfigEntry
from .entity import site_device_info
from .load_control import LimitController


class LimitControlEntity(Entity):
    """An entity of the site device that follows the limit controller."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: GridFlexConfigEntry) -> None:
        """Attach the entity to the site device (its translation key names it)."""
        controller = entry.runtime_data.limit_controller
        assert controller is not None
        self.controller: LimitController = controller
        self._attr_unique_id = f"{entry.unique_id}_{self._attr_translation_key}"
        self._attr_device_info = site_device_info(entry)

    async def async_added_to_hass(self) -> None:
        """Follow the controller's looks."""
        self.async_on_remove(
            self.controller.async_add_listener(self.async_write_ha_state)
        )
