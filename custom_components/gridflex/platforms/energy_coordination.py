"""Energy Coordination API (Volue Spark, partner endpoints v1).

Wire facts this module relies on:

- OAuth2 client credentials: a form ``grant_type=client_credentials`` with
  ``client_id`` and ``client_secret`` to the identity server's token URL
  returns ``{access_token, expires_in}``; API calls carry a Bearer token.
- The partner chooses the ids of users and locations. GridFlex uses
  ``gridflex-<grid identifier>`` for both, so a site is found again without a
  search; the site id is ``<userId>/<locationId>``.
- Coordinates are JSON numbers. Request bodies forbid unknown fields.
- Errors are a bare JSON string or ``application/problem+json``.
- A resource is bound to a location with a partner-chosen ``resourceId``
  (GridFlex's ``external_id``) and the location's meter point. The platform
  keeps only id and ``resourceType``: no name, limits, capacity or groups,
  and no update (a new type means delete and create again with the same id).

Grid events (``GET /events``, newest first, paged; webhook pushes):

- ``GET /events`` takes ``page`` and ``pageSize`` (at most 1000) and answers
  ``{events: [{id, createdAt, payload}], pagination: {nextPage | null}}``,
  newest first. An event created while paging pushes the others down, so an
  id can show up again on the next page. Polling reads pages until one holds
  an event created before the caller's ``since``, or there is no next page,
  or ``max_pages`` were read (the listing is then not ``complete``).
- ``payload.payloadType`` is the discriminator: ``LocationLPC``,
  ``ResourceLPC`` and ``LPCReservation`` carry ``targets`` with
  ``points: [{timestamp, maxPowerInKiloWatts}]``, each point lasting the
  target's ``resolution`` (a .NET TimeSpan, ``"01:00:00"``); ``PriceCurve``
  targets resources (``{resourceId, locationId}``) with a
  ``priceCurveDelta``; ``UserEligibility`` lists ``addedUsers`` and
  ``removedUsers`` (user ids). Other types are not read.
- Targets name a location, not a user: a target is this site's when its
  ``locationId`` is the site's and its ``meterPointId`` (where both are
  known) is the site's meter point.
- Price curves and price areas: a ``PriceCurve`` names its bidding zone
  (``priceArea``, ``NO1`` … ``SE4``, ``DK1``, ``DK2``, ``FI`` or
  ``Unknown``) and may have no targets at all (the reference push has
  ``targets: []`` and ``SE1``): a curve for a whole area. The site's area is
  the one the homeowner set (``price_area``, none by default). With an area
  set, a curve aimed at the site's location whose ``priceArea`` is another
  known area is not the site's (debug log), and a curve with an empty
  ``targets`` list for the site's area is (no resource ids; the site's meter
  point). A curve aimed at the site's location with ``Unknown``, no area or
  an area GridFlex does not know is the site's. Without an area only curves
  aimed at the site's location are. The event carries the curve's
  ``price_area`` (``None`` for none or ``Unknown``), ``currency`` and
  ``energy_unit``; its prices are per kWh.
- A pushed notification (``EventNotification``) wraps the payload in
  ``{notificationId, eventId, eventCreatedAtUtc, notificationSentUtc,
  notificationType}`` and is signed in ``X-Payload-Signature``: base64 of
  HMAC-SHA256 over the raw body, keyed with the webhook secret. Check the
  signature, then ``read_notification`` (size, depth, JSON) and
  ``parse_notification``.

Sanity bounds on what is read (anything outside is a ``GridFlexResponseError``,
an ``InvalidGridEvent`` in a listing): event times in the years 2000 to 2199,
a resolution above zero and at most one day, limits and prices finite and at
most 1,000,000 either way, at most 10,000 points per target and 50,000 per
event, a pushed body of at most 1 MiB nested at most 32 levels deep. Window
ends follow their starts (resolution > 0) and cannot overflow.

Reports (``POST /reports``, answered ``{id, eventId, createdAt}``) carry
every payload for one event:

- The acknowledgement types are spelled as in the spec,
  ``LocationLPCAcknowledgement`` / ``ResourceLPCAcknowledgement``; the
  written guides say ``LocationLPCAcknowledged``, which no version of the
  spec has.
- Energy usage goes out hourly (``resolution "01:00:00"``) with UTC hour
  starts written ``yyyy-MM-ddTHH:mm:ss.fffZ`` as the guide asks (the spec's
  ``date-time`` accepts that form too) and ``kiloWattHours`` as JSON numbers
  (the spec's ``double``), never negative and at most 1,000,000 an hour, in
  the years 2000 to 2199 like the events. A ``LocationLPC`` event is
  answered with ``LocationEnergyUsage``, a ``ResourceLPC`` event with one
  ``EnergyUsage`` per resource and nothing for the location.
- An energy usage plan (``LocationEnergyUsagePlan``, location LPC events
  only) carries ``baseline`` and ``flexibility`` lists written like the usage
  points, hourly, in a report of its own (``send_usage_plan``). The docs'
  table and the spec agree on its fields; the spec's example resolution
  ``"02:00:00"`` is not one the guide says the platform takes.

The programme (Spark; ``ProgrammeMember``): the user's compensation for the
current month (``GET /users/{userId}/compensation``), the eligibility of the
user and of each of the location's meter points (``GET
/users/{userId}/eligibility``, ``GET /meters/{mpid}/eligible``) and the
enrollment (``GET`` / ``POST`` / ``DELETE /users/{userId}/enrollment``; the
spec answers a ``DELETE`` with 200, the guide with 204, both are taken). The
answers are read by ``energy_coordination_programme``.

Webhooks: ``GET /webhooks`` lists ``{webhookId, webhookUrl, enabled, status}``
(``New``, ``Healthy``, ``Unhealthy``, ``TimeOut``); ``PUT
/webhooks/{id}/enabled?enabled=true`` switches one back on (the flag is a
query parameter, there is no body).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import hashlib
import heapq
import hmac
from itertools import pairwise
import logging
import re
import reprlib
import time
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import quote

from ._http import (
    Clock,
    Token,
    TokenAuth,
    UnauthorizedError,
    as_list,
    as_object,
    flatten_messages,
    optional_str,
    required_str,
    root_url,
    to_decimal,
    to_lifetime,
)
from ._json import loads_bounded
from .base import Capabilities
from .energy_coordination_programme import (
    MAX_METER_POINTS,
    read_compensation,
    read_enrollment,
    read_meter_point_eligibility,
    read_user_eligibility,
)
from .errors import (
    GridFlexAuthError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
)
from .models import (
    Compensation,
    Eligibility,
    Enrollment,
    Environment,
    EventListing,
    GridEvent,
    GridEventKind,
    InvalidGridEvent,
    LimitWindow,
    Location,
    PlatformKey,
    PricePoint,
    RegisteredSite,
    Resource,
    ResourceSpec,
    ResourceType,
    Site,
    SiteRegistration,
    WebhookInfo,
)

if TYPE_CHECKING:
    import aiohttp

    from .tokens import TokenKeeper

_LOGGER = logging.getLogger(__name__)

API_PATH: Final = "/energy-coordination/v1"
ID_PREFIX: Final = "gridflex-"
"""Prefix of the user and location ids GridFlex chooses."""

_DEFAULT_TOKEN_LIFETIME: Final = 3600.0

RESOURCE_TYPES: Final[dict[ResourceType, str]] = {
    ResourceType.BATTERY: "Generic",
    ResourceType.ELECTRIC_VEHICLE: "Vehicle",
    ResourceType.EV_CHARGER: "Charger",
    ResourceType.HEAT_PUMP: "HVAC",
    ResourceType.SOLAR: "SolarInverter",
    ResourceType.BOILER: "HotWaterTank",
    ResourceType.WIND: "Generic",
    ResourceType.OTHER: "Generic",
}
"""GridFlex's resource types as ``resourceType``; there are no groups."""

_READ_RESOURCE_TYPES: Final[dict[str, ResourceType]] = {
    "Generic": ResourceType.OTHER,
    "Vehicle": ResourceType.ELECTRIC_VEHICLE,
    "Charger": ResourceType.EV_CHARGER,
    "HVAC": ResourceType.HEAT_PUMP,
    "SolarInverter": ResourceType.SOLAR,
    "HotWaterTank": ResourceType.BOILER,
}
"""``Generic`` is ambiguous (battery, wind, other) and reads as ``other``."""

CAPABILITIES: Final = Capabilities(
    site_status=False,
    upstream_status=False,
    markets=False,
    supply_direction=False,
    streams_measurements=False,
    lpc_events=True,
    schedules=False,
    max_resources_per_site=None,
    countries=("NO",),
    site_poll_seconds=900,
    display_name="Energy Coordination",
    resource_types=tuple(RESOURCE_TYPES),
    resource_status=False,
    resource_resolution=False,
    usage_plans=True,
    programme=True,
)


MAX_PAGE_SIZE: Final = 1000
"""The largest ``pageSize`` ``GET /events`` takes."""

DEFAULT_MAX_PAGES: Final = 50
"""How many pages of ``GET /events`` one poll reads at most by default."""

