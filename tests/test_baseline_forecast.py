"""The baseline forecaster (``baseline.forecast``): a pure function of the history.

Histories are built from a known pattern, so each test states what a
forecaster that follows the documented method must send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
import math
import random
from zoneinfo import ZoneInfo

import pytest

from custom_components.gridflex.baseline import (
    HORIZON,
    LEVEL_DECAY_QUARTERS,
    LEVEL_WEIGHT,
    PROFILE_DAYS,
    QUARTER,
    Confidence,
    forecast,
)

ZONE = ZoneInfo("Europe/Brussels")


def _local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE).astimezone(UTC)


def _history(
    start: datetime,
    days: int,
    value: Callable[[datetime], float],
    *,
    skip: Callable[[datetime], bool] = lambda _: False,
) -> dict[datetime, float]:
    """Quarter-hour values of ``days`` days before ``start`` (UTC keys)."""
    history: dict[datetime, float] = {}
    moment = start - timedelta(days=days)
    while moment < start:
        if not skip(moment):
            history[moment] = value(moment.astimezone(ZONE))
        moment += QUARTER
    return history


def _weekend_pattern(local: datetime) -> float:
    """1 kW on weekdays, 3 kW at weekends, all day."""
    return 3.0 if local.weekday() >= 5 else 1.0


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 2, 7), 3.0),  # Saturday
        (date(2026, 2, 8), 3.0),  # Sunday
        (date(2026, 2, 9), 1.0),  # Monday
        (date(2026, 2, 13), 1.0),  # Friday
    ],
)
def test_weekend_follows_weekends(day: date, expected: float) -> None:
    """A weekend day is forecast from weekends, a weekday from weekdays.

    With 21 days of history a Saturday has 3 Saturdays (weight 2), 3 Sundays
    (weight 1) and 15 weekdays (weight 0.5): the weekend outweighs them.
    Posted at noon (the last hour matched the profile: no level term), the
    rest of the day and the next morning are checked, all but the half-hours
    beside midnight (whose neighbours lie on the other day).
    """
    start = _local(day, 12)
    history = _history(start, 22, _weekend_pattern)
    result = forecast(history, start, ZONE)
    assert result.confidence is Confidence.HIGH
    checked = 0
    for moment, value in zip(result.starts(), result.values_kw, strict=True):
        local = moment.astimezone(ZONE)
        if (local.hour == 23 and local.minute >= 30) or local.hour == 0:
            continue
        assert value == _weekend_pattern(local), local
        checked += 1
    assert checked == 90
    assert result.values_kw[0] == expected


def test_missing_days_and_quarters() -> None:
    """Days and quarter-hours without data drop out; the pattern still holds."""
    start = _local(date(2026, 2, 10))  # a Tuesday

    def evening(local: datetime) -> float:
        return 2.0 if 18 <= local.hour < 20 else 0.3

    gone = {start.date() - timedelta(days=d) for d in (2, 3, 4, 5, 9)}
    rng = random.Random(3)

    def skip(moment: datetime) -> bool:
        return moment.date() in gone or rng.random() < 0.1

    history = _history(start, 22, evening, skip=skip)
    result = forecast(history, start, ZONE)
    expected = [evening((start + QUARTER * i).astimezone(ZONE)) for i in range(96)]
    assert list(result.values_kw) == expected


def test_daylight_saving_time_keeps_local_time() -> None:
    """Across the spring change the evening peak stays at 18:00 local time."""
    start = _local(date(2026, 4, 1))  # the clocks went forward on 29 March

    def evening(local: datetime) -> float:
        return 2.0 if 18 <= local.hour < 20 else 0.3

    history = _history(start, 22, evening)
    result = forecast(history, start, ZONE)
    for moment, value in zip(result.starts(), result.values_kw, strict=True):
        assert value == evening(moment.astimezone(ZONE)), moment


def test_recent_level_fades() -> None:
    """An hour 1 kW above the profile lifts the next quarters, fading out."""
    start = _local(date(2026, 2, 10), 12)
    history = _history(start, 22, lambda _: 0.5)
    for i in range(1, 5):
        history[start - QUARTER * i] = 1.5
    result = forecast(history, start, ZONE)
    for lead in (0, 1, 4, 20):
        lift = LEVEL_WEIGHT * 1.0 * math.exp(-lead / LEVEL_DECAY_QUARTERS)
        assert result.values_kw[lead] == pytest.approx(0.5 + lift)


def test_one_kettle_is_not_carried_forward() -> None:
    """A single spike in the last hour does not move the recent level."""
    start = _local(date(2026, 2, 10), 12)
    history = _history(start, 22, lambda _: 0.5)
    history[start - QUARTER] = 2.5
    result = forecast(history, start, ZONE)
    assert result.values_kw[0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("days", "confidence"),
    [(1, Confidence.LOW), (5, Confidence.MEDIUM), (14, Confidence.HIGH)],
)
def test_confidence_by_history(days: int, confidence: Confidence) -> None:
    """Below three days flat and low; two weeks make a complete weekday profile."""
    start = _local(date(2026, 2, 10))
    result = forecast(_history(start, days, lambda _: 0.7), start, ZONE)
    assert result.confidence is confidence
    assert result.values_kw == pytest.approx((0.7,) * HORIZON)


def test_no_history() -> None:
    """Nothing to stand on: zero, confidence none."""
    start = _local(date(2026, 2, 10))
    result = forecast({}, start, ZONE)
    assert result.confidence is Confidence.NONE
    assert set(result.values_kw) == {0.0}


def test_two_days_ahead() -> None:
    """The spec's longest horizon: the second day stands on the days there are."""
    start = _local(date(2026, 2, 10))

    def evening(local: datetime) -> float:
        return 2.0 if 18 <= local.hour < 20 else 0.3

    result = forecast(_history(start, 22, evening), start, ZONE, horizon=192)
    assert len(result.values_kw) == 192
    expected = [evening(moment.astimezone(ZONE)) for moment in result.starts()]
    assert list(result.values_kw) == expected


