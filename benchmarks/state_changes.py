"""CPU time per state change on GridFlex's meter-data path.

Run from the repository root::

    .venv/bin/python -m benchmarks.state_changes

A real Home Assistant core (``async_test_home_assistant``) holds 11 power
sensors: the site's grid power and 10 resources. 100,000 state changes are
made, round robin over the sensors, each 0.5 s (of the states' own
timestamps) after the previous one, so every sensor changes every 5.5 s and
one run covers about 14 hours: quarter-hours close on the way and reach the
outbox as they would at home. CPU time is ``time.process_time()`` (every
thread of the process); each figure is the median of a few runs.

The rows:

- A: Home Assistant alone: ``hass.states.async_set`` with nobody listening.
- B: the same with GridFlex's ``MeterData`` running (the code the integration
  runs: ``Telemetry`` follows the sensors through ``async_track_state_change_event``,
  feeds one ``IntervalAverager`` per source, closed intervals go to
  ``Outbox.add``). The platform client is a stand-in that accepts every
  batch at once without any HTTP (sending is measured by
  ``benchmarks.outbox_backlog``). B - A is what GridFlex adds.
- C1: ``Telemetry._async_state_changed`` called directly with real ``Event``
  and ``State`` objects, feeding ``IntervalAverager``s (no state machine, no
  event bus, no outbox).
- C2: the same call on B's ``MeterData`` telemetry: C1 plus
  ``MeterData._on_value``/``_queue`` and ``Outbox.add``.

Then GridFlex is set up for real, as a homeowner sets it up: a Powernaut
site (the sandbox, in the same process) through the config flow, 10
batteries through the "Add resource" subentry flows, the grid power sensor
in the options, the integration's entities and all:

- P0: ``hass.states.async_set`` with that entry loaded, stream off.
- P1: the same with the measurement stream on, connected to a real
  Mosquitto broker (MQTT 5 + TLS, ``tests/mosquitto.py``) with the site's
  edge credentials. The 4 s publishes are not in these runs.
- S0 and S1: P0 and P1 with only the grid power sensor changing (a smart
  meter reporting every second changes far more often than the devices).
- R0 and R1: a home as it runs, stream off and on: 40 state changes (4 s at
  10 changes a second), then the 4-second timer's work (``_async_publish``
  with the stream on: reading the latest values, publishing 11 messages,
  updating the entities; without the stream, whatever the meter does every
  4 s, if anything), over and over. CPU per state change, the ticks included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
import time
from types import SimpleNamespace
from typing import Any

from homeassistant import loader
from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import (
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
)
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from homeassistant.util.read_only_dict import ReadOnlyDict
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.gridflex.const import (
    CONF_ENVIRONMENT,
    CONF_GRID_POWER_ENTITY,
    CONF_PLATFORM,
    CONF_POWER_ENTITY,
    CONF_RESOLUTION,
    CONF_RESOURCE_ID,
    CONF_RESOURCE_TYPE,
    CONF_SITE_ID,
    DOMAIN,
    SUBENTRY_RESOURCE,
)
from custom_components.gridflex.intervals import IntervalAverager
from custom_components.gridflex.meter import SITE_KEY, MeterData
from custom_components.gridflex.platforms.flexmeasures import CAPABILITIES
from custom_components.gridflex.platforms.models import PowerSeries, Resource
from custom_components.gridflex.telemetry import Source, Telemetry
from sandbox import SandboxServer
from tests.mosquitto import MosquittoBroker

from ._common import home_assistant, median, quiet_logs, report, report_machine
from .setup_entry import add_site

EVENTS = 100_000
RESOURCES = 10
TICKS = 250
"""4-second ticks in one run of R0/R1 (each after ``CHANGES_PER_TICK`` changes)."""
CHANGES_PER_TICK = 40
STEP = 0.5
"""Seconds between two state changes (of any sensor)."""
REPEATS = 3
RESOLUTION = 15
GRID = "sensor.grid_power"
ATTRIBUTES = {"unit_of_measurement": "W", "device_class": "power"}
ENTITIES = [GRID, *(f"sensor.resource_{index}_power" for index in range(RESOURCES))]
VALUES = [str(500 + (index * 7919) % 4000) for index in range(EVENTS)]
"""A new value at each change (the same sensor never repeats its last value)."""


class NullUploader:
    """A FlexMeasures-like client that takes every batch at once, without HTTP."""

    capabilities = CAPABILITIES

    def __init__(self) -> None:
        """Count what would have been sent."""
        self.requests = 0
        self.intervals = 0

    async def list_resources(self, site_id: str) -> list[Resource]:
        """Every resource, each with its power sensor."""
        return [
            Resource(resource_id=f"r{index}", power_sensor_id=str(100 + index))
            for index in range(RESOURCES)
        ]

    async def ensure_site_power_sensor(
        self, site_id: str, resolution_minutes: int
    ) -> str:
        """The site's power sensor."""
        return "99"

    async def post_power_series(self, series: PowerSeries) -> None:
        """Accept the batch."""
        self.requests += 1
        self.intervals += len(series.values_kw)


