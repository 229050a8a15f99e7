"""Draining a FlexMeasures backlog of a site and 10 resources through the outbox.

Run from the repository root::

    .venv/bin/python -m benchmarks.outbox_backlog

Inside a real Home Assistant core (``async_test_home_assistant``, whose
``Store`` writes to a temporary config folder) and against the sandbox
(``SandboxServer`` in the same process and event loop, FlexMeasures at
``/api``):

1. GridFlex's FlexMeasures client (``async_create_platform_client``, on Home
   Assistant's shared aiohttp session) registers the site asset, its power
   sensor and 10 resources with theirs: 11 sensors.
2. Outage: the sandbox answers 503 to every ``POST /sensors/{id}/data``
   while the outbox is given 7 days of quarter-hours for each sensor, one
   closed interval per sensor per quarter-hour (as ``MeterData`` queues
   them). The first delivery attempt fails and a retry is scheduled.
3. Home Assistant stops: the outbox is written to ``.storage``.
4. It starts again with the platform back: a new ``Outbox`` loads the file
   and ``async_drain`` delivers everything (``BATCH_SIZE`` intervals per
   request at most).

Reported: the drain's wall and CPU time (the in-process sandbox's work is in
both), the HTTP requests in the sandbox's request log, the stored JSON's
size, and memory by ``tracemalloc`` (a second, traced run, as tracing slows
everything down): what the queued backlog holds and the peak from the fill to
the end of the drain (the sandbox's allocations included). A 30-day backlog
(``MAX_AGE``, the bound) is run too.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import cProfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
import gc
from pathlib import Path
import pstats
import re
import time
import tracemalloc

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.gridflex.client import async_create_platform_client
from custom_components.gridflex.const import (
    CONF_BASE_URL,
    CONF_ENVIRONMENT,
    CONF_PLATFORM,
    DOMAIN,
)
from custom_components.gridflex.intervals import interval_start
from custom_components.gridflex.outbox import BATCH_SIZE, Outbox
from custom_components.gridflex.platforms.flexmeasures import FlexMeasuresClient
from custom_components.gridflex.platforms.models import (
    Location,
    ResourceSpec,
    ResourceType,
    SiteRegistration,
)
from sandbox import SANDBOX_CREDENTIALS, SandboxServer
from sandbox.faults import parse_fault

from ._common import home_assistant, median, quiet_logs, report, report_machine

RESOURCES = 10
RESOLUTION = 15
DATA_PATH = "/api/v3_0/sensors/*/data"
EAN_BE = "541448820044157096"
RESOURCE_TYPES = [
    ResourceType.BATTERY,
    ResourceType.EV_CHARGER,
    ResourceType.HEAT_PUMP,
    ResourceType.SOLAR,
    ResourceType.BOILER,
]
MIB = 1024 * 1024
REPEATS = 5


@dataclass
class Result:
    """The figures of one backlog run."""

    days: int
    intervals: int
    stored_json: int
    load_wall: float
    drain_wall: list[float]
    drain_cpu: list[float]
    requests: Counter[str]
    delivered: int
    on_platform: int
    left_queued: int
    violations: int
    held: int | None = None
    peaks: dict[str, int] | None = None
    profile: dict[str, float] | None = None


async def make_site(client: FlexMeasuresClient) -> list[str]:
    """Register the site and 10 resources; return the 11 power sensor ids."""
    registered = await client.register_site(
        SiteRegistration(
            name="Home",
            country="BE",
            grid_identifier=EAN_BE,
            location=Location(
                address="Dok Noord 1, 9000 Gent, Belgium",
                latitude=Decimal("51.0673"),
                longitude=Decimal("3.7302"),
            ),
        )
    )
    site_id = registered.site.site_id
    sensors = [await client.ensure_site_power_sensor(site_id, RESOLUTION)]
    for index in range(RESOURCES):
        kind = RESOURCE_TYPES[index % len(RESOURCE_TYPES)]
        resource = await client.create_resource(
            site_id,
            ResourceSpec(
                name=f"Resource {index}",
                type=kind,
                power_minimum_kw=Decimal(-5),
                power_maximum_kw=Decimal(5),
                capacity_kwh=Decimal(10) if kind is ResourceType.BATTERY else None,
                resolution_minutes=RESOLUTION,
            ),
        )
        assert resource.power_sensor_id is not None
        sensors.append(resource.power_sensor_id)
    return sensors


def peak_since(base: int) -> int:
    """Traced memory's peak above ``base`` since the last call; start a new peak."""
    if not tracemalloc.is_tracing():
        return 0
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.reset_peak()
    return peak


