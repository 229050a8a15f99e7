"""The base entity every GridFlex entity builds on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigSubentry
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .const import CONF_RESOURCE_ID, DOMAIN
from .coordinator import GridFlexConfigEntry, SiteCoordinator
from .platforms.models import GridEvent, LimitWindow, Resource

if TYPE_CHECKING:
    # Imported for types only: the event coordinator reaches this module
    # through resources.py at import time.
    from .event_coordinator import GridEventCoordinator


def site_device_info(entry: GridFlexConfigEntry) -> DeviceInfo:
    """Describe the site device: one per config entry."""
    capabilities = entry.runtime_data.client.capabilities
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer=capabilities.display_name or None,
        model="Site",
        entry_type=DeviceEntryType.SERVICE,
    )


class GridFlexSiteEntity(CoordinatorEntity[SiteCoordinator]):
    """An entity of the site device, fed by the site coordinator."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: SiteCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the site device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.unique_id}_{description.key}"
        self._attr_device_info = site_device_info(entry)


class GridFlexResourceEntity(CoordinatorEntity[SiteCoordinator]):
    """An entity of a resource's device, fed by the site coordinator."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: SiteCoordinator,
        subentry: ConfigSubentry,
        description: EntityDescription,
    ) -> None:
        """Attach the entity to the resource's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._subentry = subentry
        entry = coordinator.config_entry
        self._attr_unique_id = (
            f"{entry.unique_id}_{subentry.subentry_id}_{description.key}"
        )
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}")}
        )

    @property
    def resource(self) -> Resource | None:
        """Return the platform's view of the resource, if it reported one."""
        subentry = self.coordinator.config_entry.subentries.get(
            self._subentry.subentry_id, self._subentry
        )
        resource_id = subentry.data.get(CONF_RESOURCE_ID, "")
        return self.coordinator.data.resources.get(resource_id)


class GridFlexMeterEntity(Entity):
    """An entity of the site device showing how meter data moves."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, entry: GridFlexConfigEntry, description: EntityDescription
    ) -> None:
        """Attach the entity to the site device."""
        assert entry.runtime_data.meter is not None
        self.meter = entry.runtime_data.meter
        self.entity_description = description
        self._attr_unique_id = f"{entry.unique_id}_{description.key}"
        self._attr_device_info = site_device_info(entry)

    async def async_added_to_hass(self) -> None:
        """Follow the meter's figures."""
        self.async_on_remove(self.meter.async_add_listener(self.async_write_ha_state))


class GridFlexResourceEventEntity(CoordinatorEntity["GridEventCoordinator"]):
    """An entity of a resource's device that follows the grid events targeting it.

    Like the site's grid event entities, it stays available while the
    platform is unreachable: the events already known keep their windows.
    Subclasses set ``_attr_translation_key``, which also names the unique id.
    """

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: GridEventCoordinator, subentry: ConfigSubentry
    ) -> None:
        """Attach the entity to the resource's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._subentry_id = subentry.subentry_id
        self._attr_unique_id = (
            f"{entry.unique_id}_{subentry.subentry_id}_{self._attr_translation_key}"
        )
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}")}
        )

    @property
    def available(self) -> bool:
        """Known events stay valid while the platform is unreachable."""
        return True


class GridFlexResourceLpcEntity(GridFlexResourceEventEntity):
    """An entity of a resource's device that follows its ResourceLPC windows."""

    def active_window(self) -> tuple[GridEvent, LimitWindow] | None:
        """Return the ResourceLPC window in force now for this resource."""
        return resource_lpc_window(self.coordinator, self._subentry_id)


class GridFlexResourceActivationEntity(GridFlexResourceEventEntity):
    """An entity of a resource's device that follows its Powernaut activations."""

    def active_activation(self) -> tuple[GridEvent, LimitWindow] | None:
        """Return the activation in force now for this resource."""
        return resource_activation(self.coordinator, self._subentry_id)


def _platform_resource_id(
    coordinator: GridEventCoordinator, subentry_id: str
) -> str | None:
    """Return the platform id of a resource subentry (None without one).

    Read from the current subentry: it changes when the resource had to be
    created again on the platform.
    """
    subentry = coordinator.config_entry.subentries.get(subentry_id)
    resource_id = subentry.data.get(CONF_RESOURCE_ID) if subentry else None
    return str(resource_id) if resource_id else None


def resource_lpc_window(
    coordinator: GridEventCoordinator, subentry_id: str
) -> tuple[GridEvent, LimitWindow] | None:
    """Return the ResourceLPC window in force now for a resource subentry."""
    if (resource_id := _platform_resource_id(coordinator, subentry_id)) is None:
        return None
    return coordinator.active_window(dt_util.utcnow(), resource_id=resource_id)


def resource_activation(
    coordinator: GridEventCoordinator, subentry_id: str
) -> tuple[GridEvent, LimitWindow] | None:
    """Return the activation in force now for a resource subentry."""
    if (resource_id := _platform_resource_id(coordinator, subentry_id)) is None:
        return None
    return coordinator.active_activations(dt_util.utcnow()).get(resource_id)
