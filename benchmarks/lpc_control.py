"""The "keep under limit" controller on a simulated home through an LPC window.

A 3-hour window (16:00-19:00) at 1-second resolution, the limit at 6 kW:

- **base load** (no control): 0.35 kW standby with a little noise, 0.25 kW of
  lights and TV from 17:00, the oven (2.2 kW, its thermostat 90 s on, 60 s
  off) for 45 minutes starting between 16:30 and 17:00, a kettle (1.8 kW,
  150 s) three times, a microwave (1.1 kW, 180 s) twice, the dishwasher
  (1.9 kW heating for 20 minutes, then 0.15 kW for an hour) starting
  between 17:40 and 18:10. Times drawn from the seed.
- **EV charger**: 3 phases at 230 V, 6-16 A (0.69 kW per A, 11.04 kW at
  16 A), 0 A pauses it; the car wants 25 kWh. It follows a new current 5 s
  after it is set.
- **water heater** (switch): 2 kW while its thermostat asks for heat (it
  starts 2.5 kWh short, loses 0.1 kW, a shower between 17:00 and 18:00 takes
  3 kWh; it heats until it is full and starts again 0.5 kWh short). It
  follows its switch after 1 s.
- **heat pump** (climate): 1.5 kW (COP 3) while its compressor runs, a house
  of 2 kWh/°C losing 0.1 kW/°C to -5 °C outside, 21 °C ± 0.3 °C; curtailed,
  its target drops by 3 °C. It follows a new target after 60 s.

The meter and the loads' power sensors report every 2 s; the controller
decides on every report (``limit_control.decide``, as the Home Assistant
layer does on every state change of the grid power sensor), and keeps what
the Home Assistant layer keeps for it: each load's level, last change and
switch-off count (``hard_sheds``, for the back-off), when the import went
above the target (``over_target_since``, for the margin band's grace) and
the rest of the home's peak over the last 5 minutes.

Compared, each over the same seeded home:

- (a) no control;
- (b) today's blueprint: every load off for the whole window, on at its end;
- (c) the controller, priority heat pump > water heater > EV (the EV is
  curtailed first); (c-) the same without the margin band's grace
  (``band_grace`` 0) and without the back-off (``min_off_backoff`` 1);
  (c+) the same with ``keep_off`` (a load switched off stays off until the
  window ends);
- (d) the controller, priority EV > heat pump > water heater; (d-), (d+) as
  (c-), (c+);
- (e) = (d) with the meter silent for 2 minutes from 17:30 (stale data).

Reported: seconds and kWh above the limit, of them the kWh "after reaction"
(above the limit while no device was on its way to a lower power and the
meter had had a report to see it: meter period + 1 s since the import
crossed the limit, a curtailed device's reaction + 1 s since its command),
on/off switchings (contactors and the compressor: commands that stop or
start a load) and setpoint changes (the EV's current while it charges),
energy each load drew (its curtailment is (a)'s energy minus it), the
lowest indoor temperature, and the time ``decide`` took.

Run from the repository root: ``.venv/bin/python -m benchmarks.lpc_control``
(``--seeds 1-5``).
"""

from __future__ import annotations

import argparse
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import random
import statistics
import time

from custom_components.gridflex.limit_control import (
    ActionKind,
    Decision,
    LimitSettings,
    Load,
    LoadSpec,
    LoadState,
    climate_load,
    decide,
    kw_per_amp,
    number_load,
    switch_load,
)

from ._common import report, report_machine

WINDOW_S = 3 * 3600
LIMIT_KW = 6.0
METER_PERIOD_S = 2
START = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
EV_KW_PER_A = kw_per_amp(230, 3)
EV_MAX_A = 16.0
DELAY_S = {"ev": 5, "water_heater": 1, "heat_pump": 60}
OUTAGE = (5400, 5520)
BASE_PEAK_S = 300
BEFORE = LimitSettings(band_grace=timedelta(0), min_off_backoff=1.0)
"""The controller without the margin band's grace and the back-off."""
KEEP_OFF = LimitSettings(keep_off=True)
"""A load switched off stays off until the window ends."""


