"""Powernaut activations per resource: each on its resource's device, summed on the site.

Inside Home Assistant against the sandbox's Powernaut API (every request
validated against Powernaut's OpenAPI file): bids are placed and accepted with
the sandbox's control routes; GridFlex learns of them by the bid-accepted
webhook (posted to Home Assistant as Powernaut would) and by polling.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.gridflex.const import DOMAIN

from .conftest import Sandbox, setup_site
from .test_resources import add_resource, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
QUARTER = timedelta(minutes=15)
SITE_SETPOINT = "sensor.home_activation_setpoint"
SITE_ACTIVE = "binary_sensor.home_activation_active"
GRID_EVENT = "event.home_grid_event"
RESOURCES: dict[str, tuple[str, dict[str, Any]]] = {
    "Battery": (
        "battery",
        {
            "power_entity": "sensor.battery_power",
            "power_min_kw": -5,
            "power_max_kw": 5,
            "capacity_kwh": 10,
        },
    ),
    "Charger": (
        "ev_charger",
        {
            "power_entity": "sensor.charger_power",
            "power_min_kw": 0,
            "power_max_kw": 7.4,
        },
    ),
    "Heat pump": (
        "heat_pump",
        {
            "power_entity": "sensor.heat_pump_power",
            "power_min_kw": 0,
            "power_max_kw": 3,
        },
    ),
}


@pytest.fixture(autouse=True)
def morning(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Start at 10:00 UTC, with the home's power sensors in place."""
    freezer.move_to(T0)
    for entity_id in (
        "sensor.battery_power",
        "sensor.charger_power",
        "sensor.heat_pump_power",
    ):
        hass.states.async_set(
            entity_id, "0", {"unit_of_measurement": "W", "device_class": "power"}
        )


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _activate(
    sandbox: Sandbox, subentry: ConfigSubentry, start: datetime, value: str
) -> str:
    """Place a one-quarter-hour bid for the resource and have Powernaut accept it.

    Accepting a bid cancels the site's other *open* bids, so each bid is
    placed and accepted before the next one is placed.
    """
    bid = await sandbox.control(
        "POST",
        f"powernaut/resources/{subentry.data['resource_id']}/bids",
        {
            "timing": {"start": _z(start), "end": _z(start + QUARTER)},
            "curve": [{"value": value}],
        },
    )
    await sandbox.control(
        "POST", f"powernaut/bids/{bid['id']}/activate", {"value": value}
    )
    return str(bid["id"])


def _ids(
    entity_registry: er.EntityRegistry, entry: ConfigEntry, subentry: ConfigSubentry
) -> tuple[str, str]:
    """Return the resource's setpoint sensor and active binary sensor."""
    prefix = f"{entry.unique_id}_{subentry.subentry_id}"
    setpoint = entity_registry.async_get_entity_id(
        "sensor", DOMAIN, f"{prefix}_activation_setpoint"
    )
    active = entity_registry.async_get_entity_id(
        "binary_sensor", DOMAIN, f"{prefix}_activation_active"
    )
    assert setpoint is not None, subentry.title
    assert active is not None, subentry.title
    return setpoint, active


def _device_id(
    device_registry: dr.DeviceRegistry, entry: ConfigEntry, subentry: ConfigSubentry
) -> str:
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}"), entry.entry_id
    )
    assert device is not None
    return device.id


