"""Wall time of setting up one GridFlex entry with 10 resources.

Run from the repository root::

    .venv/bin/python -m benchmarks.setup_entry [--json FILE] [--baseline FILE]

Inside a real Home Assistant core (``async_test_home_assistant``) and
against the sandbox (``SandboxServer`` in the same process and event loop),
GridFlex is added the way a homeowner adds it: the config flow registers the
site, then 10 "Add resource" subentry flows create 10 resources on the
platform. Home Assistant has an external URL, so the platform can reach its
webhooks. The entry is then unloaded, and each run times
``hass.config_entries.async_setup(entry_id)``, Home Assistant's own call,
from the start until it returns with the entry ``LOADED`` (entity platforms
included), then unloads it again. Each figure is the median of the runs.

Scenarios:

- Powernaut: a site with 10 batteries.
- FlexMeasures: a site with 10 batteries, none schedulable.
- FlexMeasures, one schedulable battery (state of charge and capacity known)
  among the 10, while the platform's scheduler is slow: a job needs
  ``SLOW_POLLS`` reads to finish and every schedule read takes
  ``SLOW_READ_DELAY`` seconds (the sandbox's ``polls_to_finish`` setting and
  a ``delay`` fault). Where the schedule is asked for after setup, the time
  until its trigger reaches the platform is shown too (it must still come).

Each scenario runs twice: against the local sandbox, and with every request
taking ``LATENCY`` seconds (a ``delay`` fault on every path), as a platform
on the internet does; there the number of requests awaited one after the
other decides.

Besides the total, each run records the wall time of the steps
``async_setup_entry`` awaits at its top level (every coroutine function the
integration's ``__init__`` module calls, the first refreshes and starts of
its coordinators and meter, and Home Assistant's forwarding to the entity
platforms), with the requests the sandbox received meanwhile, and the token
requests of the whole setup.

``--json FILE`` saves the medians; ``--baseline FILE`` prints a saved run
(the same script run on an older tree) beside them with the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
import contextvars
from dataclasses import dataclass, field
import functools
import inspect
import json
from pathlib import Path
import re
import time
from typing import Any
from unittest.mock import patch

from homeassistant import config_entries, loader
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component

import custom_components.gridflex as gridflex_init
from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.platforms import FlexMeasuresClient, PowernautClient
from sandbox import SANDBOX_CREDENTIALS, SandboxServer
from sandbox.faults import parse_fault

from ._common import home_assistant, median, quiet_logs, report, report_machine

RESOURCES = 10
RUNS = 7
SLOW_RUNS = 3
SLOW_POLLS = 5
"""Schedule reads a job needs before it is finished, with the slow scheduler."""
SLOW_READ_DELAY = 0.2
"""Seconds every schedule read takes, with the slow scheduler."""
LATENCY = 0.05
"""Seconds every request takes in the scenarios with a platform far away."""
EXTERNAL_URL = "https://home.example.org"
PRICE = "sensor.electricity_price"
TOKEN_PATHS = ("/v1/auth/token", "/api/requestAuthToken", "/connect/token")
POWER_ATTRIBUTES = {"unit_of_measurement": "W", "device_class": "power"}

SITES: dict[str, dict[str, Any]] = {
    "powernaut": {
        "site_name": "Home",
        "country": "be",
        "grid_identifier": "541448820044157096",
        "direction": "bidirectional",
        "address": "Dok Noord 1, 9000 Gent, Belgium",
        "location": {"latitude": 51.0673, "longitude": 3.7302},
    },
    "flexmeasures": {
        "site_name": "Home",
        "country": "be",
        "grid_identifier": "541448820044157096",
        "address": "Dok Noord 1, 9000 Gent, Belgium",
        "location": {"latitude": 51.0673, "longitude": 3.7302},
    },
}


@dataclass(frozen=True)
class Scenario:
    """One site to set up."""

    key: str
    title: str
    platform: str
    schedulable: bool = False
    runs: int = RUNS
    latency: float = 0.0
    """Seconds the sandbox waits before answering any request."""


def _scenarios() -> tuple[Scenario, ...]:
    kinds = (
        ("powernaut", "Powernaut, 10 batteries", "powernaut", False, RUNS),
        ("flexmeasures", "FlexMeasures, 10 batteries", "flexmeasures", False, RUNS),
        (
            "flexmeasures_slow_scheduler",
            "FlexMeasures, 10 batteries (1 schedulable), slow scheduler",
            "flexmeasures",
            True,
            SLOW_RUNS,
        ),
    )
    scenarios: list[Scenario] = []
    for latency, suffix, title in (
        (0.0, "", "local"),
        (LATENCY, "_latency", f"{LATENCY * 1e3:.0f} ms per request"),
    ):
        scenarios.extend(
            Scenario(
                f"{key}{suffix}",
                f"{name}; {title}",
                platform,
                schedulable=schedulable,
                runs=runs,
                latency=latency,
            )
            for key, name, platform, schedulable, runs in kinds
        )
    return tuple(scenarios)


@dataclass
class Run:
    """One timed setup."""

    wall: float
    cpu: float
    phases: dict[str, float] = field(default_factory=dict)
    phase_requests: dict[str, int] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    triggered_after: float | None = None
    """Seconds after setup returned until a schedule trigger reached the platform."""


_DEPTH: contextvars.ContextVar[int] = contextvars.ContextVar("depth", default=0)


class PhaseTimer:
    """Time the steps ``async_setup_entry`` awaits at its top level."""

    def __init__(self, server: SandboxServer) -> None:
        """Log the sandbox's requests per step."""
        self.server = server
        self.active = False
        self.phases: dict[str, float] = {}
        self.requests: dict[str, int] = {}

    def wrap(
        self, name: str, function: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        """Return ``function`` timed as step ``name`` when called at the top level."""

        @functools.wraps(function)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active or _DEPTH.get():
                return await function(*args, **kwargs)
            token = _DEPTH.set(1)
            logged = len(self.server.state.requests)
            start = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self.phases[name] = self.phases.get(name, 0.0) + (
                    time.perf_counter() - start
                )
                self.requests[name] = self.requests.get(name, 0) + (
                    len(self.server.state.requests) - logged
                )
                _DEPTH.reset(token)

        return timed

    @contextmanager
    def installed(self, hass: HomeAssistant) -> Iterator[None]:
        """Wrap what ``custom_components.gridflex`` awaits while setting up."""
        skip = {"async_setup", "async_setup_entry", "async_unload_entry"}
        methods = (
            "authenticate",
            "async_config_entry_first_refresh",
            "async_refresh",
            "async_start",
        )
        with ExitStack() as stack:
            for name, value in vars(gridflex_init).items():
                if name in skip or name.startswith("_"):
                    continue
                if inspect.iscoroutinefunction(value):
                    stack.enter_context(
                        patch.object(gridflex_init, name, self.wrap(name, value))
                    )
                elif inspect.isclass(value):
                    for method in methods:
                        function = getattr(value, method, None)
                        if inspect.iscoroutinefunction(function):
                            assert function is not None
                            stack.enter_context(
                                patch.object(
                                    value,
                                    method,
                                    self.wrap(f"{name}.{method}", function),
                                )
                            )
            for client in (FlexMeasuresClient, PowernautClient):
                stack.enter_context(
                    patch.object(
                        client,
                        "authenticate",
                        self.wrap(
                            f"{client.__name__}.authenticate", client.authenticate
                        ),
                    )
                )
            forward = hass.config_entries.async_forward_entry_setups
            stack.enter_context(
                patch.object(
                    hass.config_entries,
                    "async_forward_entry_setups",
                    self.wrap("async_forward_entry_setups", forward),
                )
            )
            yield


SCENARIOS = _scenarios()


def route(path: str) -> str:
    """A logged path with its ids replaced by ``{id}``."""
    return re.sub(r"/[0-9a-f-]{6,}|/\d+", "/{id}", path)


async def configure(
    hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]
) -> dict[str, Any]:
    """One step of a config flow."""
    return dict(await hass.config_entries.flow.async_configure(flow_id, user_input))