# Sanity bounds on what GridFlex reads from events. The platform documents
# none; these are far beyond anything a real event holds (events come at most
# two days ahead, hourly, for one home) and only keep hostile or garbled
# input from costing time, memory or an exception other than
# GridFlexResponseError.
EARLIEST_EVENT_TIME: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""Event times (creation, points) before this are out of range."""
LATEST_EVENT_TIME: Final = datetime(2200, 1, 1, tzinfo=UTC)
"""Event times from this on are out of range (years 2000 to 2199 are read)."""
MAX_RESOLUTION: Final = timedelta(days=1)
"""The longest a point may last; a resolution must also be above zero."""
MAX_ABS_KW: Final = Decimal(1_000_000)
"""The largest limit (kW), either way; also the largest kWh per reported hour."""
MAX_ABS_PRICE: Final = Decimal(1_000_000)
"""The largest price delta per energy unit as sent, either way."""
MAX_POINTS_PER_TARGET: Final = 10_000
"""The most points one target (or one price curve) may hold."""
MAX_POINTS_PER_EVENT: Final = 50_000
"""The most limit points the site's targets of one event may hold together."""
MAX_PRICE_AREA_CHARS: Final = 16
"""The longest price area, currency or energy unit read from a price curve."""
MAX_NOTIFICATION_BYTES: Final = 1 << 20
"""The largest webhook push body read (1 MiB; a real push is a few kB)."""
MAX_NOTIFICATION_DEPTH: Final = 32
"""The deepest nesting of arrays and objects in a push read (a real one has 6)."""

_UNREADABLE: Final = (
    OverflowError,
    ValueError,
    ArithmeticError,
    TypeError,
    RecursionError,
)
"""What reading hostile input may raise below GridFlex's own checks."""

_SHOW: Final = reprlib.Repr(maxstring=80, maxother=80, maxlevel=3)
"""Wire values in messages: short, and safe for deep nesting."""

SIGNATURE_HEADER: Final = "X-Payload-Signature"
"""The header of a webhook push that carries its signature."""

NOTIFICATION_TYPES: Final = (
    "PriceCurveCreated",
    "UserEligibilityUpdated",
    "LocationLPCRequested",
    "ResourceLPCRequested",
    "LPCReservationCreated",
)
"""Every ``NotificationType`` a webhook can subscribe to (all but ``Unknown``)."""

WEBHOOK_NAME: Final = "GridFlex"
"""The ``name`` GridFlex gives the webhooks it registers."""

REPORT_RESOLUTION: Final = "01:00:00"
"""The only resolution the platform takes in energy usage reports."""

EVENT_KINDS: Final[dict[str, GridEventKind]] = {
    "LocationLPC": GridEventKind.LPC,
    "ResourceLPC": GridEventKind.LPC,
    "LPCReservation": GridEventKind.LPC_RESERVATION,
    "PriceCurve": GridEventKind.PRICE_CURVE,
    "UserEligibility": GridEventKind.USER_ELIGIBILITY,
}
"""The ``payloadType`` values GridFlex reads, as kinds of grid events."""

PRICE_AREAS: Final = (
    "NO1",
    "NO2",
    "NO3",
    "NO4",
    "NO5",
    "FI",
    "DK1",
    "DK2",
    "SE1",
    "SE2",
    "SE3",
    "SE4",
)
"""The bidding zones a price curve can be for (the spec's ``PriceArea`` but
``Unknown``)."""

_ONE_HOUR: Final = timedelta(hours=1)
_TIMESPAN: Final = re.compile(
    r"(?:(?P<days>\d{1,8})\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2}):"
    r"(?P<seconds>\d{1,2})(?:\.(?P<fraction>\d{1,7}))?",
    re.ASCII,
)
"""A positive .NET TimeSpan: ``[d.]hh:mm:ss[.fffffff]``."""