def base_load(seed: int) -> list[float]:
    """The household's own load (kW) for every second of the window."""
    rng = random.Random(seed)
    load = [0.35 + rng.gauss(0.0, 0.03) for _ in range(WINDOW_S)]

    def add(start: int, duration: int, kw: float) -> None:
        for t in range(max(0, start), min(WINDOW_S, start + duration)):
            load[t] += kw

    add(3600, WINDOW_S, 0.25)
    oven = rng.randint(1800, 3600)
    for cycle in range(0, 45 * 60, 150):
        add(oven + cycle, 90, 2.2)
    for _ in range(3):
        add(rng.randint(0, WINDOW_S - 150), 150, 1.8)
    for _ in range(2):
        add(rng.randint(0, WINDOW_S - 180), 180, 1.1)
    dishwasher = rng.randint(6000, 7800)
    add(dishwasher, 20 * 60, 1.9)
    add(dishwasher + 20 * 60, 60 * 60, 0.15)
    return load


@dataclass(slots=True)
class Device:
    """A device's commanded value, as it follows commands after its delay."""

    delay_s: int
    value: float | str | None = None
    queue: list[tuple[int, float | str | None]] = field(default_factory=list)

    def command(self, t: int, value: float | str | None) -> None:
        """Queue a command issued at ``t``."""
        self.queue.append((t + self.delay_s, value))

    def follow(self, t: int) -> None:
        """Apply the commands due at ``t``."""
        while self.queue and self.queue[0][0] <= t:
            self.value = self.queue.pop(0)[1]


@dataclass(slots=True)
class Home:
    """The three controllable loads' physics."""

    seed: int
    ev_need_kwh: float = 25.0
    tank_deficit_kwh: float = 2.5
    tank_heating: bool = True
    indoor_c: float = 21.0
    compressor: bool = False
    shower_at: int = 0
    ev: Device = field(default_factory=lambda: Device(DELAY_S["ev"]))
    water_heater: Device = field(
        default_factory=lambda: Device(DELAY_S["water_heater"])
    )
    heat_pump: Device = field(default_factory=lambda: Device(DELAY_S["heat_pump"]))
    min_indoor_c: float = 21.0
    starts: dict[str, int] = field(
        default_factory=lambda: {"water_heater": 0, "heat_pump": 0}
    )

    def __post_init__(self) -> None:
        """Draw the shower's time and the heat pump's phase from the seed."""
        rng = random.Random(self.seed * 7919)
        self.shower_at = rng.randint(3600, 7200)
        self.indoor_c = 21.0 + rng.uniform(-0.3, 0.3)
        self.compressor = rng.random() < 0.6

    def step(self, t: int) -> dict[str, float]:
        """Advance one second; return each load's power (kW)."""
        for device in (self.ev, self.water_heater, self.heat_pump):
            device.follow(t)
        amps = EV_MAX_A if self.ev.value is None else float(self.ev.value)
        ev_kw = min(amps, EV_MAX_A) * EV_KW_PER_A if self.ev_need_kwh > 0 else 0.0
        self.ev_need_kwh -= ev_kw / 3600

        if t == self.shower_at:
            self.tank_deficit_kwh += 3.0
        self.tank_deficit_kwh += 0.1 / 3600
        if not self.tank_heating and self.tank_deficit_kwh > 0.5:
            self.tank_heating = True
            self.starts["water_heater"] += 1
        switch_on = self.water_heater.value != "off"
        wh_kw = 2.0 if self.tank_heating and switch_on else 0.0
        self.tank_deficit_kwh -= wh_kw / 3600
        if self.tank_deficit_kwh <= 0:
            self.tank_heating = False

        offset = 0.0 if self.heat_pump.value is None else float(self.heat_pump.value)
        target = 21.0 + offset
        if self.compressor and self.indoor_c > target + 0.3:
            self.compressor = False
        elif not self.compressor and self.indoor_c < target - 0.3:
            self.compressor = True
            self.starts["heat_pump"] += 1
        hp_kw = 1.5 if self.compressor else 0.0
        self.indoor_c += (hp_kw * 3.0 - 0.1 * (self.indoor_c + 5.0)) / 3600 / 2.0
        self.min_indoor_c = min(self.min_indoor_c, self.indoor_c)
        return {"ev": ev_kw, "water_heater": wh_kw, "heat_pump": hp_kw}


