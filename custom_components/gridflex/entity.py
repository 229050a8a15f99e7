"""The base entity every GridFlex entity builds on."""

from __future__ import annotations

from homeassistant.config_entries import ConfigSubentry
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_RESOURCE_ID, DOMAIN
from .coordinator import GridFlexConfigEntry, SiteCoordinator
from .platforms.models import Resource


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
