"""Powernaut baselines: forecast from the recorder's statistics, posted every quarter-hour.

Inside Home Assistant against the sandbox (OpenAPI validation on): two weeks
of hourly statistics are fed to the recorder, then a day passes quarter-hour
by quarter-hour.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
import re
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.diagnostics import async_get_config_entry_diagnostics

from .conftest import Sandbox, setup_site
from .test_resources import add_resource, subentry_by_title

ZONE = "Europe/Brussels"
QUARTER = timedelta(minutes=15)


def _day_start() -> datetime:
    """Local midnight of a day a few days after the real now, without DST change.

    The recorder compiles statistics only for periods after it first started
    (real time), so the simulated day lies ahead of it.
    """
    zone = ZoneInfo(ZONE)
    day = (datetime.now(UTC) + timedelta(days=3)).astimezone(zone).date()
    while True:
        start = datetime.combine(day, time(0), zone)
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
        if start.utcoffset() == end.utcoffset():
            return start.astimezone(UTC)
        day += timedelta(days=1)


DAY_START = _day_start()
HISTORY_DAYS = 15
SENSORS = {
    "sensor.grid_power": "Grid power",
    "sensor.battery_power": "Battery power",
    "sensor.boiler_power": "Boiler power",
}
# What the sensors read during the simulated day (kW).
TODAY = {
    "sensor.grid_power": 1.0,
    "sensor.battery_power": 0.5,
    "sensor.boiler_power": 0.0,
}
WIRE_DECIMAL = re.compile(r"^-?[0-9]{1,15}\.[0-9]{1,6}$")


@pytest.fixture
def enable_statistics() -> bool:
    """The recorder compiles statistics from the recorded states, as it does live."""
    return True


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant's test instance."""


def _profile(entity_id: str, local: datetime) -> float:
    """A household-like history: evening peak, weekend mornings, a night charge."""
    hour = local.hour
    if entity_id == "sensor.grid_power":
        value = 0.35 + (2.2 if 17 <= hour < 21 else 0.0)
        if local.weekday() >= 5 and 8 <= hour < 12:
            value += 1.0
        return value
    if entity_id == "sensor.battery_power":
        return 2.0 if 1 <= hour < 4 else (-1.5 if 18 <= hour < 22 else 0.0)
    return 2.4 if 13 <= hour < 15 else 0.0


def _feed_history(hass: HomeAssistant, days: int) -> None:
    """Hourly power statistics (kW means) of every sensor before the day."""
    zone = dt_util.get_default_time_zone()
    hours = [DAY_START - timedelta(hours=h) for h in range(days * 24, 0, -1)]
    for entity_id, name in SENSORS.items():
        rows: list[Any] = []
        for hour in hours:
            value = _profile(entity_id, hour.astimezone(zone))
            rows.append({"start": hour, "mean": value, "min": value, "max": value})
        async_import_statistics(
            hass,
            {
                "mean_type": StatisticMeanType.ARITHMETIC,
                "has_sum": False,
                "name": name,
                "source": "recorder",
                "statistic_id": entity_id,
                "unit_class": "power",
                "unit_of_measurement": "kW",
            },
            rows,
        )


def _set_states(hass: HomeAssistant, *, statistics: bool = True) -> None:
    """The sensors' states now; without a state class the recorder keeps no statistics."""
    for entity_id, value in TODAY.items():
        attributes = {"unit_of_measurement": "kW", "device_class": "power"}
        if statistics:
            attributes["state_class"] = "measurement"
        hass.states.async_set(entity_id, str(value), attributes)


async def _site(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    """A site with grid power, a battery, a boiler and a group of both."""
    entry = await setup_site(hass, sandbox, "powernaut")
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
        "Boiler",
        "boiler",
        {"power_entity": "sensor.boiler_power", "power_min_kw": 0, "power_max_kw": 3},
    )
    await add_resource(
        hass,
        entry,
        "Hybrid",
        "group",
        {"power_entity": "sensor.grid_power", "power_min_kw": -8, "power_max_kw": 8},
    )
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": "sensor.grid_power", "stream": {}}
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def _tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    """The quarter-hour (a baseline), then the recorder's statistics run (:10 s)."""
    freezer.move_to(to)
    async_fire_time_changed(hass, to)
    await hass.async_block_till_done(wait_background_tasks=True)
    for minutes in (0, 5, 10):
        later = to + timedelta(minutes=minutes, seconds=11)
        freezer.move_to(later)
        async_fire_time_changed(hass, later)
        await async_wait_recording_done(hass)


