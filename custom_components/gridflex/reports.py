"""Energy usage per event hour from the recorder's long-term statistics."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

HOUR = timedelta(hours=1)


def event_hours(start: datetime, end: datetime) -> list[datetime]:
    """Return the UTC hour starts an event covers (partial hours included)."""
    first = start.astimezone(dt_util.UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while first < end:
        hours.append(first)
        first += HOUR
    return hours


async def async_hourly_energy(
    hass: HomeAssistant, statistic_id: str, hours: list[datetime]
) -> dict[datetime, Decimal]:
    """Return the kWh per hour the recorder has for ``statistic_id``.

    The energy of an hour is the growth of the statistics' ``sum`` from the
    hour before to this hour (the sum already accounts for meter resets). An
    hour is left out when the recorder lacks its row or the row before: it is
    not invented.
    """
    if not hours:
        return {}
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
        dt_util.utc_from_timestamp(row["start"]): row["sum"]
        for row in rows.get(statistic_id, [])
        if row.get("sum") is not None
    }
    energy: dict[datetime, Decimal] = {}
    for hour in hours:
        current, previous = sums.get(hour), sums.get(hour - HOUR)
        if current is not None and previous is not None:
            energy[hour] = Decimal(str(round(current - previous, 3)))
    return energy
