"""Device triggers and conditions: listed in the automation editor, firing in automations.

Inside Home Assistant against the sandbox: LPC events and price curves on the
Energy Coordination API (created with the sandbox's control route, read by
polling), activations on Powernaut (accepted bids, by webhook).
"""

from __future__ import annotations

from datetime import datetime, timedelta
import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import automation
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import (
    condition,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.device_condition import CONDITION_TYPES
from custom_components.gridflex.device_trigger import TRIGGER_TYPES

from .conftest import Sandbox, create_lpc_event, setup_site
from .test_resources import add_resource, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
QUARTER = timedelta(minutes=15)
BATTERY = {
    "power_entity": "sensor.battery_power",
    "power_min_kw": -5,
    "power_max_kw": 5,
    "capacity_kwh": 10,
}
CHARGER = {
    "power_entity": "sensor.charger_power",
    "power_min_kw": 0,
    "power_max_kw": 7.4,
}
RECORD = {
    "action": "test.automation",
    "data": {
        "name": "{{ this.attributes.id }}",
        "type": "{{ trigger.type }}",
        "platform": "{{ trigger.platform }}",
        "event_id": "{{ trigger.event.data.event_id }}",
        "kind": "{{ trigger.event.data.type }}",
        "limit_kw": "{{ trigger.event.data.limit_kw }}",
        "setpoint_kw": "{{ trigger.event.data.setpoint_kw }}",
        "start": "{{ trigger.event.data.start }}",
        "resource_name": "{{ trigger.event.data.resource_name }}",
        "windows": "{{ trigger.event.data.windows }}",
    },
}


@pytest.fixture(autouse=True)
def morning(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Start at 10:00 UTC, with the home's power sensors in place."""
    freezer.move_to(T0)
    for entity_id in ("sensor.battery_power", "sensor.charger_power"):
        hass.states.async_set(
            entity_id, "0", {"unit_of_measurement": "W", "device_class": "power"}
        )


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _site_device(device_registry: dr.DeviceRegistry, entry: ConfigEntry) -> str:
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    return device.id


def _resource_device(
    device_registry: dr.DeviceRegistry, entry: ConfigEntry, subentry: ConfigSubentry
) -> str:
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}"), entry.entry_id
    )
    assert device is not None
    return device.id


async def _listed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, what: str, device_id: str
) -> list[str]:
    """Return the types the automation editor lists for a device."""
    assert await async_setup_component(hass, "device_automation", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": f"device_automation/{what}/list", "device_id": device_id}
    )
    msg = await client.receive_json()
    assert msg["success"], msg
    # The entities' own (binary sensor on/off, ...) are listed too.
    ours = [item for item in msg["result"] if item["domain"] == DOMAIN]
    for item in ours:
        assert item["device_id"] == device_id
        assert "entity_id" not in item
    return sorted(item["type"] for item in ours)


async def _automations(
    hass: HomeAssistant, triggers: dict[str, tuple[str, str]]
) -> list[ServiceCall]:
    """Set up one automation per named (device, trigger type); return its calls."""
    calls = async_mock_service(hass, "test", "automation")
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "id": name,
                    "alias": name,
                    "triggers": [
                        {
                            "platform": "device",
                            "domain": DOMAIN,
                            "device_id": device_id,
                            "type": kind,
                        }
                    ],
                    "actions": [RECORD],
                }
                for name, (device_id, kind) in triggers.items()
            ]
        },
    )
    await hass.async_block_till_done()
    for name in triggers:
        assert hass.states.get(f"automation.{name}").state == STATE_ON, name
    return calls


def _fired(calls: list[ServiceCall]) -> list[tuple[str, str]]:
    return sorted((call.data["name"], call.data["kind"]) for call in calls)