def shares(profiler: cProfile.Profile) -> dict[str, float]:
    """The profiled CPU time split by who was running.

    GridFlex: the time ``Outbox.async_drain`` is on the stack (batching,
    the FlexMeasures client, aiohttp's client request; a coroutine is not on
    the stack while it waits). The sandbox: the time its middleware is
    (FlexMeasures' checks and storage). The rest: the event loop, aiohttp
    reading and writing HTTP on both sides, and what neither is in.
    """
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = 0.0
    cumulative: dict[str, float] = {}
    for (filename, _line, name), (
        _calls,
        _primitive,
        own,
        cum,
        _callers,
    ) in stats.items():
        total += own
        path = Path(filename)
        if name == "async_drain" and path.name == "outbox.py":
            cumulative["GridFlex (Outbox.async_drain and what it calls)"] = cum
        elif name == "sandbox_middleware" and path.parent.name == "sandbox":
            cumulative["sandbox (its middleware and handlers)"] = cum
    rest = total - sum(cumulative.values())
    return {**cumulative, "the rest (event loop, aiohttp HTTP I/O both sides)": rest}


def route(path: str) -> str:
    """A logged path with its ids replaced by ``{id}``."""
    return re.sub(r"/\d+", "/{id}", path)


async def run_backlog(
    hass: HomeAssistant,
    days: int,
    *,
    trace: bool = False,
    profile: bool = False,
    run: int = 0,
) -> Result:
    """Fill, store, load and drain a ``days`` backlog against a fresh sandbox."""
    server = SandboxServer(host="127.0.0.1", port=0)
    await server.start()
    try:
        client = async_create_platform_client(
            hass,
            {
                CONF_PLATFORM: "flexmeasures",
                CONF_ENVIRONMENT: "custom",
                CONF_BASE_URL: server.url,
                **SANDBOX_CREDENTIALS["flexmeasures"],
            },
        )
        assert isinstance(client, FlexMeasuresClient)
        sensors = await make_site(client)
        entry_id = f"bench_{days}d_{trace:d}{profile:d}_{run}"
        quarters = days * 24 * 60 // RESOLUTION
        resolution = timedelta(minutes=RESOLUTION)
        first = interval_start(dt_util.utcnow(), resolution) - quarters * resolution

        # The outage: every data POST fails while the backlog builds up.
        server.state.faults.add(
            parse_fault({"path": DATA_PATH, "kind": "status", "status": 503})
        )
        if trace:
            tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0] if trace else 0
        outbox = Outbox(hass, entry_id, "Home", client.post_power_series, lambda: None)
        for quarter in range(quarters):
            start = first + quarter * resolution
            for number, sensor in enumerate(sensors):
                value = Decimal(500 + (quarter * 7919 + number * 104729) % 4000)
                outbox.add(sensor, RESOLUTION, [(start, value.scaleb(-3))])
        await hass.async_block_till_done(wait_background_tasks=True)
        held = tracemalloc.get_traced_memory()[0] - base if trace else None
        peaks = {"fill": peak_since(base)}
        await outbox.async_flush()  # Home Assistant stops
        peaks["write"] = peak_since(base)
        stored = Path(hass.config.path(".storage", f"{DOMAIN}.{entry_id}.outbox"))
        stored_json = (await hass.async_add_executor_job(stored.stat)).st_size

        # Home Assistant starts again; the platform is back.
        del outbox
        gc.collect()
        peak_since(base)
        server.state.faults.clear()
        restarted = Outbox(
            hass, entry_id, "Home", client.post_power_series, lambda: None
        )
        wall = time.perf_counter()
        await restarted.async_load()
        load_wall = time.perf_counter() - wall
        peaks["load"] = peak_since(base)
        assert restarted.queued == quarters * len(sensors)
        logged = len(server.state.requests)
        profiler = cProfile.Profile() if profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await restarted.async_drain()
        if profiler is not None:
            profiler.disable()
        drain_cpu = time.process_time() - cpu
        drain_wall = time.perf_counter() - wall
        peaks["drain"] = peak_since(base)
        requests = Counter(
            f"{entry['method']} {route(entry['path'])} → {entry['status']}"
            for entry in server.state.requests[logged:]
        )
        beliefs = server.state.flexmeasures.beliefs
        on_platform = sum(len(beliefs.get(int(sensor), {})) for sensor in sensors)
        left_queued = restarted.queued
        await restarted.async_flush()
        return Result(
            days=days,
            intervals=quarters * len(sensors),
            stored_json=stored_json,
            load_wall=load_wall,
            drain_wall=[drain_wall],
            drain_cpu=[drain_cpu],
            requests=requests,
            delivered=restarted.delivered,
            on_platform=on_platform,
            left_queued=left_queued,
            violations=len(server.state.violations),
            held=held,
            peaks=peaks if trace else None,
            profile=None if profiler is None else shares(profiler),
        )
    finally:
        if trace:
            tracemalloc.stop()
        await server.stop()


