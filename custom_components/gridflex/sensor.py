"""Sensors of the site: status, upstream status and last successful sync."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import GridFlexConfigEntry, SiteSnapshot
from .entity import GridFlexSiteEntity
from .platforms.base import Capabilities
from .platforms.models import SiteStatus, UpstreamStatus

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class GridFlexSiteSensorDescription(SensorEntityDescription):
    """Describes a sensor of the site."""

    value_fn: Callable[[SiteSnapshot], str | datetime | None]
    exists_fn: Callable[[Capabilities], bool] = lambda _: True


SITE_SENSORS: tuple[GridFlexSiteSensorDescription, ...] = (
    GridFlexSiteSensorDescription(
        key="site_status",
        translation_key="site_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in SiteStatus],
        value_fn=lambda snapshot: snapshot.site.status,
        exists_fn=lambda capabilities: capabilities.site_status,
    ),
    GridFlexSiteSensorDescription(
        key="upstream_status",
        translation_key="upstream_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in UpstreamStatus],
        value_fn=lambda snapshot: snapshot.site.upstream_status,
        exists_fn=lambda capabilities: capabilities.upstream_status,
    ),
    GridFlexSiteSensorDescription(
        key="last_sync",
        translation_key="last_sync",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda snapshot: snapshot.synced_at,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's sensors the platform has data for."""
    coordinator = entry.runtime_data.site_coordinator
    capabilities = entry.runtime_data.client.capabilities
    async_add_entities(
        GridFlexSiteSensor(coordinator, description)
        for description in SITE_SENSORS
        if description.exists_fn(capabilities)
    )


class GridFlexSiteSensor(GridFlexSiteEntity, SensorEntity):
    """A sensor of the site."""

    entity_description: GridFlexSiteSensorDescription

    @property
    def native_value(self) -> str | datetime | None:
        """Return the value read from the latest snapshot."""
        return self.entity_description.value_fn(self.coordinator.data)
