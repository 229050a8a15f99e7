"""Post the site's and each resource's baseline every quarter-hour.

Off the setup path: the coordinator starts in the background once the entry
is set up, and only for platforms that take baselines (Powernaut). Every
quarter-hour (at :00, :15, :30 and :45) it reads the recorder's long-term
statistics of the mapped power sensors (the site's grid power sensor, each
non-group resource's power sensor): the 5-minute statistics of the last two
days where the recorder still has them, the hourly ones for the older days,
only what is new after the first read (without the recorder there is no
history). It forecasts the next 24 hours
(96 quarter-hours, ``baseline.py``) from the current quarter-hour in the
executor and posts them with ``skip_activated_windows``: windows the platform
activated keep the baseline they had. A target without a mapped power sensor,
or whose sensor has no statistics yet, gets no baseline: there is nothing to
forecast from, and an invented one would be scored as if it were meant.

The site's posted values (the latest one for each quarter-hour, the baseline
in force when it started) are kept for two days in a store, so that "Baseline
accuracy" can compare yesterday's baseline with what happened (normalised
MAE, ``baseline.normalised_mae``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
import math
from typing import Any, Final

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_utc_time_change
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .baseline import (
    HISTORY_DAYS,
    HORIZON,
    QUARTER,
    Confidence,
    Forecast,
    forecast,
    normalised_mae,
    quarter_floor,
)
from .const import (
    CONF_GRID_EXPORT_ENTITY,
    CONF_GRID_POWER_ENTITY,
    CONF_GRID_POWER_INVERTED,
    CONF_POWER_ENTITY,
    CONF_RESOURCE_ID,
    CONF_SITE_ID,
    DOMAIN,
    LOGGER,
)
from .coordinator import GridFlexConfigEntry
from .platforms.base import BaselineTaker, FlexPlatform
from .platforms.errors import GridFlexError
from .resources import is_group, resource_subentries

SITE_KEY: Final = "site"
"""The key of the site's baseline (resources are keyed by subentry id)."""
FINE_DAYS: Final = 10
"""Days of 5-minute statistics read on the first run (the rest is hourly).

The recorder keeps 5-minute statistics for 10 days by default; reading all of
them after a restart keeps the forecast as good as before it (see
benchmarks/README.md, "history as read after a restart")."""
KEEP_POSTED: Final = timedelta(days=2)
_HOUR: Final = timedelta(hours=1)
_FIVE_MINUTES: Final = timedelta(minutes=5)
_STORE_VERSION: Final = 1
_SAVE_DELAY: Final = 60
_POWER_UNITS: Final = {"power": "kW"}


def takes_baselines(client: FlexPlatform) -> bool:
    """Return whether the platform takes baselines of the site and its resources."""
    return client.capabilities.baselines and isinstance(client, BaselineTaker)


@dataclass(frozen=True, slots=True)
class Target:
    """What gets a baseline: the site or one resource, and its power sensors."""

    key: str
    platform_id: str
    sources: tuple[tuple[str, int], ...]
    """Power sensors and their sign (import positive)."""
    is_site: bool


def targets(entry: GridFlexConfigEntry) -> list[Target]:
    """Return the site and the non-group resources that have a power sensor."""
    found: list[Target] = []
    options = entry.options
    if power := options.get(CONF_GRID_POWER_ENTITY):
        if export := options.get(CONF_GRID_EXPORT_ENTITY):
            sources: tuple[tuple[str, int], ...] = ((power, 1), (export, -1))
        else:
            sources = ((power, -1 if options.get(CONF_GRID_POWER_INVERTED) else 1),)
        found.append(Target(SITE_KEY, entry.data[CONF_SITE_ID], sources, True))
    for subentry_id, subentry in resource_subentries(entry).items():
        power = subentry.data.get(CONF_POWER_ENTITY)
        resource_id = subentry.data.get(CONF_RESOURCE_ID)
        if is_group(subentry) or not power or not resource_id:
            continue
        found.append(Target(subentry_id, resource_id, ((power, 1),), False))
    return found


