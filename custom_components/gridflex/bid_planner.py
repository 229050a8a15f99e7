"""What a resource can offer per quarter-hour: the flexibility GridFlex bids.

Pure functions, no I/O. Which resources bid:

- **Batteries** (``battery``): always, once the homeowner switches bidding on
  and the battery has a state-of-charge sensor and a capacity. The offer of
  each quarter-hour is the extra charge (import) and discharge (export) power
  the battery can run at for the whole quarter-hour, within its power limits
  and without leaving the homeowner's reserve and maximum state of charge at
  any moment of the horizon, accepted bids included.
- **Electric vehicles** do not bid yet: an EV bid needs to know whether the
  car is connected, its target state of charge and its departure time, and
  the resource settings have no such fields. EVs are left out rather than
  bid blindly.
- Other types (heat pumps, boilers, solar, chargers, groups) do not bid:
  their flexibility depends on comfort or weather that GridFlex does not
  model.

The planner assumes the battery holds its state of charge outside
activations (its own schedule is the baseline); the bids are planned again
on every state-of-charge change, so the open bids follow what it does.
Energy moved in a quarter-hour counts the conversion losses: discharging
``p`` kW for 15 minutes takes ``p / 4 / efficiency`` kWh out of the battery,
charging puts ``p / 4 * efficiency`` kWh in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Final

QUARTER_HOUR: Final = timedelta(minutes=15)
HOURS_PER_QUARTER: Final = Decimal("0.25")
BID_HORIZON_QUARTERS: Final = 16
"""How many quarter-hours ahead GridFlex bids (4 hours)."""
MIN_OFFER_KW: Final = Decimal("0.1")
"""Offers smaller than this are not worth a bid point."""
DEFAULT_EFFICIENCY: Final = Decimal("0.95")
"""One-way conversion efficiency assumed for a battery."""
_KW_PLACES: Final = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class BatteryState:
    """A battery as the planner sees it."""

    power_min_kw: Decimal
    """The resource's lowest power (most export, normally negative), kW."""
    power_max_kw: Decimal
    """The resource's highest power (most import, normally positive), kW."""
    capacity_kwh: Decimal
    soc_percent: Decimal
    reserve_soc_percent: Decimal
    """The homeowner's reserve: never discharge below it."""
    max_soc_percent: Decimal = Decimal(100)
    """Never charge above it."""
    efficiency: Decimal = DEFAULT_EFFICIENCY


@dataclass(frozen=True, slots=True)
class Offer:
    """What the battery can offer for one quarter-hour (both >= 0, kW)."""

    start: datetime
    end: datetime
    charge_kw: Decimal
    """Import the battery can run at (a positive bid point)."""
    discharge_kw: Decimal
    """Export the battery can run at (a negative bid point)."""

    @property
    def empty(self) -> bool:
        """Whether there is nothing worth bidding."""
        return self.charge_kw == 0 and self.discharge_kw == 0


def first_window(now: datetime) -> datetime:
    """Return the start of the first quarter-hour GridFlex bids: the next one.

    A moment on a quarter-hour boundary is itself the start.
    """
    now = now.astimezone(UTC)
    floor = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return floor if floor == now else floor + QUARTER_HOUR


def plan_battery(
    state: BatteryState,
    now: datetime,
    *,
    quarters: int = BID_HORIZON_QUARTERS,
    committed_kw: Mapping[datetime, Decimal] | None = None,
    skip: frozenset[datetime] = frozenset(),
) -> list[Offer]:
    """Return the battery's offer for each of the coming quarter-hours.

    ``committed_kw`` maps the start of a quarter-hour with an accepted bid to
    its setpoint (kW, import positive): that energy is counted in the state
    of charge of every later moment, and that quarter-hour gets no offer,
    nor do the starts in ``skip``. An offer in quarter-hour ``k`` keeps the
    state of charge within the reserve and the maximum until the end of the
    horizon, whatever else was accepted.
    """
    committed = {
        start.astimezone(UTC): kw for start, kw in (committed_kw or {}).items()
    }
    capacity = max(state.capacity_kwh, Decimal(0))
    reserve = capacity * _clamp_percent(state.reserve_soc_percent) / 100
    ceiling = capacity * _clamp_percent(state.max_soc_percent) / 100
    energy = capacity * _clamp_percent(state.soc_percent) / 100
    efficiency = min(max(state.efficiency, Decimal("0.01")), Decimal(1))
    start = first_window(now)
    windows = [start + QUARTER_HOUR * index for index in range(quarters)]
    # The stored energy at the start of each window and at the horizon's end.
    levels = [energy]
    for window in windows:
        kw = committed.get(window, Decimal(0))
        moved = kw * HOURS_PER_QUARTER
        energy += moved * efficiency if kw > 0 else moved / efficiency
        levels.append(energy)
    offers: list[Offer] = []
    for index, window in enumerate(windows):
        if window in committed or window in skip:
            continue
        later = levels[index:]
        room_down = min(later) - reserve
        room_up = ceiling - max(later)
        discharge = min(
            -min(state.power_min_kw, Decimal(0)),
            room_down * efficiency / HOURS_PER_QUARTER,
        )
        charge = min(
            max(state.power_max_kw, Decimal(0)),
            room_up / efficiency / HOURS_PER_QUARTER,
        )
        offers.append(
            Offer(
                start=window,
                end=window + QUARTER_HOUR,
                charge_kw=_offer(charge),
                discharge_kw=_offer(discharge),
            )
        )
    return offers


def _clamp_percent(value: Decimal) -> Decimal:
    return min(max(value, Decimal(0)), Decimal(100))


def _offer(kw: Decimal) -> Decimal:
    """Round an offer down to watts; nothing below the smallest worthwhile offer."""
    kw = kw.quantize(_KW_PLACES, rounding=ROUND_DOWN)
    return kw if kw >= MIN_OFFER_KW else Decimal(0)
