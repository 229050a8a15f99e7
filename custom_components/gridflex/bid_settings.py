"""The homeowner's bidding settings of a resource: the form's ``bidding`` section.

Stored in the resource subentry as ``bidding: {bid_enabled, bid_min_price,
reserve_soc, max_soc}``. Bidding is off by default; the minimum price is per
kWh in the site's currency (Powernaut's ``price`` is a unit price per kWh and
takes at most 5 decimals); the reserve (20 %) and maximum (95 %) state of
charge bound what a battery offers.

An electric vehicle's section also holds ``connected_entity`` (a binary
sensor or input boolean, on while the car is plugged in), ``target_soc``
(80 % by default) and ``departure_time`` (local time of day, the next
occurrence counts). An ``electric_vehicle`` resource maps its
state-of-charge sensor and capacity in the form itself; an ``ev_charger``
resource has no such fields, so its section adds ``ev_soc_entity`` and
``ev_capacity_kwh``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TimeSelector,
)
from homeassistant.util import dt as dt_util
import probatio as vol

from .const import (
    CONF_BID_ENABLED,
    CONF_BID_MIN_PRICE,
    CONF_BIDDING,
    CONF_CAPACITY,
    CONF_MAX_SOC,
    CONF_RESERVE_SOC,
    CONF_SOC_ENTITY,
    DEFAULT_BID_MIN_PRICE,
    DEFAULT_MAX_SOC,
    DEFAULT_RESERVE_SOC,
)
from .platforms.models import ResourceType

PRICE_DECIMALS = 5
"""The decimals Powernaut takes in a bid price."""
VEHICLE_TYPES: Final = frozenset(
    {ResourceType.ELECTRIC_VEHICLE, ResourceType.EV_CHARGER}
)
"""The resource types that bid as an electric vehicle."""
CONF_CONNECTED_ENTITY: Final = "connected_entity"
CONF_TARGET_SOC: Final = "target_soc"
CONF_DEPARTURE_TIME: Final = "departure_time"
CONF_EV_SOC_ENTITY: Final = "ev_soc_entity"
CONF_EV_CAPACITY: Final = "ev_capacity_kwh"
DEFAULT_TARGET_SOC: Final = 80
DEFAULT_DEPARTURE_TIME: Final = "07:00:00"


def bidding_section(
    currency: str, resource_type: ResourceType = ResourceType.BATTERY
) -> section:
    """Return the form's section with the bidding settings (bidding off by default)."""
    percent = NumberSelectorConfig(
        mode=NumberSelectorMode.SLIDER, min=0, max=100, step=1, unit_of_measurement="%"
    )
    fields: dict[vol.Marker, Any] = {}
    if resource_type in VEHICLE_TYPES:
        fields[vol.Optional(CONF_CONNECTED_ENTITY)] = EntitySelector(
            EntitySelectorConfig(domain=["binary_sensor", "input_boolean"])
        )
        if resource_type is ResourceType.EV_CHARGER:
            fields[vol.Optional(CONF_EV_SOC_ENTITY)] = EntitySelector(
                EntitySelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.BATTERY
                )
            )
            fields[vol.Optional(CONF_EV_CAPACITY)] = NumberSelector(
                NumberSelectorConfig(
                    mode=NumberSelectorMode.BOX,
                    min=0,
                    step="any",
                    unit_of_measurement="kWh",
                )
            )
        fields[vol.Optional(CONF_TARGET_SOC, default=DEFAULT_TARGET_SOC)] = (
            NumberSelector(percent)
        )
        fields[vol.Optional(CONF_DEPARTURE_TIME, default=DEFAULT_DEPARTURE_TIME)] = (
            TimeSelector()
        )
    return section(
        vol.Schema(
            {
                vol.Optional(CONF_BID_ENABLED, default=False): BooleanSelector(),
                vol.Optional(
                    CONF_BID_MIN_PRICE, default=float(DEFAULT_BID_MIN_PRICE)
                ): NumberSelector(
                    NumberSelectorConfig(
                        mode=NumberSelectorMode.BOX,
                        min=0,
                        step="any",
                        unit_of_measurement=f"{currency}/kWh",
                    )
                ),
                vol.Optional(
                    CONF_RESERVE_SOC, default=DEFAULT_RESERVE_SOC
                ): NumberSelector(percent),
                vol.Optional(CONF_MAX_SOC, default=DEFAULT_MAX_SOC): NumberSelector(
                    percent
                ),
                **fields,
            }
        ),
        {"collapsed": True},
    )


