"""One home's load built on demandlib's BDEW H0 profile (benchmark only).

The BDEW H0 standard load profile (``demandlib.bdew.ElecSlp``, column
``h0_dyn``: H0 with BDEW's dynamisation over the year, 15-minute values,
weekday, Saturday and Sunday shapes per season) is the *average* of many
homes. One home's quarter-hours vary far more: people come and go, and
appliances switch on at moments no profile knows. ``household_load`` below
turns the profile into one home's load whose daily energy, on average, is
the profile's:

- **Base load** (everything but the appliances below): the H0 profile, less
  the appliances' expected energy of the day (spread in H0's shape), times a
  daily factor (lognormal, sigma 0.15: a busy or a quiet day) and a slow
  random drift per quarter-hour (lognormal, sigma 0.3, AR(1) with 0.9 from
  one quarter-hour to the next, about 2.5 hours of memory: someone home or
  not, lights, TV, computers). Both factors have mean 1.
- **Appliance events**, each a Poisson number per day with a start drawn in
  the H0 shape within its hours, and random power and duration:

  ===============  ========  =============  ================================
  appliance        per day   hours          power and duration
  ===============  ========  =============  ================================
  kettle           2.0       06:00-23:00    2.0 kW, 3-5 min
  cooking (hob,    1.1       11:00-14:00,   1.5-2.5 kW, 30-75 min
  oven)                      17:00-21:00
  washing machine  0.5       08:00-22:00    2.0 kW for 30 min, 0.3 kW for 75
  tumble dryer     after half of the washes 2.2 kW, 60-90 min
  dishwasher       0.7       12:00-23:30    1.9 kW for 30 min, 0.15 kW for 60
  ===============  ========  =============  ================================

  About 4.3 kWh a day in expectation, a third of a winter day's H0 energy.

Scaled to 3,500 kWh a year (a typical Belgian or German household). The
profile's local time is taken as the home's wall-clock time.

``oracle`` is the floor on this load: for each day, the per-quarter-hour
median of many independent draws of that same day, i.e. what a forecaster
that knew this home's habits exactly (but not the day's dice) would send.

Needs ``demandlib`` (and so pandas): ``benchmarks/requirements.txt``. Never
imported by the integration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
import math
import random
import statistics
import warnings

from demandlib import bdew  # type: ignore[import-untyped]

ANNUAL_KWH = 3500.0
DAILY_SIGMA = 0.15
DRIFT_SIGMA = 0.3
DRIFT_RHO = 0.9
ORACLE_DRAWS = 300


@dataclass(frozen=True, slots=True)
class _Appliance:
    per_day: float
    hours: tuple[tuple[float, float], ...]
    phases: tuple[tuple[float, float, int, int], ...]
    """(kW low, kW high, minutes low, minutes high) run one after the other."""
    dryer_share: float = 0.0


KETTLE = _Appliance(2.0, ((6, 23),), ((2.0, 2.0, 3, 5),))
COOKING = _Appliance(1.1, ((11, 14), (17, 21)), ((1.5, 2.5, 30, 75),))
WASHER = _Appliance(
    0.5, ((8, 22),), ((2.0, 2.0, 30, 30), (0.3, 0.3, 75, 75)), dryer_share=0.5
)
DRYER_PHASE = (2.2, 2.2, 60, 90)
DISHWASHER = _Appliance(0.7, ((12, 23.5),), ((1.9, 1.9, 30, 30), (0.15, 0.15, 60, 60)))
APPLIANCES = (KETTLE, COOKING, WASHER, DISHWASHER)


def _phase_kwh(phase: tuple[float, float, int, int]) -> float:
    low, high, minutes_low, minutes_high = phase
    return (low + high) / 2 * (minutes_low + minutes_high) / 2 / 60


def expected_event_kwh() -> float:
    """The appliances' expected energy per day."""
    total = 0.0
    for appliance in APPLIANCES:
        energy = sum(_phase_kwh(phase) for phase in appliance.phases)
        energy += appliance.dryer_share * _phase_kwh(DRYER_PHASE)
        total += appliance.per_day * energy
    return total


