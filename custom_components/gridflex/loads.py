"""Curtailable loads: what a ``load`` subentry holds and how it is turned down.

A *load* is a device of the home that the "keep under limit" controller may
turn down while a power limit is in force. It is a config subentry of the
site (type ``load``), never sent to any platform. Its data:

- ``name``: how it is called (also the subentry's title);
- ``control``: the entity GridFlex moves, with the same per-domain mapping as
  a resource's control (``controls.py``): a ``number`` setpoint, a ``select``
  mode, a ``switch`` or a ``climate`` temperature offset;
- ``power_entity``: the sensor showing its consumption;
- ``nominal_kw``: the most it draws (kW);
- ``priority``: 1 is the most important; the highest number is curtailed
  first and restored last;
- ``resource_subentry_id`` (optional): the resource it belongs to, for that
  resource's own limits (ResourceLPC) and Powernaut activations;
- ``dwell_s`` (optional): the least time between two changes, instead of
  the default of its kind.

``load_spec`` turns a load into the decision core's ladder
(``limit_control.LoadSpec``), from the control entity's state (a number's
``min``/``max``/``step``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import State

from .controls import (
    CLIMATE_DOMAINS,
    NUMBER_DOMAINS,
    SELECT_DOMAINS,
    SWITCH_DOMAINS,
    ClimateControl,
    Control,
    Direction,
    NumberControl,
    SelectControl,
    control_from,
    decimal_or_none,
)
from .limit_control import (
    LoadSpec,
    battery_number_load,
    battery_select_load,
    climate_load,
    number_load,
    switch_load,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

SUBENTRY_LOAD: Final = "load"
CONF_NAME: Final = "name"
CONF_LOAD_CONTROL: Final = "control"
CONF_NOMINAL_KW: Final = "nominal_kw"
CONF_PRIORITY: Final = "priority"
CONF_RESOURCE_SUBENTRY_ID: Final = "resource_subentry_id"
CONF_DWELL_S: Final = "dwell_s"
DEFAULT_PRIORITY: Final = 5

_KW_PER_UNIT: Final = {"w": 0.001, "kw": 1.0}


def load_subentries(entry: ConfigEntry[Any]) -> dict[str, ConfigSubentry]:
    """Return the entry's load subentries by subentry id."""
    return {
        subentry_id: subentry
        for subentry_id, subentry in entry.subentries.items()
        if subentry.subentry_type == SUBENTRY_LOAD
    }


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """A load subentry, read."""

    subentry_id: str
    name: str
    control: Control
    power_entity: str | None
    nominal_kw: float
    priority: int
    resource_subentry_id: str | None
    dwell: timedelta | None
    mapping: dict[str, Any]
    """The control mapping as stored (kept while the load is curtailed)."""


def load_config(subentry: ConfigSubentry) -> LoadConfig | None:
    """Return the load a subentry describes (``None``: unusable)."""
    data = subentry.data
    nominal = decimal_or_none(data.get(CONF_NOMINAL_KW))
    if nominal is None or nominal <= 0:
        return None
    mapping = dict(data.get(CONF_LOAD_CONTROL) or {})
    control = control_from(mapping, Decimal(0), Decimal(nominal))
    if control is None:
        return None
    dwell = data.get(CONF_DWELL_S)
    return LoadConfig(
        subentry_id=subentry.subentry_id,
        name=str(data.get(CONF_NAME) or subentry.title),
        control=control,
        power_entity=data.get("power_entity") or None,
        nominal_kw=float(nominal),
        priority=int(data.get(CONF_PRIORITY) or DEFAULT_PRIORITY),
        resource_subentry_id=data.get(CONF_RESOURCE_SUBENTRY_ID) or None,
        dwell=timedelta(seconds=int(dwell)) if dwell is not None else None,
        mapping=mapping,
    )


def _number_attrs(state: State | None) -> tuple[float, float, float] | None:
    if state is None:
        return None
    values = [
        decimal_or_none(state.attributes.get(key)) for key in ("min", "max", "step")
    ]
    low, high, step = values
    if low is None or high is None or high < low:
        return None
    if step is None or step <= 0:
        step = (high - low) / 10 or Decimal(1)
    return float(low), float(high), float(step)


def load_spec(config: LoadConfig, state: State | None) -> LoadSpec | None:
    """Return the load's ladder for the decision core (``None``: not known yet).

    - a number setpoint: from the most it may draw (its maximum, at most the
      nominal power) down by its step to its minimum; a number counting
      discharging positive (a battery) discharges step by step instead;
    - a switch: on, or off (hard);
    - a climate: its target lowered by the offset (hard: the compressor stops);
    - a select: the option to consume less (soft).
    """
    control = config.control
    key = config.subentry_id
    dwell = config.dwell
    domain = control.domain
    if domain in NUMBER_DOMAINS:
        assert isinstance(control, NumberControl)
        attrs = _number_attrs(state)
        if attrs is None:
            return None
        low, high, step = attrs
        per_unit = (
            float(control.scale) / 1000
            if control.unit == "a"
            else _KW_PER_UNIT[control.unit]
        )
        if control.inverted:
            return battery_number_load(
                key,
                max_discharge_kw=max(high, 0.0) * per_unit,
                step_kw=step * per_unit,
                nominal_kw=config.nominal_kw,
                dwell=dwell,
            )
        maximum = max(low, min(high, config.nominal_kw / per_unit))
        return number_load(
            key,
            minimum=low,
            maximum=maximum,
            step=step,
            kw_per_unit=per_unit,
            dwell=dwell,
            switch_dwell=dwell,
        )
    if domain in SWITCH_DOMAINS:
        return switch_load(key, nominal_kw=config.nominal_kw, dwell=dwell)
    if domain in CLIMATE_DOMAINS:
        assert isinstance(control, ClimateControl)
        return climate_load(
            key,
            nominal_kw=config.nominal_kw,
            max_offset=float(control.offset),
            dwell=dwell,
        )
    if domain in SELECT_DOMAINS:
        assert isinstance(control, SelectControl)
        if control.option_down is None:
            return None
        return battery_select_load(
            key,
            option=control.option_down,
            discharge_kw=0.0,
            nominal_kw=config.nominal_kw,
            dwell=dwell,
        )
    return None


def control_value(
    config: LoadConfig, value: Any, state: State | None, prior: Any
) -> Any:
    """Return what to set on the control for a curtailed level's value.

    ``None`` when nothing can be set (the entity is not known).
    """
    control = config.control
    if isinstance(control, NumberControl):
        if not isinstance(value, (int, float)):
            return None
        if control.inverted:
            per_unit = (
                float(control.scale) / 1000
                if control.unit == "a"
                else _KW_PER_UNIT[control.unit]
            )
            return round(float(value) / per_unit, 6)
        return float(value)
    if isinstance(control, SelectControl):
        return value if isinstance(value, str) else None
    # A switch turned off, a climate lowered: as far down as the control goes.
    return control.for_direction(Direction.DOWN, state, prior)