class EnergyCoordinationClient:
    """A client for the Energy Coordination API."""

    platform: PlatformKey = PlatformKey.ENERGY_COORDINATION
    capabilities: Capabilities = CAPABILITIES
    production_url: ClassVar[str] = f"https://api.voluespark.com{API_PATH}"
    sandbox_url: ClassVar[str] = f"https://api.sandbox.voluespark.com{API_PATH}"
    identity_url: ClassVar[str] = "https://auth.identity.volue.com/connect/token"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        client_id: str,
        client_secret: str,
        environment: Environment = Environment.PRODUCTION,
        base_url: str | None = None,
        request_timeout: float = 10.0,
        clock: Clock = time.monotonic,
        tokens: TokenKeeper | None = None,
        price_area: str | None = None,
    ) -> None:
        """Talk to Energy Coordination with the partner's client credentials.

        With ``Environment.CUSTOM``, ``base_url`` is a server root serving the
        API under ``/energy-coordination/v1`` and, by assumption (the real
        service uses a separate identity server), the token endpoint at
        ``/connect/token``; that is how the local sandbox is laid out.

        ``price_area`` is the site's bidding zone (``NO1`` … ``SE4``, one of
        ``PRICE_AREAS``; written in any case), as the homeowner set it: it
        decides which price curves are the site's (see the module's
        docstring). ``None`` or empty: only curves aimed at the site's
        location are.
        """
        self.environment = environment
        self.price_area = (price_area.strip().upper() or None) if price_area else None
        if environment is Environment.CUSTOM:
            root = root_url(environment, base_url, production="", sandbox="")
            self.base_url = f"{root}{API_PATH}"
            self.token_url = f"{root}/connect/token"
        else:
            self.base_url = root_url(
                environment,
                base_url,
                production=self.production_url,
                sandbox=self.sandbox_url,
            )
            self.token_url = self.identity_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._auth = TokenAuth.for_platform(
            session,
            platform_name="Energy Coordination",
            request_timeout=request_timeout,
            detail=_error_detail,
            fetch=self._fetch_token,
            clock=clock,
            keeper=tokens,
        )
        self._http = self._auth.http

    async def authenticate(self) -> None:
        """Fetch a token now; raise ``GridFlexAuthError`` when refused."""
        await self._auth.authenticate()

    async def find_site(self, grid_identifier: str) -> Site | None:
        """Return GridFlex's location holding this meter point, if any."""
        user_id = ID_PREFIX + grid_identifier
        try:
            await self._auth.request("GET", self._user_url(user_id))
            locations = await self._locations(user_id)
        except GridFlexNotFoundError:
            return None
        match = _matching_location(locations, grid_identifier)
        return None if match is None else _site(user_id, match)

    async def register_site(self, registration: SiteRegistration) -> RegisteredSite:
        """Create the user and the location, reusing whichever exists already.

        The address cannot be stored on the platform; it is kept on GridFlex's
        side and echoed in the returned site.
        """
        grid_identifier = registration.grid_identifier
        user_id = location_id = ID_PREFIX + grid_identifier
        await self._ensure_user(user_id)
        match = _matching_location(await self._locations(user_id), grid_identifier)
        if match is not None:
            site = _site(user_id, match, registration.location.address)
            return RegisteredSite(site=site, created=False)
        # Without coordinates the key is left out: the spec's
        # ``PostLocationRequest.coordinates`` is a non-nullable object (its own
        # example sends ``null``, which the service may take; leaving it out is
        # valid either way).
        coordinates = _wire_coordinates(registration.location)
        body: dict[str, object] = {
            "locationId": location_id,
            "locationType": "Residential",
            **({"coordinates": coordinates} if coordinates is not None else {}),
            "meterPointIds": [grid_identifier],
        }
        try:
            answer = await self._auth.request(
                "POST", f"{self._user_url(user_id)}/locations", json_body=body
            )
        except GridFlexRequestRejectedError as err:
            if err.status != 409:
                raise
            # Created by someone else since we listed the locations: adopt it.
            site = await self.get_site(f"{user_id}/{location_id}")
            return RegisteredSite(
                site=_with_address(site, registration.location.address),
                created=False,
            )
        created = as_object(answer, "the created Energy Coordination location")
        site = _site(user_id, created, registration.location.address)
        return RegisteredSite(site=site, created=True)

    async def get_site(self, site_id: str) -> Site:
        """Return the location behind ``site_id`` (no statuses, no markets)."""
        user_id, location_id = _split_site_id(site_id)
        answer = await self._auth.request(
            "GET", self._location_url(user_id, location_id)
        )
        return _site(user_id, as_object(answer, "an Energy Coordination location"))

    async def update_site_location(self, site_id: str, location: Location) -> Site:
        """Store new coordinates; the address is kept on GridFlex's side only."""
        user_id, location_id = _split_site_id(site_id)
        coordinates = _wire_coordinates(location)
        if coordinates is None:
            site = await self.get_site(site_id)
        else:
            answer = await self._auth.request(
                "PATCH",
                self._location_url(user_id, location_id),
                json_body={"coordinates": coordinates},
            )
            if answer is None:
                site = await self.get_site(site_id)
            else:
                site = _site(
                    user_id, as_object(answer, "an Energy Coordination location")
                )
        return _with_address(site, location.address)

    async def list_resources(self, site_id: str) -> list[Resource]:
        """Return the resources bound to the site's location."""
        user_id, location_id = _split_site_id(site_id)
        answer = await self._auth.request(
            "GET", f"{self._location_url(user_id, location_id)}/resources"
        )
        items = as_list(answer, "the Energy Coordination resources")
        return [_resource(item) for item in items if isinstance(item, dict)]

    async def get_resource(self, site_id: str, resource_id: str) -> Resource:
        """Return one resource; ``GridFlexNotFoundError`` when it is gone."""
        return _resource(
            await self._auth.request("GET", self._resource_url(resource_id))
        )

    async def create_resource(self, site_id: str, spec: ResourceSpec) -> Resource:
        """Bind the resource to the site's location, with ``external_id`` as its id.

        Name, limits and capacity are not stored by the platform.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, for a group
                or a spec without ``external_id``.

        """
        resource_type = _wire_type(spec.type)
        if not spec.external_id:
            raise GridFlexRequestRejectedError(
                400, "Energy Coordination needs the resource's external_id as its id"
            )
        return await self._create_resource(site_id, spec.external_id, resource_type)

    async def update_resource(
        self, site_id: str, resource_id: str, spec: ResourceSpec
    ) -> Resource:
        """Change the resource type by deleting and re-creating it (same id).

        With an unchanged ``resourceType`` the resource is left alone: the
        platform has nothing else to update.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, for a group.

        """
        resource_type = _wire_type(spec.type)
        current = await self.get_resource(site_id, resource_id)
        if current.raw_type == resource_type:
            return current
        await self.delete_resource(site_id, resource_id)
        return await self._create_resource(site_id, resource_id, resource_type)

    async def delete_resource(self, site_id: str, resource_id: str) -> None:
        """Delete the resource; ``GridFlexNotFoundError`` when already gone."""
        await self._auth.request("DELETE", self._resource_url(resource_id))

    async def get_compensation(self, site_id: str) -> Compensation:
        """Return the site's user's compensation for the current month.

        Every location of the user is listed (``Compensation.for_location``
        picks the site's); the amounts are exact ``Decimal`` values.

        Raises:
            GridFlexNotFoundError: a bad site id (unsent), or no such user.
            GridFlexRequestRejectedError: the platform refused the request
                (HTTP 400, with its message).
            GridFlexResponseError: an answer the reader refuses
                (``energy_coordination_programme.read_compensation``).

        """
        user_id, _ = _split_site_id(site_id)
        answer = await self._auth.request(
            "GET", f"{self._user_url(user_id)}/compensation"
        )
        return read_compensation(answer, user_id)

    async def get_eligibility(self, site_id: str) -> Eligibility:
        """Return whether the site's user and each of its meter points are eligible.

        Asks ``GET /users/{userId}/eligibility``, then ``GET
        /meters/{mpid}/eligible`` for each meter point id of the site's
        location (its ``meterPointIds``, at most ``MAX_METER_POINTS``; the
        grid identifier GridFlex put in the user id when the location lists
        none). The programme needs both:
        an eligible user is one the platform lets take part, an eligible
        meter point one whose grid area and metering the programme covers
        (the contract does not say more; ``Eligibility.eligible`` asks for
        all of them).

        Raises:
            GridFlexNotFoundError: a bad site id (unsent), or no such user or
                location.
            GridFlexRequestRejectedError: the platform refused a request.
            GridFlexResponseError: an answer the readers refuse, or a
                location with more than ``MAX_METER_POINTS`` meter points.

        """
        user_id, location_id = _split_site_id(site_id)
        user_eligible = read_user_eligibility(
            await self._auth.request("GET", f"{self._user_url(user_id)}/eligibility"),
            user_id,
        )
        meter_points: list[tuple[str, bool]] = []
        for meter_point in await self._site_meter_point_ids(user_id, location_id):
            answer = await self._auth.request(
                "GET",
                f"{self.base_url}/meters/{quote(meter_point, safe='')}/eligible",
            )
            meter_points.append(
                (meter_point, read_meter_point_eligibility(answer, meter_point))
            )
        return Eligibility(
            user_eligible=user_eligible, meter_points=tuple(meter_points)
        )

    async def get_enrollment(self, site_id: str) -> Enrollment:
        """Return whether the site's user is enrolled in the programme.

        Raises:
            GridFlexNotFoundError: a bad site id (unsent), or no such user.
            GridFlexRequestRejectedError: the platform refused the request.
            GridFlexResponseError: an answer the reader refuses.

        """
        user_id, _ = _split_site_id(site_id)
        return await self._read_enrollment(user_id)

    async def enroll(self, site_id: str) -> Enrollment:
        """Enroll the site's user (``POST``) and return the enrollment.

        Enrolling an enrolled user changes nothing: when the platform refuses
        the ``POST`` (HTTP 400 or 409) the enrollment is read back, and
        returned when it says enrolled. An answer without a body is read
        back too.

        Raises:
            GridFlexNotFoundError: a bad site id (unsent), or no such user.
            GridFlexRequestRejectedError: the platform refused the request
                and the user is not enrolled.
            GridFlexResponseError: an answer the reader refuses.

        """
        user_id, _ = _split_site_id(site_id)
        try:
            answer = await self._auth.request("POST", self._enrollment_url(user_id))
        except GridFlexRequestRejectedError as err:
            if err.status not in (400, 409):
                raise
            enrollment = await self._read_enrollment(user_id)
            if not enrollment.enrolled:
                raise
            return enrollment
        if answer is None:
            return await self._read_enrollment(user_id)
        return read_enrollment(answer, user_id)

    async def unenroll(self, site_id: str) -> Enrollment:
        """End the site's user's enrollment (``DELETE``); return the state after it.

        The specification answers 200 (a JSON body without a schema), the
        guide 204: both are taken. A body that reads as an enrollment is
        returned as read; any other success means not enrolled. An unenroll
        retried after an unknown outcome must not fail: when the platform
        answers 400 or 404, the enrollment is read back and returned when it
        says not enrolled; otherwise the platform's error is raised (and an
        error of the read back, such as a timeout, as it is).

        Raises:
            GridFlexNotFoundError: a bad site id (unsent), or no such user.
            GridFlexRequestRejectedError: the platform refused the request
                and the user is still enrolled.

        """
        user_id, _ = _split_site_id(site_id)
        try:
            answer = await self._auth.request("DELETE", self._enrollment_url(user_id))
        except GridFlexRequestRejectedError as err:
            if err.status not in (400, 404):
                raise
            enrollment = await self._read_enrollment(user_id)
            if enrollment.enrolled:
                raise
            return enrollment
        # The spec's 200 carries a JSON body without a schema, the guide's
        # 204 none: read an enrollment where there is one.
        if isinstance(answer, dict) and isinstance(answer.get("isEnrolled"), bool):
            return read_enrollment(answer, user_id)
        return Enrollment(enrolled=False)

    async def list_events(
        self,
        site_id: str,
        *,
        since: datetime | None = None,
        page_size: int = 100,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> EventListing:
        """Return the site's grid events, oldest first, and those it cannot read.

        Pages through ``GET /events`` (newest first) until a page holds an
        event created before ``since`` (that page is still read in full, so
        events older than ``since`` may be returned too; the caller
        deduplicates by id), or there is no next page. Without ``since``
        every page is read, up to ``max_pages``. After ``max_pages`` pages
        with a next page still to come and ``since`` not reached, the listing
        is not ``complete``: the caller must not move its ``since`` past what
        was read.

        An id seen on an earlier page (pushed down by an event created while
        paging) is read once. Events for other locations or users, and types
        GridFlex does not read, are left out. An event for the site that
        cannot be read (or whose targets cannot be read, so it may be the
        site's) is returned in ``invalid`` with the reason (``event_id`` is
        empty when the platform gave none); an item that is not even
        recognisably the site's without an id or a readable ``createdAt``
        is skipped with a debug log. No single item makes this raise.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, for a
                ``page_size`` outside 1 to ``MAX_PAGE_SIZE``, ``max_pages``
                below 1, or a naive ``since``.
            GridFlexNotFoundError: before anything is sent, for a bad site id.
            GridFlexResponseError: a page that is not a JSON object or whose
                ``events`` is not an array.

        """
        user_id, location_id = _split_site_id(site_id)
        _check_listing(since, page_size, max_pages)
        found: list[GridEvent] = []
        invalid: list[InvalidGridEvent] = []
        seen: set[str] = set()
        page = 1
        pages_read = 0
        while True:
            answer = as_object(
                await self._auth.request(
                    "GET",
                    f"{self.base_url}/events",
                    params={"page": str(page), "pageSize": str(page_size)},
                ),
                "the Energy Coordination events",
            )
            pages_read += 1
            items = answer.get("events")
            reached_since = False
            for item in as_list([] if items is None else items, "the events"):
                created, event = self._listed_item(
                    site_id, user_id, location_id, item, seen
                )
                if since is not None and created is not None and created < since:
                    reached_since = True
                if isinstance(event, GridEvent):
                    found.append(event)
                elif event is not None:
                    invalid.append(event)
            next_page = _next_page(answer.get("pagination"), page)
            if reached_since or next_page is None:
                return _listing(found, invalid, complete=True)
            if pages_read >= max_pages:
                _LOGGER.debug(
                    "Stopped listing Energy Coordination events after %s pages",
                    pages_read,
                )
                return _listing(found, invalid, complete=False)
            page = next_page

    def parse_event(
        self,
        site_id: str,
        event_id: str,
        created_at: str,
        payload: Mapping[str, Any],
    ) -> GridEvent | None:
        """Read one event payload (polled or pushed) for the site.

        ``None`` when the payload type is one GridFlex does not read, or the
        event is not for this site (no target at its location; for
        ``UserEligibility``: the site's user neither added, ``eligible``
        true, nor removed, ``eligible`` false). Limits and prices are exact
        ``Decimal`` values of the JSON numbers as parsed (parse a pushed body
        with ``read_notification`` to keep every digit); times are aware UTC.

        Raises:
            GridFlexResponseError: a payload of a type GridFlex reads that
                cannot be read, or is outside the module's sanity bounds;
                never any other exception for whatever the payload holds.
            GridFlexNotFoundError: a bad site id.

        """
        user_id, location_id = _split_site_id(site_id)
        what = f"Energy Coordination event {_SHOW.repr(event_id)}"
        try:
            return self._parse_event(
                user_id, location_id, event_id, created_at, payload
            )
        except _UNREADABLE as err:
            raise GridFlexResponseError(
                f"Cannot read {what}: {type(err).__name__}: "
                f"{_SHOW.repr(str(err))[1:-1]}"
            ) from err

    def parse_notification(
        self, site_id: str, body: Mapping[str, Any]
    ) -> GridEvent | None:
        """Read a webhook push (``EventNotification``) for the site.

        Check the signature with ``verify_signature`` on the raw body first,
        then read the body with ``read_notification``.

        Raises:
            GridFlexResponseError: the body is not an event notification, or
                its payload cannot be read; never any other exception for
                whatever the body holds.
            GridFlexNotFoundError: a bad site id.

        """
        what = "an Energy Coordination notification"
        if not isinstance(body, Mapping):
            raise GridFlexResponseError(f"Expected {what} to be a JSON object")
        event_id = required_str(body, "eventId", what)
        created_at = required_str(body, "eventCreatedAtUtc", what)
        payload = body.get("payload")
        if not isinstance(payload, Mapping):
            raise GridFlexResponseError(f"Expected {what} to have a payload object")
        return self.parse_event(site_id, event_id, created_at, payload)

    async def acknowledge_event(
        self,
        site_id: str,
        event: GridEvent,
        *,
        accept: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 - one request's limit, applied with asyncio.timeout
    ) -> str | None:
        """Acknowledge (or, with ``accept=False``, decline) an LPC event.

        A location event is answered for the site's location and meter point,
        a resource event (``resource_ids`` set) for each of its resources.
        Returns the platform's report id (``None`` when its answer has none).
        ``timeout`` (seconds) overrides the request timeout for this call.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, for an
                event that is not an LPC or an LPC reservation, or when the
                site's meter point is unknown.

        """
        user_id, location_id = _split_site_id(site_id)
        if event.kind not in (GridEventKind.LPC, GridEventKind.LPC_RESERVATION):
            raise GridFlexRequestRejectedError(
                400, f"Energy Coordination acknowledges LPC events, not {event.kind}"
            )
        meter_point = await self._event_meter_point(
            user_id, location_id, event, timeout
        )
        targets: list[dict[str, object]]
        if event.resource_ids:
            payload_type = "ResourceLPCAcknowledgement"
            targets = [
                {
                    "meterPointId": meter_point,
                    "locationId": location_id,
                    "resourceId": resource_id,
                }
                for resource_id in event.resource_ids
            ]
        else:
            payload_type = "LocationLPCAcknowledgement"
            targets = [{"locationId": location_id, "meterPointId": meter_point}]
        payload: dict[str, object] = {
            "acknowledgedTargets": targets if accept else [],
            "declinedTargets": [] if accept else targets,
            "payloadType": payload_type,
        }
        return await self._post_report(event.event_id, [payload], timeout)

    async def report_energy_usage(
        self,
        site_id: str,
        event: GridEvent,
        hours: Sequence[tuple[datetime, Decimal]],
        *,
        resource_hours: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - one request's limit, applied with asyncio.timeout
    ) -> str | None:
        """Report the energy used in each hour of the event, in one report.

        For a location event, ``hours`` are the site's ``(hour start, kWh)``,
        sent as a ``LocationEnergyUsage`` payload. For a resource event
        (``resource_ids`` set), ``resource_hours`` holds the same per
        resource, each sent as an ``EnergyUsage`` payload, and ``hours`` must
        be empty: location usage answers location events only. Hour starts
        may be in any time zone (aware) and go out in UTC. Returns the
        platform's report id (``None`` when its answer has none).
        ``timeout`` (seconds) overrides the request timeout for this call.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, for a time
                that is naive, not the start of a UTC hour or outside the
                years 2000 to 2199, the same hour twice, a value that is
                negative, not finite or above ``MAX_ABS_KW``, site hours for
                a resource event, a resource the event does not target,
                nothing to report, or an unknown meter point.

        """
        user_id, location_id = _split_site_id(site_id)
        points, resource_points = usage_points(event, hours, resource_hours)
        meter_point = await self._event_meter_point(
            user_id, location_id, event, timeout
        )
        payloads: list[dict[str, object]] = []
        if points:
            payloads.append(
                {
                    "locationId": location_id,
                    "meterPointId": meter_point,
                    "points": points,
                    "resolution": REPORT_RESOLUTION,
                    "payloadType": "LocationEnergyUsage",
                }
            )
        payloads.extend(
            {
                "resourceId": resource_id,
                "locationId": location_id,
                "meterPointId": meter_point,
                "points": resource_points[resource_id],
                "resolution": REPORT_RESOLUTION,
                "payloadType": "EnergyUsage",
            }
            for resource_id in resource_points
        )
        return await self._post_report(event.event_id, payloads, timeout)

    async def send_usage_plan(
        self,
        site_id: str,
        event: GridEvent,
        hours: Sequence[tuple[datetime, Decimal, Decimal]],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - one request's limit, applied with asyncio.timeout
    ) -> str | None:
        """Send the site's energy usage plan for a location LPC event.

        ``hours`` are ``(hour start, baseline kWh, flexibility kWh)``: the
        energy the site expects to import in the hour without curtailment,
        and the part of it GridFlex expects to curtail. They go out as one
        ``LocationEnergyUsagePlan`` payload (``baseline`` and
        ``flexibility``, ``EnergyCurvePoint`` lists written as the energy
        usage report writes its points) in a report of its own: the
        platform's guide asks for all payloads of an event in one report,
        but the acknowledgement must go as soon as the event arrives and
        the usage once it has ended, so the plan, made in between, cannot
        share a report with either. The spec's example resolution is
        ``"02:00:00"``; the guide says only ``"01:00:00"`` is supported, and
        the plan is hourly like the usage report. Returns the platform's
        report id (``None`` when its answer has none).

        Raises:
            GridFlexRequestRejectedError: before anything is sent, for an
                event that is not a location LPC event, no hours, an hour or
                value the usage report would refuse, a flexibility above
                the baseline, or an unknown meter point.

        """
        user_id, location_id = _split_site_id(site_id)
        baseline, flexibility = plan_points(event, hours)
        meter_point = await self._event_meter_point(
            user_id, location_id, event, timeout
        )
        payload: dict[str, object] = {
            "locationId": location_id,
            "meterPointId": meter_point,
            "resolution": REPORT_RESOLUTION,
            "baseline": baseline,
            "flexibility": flexibility,
            "payloadType": "LocationEnergyUsagePlan",
        }
        return await self._post_report(event.event_id, [payload], timeout)

    async def register_webhook(
        self, url: str, secret: str, notification_types: Sequence[str]
    ) -> str:
        """Have the platform push these notification types to ``url``.

        Returns the new webhook's id. The secret signs every push and is
        never logged.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, without a
                URL or a secret (an unsigned push cannot be trusted).

        """
        if not url or not secret:
            raise GridFlexRequestRejectedError(
                400, "A webhook needs a URL and a secret to sign its pushes"
            )
        body = {
            "name": WEBHOOK_NAME,
            "webhookSecret": secret,
            "webhookUrl": url,
            "notificationTypes": list(notification_types),
        }
        answer = await self._auth.request(
            "POST", f"{self.base_url}/webhooks", json_body=body
        )
        if answer is None:
            # The spec also lists a 200 without a body: find the webhook.
            return await self._webhook_id_for(url)
        return required_str(
            as_object(answer, "the created Energy Coordination webhook"),
            "webhookId",
            "the created Energy Coordination webhook",
        )

    async def delete_webhook(self, webhook_id: str) -> None:
        """Delete the webhook; ``GridFlexNotFoundError`` when it is gone."""
        if not webhook_id:
            raise GridFlexNotFoundError("A webhook id cannot be empty")
        await self._auth.request("DELETE", self._webhook_url(webhook_id))

    async def list_webhooks(self) -> list[WebhookInfo]:
        """Return the partner's webhooks with their health.

        Entries without a ``webhookId`` are left out; a missing URL reads as
        ``""``, a missing ``enabled`` as true, a missing status as ``None``.

        Raises:
            GridFlexResponseError: an answer that is not a JSON object, or
                whose ``webhooks`` is not an array.

        """
        what = "the Energy Coordination webhooks"
        answer = as_object(
            await self._auth.request("GET", f"{self.base_url}/webhooks"), what
        )
        webhooks = answer.get("webhooks")
        return [
            info
            for item in as_list([] if webhooks is None else webhooks, what)
            if (info := _webhook_info(item)) is not None
        ]

    async def get_webhook(self, webhook_id: str) -> WebhookInfo:
        """Return one webhook with its health.

        Raises:
            GridFlexNotFoundError: the webhook does not exist (or, unsent, an
                empty id).
            GridFlexResponseError: an answer that is not a JSON object.

        """
        if not webhook_id:
            raise GridFlexNotFoundError("A webhook id cannot be empty")
        what = "an Energy Coordination webhook"
        answer = as_object(
            await self._auth.request("GET", self._webhook_url(webhook_id)), what
        )
        info = _webhook_info({"webhookId": webhook_id, **answer})
        if info is None:
            raise GridFlexResponseError(f"Expected {what} to have a webhookId")
        return info

    async def enable_webhook(self, webhook_id: str) -> None:
        """Switch the webhook back on (``PUT .../enabled?enabled=true``).

        Raises:
            GridFlexNotFoundError: the webhook does not exist (or, unsent, an
                empty id).

        """
        if not webhook_id:
            raise GridFlexNotFoundError("A webhook id cannot be empty")
        await self._auth.request(
            "PUT",
            f"{self._webhook_url(webhook_id)}/enabled",
            params={"enabled": "true"},
        )

    async def simulate_lpc_event(
        self,
        site_id: str,
        points: Sequence[tuple[datetime, Decimal]] | None = None,
    ) -> GridEvent | None:
        """Have the sandbox send a location LPC event to the site.

        ``points`` are ``(hour start, kW limit)``; without them the platform
        picks random ones. The event is also pushed to subscribed webhooks and
        listed under ``/events``. Returns it as the site would read it.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, in the
                production environment, or for points that are not on UTC
                hour starts.

        """
        user_id, location_id = _split_site_id(site_id)
        if self.environment is Environment.PRODUCTION:
            raise GridFlexRequestRejectedError(
                400, "Events can be simulated in the sandbox environment only"
            )
        wire_points = None if points is None else _hourly(points, "maxPowerInKiloWatts")
        meter_point = await self._site_meter_point(user_id, location_id)
        target: dict[str, object] = {
            "location": {"locationId": location_id, "meterPointId": meter_point}
        }
        if wire_points is not None:
            target["points"] = wire_points
        answer = await self._auth.request(
            "POST",
            f"{self.base_url}/simulation/events/lpc/locations",
            json_body={"locations": [target]},
        )
        what = "the simulated Energy Coordination event"
        simulated = as_object(as_object(answer, what).get("simulatedEvent"), what)
        payload = as_object(simulated.get("payload"), what)
        return self.parse_event(
            site_id,
            required_str(simulated, "id", what),
            required_str(simulated, "createdAt", what),
            payload,
        )

    def _listed_item(
        self,
        site_id: str,
        user_id: str,
        location_id: str,
        item: object,
        seen: set[str],
    ) -> tuple[datetime | None, GridEvent | InvalidGridEvent | None]:
        """Read one item of a page: its creation time, and what it is to the site.

        ``seen`` holds the ids read so far; this item's is added. Never raises.
        """
        if not isinstance(item, dict):
            _LOGGER.debug("Skipping an Energy Coordination event that is no object")
            return None, None
        event_id = optional_str(item, "id") or None
        if event_id is not None:
            if event_id in seen:
                # Seen on an earlier page already, pushed down by an event
                # created while paging.
                return None, None
            seen.add(event_id)
        raw_created = item.get("createdAt")
        payload = item.get("payload")
        if not isinstance(payload, dict):
            _LOGGER.debug(
                "Skipping Energy Coordination event %s without a payload object",
                _SHOW.repr(event_id),
            )
            return _listed_time(raw_created), None
        try:
            created = _event_time(raw_created, "the event's createdAt")
        except GridFlexResponseError as err:
            return None, self._unidentified(
                user_id, location_id, event_id, payload, problem=str(err), created=None
            )
        if event_id is None:
            return created, self._unidentified(
                user_id,
                location_id,
                event_id,
                payload,
                problem="no id",
                created=created,
            )
        try:
            event = self.parse_event(site_id, event_id, str(raw_created), payload)
        except GridFlexResponseError as err:
            return created, self._invalid(
                event_id, str(err), created, optional_str(payload, "payloadType")
            )
        return created, event

    def _unidentified(
        self,
        user_id: str,
        location_id: str,
        event_id: str | None,
        payload: dict[str, object],
        *,
        problem: str,
        created: datetime | None,
    ) -> InvalidGridEvent | None:
        """An item without an id or a readable ``createdAt``: invalid if the site's.

        Skipped (with a debug log when it may be the site's) otherwise.
        """
        raw_type = optional_str(payload, "payloadType")
        relevance = _site_relevance(user_id, location_id, payload, self.price_area)
        if relevance is True:
            return self._invalid(event_id or "", problem, created, raw_type)
        if relevance is None:
            _LOGGER.debug(
                "Skipping Energy Coordination event %s (%s), maybe the site's: %s",
                _SHOW.repr(event_id),
                _SHOW.repr(raw_type),
                problem,
            )
        return None

    @staticmethod
    def _invalid(
        event_id: str, reason: str, created: datetime | None, raw_type: str | None
    ) -> InvalidGridEvent:
        _LOGGER.debug(
            "Energy Coordination event %s cannot be read: %s",
            _SHOW.repr(event_id),
            reason,
        )
        return InvalidGridEvent(
            event_id=event_id, reason=reason, created_at=created, raw_type=raw_type
        )

    def _parse_event(
        self,
        user_id: str,
        location_id: str,
        event_id: str,
        created_at: object,
        payload: object,
    ) -> GridEvent | None:
        what = f"Energy Coordination event {_SHOW.repr(event_id)}"
        if not isinstance(payload, Mapping):
            raise GridFlexResponseError(f"Expected {what} to have a payload object")
        raw_type = optional_str(payload, "payloadType")
        kind = None if raw_type is None else EVENT_KINDS.get(raw_type)
        if raw_type is None or kind is None:
            return None
        if kind is GridEventKind.USER_ELIGIBILITY:
            eligible = _eligibility(payload, user_id, what)
            if eligible is None:
                return None
            return GridEvent(
                event_id=event_id,
                kind=kind,
                created_at=_event_time(created_at, what),
                raw_type=raw_type,
                eligible=eligible,
            )
        site_meter_point = _meter_point_id(user_id)
        targets = _site_targets(payload, location_id, site_meter_point, what)
        if kind is GridEventKind.PRICE_CURVE:
            return self._price_curve_event(
                event_id,
                created_at,
                payload,
                targets=targets,
                site_meter_point=site_meter_point,
                what=what,
            )
        if not targets:
            return None
        created = _event_time(created_at, what)
        meter_point = next(
            (mp for t in targets if (mp := optional_str(t, "meterPointId"))),
            site_meter_point,
        )
        return GridEvent(
            event_id=event_id,
            kind=kind,
            created_at=created,
            windows=_limit_windows(targets, what),
            resource_ids=(
                _resource_ids(targets, what, required=True)
                if raw_type == "ResourceLPC"
                else ()
            ),
            meter_point_id=meter_point,
            raw_type=raw_type,
        )

    def _price_curve_event(
        self,
        event_id: str,
        created_at: object,
        payload: Mapping[str, object],
        *,
        targets: list[dict[str, object]],
        site_meter_point: str | None,
        what: str,
    ) -> GridEvent | None:
        """A ``PriceCurve`` as the site's event, or ``None`` when it is not the site's.

        ``targets`` are the curve's targets at the site's location (the
        price-area rule is in the module's docstring).
        """
        area = _price_area(payload.get("priceArea"))
        if targets:
            if (
                self.price_area is not None
                and area in PRICE_AREAS
                and area != self.price_area
            ):
                _LOGGER.debug(
                    "Price curve %s is for %s, not the site's %s: ignored",
                    _SHOW.repr(event_id),
                    area,
                    self.price_area,
                )
                return None
            meter_point = next(
                (mp for t in targets if (mp := optional_str(t, "meterPointId"))),
                site_meter_point,
            )
        elif _area_wide(payload, area, self.price_area):
            meter_point = site_meter_point
        else:
            return None
        created = _event_time(created_at, what)
        prices, currency, energy_unit = _price_curve(payload, what)
        return GridEvent(
            event_id=event_id,
            kind=GridEventKind.PRICE_CURVE,
            created_at=created,
            prices=prices,
            currency=currency,
            resource_ids=_resource_ids(targets, what, required=False),
            meter_point_id=meter_point,
            raw_type="PriceCurve",
            price_area=area,
            energy_unit=energy_unit,
        )

    async def _post_report(
        self,
        event_id: str,
        payloads: list[dict[str, object]],
        limit: float | None,
    ) -> str | None:
        """Send the report; return its id.

        The report was taken whatever the answer holds, so an answer without
        an id is ``None``, not an error.
        """
        answer = await self._auth.request(
            "POST",
            f"{self.base_url}/reports",
            json_body={"eventId": event_id, "payloads": payloads},
            timeout=limit,
        )
        report_id = optional_str(answer, "id") if isinstance(answer, dict) else None
        return report_id or None

    async def _event_meter_point(
        self,
        user_id: str,
        location_id: str,
        event: GridEvent,
        limit: float | None = None,
    ) -> str:
        if event.meter_point_id:
            return event.meter_point_id
        return await self._site_meter_point(user_id, location_id, limit)

    async def _site_meter_point(
        self, user_id: str, location_id: str, limit: float | None = None
    ) -> str:
        """GridFlex's grid identifier in the user id, else the location's own."""
        meter_point = _meter_point_id(user_id)
        if meter_point is None:
            answer = await self._auth.request(
                "GET", self._location_url(user_id, location_id), timeout=limit
            )
            site = _site(user_id, as_object(answer, "an Energy Coordination location"))
            meter_point = site.grid_identifier or None
        if meter_point is None:
            raise GridFlexRequestRejectedError(
                400, f"Location {location_id!r} has no meter point"
            )
        return meter_point

    async def _read_enrollment(self, user_id: str) -> Enrollment:
        return read_enrollment(
            await self._auth.request("GET", self._enrollment_url(user_id)), user_id
        )

    async def _site_meter_point_ids(
        self, user_id: str, location_id: str
    ) -> tuple[str, ...]:
        """The location's meter point ids; GridFlex's in the user id if none."""
        answer = await self._auth.request(
            "GET", self._location_url(user_id, location_id)
        )
        found = _meter_point_ids(as_object(answer, "an Energy Coordination location"))
        if not found and (own := _meter_point_id(user_id)) is not None:
            found = [own]
        unique = tuple(dict.fromkeys(found))
        if len(unique) > MAX_METER_POINTS:
            # Each is one request: a home has one or two.
            raise GridFlexResponseError(
                f"Expected location {_SHOW.repr(location_id)} to have at most "
                f"{MAX_METER_POINTS} meter points, not {len(unique)} (out of range)"
            )
        return unique

    def _enrollment_url(self, user_id: str) -> str:
        return f"{self._user_url(user_id)}/enrollment"

    async def _webhook_id_for(self, url: str) -> str:
        answer = await self._auth.request("GET", f"{self.base_url}/webhooks")
        what = "the Energy Coordination webhooks"
        webhooks = as_object(answer, what).get("webhooks")
        matching = [
            webhook
            for webhook in as_list([] if webhooks is None else webhooks, what)
            if isinstance(webhook, dict)
            and webhook.get("webhookUrl") == url
            and optional_str(webhook, "webhookId")
        ]
        if not matching:
            raise GridFlexResponseError(
                "Energy Coordination created a webhook it does not list"
            )
        newest = max(matching, key=lambda webhook: str(webhook.get("createdDate")))
        return str(newest["webhookId"])

    async def _create_resource(
        self, site_id: str, resource_id: str, resource_type: str
    ) -> Resource:
        user_id, location_id = _split_site_id(site_id)
        body = {
            "resourceId": resource_id,
            "resourceType": resource_type,
            "meterPointId": _meter_point_id(user_id),
        }
        answer = await self._auth.request(
            "POST",
            f"{self._location_url(user_id, location_id)}/resources",
            json_body=body,
        )
        if answer is None:
            return await self.get_resource(site_id, resource_id)
        return _resource(answer)

    def _webhook_url(self, webhook_id: str) -> str:
        return f"{self.base_url}/webhooks/{quote(webhook_id, safe='')}"

    def _resource_url(self, resource_id: str) -> str:
        return f"{self.base_url}/resources/{quote(resource_id, safe='')}"

    def _user_url(self, user_id: str) -> str:
        return f"{self.base_url}/users/{quote(user_id, safe='')}"

    def _location_url(self, user_id: str, location_id: str) -> str:
        return f"{self._user_url(user_id)}/locations/{quote(location_id, safe='')}"

    async def _ensure_user(self, user_id: str) -> None:
        try:
            await self._auth.request("GET", self._user_url(user_id))
        except GridFlexNotFoundError:
            await self._auth.request(
                "POST", f"{self.base_url}/users", json_body={"userId": user_id}
            )

    async def _locations(self, user_id: str) -> list[dict[str, object]]:
        answer = await self._auth.request("GET", f"{self._user_url(user_id)}/locations")
        items = as_list(answer, "the Energy Coordination locations")
        return [item for item in items if isinstance(item, dict)]

    async def _fetch_token(self) -> Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        try:
            answer = await self._http.request("POST", self.token_url, form=form)
        except UnauthorizedError as err:
            raise GridFlexAuthError(
                f"Energy Coordination refused the client credentials: {err.detail}"
            ) from err
        except GridFlexRequestRejectedError as err:
            if err.status in (400, 403):
                raise GridFlexAuthError(
                    f"Energy Coordination refused the client credentials: {err.detail}"
                ) from err
            raise
        body = as_object(answer, "the Energy Coordination token")
        return Token(
            value=required_str(body, "access_token", "the Energy Coordination token"),
            lifetime=to_lifetime(body.get("expires_in"), _DEFAULT_TOKEN_LIFETIME),
        )


def _error_detail(body: object) -> str | None:
    """A bare JSON string, RFC 9457 problem details, or an OAuth2 error."""
    if not isinstance(body, dict):
        return flatten_messages(body)
    parts = [
        text
        for key in ("title", "detail", "error", "error_description")
        if (text := flatten_messages(body.get(key)))
    ]
    errors = flatten_messages(body.get("errors"))
    if errors:
        parts.append(errors)
    return " - ".join(parts) or None


def _split_site_id(site_id: str) -> tuple[str, str]:
    user_id, sep, location_id = site_id.partition("/")
    if not sep or not user_id or not location_id:
        raise GridFlexNotFoundError(f"Not an Energy Coordination site id: {site_id!r}")
    return user_id, location_id


def _meter_point_id(user_id: str) -> str | None:
    """The site's grid identifier, which GridFlex put into the user id."""
    if user_id.startswith(ID_PREFIX) and len(user_id) > len(ID_PREFIX):
        return user_id.removeprefix(ID_PREFIX)
    return None


def _wire_type(resource_type: ResourceType) -> str:
    wire = RESOURCE_TYPES.get(resource_type)
    if wire is None:
        raise GridFlexRequestRejectedError(
            400, f"Energy Coordination has no {resource_type} resources"
        )
    return wire


def _resource(item: object) -> Resource:
    resource = as_object(item, "an Energy Coordination resource")
    resource_id = required_str(
        resource, "resourceId", "an Energy Coordination resource"
    )
    raw_type = optional_str(resource, "resourceType")
    return Resource(
        resource_id=resource_id,
        type=None if raw_type is None else _READ_RESOURCE_TYPES.get(raw_type),
        raw_type=raw_type,
        external_id=resource_id,
    )


def _wire_coordinates(location: Location) -> dict[str, float] | None:
    if location.latitude is None or location.longitude is None:
        return None
    return {
        "latitude": float(location.latitude),
        "longitude": float(location.longitude),
    }


def _meter_point_ids(location: dict[str, object]) -> list[str]:
    found: list[str] = []
    ids = location.get("meterPointIds")
    if isinstance(ids, list):
        found.extend(item for item in ids if isinstance(item, str))
    legacy = optional_str(location, "meterPointId")
    if legacy and legacy not in found:
        found.append(legacy)
    return found


def _matching_location(
    locations: list[dict[str, object]], grid_identifier: str
) -> dict[str, object] | None:
    """GridFlex's own location id first, then any location with the meter point."""
    own_id = ID_PREFIX + grid_identifier
    for location in locations:
        if location.get("locationId") == own_id:
            return location
    for location in locations:
        if grid_identifier in _meter_point_ids(location):
            return location
    return None


def _site(
    user_id: str, location: dict[str, object], address: str | None = None
) -> Site:
    location_id = required_str(
        location, "locationId", "an Energy Coordination location"
    )
    meter_points = _meter_point_ids(location)
    coordinates = location.get("coordinates")
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    if isinstance(coordinates, dict):
        latitude = to_decimal(coordinates.get("latitude"))
        longitude = to_decimal(coordinates.get("longitude"))
    return Site(
        site_id=f"{user_id}/{location_id}",
        grid_identifier=meter_points[0] if meter_points else "",
        location=Location(address=address, latitude=latitude, longitude=longitude),
    )


def _with_address(site: Site, address: str | None) -> Site:
    return replace(site, location=replace(site.location, address=address))


def verify_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """Return whether ``signature`` is the push's ``X-Payload-Signature``.

    That is base64 of HMAC-SHA256 over the raw ``body`` bytes, keyed with the
    webhook secret as UTF-8, compared in constant time. A missing or garbled
    header, or an empty secret, never verifies.
    """
    if not secret or not signature:
        return False
    try:
        claimed = base64.b64decode(signature.strip(), validate=True)
    except ValueError:  # binascii.Error, or a header that is not ASCII
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, claimed)