@cache
def h0_profile(year: int) -> tuple[float, ...]:
    """BDEW H0 with dynamisation, kW per quarter-hour of ``year``, 3,500 kWh."""
    with warnings.catch_warnings():
        # demandlib turns every warning into an error while it builds the
        # profiles; keep that inside.
        slp = bdew.ElecSlp(year)
        power = slp.get_scaled_power_profiles({"h0_dyn": ANNUAL_KWH})["h0_dyn"]
    return tuple(float(value) for value in power)


def profile_days(first: date, days: int) -> list[list[float]]:
    """H0's 96 quarter-hours (kW) of each day from ``first``."""
    profile = h0_profile(first.year)
    offset = (first - date(first.year, 1, 1)).days * 96
    if offset + days * 96 > len(profile):
        raise ValueError("the period must lie within one calendar year")
    return [list(profile[offset + d * 96 : offset + (d + 1) * 96]) for d in range(days)]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _run(
    rng: random.Random, load: list[float], start: int, phase: tuple[float, ...]
) -> int:
    """Add one phase's kW from minute ``start`` of the day; return its end."""
    low, high, minutes_low, minutes_high = phase
    kw = rng.uniform(low, high)
    minutes = rng.randint(int(minutes_low), int(minutes_high))
    for minute in range(start, start + minutes):
        if minute // 15 < len(load):
            load[minute // 15] += kw / 15
    return start + minutes


def _events(rng: random.Random, shape: list[float], load: list[float]) -> None:
    for appliance in APPLIANCES:
        quarters = [
            q
            for q in range(96)
            if any(low <= q / 4 < high for low, high in appliance.hours)
        ]
        weights = [shape[q] for q in quarters]
        for _ in range(_poisson(rng, appliance.per_day)):
            minute = rng.choices(quarters, weights)[0] * 15 + rng.randrange(15)
            for phase in appliance.phases:
                minute = _run(rng, load, minute, phase)
            if appliance.dryer_share and rng.random() < appliance.dryer_share:
                _run(rng, load, minute, DRYER_PHASE)


def _day(
    rng: random.Random, shape: list[float], drift: float
) -> tuple[list[float], float]:
    """One day's load from its H0 shape; ``drift`` carries over from the day before."""
    energy = sum(shape) / 4
    scale = max(0.0, 1 - expected_event_kwh() / energy)
    daily = math.exp(rng.gauss(0, DAILY_SIGMA) - DAILY_SIGMA**2 / 2)
    step = math.sqrt(1 - DRIFT_RHO**2) * DRIFT_SIGMA
    load: list[float] = []
    for value in shape:
        drift = DRIFT_RHO * drift + rng.gauss(0, step)
        load.append(value * scale * daily * math.exp(drift - DRIFT_SIGMA**2 / 2))
    _events(rng, shape, load)
    return load, drift


def household_load(first: date, days: int, seed: int) -> list[float]:
    """One home's average power (kW) per quarter-hour for ``days`` days."""
    rng = random.Random(seed)
    drift = rng.gauss(0, DRIFT_SIGMA)
    load: list[float] = []
    for shape in profile_days(first, days):
        day, drift = _day(rng, shape, drift)
        load.extend(day)
    return load


def oracle(first: date, days: int, draws: int = ORACLE_DRAWS) -> list[list[float]]:
    """Per day, the per-quarter-hour median of ``draws`` independent draws."""
    rng = random.Random(20_000)
    medians: list[list[float]] = []
    for shape in profile_days(first, days):
        samples = [_day(rng, shape, rng.gauss(0, DRIFT_SIGMA))[0] for _ in range(draws)]
        medians.append([statistics.median(s[q] for s in samples) for q in range(96)])
    return medians
