"""Durable, ordered, retried delivery of interval data to the platform."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
import random
from typing import Any, TypedDict

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .platforms.errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexError,
    GridFlexRateLimitedError,
)
from .platforms.models import PowerSeries

STORAGE_VERSION = 1
SAVE_DELAY = 15
"""Seconds between a change and its write to disk (write-behind)."""
MAX_AGE = timedelta(days=30)
"""The outbox keeps at most this much interval data per target; older data is dropped."""
BATCH_SIZE = 672
"""Intervals per request at most (a week of quarter-hours, far below 3 MiB)."""
RETRY_MIN = 30.0
RETRY_MAX = 3600.0


class _Target(TypedDict):
    resolution: int
    points: list[list[Any]]  # [start ISO, value str | None], oldest first


class Outbox:
    """Queue interval data per platform sensor until the platform has stored it.

    Persisted in Home Assistant's storage, so it survives restarts; ordered per
    sensor; retried with exponential backoff and jitter, honouring Retry-After;
    bounded to ``MAX_AGE`` per sensor, dropping (and counting) the oldest.
    A replay the platform already holds counts as delivered (the client
    treats FlexMeasures' ``ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED`` as
    success), so delivery after a crash mid-request duplicates nothing.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        title: str,
        send: Callable[[PowerSeries], Awaitable[None]],
        on_change: Callable[[], None],
    ) -> None:
        """Prepare the outbox of one config entry."""
        self.hass = hass
        self._entry_id = entry_id
        self._title = title
        self._send = send
        self._on_change = on_change
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.outbox"
        )
        self._targets: dict[str, _Target] = {}
        self.dropped = 0
        self.delivered = 0
        self.last_delivery: datetime | None = None
        self._draining = False
        self._retry_delay = RETRY_MIN
        self._retry_unsub: CALLBACK_TYPE | None = None

    @property
    def queued(self) -> int:
        """Return the number of intervals waiting for delivery."""
        return sum(len(target["points"]) for target in self._targets.values())

    async def async_load(self) -> None:
        """Read what a previous run left undelivered."""
        if stored := await self._store.async_load():
            self._targets = stored.get("targets", {})
            self.dropped = int(stored.get("dropped", 0))

    async def async_flush(self) -> None:
        """Write the outbox now (on unload) and stop retrying."""
        self._cancel_retry()
        await self._store.async_save(self._to_store())

    def _to_store(self) -> dict[str, Any]:
        return {"targets": self._targets, "dropped": self.dropped}

    @callback
    def add(
        self,
        sensor_id: str,
        resolution_minutes: int,
        intervals: list[tuple[datetime, Decimal | None]],
    ) -> None:
        """Queue closed intervals of one sensor; start delivering them."""
        target = self._targets.setdefault(
            sensor_id, {"resolution": resolution_minutes, "points": []}
        )
        target["points"].extend(
            [start.isoformat(), None if value is None else str(value)]
            for start, value in intervals
        )
        if not self._draining:
            # While a request is under way its points must stay where they are;
            # the drain applies the bound when the request is done.
            self._enforce_bound(target)
        self._store.async_delay_save(self._to_store, SAVE_DELAY)
        self._on_change()
        if self._retry_unsub is None:
            self.hass.async_create_background_task(
                self.async_drain(), f"{DOMAIN} outbox {self._entry_id}"
            )

    @callback
    def _enforce_bound(self, target: _Target) -> None:
        """Drop the oldest intervals beyond ``MAX_AGE`` (counted and reported)."""
        limit = int(MAX_AGE / timedelta(minutes=target["resolution"]))
        if (excess := len(target["points"]) - limit) > 0:
            del target["points"][:excess]
            self._async_dropped(excess)

    @callback
    def _async_dropped(self, count: int) -> None:
        """Count data dropped for the bound and tell the homeowner once."""
        self.dropped += count
        LOGGER.warning(
            "Outbox for %s is full; dropped the %s oldest intervals", self._title, count
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"outbox_overflow_{self._entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="outbox_overflow",
            translation_placeholders={
                "site": self._title,
                "dropped": str(self.dropped),
                "days": str(MAX_AGE.days),
            },
        )

    def _next_batch(self, target: _Target) -> tuple[datetime, list[Decimal | None]]:
        """Return the oldest run of consecutive intervals, at most a batch long."""
        resolution = timedelta(minutes=target["resolution"])
        points = target["points"]
        start = datetime.fromisoformat(points[0][0])
        values: list[Decimal | None] = []
        for index, (moment, value) in enumerate(points[:BATCH_SIZE]):
            if datetime.fromisoformat(moment) != start + index * resolution:
                break
            values.append(None if value is None else Decimal(value))
        return start, values

    async def async_drain(self) -> None:
        """Deliver everything queued, oldest first per sensor, until something fails."""
        if self._draining:
            return
        self._draining = True
        try:
            # Data queued while a request is under way is picked up here too.
            while sensor_id := next(
                (sid for sid, target in self._targets.items() if target["points"]),
                None,
            ):
                target = self._targets[sensor_id]
                start, values = self._next_batch(target)
                series = PowerSeries(
                    sensor_id=sensor_id,
                    start=start,
                    resolution_minutes=target["resolution"],
                    values_kw=tuple(values),
                )
                delivered = await self._async_deliver(series)
                if delivered:
                    # Data queued meanwhile was appended: the sent batch is
                    # still the head of the list.
                    del target["points"][: len(values)]
                for each in self._targets.values():
                    self._enforce_bound(each)
                self._store.async_delay_save(self._to_store, SAVE_DELAY)
                self._on_change()
                if not delivered:
                    return
            self._retry_delay = RETRY_MIN
        finally:
            self._draining = False

    async def _async_deliver(self, series: PowerSeries) -> bool:
        """Send one batch; schedule a retry and return False when that fails."""
        try:
            await self._send(series)
        except GridFlexRateLimitedError as err:
            self._schedule_retry(err.retry_after or self._backoff())
        except (GridFlexConnectionError, GridFlexAuthError) as err:
            LOGGER.debug("Delivery to %s failed: %s", self._title, err)
            self._schedule_retry(self._backoff())
        except GridFlexError as err:
            # The platform refuses this data for good (e.g. a conflicting
            # value): keeping it would block everything behind it.
            LOGGER.warning(
                "The platform refused %s intervals for %s: %s",
                len(series.values_kw),
                self._title,
                err,
            )
            self.dropped += len(series.values_kw)
            return True
        else:
            self.delivered += len(series.values_kw)
            self.last_delivery = dt_util.utcnow()
            return True
        return False

    def _backoff(self) -> float:
        """Return the next delay: exponential with ±20 % jitter, capped."""
        delay = self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)
        return float(delay * random.uniform(0.8, 1.2))

    @callback
    def _schedule_retry(self, delay: float) -> None:
        """Try again after ``delay`` seconds (and not before)."""
        self._cancel_retry()

        @callback
        def _retry(_now: datetime) -> None:
            self._retry_unsub = None
            self.hass.async_create_background_task(
                self.async_drain(), f"{DOMAIN} outbox {self._entry_id}"
            )

        self._retry_unsub = async_call_later(self.hass, delay, _retry)

    @callback
    def _cancel_retry(self) -> None:
        if self._retry_unsub is not None:
            self._retry_unsub()
            self._retry_unsub = None
