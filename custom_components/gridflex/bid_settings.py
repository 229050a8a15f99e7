"""The homeowner's bidding settings of a resource: the form's ``bidding`` section.

Stored in the resource subentry as ``bidding: {bid_enabled, bid_min_price,
reserve_soc, max_soc}``. Bidding is off by default; the minimum price is per
kWh in the site's currency (Powernaut's ``price`` is a unit price per kWh and
takes at most 5 decimals); the reserve (20 %) and maximum (95 %) state of
charge bound what a battery offers.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)
import probatio as vol

from .const import (
    CONF_BID_ENABLED,
    CONF_BID_MIN_PRICE,
    CONF_BIDDING,
    CONF_MAX_SOC,
    CONF_RESERVE_SOC,
    DEFAULT_BID_MIN_PRICE,
    DEFAULT_MAX_SOC,
    DEFAULT_RESERVE_SOC,
)

PRICE_DECIMALS = 5
"""The decimals Powernaut takes in a bid price."""


def bidding_section(currency: str) -> section:
    """Return the form's section with the bidding settings (bidding off by default)."""
    percent = NumberSelectorConfig(
        mode=NumberSelectorMode.SLIDER, min=0, max=100, step=1, unit_of_measurement="%"
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
            }
        ),
        {"collapsed": True},
    )


def validate_bidding(value: Any, errors: dict[str, str]) -> dict[str, Any]:
    """Check the bidding settings; return them as stored (bidding off when absent).

    Errors go under ``bidding``: ``bid_price_invalid`` for a negative price or
    one with more than 5 decimals, ``reserve_above_max`` unless
    0 <= reserve < maximum <= 100.
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
    return settings