def make_entry(client: NullUploader) -> MockConfigEntry:
    """A FlexMeasures site with the grid sensor and 10 resources mapped."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        data={
            CONF_PLATFORM: "flexmeasures",
            CONF_ENVIRONMENT: "custom",
            CONF_SITE_ID: "1",
        },
        options={CONF_GRID_POWER_ENTITY: GRID},
        subentries_data=[
            {
                "data": {
                    CONF_RESOURCE_TYPE: "battery",
                    CONF_POWER_ENTITY: ENTITIES[index + 1],
                    CONF_RESOURCE_ID: f"r{index}",
                    CONF_RESOLUTION: str(RESOLUTION),
                },
                "subentry_type": SUBENTRY_RESOURCE,
                "title": f"Resource {index}",
                "unique_id": None,
            }
            for index in range(RESOURCES)
        ],
    )
    entry.runtime_data = SimpleNamespace(client=client)
    return entry


class Clock:
    """The states' timestamps: one synthetic timeline across all runs."""

    def __init__(self) -> None:
        """Start now (the averagers start at the real time too)."""
        self.now = time.time() + 1.0

    def take(self, count: int) -> float:
        """Return the first of ``count`` timestamps ``STEP`` apart; move on."""
        start = self.now
        self.now += count * STEP
        return start


async def run_async_set(
    hass: HomeAssistant,
    clock: Clock,
    *,
    background: bool = True,
    entities: list[str] = ENTITIES,
) -> tuple[float, float]:
    """Make ``EVENTS`` state changes of ``entities``; return (CPU, wall) seconds.

    ``background``: wait for the background tasks too (not while a stream,
    which runs until it is stopped, is one of them).
    """
    start = clock.take(EVENTS)
    sensors = len(entities)
    set_state = hass.states.async_set
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(EVENTS):
        set_state(
            entities[index % sensors],
            VALUES[index],
            ATTRIBUTES,
            timestamp=start + index * STEP,
        )
    await hass.async_block_till_done(wait_background_tasks=background)
    return time.process_time() - cpu, time.perf_counter() - wall


def make_events(clock: Clock) -> list[Event[EventStateChangedData]]:
    """Real state-changed events, as the state machine would fire them."""
    start = clock.take(EVENTS)
    attributes = ReadOnlyDict(ATTRIBUTES)
    context = Context()
    sensors = len(ENTITIES)
    events: list[Event[EventStateChangedData]] = []
    for index in range(EVENTS):
        entity_id = ENTITIES[index % sensors]
        stamp = start + index * STEP
        moment = datetime.fromtimestamp(stamp, UTC)
        new_state = State(
            entity_id,
            VALUES[index],
            attributes,
            last_changed=moment,
            last_reported=moment,
            last_updated=moment,
            context=context,
            last_updated_timestamp=stamp,
        )
        data: EventStateChangedData = {
            "entity_id": entity_id,
            "old_state": None,
            "new_state": new_state,
        }
        events.append(
            Event(
                EVENT_STATE_CHANGED,
                data,
                time_fired_timestamp=stamp,
                context=context,
            )
        )
    return events


def run_direct(
    telemetry: Telemetry, events: list[Event[EventStateChangedData]]
) -> tuple[float, float]:
    """Hand each event to the handler, then read them all; (CPU, wall) seconds.

    Where a state change is only recorded, ``drain`` reads what was recorded:
    it is part of the measured time.
    """
    handler = telemetry._async_state_changed  # noqa: SLF001 - the handler itself is measured
    drain: Callable[[], object] = getattr(telemetry, "drain", lambda: None)
    cpu, wall = time.process_time(), time.perf_counter()
    for event in events:
        handler(event)
    drain()
    return time.process_time() - cpu, time.perf_counter() - wall


def telemetry_with_averagers(
    hass: HomeAssistant, start: datetime
) -> tuple[Telemetry, list[int]]:
    """A ``Telemetry`` of the 11 sources feeding one ``IntervalAverager`` each."""
    sources = [Source(SITE_KEY, ((GRID, 1),))] + [
        Source(f"r{index}", ((ENTITIES[index + 1], 1),)) for index in range(RESOURCES)
    ]
    averagers = {source.key: IntervalAverager(RESOLUTION, start) for source in sources}
    closed = [0]

    def on_value(key: str, moment: datetime, value: Decimal | None) -> None:
        closed[0] += len(averagers[key].add(moment, value))

    return Telemetry(hass, sources, on_value), closed


