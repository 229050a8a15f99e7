"""Powernaut Connect (Partner API v1).

Wire facts this module relies on:

- ``POST /v1/auth/token`` with HTTP Basic ``urlencode(id):urlencode(secret)``
  and no body returns ``{access_token, expires_in, token_type}``; API calls
  carry ``Authorization: Bearer <token>``.
- A site is a "connection point" with ``supply_points``; its coordinates are
  decimal *strings*. Lists are paginated as ``{total, items}``.
- Creating a site returns its edge-cloud credentials once; for an adopted
  site GridFlex issues its own named credential set.
- Errors are ``{message: str | str[], error, status_code}``.
- A resource belongs to a site (``site_id``); power limits (kW) and capacity
  (kWh) are decimal *strings* (a JSON number is refused). ``PATCH`` is
  partial and ``null`` unsets a field (``group_id: null`` leaves the group).
  At most 10 resources per site (the 11th is a 400). ``external_id`` is a
  free reference: nothing in the spec makes it unique, so the platform
  creates a second resource with the same one (GridFlex looks it up first).
- The resource status and health checks are in the product docs only; see
  ``_resource_health`` for the wire form GridFlex assumes.
- Activations: Powernaut accepts a bid by POSTing ``{"id": <bid id>}`` to
  the ``webhooks.accepted`` URL of the bid or of its resource (PATCH the
  resource's ``webhooks``; an empty ``{}`` removes it) and the partner then reads
  ``GET /v1/connect/bids/{id}``: ``activation {value, price, created_at,
  canceled_at?, type}``, ``value`` in kW as a decimal string. A cancellation
  is the same webhook with ``activation.value: null``; ``canceled_at`` is a
  date-time string although the spec types it ``object`` (platform-apis.md
  §5). ``GET /v1/connect/resources/{id}/activations`` pages through
  ``ProviderActivationSummaryDto {start, end, value, energy, direction,
  resource_id, resource_type, site_id, bid_id}``: no activation type and no
  acceptance time.
- Baselines: ``POST /v1/connect/sites/{id}/baseline`` and
  ``.../resources/{id}/baseline`` take a ``CreateBaselineDto`` ``{start,
  power_type, values, skip_activated_windows}``: ``start`` a whole
  quarter-hour no earlier than the current one, 1 to 192 decimal strings in
  kW (import positive) → 201 without a body. Overlapping baselines are
  overwritten; an activated window is a 409 unless ``skip_activated_windows``
  is true, which GridFlex always sends.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
import logging
import time
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import quote

from ._http import (
    Clock,
    Token,
    TokenAuth,
    UnauthorizedError,
    as_list,
    as_object,
    decimal_string,
    flatten_messages,
    optional_str,
    required_str,
    root_url,
    to_decimal,
    to_lifetime,
)
from .base import Capabilities
from .bids import Bid, BidPoint, BidReport, BidRequest, BidStatus
from .errors import (
    GridFlexAuthError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
)
from .models import (
    HEALTH_CHECK_STATES,
    EdgeCredentials,
    Environment,
    GridEvent,
    GridEventKind,
    HealthCheck,
    LimitWindow,
    Location,
    Market,
    MarketStatus,
    PlatformKey,
    RegisteredSite,
    Resource,
    ResourceSpec,
    ResourceStatus,
    ResourceType,
    Site,
    SiteRegistration,
    SiteStatus,
    SupplyDirection,
    UpstreamStatus,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import aiohttp

    from .tokens import TokenKeeper

_LOGGER = logging.getLogger(__name__)

EDGE_CREDENTIALS_NAME: Final = "GridFlex"
"""The name of the edge-cloud credential set GridFlex issues for a site."""

_PAGE_SIZE: Final = 100
_MAX_PAGES: Final = 1000
_DEFAULT_TOKEN_LIFETIME: Final = 3600.0
_COORDINATE_PLACES: Final = Decimal("0.000001")
_PRIMARY_DIRECTIONS: Final = frozenset({"bidirectional", "offtake"})
MAX_BASELINE_VALUES: Final = 192
"""Quarter-hours one baseline may hold (CreateBaselineDto ``values``)."""
_BASELINE_PLACES: Final = Decimal("0.001")

ACTIVATION_EVENT_PREFIX: Final = "activation-"
"""Activation events are ``activation-<bid id>``: one event per bid."""
CANCELLED_ACTIVATION: Final = "cancelled"
"""The ``raw_type`` of an activation Powernaut cancelled (no windows)."""

RESOURCE_TYPES: Final[dict[ResourceType, str]] = {
    ResourceType.BATTERY: "static_battery",
    ResourceType.ELECTRIC_VEHICLE: "electric_vehicle",
    ResourceType.EV_CHARGER: "electric_vehicle_charging_point",
    ResourceType.HEAT_PUMP: "heat_pump",
    ResourceType.SOLAR: "photovoltaic",
    ResourceType.BOILER: "other",
    ResourceType.WIND: "wind",
    ResourceType.GROUP: "group",
    ResourceType.OTHER: "other",
}
"""GridFlex's resource types as Powernaut's ``type`` (a boiler is ``other``)."""

_READ_RESOURCE_TYPES: Final[dict[str, ResourceType]] = {
    wire: kind
    for kind, wire in RESOURCE_TYPES.items()
    if kind is not ResourceType.BOILER
}

CAPABILITIES: Final = Capabilities(
    site_status=True,
    upstream_status=True,
    markets=True,
    supply_direction=True,
    streams_measurements=True,
    lpc_events=False,
    schedules=False,
    max_resources_per_site=10,
    countries=("BE", "NL", "LU", "FR", "GB", "IE", "IT", "ES"),
    site_poll_seconds=300,
    display_name="Powernaut",
    resource_types=tuple(RESOURCE_TYPES),
    resource_status=True,
    power_decimals=6,
    power_integer_digits=15,
    resource_resolution=False,
    bids=True,
    baselines=True,
)


class PowernautClient:
    """A client for Powernaut Connect."""

    platform: PlatformKey = PlatformKey.POWERNAUT
    capabilities: Capabilities = CAPABILITIES
    production_url: ClassVar[str] = "https://api.powernaut.io"
    sandbox_url: ClassVar[str] = "https://api.sandbox.powernaut.io"

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
    ) -> None:
        """Talk to Powernaut with the partner's client credentials.

        With ``Environment.CUSTOM``, ``base_url`` is the server root; the
        ``/v1/...`` paths are appended to it.
        """
        self.base_url = root_url(
            environment,
            base_url,
            production=self.production_url,
            sandbox=self.sandbox_url,
        )
        self.token_url = f"{self.base_url}/v1/auth/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._auth = TokenAuth.for_platform(
            session,
            platform_name="Powernaut",
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
        """Return the site whose offtake or bidirectional point has this identifier.

        Sites with status ``deleted`` are ignored. Pages through all sites.
        """
        wanted = _normalize(grid_identifier)
        seen = 0
        for page in range(1, _MAX_PAGES + 1):
            body = as_object(
                await self._auth.request(
                    "GET",
                    self._sites_url,
                    params={"page": str(page), "page_size": str(_PAGE_SIZE)},
                ),
                "a page of Powernaut sites",
            )
            items = as_list(body.get("items"), "the items of a Powernaut site page")
            for item in items:
                if not isinstance(item, dict) or item.get("status") == "deleted":
                    continue
                if wanted in {_normalize(gid) for gid in _grid_identifiers(item)}:
                    return _site(item)
            seen += len(items)
            total = body.get("total")
            if not items or (isinstance(total, int) and seen >= total):
                break
        return None

    async def register_site(self, registration: SiteRegistration) -> RegisteredSite:
        """Create the site, or adopt the one with the same grid identifier.

        Either way the result carries edge-cloud credentials: those returned
        with a new site, or a fresh ``GridFlex`` set for an adopted one.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when the
                registration has neither an address nor coordinates, or asks
                for offtake + injection without an injection grid identifier
                (Powernaut would refuse both with HTTP 400).

        """
        create_body = {
            "location": _wire_location(registration.location),
            "supply_points": _supply_points(registration),
        }
        existing = await self.find_site(registration.grid_identifier)
        if existing is not None:
            return RegisteredSite(
                site=existing,
                created=False,
                edge_credentials=await self._issue_edge_credentials(existing.site_id),
            )
        created = as_object(
            await self._auth.request("POST", self._sites_url, json_body=create_body),
            "the created Powernaut site",
        )
        site = _site(created)
        raw_credentials = created.get("credentials")
        if isinstance(raw_credentials, dict):
            credentials = _edge_credentials(raw_credentials)
        else:
            credentials = await self._issue_edge_credentials(site.site_id)
        return RegisteredSite(site=site, created=True, edge_credentials=credentials)

    async def get_site(self, site_id: str) -> Site:
        """Return the site with its status, upstream status and markets."""
        # Both side by side (one round trip); the site's own failure (say a
        # 404 for a site that is gone) wins over the markets'.
        body, markets = await asyncio.gather(
            self._auth.request("GET", self._site_url(site_id)),
            self._markets(site_id),
            return_exceptions=True,
        )
        if isinstance(body, BaseException):
            raise body
        site = _site(body)
        if isinstance(markets, BaseException):
            raise markets
        return replace(site, markets=markets)

    async def update_site_location(self, site_id: str, location: Location) -> Site:
        """Move the site to an address, or else to coordinates.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when the
                location has neither an address nor coordinates.

        """
        body = {"location": _wire_location(location)}
        answer = await self._auth.request(
            "PATCH", self._site_url(site_id), json_body=body
        )
        if answer is None:
            return await self.get_site(site_id)
        return replace(_site(answer), markets=await self._markets(site_id))

    async def list_resources(self, site_id: str) -> list[Resource]:
        """Return the site's resources (one unpaginated ``{total, items}``)."""
        body = as_object(
            await self._auth.request(
                "GET", self._resources_url, params={"site_id": site_id}
            ),
            "the Powernaut resources",
        )
        items = as_list(body.get("items"), "the items of the Powernaut resources")
        return [_resource(item) for item in items if isinstance(item, dict)]

    async def get_resource(self, site_id: str, resource_id: str) -> Resource:
        """Return one resource; ``GridFlexNotFoundError`` when it is gone."""
        return _resource(
            await self._auth.request("GET", self._resource_url(resource_id))
        )

    async def create_resource(self, site_id: str, spec: ResourceSpec) -> Resource:
        """Create the resource on the site.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when a power
                or capacity value does not fit Powernaut's decimal strings.

        """
        body: dict[str, object] = {
            "site_id": site_id,
            "type": RESOURCE_TYPES[spec.type],
            "name": spec.name,
            "external_id": spec.external_id,
            "power": _wire_power(spec),
        }
        if spec.capacity_kwh is not None:
            body["capacity"] = _wire_capacity(spec.capacity_kwh)
        if spec.group_id is not None and spec.type is not ResourceType.GROUP:
            body["group_id"] = spec.group_id
        if spec.webhook_url is not None:
            body["webhooks"] = {"accepted": spec.webhook_url}
        return _resource(
            await self._auth.request("POST", self._resources_url, json_body=body)
        )

    async def update_resource(
        self, site_id: str, resource_id: str, spec: ResourceSpec
    ) -> Resource:
        """Set name, type, limits, capacity and group (``null`` clears the group).

        What does not apply is left out: a capacity is sent only when the
        resource has one (the spec's ``UpdateResourceDto.capacity`` is not
        nullable and the platform refuses ``null``, so the docs' "null unsets
        a field" does not hold for it and a capacity cannot be removed by
        update); a group resource gets no ``group_id`` (groups do not nest);
        the webhook only when ``spec.webhook_url`` is set.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when a power
                or capacity value does not fit Powernaut's decimal strings.

        """
        body: dict[str, object] = {
            "name": spec.name,
            "type": RESOURCE_TYPES[spec.type],
            "power": _wire_power(spec),
        }
        if spec.capacity_kwh is not None:
            body["capacity"] = _wire_capacity(spec.capacity_kwh)
        if spec.type is not ResourceType.GROUP:
            body["group_id"] = spec.group_id
        if spec.webhook_url is not None:
            body["webhooks"] = {"accepted": spec.webhook_url}
        url = self._resource_url(resource_id)
        answer = await self._auth.request("PATCH", url, json_body=body)
        if answer is None:
            return await self.get_resource(site_id, resource_id)
        return _resource(answer)

    async def delete_resource(self, site_id: str, resource_id: str) -> None:
        """Delete the resource; ``GridFlexNotFoundError`` when already gone."""
        await self._auth.request("DELETE", self._resource_url(resource_id))

    async def set_resource_webhook(self, resource_id: str, url: str | None) -> None:
        """Have Powernaut call ``url`` when it accepts (or cancels) a bid of the resource.

        PATCHes the resource's ``webhooks: {accepted: url}``; ``None`` removes
        the webhook with an empty ``webhooks: {}`` (``null`` is not in the
        spec; Powernaut then falls back to MQTT). Raises
        ``GridFlexNotFoundError`` when the resource is gone.
        """
        body: dict[str, object] = {"webhooks": {} if url is None else {"accepted": url}}
        await self._auth.request(
            "PATCH", self._resource_url(resource_id), json_body=body
        )

    async def get_activation(self, bid_id: str) -> GridEvent | None:
        """Read a bid's activation (what the ``bidAccepted`` webhook announces).

        Returns ``None`` while the bid has no activation. An activation is an
        ``ACTIVATION`` event ``activation-<bid id>`` with one window (the
        bid's quarter-hour, ``max_power_kw`` = the requested setpoint in kW),
        the bid's resource and ``raw_type`` = the activation type (``exact``,
        ``maximise_upwards``, ``maximise_downwards``), created at
        ``activation.created_at``. A cancelled activation (``value`` null, or
        a ``canceled_at`` not older than ``created_at``) is the same event id
        without windows, ``raw_type`` ``"cancelled"``, created at
        ``canceled_at`` when readable. Raises ``GridFlexNotFoundError`` for an
        unknown bid.
        """
        body = as_object(
            await self._auth.request("GET", self._bid_url(bid_id)), "a Powernaut bid"
        )
        return _bid_activation(bid_id, body)

    async def list_activations(
        self,
        resource_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[GridEvent]:
        """Return the resource's activations (optionally those overlapping a period).

        Pages through ``GET /v1/connect/resources/{id}/activations``. Events
        are ``activation-<bid id>`` as from ``get_activation``, one per bid
        (the first listed wins), oldest window first. The summary carries no
        acceptance time and no activation type: ``created_at`` is the
        window's start and ``raw_type`` is ``None`` (an item without a value
        is read as cancelled). ``start``/``end`` must be timezone-aware.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when
                ``start`` or ``end`` is naive.

        """
        params = {"page_size": str(_PAGE_SIZE)}
        for name, moment in (("start", start), ("end", end)):
            if moment is not None:
                params[name] = _wire_time(moment, name)
        url = f"{self._resource_url(resource_id)}/activations"
        events: dict[str, GridEvent] = {}
        seen = 0
        for page in range(1, _MAX_PAGES + 1):
            body = as_object(
                await self._auth.request(
                    "GET", url, params={**params, "page": str(page)}
                ),
                "a page of Powernaut activations",
            )
            items = as_list(
                body.get("items"), "the items of a Powernaut activation page"
            )
            for item in items:
                if isinstance(item, dict):
                    event = _summary_activation(item, resource_id)
                    events.setdefault(event.event_id, event)
            seen += len(items)
            total = body.get("total")
            if not items or (isinstance(total, int) and seen >= total):
                break
        return sorted(
            events.values(),
            key=lambda event: (event.start or event.created_at, event.event_id),
        )

    async def post_site_baseline(
        self, site_id: str, start: datetime, values_kw: Sequence[Decimal]
    ) -> None:
        """Post the site's baseline (``POST /v1/connect/sites/{id}/baseline``).

        ``values_kw`` are the active power of consecutive quarter-hours from
        ``start`` (a whole quarter-hour, at least the current one), import
        positive. Sent with ``skip_activated_windows``: windows Powernaut has
        activated keep their earlier baseline instead of failing the request.
        Raises ``GridFlexNotFoundError`` when the site is gone.
        """
        await self._auth.request(
            "POST",
            f"{self._site_url(site_id)}/baseline",
            json_body=_baseline_body(start, values_kw),
        )

    async def post_resource_baseline(
        self, resource_id: str, start: datetime, values_kw: Sequence[Decimal]
    ) -> None:
        """Post a resource's baseline, as ``post_site_baseline`` does for the site."""
        await self._auth.request(
            "POST",
            f"{self._resource_url(resource_id)}/baseline",
            json_body=_baseline_body(start, values_kw),
        )

    async def place_bid(self, resource_id: str, request: BidRequest) -> Bid:
        """Bid a resource's flexibility for one quarter-hour.

        ``POST /v1/connect/resources/{id}/bid``: Powernaut updates the
        resource's open bid for the same window in place (same id) and
        refuses (409) when that window's bid is accepted. Raises
        ``GridFlexRequestRejectedError`` before anything is sent for a window
        that is not one whole quarter-hour or an expiry outside
        ``(now, end]``.
        """
        answer = await self._auth.request(
            "POST",
            f"{self._resource_url(resource_id)}/bid",
            json_body=_bid_body(request),
        )
        return _bid(answer)

    async def list_bids(self, status: BidStatus | None = None) -> list[Bid]:
        """Return the partner's open and accepted bids (or those of one status).

        Pages through ``GET /v1/connect/bids``; expired bids are not listed.
        """
        params = {"page_size": str(_PAGE_SIZE)}
        if status is not None:
            params["status"] = status.value
        bids: list[Bid] = []
        seen = 0
        for page in range(1, _MAX_PAGES + 1):
            body = as_object(
                await self._auth.request(
                    "GET", self._bids_url, params={**params, "page": str(page)}
                ),
                "a page of Powernaut bids",
            )
            items = as_list(body.get("items"), "the items of a Powernaut bid page")
            bids.extend(_bid(item) for item in items)
            seen += len(items)
            total = body.get("total")
            if not items or (isinstance(total, int) and seen >= total):
                break
        return bids

    async def delete_bid(self, bid_id: str) -> None:
        """Withdraw an open bid (``DELETE /v1/connect/bids/{id}``).

        Raises ``GridFlexNotFoundError`` when it is gone and
        ``GridFlexRequestRejectedError`` (409) once accepted or expired.
        """
        await self._auth.request("DELETE", self._bid_url(bid_id))

    @property
    def _bids_url(self) -> str:
        return f"{self.base_url}/v1/connect/bids"

    def _bid_url(self, bid_id: str) -> str:
        return f"{self.base_url}/v1/connect/bids/{quote(bid_id, safe='')}"

    @property
    def _resources_url(self) -> str:
        return f"{self.base_url}/v1/connect/resources"

    def _resource_url(self, resource_id: str) -> str:
        return f"{self._resources_url}/{quote(resource_id, safe='')}"

    @property
    def _sites_url(self) -> str:
        return f"{self.base_url}/v1/connect/sites"

    def _site_url(self, site_id: str) -> str:
        return f"{self._sites_url}/{quote(site_id, safe='')}"

    async def _markets(self, site_id: str) -> tuple[Market, ...]:
        body = await self._auth.request("GET", f"{self._site_url(site_id)}/markets")
        return _markets(body)

    async def _issue_edge_credentials(self, site_id: str) -> EdgeCredentials:
        """Create the ``GridFlex`` credential set, replacing an existing one."""
        url = f"{self._site_url(site_id)}/credentials"
        body = {"name": EDGE_CREDENTIALS_NAME}
        try:
            answer = await self._auth.request("POST", url, json_body=body)
        except GridFlexRequestRejectedError as err:
            if err.status != 409:
                raise
            _LOGGER.debug(
                "Replacing the existing %s credential set", EDGE_CREDENTIALS_NAME
            )
            await self._auth.request(
                "DELETE", url, params={"name": EDGE_CREDENTIALS_NAME}
            )
            answer = await self._auth.request("POST", url, json_body=body)
        return _edge_credentials(as_object(answer, "Powernaut site credentials"))

    async def _fetch_token(self) -> Token:
        pair = (
            f"{quote(self._client_id, safe='')}:{quote(self._client_secret, safe='')}"
        )
        basic = base64.b64encode(pair.encode()).decode("ascii")
        try:
            answer = await self._http.request(
                "POST", self.token_url, headers={"Authorization": f"Basic {basic}"}
            )
        except UnauthorizedError as err:
            raise GridFlexAuthError(
                f"Powernaut refused the client credentials: {err.detail}"
            ) from err
        except GridFlexRequestRejectedError as err:
            if err.status in (400, 403):
                raise GridFlexAuthError(
                    f"Powernaut refused the client credentials: {err.detail}"
                ) from err
            raise
        body = as_object(answer, "the Powernaut token")
        return Token(
            value=required_str(body, "access_token", "the Powernaut token"),
            lifetime=to_lifetime(body.get("expires_in"), _DEFAULT_TOKEN_LIFETIME),
        )


def _error_detail(body: object) -> str | None:
    """Powernaut puts its explanation in ``message`` (a string or a list)."""
    if isinstance(body, dict):
        return flatten_messages(body.get("message")) or flatten_messages(
            body.get("error")
        )
    return flatten_messages(body)


def _normalize(grid_identifier: str) -> str:
    return "".join(grid_identifier.split()).upper()


def _decimal_string(value: Decimal) -> str:
    """Write a coordinate as Powernaut's decimal string: a dot, at most 6 places."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        value = value.quantize(_COORDINATE_PLACES)
    return decimal_string(value)


def _quantity(value: Decimal) -> str:
    """Write a power or capacity exactly, as Powernaut's decimal pattern takes it."""
    return decimal_string(
        value,
        max_decimals=CAPABILITIES.power_decimals,
        max_integer_digits=CAPABILITIES.power_integer_digits,
    )


def _wire_power(spec: ResourceSpec) -> dict[str, dict[str, str]]:
    return {
        "active": {
            "minimum": _quantity(spec.power_minimum_kw),
            "maximum": _quantity(spec.power_maximum_kw),
        }
    }


def _wire_capacity(capacity_kwh: Decimal) -> dict[str, str]:
    return {"minimum": "0.0", "maximum": _quantity(capacity_kwh)}


def _wire_location(location: Location) -> dict[str, str]:
    """Prefer the address; Powernaut takes one of address or coordinates."""
    if location.address and location.address.strip():
        return {"address": location.address.strip()}
    if location.latitude is not None and location.longitude is not None:
        return {
            "latitude": _decimal_string(location.latitude),
            "longitude": _decimal_string(location.longitude),
        }
    raise GridFlexRequestRejectedError(
        400, "Powernaut needs an address or coordinates for a site"
    )


def _supply_points(registration: SiteRegistration) -> list[dict[str, str]]:
    grid_identifier = registration.grid_identifier
    if registration.direction is SupplyDirection.BIDIRECTIONAL:
        return [{"grid_identifier": grid_identifier, "direction": "bidirectional"}]
    offtake = {"grid_identifier": grid_identifier, "direction": "offtake"}
    if registration.direction is SupplyDirection.OFFTAKE:
        return [offtake]
    injection = registration.injection_grid_identifier
    if not injection:
        raise GridFlexRequestRejectedError(
            400, "Offtake + injection needs an injection grid identifier"
        )
    return [offtake, {"grid_identifier": injection, "direction": "injection"}]


def _grid_identifiers(item: dict[str, object]) -> list[str]:
    """The site's primary identifiers: offtake/bidirectional points, then legacy."""
    found: list[str] = []
    supply_points = item.get("supply_points")
    if isinstance(supply_points, list):
        for point in supply_points:
            if not isinstance(point, dict):
                continue
            grid_identifier = optional_str(point, "grid_identifier")
            direction = point.get("direction", "bidirectional")
            if grid_identifier and direction in _PRIMARY_DIRECTIONS:
                found.append(grid_identifier)
    legacy = optional_str(item, "grid_identifier")
    if legacy:
        found.append(legacy)
    return found


def _enum[E: StrEnum](kind: type[E], raw: str | None) -> E | None:
    """Read a known enum value; an unknown one becomes ``None`` (raw is kept)."""
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        _LOGGER.debug("Unknown Powernaut %s %r", kind.__name__, raw)
        return None


def _site(body: object) -> Site:
    item = as_object(body, "a Powernaut site")
    raw_status = optional_str(item, "status")
    raw_upstream_status = optional_str(item, "upstream_status")
    grid_identifiers = _grid_identifiers(item)
    return Site(
        site_id=required_str(item, "id", "a Powernaut site"),
        grid_identifier=grid_identifiers[0] if grid_identifiers else "",
        location=_location(item.get("location")),
        status=_enum(SiteStatus, raw_status),
        upstream_status=_enum(UpstreamStatus, raw_upstream_status),
        raw_status=raw_status,
        raw_upstream_status=raw_upstream_status,
    )


def _location(value: object) -> Location:
    if not isinstance(value, dict):
        return Location()
    return Location(
        address=optional_str(value, "address"),
        latitude=to_decimal(value.get("latitude")),
        longitude=to_decimal(value.get("longitude")),
    )


def _markets(body: object) -> tuple[Market, ...]:
    markets: list[Market] = []
    for item in as_list(body, "the Powernaut markets"):
        if not isinstance(item, dict):
            continue
        name = optional_str(item, "name")
        status = optional_str(item, "status")
        if not name:
            continue
        if status == "active":
            markets.append(Market(name=name, status=MarketStatus.ACTIVE))
        elif status in ("ineligible", "unavailable"):
            markets.append(Market(name=name, status=MarketStatus.INELIGIBLE))
        elif status == "action_required":
            action = item.get("action")
            action = action if isinstance(action, dict) else {}
            markets.append(
                Market(
                    name=name,
                    status=MarketStatus.ACTION_REQUIRED,
                    action=optional_str(action, "name"),
                    action_url=optional_str(action, "url"),
                )
            )
        else:
            _LOGGER.debug("Skipping market %r with unknown status %r", name, status)
    return tuple(markets)


def _edge_credentials(body: dict[str, object]) -> EdgeCredentials:
    return EdgeCredentials(
        name=required_str(body, "name", "Powernaut site credentials"),
        key=required_str(body, "key", "Powernaut site credentials"),
        secret=required_str(body, "secret", "Powernaut site credentials"),
    )


def _constraint(value: object, key: str) -> Decimal | None:
    return to_decimal(value.get(key)) if isinstance(value, dict) else None


def _resource(body: object) -> Resource:
    item = as_object(body, "a Powernaut resource")
    raw_type = optional_str(item, "type")
    resource_type = None if raw_type is None else _READ_RESOURCE_TYPES.get(raw_type)
    if raw_type is not None and resource_type is None:
        _LOGGER.debug("Unknown Powernaut resource type %r", raw_type)
    power = item.get("power")
    active = power.get("active") if isinstance(power, dict) else None
    status, health = _resource_health(item)
    webhooks = item.get("webhooks")
    return Resource(
        resource_id=required_str(item, "id", "a Powernaut resource"),
        type=resource_type,
        raw_type=raw_type,
        name=optional_str(item, "name"),
        power_minimum_kw=_constraint(active, "minimum"),
        power_maximum_kw=_constraint(active, "maximum"),
        capacity_kwh=_constraint(item.get("capacity"), "maximum"),
        group_id=optional_str(item, "group_id"),
        external_id=optional_str(item, "external_id"),
        status=status,
        health=health,
        webhook_url=optional_str(webhooks, "accepted")
        if isinstance(webhooks, dict)
        else None,
    )


def _resource_health(
    item: dict[str, object],
) -> tuple[ResourceStatus | None, dict[HealthCheck, str]]:
    """Read the resource status and health checks, when present.

    ASSUMPTION: Powernaut's product docs describe a resource status and five
    health checks ("Availability", "Activation compliance", "Baselines too
    inaccurate", "No Bids", "Meter data anomalies"), but the published API
    spec has neither. GridFlex assumes this wire form, the docs' names in the
    API's snake_case, and keeps that assumption here only::

        "status": "onboarding" | "operational" | "degraded" | "suspended",
        "health_checks": {"availability": "online",
                          "activation_compliance": …,
                          "baselines_too_inaccurate": …,
                          "no_bids": …,
                          "meter_data_anomalies": …}

    The shorter ``baselines``, ``bids`` and ``meter_data`` are read too (the
    docs' name wins when both are there). Absent fields are fine; unknown
    values are dropped (status ``None``, the check left out).
    """
    status = _enum(ResourceStatus, optional_str(item, "status"))
    health: dict[HealthCheck, str] = {}
    checks = item.get("health_checks")
    if isinstance(checks, dict):
        for check, states in HEALTH_CHECK_STATES.items():
            names = _HEALTH_CHECK_NAMES[check]
            value = next((checks[n] for n in names if checks.get(n) is not None), None)
            if isinstance(value, str) and value in states:
                health[check] = value
            elif value is not None:
                _LOGGER.debug("Unknown Powernaut %s health %r", check, value)
    return status, health


_HEALTH_CHECK_NAMES: Final[dict[HealthCheck, tuple[str, ...]]] = {
    HealthCheck.AVAILABILITY: ("availability",),
    HealthCheck.ACTIVATION_COMPLIANCE: ("activation_compliance",),
    HealthCheck.BASELINES: ("baselines_too_inaccurate", "baselines"),
    HealthCheck.BIDS: ("no_bids", "bids"),
    HealthCheck.METER_DATA: ("meter_data_anomalies", "meter_data"),
}
"""The assumed wire names of each health check, the docs' name first."""


# Activations


def _parse_time(value: object, what: str) -> datetime:
    """An ISO 8601 time as aware UTC (a time without offset is read as UTC)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    raise GridFlexResponseError(
        f"Expected {what} to have ISO 8601 times, not {value!r}"
    )


def _wire_time(moment: datetime, name: str) -> str:
    """Write an aware time as UTC with ``Z``, as Powernaut's queries take it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise GridFlexRequestRejectedError(
            400, f"{name} must be a timezone-aware datetime"
        )
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _baseline_body(start: datetime, values_kw: Sequence[Decimal]) -> dict[str, object]:
    """A ``CreateBaselineDto``: whole quarter-hour start, 1 to 192 decimal strings.

    The values are rounded to watts (3 decimals of kW) and always carry a dot
    (``"0.0"``): the spec's decimal pattern refuses ``"0"`` (platform-apis.md §5).

    Raises:
        GridFlexRequestRejectedError: before anything is sent, for a naive or
            unaligned start or a number of values outside 1 to 192.

    """
    if not 1 <= len(values_kw) <= MAX_BASELINE_VALUES:
        raise GridFlexRequestRejectedError(
            400, f"A baseline has 1 to {MAX_BASELINE_VALUES} values"
        )
    if (start.minute % 15, start.second, start.microsecond) != (0, 0, 0):
        raise GridFlexRequestRejectedError(
            400, "A baseline starts on a whole quarter-hour"
        )
    return {
        "start": _wire_time(start, "start"),
        "power_type": "active",
        "values": [_quantity(value.quantize(_BASELINE_PLACES)) for value in values_kw],
        "skip_activated_windows": True,
    }


