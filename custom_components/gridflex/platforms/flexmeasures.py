"""FlexMeasures (API v3).

Wire facts this module relies on:

- ``POST /api/requestAuthToken`` with ``{"email", "password"}`` returns
  ``{"auth_token", "user_id"}`` (the OpenAPI text says
  ``authentication_token``; both are read). The token goes into the
  ``Authorization`` header as is, without ``Bearer``. No lifetime is given;
  the server default is 6 hours, so GridFlex renews it after 5.
- The site is an asset named ``GridFlex <grid identifier>``. Its
  ``attributes`` travel as a JSON *string*; latitude and longitude are numbers.
- A top-level asset must name its account (else it would be public), which is
  read from the user the token belongs to.
- ``GET /api/v3_0/assets`` without ``page`` returns a bare list (some servers
  wrap it in ``{"data": [...]}``).
- Errors carry ``message``: a string, or a mapping of fields to messages (422).
"""

from __future__ import annotations

import json
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
    root_url,
    to_decimal,
)
from .base import Capabilities
from .errors import (
    GridFlexAuthError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
)
from .models import (
    Environment,
    Location,
    PlatformKey,
    RegisteredSite,
    Site,
    SiteRegistration,
)

if TYPE_CHECKING:
    import aiohttp

SITE_NAME_PREFIX: Final = "GridFlex "
"""The site asset is named ``GridFlex <grid identifier>``."""

PREFERRED_ASSET_TYPE: Final = "building"
TOKEN_LIFETIME: Final = 5 * 3600.0
"""Seconds after which GridFlex renews a token (the server default is 6 h)."""

_AUTH_REFUSALS: Final = frozenset({400, 403, 404, 422})

CAPABILITIES: Final = Capabilities(
    site_status=False,
    upstream_status=False,
    markets=False,
    supply_direction=False,
    streams_measurements=False,
    lpc_events=False,
    schedules=True,
    max_resources_per_site=None,
    countries=("BE", "NL", "LU", "FR", "GB", "IE", "IT", "ES", "NO"),
    site_poll_seconds=900,
    display_name="FlexMeasures",
)


