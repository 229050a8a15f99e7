"""Carrying activations out: GridFlex steers a resource's mapped ``number``.

Inside Home Assistant against the sandbox's Powernaut API (every request
validated against Powernaut's OpenAPI file). The control is a real ``number``
entity of Home Assistant's ``template`` integration (optimistic, in W); bids
are placed and accepted with the sandbox's control routes and GridFlex learns
of them by the bid-accepted webhook, as from Powernaut.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import Context, Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.diagnostics import async_get_config_entry_diagnostics

from .conftest import Sandbox, setup_site
from .test_resources import add_resource, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
QUARTER = timedelta(minutes=15)
CONTROL = "number.battery_setpoint"
OTHER = "number.charger_current"
ACTIVE = "binary_sensor.battery_activation_active"
BATTERY: dict[str, Any] = {
    "power_entity": "sensor.battery_power",
    "soc_entity": "sensor.battery_soc",
    "power_min_kw": -3,
    "power_max_kw": 3,
    "capacity_kwh": 10,
    "control": {"control_entity": CONTROL, "control_unit": "w"},
}


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _set_by_hand(hass: HomeAssistant, entity_id: str, value: float) -> None:
    """Set a number as the homeowner would (their own context)."""
    await hass.services.async_call(
        "number",
        "set_value",
        {"entity_id": entity_id, "value": value},
        blocking=True,
        context=Context(),
    )
    await hass.async_block_till_done(wait_background_tasks=True)


def _value(hass: HomeAssistant, entity_id: str) -> float:
    return float(hass.states.get(entity_id).state)


@pytest.fixture(autouse=True)
async def home(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """10:00 UTC; a battery at 2 kW and 50 %, its setpoint at 500 W by hand."""
    freezer.move_to(T0)
    await setup_controls(hass)


@pytest.fixture(autouse=True)
async def unload_at_end(hass: HomeAssistant) -> AsyncIterator[None]:
    """Unload GridFlex after the test (its report checks wait for an hour)."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)


