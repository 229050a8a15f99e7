"""Resources: resource subentries are the truth; the platform copy follows them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .const import (
    CONF_ADOPT_RESOURCES,
    CONF_CAPACITY,
    CONF_DEVICE_ID,
    CONF_ENERGY_ENTITY,
    CONF_EXTERNAL_ID,
    CONF_GROUP,
    CONF_KEPT_RESOURCES,
    CONF_PLATFORM,
    CONF_POWER_ENTITY,
    CONF_POWER_MAX,
    CONF_POWER_MIN,
    CONF_RESOLUTION,
    CONF_RESOURCE_ID,
    CONF_RESOURCE_TYPE,
    CONF_SITE_ID,
    CONF_SOC_ENTITY,
    DOMAIN,
    ISSUE_UNMAPPED_PREFIX,
    LOGGER,
    SIGNAL_RESOURCE_ADDED,
    SUBENTRY_RESOURCE,
)
from .entity import site_device_info
from .issues import (
    async_replace_issues,
    async_sync_orphan_issues,
    can_take_back,
    orphan_issue_id,
    resource_type_name,
)
from .platforms import capabilities
from .platforms.errors import GridFlexError, GridFlexNotFoundError
from .platforms.models import PlatformKey, Resource, ResourceSpec, ResourceType

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


def resource_data(
    subentries: dict[str, ConfigSubentry],
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Copy the title and data of each resource (to tell changes later)."""
    return {
        subentry_id: (subentry.title, dict(subentry.data))
        for subentry_id, subentry in subentries.items()
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
    webhook_url: str | None = None,
) -> ResourceSpec:
    """Translate resource subentry data into what the platform is asked to hold.

    Quantities are stored as decimal strings and become ``Decimal`` here, so
    7.4 kW reaches the platform as exactly "7.4". ``webhook_url`` is where
    the platform announces accepted bids (groups get none).
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
        external_id=data.get(CONF_EXTERNAL_ID),
        resolution_minutes=int(data.get(CONF_RESOLUTION, 15)),
        webhook_url=None
        if data[CONF_RESOURCE_TYPE] == ResourceType.GROUP
        else webhook_url,
    )


def find_by_external_id(
    resources: Iterable[Resource], external_id: str | None
) -> Resource | None:
    """Return the platform resource carrying GridFlex's key, if any.

    A create whose answer was lost (timeout, dropped connection) may still
    have created the resource: it is found again by the ``external_id``
    GridFlex chose, never created twice.
    """
    if not external_id:
        return None
    return next((r for r in resources if r.external_id == external_id), None)


def resource_label(hass: HomeAssistant, resource: Resource) -> str:
    """Name a platform resource as the homeowner knows it: "Name (type)"."""
    kind = resource_type_name(
        hass, resource.type.value if resource.type else resource.raw_type
    )
    return f"{resource.name or resource.resource_id} ({kind})"


def _taken_back_data(
    entry: GridFlexConfigEntry, resource: Resource, group: str | None
) -> dict[str, Any]:
    """Subentry data for a platform resource; its sensors are left unmapped."""
    assert resource.type is not None
    assert resource.power_minimum_kw is not None
    assert resource.power_maximum_kw is not None
    capacity = resource.capacity_kwh
    data: dict[str, Any] = {
        CONF_RESOURCE_TYPE: resource.type.value,
        CONF_DEVICE_ID: None,
        CONF_POWER_ENTITY: None,
        CONF_ENERGY_ENTITY: None,
        CONF_SOC_ENTITY: None,
        CONF_GROUP: group,
        CONF_POWER_MIN: format(resource.power_minimum_kw, "f"),
        CONF_POWER_MAX: format(resource.power_maximum_kw, "f"),
        CONF_CAPACITY: None if capacity is None else format(capacity, "f"),
        CONF_EXTERNAL_ID: resource.external_id,
        CONF_RESOURCE_ID: resource.resource_id,
    }
    if capabilities(PlatformKey(entry.data[CONF_PLATFORM])).resource_resolution:
        data[CONF_RESOLUTION] = 15
    return data


@callback
def async_take_back(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    chosen: Iterable[Resource],
    listed: Mapping[str, Resource],
) -> list[str]:
    """Make each chosen platform resource a resource subentry again.

    Name, type, limits, capacity and group come from the platform; the
    sensors are for the homeowner to map (Change resource), and a repair
    says so until they are. Groups go first so that members can point at
    them; a resource already in Home Assistant whose platform group is taken
    back joins it. Returns the new subentry ids.
    """
    held = {
        str(subentry.data.get(CONF_RESOURCE_ID)): subentry_id
        for subentry_id, subentry in resource_subentries(entry).items()
    }
    added: list[str] = []
    new_groups: set[str] = set()
    for resource in sorted(chosen, key=lambda r: r.type is not ResourceType.GROUP):
        if resource.resource_id in held or not can_take_back(resource):
            continue
        group = held.get(resource.group_id or "")
        if resource.type is ResourceType.GROUP:
            group = None
            new_groups.add(resource.resource_id)
        subentry = ConfigSubentry(
            data=MappingProxyType(_taken_back_data(entry, resource, group)),
            subentry_type=SUBENTRY_RESOURCE,
            title=resource.name or resource_type_name(hass, resource.type),
            unique_id=resource.resource_id,
        )
        hass.config_entries.async_add_subentry(entry, subentry)
        held[resource.resource_id] = subentry.subentry_id
        added.append(subentry.subentry_id)
        LOGGER.info("Resource %s taken back from the platform", subentry.title)
    for subentry in resource_subentries(entry).values():
        on_platform = listed.get(str(subentry.data.get(CONF_RESOURCE_ID)))
        if (
            on_platform is not None
            and on_platform.group_id in new_groups
            and subentry.data.get(CONF_GROUP) is None
            and not is_group(subentry)
        ):
            hass.config_entries.async_update_subentry(
                entry,
                subentry,
                data={**subentry.data, CONF_GROUP: held[on_platform.group_id]},
            )
    return added


async def async_reconcile(
    hass: HomeAssistant, entry: GridFlexConfigEntry, client: FlexPlatform
) -> None:
    """Recreate resources the platform lost; report the ones no subentry knows.

    First the resources chosen in the config flow are taken back. A
    subentry whose resource is gone takes the platform resource carrying its
    ``external_id`` when there is one (created while the answer got lost),
    else its resource is created again. Groups go first so that members can
    point at their group's new id.
    """
    site_id = entry.data[CONF_SITE_ID]
    listed = {r.resource_id: r for r in await client.list_resources(site_id)}
    if (chosen := entry.data.get(CONF_ADOPT_RESOURCES)) is not None:
        async_take_back(hass, entry, [listed[r] for r in chosen if r in listed], listed)
        hass.config_entries.async_update_entry(
            entry,
            data={k: v for k, v in entry.data.items() if k != CONF_ADOPT_RESOURCES},
        )
    on_platform = set(listed)
    subentries = sorted(
        resource_subentries(entry).values(), key=lambda s: not is_group(s)
    )
    held = {subentry.data.get(CONF_RESOURCE_ID) for subentry in subentries}
    known: set[str] = set()
    for subentry in subentries:
        resource_id = subentry.data.get(CONF_RESOURCE_ID)
        if resource_id in on_platform:
            known.add(resource_id)
            continue
        found = find_by_external_id(
            (r for r in listed.values() if r.resource_id not in held | known),
            subentry.data.get(CONF_EXTERNAL_ID),
        )
        if found is not None:
            LOGGER.info("Resource %s found on the platform again", subentry.title)
            new_id = found.resource_id
        else:
            LOGGER.warning(
                "Resource %s is missing on the platform; creating it again",
                subentry.title,
            )
            created = await client.create_resource(
                site_id, build_spec(entry, subentry.data, subentry.title)
            )
            new_id = created.resource_id
        known.add(new_id)
        hass.config_entries.async_update_subentry(
            entry,
            subentry,
            data={**subentry.data, CONF_RESOURCE_ID: new_id},
            unique_id=new_id,
        )
    kept = set(entry.data.get(CONF_KEPT_RESOURCES, ()))
    async_sync_orphan_issues(
        hass, entry, [listed[r] for r in sorted(on_platform - known - kept)]
    )
    async_sync_unmapped_issues(hass, entry)


@callback
def async_resource_missing(
    hass: HomeAssistant, entry: GridFlexConfigEntry, resource_id: str
) -> None:
    """Handle, once, a resource the platform answered 404 for while running.

    The same as at a start: it is created again (or found by its
    ``external_id``) and the platform's unknown resources raise their
    repairs. A resource that cannot be created now is tried again at the
    next start, not at every poll.
    """
    runtime = entry.runtime_data
    if resource_id in runtime.missing_resources:
        return
    runtime.missing_resources.add(resource_id)
    LOGGER.warning("The platform no longer has resource %s", resource_id)

    async def _recreate() -> None:
        try:
            await async_reconcile(hass, entry, runtime.client)
        except GridFlexError as err:
            LOGGER.warning(
                "Could not create resource %s again (%s); "
                "GridFlex tries again at the next start",
                resource_id,
                err,
            )

    entry.async_create_background_task(
        hass, _recreate(), f"{DOMAIN} missing resource {resource_id}"
    )


def unmapped_issue_id(entry_id: str, subentry_id: str) -> str:
    """Return the id of the issue about a resource without a power sensor."""
    return f"{ISSUE_UNMAPPED_PREFIX}_{entry_id}_{subentry_id}"


@callback
def async_sync_unmapped_issues(hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
    """Ask for the power sensor of each resource that has none (taken back).

    A group needs none. The issue goes once the sensor is mapped (or the
    resource removed).
    """
    wanted: set[str] = set()
    for subentry_id, subentry in resource_subentries(entry).items():
        if is_group(subentry) or subentry.data.get(CONF_POWER_ENTITY):
            continue
        issue_id = unmapped_issue_id(entry.entry_id, subentry_id)
        wanted.add(issue_id)
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="resource_unmapped",
            translation_placeholders={
                "site": entry.title,
                "resource": subentry.title,
                "type": resource_type_name(hass, subentry.data[CONF_RESOURCE_TYPE]),
            },
        )
    async_replace_issues(hass, f"{ISSUE_UNMAPPED_PREFIX}_{entry.entry_id}_", wanted)


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
    async_sync_unmapped_issues(hass, entry)
    for subentry_id in current.keys() - runtime.subentries.keys():
        if resource_id := current[subentry_id].data.get(CONF_RESOURCE_ID):
            # Taken back (or found again): no longer unknown to Home Assistant.
            ir.async_delete_issue(
                hass, DOMAIN, orphan_issue_id(entry.entry_id, resource_id)
            )
        async_dispatcher_send(
            hass, SIGNAL_RESOURCE_ADDED.format(entry.entry_id), current[subentry_id]
        )
    followed = resource_data(current)
    changed = followed != runtime.resource_data
    runtime.subentries = current
    runtime.resource_data = followed
    if runtime.bid_manager is not None:
        # Subentries are changed in place: the manager compares their data.
        runtime.bid_manager.async_resources_changed()
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
