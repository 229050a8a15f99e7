"""The energy usage plan GridFlex sends for a location LPC event.

Once a ``LocationLPC`` event is acknowledged, and before its first hour
starts, GridFlex tells the platform per hour of the event's windows what the
site is expected to import without curtailment (``baseline``) and how much of
that it expects to curtail (``flexibility``): the platform's
``LocationEnergyUsagePlan`` report payload. The event worker sends it through
the ledger's one serialized path (``ledger.py``), at most once per event.

- **Baseline.** The site's import power is forecast from the recorder's
  long-term statistics of the site's grid power sensor with the baseline
  forecaster (``baseline.forecast``, fed as ``baseline_coordinator`` feeds
  it), and summed per hour (``usage_plan_hours``).
- **Flexibility.** What the curtailable loads (the site's ``load``
  subentries, their ``nominal_kw`` together) can shed, capped by the
  forecast import above the window's limit.
- **When a plan is sent.** Only for a site with at least one curtailable
  load and *Limit control* on: otherwise GridFlex curtails nothing, and a
  plan that says so tells the platform nothing it can use. Turned on later,
  before the event starts, the next poll sends it.
- **Without history** (no grid power sensor, no statistics of it yet) there
  is no plan: a baseline with nothing to stand on would be taken for a
  forecast. The worker tries again at each poll until the event starts (the
  recorder compiles statistics every five minutes), then records the plan as
  ``expired`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
import math

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .baseline import QUARTER, Confidence, Forecast, forecast, quarter_floor
from .baseline_coordinator import async_site_power_history
from .coordinator import GridFlexConfigEntry
from .loads import CONF_NOMINAL_KW, load_subentries
from .platforms.models import GridEvent
from .usage_plan_hours import HOUR, PlanHour, plan_hour_starts, plan_hours


class NoPlanReason(StrEnum):
    """Why an event gets no plan (recorded in the ledger)."""

    NO_POWER_SENSOR = "no_power_sensor"
    """The site has no grid power sensor to forecast from."""
    NO_HISTORY = "no_history"
    """The recorder has no statistics of the grid power sensor yet."""
    STARTED = "started"
    """The event started before a plan could be sent."""


class NoPlanError(Exception):
    """No plan can be made for the event."""

    def __init__(self, reason: NoPlanReason) -> None:
        """Keep the reason."""
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """An event's plan: its hours, and what it stands on."""

    hours: tuple[PlanHour, ...]
    shed_kw: float
    """What the curtailable loads can shed together (kW)."""
    loads: int
    confidence: Confidence
    """How much history the baseline stands on."""


def curtailable_loads(entry: GridFlexConfigEntry) -> list[ConfigSubentry]:
    """Return the site's loads GridFlex may curtail."""
    return list(load_subentries(entry).values())


def shed_kw(loads: list[ConfigSubentry]) -> float:
    """Return the loads' nominal power together (kW); unusable values count 0."""
    total = 0.0
    for load in loads:
        try:
            value = float(load.data.get(CONF_NOMINAL_KW) or 0.0)
        except TypeError, ValueError:
            continue
        if math.isfinite(value) and value > 0:
            total += value
    return total


def plan_start(event: GridEvent) -> datetime | None:
    """Return the start of the event's first planned hour (the plan is due before it)."""
    hours = plan_hour_starts(event.windows)
    return hours[0] if hours else None


def _forecast(
    history: dict[datetime, float], start: datetime, quarters: int
) -> Forecast:
    return forecast(history, start, dt_util.get_default_time_zone(), quarters)


async def async_usage_plan(
    hass: HomeAssistant, entry: GridFlexConfigEntry, event: GridEvent
) -> UsagePlan:
    """Forecast the event's hours now; return the plan.

    Raises:
        NoPlanError: no grid power sensor, no history, or the event's first
            hour has started.

    """
    now = dt_util.utcnow()
    hours = plan_hour_starts(event.windows)
    if not hours or now >= hours[0]:
        raise NoPlanError(NoPlanReason.STARTED)
    history = await async_site_power_history(hass, entry, now)
    if history is None:
        raise NoPlanError(NoPlanReason.NO_POWER_SENSOR)
    start = quarter_floor(now)
    quarters = math.ceil((hours[-1] + HOUR - start) / QUARTER)
    result = await hass.async_add_executor_job(_forecast, history, start, quarters)
    if result.confidence is Confidence.NONE:
        raise NoPlanError(NoPlanReason.NO_HISTORY)
    loads = curtailable_loads(entry)
    shed = shed_kw(loads)
    return UsagePlan(
        hours=tuple(plan_hours(result, event.windows, shed)),
        shed_kw=shed,
        loads=len(loads),
        confidence=result.confidence,
    )
