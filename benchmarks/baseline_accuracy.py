"""Baseline accuracy on simulated households, and the cost of one cycle.

1. Accuracy: eight weeks of a home's load at 15-minute resolution, seeded so
   the figures repeat, in two scenarios:

   - ``bdew``: demandlib's BDEW H0 household profile (with its
     dynamisation) scaled to 3,500 kWh a year, turned into one home's load
     by a random drift and random appliance events (``bdew_household.py``;
     needs ``benchmarks/requirements.txt``, skipped with a note without it);
   - ``synthetic``: a household built from what a home does
     (``household_load`` below, no package needed).

   The first two weeks are history only; over the next six weeks (42 days)
   each local day is scored with the platform's measure, the normalised MAE
   (``baseline.normalised_mae``: sum |b - a| / sum |a| over the day's 96
   quarter-hours), for:

   - GridFlex *day-ahead*: the baseline posted at the day's local midnight,
     all 96 quarter-hours of it; and the same from the history as the
     coordinator reads it after a restart of Home Assistant (hourly means
     for the days before the last ``FINE_DAYS``, as the recorder's long-term
     statistics hold them);
   - GridFlex *in force*: for each quarter-hour the value of the baseline
     posted when it started (GridFlex posts every 15 minutes, so this is
     what the platform holds when the quarter-hour begins);
   - naive *yesterday*: the same quarter-hour of the day before;
   - naive *flat*: the mean of the 24 hours before the day, all day;
   - the *reference*: the household's own per-quarter-hour median (known to
     the simulation, not to any forecaster), the floor on that load.

   Median and worst day of each, over several seeds (``--seeds``).

2. Cost of a cycle for a site with 10 resources: CPU time (``process_time``)
   to forecast 11 series with a full history each (``HISTORY_DAYS``) and
   encode them, then the wall and CPU time to post the 11 baselines with the
   Powernaut client to the sandbox over real HTTP in the same process (the
   sandbox's own validation counts too, so this overstates GridFlex's share).

Run from the repository root: ``.venv/bin/python -m benchmarks.baseline_accuracy``
(``--scenario bdew|synthetic``, ``--seeds 6-10``, ``--no-cost``).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import math
import random
import statistics
import time
from zoneinfo import ZoneInfo

import aiohttp

from custom_components.gridflex.baseline import (
    HISTORY_DAYS,
    QUARTER,
    forecast,
    normalised_mae,
)
from custom_components.gridflex.baseline_coordinator import FINE_DAYS
from custom_components.gridflex.platforms import Environment, PlatformKey, create_client
from custom_components.gridflex.platforms.powernaut import PowernautClient
from sandbox import SandboxServer
from sandbox.state import SANDBOX_CREDENTIALS

from ._common import report, report_machine

ZONE = ZoneInfo("Europe/Brussels")
FIRST_DAY = datetime(2026, 1, 5, tzinfo=ZONE)  # a Monday, no DST change in 8 weeks
WARM_UP_DAYS = 14
EVALUATED_DAYS = 42
SEEDS = (1, 2, 3, 4, 5)
RESOURCES = 10
CYCLES = 20


def _appliance(
    load: list[float], start: int, quarters: list[float], scale: float = 1.0
) -> None:
    """Add an appliance's kW per quarter-hour from quarter ``start`` on."""
    for offset, kw in enumerate(quarters):
        if 0 <= start + offset < len(load):
            load[start + offset] += kw * scale


def household_load(days: int, seed: int) -> list[float]:
    """A household's average power (kW) per quarter-hour from ``FIRST_DAY``.

    Built from what a home does, with randomness in every part:

    - always on: 0.10 kW standby plus a fridge cycling (0.08 kW, on about half
      of the time, per quarter-hour at random);
    - presence: on weekdays people are up from about 06:30 (± 30 min) to 08:15
      and home from about 17:30 (± 1 h) to about 23:00 (± 45 min); at weekends
      from about 08:00 to 23:30. While someone is home, lights and devices draw
      0.15-0.45 kW (uniform per quarter-hour);
    - a daily "busyness" factor (lognormal, sigma 0.2) scales all of the above;
    - kettle: 1-3 times while people are up, 2 kW for 3-5 minutes
      (0.4-0.67 kW over its quarter-hour);
    - cooking: most evenings (85 %) at 18:00 ± 45 min, 1.2-2.5 kW for 30-60
      minutes; at weekends also lunch (60 %) at 12:30 ± 30 min;
    - dishwasher: 70 % of evenings at 21:00 ± 1 h, 1.9 kW for 30 minutes then
      0.15 kW for 60;
    - washing machine: 3-4 days a week at random, 09:00-20:00, 2.0 kW for 30
      minutes then 0.3 kW for 75;
    - tumble dryer: after half of the washes, 2.2 kW for 60-90 minutes.

    About 3,500-4,000 kWh a year: a typical Belgian household.
    """
    rng = random.Random(seed)
    load = [0.0] * (days * 96)
    for day in range(days):
        weekend = (FIRST_DAY + timedelta(days=day)).weekday() >= 5
        spans = _presence(rng, load, day * 96, weekend=weekend)
        _appliances(rng, load, day * 96, spans, weekend=weekend)
    return load


