"""Bids: flexibility a resource offers for one quarter-hour, and what became of it.

Platform-neutral values; the wire form lives in the platform's client
(``powernaut.py``). Powers are kW with the platform's sign: positive is more
grid import (charging), negative more export (discharging). Prices are per
kWh in the site's currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class BidStatus(StrEnum):
    """Where a bid stands on the platform."""

    OPEN = "open"
    ACCEPTED = "accepted"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class BidPoint:
    """One point of a bid curve: a power the resource would run at, and its price."""

    power_kw: Decimal
    """The power (absolute, not a change from the baseline), kW."""
    min_price: Decimal | None = None
    """The lowest price per kWh at which the point is valid; None: any price."""


@dataclass(frozen=True, slots=True)
class BidRequest:
    """A bid to place for one quarter-hour."""

    start: datetime
    end: datetime
    curve: tuple[BidPoint, ...]
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BidReport:
    """What the platform measured for an accepted bid (kWh)."""

    energy_requested_kwh: Decimal
    energy_delivered_kwh: Decimal
    extra_energy_delivered_kwh: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Bid:
    """A bid as the platform holds it."""

    bid_id: str
    resource_id: str
    start: datetime
    end: datetime
    status: BidStatus
    curve: tuple[BidPoint, ...]
    expires_at: datetime | None = None
    activation_power_kw: Decimal | None = None
    """The accepted setpoint (kW); None without an activation or once cancelled."""
    activation_price: Decimal | None = None
    """The price of the accepted point, per kWh."""
    report: BidReport | None = None


@runtime_checkable
class BidPlatform(Protocol):
    """A platform that takes bids per resource and quarter-hour (Powernaut)."""

    async def place_bid(self, resource_id: str, request: BidRequest) -> Bid:
        """Place a bid; the open bid of the same window is updated in place."""

    async def list_bids(self, status: BidStatus | None = None) -> list[Bid]:
        """Return the open and accepted bids (or those of one status)."""

    async def delete_bid(self, bid_id: str) -> None:
        """Withdraw an open bid."""
