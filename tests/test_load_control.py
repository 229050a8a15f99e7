"""Keeping the home under a limit, inside Home Assistant against the sandbox.

An Energy Coordination site whose LPC events come from the sandbox (read by
polling), with real entities: an ``input_number`` EV charger current (6-16 A,
three phases: 0.69 kW per A), an ``input_boolean`` water heater (2 kW) and a
``generic_thermostat`` heat pump (1.5 kW while its heater runs). A simulated
home writes each load's power sensor from its control and the grid meter
(``sensor.grid_power``) as the rest of the home plus the loads; the test moves
the rest of the home and the clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import automation
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Context, Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import (
    condition,
    device_registry as dr,
    issue_registry as ir,
    translation,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.diagnostics import async_get_config_entry_diagnostics
from custom_components.gridflex.load_control import stale_issue_id
from custom_components.gridflex.loads import load_subentries

from .conftest import Sandbox, create_lpc_event, setup_site
from .test_activation_executor import _accept
from .test_resources import add_resource, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
START = T0 + timedelta(hours=1)
END = T0 + timedelta(hours=2)
W: dict[str, str] = {"unit_of_measurement": "W", "device_class": "power"}
EV = "input_number.ev_current"
HEATER = "input_boolean.water_heater"
CLIMATE = "climate.heat_pump"
GRID = "sensor.grid_power"
SWITCH = "switch.home_limit_control"
KW_PER_A = 0.69

LOADS: dict[str, dict[str, Any]] = {
    # Most important first: the heat pump is curtailed last.
    "Heat pump": {
        "control": {"control_entity": CLIMATE, "control_offset": 2},
        "power_entity": "sensor.heat_pump_power",
        "nominal_kw": 1.5,
        "priority": 1,
    },
    "Water heater": {
        "control": {"control_entity": HEATER},
        "power_entity": "sensor.water_heater_power",
        "nominal_kw": 2,
        "priority": 2,
    },
    "EV charger": {
        "control": {
            "control_entity": EV,
            "control_unit": "a",
            "control_scale": 690,
        },
        "power_entity": "sensor.ev_power",
        "nominal_kw": 11.04,
        "priority": 3,
    },
}


@dataclass
class Home:
    """The rest of the home plus the loads, as the meter sees them."""

    hass: HomeAssistant
    base_kw: float = 0.5
    meter_on: bool = True
    readings: list[tuple[datetime, float]] = field(default_factory=list)

    def loads_kw(self) -> dict[str, float]:
        """Each load's power from its control (the devices react at once)."""
        ev = self.hass.states.get(EV)
        heater = self.hass.states.get(HEATER)
        pump = self.hass.states.get("input_boolean.heat_pump_heater")
        return {
            "ev": float(ev.state) * KW_PER_A if ev else 0.0,
            "water_heater": 2.0 if heater and heater.state == STATE_ON else 0.0,
            "heat_pump": 1.5 if pump and pump.state == STATE_ON else 0.0,
        }

    def import_kw(self) -> float:
        """The grid import now."""
        return round(self.base_kw + sum(self.loads_kw().values()), 3)

    def write(self) -> None:
        """Write the loads' power sensors and the meter."""
        for name, kw in self.loads_kw().items():
            self.hass.states.async_set(f"sensor.{name}_power", str(round(kw * 1000)), W)
        if self.meter_on:
            value = self.import_kw()
            self.hass.states.async_set(GRID, str(round(value * 1000)), W)
            self.readings.append((_now(), value))

    async def settle(self) -> None:
        """Let the controller and the devices answer each other."""
        for _ in range(4):
            self.write()
            await self.hass.async_block_till_done(wait_background_tasks=True)


def _now() -> datetime:
    return dt_util.utcnow()


@pytest.fixture(autouse=True)
async def home(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> Home:
    """10:00 UTC: the EV charging at 16 A, the water heater on, the heat pump heating."""
    freezer.move_to(T0)
    hass.states.async_set(
        "sensor.living_temperature",
        "19.5",
        {"unit_of_measurement": "°C", "device_class": "temperature"},
    )
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "water_heater": {"name": "Water heater", "initial": True},
                "heat_pump_heater": {"name": "Heat pump heater", "initial": False},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "ev_current": {
                    "name": "EV current",
                    "min": 6,
                    "max": 16,
                    "step": 1,
                    "initial": 16,
                    "unit_of_measurement": "A",
                },
                "battery_discharge": {
                    "name": "Battery discharge",
                    "min": 0,
                    "max": 3000,
                    "step": 500,
                    "initial": 0,
                    "unit_of_measurement": "W",
                },
            }
        },
    )
    assert await async_setup_component(
        hass,
        "input_select",
        {"input_select": {"boiler_mode": {"options": ["Normal", "Eco"]}}},
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
                    "max_temp": 25,
                    "initial_hvac_mode": "heat",
                }
            ]
        },
    )
    await hass.async_block_till_done()
    # A reading makes the thermostat look: 19 °C is below 20 °C, it heats.
    hass.states.async_set(
        "sensor.living_temperature",
        "19",
        {"unit_of_measurement": "°C", "device_class": "temperature"},
    )
    await hass.async_block_till_done()
    simulated = Home(hass)
    simulated.write()
    await hass.async_block_till_done()
    assert hass.states.get("input_boolean.heat_pump_heater").state == STATE_ON
    return simulated