def _z(moment: datetime) -> str:
    """A time as the sandbox writes it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _entity(registry: er.EntityRegistry, unique_id: str) -> str:
    entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
    assert entity_id is not None, unique_id
    return entity_id


async def test_simulated_day(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """96 spec-valid posts per target, activated windows kept, sensors and accuracy."""
    await hass.config.async_set_time_zone(ZONE)
    freezer.move_to(DAY_START - timedelta(minutes=5))
    _feed_history(hass, HISTORY_DAYS)
    await async_wait_recording_done(hass)
    _set_states(hass)
    entry = await _site(hass, sandbox)
    store = sandbox.server.state.powernaut
    site_id = entry.data["site_id"]
    battery = subentry_by_title(entry, "Battery")
    boiler = subentry_by_title(entry, "Boiler")
    hybrid = subentry_by_title(entry, "Hybrid")
    targets = {
        f"site/{site_id}",
        f"resource/{battery.data['resource_id']}",
        f"resource/{boiler.data['resource_id']}",
    }
    # Right after setup, in the background: one post per target from 22:45.
    assert {post["target"] for post in store.baseline_posts} == targets
    assert {post["start"] for post in store.baseline_posts} == {_z(DAY_START - QUARTER)}
    store.baseline_posts.clear()

    # An accepted bid of the battery 13 h into the day, accepted after 10 h.
    window = DAY_START + timedelta(hours=13)
    window_key = _z(window)
    accept_before = DAY_START + timedelta(hours=10, minutes=15)
    battery_target = f"resource/{battery.data['resource_id']}"
    kept: dict[str, str] = {}
    for step in range(97):
        moment = DAY_START + QUARTER * step
        if moment == accept_before:
            # 5 min 11 s before: the previous quarter's tick left the clock here.
            kept = {
                target: store.baselines[target][window_key]
                for target in (battery_target, f"site/{site_id}")
            }
            bid = await sandbox.control(
                "POST",
                f"powernaut/resources/{battery.data['resource_id']}/bids",
                {
                    "timing": {"start": window_key, "end": _z(window + QUARTER)},
                    "curve": [{"value": "-2.0", "price": "0.3"}],
                },
            )
            await sandbox.control(
                "POST", f"powernaut/bids/{bid['id']}/activate", {"value": "-2.0"}
            )
            await hass.async_block_till_done(wait_background_tasks=True)
        await _tick(hass, freezer, moment)
        if step == 40:
            # Setpoint 1.0 kW all day long: the recorder's statistics follow.
            await async_wait_recording_done(hass)

    posts = store.baseline_posts
    day_end = DAY_START + timedelta(days=1)
    day = [post for post in posts if post["start"] < _z(day_end)]
    for target in targets:
        mine = [post for post in day if post["target"] == target]
        assert len(mine) == 96, target
        assert [post["start"] for post in mine] == [
            _z(DAY_START + QUARTER * i) for i in range(96)
        ]
    # The group gets none (its members do).
    assert not any(hybrid.data["resource_id"] in post["target"] for post in posts)
    for post in posts:
        # Sent on the quarter-hour it starts (the sandbox's clock is frozen too).
        assert post["received_at"][:19] == post["start"][:19]
        assert len(post["values"]) == 96
        assert post["skip_activated_windows"] is True
        assert all(WIRE_DECIMAL.match(value) for value in post["values"])
    # The activated window kept the values it had when the bid was accepted.
    after = [post for post in posts if post["start"] >= _z(accept_before)]
    for target, value in kept.items():
        assert store.baselines[target][window_key] == value
        covering = [
            post
            for post in after
            if post["target"] == target and post["start"] <= window_key
        ]
        assert covering, target
        assert all(window_key in post["skipped"] for post in covering)
    # The other resource had no activation: nothing skipped there.
    assert not any(
        post["skipped"]
        for post in posts
        if post["target"].endswith(boiler.data["resource_id"])
    )

    # Sensors: the baseline in force, the curve, the confidence.
    site_baseline = _entity(entity_registry, f"{entry.unique_id}_baseline")
    state = hass.states.get(site_baseline)
    assert state is not None
    last_site = [post for post in posts if post["target"] == f"site/{site_id}"][-1]
    assert last_site["start"] == _z(day_end)
    assert Decimal(state.state) == Decimal(last_site["values"][0])
    assert state.attributes["confidence"] == "high"
    forecast = state.attributes["forecast"]
    assert len(forecast) == 96
    assert forecast[0]["start"] == day_end.isoformat()
    assert [Decimal(str(item["power_kw"])) for item in forecast] == [
        Decimal(value) for value in last_site["values"]
    ]
    battery_baseline = _entity(
        entity_registry, f"{entry.unique_id}_{battery.subentry_id}_baseline"
    )
    assert hass.states.get(battery_baseline) is not None
    assert (
        entity_registry.async_get_entity_id(
            "sensor", DOMAIN, f"{entry.unique_id}_{hybrid.subentry_id}_baseline"
        )
        is None
    )

    # Accuracy of the day (local), measured at the next midnight: the values in
    # force at each quarter (the first of each post) against 1.0 kW measured.
    in_force = [
        float(post["values"][0]) for post in day if post["target"] == f"site/{site_id}"
    ]
    expected = sum(abs(value - 1.0) for value in in_force) / 96
    accuracy = hass.states.get(
        _entity(entity_registry, f"{entry.unique_id}_baseline_accuracy")
    )
    assert accuracy is not None
    local_day = DAY_START.astimezone(ZoneInfo(ZONE)).date().isoformat()
    assert accuracy.attributes["day"] == local_day
    assert accuracy.attributes["quarter_hours"] == 96
    assert float(accuracy.state) == pytest.approx(expected, abs=1e-3)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    baselines = diagnostics["baselines"]
    assert baselines["posts"] == 3 * 98

    # What was posted survives a reload: the accuracy is the same afterwards.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    again = hass.states.get(accuracy.entity_id)
    assert again is not None
    assert (again.state, again.attributes) == (accuracy.state, accuracy.attributes)
    assert set(baselines["targets"]) == {
        "site",
        battery.subentry_id,
        boiler.subentry_id,
    }
    assert baselines["accuracy"]["quarters"] == 96


async def test_little_history_is_flat_and_low_confidence(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """One day of history: a flat recent average, marked low confidence."""
    await hass.config.async_set_time_zone(ZONE)
    freezer.move_to(DAY_START - timedelta(minutes=5))
    _feed_history(hass, 1)
    await async_wait_recording_done(hass)
    _set_states(hass)
    entry = await _site(hass, sandbox)
    state = hass.states.get(_entity(entity_registry, f"{entry.unique_id}_baseline"))
    assert state is not None
    assert state.attributes["confidence"] == "low"
    # The mean of the 24 hours before the current quarter-hour (22:45 local),
    # as far as the history goes: the hourly means, per quarter-hour.
    zone = dt_util.get_default_time_zone()
    quarters = [DAY_START - QUARTER * q for q in range(96, 1, -1)]
    mean = sum(
        _profile("sensor.grid_power", quarter.astimezone(zone)) for quarter in quarters
    ) / len(quarters)
    assert {item["power_kw"] for item in state.attributes["forecast"]} == {
        round(mean, 3)
    }
    post = sandbox.server.state.powernaut.baseline_posts[0]
    assert post["values"] == [f"{Decimal(str(round(mean, 3)))}"] * 96


async def test_no_history_no_baseline(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Sensors without statistics: nothing is invented, nothing is posted.

    The sensors have no state class, so the recorder never compiles
    statistics for them (with one, the recorder's overdue five-minute run
    after the jump in time may or may not have compiled the last minutes
    before the quarter-hour is posted).
    """
    freezer.move_to(DAY_START - timedelta(minutes=5))
    _set_states(hass, statistics=False)
    entry = await _site(hass, sandbox)
    await _tick(hass, freezer, DAY_START)
    assert sandbox.server.state.powernaut.baseline_posts == []
    registry = er.async_get(hass)
    state = hass.states.get(_entity(registry, f"{entry.unique_id}_baseline"))
    assert state is not None
    assert state.state == "unknown"
    assert state.attributes["confidence"] is None


