"""Resources: resource subentries are the truth; the platform copy follows them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .const import (
    CONF_CAPACITY,
    CONF_EXTERNAL_ID,
    CONF_GROUP,
    CONF_KEPT_RESOURCES,
    CONF_POWER_MAX,
    CONF_POWER_MIN,
    CONF_RESOLUTION,
    CONF_RESOURCE_ID,
    CONF_RESOURCE_TYPE,
    CONF_SITE_ID,
    DOMAIN,
    LOGGER,
    SIGNAL_RESOURCE_ADDED,
    SUBENTRY_RESOURCE,
)
from .entity import site_device_info
from .issues import async_sync_orphan_issues, resource_type_name
from .platforms.errors import GridFlexError, GridFlexNotFoundError
from .platforms.models import ResourceSpec, ResourceType

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry
    from .platforms import FlexPlatform


def resource_subentries(entry: GridFlexConfigEntry) -> dict[str, ConfigSubentry]:
    """Return the entry's resource subentries by subentry id."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_RESOURCE
    }


def resource_device_identifier(entry_id: str, subentry_id: str) -> tuple[str, str]:
    """Return the device identifier of a resource."""
    return (DOMAIN, f"{entry_id}_{subentry_id}")


def is_group(subentry: ConfigSubentry) -> bool:
    """Return whether the resource is a group of other resources."""
    return bool(subentry.data[CONF_RESOURCE_TYPE] == ResourceType.GROUP)


def build_spec(
    entry: GridFlexConfigEntry,
    data: Mapping[str, Any],
    name: str,
    *,
    group_resource_id: str | None = None,
) -> ResourceSpec:
    """Translate resource subentry data into what the platform is asked to hold.

    Quantities are stored as decimal strings and become ``Decimal`` here, so
    7.4 kW reaches the platform as exactly "7.4".
    """
    if group_resource_id is None and (group := data.get(CONF_GROUP)):
        group_subentry = entry.subentries.get(group)
        group_resource_id = (
            group_subentry.data.get(CONF_RESOURCE_ID) if group_subentry else None
        )
    capacity = data.get(CONF_CAPACITY)
    return ResourceSpec(
        name=name,
        type=ResourceType(data[CONF_RESOURCE_TYPE]),
        power_minimum_kw=Decimal(data[CONF_POWER_MIN]),
        power_maximum_kw=Decimal(data[CONF_POWER_MAX]),
        capacity_kwh=Decimal(capacity) if capacity is not None else None,
        group_id=group_resource_id,
        external_id=data[CONF_EXTERNAL_ID],
        resolution_minutes=int(data.get(CONF_RESOLUTION, 15)),
    )


async def async_reconcile(
    hass: HomeAssistant, entry: GridFlexConfigEntry, client: FlexPlatform
) -> None:
    """Recreate resources the platform lost; report the ones no subentry knows.

    Groups go first so that members can point at their group's new id.
    """
    site_id = entry.data[CONF_SITE_ID]
    listed = {r.resource_id: r for r in await client.list_resources(site_id)}
    on_platform = set(listed)
    subentries = sorted(
        resource_subentries(entry).values(), key=lambda s: not is_group(s)
    )
    known: set[str] = set()
    for subentry in subentries:
        resource_id = subentry.data.get(CONF_RESOURCE_ID)
        if resource_id in on_platform:
            known.add(resource_id)
            continue
        LOGGER.warning(
            "Resource %s is missing on the platform; creating it again",
            subentry.title,
        )
        created = await client.create_resource(
            site_id, build_spec(entry, subentry.data, subentry.title)
        )
        known.add(created.resource_id)
        hass.config_entries.async_update_subentry(
            entry,
            subentry,
            data={**subentry.data, CONF_RESOURCE_ID: created.resource_id},
            unique_id=created.resource_id,
        )
    kept = set(entry.data.get(CONF_KEPT_RESOURCES, ()))
    async_sync_orphan_issues(
        hass, entry, [listed[r] for r in sorted(on_platform - known - kept)]
    )


@callback
def async_ensure_devices(hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
    """Register the site device and one device per resource, linked to the site."""
    registry = dr.async_get(hass)
    site_device = registry.async_get_or_create(
        config_entry_id=entry.entry_id, **site_device_info(entry)
    )
    entry.runtime_data.site_device_id = site_device.id
    for subentry_id, subentry in resource_subentries(entry).items():
        device = registry.async_get_device_by_identifier(
            resource_device_identifier(entry.entry_id, subentry_id), entry.entry_id
        )
        # Device models have no translation key in Home Assistant (only names
        # do), so the model is the type's name in the server's language.
        model = resource_type_name(hass, subentry.data[CONF_RESOURCE_TYPE])
        if device is None:
            registry.async_get_or_create(
                config_entry_id=entry.entry_id,
                config_subentry_id=subentry_id,
                identifiers={resource_device_identifier(entry.entry_id, subentry_id)},
                name=subentry.title,
                manufacturer=entry.runtime_data.client.capabilities.display_name
                or None,
                model=model,
                via_device_id=site_device.id,
            )
        elif device.name != subentry.title or device.model != model:
            # Also replaces the raw type key earlier versions stored as model.
            registry.async_update_device(device.id, name=subentry.title, model=model)


async def async_entry_updated(hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
    """Follow changes to the entry: reload on new data, track resource subentries."""
    runtime = entry.runtime_data
    if dict(entry.data) != runtime.data or dict(entry.options) != runtime.options:
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    current = resource_subentries(entry)
    for subentry_id in runtime.subentries.keys() - current.keys():
        removed = runtime.subentries[subentry_id]
        await _async_delete_on_platform(entry, removed)
    async_ensure_devices(hass, entry)
    for subentry_id in current.keys() - runtime.subentries.keys():
        async_dispatcher_send(
            hass, SIGNAL_RESOURCE_ADDED.format(entry.entry_id), current[subentry_id]
        )
    changed = runtime.subentries != current
    runtime.subentries = current
    if changed and runtime.meter is not None:
        await runtime.meter.async_restart()
    await runtime.site_coordinator.async_request_refresh()


async def _async_delete_on_platform(
    entry: GridFlexConfigEntry, subentry: ConfigSubentry
) -> None:
    """Delete a removed resource on the platform; what fails becomes an orphan."""
    resource_id = subentry.data.get(CONF_RESOURCE_ID)
    if not resource_id:
        return
    try:
        await entry.runtime_data.client.delete_resource(
            entry.data[CONF_SITE_ID], resource_id
        )
    except GridFlexNotFoundError:
        LOGGER.debug("Resource %s was already gone on the platform", subentry.title)
    except GridFlexError as err:
        # Not lost: the next setup finds it and raises an orphan repair issue.
        LOGGER.warning(
            "Could not delete resource %s on the platform (%s); "
            "it will be offered for deletion after the next restart",
            subentry.title,
            err,
        )
    else:
        LOGGER.info("Resource %s deleted on the platform", subentry.title)