def read_notification(raw: bytes) -> Mapping[str, Any]:
    """Read the raw body of a webhook push as a JSON object.

    Check its signature with ``verify_signature`` first, and hand the result
    to ``parse_notification``. The body is refused before parsing when it is
    larger than ``MAX_NOTIFICATION_BYTES`` or nests deeper than
    ``MAX_NOTIFICATION_DEPTH``; numbers with a fraction keep every digit
    (``Decimal``).

    Raises:
        GridFlexResponseError: too large, too deep, not UTF-8 JSON, or not a
            JSON object.

    """
    body = loads_bounded(
        raw, max_bytes=MAX_NOTIFICATION_BYTES, max_depth=MAX_NOTIFICATION_DEPTH
    )
    if not isinstance(body, dict):
        raise GridFlexResponseError(
            "Expected an Energy Coordination notification to be a JSON object"
        )
    return body


def usage_points(
    event: GridEvent,
    hours: Sequence[tuple[datetime, Decimal]],
    resource_hours: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
) -> tuple[list[dict[str, object]], dict[str, list[dict[str, object]]]]:
    """Check and write the energy usage of an event as report points.

    Returns the location's points (for a location event) and each resource's
    (for a resource event), as ``report_energy_usage`` sends them.

    Raises:
        GridFlexRequestRejectedError: site hours for a resource event, hours
            of a resource the event does not target, nothing to report, or
            an hour or value ``_hourly`` refuses.

    """
    extra = resource_hours or {}
    strangers = sorted(str(key) for key in set(extra) - set(event.resource_ids))
    if strangers:
        raise GridFlexRequestRejectedError(
            400,
            f"Event {event.event_id} does not target resource(s) "
            + ", ".join(strangers),
        )
    if event.resource_ids and hours:
        raise GridFlexRequestRejectedError(
            400,
            f"Event {event.event_id} targets resources: report their energy "
            "usage, not the location's (that answers location events)",
        )
    points = _hourly(hours, "kiloWattHours")
    resource_points = {
        resource_id: _hourly(extra[resource_id], "kiloWattHours")
        for resource_id in event.resource_ids
        if resource_id in extra
    }
    resource_points = {key: value for key, value in resource_points.items() if value}
    if not points and not resource_points:
        raise GridFlexRequestRejectedError(
            400, f"No energy usage to report for event {event.event_id}"
        )
    return points, resource_points