@pytest.fixture(autouse=True)
async def unload_at_end(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload GridFlex after the test."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)


async def add_load(
    hass: HomeAssistant, entry: ConfigEntry, name: str, details: dict[str, Any]
) -> dict[str, Any]:
    """Run the 'Add curtailable load' subentry flow; return its last result."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "load"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": name, **details}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    return dict(result)


async def _site(hass: HomeAssistant, sandbox: Sandbox, home: Home) -> ConfigEntry:
    """An Energy Coordination site with the meter and the three loads mapped."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    for name, details in LOADS.items():
        result = await add_load(hass, entry, name, details)
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await home.settle()
    return entry


async def _lpc(
    sandbox: Sandbox,
    entry: ConfigEntry,
    limits: list[float],
    resource_ids: tuple[str, ...] = (),
    payload_type: str = "LocationLPC",
) -> str:
    return await create_lpc_event(
        sandbox,
        entry,
        START,
        limits,
        payload_type=payload_type,
        resource_ids=resource_ids,
    )


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home, to: datetime
) -> None:
    """Move the clock; the meter reports (when on) and everyone answers."""
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    await home.settle()


async def _tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, home: Home, seconds: float
) -> None:
    await _advance(hass, freezer, home, _now() + timedelta(seconds=seconds))


def _control_events(hass: HomeAssistant) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []

    @callback
    def _record(event: Event) -> None:
        events.append((event.data["type"], event.data["load"]))

    hass.bus.async_listen(f"{DOMAIN}_limit_control", _record)
    return events


async def _switch(hass: HomeAssistant, on: bool) -> None:
    await hass.services.async_call(
        "switch",
        "turn_on" if on else "turn_off",
        {"entity_id": SWITCH},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)


def _ev(hass: HomeAssistant) -> float:
    return float(hass.states.get(EV).state)


def _target(hass: HomeAssistant) -> float:
    return float(hass.states.get(CLIMATE).attributes["temperature"])


async def _window(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: Home,
    sandbox: Sandbox,
    entry: ConfigEntry,
    limits: list[float],
    **kwargs: Any,
) -> str:
    """Create an LPC event, let the poll read it, then go 2 s before its start."""
    event_id = await _lpc(sandbox, entry, limits, **kwargs)
    await _advance(hass, freezer, home, T0 + timedelta(minutes=5))
    await _advance(hass, freezer, home, START - timedelta(seconds=2))
    return event_id


