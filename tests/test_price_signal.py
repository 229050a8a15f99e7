"""The Price signal sensor: Energy Coordination price curves inside Home Assistant."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN

from .conftest import Sandbox, setup_site
from .test_resources import add_resource, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
PRICE = "sensor.home_price_signal"
BATTERY = {
    "power_entity": "sensor.battery_power",
    "power_min_kw": -5,
    "power_max_kw": 5,
    "capacity_kwh": 10,
}


@pytest.fixture(autouse=True)
def morning(freezer: FrozenDateTimeFactory) -> None:
    """Start the day at 10:00 UTC."""
    freezer.move_to(T0)


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _site(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    """An Energy Coordination site with a battery (price curves target resources)."""
    hass.states.async_set("sensor.battery_power", "0", {"unit_of_measurement": "W"})
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await add_resource(hass, entry, "Battery", "battery", BATTERY)
    return entry


async def _curve(
    sandbox: Sandbox,
    entry: ConfigEntry,
    start: datetime,
    prices: list[float],
    *,
    resolution: str = "01:00:00",
    energy_unit: str = "kWh",
    currency: str = "NOK",
    area: str = "NO1",
) -> str:
    """Have the sandbox issue a price curve for the site's battery; return its id."""
    step = timedelta(minutes=15) if resolution == "00:15:00" else timedelta(hours=1)
    created = await sandbox.control(
        "POST",
        "energy_coordination/events",
        {
            "payload": {
                "payloadType": "PriceCurve",
                "targets": [
                    {
                        "resourceId": subentry_by_title(entry, "Battery").data[
                            "resource_id"
                        ],
                        "locationId": entry.data["site_id"].split("/", 1)[1],
                    }
                ],
                "priceCurveDelta": {
                    "points": [
                        {
                            "timestamp": (start + index * step).isoformat(),
                            "price": price,
                        }
                        for index, price in enumerate(prices)
                    ],
                    "energyUnit": energy_unit,
                    "currency": currency,
                    "resolution": resolution,
                },
                "priceArea": area,
            }
        },
    )
    return str(created["id"])


def _periods(hass: HomeAssistant) -> list[tuple[str, str, float]]:
    """Return the sensor's ``prices`` attribute as (start, end, price)."""
    prices: list[dict[str, Any]] = hass.states.get(PRICE).attributes["prices"]
    return [(p["start"], p["end"], p["price"]) for p in prices]


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


