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
"""

from __future__ import annotations

import base64
from dataclasses import replace
from decimal import Decimal
from enum import StrEnum
import logging
import time
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import quote

from ._http import (
    Clock,
    JsonHttp,
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
from .base import Capabilities
from .errors import GridFlexAuthError, GridFlexRequestRejectedError
from .models import (
    EdgeCredentials,
    Environment,
    Location,
    Market,
    MarketStatus,
    PlatformKey,
    RegisteredSite,
    Site,
    SiteRegistration,
    SiteStatus,
    SupplyDirection,
    UpstreamStatus,
)

if TYPE_CHECKING:
    import aiohttp

_LOGGER = logging.getLogger(__name__)

EDGE_CREDENTIALS_NAME: Final = "GridFlex"
"""The name of the edge-cloud credential set GridFlex issues for a site."""

_PAGE_SIZE: Final = 100
_MAX_PAGES: Final = 1000
_DEFAULT_TOKEN_LIFETIME: Final = 3600.0
_COORDINATE_PLACES: Final = Decimal("0.000001")
_PRIMARY_DIRECTIONS: Final = frozenset({"bidirectional", "offtake"})

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
        self._http = JsonHttp(
            session,
            platform_name="Powernaut",
            request_timeout=request_timeout,
            detail=_error_detail,
        )
        self._auth = TokenAuth(
            self._http,
            fetch=self._fetch_token,
            header=lambda token: {"Authorization": f"Bearer {token}"},
            clock=clock,
        )

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
        site = _site(await self._auth.request("GET", self._site_url(site_id)))
        return replace(site, markets=await self._markets(site_id))

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
    text = f"{value.normalize():f}"
    return text if "." in text else f"{text}.0"


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
