"""Device triggers: grid events of the site and of each resource, in the automation editor.

They listen to the ``gridflex_grid_event`` bus event (the event entity's
types). On the site device: the site's LPC events (LocationLPC: received,
started, ended), price curves received, and activations of any of its
resources (started, ended, cancelled), and the site's import going above
its limit (``limit_exceeded``, from the limit control). On a resource device: its own
ResourceLPC events and its own activations. The bus event's data is the
trigger's ``trigger.event.data`` (as for an event trigger).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_PLATFORM, CONF_TYPE
from homeassistant.core import CALLBACK_TYPE, Event, HassJob, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType
import probatio as vol

from .const import CONF_RESOURCE_ID, DOMAIN
from .coordinator import GridFlexConfigEntry
from .event_coordinator import BUS_EVENT
from .resources import is_group, resource_device_identifier, resource_subentries

LPC_TRIGGERS: Final = ("lpc_received", "lpc_started", "lpc_ended")
PRICE_TRIGGERS: Final = ("price_curve_received",)
ACTIVATION_TRIGGERS: Final = (
    "activation_started",
    "activation_ended",
    "activation_cancelled",
)
LIMIT_TRIGGERS: Final = ("limit_exceeded",)
"""The site's metered import went above the limit in force (LPC or manual)."""
TRIGGER_TYPES: Final = (
    *LPC_TRIGGERS,
    *PRICE_TRIGGERS,
    *ACTIVATION_TRIGGERS,
    *LIMIT_TRIGGERS,
)

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)}
)


@dataclass(frozen=True, slots=True)
class DeviceScope:
    """What a GridFlex device stands for: the site, or one resource of it."""

    entry: GridFlexConfigEntry
    subentry_id: str | None = None
    """``None`` for the site device."""

    @property
    def resource_id(self) -> str | None:
        """Return the platform's id of the resource (``None``: site, or unknown)."""
        if self.subentry_id is None:
            return None
        subentry = self.entry.subentries.get(self.subentry_id)
        if subentry is None:
            return None
        return subentry.data.get(CONF_RESOURCE_ID) or None


@callback
def async_device_scope(hass: HomeAssistant, device_id: str) -> DeviceScope | None:
    """Return the site or resource a device is, or ``None`` (not GridFlex's, a group)."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return None
    entry: GridFlexConfigEntry | None = hass.config_entries.async_get_entry(
        device.config_entry_id
    )
    if entry is None or entry.domain != DOMAIN:
        return None
    if (DOMAIN, entry.entry_id) in device.identifiers:
        return DeviceScope(entry)
    for subentry_id, subentry in resource_subentries(entry).items():
        if resource_device_identifier(
            entry.entry_id, subentry_id
        ) in device.identifiers and not is_group(subentry):
            return DeviceScope(entry, subentry_id)
    return None


def available_kinds(scope: DeviceScope) -> tuple[str, ...]:
    """Return what the device's platform announces: LPC events or activations.

    Nothing while the site is not loaded (its platform is not known to answer).
    """
    entry = scope.entry
    if entry.state is not ConfigEntryState.LOADED:
        return ()
    runtime = entry.runtime_data
    limit: tuple[str, ...] = (
        LIMIT_TRIGGERS
        if scope.subentry_id is None and runtime.limit_controller is not None
        else ()
    )
    if runtime.event_coordinator is None:
        return limit
    if runtime.client.capabilities.lpc_events:
        return (
            (*LPC_TRIGGERS, *PRICE_TRIGGERS, *limit)
            if scope.subentry_id is None
            else LPC_TRIGGERS
        )
    return (*ACTIVATION_TRIGGERS, *limit)


async def async_get_triggers(
    hass: HomeAssistant, device_id: str
) -> list[dict[str, str]]:
    """List the triggers of the site device or a resource device."""
    scope = async_device_scope(hass, device_id)
    if scope is None:
        return []
    return [
        {
            CONF_PLATFORM: "device",
            CONF_DOMAIN: DOMAIN,
            CONF_DEVICE_ID: device_id,
            CONF_TYPE: kind,
        }
        for kind in available_kinds(scope)
    ]


def matches(scope: DeviceScope, kind: str, data: Mapping[str, Any]) -> bool:
    """Return whether a grid event concerns the device (site or resource)."""
    if data.get("type") != kind or data.get("entry_id") != scope.entry.entry_id:
        return False
    resource_ids = data.get("resource_ids") or []
    if kind in PRICE_TRIGGERS or kind in LIMIT_TRIGGERS:
        return scope.subentry_id is None
    if kind in ACTIVATION_TRIGGERS:
        return scope.subentry_id is None or data.get("subentry_id") == scope.subentry_id
    # LPC: the site's own limit (LocationLPC), or the resource's (ResourceLPC).
    if scope.subentry_id is None:
        return not resource_ids
    return scope.resource_id is not None and scope.resource_id in resource_ids


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Run the action on each grid event of the device's kind."""
    device_id: str = config[CONF_DEVICE_ID]
    kind: str = config[CONF_TYPE]
    scope = async_device_scope(hass, device_id)
    if scope is None:
        raise InvalidDeviceAutomationConfig(f"Not a GridFlex device: {device_id}")
    trigger_data = trigger_info["trigger_data"]
    job = HassJob(action, f"{DOMAIN} device trigger {kind}")

    @callback
    def _filter(data: Mapping[str, Any]) -> bool:
        return matches(scope, kind, data)

    @callback
    def _handle(event: Event) -> None:
        hass.async_run_hass_job(
            job,
            {
                "trigger": {
                    **trigger_data,
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": device_id,
                    "type": kind,
                    "event": event,
                    "description": f"{DOMAIN} {kind}",
                }
            },
            event.context,
        )

    return hass.bus.async_listen(BUS_EVENT, _handle, event_filter=_filter)
