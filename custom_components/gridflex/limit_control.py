"""The "keep under limit" controller's decision core.

Pure: no Home Assistant, no I/O, no clock. Every call of ``decide`` gets the
time, the limit, the latest reading of the site's import and the state of
each load GridFlex may curtail, and returns what to do now. The Home
Assistant layer feeds it state changes and applies the actions to entities;
the benchmark (``benchmarks/lpc_control.py``) and the unit tests drive the
same function without Home Assistant.

**Loads.** A load is a ``LoadSpec`` (what the homeowner configured: how the
load is turned down) and a ``LoadState`` (what it does now). The ladder of a
load, ``LoadSpec.levels``, runs from level 0 (not curtailed: the state it had
before GridFlex took it) to its deepest curtailment; each level holds the
value to set and the most the load draws there (kW, consumption positive).
Levels that stop a contactor or a compressor are *hard*; they come after the
*soft* ones (a lower setpoint, a smaller temperature offset, a battery
discharging). The factories build the ladders:

- ``number_load``: a power or current setpoint (EV chargers: A, with volts
  times phases as the scale), from its maximum down by its step to its
  minimum (soft), then optionally its "stop" value (hard, e.g. 0 A);
- ``switch_load``: on (level 0) or off (hard), with its nominal power;
- ``climate_load``: the target temperature lowered by an offset (°C). With
  an estimated kW per °C, one soft level per offset step; without it, one
  hard level at the largest offset that sheds the nominal power (the
  compressor stops);
- ``battery_number_load`` / ``battery_select_load``: a battery discharging,
  through a discharge setpoint or a mode option; discharging counts as
  negative consumption.

**Priority.** ``decide`` takes the loads in priority order, the most
important first: the *last* load is curtailed first and restored last.

**What it does.** It keeps the measured import at or below the *target*,
the limit minus a margin (``LimitSettings.margin_fraction``, 5 % of the limit
by default):

- Above the target it sheds, lowest priority first. First only the soft
  levels of every load, each "just enough" (the smallest step that covers the
  excess), then the hard levels in the same order (``throttle_first``): an
  EV charger is turned down to its minimum current before a water heater is
  switched off, and switched off itself only when turning the others down
  does not suffice.
- Below the target by more than a hysteresis band (``hysteresis_fraction``,
  10 % of the limit, at least ``hysteresis_min_kw`` = 0.2 kW) it restores in
  the reverse order: loads switched off first, the most important first, then
  the ones turned down. The order is strict: when the next load in line does
  not fit (or waits for its dwell time) nothing behind it is restored. A
  restore counts the load at the most its level lets it draw, and loads that
  cycle on their own thermostat (switches and climates, ``thermostatic``) at
  their full power even while idle, so a restore never pushes the expected
  import above ``target - hysteresis``. While a load restored moments ago is
  still reacting (its ``reaction`` time), nothing else is restored. When the
  Home Assistant layer passes the recent peak of the rest of the home
  (``base_peak_kw``: the import minus the loads' measured power, the highest
  over the last minutes), a restore must also fit under that peak, so a load
  is not brought back in the pause of an appliance that cycles (an oven).
- Between ``target - hysteresis`` and the target nothing changes.

**Dwell time.** A load is never changed again before its dwell time since its
last change has passed: ``dwell`` for any change (defaults: 10 s for number
setpoints, 60 s for switches and battery modes, 300 s for climates) and
``switch_dwell`` for a change into or out of a hard level (defaults: 60 s
for number setpoints and switches and battery modes, 300 s for climates).
A load switched off (a hard level) stays off at least ``min_off`` (300 s for
every kind) before it is restored: a cycling appliance the controller does
not steer (an oven's thermostat) would otherwise switch a contactor on and off
with it. The one exception is the limit itself: when the import (with a
stale meter, its estimate) is above the limit, not just the target, by more
than ``hard_tolerance_kw`` (0 kW by default), shedding ignores the dwell
times. The margin and the dwell times protect comfort and equipment; the
limit is what the grid operator checks.

**Back-off.** A load that has to be switched off again after a restore under
the same limit waits longer before the next restore: its ``min_off`` is
multiplied by ``LimitSettings.min_off_backoff`` (2 by default) for every
switch-off after the first, up to ``min_off_max`` (60 min by default): 5, 10,
20, 40, 60 minutes. ``LoadState.hard_sheds`` says how many times GridFlex
switched the load off since the limit came into force (0 by default: no
back-off); the Home Assistant layer counts them and sets the count back to 0
when no limit is in force any more. A house that keeps stepping over the
limit (a kettle, then an oven, then a dishwasher) then costs a contactor fewer
switchings per window. ``min_off_backoff`` 1 turns the back-off off. With
``keep_off`` (off by default) a load switched off is not restored before the
limit ends: at most one switch-off and one switch-on per load and window, for
a homeowner who counts contactor operations more than energy.

**Margin band.** An excess that stays inside the margin (the import above the
target but not above the limit) is first met with soft levels only: for
``band_grace`` (180 s by default) after the import went above the target
(``over_target_since``, given by the caller; ``None``, the default, means no
grace), no load is switched off for it, so a kettle or an oven's heating
cycle on top of a steady home does not cost a switching while the limit
holds. Above the limit, or with a stale meter, there is no grace.

**Changes still on their way.** A device reacts some seconds after it is
told to (an EV charger ~5 s, a heat pump a minute): for its ``reaction``
time after a curtailment (defaults: 15 s for number setpoints and battery
modes, 5 s for switches, 120 s for climates) a load still drawing more than
its new level allows counts at that level's power, and one without a power
reading counts with the reduction from its previous level as on its way. So
the meter's lag does not make the controller shed more than needed. After
that time a load counts at what it draws, even above its level (a heat pump
that starts again at its lowered target), and the others make up for it.

**Stale meter.** When the import reading is missing or older than
``stale_after`` (30 s by default), the controller assumes the worst: every
load at the nominal power of its level, plus the part of the last reading
that no load explains. It sheds until that fits, restores nothing, and says
``stale`` in the decision so the Home Assistant layer can raise a repair.

**Override.** A load the homeowner changed by hand (``LoadState.overridden``)
is released (one ``release`` action while GridFlex still holds it at a level
above 0; the Home Assistant layer then records level 0) and then left alone;
its power still counts, at its reading or, when unknown, at its nominal
power, and the other loads make up for it.

**No limit.** With no limit in force every load still curtailed is restored
to level 0 at once (dwell times do not apply: the window is over).

When the loads cannot do more (all at their deepest level, or held by their
dwell time), ``Decision.shortfall_kw`` says how far the expected import stays
above the target. A load whose measured power is unknown counts at the
nominal power of its level. A limit on one resource (ResourceLPC) uses the same function with that
resource as the only load and its own power as the "import".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
import math
from typing import Final

_EPSILON: Final = 1e-9


class LoadKind(StrEnum):
    """How a load is turned down (the domain of its control entity)."""

    NUMBER = "number"
    SWITCH = "switch"
    CLIMATE = "climate"
    SELECT = "select"


class ActionKind(StrEnum):
    """What an action does to a load."""

    CURTAIL = "curtail"
    RESTORE = "restore"
    RELEASE = "release"


class Reason(StrEnum):
    """Why an action was taken."""

    OVER_TARGET = "over_target"
    """The import is above the limit minus the margin; dwell times respected."""
    OVER_LIMIT = "over_limit"
    """The import is above the limit (plus the hard tolerance): dwell times bypassed."""
    STALE_METER = "stale_meter"
    """No fresh meter reading: shed until the nominal sum fits."""
    HEADROOM = "headroom"
    """The import is below the target by more than the hysteresis band."""
    NO_LIMIT = "no_limit"
    """No limit is in force any more."""
    OVERRIDDEN = "overridden"
    """The homeowner changed the load by hand."""


DEFAULT_DWELL: Final[dict[LoadKind, timedelta]] = {
    LoadKind.NUMBER: timedelta(seconds=10),
    LoadKind.SWITCH: timedelta(seconds=60),
    LoadKind.CLIMATE: timedelta(seconds=300),
    LoadKind.SELECT: timedelta(seconds=60),
}
"""Least time between two changes of a load."""
DEFAULT_SWITCH_DWELL: Final[dict[LoadKind, timedelta]] = {
    LoadKind.NUMBER: timedelta(seconds=60),
    LoadKind.SWITCH: timedelta(seconds=60),
    LoadKind.CLIMATE: timedelta(seconds=300),
    LoadKind.SELECT: timedelta(seconds=60),
}
"""Least time before a change into or out of a hard level (a contactor or compressor)."""
DEFAULT_MIN_OFF: Final = timedelta(seconds=300)
"""Least time a load switched off (a hard level) stays off before it is restored."""
DEFAULT_REACTION: Final[dict[LoadKind, timedelta]] = {
    LoadKind.NUMBER: timedelta(seconds=15),
    LoadKind.SWITCH: timedelta(seconds=5),
    LoadKind.CLIMATE: timedelta(seconds=120),
    LoadKind.SELECT: timedelta(seconds=15),
}
"""How long a device takes to follow a change (after it, the meter shows it)."""

type LevelValue = float | str | None
"""What to set: a setpoint (number), ``"off"`` (switch), an offset in °C
(climate), an option (select); ``None`` at level 0 (the state before GridFlex)."""


@dataclass(frozen=True, slots=True)
class Level:
    """One step of a load's ladder."""

    value: LevelValue
    power_kw: float
    """The most the load draws at this level (kW, consumption positive)."""
    hard: bool = False
    """It stops a contactor or a compressor."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """A load as the homeowner configured it."""

    key: str
    kind: LoadKind
    levels: tuple[Level, ...]
    """Level 0 (not curtailed) first; soft levels before hard ones."""
    dwell: timedelta
    switch_dwell: timedelta
    reaction: timedelta
    min_off: timedelta = DEFAULT_MIN_OFF
    """Least time at a hard level before a restore out of it."""
    thermostatic: bool = False
    """It cycles on its own thermostat: reserve its full power before restoring others."""
    soft_count: int = field(init=False)
    """How many levels (level 0 included) are soft."""

    def __post_init__(self) -> None:
        """Check the ladder and count its soft levels."""
        if not self.levels or self.levels[0].hard:
            raise ValueError("a load needs a soft level 0")
        soft = next(
            (i for i, lv in enumerate(self.levels) if lv.hard), len(self.levels)
        )
        if any(not lv.hard for lv in self.levels[soft:]):
            raise ValueError("hard levels must come after the soft ones")
        object.__setattr__(self, "soft_count", soft)

    @property
    def nominal_kw(self) -> float:
        """The most the load draws when not curtailed."""
        return self.levels[0].power_kw


def _spec(
    key: str,
    kind: LoadKind,
    levels: list[Level],
    *,
    dwell: timedelta | None,
    switch_dwell: timedelta | None,
    reaction: timedelta | None,
    thermostatic: bool,
) -> LoadSpec:
    return LoadSpec(
        key=key,
        kind=kind,
        levels=tuple(levels),
        dwell=DEFAULT_DWELL[kind] if dwell is None else dwell,
        switch_dwell=DEFAULT_SWITCH_DWELL[kind]
        if switch_dwell is None
        else switch_dwell,
        reaction=DEFAULT_REACTION[kind] if reaction is None else reaction,
        thermostatic=thermostatic,
    )


def kw_per_amp(volts: float = 230.0, phases: int = 1) -> float:
    """The ``kw_per_unit`` of a current setpoint: volts x phases / 1000."""
    return volts * phases / 1000


def number_load(
    key: str,
    *,
    minimum: float,
    maximum: float,
    step: float,
    kw_per_unit: float = 1.0,
    stop_value: float | None = None,
    dwell: timedelta | None = None,
    switch_dwell: timedelta | None = None,
    reaction: timedelta | None = None,
) -> LoadSpec:
    """A consumer with a power or current setpoint (an EV charger).

    ``kw_per_unit``: 1 for a setpoint in kW, 0.001 in W, volts x phases /
    1000 in A (3 phases at 230 V: 0.69 kW per A). Levels: the maximum (level
    0), then down by ``step`` to ``minimum`` (soft), then ``stop_value`` (hard)
    when the setpoint can stop the load (an EV charger at 0 A).
    """
    if step <= 0 or maximum < minimum:
        raise ValueError("a number load needs step > 0 and maximum >= minimum")
    levels = [Level(None, maximum * kw_per_unit)]
    count = math.ceil((maximum - minimum) / step - _EPSILON)
    levels.extend(
        Level(round(minimum + k * step, 6), (minimum + k * step) * kw_per_unit)
        for k in range(count - 1, -1, -1)
    )
    if stop_value is not None:
        levels.append(Level(stop_value, stop_value * kw_per_unit, hard=True))
    return _spec(
        key,
        LoadKind.NUMBER,
        levels,
        dwell=dwell,
        switch_dwell=switch_dwell,
        reaction=reaction,
        thermostatic=False,
    )


def switch_load(
    key: str,
    *,
    nominal_kw: float,
    off_kw: float = 0.0,
    dwell: timedelta | None = None,
    reaction: timedelta | None = None,
    thermostatic: bool = True,
) -> LoadSpec:
    """A load on a switch (a water heater, a boiler): on, or off (hard)."""
    levels = [Level(None, nominal_kw), Level("off", off_kw, hard=True)]
    return _spec(
        key,
        LoadKind.SWITCH,
        levels,
        dwell=dwell,
        switch_dwell=dwell,
        reaction=reaction,
        thermostatic=thermostatic,
    )


def climate_load(
    key: str,
    *,
    nominal_kw: float,
    kw_per_degree: float | None = None,
    max_offset: float = 3.0,
    offset_step: float = 1.0,
    dwell: timedelta | None = None,
    reaction: timedelta | None = None,
) -> LoadSpec:
    """A heat pump turned down by lowering its target temperature.

    Values are the offsets in °C (negative). With ``kw_per_degree`` each
    offset step sheds that much (soft; the step that reaches 0 kW is hard);
    without it, one hard level at ``-max_offset`` sheds the nominal power.
    """
    levels = [Level(None, nominal_kw)]
    if kw_per_degree is None:
        levels.append(Level(-max_offset, 0.0, hard=True))
    else:
        count = math.ceil(max_offset / offset_step - _EPSILON)
        for k in range(1, count + 1):
            offset = min(k * offset_step, max_offset)
            power = max(0.0, nominal_kw - kw_per_degree * offset)
            levels.append(Level(-round(offset, 6), power, hard=power <= _EPSILON))
            if power <= _EPSILON:
                break
    return _spec(
        key,
        LoadKind.CLIMATE,
        levels,
        dwell=dwell,
        switch_dwell=dwell,
        reaction=reaction,
        thermostatic=True,
    )


def battery_number_load(
    key: str,
    *,
    max_discharge_kw: float,
    step_kw: float,
    nominal_kw: float = 0.0,
    dwell: timedelta | None = None,
    reaction: timedelta | None = None,
) -> LoadSpec:
    """A battery told to discharge through a setpoint (kW, discharge positive).

    ``nominal_kw``: the most it charges when left alone (counted while its
    power is unknown). All levels are soft: step by step up to the maximum
    discharge.
    """
    if step_kw <= 0:
        raise ValueError("a battery load needs step_kw > 0")
    levels = [Level(None, nominal_kw)]
    count = math.ceil(max_discharge_kw / step_kw - _EPSILON)
    for k in range(1, count + 1):
        value = min(k * step_kw, max_discharge_kw)
        levels.append(Level(round(value, 6), -value))
    return _spec(
        key,
        LoadKind.NUMBER,
        levels,
        dwell=dwell,
        switch_dwell=dwell,
        reaction=reaction,
        thermostatic=False,
    )


def battery_select_load(
    key: str,
    *,
    option: str,
    discharge_kw: float,
    nominal_kw: float = 0.0,
    dwell: timedelta | None = None,
    reaction: timedelta | None = None,
) -> LoadSpec:
    """A battery told to discharge through a mode option (soft: no contactor)."""
    levels = [Level(None, nominal_kw), Level(option, -discharge_kw)]
    return _spec(
        key,
        LoadKind.SELECT,
        levels,
        dwell=dwell,
        switch_dwell=dwell,
        reaction=reaction,
        thermostatic=False,
    )


@dataclass(frozen=True, slots=True)
class LoadState:
    """What a load does now, as the Home Assistant layer knows it."""

    level: int = 0
    """The level GridFlex holds it at (0: not curtailed)."""
    changed_at: datetime | None = None
    """When GridFlex last changed its level (``None``: never in this window)."""
    previous_level: int | None = None
    """Its level before that change."""
    power_kw: float | None = None
    """Its measured power (kW, consumption positive); ``None`` when unknown."""
    overridden: bool = False
    """The homeowner changed it by hand: release it and leave it alone."""
    hard_sheds: int = 0
    """How many times GridFlex switched it off (into a hard level) since the
    limit came into force, the current time included while it is off; each one
    after the first lengthens ``min_off`` (see ``LimitSettings.min_off_backoff``)."""


@dataclass(frozen=True, slots=True)
class Load:
    """One load given to ``decide``."""

    spec: LoadSpec
    state: LoadState


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """The controller's tuning (the defaults are the documented ones)."""

    margin_fraction: float = 0.05
    margin_kw: float | None = None
    """A fixed margin (kW) instead of the fraction of the limit."""
    hysteresis_fraction: float = 0.10
    hysteresis_min_kw: float = 0.2
    stale_after: timedelta = timedelta(seconds=30)
    hard_tolerance_kw: float = 0.0
    throttle_first: bool = True
    band_grace: timedelta = timedelta(seconds=180)
    """How long an excess inside the margin band (above the target, not above
    the limit) is met with soft levels only before a load is switched off."""
    min_off_backoff: float = 2.0
    """``min_off`` is multiplied by this for every switch-off after the first in a window."""
    min_off_max: timedelta = timedelta(minutes=60)
    """The longest ``min_off`` the back-off reaches (never below the load's own ``min_off``)."""
    keep_off: bool = False
    """A load switched off stays off until no limit is in force (one switch-off per window)."""


