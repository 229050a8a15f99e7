"""FlexMeasures schedules for batteries and EVs with a state-of-charge sensor.

Off the setup path: the coordinator starts in the background once the entry
is set up (``async_start``); until a schedule is read the resource's
*Scheduled power* is unknown. What is sent per resource (``flex_model``):
the state of charge now (the sensor's % of the capacity, in kWh), 0 …
capacity as ``soc-min``/``soc-max``, charging up to the resource's maximum
power and discharging up to minus its minimum power (``consumption-`` and
``production-capacity``), and the site's price sensor as consumption and
production price. The resource subentry holds no EV target, so no
``soc-targets`` are sent.

FlexMeasures answers an identical trigger with the same job for about an
hour, a failed job too. So a trigger forces a new job
(``force-new-job-creation``) when it is the first since the entry started
(the price source or anything else may have changed meanwhile), after a
failed job, and after the resource's limits changed (its stored flex-model
is rewritten then, which the server's job cache does not see).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_CAPACITY,
    CONF_POWER_MAX,
    CONF_POWER_MIN,
    CONF_RESOURCE_ID,
    CONF_SOC_ENTITY,
    DOMAIN,
    LOGGER,
    SIGNAL_SCHEDULABLE,
)
from .intervals import interval_start
from .issues import async_sync_no_price_issue
from .platforms import FlexPlatform
from .platforms.errors import GridFlexAuthError, GridFlexError, GridFlexRateLimitedError
from .platforms.flexmeasures import FlexMeasuresClient, FlexMeasuresScheduleFailedError
from .platforms.models import StorageFlexModel
from .price_feed import PriceFeed, PriceSourceError
from .resources import resource_subentries

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry

SCHEDULE_INTERVAL = timedelta(hours=1)
"""How often a new schedule is asked for."""
REPOLL_INTERVAL = timedelta(seconds=30)
"""How soon a schedule still being computed is asked for again."""
SCHEDULE_HOURS = 12
JOB_POLLS = 10
JOB_POLL_DELAY = 3.0
"""Seconds between reads of a schedule that is still being computed."""
STALE_MARGIN = timedelta(minutes=5)
"""A schedule this close to its hour is asked for again on the hourly refresh."""

type Schedule = list[tuple[datetime, Decimal]]
type Fingerprint = tuple[Any, ...]


def schedulable(entry: GridFlexConfigEntry) -> dict[str, ConfigSubentry]:
    """Return the resource subentries that can be scheduled (SoC and capacity known)."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in resource_subentries(entry).items()
        if subentry.data.get(CONF_SOC_ENTITY)
        and subentry.data.get(CONF_CAPACITY)
        and subentry.data.get(CONF_RESOURCE_ID)
    }


def _fingerprint(data: Mapping[str, Any]) -> Fingerprint:
    """What a schedule depends on besides the state of charge and the prices."""
    return tuple(
        data.get(key)
        for key in (
            CONF_RESOURCE_ID,
            CONF_POWER_MIN,
            CONF_POWER_MAX,
            CONF_CAPACITY,
            CONF_SOC_ENTITY,
        )
    )


@dataclass(slots=True)
class _Track:
    """The latest trigger of one resource."""

    fingerprint: Fingerprint
    job_id: str
    triggered_at: datetime
    done: bool = False
    force: bool = False
    """Force a new job next time (the job failed)."""