async def test_platform_failure_is_retried_next_quarter(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A refused post is logged and shown in diagnostics; the next quarter sends again."""
    await hass.config.async_set_time_zone(ZONE)
    freezer.move_to(DAY_START - timedelta(minutes=5))
    _feed_history(hass, 4)
    await async_wait_recording_done(hass)
    _set_states(hass)
    await sandbox.fault("/v1/connect/*/*/baseline", "status", status=503)
    entry = await _site(hass, sandbox)
    store = sandbox.server.state.powernaut
    assert store.baseline_posts == []
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    targets = diagnostics["baselines"]["targets"]
    assert targets["site"]["confidence"] == "medium"
    assert all("503" in target["error"] for target in targets.values())
    assert diagnostics["baselines"]["posts"] == 0
    await sandbox.clear_faults()
    await _tick(hass, freezer, DAY_START)
    assert len(store.baseline_posts) == 3
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert all(
        target["error"] is None
        for target in diagnostics["baselines"]["targets"].values()
    )


async def test_baselines_turned_off(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """The homeowner turns baselines off: nothing is posted, no Baseline sensor.

    Turned on again, the next quarter-hour posts as before.
    """
    await hass.config.async_set_time_zone(ZONE)
    freezer.move_to(DAY_START - timedelta(minutes=5))
    _feed_history(hass, 4)
    await async_wait_recording_done(hass)
    _set_states(hass)
    entry = await _site(hass, sandbox)
    store = sandbox.server.state.powernaut
    assert store.baseline_posts  # on by default: posted at setup
    unique_id = f"{entry.unique_id}_baseline"
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert "send_baselines" in result["data_schema"].schema
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "grid_power_entity": "sensor.grid_power",
            "send_baselines": False,
            "stream": {},
        },
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done(wait_background_tasks=True)
    posted = len(store.baseline_posts)
    await _tick(hass, freezer, DAY_START)
    await _tick(hass, freezer, DAY_START + QUARTER)
    assert len(store.baseline_posts) == posted
    # The sensor is not set up: Home Assistant shows its registry entry as
    # unavailable until baselines are turned on again.
    state = hass.states.get(_entity(entity_registry, unique_id))
    assert (state.state, state.attributes.get("restored")) == ("unavailable", True)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "grid_power_entity": "sensor.grid_power",
            "send_baselines": True,
            "stream": {},
        },
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await _tick(hass, freezer, DAY_START + 2 * QUARTER)
    assert len(store.baseline_posts) > posted
    assert hass.states.get(_entity(entity_registry, unique_id)).state != "unavailable"