def _reference_profile(
    history: dict[datetime, float], target: datetime
) -> float | None:
    """The documented profile, one value at a time (no shortcuts).

    21 days; the same weekday weighs 2, the same kind of day (Monday to
    Friday, or the weekend) 1, the other kind 0.5; the two quarter-hours
    either side of each day's half as much.
    """
    local = target.astimezone(ZONE)
    pairs: list[tuple[float, float]] = []
    for days in range(1, 22):
        day = local.date() - timedelta(days=days)
        noon = datetime.combine(day, time(12), ZONE)
        # The wall-clock time of that day as the forecaster numbers it: by
        # the day's UTC offset at noon.
        same = (
            local.replace(tzinfo=UTC)
            - timedelta(days=days)
            - (noon.utcoffset() or timedelta())
        )
        if day.weekday() == local.weekday():
            weight = 2.0
        elif (day.weekday() >= 5) == (local.weekday() >= 5):
            weight = 1.0
        else:
            weight = 0.5
        for shift in (-2, -1, 0, 1, 2):
            value = history.get(same + QUARTER * shift)
            if value is not None:
                pairs.append((value, weight if shift == 0 else weight / 2))
    if not pairs:
        return None
    pairs.sort()
    half = sum(weight for _, weight in pairs) / 2
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= half:
            return value
    return pairs[-1][0]


@pytest.mark.parametrize(
    ("start", "gaps"),
    [
        (_local(date(2026, 2, 10), 9, 15), 0.0),
        (_local(date(2026, 2, 10), 9, 15), 0.05),
        (_local(date(2026, 3, 30), 22, 45), 0.0),  # the day after the change
        (_local(date(2026, 10, 26), 0, 0), 0.05),  # the day after the change back
    ],
)
def test_profile_matches_the_documented_method(start: datetime, gaps: float) -> None:
    """Random load: each value is the weighted median the docstring describes."""
    rng = random.Random(7)
    history = _history(
        start,
        PROFILE_DAYS + 1,
        lambda _: round(rng.expovariate(2.0), 3),
        skip=lambda _: rng.random() < gaps,
    )
    # No recent level: the last hour is left out.
    for i in range(1, 5):
        history.pop(start - QUARTER * i, None)
    result = forecast(history, start, ZONE, horizon=192)
    for moment, value in zip(result.starts(), result.values_kw, strict=True):
        assert value == _reference_profile(history, moment), moment


def test_only_the_last_three_weeks_count() -> None:
    """Days older than the profile's 21 are not part of it."""
    start = _local(date(2026, 2, 10), 12)
    boundary = start - timedelta(days=PROFILE_DAYS)
    history = _history(start, 40, lambda local: 5.0 if local < boundary else 1.0)
    result = forecast(history, start, ZONE)
    assert set(result.values_kw) == {1.0}


def test_time_of_day_never_seen_falls_back_to_the_mean() -> None:
    """A sensor with statistics only at night: daytime gets the history's mean."""
    start = _local(date(2026, 2, 10))

    def night_only(moment: datetime) -> bool:
        return not 0 <= moment.astimezone(ZONE).hour < 6

    history = _history(start, 5, lambda local: 0.2 + local.hour / 10, skip=night_only)
    result = forecast(history, start, ZONE)
    assert result.confidence is Confidence.MEDIUM
    mean = sum(history.values()) / len(history)
    noon = result.at(_local(date(2026, 2, 10), 12))
    assert noon == pytest.approx(mean)
    # Night quarters still follow the profile (02:00 local is 0.4 kW).
    assert result.at(_local(date(2026, 2, 10), 2)) == pytest.approx(0.4)