_DEFAULT_SETTINGS: Final = LimitSettings()


@dataclass(frozen=True, slots=True)
class Action:
    """One change to apply to a load."""

    key: str
    kind: ActionKind
    level: int
    value: LevelValue
    """What to set (``None``: back to the state before GridFlex took it)."""
    expected_kw: float
    """The load's expected power once the change has taken effect."""
    reason: Reason
    detail: str
    """A sentence for the log."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``decide`` returns."""

    actions: tuple[Action, ...]
    expected_import_kw: float | None
    """The import expected once the actions (and those on their way) have taken effect."""
    target_kw: float | None
    """The limit minus the margin (``None`` without a limit)."""
    stale: bool
    """The meter reading is missing or too old."""
    shortfall_kw: float = 0.0
    """How far the expected import stays above the target (the loads cannot do more now)."""


def min_off_for(
    spec: LoadSpec, hard_sheds: int, settings: LimitSettings | None = None
) -> timedelta:
    """The least time off before a restore after the ``hard_sheds``-th switch-off."""
    settings = settings or _DEFAULT_SETTINGS
    extra = hard_sheds - 1
    base = spec.min_off.total_seconds()
    if extra <= 0 or settings.min_off_backoff <= 1.0 or base <= 0:
        return spec.min_off
    cap = max(spec.min_off, settings.min_off_max)
    if extra * math.log(settings.min_off_backoff) >= math.log(
        cap.total_seconds() / base
    ):
        return cap
    return timedelta(seconds=base * settings.min_off_backoff**extra)


