"""How a control entity is driven and restored.

A *control* is the Home Assistant entity GridFlex moves to change what a
device consumes or produces. Four kinds, by the entity's domain:

- ``number`` / ``input_number``: a power or current setpoint (W, kW, or A with
  a W/A scale), optionally counting discharging positive; fitted to the
  entity's ``min``, ``max`` and ``step``;
- ``select`` / ``input_select``: an option for "consume more / charge", one for
  "consume less / discharge" and, optionally, a normal option;
- ``switch`` / ``input_boolean``: on consumes (or, inverted, produces), off
  sheds;
- ``climate``: the target temperature found at the start, raised by an offset
  (°C) to consume more and lowered by it to consume less (the other way round
  while the climate cools), within its ``min_temp``/``max_temp``.

Every control can capture its state before GridFlex takes it, say what to set
for a power (kW, consumption positive) or for a direction, set it, say what to
return to afterwards (the mapped normal state, else the captured one) and tell
a change GridFlex made (by its context) from a manual one. ``async_shed``
and ``async_restore`` turn a load down as far as its control goes and back,
for a controller that curtails loads.

A power means a direction to the on/off-like controls (select, switch,
climate), read against the middle of what the resource can do: 0 kW for a
resource that can both consume and produce (a battery), the middle of its
power range otherwise (1 kW for a 0-2 kW water heater). Above it is *up*
(consume more / charge), below it *down* (consume less / discharge), at it
*hold* (the normal or captured state).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_TEMPERATURE,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import (
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
)

CONF_CONTROL_ENTITY: Final = "control_entity"
CONF_CONTROL_UNIT: Final = "control_unit"
CONF_CONTROL_SCALE: Final = "control_scale"
"""For a current setpoint (A): watts per ampere, i.e. volts times phases."""
CONF_CONTROL_INVERTED: Final = "control_inverted"
"""The control counts production/discharge positive (a switch: on produces)."""
CONF_CONTROL_NORMAL: Final = "control_normal"
CONF_CONTROL_OPTION_UP: Final = "control_option_up"
"""A select's option to consume more (or charge)."""
CONF_CONTROL_OPTION_DOWN: Final = "control_option_down"
"""A select's option to consume less (or discharge)."""
CONF_CONTROL_OPTION_NORMAL: Final = "control_option_normal"
CONF_CONTROL_OFFSET: Final = "control_offset"
"""A climate's temperature offset (°C)."""

CONTROL_UNITS: Final = ("w", "kw", "a")
"""A number's unit: watt, kilowatt, or ampere (converted with the scale)."""
DEFAULT_SCALE: Final = 230
DEFAULT_OFFSET: Final = 2.0
NUMBER_DOMAINS: Final = ("number", "input_number")
SELECT_DOMAINS: Final = ("select", "input_select")
SWITCH_DOMAINS: Final = ("switch", "input_boolean")
CLIMATE_DOMAINS: Final = ("climate",)
CONTROL_DOMAINS: Final = (
    NUMBER_DOMAINS + SELECT_DOMAINS + SWITCH_DOMAINS + CLIMATE_DOMAINS
)

_PER_KW: Final = {"w": Decimal(1000), "kw": Decimal(1)}
_MISSING: Final = (STATE_UNKNOWN, STATE_UNAVAILABLE)


class Direction(StrEnum):
    """Which way a request moves a resource on the power axis."""

    UP = "up"
    """Consume more, or charge."""
    DOWN = "down"
    """Consume less, or discharge / produce."""
    HOLD = "hold"
    """Neither: the normal (or captured) state."""


def decimal_or_none(value: Any) -> Decimal | None:
    """Return a finite decimal, or ``None`` for anything else."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def domain_of(entity_id: str) -> str:
    """Return an entity id's domain."""
    return entity_id.partition(".")[0]