def specs() -> dict[str, LoadSpec]:
    """The loads as the homeowner would map them."""
    return {
        "ev": number_load(
            "ev", minimum=6, maximum=16, step=1, kw_per_unit=EV_KW_PER_A, stop_value=0
        ),
        "water_heater": switch_load("water_heater", nominal_kw=2.0),
        "heat_pump": climate_load("heat_pump", nominal_kw=1.5, max_offset=3.0),
    }


@dataclass(slots=True)
class Result:
    """What one run measured."""

    name: str
    seconds_above: int = 0
    kwh_above: float = 0.0
    kwh_above_after_reaction: float = 0.0
    onoff: dict[str, int] = field(default_factory=dict)
    setpoints: dict[str, int] = field(default_factory=dict)
    energy: dict[str, float] = field(default_factory=dict)
    min_indoor_c: float = 0.0
    decide_us: list[float] = field(default_factory=list)
    stale_decisions: int = 0
    uncovered: list[int] = field(default_factory=list)
    """Seconds above the limit with no reaction on its way."""

    def account(
        self,
        t: int,
        site: float,
        above_since: int | None,
        controller: Controller | None,
        policy: str,
    ) -> int | None:
        """Count second ``t`` against the limit; return when the import went above it."""
        if site <= LIMIT_KW:
            return None
        above_since = t if above_since is None else above_since
        self.seconds_above += 1
        over = (site - LIMIT_KW) / 3600
        self.kwh_above += over
        reacting = t - above_since <= METER_PERIOD_S + 1
        if controller is not None:
            reacting = reacting or any(
                t - at <= DELAY_S[key] + 1
                for key, at in controller.curtailed_at.items()
            )
        elif policy == "all_off":
            reacting = reacting or t <= max(DELAY_S.values()) + 1
        if not reacting:
            self.kwh_above_after_reaction += over
            self.uncovered.append(t)
        return above_since


def _running(spec: LoadSpec, level: int) -> bool:
    return not spec.levels[level].hard


@dataclass(slots=True)
class Controller:
    """The Home Assistant layer's part: keeps the loads' states, applies actions."""

    home: Home
    order: list[str]
    result: Result
    levels: dict[str, int] = field(default_factory=dict)
    changed_at: dict[str, datetime | None] = field(default_factory=dict)
    previous: dict[str, int | None] = field(default_factory=dict)
    last_import: tuple[float, datetime] | None = None
    curtailed_at: dict[str, int] = field(default_factory=dict)
    hard_sheds: dict[str, int] = field(default_factory=dict)
    """How many times each load was switched off since the limit came into force."""
    use_peak: bool = True
    settings: LimitSettings = field(default_factory=LimitSettings)
    load_specs: dict[str, LoadSpec] = field(default_factory=specs)
    over_target_since: datetime | None = None
    """When the metered import last went above the target (``None``: not above)."""
    base_history: deque[tuple[int, float]] = field(default_factory=deque)
    """(time, import minus the loads' power) of the reports over the last 5 minutes."""

    @property
    def target(self) -> float:
        """The limit minus the margin."""
        return LIMIT_KW * (1 - self.settings.margin_fraction)

    def base_peak(
        self, t: int, reading: float | None, powers: dict[str, float | None]
    ) -> float | None:
        """The rest of the home's highest import over the last 5 minutes."""
        if not self.use_peak:
            return None
        if reading is not None:
            self.base_history.append(
                (t, reading - sum(p or 0.0 for p in powers.values()))
            )
        while self.base_history and self.base_history[0][0] <= t - BASE_PEAK_S:
            self.base_history.popleft()
        return max((b for _, b in self.base_history), default=None)

    def tick(
        self,
        t: int,
        reading: float | None,
        powers: dict[str, float | None],
        *,
        fresh: bool,
    ) -> None:
        """One meter report (``fresh`` false: the meter stayed silent)."""
        now = START + timedelta(seconds=t)
        if reading is not None and fresh:
            self.last_import = (reading, now)
            if reading <= self.target:
                self.over_target_since = None
            elif self.over_target_since is None:
                self.over_target_since = now
        all_specs = self.load_specs
        loads = [
            Load(
                all_specs[key],
                LoadState(
                    level=self.levels.get(key, 0),
                    changed_at=self.changed_at.get(key),
                    previous_level=self.previous.get(key),
                    power_kw=powers[key],
                    hard_sheds=self.hard_sheds.get(key, 0),
                ),
            )
            for key in self.order
        ]
        peak = self.base_peak(t, reading if fresh else None, powers)
        limit = LIMIT_KW if t < WINDOW_S else None
        import_kw, import_at = self.last_import or (None, None)
        began = time.perf_counter()
        decision = decide(
            loads,
            now=now,
            limit_kw=limit,
            import_kw=import_kw,
            import_at=import_at,
            base_peak_kw=peak,
            settings=self.settings,
            over_target_since=self.over_target_since,
        )
        self.result.decide_us.append((time.perf_counter() - began) * 1e6)
        self.apply(t, decision, all_specs)
        if limit is None:
            self.hard_sheds.clear()

    def apply(self, t: int, decision: Decision, all_specs: dict[str, LoadSpec]) -> None:
        """Send the decision's actions to the devices and count them."""
        self.result.stale_decisions += decision.stale
        for action in decision.actions:
            if action.kind is ActionKind.RELEASE:
                continue
            spec = all_specs[action.key]
            old = self.levels.get(action.key, 0)
            count_switch(self.result, action.key, spec, old, action.level)
            if _running(spec, old) and not _running(spec, action.level):
                self.hard_sheds[action.key] = self.hard_sheds.get(action.key, 0) + 1
            self.previous[action.key] = old
            self.levels[action.key] = action.level
            self.changed_at[action.key] = START + timedelta(seconds=t)
            getattr(self.home, action.key).command(t, action.value)
            if action.level > old:
                self.curtailed_at[action.key] = t


