"""Powernaut bids: batteries and electric vehicles, within their limits; per-resource sensors."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN

from .conftest import Sandbox, setup_site
from .test_resources import add_resource, reconfigure, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:02:00+00:00")
FIRST = datetime.fromisoformat("2026-11-22T10:15:00+00:00")
SOC = "sensor.battery_soc"
BATTERY = {
    "power_entity": "sensor.battery_power",
    "soc_entity": SOC,
    "power_min_kw": -5,
    "power_max_kw": 5,
    "capacity_kwh": 10,
}
BIDDING = {"bid_enabled": True, "bid_min_price": 0.25, "reserve_soc": 20, "max_soc": 95}


@pytest.fixture(autouse=True)
def home(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """10:02 UTC; the battery's power and state-of-charge sensors."""
    freezer.move_to(T0)
    hass.states.async_set(
        "sensor.battery_power",
        "0",
        {"unit_of_measurement": "kW", "device_class": "power"},
    )
    hass.states.async_set(
        SOC, "50", {"unit_of_measurement": "%", "device_class": "battery"}
    )


def z(moment: datetime) -> str:
    """Write a time as the sandbox does."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _battery(
    hass: HomeAssistant, sandbox: Sandbox, bidding: dict[str, Any] | None
) -> tuple[ConfigEntry, str]:
    entry = await setup_site(hass, sandbox, "powernaut")
    details = dict(BATTERY)
    if bidding is not None:
        details["bidding"] = bidding
    result = await add_resource(hass, entry, "Battery", "battery", details)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry, subentry_by_title(entry, "Battery").data["resource_id"]


def _bids(
    sandbox: Sandbox, resource_id: str, status: str = "open"
) -> list[dict[str, Any]]:
    return sorted(
        (
            bid
            for bid in sandbox.server.state.powernaut.bids.values()
            if bid["resource_id"] == resource_id and bid["status"] == status
        ),
        key=lambda bid: bid["timing"]["start"],
    )


def _bid_posts(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        r
        for r in sandbox.requests("powernaut")
        if r.get("method") == "POST" and str(r.get("path", "")).endswith("/bid")
    ]


def _state(hass: HomeAssistant, entry: ConfigEntry, key: str) -> Any:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_{key}"
    )
    assert entity_id is not None, key
    return hass.states.get(entity_id)


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _settle(hass: HomeAssistant) -> None:
    """Let the state-of-charge throttle (60 s) run out."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await hass.async_block_till_done(wait_background_tasks=True)


