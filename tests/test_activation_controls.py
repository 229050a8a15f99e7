"""Carrying activations out on a ``select``, a ``switch`` and a ``climate``.

Inside Home Assistant against the sandbox's Powernaut API, with real
entities: an ``input_select`` battery mode, an ``input_boolean`` boiler (a
switch), a ``generic_thermostat`` climate heating with an ``input_boolean``
heater, and an ``input_number`` setpoint. Bids are placed and accepted with
the sandbox's control routes and GridFlex learns of them by the bid-accepted
webhook, as from Powernaut. The direction rule: 0 kW for a resource that
both consumes and produces (the battery, -3..3 kW), the middle of its range
otherwise (the boiler 0..2 kW: 1 kW; the heat pump 0..1.5 kW: 0.75 kW).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import Context, Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.controls import (
    ClimateControl,
    NumberControl,
    SelectControl,
    SwitchControl,
    control_from,
)
from custom_components.gridflex.diagnostics import async_get_config_entry_diagnostics

from .conftest import Sandbox, setup_site
from .test_activation_executor import (
    QUARTER,
    T0,
    _accept,
    _advance,
    _control_events,
    _webhook,
)
from .test_resources import add_resource, subentry_by_title

MODE = "input_select.battery_mode"
BOILER = "input_boolean.boiler"
CLIMATE = "climate.heat_pump"
SETPOINT = "input_number.charger_setpoint"
START = T0 + QUARTER
W: dict[str, str] = {"unit_of_measurement": "W", "device_class": "power"}

BATTERY: dict[str, Any] = {
    "power_entity": "sensor.battery_power",
    "soc_entity": "sensor.battery_soc",
    "power_min_kw": -3,
    "power_max_kw": 3,
    "capacity_kwh": 10,
    "control": {
        "control_entity": MODE,
        "control_option_up": "Charge",
        "control_option_down": "Discharge",
    },
}
BOILER_DETAILS: dict[str, Any] = {
    "power_entity": "sensor.boiler_power",
    "power_min_kw": 0,
    "power_max_kw": 2,
    "control": {"control_entity": BOILER},
}
HEAT_PUMP: dict[str, Any] = {
    "power_entity": "sensor.heat_pump_power",
    "power_min_kw": 0,
    "power_max_kw": 1.5,
    "control": {"control_entity": CLIMATE},
}


@pytest.fixture(autouse=True)
async def home(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """10:00 UTC: the battery in Auto, the boiler off, the heat pump at 20 °C."""
    freezer.move_to(T0)
    for name, value in (
        ("battery_power", "0"),
        ("boiler_power", "0"),
        ("heat_pump_power", "800"),
        ("charger_power", "0"),
    ):
        hass.states.async_set(f"sensor.{name}", value, W)
    hass.states.async_set(
        "sensor.battery_soc",
        "50",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    hass.states.async_set(
        "sensor.living_temperature",
        "19.5",
        {"unit_of_measurement": "°C", "device_class": "temperature"},
    )
    # The thermostat switches its heater with homeassistant.turn_on/turn_off.
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass,
        "input_select",
        {
            "input_select": {
                "battery_mode": {
                    "name": "Battery mode",
                    "options": ["Auto", "Charge", "Discharge"],
                    "initial": "Auto",
                }
            }
        },
    )
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "boiler": {"name": "Boiler", "initial": False},
                "heat_pump_heater": {"name": "Heat pump heater", "initial": False},
                "cooler": {"name": "Cooler", "initial": False},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "charger_setpoint": {
                    "name": "Charger setpoint",
                    "min": 0,
                    "max": 7400,
                    "step": 100,
                    "initial": 0,
                    "unit_of_measurement": "W",
                }
            }
        },
    )
    assert await async_setup_component(
        hass,
        "climate",
        {
            "climate": [
                {
                    "platform": "generic_thermostat",
                    "name": "Heat pump",
                    "unique_id": "heat_pump",
                    "heater": "input_boolean.heat_pump_heater",
                    "target_sensor": "sensor.living_temperature",
                    "target_temp": 20,
                    "min_temp": 7,
                    "max_temp": 21.5,
                    "initial_hvac_mode": "heat",
                },
                {
                    "platform": "generic_thermostat",
                    "name": "Air conditioner",
                    "unique_id": "air_conditioner",
                    "heater": "input_boolean.cooler",
                    "target_sensor": "sensor.living_temperature",
                    "ac_mode": True,
                    "target_temp": 24,
                    "initial_hvac_mode": "cool",
                },
            ]
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get(CLIMATE).attributes["temperature"] == 20


@pytest.fixture(autouse=True)
async def unload_at_end(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload GridFlex after the test (its report checks wait for an hour)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)


async def _site(hass: HomeAssistant, sandbox: Sandbox, **resources: Any) -> ConfigEntry:
    """A Powernaut site with the given resources (title: (type, details))."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    for title, (kind, details) in resources.items():
        result = await add_resource(hass, entry, title, kind, details)
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    # The resources get their webhook when GridFlex (re)starts.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _state(hass: HomeAssistant, entity_id: str) -> str:
    return hass.states.get(entity_id).state


