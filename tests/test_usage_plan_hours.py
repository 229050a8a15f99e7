"""The figures of an LPC event's energy usage plan (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from custom_components.gridflex.baseline import Confidence, Forecast
from custom_components.gridflex.platforms.models import LimitWindow
from custom_components.gridflex.usage_plan_hours import (
    ForecastTooShortError,
    plan_hour_starts,
    plan_hours,
)

START = datetime(2026, 12, 8, 16, tzinfo=UTC)
H = timedelta(hours=1)


def _forecast(values: list[float]) -> Forecast:
    return Forecast(START, tuple(values), Confidence.HIGH)


def test_hours_of_windows_with_a_gap_and_a_partial_hour() -> None:
    """Only the hours a window touches; a window from :30 takes its whole hour."""
    windows = [
        LimitWindow(START, START + 2 * H, Decimal(3)),
        LimitWindow(START + 3 * H + timedelta(minutes=30), START + 4 * H, Decimal(2)),
    ]
    assert plan_hour_starts(windows) == [START, START + H, START + 3 * H]


def test_baseline_and_flexibility_per_quarter() -> None:
    """Import summed per quarter; curtailment = min(shed, above the limit)."""
    # 16:00 hour: 2, 4, 5, 1 kW; 17:00 hour: 6 kW throughout, export in one quarter.
    values = [2.0, 4.0, 5.0, 1.0, 6.0, 6.0, 6.0, -2.0]
    windows = [LimitWindow(START, START + 2 * H, Decimal(3))]
    [first, second] = plan_hours(_forecast(values), windows, shed_kw=1.5)
    assert first.start == START
    assert first.baseline_kwh == Decimal(3)  # (2 + 4 + 5 + 1) / 4
    # above 3 kW: 0, 1, 2 (capped at 1.5), 0 → (1 + 1.5) / 4
    assert first.flexibility_kwh == Decimal("0.625")
    assert second.baseline_kwh == Decimal("4.5")  # export counts as no import
    assert second.flexibility_kwh == Decimal("1.125")  # 3 quarters x 1.5 / 4


def test_no_loads_no_flexibility_and_never_above_baseline() -> None:
    """Without loads nothing is curtailed; a negative limit caps at the import."""
    values = [8.0] * 4
    windows = [LimitWindow(START, START + H, Decimal(-5))]
    [hour] = plan_hours(_forecast(values), windows, shed_kw=0)
    assert (hour.baseline_kwh, hour.flexibility_kwh) == (Decimal(8), Decimal(0))
    [hour] = plan_hours(_forecast(values), windows, shed_kw=100)
    assert hour.flexibility_kwh == hour.baseline_kwh == Decimal(8)


def test_quarters_outside_a_window_are_not_curtailed() -> None:
    """A window from :30 curtails the last two quarters of its hour only."""
    windows = [LimitWindow(START + timedelta(minutes=30), START + H, Decimal(1))]
    [hour] = plan_hours(_forecast([5.0] * 4), windows, shed_kw=10)
    assert hour.baseline_kwh == Decimal(5)
    assert hour.flexibility_kwh == Decimal(2)  # 2 quarters x 4 kW / 4


def test_forecast_too_short() -> None:
    """A planned quarter outside the forecast is an error, not a guess."""
    windows = [LimitWindow(START, START + 2 * H, Decimal(3))]
    with pytest.raises(ForecastTooShortError):
        plan_hours(_forecast([1.0] * 6), windows, shed_kw=1)