@dataclass(frozen=True, slots=True)
class Control(ABC):
    """An entity GridFlex drives, within a resource's power range (kW)."""

    entity_id: str
    power_min_kw: Decimal
    power_max_kw: Decimal

    @property
    def domain(self) -> str:
        """The entity's domain (the services are called in it)."""
        return domain_of(self.entity_id)

    def direction(self, kw: Decimal) -> Direction:
        """Return the direction a power asks for (see the module's rule)."""
        low, high = self.power_min_kw, self.power_max_kw
        middle = Decimal(0) if low < 0 < high else (low + high) / 2
        if kw > middle:
            return Direction.UP
        if kw < middle:
            return Direction.DOWN
        return Direction.HOLD

    @abstractmethod
    def read(self, state: State | None) -> Any:
        """Return the control's value as GridFlex compares it (``None``: unknown)."""

    def capture(self, state: State | None) -> Any:
        """Return what to keep of the state before GridFlex takes it (JSON-safe)."""
        return self.read(state)

    def restore_value(self, prior: Any) -> Any:
        """Return what to set afterwards: the normal state, else ``prior``."""
        return prior

    @abstractmethod
    def for_power(self, kw: Decimal, state: State | None, prior: Any) -> Any:
        """Return what to set for a power (kW); ``None``: nothing can be set."""

    def for_direction(
        self, direction: Direction, state: State | None, prior: Any
    ) -> Any:
        """Return what to set to go as far as possible in one direction."""
        if direction is Direction.UP:
            return self.for_power(self.power_max_kw, state, prior)
        if direction is Direction.DOWN:
            return self.for_power(self.power_min_kw, state, prior)
        return self.restore_value(prior)

    def matches(self, value: Any, expected: Any, state: State) -> bool:
        """Return whether a value read is the one expected."""
        return bool(value == expected)

    @abstractmethod
    def service_call(self, value: Any) -> tuple[str, dict[str, Any]]:
        """Return the service of the entity's domain that sets ``value``, and its data."""

    async def async_set(
        self, hass: HomeAssistant, value: Any, context: Context
    ) -> None:
        """Set the control (raises ``HomeAssistantError`` when it cannot)."""
        service, data = self.service_call(value)
        await hass.services.async_call(
            self.domain,
            service,
            {ATTR_ENTITY_ID: self.entity_id, **data},
            blocking=True,
            context=context,
        )

    def changed_by_hand(
        self,
        change: Event[EventStateChangedData],
        context: Context,
        expected: Any,
    ) -> bool:
        """Return whether a state change is someone else's doing.

        A change made in ``context`` (or one it caused) is GridFlex's own; a
        change to the value GridFlex set, or one that leaves the value as it
        was, is not a manual one either.
        """
        new_state = change.data["new_state"]
        if new_state is None or context.id in (
            new_state.context.id,
            new_state.context.parent_id,
        ):
            return False
        value = self.read(new_state)
        if value is None:
            return False
        if expected is None:
            expected = self.read(change.data["old_state"])
            if expected is None:
                return False
        return not self.matches(value, expected, new_state)

    async def async_shed(
        self, hass: HomeAssistant, prior: Any, context: Context
    ) -> Any:
        """Turn the device down as far as the control goes; return what was set."""
        value = self.for_direction(
            Direction.DOWN, hass.states.get(self.entity_id), prior
        )
        if value is not None:
            await self.async_set(hass, value, context)
        return value

    async def async_restore(
        self, hass: HomeAssistant, prior: Any, context: Context
    ) -> Any:
        """Set the normal (or ``prior``) state back; return what was set."""
        value = self.restore_value(prior)
        if value is not None:
            await self.async_set(hass, value, context)
        return value


def _known(state: State | None) -> bool:
    return state is not None and state.state not in _MISSING