async def add_site(hass: HomeAssistant, url: str, platform: str) -> ConfigEntry:
    """Add GridFlex through the real config flow; return the loaded entry."""
    result = dict(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": config_entries.SOURCE_USER}
        )
    )
    result = await configure(
        hass,
        result["flow_id"],
        {"platform": platform, "environment": "custom", "advanced": {"base_url": url}},
    )
    result = await configure(
        hass, result["flow_id"], dict(SANDBOX_CREDENTIALS[platform])
    )
    assert result.get("step_id") == "site", result
    result = await configure(hass, result["flow_id"], SITES[platform])
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    return entry


async def add_battery(
    hass: HomeAssistant, entry: ConfigEntry, number: int, *, schedulable: bool
) -> None:
    """Run the "Add resource" subentry flow for one battery."""
    power = f"sensor.battery_{number}_power"
    hass.states.async_set(power, str(100 * number), POWER_ATTRIBUTES)
    details: dict[str, Any] = {
        "power_entity": power,
        "power_min_kw": -5,
        "power_max_kw": 5,
        "capacity_kwh": 10,
    }
    if schedulable:
        soc = f"sensor.battery_{number}_soc"
        hass.states.async_set(soc, "40", {"unit_of_measurement": "%"})
        details["soc_entity"] = soc
    result = dict(
        await hass.config_entries.subentries.async_init(
            (entry.entry_id, "resource"), context={"source": config_entries.SOURCE_USER}
        )
    )
    result = dict(
        await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {"name": f"Battery {number}", "resource_type": "battery"},
        )
    )
    result = dict(
        await hass.config_entries.subentries.async_configure(result["flow_id"], details)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()


async def price_source(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Give the site a price sensor, where the options ask for one."""
    hass.states.async_set(PRICE, "0.25", {"unit_of_measurement": "EUR/kWh"})
    result = dict(await hass.config_entries.options.async_init(entry.entry_id))
    fields = {str(key) for key in result["data_schema"].schema}
    if "price_entity" not in fields:
        hass.config_entries.options.async_abort(result["flow_id"])
        return
    result = dict(
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"price_entity": PRICE}
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()


def slow_scheduler(server: SandboxServer) -> None:
    """Make the sandbox's scheduler slow: more reads per job, each one delayed."""
    from sandbox.flexmeasures_schedules import scheduling_settings

    scheduling_settings(server.state).polls_to_finish = SLOW_POLLS
    server.state.faults.add(
        parse_fault(
            {
                "method": "GET",
                "path": "/api/v3_0/sensors/*/schedules/*",
                "kind": "delay",
                "seconds": SLOW_READ_DELAY,
            }
        )
    )


async def schedule_triggered(server: SandboxServer, logged: int) -> float | None:
    """Wait (at most 20 s) for a schedule trigger; return the seconds it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < 20:
        if any(
            r["path"].endswith("/schedules/trigger")
            for r in server.state.requests[logged:]
        ):
            return time.perf_counter() - start
        await asyncio.sleep(0.005)
    return None


def far_away(server: SandboxServer, latency: float) -> None:
    """Make every request to the sandbox take ``latency`` seconds."""
    server.state.faults.add(
        parse_fault({"path": "*", "kind": "delay", "seconds": latency})
    )


async def time_setups(
    hass: HomeAssistant,
    server: SandboxServer,
    entry: ConfigEntry,
    runs: int,
    before: Callable[[int], None],
    *,
    schedulable: bool = False,
) -> list[Run]:
    """Unload the entry, then time ``runs`` setups (unloading after each)."""
    timer = PhaseTimer(server)
    results: list[Run] = []
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    with timer.installed(hass):
        for number in range(runs):
            before(number)
            timer.phases, timer.requests = {}, {}
            logged = len(server.state.requests)
            timer.active = True
            cpu, wall = time.process_time(), time.perf_counter()
            assert await hass.config_entries.async_setup(entry.entry_id)
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            timer.active = False
            assert entry.state is ConfigEntryState.LOADED, entry.state
            made = server.state.requests[logged:]
            triggered_after = None
            if schedulable:
                triggered_after = await schedule_triggered(server, logged)
            results.append(
                Run(
                    wall=wall,
                    cpu=cpu,
                    phases=dict(timer.phases),
                    phase_requests=dict(timer.requests),
                    requests=Counter(
                        f"{r['method']} {route(r['path'])} → {r['status']}"
                        for r in made
                    ),
                    tokens=sum(1 for r in made if r["path"] in TOKEN_PATHS),
                    triggered_after=triggered_after,
                )
            )
            await hass.async_block_till_done()
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
    return results


async def run_scenario(hass: HomeAssistant, scenario: Scenario) -> list[Run]:
    """Add the site and its resources against a fresh sandbox; time its setups."""
    server = SandboxServer(host="127.0.0.1", port=0)
    await server.start()
    try:
        with patch("custom_components.gridflex.schedules.JOB_POLL_DELAY", 0.05):
            # Adding the resources runs schedules too: keep that short.
            entry = await add_site(hass, server.url, scenario.platform)
            for number in range(1, RESOURCES + 1):
                await add_battery(
                    hass,
                    entry,
                    number,
                    schedulable=scenario.schedulable and number == 1,
                )
            if scenario.schedulable:
                await price_source(hass, entry)
            await hass.async_block_till_done()
        assert len(entry.subentries) == RESOURCES
        if scenario.schedulable:
            slow_scheduler(server)
        if scenario.latency:
            far_away(server, scenario.latency)

        def before(number: int) -> None:
            # A new state of charge each time: the platform's job cache
            # would otherwise answer the previous setup's finished job.
            hass.states.async_set(
                "sensor.battery_1_soc", str(40 + number), {"unit_of_measurement": "%"}
            )

        runs = await time_setups(
            hass, server, entry, scenario.runs, before, schedulable=scenario.schedulable
        )
        assert not server.state.violations, server.state.violations
        await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
        return runs
    finally:
        await server.stop()


def summary(runs: list[Run]) -> dict[str, Any]:
    """The medians of a scenario's runs."""
    names = sorted({name for run in runs for name in run.phases})
    return {
        "wall_ms": median([run.wall for run in runs]) * 1e3,
        "min_ms": min(run.wall for run in runs) * 1e3,
        "max_ms": max(run.wall for run in runs) * 1e3,
        "cpu_ms": median([run.cpu for run in runs]) * 1e3,
        "tokens": median([run.tokens for run in runs]),
        "requests": median([sum(run.requests.values()) for run in runs]),
        "phases": {
            name: {
                "ms": median([run.phases.get(name, 0.0) for run in runs]) * 1e3,
                "requests": median([run.phase_requests.get(name, 0) for run in runs]),
            }
            for name in names
        },
        "by_route": dict(runs[-1].requests),
        "runs": len(runs),
        "triggered_after_ms": [
            None if run.triggered_after is None else run.triggered_after * 1e3
            for run in runs
        ],
    }


def report_scenario(
    scenario: Scenario, figures: dict[str, Any], baseline: dict[str, Any] | None
) -> None:
    """Print one scenario, with the baseline and the ratio when given."""
    report(f"{scenario.title} (median of {figures['runs']} setups)")

    def beside(key: str, unit: str, value: float) -> str:
        if baseline is None or key not in baseline:
            return f"{value:9.1f} {unit}"
        before = baseline[key]
        ratio = f"{value / before:5.2f}x" if before else "   - "
        return f"{value:9.1f} {unit}   baseline {before:9.1f} {unit}   ratio {ratio}"

    report(
        f"  setup wall   {beside('wall_ms', 'ms', figures['wall_ms'])}"
        f"   (min {figures['min_ms']:.1f}, max {figures['max_ms']:.1f})"
    )
    report(f"  setup CPU    {beside('cpu_ms', 'ms', figures['cpu_ms'])}")
    report(f"  requests     {beside('requests', '  ', figures['requests'])}")
    report(f"  token fetches{beside('tokens', '  ', figures['tokens'])}")
    if any(figures.get("triggered_after_ms") or ()):
        report(
            "  schedule trigger reached the platform after setup returned: "
            + ", ".join(
                "never (20 s)" if ms is None else f"{ms:.0f} ms"
                for ms in figures["triggered_after_ms"]
            )
        )
    report("  steps awaited by async_setup_entry (wall ms, requests):")
    base_phases = (baseline or {}).get("phases", {})
    for name, phase in sorted(figures["phases"].items(), key=lambda kv: -kv[1]["ms"]):
        line = f"    {phase['ms']:8.1f} ms {phase['requests']:4.0f} req  {name}"
        if name in base_phases:
            line += (
                f"   (baseline {base_phases[name]['ms']:.1f} ms, "
                f"{base_phases[name]['requests']:.0f} req)"
            )
        report(line)
    for name in sorted(set(base_phases) - set(figures["phases"])):
        report(
            f"    {'-':>8}       -      {name}   (baseline "
            f"{base_phases[name]['ms']:.1f} ms, {base_phases[name]['requests']:.0f} req)"
        )
    report("  requests of the last setup:")
    for request, count in sorted(figures["by_route"].items()):
        report(f"    {count:3d} x {request}")
    report()


async def main() -> None:
    """Run every scenario; print, save and compare the figures."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--json", type=Path, help="save the medians here")
    parser.add_argument("--baseline", type=Path, help="a saved run to compare with")
    parser.add_argument(
        "--only", choices=[s.key for s in SCENARIOS], action="append", default=None
    )
    args = parser.parse_args()
    baseline = json.loads(args.baseline.read_text()) if args.baseline else {}
    quiet_logs()
    report_machine(f"Entry setup with {RESOURCES} resources, against the sandbox")
    results: dict[str, Any] = {}
    async with home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        await hass.config.async_update(external_url=EXTERNAL_URL)
        assert await async_setup_component(hass, DOMAIN, {})
        for scenario in SCENARIOS:
            if args.only and scenario.key not in args.only:
                continue
            runs = await run_scenario(hass, scenario)
            results[scenario.key] = summary(runs)
            report_scenario(scenario, results[scenario.key], baseline.get(scenario.key))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
        report(f"saved to {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