@dataclass(slots=True)
class _Series:
    """Quarter-hour average power of one sensor (kW), fine where known."""

    fine: dict[datetime, list[float]] = field(default_factory=dict)
    """5-minute means per quarter-hour."""
    hourly: dict[datetime, float] = field(default_factory=dict)

    def quarters(self, since: datetime) -> dict[datetime, float]:
        values: dict[datetime, float] = {}
        for hour, mean in self.hourly.items():
            if hour >= since - _HOUR:
                for i in range(4):
                    values[hour + QUARTER * i] = mean
        for quarter, means in self.fine.items():
            values[quarter] = sum(means) / len(means)
        return {moment: value for moment, value in values.items() if moment >= since}

    def prune(self, since: datetime) -> None:
        self.fine = {k: v for k, v in self.fine.items() if k >= since}
        self.hourly = {k: v for k, v in self.hourly.items() if k >= since - _HOUR}


@dataclass(frozen=True, slots=True)
class Accuracy:
    """How yesterday's posted site baseline compared with what happened."""

    day: str
    """The local date, ISO."""
    nmae: float | None
    quarters: int
    """Quarter-hours with both a posted baseline and a measurement."""


def _combine(
    series: dict[str, _Series], sources: Iterable[tuple[str, int]], since: datetime
) -> dict[datetime, float]:
    """Sum the signed sources per quarter-hour where every source is known."""
    combined: dict[datetime, float] | None = None
    for entity_id, sign in sources:
        values = series.get(entity_id, _Series()).quarters(since)
        signed = {moment: sign * value for moment, value in values.items()}
        if combined is None:
            combined = signed
        else:
            combined = {
                moment: value + signed[moment]
                for moment, value in combined.items()
                if moment in signed
            }
    return combined or {}


def _forecast_all(
    histories: dict[str, dict[datetime, float]], start: datetime, zone: tzinfo
) -> dict[str, Forecast]:
    """Forecast every target (runs in the executor)."""
    return {
        key: forecast(history, start, zone, HORIZON)
        for key, history in histories.items()
    }


def _wire(values: Iterable[float]) -> list[Decimal]:
    return [Decimal(str(round(value, 3))) for value in values]


