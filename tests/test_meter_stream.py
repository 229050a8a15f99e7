"""Powernaut meter data: the 4 s stream to a real Mosquitto broker over MQTT 5 + TLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .conftest import Sandbox, setup_site
from .mosquitto import MosquittoBroker
from .test_resources import add_resource, subentry_by_title

CONNECTED = "binary_sensor.home_stream_connected"
LAST_SENT = "sensor.home_last_measurement_sent"


def _set(hass: HomeAssistant, entity_id: str, value: str, unit: str) -> None:
    hass.states.async_set(
        entity_id, value, {"unit_of_measurement": unit, "device_class": "power"}
    )


async def _wait_for_state(hass: HomeAssistant, entity_id: str, state: str) -> None:
    """Wait (real time, at most 15 s) until the entity has ``state``."""
    for _ in range(150):
        if (current := hass.states.get(entity_id)) and current.state == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{entity_id} never became {state}")


async def _publish_tick(hass: HomeAssistant, seconds: float = 4.1) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done()
    # Let the publish reach the broker before time moves on again (the stream's
    # connection task runs for ever, so background tasks cannot be awaited).
    await asyncio.sleep(0.3)


@pytest.fixture
async def site(
    hass: HomeAssistant, sandbox: Sandbox
) -> AsyncIterator[tuple[ConfigEntry, MosquittoBroker]]:
    """A Powernaut site with resources, streaming to a broker with its edge credentials."""
    _set(hass, "sensor.grid_power", "1200", "W")
    _set(hass, "sensor.battery_power", "-0.0015", "MW")
    _set(hass, "sensor.charger_power", "7.2", "kW")
    entry = await setup_site(hass, sandbox, "powernaut")
    edge = entry.data["edge_credentials"]
    async with MosquittoBroker(username=edge["key"], password=edge["secret"]) as broker:
        await add_resource(
            hass,
            entry,
            "Battery",
            "battery",
            {
                "power_entity": "sensor.battery_power",
                "power_min_kw": -5,
                "power_max_kw": 5,
                "capacity_kwh": 10,
            },
        )
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
        await add_resource(
            hass,
            entry,
            "Hybrid",
            "group",
            {
                "power_entity": "sensor.grid_power",
                "power_min_kw": -8,
                "power_max_kw": 8,
            },
        )
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                "grid_power_entity": "sensor.grid_power",
                "stream": {
                    "mqtt_broker": broker.url,
                    "mqtt_ca_file": str(broker.ca_file),
                },
            },
        )
        assert result["type"] == "create_entry"
        await hass.async_block_till_done()
        await _wait_for_state(hass, CONNECTED, STATE_ON)
        yield entry, broker
        await hass.config_entries.async_unload(entry.entry_id)


def _by_topic(messages: list[Any]) -> dict[str, list[dict[str, Any]]]:
    topics: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        topics.setdefault(message.topic, []).append(message.json())
    return topics


async def test_stream_every_four_seconds(
    hass: HomeAssistant, site: tuple[ConfigEntry, MosquittoBroker]
) -> None:
    """Every 4 s the site and each resource (not the group) publish their power."""
    entry, broker = site
    site_id = entry.data["site_id"]
    battery = subentry_by_title(entry, "Battery").data["resource_id"]
    charger = subentry_by_title(entry, "Charger").data["resource_id"]
    async with broker.subscribe("#") as received:
        await _publish_tick(hass, 2)  # not yet: the cadence is 4 s
        await asyncio.sleep(0.3)
        assert received.messages == []
        for _ in range(3):
            await _publish_tick(hass)
        messages = await received.wait_for(9)
    topics = _by_topic(messages)
    assert set(topics) == {
        f"site/{site_id}/measurements",
        f"resource/{battery}/measurements",
        f"resource/{charger}/measurements",
    }
    assert all(len(values) == 3 for values in topics.values())
    # W, MW and kW sensors, all in kW as exact decimal strings; import positive.
    assert topics[f"site/{site_id}/measurements"][0]["active_power"] == "1.2"
    assert topics[f"resource/{battery}/measurements"][0]["active_power"] == "-1.5"
    assert topics[f"resource/{charger}/measurements"][0] == {
        "timestamp": topics[f"resource/{charger}/measurements"][0]["timestamp"],
        "active_power": "7.2",
        "unit": "kW",
    }
    assert hass.states.get(LAST_SENT).state not in ("unknown", "unavailable")

    # The client id stays the same for the site; the session is persistent.
    connections = await broker.connections()
    ids = {
        c.client_id
        for c in connections
        if c.username == entry.data["edge_credentials"]["key"]
    }
    assert f"gridflex-{entry.entry_id}" in ids
    stream = next(c for c in connections if c.client_id == f"gridflex-{entry.entry_id}")
    assert stream.protocol == 5
    assert stream.clean_start is False


async def test_invalid_and_missing_values_not_published(
    hass: HomeAssistant, site: tuple[ConfigEntry, MosquittoBroker]
) -> None:
    """A sensor without a valid reading publishes nothing; the others go on."""
    entry, broker = site
    charger = subentry_by_title(entry, "Charger").data["resource_id"]
    hass.states.async_set("sensor.grid_power", "unavailable")
    hass.states.async_set("sensor.battery_power", "nan", {"unit_of_measurement": "kW"})
    await hass.async_block_till_done()
    # A state change is only recorded: the 4 s tick reads it and updates the count.
    assert hass.states.get("sensor.home_invalid_readings_skipped").state == "0"
    async with broker.subscribe("#") as received:
        await _publish_tick(hass)
        messages = await received.wait_for(1)
        await asyncio.sleep(0.3)
    assert hass.states.get("sensor.home_invalid_readings_skipped").state == "2"
    assert [m.topic for m in received.messages] == [f"resource/{charger}/measurements"]
    assert messages[0].json()["active_power"] == "7.2"


async def test_reconnects_after_broker_restart(
    hass: HomeAssistant, site: tuple[ConfigEntry, MosquittoBroker]
) -> None:
    """The stream notices the broker going away and reconnects when it is back."""
    _entry, broker = site
    await broker.stop()
    await _wait_for_state(hass, CONNECTED, STATE_OFF)
    await _publish_tick(hass)  # nothing can be sent now; counted as dropped
    assert int(hass.states.get("sensor.home_measurements_dropped").state) == 3
    await broker.start()
    await _wait_for_state(hass, CONNECTED, STATE_ON)
    async with broker.subscribe("#") as received:
        await _publish_tick(hass)
        assert len(await received.wait_for(3)) == 3


async def test_nothing_valid_to_publish(
    hass: HomeAssistant, site: tuple[ConfigEntry, MosquittoBroker]
) -> None:
    """With no valid reading at all nothing goes out; the count still follows."""
    _entry, broker = site
    hass.states.async_set("sensor.grid_power", "unknown")
    hass.states.async_set("sensor.battery_power", "abc", {"unit_of_measurement": "W"})
    hass.states.async_set("sensor.charger_power", "5", {"unit_of_measurement": "°C"})
    await hass.async_block_till_done()
    async with broker.subscribe("#") as received:
        await _publish_tick(hass)
        await asyncio.sleep(0.3)
    assert received.messages == []
    assert hass.states.get("sensor.home_invalid_readings_skipped").state == "3"
