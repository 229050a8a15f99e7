"""Resources: subentries mirrored on the platform, inside Home Assistant, over HTTP."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
    translation,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.platforms.errors import (
    GridFlexError,
    GridFlexRequestRejectedError,
)
from custom_components.gridflex.platforms.models import ResourceSpec, ResourceType

from .conftest import PLATFORMS, Sandbox, setup_site

BATTERY = {
    "power_entity": "sensor.battery_power",
    "power_min_kw": -5,
    "power_max_kw": 5,
    "capacity_kwh": 10.5,
}
CHARGER = {
    "power_entity": "sensor.charger_power",
    "power_min_kw": 0,
    "power_max_kw": 7.4,
}


@pytest.fixture(autouse=True)
def power_sensors(hass: HomeAssistant) -> None:
    """The home's power sensors the resources are mapped to."""
    hass.states.async_set(
        "sensor.battery_power",
        "1200",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    hass.states.async_set(
        "sensor.charger_power",
        "7.2",
        {"unit_of_measurement": "kW", "device_class": "power"},
    )
    hass.states.async_set(
        "sensor.outdoor_temperature", "12", {"unit_of_measurement": "°C"}
    )


async def _poll(hass: HomeAssistant) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=15))
    await hass.async_block_till_done(wait_background_tasks=True)


async def add_resource(
    hass: HomeAssistant,
    entry: ConfigEntry,
    name: str,
    resource_type: str,
    details: dict[str, Any],
    device_id: str | None = None,
) -> dict[str, Any]:
    """Run the 'Add resource' subentry flow; return its last result."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"), context={"source": SOURCE_USER}
    )
    if result["type"] is FlowResultType.ABORT:
        return dict(result)
    user = {"name": name, "resource_type": resource_type}
    if device_id:
        user["device_id"] = device_id
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], user
    )
    assert result["step_id"] == "details"
    if details.get("_show_only"):
        return dict(result)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], details
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    return dict(result)


def subentry_by_title(entry: ConfigEntry, title: str) -> Any:
    """Return the entry's subentry with this title."""
    return next(s for s in entry.subentries.values() if s.title == title)


def platform_resources(sandbox: Sandbox, platform: str) -> dict[str, dict[str, Any]]:
    """Return what the sandbox holds as resources, keyed by the id GridFlex stores."""
    state = sandbox.server.state
    if platform == "powernaut":
        return dict(state.powernaut.resources)
    if platform == "energy_coordination":
        return dict(state.energy_coordination.resources)
    return {
        str(asset_id): asset
        for asset_id, asset in state.flexmeasures.assets.items()
        if asset.get("parent_asset_id") is not None
    }


