"""Grid event entities: site and resource scope, calendar, event types.

Inside Home Assistant against the sandbox's Energy Coordination API: events
are created with the sandbox's control route and reach GridFlex by polling.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
import json
from pathlib import Path
from types import MappingProxyType

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.calendar import DOMAIN as CALENDAR_DOMAIN
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.calendar import TEXTS
from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.entity import resource_lpc_window
from custom_components.gridflex.event_coordinator import EVENT_TYPES

from .conftest import GSRN_NO, Sandbox, setup_site
from .test_resources import add_resource, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
SITE_LPC_ACTIVE = "binary_sensor.home_lpc_active"
SITE_LIMIT = "sensor.home_power_limit"
LIMIT_USAGE = "sensor.home_power_against_limit"
NEXT = "sensor.home_next_grid_event"
GRID_EVENT = "event.home_grid_event"
CALENDAR = "calendar.home_grid_events"
TRANSLATIONS = Path(__file__).parent.parent / "custom_components/gridflex/translations"

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


@pytest.fixture(autouse=True)
def morning(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Start the day at 10:00 UTC, with the home's power sensors in place."""
    freezer.move_to(T0)
    for entity_id in ("sensor.battery_power", "sensor.charger_power"):
        hass.states.async_set(
            entity_id, "0", {"unit_of_measurement": "W", "device_class": "power"}
        )
    hass.states.async_set(
        "sensor.grid_power",
        "4000",
        {"unit_of_measurement": "W", "device_class": "power"},
    )


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _create_event(
    sandbox: Sandbox,
    entry: ConfigEntry,
    payload_type: str,
    limits: Sequence[float],
    *,
    start: datetime = T0 + timedelta(hours=1),
    resource_ids: Sequence[str] = (),
) -> str:
    """Create an event on the platform with hourly limits from ``start``."""
    location_id = entry.data["site_id"].split("/", 1)[1]
    points = [
        {
            "timestamp": (start + timedelta(hours=index)).isoformat(),
            "maxPowerInKiloWatts": limit,
        }
        for index, limit in enumerate(limits)
    ]
    target = {
        "locationId": location_id,
        "meterPointId": GSRN_NO,
        "resolution": "01:00:00",
        "points": points,
    }
    targets = (
        [{**target, "resourceId": resource_id} for resource_id in resource_ids]
        if resource_ids
        else [target]
    )
    created = await sandbox.control(
        "POST",
        "energy_coordination/events",
        {"payload": {"payloadType": payload_type, "targets": targets}},
    )
    return str(created["id"])


def _resource_entity(
    entity_registry: er.EntityRegistry,
    entry: ConfigEntry,
    subentry: ConfigSubentry,
    domain: Platform,
    key: str,
) -> str:
    """Return the entity id of a resource's entity, found by its unique id."""
    entity_id = entity_registry.async_get_entity_id(
        domain, DOMAIN, f"{entry.unique_id}_{subentry.subentry_id}_{key}"
    )
    assert entity_id is not None, (subentry.title, key)
    return entity_id


