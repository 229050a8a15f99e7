"""FlexMeasures schedules for batteries and EVs with a state-of-charge sensor."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
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
)
from .intervals import interval_start
from .platforms.errors import GridFlexAuthError, GridFlexError
from .resources import resource_subentries

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry

SCHEDULE_INTERVAL = timedelta(hours=1)
"""How often a new schedule is asked for."""
SCHEDULE_HOURS = 12
JOB_POLLS = 10
JOB_POLL_DELAY = 3.0
"""Seconds between reads of a schedule that is still being computed."""

type Schedule = list[tuple[datetime, Decimal]]


def schedulable(entry: GridFlexConfigEntry) -> dict[str, Any]:
    """Return the resource subentries that can be scheduled (SoC and capacity known)."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in resource_subentries(entry).items()
        if subentry.data.get(CONF_SOC_ENTITY)
        and subentry.data.get(CONF_CAPACITY)
        and subentry.data.get(CONF_RESOURCE_ID)
    }


class ScheduleCoordinator(DataUpdateCoordinator[dict[str, Schedule]]):
    """Trigger a schedule per battery/EV, wait for it, keep the latest."""

    config_entry: GridFlexConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: GridFlexConfigEntry, client: Any
    ) -> None:
        """Ask for new schedules every hour."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} schedules {entry.title}",
            update_interval=SCHEDULE_INTERVAL,
        )
        self.client = client

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
        schedules: dict[str, Schedule] = dict(self.data or {})
        start = interval_start(dt_util.utcnow(), timedelta(minutes=15))
        for subentry_id, subentry in schedulable(self.config_entry).items():
            capacity = Decimal(subentry.data[CONF_CAPACITY])
            soc = self._soc_kwh(subentry.data[CONF_SOC_ENTITY], capacity)
            if soc is None:
                LOGGER.debug("No state of charge for %s; not scheduled", subentry.title)
                continue
            power = max(
                abs(Decimal(subentry.data[CONF_POWER_MIN])),
                abs(Decimal(subentry.data[CONF_POWER_MAX])),
            )
            try:
                schedules[subentry_id] = await self._async_schedule(
                    subentry.data[CONF_RESOURCE_ID], start, soc, capacity, power
                )
            except GridFlexAuthError as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="authentication_failed"
                ) from err
            except (GridFlexError, TimeoutError) as err:
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="cannot_connect",
                    translation_placeholders={"error": str(err) or type(err).__name__},
                ) from err
        return schedules

    async def _async_schedule(
        self,
        resource_id: str,
        start: datetime,
        soc: Decimal,
        capacity: Decimal,
        power: Decimal,
    ) -> Schedule:
        """Trigger one schedule and read it once it is computed."""
        schedule_id = await self.client.trigger_schedule(
            resource_id,
            start=start,
            duration_hours=SCHEDULE_HOURS,
            soc_at_start_kwh=soc,
            soc_min_kwh=Decimal(0),
            soc_max_kwh=capacity,
            power_capacity_kw=power,
        )
        for _ in range(JOB_POLLS):
            values = await self.client.get_schedule(
                resource_id, schedule_id, duration_hours=SCHEDULE_HOURS
            )
            if values is not None:
                return list(values)
            await asyncio.sleep(JOB_POLL_DELAY)
        raise TimeoutError(f"schedule {schedule_id} not ready")

    def power_now(self, subentry_id: str) -> Decimal | None:
        """Return the scheduled power of the current interval."""
        schedule = (self.data or {}).get(subentry_id)
        if not schedule:
            return None
        now = dt_util.utcnow()
        current = [value for start, value in schedule if start <= now]
        return current[-1] if current else None