async def reconfigure(
    hass: HomeAssistant, entry: ConfigEntry, subentry_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Run the subentry reconfigure flow."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], data
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    return dict(result)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_add_reconfigure_remove(
    hass: HomeAssistant,
    sandbox: Sandbox,
    device_registry: dr.DeviceRegistry,
    platform: str,
) -> None:
    """A resource is created, updated and deleted on the platform with its subentry."""
    entry = await setup_site(hass, sandbox, platform)
    result = await add_resource(hass, entry, "Home battery", "battery", BATTERY)
    assert result["type"] is FlowResultType.CREATE_ENTRY

    subentry = subentry_by_title(entry, "Home battery")
    resource_id = subentry.data["resource_id"]
    assert subentry.unique_id == resource_id
    assert subentry.data["power_min_kw"] == "-5.0"
    assert subentry.data["capacity_kwh"] == "10.5"
    resources = platform_resources(sandbox, platform)
    assert list(resources) == [resource_id]
    wire = resources[resource_id]
    if platform == "powernaut":
        assert wire["type"] == "static_battery"
        assert wire["name"] == "Home battery"
        assert wire["power"]["active"] == {"minimum": "-5.0", "maximum": "5.0"}
        assert wire["capacity"]["maximum"] == "10.5"
        # The docs: a site with a resource is onboarded.
        site = sandbox.server.state.powernaut.sites[entry.data["site_id"]]
        assert site["status"] == "onboarded"
    elif platform == "energy_coordination":
        assert wire["resourceType"] == "Generic"
    else:
        assert wire["name"] == "Home battery"

    # A device for the resource, linked to the site device, without a reload.
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}"), entry.entry_id
    )
    assert device is not None
    assert device.name == "Home battery"
    # The type's name, not its key (models have no translation key in HA).
    assert device.model == "Battery"
    assert device.via_device_id == entry.runtime_data.site_device_id
    assert device.config_subentry_id == subentry.subentry_id

    result = await reconfigure(
        hass,
        entry,
        subentry.subentry_id,
        {**BATTERY, "name": "Garage battery", "power_max_kw": 3.3},
    )
    assert result["reason"] == "reconfigure_successful"
    subentry = entry.subentries[subentry.subentry_id]
    assert subentry.title == "Garage battery"
    assert subentry.data["power_max_kw"] == "3.3"
    wire = platform_resources(sandbox, platform)[resource_id]
    if platform == "powernaut":
        assert wire["name"] == "Garage battery"
        assert wire["power"]["active"]["maximum"] == "3.3"
    elif platform == "flexmeasures":
        assert wire["name"] == "Garage battery"
    device = device_registry.async_get(device.id)
    assert device is not None
    assert device.name == "Garage battery"

    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert platform_resources(sandbox, platform) == {}
    assert any(
        r["method"] == "DELETE" and resource_id in r["path"]
        for r in sandbox.requests(platform)
    )
    assert device_registry.async_get(device.id) is None
    assert entry.state is ConfigEntryState.LOADED