def _temperature(hass: HomeAssistant) -> float:
    return float(hass.states.get(CLIMATE).attributes["temperature"])


async def _by_hand(
    hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]
) -> None:
    """Call a service as the homeowner would (their own context)."""
    await hass.services.async_call(
        domain, service, data, blocking=True, context=Context()
    )
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_select_follows_the_direction_and_restores(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Charge for 2.5 kW, Discharge for -2 kW; Auto again after each."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_activation_control", bus.append)
    entry = await _site(hass, sandbox, Battery=("battery", BATTERY))
    battery = subentry_by_title(entry, "Battery")
    assert battery.data["control"] == {
        "control_entity": MODE,
        "control_option_up": "Charge",
        "control_option_down": "Discharge",
        "control_option_normal": None,
    }
    client = await hass_client_no_auth()
    await _accept(hass, client, sandbox, entry, "Battery", START, "2.5")
    await _advance(hass, freezer, START - timedelta(minutes=1))
    assert _state(hass, MODE) == "Auto"  # not before the window

    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert _state(hass, MODE) == "Charge"
    attributes = hass.states.get("binary_sensor.battery_activation_active").attributes
    assert attributes["control_entity"] == MODE
    assert attributes["control_state"] == "steering"
    assert attributes["control_target_kw"] == 2.5
    assert attributes["control_value"] == "Charge"
    # The option before is on disk, for a restart during the activation.
    held = hass_storage[f"{DOMAIN}.{entry.entry_id}.activation_control"]["data"]
    assert held[battery.subentry_id]["previous"] == "Auto"
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["activation_control"][battery.subentry_id]["control_value"] == (
        "Charge"
    )

    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert _state(hass, MODE) == "Auto"
    (restored,) = _control_events(bus, "restored")
    assert restored["entity_id"] == MODE

    # Discharging, cancelled half way: back to Auto at once.
    bid = await _accept(
        hass, client, sandbox, entry, "Battery", START + 2 * QUARTER, "-2"
    )
    await _advance(hass, freezer, START + 2 * QUARTER + timedelta(seconds=1))
    assert _state(hass, MODE) == "Discharge"
    await _advance(hass, freezer, START + 2 * QUARTER + timedelta(minutes=5))
    await sandbox.control("POST", f"powernaut/bids/{bid}/activate", {"value": None})
    await _webhook(hass, client, entry, bid)
    assert _state(hass, MODE) == "Auto"
    assert len(_control_events(bus, "restored")) == 2