# Bids

_BID_PRICE_DECIMALS: Final = 5


def _bid_body(request: BidRequest) -> dict[str, object]:
    """A ``CreateBidDto``: one quarter-hour, decimal strings, expiry inside the window.

    Powers are written with at most 6 decimals and prices with at most 5,
    always with a dot (the spec's pattern refuses ``"0"``, platform-apis.md
    §5).
    """
    start, end = request.start, request.end
    if (start.minute % 15, start.second, start.microsecond) != (0, 0, 0) or (
        end - start
    ).total_seconds() != 15 * 60:
        raise GridFlexRequestRejectedError(
            400, "A bid covers exactly one whole quarter-hour"
        )
    if not 1 <= len(request.curve) <= 100:
        raise GridFlexRequestRejectedError(400, "A bid curve has 1 to 100 points")
    curve: list[dict[str, str]] = []
    for point in request.curve:
        item = {"value": _quantity(point.power_kw)}
        if point.min_price is not None:
            item["price"] = decimal_string(
                point.min_price, max_decimals=_BID_PRICE_DECIMALS
            )
        curve.append(item)
    body: dict[str, object] = {
        "timing": {"start": _wire_time(start, "start"), "end": _wire_time(end, "end")},
        "power_type": "active",
        "curve": curve,
    }
    if request.expires_at is not None:
        if not start < request.expires_at <= end:
            raise GridFlexRequestRejectedError(400, "A bid expires inside its window")
        body["expires_at"] = _wire_time(request.expires_at, "expires_at")
    return body