@dataclass(frozen=True, slots=True)
class NumberControl(Control):
    """A power or current setpoint."""

    unit: str = "w"
    scale: Decimal = Decimal(DEFAULT_SCALE)
    inverted: bool = False
    normal: float | None = None

    def to_control(self, kw: Decimal) -> Decimal:
        """Return a power (kW, consumption positive) in the control's unit."""
        if self.inverted:
            kw = -kw
        if self.unit == "a":
            return kw * 1000 / self.scale
        return kw * _PER_KW[self.unit]

    def read(self, state: State | None) -> float | None:
        """Return the number's value."""
        if state is None or not _known(state):
            return None
        try:
            return float(state.state)
        except ValueError:
            return None

    def restore_value(self, prior: Any) -> Any:
        """Return the normal value, else the one before."""
        return self.normal if self.normal is not None else prior

    def for_power(self, kw: Decimal, state: State | None, prior: Any) -> float | None:
        """Return the setpoint fitted to the number's range and step."""
        if state is None or state.state == STATE_UNAVAILABLE:
            return None
        value = self.to_control(kw)
        low = decimal_or_none(state.attributes.get("min"))
        high = decimal_or_none(state.attributes.get("max"))
        step = decimal_or_none(state.attributes.get("step"))
        if step is not None and step > 0:
            value = (value / step).to_integral_value() * step
        if low is not None:
            value = max(value, low)
        if high is not None:
            value = min(value, high)
        return float(value)

    def matches(self, value: Any, expected: Any, state: State) -> bool:
        """Within half a step: a device that rounds did not change it."""
        step = decimal_or_none(state.attributes.get("step"))
        tolerance = float(step) / 2 if step is not None and step > 0 else 1e-9
        return bool(abs(float(value) - float(expected)) <= tolerance)

    def service_call(self, value: Any) -> tuple[str, dict[str, Any]]:
        """Set the number (``number.set_value`` or ``input_number.set_value``)."""
        return "set_value", {"value": value}


@dataclass(frozen=True, slots=True)
class SelectControl(Control):
    """A mode: one option per direction, and optionally a normal one."""

    option_up: str | None = None
    option_down: str | None = None
    option_normal: str | None = None

    def read(self, state: State | None) -> str | None:
        """Return the option selected."""
        return state.state if state is not None and _known(state) else None

    def restore_value(self, prior: Any) -> Any:
        """Return the normal option, else the one before."""
        return self.option_normal if self.option_normal is not None else prior

    def for_power(self, kw: Decimal, state: State | None, prior: Any) -> str | None:
        """Return the option of the direction the power asks for."""
        return self.for_direction(self.direction(kw), state, prior)

    def for_direction(
        self, direction: Direction, state: State | None, prior: Any
    ) -> str | None:
        """Return the direction's option (none mapped: the normal one)."""
        option = {Direction.UP: self.option_up, Direction.DOWN: self.option_down}.get(
            direction
        )
        value = option if option is not None else self.restore_value(prior)
        return value if isinstance(value, str) else None

    def service_call(self, value: Any) -> tuple[str, dict[str, Any]]:
        """Select the option (``select.select_option`` or ``input_select``'s)."""
        return "select_option", {"option": value}


@dataclass(frozen=True, slots=True)
class SwitchControl(Control):
    """On consumes, off sheds (inverted: on produces or discharges)."""

    inverted: bool = False

    def read(self, state: State | None) -> bool | None:
        """Return whether the switch is on."""
        if state is None or state.state not in (STATE_ON, STATE_OFF):
            return None
        return state.state == STATE_ON

    def for_power(self, kw: Decimal, state: State | None, prior: Any) -> bool | None:
        """Return on or off for the direction the power asks for."""
        return self.for_direction(self.direction(kw), state, prior)

    def for_direction(
        self, direction: Direction, state: State | None, prior: Any
    ) -> bool | None:
        """Up: on (inverted: off); down: off (inverted: on); hold: as before."""
        if direction is Direction.HOLD:
            return prior if isinstance(prior, bool) else None
        return (direction is Direction.UP) != self.inverted

    def service_call(self, value: Any) -> tuple[str, dict[str, Any]]:
        """Turn the switch on or off (``switch`` or ``input_boolean``)."""
        return ("turn_on" if value else "turn_off"), {}