class BaselineCoordinator(DataUpdateCoordinator[dict[str, Forecast]]):
    """Forecast and post baselines every quarter-hour; keep what was posted."""

    config_entry: GridFlexConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: GridFlexConfigEntry, client: FlexPlatform
    ) -> None:
        """Refresh at each quarter-hour (no interval: the clock drives it)."""
        if not isinstance(client, BaselineTaker):
            raise TypeError(f"{client.platform} takes no baselines")
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} baselines {entry.title}",
            update_interval=None,
        )
        self.client: BaselineTaker = client
        self._series: dict[str, _Series] = {}
        self._fine_read: datetime | None = None
        self._hourly_read: datetime | None = None
        self._store: Store[dict[str, Any]] = Store(
            hass, _STORE_VERSION, f"{DOMAIN}.baselines.{entry.entry_id}"
        )
        self.posted: dict[str, float] = {}
        """The site's baseline in force per quarter-hour (ISO UTC start)."""
        self._loaded = False
        self.errors: dict[str, str] = {}
        """Why the latest post failed, per target key."""
        self.posted_at: datetime | None = None
        self.posts = 0
        """Baselines posted since the entry was set up."""
        self.accuracy: Accuracy | None = None

    @callback
    def async_start(self) -> None:
        """Start in the background: a first baseline now, then every quarter-hour."""
        entry = self.config_entry
        entry.async_on_unload(
            async_track_utc_time_change(
                self.hass, self._async_tick, minute=(0, 15, 30, 45), second=0
            )
        )
        entry.async_create_background_task(
            self.hass, self.async_refresh(), f"{DOMAIN} baselines {entry.title}"
        )
        entry.async_on_unload(self._async_save)

    async def _async_save(self) -> None:
        """Keep what was posted through a reload or restart."""
        if self._loaded:
            await self._store.async_save({"site": self.posted})

    @callback
    def _async_tick(self, _now: datetime) -> None:
        self.config_entry.async_create_background_task(
            self.hass,
            self.async_refresh(),
            f"{DOMAIN} baselines {self.config_entry.title}",
        )

    async def _async_update_data(self) -> dict[str, Forecast]:
        if not self._loaded:
            self._loaded = True
            stored = await self._store.async_load()
            if stored:
                self.posted = {
                    key: float(value) for key, value in stored.get("site", {}).items()
                }
        now = dt_util.utcnow()
        start = quarter_floor(now)
        wanted = targets(self.config_entry)
        await self._async_read(
            {entity_id for target in wanted for entity_id, _ in target.sources}, now
        )
        since = start - timedelta(days=HISTORY_DAYS)
        histories = {
            target.key: _combine(self._series, target.sources, since)
            for target in wanted
        }
        zone = dt_util.get_default_time_zone()
        forecasts = await self.hass.async_add_executor_job(
            _forecast_all, histories, start, zone
        )
        # Without any history there is nothing to stand on: no baseline is
        # better than an invented one (and nothing is shown as sent).
        sent = {
            key: result
            for key, result in forecasts.items()
            if result.confidence is not Confidence.NONE
        }
        await asyncio.gather(
            *(
                self._async_post(target, sent[target.key])
                for target in wanted
                if target.key in sent
            )
        )
        if (site := sent.get(SITE_KEY)) is not None and SITE_KEY not in self.errors:
            self._async_remember(site, start)
        if SITE_KEY in histories:
            self.accuracy = self._accuracy(histories[SITE_KEY], start, zone)
        return sent

    async def _async_post(self, target: Target, result: Forecast) -> None:
        post: Callable[..., Any] = (
            self.client.post_site_baseline
            if target.is_site
            else self.client.post_resource_baseline
        )
        try:
            await post(target.platform_id, result.start, _wire(result.values_kw))
        except GridFlexError as err:
            self.errors[target.key] = str(err) or type(err).__name__
            LOGGER.warning("Could not post the baseline of %s: %s", target.key, err)
            return
        self.errors.pop(target.key, None)
        self.posts += 1
        self.posted_at = dt_util.utcnow()

    async def _async_read(self, entity_ids: set[str], now: datetime) -> None:
        """Read what is new in the recorder's statistics of these sensors."""
        if not entity_ids or "recorder" not in self.hass.config.components:
            return
        new = entity_ids - self._series.keys()
        if new:
            # A sensor mapped since the last read: read its whole history.
            self._fine_read = self._hourly_read = None
        fine_from = (
            now - timedelta(days=FINE_DAYS)
            if self._fine_read is None
            else self._fine_read - _HOUR
        )
        hourly_from = (
            now - timedelta(days=HISTORY_DAYS + 1)
            if self._hourly_read is None
            else self._hourly_read - 2 * _HOUR
        )
        recorder = get_instance(self.hass)
        fine = await recorder.async_add_executor_job(
            _means, self.hass, fine_from, now, entity_ids, "5minute"
        )
        hourly = await recorder.async_add_executor_job(
            _means, self.hass, hourly_from, now, entity_ids, "hour"
        )
        self._fine_read = self._hourly_read = now
        since = quarter_floor(now) - timedelta(days=HISTORY_DAYS)
        _fill(self._series, entity_ids, hourly, fine, since)
        for entity_id in self._series.keys() - entity_ids:
            del self._series[entity_id]

    @callback
    def _async_remember(self, result: Forecast, start: datetime) -> None:
        """Keep the site's posted values; the first quarter is now in force."""
        for moment, value in zip(result.starts(), result.values_kw, strict=True):
            self.posted[moment.isoformat()] = value
        oldest = (start - KEEP_POSTED).isoformat()
        self.posted = {k: v for k, v in self.posted.items() if k >= oldest}
        self._store.async_delay_save(lambda: {"site": self.posted}, _SAVE_DELAY)

    def _accuracy(
        self, history: dict[datetime, float], start: datetime, zone: tzinfo
    ) -> Accuracy:
        """Yesterday's (local) posted site baseline against what happened."""
        today = start.astimezone(zone).replace(hour=0, minute=0)
        yesterday = today - timedelta(days=1)
        quarters: list[datetime] = []
        moment = dt_util.as_utc(yesterday)
        end = dt_util.as_utc(today)
        while moment < end:
            quarters.append(moment)
            moment += QUARTER
        baseline = [self.posted.get(q.isoformat()) for q in quarters]
        actual = [history.get(q) for q in quarters]
        both = sum(
            1 for b, a in zip(baseline, actual, strict=True) if None not in (b, a)
        )
        return Accuracy(
            yesterday.date().isoformat(), normalised_mae(baseline, actual), both
        )

    def power_now(self, key: str) -> float | None:
        """Return the baseline of the current quarter-hour, in kW."""
        if self.data is None or (result := self.data.get(key)) is None:
            return None
        return result.at(dt_util.utcnow())

    def confidence(self, key: str) -> Confidence | None:
        """Return how much history the target's baseline stands on."""
        if self.data is None or (result := self.data.get(key)) is None:
            return None
        return result.confidence

    def diagnostics(self) -> dict[str, Any]:
        """What the baselines look like, for the diagnostics download."""
        data = self.data or {}
        return {
            "targets": {
                key: {
                    "start": result.start.isoformat(),
                    "quarters": len(result.values_kw),
                    "confidence": result.confidence,
                    "error": self.errors.get(key),
                }
                for key, result in data.items()
            },
            "posts": self.posts,
            "posted_at": self.posted_at.isoformat() if self.posted_at else None,
            "accuracy": None
            if self.accuracy is None
            else {
                "day": self.accuracy.day,
                "nmae": self.accuracy.nmae,
                "quarters": self.accuracy.quarters,
            },
        }