async def test_select_within_the_reserve_and_by_hand(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """At the reserve no Discharge (the normal option); a mode set by hand wins."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_activation_control", bus.append)
    details = {
        **BATTERY,
        "control": {**BATTERY["control"], "control_option_normal": "Auto"},
        "bidding": {"reserve_soc": 20},
    }
    entry = await _site(hass, sandbox, Battery=("battery", details))
    await _by_hand(
        hass, "input_select", "select_option", {"entity_id": MODE, "option": "Charge"}
    )
    client = await hass_client_no_auth()
    await _accept(
        hass, client, sandbox, entry, "Battery", START, "-1", type="maximise_downwards"
    )
    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert _state(hass, MODE) == "Discharge"
    # At the reserve: not discharging, the normal option while it lasts.
    hass.states.async_set(
        "sensor.battery_soc",
        "20",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, MODE) == "Auto"
    hass.states.async_set(
        "sensor.battery_soc",
        "40",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, MODE) == "Discharge"

    await _by_hand(
        hass, "input_select", "select_option", {"entity_id": MODE, "option": "Charge"}
    )
    attributes = hass.states.get("binary_sensor.battery_activation_active").attributes
    assert attributes["control_state"] == "overridden"
    (overridden,) = _control_events(bus, "overridden")
    assert overridden["value"] == "Charge"
    hass.states.async_set(
        "sensor.battery_soc",
        "45",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert _state(hass, MODE) == "Charge"  # the homeowner's, also after the end
    assert _control_events(bus, "released")
    assert not _control_events(bus, "restored")


async def test_switch_on_to_consume_off_to_shed(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """2 kW asked of a 0-2 kW boiler: on; cancelled: off at once; by hand: it stays."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_activation_control", bus.append)
    entry = await _site(hass, sandbox, Boiler=("boiler", BOILER_DETAILS))
    assert subentry_by_title(entry, "Boiler").data["control"] == {
        "control_entity": BOILER,
        "control_inverted": False,
    }
    client = await hass_client_no_auth()
    await _accept(hass, client, sandbox, entry, "Boiler", START, "2")
    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert _state(hass, BOILER) == "on"
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert _state(hass, BOILER) == "off"

    # 1.2 kW is above the middle (1 kW): on; the cancellation turns it off.
    bid = await _accept(
        hass, client, sandbox, entry, "Boiler", START + 2 * QUARTER, "1.2"
    )
    await _advance(hass, freezer, START + 2 * QUARTER + timedelta(seconds=1))
    assert _state(hass, BOILER) == "on"
    await sandbox.control("POST", f"powernaut/bids/{bid}/activate", {"value": None})
    await _webhook(hass, client, entry, bid)
    assert _state(hass, BOILER) == "off"

    # Normally on; asked for 0.5 kW (below the middle): off, then by hand on.
    await _by_hand(hass, "input_boolean", "turn_on", {"entity_id": BOILER})
    await _accept(hass, client, sandbox, entry, "Boiler", START + 3 * QUARTER, "0.5")
    await _advance(hass, freezer, START + 3 * QUARTER + timedelta(seconds=1))
    assert _state(hass, BOILER) == "off"
    await _by_hand(hass, "input_boolean", "turn_on", {"entity_id": BOILER})
    (overridden,) = _control_events(bus, "overridden")
    assert overridden["value"] is True
    await _by_hand(hass, "input_boolean", "turn_off", {"entity_id": BOILER})
    await _advance(hass, freezer, START + 4 * QUARTER + timedelta(seconds=1))
    assert _state(hass, BOILER) == "off"  # what the homeowner left