def plan_points(
    event: GridEvent, hours: Sequence[tuple[datetime, Decimal, Decimal]]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Check and write an energy usage plan's baseline and flexibility points.

    Raises:
        GridFlexRequestRejectedError: an event that is not a location LPC
            event, no hours, a flexibility above its hour's baseline, or an
            hour or value ``_hourly`` refuses.

    """
    if event.kind is not GridEventKind.LPC or event.resource_ids:
        raise GridFlexRequestRejectedError(
            400,
            f"Event {event.event_id}: an energy usage plan answers location "
            "LPC events only",
        )
    if not hours:
        raise GridFlexRequestRejectedError(
            400, f"No hours to plan for event {event.event_id}"
        )
    baseline_points = _hourly([(h, b) for h, b, _ in hours], "kiloWattHours")
    flexibility_points = _hourly([(h, f) for h, _, f in hours], "kiloWattHours")
    # GridFlex's own invariant (it cannot curtail more than the site would
    # import), not a documented platform rule: a value above it is a bug.
    for hour, baseline, flexibility in hours:
        if Decimal(flexibility) > Decimal(baseline):  # both finite: _hourly read them
            raise GridFlexRequestRejectedError(
                400,
                f"The flexibility of the hour from {hour.isoformat()} is above "
                "its baseline",
            )
    return baseline_points, flexibility_points


def _check_listing(since: datetime | None, page_size: int, max_pages: int) -> None:
    """Refuse what ``list_events`` cannot ask for."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise GridFlexRequestRejectedError(
            400, f"pageSize must be between 1 and {MAX_PAGE_SIZE}"
        )
    if max_pages < 1:
        raise GridFlexRequestRejectedError(400, "max_pages must be at least 1")
    if since is not None and since.utcoffset() is None:
        raise GridFlexRequestRejectedError(400, "since needs a time zone")


