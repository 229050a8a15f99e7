"""The protocol every platform client implements."""

# The models stay importable at runtime so typing.get_type_hints resolves them.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from .models import (
    Compensation,
    Eligibility,
    Enrollment,
    GridEvent,
    Location,
    PlatformKey,
    PowerSeries,
    RegisteredSite,
    Resource,
    ResourceSpec,
    ResourceType,
    Site,
    SiteRegistration,
)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform offers, so the integration creates only what makes sense."""

    site_status: bool
    upstream_status: bool
    markets: bool
    supply_direction: bool
    streams_measurements: bool
    lpc_events: bool
    schedules: bool
    max_resources_per_site: int | None
    countries: tuple[str, ...]
    """ISO 3166-1 alpha-2 codes of the countries whose grid identifiers the platform takes."""
    site_poll_seconds: int
    """How often the site is worth polling on this platform."""
    display_name: str = ""
    """The platform's name as homeowners know it (device manufacturer)."""
    resource_types: tuple[ResourceType, ...] = tuple(ResourceType)
    """The GridFlex resource types the platform can hold."""
    resource_status: bool = False
    """Whether the platform reports a status and health checks per resource."""
    power_decimals: int = 6
    """How many decimals of kW the platform takes for power limits."""
    power_integer_digits: int = 15
    """How many digits before the decimal point the platform takes."""
    resource_resolution: bool = False
    """Whether the homeowner picks a sensor resolution for each resource."""
    uploads_intervals: bool = False
    """Whether the platform takes interval power data (``IntervalUploader``)."""
    bids: bool = False
    """Whether resources bid their flexibility per quarter-hour (``platforms.bids.BidPlatform``)."""
    baselines: bool = False
    """Whether the platform takes baselines of the site and its resources
    (``BaselineTaker``)."""
    usage_plans: bool = False
    """Whether the platform takes a plan of the site's energy usage for an
    LPC event (``UsagePlanTaker``)."""
    programme: bool = False
    """Whether the platform runs a programme that pays the site, with
    compensation, eligibility and enrollment (``ProgrammeMember``)."""


@runtime_checkable
class FlexPlatform(Protocol):
    """A client for one grid-flexibility platform.

    Implementations accept an injected ``aiohttp.ClientSession``, put a
    timeout on every request, own their authentication (token fetch, renewal
    before expiry, one re-authentication on HTTP 401) and raise only
    ``GridFlexError`` subclasses.
    """

    platform: PlatformKey
    capabilities: Capabilities

    async def authenticate(self) -> None:
        """Fetch a token now; raise ``GridFlexAuthError`` when refused."""

    async def find_site(self, grid_identifier: str) -> Site | None:
        """Return the site registered with this grid identifier, if any."""

    async def register_site(self, registration: SiteRegistration) -> RegisteredSite:
        """Create the site, or adopt the existing one with the same identifier."""

    async def get_site(self, site_id: str) -> Site:
        """Return the site with its statuses and markets."""

    async def update_site_location(self, site_id: str, location: Location) -> Site:
        """Change where the site is."""

    async def list_resources(self, site_id: str) -> list[Resource]:
        """Return every resource the platform holds for the site."""

    async def get_resource(self, site_id: str, resource_id: str) -> Resource:
        """Return one resource; raise ``GridFlexNotFoundError`` when it is gone."""

    async def create_resource(self, site_id: str, spec: ResourceSpec) -> Resource:
        """Create the resource on the site."""

    async def update_resource(
        self, site_id: str, resource_id: str, spec: ResourceSpec
    ) -> Resource:
        """Make the platform's resource match ``spec`` (``group_id`` None clears it)."""

    async def delete_resource(self, site_id: str, resource_id: str) -> None:
        """Delete the resource; raise ``GridFlexNotFoundError`` when already gone."""


@runtime_checkable
class IntervalUploader(Protocol):
    """A platform that stores interval power data per sensor (FlexMeasures)."""

    async def ensure_site_power_sensor(
        self, site_id: str, resolution_minutes: int
    ) -> str:
        """Return the id of the site's power sensor, creating it when missing."""

    async def post_power_series(self, series: PowerSeries) -> None:
        """Store the series; data the platform already holds counts as stored."""


@runtime_checkable
class UsagePlanTaker(Protocol):
    """A platform that takes a plan of the site's energy usage for an LPC event."""

    async def send_usage_plan(
        self,
        site_id: str,
        event: GridEvent,
        hours: Sequence[tuple[datetime, Decimal, Decimal]],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - one request's limit
    ) -> str | None:
        """Send ``(hour start, baseline kWh, flexibility kWh)`` per hour; return the report id."""


@runtime_checkable
class BaselineTaker(Protocol):
    """A platform that takes the expected power of the coming quarter-hours."""

    async def post_site_baseline(
        self, site_id: str, start: datetime, values_kw: Sequence[Decimal]
    ) -> None:
        """Post the site's baseline: one value per quarter-hour from ``start``.

        Windows the platform has activated keep their earlier baseline.
        """

    async def post_resource_baseline(
        self, resource_id: str, start: datetime, values_kw: Sequence[Decimal]
    ) -> None:
        """Post a resource's baseline, as ``post_site_baseline``."""


@runtime_checkable
class ProgrammeMember(Protocol):
    """A platform whose programme pays the site (Energy Coordination's Spark).

    Every method raises only ``GridFlexError`` subclasses, as the rest of the
    client; ``enroll`` and ``unenroll`` may be repeated after an unknown
    outcome and then return the state asked for.
    """

    async def get_compensation(self, site_id: str) -> Compensation:
        """Return the site's user's compensation for the current period."""

    async def get_eligibility(self, site_id: str) -> Eligibility:
        """Return whether the site's user and meter point(s) are eligible."""

    async def get_enrollment(self, site_id: str) -> Enrollment:
        """Return whether the site's user is enrolled."""

    async def enroll(self, site_id: str) -> Enrollment:
        """Enroll the site's user; enrolling an enrolled user changes nothing."""

    async def unenroll(self, site_id: str) -> Enrollment:
        """End the site's user's enrollment; return the state after it."""