def _bid_point(value: object) -> BidPoint:
    item = as_object(value, "a Powernaut bid curve point")
    return BidPoint(
        power_kw=_setpoint(item.get("value"), "a Powernaut bid curve point"),
        min_price=to_decimal(item.get("price")),
    )


def _bid_report(value: object) -> BidReport | None:
    if not isinstance(value, dict):
        return None
    requested = to_decimal(value.get("energy_requested"))
    delivered = to_decimal(value.get("energy_delivered"))
    if requested is None or delivered is None:
        return None
    return BidReport(
        energy_requested_kwh=requested,
        energy_delivered_kwh=delivered,
        extra_energy_delivered_kwh=to_decimal(value.get("extra_energy_delivered")),
    )


def _bid(value: object) -> Bid:
    """Read a ``BidDto``."""
    what = "a Powernaut bid"
    body = as_object(value, what)
    timing = as_object(body.get("timing"), "the timing of a Powernaut bid")
    status = _enum(BidStatus, optional_str(body, "status")) or BidStatus.EXPIRED
    expires = body.get("expires_at")
    activation = body.get("activation")
    power: Decimal | None = None
    price: Decimal | None = None
    if isinstance(activation, dict):
        power = to_decimal(activation.get("value"))
        price = to_decimal(activation.get("price"))
    return Bid(
        bid_id=required_str(body, "id", what),
        resource_id=required_str(body, "resource_id", what),
        start=_parse_time(timing.get("start"), what),
        end=_parse_time(timing.get("end"), what),
        status=status,
        curve=tuple(
            _bid_point(item) for item in as_list(body.get("curve") or [], what)
        ),
        expires_at=_parse_time(expires, what) if expires else None,
        activation_power_kw=power,
        activation_price=price,
        report=_bid_report(body.get("report")),
    )