def _listing(
    events: list[GridEvent], invalid: list[InvalidGridEvent], *, complete: bool
) -> EventListing:
    """Newest-first finds as a listing, oldest first (ties keep the order)."""
    return EventListing(
        events=tuple(_oldest_first(events)),
        invalid=tuple(reversed(invalid)),
        complete=complete,
    )


def _oldest_first(events: list[GridEvent]) -> list[GridEvent]:
    """Newest-first events oldest first (ties keep the platform's order)."""
    return sorted(events, key=lambda event: event.created_at, reverse=True)[::-1]


def _next_page(pagination: object, page: int) -> int | None:
    if not isinstance(pagination, dict):
        return None
    next_page = pagination.get("nextPage")
    if isinstance(next_page, bool) or not isinstance(next_page, int):
        return None
    return next_page if next_page > page else None


def _webhook_info(item: object) -> WebhookInfo | None:
    """A listed webhook; ``None`` without a ``webhookId``."""
    if not isinstance(item, dict):
        return None
    webhook_id = optional_str(item, "webhookId")
    if not webhook_id:
        return None
    enabled = item.get("enabled")
    return WebhookInfo(
        webhook_id=webhook_id,
        url=optional_str(item, "webhookUrl") or "",
        enabled=enabled if isinstance(enabled, bool) else True,
        status=optional_str(item, "status") or None,
    )


