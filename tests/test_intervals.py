"""Time-weighted interval averages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from custom_components.gridflex.intervals import IntervalAverager, interval_start

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_interval_start_aligns_to_resolution() -> None:
    assert interval_start(at(22.5), timedelta(minutes=15)) == at(15)
    assert interval_start(at(59), timedelta(hours=1)) == T0


def test_step_input_is_weighted_by_time() -> None:
    """2 kW for 5 min then 5 kW for 10 min averages to exactly 4 kW."""
    averager = IntervalAverager(15, T0)
    assert averager.add(T0, Decimal(2)) == []
    assert averager.add(at(5), Decimal(5)) == []
    closed = averager.add(at(20), Decimal(-1))
    # 10:00-10:15: (2*5 + 5*10) / 15 = 4; 10:15-10:30 still open.
    assert closed == [(T0, Decimal("4.000"))]
    # 10:15-10:20 at 5 kW, 10:20-10:30 at -1 kW: (25 - 10) / 15 = 1
    assert averager.close_until(at(30)) == [(at(15), Decimal("1.000"))]


def test_gaps_are_left_out_and_empty_intervals_are_none() -> None:
    averager = IntervalAverager(15, T0)
    averager.add(T0, Decimal(3))
    averager.add(at(5), None)  # unavailable from 10:05
    averager.add(at(10), Decimal(6))
    closed = averager.close_until(at(45))
    # 10:00-10:15: 3 kW for 5 min, nothing for 5 min, 6 kW for 5 min -> 4.5
    assert closed[0] == (T0, Decimal("4.500"))
    assert closed[1:] == [(at(15), Decimal("6.000")), (at(30), Decimal("6.000"))]
    averager.add(at(46), None)
    assert averager.close_until(at(75)) == [
        (at(45), Decimal("6.000")),
        (at(60), None),
    ]


def test_start_mid_interval_covers_only_the_known_part() -> None:
    averager = IntervalAverager(15, at(7))
    averager.add(at(7), Decimal("1.5"))
    assert averager.close_until(at(15)) == [(T0, Decimal("1.500"))]