async def _soc(hass: HomeAssistant, value: str) -> None:
    hass.states.async_set(
        SOC, value, {"unit_of_measurement": "%", "device_class": "battery"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await _settle(hass)


def _curve(bid: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(point["value"], point.get("price")) for point in bid["curve"]]


async def test_no_bids_while_bidding_is_off(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Bidding is off by default: a battery bids nothing, cycle after cycle."""
    entry, _ = await _battery(hass, sandbox, None)
    assert subentry_by_title(entry, "Battery").data["bidding"]["bid_enabled"] is False
    await _advance(hass, freezer, T0 + timedelta(minutes=16))
    await _soc(hass, "60")
    await _advance(hass, freezer, T0 + timedelta(minutes=31))
    assert _bid_posts(sandbox) == []
    assert sandbox.server.state.powernaut.bids == {}
    assert _state(hass, entry, "open_bids").state == "0"


async def test_battery_bids_within_its_soc_limits(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """16 quarter-hours of bids; a SoC change updates them in place."""
    entry, resource_id = await _battery(hass, sandbox, BIDDING)
    bids = _bids(sandbox, resource_id)
    # 50 % of 10 kWh: 3 kWh above the reserve, 4.5 kWh below the maximum,
    # both more than a quarter-hour at the 5 kW limits.
    assert [bid["timing"]["start"] for bid in bids] == [
        z(FIRST + timedelta(minutes=15 * index)) for index in range(16)
    ]
    for bid in bids:
        start = datetime.fromisoformat(bid["timing"]["start"])
        assert bid["timing"]["end"] == z(start + timedelta(minutes=15))
        assert bid["expires_at"] == z(start + timedelta(minutes=5))
        assert _curve(bid) == [("-5.0", "0.25"), ("5.0", "0.25")]
    assert _state(hass, entry, "open_bids").state == "16"
    posts = len(_bid_posts(sandbox))
    assert posts == 16

    # A cycle with nothing changed bids only the quarter-hour that entered
    # the horizon (14:15).
    await _advance(hass, freezer, T0 + timedelta(minutes=16))
    assert len(_bid_posts(sandbox)) == posts + 1
    assert len(_bids(sandbox, resource_id)) == 17

    # Near the reserve (20.2 %: 0.02 kWh left): no discharge offer; the same
    # bids are updated in place.
    ids = [bid["id"] for bid in _bids(sandbox, resource_id)]
    await _soc(hass, "20.2")
    # From 10:18 the horizon starts at 10:30 (10:15 keeps its earlier bid).
    updated = _bids(sandbox, resource_id)[1:]
    assert len(updated) == 16
    assert {bid["id"] for bid in updated} <= set(ids)
    assert all(_curve(bid) == [("5.0", "0.25")] for bid in updated)

    # 30 %: 1 kWh above the reserve, 0.95 kWh delivered over 15 min = 3.8 kW.
    await _advance(hass, freezer, T0 + timedelta(minutes=18))
    await _soc(hass, "30")
    assert {_curve(bid)[0] for bid in _bids(sandbox, resource_id)[1:]} == {
        ("-3.8", "0.25")
    }

    # At the maximum (95 %): no charge offer.
    await _advance(hass, freezer, T0 + timedelta(minutes=20))
    await _soc(hass, "95")
    assert {tuple(_curve(bid)) for bid in _bids(sandbox, resource_id)[1:]} == {
        (("-5.0", "0.25"),)
    }


async def test_switching_bidding_off_withdraws_open_bids(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Bidding switched off in the resource's settings: the open bids go."""
    entry, resource_id = await _battery(hass, sandbox, BIDDING)
    assert len(_bids(sandbox, resource_id)) == 16
    subentry = subentry_by_title(entry, "Battery")
    result = await reconfigure(
        hass,
        entry,
        subentry.subentry_id,
        {"name": "Battery", **BATTERY, "bidding": {**BIDDING, "bid_enabled": False}},
    )
    assert result["reason"] == "reconfigure_successful"
    assert subentry_by_title(entry, "Battery").data["bidding"]["bid_enabled"] is False
    await hass.async_block_till_done(wait_background_tasks=True)
    await _settle(hass)
    assert _bids(sandbox, resource_id) == []
    assert _state(hass, entry, "open_bids").state == "0"


async def test_replaced_after_acceptance_and_reported(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An acceptance expires the others; GridFlex bids again around it and books the report."""
    await _soc(hass, "30")
    entry, resource_id = await _battery(hass, sandbox, BIDDING)
    bids = _bids(sandbox, resource_id)
    assert len(bids) == 16
    chosen = bids[1]  # 10:30
    assert _curve(chosen)[0] == ("-3.8", "0.25")
    answer = await sandbox.control(
        "POST", f"powernaut/bids/{chosen['id']}/activate", {"value": "-3.8"}
    )
    assert len(answer["canceled_bids"]) == 15
    assert _bids(sandbox, resource_id) == []

    # The activation reaches GridFlex with the next activation poll (5 min),
    # before the next 15-minute pass of the bids.
    await _advance(hass, freezer, T0 + timedelta(minutes=5, seconds=1))
    again = _bids(sandbox, resource_id)
    # 10:30 is taken; the 3.8 kW accepted there uses up the 1 kWh above the
    # reserve, so the later quarter-hours offer charging only.
    assert [bid["timing"]["start"] for bid in again] == [
        z(FIRST + timedelta(minutes=15 * index)) for index in (0, *range(2, 16))
    ]
    assert not {bid["id"] for bid in again} & {bid["id"] for bid in bids}
    assert all(_curve(bid) == [("5.0", "0.25")] for bid in again)
    assert _state(hass, entry, "open_bids").state == "15"
    assert _state(hass, entry, "accepted_bids_today").state == "1"
    assert _state(hass, entry, "bid_energy_delivered").state == "0"

    await sandbox.control(
        "POST",
        f"powernaut/bids/{chosen['id']}/report",
        {"energy_requested": "0.95", "energy_delivered": "0.9"},
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=31))
    energy = _state(hass, entry, "bid_energy_delivered")
    earnings = _state(hass, entry, "bid_earnings")
    assert Decimal(energy.state) == Decimal("0.9")
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert energy.attributes["state_class"] == "total_increasing"
    # 0.9 kWh at the accepted point's 0.25 EUR/kWh.
    assert Decimal(earnings.state) == Decimal("0.225")
    assert earnings.attributes["unit_of_measurement"] == "EUR"
    assert earnings.attributes["device_class"] == "monetary"
    assert earnings.attributes["state_class"] == "total"

    # Booked once: the next cycle and a restart keep the same totals.
    await _advance(hass, freezer, T0 + timedelta(minutes=46))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert Decimal(_state(hass, entry, "bid_energy_delivered").state) == Decimal("0.9")
    assert Decimal(_state(hass, entry, "bid_earnings").state) == Decimal("0.225")


async def test_bidding_settings_in_the_resource_form(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Batteries get the bidding section; a bad price or reserve is refused."""
    entry = await setup_site(hass, sandbox, "powernaut")
    shown = await add_resource(hass, entry, "Battery", "battery", {"_show_only": True})
    assert "bidding" in shown["data_schema"].schema
    heat_pump = await add_resource(
        hass, entry, "Heat pump", "heat_pump", {"_show_only": True}
    )
    assert "bidding" not in heat_pump["data_schema"].schema
    for bidding, error in (
        ({**BIDDING, "bid_min_price": 0.123456}, "bid_price_invalid"),
        ({**BIDDING, "reserve_soc": 95}, "reserve_above_max"),
    ):
        result = await add_resource(
            hass, entry, "Battery", "battery", {**BATTERY, "bidding": bidding}
        )
        assert result["errors"] == {"bidding": error}
    assert sandbox.server.state.powernaut.bids == {}


async def test_unknown_state_of_charge_withdraws_the_bids(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A battery whose state of charge cannot be read offers nothing; diagnostics say why."""
    entry, resource_id = await _battery(hass, sandbox, BIDDING)
    assert len(_bids(sandbox, resource_id)) == 16
    await _soc(hass, "unavailable")
    assert _bids(sandbox, resource_id) == []
    manager = entry.runtime_data.bid_manager
    assert manager.diagnostics()["last_errors"] == {
        "Battery": "state of charge unknown"
    }
    assert _state(hass, entry, "open_bids").state == "0"
    await _soc(hass, "50")
    assert len(_bids(sandbox, resource_id)) == 16
    assert manager.diagnostics()["last_errors"] == {}


async def test_unreachable_platform_keeps_the_totals(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The counts become unavailable while the bids cannot be read; totals stay."""
    entry, _ = await _battery(hass, sandbox, BIDDING)
    await sandbox.fault("/v1/connect/bids", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(minutes=16))
    assert _state(hass, entry, "open_bids").state == "unavailable"
    assert _state(hass, entry, "bid_earnings").state == "0"
    await sandbox.clear_faults()
    await _advance(hass, freezer, T0 + timedelta(minutes=31))
    # 10:33: the 10:30 bid is still open; 10:45 to 14:30 are bid anew.
    assert _state(hass, entry, "open_bids").state == "17"


async def test_a_refused_bid_is_reported_and_retried(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A bid the platform refuses is logged and in the diagnostics; the next pass bids."""
    entry, resource_id = await _battery(hass, sandbox, None)
    await sandbox.fault("/v1/connect/resources/*/bid", "status", status=503, times=1)
    subentry = subentry_by_title(entry, "Battery")
    await reconfigure(
        hass,
        entry,
        subentry.subentry_id,
        {"name": "Battery", **BATTERY, "bidding": BIDDING},
    )
    await _settle(hass)
    manager = entry.runtime_data.bid_manager
    assert "503" in manager.diagnostics()["last_errors"]["Battery"]
    assert _bids(sandbox, resource_id) == []
    await _advance(hass, freezer, T0 + timedelta(minutes=16))
    assert len(_bids(sandbox, resource_id)) == 16
    assert manager.diagnostics()["last_errors"] == {}


async def test_no_power_to_offer_withdraws_the_bids(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Limits of 0 kW leave nothing to offer: the open bids are withdrawn."""
    entry, resource_id = await _battery(hass, sandbox, BIDDING)
    assert len(_bids(sandbox, resource_id)) == 16
    subentry = subentry_by_title(entry, "Battery")
    await reconfigure(
        hass,
        entry,
        subentry.subentry_id,
        {
            "name": "Battery",
            **BATTERY,
            "power_min_kw": 0,
            "power_max_kw": 0,
            "bidding": BIDDING,
        },
    )
    await _settle(hass)
    assert _bids(sandbox, resource_id) == []
    assert _state(hass, entry, "open_bids").state == "0"


# Electric vehicles: a real input_boolean says whether the car is plugged in,
# a template sensor reads its state of charge from an input_number.

CONNECTED = "input_boolean.ev_connected"
EV_SOC = "sensor.ev_soc"
EV = {
    "power_entity": "sensor.battery_power",
    "soc_entity": EV_SOC,
    "power_min_kw": 0,
    "power_max_kw": 11,
    "capacity_kwh": 60,
}
EV_CURVE_BOTH = [("0.0", "0.25"), ("11.0", "0.25")]
EV_CURVE_UP = [("11.0", "0.25")]


def _departure_in(hours: int) -> str:
    """The local clock time ``hours`` after T0, as the time selector gives it."""
    return dt_util.as_local(T0 + timedelta(hours=hours)).strftime("%H:%M:%S")


def _ev_bidding(**changes: Any) -> dict[str, Any]:
    return {
        **BIDDING,
        "connected_entity": CONNECTED,
        "target_soc": 80,
        "departure_time": _departure_in(4),
        **changes,
    }


async def _car(hass: HomeAssistant, soc: str, *, connected: bool = True) -> None:
    """Set up the car's entities: plugged in (or not) at ``soc`` %."""
    assert await async_setup_component(
        hass,
        "input_boolean",
        {"input_boolean": {"ev_connected": {"initial": connected}}},
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {
            "input_number": {
                "ev_soc": {"min": 0, "max": 100, "step": 0.1, "initial": float(soc)}
            }
        },
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "sensor": [
                        {
                            "name": "EV SoC",
                            "unique_id": "ev_soc",
                            "state": "{{ states('input_number.ev_soc') }}",
                            "unit_of_measurement": "%",
                            "device_class": "battery",
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get(EV_SOC).state == str(float(soc))


async def _plug(hass: HomeAssistant, on: bool) -> None:
    await hass.services.async_call(
        "input_boolean",
        "turn_on" if on else "turn_off",
        {"entity_id": CONNECTED},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await _settle(hass)


async def _ev(
    hass: HomeAssistant,
    sandbox: Sandbox,
    bidding: dict[str, Any] | None,
    entry: ConfigEntry | None = None,
    **details: Any,
) -> tuple[ConfigEntry, str]:
    entry = entry or await setup_site(hass, sandbox, "powernaut")
    form = {**EV, **details}
    if bidding is not None:
        form["bidding"] = bidding
    result = await add_resource(hass, entry, "Car", "electric_vehicle", form)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry, subentry_by_title(entry, "Car").data["resource_id"]


async def test_ev_bids_keep_the_target_reachable(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """40 % -> 80 % of 60 kWh by 4 h from now at 11 kW: less charging early only."""
    await _car(hass, "40")
    entry, resource_id = await _ev(hass, sandbox, _ev_bidding())
    bids = _bids(sandbox, resource_id)
    # The whole quarter-hours before the departure (10:02 + 4 h): 10:15-13:45.
    assert [bid["timing"]["start"] for bid in bids] == [
        z(FIRST + timedelta(minutes=15 * k)) for k in range(15)
    ]
    # 24 kWh to add at 11 kW x 95 % = 2.6125 kWh a quarter-hour: stopping in
    # quarter-hour k leaves 14 - k quarter-hours, enough for k <= 4.
    per_quarter = Decimal(11) / 4 * Decimal("0.95")
    for k, bid in enumerate(bids):
        reachable = (14 - k) * per_quarter >= 24
        assert _curve(bid) == (EV_CURVE_BOTH if reachable else EV_CURVE_UP), k
    assert [_curve(bid) for bid in bids].count(EV_CURVE_BOTH) == 5
    assert _state(hass, entry, "open_bids").state == "15"

    # The car charged to 60 %: 12 kWh to go, stopping is fine up to 12:15
    # (k <= 9: 5 quarter-hours after it give 13.06 kWh).
    await hass.services.async_call(
        "input_number",
        "set_value",
        {"entity_id": "input_number.ev_soc", "value": 60},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await _settle(hass)
    bids = _bids(sandbox, resource_id)
    assert [_curve(bid) for bid in bids].count(EV_CURVE_BOTH) == 10
    assert all(_curve(bid) == EV_CURVE_UP for bid in bids[10:])

    # Unplugged: every open bid is withdrawn; plugged in again: bid again.
    await _plug(hass, False)
    assert _bids(sandbox, resource_id) == []
    assert _state(hass, entry, "open_bids").state == "0"
    assert entry.runtime_data.bid_manager.diagnostics()["last_errors"] == {
        "Car": "not connected"
    }
    posts = len(_bid_posts(sandbox))
    await _advance(hass, freezer, T0 + timedelta(minutes=16))
    assert len(_bid_posts(sandbox)) == posts
    await _plug(hass, True)
    assert len(_bids(sandbox, resource_id)) == 14  # 10:30-13:45


async def test_ev_bids_nothing_after_its_departure(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Still plugged in after the departure: nothing until the next day."""
    await _car(hass, "40")
    entry, resource_id = await _ev(hass, sandbox, _ev_bidding())
    assert len(_bids(sandbox, resource_id)) == 15
    departure = T0 + timedelta(hours=4)
    await _advance(hass, freezer, departure + timedelta(minutes=1))
    posts = len(_bid_posts(sandbox))
    await _advance(hass, freezer, departure + timedelta(minutes=16))
    await _advance(hass, freezer, departure + timedelta(minutes=31))
    assert len(_bid_posts(sandbox)) == posts
    assert _bids(sandbox, resource_id) == []
    assert _state(hass, entry, "open_bids").state == "0"
    assert entry.runtime_data.bid_manager.diagnostics()["last_errors"] == {
        "Car": "departed"
    }
    # The next local day: bids towards that day's departure (16 quarter-hours).
    midnight = dt_util.start_of_local_day(
        dt_util.as_local(departure) + timedelta(days=1)
    )
    await _advance(hass, freezer, dt_util.as_utc(midnight) + timedelta(minutes=1))
    assert len(_bids(sandbox, resource_id)) == 16
    assert entry.runtime_data.bid_manager.diagnostics()["last_errors"] == {}


async def test_ev_plugged_in_again_after_departure_bids_for_the_next_one(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Unplugged and plugged in after the departure: a new session, next departure."""
    await _car(hass, "40")
    _, resource_id = await _ev(hass, sandbox, _ev_bidding())
    departure = T0 + timedelta(hours=4)
    await _advance(hass, freezer, departure + timedelta(minutes=1))
    await _plug(hass, False)
    await _plug(hass, True)
    bids = _bids(sandbox, resource_id)
    # 24 h to the next departure: every quarter-hour may stop charging.
    assert len(bids) == 16
    assert all(_curve(bid) == EV_CURVE_BOTH for bid in bids)


async def test_ev_bids_nothing_when_unplugged_or_off(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """No bid for a car that is not plugged in, nor for one with bidding off."""
    await _car(hass, "40", connected=False)
    _, resource_id = await _ev(hass, sandbox, _ev_bidding())
    assert _bids(sandbox, resource_id) == []
    await _advance(hass, freezer, T0 + timedelta(minutes=16))
    assert _bid_posts(sandbox) == []

    await _plug(hass, True)
    assert len(_bids(sandbox, resource_id)) == 14  # 10:30-13:45


async def test_ev_bids_nothing_while_bidding_is_off(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Plugged in, readable, but bidding off (the default): nothing is bid."""
    await _car(hass, "40")
    entry, _ = await _ev(hass, sandbox, _ev_bidding(bid_enabled=False))
    assert subentry_by_title(entry, "Car").data["bidding"]["bid_enabled"] is False
    await _plug(hass, False)
    await _plug(hass, True)
    await _advance(hass, freezer, T0 + timedelta(minutes=16))
    assert _bid_posts(sandbox) == []
    assert _state(hass, entry, "open_bids").state == "0"


async def test_vehicle_to_grid_discharges_above_the_reserve(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A negative minimum power: discharge offered within the reserve and the target."""
    await _car(hass, "22")
    _, resource_id = await _ev(hass, sandbox, _ev_bidding(), power_min_kw=-11)
    bids = _bids(sandbox, resource_id)
    # 22 %: 1.2 kWh above the 20 % reserve, 1.2 x 0.95 x 4 = 4.56 kW. The
    # target (34.8 kWh to add) leaves room only in the first quarter-hour.
    assert _curve(bids[0]) == [("-4.56", "0.25"), ("11.0", "0.25")]
    assert all(_curve(bid) == EV_CURVE_UP for bid in bids[1:])


async def test_bid_sensors_per_resource(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Each bidding resource's device shows its own figures; the site's sum them."""
    await _car(hass, "40")
    entry, battery_id = await _battery(hass, sandbox, BIDDING)
    _, car_id = await _ev(hass, sandbox, _ev_bidding(), entry=entry)
    await _settle(hass)  # the re-plan after the new resource is throttled
    assert len(_bids(sandbox, car_id)) == 15
    registry = er.async_get(hass)
    car = subentry_by_title(entry, "Car")
    battery = subentry_by_title(entry, "Battery")

    def state(subentry: Any, key: str) -> Any:
        entity_id = registry.async_get_entity_id(
            "sensor", DOMAIN, f"{entry.unique_id}_{subentry.subentry_id}_{key}"
        )
        assert entity_id is not None, key
        entity = registry.async_get(entity_id)
        assert entity is not None
        assert entity.config_subentry_id == subentry.subentry_id
        return hass.states.get(entity_id)

    assert state(car, "open_bids").state == str(len(_bids(sandbox, car_id)))
    assert state(battery, "open_bids").state == str(len(_bids(sandbox, battery_id)))
    chosen = _bids(sandbox, car_id)[0]  # 10:15: stop charging
    await sandbox.control(
        "POST", f"powernaut/bids/{chosen['id']}/activate", {"value": "0.0"}
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5, seconds=1))
    await sandbox.control(
        "POST",
        f"powernaut/bids/{chosen['id']}/report",
        {"energy_requested": "2.75", "energy_delivered": "2.5"},
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=31))
    assert state(car, "accepted_bids_today").state == "1"
    assert state(battery, "accepted_bids_today").state == "0"
    energy = state(car, "bid_energy_delivered")
    earnings = state(car, "bid_earnings")
    assert Decimal(energy.state) == Decimal("2.5")
    assert energy.attributes["state_class"] == "total_increasing"
    assert energy.attributes["unit_of_measurement"] == "kWh"
    # 2.5 kWh at the accepted point's 0.25 EUR/kWh.
    assert Decimal(earnings.state) == Decimal("0.625")
    assert earnings.attributes["unit_of_measurement"] == "EUR"
    assert earnings.attributes["device_class"] == "monetary"
    assert earnings.attributes["state_class"] == "total"
    assert Decimal(state(battery, "bid_energy_delivered").state) == 0
    for key in ("open_bids", "accepted_bids_today"):
        assert int(_state(hass, entry, key).state) == int(state(car, key).state) + int(
            state(battery, key).state
        )
    for key in ("bid_energy_delivered", "bid_earnings"):
        assert Decimal(_state(hass, entry, key).state) == Decimal(
            state(car, key).state
        ) + Decimal(state(battery, key).state)
    assert int(_state(hass, entry, "open_bids").state) > 0


async def test_ev_bidding_settings_in_the_resource_form(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Cars and chargers get the car's fields; what bidding needs is checked."""
    entry = await setup_site(hass, sandbox, "powernaut")
    hass.states.async_set(CONNECTED, "on")
    hass.states.async_set(EV_SOC, "40", {"device_class": "battery"})
    shown = await add_resource(
        hass, entry, "Car", "electric_vehicle", {"_show_only": True}
    )
    fields = shown["data_schema"].schema["bidding"].schema.schema
    assert {"connected_entity", "target_soc", "departure_time"} <= set(fields)
    assert "ev_soc_entity" not in fields
    charger = await add_resource(
        hass, entry, "Charger", "ev_charger", {"_show_only": True}
    )
    fields = charger["data_schema"].schema["bidding"].schema.schema
    assert {"connected_entity", "ev_soc_entity", "ev_capacity_kwh"} <= set(fields)
    battery = await add_resource(
        hass, entry, "Battery", "battery", {"_show_only": True}
    )
    assert (
        "connected_entity" not in battery["data_schema"].schema["bidding"].schema.schema
    )

    without_soc = {k: v for k, v in EV.items() if k != "soc_entity"}
    without_capacity = {k: v for k, v in EV.items() if k != "capacity_kwh"}
    for details, bidding, errors in (
        (EV, _ev_bidding(target_soc=96), {"bidding": "target_out_of_range"}),
        (EV, _ev_bidding(target_soc=10), {"bidding": "target_out_of_range"}),
        (EV, _ev_bidding(connected_entity=None), {"bidding": "connected_required"}),
        (without_soc, _ev_bidding(), {"soc_entity": "soc_required_for_bids"}),
        (
            without_capacity,
            _ev_bidding(),
            {"capacity_kwh": "capacity_required_for_bids"},
        ),
    ):
        form = {k: v for k, v in bidding.items() if v is not None}
        result = await add_resource(
            hass, entry, "Car", "electric_vehicle", {**details, "bidding": form}
        )
        assert result.get("errors") == errors, (bidding, details)
    charger_form = {
        k: v for k, v in EV.items() if k not in ("soc_entity", "capacity_kwh")
    }
    result = await add_resource(
        hass, entry, "Charger", "ev_charger", {**charger_form, "bidding": _ev_bidding()}
    )
    assert result["errors"] == {"bidding": "soc_required_for_bids"}
    # Bidding off: nothing of the car is required; the settings are kept.
    result = await add_resource(
        hass,
        entry,
        "Charger",
        "ev_charger",
        {
            **charger_form,
            "bidding": {"bid_enabled": False, "departure_time": "07:30:00"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    stored = subentry_by_title(entry, "Charger").data["bidding"]
    assert stored["departure_time"] == "07:30:00"
    assert stored["target_soc"] == 80
    assert stored["ev_soc_entity"] is None
    result = await add_resource(
        hass,
        entry,
        "Charger 2",
        "ev_charger",
        {
            **charger_form,
            "bidding": {
                **_ev_bidding(),
                "ev_soc_entity": EV_SOC,
                "ev_capacity_kwh": 60,
            },
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert sandbox.server.state.powernaut.bids == {}


async def test_ev_with_an_unreadable_state_of_charge_bids_nothing(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Plugged in, but its state of charge unknown: the open bids go."""
    await _car(hass, "40")
    entry, resource_id = await _ev(hass, sandbox, _ev_bidding())
    assert len(_bids(sandbox, resource_id)) == 15
    hass.states.async_set(EV_SOC, "unavailable", {"device_class": "battery"})
    await hass.async_block_till_done(wait_background_tasks=True)
    await _settle(hass)
    assert _bids(sandbox, resource_id) == []
    assert entry.runtime_data.bid_manager.diagnostics()["last_errors"] == {
        "Car": "state of charge unknown"
    }