def report_result(runs: list[Result], traced: Result, profiled: Result) -> None:
    """Print the figures of one backlog length (times: median of ``runs``)."""
    timed = runs[-1]
    walls = [wall for run in runs for wall in run.drain_wall]
    cpus = [cpu for run in runs for cpu in run.drain_cpu]
    sensors = 1 + RESOURCES
    report(
        f"{timed.days}-day backlog: {timed.intervals:,} intervals "
        f"({timed.intervals // sensors} quarter-hours x {sensors} sensors)"
    )
    report(
        f"  drain: {median(walls) * 1e3:.1f} ms wall "
        f"(min {min(walls) * 1e3:.1f}, max {max(walls) * 1e3:.1f}), "
        f"{median(cpus) * 1e3:.1f} ms CPU, "
        f"{median(walls) / timed.intervals * 1e6:.1f} µs wall per interval "
        f"(median of {len(walls)}; the in-process sandbox's work included)"
    )
    report(f"  HTTP requests while draining: {sum(timed.requests.values())}")
    for request, count in sorted(timed.requests.items()):
        report(f"    {count:4d} x {request}")
    report(
        f"  delivered {timed.delivered:,}, on the platform {timed.on_platform:,}, "
        f"left queued {timed.left_queued}, sandbox violations {timed.violations}"
    )
    report(
        f"  stored JSON (.storage/{DOMAIN}.<entry>.outbox): "
        f"{timed.stored_json:,} bytes ({timed.stored_json / MIB:.2f} MiB, "
        f"{timed.stored_json / timed.intervals:.0f} bytes per interval); "
        f"loaded in {timed.load_wall * 1e3:.1f} ms"
    )
    assert traced.held is not None and traced.peaks is not None
    report(
        f"  tracemalloc: backlog held in memory {traced.held / MIB:.2f} MiB "
        f"({traced.held / traced.intervals:.0f} bytes per interval); peak "
        f"{max(traced.peaks.values()) / MIB:.2f} MiB"
    )
    report(
        "    peak above the start by phase: "
        + ", ".join(
            f"{phase} {peak / MIB:.2f} MiB" for phase, peak in traced.peaks.items()
        )
    )
    assert profiled.profile is not None
    total = sum(profiled.profile.values())
    report(
        f"  cProfile of one more drain ({profiled.drain_cpu[0] * 1e3:.0f} ms CPU "
        "under the profiler), split by who was running "
        "(share applied to the unprofiled median CPU):"
    )
    for owner, own in sorted(profiled.profile.items(), key=lambda item: -item[1]):
        report(
            f"    {own / total:6.1%}  ~{own / total * median(cpus) * 1e3:6.1f} ms  {owner}"
        )
    report()


async def main() -> None:
    """Run a 7-day and a 30-day backlog, each timed and then traced."""
    quiet_logs()
    report_machine("Outbox backlog drain to FlexMeasures (site + 10 resources)")
    report(
        f"BATCH_SIZE {BATCH_SIZE} intervals per request; sandbox in-process on "
        "127.0.0.1"
    )
    report()
    async with home_assistant() as hass:
        for days in (7, 30):
            timed = [
                await run_backlog(hass, days, trace=False, run=run)
                for run in range(REPEATS)
            ]
            traced = await run_backlog(hass, days, trace=True)
            profiled = await run_backlog(hass, days, profile=True)
            report_result(timed, traced, profiled)


if __name__ == "__main__":
    asyncio.run(main())
