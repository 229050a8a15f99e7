"""Time-weighted interval averages of a power signal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal


def interval_start(moment: datetime, resolution: timedelta) -> datetime:
    """Return the start of the interval (aligned to UTC midnight) holding ``moment``."""
    midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + ((moment - midnight) // resolution) * resolution


class IntervalAverager:
    """Average a step signal over fixed intervals, weighting each value by its time.

    A value holds from its timestamp until the next one. ``None`` (an invalid
    or unavailable reading) holds no value: that time is left out of the
    average. An interval without any valid time averages to ``None``.
    """

    def __init__(self, resolution_minutes: int, start: datetime) -> None:
        """Start averaging at ``start``."""
        self.resolution = timedelta(minutes=resolution_minutes)
        self._interval = interval_start(start, self.resolution)
        self._last_time = start
        self._last_value: Decimal | None = None
        self._weighted = Decimal(0)
        self._covered = Decimal(0)

    def add(
        self, moment: datetime, value: Decimal | None
    ) -> list[tuple[datetime, Decimal | None]]:
        """Record a new value at ``moment``; return the intervals that closed."""
        closed = self.close_until(moment)
        self._accumulate(moment)
        self._last_value = value
        return closed

    def close_until(self, moment: datetime) -> list[tuple[datetime, Decimal | None]]:
        """Close every interval that ended at or before ``moment``."""
        closed: list[tuple[datetime, Decimal | None]] = []
        while moment >= (end := self._interval + self.resolution):
            self._accumulate(end)
            closed.append((self._interval, self._average()))
            self._interval = end
            self._weighted = Decimal(0)
            self._covered = Decimal(0)
        return closed

    def _accumulate(self, until: datetime) -> None:
        """Add the current value's contribution from the last time to ``until``."""
        if until <= self._last_time:
            return
        seconds = Decimal(
            (until - self._last_time) // timedelta(microseconds=1)
        ) / Decimal(1_000_000)
        if self._last_value is not None:
            self._weighted += self._last_value * seconds
            self._covered += seconds
        self._last_time = until

    def _average(self) -> Decimal | None:
        """Return the interval's average, rounded to the watt."""
        if not self._covered:
            return None
        return (self._weighted / self._covered).quantize(Decimal("0.001"))