def _fill(
    series_by_id: dict[str, _Series],
    entity_ids: Iterable[str],
    hourly: dict[str, list[tuple[datetime, float]]],
    fine: dict[str, list[tuple[datetime, float]]],
    since: datetime,
) -> None:
    """Add what was read to each sensor's series; drop what is older than ``since``."""
    for entity_id in entity_ids:
        series = series_by_id.setdefault(entity_id, _Series())
        for moment, mean in hourly.get(entity_id, []):
            series.hourly[moment] = mean
        touched: dict[datetime, list[float]] = {}
        for moment, mean in fine.get(entity_id, []):
            touched.setdefault(quarter_floor(moment), []).append(mean)
        series.fine.update(touched)
        series.prune(since)


async def async_site_power_history(
    hass: HomeAssistant, entry: GridFlexConfigEntry, now: datetime
) -> dict[datetime, float] | None:
    """Return the site's quarter-hour import power (kW) from the statistics.

    Read as the coordinator reads it on its first run (5-minute statistics
    of the last ``FINE_DAYS``, hourly ones before), for ``forecast``. ``None``
    when the site has no grid power sensor; empty without the recorder or
    without statistics.
    """
    site = next((target for target in targets(entry) if target.is_site), None)
    if site is None:
        return None
    if "recorder" not in hass.config.components:
        return {}
    entity_ids = {entity_id for entity_id, _ in site.sources}
    recorder = get_instance(hass)
    fine = await recorder.async_add_executor_job(
        _means, hass, now - timedelta(days=FINE_DAYS), now, entity_ids, "5minute"
    )
    hourly = await recorder.async_add_executor_job(
        _means, hass, now - timedelta(days=HISTORY_DAYS + 1), now, entity_ids, "hour"
    )
    since = quarter_floor(now) - timedelta(days=HISTORY_DAYS)
    series: dict[str, _Series] = {}
    _fill(series, entity_ids, hourly, fine, since)
    return _combine(series, site.sources, since)


def _means(
    hass: HomeAssistant,
    start: datetime,
    end: datetime,
    entity_ids: set[str],
    period: str,
) -> dict[str, list[tuple[datetime, float]]]:
    """Read the statistics' means in kW (runs in the recorder's executor)."""
    rows = statistics_during_period(
        hass,
        start,
        end,
        entity_ids,
        "5minute" if period == "5minute" else "hour",
        _POWER_UNITS,
        {"mean"},
    )
    return {
        entity_id: [
            (dt_util.utc_from_timestamp(row["start"]), mean)
            for row in entity_rows
            if (mean := row.get("mean")) is not None and math.isfinite(mean)
        ]
        for entity_id, entity_rows in rows.items()
    }
