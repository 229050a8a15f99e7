"""The price source of a FlexMeasures site: shapes, units, repairs, a FlexMeasures sensor.

Through the options flow and Home Assistant's state machine, against the
sandbox over HTTP: what lands on the site's ``electricity price`` sensor.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import json
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN

from .conftest import Sandbox, setup_site
from .test_resources import add_resource

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
PRICE = "sensor.electricity_price"
SCHEDULED = "sensor.home_battery_scheduled_power"
BATTERY = {
    "power_entity": "sensor.battery_power",
    "soc_entity": "sensor.battery_soc",
    "power_min_kw": -3,
    "power_max_kw": 4,
    "capacity_kwh": 10,
}


@pytest.fixture(autouse=True)
def at_t0(freezer: FrozenDateTimeFactory) -> None:
    """Start on a quarter hour."""
    freezer.move_to(T0)


@pytest.fixture(autouse=True)
def no_wait_between_polls() -> Any:
    """The sandbox moves a job one step per read: no need to wait."""
    with patch("custom_components.gridflex.schedules.JOB_POLL_DELAY", 0):
        yield


async def _site(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    hass.states.async_set(
        "sensor.battery_power",
        "0",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    hass.states.async_set("sensor.battery_soc", "40", {"unit_of_measurement": "%"})
    entry = await setup_site(hass, sandbox, "flexmeasures")
    await add_resource(hass, entry, "Home battery", "battery", dict(BATTERY))
    return entry


async def _options(
    hass: HomeAssistant, entry: ConfigEntry, options: dict[str, Any]
) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    return dict(result)


def _price_sensor(sandbox: Sandbox, entry: ConfigEntry) -> dict[str, Any] | None:
    return next(
        (
            sensor
            for sensor in sandbox.server.state.flexmeasures.sensors.values()
            if str(sensor["generic_asset_id"]) == entry.data["site_id"]
            and sensor["name"] == "electricity price"
        ),
        None,
    )


def _prices(sandbox: Sandbox, entry: ConfigEntry) -> dict[str, float]:
    sensor = _price_sensor(sandbox, entry)
    assert sensor is not None
    return dict(sandbox.server.state.flexmeasures.beliefs.get(sensor["id"], {}))


def _at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    ("unit", "attributes", "expected"),
    [
        # ENTSO-E: a "prices" list of {time, price}, € per kWh, hourly.
        (
            "€/kWh",
            {
                "prices": [
                    {"time": _at(0), "price": 0.25},
                    {"time": _at(1), "price": 0.125},
                ]
            },
            {_at(0): 250.0, _at(0.75): 250.0, _at(1): 125.0, _at(1.75): 125.0},
        ),
        # Energi Data Service-like: {hour, price} in euro cent, naive times
        # (the home's time zone; made in the test, where it is known).
        ("ct/kWh", None, None),
        # Quarter-hourly, in EUR/MWh already, {start, value} without an end.
        (
            "EUR/MWh",
            {"forecast": [{"start": _at(q / 4), "value": 80 + q} for q in range(4)]},
            {_at(0): 80.0, _at(0.25): 81.0, _at(0.5): 82.0, _at(0.75): 83.0},
        ),
    ],
)
async def test_forecast_shapes_and_units(
    hass: HomeAssistant,
    sandbox: Sandbox,
    unit: str,
    attributes: dict[str, Any] | None,
    expected: dict[str, float] | None,
) -> None:
    """Each forecast shape lands per quarter hour, in EUR/MWh."""
    if attributes is None:
        attributes = {
            "raw_today": [
                {
                    "hour": dt_util.as_local(T0 + timedelta(hours=hour))
                    .replace(tzinfo=None)
                    .isoformat(),
                    "price": price,
                }
                for hour, price in ((0, 20), (1, 30))
            ]
        }
        expected = {_at(0): 200.0, _at(0.75): 200.0, _at(1): 300.0, _at(1.75): 300.0}
    hass.states.async_set(PRICE, "0.2", {"unit_of_measurement": unit, **attributes})
    entry = await _site(hass, sandbox)
    result = await _options(hass, entry, {"price_entity": PRICE})
    assert result["type"] == "create_entry", result.get("errors")
    sensor = _price_sensor(sandbox, entry)
    assert sensor is not None and sensor["unit"] == "EUR/MWh"
    stored = _prices(sandbox, entry)
    assert {key: stored.get(key) for key in expected} == pytest.approx(expected)
    assert hass.states.get(SCHEDULED).state != "unknown"


async def test_a_price_without_forecast_is_posted_per_quarter(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The state is the price of the current quarter: at changes and every quarter."""
    hass.states.async_set(PRICE, "0.3", {"unit_of_measurement": "EUR/kWh"})
    entry = await _site(hass, sandbox)
    await _options(hass, entry, {"price_entity": PRICE})
    assert _prices(sandbox, entry) == {_at(0): 300.0}
    freezer.tick(timedelta(seconds=1))  # a later belief about the same quarter
    hass.states.async_set(PRICE, "0.25", {"unit_of_measurement": "EUR/kWh"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _prices(sandbox, entry)[_at(0)] == 250.0
    freezer.tick(timedelta(minutes=15, seconds=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _prices(sandbox, entry)[_at(0.25)] == 250.0


async def test_unit_checks_and_the_unit_repair(
    hass: HomeAssistant,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No price unit: refused in the options; a currency change later: a repair, nothing lost."""
    hass.states.async_set(PRICE, "0.3", {"unit_of_measurement": "EUR"})
    entry = await _site(hass, sandbox)
    result = await _options(hass, entry, {"price_entity": PRICE})
    assert result["errors"] == {"price_entity": "price_unit"}

    hass.states.async_set(PRICE, "0.3", {"unit_of_measurement": "EUR/kWh"})
    result = await _options(hass, entry, {"price_entity": PRICE})
    assert result["type"] == "create_entry"
    sensor = _price_sensor(sandbox, entry)
    assert sensor is not None
    posts = len(sandbox.server.state.flexmeasures.belief_history.get(sensor["id"], {}))

    # The same sensor now in another currency: FlexMeasures' sensor is EUR/MWh.
    hass.states.async_set(PRICE, "2.5", {"unit_of_measurement": "NOK/kWh"})
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = issue_registry.async_get_issue(DOMAIN, f"price_unit_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "price_unit_mismatch"
    assert issue.translation_placeholders == {
        "site": entry.title,
        "entity": PRICE,
        "unit": "NOK/kWh",
        "sensor_unit": "EUR/MWh",
    }
    assert _prices(sandbox, entry) == {_at(0): 300.0}  # nothing converted wrongly
    assert _price_sensor(sandbox, entry) == sensor  # nothing deleted
    assert (
        len(sandbox.server.state.flexmeasures.belief_history.get(sensor["id"], {}))
        == posts
    )

    freezer.tick(timedelta(seconds=1))  # a later belief about the same quarter
    hass.states.async_set(PRICE, "28", {"unit_of_measurement": "ct/kWh"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert (
        issue_registry.async_get_issue(DOMAIN, f"price_unit_{entry.entry_id}") is None
    )
    assert _prices(sandbox, entry) == {_at(0): 280.0}


async def test_a_price_sensor_that_comes_later(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A price sensor without a value yet: no schedule; once it has one, scheduled."""
    hass.states.async_set(PRICE, "unavailable", {"unit_of_measurement": "EUR/kWh"})
    entry = await _site(hass, sandbox)
    await _options(hass, entry, {"price_entity": PRICE})
    schedules = entry.runtime_data.schedule_coordinator
    assert schedules is not None and not schedules.last_update_success
    assert _price_sensor(sandbox, entry) is None
    assert hass.states.get(SCHEDULED).state == "unavailable"

    hass.states.async_set(PRICE, "0.3", {"unit_of_measurement": "EUR/kWh"})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _prices(sandbox, entry) == {_at(0): 300.0}
    assert hass.states.get(SCHEDULED).state not in ("unknown", "unavailable")


async def test_an_existing_flexmeasures_price_sensor(
    hass: HomeAssistant,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
) -> None:
    """By id: checked in the options, named in the flex-context, repaired when it goes."""
    entry = await _site(hass, sandbox)
    store = sandbox.server.state.flexmeasures
    site = int(entry.data["site_id"])
    headers = {"Authorization": sandbox.server.state.issue_token("flexmeasures").token}
    async with sandbox.session.post(
        f"{sandbox.url}/api/v3_0/sensors",
        json={
            "name": "day-ahead",
            "unit": "EUR/MWh",
            "event_resolution": "PT1H",
            "generic_asset_id": site,
        },
        headers=headers,
    ) as response:
        price = (await response.json())["id"]
    async with sandbox.session.post(
        f"{sandbox.url}/api/v3_0/sensors/{price}/data",
        json={
            "start": T0.isoformat(),
            "duration": "PT12H",
            "values": [90] * 12,
            "unit": "EUR/MWh",
        },
        headers=headers,
    ) as response:
        assert response.status == 200
    power = next(
        sensor["id"] for sensor in store.sensors.values() if sensor["name"] == "power"
    )

    hass.states.async_set(PRICE, "0.3", {"unit_of_measurement": "EUR/kWh"})
    for options, errors in (
        (
            {"price_entity": PRICE, "price_sensor_id": str(price)},
            {"base": "price_source_both"},
        ),
        ({"price_sensor_id": "999"}, {"price_sensor_id": "price_sensor_not_found"}),
        ({"price_sensor_id": "x7"}, {"price_sensor_id": "price_sensor_not_found"}),
        (
            {"price_sensor_id": str(power)},
            {"price_sensor_id": "price_sensor_not_price"},
        ),
    ):
        result = await _options(hass, entry, options)
        assert result["errors"] == errors, options

    result = await _options(hass, entry, {"price_sensor_id": f" {price} "})
    assert result["type"] == "create_entry"
    assert entry.options["price_sensor_id"] == str(price)
    assert json.loads(store.assets[site]["flex_context"]) == {
        "consumption-price": {"sensor": price},
        "production-price": {"sensor": price},
    }
    assert _price_sensor(sandbox, entry) is None  # GridFlex made none
    (job,) = store.jobs.values()
    assert job["body"]["flex-context"]["consumption-price"] == {"sensor": price}
    assert hass.states.get(SCHEDULED).state == "0.0"  # flat prices: nothing to gain

    del store.sensors[price]
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    issue = issue_registry.async_get_issue(DOMAIN, f"price_sensor_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "price_sensor_unusable"
    assert issue.translation_placeholders["sensor_id"] == str(price)
    assert len(store.jobs) == 1  # nothing triggered against a missing price

    # Removing the entry removes its repairs.
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert (
        issue_registry.async_get_issue(DOMAIN, f"price_sensor_{entry.entry_id}") is None
    )