class FlexMeasuresClient:
    """A client for a FlexMeasures server."""

    platform: PlatformKey = PlatformKey.FLEXMEASURES
    capabilities: Capabilities = CAPABILITIES
    production_url: ClassVar[str] = "https://seita.flexmeasures.io"
    """Seita's hosted server; self-hosted servers use ``Environment.CUSTOM``."""
    sandbox_url: ClassVar[str] = production_url
    """FlexMeasures publishes no staging server: sandbox is the hosted server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        email: str,
        password: str,
        environment: Environment = Environment.PRODUCTION,
        base_url: str | None = None,
        request_timeout: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        """Talk to FlexMeasures as the user with this email and password.

        With ``Environment.CUSTOM``, ``base_url`` is the server root (for
        example a self-hosted ``http://localhost:5000``).
        """
        self.base_url = root_url(
            environment,
            base_url,
            production=self.production_url,
            sandbox=self.sandbox_url,
        )
        self.token_url = f"{self.base_url}/api/requestAuthToken"
        self.api_url = f"{self.base_url}/api/v3_0"
        self._email = email
        self._password = password
        self._user_id: int | None = None
        self._http = JsonHttp(
            session,
            platform_name="FlexMeasures",
            request_timeout=request_timeout,
            detail=_error_detail,
        )
        self._auth = TokenAuth(
            self._http,
            fetch=self._fetch_token,
            header=lambda token: {"Authorization": token},
            clock=clock,
            margin=0.0,
        )

    async def authenticate(self) -> None:
        """Fetch a token now; raise ``GridFlexAuthError`` when refused."""
        await self._auth.authenticate()

    async def find_site(self, grid_identifier: str) -> Site | None:
        """Return the asset GridFlex made for this grid identifier, if any."""
        name = SITE_NAME_PREFIX + grid_identifier
        for asset in await self._assets():
            asset_id = _int(asset.get("id"))
            if asset_id is None:
                continue
            if (
                asset.get("name") == name
                or _attributes(asset).get("grid_identifier") == grid_identifier
            ):
                return await self.get_site(str(asset_id))
        return None

    async def register_site(self, registration: SiteRegistration) -> RegisteredSite:
        """Create the site asset, or adopt the one made earlier."""
        existing = await self.find_site(registration.grid_identifier)
        if existing is not None:
            return RegisteredSite(site=existing, created=False)
        attributes: dict[str, str] = {
            "grid_identifier": registration.grid_identifier,
            "country": registration.country,
        }
        if registration.location.address:
            attributes["address"] = registration.location.address
        body: dict[str, object] = {
            "name": SITE_NAME_PREFIX + registration.grid_identifier,
            "generic_asset_type_id": await self._asset_type_id(),
        }
        account_id = await self._account_id()
        if account_id is not None:
            body["account_id"] = account_id
        body.update(_wire_coordinates(registration.location))
        body["attributes"] = json.dumps(attributes)
        answer = await self._auth.request(
            "POST", f"{self.api_url}/assets", json_body=body
        )
        return RegisteredSite(site=_site(answer), created=True)

    async def get_site(self, site_id: str) -> Site:
        """Return the site asset (no statuses, no markets)."""
        return _site(await self._auth.request("GET", self._asset_url(site_id)))

    async def update_site_location(self, site_id: str, location: Location) -> Site:
        """Store the coordinates (when given) and the address in the attributes.

        Coordinates left out of ``location`` are not erased; the address is
        replaced (removed when ``location`` has none).
        """
        url = self._asset_url(site_id)
        attributes = _attributes(
            as_object(await self._auth.request("GET", url), "a FlexMeasures asset")
        )
        if location.address:
            attributes["address"] = location.address
        else:
            attributes.pop("address", None)
        body: dict[str, object] = {
            **_wire_coordinates(location),
            "attributes": json.dumps(attributes),
        }
        answer = await self._auth.request("PATCH", url, json_body=body)
        if answer is None:
            return await self.get_site(site_id)
        return _site(answer)

    def _asset_url(self, site_id: str) -> str:
        if not site_id.isdigit():
            raise GridFlexNotFoundError(f"Not a FlexMeasures asset id: {site_id!r}")
        return f"{self.api_url}/assets/{quote(site_id, safe='')}"

    async def _assets(self) -> list[dict[str, object]]:
        answer = await self._auth.request("GET", f"{self.api_url}/assets")
        if isinstance(answer, dict):
            answer = answer.get("data")
        items = as_list(answer, "the FlexMeasures assets")
        return [item for item in items if isinstance(item, dict)]

    async def _asset_type_id(self) -> int:
        """The id of the ``building`` asset type, else of the first type."""
        answer = await self._auth.request("GET", f"{self.api_url}/assets/types")
        types = [
            (type_id, optional_str(item, "name") or "")
            for item in as_list(answer, "the FlexMeasures asset types")
            if isinstance(item, dict) and (type_id := _int(item.get("id"))) is not None
        ]
        if not types:
            raise GridFlexResponseError("FlexMeasures offers no asset types")
        for type_id, name in types:
            if name.lower() == PREFERRED_ASSET_TYPE:
                return type_id
        return types[0][0]

    async def _account_id(self) -> int | None:
        """The account of the user the token belongs to, when it can be read."""
        if self._user_id is None:
            return None
        try:
            answer = await self._auth.request(
                "GET", f"{self.api_url}/users/{self._user_id}"
            )
        except GridFlexNotFoundError:
            return None
        user = as_object(answer, "a FlexMeasures user")
        data = user.get("data")
        if isinstance(data, dict):
            user = data
        return _int(user.get("account_id"))

    async def _fetch_token(self) -> Token:
        body = {"email": self._email, "password": self._password}
        try:
            answer = await self._http.request("POST", self.token_url, json_body=body)
        except UnauthorizedError as err:
            raise GridFlexAuthError(
                f"FlexMeasures refused the email or password: {err.detail}"
            ) from err
        except GridFlexRequestRejectedError as err:
            if err.status in _AUTH_REFUSALS:
                raise GridFlexAuthError(
                    f"FlexMeasures refused the email or password: {err.detail}"
                ) from err
            raise
        token = as_object(answer, "the FlexMeasures token")
        value = optional_str(token, "auth_token") or optional_str(
            token, "authentication_token"
        )
        if not value:
            raise GridFlexResponseError("The FlexMeasures token answer has no token")
        self._user_id = _int(token.get("user_id"))
        return Token(value=value, lifetime=TOKEN_LIFETIME)


def _error_detail(body: object) -> str | None:
    """``message`` (string or field mapping), else ``errors``, else ``status``."""
    if not isinstance(body, dict):
        return flatten_messages(body)
    for key in ("message", "errors", "status"):
        text = flatten_messages(body.get(key))
        if text:
            return text
    return None


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _attributes(asset: dict[str, object]) -> dict[str, object]:
    """The asset's attributes, sent as a JSON string, sometimes read as an object."""
    value = asset.get("attributes")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}


def _wire_coordinates(location: Location) -> dict[str, float]:
    if location.latitude is None or location.longitude is None:
        return {}
    return {
        "latitude": float(location.latitude),
        "longitude": float(location.longitude),
    }


def _site(answer: object) -> Site:
    asset = as_object(answer, "a FlexMeasures asset")
    asset_id = _int(asset.get("id"))
    if asset_id is None:
        raise GridFlexResponseError("Expected a FlexMeasures asset to have an id")
    attributes = _attributes(asset)
    grid_identifier = attributes.get("grid_identifier")
    if not isinstance(grid_identifier, str):
        name = optional_str(asset, "name") or ""
        grid_identifier = name.removeprefix(SITE_NAME_PREFIX)
    address = attributes.get("address")
    return Site(
        site_id=str(asset_id),
        grid_identifier=grid_identifier,
        location=Location(
            address=address if isinstance(address, str) else None,
            latitude=to_decimal(asset.get("latitude")),
            longitude=to_decimal(asset.get("longitude")),
        ),
    )