async def test_exact_decimal_strings(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """7.4 kW is sent as "7.4": no float artefacts on the wire or in storage."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    subentry = subentry_by_title(entry, "Charger")
    assert subentry.data["power_max_kw"] == "7.4"
    wire = sandbox.server.state.powernaut.resources[subentry.data["resource_id"]]
    assert wire["type"] == "electric_vehicle_charging_point"
    assert wire["power"]["active"] == {"minimum": "0.0", "maximum": "7.4"}
    assert "capacity" not in wire or wire["capacity"] is None

    await add_resource(
        hass,
        entry,
        "Heat pump",
        "heat_pump",
        {
            "power_entity": "sensor.charger_power",
            "power_min_kw": 0.1,
            "power_max_kw": 2.2,
        },
    )
    wire = sandbox.server.state.powernaut.resources[
        subentry_by_title(entry, "Heat pump").data["resource_id"]
    ]
    assert wire["power"]["active"] == {"minimum": "0.1", "maximum": "2.2"}


@pytest.mark.parametrize("platform", ["powernaut", "flexmeasures"])
async def test_group_membership(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """A resource joins a group of the same site and leaves it again."""
    entry = await setup_site(hass, sandbox, platform)
    await add_resource(
        hass,
        entry,
        "Hybrid inverter",
        "group",
        {"power_min_kw": -8, "power_max_kw": 8, "capacity_kwh": 10},
    )
    group = subentry_by_title(entry, "Hybrid inverter")
    await add_resource(
        hass, entry, "Battery", "battery", {**BATTERY, "group": group.subentry_id}
    )
    member = subentry_by_title(entry, "Battery")
    group_id = group.data["resource_id"]
    member_id = member.data["resource_id"]

    def platform_group() -> Any:
        wire = platform_resources(sandbox, platform)[member_id]
        if platform == "powernaut":
            return wire["group_id"]
        return str(wire["parent_asset_id"])

    assert platform_group() == group_id
    if platform == "powernaut":
        wire = sandbox.server.state.powernaut.resources[group_id]
        assert wire["type"] == "group"

    await reconfigure(hass, entry, member.subentry_id, {**BATTERY, "name": "Battery"})
    assert entry.subentries[member.subentry_id].data["group"] is None
    if platform == "powernaut":
        assert platform_group() is None
        patches = [
            r
            for r in sandbox.requests(platform)
            if r["method"] == "PATCH" and member_id in r["path"]
        ]
        assert patches
    else:
        # Out of the group: back under the site's asset.
        assert platform_group() == entry.data["site_id"]

    # Groups have no status entities (the docs: no meaningful status).
    assert not [
        e
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.config_subentry_id == group.subentry_id
    ]


async def test_group_not_offered_without_groups(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The Energy Coordination API has no groups: the type is not offered."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"), context={"source": SOURCE_USER}
    )
    options = result["data_schema"].schema["resource_type"].config["options"]
    assert "group" not in options
    assert "battery" in options


@pytest.mark.parametrize(
    ("resource_type", "details", "errors"),
    [
        ("battery", {**BATTERY, "power_min_kw": 6}, {"power_max_kw": "min_above_max"}),
        (
            "battery",
            {**BATTERY, "power_max_kw": 5.1234567},
            {"power_max_kw": "too_precise"},
        ),
        (
            "battery",
            {**BATTERY, "power_max_kw": 1e16},
            {"power_max_kw": "too_large"},
        ),
        (
            "battery",
            {k: v for k, v in BATTERY.items() if k != "capacity_kwh"},
            {"capacity_kwh": "capacity_required"},
        ),
        (
            "battery",
            {**BATTERY, "capacity_kwh": 0},
            {"capacity_kwh": "capacity_invalid"},
        ),
        (
            "battery",
            {**BATTERY, "power_entity": "sensor.outdoor_temperature"},
            {"power_entity": "power_unit"},
        ),
        (
            "battery",
            {**BATTERY, "power_entity": "sensor.does_not_exist"},
            {"power_entity": "power_unit"},
        ),
    ],
)
async def test_validation(
    hass: HomeAssistant,
    sandbox: Sandbox,
    resource_type: str,
    details: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Invalid limits and sensors are refused with translated errors; nothing is sent."""
    entry = await setup_site(hass, sandbox, "powernaut")
    result = await add_resource(hass, entry, "Battery", resource_type, details)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert sandbox.server.state.powernaut.resources == {}


async def test_group_choices_are_site_groups(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Only group resources of this site are offered as group."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await add_resource(
        hass, entry, "Group", "group", {"power_min_kw": -8, "power_max_kw": 8}
    )
    group = subentry_by_title(entry, "Group")
    result = await add_resource(hass, entry, "Battery", "battery", {"_show_only": True})
    options = result["data_schema"].schema["group"].config["options"]
    assert options == [{"value": group.subentry_id, "label": "Group"}]

    # A group does not offer itself (nor any group) when it is changed.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": group.subentry_id},
    )
    assert "group" not in result["data_schema"].schema


