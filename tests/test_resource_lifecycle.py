"""Powernaut resource lifecycle: retries, webhooks, 404s, reinstall, limits, types.

Everything runs inside Home Assistant against the sandbox over HTTP, with the
sandbox validating every request against Powernaut's OpenAPI file.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
import time
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.platforms.models import ResourceSpec, ResourceType

from .conftest import SITE_INPUT, Sandbox, credentials, setup_site, start_flow
from .test_resources import (
    BATTERY,
    CHARGER,
    add_resource,
    power_sensors,  # noqa: F401 - the autouse fixture of the home's sensors
    reconfigure,
    subentry_by_title,
)

HOOK_BASE = "https://home.example.org/api/webhook/"
RESOURCES_PATH = "/v1/connect/resources"


def _posts(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The resource creations the sandbox received."""
    return [
        r
        for r in sandbox.requests("powernaut")
        if r["method"] == "POST" and r["path"] == RESOURCES_PATH
    ]


def _resources(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return dict(sandbox.server.state.powernaut.resources)


async def _answered(sandbox: Sandbox) -> None:
    """Wait until the sandbox has sent every late answer (delay faults)."""
    for _ in range(100):
        if not sandbox.server._delays.pending:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("The sandbox still holds an answer")


async def _orphan(
    entry: ConfigEntry, name: str, resource_type: ResourceType = ResourceType.OTHER
) -> str:
    """Create a resource on the site behind GridFlex's back; return its id."""
    created = await entry.runtime_data.client.create_resource(
        entry.data["site_id"],
        ResourceSpec(
            name=name,
            type=resource_type,
            power_minimum_kw=Decimal(0),
            power_maximum_kw=Decimal(1),
            capacity_kwh=Decimal(4) if resource_type is ResourceType.BATTERY else None,
        ),
    )
    return created.resource_id


# 1. Idempotent creation


async def test_lost_answer_then_retry_makes_one_resource(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The platform creates the resource but the answer is lost; the retry takes it."""
    entry = await setup_site(hass, sandbox, "powernaut")
    # The sandbox stores the resource, then answers after the client gave up.
    await sandbox.fault(
        RESOURCES_PATH, "delay_after", method="POST", seconds=1, times=1
    )
    flow = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"), context={"source": "user"}
    )
    flow = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], {"name": "Charger", "resource_type": "ev_charger"}
    )
    result = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], CHARGER
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    [created] = _resources(sandbox).values()  # the work was done all the same

    # The homeowner tries again, with a corrected maximum.
    result = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], {**CHARGER, "power_max_kw": 11}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    resources = _resources(sandbox)
    assert list(resources) == [created["id"]]
    # The first POST is logged once its late answer is out: it is the only one.
    await _answered(sandbox)
    assert len(_posts(sandbox)) == 1
    subentry = subentry_by_title(entry, "Charger")
    assert subentry.data["resource_id"] == created["id"]
    assert subentry.unique_id == created["id"]
    assert subentry.data["external_id"] == created["external_id"]
    assert resources[created["id"]]["power"]["active"]["maximum"] == "11.0"


async def test_each_flow_has_its_own_key(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Two resources added one after the other are two resources, not one."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    external_ids = {r["external_id"] for r in _resources(sandbox).values()}
    assert len(external_ids) == 2


async def test_setup_takes_a_resource_created_while_its_answer_was_lost(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Re-creating a missing resource at start is idempotent too."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    subentry = subentry_by_title(entry, "Charger")
    sandbox.server.state.powernaut.resources.clear()
    await sandbox.fault(
        RESOURCES_PATH, "delay_after", method="POST", seconds=1, times=1
    )
    assert not await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    [created] = _resources(sandbox).values()
    await _answered(sandbox)

    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert list(_resources(sandbox)) == [created["id"]]
    assert entry.subentries[subentry.subentry_id].data["resource_id"] == created["id"]


# 2. Runtime gaps


async def test_new_resource_gets_its_webhook_at_creation(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """No restart needed: the webhook is part of the creation; groups get none."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    hook = HOOK_BASE + entry.data["webhook_id"]
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    await add_resource(
        hass, entry, "Hybrid", "group", {"power_min_kw": -8, "power_max_kw": 8}
    )
    battery = subentry_by_title(entry, "Battery").data["resource_id"]
    group = subentry_by_title(entry, "Hybrid").data["resource_id"]
    resources = _resources(sandbox)
    assert resources[battery]["webhooks"] == {"accepted": hook}
    assert "webhooks" not in resources[group]
    # Set in the creation itself: no PATCH was needed.
    assert not [r for r in sandbox.requests("powernaut") if r["method"] == "PATCH"]

    # Lost on the platform's side: back at the next read of the site (the
    # read after a refused PATCH tries again).
    del sandbox.server.state.powernaut.resources[battery]["webhooks"]
    await sandbox.fault(f"{RESOURCES_PATH}/*", "status", method="PATCH", times=1)
    for _ in range(2):
        freezer.tick(timedelta(minutes=5, seconds=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert _resources(sandbox)[battery]["webhooks"] == {"accepted": hook}
    patches = [r for r in sandbox.requests("powernaut") if r["method"] == "PATCH"]
    assert [r["status"] for r in patches] == [503, 202]


async def test_changed_resource_gets_its_webhook_within_seconds(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A resource created again under a new id gets the webhook without a restart."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    hook = HOOK_BASE + entry.data["webhook_id"]
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    charger = subentry_by_title(entry, "Charger")
    gone = charger.data["resource_id"]
    await entry.runtime_data.client.delete_resource(entry.data["site_id"], gone)
    started = time.monotonic()
    # The activation poll finds it gone; it is created again (as at a start,
    # without a webhook), and the change of the subentry brings the webhook.
    await entry.runtime_data.event_coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    new_id = entry.subentries[charger.subentry_id].data["resource_id"]
    assert new_id != gone
    # The site is read again after the change, at once or at most 10 s later
    # (Home Assistant's debounce of refresh requests); the webhook follows.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _resources(sandbox)[new_id]["webhooks"] == {"accepted": hook}
    assert time.monotonic() - started < 60
    patches = [
        r
        for r in sandbox.requests("powernaut")
        if r["method"] == "PATCH" and r["path"].endswith(new_id)
    ]
    assert len(patches) == 1


async def test_activation_404_stays_with_its_resource(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """One resource gone: the others still poll, and it is handled once."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    charger = subentry_by_title(entry, "Charger")
    battery_id = subentry_by_title(entry, "Battery").data["resource_id"]
    gone = charger.data["resource_id"]
    await entry.runtime_data.client.delete_resource(entry.data["site_id"], gone)
    # Creating it again fails for now: the handling must still not repeat.
    await sandbox.fault(RESOURCES_PATH, "status", method="POST", status=503)
    events = entry.runtime_data.event_coordinator
    polls_before = len(sandbox.requests("powernaut"))

    for _ in range(3):
        freezer.tick(timedelta(minutes=5, seconds=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        assert events.last_update_success

    requests = sandbox.requests("powernaut")[polls_before:]
    battery_polls = [
        r for r in requests if r["path"] == f"{RESOURCES_PATH}/{battery_id}/activations"
    ]
    gone_polls = [
        r for r in requests if r["path"] == f"{RESOURCES_PATH}/{gone}/activations"
    ]
    assert len(battery_polls) == 3
    assert [r["status"] for r in gone_polls] == [404, 404, 404]
    assert len(_posts(sandbox)) == 2 + 1  # two adds, one attempt to create it again
    assert entry.state is ConfigEntryState.LOADED

    # Once the platform takes it, the next start creates it again.
    await sandbox.clear_faults()
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.subentries[charger.subentry_id].data["resource_id"] in _resources(
        sandbox
    )


async def test_activation_404_creates_the_resource_again(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A resource deleted on the platform while GridFlex runs comes back at once."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    charger = subentry_by_title(entry, "Charger")
    gone = charger.data["resource_id"]
    await entry.runtime_data.client.delete_resource(entry.data["site_id"], gone)
    freezer.tick(timedelta(minutes=5, seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    new_id = entry.subentries[charger.subentry_id].data["resource_id"]
    assert new_id != gone
    assert list(_resources(sandbox)) == [new_id]
    assert entry.runtime_data.event_coordinator.last_update_success


async def test_removing_the_entry_clears_the_webhooks(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The resources stay on the platform, without GridFlex's webhook."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    assert all("webhooks" in r for r in _resources(sandbox).values())

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    resources = _resources(sandbox)
    assert len(resources) == 2
    assert not [r for r in resources.values() if "webhooks" in r]


@pytest.mark.parametrize("failing", ["GET", "PATCH"])
async def test_removal_when_the_platform_fails(
    hass: HomeAssistant,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    """Without the list, the subentries' resources are cleared; a refusal is logged."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await sandbox.fault(f"{RESOURCES_PATH}*", "status", method=failing, status=503)
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    [resource] = _resources(sandbox).values()
    if failing == "GET":
        assert "webhooks" not in resource
    else:
        assert "webhooks" in resource
        assert "Could not clear the activation webhook of 1 resources" in caplog.text


async def test_removal_is_bounded_when_the_platform_hangs(
    hass: HomeAssistant, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A platform that does not answer delays the removal a few seconds at most."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    await sandbox.fault(f"{RESOURCES_PATH}*", "delay", method="*", seconds=30)
    with (
        patch("custom_components.gridflex.push.REMOVE_TIMEOUT", 0.5),
        patch("custom_components.gridflex.client.REQUEST_TIMEOUT", 10),
    ):
        started = time.monotonic()
        assert await hass.config_entries.async_remove(entry.entry_id)
        elapsed = time.monotonic() - started
    assert elapsed < 2
    [resource] = _resources(sandbox).values()
    assert "webhooks" in resource  # left behind, as the README says
    assert "did not answer in time" in caplog.text


# 3. Reinstall and taking resources back


async def _reinstall(hass: HomeAssistant, sandbox: Sandbox) -> dict[str, Any]:
    """Run the config flow for the same site again; return the result after the site."""
    result = await start_flow(hass, sandbox, "powernaut")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("powernaut")
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SITE_INPUT["powernaut"]
    )
    return dict(result)


async def test_reinstall_offers_the_site_resources(
    hass: HomeAssistant,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Re-adding a site lists its resources by name and type; the chosen come back."""
    await hass.config.async_update(external_url="https://home.example.org")
    first = await setup_site(hass, sandbox, "powernaut")
    await add_resource(
        hass,
        first,
        "Hybrid",
        "group",
        {"power_min_kw": -8, "power_max_kw": 8, "capacity_kwh": 10},
    )
    group = subentry_by_title(first, "Hybrid")
    await add_resource(
        hass, first, "Battery", "battery", {**BATTERY, "group": group.subentry_id}
    )
    await add_resource(hass, first, "Charger", "ev_charger", CHARGER)
    before = _resources(sandbox)
    ids = {s.title: s.data["resource_id"] for s in first.subentries.values()}
    assert await hass.config_entries.async_remove(first.entry_id)
    await hass.async_block_till_done()

    result = await _reinstall(hass, sandbox)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "adopt_resources"
    assert result["description_placeholders"] == {"site": "Home", "count": "3"}
    selector = result["data_schema"].schema["adopt_resources"]
    labels = {o["label"]: o["value"] for o in selector.config["options"]}
    assert labels == {
        "Hybrid (Group (hybrid resources))": ids["Hybrid"],
        "Battery (Battery)": ids["Battery"],
        "Charger (EV charger)": ids["Charger"],
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"adopt_resources": [ids["Hybrid"], ids["Battery"]]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert "adopt_resources" not in entry.data

    # Nothing created on the platform; the two are subentries again.
    assert set(_resources(sandbox)) == set(before)
    assert len(_posts(sandbox)) == 3
    battery = subentry_by_title(entry, "Battery")
    hybrid = subentry_by_title(entry, "Hybrid")
    assert battery.data["resource_id"] == ids["Battery"]
    assert battery.data["resource_type"] == "battery"
    assert battery.data["power_min_kw"] == "-5.0"
    assert battery.data["capacity_kwh"] == "10.5"
    assert battery.data["group"] == hybrid.subentry_id
    assert battery.data["power_entity"] is None
    assert hybrid.data["capacity_kwh"] == "10.0"
    assert device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_{battery.subentry_id}"), entry.entry_id
    )
    # The battery's webhook is set again; the charger stays an unknown resource.
    assert _resources(sandbox)[ids["Battery"]]["webhooks"] == {
        "accepted": HOOK_BASE + entry.data["webhook_id"]
    }
    orphan = issue_registry.async_get_issue(
        DOMAIN, f"orphan_resource_{entry.entry_id}_{ids['Charger']}"
    )
    assert orphan is not None
    assert orphan.translation_placeholders["resource"] == "Charger"
    assert orphan.translation_placeholders["type"] == "EV charger"

    # The homeowner is asked to map the battery's sensor (not the group's).
    unmapped = f"resource_unmapped_{entry.entry_id}_{battery.subentry_id}"
    assert issue_registry.async_get_issue(DOMAIN, unmapped) is not None
    assert not issue_registry.async_get_issue(
        DOMAIN, f"resource_unmapped_{entry.entry_id}_{hybrid.subentry_id}"
    )
    result = await reconfigure(
        hass,
        entry,
        battery.subentry_id,
        {**BATTERY, "name": "Battery", "group": hybrid.subentry_id},
    )
    assert result["reason"] == "reconfigure_successful"
    assert issue_registry.async_get_issue(DOMAIN, unmapped) is None
    wire = _resources(sandbox)[ids["Battery"]]
    assert wire["group_id"] == ids["Hybrid"]


async def test_reinstall_without_resources_creates_the_entry(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """An adopted site without resources is no extra step."""
    first = await setup_site(hass, sandbox, "powernaut")
    assert await hass.config_entries.async_remove(first.entry_id)
    await hass.async_block_till_done()
    result = await _reinstall(hass, sandbox)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reinstall_when_the_resources_cannot_be_listed(
    hass: HomeAssistant, sandbox: Sandbox, issue_registry: ir.IssueRegistry
) -> None:
    """No offer without the list: the resources then raise their repairs."""
    first = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, first, "Charger", "ev_charger", CHARGER)
    resource_id = subentry_by_title(first, "Charger").data["resource_id"]
    assert await hass.config_entries.async_remove(first.entry_id)
    await hass.async_block_till_done()
    await sandbox.fault(RESOURCES_PATH, "status", method="GET", status=503, times=1)
    result = await _reinstall(hass, sandbox)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = result["result"]
    assert issue_registry.async_get_issue(
        DOMAIN, f"orphan_resource_{entry.entry_id}_{resource_id}"
    )


async def test_take_back_an_orphan(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The orphan repair's first choice makes the resource a subentry again."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    orphan_id = await _orphan(entry, "Installer's battery", ResourceType.BATTERY)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue_id = f"orphan_resource_{entry.entry_id}_{orphan_id}"
    names = {
        "site": "Home",
        "resource": "Installer's battery",
        "type": "Battery",
        "resource_id": orphan_id,
    }

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    result = await resp.json()
    assert result["menu_options"] == ["adopt", "keep", "delete"]
    assert result["description_placeholders"] == names
    resp = await client.post(
        f"/api/repairs/issues/fix/{result['flow_id']}", json={"next_step_id": "adopt"}
    )
    result = await resp.json()
    assert result["step_id"] == "adopt"
    assert result["description_placeholders"] == names
    resp = await client.post(f"/api/repairs/issues/fix/{result['flow_id']}", json={})
    result = await resp.json()
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)

    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    subentry = subentry_by_title(entry, "Installer's battery")
    assert subentry.data["resource_id"] == orphan_id
    assert subentry.data["resource_type"] == "battery"
    assert subentry.data["capacity_kwh"] == "4.0"
    assert issue_registry.async_get_issue(
        DOMAIN, f"resource_unmapped_{entry.entry_id}_{subentry.subentry_id}"
    )
    assert _resources(sandbox)[orphan_id]["webhooks"] == {
        "accepted": HOOK_BASE + entry.data["webhook_id"]
    }
    # Not an orphan after a restart either.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_group_taken_back_after_its_member(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, sandbox: Sandbox
) -> None:
    """A member taken back first joins its group when the group comes back too."""
    first = await setup_site(hass, sandbox, "powernaut")
    await add_resource(
        hass, first, "Hybrid", "group", {"power_min_kw": -8, "power_max_kw": 8}
    )
    group = subentry_by_title(first, "Hybrid")
    await add_resource(
        hass, first, "Battery", "battery", {**BATTERY, "group": group.subentry_id}
    )
    ids = {s.title: s.data["resource_id"] for s in first.subentries.values()}
    assert await hass.config_entries.async_remove(first.entry_id)
    await hass.async_block_till_done()
    result = await _reinstall(hass, sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"adopt_resources": [ids["Battery"]]}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = result["result"]
    assert subentry_by_title(entry, "Battery").data["group"] is None

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix",
        json={
            "handler": DOMAIN,
            "issue_id": f"orphan_resource_{entry.entry_id}_{ids['Hybrid']}",
        },
    )
    flow_id = (await resp.json())["flow_id"]
    await client.post(
        f"/api/repairs/issues/fix/{flow_id}", json={"next_step_id": "adopt"}
    )
    resp = await client.post(f"/api/repairs/issues/fix/{flow_id}", json={})
    assert (await resp.json())["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    hybrid = subentry_by_title(entry, "Hybrid")
    assert subentry_by_title(entry, "Battery").data["group"] == hybrid.subentry_id
    assert _resources(sandbox)[ids["Battery"]]["group_id"] == ids["Hybrid"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("gone", "resource_gone"),
        ("meter", "cannot_adopt"),
        ("down", "adopt_failed"),
        ("unloaded", "not_loaded"),
    ],
)
async def test_take_back_refused(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sandbox: Sandbox,
    change: str,
    reason: str,
) -> None:
    """Taking back says why it cannot: gone, not a resource GridFlex knows, no answer."""
    entry = await setup_site(hass, sandbox, "powernaut")
    orphan_id = await _orphan(entry, "Elsewhere")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    resources = sandbox.server.state.powernaut.resources
    if change == "gone":
        resources.pop(orphan_id)
    elif change == "meter":
        resources[orphan_id]["type"] = "meter"
    elif change == "down":
        await sandbox.fault(RESOURCES_PATH, "status", method="GET", status=503)
    else:
        await hass.config_entries.async_unload(entry.entry_id)
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    resp = await client.post(
        "/api/repairs/issues/fix",
        json={
            "handler": DOMAIN,
            "issue_id": f"orphan_resource_{entry.entry_id}_{orphan_id}",
        },
    )
    flow_id = (await resp.json())["flow_id"]
    await client.post(
        f"/api/repairs/issues/fix/{flow_id}", json={"next_step_id": "adopt"}
    )
    resp = await client.post(f"/api/repairs/issues/fix/{flow_id}", json={})
    result = await resp.json()
    assert result["type"] == "abort"
    assert result["reason"] == reason
    assert not [s for s in entry.subentries.values() if s.subentry_type == "resource"]


# 4. The platform's limit counts what the platform holds


async def test_limit_counts_the_platform_resources(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """8 in Home Assistant + 2 elsewhere is full: refused before anything is sent."""
    entry = await setup_site(hass, sandbox, "powernaut")
    for number in range(8):
        await add_resource(hass, entry, f"Charger {number}", "ev_charger", CHARGER)
    await _orphan(entry, "Elsewhere 1")
    posts = len(_posts(sandbox))

    # Room for one more when the flow opens; taken on the platform meanwhile.
    flow = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"), context={"source": "user"}
    )
    flow = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], {"name": "Charger 9", "resource_type": "ev_charger"}
    )
    await _orphan(entry, "Elsewhere 2")
    result = await hass.config_entries.subentries.async_configure(
        flow["flow_id"], CHARGER
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "platform_full"}
    placeholders = {"limit": "10", "count": "10", "unknown": "2"}
    assert placeholders.items() <= result["description_placeholders"].items()
    assert len(_posts(sandbox)) == posts + 1  # only "Elsewhere 2"

    # A new flow is refused at once.
    result = await add_resource(hass, entry, "Charger 10", "ev_charger", CHARGER)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "platform_full"
    assert result["description_placeholders"] == placeholders
    assert len(_resources(sandbox)) == 10


# 5. Health checks by the docs' names


HEALTH_SENSORS = {
    "availability": "sensor.home_battery_availability",
    "activation_compliance": "sensor.home_battery_activation_compliance",
    "baselines": "sensor.home_battery_baselines",
    "bids": "sensor.home_battery_bids",
    "meter_data": "sensor.home_battery_meter_data",
}


@pytest.mark.parametrize(
    "names",
    [
        {  # the product docs' names, in the API's snake_case
            "baselines": "baselines_too_inaccurate",
            "bids": "no_bids",
            "meter_data": "meter_data_anomalies",
        },
        {"baselines": "baselines", "bids": "bids", "meter_data": "meter_data"},
    ],
    ids=["docs", "short"],
)
async def test_health_checks_by_either_name(
    hass: HomeAssistant, sandbox: Sandbox, names: dict[str, str]
) -> None:
    """The health-check sensors read the docs' names and the shorter ones."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Home battery", "battery", BATTERY)
    registry = er.async_get(hass)
    for entity_id in HEALTH_SENSORS.values():
        registry.async_update_entity(entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    resource_id = subentry_by_title(entry, "Home battery").data["resource_id"]
    values = {
        "availability": "offline",
        "activation_compliance": "not_compliant",
        "baselines": "inaccurate",
        "bids": "no_bids",
        "meter_data": "frequent_anomaly",
    }
    await sandbox.control(
        "PATCH",
        f"powernaut/resources/{resource_id}",
        {
            "status": "degraded",
            "health_checks": {names.get(k, k): v for k, v in values.items()},
        },
    )
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=15))
    await hass.async_block_till_done(wait_background_tasks=True)
    for check, entity_id in HEALTH_SENSORS.items():
        assert hass.states.get(entity_id).state == values[check], check


# 6. Reconfiguring every type, with OpenAPI validation on


TYPES: dict[str, dict[str, Any]] = {
    "battery": BATTERY,
    "electric_vehicle": {**CHARGER, "power_max_kw": 11},
    "ev_charger": CHARGER,
    "heat_pump": {**CHARGER, "power_max_kw": 3},
    "solar": {**CHARGER, "power_min_kw": -6, "power_max_kw": 0},
    "boiler": {**CHARGER, "power_max_kw": 2.5},
    "wind": {**CHARGER, "power_min_kw": -3, "power_max_kw": 0},
    "group": {"power_min_kw": -8, "power_max_kw": 8, "capacity_kwh": 10},
    "other": {**CHARGER, "power_max_kw": 1},
    "group_member": BATTERY,
}


@pytest.mark.parametrize("kind", list(TYPES))
async def test_reconfigure_every_type(
    hass: HomeAssistant, sandbox: Sandbox, kind: str
) -> None:
    """Every type's PATCH is valid against the spec: what does not apply is left out."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    details = dict(TYPES[kind])
    resource_type = "battery" if kind == "group_member" else kind
    if kind == "group_member":
        await add_resource(
            hass, entry, "Group", "group", {"power_min_kw": -8, "power_max_kw": 8}
        )
        details["group"] = subentry_by_title(entry, "Group").subentry_id
    result = await add_resource(hass, entry, "Device", resource_type, details)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    subentry = subentry_by_title(entry, "Device")
    resource_id = subentry.data["resource_id"]

    bodies: list[dict[str, Any]] = []
    client = entry.runtime_data.client
    original = client._auth.request

    async def spy(method: str, url: str, **kwargs: Any) -> Any:
        if method == "PATCH" and url.endswith(resource_id):
            bodies.append(kwargs["json_body"])
        return await original(method, url, **kwargs)

    new_max = Decimal(str(details["power_max_kw"])) - Decimal("0.5")
    with patch(
        "custom_components.gridflex.subentry_flow.async_create_platform_client",
        return_value=client,
    ):
        client._auth.request = spy
        try:
            result = await reconfigure(
                hass,
                entry,
                subentry.subentry_id,
                {**details, "name": "Renamed", "power_max_kw": float(new_max)},
            )
        finally:
            client._auth.request = original
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    assert result["reason"] == "reconfigure_successful"
    [body] = bodies
    wire = _resources(sandbox)[resource_id]
    assert wire["name"] == "Renamed"
    assert Decimal(wire["power"]["active"]["maximum"]) == new_max
    is_group = kind == "group"
    assert ("capacity" in body) == (kind in ("battery", "group", "group_member"))
    assert ("group_id" in body) is not is_group
    assert ("webhooks" in body) is not is_group
    # null only where the spec allows it (group_id: leaving a group).
    assert [k for k, v in body.items() if v is None] == (
        ["group_id"] if kind not in ("group", "group_member") else []
    )
    if kind == "group_member":
        group_id = subentry_by_title(entry, "Group").data["resource_id"]
        assert wire["group_id"] == group_id
