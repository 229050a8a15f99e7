"""Powernaut bids: placed within the battery's limits, updated in place, re-placed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
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