def count_switch(result: Result, key: str, spec: LoadSpec, old: int, new: int) -> None:
    """Count a command as an on/off switching or a setpoint change."""
    if _running(spec, old) != _running(spec, new):
        result.onoff[key] = result.onoff.get(key, 0) + 1
    elif old != new:
        result.setpoints[key] = result.setpoints.get(key, 0) + 1


def run(
    name: str,
    seed: int,
    policy: str,
    order: list[str] | None = None,
    *,
    use_peak: bool = True,
    outage: bool = False,
    settings: LimitSettings | None = None,
) -> Result:
    """Simulate the window under one policy: "none", "all_off" or "control"."""
    base = base_load(seed)
    home = Home(seed)
    result = Result(name)
    energy = {"ev": 0.0, "water_heater": 0.0, "heat_pump": 0.0}
    controller = (
        Controller(
            home,
            order or [],
            result,
            use_peak=use_peak,
            settings=settings or LimitSettings(),
        )
        if policy == "control"
        else None
    )
    if policy == "all_off":
        # Off at the window's start, on at its end: two switchings each.
        for key, spec in specs().items():
            getattr(home, key).command(0, spec.levels[-1].value)
            result.onoff[key] = 2
    reading: float | None = None
    powers: dict[str, float | None] = dict.fromkeys(energy)
    above_since: int | None = None
    for t in range(WINDOW_S):
        kw = home.step(t)
        site = base[t] + sum(kw.values())
        for key, value in kw.items():
            energy[key] += value / 3600
        above_since = result.account(t, site, above_since, controller, policy)
        if t % METER_PERIOD_S == 0:
            silent = outage and OUTAGE[0] <= t < OUTAGE[1]
            if not silent:
                reading = site
                powers = dict(kw)
            if controller is not None:
                controller.tick(t, reading, powers, fresh=not silent)
    if controller is not None:
        # The window's end: no limit any more.
        controller.tick(WINDOW_S, reading, powers, fresh=True)
    result.energy = energy
    result.min_indoor_c = home.min_indoor_c
    return result


