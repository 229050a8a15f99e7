"""The common language every platform client speaks.

Frozen dataclasses, ``Decimal`` for quantities, aware UTC datetimes. Each
client translates its wire format into these types in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime  # runtime import for typing.get_type_hints
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


class ResourceType(StrEnum):
    """GridFlex's own resource types; each client maps them to its wire values."""

    BATTERY = "battery"
    ELECTRIC_VEHICLE = "electric_vehicle"
    EV_CHARGER = "ev_charger"
    HEAT_PUMP = "heat_pump"
    SOLAR = "solar"
    BOILER = "boiler"
    WIND = "wind"
    GROUP = "group"
    OTHER = "other"


class ResourceStatus(StrEnum):
    """The aggregated health of a resource (Powernaut product docs)."""

    ONBOARDING = "onboarding"
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    SUSPENDED = "suspended"


class HealthCheck(StrEnum):
    """The health checks a platform may run on a resource."""

    AVAILABILITY = "availability"
    ACTIVATION_COMPLIANCE = "activation_compliance"
    BASELINES = "baselines"
    BIDS = "bids"
    METER_DATA = "meter_data"


HEALTH_CHECK_STATES: dict[HealthCheck, tuple[str, ...]] = {
    HealthCheck.AVAILABILITY: ("initial", "online", "offline"),
    HealthCheck.ACTIVATION_COMPLIANCE: ("initial", "compliant", "not_compliant"),
    HealthCheck.BASELINES: ("initial", "accurate", "inaccurate"),
    HealthCheck.BIDS: ("initial", "active", "no_bids"),
    HealthCheck.METER_DATA: ("initial", "ok", "rare_anomaly", "frequent_anomaly"),
}
"""The values each health check can take; anything else is read as unknown."""


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """What GridFlex asks the platform to hold for one flexible resource.

    Power follows the sign convention of the platforms: positive is grid
    import / consumption, negative is export / production, in kW.
    """

    name: str
    type: ResourceType
    power_minimum_kw: Decimal
    power_maximum_kw: Decimal
    capacity_kwh: Decimal | None = None
    group_id: str | None = None
    """The platform id of the group resource this one belongs to; None: no group."""
    external_id: str | None = None
    """GridFlex's own stable key for the resource (used as the id where the
    platform lets the partner choose it)."""
    resolution_minutes: int = 15
    """Resolution of the resource's power sensor, where the platform has one."""
    webhook_url: str | None = None
    """Where the platform announces the resource's accepted bids (Powernaut
    ``webhooks.accepted``); None leaves the platform's setting as it is."""


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource as the platform knows it. Missing fields stay ``None``."""

    resource_id: str
    type: ResourceType | None = None
    raw_type: str | None = None
    name: str | None = None
    power_minimum_kw: Decimal | None = None
    power_maximum_kw: Decimal | None = None
    capacity_kwh: Decimal | None = None
    group_id: str | None = None
    external_id: str | None = None
    power_sensor_id: str | None = None
    """The platform's sensor that takes this resource's power (FlexMeasures)."""
    status: ResourceStatus | None = None
    health: dict[HealthCheck, str] = field(default_factory=dict)
    """Health checks the platform reported, with a value from HEALTH_CHECK_STATES."""
    webhook_url: str | None = None
    """Where the platform announces the resource's accepted bids, if set."""


@dataclass(frozen=True, slots=True)
class PowerSeries:
    """Interval averages of one platform sensor, oldest first, in kW.

    Sign: positive is grid import / consumption. ``None`` marks an interval
    without any valid measurement.
    """

    sensor_id: str
    start: datetime
    resolution_minutes: int
    values_kw: tuple[Decimal | None, ...]


@dataclass(frozen=True, slots=True)
class StorageFlexModel:
    """What a storage device (battery, EV) can do, for one schedule.

    kWh and kW; ``None`` leaves a field to the platform. Consumption
    (charging) and production (discharging) have their own capacity: a
    battery of -3 … 4 kW charges at 4 kW and discharges at 3 kW at most.
    """

    soc_at_start_kwh: Decimal | None = None
    soc_min_kwh: Decimal | None = None
    soc_max_kwh: Decimal | None = None
    consumption_capacity_kw: Decimal | None = None
    production_capacity_kw: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceSensor:
    """A platform sensor holding energy prices (FlexMeasures), in its unit."""

    sensor_id: str
    unit: str
    """An energy price unit as the platform writes it (``EUR/MWh``)."""
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """Energy prices for consecutive intervals, in ``unit`` (``EUR/MWh``).

    ``None`` marks an interval without a price.
    """

    sensor_id: str
    start: datetime
    resolution_minutes: int
    values: tuple[Decimal | None, ...]
    unit: str