def _parse_time(value: object, what: str) -> datetime:
    """An ISO 8601 time as aware UTC (a time without offset is read as UTC)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
        except ValueError:
            pass
        except OverflowError:
            # An offset that moves the time beyond year 1 or 9999.
            raise GridFlexResponseError(
                f"Expected {what} to have times in the years 2000 to 2199, "
                f"not {_SHOW.repr(value)} (out of range)"
            ) from None
    raise GridFlexResponseError(
        f"Expected {what} to have ISO 8601 times, not {_SHOW.repr(value)}"
    )


def _event_time(value: object, what: str) -> datetime:
    """An event time (``_parse_time``) within the years 2000 to 2199."""
    when = _parse_time(value, what)
    if not EARLIEST_EVENT_TIME <= when < LATEST_EVENT_TIME:
        raise GridFlexResponseError(
            f"Expected {what} to have times in the years 2000 to 2199, "
            f"not {when.isoformat()} (out of range)"
        )
    return when


def _listed_time(value: object) -> datetime | None:
    """A listed item's ``createdAt``, ``None`` when it cannot be read."""
    try:
        return _event_time(value, "the event's createdAt")
    except GridFlexResponseError:
        return None


def _timespan(value: object, what: str) -> timedelta:
    """A .NET TimeSpan above zero and at most a day; one hour when missing."""
    if value is None:
        return _ONE_HOUR
    match = _TIMESPAN.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None:
        days, hours, minutes, seconds = (
            int(match["days"] or 0),
            int(match["hours"]),
            int(match["minutes"]),
            int(match["seconds"]),
        )
        if hours < 24 and minutes < 60 and seconds < 60:
            span = timedelta(
                days=days,
                hours=hours,
                minutes=minutes,
                seconds=seconds,
                microseconds=int((match["fraction"] or "0").ljust(7, "0")) // 10,
            )
            if timedelta(0) < span <= MAX_RESOLUTION:
                return span
    raise GridFlexResponseError(
        f"Expected {what} to have a resolution above zero and at most one day, "
        f"not {_SHOW.repr(value)}"
    )


def _objects(value: object, what: str, key: str) -> list[dict[str, object]]:
    """The objects in the JSON array ``value`` (found at ``key``), bounded."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise GridFlexResponseError(f"Expected {what} to have a list of {key}")
    if len(value) > MAX_POINTS_PER_TARGET:
        raise GridFlexResponseError(
            f"Expected {what} to have at most {MAX_POINTS_PER_TARGET} {key} "
            f"in a list, not {len(value)} (out of range)"
        )
    return value


def _bounded_number(
    value: object, bound: Decimal, what: str, key: str, unit: str
) -> Decimal:
    """A finite number at ``key`` of at most ``bound`` either way."""
    number = _decimal(value)
    if number is None:
        raise GridFlexResponseError(f"Expected {what} to have a {key} in each point")
    if number.copy_abs() > bound:
        raise GridFlexResponseError(
            f"Expected {what} to have a {key} of at most {bound} {unit} either "
            f"way, not {_SHOW.repr(value)} (out of range)"
        )
    return number


def _decimal(value: object) -> Decimal | None:
    """``to_decimal``, with integers of any length read without ``str``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return to_decimal(value)


def _users(value: object) -> set[str]:
    """The user ids in a list of them (anything else holds none)."""
    if not isinstance(value, list):
        return set()
    return {user for user in value if isinstance(user, str)}


def _eligibility(payload: Mapping[str, object], user_id: str, what: str) -> bool | None:
    """Whether the site's user was added (true) or removed (false).

    ``None`` when the event names neither.
    """
    added = user_id in _users(payload.get("addedUsers"))
    removed = user_id in _users(payload.get("removedUsers"))
    if added and removed:
        raise GridFlexResponseError(
            f"Expected {what} to list the site's user as added or removed, not both"
        )
    if added or removed:
        return added
    return None