async def _check_conditions(
    hass: HomeAssistant, conditions: dict[str, tuple[str, str]]
) -> dict[str, bool]:
    """Evaluate each named device condition now, through an automation's condition."""
    results: dict[str, bool] = {}
    for name, (device_id, kind) in conditions.items():
        checker = await condition.async_from_config(
            hass,
            await condition.async_validate_condition_config(
                hass,
                {
                    "condition": "device",
                    "domain": DOMAIN,
                    "device_id": device_id,
                    "type": kind,
                },
            ),
        )
        results[name] = bool(checker(hass, {}))
        checker.async_unload()
    return results


async def _create_lpc(
    sandbox: Sandbox,
    entry: ConfigEntry,
    payload_type: str,
    limits: list[float],
    start: datetime,
    resource_ids: tuple[str, ...] = (),
) -> str:
    return await create_lpc_event(
        sandbox,
        entry,
        start,
        limits,
        payload_type=payload_type,
        resource_ids=resource_ids,
    )


async def test_lpc_triggers_and_conditions(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Site and resource LPC triggers fire for their own events, with the event's data."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    battery = subentry_by_title(entry, "Battery")
    charger = subentry_by_title(entry, "Charger")
    site = _site_device(device_registry, entry)
    battery_device = _resource_device(device_registry, entry, battery)
    charger_device = _resource_device(device_registry, entry, charger)

    assert await _listed(hass, hass_ws_client, "trigger", site) == sorted(
        [
            "lpc_received",
            "lpc_started",
            "lpc_ended",
            "price_curve_received",
            "limit_exceeded",
        ]
    )
    assert await _listed(hass, hass_ws_client, "trigger", battery_device) == sorted(
        ["lpc_received", "lpc_started", "lpc_ended"]
    )
    assert await _listed(hass, hass_ws_client, "condition", site) == [
        "limit_control_on",
        "lpc_active",
    ]
    assert await _listed(hass, hass_ws_client, "condition", charger_device) == [
        "lpc_active"
    ]

    calls = await _automations(
        hass,
        {
            "site_received": (site, "lpc_received"),
            "site_started": (site, "lpc_started"),
            "site_ended": (site, "lpc_ended"),
            "site_prices": (site, "price_curve_received"),
            "battery_received": (battery_device, "lpc_received"),
            "battery_started": (battery_device, "lpc_started"),
            "battery_ended": (battery_device, "lpc_ended"),
            "charger_received": (charger_device, "lpc_received"),
        },
    )
    conditions = {
        "site": (site, "lpc_active"),
        "battery": (battery_device, "lpc_active"),
        "charger": (charger_device, "lpc_active"),
    }
    assert await _check_conditions(hass, conditions) == {
        "site": False,
        "battery": False,
        "charger": False,
    }

    # 11:00-12:00 the battery's own limit; 13:00-14:00 the site's.
    battery_event = await _create_lpc(
        sandbox,
        entry,
        "ResourceLPC",
        [2.5],
        T0 + timedelta(hours=1),
        (battery.data["resource_id"],),
    )
    site_event = await _create_lpc(
        sandbox, entry, "LocationLPC", [5], T0 + timedelta(hours=3)
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5))  # next poll
    assert _fired(calls) == [
        ("battery_received", "lpc_received"),
        ("site_received", "lpc_received"),
    ]
    by_name = {call.data["name"]: call.data for call in calls}
    assert by_name["site_received"]["event_id"] == site_event
    assert by_name["site_received"]["limit_kw"] == 5.0
    assert by_name["site_received"]["start"] == "2026-11-22T13:00:00+00:00"
    assert by_name["site_received"]["type"] == "lpc_received"
    assert by_name["site_received"]["platform"] == "device"
    assert by_name["site_received"]["windows"] == [
        {
            "start": "2026-11-22T13:00:00+00:00",
            "end": "2026-11-22T14:00:00+00:00",
            "limit_kw": 5.0,
        }
    ]
    assert by_name["battery_received"]["event_id"] == battery_event
    assert by_name["battery_received"]["limit_kw"] == 2.5

    calls.clear()
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert _fired(calls) == [("battery_started", "lpc_started")]
    assert await _check_conditions(hass, conditions) == {
        "site": False,
        "battery": True,
        "charger": False,
    }
    calls.clear()
    await _advance(hass, freezer, T0 + timedelta(hours=2, minutes=1))
    assert _fired(calls) == [("battery_ended", "lpc_ended")]

    calls.clear()
    await _advance(hass, freezer, T0 + timedelta(hours=3, minutes=1))
    assert _fired(calls) == [("site_started", "lpc_started")]
    assert calls[0].data["limit_kw"] == 5.0
    assert await _check_conditions(hass, conditions) == {
        "site": True,
        "battery": False,
        "charger": False,
    }
    calls.clear()
    await _advance(hass, freezer, T0 + timedelta(hours=4, minutes=1))
    assert _fired(calls) == [("site_ended", "lpc_ended")]
    assert await _check_conditions(hass, conditions) == {
        "site": False,
        "battery": False,
        "charger": False,
    }

    # A price curve for the site's resources.
    calls.clear()
    location_id = entry.data["site_id"].split("/", 1)[1]
    prices = await sandbox.control(
        "POST",
        "energy_coordination/events",
        {
            "payload": {
                "payloadType": "PriceCurve",
                "targets": [
                    {
                        "resourceId": battery.data["resource_id"],
                        "locationId": location_id,
                    }
                ],
                "priceCurveDelta": {
                    "points": [
                        {
                            "timestamp": (T0 + timedelta(hours=6)).isoformat(),
                            "price": 1.25,
                        }
                    ],
                    "energyUnit": "kWh",
                    "currency": "NOK",
                    "resolution": "01:00:00",
                },
                "priceArea": "NO1",
            }
        },
    )
    await _advance(hass, freezer, T0 + timedelta(hours=4, minutes=6))
    assert _fired(calls) == [("site_prices", "price_curve_received")]
    assert calls[0].data["event_id"] == str(prices["id"])