async def _site_with_resources(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    """A Powernaut site with a battery, a charger and a heat pump (webhooks set)."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    for name, (resource_type, details) in RESOURCES.items():
        await add_resource(hass, entry, name, resource_type, details)
    # The resources get their webhook when GridFlex (re)starts.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _assert_on_device(
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    entry: ConfigEntry,
    subentry: ConfigSubentry,
) -> None:
    """The resource's activation entities are on its device, in its subentry."""
    for entity_id in _ids(entity_registry, entry, subentry):
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        assert registered.config_subentry_id == subentry.subentry_id
        assert registered.device_id == _device_id(device_registry, entry, subentry)


def _activation_events(bus: list[Event], kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in bus if e.data["type"] == kind]


async def test_two_resources_activated_at_once(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Two activations at once: each on its resource, their sum on the site."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", bus.append)
    entry = await _site_with_resources(hass, sandbox)
    battery = subentry_by_title(entry, "Battery")
    charger = subentry_by_title(entry, "Charger")
    heat_pump = subentry_by_title(entry, "Heat pump")
    battery_setpoint, battery_active = _ids(entity_registry, entry, battery)
    charger_setpoint, charger_active = _ids(entity_registry, entry, charger)
    heat_pump_setpoint, heat_pump_active = _ids(entity_registry, entry, heat_pump)
    assert (battery_setpoint, battery_active) == (
        "sensor.battery_activation_setpoint",
        "binary_sensor.battery_activation_active",
    )
    # On each resource's own device.
    for subentry in (battery, charger, heat_pump):
        _assert_on_device(entity_registry, device_registry, entry, subentry)
    for entity_id in (SITE_SETPOINT, battery_setpoint, charger_setpoint):
        assert hass.states.get(entity_id).state == STATE_UNKNOWN
    for entity_id in (SITE_ACTIVE, battery_active, charger_active):
        assert hass.states.get(entity_id).state == STATE_OFF

    # 10:15-10:30 the battery at 2.5 kW and the charger at 3.7 kW; the charger
    # then at 1.5 kW until 10:45.
    start = T0 + QUARTER
    battery_bid = await _activate(sandbox, battery, start, "2.5")
    await _activate(sandbox, charger, start, "3.7")
    late_bid = await _activate(sandbox, charger, start + QUARTER, "1.5")
    # The battery's activation comes by webhook, the charger's by polling.
    client = await hass_client_no_auth()
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}", json={"id": battery_bid}
    )
    assert resp.status == 200
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert hass.states.get(SITE_SETPOINT).state == STATE_UNKNOWN

    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert hass.states.get(battery_setpoint).state == "2.5"
    assert hass.states.get(charger_setpoint).state == "3.7"
    assert hass.states.get(SITE_SETPOINT).state == "6.2"
    for entity_id in (SITE_ACTIVE, battery_active, charger_active):
        assert hass.states.get(entity_id).state == STATE_ON
    # A resource without an activation shows none.
    assert hass.states.get(heat_pump_setpoint).state == STATE_UNKNOWN
    assert hass.states.get(heat_pump_active).state == STATE_OFF

    started = _activation_events(bus, "activation_started")
    assert sorted(
        (e["resource_name"], e["setpoint_kw"], e["subentry_id"], e["device_id"])
        for e in started
    ) == [
        (
            "Battery",
            2.5,
            battery.subentry_id,
            _device_id(device_registry, entry, battery),
        ),
        (
            "Charger",
            3.7,
            charger.subentry_id,
            _device_id(device_registry, entry, charger),
        ),
    ]
    for event in started:
        assert "limit_kw" not in event
        subentry = battery if event["resource_name"] == "Battery" else charger
        assert event["resource_ids"] == [subentry.data["resource_id"]]
    grid_event = hass.states.get(GRID_EVENT).attributes
    assert grid_event["event_type"] == "activation_started"
    assert grid_event["resource_name"] in ("Battery", "Charger")
    assert grid_event["setpoint_kw"] in (2.5, 3.7)

    for entity_id in (
        SITE_SETPOINT,
        SITE_ACTIVE,
        battery_setpoint,
        battery_active,
        charger_setpoint,
    ):
        registered = entity_registry.async_get(entity_id)
        assert registered == snapshot(
            name=f"{entity_id}-entry", exclude=props("unique_id")
        )
        assert hass.states.get(entity_id) == snapshot(name=f"{entity_id}-state")

    # A restart keeps what is in force: the entities come back from the ledger,
    # and nothing is announced again.
    await _advance(hass, freezer, start + timedelta(minutes=5))
    announced = len(bus)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(battery_setpoint).state == "2.5"
    assert hass.states.get(charger_setpoint).state == "3.7"
    assert hass.states.get(SITE_SETPOINT).state == "6.2"
    assert hass.states.get(battery_active).state == STATE_ON
    assert hass.states.get(heat_pump_setpoint).state == STATE_UNKNOWN
    assert len(bus) == announced

    # 10:30: the battery's activation ends; the charger's next one starts.
    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert hass.states.get(battery_setpoint).state == STATE_UNKNOWN
    assert hass.states.get(battery_active).state == STATE_OFF
    assert hass.states.get(charger_setpoint).state == "1.5"
    assert hass.states.get(charger_active).state == STATE_ON
    assert hass.states.get(SITE_SETPOINT).state == "1.5"
    assert hass.states.get(SITE_ACTIVE).state == STATE_ON
    ended = _activation_events(bus, "activation_ended")
    assert sorted((e["resource_name"], e["setpoint_kw"]) for e in ended) == [
        ("Battery", 2.5),
        ("Charger", 3.7),
    ]

    # 10:35: Powernaut cancels the charger's activation.
    await _advance(hass, freezer, start + QUARTER + timedelta(minutes=5))
    await sandbox.control(
        "POST", f"powernaut/bids/{late_bid}/activate", {"value": None}
    )
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}", json={"id": late_bid}
    )
    assert resp.status == 200
    await hass.async_block_till_done()
    (cancelled,) = _activation_events(bus, "activation_cancelled")
    assert cancelled["resource_name"] == "Charger"
    assert cancelled["subentry_id"] == charger.subentry_id
    assert cancelled["setpoint_kw"] == 1.5
    for entity_id in (SITE_SETPOINT, charger_setpoint, battery_setpoint):
        assert hass.states.get(entity_id).state == STATE_UNKNOWN
    for entity_id in (SITE_ACTIVE, charger_active, battery_active):
        assert hass.states.get(entity_id).state == STATE_OFF

    # 10:37: Powernaut activates the same bid again.
    started_before = len(_activation_events(bus, "activation_started"))
    await _advance(hass, freezer, start + QUARTER + timedelta(minutes=7))
    await sandbox.control(
        "POST", f"powernaut/bids/{late_bid}/activate", {"value": "1.5"}
    )
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}", json={"id": late_bid}
    )
    assert resp.status == 200
    await hass.async_block_till_done()
    *_, restarted = _activation_events(bus, "activation_started")
    assert len(_activation_events(bus, "activation_started")) == started_before + 1
    assert (restarted["resource_name"], restarted["setpoint_kw"]) == ("Charger", 1.5)
    assert hass.states.get(charger_setpoint).state == "1.5"
    assert hass.states.get(charger_active).state == STATE_ON
    # A poll that reads it again changes nothing.
    await _advance(hass, freezer, start + QUARTER + timedelta(minutes=9))
    assert _activation_events(bus, "activation_started")[-1] == restarted
    assert len(_activation_events(bus, "activation_cancelled")) == 1


async def test_activation_of_unknown_resource(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A resource GridFlex no longer has: counted on the site, named by no one."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", bus.append)
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(hass, entry, "Battery", "battery", RESOURCES["Battery"][1])
    battery = subentry_by_title(entry, "Battery")
    start = T0 + QUARTER
    bid = await _activate(sandbox, battery, start, "-2.0")
    client = await hass_client_no_auth()
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}", json={"id": bid}
    )
    assert resp.status == 200
    await hass.async_block_till_done()
    # The resource is removed from GridFlex (and the platform) afterwards.
    assert hass.config_entries.async_remove_subentry(entry, battery.subentry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert hass.states.get(SITE_SETPOINT).state == "-2.0"
    assert hass.states.get(SITE_ACTIVE).state == STATE_ON
    (started,) = _activation_events(bus, "activation_started")
    assert started["setpoint_kw"] == -2.0
    assert started["resource_ids"] == [battery.data["resource_id"]]
    assert (
        started["resource_name"],
        started["subentry_id"],
        started["device_id"],
    ) == (None, None, None)
