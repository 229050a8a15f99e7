"""The ready dashboard (dashboards/gridflex.yaml) against sites of each platform.

The YAML loads as a YAML-mode dashboard and the websocket API serves it; its
cards are Home Assistant's standard cards; and on a site of each platform
(set up through the config flow against the sandbox, with a grid power
sensor, a resource "Battery" and a curtailable load) every card the
dashboard shows has its entities, every entity it names exists on some
platform (a misspelt id exists on none), and every card is shown on some
platform.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, valid_entity_id
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.condition import (
    async_from_config as async_condition_from_config,
    async_validate_condition_config,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator
import yaml

from custom_components.gridflex.const import DOMAIN

from .conftest import PLATFORMS, Sandbox, create_lpc_event, setup_site

DASHBOARD = Path(__file__).parent.parent / "dashboards" / "gridflex.yaml"
URL_PATH = "dashboard-gridflex"
T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")

# Home Assistant's own card types (no "custom:" card, nothing from HACS).
STANDARD_CARDS = frozenset(
    {
        "alarm-panel",
        "area",
        "button",
        "calendar",
        "conditional",
        "entities",
        "entity",
        "entity-filter",
        "gauge",
        "glance",
        "grid",
        "heading",
        "history-graph",
        "horizontal-stack",
        "logbook",
        "markdown",
        "sensor",
        "statistic",
        "statistics-graph",
        "tile",
        "vertical-stack",
    }
)

# Cards that show nothing (and no warning) for an entity that does not exist:
# the history graph draws the entities that have history.
TOLERANT_CARDS = frozenset({"history-graph"})

# The homeowner's entities the dashboard names as examples, set up here as a
# homeowner has them: the grid power sensor of GridFlex's options and the
# switch of a curtailable load.
GRID_POWER = "sensor.grid_power"
LOAD_SWITCH = "switch.water_heater"
BATTERY_POWER = "sensor.battery_power"
LOAD_POWER = "sensor.water_heater_power"


def load_dashboard() -> dict[str, Any]:
    """Return the dashboard's YAML."""
    loaded = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@dataclass
class Card:
    """A card with the visibility conditions above it (section's and its own)."""

    config: dict[str, Any]
    conditions: list[dict[str, Any]]
    filtered: bool = False
    """An entity filter: it leaves out its entities that do not exist."""

    @property
    def label(self) -> str:
        """Name the card in a failure."""
        config = self.config
        name = config.get("title") or config.get("entity") or config.get("heading")
        return f"{config['type']} {name or ''}"


def cards(dashboard: Mapping[str, Any]) -> Iterator[Card]:
    """Yield every card, nested ones too, with the conditions that hide it."""

    def walk(config: dict[str, Any], above: list[dict[str, Any]]) -> Iterator[Card]:
        conditions = above + list(config.get("visibility", []))
        if config["type"] == "conditional":
            conditions += list(config["conditions"])
        yield Card(config, conditions, filtered=config["type"] == "entity-filter")
        for child in config.get("cards", []):
            yield from walk(child, conditions)
        if "card" in config:
            yield from walk(config["card"], conditions)

    for view in dashboard["views"]:
        for card in view.get("cards", []):
            yield from walk(card, [])
        for section in view.get("sections", []):
            for card in section["cards"]:
                yield from walk(card, list(section.get("visibility", [])))


