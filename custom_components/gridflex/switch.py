"""Switch: turn the site's "keep under limit" controller on or off."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .coordinator import GridFlexConfigEntry
from .limit_entities import LimitControlEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's "Limit control" switch."""
    if entry.runtime_data.limit_controller is not None:
        async_add_entities([LimitControlSwitch(entry)])


class LimitControlSwitch(LimitControlEntity, SwitchEntity, RestoreEntity):
    """On: GridFlex curtails the mapped loads to keep the site under the limit.

    Off by default; it keeps its state across restarts.
    """

    _attr_translation_key = "limit_control"

    async def async_added_to_hass(self) -> None:
        """Take the state it had before a restart (off the first time)."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state == STATE_ON:
            await self.controller.async_set_enabled(True)

    @property
    def is_on(self) -> bool:
        """Return whether the controller is on."""
        return self.controller.enabled

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start keeping the site under the limit."""
        await self.controller.async_set_enabled(True)
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop; every load GridFlex holds is handed back."""
        await self.controller.async_set_enabled(False)
        self.async_write_ha_state()
