"""Powernaut's MQTT setpoint commands, through a real Mosquitto broker.

Without a webhook Powernaut sends a resource's setpoint on
``resource/{id}/commands/setpoint``. GridFlex follows that topic on its
measurement stream's MQTT 5 connection and steers the mapped ``number`` as for
an activation read from the webhook. The docs leave the unit open (W or kW):
GridFlex reads W unless the message names its unit; both are tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_ON
from homeassistant.core import Event, HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.platforms.powernaut_stream import (
    SETPOINT_UNIT,
    parse_setpoint,
)

from .conftest import Sandbox, setup_site
from .mosquitto import MosquittoBroker
from .test_activation_executor import BATTERY, CONTROL, setup_controls
from .test_resources import add_resource, subentry_by_title

CONNECTED = "binary_sensor.home_stream_connected"
TIMING = {"start": "2026-11-22T10:15:00Z", "end": "2026-11-22T10:30:00Z"}


async def _wait_for(hass: HomeAssistant, entity_id: str, state: str) -> None:
    """Wait (real time, at most 15 s) until the entity has ``state``."""
    for _ in range(150):
        await hass.async_block_till_done()
        if (current := hass.states.get(entity_id)) and current.state == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"{entity_id} never became {state}: {hass.states.get(entity_id)}"
    )


@pytest.fixture
async def site(
    hass: HomeAssistant, sandbox: Sandbox
) -> AsyncIterator[tuple[ConfigEntry, MosquittoBroker]]:
    """A Powernaut site with a steered battery, streaming to a real broker."""
    await setup_controls(hass)
    hass.states.async_set(
        "sensor.grid_power",
        "1200",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    entry = await setup_site(hass, sandbox, "powernaut")
    edge = entry.data["edge_credentials"]
    async with MosquittoBroker(username=edge["key"], password=edge["secret"]) as broker:
        await add_resource(hass, entry, "Battery", "battery", BATTERY)
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
        await _wait_for(hass, CONNECTED, STATE_ON)
        yield entry, broker
        await hass.config_entries.async_unload(entry.entry_id)


def _window() -> dict[str, str]:
    """The quarter-hour in force now (real time: the broker is real)."""
    now = dt_util.utcnow()
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    end = start + timedelta(minutes=15)
    return {
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
    }


async def _command(
    broker: MosquittoBroker, resource_id: str, body: dict[str, Any]
) -> None:
    """Publish a setpoint command as Powernaut would (QoS 1)."""
    async with await broker.client() as client:
        await client.publish(
            f"resource/{resource_id}/commands/setpoint",
            json.dumps(body).encode(),
            qos=1,
        )


async def test_setpoint_commands_steer_the_number(
    hass: HomeAssistant, site: tuple[ConfigEntry, MosquittoBroker]
) -> None:
    """A setpoint in W, its cancellation, then one in kW: the number follows."""
    entry, broker = site
    grid_events: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", grid_events.append)
    resource_id = subentry_by_title(entry, "Battery").data["resource_id"]
    # Another resource's topic is not GridFlex's to follow.
    await _command(broker, "someone-else", {"timing": _window(), "value": 1000})
    await _command(broker, resource_id, {"timing": _window(), "value": 2500})
    await _wait_for(hass, CONTROL, "2500.0")
    started = [e.data for e in grid_events if e.data["type"] == "activation_started"]
    assert [(e["resource_name"], e["setpoint_kw"]) for e in started] == [
        ("Battery", 2.5)
    ]
    active = hass.states.get("binary_sensor.battery_activation_active")
    assert active.state == STATE_ON
    assert active.attributes["control_state"] == "steering"

    # null: back to the baseline, the control to what it was.
    await _command(broker, resource_id, {"timing": _window(), "value": None})
    await _wait_for(hass, CONTROL, "500.0")
    assert [e.data["type"] for e in grid_events][-1] == "activation_cancelled"

    # A message that names its unit is read in it.
    await _command(
        broker, resource_id, {"timing": _window(), "value": "-1.5", "unit": "kW"}
    )
    await _wait_for(hass, CONTROL, "-1500.0")

    # Not a command: ignored, the connection and the steering stay.
    await _command(broker, resource_id, {"value": 3000})
    await asyncio.sleep(0.3)
    await hass.async_block_till_done()
    assert hass.states.get(CONTROL).state == "-1500.0"
    assert hass.states.get(CONNECTED).state == STATE_ON


async def test_a_command_received_again_is_taken_once(
    hass: HomeAssistant, site: tuple[ConfigEntry, MosquittoBroker]
) -> None:
    """QoS 1 delivers at least once: a repeat starts nothing new.

    The same setpoint after a cancellation is a new activation, taken again.
    """
    entry, broker = site
    grid_events: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", grid_events.append)
    resource_id = subentry_by_title(entry, "Battery").data["resource_id"]
    window = _window()
    command = {"timing": window, "value": 2500}
    await _command(broker, resource_id, command)
    await _wait_for(hass, CONTROL, "2500.0")
    # The broker's redelivery of the same message (and its unit spelled out).
    await _command(broker, resource_id, command)
    await _command(broker, resource_id, {**command, "value": "2.5", "unit": "kW"})
    # Then a cancellation, and the same setpoint once more: both taken.
    await _command(broker, resource_id, {"timing": window, "value": None})
    await _wait_for(hass, CONTROL, "500.0")
    await _command(broker, resource_id, command)
    await _wait_for(hass, CONTROL, "2500.0")
    kinds = [e.data["type"] for e in grid_events]
    assert kinds.count("activation_started") == 2, kinds
    assert kinds.count("activation_cancelled") == 1, kinds


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"timing": TIMING, "value": 2500}, Decimal("2.5")),
        ({"timing": TIMING, "value": "-750"}, Decimal("-0.75")),
        ({"timing": TIMING, "value": 2500, "unit": "W"}, Decimal("2.5")),
        ({"timing": TIMING, "value": "2.5", "unit": "kW"}, Decimal("2.5")),
        ({"timing": TIMING, "value": None}, None),
    ],
)
def test_setpoint_units(body: dict[str, Any], expected: Decimal | None) -> None:
    """W unless the message says kW (the docs' "Watt"; REST is in kW)."""
    assert SETPOINT_UNIT == "W"
    command = parse_setpoint("r1", json.dumps(body).encode())
    assert command.value_kw == expected
    assert command.resource_id == "r1"
    assert command.start == datetime(2026, 11, 22, 10, 15, tzinfo=UTC)
    assert command.end == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        {"value": 1},
        {"timing": {"start": "2026-11-22T10:15:00", "end": "2026-11-22T10:30:00"}},
        {"timing": {"start": TIMING["end"], "end": TIMING["start"]}, "value": 1},
        {"timing": TIMING, "value": 1, "unit": "MW"},
        {"timing": TIMING, "value": True},
        {"timing": TIMING, "value": "NaN"},
        {"timing": TIMING, "value": "lots"},
        {"timing": {"start": 1, "end": 2}, "value": 1},
        ["not", "an", "object"],
    ],
)
def test_not_a_setpoint(body: Any) -> None:
    """What is not a command is refused as such (never half read)."""
    with pytest.raises(ValueError):
        parse_setpoint("r1", json.dumps(body).encode())
    with pytest.raises(ValueError):
        parse_setpoint("r1", b"{not json")