def _presence(
    rng: random.Random, load: list[float], first: int, *, weekend: bool
) -> list[tuple[float, float]]:
    """Standby, fridge and presence for one day; return when people are up."""
    busy = math.exp(rng.gauss(0, 0.2))
    if weekend:
        spans = [(rng.gauss(8.0, 0.5), rng.gauss(23.5, 0.5))]
    else:
        spans = [
            (rng.gauss(6.5, 0.5), rng.gauss(8.25, 0.25)),
            (rng.gauss(17.5, 1.0), rng.gauss(23.0, 0.75)),
        ]
    for q in range(96):
        hour = q / 4
        base = 0.10 + (0.08 if rng.random() < 0.5 else 0.0)
        home = any(start <= hour < end for start, end in spans)
        activity = rng.uniform(0.15, 0.45) if home else 0.0
        load[first + q] += busy * (base + activity)
    return spans


def _appliances(
    rng: random.Random,
    load: list[float],
    first: int,
    spans: list[tuple[float, float]],
    *,
    weekend: bool,
) -> None:
    """Kettle, cooking, dishwasher, washing machine and dryer for one day."""
    for start, end in spans:
        for _ in range(rng.randint(1, 3)):
            at = int(rng.uniform(start, max(start, end - 0.25)) * 4)
            _appliance(load, first + at, [rng.uniform(0.4, 0.67)])
    if rng.random() < 0.85:
        at = int(rng.gauss(18.0, 0.75) * 4)
        _appliance(load, first + at, [rng.uniform(1.2, 2.5)] * rng.randint(2, 4))
    if weekend and rng.random() < 0.6:
        at = int(rng.gauss(12.5, 0.5) * 4)
        _appliance(load, first + at, [rng.uniform(1.2, 2.5)] * rng.randint(2, 3))
    if rng.random() < 0.7:
        at = int(rng.gauss(21.0, 1.0) * 4)
        _appliance(load, first + at, [1.9, 1.9, 0.15, 0.15, 0.15, 0.15])
    if rng.random() < 3.5 / 7:
        at = int(rng.uniform(9, 20) * 4)
        _appliance(load, first + at, [2.0, 2.0, *[0.3] * 5])
        if rng.random() < 0.5:
            _appliance(load, first + at + 8, [2.2] * rng.randint(4, 6))


def _starts(days: int) -> list[datetime]:
    """The UTC start of each quarter-hour (no DST change in the period)."""
    origin = FIRST_DAY.astimezone(UTC)
    return [origin + QUARTER * i for i in range(days * 96)]