def _dwell_passed(
    spec: LoadSpec,
    state: LoadState,
    new: int,
    now: datetime,
    settings: LimitSettings,
) -> bool:
    """Whether the load's dwell time allows moving it to level ``new`` now."""
    if state.changed_at is None:
        return True
    need = spec.dwell
    if spec.levels[state.level].hard or spec.levels[new].hard:
        need = max(need, spec.switch_dwell)
    if spec.levels[state.level].hard and new < state.level:
        need = max(need, min_off_for(spec, state.hard_sheds, settings))
    return now - state.changed_at >= need


@dataclass(slots=True)
class _Round:
    """The working state of one ``decide`` call."""

    loads: Sequence[Load]
    now: datetime
    settings: LimitSettings
    levels: list[int]
    """Each load's level now (clamped to its ladder)."""
    power: list[float]
    """Each load's power once what is on its way has taken effect."""
    controlled: list[bool]
    """GridFlex may move it (not overridden)."""
    actions: list[Action]
    moved: list[int] = field(default_factory=list)
    """The loads moved, in the order they were moved."""

    @classmethod
    def start(
        cls, loads: Sequence[Load], now: datetime, settings: LimitSettings
    ) -> _Round:
        """Clamp the levels and release the loads changed by hand."""
        levels = [min(ld.state.level, len(ld.spec.levels) - 1) for ld in loads]
        actions = [
            Action(
                ld.spec.key,
                ActionKind.RELEASE,
                0,
                None,
                ld.spec.nominal_kw if ld.state.power_kw is None else ld.state.power_kw,
                Reason.OVERRIDDEN,
                f"{ld.spec.key} changed by hand: released",
            )
            for ld, level in zip(loads, levels, strict=True)
            if ld.state.overridden and level > 0
        ]
        count = len(loads)
        return cls(
            loads=loads,
            now=now,
            settings=settings,
            levels=levels,
            power=[0.0] * count,
            controlled=[not ld.state.overridden for ld in loads],
            actions=actions,
        )

    def cap(self, i: int, level: int | None = None) -> float:
        """The most load ``i`` draws at ``level`` (its current level by default)."""
        spec = self.loads[i].spec
        return spec.levels[self.levels[i] if level is None else level].power_kw

    def estimate(self) -> float:
        """Fill ``power``; return the reduction still on its way (kW)."""
        pending = 0.0
        for i, ld in enumerate(self.loads):
            state = ld.state
            if not self.controlled[i]:
                self.power[i] = (
                    ld.spec.nominal_kw if state.power_kw is None else state.power_kw
                )
                continue
            cap = self.cap(i)
            prev = state.previous_level
            reacting = (
                prev is not None
                and prev < self.levels[i]
                and state.changed_at is not None
                and self.now - state.changed_at < ld.spec.reaction
            )
            if state.power_kw is None:
                self.power[i] = cap
                if reacting:
                    assert prev is not None
                    pending += max(0.0, self.cap(i, prev) - cap)
            elif reacting:
                self.power[i] = min(state.power_kw, cap)
                pending += state.power_kw - self.power[i]
            else:
                self.power[i] = state.power_kw
        return pending

    def assume_nominal(self, import_kw: float | None, pending: float) -> float:
        """The stale-meter estimate: the unexplained part of the last reading plus every load at nominal."""
        base = (
            0.0
            if import_kw is None
            else max(0.0, import_kw - pending - sum(self.power))
        )
        for i, ld in enumerate(self.loads):
            self.power[i] = (
                self.cap(i)
                if self.controlled[i]
                else max(self.power[i], ld.spec.nominal_kw)
            )
        return base + sum(self.power)

    def shed(
        self,
        excess: float,
        *,
        bypass_dwell: bool,
        throttle_first: bool,
        soft_only: bool = False,
    ) -> float:
        """Shed lowest priority first, just enough; return the excess left."""
        new_levels = list(self.levels)
        passes = (True,) if soft_only else (True, False) if throttle_first else (False,)
        for soft_pass in passes:
            for i in range(len(self.loads) - 1, -1, -1):
                if excess <= _EPSILON:
                    break
                if not self.controlled[i]:
                    continue
                spec = self.loads[i].spec
                deepest = spec.soft_count - 1 if soft_pass else len(spec.levels) - 1
                chosen, gain = self._deeper(i, new_levels[i], deepest, excess)
                if gain <= _EPSILON:
                    continue
                if not bypass_dwell and not _dwell_passed(
                    spec, self.loads[i].state, chosen, self.now, self.settings
                ):
                    continue
                new_levels[i] = chosen
                self.power[i] -= gain
                excess -= gain
                if i not in self.moved:
                    self.moved.append(i)
        self.levels = new_levels
        return excess

    def _deeper(
        self, i: int, cur: int, deepest: int, excess: float
    ) -> tuple[int, float]:
        """The shallowest level in (cur, deepest] that covers ``excess`` (else the deepest) and its gain."""
        levels = self.loads[i].spec.levels
        power = self.power[i]
        chosen, gain = cur, 0.0
        for j in range(cur + 1, deepest + 1):
            chosen = j
            gain = power - min(levels[j].power_kw, power)
            if gain >= excess - _EPSILON:
                break
        return chosen, gain

    def restore_settling(self) -> bool:
        """Whether a load restored moments ago is still reacting."""
        for i, ld in enumerate(self.loads):
            state = ld.state
            if (
                self.controlled[i]
                and state.previous_level is not None
                and state.previous_level > state.level
                and state.changed_at is not None
                and self.now - state.changed_at < ld.spec.reaction
            ):
                return True
        return False

    def restore(self, expected: float, ceiling: float, peak_extra: float) -> float:
        """Restore in reverse shed order while it fits under ``ceiling``.

        ``peak_extra``: how much more the rest of the home drew lately than now.
        Returns the import expected after the restores.
        """
        count = len(self.loads)
        # Thermostatic loads may start on their own: count them at their level's power.
        reserved = [
            max(self.power[i], self.cap(i))
            if self.controlled[i] and ld.spec.thermostatic
            else self.power[i]
            for i, ld in enumerate(self.loads)
        ]
        room = (
            ceiling
            - expected
            - peak_extra
            - sum(reserved[i] - self.power[i] for i in range(count))
        )
        curtailed = [
            i for i in range(count) if self.controlled[i] and self.levels[i] > 0
        ]
        hard = [i for i in curtailed if self.levels[i] >= self.loads[i].spec.soft_count]
        soft = [i for i in curtailed if i not in hard]
        # Kept off until the limit ends: out of the line, not blocking it.
        order = soft if self.settings.keep_off else hard + soft
        for i in order:
            spec = self.loads[i].spec
            cur = self.levels[i]
            chosen = next(
                (
                    j
                    for j in range(cur)
                    if spec.levels[j].power_kw - reserved[i] <= room + _EPSILON
                ),
                cur,
            )
            if chosen == cur or not _dwell_passed(
                spec, self.loads[i].state, chosen, self.now, self.settings
            ):
                break
            power = max(spec.levels[chosen].power_kw, self.power[i])
            room -= max(0.0, spec.levels[chosen].power_kw - reserved[i])
            expected += power - self.power[i]
            self.levels[i] = chosen
            self.power[i] = power
            self.moved.append(i)
            if chosen > 0:
                break
        return expected

    def changes(self, before: list[int], reason: Reason, detail: str) -> None:
        """Add one action per load moved, in the order they were moved."""
        for i in self.moved:
            level = self.levels[i]
            spec = self.loads[i].spec
            self.actions.append(
                Action(
                    spec.key,
                    ActionKind.CURTAIL if level > before[i] else ActionKind.RESTORE,
                    level,
                    spec.levels[level].value,
                    self.power[i],
                    reason,
                    f"{detail}: {spec.key} to level {level}",
                )
            )


