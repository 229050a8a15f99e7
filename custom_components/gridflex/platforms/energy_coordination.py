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
"""

from __future__ import annotations

from dataclasses import replace
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
from .errors import (
    GridFlexAuthError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
)
from .models import (
    Environment,
    Location,
    PlatformKey,
    RegisteredSite,
    Resource,
    ResourceSpec,
    ResourceType,
    Site,
    SiteRegistration,
)

if TYPE_CHECKING:
    from decimal import Decimal

    import aiohttp

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
)


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
    ) -> None:
        """Talk to Energy Coordination with the partner's client credentials.

        With ``Environment.CUSTOM``, ``base_url`` is a server root serving the
        API under ``/energy-coordination/v1`` and, by assumption (the real
        service uses a separate identity server), the token endpoint at
        ``/connect/token``; that is how the local sandbox is laid out.
        """
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
        self._http = JsonHttp(
            session,
            platform_name="Energy Coordination",
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
        body = {
            "locationId": location_id,
            "locationType": "Residential",
            "coordinates": _wire_coordinates(registration.location),
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