def _setpoint(value: object, what: str) -> Decimal:
    number = to_decimal(value)
    if number is None:
        raise GridFlexResponseError(
            f"Expected {what} to have a decimal value, not {value!r}"
        )
    return number


def _cancelled(
    event_id: str, created_at: datetime, resource_ids: tuple[str, ...]
) -> GridEvent:
    return GridEvent(
        event_id=event_id,
        kind=GridEventKind.ACTIVATION,
        created_at=created_at,
        resource_ids=resource_ids,
        raw_type=CANCELLED_ACTIVATION,
    )


def _cancellation_time(
    activation: dict[str, object], created_at: datetime
) -> datetime | None:
    """When the current activation was cancelled; ``None`` while it stands.

    A ``canceled_at`` older than ``created_at`` belongs to an earlier
    activation of the same bid; one that cannot be read still means
    cancelled (at ``created_at``).
    """
    raw = activation.get("canceled_at")
    if not raw:
        return None
    try:
        canceled_at = _parse_time(raw, "a Powernaut activation")
    except GridFlexResponseError:
        _LOGGER.debug("Unreadable Powernaut canceled_at %r", raw)
        return created_at
    return None if canceled_at < created_at else canceled_at


def _bid_activation(bid_id: str, body: dict[str, object]) -> GridEvent | None:
    """Read a ``BidDto``'s activation as a grid event (None without one)."""
    activation = body.get("activation")
    if not isinstance(activation, dict):
        return None
    what = "a Powernaut activation"
    event_id = f"{ACTIVATION_EVENT_PREFIX}{bid_id}"
    created_at = _parse_time(activation.get("created_at"), what)
    resource_id = optional_str(body, "resource_id")
    resource_ids = (resource_id,) if resource_id else ()
    value = activation.get("value")
    canceled_at = _cancellation_time(activation, created_at)
    if value is None or canceled_at is not None:
        return _cancelled(event_id, canceled_at or created_at, resource_ids)
    timing = as_object(body.get("timing"), "the timing of a Powernaut bid")
    window = LimitWindow(
        start=_parse_time(timing.get("start"), "the timing of a Powernaut bid"),
        end=_parse_time(timing.get("end"), "the timing of a Powernaut bid"),
        max_power_kw=_setpoint(value, what),
    )
    return GridEvent(
        event_id=event_id,
        kind=GridEventKind.ACTIVATION,
        created_at=created_at,
        windows=(window,),
        resource_ids=resource_ids,
        raw_type=optional_str(activation, "type"),
    )


def _summary_activation(item: dict[str, object], resource_id: str) -> GridEvent:
    """Read a ``ProviderActivationSummaryDto`` as a grid event."""
    what = "a Powernaut activation summary"
    event_id = f"{ACTIVATION_EVENT_PREFIX}{required_str(item, 'bid_id', what)}"
    start = _parse_time(item.get("start"), what)
    resource_ids = (optional_str(item, "resource_id") or resource_id,)
    value = item.get("value")
    if value is None:
        return _cancelled(event_id, start, resource_ids)
    window = LimitWindow(
        start=start,
        end=_parse_time(item.get("end"), what),
        max_power_kw=_setpoint(value, what),
    )
    return GridEvent(
        event_id=event_id,
        kind=GridEventKind.ACTIVATION,
        created_at=start,
        windows=(window,),
        resource_ids=resource_ids,
    )