def target_kw(limit_kw: float, settings: LimitSettings | None = None) -> float:
    """The limit minus the margin: the import ``decide`` keeps to."""
    settings = settings or _DEFAULT_SETTINGS
    margin = (
        settings.margin_kw
        if settings.margin_kw is not None
        else settings.margin_fraction * limit_kw
    )
    return limit_kw - margin


def decide(
    loads: Sequence[Load],
    *,
    now: datetime,
    limit_kw: float | None,
    import_kw: float | None,
    import_at: datetime | None,
    settings: LimitSettings | None = None,
    base_peak_kw: float | None = None,
    over_target_since: datetime | None = None,
) -> Decision:
    """Decide what to change now to keep the import under the limit.

    ``loads`` in priority order, the most important first. ``import_kw`` is
    the site's measured import (kW, export negative) read at ``import_at``.
    ``base_peak_kw``, when given, is the highest import of the rest of the
    home (the import minus the loads' measured power) over the last few
    minutes: a restore must fit under it too. ``over_target_since``, when
    given, is when the measured import last went above the target (``None``
    while it is not above it): for ``LimitSettings.band_grace`` after that, an
    excess that stays under the limit is met with soft levels only.
    """
    settings = settings or _DEFAULT_SETTINGS
    work = _Round.start(loads, now, settings)
    if limit_kw is None:
        return _restore_all(work, import_kw)

    target = target_kw(limit_kw, settings)
    hysteresis = max(
        settings.hysteresis_fraction * limit_kw, settings.hysteresis_min_kw
    )
    stale = (
        import_kw is None or import_at is None or now - import_at > settings.stale_after
    )

    pending = work.estimate()
    if stale:
        expected = work.assume_nominal(import_kw, pending)
    else:
        assert import_kw is not None
        expected = import_kw - pending

    before = list(work.levels)
    excess = expected - target
    shortfall = 0.0
    expected_after = expected
    if excess > _EPSILON:
        hard_mode = expected > limit_kw + settings.hard_tolerance_kw + _EPSILON
        in_grace = (
            not hard_mode
            and not stale
            and over_target_since is not None
            and now - over_target_since < settings.band_grace
        )
        left = work.shed(
            excess,
            bypass_dwell=hard_mode,
            throttle_first=settings.throttle_first,
            soft_only=in_grace,
        )
        reason = (
            Reason.STALE_METER
            if stale
            else (Reason.OVER_LIMIT if hard_mode else Reason.OVER_TARGET)
        )
        work.changes(
            before, reason, f"import {expected:.2f} kW above the target {target:.2f} kW"
        )
        shortfall = max(0.0, left)
        expected_after = target + left
    elif not stale and -excess > hysteresis + _EPSILON and not work.restore_settling():
        with_peak = (
            expected
            if base_peak_kw is None
            else max(expected, base_peak_kw + sum(work.power))
        )
        expected_after = work.restore(
            expected, target - hysteresis, with_peak - expected
        )
        work.changes(
            before,
            Reason.HEADROOM,
            f"import {expected:.2f} kW leaves room under {target:.2f} kW",
        )
    return Decision(
        actions=tuple(work.actions),
        expected_import_kw=expected_after,
        target_kw=target,
        stale=stale,
        shortfall_kw=shortfall,
    )


def _restore_all(work: _Round, import_kw: float | None) -> Decision:
    """No limit in force: every load GridFlex holds goes back to level 0."""
    added = 0.0
    for i, ld in enumerate(work.loads):
        level = work.levels[i]
        if level == 0 or not work.controlled[i]:
            continue
        nominal = ld.spec.nominal_kw
        current = work.cap(i) if ld.state.power_kw is None else ld.state.power_kw
        added += max(0.0, nominal - current)
        work.actions.append(
            Action(
                ld.spec.key,
                ActionKind.RESTORE,
                0,
                None,
                nominal,
                Reason.NO_LIMIT,
                f"no limit in force: {ld.spec.key} restored",
            )
        )
    return Decision(
        actions=tuple(work.actions),
        expected_import_kw=None if import_kw is None else import_kw + added,
        target_kw=None,
        stale=False,
    )