def decide_cost() -> tuple[float, float]:
    """Median and 99th percentile µs of one ``decide`` for 10 loads (all curtailable)."""
    rng = random.Random(1)
    loads_specs: list[LoadSpec] = []
    for i in range(10):
        kind = i % 3
        if kind == 0:
            loads_specs.append(
                number_load(
                    f"ev{i}",
                    minimum=6,
                    maximum=32,
                    step=1,
                    kw_per_unit=EV_KW_PER_A,
                    stop_value=0,
                )
            )
        elif kind == 1:
            loads_specs.append(switch_load(f"sw{i}", nominal_kw=2.0))
        else:
            loads_specs.append(
                climate_load(f"hp{i}", nominal_kw=1.5, kw_per_degree=0.4)
            )
    now = START
    times: list[float] = []
    for _ in range(20000):
        loads = [
            Load(
                spec,
                LoadState(
                    level=rng.randrange(len(spec.levels)),
                    changed_at=now - timedelta(seconds=rng.randint(0, 600)),
                    previous_level=0,
                    power_kw=rng.choice([None, rng.uniform(0, spec.nominal_kw)]),
                ),
            )
            for spec in loads_specs
        ]
        reading = rng.uniform(0, 60)
        began = time.perf_counter()
        decide(loads, now=now, limit_kw=20.0, import_kw=reading, import_at=now)
        times.append((time.perf_counter() - began) * 1e6)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def main() -> None:
    """Run every policy over each seed and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-5", help="a range, e.g. 1-5")
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    report_machine("LPC keep-under-limit controller, 3-hour window, limit 6 kW")
    median_us, p99_us = decide_cost()
    report(f"decide() with 10 loads: median {median_us:.1f} µs, p99 {p99_us:.1f} µs")
    report()
    keys = ["ev", "water_heater", "heat_pump"]
    for seed in seeds:
        runs = [
            run("(a) none", seed, "none"),
            run("(b) all off", seed, "all_off"),
            run("(c) HP>WH>EV", seed, "control", ["heat_pump", "water_heater", "ev"]),
            run(
                "(c-) no grace/bo",
                seed,
                "control",
                ["heat_pump", "water_heater", "ev"],
                settings=BEFORE,
            ),
            run(
                "(c+) keep off",
                seed,
                "control",
                ["heat_pump", "water_heater", "ev"],
                settings=KEEP_OFF,
            ),
            run("(d) EV>HP>WH", seed, "control", ["ev", "heat_pump", "water_heater"]),
            run(
                "(d-) no grace/bo",
                seed,
                "control",
                ["ev", "heat_pump", "water_heater"],
                settings=BEFORE,
            ),
            run(
                "(d+) keep off",
                seed,
                "control",
                ["ev", "heat_pump", "water_heater"],
                settings=KEEP_OFF,
            ),
            run(
                "(d0) no peak",
                seed,
                "control",
                ["ev", "heat_pump", "water_heater"],
                use_peak=False,
            ),
            run(
                "(e) (d)+outage",
                seed,
                "control",
                ["ev", "heat_pump", "water_heater"],
                outage=True,
            ),
        ]
        free = runs[0].energy
        report(f"-- seed {seed}")
        report(
            f"{'':15} {'s>lim':>6} {'kWh>lim':>8} {'after':>6} "
            f"{'on/off ev/wh/hp':>16} {'setpts ev':>9} {'curtailed kWh ev/wh/hp':>23} "
            f"{'total':>6} {'min °C':>6} {'decide µs':>9} {'stale':>5}"
        )
        for res in runs:
            onoff = "/".join(str(res.onoff.get(k, 0)) for k in keys)
            curtailed = [free[k] - res.energy[k] for k in keys]
            cost = "-"
            if res.decide_us:
                times = sorted(res.decide_us)
                cost = f"{statistics.median(times):.0f}/{times[len(times) * 99 // 100]:.0f}"
            report(
                f"{res.name:15} {res.seconds_above:6d} {res.kwh_above:8.3f} "
                f"{res.kwh_above_after_reaction:6.3f} {onoff:>16} "
                f"{res.setpoints.get('ev', 0):9d} "
                f"{'/'.join(f'{c:.2f}' for c in curtailed):>23} {sum(curtailed):6.2f} "
                f"{res.min_indoor_c:6.2f} {cost:>9} {res.stale_decisions:5d}"
            )
        report()


if __name__ == "__main__":
    main()
