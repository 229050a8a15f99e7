"""Baselines: the expected active power of the next quarter-hours, and their accuracy.

Pure forecasting, no Home Assistant: the input is a history of quarter-hour
average power (kW, keyed by the quarter's UTC start), the output one value
per coming quarter-hour.

Method (``forecast``), for each target quarter-hour ``t``:

1. **Profile.** The same local time of day on each of the previous
   ``PROFILE_DAYS`` (14) days, each with its two neighbouring quarter-hours
   (a light smoothing in time). Days that share ``t``'s weekday weigh
   ``WEEKDAY_WEIGHT`` (3) times as much as other days. The profile value is
   the weighted *median* of those values: the platform scores baselines by
   mean absolute error, and a median minimises it (a household's load is
   spiky; a mean is pulled up by the odd kettle).
2. **Recent level.** Half the median difference between what happened over
   the last ``LEVEL_QUARTERS`` (8, two hours) and what the profile said for
   those quarters is added to the forecast, fading out with lead time
   (``exp(-lead / LEVEL_DECAY_QUARTERS)``, 8 quarters): a home that is busier
   than usual now is likely to stay so for a while, not for tomorrow. The
   median and the half weight keep one kettle or oven from being carried
   forward (on the benchmark's household a full mean made the baseline worse).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
import math
import statistics
from typing import Final

QUARTER: Final = timedelta(minutes=15)
HORIZON: Final = 96
"""Quarter-hours posted each time: 24 hours, as the platform recommends."""
PROFILE_DAYS: Final = 14
MIN_PROFILE_DAYS: Final = 3
WEEKDAY_WEIGHT: Final = 3.0
LEVEL_QUARTERS: Final = 8
LEVEL_DECAY_QUARTERS: Final = 8.0
LEVEL_WEIGHT: Final = 0.5
HISTORY_DAYS: Final = PROFILE_DAYS + 1
"""How much history ``forecast`` looks at."""
INACCURATE_ABOVE: Final = 0.75
"""The platform's health check flags a normalised MAE above this."""


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


def _weighted_median(pairs: list[tuple[float, float]]) -> float:
    pairs.sort()
    half = sum(weight for _, weight in pairs) / 2
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= half:
            return value
    return pairs[-1][0]


def _days_with_data(history: Mapping[datetime, float], start: datetime) -> int:
    """Count the distinct days before ``start`` that have any history."""
    return len({(start - moment) // timedelta(days=1) for moment in history})


class _Lookup:
    """The history keyed by quarter-hour number, and the zone's offsets per day.

    Integer keys keep the many lookups of a forecast cheap; the profile finds
    "the same local time ``k`` days earlier" from the local date's offset.
    """

    def __init__(self, history: Mapping[datetime, float], zone: tzinfo) -> None:
        self.values = {_index(moment): value for moment, value in history.items()}
        self.zone = zone
        self._offsets: dict[date, int] = {}

    def offset(self, day: date) -> int:
        """The zone's UTC offset on ``day`` (at noon), in quarter-hours."""
        if (known := self._offsets.get(day)) is None:
            moment = datetime.combine(day, time(12), self.zone)
            known = (moment.utcoffset() or timedelta()) // QUARTER
            self._offsets[day] = known
        return known

    def profile(self, target: datetime) -> float | None:
        local = target.astimezone(self.zone)
        # The local wall-clock time numbered as if it were UTC.
        wall = _index(local.replace(tzinfo=UTC))
        weekday = local.weekday()
        today = local.date()
        pairs: list[tuple[float, float]] = []
        for days in range(1, PROFILE_DAYS + 1):
            day = today - timedelta(days=days)
            index = wall - 96 * days - self.offset(day)
            weight = WEEKDAY_WEIGHT if (weekday - days) % 7 == 0 else 1.0
            for shift in (-1, 0, 1):
                value = self.values.get(index + shift)
                if value is not None:
                    pairs.append((value, weight if shift == 0 else weight / 2))
        return _weighted_median(pairs) if pairs else None


def _index(moment: datetime) -> int:
    """The number of the quarter-hour ``moment`` starts (UTC)."""
    return int(moment.timestamp()) // 900


def _flat(history: Mapping[datetime, float], start: datetime, horizon: int) -> Forecast:
    if not history:
        return Forecast(start, (0.0,) * horizon, Confidence.NONE)
    recent = [
        value
        for moment, value in history.items()
        if start - timedelta(days=1) <= moment < start
    ] or list(history.values())
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
    past = {moment: value for moment, value in history.items() if moment < start}
    days = _days_with_data(past, start)
    if days < MIN_PROFILE_DAYS:
        return _flat(past, start, horizon)
    confidence = Confidence.HIGH if days >= PROFILE_DAYS else Confidence.MEDIUM
    fallback = sum(past.values()) / len(past)
    lookup = _Lookup(past, zone)
    # The recent level: what happened minus what the profile says happened.
    offsets = [
        actual - expected
        for moment in (start - QUARTER * i for i in range(1, LEVEL_QUARTERS + 1))
        if (actual := past.get(moment)) is not None
        and (expected := lookup.profile(moment)) is not None
    ]
    offset = LEVEL_WEIGHT * statistics.median(offsets) if offsets else 0.0
    values: list[float] = []
    for lead in range(horizon):
        expected = lookup.profile(start + QUARTER * lead)
        value = fallback if expected is None else expected
        values.append(value + offset * math.exp(-lead / LEVEL_DECAY_QUARTERS))
    return Forecast(start, tuple(values), confidence)


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