async def test_location_lpc_sheds_in_priority_order_and_restores_in_reverse(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    """Three loads under a 10 kW LocationLPC: import kept under it, order kept."""
    entry = await _site(hass, sandbox, home)
    await _switch(hass, True)
    events = _control_events(hass)
    event_id = await _window(hass, freezer, home, sandbox, entry, [10])
    # No limit yet: nothing is touched, the headroom is unknown.
    assert home.import_kw() == pytest.approx(15.04)
    assert hass.states.get("sensor.home_headroom").state == STATE_UNKNOWN
    assert events == []

    # 11:00: 15.04 kW against a 10 kW limit (target 9.5 kW). The EV charger,
    # the least important, is turned down just enough: to 7 A (4.83 kW).
    await _advance(hass, freezer, home, START)
    assert events == [("curtailed", "EV charger")]
    assert _ev(hass) == 7
    assert hass.states.get(HEATER).state == STATE_ON
    assert home.import_kw() <= 9.5
    assert hass.states.get("sensor.home_curtailed_loads").state == "1"
    assert hass.states.get("sensor.home_curtailed_loads").attributes["loads"] == [
        "EV charger"
    ]
    headroom = hass.states.get("sensor.home_headroom")
    assert float(headroom.state) == pytest.approx(9.5 - home.import_kw(), abs=0.01)
    assert headroom.attributes["limit_kw"] == 10
    assert headroom.attributes["limit_source"] == "location_lpc"
    # What is needed to put the EV back after a restart is on disk.
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}.limit_control"]["data"]
    assert [load["prior"] for load in stored["loads"].values()] == [16.0]

    # The rest of the home rises to 3 kW: 11.33 kW, above the limit for 2 s
    # until the devices follow. The EV goes to its minimum, then the water
    # heater is switched off; the heat pump keeps heating.
    events.clear()
    await _tick(hass, freezer, home, 20)
    home.base_kw = 3
    home.hass.states.async_set(GRID, str(round(home.import_kw() * 1000)), W)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("binary_sensor.home_limit_exceeded").state == STATE_ON
    await _tick(hass, freezer, home, 2)
    assert events == [("curtailed", "EV charger"), ("curtailed", "Water heater")]
    assert _ev(hass) == 6
    assert hass.states.get(HEATER).state == STATE_OFF
    assert _target(hass) == 20
    assert home.import_kw() <= 9.5
    assert hass.states.get("binary_sensor.home_limit_exceeded").state == STATE_OFF

    # 4.5 kW for the rest of the home: the heat pump goes last.
    events.clear()
    await _tick(hass, freezer, home, 20)
    home.base_kw = 4.5
    await home.settle()
    assert events == [("curtailed", "Heat pump")]
    assert _target(hass) == 18
    assert home.import_kw() <= 10
    assert hass.states.get("sensor.home_curtailed_loads").state == "3"

    # The rest of the home drops to nothing. Nothing comes back while the
    # recent peak would not fit, nor before the 5 minutes a load switched
    # off stays off; then the heat pump (curtailed last) comes back first,
    # then the water heater, then the EV step by step.
    events.clear()
    home.base_kw = 0
    await _tick(hass, freezer, home, 60)
    assert events == []
    for _ in range(60):
        await _tick(hass, freezer, home, 10)
        assert home.import_kw() <= 10
    restored = [load for kind, load in events if kind == "restored"]
    assert restored[:2] == ["Heat pump", "Water heater"]
    assert set(restored[2:]) <= {"EV charger"}
    assert ("curtailed", "EV charger") not in events
    assert _target(hass) == 20
    assert hass.states.get(HEATER).state == STATE_ON
    assert 6 < _ev(hass) < 16  # back up to what fits under the target

    # 12:00 the window ends: every load is back as it was.
    events.clear()
    await _advance(hass, freezer, home, END)
    assert _ev(hass) == 16
    assert events == [("restored", "EV charger")]
    assert hass.states.get("sensor.home_curtailed_loads").state == "0"
    assert hass.states.get("sensor.home_headroom").state == STATE_UNKNOWN

    # The time and energy above the limit, in the ledger.
    listed = await hass.services.async_call(
        DOMAIN,
        "list_grid_events",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    (event,) = [e for e in listed["events"] if e["event_id"] == event_id]
    assert event["minutes_above_limit"] == pytest.approx(2 / 60, abs=0.01)
    assert event["kwh_above_limit"] == pytest.approx(1.33 * 2 / 3600, abs=1e-4)
    assert event["minutes_controlled"] == pytest.approx(60, abs=0.1)


async def test_switched_off_again_waits_longer_and_a_kettle_in_the_margin_waits(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    """A step inside the margin waits 3 min; a second switch-off keeps the heater off 10 min."""
    entry = await _site(hass, sandbox, home)
    await _switch(hass, True)
    events = _control_events(hass)
    await _window(hass, freezer, home, sandbox, entry, [10])
    await _advance(hass, freezer, home, START)
    assert _ev(hass) == 7  # 8.83 kW
    key = f"{DOMAIN}.{entry.entry_id}.limit_control"
    heater_id = next(
        s.subentry_id
        for s in load_subentries(entry).values()
        if s.title == "Water heater"
    )

    # 9.83 kW: above the target (9.5), under the limit (10). The EV goes to
    # its minimum at once (a setpoint); switching the heater off waits 3 min.
    events.clear()
    home.base_kw = 1.5
    await _tick(hass, freezer, home, 10)
    assert events == [("curtailed", "EV charger")]
    assert _ev(hass) == 6  # 9.14 kW: under the target again
    assert hass.states.get(HEATER).state == STATE_ON
    # 9.54 kW, an oven heating: only switching off is left. Under the limit,
    # it waits; the oven stops after 170 s and nothing was switched.
    events.clear()
    home.base_kw = 1.9
    for _ in range(17):
        await _tick(hass, freezer, home, 10)
        assert hass.states.get(HEATER).state == STATE_ON
    assert events == []
    home.base_kw = 0.5

    async def kettle() -> None:
        """3 kW for the rest of the home: over the limit, the heater goes off."""
        events.clear()
        home.base_kw = 3
        await _tick(hass, freezer, home, 2)
        assert events == [("curtailed", "Water heater")]
        assert hass.states.get(HEATER).state == STATE_OFF
        await _tick(hass, freezer, home, 2)
        home.base_kw = 0.5

    async def off_for() -> float:
        """Tick until the heater is back on; return how long it stayed off (s)."""
        began = _now()
        for _ in range(200):
            await _tick(hass, freezer, home, 10)
            if hass.states.get(HEATER).state == STATE_ON:
                return (_now() - began).total_seconds()
        raise AssertionError("the water heater never came back")

    await kettle()
    assert hass_storage[key]["data"]["loads"][heater_id]["hard_sheds"] == 1
    first = await off_for()
    assert 300 <= first < 420  # its 5 minutes off (and the kettle's peak gone)
    await _tick(hass, freezer, home, 30)
    await kettle()
    assert hass_storage[key]["data"]["loads"][heater_id]["hard_sheds"] == 2
    second = await off_for()
    assert 600 <= second < 720  # switched off again: 10 minutes
    # The window's end: the next limit starts without back-off.
    await _advance(hass, freezer, home, END)
    assert hass_storage[key]["data"]["loads"][heater_id]["hard_sheds"] == 0


async def test_keep_off_option_holds_a_switched_off_load_until_the_end(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
) -> None:
    """Keep curtailed loads off: the heater stays off for the window, then comes back."""
    entry = await _site(hass, sandbox, home)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert "limit_keep_off" in result["data_schema"].schema
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID, "limit_keep_off": True}
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    await home.settle()
    await _switch(hass, True)
    events = _control_events(hass)
    await _window(hass, freezer, home, sandbox, entry, [10])
    await _advance(hass, freezer, home, START)
    # A kettle on top: over the limit, the water heater goes off.
    events.clear()
    home.base_kw = 3
    await _tick(hass, freezer, home, 2)
    assert ("curtailed", "Water heater") in events
    assert hass.states.get(HEATER).state == STATE_OFF
    await _tick(hass, freezer, home, 2)
    home.base_kw = 0.5
    # Plenty of headroom for 40 minutes: it stays off all the same.
    for _ in range(80):
        await _tick(hass, freezer, home, 30)
        assert hass.states.get(HEATER).state == STATE_OFF
    await _advance(hass, freezer, home, END)
    assert hass.states.get(HEATER).state == STATE_ON


async def test_manual_change_wins(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
) -> None:
    """A load changed by hand is released, the others make up, the end leaves it."""
    entry = await _site(hass, sandbox, home)
    await _switch(hass, True)
    events = _control_events(hass)
    await _window(hass, freezer, home, sandbox, entry, [10])
    await _advance(hass, freezer, home, START)
    assert _ev(hass) == 7
    events.clear()

    # The homeowner sets the charger to 10 A (6.9 kW): GridFlex lets go of
    # it and switches the water heater off to stay under the limit.
    await _tick(hass, freezer, home, 30)
    await hass.services.async_call(
        "input_number",
        "set_value",
        {"entity_id": EV, "value": 10},
        blocking=True,
        context=Context(),
    )
    await home.settle()
    assert ("overridden", "EV charger") in events
    assert ("released", "EV charger") in events
    assert ("curtailed", "Water heater") in events
    assert _ev(hass) == 10
    assert hass.states.get(HEATER).state == STATE_OFF
    assert home.import_kw() <= 10
    assert hass.states.get("sensor.home_curtailed_loads").attributes["loads"] == [
        "Water heater"
    ]
    # It stays released for the rest of the window.
    for _ in range(6):
        await _tick(hass, freezer, home, 10)
    assert _ev(hass) == 10

    # The window ends: the water heater comes back, the charger keeps 10 A.
    events.clear()
    await _advance(hass, freezer, home, END)
    assert events == [("restored", "Water heater")]
    assert _ev(hass) == 10
    assert hass.states.get(HEATER).state == STATE_ON


async def test_stale_meter_raises_a_repair(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A meter quiet for over 30 s in a window: curtail as if at nominal, repair."""
    entry = await _site(hass, sandbox, home)
    await _switch(hass, True)
    await _window(hass, freezer, home, sandbox, entry, [14])
    await _advance(hass, freezer, home, START)
    # 15.04 kW against a 14 kW limit (13.3 kW target): the EV gives 2 A.
    assert _ev(hass) == 13
    issue_id = stale_issue_id(entry.entry_id)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    home.meter_on = False
    await _tick(hass, freezer, home, 20)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    await _tick(hass, freezer, home, 15)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "limit_meter_stale"
    assert issue.translation_placeholders == {
        "site": "Home",
        "sensor": GRID,
        "seconds": "30",
    }
    # Every load counted at the nominal power of its level: 0.5 kW the meter
    # cannot explain, + 8.97 + 2 + 1.5 = 12.97 kW fits under 13.3 kW; nothing
    # is restored while the meter is quiet.
    assert _ev(hass) == 13
    assert hass.states.get("sensor.home_headroom").state == STATE_UNKNOWN

    # The rest of the home was drawing more than it said: with the meter back,
    # the controller sees it and the issue goes.
    home.meter_on = True
    home.base_kw = 2.5
    await _tick(hass, freezer, home, 5)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert home.import_kw() <= 14
    assert hass.states.get("sensor.home_headroom").state != STATE_UNKNOWN


async def test_stale_meter_without_reading_curtails_conservatively(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
    issue_registry: ir.IssueRegistry,
) -> None:
    """With no meter reading at all, every load is counted at nominal power."""
    entry = await _site(hass, sandbox, home)
    await _switch(hass, True)
    home.meter_on = False
    hass.states.async_set(GRID, "unavailable", W)
    await _window(hass, freezer, home, sandbox, entry, [10])
    await _advance(hass, freezer, home, START)
    assert issue_registry.async_get_issue(DOMAIN, stale_issue_id(entry.entry_id))
    # 11.04 + 2 + 1.5 = 14.54 kW at nominal, 5.04 kW above the 9.5 kW target:
    # the EV goes to 8 A (5.52 kW) and 9.02 kW fits.
    assert _ev(hass) == 8
    assert hass.states.get(HEATER).state == STATE_ON
    # Nothing comes back while the meter says nothing.
    for _ in range(6):
        await _tick(hass, freezer, home, 10)
    assert _ev(hass) == 8
    # Turning the controller off hands everything back and drops the issue.
    await _switch(hass, False)
    assert _ev(hass) == 16
    assert hass.states.get(HEATER).state == STATE_ON
    assert (
        issue_registry.async_get_issue(DOMAIN, stale_issue_id(entry.entry_id)) is None
    )


async def test_resource_lpc_acts_on_that_resource_only(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
) -> None:
    """A ResourceLPC on the EV charger resource turns down its load only."""
    entry = await _site(hass, sandbox, home)
    result = await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {"power_entity": "sensor.ev_power", "power_min_kw": 0, "power_max_kw": 11.04},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    charger = subentry_by_title(entry, "Charger")
    ev_load = next(
        s for s in load_subentries(entry).values() if s.title == "EV charger"
    )
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "load"),
        context={"source": "reconfigure", "subentry_id": ev_load.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "EV charger",
            **LOADS["EV charger"],
            "resource_subentry_id": charger.subentry_id,
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    await _switch(hass, True)
    events = _control_events(hass)
    await _window(
        hass,
        freezer,
        home,
        sandbox,
        entry,
        [5],
        resource_ids=(charger.data["resource_id"],),
        payload_type="ResourceLPC",
    )
    await _advance(hass, freezer, home, START)
    # The charger's own 5 kW limit (target 4.75 kW): 6 A is 4.14 kW.
    assert _ev(hass) == 6
    assert events == [("curtailed", "EV charger")]
    # The site has no limit: the others are not touched, no site headroom.
    assert hass.states.get(HEATER).state == STATE_ON
    assert _target(hass) == 20
    assert hass.states.get("sensor.home_headroom").state == STATE_UNKNOWN
    for _ in range(6):
        await _tick(hass, freezer, home, 10)
    assert hass.states.get(HEATER).state == STATE_ON
    await _advance(hass, freezer, home, END)
    assert _ev(hass) == 16


async def test_manual_limit_survives_a_reload(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    """``set_power_limit`` keeps the home under a limit until its end, across a reload."""
    entry = await _site(hass, sandbox, home)
    await _switch(hass, True)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_power_limit",
            {
                "config_entry_id": entry.entry_id,
                "limit_kw": 8,
                "until": (T0 - timedelta(minutes=1)).isoformat(),
            },
            blocking=True,
        )
    assert err.value.translation_key == "limit_until_past"
    assert "in the past" in str(err.value)

    await hass.services.async_call(
        DOMAIN,
        "set_power_limit",
        {
            "config_entry_id": entry.entry_id,
            "limit_kw": 8,
            "until": (T0 + timedelta(hours=1)).isoformat(),
        },
        blocking=True,
    )
    await home.settle()
    # 15.04 kW against 8 kW (7.6 kW target): EV at 6 A, then the water heater.
    assert _ev(hass) == 6
    assert hass.states.get(HEATER).state == STATE_OFF
    assert home.import_kw() <= 7.6
    headroom = hass.states.get("sensor.home_headroom")
    assert headroom.attributes["limit_source"] == "manual"
    assert headroom.attributes["limit_kw"] == 8
    diagnostics = (await async_get_config_entry_diagnostics(hass, entry))[
        "limit_control"
    ]
    assert diagnostics["enabled"] is True
    assert diagnostics["stale"] is False
    assert diagnostics["site_limit"]["limit_kw"] == 8
    assert diagnostics["site_limit"]["source"] == "manual"
    assert diagnostics["target_kw"] == pytest.approx(7.6)
    levels = {load["control_entity"]: load["level"] for load in diagnostics["loads"]}
    assert levels == {CLIMATE: 0, HEATER: 1, EV: 10}
    assert diagnostics["last_decision"]["target_kw"] == pytest.approx(7.6)

    # A reload hands the loads back on unload and takes them again.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await home.settle()
    assert hass.states.get(SWITCH).state == STATE_ON
    assert hass.states.get("sensor.home_headroom").attributes["limit_kw"] == 8
    assert _ev(hass) == 6
    assert hass.states.get(HEATER).state == STATE_OFF
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}.limit_control"]["data"]
    assert stored["manual"]["limit_kw"] == 8

    # Cleared: everything comes back at once.
    await _tick(hass, freezer, home, 30)
    await hass.services.async_call(
        DOMAIN, "clear_power_limit", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await home.settle()
    assert _ev(hass) == 16
    assert hass.states.get(HEATER).state == STATE_ON
    assert hass.states.get("sensor.home_headroom").state == STATE_UNKNOWN

    # Removing the site forgets what was kept.
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.{entry.entry_id}.limit_control" not in hass_storage


async def test_switch_off_touches_nothing(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
) -> None:
    """Off (the default): nothing moves; the entities still show the limit."""
    entry = await _site(hass, sandbox, home)
    events = _control_events(hass)
    assert hass.states.get(SWITCH).state == STATE_OFF
    await _window(hass, freezer, home, sandbox, entry, [10])
    await _advance(hass, freezer, home, START)
    for _ in range(6):
        await _tick(hass, freezer, home, 10)
    assert events == []
    assert _ev(hass) == 16
    assert hass.states.get(HEATER).state == STATE_ON
    assert hass.states.get("binary_sensor.home_limit_exceeded").state == STATE_ON
    assert float(hass.states.get("sensor.home_headroom").state) == pytest.approx(
        9.5 - 15.04
    )
    assert hass.states.get("sensor.home_curtailed_loads").state == "0"

    # On: it acts at once; off again: everything goes back.
    await _switch(hass, True)
    await home.settle()
    assert _ev(hass) == 7
    assert hass.states.get("binary_sensor.home_limit_exceeded").state == STATE_OFF
    await _switch(hass, False)
    await home.settle()
    assert _ev(hass) == 16
    assert events[-1] == ("restored", "EV charger")


async def test_load_flow_errors_and_reconfigure(
    hass: HomeAssistant, sandbox: Sandbox, home: Home
) -> None:
    """The load form refuses what cannot work, with translated errors."""
    hass.states.async_set("sensor.odd_power", "3", {"unit_of_measurement": "A"})
    entry = await setup_site(hass, sandbox, "energy_coordination")
    strings = await _load_strings(hass)

    result = await add_load(
        hass,
        entry,
        " ",
        {
            "control": {},
            "power_entity": "sensor.odd_power",
            "nominal_kw": 0,
            "priority": 2,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {
        "name": "name_required",
        "control": "control_required",
        "power_entity": "power_unit",
        "nominal_kw": "nominal_invalid",
    }
    for key in result["errors"].values():
        assert strings[f"component.{DOMAIN}.config_subentries.load.error.{key}"]

    # A select needs an option it offers to consume less.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Boiler",
            "control": {
                "control_entity": "input_select.boiler_mode",
                "control_option_down": "Off",
            },
            "power_entity": "sensor.water_heater_power",
            "nominal_kw": 3,
            "priority": 2,
        },
    )
    assert result["errors"] == {"control": "control_option_unknown"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Boiler",
            "control": {
                "control_entity": "input_select.boiler_mode",
                "control_option_down": "Eco",
            },
            "power_entity": "sensor.water_heater_power",
            "nominal_kw": 3,
            "priority": 2,
            "dwell_s": 120,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (load,) = load_subentries(entry).values()
    # A second load on the same entity would undo the first.
    result = await add_load(
        hass,
        entry,
        "Boiler again",
        {
            "control": {
                "control_entity": "input_select.boiler_mode",
                "control_option_down": "Eco",
            },
            "power_entity": "sensor.water_heater_power",
            "nominal_kw": 3,
            "priority": 3,
        },
    )
    assert result["errors"] == {"control": "control_in_use"}
    assert strings[f"component.{DOMAIN}.config_subentries.load.error.control_in_use"]
    assert load.title == "Boiler"
    assert dict(load.data) == {
        "name": "Boiler",
        "control": {
            "control_entity": "input_select.boiler_mode",
            "control_option_up": None,
            "control_option_down": "Eco",
            "control_option_normal": None,
        },
        "power_entity": "sensor.water_heater_power",
        "nominal_kw": 3.0,
        "priority": 2,
        "resource_subentry_id": None,
        "dwell_s": 120,
    }
    # Nothing of it reaches the platform.
    assert not [
        r for r in sandbox.requests("energy_coordination") if "boiler" in str(r).lower()
    ]

    # Reconfigure: the same checks, the stored data replaced.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "load"),
        context={"source": "reconfigure", "subentry_id": load.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Boiler",
            "control": {"control_entity": HEATER},
            "power_entity": "sensor.water_heater_power",
            "nominal_kw": -1,
            "priority": 2,
        },
    )
    assert result["errors"] == {"nominal_kw": "nominal_invalid"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Water boiler",
            "control": {"control_entity": HEATER},
            "power_entity": "sensor.water_heater_power",
            "nominal_kw": 2.5,
            "priority": 4,
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    load = load_subentries(entry)[load.subentry_id]
    assert load.title == "Water boiler"
    assert load.data["control"] == {
        "control_entity": HEATER,
        "control_inverted": False,
    }
    assert load.data["priority"] == 4
    assert load.data["dwell_s"] is None


async def _load_strings(hass: HomeAssistant) -> dict[str, str]:
    return await translation.async_get_translations(
        hass, "en", "config_subentries", [DOMAIN]
    )


async def test_limit_exceeded_trigger_and_limit_control_condition(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
) -> None:
    """The site device's "limit exceeded" trigger fires; "limit control on" follows the switch."""
    entry = await _site(hass, sandbox, home)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    calls = async_mock_service(hass, "test", "automation")
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "alias": "over",
                "triggers": [
                    {
                        "platform": "device",
                        "domain": DOMAIN,
                        "device_id": device.id,
                        "type": "limit_exceeded",
                    }
                ],
                "conditions": [
                    {
                        "condition": "device",
                        "domain": DOMAIN,
                        "device_id": device.id,
                        "type": "limit_control_on",
                    }
                ],
                "actions": [
                    {
                        "action": "test.automation",
                        "data": {
                            "limit_kw": "{{ trigger.event.data.limit_kw }}",
                            "import_kw": "{{ trigger.event.data.import_kw }}",
                            "source": "{{ trigger.event.data.source }}",
                        },
                    }
                ],
            }
        },
    )
    await hass.async_block_till_done()

    async def _on() -> bool:
        checker = await condition.async_from_config(
            hass,
            await condition.async_validate_condition_config(
                hass,
                {
                    "condition": "device",
                    "domain": DOMAIN,
                    "device_id": device.id,
                    "type": "limit_control_on",
                },
            ),
        )
        return bool(checker(hass, {}))

    assert not await _on()
    # Off: the limit is exceeded, the trigger fires, the condition stops it.
    await _window(hass, freezer, home, sandbox, entry, [10])
    await _advance(hass, freezer, home, START)
    assert hass.states.get("binary_sensor.home_limit_exceeded").state == STATE_ON
    assert calls == []
    await _switch(hass, True)
    assert await _on()
    await home.settle()
    assert hass.states.get("binary_sensor.home_limit_exceeded").state == STATE_OFF
    # Above again (the rest of the home jumps): it fires once, with the data.
    await _tick(hass, freezer, home, 20)
    home.base_kw = 6
    above = home.import_kw()
    hass.states.async_set(GRID, str(round(above * 1000)), W)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(calls) == 1
    assert calls[0].data == {
        "limit_kw": 10.0,
        "import_kw": pytest.approx(above),
        "source": "location_lpc",
    }