async def setup_controls(hass: HomeAssistant) -> None:
    """The battery's sensors and two template numbers, set by hand."""
    hass.states.async_set(
        "sensor.battery_power",
        "2000",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    hass.states.async_set(
        "sensor.battery_soc",
        "50",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    hass.states.async_set(
        "sensor.charger_power",
        "0",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    numbers = [
        {
            "name": "Battery setpoint",
            "unique_id": "battery_setpoint",
            "set_value": [],
            "optimistic": True,
            "min": -5000,
            "max": 2800,
            "step": 1,
            "unit_of_measurement": "W",
        },
        {
            "name": "Charger current",
            "unique_id": "charger_current",
            "set_value": [],
            "optimistic": True,
            "min": 0,
            "max": 32,
            "step": 1,
            "unit_of_measurement": "A",
        },
    ]
    assert await async_setup_component(
        hass, "template", {"template": [{"number": numbers}]}
    )
    await hass.async_block_till_done()
    await _set_by_hand(hass, CONTROL, 500)
    await _set_by_hand(hass, OTHER, 16)


async def _site(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    """A Powernaut site with a battery steered through its setpoint, and a charger not."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "powernaut")
    result = await add_resource(hass, entry, "Battery", "battery", BATTERY)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {
            "power_entity": "sensor.charger_power",
            "power_min_kw": 0,
            "power_max_kw": 7.4,
        },
    )
    # The resources get their webhook when GridFlex (re)starts.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _accept(
    hass: HomeAssistant,
    client: Any,
    sandbox: Sandbox,
    entry: ConfigEntry,
    title: str,
    start: datetime,
    value: str,
    **activation: Any,
) -> str:
    """Have Powernaut accept a bid of the resource; tell GridFlex by webhook."""
    resource_id = subentry_by_title(entry, title).data["resource_id"]
    bid = await sandbox.control(
        "POST",
        f"powernaut/resources/{resource_id}/bids",
        {
            "timing": {"start": _z(start), "end": _z(start + QUARTER)},
            "curve": [{"value": value}],
        },
    )
    await sandbox.control(
        "POST", f"powernaut/bids/{bid['id']}/activate", {"value": value, **activation}
    )
    await _webhook(hass, client, entry, bid["id"])
    return str(bid["id"])


async def _webhook(
    hass: HomeAssistant, client: Any, entry: ConfigEntry, bid_id: str
) -> None:
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}", json={"id": bid_id}
    )
    assert resp.status == 200
    await hass.async_block_till_done(wait_background_tasks=True)


def _control_events(bus: list[Event], kind: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in bus if e.data["type"] == kind]


async def test_accepted_bid_drives_the_number_and_restores_it(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """10:15-10:30 at 2.5 kW: the setpoint is 2500 W, then 500 W again."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_activation_control", bus.append)
    entry = await _site(hass, sandbox)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    bid = await _accept(hass, client, sandbox, entry, "Battery", start, "2.5")
    await _accept(hass, client, sandbox, entry, "Charger", start, "3.7")
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert _value(hass, CONTROL) == 500  # not before the window

    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 2500
    # The charger maps no control: it is only shown, nothing of it moves.
    assert _value(hass, OTHER) == 16
    attributes = hass.states.get(ACTIVE).attributes
    assert attributes["control_entity"] == CONTROL
    assert attributes["control_state"] == "steering"
    assert attributes["control_target_kw"] == 2.5
    (steering,) = _control_events(bus, "steering")
    assert steering["resource_name"] == "Battery"
    assert steering["target_kw"] == 2.5
    assert (
        "control_state"
        not in hass.states.get("binary_sensor.charger_activation_active").attributes
    )

    # Half way the battery delivers 3 kW instead of 2 kW.
    await _advance(hass, freezer, start + timedelta(minutes=7, seconds=30))
    hass.states.async_set(
        "sensor.battery_power",
        "3000",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    await hass.async_block_till_done()

    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 500
    assert _value(hass, OTHER) == 16
    last = hass.states.get(ACTIVE).attributes["last_activation"]
    assert "control_state" not in hass.states.get(ACTIVE).attributes
    # 2.5 kW asked for 15 min; 2 kW then 3 kW for 7.5 min each.
    assert last["requested_kwh"] == pytest.approx(0.625)
    assert last["delivered_kwh"] == pytest.approx(2 * 0.125 + 3 * 0.125)
    assert last["overridden"] is False
    (restored,) = _control_events(bus, "restored")
    assert restored["last_activation"] == last

    # A few minutes later the platform's report stands beside it.
    await sandbox.control(
        "POST",
        f"powernaut/bids/{bid}/report",
        {"energy_requested": "0.125", "energy_delivered": "0.1"},
    )
    await _advance(hass, freezer, start + QUARTER + timedelta(minutes=5, seconds=2))
    last = hass.states.get(ACTIVE).attributes["last_activation"]
    assert last["reported_requested_kwh"] == 0.125
    assert last["reported_delivered_kwh"] == 0.1
    assert last["delivered_kwh"] == pytest.approx(0.625)
    (reported,) = _control_events(bus, "reported")
    assert reported["last_activation"] == last
    # Diagnostics show each resource's control as its entities do.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    battery = subentry_by_title(entry, "Battery")
    assert diagnostics["activation_control"] == {
        battery.subentry_id: {"last_activation": last}
    }


async def test_cancellation_restores_at_once(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A cancelled activation (``value: null``) hands the control back at once."""
    entry = await _site(hass, sandbox)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    bid = await _accept(hass, client, sandbox, entry, "Battery", start, "-2.0")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, CONTROL) == -2000

    await _advance(hass, freezer, start + timedelta(minutes=5))
    await sandbox.control("POST", f"powernaut/bids/{bid}/activate", {"value": None})
    await _webhook(hass, client, entry, bid)
    assert _value(hass, CONTROL) == 500
    last = hass.states.get(ACTIVE).attributes["last_activation"]
    # Asked for until the cancellation: 2 kW discharge for 5 minutes.
    assert last["requested_kwh"] == pytest.approx(-2.0 / 12, abs=1e-6)


async def test_manual_change_stops_steering(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The homeowner's change wins: no more steering, no restore, recorded."""
    bus: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_activation_control", bus.append)
    entry = await _site(hass, sandbox)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    await _accept(hass, client, sandbox, entry, "Battery", start, "-2.0")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, CONTROL) == -2000

    await _set_by_hand(hass, CONTROL, 1000)
    assert hass.states.get(ACTIVE).attributes["control_state"] == "overridden"
    (overridden,) = _control_events(bus, "overridden")
    assert overridden["entity_id"] == CONTROL
    assert overridden["value"] == 1000
    # What would make GridFlex set the control again does not.
    hass.states.async_set(
        "sensor.battery_soc",
        "45",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await _advance(hass, freezer, start + timedelta(minutes=5))
    assert _value(hass, CONTROL) == 1000

    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 1000
    last = hass.states.get(ACTIVE).attributes["last_activation"]
    assert last["overridden"] is True
    assert _control_events(bus, "released")
    assert not _control_events(bus, "restored")


async def test_safety_envelope(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Never below the reserve SoC, never beyond the limits of resource and number."""
    entry = await _site(hass, sandbox)
    battery = subentry_by_title(entry, "Battery")
    hass.config_entries.async_update_subentry(
        entry, battery, data={**battery.data, "bidding": {"reserve_soc": 20}}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    # As much downwards as possible: the resource's minimum, -3 kW.
    await _accept(
        hass,
        client,
        sandbox,
        entry,
        "Battery",
        start,
        "-1.0",
        type="maximise_downwards",
    )
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, CONTROL) == -3000
    # At the reserve: no discharging while it lasts.
    hass.states.async_set(
        "sensor.battery_soc",
        "20",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _value(hass, CONTROL) == 0
    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 500

    # 3 kW asked, the number takes at most 2800 W.
    hass.states.async_set(
        "sensor.battery_soc",
        "60",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await _accept(hass, client, sandbox, entry, "Battery", start + 2 * QUARTER, "3.0")
    await _advance(hass, freezer, start + 2 * QUARTER + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 2800
    await _advance(hass, freezer, start + 3 * QUARTER + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 500


async def test_current_setpoint_and_normal_value(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A charger's current in A (230 V, one phase); afterwards its normal 6 A."""
    entry = await _site(hass, sandbox)
    charger = subentry_by_title(entry, "Charger")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": "reconfigure", "subentry_id": charger.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Charger",
            "power_entity": "sensor.charger_power",
            "power_min_kw": 0,
            "power_max_kw": 7.4,
            "control": {
                "control_entity": OTHER,
                "control_unit": "a",
                "control_scale": 230,
                "control_normal": 6,
            },
        },
    )
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done(wait_background_tasks=True)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    await _accept(hass, client, sandbox, entry, "Charger", start, "2.3")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, OTHER) == 10  # 2300 W / 230 V
    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert _value(hass, OTHER) == 6


async def test_charger_stops_at_the_cars_max_soc(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An EV charger reads its car's SoC from the bidding section: no charging at max."""
    entry = await _site(hass, sandbox)
    charger = subentry_by_title(entry, "Charger")
    hass.states.async_set(
        "sensor.car_soc", "95", {"unit_of_measurement": "%", "device_class": "battery"}
    )
    hass.config_entries.async_update_subentry(
        entry,
        charger,
        data={
            **charger.data,
            "control": {
                "control_entity": OTHER,
                "control_unit": "a",
                "control_scale": 230,
            },
            "bidding": {"ev_soc_entity": "sensor.car_soc", "max_soc": 90},
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    await _accept(hass, client, sandbox, entry, "Charger", start, "2.3")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, OTHER) == 0
    hass.states.async_set(
        "sensor.car_soc", "50", {"unit_of_measurement": "%", "device_class": "battery"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _value(hass, OTHER) == 10  # 2300 W / 230 V


async def test_a_sensor_is_no_control(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A sensor cannot be mapped as the control (only what GridFlex can set)."""
    entry = await setup_site(hass, sandbox, "powernaut")
    with pytest.raises(InvalidData, match=r"control\.control_entity"):
        await add_resource(
            hass,
            entry,
            "Battery",
            "battery",
            {**BATTERY, "control": {"control_entity": "sensor.battery_soc"}},
        )
    assert not entry.subentries


async def test_clearing_the_control_hands_it_back(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Turned off during an activation: the control is set back at once."""
    entry = await _site(hass, sandbox)
    battery = subentry_by_title(entry, "Battery")
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    await _accept(hass, client, sandbox, entry, "Battery", start, "1.5")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 1500

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": "reconfigure", "subentry_id": battery.subentry_id},
    )
    details = {k: v for k, v in BATTERY.items() if k != "control"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": "Battery", **details}
    )
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert subentry_by_title(entry, "Battery").data["control"] is None
    assert _value(hass, CONTROL) == 500
    assert "control_state" not in hass.states.get(ACTIVE).attributes
    # Nothing steers it any more, also when the activation goes on.
    await _set_by_hand(hass, CONTROL, 700)
    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 700


async def test_back_to_back_activations_hand_over(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Two quarter-hours in a row: no return to normal in between."""
    entry = await _site(hass, sandbox)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    await _accept(hass, client, sandbox, entry, "Battery", start, "2.0")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 2000
    await _accept(hass, client, sandbox, entry, "Battery", start + QUARTER, "1.0")
    values: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            values.append(event.data["new_state"].state)
            if event.data["entity_id"] == CONTROL
            else None
        ),
    )
    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert values == ["1000.0"]
    await _advance(hass, freezer, start + 2 * QUARTER + timedelta(seconds=1))
    assert values == ["1000.0", "500.0"]


async def test_maximise_upwards_on_an_inverted_control(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """As much upwards as the resource can (3 kW), on a discharge-positive control."""
    entry = await _site(hass, sandbox)
    battery = subentry_by_title(entry, "Battery")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"),
        context={"source": "reconfigure", "subentry_id": battery.subentry_id},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Battery",
            **BATTERY,
            "control": {
                "control_entity": CONTROL,
                "control_unit": "kw",
                "control_inverted": True,
            },
        },
    )
    assert result["type"] is FlowResultType.ABORT, result.get("errors")
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    await _accept(
        hass, client, sandbox, entry, "Battery", start, "1.0", type="maximise_upwards"
    )
    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert _value(hass, CONTROL) == -3  # 3 kW of charging, in kW, discharge positive
    # Full (the maximum SoC, 95 % by default): no more charging.
    hass.states.async_set(
        "sensor.battery_soc",
        "95",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _value(hass, CONTROL) == 0


async def test_restart_during_an_activation(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    hass_storage: dict[str, Any],
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """What the control was before is on disk: a restart still returns it."""
    entry = await _site(hass, sandbox)
    battery = subentry_by_title(entry, "Battery")
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    bid = await _accept(hass, client, sandbox, entry, "Battery", start, "2.0")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    key = f"{DOMAIN}.{entry.entry_id}.activation_control"
    held = hass_storage[key]["data"][battery.subentry_id]
    assert held == {
        "event_id": f"activation-{bid}",
        "start": start.isoformat(),
        "previous": 500,
    }
    # Home Assistant stops without unloading (as it does) and starts again
    # with the control still at the setpoint.
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert _value(hass, CONTROL) == 500  # an unload hands it back
    await _set_by_hand(hass, CONTROL, 2000)
    hass_storage[key] = {"version": 1, "key": key, "data": {battery.subentry_id: held}}
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _value(hass, CONTROL) == 2000
    await _advance(hass, freezer, start + QUARTER + timedelta(seconds=1))
    assert _value(hass, CONTROL) == 500
    assert battery.subentry_id not in hass_storage[key]["data"]
    # Removing the entry forgets the controls' earlier values.
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert key not in hass_storage


async def test_control_back_from_unavailable_is_not_an_override(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A device that drops out and comes back is steered again, not given up."""
    entry = await _site(hass, sandbox)
    client = await hass_client_no_auth()
    start = T0 + QUARTER
    await _accept(hass, client, sandbox, entry, "Battery", start, "2.0")
    await _advance(hass, freezer, start + timedelta(seconds=1))
    attributes = dict(hass.states.get(CONTROL).attributes)
    hass.states.async_set(CONTROL, "unavailable", attributes)
    await hass.async_block_till_done(wait_background_tasks=True)
    # Back with the value the device fell back to on its own.
    hass.states.async_set(CONTROL, "0", attributes)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _value(hass, CONTROL) == 2000
    assert hass.states.get(ACTIVE).attributes["control_state"] == "steering"


@pytest.mark.parametrize(
    ("platform", "shown"),
    [("powernaut", True), ("energy_coordination", False), ("flexmeasures", False)],
)
async def test_control_only_where_bids_are_activated(
    hass: HomeAssistant, sandbox: Sandbox, platform: str, shown: bool
) -> None:
    """The control section is offered where accepted bids are activated."""
    entry = await setup_site(hass, sandbox, platform)
    result = await add_resource(hass, entry, "Battery", "battery", {"_show_only": True})
    assert ("control" in result["data_schema"].schema) is shown
