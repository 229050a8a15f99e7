"""The config entry an action names: it must be a loaded GridFlex entry."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import ServiceCall
from homeassistant.exceptions import ServiceValidationError

from .const import DOMAIN
from .coordinator import GridFlexConfigEntry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"


def loaded_entry(call: ServiceCall) -> GridFlexConfigEntry:
    """Return the loaded GridFlex entry of the call's ``config_entry_id``.

    Raises:
        ServiceValidationError: no GridFlex entry has that id, or it is not
            loaded (translated, with the id or the site's name).

    """
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: GridFlexConfigEntry | None = call.hass.config_entries.async_get_entry(
        entry_id
    )
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_entry",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"site": entry.title},
        )
    return entry
