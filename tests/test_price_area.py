"""The site's price area (its options) decides which price curves are the site's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .conftest import Sandbox, setup_site

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
PRICE = "sensor.home_price_signal"


@pytest.fixture(autouse=True)
def morning(freezer: FrozenDateTimeFactory) -> None:
    """Start on a weekday morning at 10:00 UTC."""
    freezer.move_to(T0)


async def _poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the next event poll (every 5 minutes) run."""
    freezer.tick(timedelta(minutes=5, seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _curve(
    sandbox: Sandbox, area: str, price: float, targets: list[dict[str, Any]]
) -> None:
    """Have the platform issue a price curve for ``area`` covering the next hours."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await sandbox.control(
        "POST",
        "energy_coordination/events",
        {
            "payload": {
                "payloadType": "PriceCurve",
                "targets": targets,
                "priceArea": area,
                "priceCurveDelta": {
                    "points": [
                        {
                            "timestamp": (start + timedelta(hours=h)).isoformat(),
                            "price": price,
                        }
                        for h in range(3)
                    ],
                    "energyUnit": "kWh",
                    "currency": "NOK",
                    "resolution": "01:00:00",
                },
            }
        },
    )


async def _set_area(hass: HomeAssistant, entry: ConfigEntry, area: str) -> None:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"price_area": area}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_curves_of_other_areas_are_ignored(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """With the site in NO2: a curve for NO1 is not the site's, one for all of NO2 is."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await hass.async_block_till_done(wait_background_tasks=True)
    await _set_area(hass, entry, "NO2")
    location = entry.data["site_id"].split("/", 1)[1]

    # Aimed at the site's location, but priced for another area.
    await _curve(
        sandbox, "NO1", 0.5, [{"locationId": location, "resourceId": "water-heater"}]
    )
    # For the whole of another area.
    await _curve(sandbox, "NO1", 0.9, [])
    await _poll(hass, freezer)
    assert hass.states.get(PRICE).state == STATE_UNKNOWN

    # For the whole of the site's area.
    await _curve(sandbox, "NO2", 0.25, [])
    await _poll(hass, freezer)
    state = hass.states.get(PRICE)
    assert float(state.state) == 0.25
    assert state.attributes["price_area"] == "NO2"
    assert state.attributes["unit_of_measurement"] == "NOK/kWh"


async def test_without_an_area_only_curves_for_the_site(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Without a price area: a curve for the site's location counts, area-wide ones not."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await hass.async_block_till_done(wait_background_tasks=True)
    location = entry.data["site_id"].split("/", 1)[1]
    await _curve(sandbox, "NO3", 0.9, [])
    await _poll(hass, freezer)
    assert hass.states.get(PRICE).state == STATE_UNKNOWN
    await _curve(
        sandbox, "NO3", 0.4, [{"locationId": location, "resourceId": "water-heater"}]
    )
    await _poll(hass, freezer)
    assert float(hass.states.get(PRICE).state) == 0.4