def entity_ids(value: Any) -> set[str]:
    """Return every entity id in a piece of card configuration."""
    if isinstance(value, str):
        return {value} if valid_entity_id(value) else set()
    if isinstance(value, Mapping):
        return set().union(*(entity_ids(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(entity_ids(item) for item in value))
    return set()


def shown_entities(card: Card) -> set[str]:
    """The entities a card shows (not those only its conditions look at)."""
    own = {
        key: value
        for key, value in card.config.items()
        if key not in {"visibility", "conditions", "card", "cards"}
    }
    return entity_ids(own)


def backend_condition(condition: Mapping[str, Any]) -> dict[str, Any]:
    """Convert a card's visibility condition as the frontend does.

    The frontend has Home Assistant evaluate visibility conditions (the
    ``subscribe_condition`` command) after rewriting them: ``entity`` becomes
    ``entity_id`` and ``state_not`` a ``not`` around the ``state``. Only the
    kinds this dashboard uses are converted; any other fails the test.
    """
    kind = condition.get("condition", "state")
    if kind in ("and", "or"):
        return {
            "condition": kind,
            "conditions": [backend_condition(c) for c in condition["conditions"]],
        }
    assert kind == "state", f"condition not converted here: {condition}"
    state = {"condition": "state", "entity_id": condition["entity"]}
    if "state" in condition:
        return {**state, "state": condition["state"]}
    return {
        "condition": "not",
        "conditions": [{**state, "state": condition["state_not"]}],
    }


async def shown_by(hass: HomeAssistant, conditions: list[dict[str, Any]]) -> bool:
    """Whether Home Assistant finds every condition true (an error hides)."""
    checked = await async_validate_condition_config(
        hass,
        {"condition": "and", "conditions": [backend_condition(c) for c in conditions]},
    )
    condition = await async_condition_from_config(hass, checked)
    try:
        return bool(condition.async_check())
    except HomeAssistantError:
        # A state condition on an entity that does not exist.
        return False
    finally:
        condition.async_unload()


def test_cards_are_standard() -> None:
    """Every card, nested ones too, is one of Home Assistant's own."""
    found = list(cards(load_dashboard()))
    assert len(found) > 20
    unknown = sorted({card.config["type"] for card in found} - STANDARD_CARDS)
    assert unknown == []
    # The entity filter needs a condition to filter on, and hides when empty.
    for card in found:
        if card.config["type"] == "entity-filter":
            assert card.config["conditions"]
            assert card.config["show_empty"] is False


async def test_conditions_hide_missing_entities(hass: HomeAssistant) -> None:
    """A card of an entity that does not exist, or is unavailable, is hidden."""
    hidden = {"condition": "state", "entity": "sensor.x", "state_not": "unavailable"}
    assert not await shown_by(hass, [hidden])
    hass.states.async_set("sensor.x", "unknown")
    assert await shown_by(hass, [hidden])
    hass.states.async_set("sensor.x", STATE_UNAVAILABLE)
    assert not await shown_by(hass, [hidden])
    either = {"condition": "or", "conditions": [hidden, {**hidden, "entity": "a.b"}]}
    assert not await shown_by(hass, [either])
    hass.states.async_set("a.b", "on")
    assert await shown_by(hass, [either])


async def test_loads_as_a_yaml_dashboard(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """Home Assistant takes the file as a YAML-mode dashboard and serves it."""
    assert await async_setup_component(
        hass,
        "lovelace",
        {
            "lovelace": {
                "dashboards": {
                    URL_PATH: {
                        "mode": "yaml",
                        "filename": str(DASHBOARD),
                        "title": "GridFlex",
                        "icon": "mdi:transmission-tower",
                        "show_in_sidebar": True,
                    }
                }
            }
        },
    )
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "lovelace/dashboards/list"})
    answer = await client.receive_json()
    assert answer["success"], answer
    listed = {item["url_path"]: item for item in answer["result"]}
    assert listed[URL_PATH]["mode"] == "yaml"

    await client.send_json_auto_id({"type": "lovelace/config", "url_path": URL_PATH})
    answer = await client.receive_json()
    assert answer["success"], answer
    config = answer["result"]
    assert config == load_dashboard()
    assert config["views"][0]["type"] == "sections"


async def _site_states(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    platform: str,
) -> tuple[ConfigEntry, dict[str, str]]:
    """Set up a site with the grid sensor, a battery and a load; return the states."""
    entry = await setup_site(hass, sandbox, platform)
    now = dt_util.utcnow()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    options: dict[str, Any] = {"grid_power_entity": GRID_POWER}
    schema = result["data_schema"].schema
    # Sections of the options form take their defaults.
    options |= {
        str(key): {} for key, value in schema.items() if hasattr(value, "schema")
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)

    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "resource"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": "Battery", "resource_type": "battery"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "power_entity": BATTERY_POWER,
            "power_min_kw": -5,
            "power_max_kw": 5,
            "capacity_kwh": 10,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "load"), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            "name": "Water heater",
            "control": {"control_entity": LOAD_SWITCH},
            "power_entity": LOAD_POWER,
            "nominal_kw": 2,
            "priority": 1,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    if hass.states.get("binary_sensor.home_lpc_active") is not None:
        # A 5 kW limit from the next hour: read by the poll, then in force.
        start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        await create_lpc_event(sandbox, entry, start, [5, 5])
        await _advance(hass, freezer, now + timedelta(minutes=16))
        await _advance(hass, freezer, start + timedelta(minutes=1))
        assert hass.states.get("binary_sensor.home_lpc_active").state == "on"
    states = {state.entity_id: state.state for state in hass.states.async_all()}
    return entry, states


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_entities_exist_on_the_platforms(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Each platform's site shows only cards whose entities it has.

    The three sites are set up one after the other (each removed before the
    next), all named "Home" as the dashboard expects. Where the platform has
    LPC events, one is in force when the states are read.
    """
    freezer.move_to(T0)
    for entity_id, unit in (
        (GRID_POWER, "W"),
        (BATTERY_POWER, "W"),
        (LOAD_POWER, "W"),
    ):
        hass.states.async_set(
            entity_id, "350", {"unit_of_measurement": unit, "device_class": "power"}
        )
    hass.states.async_set(LOAD_SWITCH, "on")

    dashboard = load_dashboard()
    found = list(cards(dashboard))
    referenced = set().union(*(entity_ids(card.config) for card in found))
    per_platform: dict[str, tuple[dict[str, str], list[int]]] = {}
    for platform in PLATFORMS:
        entry, states = await _site_states(hass, sandbox, freezer, platform)
        shown = [
            index
            for index, card in enumerate(found)
            if await shown_by(hass, card.conditions)
        ]
        per_platform[platform] = (states, shown)
        assert await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        assert not hass.config_entries.async_entries(DOMAIN)

    # A misspelt (or removed) entity exists on no platform.
    everywhere = set().union(*(states for states, _ in per_platform.values()))
    assert sorted(referenced - everywhere) == []

    for platform, (states, shown) in per_platform.items():
        available = {
            entity_id
            for entity_id, state in states.items()
            if state != STATE_UNAVAILABLE
        }
        missing: dict[str, list[str]] = {}
        for card in (found[index] for index in shown):
            entities = shown_entities(card)
            if card.filtered:
                # The entity filter keeps what exists: here at least the load.
                assert LOAD_SWITCH in entities & available, platform
            elif card.config["type"] in TOLERANT_CARDS:
                # Draws what exists; something must.
                assert entities & available, (platform, card.label)
            elif entities - available:
                missing[card.label] = sorted(entities - available)
        assert missing == {}, f"{platform}: cards shown without their entities"
        # The site's core cards are there on every platform.
        assert any(
            found[index].config["type"] == "tile"
            and found[index].config["entity"] == "sensor.home_headroom"
            for index in shown
        ), platform

    shown_somewhere = set().union(*(shown for _, shown in per_platform.values()))
    never = [
        card.label for index, card in enumerate(found) if index not in shown_somewhere
    ]
    assert never == [], "cards no platform shows"