class ScheduleCoordinator(DataUpdateCoordinator[dict[str, Schedule]]):
    """Trigger a schedule per battery/EV, wait for it, keep the latest."""

    config_entry: GridFlexConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridFlexConfigEntry,
        client: FlexPlatform,
    ) -> None:
        """Ask for new schedules every hour; the prices come from the site's options."""
        if not isinstance(client, FlexMeasuresClient):
            raise TypeError(f"{client.platform} makes no schedules")
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} schedules {entry.title}",
            update_interval=SCHEDULE_INTERVAL,
        )
        self.client = client
        self.prices = PriceFeed(hass, entry, client, self._async_prices_ready)
        self.errors: dict[str, str] = {}
        """Why the latest refresh got no schedule, per resource subentry."""
        self._tracks: dict[str, _Track] = {}
        self._requested = False

    @callback
    def async_start(self) -> None:
        """Start in the background: follow the prices, then ask for schedules.

        Nothing here waits: setup is done by the time a trigger goes out.
        Resources added or changed later are picked up by ``async_entry_updated``.
        """
        entry = self.config_entry
        self.prices.async_track()
        entry.async_on_unload(entry.add_update_listener(self.async_entry_updated))
        entry.async_create_background_task(
            self.hass, self._async_first_run(), f"{DOMAIN} schedules {entry.title}"
        )

    async def _async_first_run(self) -> None:
        if self.prices.entity_id is not None:
            await self.prices.async_post_logged()
        await self.async_refresh()

    @callback
    def _async_prices_ready(self) -> None:
        """The price sensor became usable later: schedule now."""
        self.config_entry.async_create_background_task(
            self.hass,
            self.async_request_refresh(),
            f"{DOMAIN} schedules {self.config_entry.title}",
        )

    async def async_entry_updated(
        self, hass: HomeAssistant, entry: GridFlexConfigEntry
    ) -> None:
        """Follow resources added or changed while the entry runs (no reload).

        A new schedulable resource gets its sensor and a schedule at once; a
        resource whose limits changed gets a new (forced) schedule. Changed
        options reload the entry instead.
        """
        runtime = entry.runtime_data
        if dict(entry.options) != runtime.options or dict(entry.data) != runtime.data:
            return
        targets = schedulable(entry)
        async_dispatcher_send(hass, SIGNAL_SCHEDULABLE.format(entry.entry_id))
        if any(
            (track := self._tracks.get(key)) is None
            or track.fingerprint != _fingerprint(subentry.data)
            for key, subentry in targets.items()
        ):
            await self.async_request_refresh()

    async def async_trigger_now(self) -> None:
        """Ask for new schedules now (the ``trigger_schedule`` action)."""
        self._requested = True
        try:
            await self.async_refresh()
        finally:
            self._requested = False

    def _soc_kwh(self, soc_entity: str, capacity: Decimal) -> Decimal | None:
        state = self.hass.states.get(soc_entity)
        try:
            percent = Decimal(state.state) if state else None
        except InvalidOperation:
            return None
        if percent is None or not percent.is_finite():
            return None
        return (percent * capacity / 100).quantize(Decimal("0.001"))

    async def _async_update_data(self) -> dict[str, Schedule]:
        targets = schedulable(self.config_entry)
        schedules = {
            key: value for key, value in (self.data or {}).items() if key in targets
        }
        self._tracks = {
            key: track for key, track in self._tracks.items() if key in targets
        }
        async_sync_no_price_issue(
            self.hass,
            self.config_entry,
            missing=bool(targets) and not self.prices.configured,
        )
        if not targets or not self.prices.configured:
            # Without a consumption price FlexMeasures fails every storage
            # schedule: nothing is triggered; the repair says what to set.
            self.errors = {}
            return schedules
        price_sensor = await self._async_price_sensor()
        errors: dict[str, str] = {}
        now = dt_util.utcnow()
        for key, subentry in targets.items():
            try:
                found = await self._async_resource(subentry, price_sensor, now)
            except GridFlexAuthError as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="authentication_failed"
                ) from err
            except GridFlexRateLimitedError as err:
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="rate_limited",
                    translation_placeholders={
                        "retry_after": str(int(err.retry_after or 0))
                    },
                    retry_after=err.retry_after,
                ) from err
            except GridFlexError as err:
                errors[key] = str(err) or type(err).__name__
                LOGGER.warning("No schedule for %s: %s", subentry.title, err)
                continue
            if found is not None:
                schedules[key] = found
        self.errors = errors
        pending = any(not track.done for track in self._tracks.values())
        self.update_interval = REPOLL_INTERVAL if pending else SCHEDULE_INTERVAL
        if errors and len(errors) == len(targets):
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="schedule_failed",
                translation_placeholders={"error": next(iter(errors.values()))},
            )
        return schedules

    async def _async_price_sensor(self) -> str:
        """The FlexMeasures price sensor, found and named in the site's flex-context."""
        try:
            sensor = await self.prices.async_prepare()
        except PriceSourceError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=err.key,
                translation_placeholders=err.placeholders,
            ) from err
        except GridFlexAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            ) from err
        except GridFlexError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err
        return sensor.sensor_id

    def _due(
        self, track: _Track | None, fingerprint: Fingerprint, now: datetime
    ) -> bool:
        """Whether the resource needs a new trigger (else its pending job is read)."""
        if track is None or track.fingerprint != fingerprint or self._requested:
            return True
        if not track.done:
            return False
        return now - track.triggered_at >= SCHEDULE_INTERVAL - STALE_MARGIN

    async def _async_resource(
        self, subentry: ConfigSubentry, price_sensor: str, now: datetime
    ) -> Schedule | None:
        """Trigger (when due) and read one resource's schedule; None while pending."""
        key = subentry.subentry_id
        data = subentry.data
        fingerprint = _fingerprint(data)
        track = self._tracks.get(key)
        if self._due(track, fingerprint, now):
            capacity = Decimal(data[CONF_CAPACITY])
            soc = self._soc_kwh(data[CONF_SOC_ENTITY], capacity)
            if soc is None:
                LOGGER.debug("No state of charge for %s; not scheduled", subentry.title)
                return None
            force = track is None or track.force or track.fingerprint != fingerprint
            job_id = await self.client.trigger_schedule(
                data[CONF_RESOURCE_ID],
                start=interval_start(now, timedelta(minutes=15)),
                duration_hours=SCHEDULE_HOURS,
                flex_model=StorageFlexModel(
                    soc_at_start_kwh=soc,
                    soc_min_kwh=Decimal(0),
                    soc_max_kwh=capacity,
                    consumption_capacity_kw=max(
                        Decimal(data[CONF_POWER_MAX]), Decimal(0)
                    ),
                    production_capacity_kw=max(
                        -Decimal(data[CONF_POWER_MIN]), Decimal(0)
                    ),
                ),
                consumption_price=price_sensor,
                production_price=price_sensor,
                force_new=force,
            )
            track = self._tracks[key] = _Track(fingerprint, job_id, now)
        elif track is None or track.done:
            return None
        return await self._async_read(data[CONF_RESOURCE_ID], track)

    async def _async_read(self, resource_id: str, track: _Track) -> Schedule | None:
        """Read the job's schedule, waiting a little while it is computed."""
        for attempt in range(JOB_POLLS):
            if attempt:
                await asyncio.sleep(JOB_POLL_DELAY)
            try:
                values = await self.client.get_schedule(
                    resource_id, track.job_id, duration_hours=SCHEDULE_HOURS
                )
            except FlexMeasuresScheduleFailedError:
                track.done = track.force = True
                raise
            if values is not None:
                track.done = True
                return list(values)
        return None

    def power_now(self, subentry_id: str) -> Decimal | None:
        """Return the scheduled power of the current interval."""
        schedule = (self.data or {}).get(subentry_id)
        if not schedule:
            return None
        now = dt_util.utcnow()
        current = [value for start, value in schedule if start <= now]
        return current[-1] if current else None