async def test_inverted_switch_discharges_when_on(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A battery's "force discharge" switch: on for -2 kW, off for 1 kW."""
    details = {
        **BATTERY,
        "control": {"control_entity": BOILER, "control_inverted": True},
    }
    entry = await _site(hass, sandbox, Battery=("battery", details))
    client = await hass_client_no_auth()
    await _accept(hass, client, sandbox, entry, "Battery", START, "-2")
    await _accept(hass, client, sandbox, entry, "Battery", START + QUARTER, "1")
    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert _state(hass, BOILER) == "on"
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert _state(hass, BOILER) == "off"  # charging: the switch is off
    # Discharging again until the reserve (20 % by default): then as before.
    await _accept(hass, client, sandbox, entry, "Battery", START + 2 * QUARTER, "-1")
    await _advance(hass, freezer, START + 2 * QUARTER + timedelta(seconds=1))
    assert _state(hass, BOILER) == "on"
    hass.states.async_set(
        "sensor.battery_soc",
        "20",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, BOILER) == "off"


async def test_climate_offset(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """20 °C found: 18 °C to consume less, 21.5 °C (its maximum) to consume more."""
    entry = await _site(hass, sandbox, **{"Heat pump": ("heat_pump", HEAT_PUMP)})
    assert subentry_by_title(entry, "Heat pump").data["control"] == {
        "control_entity": CLIMATE,
        "control_offset": 2.0,
    }
    client = await hass_client_no_auth()
    await _accept(
        hass, client, sandbox, entry, "Heat pump", START, "0", type="maximise_downwards"
    )
    await _accept(hass, client, sandbox, entry, "Heat pump", START + QUARTER, "1.5")
    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert _temperature(hass) == 18
    # Handed over to the next activation: offset from the 20 °C found first.
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert _temperature(hass) == 21.5
    await _advance(hass, freezer, START + 2 * QUARTER + timedelta(seconds=1))
    assert _temperature(hass) == 20

    # Cancelled: back at once.
    bid = await _accept(
        hass, client, sandbox, entry, "Heat pump", START + 3 * QUARTER, "1"
    )
    await _advance(hass, freezer, START + 3 * QUARTER + timedelta(seconds=1))
    assert _temperature(hass) == 21.5
    await sandbox.control("POST", f"powernaut/bids/{bid}/activate", {"value": None})
    await _webhook(hass, client, entry, bid)
    assert _temperature(hass) == 20


async def test_climate_changed_by_hand(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The thermostat's own updates are no override; a new temperature is."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_activation_control", bus.append)
    details = {**HEAT_PUMP, "control": {"control_entity": CLIMATE, "control_offset": 1}}
    entry = await _site(hass, sandbox, **{"Heat pump": ("heat_pump", details)})
    client = await hass_client_no_auth()
    await _accept(hass, client, sandbox, entry, "Heat pump", START, "1.5")
    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert _temperature(hass) == 21
    # The room warms: the thermostat switches its heater and updates itself.
    hass.states.async_set(
        "sensor.living_temperature",
        "21.6",
        {"unit_of_measurement": "°C", "device_class": "temperature"},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not _control_events(bus, "overridden")

    await _by_hand(
        hass, "climate", "set_temperature", {"entity_id": CLIMATE, "temperature": 19}
    )
    (overridden,) = _control_events(bus, "overridden")
    assert overridden["value"] == 19
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert _temperature(hass) == 19
    last = hass.states.get("binary_sensor.heat_pump_activation_active").attributes[
        "last_activation"
    ]
    assert last["overridden"] is True


async def test_input_number_setpoint(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An ``input_number`` in W, fitted to its step of 100 W."""
    details = {
        "power_entity": "sensor.charger_power",
        "power_min_kw": 0,
        "power_max_kw": 7.4,
        "control": {"control_entity": SETPOINT, "control_unit": "w"},
    }
    entry = await _site(hass, sandbox, Charger=("ev_charger", details))
    client = await hass_client_no_auth()
    await _accept(hass, client, sandbox, entry, "Charger", START, "3.66")
    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert float(_state(hass, SETPOINT)) == 3700
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert float(_state(hass, SETPOINT)) == 0


async def test_shed_and_restore(hass: HomeAssistant) -> None:
    """The interface a load controller curtails with: down as far as it goes, and back."""
    context = Context()
    zero, two = Decimal(0), Decimal(2)
    await _by_hand(hass, "input_boolean", "turn_on", {"entity_id": BOILER})
    controls: list[tuple[Any, Any, Any]] = [
        (SwitchControl(BOILER, zero, two), True, False),
        (
            SelectControl(MODE, -two, two, option_up="Charge", option_down="Discharge"),
            "Auto",
            "Discharge",
        ),
        (ClimateControl(CLIMATE, zero, two, offset=Decimal(3)), 20.0, 17.0),
        (NumberControl(SETPOINT, Decimal("0.6"), Decimal(7)), 0.0, 600.0),
    ]
    for control, before, shed in controls:
        prior = control.capture(hass.states.get(control.entity_id))
        assert prior == before
        assert await control.async_shed(hass, prior, context) == shed
        await hass.async_block_till_done()
        assert control.read(hass.states.get(control.entity_id)) == shed
        assert await control.async_restore(hass, prior, context) == before
        await hass.async_block_till_done()
        assert control.read(hass.states.get(control.entity_id)) == before


async def test_control_fields_are_checked(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Options the select offers, at least one direction, a climate's temperature."""
    entry = await setup_site(hass, sandbox, "powernaut")
    cases = [
        ({"control_option_up": "Boost"}, "control_option_unknown"),
        (
            {"control_option_up": "Charge", "control_option_normal": "auto"},
            "control_option_unknown",
        ),
        (
            {"control_option_up": " ", "control_option_normal": "Auto"},
            "control_options_missing",
        ),
    ]
    for fields, error in cases:
        result = await add_resource(
            hass,
            entry,
            "Battery",
            "battery",
            {**BATTERY, "control": {"control_entity": MODE, **fields}},
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"control": error}
    # A climate without a single target temperature (a fan-only unit).
    hass.states.async_set("climate.fan", "fan_only", {"hvac_modes": ["fan_only"]})
    result = await add_resource(
        hass,
        entry,
        "Heat pump",
        "heat_pump",
        {**HEAT_PUMP, "control": {"control_entity": "climate.fan"}},
    )
    assert result["errors"] == {"control": "control_no_temperature"}
    # The offset stays within 0.1-10 °C.
    with pytest.raises(InvalidData, match=r"control\.control_offset"):
        await add_resource(
            hass,
            entry,
            "Heat pump",
            "heat_pump",
            {**HEAT_PUMP, "control": {"control_entity": CLIMATE, "control_offset": 0}},
        )
    # Only the kinds GridFlex can drive.
    with pytest.raises(InvalidData, match=r"control\.control_entity"):
        await add_resource(
            hass,
            entry,
            "Heat pump",
            "heat_pump",
            {**HEAT_PUMP, "control": {"control_entity": "light.kitchen"}},
        )
    assert not entry.subentries


async def test_reconfigure_from_number_to_select(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A number mapping stored before keeps working; a select replaces it cleanly."""
    number = {"control_entity": SETPOINT, "control_unit": "w"}
    entry = await _site(
        hass, sandbox, Battery=("battery", {**BATTERY, "control": number})
    )
    battery = subentry_by_title(entry, "Battery")
    assert battery.data["control"] == {
        "control_entity": SETPOINT,
        "control_unit": "w",
        "control_scale": 230,
        "control_inverted": False,
        "control_normal": None,
    }
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": "reconfigure", "subentry_id": battery.subentry_id},
    )
    # The form shows the stored mapping.
    section = result["data_schema"].schema["control"]
    suggested = {
        str(key): key.description.get("suggested_value")
        for key in section.schema.schema
        if key.description
    }
    assert suggested["control_entity"] == SETPOINT
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Battery",
            **BATTERY,
            "control": {
                **BATTERY["control"],
                "control_option_normal": "Auto",
                "control_unit": "kw",
            },
        },
    )
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    assert subentry_by_title(entry, "Battery").data["control"] == {
        "control_entity": MODE,
        "control_option_up": "Charge",
        "control_option_down": "Discharge",
        "control_option_normal": "Auto",
    }


async def test_new_settings_apply_during_an_activation(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Another offset for the same climate applies at once, from 20 °C found."""
    entry = await _site(hass, sandbox, **{"Heat pump": ("heat_pump", HEAT_PUMP)})
    client = await hass_client_no_auth()
    await _accept(hass, client, sandbox, entry, "Heat pump", START, "0")
    await _advance(hass, freezer, START + timedelta(seconds=1))
    assert _temperature(hass) == 18
    heat_pump = subentry_by_title(entry, "Heat pump")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": "reconfigure", "subentry_id": heat_pump.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Heat pump",
            **HEAT_PUMP,
            "control": {"control_entity": CLIMATE, "control_offset": 0.5},
        },
    )
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _temperature(hass) == 19.5
    attributes = hass.states.get("binary_sensor.heat_pump_activation_active").attributes
    assert attributes["control_state"] == "steering"
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    assert _temperature(hass) == 20


async def test_climate_cooling_and_a_new_mode(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Cooling consumes more at a lower target; switching it off by hand wins."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_activation_control", bus.append)
    details = {**HEAT_PUMP, "control": {"control_entity": "climate.air_conditioner"}}
    entry = await _site(hass, sandbox, Cooling=("heat_pump", details))
    client = await hass_client_no_auth()
    await _accept(hass, client, sandbox, entry, "Cooling", START, "1.5")
    await _advance(hass, freezer, START + timedelta(seconds=1))
    state = hass.states.get("climate.air_conditioner")
    assert state.attributes["temperature"] == 22  # 24 °C found, 2 °C cooler
    await _by_hand(
        hass,
        "climate",
        "set_hvac_mode",
        {"entity_id": "climate.air_conditioner", "hvac_mode": "off"},
    )
    (overridden,) = _control_events(bus, "overridden")
    assert overridden["entity_id"] == "climate.air_conditioner"
    await _advance(hass, freezer, START + QUARTER + timedelta(seconds=1))
    state = hass.states.get("climate.air_conditioner")
    assert (state.state, state.attributes["temperature"]) == ("off", 22)


def test_stored_mappings() -> None:
    """What a subentry stores reads as the control it describes."""
    low, high = Decimal(-3), Decimal(3)
    # A number mapping as stored before selects, switches and climates.
    number = control_from(
        {
            "control_entity": "number.setpoint",
            "control_unit": "a",
            "control_scale": 690,
            "control_inverted": True,
            "control_normal": 6,
        },
        low,
        high,
    )
    assert number == NumberControl(
        "number.setpoint", low, high, "a", Decimal(690), True, 6.0
    )
    assert control_from({"control_entity": MODE}, low, high) is None  # no option
    assert (
        control_from(
            {"control_entity": "number.setpoint", "control_unit": "mw"}, low, high
        )
        is None
    )
    assert control_from({"control_entity": "light.kitchen"}, low, high) is None
    assert control_from({"control_entity": CLIMATE}, low, high) == ClimateControl(
        CLIMATE, low, high, Decimal(2)
    )
    assert control_from({"control_entity": BOILER}, low, high) == SwitchControl(
        BOILER, low, high
    )
