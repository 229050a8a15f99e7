"""What a resource can offer per quarter-hour: the flexibility GridFlex bids.

Pure functions, no I/O. Which resources bid:

- **Batteries** (``battery``): once the homeowner switches bidding on and the
  battery has a state-of-charge sensor and a capacity. The offer of each
  quarter-hour is the extra charge (import) and discharge (export) power the
  battery can run at for the whole quarter-hour, within its power limits and
  without leaving the homeowner's reserve and maximum state of charge at any
  moment of the horizon, accepted bids included (``plan_battery``).
- **Electric vehicles** (``electric_vehicle`` and ``ev_charger``): once the
  homeowner switches bidding on, only while the car is connected and until
  its departure (``plan_vehicle``). The car must reach its target state of
  charge by the departure: a quarter-hour offers *less charging* (a point at
  the resource's lowest power, 0 kW for a charger) only when the whole
  quarter-hours after it, up to the departure, can still charge to the
  target at the resource's maximum power; *more charging* (a point at the
  most it can charge) only up to the maximum state of charge. A car never
  discharges for a bid, unless the resource's minimum power is negative
  (vehicle-to-grid): then it discharges only above the reserve and only as
  far as the target stays reachable.
- Other types (heat pumps, boilers, solar, wind, groups) do not bid: their
  flexibility depends on comfort or weather that GridFlex does not model.

The planner assumes the battery or car holds its state of charge outside
activations (the conservative reading for the target: whatever it charges
meanwhile only helps); the bids are planned again on every state-of-charge
change, so the open bids follow what it does. Energy moved in a quarter-hour
counts the conversion losses: discharging ``p`` kW for 15 minutes takes
``p / 4 / efficiency`` kWh out of the battery, charging puts
``p / 4 * efficiency`` kWh in.
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
class VehicleState:
    """An electric vehicle, connected, as the planner sees it."""

    power_min_kw: Decimal
    """The resource's lowest power: 0 for a charger, negative for vehicle-to-grid."""
    power_max_kw: Decimal
    """The most the car charges at, kW."""
    capacity_kwh: Decimal
    soc_percent: Decimal
    target_soc_percent: Decimal
    """The state of charge the car must have at its departure."""
    departure: datetime
    """When the car leaves (aware); nothing is offered from then on."""
    reserve_soc_percent: Decimal = Decimal(20)
    """Vehicle-to-grid never discharges below it."""
    max_soc_percent: Decimal = Decimal(100)
    """Never charged above it for a bid."""
    efficiency: Decimal = DEFAULT_EFFICIENCY


@dataclass(frozen=True, slots=True)
class Offer:
    """What a resource can offer for one quarter-hour: up to two absolute powers (kW).

    ``low_kw`` is the lower point (less import or more export: a battery's
    discharge, a car's charge reduction); ``high_kw`` the higher (more
    import). ``None``: no point that way.
    """

    start: datetime
    end: datetime
    low_kw: Decimal | None = None
    high_kw: Decimal | None = None

    @property
    def charge_kw(self) -> Decimal:
        """The charge (import) offered, >= 0."""
        return max(self.high_kw or Decimal(0), Decimal(0))

    @property
    def discharge_kw(self) -> Decimal:
        """The discharge (export) offered, >= 0."""
        return max(-(self.low_kw or Decimal(0)), Decimal(0))

    @property
    def empty(self) -> bool:
        """Whether there is nothing worth bidding."""
        return self.low_kw is None and self.high_kw is None


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
        discharge, charge = _offer(discharge), _offer(charge)
        offers.append(
            Offer(
                start=window,
                end=window + QUARTER_HOUR,
                low_kw=-discharge if discharge else None,
                high_kw=charge or None,
            )
        )
    return offers