async def _calendar_summaries(
    hass: HomeAssistant, calendar: str = CALENDAR
) -> list[str]:
    response = await hass.services.async_call(
        CALENDAR_DOMAIN,
        "get_events",
        {"entity_id": calendar, "duration": {"hours": 24}},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return [event["summary"] for event in response[calendar]["events"]]  # type: ignore[index]


async def _site_with_resources(
    hass: HomeAssistant, sandbox: Sandbox
) -> tuple[ConfigEntry, ConfigSubentry, ConfigSubentry]:
    """A site with a grid power sensor, a battery (there at start) and a charger.

    The charger is added while Home Assistant runs; the battery is there when
    GridFlex starts (the options change reloads the entry).
    """
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": "sensor.grid_power"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await add_resource(hass, entry, "Charger", "ev_charger", CHARGER)
    return (
        entry,
        subentry_by_title(entry, "Battery"),
        subentry_by_title(entry, "Charger"),
    )


async def test_resource_and_site_scope(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """A ResourceLPC limits only its resource; a LocationLPC only the site."""
    entry, battery, charger = await _site_with_resources(hass, sandbox)
    battery_active = _resource_entity(
        entity_registry, entry, battery, Platform.BINARY_SENSOR, "lpc_active"
    )
    battery_limit = _resource_entity(
        entity_registry, entry, battery, Platform.SENSOR, "power_limit"
    )
    charger_active = _resource_entity(
        entity_registry, entry, charger, Platform.BINARY_SENSOR, "lpc_active"
    )
    charger_limit = _resource_entity(
        entity_registry, entry, charger, Platform.SENSOR, "power_limit"
    )
    assert battery_active == "binary_sensor.battery_lpc_active"
    assert battery_limit == "sensor.battery_power_limit"
    # The charger came while Home Assistant ran: its entities are on its device.
    charger_entry = entity_registry.async_get(charger_limit)
    assert charger_entry is not None
    assert charger_entry.config_subentry_id == charger.subentry_id
    assert charger_entry.device_id is not None
    assert hass.states.get(charger_active).state == STATE_OFF
    assert hass.states.get(charger_limit).state == STATE_UNKNOWN
    assert hass.states.get(charger_limit).attributes["unit_of_measurement"] == "kW"

    await _create_event(
        sandbox,
        entry,
        "ResourceLPC",
        [2.5],
        resource_ids=[battery.data["resource_id"]],
    )
    await _create_event(
        sandbox, entry, "LocationLPC", [5], start=T0 + timedelta(hours=3)
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    summaries = await _calendar_summaries(hass)
    assert summaries == ["LPC 2.5 kW for Battery", "LPC 5 kW"]

    # 11:00-12:00: the battery's limit; the site and the charger are free.
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert hass.states.get(battery_active).state == STATE_ON
    assert hass.states.get(battery_limit).state == "2.5"
    assert hass.states.get(charger_active).state == STATE_OFF
    assert hass.states.get(charger_limit).state == STATE_UNKNOWN
    assert hass.states.get(SITE_LPC_ACTIVE).state == STATE_OFF
    assert hass.states.get(SITE_LIMIT).state == STATE_UNKNOWN
    assert hass.states.get(LIMIT_USAGE).state == STATE_UNKNOWN

    # Known events outlast an outage of the platform.
    await sandbox.fault("*", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=15))
    assert not entry.runtime_data.event_coordinator.last_update_success
    assert hass.states.get(battery_limit).state == "2.5"
    assert hass.states.get(battery_active).state == STATE_ON
    await sandbox.clear_faults()

    await _advance(hass, freezer, T0 + timedelta(hours=2))
    assert hass.states.get(battery_active).state == STATE_OFF
    assert hass.states.get(battery_limit).state == STATE_UNKNOWN

    # 13:00-14:00: the site's limit; no resource is limited.
    await _advance(hass, freezer, T0 + timedelta(hours=3, minutes=1))
    assert hass.states.get(SITE_LPC_ACTIVE).state == STATE_ON
    assert hass.states.get(SITE_LIMIT).state == "5"
    assert hass.states.get(LIMIT_USAGE).state == "80.0"
    assert hass.states.get(LIMIT_USAGE).attributes["unit_of_measurement"] == "%"
    for entity_id in (battery_active, charger_active):
        assert hass.states.get(entity_id).state == STATE_OFF
    for entity_id in (battery_limit, charger_limit):
        assert hass.states.get(entity_id).state == STATE_UNKNOWN

    # A ResourceLPC for the charger, which came while Home Assistant ran.
    await _create_event(
        sandbox,
        entry,
        "ResourceLPC",
        [3.7],
        start=T0 + timedelta(hours=5),
        resource_ids=[charger.data["resource_id"]],
    )
    await _advance(hass, freezer, T0 + timedelta(hours=5, minutes=1))
    assert hass.states.get(charger_active).state == STATE_ON
    assert hass.states.get(charger_limit).state == "3.7"
    assert hass.states.get(battery_active).state == STATE_OFF
    assert hass.states.get(SITE_LPC_ACTIVE).state == STATE_OFF


async def test_limit_usage_keeps_unique_id(
    hass: HomeAssistant, sandbox: Sandbox, entity_registry: er.EntityRegistry
) -> None:
    """The renamed sensor keeps the unique id of "LPC compliance" (its history)."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    registered = entity_registry.async_get(LIMIT_USAGE)
    assert registered is not None
    assert registered.unique_id == f"{entry.unique_id}_lpc_compliance"
    assert registered.translation_key == "limit_usage"
    state = hass.states.get(LIMIT_USAGE)
    assert state.attributes["friendly_name"] == "Home Power against limit"
    assert state.state == STATE_UNKNOWN


async def test_next_grid_event_is_next_event(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Next grid event is the next event's start, not the next hour of this one."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    # 11:00-13:00 at 5 kW, then 13:00-14:00 at 3 kW: two windows, one event.
    await _create_event(sandbox, entry, "LocationLPC", [5, 5, 3])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert hass.states.get(NEXT).state == "2026-11-22T11:00:00+00:00"

    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=30))
    assert hass.states.get(SITE_LIMIT).state == "5"
    assert hass.states.get(NEXT).state == STATE_UNKNOWN  # not 13:00

    await _create_event(
        sandbox, entry, "LocationLPC", [4], start=T0 + timedelta(hours=6)
    )
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=35))
    assert hass.states.get(NEXT).state == "2026-11-22T16:00:00+00:00"


async def test_reservation(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An announced LPC is in the calendar as a reservation, and limits nothing."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _create_event(sandbox, entry, "LPCReservation", [5])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    state = hass.states.get(GRID_EVENT)
    assert state.attributes["event_type"] == "lpc_reservation_received"
    assert state.attributes["event_id"] == event_id
    assert state.attributes["limit_kw"] == 5.0
    assert await _calendar_summaries(hass) == ["LPC reservation 5 kW"]
    calendar = hass.states.get(CALENDAR)
    assert calendar.state == STATE_OFF
    assert calendar.attributes["message"] == "LPC reservation 5 kW"
    assert calendar.attributes["description"] == f"Grid event {event_id}"
    assert hass.states.get(NEXT).state == STATE_UNKNOWN

    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert hass.states.get(CALENDAR).state == STATE_ON
    assert hass.states.get(SITE_LPC_ACTIVE).state == STATE_OFF
    assert hass.states.get(SITE_LIMIT).state == STATE_UNKNOWN


async def test_declined_event(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A declined event stays in the calendar, marked, and is not in force."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _create_event(sandbox, entry, "LocationLPC", [4])
    # The automatic acknowledgement fails, so the event can still be declined.
    await sandbox.fault("/energy-coordination/v1/reports", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    await sandbox.clear_faults()
    await hass.services.async_call(
        DOMAIN,
        "decline_event",
        {"config_entry_id": entry.entry_id, "event_id": event_id},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(GRID_EVENT).attributes["event_type"] == "lpc_declined"
    assert await _calendar_summaries(hass) == ["LPC 4 kW (declined)"]
    assert hass.states.get(NEXT).state == STATE_UNKNOWN

    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert hass.states.get(SITE_LPC_ACTIVE).state == STATE_OFF
    assert hass.states.get(SITE_LIMIT).state == STATE_UNKNOWN


async def test_calendar_in_dutch(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """Summaries follow Home Assistant's language; unknown resource ids stay ids."""
    await hass.config.async_update(language="nl")
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await _create_event(sandbox, entry, "LPCReservation", [5])
    await _create_event(
        sandbox,
        entry,
        "ResourceLPC",
        [3],
        start=T0 + timedelta(hours=2),
        resource_ids=["not-a-gridflex-resource"],
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    calendar = entity_registry.async_get_entity_id(
        Platform.CALENDAR, DOMAIN, f"{entry.unique_id}_grid_events"
    )
    assert calendar is not None
    assert await _calendar_summaries(hass, calendar) == [
        "LPC-reservering 5 kW",
        "LPC 3 kW voor not-a-gridflex-resource",
    ]


def test_translations() -> None:
    """Every event type and calendar text is translated in every language."""
    for language in ("en", "nl", "nb"):
        entity = json.loads((TRANSLATIONS / f"{language}.json").read_text())["entity"]
        event_types = entity["event"]["grid_event"]["state_attributes"]["event_type"]
        assert set(event_types["state"]) == set(EVENT_TYPES), language
        calendar = {
            (attribute, key): text
            for attribute, texts in entity["calendar"]["grid_events"][
                "state_attributes"
            ].items()
            for key, text in texts["state"].items()
        }
        assert set(calendar) == set(TEXTS), language
        if language == "en":
            assert calendar == TEXTS
        assert entity["sensor"]["limit_usage"]["name"]
        assert "lpc_compliance" not in entity["sensor"]


async def test_no_lpc_entities_for_groups(
    hass: HomeAssistant, sandbox: Sandbox, entity_registry: er.EntityRegistry
) -> None:
    """Groups are never targeted by resource LPC events: no entities for them."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    group = ConfigSubentry(
        data=MappingProxyType(
            {"resource_type": "group", "power_min_kw": "-5", "power_max_kw": "5"}
        ),
        subentry_type="resource",
        title="Inverter",
        unique_id=None,
    )
    hass.config_entries.async_add_subentry(entry, group)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not [
        e
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if e.config_subentry_id == group.subentry_id
    ]
    # Without a platform id there is nothing the platform can target.
    events = entry.runtime_data.event_coordinator
    assert resource_lpc_window(events, group.subentry_id) is None
    assert resource_lpc_window(events, "no-such-subentry") is None