async def add_powernaut_battery(
    hass: HomeAssistant, entry: ConfigEntry, number: int
) -> None:
    """Run the "Add resource" subentry flow for resource ``number``'s sensor."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_RESOURCE), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {"name": f"Battery {number}", "resource_type": "battery"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_POWER_ENTITY: ENTITIES[number + 1],
            "power_min_kw": -5,
            "power_max_kw": 5,
            "capacity_kwh": 10,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()


async def set_options(hass: HomeAssistant, entry: ConfigEntry, **options: Any) -> None:
    """Run the options flow with ``options``."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()


async def run_home(
    hass: HomeAssistant, clock: Clock, entry: ConfigEntry
) -> tuple[float, float]:
    """``TICKS`` times: ``CHANGES_PER_TICK`` changes, then the 4 s timer's work."""
    meter: Any = entry.runtime_data.meter
    events = TICKS * CHANGES_PER_TICK
    start = clock.take(events)
    sensors = len(ENTITIES)
    set_state = hass.states.async_set
    cpu, wall = time.process_time(), time.perf_counter()
    index = 0
    for _ in range(TICKS):
        for _ in range(CHANGES_PER_TICK):
            set_state(
                ENTITIES[index % sensors],
                VALUES[index],
                ATTRIBUTES,
                timestamp=start + index * STEP,
            )
            index += 1
        now = datetime.fromtimestamp(start + index * STEP, UTC)
        if meter.stream is not None:
            await meter._async_publish(now)  # noqa: SLF001 - the timer's work itself
        elif (refresh := getattr(meter, "_async_refresh", None)) is not None:
            refresh(now)
        await hass.async_block_till_done()
    return time.process_time() - cpu, time.perf_counter() - wall


async def powernaut_runs(
    hass: HomeAssistant, clock: Clock
) -> dict[str, list[tuple[float, float]]]:
    """Rows P0, P1, R0 and R1: a real Powernaut entry, stream off and on."""
    runs: dict[str, list[tuple[float, float]]] = {}
    server = SandboxServer(host="127.0.0.1", port=0)
    await server.start()
    try:
        entry = await add_site(hass, server.url, "powernaut")
        for number in range(RESOURCES):
            await add_powernaut_battery(hass, entry, number)
        await set_options(hass, entry, **{CONF_GRID_POWER_ENTITY: GRID, "stream": {}})
        assert entry.runtime_data.meter.stream is None
        runs["P0"] = [await run_async_set(hass, clock) for _ in range(REPEATS)]
        runs["S0"] = [
            await run_async_set(hass, clock, entities=[GRID]) for _ in range(REPEATS)
        ]
        runs["R0"] = [await run_home(hass, clock, entry) for _ in range(REPEATS)]
        edge = entry.data["edge_credentials"]
        async with MosquittoBroker(
            username=edge["key"], password=edge["secret"]
        ) as broker:
            await set_options(
                hass,
                entry,
                **{
                    CONF_GRID_POWER_ENTITY: GRID,
                    "stream": {
                        "mqtt_broker": broker.url,
                        "mqtt_ca_file": str(broker.ca_file),
                    },
                },
            )
            meter: Any = entry.runtime_data.meter
            for _ in range(100):
                if meter.connected:
                    break
                await asyncio.sleep(0.1)
            assert meter.connected, "the stream did not connect"
            runs["P1"] = [
                await run_async_set(hass, clock, background=False)
                for _ in range(REPEATS)
            ]
            runs["S1"] = [
                await run_async_set(hass, clock, background=False, entities=[GRID])
                for _ in range(REPEATS)
            ]
            runs["R1"] = [await run_home(hass, clock, entry) for _ in range(REPEATS)]
            sent = meter.sent
            await hass.config_entries.async_unload(entry.entry_id)
        assert sent >= REPEATS * TICKS * len(ENTITIES), sent
    finally:
        await server.stop()
    return runs


def row(
    label: str, cpu_runs: list[float], wall_runs: list[float], events: int = EVENTS
) -> None:
    """Print one measured path: µs per change and ms per 1,000 changes."""
    per_change = median(cpu_runs) / events * 1e6
    best = min(cpu_runs) / events * 1e6
    wall = median(wall_runs) / events * 1e6
    report(
        f"{label:<58} {per_change:8.2f} µs  (min {best:6.2f})  "
        f"{per_change:8.1f} ms per 1,000   wall {wall:6.2f} µs"
    )