async def test_activation_triggers_and_conditions(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Activation triggers fire on the site and on the activated resource only."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    # The resources get their webhook when GridFlex (re)starts.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    battery = subentry_by_title(entry, "Battery")
    charger = subentry_by_title(entry, "Charger")
    site = _site_device(device_registry, entry)
    battery_device = _resource_device(device_registry, entry, battery)
    charger_device = _resource_device(device_registry, entry, charger)
    activation_types = sorted(
        ["activation_started", "activation_ended", "activation_cancelled"]
    )
    assert await _listed(hass, hass_ws_client, "trigger", site) == sorted(
        [*activation_types, "limit_exceeded"]
    )
    assert (
        await _listed(hass, hass_ws_client, "trigger", battery_device)
        == activation_types
    )
    assert await _listed(hass, hass_ws_client, "condition", site) == [
        "activation_active",
        "limit_control_on",
    ]
    assert await _listed(hass, hass_ws_client, "condition", battery_device) == [
        "activation_active"
    ]

    calls = await _automations(
        hass,
        {
            "site_started": (site, "activation_started"),
            "site_ended": (site, "activation_ended"),
            "site_cancelled": (site, "activation_cancelled"),
            "battery_started": (battery_device, "activation_started"),
            "battery_ended": (battery_device, "activation_ended"),
            "battery_cancelled": (battery_device, "activation_cancelled"),
            "charger_started": (charger_device, "activation_started"),
        },
    )
    conditions = {
        "site": (site, "activation_active"),
        "battery": (battery_device, "activation_active"),
        "charger": (charger_device, "activation_active"),
    }

    async def activate(start: datetime, value: str) -> str:
        bid = await sandbox.control(
            "POST",
            f"powernaut/resources/{battery.data['resource_id']}/bids",
            {
                "timing": {
                    "start": start.isoformat().replace("+00:00", "Z"),
                    "end": (start + QUARTER).isoformat().replace("+00:00", "Z"),
                },
                "curve": [{"value": value}],
            },
        )
        await sandbox.control(
            "POST", f"powernaut/bids/{bid['id']}/activate", {"value": value}
        )
        return str(bid["id"])

    # 10:15-10:30 the battery at 2.5 kW (learnt by polling).
    await activate(T0 + QUARTER, "2.5")
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert calls == []
    await _advance(hass, freezer, T0 + QUARTER + timedelta(seconds=1))
    assert _fired(calls) == [
        ("battery_started", "activation_started"),
        ("site_started", "activation_started"),
    ]
    assert {call.data["setpoint_kw"] for call in calls} == {2.5}
    assert {call.data["resource_name"] for call in calls} == {"Battery"}
    assert await _check_conditions(hass, conditions) == {
        "site": True,
        "battery": True,
        "charger": False,
    }
    calls.clear()
    await _advance(hass, freezer, T0 + 2 * QUARTER + timedelta(seconds=1))
    assert _fired(calls) == [
        ("battery_ended", "activation_ended"),
        ("site_ended", "activation_ended"),
    ]
    assert await _check_conditions(hass, conditions) == {
        "site": False,
        "battery": False,
        "charger": False,
    }

    # 11:00-11:15 the battery again, cancelled by Powernaut before it starts.
    calls.clear()
    bid = await activate(T0 + 4 * QUARTER, "-1.0")
    client = await hass_client_no_auth()
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}", json={"id": bid}
    )
    assert resp.status == 200
    await hass.async_block_till_done()
    await sandbox.control("POST", f"powernaut/bids/{bid}/activate", {"value": None})
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}", json={"id": bid}
    )
    assert resp.status == 200
    await hass.async_block_till_done()
    assert _fired(calls) == [
        ("battery_cancelled", "activation_cancelled"),
        ("site_cancelled", "activation_cancelled"),
    ]
    assert {call.data["setpoint_kw"] for call in calls} == {-1.0}
    calls.clear()
    await _advance(hass, freezer, T0 + 4 * QUARTER + timedelta(seconds=1))
    assert calls == []  # a cancelled activation never starts
    assert await _check_conditions(hass, conditions) == {
        "site": False,
        "battery": False,
        "charger": False,
    }