class GridEventKind(StrEnum):
    """What a grid event asks of the site."""

    LPC = "lpc"
    """A limitation of power consumption: stay below a kW limit in its windows."""
    LPC_RESERVATION = "lpc_reservation"
    """An announced LPC that may follow."""
    PRICE_CURVE = "price_curve"
    ACTIVATION = "activation"
    USER_ELIGIBILITY = "user_eligibility"


@dataclass(frozen=True, slots=True)
class LimitWindow:
    """A period with a power limit (aware UTC datetimes, kW)."""

    start: datetime
    end: datetime
    max_power_kw: Decimal


@dataclass(frozen=True, slots=True)
class PricePoint:
    """A price delta for a period, in the event's currency per kWh.

    A curve the platform sends per MWh is converted to per kWh when read.
    """

    start: datetime
    end: datetime
    price: Decimal


@dataclass(frozen=True, slots=True)
class GridEvent:
    """A grid event for this site, in the common language of the platforms.

    ``windows`` are contiguous limit periods, oldest first (an LPC event's
    points merged where they touch and share a limit). ``resource_ids`` is
    set for events that target resources rather than the whole site.
    """

    event_id: str
    kind: GridEventKind
    created_at: datetime
    windows: tuple[LimitWindow, ...] = ()
    prices: tuple[PricePoint, ...] = ()
    currency: str | None = None
    resource_ids: tuple[str, ...] = ()
    meter_point_id: str | None = None
    raw_type: str | None = None
    """The platform's own name of the event type (e.g. ``LocationLPC``)."""
    eligible: bool | None = None
    """For ``USER_ELIGIBILITY``: whether the site's user was added (``True``)
    or removed (``False``)."""
    price_area: str | None = None
    """For ``PRICE_CURVE``: the bidding zone the curve is for, as the platform
    names it (``NO1`` … ``NO5``, ``SE1`` … ``SE4``, ``DK1``, ``DK2``, ``FI``);
    ``None`` when the platform gave none or ``Unknown``."""
    energy_unit: str | None = None
    """For ``PRICE_CURVE``: the energy unit the platform priced in (``kWh`` or
    ``MWh``); ``prices`` are per kWh whatever it was."""

    @property
    def start(self) -> datetime | None:
        """Return when the event's first window starts."""
        return self.windows[0].start if self.windows else None

    @property
    def end(self) -> datetime | None:
        """Return when the event's last window ends."""
        return self.windows[-1].end if self.windows else None


@dataclass(frozen=True, slots=True)
class InvalidGridEvent:
    """A grid event for the site that cannot be read (kept aside, never fatal)."""

    event_id: str
    reason: str
    created_at: datetime | None = None
    raw_type: str | None = None


@dataclass(frozen=True, slots=True)
class EventListing:
    """What one poll of a platform's grid events found.

    ``complete`` is false when paging stopped at its page limit before it
    reached events older than the poll's ``since``: the caller must not move
    its high-water mark past what was read.
    """

    events: tuple[GridEvent, ...] = ()
    invalid: tuple[InvalidGridEvent, ...] = ()
    complete: bool = True


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    """A webhook registration as the platform lists it."""

    webhook_id: str
    url: str
    enabled: bool = True
    status: str | None = None
    """The platform's word for its health (``New``, ``Healthy``, ``Unhealthy``,
    ``TimeOut``), ``None`` when not given."""


@dataclass(frozen=True, slots=True)
class CompensationProblem:
    """Something that keeps a location's compensation from being paid."""

    kind: str
    """The platform's problem type (``MissingMpidOnLocation``,
    ``CompensationMpidDoesNotMatchLocation``, or one GridFlex does not know)."""
    message: str


@dataclass(frozen=True, slots=True)
class LocationCompensation:
    """What a location earned in the programme's current period."""

    location_id: str
    meter_point_ids: tuple[str, ...]
    active_amount: Decimal
    """Earned and payable."""
    blocked_amount: Decimal
    """Earned but held back until the ``problems`` are solved."""
    currency: str | None
    problems: tuple[CompensationProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class Compensation:
    """A user's compensation for the current period, per location."""

    period_start: date | None
    period_end: date | None
    locations: tuple[LocationCompensation, ...] = ()

    def for_location(self, location_id: str) -> LocationCompensation | None:
        """Return the compensation of one location (``None``: nothing listed)."""
        return next(
            (item for item in self.locations if item.location_id == location_id),
            None,
        )


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether the site may take part in the programme."""

    user_eligible: bool
    meter_points: tuple[tuple[str, bool], ...] = ()
    """Each of the site's meter point ids with whether it is eligible."""

    @property
    def eligible(self) -> bool:
        """Return whether the user and every meter point are eligible."""
        return self.user_eligible and all(ok for _, ok in self.meter_points)


@dataclass(frozen=True, slots=True)
class Enrollment:
    """Whether the site's user is enrolled in the programme."""

    enrolled: bool
    enrollment_id: str | None = None
    enrolled_at: datetime | None = None