def _is_site_target(target: object, location_id: str, meter_point: str | None) -> bool:
    if not isinstance(target, dict) or target.get("locationId") != location_id:
        return False
    target_meter_point = optional_str(target, "meterPointId")
    return not (
        meter_point and target_meter_point and target_meter_point != meter_point
    )


def _site_targets(
    payload: Mapping[str, object],
    location_id: str,
    meter_point: str | None,
    what: str,
) -> list[dict[str, object]]:
    """The event's targets at the site's location and meter point."""
    targets = payload.get("targets")
    if not isinstance(targets, list):
        raise GridFlexResponseError(f"Expected {what} to have a list of targets")
    return [
        target
        for target in targets
        if isinstance(target, dict)
        and _is_site_target(target, location_id, meter_point)
    ]


def _site_relevance(
    user_id: str,
    location_id: str,
    payload: Mapping[str, object],
    price_area: str | None = None,
) -> bool | None:
    """Whether the payload is for the site; ``None`` when that cannot be told.

    False for types GridFlex does not read. A price curve follows the
    price-area rule with the site's ``price_area`` (the module's
    docstring), as ``parse_event`` does. Never raises.
    """
    raw_type = optional_str(payload, "payloadType")
    kind = None if raw_type is None else EVENT_KINDS.get(raw_type)
    if kind is None:
        return False
    if kind is GridEventKind.USER_ELIGIBILITY:
        return user_id in _users(payload.get("addedUsers")) or user_id in _users(
            payload.get("removedUsers")
        )
    targets = payload.get("targets")
    if not isinstance(targets, list):
        return None
    meter_point = _meter_point_id(user_id)
    aimed = any(_is_site_target(t, location_id, meter_point) for t in targets)
    if kind is not GridEventKind.PRICE_CURVE:
        return aimed
    area = _price_area(payload.get("priceArea"))
    if aimed:
        return price_area is None or area not in PRICE_AREAS or area == price_area
    return _area_wide(payload, area, price_area)


def _resource_ids(
    targets: list[dict[str, object]], what: str, *, required: bool
) -> tuple[str, ...]:
    ids: list[str] = []
    for target in targets:
        resource_id = optional_str(target, "resourceId")
        if not resource_id:
            if required:
                raise GridFlexResponseError(
                    f"Expected {what} to have a resourceId in each target"
                )
            continue
        if resource_id not in ids:
            ids.append(resource_id)
    return tuple(ids)


def _limit_windows(
    targets: list[dict[str, object]], what: str
) -> tuple[LimitWindow, ...]:
    """The targets' points as windows, merged where they touch with one limit.

    Where points overlap (two targets of the site, or one hour twice), the
    lowest limit holds: keeping to it keeps to each of them.
    """
    periods: list[tuple[datetime, datetime, Decimal]] = []
    for target in targets:
        step = _timespan(target.get("resolution"), what)
        for point in _objects(target.get("points"), what, "points"):
            start = _event_time(point.get("timestamp"), what)
            limit = _bounded_number(
                point.get("maxPowerInKiloWatts"),
                MAX_ABS_KW,
                what,
                "maxPowerInKiloWatts",
                "kW",
            )
            periods.append((start, start + step, limit))
        if len(periods) > MAX_POINTS_PER_EVENT:
            raise GridFlexResponseError(
                f"Expected {what} to have at most {MAX_POINTS_PER_EVENT} points "
                "for the site (out of range)"
            )
    return _merged_windows(periods)


def _merged_windows(
    periods: list[tuple[datetime, datetime, Decimal]],
) -> tuple[LimitWindow, ...]:
    """The lowest limit in force between each two period edges, merged.

    A sweep over the sorted edges with a heap of the periods in force (the
    lowest limit on top, periods that ended popped lazily): n log n.
    """
    edges = sorted({moment for start, end, _ in periods for moment in (start, end)})
    by_start = sorted(periods, key=lambda period: period[0])
    in_force: list[tuple[Decimal, datetime]] = []
    next_period = 0
    windows: list[LimitWindow] = []
    for start, end in pairwise(edges):
        while next_period < len(by_start) and by_start[next_period][0] <= start:
            _, period_end, limit = by_start[next_period]
            heapq.heappush(in_force, (limit, period_end))
            next_period += 1
        while in_force and in_force[0][1] <= start:
            heapq.heappop(in_force)
        if not in_force:
            continue
        limit = in_force[0][0]
        last = windows[-1] if windows else None
        if last is not None and last.end == start and last.max_power_kw == limit:
            windows[-1] = replace(last, end=end)
        else:
            windows.append(LimitWindow(start=start, end=end, max_power_kw=limit))
    return tuple(windows)


def _price_area(value: object) -> str | None:
    """A curve's ``priceArea``; ``None`` when missing, ``Unknown`` or no name.

    An area outside ``PRICE_AREAS`` is kept as sent (upper case) when it is
    short enough to be a name.
    """
    if not isinstance(value, str):
        return None
    area = value.strip().upper()
    if not area or area == "UNKNOWN" or len(area) > MAX_PRICE_AREA_CHARS:
        return None
    return area


def _area_wide(
    payload: Mapping[str, object], area: str | None, site_area: str | None
) -> bool:
    """Whether a curve aimed at no target is for the whole of the site's area."""
    return site_area is not None and area == site_area and payload.get("targets") == []


def _price_curve(
    payload: Mapping[str, object], what: str
) -> tuple[tuple[PricePoint, ...], str | None, str | None]:
    """The price deltas per kWh (a curve per MWh is divided by 1000).

    With the curve's currency and energy unit as sent.
    """
    curve = payload.get("priceCurveDelta")
    if not isinstance(curve, dict):
        raise GridFlexResponseError(f"Expected {what} to have a priceCurveDelta")
    step = _timespan(curve.get("resolution"), what)
    per_mwh = curve.get("energyUnit") == "MWh"
    prices: list[PricePoint] = []
    for point in _objects(curve.get("points"), what, "price points"):
        start = _event_time(point.get("timestamp"), what)
        price = _bounded_number(
            point.get("price"), MAX_ABS_PRICE, what, "price", "per energy unit"
        )
        prices.append(
            PricePoint(
                start=start, end=start + step, price=price / 1000 if per_mwh else price
            )
        )
    prices.sort(key=lambda point: point.start)
    return (
        tuple(prices),
        _short_name(curve.get("currency")),
        _short_name(curve.get("energyUnit")),
    )


def _short_name(value: object) -> str | None:
    """A code such as a currency or an energy unit; ``None`` if none fits."""
    if isinstance(value, str) and 0 < len(value) <= MAX_PRICE_AREA_CHARS:
        return value
    return None


def _hourly(
    values: Sequence[tuple[datetime, Decimal]], key: str
) -> list[dict[str, object]]:
    """``[{timestamp, <key>}]`` on UTC hour starts, oldest first.

    Raises:
        GridFlexRequestRejectedError: a naive time, a time that is not the
            start of a UTC hour or is outside the years 2000 to 2199, an
            hour given twice, or a value that is not a finite number, is
            negative or is above ``MAX_ABS_KW``.

    """
    by_hour: dict[datetime, int | float] = {}
    for when, value in values:
        hour = _report_hour(when)
        if hour in by_hour:
            raise GridFlexRequestRejectedError(
                400, f"The hour from {hour:%Y-%m-%dT%H:%M}Z is given twice"
            )
        by_hour[hour] = _json_number(value)
    return [
        {"timestamp": f"{hour:%Y-%m-%dT%H}:00:00.000Z", key: by_hour[hour]}
        for hour in sorted(by_hour)
    ]


def _report_hour(when: datetime) -> datetime:
    """The UTC hour starting at ``when``."""
    try:
        offset = when.utcoffset() if isinstance(when, datetime) else None
        hour = None if offset is None else when.astimezone(UTC)
    except (OverflowError, ValueError, TypeError) as err:
        raise GridFlexRequestRejectedError(
            400, f"{_SHOW.repr(when)} is not a time GridFlex can report"
        ) from err
    if hour is None:
        raise GridFlexRequestRejectedError(400, f"{_SHOW.repr(when)} has no time zone")
    if not EARLIEST_EVENT_TIME <= hour < LATEST_EVENT_TIME:
        raise GridFlexRequestRejectedError(
            400, f"{hour.isoformat()} is not in the years 2000 to 2199"
        )
    if hour.minute or hour.second or hour.microsecond:
        raise GridFlexRequestRejectedError(
            400, f"{when.isoformat()} is not the start of a UTC hour"
        )
    return hour


def _json_number(value: Decimal) -> int | float:
    """A JSON number: an integer when whole, else the nearest double.

    Raises:
        GridFlexRequestRejectedError: not a finite number, negative, or above
            ``MAX_ABS_KW``.

    """
    number = _decimal(value)
    if number is None:
        raise GridFlexRequestRejectedError(
            400, f"Not a finite number: {_SHOW.repr(value)}"
        )
    if number < 0:
        raise GridFlexRequestRejectedError(400, f"{number} is negative")
    if number > MAX_ABS_KW:
        raise GridFlexRequestRejectedError(400, f"{number} is above {MAX_ABS_KW}")
    if number == number.to_integral_value():
        return int(number)
    return float(number)
