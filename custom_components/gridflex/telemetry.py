"""Measurements from Home Assistant's state changes, in kW, import positive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, UnitOfPower
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers.event import async_track_state_change_event

# Exact factors to kW; Decimal keeps 1234 W as exactly 1.234 kW.
KW_PER_UNIT: dict[str, Decimal] = {
    UnitOfPower.MILLIWATT: Decimal("0.000001"),
    UnitOfPower.WATT: Decimal("0.001"),
    UnitOfPower.KILO_WATT: Decimal(1),
    UnitOfPower.MEGA_WATT: Decimal(1000),
    UnitOfPower.GIGA_WATT: Decimal(1_000_000),
    UnitOfPower.TERA_WATT: Decimal(1_000_000_000),
    UnitOfPower.BTU_PER_HOUR: Decimal("0.00029307107017222"),
}


@dataclass(frozen=True, slots=True)
class Source:
    """One measured quantity: the sum of its sensors, each with a sign.

    The site's grid power is one signed sensor, or an import sensor (+1) and
    an export sensor (-1); a resource is its power sensor.
    """

    key: str
    sensors: tuple[tuple[str, int], ...]


def to_kw(state: State | None) -> Decimal | None:
    """Return the state in kW, or None when it is not a valid power reading."""
    if state is None:
        return None
    factor = KW_PER_UNIT.get(state.attributes.get(ATTR_UNIT_OF_MEASUREMENT, ""))
    if factor is None:
        return None
    try:
        value = Decimal(state.state)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value * factor


MAX_PENDING = 256
"""Recorded state changes read at once, whatever the time (bounds the memory)."""


class Telemetry:
    """Follow the mapped sensors and keep each source's latest value.

    Fed by state-change events (the state machine is never polled). A state
    change is only recorded as it comes, nothing parsed: ``drain`` reads the
    recorded changes in order, each at its own time, exactly as if it had
    been read at once, and gives each source's new value to ``on_value``.
    ``latest`` and ``skipped`` drain first, so they are always current; the
    owner drains on its timers (every 4 s, every minute) and at the latest
    every ``MAX_PENDING`` changes.

    Invalid readings (unknown, unavailable, non-numeric, NaN, infinite, a
    unit that is not power) are skipped and counted; the source then has no
    value until a valid reading arrives.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        sources: list[Source],
        on_value: Callable[[str, datetime, Decimal | None], None],
    ) -> None:
        """Prepare to follow ``sources``; ``on_value`` gets every new value."""
        self.hass = hass
        self._sources = {source.key: source for source in sources}
        self._by_entity: dict[str, list[Source]] = {}
        for source in sources:
            for entity_id, _sign in source.sensors:
                self._by_entity.setdefault(entity_id, []).append(source)
        self._readings: dict[str, Decimal | None] = {}
        self._latest: dict[str, Decimal | None] = {}
        self._skipped = 0
        self._pending: list[Event[EventStateChangedData]] = []
        self._on_value = on_value
        self._unsub: CALLBACK_TYPE | None = None

    @property
    def latest(self) -> dict[str, Decimal | None]:
        """Return each source's latest value (``None``: no valid reading)."""
        self.drain()
        return self._latest

    @property
    def skipped(self) -> int:
        """Return how many invalid readings were skipped."""
        self.drain()
        return self._skipped

    @callback
    def async_start(self, now: datetime) -> CALLBACK_TYPE:
        """Read the current states once, then follow their changes."""
        for entity_id in self._by_entity:
            self._readings[entity_id] = to_kw(self.hass.states.get(entity_id))
        for key in self._sources:
            self._update(key, now)
        self._unsub = async_track_state_change_event(
            self.hass, list(self._by_entity), self._async_state_changed
        )
        return self.async_stop

    @callback
    def async_stop(self) -> None:
        """Read what is recorded, then stop following the sensors."""
        self.drain()
        if self._unsub is not None:
            self._unsub()
            self._unsub = None

    @callback
    def _async_state_changed(self, event: Event[EventStateChangedData]) -> None:
        """Record the change; it is read by the next ``drain``."""
        pending = self._pending
        pending.append(event)
        if len(pending) >= MAX_PENDING:
            self.drain()

    @callback
    def drain(self) -> bool:
        """Read the recorded state changes in order; return whether there were any."""
        if not self._pending:
            return False
        pending, self._pending = self._pending, []
        by_entity = self._by_entity
        for event in pending:
            data = event.data
            entity_id = data["entity_id"]
            new_state = data["new_state"]
            value = to_kw(new_state)
            if value is None and new_state is not None:
                self._skipped += 1
            self._readings[entity_id] = value
            moment = new_state.last_updated if new_state else event.time_fired
            for source in by_entity.get(entity_id, ()):
                self._update(source.key, moment)
        return True

    @callback
    def _update(self, key: str, moment: datetime) -> None:
        """Recompute a source from its sensors' latest readings."""
        total = Decimal(0)
        for entity_id, sign in self._sources[key].sensors:
            reading = self._readings.get(entity_id)
            if reading is None:
                total_or_none: Decimal | None = None
                break
            total += sign * reading
        else:
            total_or_none = total
        self._latest[key] = total_or_none
        self._on_value(key, moment, total_or_none)
