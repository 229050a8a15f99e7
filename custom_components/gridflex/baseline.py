"""Baselines: the expected active power of the next quarter-hours, and their accuracy.

Pure forecasting, no Home Assistant: the input is a history of quarter-hour
average power (kW, keyed by the quarter's UTC start), the output one value
per coming quarter-hour.

Method (``forecast``), for each target quarter-hour ``t``:

1. **Profile.** The same local time of day on each of the previous
   ``PROFILE_DAYS`` (21) days, each with its ``NEIGHBOURS`` (2) quarter-hours
   either side at ``NEIGHBOUR_WEIGHT`` (half) weight: a smoothing in time,
   since the kettle or the oven rarely runs at the very same quarter-hour
   twice. Each day weighs by how alike it is to ``t``'s day: the same
   weekday ``SAME_WEEKDAY_WEIGHT`` (2), the same kind of day (Monday to
   Friday, or the weekend) ``SAME_KIND_WEIGHT`` (1), the other kind
   ``OTHER_KIND_WEIGHT`` (0.5). The profile value is the weighted *median*
   of those values: the platform scores baselines by mean absolute error,
   and a median minimises it (a household's load is spiky; a mean is pulled
   up by the odd kettle). Missing days or quarter-hours simply drop out.
2. **Recent level.** ``LEVEL_WEIGHT`` (0.4) times the median difference
   between what happened over the last ``LEVEL_QUARTERS`` (4, one hour) and
   what the profile said for those quarters is added to the forecast, fading
   out with lead time (``exp(-lead / LEVEL_DECAY_QUARTERS)``, 4 quarters): a
   home that is busier than usual now is likely to stay so for a while, not
   for tomorrow. The median and the partial weight keep one kettle or oven
   from being carried forward.

The weights were chosen on ``benchmarks/baseline_accuracy.py`` (two
simulated households, several seeds each, checked on seeds not used to
choose them); see benchmarks/README.md.

With less than ``MIN_PROFILE_DAYS`` (3) days of history the forecast is flat:
the mean of the last 24 hours that have data (or of whatever there is), and
its confidence is ``low``. Without any history it is flat zero, ``none``.
Days are local days (the home's time zone), so the profile follows daylight
saving time.

Accuracy (``normalised_mae``): the platform's "Baselines too inaccurate"
measure is the mean absolute error divided by the mean absolute actual power
over the same quarter-hours (flagged above 0.75): ``sum |b - a| / sum |a|``
over the quarter-hours that have both a baseline and a measurement.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from itertools import accumulate
import math
import statistics
from typing import Final, cast

QUARTER: Final = timedelta(minutes=15)
HORIZON: Final = 96
"""Quarter-hours posted each time: 24 hours, as the platform recommends."""
PROFILE_DAYS: Final = 21
FULL_PROFILE_DAYS: Final = 14
"""Days of history from which the confidence is ``high``: every weekday twice."""
MIN_PROFILE_DAYS: Final = 3
SAME_WEEKDAY_WEIGHT: Final = 2.0
SAME_KIND_WEIGHT: Final = 1.0
OTHER_KIND_WEIGHT: Final = 0.5
NEIGHBOURS: Final = 2
NEIGHBOUR_WEIGHT: Final = 0.5
LEVEL_QUARTERS: Final = 4
LEVEL_DECAY_QUARTERS: Final = 4.0
LEVEL_WEIGHT: Final = 0.4
HISTORY_DAYS: Final = PROFILE_DAYS + 1
"""How much history ``forecast`` looks at."""
INACCURATE_ABOVE: Final = 0.75
"""The platform's health check flags a normalised MAE above this."""
_DAY: Final = 96