async def main() -> None:
    """Run the four paths and print the figures."""
    quiet_logs()
    report_machine("CPU time per state change (11 sensors: site + 10 resources)")
    report(
        f"{EVENTS:,} state changes per run, round robin over {len(ENTITIES)} sensors, "
        f"{STEP} s apart (each sensor every {STEP * len(ENTITIES):.1f} s); "
        f"median of {REPEATS} runs, CPU = time.process_time()"
    )
    report()
    async with home_assistant() as hass:
        clock = Clock()
        for entity_id in ENTITIES:
            hass.states.async_set(entity_id, "1000", ATTRIBUTES)

        baseline = [await run_async_set(hass, clock) for _ in range(REPEATS)]

        client = NullUploader()
        meter = MeterData(hass, make_entry(client))
        await meter.async_start()
        assert meter.telemetry is not None and meter.outbox is not None
        with_gridflex = []
        for _ in range(REPEATS):
            before = client.intervals
            with_gridflex.append(await run_async_set(hass, clock))
            closed_per_run = client.intervals - before
        requests = client.requests

        direct_plain: list[tuple[float, float]] = []
        for _ in range(REPEATS):
            events = make_events(clock)
            moment = events[0].data["new_state"]
            assert moment is not None
            telemetry, closed = telemetry_with_averagers(hass, moment.last_updated)
            direct_plain.append(run_direct(telemetry, events))
        plain_closed = closed[0]

        direct_meter: list[tuple[float, float]] = []
        for _ in range(REPEATS):
            events = make_events(clock)
            direct_meter.append(run_direct(meter.telemetry, events))
            await hass.async_block_till_done(wait_background_tasks=True)
        skipped = meter.skipped
        queued = meter.outbox.queued
        await meter.async_stop()

        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        assert await async_setup_component(hass, DOMAIN, {})
        powernaut = await powernaut_runs(hass, clock)

    def cpu(runs: list[tuple[float, float]]) -> list[float]:
        return [run[0] for run in runs]

    def wall(runs: list[tuple[float, float]]) -> list[float]:
        return [run[1] for run in runs]

    row(
        "A  HA state machine alone (async_set, nobody listening)",
        cpu(baseline),
        wall(baseline),
    )
    row(
        "B  A + GridFlex MeterData (Telemetry→Averager→Outbox.add)",
        cpu(with_gridflex),
        wall(with_gridflex),
    )
    share = [b - a for a, b in zip(cpu(baseline), cpu(with_gridflex), strict=True)]
    share_wall = [
        b - a for a, b in zip(wall(baseline), wall(with_gridflex), strict=True)
    ]
    row("   GridFlex's share (B - A)", share, share_wall)
    row(
        "C1 Telemetry handler + IntervalAverager (direct)",
        cpu(direct_plain),
        wall(direct_plain),
    )
    row(
        "C2 C1 + MeterData._on_value/_queue + Outbox.add (direct)",
        cpu(direct_meter),
        wall(direct_meter),
    )
    row(
        "P0 A + a Powernaut entry loaded (10 batteries), stream off",
        cpu(powernaut["P0"]),
        wall(powernaut["P0"]),
    )
    row(
        "P1 A + the same entry, stream on (Mosquitto, TLS)",
        cpu(powernaut["P1"]),
        wall(powernaut["P1"]),
    )
    row(
        "S0 P0, only the grid power sensor changing",
        cpu(powernaut["S0"]),
        wall(powernaut["S0"]),
    )
    row(
        "S1 P1, only the grid power sensor changing",
        cpu(powernaut["S1"]),
        wall(powernaut["S1"]),
    )
    for key, label in (
        ("P0", "stream off"),
        ("P1", "stream on"),
        ("S0", "grid only, stream off"),
        ("S1", "grid only, stream on"),
    ):
        row(
            f"   GridFlex's share, {label} ({key} - A)",
            [b - a for a, b in zip(cpu(baseline), cpu(powernaut[key]), strict=True)],
            [b - a for a, b in zip(wall(baseline), wall(powernaut[key]), strict=True)],
        )
    home_events = TICKS * CHANGES_PER_TICK
    row(
        f"R0 home, stream off: {CHANGES_PER_TICK} changes + the 4 s work, per change",
        cpu(powernaut["R0"]),
        wall(powernaut["R0"]),
        home_events,
    )
    row(
        f"R1 home, stream on: {CHANGES_PER_TICK} changes + the 4 s publish, per change",
        cpu(powernaut["R1"]),
        wall(powernaut["R1"]),
        home_events,
    )
    report()
    report(
        f"per run: {closed_per_run} intervals closed and queued in B "
        f"({plain_closed} in C1); {requests} stand-in sends over the B runs "
        "(one per closed interval: the stand-in accepts each batch at once); "
        f"skipped readings {skipped}, left queued {queued}"
    )
    gridflex_us = median(share) / EVENTS * 1e6
    report(
        f"every sensor changing once a second (11 changes/s): GridFlex uses "
        f"{gridflex_us * 11:.0f} µs of CPU per second "
        f"({gridflex_us * 11 / 1e6 * 100:.4f} % of one core)"
    )


if __name__ == "__main__":
    asyncio.run(main())
