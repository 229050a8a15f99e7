"""The common language every platform client speaks.

Frozen dataclasses, ``Decimal`` for quantities, aware UTC datetimes. Each
client translates its wire format into these types in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal  # runtime import for typing.get_type_hints
from enum import StrEnum


class PlatformKey(StrEnum):
    """The platforms GridFlex can talk to."""

    POWERNAUT = "powernaut"
    ENERGY_COORDINATION = "energy_coordination"
    FLEXMEASURES = "flexmeasures"


class Environment(StrEnum):
    """Which deployment of a platform to use."""

    PRODUCTION = "production"
    SANDBOX = "sandbox"
    CUSTOM = "custom"


class SupplyDirection(StrEnum):
    """How the site's supply points are arranged (Powernaut's three forms)."""

    BIDIRECTIONAL = "bidirectional"
    OFFTAKE = "offtake"
    OFFTAKE_INJECTION = "offtake_injection"


class SiteStatus(StrEnum):
    """The site's own status (Powernaut ``status``)."""

    NO_RESOURCES = "no_resources"
    ONBOARDED = "onboarded"
    PAUSED = "paused"
    DELETED = "deleted"


class UpstreamStatus(StrEnum):
    """The supplier-side status of the site (Powernaut ``upstream_status``)."""

    NO_UPSTREAM_REGISTERED = "no_upstream_registered"
    NO_CONTRACT = "no_contract"
    CONTRACT_NEEDS_AGREEMENT = "contract_needs_agreement"
    CONTRACT_PENDING = "contract_pending"
    CONTRACT_ACTIVE = "contract_active"
    CONTRACT_INACTIVE = "contract_inactive"
    PAUSED = "paused"
    PENDING_STEERING_READINESS = "pending_steering_readiness"
    DELETED = "deleted"
    PENDING = "pending"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class MarketStatus(StrEnum):
    """Whether the site takes part in a market."""

    ACTIVE = "active"
    INELIGIBLE = "ineligible"
    ACTION_REQUIRED = "action_required"


@dataclass(frozen=True, slots=True)
class Market:
    """A market the site can take part in, with the action the homeowner owes."""

    name: str
    status: MarketStatus
    action: str | None = None
    action_url: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """Where the site is: a full-text address, coordinates, or both."""

    address: str | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SiteRegistration:
    """What the homeowner tells us about the site in the config flow."""

    name: str
    country: str
    grid_identifier: str
    location: Location
    direction: SupplyDirection = SupplyDirection.BIDIRECTIONAL
    injection_grid_identifier: str | None = None


@dataclass(frozen=True, slots=True)
class EdgeCredentials:
    """Site-scoped credentials a platform hands out once (Powernaut edge-cloud)."""

    name: str
    key: str
    secret: str


@dataclass(frozen=True, slots=True)
class Site:
    """A site as the platform knows it.

    ``site_id`` is the one string the integration stores to find the site
    again; each client decides what it encodes (Powernaut site uuid,
    Energy Coordination ``user/location``, FlexMeasures asset id).
    Fields a platform does not have stay ``None``.
    """

    site_id: str
    grid_identifier: str
    location: Location = field(default_factory=Location)
    status: SiteStatus | None = None
    upstream_status: UpstreamStatus | None = None
    markets: tuple[Market, ...] = ()
    raw_status: str | None = None
    raw_upstream_status: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredSite:
    """The outcome of registering a site: created now, or adopted."""

    site: Site
    created: bool
    edge_credentials: EdgeCredentials | None = None