async def test_restart_puts_a_curtailed_load_back(
    hass: HomeAssistant,
    sandbox: Sandbox,
    home: Home,
    hass_storage: dict[str, Any],
) -> None:
    """Home Assistant stopped with a load curtailed: the next start sets it back."""
    entry = await _site(hass, sandbox, home)
    ev_load = next(
        s for s in load_subentries(entry).values() if s.title == "EV charger"
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # As a stop without unloading leaves it: the EV at 6 A, its prior on disk.
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": EV, "value": 6}, blocking=True
    )
    key = f"{DOMAIN}.{entry.entry_id}.limit_control"
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {
            "manual": None,
            "loads": {
                ev_load.subentry_id: {
                    "level": 10,
                    "changed_at": (T0 - timedelta(minutes=1)).isoformat(),
                    "previous_level": 0,
                    "prior": 16.0,
                    "overridden": False,
                    "set_value": 6.0,
                }
            },
        },
    }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    # No limit in force any more: the charger gets its 16 A back.
    assert _ev(hass) == 16
    assert hass_storage[key]["data"]["loads"][ev_load.subentry_id]["level"] == 0


async def test_powernaut_maximise_downwards_sheds_the_resource_loads(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
) -> None:
    """An activation asking a resource to consume less sheds that resource's loads."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    result = await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {"power_entity": "sensor.ev_power", "power_min_kw": 0, "power_max_kw": 11.04},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    charger = subentry_by_title(entry, "Charger")
    for name in ("EV charger", "Water heater"):
        details = dict(LOADS[name])
        if name == "EV charger":
            details["resource_subentry_id"] = charger.subentry_id
        result = await add_load(hass, entry, name, details)
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await _switch(hass, True)
    events = _control_events(hass)
    client = await hass_client_no_auth()
    start = T0 + timedelta(minutes=15)
    await _accept(
        hass, client, sandbox, entry, "Charger", start, "0", type="maximise_downwards"
    )
    await _advance(hass, freezer, home, T0 + timedelta(minutes=5))
    assert events == []
    await _advance(hass, freezer, home, start + timedelta(seconds=1))
    # As little as the charger can: its minimum current; the water heater,
    # not part of the resource, keeps heating.
    assert _ev(hass) == 6
    assert events == [("curtailed", "EV charger")]
    assert hass.states.get(HEATER).state == STATE_ON
    await _advance(hass, freezer, home, start + timedelta(minutes=15, seconds=1))
    assert _ev(hass) == 16
    assert events[-1] == ("restored", "EV charger")


async def test_battery_setpoint_and_select_mode(
    hass: HomeAssistant, sandbox: Sandbox, home: Home
) -> None:
    """A battery discharging through a setpoint and a boiler's eco mode, under a manual limit."""
    for name, watts in (("battery", "0"), ("boiler", "3000")):
        hass.states.async_set(f"sensor.{name}_power", watts, W)
    home.meter_on = False
    hass.states.async_set(GRID, "8000", W)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": GRID}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    for name, details in {
        "Boiler": {
            "control": {
                "control_entity": "input_select.boiler_mode",
                "control_option_down": "Eco",
            },
            "power_entity": "sensor.boiler_power",
            "nominal_kw": 3,
            "priority": 2,
        },
        "Battery": {
            "control": {
                "control_entity": "input_number.battery_discharge",
                "control_unit": "w",
                "control_inverted": True,
            },
            "power_entity": "sensor.battery_power",
            "nominal_kw": 0.5,
            "priority": 9,
        },
    }.items():
        result = await add_load(hass, entry, name, details)
        assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await _switch(hass, True)
    events = _control_events(hass)
    await hass.services.async_call(
        DOMAIN,
        "set_power_limit",
        {
            "config_entry_id": entry.entry_id,
            "limit_kw": 5,
            "until": (T0 + timedelta(hours=1)).isoformat(),
        },
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    # 8 kW against a 4.75 kW target: the battery (curtailed first) discharges
    # its most, 3 kW; the boiler goes to Eco for the last 0.25 kW.
    assert events == [("curtailed", "Battery"), ("curtailed", "Boiler")]
    assert hass.states.get("input_number.battery_discharge").state == "3000.0"
    assert hass.states.get("input_select.boiler_mode").state == "Eco"

    await hass.services.async_call(
        DOMAIN, "clear_power_limit", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("input_number.battery_discharge").state == "0.0"
    assert hass.states.get("input_select.boiler_mode").state == "Normal"


async def test_removed_load_is_set_back(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    home: Home,
) -> None:
    """A load removed while curtailed gets its state back; the others stay held."""
    entry = await _site(hass, sandbox, home)
    await _switch(hass, True)
    await _window(hass, freezer, home, sandbox, entry, [10])
    await _advance(hass, freezer, home, START)
    assert _ev(hass) == 7
    ev_load = next(
        s for s in load_subentries(entry).values() if s.title == "EV charger"
    )
    assert hass.config_entries.async_remove_subentry(entry, ev_load.subentry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await home.settle()
    assert _ev(hass) == 16
    # 15.04 kW again, without the charger: the water heater and the heat
    # pump go, and that is all GridFlex may do: 11.54 kW, above the limit.
    assert hass.states.get(HEATER).state == STATE_OFF
    assert _target(hass) == 18
    assert home.import_kw() == pytest.approx(11.54)
    assert hass.states.get("binary_sensor.home_limit_exceeded").state == STATE_ON


async def test_set_power_limit_refusals_and_local_time(
    hass: HomeAssistant, sandbox: Sandbox, home: Home
) -> None:
    """Unknown or unloaded sites are refused; a time without a zone is local."""
    entry = await _site(hass, sandbox, home)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "clear_power_limit",
            {"config_entry_id": "nope"},
            blocking=True,
        )
    assert err.value.translation_key == "unknown_entry"
    local = dt_util.as_local(T0 + timedelta(hours=1)).replace(tzinfo=None)
    await hass.services.async_call(
        DOMAIN,
        "set_power_limit",
        {"config_entry_id": entry.entry_id, "limit_kw": 9, "until": local.isoformat()},
        blocking=True,
    )
    limit = (await async_get_config_entry_diagnostics(hass, entry))["limit_control"][
        "manual_limit"
    ]
    assert limit["end"] == (T0 + timedelta(hours=1)).isoformat()
    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "clear_power_limit",
            {"config_entry_id": entry.entry_id},
            blocking=True,
        )
    assert err.value.translation_key == "entry_not_loaded"