@dataclass(frozen=True, slots=True)
class ClimateControl(Control):
    """The target temperature found at the start, moved by an offset (°C)."""

    offset: Decimal = Decimal(str(DEFAULT_OFFSET))

    def read(self, state: State | None) -> float | None:
        """Return the target temperature."""
        if state is None or not _known(state):
            return None
        value = decimal_or_none(state.attributes.get(ATTR_TEMPERATURE))
        return float(value) if value is not None else None

    def for_power(self, kw: Decimal, state: State | None, prior: Any) -> float | None:
        """Return the target temperature for the direction the power asks for."""
        return self.for_direction(self.direction(kw), state, prior)

    def for_direction(
        self, direction: Direction, state: State | None, prior: Any
    ) -> float | None:
        """Offset the captured temperature; clamp it to the climate's range.

        Heating consumes more at a higher target, cooling at a lower one.
        """
        base = decimal_or_none(prior)
        if base is None:
            base = decimal_or_none(self.read(state))
        if base is None or state is None:
            return None
        sign = {Direction.UP: 1, Direction.DOWN: -1}.get(direction, 0)
        if state.state == "cool":
            sign = -sign
        value = base + sign * self.offset
        step = decimal_or_none(state.attributes.get("target_temp_step"))
        if sign and step is not None and step > 0:
            value = (value / step).to_integral_value() * step
        low = decimal_or_none(state.attributes.get("min_temp"))
        high = decimal_or_none(state.attributes.get("max_temp"))
        if low is not None:
            value = max(value, low)
        if high is not None:
            value = min(value, high)
        return float(value)

    def matches(self, value: Any, expected: Any, state: State) -> bool:
        """Within half a step of the climate (or 0.05 °C)."""
        step = decimal_or_none(state.attributes.get("target_temp_step"))
        tolerance = float(step) / 2 if step is not None and step > 0 else 0.05
        return bool(abs(float(value) - float(expected)) <= tolerance)

    def changed_by_hand(
        self,
        change: Event[EventStateChangedData],
        context: Context,
        expected: Any,
    ) -> bool:
        """A new target temperature, or another HVAC mode, set by someone else."""
        old_state, new_state = change.data["old_state"], change.data["new_state"]
        if (
            old_state is not None
            and new_state is not None
            and _known(old_state)
            and _known(new_state)
            and old_state.state != new_state.state
            and context.id not in (new_state.context.id, new_state.context.parent_id)
        ):
            return True
        return Control.changed_by_hand(self, change, context, expected)

    def service_call(self, value: Any) -> tuple[str, dict[str, Any]]:
        """Set the target temperature (``climate.set_temperature``)."""
        return "set_temperature", {ATTR_TEMPERATURE: value}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def control_from(
    mapping: Mapping[str, Any], power_min_kw: Decimal, power_max_kw: Decimal
) -> Control | None:
    """Return the control a stored mapping describes (``None``: none, or unusable).

    Mappings stored before selects, switches and climates were supported
    (``{control_entity, control_unit, control_scale, control_inverted,
    control_normal}``) read as the number they describe.
    """
    entity_id = mapping.get(CONF_CONTROL_ENTITY)
    if not isinstance(entity_id, str) or not entity_id:
        return None
    domain = domain_of(entity_id)
    base: dict[str, Any] = {
        "entity_id": entity_id,
        "power_min_kw": power_min_kw,
        "power_max_kw": power_max_kw,
    }
    inverted = bool(mapping.get(CONF_CONTROL_INVERTED))
    if domain in NUMBER_DOMAINS:
        unit = mapping.get(CONF_CONTROL_UNIT) or "w"
        scale = decimal_or_none(mapping.get(CONF_CONTROL_SCALE)) or Decimal(
            DEFAULT_SCALE
        )
        if unit not in CONTROL_UNITS or scale <= 0:
            return None
        normal = decimal_or_none(mapping.get(CONF_CONTROL_NORMAL))
        return NumberControl(
            **base,
            unit=unit,
            scale=scale,
            inverted=inverted,
            normal=float(normal) if normal is not None else None,
        )
    if domain in SELECT_DOMAINS:
        up = _text(mapping.get(CONF_CONTROL_OPTION_UP))
        down = _text(mapping.get(CONF_CONTROL_OPTION_DOWN))
        if up is None and down is None:
            return None
        return SelectControl(
            **base,
            option_up=up,
            option_down=down,
            option_normal=_text(mapping.get(CONF_CONTROL_OPTION_NORMAL)),
        )
    if domain in SWITCH_DOMAINS:
        return SwitchControl(**base, inverted=inverted)
    if domain in CLIMATE_DOMAINS:
        offset = decimal_or_none(mapping.get(CONF_CONTROL_OFFSET))
        if offset is None:
            offset = Decimal(str(DEFAULT_OFFSET))
        return ClimateControl(**base, offset=abs(offset)) if offset else None
    return None