def _synthetic_oracle() -> list[list[float]]:
    """Per evaluated day, the per-quarter-hour median of 400 simulated days.

    Weekdays and weekends apart: what a forecaster that knew the household's
    habits exactly (but not the day's dice) would send, the floor any
    baseline can reach on this load.
    """
    days = 400
    load = household_load(days, seed=10_000)
    medians: dict[bool, list[float]] = {}
    for weekend in (False, True):
        chosen = [
            day
            for day in range(days)
            if ((FIRST_DAY + timedelta(days=day)).weekday() >= 5) == weekend
        ]
        medians[weekend] = [
            statistics.median(load[day * 96 + q] for day in chosen) for q in range(96)
        ]
    return [
        medians[(FIRST_DAY + timedelta(days=day)).weekday() >= 5]
        for day in range(WARM_UP_DAYS, WARM_UP_DAYS + EVALUATED_DAYS)
    ]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A household: its load per seed, and its own median per evaluated day."""

    name: str
    load: Callable[[int, int], list[float]]
    """(days, seed) -> kW per quarter-hour from ``FIRST_DAY``."""
    oracle: Callable[[], list[list[float]]]


def _bdew_scenario() -> Scenario | None:
    """The BDEW H0 home, or None without demandlib."""
    try:
        from . import bdew_household
    except ImportError:
        return None
    first = FIRST_DAY.date()
    evaluated = first + timedelta(days=WARM_UP_DAYS)

    def load(days: int, seed: int) -> list[float]:
        return bdew_household.household_load(first, days, seed)

    def oracle() -> list[list[float]]:
        return bdew_household.oracle(evaluated, EVALUATED_DAYS)

    return Scenario("BDEW H0 home (demandlib)", load, oracle)


SYNTHETIC = Scenario("synthetic household", household_load, _synthetic_oracle)
REFERENCE = "reference: the household's own median"
RESTART = (
    f"GridFlex day-ahead, hourly history beyond {FINE_DAYS} days (after a restart)"
)


def evaluate(
    scenario: Scenario, seed: int, oracle: list[list[float]]
) -> dict[str, list[float]]:
    """Normalised MAE per evaluated day, per method."""
    days = WARM_UP_DAYS + EVALUATED_DAYS
    load = scenario.load(days, seed)
    starts = _starts(days)
    window = HISTORY_DAYS * 96

    def history(first: int) -> dict[datetime, float]:
        """What the coordinator hands over: ``HISTORY_DAYS`` before ``first``."""
        since = max(0, first - window)
        return dict(zip(starts[since:first], load[since:first], strict=True))

    def after_restart(first: int) -> dict[datetime, float]:
        """As read after a restart: hourly means older than ``FINE_DAYS``."""
        since = max(0, first - window)
        fine = first - FINE_DAYS * 96
        values = load[since:first]
        for hour in range(since - since % 4, fine, 4):
            quarters = range(max(hour, since), min(hour + 4, fine))
            mean = sum(load[hour : hour + 4]) / 4
            for q in quarters:
                values[q - since] = mean
        return dict(zip(starts[since:first], values, strict=True))

    scores: dict[str, list[float]] = {
        REFERENCE: [],
        "GridFlex in force": [],
        "GridFlex day-ahead": [],
        RESTART: [],
        "naive yesterday": [],
        "naive flat": [],
    }
    for number, day in enumerate(range(WARM_UP_DAYS, days)):
        first = day * 96
        actual = load[first : first + 96]
        day_ahead = forecast(history(first), starts[first], ZONE).values_kw
        restarted = forecast(after_restart(first), starts[first], ZONE).values_kw
        in_force = [
            forecast(history(at), starts[at], ZONE, horizon=1).values_kw[0]
            for at in range(first, first + 96)
        ]
        yesterday = load[first - 96 : first]
        flat = [sum(yesterday) / 96] * 96
        for name, baseline in (
            (REFERENCE, oracle[number]),
            ("GridFlex in force", in_force),
            ("GridFlex day-ahead", day_ahead),
            (RESTART, restarted),
            ("naive yesterday", yesterday),
            ("naive flat", flat),
        ):
            score = normalised_mae(list(baseline), list(actual))
            assert score is not None
            scores[name].append(score)
    return scores


async def cycle_cost() -> tuple[float, float, float]:
    """CPU ms to forecast 11 series; wall and CPU ms to post them (medians)."""
    days = HISTORY_DAYS + 1
    series = [household_load(days, seed) for seed in range(RESOURCES + 1)]
    starts = _starts(days)
    histories = [
        dict(zip(starts[:-96], values[:-96], strict=True)) for values in series
    ]
    now = starts[-96]
    forecast_cpu: list[float] = []
    for _ in range(CYCLES):
        began = time.process_time()
        encoded = [
            [Decimal(str(round(v, 3))) for v in forecast(h, now, ZONE).values_kw]
            for h in histories
        ]
        forecast_cpu.append((time.process_time() - began) * 1000)
    server = SandboxServer(host="127.0.0.1", port=0)
    await server.start()
    post_wall: list[float] = []
    post_cpu: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            client = create_client(
                PlatformKey.POWERNAUT,
                session,
                dict(SANDBOX_CREDENTIALS["powernaut"]),
                environment=Environment.CUSTOM,
                base_url=server.url,
            )
            assert isinstance(client, PowernautClient)
            site_id, resource_ids = await _site_with_resources(client)
            start = datetime.now(UTC)
            start = start.replace(
                minute=start.minute - start.minute % 15, second=0, microsecond=0
            )
            for _ in range(CYCLES):
                began, began_cpu = time.perf_counter(), time.process_time()
                await asyncio.gather(
                    client.post_site_baseline(site_id, start, encoded[0]),
                    *(
                        client.post_resource_baseline(rid, start, values)
                        for rid, values in zip(resource_ids, encoded[1:], strict=True)
                    ),
                )
                post_wall.append((time.perf_counter() - began) * 1000)
                post_cpu.append((time.process_time() - began_cpu) * 1000)
        assert server.state.violations == [], server.state.violations
    finally:
        await server.stop()
    return (
        statistics.median(forecast_cpu),
        statistics.median(post_wall),
        statistics.median(post_cpu),
    )


async def _site_with_resources(client: PowernautClient) -> tuple[str, list[str]]:
    from custom_components.gridflex.platforms.models import (
        Location,
        ResourceSpec,
        ResourceType,
        SiteRegistration,
    )

    registered = await client.register_site(
        SiteRegistration(
            name="Benchmark",
            country="BE",
            grid_identifier="541448820000000017",
            location=Location(address="Dok Noord 1, 9000 Gent, Belgium"),
        )
    )
    site_id = registered.site.site_id
    ids: list[str] = []
    for index in range(RESOURCES):
        resource = await client.create_resource(
            site_id,
            ResourceSpec(
                name=f"Resource {index}",
                type=ResourceType.OTHER,
                power_minimum_kw=Decimal(-10),
                power_maximum_kw=Decimal(10),
            ),
        )
        ids.append(resource.resource_id)
    return site_id, ids


def _seeds(text: str) -> tuple[int, ...]:
    """``1-5`` or ``1,3,7``."""
    if "-" in text:
        low, high = text.split("-")
        return tuple(range(int(low), int(high) + 1))
    return tuple(int(part) for part in text.split(","))


def accuracy(scenario: Scenario, seeds: tuple[int, ...]) -> None:
    """Print one scenario's table."""
    load = scenario.load(WARM_UP_DAYS + EVALUATED_DAYS, seeds[0])
    yearly = sum(load) / 4 / (len(load) / 96) * 365
    report(
        f"-- {scenario.name}: {yearly:,.0f} kWh/year at this rate (seed {seeds[0]}), "
        f"peak quarter-hour {max(load):.2f} kW"
    )
    report(
        f"{EVALUATED_DAYS} evaluated days after {WARM_UP_DAYS} days of history, "
        f"seeds {', '.join(map(str, seeds))} ({EVALUATED_DAYS * len(seeds)} days)"
    )
    report()
    report("| method | median day | worst day | mean | days > 0.75 |")
    report("|---|---|---|---|---|")
    oracle = scenario.oracle()
    combined: dict[str, list[float]] = {}
    for seed in seeds:
        for name, values in evaluate(scenario, seed, oracle).items():
            combined.setdefault(name, []).extend(values)
    for name, values in combined.items():
        flagged = sum(1 for value in values if value > 0.75)
        report(
            f"| {name} | {statistics.median(values):.3f} | {max(values):.3f} | "
            f"{statistics.mean(values):.3f} | {flagged} |"
        )
    report()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--scenario", choices=("all", "bdew", "synthetic"), default="all"
    )
    parser.add_argument("--seeds", type=_seeds, default=SEEDS)
    parser.add_argument("--no-cost", action="store_true")
    args = parser.parse_args()
    report_machine("Baseline accuracy (normalised MAE per day) and cycle cost")
    if args.scenario in ("all", "bdew"):
        if (bdew := _bdew_scenario()) is None:
            report(
                "-- BDEW H0 home: skipped, demandlib is not installed "
                "(pip install -r benchmarks/requirements.txt)"
            )
            report()
        else:
            accuracy(bdew, args.seeds)
    if args.scenario in ("all", "synthetic"):
        accuracy(SYNTHETIC, args.seeds)
    if args.no_cost:
        return
    forecast_ms, post_wall, post_cpu = asyncio.run(cycle_cost())
    report(f"one cycle, site + {RESOURCES} resources (median of {CYCLES}):")
    report(
        f"  forecast and encode 11 x 96 quarter-hours from {HISTORY_DAYS} days "
        f"of history each: {forecast_ms:.1f} ms CPU"
    )
    report(
        f"  post 11 baselines to the sandbox: {post_wall:.1f} ms wall, "
        f"{post_cpu:.1f} ms CPU (client and sandbox together)"
    )


if __name__ == "__main__":
    main()
