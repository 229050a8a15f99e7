"""Baseline accuracy on a simulated household, and the cost of one cycle.

1. Accuracy: six weeks of a stochastic household's load at 15-minute
   resolution (``household_load`` below; seeded, so the figures repeat). The
   first two weeks are history only; over the next four weeks (28 days) each
   local day is scored with the platform's measure, the normalised MAE
   (``baseline.normalised_mae``: sum |b - a| / sum |a| over the day's 96
   quarter-hours), for:

   - GridFlex *day-ahead*: the baseline posted at the day's local midnight,
     all 96 quarter-hours of it;
   - GridFlex *in force*: for each quarter-hour the value of the baseline
     posted when it started (GridFlex posts every 15 minutes, so this is
     what the platform holds when the quarter-hour begins);
   - naive *yesterday*: the same quarter-hour of the day before;
   - naive *flat*: the mean of the 24 hours before the day, all day.

   Median and worst day of each, over several seeds.

2. Cost of a cycle for a site with 10 resources: CPU time (``process_time``)
   to forecast 11 series with two weeks of history each and encode them,
   then the wall and CPU time to post the 11 baselines with the Powernaut
   client to the sandbox over real HTTP in the same process (the sandbox's
   own validation counts too, so this overstates GridFlex's share).

Run from the repository root: ``.venv/bin/python -m benchmarks.baseline_accuracy``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import math
import random
import statistics
import time
from zoneinfo import ZoneInfo

import aiohttp

from custom_components.gridflex.baseline import QUARTER, forecast, normalised_mae
from custom_components.gridflex.platforms import Environment, PlatformKey, create_client
from custom_components.gridflex.platforms.powernaut import PowernautClient
from sandbox import SandboxServer
from sandbox.state import SANDBOX_CREDENTIALS

from ._common import report, report_machine

ZONE = ZoneInfo("Europe/Brussels")
FIRST_DAY = datetime(2026, 1, 5, tzinfo=ZONE)  # a Monday, no DST change in 6 weeks
WARM_UP_DAYS = 14
EVALUATED_DAYS = 28
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


def _oracle() -> dict[bool, list[float]]:
    """The per-quarter-hour median of 400 simulated days, weekdays and weekends.

    What a forecaster that knew the household's habits exactly (but not the
    day's dice) would send: the floor any baseline can reach on this load.
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
    return medians


def evaluate(seed: int) -> dict[str, list[float]]:
    """Normalised MAE per evaluated day, per method."""
    days = WARM_UP_DAYS + EVALUATED_DAYS
    load = household_load(days, seed)
    starts = _starts(days)
    history = dict(zip(starts, load, strict=True))
    oracle = _oracle()
    scores: dict[str, list[float]] = {
        "reference: the household's true median": [],
        "GridFlex day-ahead": [],
        "GridFlex in force": [],
        "naive yesterday": [],
        "naive flat": [],
    }
    for day in range(WARM_UP_DAYS, days):
        first = day * 96
        actual = load[first : first + 96]
        day_ahead = forecast(history, starts[first], ZONE).values_kw
        in_force = [
            forecast(history, starts[first + q], ZONE, horizon=1).values_kw[0]
            for q in range(96)
        ]
        yesterday = load[first - 96 : first]
        flat = [sum(yesterday) / 96] * 96
        weekend = (FIRST_DAY + timedelta(days=day)).weekday() >= 5
        for name, baseline in (
            ("reference: the household's true median", oracle[weekend]),
            ("GridFlex day-ahead", day_ahead),
            ("GridFlex in force", in_force),
            ("naive yesterday", yesterday),
            ("naive flat", flat),
        ):
            score = normalised_mae(list(baseline), list(actual))
            assert score is not None
            scores[name].append(score)
    return scores


async def cycle_cost() -> tuple[float, float, float]:
    """CPU ms to forecast 11 series; wall and CPU ms to post them (medians)."""
    days = 15
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


def main() -> None:
    """Print the figures."""
    report_machine("Baseline accuracy (normalised MAE per day) and cycle cost")
    load = household_load(WARM_UP_DAYS + EVALUATED_DAYS, SEEDS[0])
    yearly = sum(load) / 4 / (len(load) / 96) * 365
    report(
        f"simulated household (seed {SEEDS[0]}): {yearly:,.0f} kWh/year, "
        f"peak quarter-hour {max(load):.2f} kW"
    )
    report(
        f"{EVALUATED_DAYS} evaluated days after {WARM_UP_DAYS} days of history, "
        f"seeds {', '.join(map(str, SEEDS))}"
    )
    report()
    report("| method | median day | worst day | mean |")
    report("|---|---|---|---|")
    combined: dict[str, list[float]] = {}
    for seed in SEEDS:
        for name, values in evaluate(seed).items():
            combined.setdefault(name, []).extend(values)
    for name, values in combined.items():
        report(
            f"| {name} | {statistics.median(values):.3f} | {max(values):.3f} | "
            f"{statistics.mean(values):.3f} |"
        )
    report()
    forecast_ms, post_wall, post_cpu = asyncio.run(cycle_cost())
    report(f"one cycle, site + {RESOURCES} resources (median of {CYCLES}):")
    report(f"  forecast and encode 11 x 96 quarter-hours: {forecast_ms:.1f} ms CPU")
    report(
        f"  post 11 baselines to the sandbox: {post_wall:.1f} ms wall, "
        f"{post_cpu:.1f} ms CPU (client and sandbox together)"
    )


if __name__ == "__main__":
    main()