async def test_price_curve_fills_the_sensor(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The delta in force now, the curve as attribute; it moves at each period."""
    bus_events: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", bus_events.append)
    entry = await _site(hass, sandbox)
    state = hass.states.get(PRICE)
    assert state.state == STATE_UNKNOWN
    assert state.attributes["prices"] == []
    registered = er.async_get(hass).async_get(PRICE)
    assert registered.unique_id == f"{entry.unique_id}_price_signal"
    assert registered.translation_key == "price_signal"

    event_id = await _curve(sandbox, entry, T0, [0.10, 0.20, -0.05])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))  # the next poll
    state = hass.states.get(PRICE)
    assert float(state.state) == pytest.approx(0.10)
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "NOK/kWh"
    assert state.attributes[ATTR_STATE_CLASS] == SensorStateClass.MEASUREMENT
    assert _periods(hass) == [
        (_at(0), _at(1), 0.10),
        (_at(1), _at(2), 0.20),
        (_at(2), _at(3), -0.05),
    ]
    assert state.attributes["currency"] == "NOK"
    assert state.attributes["energy_unit"] == "kWh"
    assert state.attributes["price_area"] == "NO1"
    assert state.attributes["event_id"] == event_id
    # The bus event (and so the device trigger) carries area, currency, unit.
    received = [e.data for e in bus_events if e.data["type"] == "price_curve_received"]
    assert len(received) == 1
    assert received[0]["event_id"] == event_id
    assert received[0]["price_area"] == "NO1"
    assert received[0]["currency"] == "NOK"
    assert received[0]["energy_unit"] == "kWh"

    # The next period starts on the hour, without a poll.
    await _advance(hass, freezer, T0 + timedelta(hours=1))
    assert float(hass.states.get(PRICE).state) == pytest.approx(0.20)
    await _advance(hass, freezer, T0 + timedelta(hours=2, seconds=1))
    assert float(hass.states.get(PRICE).state) == pytest.approx(-0.05)
    # After the curve: unknown, the past day's periods stay in the attribute.
    await _advance(hass, freezer, T0 + timedelta(hours=3))
    assert hass.states.get(PRICE).state == STATE_UNKNOWN
    assert len(_periods(hass)) == 3
    # A day after its end a period leaves the attribute.
    await _advance(hass, freezer, T0 + timedelta(hours=26, minutes=1))
    assert hass.states.get(PRICE).state == STATE_UNKNOWN
    assert _periods(hass) == [(_at(2), _at(3), -0.05)]
    await _advance(hass, freezer, T0 + timedelta(hours=27))
    assert _periods(hass) == []


async def test_newer_curve_wins_and_survives_a_reload(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A newer curve overrides the periods it covers; the rest stays."""
    entry = await _site(hass, sandbox)
    await _curve(sandbox, entry, T0, [0.10, 0.20, -0.05])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    # A quarter-hour curve for 10:15 to 10:45 and 12:15 to 12:30.
    newer = await _curve(
        sandbox,
        entry,
        T0 + timedelta(minutes=15),
        [0.50, 0.60],
        resolution="00:15:00",
    )
    later = await _curve(
        sandbox,
        entry,
        T0 + timedelta(hours=2, minutes=15),
        [0.30],
        resolution="00:15:00",
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    expected = [
        (_at(0), _at(0.25), 0.10),
        (_at(0.25), _at(0.5), 0.50),
        (_at(0.5), _at(0.75), 0.60),
        (_at(0.75), _at(1), 0.10),
        (_at(1), _at(2), 0.20),
        (_at(2), _at(2.25), -0.05),
        (_at(2.25), _at(2.5), 0.30),
        (_at(2.5), _at(3), -0.05),
    ]
    assert _periods(hass) == expected
    assert float(hass.states.get(PRICE).state) == pytest.approx(0.10)
    assert hass.states.get(PRICE).attributes["event_id"] in (newer, later)
    await _advance(hass, freezer, T0 + timedelta(minutes=15))
    assert float(hass.states.get(PRICE).state) == pytest.approx(0.50)
    await _advance(hass, freezer, T0 + timedelta(minutes=30))
    assert float(hass.states.get(PRICE).state) == pytest.approx(0.60)
    await _advance(hass, freezer, T0 + timedelta(minutes=45))
    assert float(hass.states.get(PRICE).state) == pytest.approx(0.10)
    # A correction for the whole 11:00 hour, created later than all the others.
    correction = await _curve(sandbox, entry, T0 + timedelta(hours=1), [0.25])
    await _advance(hass, freezer, T0 + timedelta(minutes=50))
    expected[4] = (_at(1), _at(2), 0.25)
    assert _periods(hass) == expected
    assert hass.states.get(PRICE).attributes["event_id"] == correction
    await _advance(hass, freezer, T0 + timedelta(hours=1))
    assert float(hass.states.get(PRICE).state) == pytest.approx(0.25)

    # Reloaded, the curves come back from the ledger on disk, not a poll.
    sandbox.server.state.energy_coordination.events.clear()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert _periods(hass) == expected
    state = hass.states.get(PRICE)
    assert float(state.state) == pytest.approx(0.25)
    assert state.attributes["price_area"] == "NO1"
    assert state.attributes["energy_unit"] == "kWh"
    await _advance(hass, freezer, T0 + timedelta(hours=2, minutes=20))
    assert float(hass.states.get(PRICE).state) == pytest.approx(0.30)

    # A ledger written before curves kept their area and unit still loads.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    (stored,) = [
        value["data"]
        for key, value in hass_storage.items()
        if key.startswith(f"{DOMAIN}.ledger.")
    ]
    for event in stored["events"].values():
        assert event.pop("price_area") == "NO1"
        assert event.pop("energy_unit") == "kWh"
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(PRICE)
    assert float(state.state) == pytest.approx(0.30)
    assert state.attributes["price_area"] is None
    assert state.attributes["energy_unit"] is None
    assert state.attributes["currency"] == "NOK"


async def test_curve_per_mwh_is_shown_per_kwh(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A curve priced per MWh is shown per kWh; its unit stays in the attributes."""
    entry = await _site(hass, sandbox)
    await _curve(sandbox, entry, T0, [125.0, -40.0], energy_unit="MWh", currency="EUR")
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    state = hass.states.get(PRICE)
    assert float(state.state) == pytest.approx(0.125)
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "EUR/kWh"
    assert state.attributes["energy_unit"] == "MWh"
    assert _periods(hass) == [(_at(0), _at(1), 0.125), (_at(1), _at(2), -0.04)]


async def test_curve_for_another_area_is_ignored(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """With the site's area set, a curve for another area never shows."""
    entry = await _site(hass, sandbox)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"price_area": "NO1"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    ours = await _curve(sandbox, entry, T0, [0.10], area="NO1")
    await _curve(sandbox, entry, T0, [9.99], area="NO5")
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    state = hass.states.get(PRICE)
    assert float(state.state) == pytest.approx(0.10)
    assert state.attributes["event_id"] == ours
    assert _periods(hass) == [(_at(0), _at(1), 0.10)]