async def test_resource_limit(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Powernaut takes at most 10 resources per site; the 11th is not offered."""
    entry = await setup_site(hass, sandbox, "powernaut")
    for number in range(10):
        result = await add_resource(
            hass, entry, f"Charger {number}", "ev_charger", CHARGER
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await add_resource(hass, entry, "Charger 11", "ev_charger", CHARGER)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "max_resources"
    assert len(sandbox.server.state.powernaut.resources) == 10


async def test_defaults_from_device(
    hass: HomeAssistant,
    sandbox: Sandbox,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Choosing a device suggests its power, energy and battery sensors."""
    entry = await setup_site(hass, sandbox, "powernaut")
    other = MockConfigEntry(domain="demo_battery")
    other.add_to_hass(hass)
    device = device_registry.async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("demo_battery", "1")}
    )
    for key, device_class in (
        ("power", "power"),
        ("energy", "energy"),
        ("soc", "battery"),
        ("temp", "temperature"),
    ):
        entity_registry.async_get_or_create(
            "sensor",
            "demo_battery",
            key,
            device_id=device.id,
            original_device_class=device_class,
            suggested_object_id=f"demo_battery_{key}",
        )
    result = await add_resource(
        hass, entry, "Battery", "battery", {"_show_only": True}, device_id=device.id
    )
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested == {
        "power_entity": "sensor.demo_battery_power",
        "energy_entity": "sensor.demo_battery_energy",
        "soc_entity": "sensor.demo_battery_soc",
    }


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_missing_resource_recreated(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """A resource deleted behind GridFlex's back is created again at setup."""
    entry = await setup_site(hass, sandbox, platform)
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    subentry = subentry_by_title(entry, "Charger")
    old_id = subentry.data["resource_id"]
    state = sandbox.server.state
    if platform == "powernaut":
        state.powernaut.resources.clear()
    elif platform == "energy_coordination":
        state.energy_coordination.resources.clear()
    else:
        del state.flexmeasures.assets[int(old_id)]

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    resources = platform_resources(sandbox, platform)
    assert len(resources) == 1
    new_id = entry.subentries[subentry.subentry_id].data["resource_id"]
    assert new_id in resources
    if platform != "energy_coordination":
        assert new_id != old_id


@pytest.mark.parametrize("choice", ["keep", "delete"])
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_orphan_resource_issue(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
    platform: str,
    choice: str,
) -> None:
    """A platform resource no subentry knows raises a repair: keep or delete."""
    entry = await setup_site(hass, sandbox, platform)
    orphan = await entry.runtime_data.client.create_resource(
        entry.data["site_id"],
        ResourceSpec(
            name="Installer's test",
            type=ResourceType.OTHER,
            power_minimum_kw=Decimal(0),
            power_maximum_kw=Decimal(1),
            external_id="elsewhere",
        ),
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue_id = f"orphan_resource_{entry.entry_id}_{orphan.resource_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    # Named as the platform names it, with its type.
    names = {
        "site": "Home",
        # Energy Coordination names a resource by the id the partner chose.
        "resource": "elsewhere"
        if platform == "energy_coordination"
        else "Installer's test",
        "type": "Other",
        "resource_id": orphan.resource_id,
    }
    assert issue.translation_placeholders == names
    # Never deleted silently.
    assert orphan.resource_id in platform_resources(sandbox, platform)

    # The homeowner opens the repair in the UI (the frontend's HTTP calls).
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["type"] == "menu"
    # Taking back needs power limits, which Energy Coordination does not keep.
    assert result["menu_options"] == (
        ["keep", "delete"]
        if platform == "energy_coordination"
        else ["adopt", "keep", "delete"]
    )
    # Every placeholder the dialog's texts use, "site" included.
    assert result["description_placeholders"] == names
    resp = await client.post(
        f"/api/repairs/issues/fix/{result['flow_id']}", json={"next_step_id": choice}
    )
    result = await resp.json()
    if choice == "delete":
        assert result["step_id"] == "delete"
        assert result["description_placeholders"] == names
        resp = await client.post(
            f"/api/repairs/issues/fix/{result['flow_id']}", json={}
        )
        result = await resp.json()
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    if choice == "delete":
        assert orphan.resource_id not in platform_resources(sandbox, platform)
    else:
        assert orphan.resource_id in platform_resources(sandbox, platform)
        # Kept: it does not come back after a restart.
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


STATUS_SENSOR = "sensor.home_battery_resource_status"
HEALTH_SENSORS = {
    "availability": "sensor.home_battery_availability",
    "activation_compliance": "sensor.home_battery_activation_compliance",
    "baselines": "sensor.home_battery_baselines",
    "bids": "sensor.home_battery_bids",
    "meter_data": "sensor.home_battery_meter_data",
}


async def test_status_sensors_disabled_by_default(
    hass: HomeAssistant, sandbox: Sandbox, entity_registry: er.EntityRegistry
) -> None:
    """The platform does not send status yet: the six sensors start disabled."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Home battery", "battery", BATTERY)
    for entity_id in (STATUS_SENSOR, *HEALTH_SENSORS.values()):
        registered = entity_registry.async_get(entity_id)
        assert registered is not None, entity_id
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(entity_id) is None


async def test_status_and_health(
    hass: HomeAssistant,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Status and health entities follow the platform; unknown when it has none."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Home battery", "battery", BATTERY)
    subentry = subentry_by_title(entry, "Home battery")
    resource_id = subentry.data["resource_id"]
    status = STATUS_SENSOR
    checks = HEALTH_SENSORS
    # Disabled by default; the homeowner enables them.
    for entity_id in (status, *checks.values()):
        entity_registry.async_update_entity(entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _poll(hass)
    # The current spec has no status fields: the entities exist, unknown.
    assert hass.states.get(status).state == STATE_UNKNOWN
    for entity_id in checks.values():
        assert hass.states.get(entity_id).state == STATE_UNKNOWN

    values = {
        "availability": "online",
        "activation_compliance": "compliant",
        "baselines": "inaccurate",
        "bids": "no_bids",
        "meter_data": "rare_anomaly",
    }
    await sandbox.control(
        "PATCH",
        f"powernaut/resources/{resource_id}",
        {"status": "degraded", "health_checks": values},
    )
    await _poll(hass)
    assert hass.states.get(status).state == "degraded"
    for check, entity_id in checks.items():
        assert hass.states.get(entity_id).state == values[check]

    issue_id = f"resource_suspended_{entry.entry_id}_{subentry.subentry_id}"
    await sandbox.control(
        "PATCH", f"powernaut/resources/{resource_id}", {"status": "suspended"}
    )
    await _poll(hass)
    assert hass.states.get(status).state == "suspended"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    await sandbox.control(
        "PATCH",
        f"powernaut/resources/{resource_id}",
        {"status": "operational", "health_checks": None},
    )
    await _poll(hass)
    assert hass.states.get(status).state == "operational"
    assert hass.states.get(checks["availability"]).state == STATE_UNKNOWN
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.parametrize("platform", ["energy_coordination", "flexmeasures"])
async def test_no_status_entities_without_status(
    hass: HomeAssistant,
    sandbox: Sandbox,
    entity_registry: er.EntityRegistry,
    platform: str,
) -> None:
    """Platforms without resource statuses get a device but no status entities."""
    entry = await setup_site(hass, sandbox, platform)
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    subentry = subentry_by_title(entry, "Charger")
    # Energy Coordination resources get their LPC entities, never status ones.
    assert not [
        e
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if e.config_subentry_id == subentry.subentry_id
        and e.translation_key not in ("power_limit", "lpc_active")
    ]


async def test_platform_errors_while_adding(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A failing platform keeps the form open; nothing is created half-way."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await sandbox.fault("/v1/connect/resources", "status", status=503, method="POST")
    result = await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    assert result["errors"] == {"base": "cannot_connect"}
    await sandbox.clear_faults()

    await sandbox.control("POST", "credentials/revoke", {"platform": "powernaut"})
    result = await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    assert result["errors"] == {"base": "invalid_auth"}
    await sandbox.control("POST", "credentials/restore", {"platform": "powernaut"})

    # The sandbox accepts every well-formed resource; a refusal is raised here.
    with patch(
        "custom_components.gridflex.platforms.powernaut.PowernautClient.create_resource",
        side_effect=GridFlexRequestRejectedError(400, "Resource limit reached"),
    ):
        result = await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    assert result["errors"] == {"base": "resource_rejected"}
    assert result["description_placeholders"]["detail"] == "Resource limit reached"
    with patch(
        "custom_components.gridflex.platforms.powernaut.PowernautClient.create_resource",
        side_effect=GridFlexError("odd"),
    ):
        result = await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    assert result["errors"] == {"base": "unknown"}
    assert not [s for s in entry.subentries.values() if s.subentry_type == "resource"]
    assert sandbox.server.state.powernaut.resources == {}


async def test_reconfigure_validation(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Reconfigure validates like adding and leaves the platform copy alone."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    subentry = subentry_by_title(entry, "Battery")
    result = await reconfigure(
        hass,
        entry,
        subentry.subentry_id,
        {**BATTERY, "name": "Battery", "power_min_kw": 9},
    )
    assert result["errors"] == {"power_max_kw": "min_above_max"}
    wire = sandbox.server.state.powernaut.resources[subentry.data["resource_id"]]
    assert wire["power"]["active"]["minimum"] == "-5.0"


async def test_removal_while_platform_down(
    hass: HomeAssistant, sandbox: Sandbox, issue_registry: ir.IssueRegistry
) -> None:
    """A resource whose deletion fails is not lost: it comes back as a repair."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    subentry = subentry_by_title(entry, "Charger")
    resource_id = subentry.data["resource_id"]
    await sandbox.fault(
        "/v1/connect/resources/*", "status", status=503, method="DELETE"
    )
    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert resource_id in sandbox.server.state.powernaut.resources
    await sandbox.clear_faults()

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(
        DOMAIN, f"orphan_resource_{entry.entry_id}_{resource_id}"
    )


async def test_removal_of_resource_already_gone(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Removing a resource the platform already dropped is fine."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    subentry = subentry_by_title(entry, "Charger")
    sandbox.server.state.powernaut.resources.clear()
    hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED


async def test_orphan_delete_fails(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A failed deletion keeps the repair open and says why."""
    entry = await setup_site(hass, sandbox, "powernaut")
    orphan = await entry.runtime_data.client.create_resource(
        entry.data["site_id"],
        ResourceSpec(
            name="Elsewhere",
            type=ResourceType.OTHER,
            power_minimum_kw=Decimal(0),
            power_maximum_kw=Decimal(1),
        ),
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue_id = f"orphan_resource_{entry.entry_id}_{orphan.resource_id}"
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()

    async def run_delete() -> dict[str, Any]:
        resp = await client.post(
            "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
        )
        flow_id = (await resp.json())["flow_id"]
        await client.post(
            f"/api/repairs/issues/fix/{flow_id}", json={"next_step_id": "delete"}
        )
        resp = await client.post(f"/api/repairs/issues/fix/{flow_id}", json={})
        return dict(await resp.json())

    await sandbox.fault(
        "/v1/connect/resources/*", "status", status=503, method="DELETE"
    )
    result = await run_delete()
    assert result["type"] == "abort"
    assert result["reason"] == "delete_failed"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await sandbox.clear_faults()

    await hass.config_entries.async_unload(entry.entry_id)
    result = await run_delete()
    assert result["reason"] == "not_loaded"
    assert orphan.resource_id in sandbox.server.state.powernaut.resources


async def test_device_model_translated(
    hass: HomeAssistant, sandbox: Sandbox, device_registry: dr.DeviceRegistry
) -> None:
    """The model is the type's name in Home Assistant's language; old raw keys go."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    subentry = subentry_by_title(entry, "Charger")
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}"), entry.entry_id
    )
    assert device is not None
    assert device.model == "EV charger"

    # A device registered by an earlier version has the raw key: replaced.
    device_registry.async_update_device(device.id, model="ev_charger")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert device_registry.async_get(device.id).model == "EV charger"

    # In Dutch, once Home Assistant speaks it (Home Assistant loads the
    # translations of the new language; the test harness does not on its own).
    await hass.config.async_update(language="nl")
    await translation.async_load_integrations(hass, {DOMAIN})
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert device_registry.async_get(device.id).model == "Laadpaal"
