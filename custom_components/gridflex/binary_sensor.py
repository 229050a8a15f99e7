"""Binary sensor telling whether the platform answers."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .coordinator import GridFlexConfigEntry
from .entity import GridFlexMeterEntity, GridFlexSiteEntity, site_device_info
from .event_coordinator import GridEventCoordinator

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
    """Add the platform-reachable sensor."""
    async_add_entities(
        [PlatformReachableSensor(entry.runtime_data.site_coordinator, REACHABLE)]
    )
    events = entry.runtime_data.event_coordinator
    if events is not None and entry.runtime_data.client.capabilities.lpc_events:
        async_add_entities([LpcActiveSensor(events, entry)])
    meter = entry.runtime_data.meter
    if meter is not None and meter.streams:
        async_add_entities([StreamConnectedSensor(entry, STREAM_CONNECTED)])


class PlatformReachableSensor(GridFlexSiteEntity, BinarySensorEntity):
    """On while the platform answers; stays available to say when it does not."""

    @property
    def available(self) -> bool:
        """Always available: being unreachable is what this sensor reports."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether the latest poll reached the platform."""
        return self.coordinator.last_update_success


class StreamConnectedSensor(GridFlexMeterEntity, BinarySensorEntity):
    """On while the measurement stream is connected to the platform's broker."""

    @property
    def is_on(self) -> bool:
        """Return whether the stream is connected."""
        return self.meter.connected


class LpcActiveSensor(CoordinatorEntity[GridEventCoordinator], BinarySensorEntity):
    """On while a limitation of power consumption is in force."""

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
        """Return whether an LPC window is in force now."""
        return self.coordinator.active_window(dt_util.utcnow()) is not None
