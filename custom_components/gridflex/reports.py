"""Energy usage per event hour from the recorder's long-term statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
import math

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from .platforms.models import LimitWindow
from .usage_plan_hours import plan_hour_starts

HOUR = timedelta(hours=1)


def event_hours(windows: Sequence[LimitWindow]) -> list[datetime]:
    """Return the UTC hour starts the event's windows cover (partial hours included).

    Hours between two windows are not the event's: "You only have to report
    the hours that are in the event, and not the hours that are outside of
    the event" (Energy Coordination's LPC reporting guide), and the platform
    checks a report's hours against the event's.
    """
    return plan_hour_starts(windows)


@dataclass(frozen=True, slots=True)
class HourlyEnergy:
    """The kWh of each event hour the recorder can tell, and the hours it cannot."""

    energy: dict[datetime, Decimal]
    missing: tuple[datetime, ...]
    """Hours without a statistics row (or the row before), or with a decrease."""
    decreasing: tuple[datetime, ...] = ()
    """Hours whose ``sum`` went down (an adjusted or replaced statistic)."""


async def async_hourly_energy(
    hass: HomeAssistant, statistic_id: str, hours: list[datetime]
) -> HourlyEnergy:
    """Return the kWh per hour the recorder has for ``statistic_id``.

    The energy of an hour is the growth of the statistics' ``sum`` from the
    hour before to this hour. The recorder's ``sum`` already accounts for a
    meter that resets (``total_increasing``) or is replaced with a
    ``last_reset``, so a *decrease* of the sum is not consumption: it comes
    from an adjusted or reset statistic, and that hour's usage cannot be told.
    It is counted as missing (never sent as negative kWh), like an hour the
    recorder lacks the row of, or the row before: nothing is invented.
    """
    if not hours:
        return HourlyEnergy({}, ())
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        hours[0] - HOUR,
        hours[-1] + HOUR,
        {statistic_id},
        "hour",
        {"energy": "kWh"},
        {"sum"},
    )
    sums = {
        dt_util.utc_from_timestamp(row["start"]): total
        for row in rows.get(statistic_id, [])
        if (total := row.get("sum")) is not None and math.isfinite(total)
    }
    energy: dict[datetime, Decimal] = {}
    missing: list[datetime] = []
    decreasing: list[datetime] = []
    for hour in hours:
        current, previous = sums.get(hour), sums.get(hour - HOUR)
        if current is None or previous is None:
            missing.append(hour)
            continue
        value = Decimal(str(round(current - previous, 3)))
        if value < 0:
            decreasing.append(hour)
            missing.append(hour)
            continue
        energy[hour] = value
    return HourlyEnergy(energy, tuple(missing), tuple(decreasing))


def report_deadline(end: datetime) -> datetime:
    """Return when the platform stops taking an event's energy report.

    The platform takes reports until the end of the month the event ended in
    (Home Assistant's time zone, the home's own calendar).
    """
    local = dt_util.as_local(end - timedelta(microseconds=1))
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return dt_util.as_utc(next_month)