def plan_vehicle(
    state: VehicleState,
    now: datetime,
    *,
    quarters: int = BID_HORIZON_QUARTERS,
    committed_kw: Mapping[datetime, Decimal] | None = None,
    skip: frozenset[datetime] = frozenset(),
) -> list[Offer]:
    """Return a connected car's offer for each coming quarter-hour before its departure.

    Only whole quarter-hours that end by the departure are offered. The
    lower point of quarter-hour ``k`` is the resource's lowest power (0 kW
    for a charger), or for vehicle-to-grid the most it can discharge above
    the reserve; it is offered only when the target is still reached at the
    departure by charging at the maximum power in every quarter-hour after
    ``k`` (accepted bids count with their setpoint, the quarter-hour
    running now not at all). The higher point is the most the car can
    charge without going above the maximum state of charge.
    """
    committed = {
        start.astimezone(UTC): kw for start, kw in (committed_kw or {}).items()
    }
    efficiency = min(max(state.efficiency, Decimal("0.01")), Decimal(1))
    capacity = max(state.capacity_kwh, Decimal(0))
    reserve = capacity * _clamp_percent(state.reserve_soc_percent) / 100
    ceiling = capacity * _clamp_percent(state.max_soc_percent) / 100
    target = capacity * _clamp_percent(state.target_soc_percent) / 100
    energy = capacity * _clamp_percent(state.soc_percent) / 100
    departure = state.departure.astimezone(UTC)
    windows: list[datetime] = []
    window = first_window(now)
    while window + QUARTER_HOUR <= departure:
        windows.append(window)
        window += QUARTER_HOUR
    levels = [energy]
    for window in windows:
        levels.append(
            levels[-1] + _moved(committed.get(window, Decimal(0)), efficiency)
        )
    # What the quarter-hours from index i to the departure can still add.
    full = _moved(max(state.power_max_kw, Decimal(0)), efficiency)
    later = [Decimal(0)] * (len(windows) + 1)
    for index in range(len(windows) - 1, -1, -1):
        kw = committed.get(windows[index])
        later[index] = later[index + 1] + (
            full if kw is None else _moved(kw, efficiency)
        )
    offers: list[Offer] = []
    for index, window in enumerate(windows[:quarters]):
        if window in committed or window in skip:
            continue
        # Energy this quarter-hour may end below where it started, target kept.
        spare = levels[index] + later[index + 1] - target
        low = _vehicle_low(state, spare, min(levels[index:]) - reserve, efficiency)
        room_up = ceiling - max(levels[index:])
        charge = _offer(
            min(
                max(state.power_max_kw, Decimal(0)),
                room_up / efficiency / HOURS_PER_QUARTER,
            )
        )
        high = charge if charge and (low is None or charge > low) else None
        if low is not None and high is None and low >= state.power_max_kw:
            low = None  # a single point at the most it charges is no reduction
        offers.append(
            Offer(start=window, end=window + QUARTER_HOUR, low_kw=low, high_kw=high)
        )
    return offers


def _vehicle_low(
    state: VehicleState, spare: Decimal, above_reserve: Decimal, efficiency: Decimal
) -> Decimal | None:
    """Return a car's lower point for a quarter-hour, or None when it has none.

    ``spare`` is the energy the quarter-hour may end below where it started
    with the target still reached; ``above_reserve`` the least energy above
    the reserve from then on.
    """
    if state.power_min_kw < 0:
        # Vehicle-to-grid: discharge above the reserve, the target kept.
        room = min(above_reserve, spare)
        discharge = _offer(
            min(-state.power_min_kw, room * efficiency / HOURS_PER_QUARTER)
        )
        if discharge:
            return -discharge
        return Decimal(0) if spare >= 0 else None
    if spare + _moved(state.power_min_kw, efficiency) >= 0:
        return state.power_min_kw
    return None


def _moved(kw: Decimal, efficiency: Decimal) -> Decimal:
    """The stored energy a quarter-hour at ``kw`` adds (negative: takes out)."""
    moved = kw * HOURS_PER_QUARTER
    return moved * efficiency if kw > 0 else moved / efficiency


def _clamp_percent(value: Decimal) -> Decimal:
    return min(max(value, Decimal(0)), Decimal(100))


def _offer(kw: Decimal) -> Decimal:
    """Round an offer down to watts; nothing below the smallest worthwhile offer."""
    kw = kw.quantize(_KW_PLACES, rounding=ROUND_DOWN)
    return kw if kw >= MIN_OFFER_KW else Decimal(0)
