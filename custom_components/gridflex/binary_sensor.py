"""Binary sensors: platform reachable, stream connected, LPC or activation in force."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .const import SIGNAL_RESOURCE_ADDED
from .coordinator import GridFlexConfigEntry
from .entity import (
    GridFlexMeterEntity,
    GridFlexResourceActivationEntity,
    GridFlexResourceEventEntity,
    GridFlexResourceLpcEntity,
    GridFlexSiteEntity,
    site_device_info,
)
from .event_coordinator import GridEventCoordinator
from .limit_entities import LimitControlEntity
from .programme_entities import programme_binary_sensors
from .resources import is_group, resource_subentries

PARALLEL_UPDATES = 0

REACHABLE = BinarySensorEntityDescription(
    key="platform_reachable",
    translation_key="platform_reachable",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


STREAM_CONNECTED = BinarySensorEntityDescription(
    key="stream_connected",
    translation_key="stream_connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's binary sensors and each resource's LPC or activation sensor."""
    async_add_entities(
        [PlatformReachableSensor(entry.runtime_data.site_coordinator, REACHABLE)]
    )
    meter = entry.runtime_data.meter
    if meter is not None and meter.streams:
        async_add_entities([StreamConnectedSensor(entry, STREAM_CONNECTED)])
    if entry.runtime_data.limit_controller is not None:
        async_add_entities([LimitExceededSensor(entry)])
    # Eligible and enrolled (platforms with a programme only).
    async_add_entities(programme_binary_sensors(entry))
    events = entry.runtime_data.event_coordinator
    if events is None:
        return
    # LPC events where the platform sends them, else activations (Powernaut).
    resource_sensor: type[GridFlexResourceEventEntity]
    if entry.runtime_data.client.capabilities.lpc_events:
        async_add_entities([LpcActiveSensor(events, entry)])
        resource_sensor = ResourceLpcActiveSensor
    else:
        async_add_entities([ActivationActiveSensor(events, entry)])
        resource_sensor = ResourceActivationActiveSensor

    @callback
    def add_resource(subentry: ConfigSubentry) -> None:
        # Resource LPC events and activations target resources, never groups.
        if is_group(subentry):
            return
        async_add_entities(
            [resource_sensor(events, subentry)],
            config_subentry_id=subentry.subentry_id,
        )

    for subentry in resource_subentries(entry).values():
        add_resource(subentry)
    entry.async_on_unload(
        async_dispatcher_connect(
            hass, SIGNAL_RESOURCE_ADDED.format(entry.entry_id), add_resource
        )
    )


class PlatformReachableSensor(GridFlexSiteEntity, BinarySensorEntity):
    """On while the platform answers; stays available to say when it does not."""

    @property
    def available(self) -> bool:
        """Always available: being unreachable is what this sensor reports."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether the latest poll got an answer from the platform.

        Off only when the platform could not be reached (no connection,
        timeout, 5xx). A 429, refused credentials (reauth) or an answer
        GridFlex cannot use came from the platform: it is reachable.
        """
        return self.coordinator.platform_reachable


class StreamConnectedSensor(GridFlexMeterEntity, BinarySensorEntity):
    """On while the measurement stream is connected to the platform's broker."""

    @property
    def is_on(self) -> bool:
        """Return whether the stream is connected."""
        return self.meter.connected


class LpcActiveSensor(CoordinatorEntity[GridEventCoordinator], BinarySensorEntity):
    """On while a limitation of the site's power (LocationLPC) is in force."""

    _attr_has_entity_name = True
    _attr_translation_key = "lpc_active"

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Attach the sensor to the site device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{entry.unique_id}_lpc_active"
        self._attr_device_info = site_device_info(entry)

    @property
    def available(self) -> bool:
        """Known events stay in force while the platform is unreachable."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether a window of the site is in force now."""
        return self.coordinator.active_window(dt_util.utcnow()) is not None


class ResourceLpcActiveSensor(GridFlexResourceLpcEntity, BinarySensorEntity):
    """On while a limitation of one resource's power (ResourceLPC) is in force."""

    _attr_translation_key = "lpc_active"

    @property
    def is_on(self) -> bool:
        """Return whether a window for this resource is in force now."""
        return self.active_window() is not None


class ActivationActiveSensor(
    CoordinatorEntity[GridEventCoordinator], BinarySensorEntity
):
    """On while an activation of any of the site's resources is in force."""

    _attr_has_entity_name = True
    _attr_translation_key = "activation_active"

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Attach the sensor to the site device."""
        super().__init__(coordinator)
        self._attr_unique_id = f"{entry.unique_id}_activation_active"
        self._attr_device_info = site_device_info(entry)

    @property
    def available(self) -> bool:
        """Known activations stay in force while the platform is unreachable."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether an activation is in force now."""
        return bool(self.coordinator.active_activations(dt_util.utcnow()))


class ResourceActivationActiveSensor(
    GridFlexResourceActivationEntity, BinarySensorEntity
):
    """On while an activation of one resource is in force."""

    _attr_translation_key = "activation_active"

    @property
    def is_on(self) -> bool:
        """Return whether an activation of this resource is in force now."""
        return self.active_activation() is not None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return how GridFlex carries the activations out on the mapped control."""
        executor = self.coordinator.config_entry.runtime_data.activation_executor
        if executor is None:
            return None
        return executor.state_of(self._subentry_id) or None


class LimitExceededSensor(LimitControlEntity, BinarySensorEntity):
    """On while the metered import is above the site's limit."""

    _attr_translation_key = "limit_exceeded"
    _attr_device_class = BinarySensorDeviceClass.PROBLEM

    @property
    def is_on(self) -> bool:
        """Return whether the import is above the limit now."""
        return self.controller.exceeded