class Confidence(StrEnum):
    """How much history the forecast stands on."""

    HIGH = "high"
    """At least two weeks of history: the weekday profile is complete."""
    MEDIUM = "medium"
    """Three days to two weeks: a time-of-day profile, some weekdays missing."""
    LOW = "low"
    """Less than three days: a flat recent average."""
    NONE = "none"
    """No history at all: zero."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """The expected power of consecutive quarter-hours from ``start``."""

    start: datetime
    values_kw: tuple[float, ...]
    confidence: Confidence

    def at(self, moment: datetime) -> float | None:
        """Return the value of the quarter-hour ``moment`` falls in, if covered."""
        index = int((moment - self.start) // QUARTER)
        if 0 <= index < len(self.values_kw):
            return self.values_kw[index]
        return None

    def starts(self) -> list[datetime]:
        """Return the start of each quarter-hour of the forecast."""
        return [self.start + QUARTER * i for i in range(len(self.values_kw))]


def quarter_floor(moment: datetime) -> datetime:
    """Return the start of the quarter-hour ``moment`` is in (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(
        minute=moment.minute - moment.minute % 15, second=0, microsecond=0
    )


def _weighted_median(values: list[float], weights: list[float]) -> float:
    """The first value (in order) at which the running weight reaches half.

    Sorting the positions by value (rather than (value, weight) pairs) keeps
    the work in C; among equal values the one returned is the same.
    """
    order = sorted(range(len(values)), key=values.__getitem__)
    running = list(accumulate(map(weights.__getitem__, order)))
    return values[order[bisect_left(running, running[-1] / 2)]]


def _day_weight(weekday: int, other: int) -> float:
    """How much a day of weekday ``other`` tells about a day of ``weekday``."""
    if weekday == other:
        return SAME_WEEKDAY_WEIGHT
    if (weekday >= 5) == (other >= 5):
        return SAME_KIND_WEIGHT
    return OTHER_KIND_WEIGHT


_SHIFTS: Final = tuple(range(-NEIGHBOURS, NEIGHBOURS + 1))
_WIDTH: Final = len(_SHIFTS)
_DST_MARGIN: Final = 8
"""Quarter-hours a profile tap may land beside "96 k earlier" across a change
of UTC offset (a daylight saving change moves it by 4)."""


@dataclass(frozen=True, slots=True)
class _Taps:
    """The profile's taps of one local day, relative to a target's ``wall``."""

    first: int
    """Without a change of UTC offset: where the oldest day's window starts."""
    starts: list[int] | None
    """With one: where each day's window starts (newest first)."""
    weights: list[float]
    """Each tap's weight, in the order the taps are read."""


class _Lookup:
    """The history as a list by quarter-hour number, and the profile's taps.

    A list with integer positions keeps the many lookups of a forecast cheap
    (slices instead of one lookup per value). For a target on local day
    ``D`` at local wall-clock quarter ``wall`` (numbered as if local time
    were UTC), the values of ``k`` days earlier are the ``2 NEIGHBOURS + 1``
    quarters around ``wall - 96 k - offset(D - k)``: the taps of ``D`` are
    those positions (relative to ``wall``) with their weights, worked out
    once per local day.
    """

    def __init__(
        self, history: Mapping[int, float], first: int, horizon: int, zone: tzinfo
    ) -> None:
        self.first = first
        self.origin = first - (PROFILE_DAYS + 2) * _DAY
        self.series: list[float | None] = [None] * (
            first + horizon + 2 * _DAY - self.origin
        )
        for index, value in history.items():
            if self.origin <= index < first:
                self.series[index - self.origin] = value
        self.gaps = None in self.series[: first - self.origin]
        self.zone = zone
        self._taps: dict[date, _Taps] = {}

    def _offset(self, day: date) -> int:
        """The zone's UTC offset on ``day`` (at noon), in quarter-hours."""
        moment = datetime.combine(day, time(12), self.zone)
        return (moment.utcoffset() or timedelta()) // QUARTER

    def taps(self, today: date) -> _Taps:
        """Where the windows of the earlier days start, and their weights."""
        if (known := self._taps.get(today)) is None:
            weekday = today.weekday()
            days = range(1, PROFILE_DAYS + 1)
            offsets = [self._offset(today - timedelta(days=k)) for k in days]
            starts = [
                -_DAY * k - offset - NEIGHBOURS - self.origin
                for k, offset in zip(days, offsets, strict=True)
            ]
            day_weights = [
                _day_weight(weekday, (today - timedelta(days=k)).weekday())
                for k in days
            ]
            shift_weights = [
                1.0 if shift == 0 else NEIGHBOUR_WEIGHT for shift in _SHIFTS
            ]
            if len(set(offsets)) == 1:
                # No change of UTC offset in the window: one slice per shift
                # (every 96th quarter, oldest day first) takes all the days.
                known = _Taps(
                    starts[-1],
                    None,
                    [w * s for s in shift_weights for w in reversed(day_weights)],
                )
            else:
                known = _Taps(
                    0,
                    starts,
                    [w * s for w in day_weights for s in shift_weights],
                )
            self._taps[today] = known
        return known

    def profile(self, target: datetime) -> float | None:
        """The weighted median of the target's taps that have a value."""
        local = target.astimezone(self.zone)
        wall = _index(local.replace(tzinfo=UTC))
        series = self.series
        taps = self.taps(local.date())
        values: list[float | None] = []
        extend = values.extend
        if taps.starts is None:
            first = wall + taps.first
            end = first + _DAY * PROFILE_DAYS
            for shift in range(_WIDTH):
                extend(series[first + shift : end + shift : _DAY])
        else:
            for start in taps.starts:
                at = wall + start
                extend(series[at : at + _WIDTH])
        weights = taps.weights
        if self.gaps or _index(target) - _DAY + NEIGHBOURS + _DST_MARGIN >= self.first:
            # Missing quarters, or a target more than a day ahead (its
            # nearest days are partly not there yet): keep the known ones.
            known = [
                (value, weight)
                for value, weight in zip(values, weights, strict=True)
                if value is not None
            ]
            if not known:
                return None
            values = [value for value, _ in known]
            weights = [weight for _, weight in known]
        return _weighted_median(cast("list[float]", values), weights)


def _index(moment: datetime) -> int:
    """The number of the quarter-hour ``moment`` starts (UTC)."""
    return int(moment.timestamp()) // 900


def _flat(
    values: Mapping[int, float], first: int, start: datetime, horizon: int
) -> Forecast:
    if not values:
        return Forecast(start, (0.0,) * horizon, Confidence.NONE)
    recent = [
        value for index, value in values.items() if index >= first - _DAY
    ] or list(values.values())
    level = sum(recent) / len(recent)
    return Forecast(start, (level,) * horizon, Confidence.LOW)


def forecast(
    history: Mapping[datetime, float],
    start: datetime,
    zone: tzinfo,
    horizon: int = HORIZON,
) -> Forecast:
    """Forecast ``horizon`` quarter-hours from ``start`` (a UTC quarter-hour).

    ``history`` maps quarter-hour starts (UTC) before ``start`` to their
    average power in kW; quarters without data are simply absent. Values
    from ``start`` on are ignored.
    """
    first = _index(start)
    values = {
        int(moment.timestamp()) // 900: value for moment, value in history.items()
    }
    if values and max(values) >= first:
        values = {index: value for index, value in values.items() if index < first}
    # Distinct days before ``start`` (counted back from it) with any data.
    days = len({(first - index) // _DAY for index in values})
    if days < MIN_PROFILE_DAYS:
        return _flat(values, first, start, horizon)
    confidence = Confidence.HIGH if days >= FULL_PROFILE_DAYS else Confidence.MEDIUM
    fallback = sum(values.values()) / len(values)
    lookup = _Lookup(values, first, horizon, zone)
    # The recent level: what happened minus what the profile says happened.
    offsets = [
        actual - expected
        for lead in range(1, LEVEL_QUARTERS + 1)
        if (actual := values.get(first - lead)) is not None
        and (expected := lookup.profile(start - QUARTER * lead)) is not None
    ]
    offset = LEVEL_WEIGHT * statistics.median(offsets) if offsets else 0.0
    result: list[float] = []
    for lead in range(horizon):
        expected = lookup.profile(start + QUARTER * lead)
        value = fallback if expected is None else expected
        result.append(value + offset * math.exp(-lead / LEVEL_DECAY_QUARTERS))
    return Forecast(start, tuple(result), confidence)


def normalised_mae(
    baseline: Sequence[float | None], actual: Sequence[float | None]
) -> float | None:
    """Return ``sum |b - a| / sum |a|`` over the pairs where both are known.

    None when no pair is known or nothing was used (``sum |a|`` is zero).
    """
    error = total = 0.0
    for predicted, measured in zip(baseline, actual, strict=True):
        if predicted is None or measured is None:
            continue
        error += abs(predicted - measured)
        total += abs(measured)
    if total == 0:
        return None
    return error / total