def validate_bidding(
    value: Any,
    errors: dict[str, str],
    resource_type: ResourceType = ResourceType.BATTERY,
    resource: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check the bidding settings; return them as stored (bidding off when absent).

    Errors go under ``bidding``: ``bid_price_invalid`` for a negative price or
    one with more than 5 decimals, ``reserve_above_max`` unless
    0 <= reserve < maximum <= 100. For an electric vehicle also
    ``target_out_of_range`` unless reserve <= target <= maximum,
    ``departure_invalid`` for a time that cannot be read, and, with bidding
    on, ``connected_required`` without the connected sensor; the
    state-of-charge sensor and the capacity (of ``resource``, the form, for an
    ``electric_vehicle``) are then required too: ``soc_required_for_bids`` and
    ``capacity_required_for_bids``, under the field where they are mapped.
    """
    value = value if isinstance(value, dict) else {}
    settings = {
        CONF_BID_ENABLED: bool(value.get(CONF_BID_ENABLED, False)),
        CONF_BID_MIN_PRICE: value.get(CONF_BID_MIN_PRICE, float(DEFAULT_BID_MIN_PRICE)),
        CONF_RESERVE_SOC: value.get(CONF_RESERVE_SOC, DEFAULT_RESERVE_SOC),
        CONF_MAX_SOC: value.get(CONF_MAX_SOC, DEFAULT_MAX_SOC),
    }
    try:
        # str() of a float is its shortest round-trip form: 0.25 -> "0.25".
        price = Decimal(str(settings[CONF_BID_MIN_PRICE]))
        reserve = Decimal(str(settings[CONF_RESERVE_SOC]))
        ceiling = Decimal(str(settings[CONF_MAX_SOC]))
    except InvalidOperation, ValueError:
        errors[CONF_BIDDING] = "bid_price_invalid"
        return settings
    exponent = price.as_tuple().exponent
    if (
        not price.is_finite()
        or price < 0
        or (isinstance(exponent, int) and exponent < -PRICE_DECIMALS)
    ):
        errors[CONF_BIDDING] = "bid_price_invalid"
    elif not 0 <= reserve < ceiling <= 100:
        errors[CONF_BIDDING] = "reserve_above_max"
    if resource_type in VEHICLE_TYPES:
        settings.update(
            _validate_vehicle(value, settings, resource_type, resource or {}, errors)
        )
    return settings


def _validate_vehicle(
    value: Mapping[str, Any],
    settings: Mapping[str, Any],
    resource_type: ResourceType,
    resource: Mapping[str, Any],
    errors: dict[str, str],
) -> dict[str, Any]:
    """Check an electric vehicle's own bidding settings; return them as stored."""
    vehicle: dict[str, Any] = {
        CONF_CONNECTED_ENTITY: value.get(CONF_CONNECTED_ENTITY) or None,
        CONF_TARGET_SOC: value.get(CONF_TARGET_SOC, DEFAULT_TARGET_SOC),
        CONF_DEPARTURE_TIME: value.get(CONF_DEPARTURE_TIME, DEFAULT_DEPARTURE_TIME),
    }
    if resource_type is ResourceType.EV_CHARGER:
        vehicle[CONF_EV_SOC_ENTITY] = value.get(CONF_EV_SOC_ENTITY) or None
        vehicle[CONF_EV_CAPACITY] = value.get(CONF_EV_CAPACITY)
        soc_key, soc = CONF_BIDDING, vehicle[CONF_EV_SOC_ENTITY]
        capacity_key, capacity = CONF_BIDDING, vehicle[CONF_EV_CAPACITY]
    else:
        soc_key, soc = CONF_SOC_ENTITY, resource.get(CONF_SOC_ENTITY)
        capacity_key, capacity = CONF_CAPACITY, resource.get(CONF_CAPACITY)
    target = _number(vehicle[CONF_TARGET_SOC])
    reserve = _number(settings[CONF_RESERVE_SOC])
    ceiling = _number(settings[CONF_MAX_SOC])
    if target is None or (
        reserve is not None and ceiling is not None and not reserve <= target <= ceiling
    ):
        errors.setdefault(CONF_BIDDING, "target_out_of_range")
    elif parse_departure(vehicle[CONF_DEPARTURE_TIME]) is None:
        errors.setdefault(CONF_BIDDING, "departure_invalid")
    if settings[CONF_BID_ENABLED]:
        if not vehicle[CONF_CONNECTED_ENTITY]:
            errors.setdefault(CONF_BIDDING, "connected_required")
        if not soc:
            errors.setdefault(soc_key, "soc_required_for_bids")
        if (number := _number(capacity)) is None or number <= 0:
            errors.setdefault(capacity_key, "capacity_required_for_bids")
    return vehicle


def _number(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation, ValueError:
        return None
    return number if number.is_finite() else None


def parse_departure(value: Any) -> time | None:
    """Read a departure time of day (``HH:MM`` or ``HH:MM:SS``); None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def departures(departure: time, now: datetime) -> tuple[datetime, datetime]:
    """Return the latest departure at or before ``now`` and the next one after it.

    The time is the home's local time of day; each day has one departure.
    """
    zone = dt_util.get_default_time_zone()
    today = dt_util.as_local(now).date()
    moments = [
        datetime.combine(today + timedelta(days=days), departure, tzinfo=zone)
        for days in (-1, 0, 1)
    ]
    previous = max(moment for moment in moments if moment <= now)
    following = min(moment for moment in moments if moment > now)
    return previous, following