async def test_devices_without_grid_events(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    hass_ws_client: WebSocketGenerator,
    sandbox: Sandbox,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A group, a site without grid events and an unloaded site offer nothing."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(
        hass,
        entry,
        "Hybrid",
        "group",
        {"power_min_kw": -8, "power_max_kw": 8, "capacity_kwh": 10},
    )
    group = _resource_device(device_registry, entry, subentry_by_title(entry, "Hybrid"))
    site = _site_device(device_registry, entry)
    assert await _listed(hass, hass_ws_client, "trigger", group) == []
    assert await _listed(hass, hass_ws_client, "condition", group) == []
    # A trigger on the group cannot be attached: its automation does not run.
    calls = async_mock_service(hass, "test", "automation")
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "id": "group",
                "alias": "group",
                "triggers": [
                    {
                        "platform": "device",
                        "domain": DOMAIN,
                        "device_id": group,
                        "type": "activation_started",
                    }
                ],
                "actions": [RECORD],
            }
        },
    )
    await hass.async_block_till_done()
    assert "Not a GridFlex device" in caplog.text
    assert calls == []

    # FlexMeasures sends no grid events; a manual limit can still be exceeded.
    flexmeasures = await setup_site(hass, sandbox, "flexmeasures")
    assert await _listed(
        hass, hass_ws_client, "trigger", _site_device(device_registry, flexmeasures)
    ) == ["limit_exceeded"]

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await _listed(hass, hass_ws_client, "trigger", site) == []
    # The condition is false without its sensor's state.
    assert await _check_conditions(hass, {"site": (site, "activation_active")}) == {
        "site": False
    }


def test_trigger_types_are_translated() -> None:
    """Each trigger and condition type has a translation in every language."""
    folder = Path(__file__).parent.parent / "custom_components/gridflex/translations"
    for path in sorted(folder.glob("*.json")):
        automations: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))[
            "device_automation"
        ]
        assert set(automations["trigger_type"]) == set(TRIGGER_TYPES), path.name
        assert set(automations["condition_type"]) == set(CONDITION_TYPES), path.name
