"""The figures of an LPC event's energy usage plan, hour by hour.

Pure: no Home Assistant, no I/O. The input is the site's forecast import
power per quarter-hour (``baseline.Forecast``, kW, import positive), the
event's limit windows and the power the curtailable loads can shed together;
the output, per UTC hour that a window touches:

- ``baseline``: the energy the site is expected to import in the hour
  without curtailment, the sum over its four quarter-hours of the forecast
  power (export counts as zero import) times a quarter of an hour. A window
  that covers part of an hour still gets the whole hour's baseline: the
  energy report after the event reports whole hours from the meter too.
- ``flexibility``: the energy GridFlex expects to curtail in the hour, per
  quarter-hour inside a window the smaller of what the loads can shed and
  the forecast power above the window's limit, times a quarter of an hour.
  It is never above the baseline. What the loads can shed is their nominal
  power together (the most they draw); how much each will draw in that hour
  is not known, so this is an upper bound the excess then caps. Without
  loads it is zero.

Values are kWh rounded to 3 decimals (Wh), as the energy reports send them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final

from .baseline import QUARTER, Forecast
from .platforms.models import LimitWindow

HOUR: Final = timedelta(hours=1)
_QUARTER_HOURS: Final = QUARTER / HOUR


class ForecastTooShortError(Exception):
    """The forecast does not cover every quarter-hour of the plan."""


@dataclass(frozen=True, slots=True)
class PlanHour:
    """One hour of the plan (its UTC start) and its energy figures in kWh."""

    start: datetime
    baseline_kwh: Decimal
    flexibility_kwh: Decimal


def plan_hour_starts(windows: Sequence[LimitWindow]) -> list[datetime]:
    """Return the UTC hour starts any window touches, oldest first."""
    hours: set[datetime] = set()
    for window in windows:
        hour = window.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour < window.end:
            hours.add(hour)
            hour += HOUR
    return sorted(hours)


def _window_at(windows: Sequence[LimitWindow], moment: datetime) -> LimitWindow | None:
    return next((w for w in windows if w.start <= moment < w.end), None)


def _kwh(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def plan_hours(
    forecast: Forecast, windows: Sequence[LimitWindow], shed_kw: float
) -> list[PlanHour]:
    """Return the plan's hours: baseline and flexibility of each (kWh).

    Raises:
        ForecastTooShortError: a quarter-hour of a planned hour is outside
            the forecast.

    """
    shed = max(0.0, shed_kw)
    result: list[PlanHour] = []
    for hour in plan_hour_starts(windows):
        baseline = 0.0
        flexibility = 0.0
        for index in range(4):
            quarter = hour + QUARTER * index
            power = forecast.at(quarter)
            if power is None:
                raise ForecastTooShortError(quarter.isoformat())
            imported = max(0.0, power)
            baseline += imported * _QUARTER_HOURS
            window = _window_at(windows, quarter)
            if window is None:
                continue
            excess = min(imported, max(0.0, imported - float(window.max_power_kw)))
            flexibility += min(shed, excess) * _QUARTER_HOURS
        result.append(PlanHour(hour, _kwh(baseline), _kwh(min(flexibility, baseline))))
    return result
