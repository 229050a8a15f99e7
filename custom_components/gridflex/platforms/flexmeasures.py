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
  read from the user the token belongs to (``GET /users/{id}``; when that
  answers anything but the user, from the user's other assets; a child
  asset takes its parent's).
- ``GET /api/v3_0/assets`` without ``page`` returns a bare list (some servers
  wrap it in ``{"data": [...]}``).
- Errors carry ``message``: a string, or a mapping of fields to messages (422).
- A resource is a child asset of the site asset (a group's member a child of
  the group's asset) with a ``power`` sensor in kW. What FlexMeasures has no
  field for (GridFlex type, limits, capacity) is kept in the attributes, with
  decimals as exact strings; the limits also go into the asset's stored
  ``flex_model`` (``consumption-capacity``, ``production-capacity``,
  ``power-capacity``, ``soc-min``/``soc-max``: FlexMeasures' own fields,
  quantity strings; ``soc-at-start`` has no place there). FlexMeasures 1.0.1
  moves a ``capacity_in_mw`` attribute into the flex-model itself, so none
  is written. Asset names are unique under a parent (422 "already exists
  under parent asset"): an asset of the same name (or GridFlex's
  ``external_id``) under the parent is taken back instead of duplicated.
  ``GET /assets`` lists only ``id|name|account_id|generic_asset_type`` unless
  ``fields`` asks for more; ``root`` selects an asset and its descendants.
  ``GET /sensors?asset=`` lists the sensors of an asset and its descendants.
  Deleting an asset deletes its children.
- Every power sensor GridFlex makes has ``attributes`` (a JSON string)
  ``{"consumption_is_positive": true}`` (GridFlex's convention; without it
  FlexMeasures stores and charts schedules production positive) and the
  home's ``timezone`` (else the server's ``FLEXMEASURES_TIMEZONE``). Power
  sensors of older versions get the attribute by ``PATCH /sensors/{id}``
  (partial) when found.
- Prices: a ``electricity price`` sensor on the site asset (an energy price
  unit such as ``EUR/MWh``, 15 minutes), or a sensor the homeowner names;
  the site asset's ``flex_context`` takes ``consumption-price`` and
  ``production-price`` from it (``{"sensor": id}``). FlexMeasures accepts a
  storage schedule trigger without a consumption price and fails the job.
- Meter data goes to the site asset's own ``power`` sensor (kW, created when
  missing) with ``POST /sensors/{id}/data``: ``start`` with an offset,
  ``duration`` (ISO 8601, ``P1DT2H15M`` as FlexMeasures writes it itself:
  the resolution times the number of values) and ``values`` as JSON numbers
  or ``null``. The resolution must be a multiple or a divisor of the
  sensor's; the server floors ``start`` to the sensor's resolution.
  Answers: 200 ``PROCESSED``, 200
  ``ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED`` (a replay) and 202
  ``ACCEPTED`` (queued for a worker) all mean stored; 403
  ``INVALID_REPLACEMENT`` is a conflicting belief.
- FlexMeasures writes a schedule into the flex-model's sensor, as beliefs of
  its scheduler's data source, and a plain ``GET /sensors/{id}/data`` then
  answers the schedule wherever both exist. So a schedulable resource (a
  battery or EV with a state of charge) gets a second sensor, ``scheduled
  power`` (kW, the power sensor's resolution, consumption positive, the
  home's time zone), made at its first trigger and found again by name: the
  schedule goes there, measurements stay on ``power``, and a plain read of
  either answers only its own data.
- Schedules are triggered on the resource's site asset (the top of its
  tree, so the site's flex-context applies) with ``POST
  /assets/{id}/schedules/trigger`` and a one-entry ``flex-model`` list
  naming the resource's scheduled power sensor (``consumption-capacity``,
  ``production-capacity`` and the larger as ``power-capacity``, which
  FlexMeasures requires); state of charge and power go as quantity strings (``"12.1 kWh"``, ``"7.4 kW"``: a plain number would be
  read in the sensor's energy unit or MWh, depending on the server), the
  flex-context is one object. API v3.0-32 answers 202 ``{status:
  "ACCEPTED", job, schedule, job-url}``, older servers 200 ``{schedule,
  status: "PROCESSED"}``; 429 when the trigger budget (``10 per 5
  minutes`` by default) is spent. An identical trigger within about an
  hour answers the same job, a failed one too, unless it says
  ``"force-new-job-creation": true``. ``GET /sensors/{id}/schedules/{uuid}``
  answers 200 ``{values, start, duration, unit}`` (consumption positive by
  default), or while the job is not done 202 ``{status: QUEUED|STARTED}``
  (1.0.1) or 400 ``UNKNOWN_SCHEDULE`` "Scheduling job waiting to be
  processed" / "in progress" (earlier servers), 400 "Scheduling job failed
  with …" when it failed and 400
  ``UNRECOGNIZED_UDI_EVENT`` for an unknown uuid. ``GET /jobs/{uuid}``
  (v3.0-31+) answers 202 while queued or running, 200 finished, 422
  failed, 404 unknown (400 on v3.0-31).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
import logging
import math
import re
import time
from typing import TYPE_CHECKING, ClassVar, Final

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
    root_url,
    to_decimal,
)
from .base import Capabilities
from .errors import (
    GridFlexAuthError,
    GridFlexError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
)
from .models import (
    Environment,
    Location,
    PlatformKey,
    PowerSeries,
    PriceSensor,
    PriceSeries,
    RegisteredSite,
    Resource,
    ResourceSpec,
    ResourceType,
    Site,
    SiteRegistration,
    StorageFlexModel,
)

if TYPE_CHECKING:
    import aiohttp

    from .tokens import TokenKeeper

_LOGGER = logging.getLogger(__name__)

SITE_NAME_PREFIX: Final = "GridFlex "
"""The site asset is named ``GridFlex <grid identifier>``."""

PREFERRED_ASSET_TYPE: Final = "building"
TOKEN_LIFETIME: Final = 5 * 3600.0
"""Seconds after which GridFlex renews a token (the server default is 6 h)."""

_AUTH_REFUSALS: Final = frozenset({400, 403, 404, 422})

POWER_SENSOR_NAME: Final = "power"
"""The name of the sensor GridFlex gives each resource asset."""
SCHEDULE_SENSOR_NAME: Final = "scheduled power"
"""The name of the sensor a schedulable resource asset's schedules go into.

FlexMeasures stores a schedule in the flex-model's sensor, so a schedule of
the ``power`` sensor would hide the measurements in a plain read. Its own
practice is a sensor per schedule: the tutorials register schedules on
sensors of their own, and FlexMeasures issue #1807
(https://github.com/FlexMeasures/flexmeasures/issues/1807, "Support source
filter in sensor references …": "We want to demo rescheduling without
registering forecasts and schedules on different sensors") takes separate
sensors as the established way.
"""
PRICE_SENSOR_NAME: Final = "electricity price"
"""The name of the price sensor GridFlex keeps on the site asset."""
PRICE_RESOLUTION_MINUTES: Final = 15
"""The price sensor's resolution: hourly prices are repeated per quarter."""
SIGN_ATTRIBUTE: Final = "consumption_is_positive"
"""The sensor attribute that makes FlexMeasures read consumption as positive.

Without it a power sensor is production positive: a schedule of +5 kW
(charging) is stored and charted as -5 kW (platform notes §6). GridFlex's
convention is consumption positive, so every power sensor it makes carries
``consumption_is_positive: true``, and older ones get it when found.
"""
_FAILED_SCHEDULE: Final = "Scheduling job failed"
_ENERGY_PRICE: Final = re.compile(r"^(?P<currency>[A-Z]{3})/(?P<energy>[kMG]?Wh)$")

_MAX_ASSET_DEPTH: Final = 10
"""How far up the asset tree the site of a resource is looked for."""
_PENDING_SCHEDULE: Final = (
    "Scheduling job waiting",
    "Scheduling job in progress",
    "Scheduling job has an unknown status",
)
"""What FlexMeasures' 400 ``UNKNOWN_SCHEDULE`` says while the job is not done."""
_PENDING_STATUSES: Final = frozenset({"QUEUED", "STARTED", "DEFERRED", "SCHEDULED"})
_KW_PER_UNIT: Final = {
    "W": Decimal("0.001"),
    "kW": Decimal(1),
    "MW": Decimal(1000),
    "VA": Decimal("0.001"),
    "kVA": Decimal(1),
    "MVA": Decimal(1000),
}
_ISO_DURATION: Final = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)

RESOURCE_ASSET_TYPES: Final[dict[ResourceType, tuple[str, ...]]] = {
    ResourceType.BATTERY: ("battery",),
    ResourceType.ELECTRIC_VEHICLE: ("one-way_evse", "two-way_evse"),
    ResourceType.EV_CHARGER: ("one-way_evse", "two-way_evse"),
    ResourceType.HEAT_PUMP: ("heat-pump",),
    ResourceType.SOLAR: ("solar",),
    ResourceType.BOILER: ("process", "building"),
    ResourceType.WIND: ("wind",),
    ResourceType.GROUP: ("building",),
    ResourceType.OTHER: ("process",),
}
"""The asset types to use for each resource type, in order of preference.

When none is offered, ``building`` is used, else the server's first type.
"""

_READ_ASSET_TYPES: Final[dict[str, ResourceType]] = {
    "battery": ResourceType.BATTERY,
    "one-way_evse": ResourceType.EV_CHARGER,
    "two-way_evse": ResourceType.EV_CHARGER,
    "heat-pump": ResourceType.HEAT_PUMP,
    "solar": ResourceType.SOLAR,
    "wind": ResourceType.WIND,
}
"""Asset types that say which resource an asset is without GridFlex's attribute."""

_GRIDFLEX_TYPES: Final = {kind.value: kind for kind in ResourceType}
_RESOURCE_FIELDS: Final = "id|name|parent_asset_id|generic_asset_type|attributes"

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
    resource_types=tuple(RESOURCE_ASSET_TYPES),
    resource_status=False,
    resource_resolution=True,
    uploads_intervals=True,
)


class FlexMeasuresScheduleFailedError(GridFlexRequestRejectedError):
    """The scheduling job failed (400 ``UNKNOWN_SCHEDULE`` "… failed with …").

    FlexMeasures answers the same request with the same failed job for about
    an hour: the next trigger must force a new job.
    """


class FlexMeasuresPriceUnitError(GridFlexRequestRejectedError):
    """A price sensor or price unit that is not an energy price (``EUR/MWh``)."""

    def __init__(self, detail: str) -> None:
        """A refusal GridFlex makes itself, before anything is sent."""
        super().__init__(422, detail)


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
        tokens: TokenKeeper | None = None,
        timezone: str | None = None,
    ) -> None:
        """Talk to FlexMeasures as the user with this email and password.

        With ``Environment.CUSTOM``, ``base_url`` is the server root (for
        example a self-hosted ``http://localhost:5000``). ``timezone`` (an
        IANA name, the home's) is given to every sensor GridFlex creates;
        without it the server's ``FLEXMEASURES_TIMEZONE`` applies, which is
        not necessarily the home's.
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
        self._account: int | None = None
        self._asset_type_ids: dict[str, int] = {}
        self._schedule_sensors: dict[int, int] = {}
        self._signed: set[int] = set()
        self._first_asset_type_id: int | None = None
        self.timezone = timezone
        self._auth = TokenAuth.for_platform(
            session,
            platform_name="FlexMeasures",
            request_timeout=request_timeout,
            detail=_error_detail,
            fetch=self._fetch_token,
            header=lambda token: {"Authorization": token},
            clock=clock,
            keeper=tokens,
            margin=0.0,
        )
        self._http = self._auth.http

    async def authenticate(self) -> None:
        """Fetch a token now; raise ``GridFlexAuthError`` when refused."""
        await self._auth.authenticate()

    async def find_site(self, grid_identifier: str) -> Site | None:
        """Return the asset GridFlex made for this grid identifier, if any."""
        return await self._find_site(await self._assets(), grid_identifier)

    async def _find_site(
        self, assets: list[dict[str, object]], grid_identifier: str
    ) -> Site | None:
        name = SITE_NAME_PREFIX + grid_identifier
        for asset in assets:
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
        """Create the site asset, or adopt the one made earlier.

        The new asset names the account of the token's user; when the user
        cannot be read, the account of the user's other assets.
        """
        assets = await self._assets()
        existing = await self._find_site(assets, registration.grid_identifier)
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
            "generic_asset_type_id": await self._asset_type_id(()),
        }
        account_id = await self._account_id()
        if account_id is None:
            account_id = next(
                (
                    found
                    for asset in assets
                    if (found := _int(asset.get("account_id"))) is not None
                ),
                None,
            )
        if account_id is not None:
            body["account_id"] = account_id
        body.update(_wire_coordinates(registration.location))
        body["attributes"] = _json_text(attributes)
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
            "attributes": _json_text(attributes),
        }
        answer = await self._auth.request("PATCH", url, json_body=body)
        if answer is None:
            return await self.get_site(site_id)
        return _site(answer)

    async def list_resources(self, site_id: str) -> list[Resource]:
        """Return the site asset's children and its groups' children.

        One ``GET /assets?root=<site>&depth=2`` for the tree and one
        ``GET /sensors?asset=<site>`` for the power sensors.
        """
        site = _asset_id(site_id)
        answer = await self._auth.request(
            "GET",
            f"{self.api_url}/assets",
            params={"root": str(site), "depth": "2", "fields": _RESOURCE_FIELDS},
        )
        rows = [
            (asset_id, _int(asset.get("parent_asset_id")), asset)
            for asset in _objects(answer, "the FlexMeasures assets")
            if (asset_id := _int(asset.get("id"))) is not None
        ]
        children = [(asset_id, asset) for asset_id, up, asset in rows if up == site]
        child_ids = {asset_id for asset_id, _ in children}
        members = [(asset_id, asset) for asset_id, up, asset in rows if up in child_ids]
        if not children:
            return []
        sensors = await self._power_sensors(site)
        return [
            _resource(asset, site, sensors.get(asset_id))
            for asset_id, asset in children + members
        ]

    async def get_resource(self, site_id: str, resource_id: str) -> Resource:
        """Return the resource asset with its power sensor."""
        site = _asset_id(site_id)
        asset_id = _asset_id(resource_id)
        answer = await self._auth.request("GET", self._asset_url(asset_id))
        sensors = await self._power_sensors(asset_id)
        return _resource(answer, site, sensors.get(asset_id))

    async def create_resource(self, site_id: str, spec: ResourceSpec) -> Resource:
        """Create the child asset and its power sensor, or adopt the existing one.

        Before creating, the parent (the site asset, or the group's) is asked
        for a child with GridFlex's ``external_id`` or the same name: asset
        names are unique under a parent (422 "already exists under parent
        asset" otherwise), and a site added again after its entry was removed
        finds its assets there. Such an asset is taken back: renamed,
        attributes and flex-model rewritten, its power sensor kept (or made
        when it has none), so nothing is duplicated. When a new asset's
        sensor cannot be created the asset is deleted again, so a retry does
        not stumble over the asset's name.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when the
                resolution is not a positive number of minutes, a decimal is
                not finite, or ``group_id`` is not an asset id.

        """
        parent = _parent_id(site_id, spec)
        resolution = _resolution(spec.resolution_minutes)
        attributes = _json_text(_resource_attributes({}, spec))
        flex_model = _json_text(_resource_flex_model({}, spec))
        adopted = await self._child_like(parent, spec)
        if adopted is not None:
            resource = await self.update_resource(site_id, str(adopted), spec)
            if resource.power_sensor_id is not None:
                return resource
            sensor = await self._create_power_sensor(adopted, resolution)
            return replace(resource, power_sensor_id=str(sensor))
        body: dict[str, object] = {
            "name": spec.name,
            "generic_asset_type_id": await self._asset_type_id(
                RESOURCE_ASSET_TYPES[spec.type]
            ),
            "parent_asset_id": parent,
        }
        account_id = await self._account_id()
        if account_id is not None:
            # Without it (the user cannot be read) the child takes its parent's.
            body["account_id"] = account_id
        body["attributes"] = attributes
        body["flex_model"] = flex_model
        asset = as_object(
            await self._auth.request("POST", f"{self.api_url}/assets", json_body=body),
            "the created FlexMeasures asset",
        )
        asset_id = _int(asset.get("id"))
        if asset_id is None:
            raise GridFlexResponseError("Expected a FlexMeasures asset to have an id")
        try:
            sensor_id = await self._create_power_sensor(asset_id, resolution)
        except GridFlexError:
            with contextlib.suppress(GridFlexError):
                await self._auth.request("DELETE", self._asset_url(asset_id))
            raise
        return _resource(asset, _asset_id(site_id), sensor_id)

    async def _child_like(self, parent: int, spec: ResourceSpec) -> int | None:
        """The child of ``parent`` with the spec's ``external_id``, else its name."""
        answer = await self._auth.request(
            "GET",
            f"{self.api_url}/assets",
            params={"root": str(parent), "depth": "1", "fields": _RESOURCE_FIELDS},
        )
        children = [
            (asset_id, asset)
            for asset in _objects(answer, "the FlexMeasures assets")
            if (asset_id := _int(asset.get("id"))) is not None
            and _int(asset.get("parent_asset_id")) == parent
        ]
        if spec.external_id is not None:
            for asset_id, asset in children:
                if _attributes(asset).get("external_id") == spec.external_id:
                    return asset_id
        return next(
            (
                asset_id
                for asset_id, asset in children
                if asset.get("name") == spec.name
            ),
            None,
        )

    async def _create_power_sensor(
        self, asset_id: int, resolution: str, name: str = POWER_SENSOR_NAME
    ) -> int:
        """Make a power sensor of the asset: kW, consumption positive, the home's zone."""
        sensor = as_object(
            await self._auth.request(
                "POST",
                f"{self.api_url}/sensors",
                json_body=self._sensor_body(
                    name,
                    "kW",
                    resolution,
                    asset_id,
                    {SIGN_ATTRIBUTE: True},
                ),
            ),
            "the created FlexMeasures sensor",
        )
        sensor_id = _int(sensor.get("id"))
        if sensor_id is None:
            raise GridFlexResponseError("Expected a FlexMeasures sensor to have an id")
        self._signed.add(sensor_id)
        return sensor_id

    def _sensor_body(
        self,
        name: str,
        unit: str,
        resolution: str,
        asset_id: int,
        attributes: dict[str, object],
    ) -> dict[str, object]:
        body: dict[str, object] = {
            "name": name,
            "unit": unit,
            "event_resolution": resolution,
            "generic_asset_id": asset_id,
        }
        if self.timezone:
            body["timezone"] = self.timezone
        body["attributes"] = _json_text(attributes)
        return body

    async def update_resource(
        self, site_id: str, resource_id: str, spec: ResourceSpec
    ) -> Resource:
        """Rename, move into or out of a group, rewrite GridFlex's attributes and flex-model.

        Attributes GridFlex does not own are kept; ``capacity_in_mw`` of
        older versions goes (FlexMeasures moves it into the flex-model
        itself). The stored flex-model gets the resource's limits (see
        ``_resource_flex_model``): FlexMeasures uses it for what a trigger
        leaves out. The power sensor keeps its resolution.
        """
        parent = _parent_id(site_id, spec)
        asset_id = _asset_id(resource_id)
        url = self._asset_url(asset_id)
        current = as_object(
            await self._auth.request("GET", url), "a FlexMeasures asset"
        )
        body = {
            "name": spec.name,
            "parent_asset_id": parent,
            "attributes": _json_text(_resource_attributes(_attributes(current), spec)),
            "flex_model": _json_text(
                _resource_flex_model(_json_field(current, "flex_model"), spec)
            ),
        }
        answer = await self._auth.request("PATCH", url, json_body=body)
        if answer is None:
            return await self.get_resource(site_id, resource_id)
        sensors = await self._power_sensors(asset_id)
        return _resource(answer, _asset_id(site_id), sensors.get(asset_id))

    async def delete_resource(self, site_id: str, resource_id: str) -> None:
        """Delete the resource asset (and with it its sensors).

        FlexMeasures deletes an asset's children with it: a group's members
        are first moved up to the site, as on platforms where they outlive it.
        """
        site = _asset_id(site_id)
        url = self._asset_url(resource_id)
        asset = as_object(await self._auth.request("GET", url), "a FlexMeasures asset")
        children = asset.get("child_assets")
        child_ids = [
            child_id
            for child in (children if isinstance(children, list) else [])
            if isinstance(child, dict)
            and (child_id := _int(child.get("id"))) is not None
        ]
        for child_id in child_ids:
            await self._auth.request(
                "PATCH",
                self._asset_url(child_id),
                json_body={"parent_asset_id": site},
            )
        await self._auth.request("DELETE", url)

    def _asset_url(self, asset_id: str | int) -> str:
        if isinstance(asset_id, str):
            asset_id = _asset_id(asset_id)
        return f"{self.api_url}/assets/{asset_id}"

    async def ensure_site_power_sensor(
        self, site_id: str, resolution_minutes: int
    ) -> str:
        """Return the site asset's own ``power`` sensor, creating it when missing.

        Only a sensor of the site asset itself counts (not one of its
        resources). An existing sensor keeps its resolution; a new one gets
        ``resolution_minutes``.

        Raises:
            GridFlexNotFoundError: ``site_id`` is not an asset id.
            GridFlexRequestRejectedError: before anything is sent, when the
                resolution is not a positive number of minutes.

        """
        site = _asset_id(site_id)
        resolution = _resolution(resolution_minutes)
        existing = (await self._power_sensors(site)).get(site)
        if existing is not None:
            return str(existing)
        return str(await self._create_power_sensor(site, resolution))

    async def post_power_series(self, series: PowerSeries) -> None:
        """Store the interval averages on the sensor (kW; ``None`` as ``null``).

        A series without values sends nothing. Data FlexMeasures already
        holds (a replay) and data queued for its worker count as stored.

        Raises:
            GridFlexNotFoundError: the sensor id is not a FlexMeasures id.
            GridFlexRequestRejectedError: before anything is sent, when the
                resolution is not positive, the start is naive, or a value
                is not a finite number; from the server, 403 for a
                conflicting belief (``INVALID_REPLACEMENT``) and 422 for data
                that does not fit the sensor.
            GridFlexRateLimitedError: HTTP 429, with ``retry_after``.

        """
        sensor_id = _sensor_id(series.sensor_id)
        body = _series_body(series)
        if body is None:
            return
        await self._auth.request(
            "POST", f"{self.api_url}/sensors/{sensor_id}/data", json_body=body
        )

    async def trigger_schedule(
        self,
        resource_id: str,
        *,
        start: datetime,
        duration_hours: int,
        flex_model: StorageFlexModel,
        consumption_price: str | None = None,
        production_price: str | None = None,
        force_new: bool = False,
    ) -> str:
        """Ask for a schedule of the resource; return the schedule id.

        The trigger goes to the resource's site asset (so the site's stored
        flex-context, its prices, applies), with the resource's scheduled
        power sensor in the flex-model: made (kW, the resolution of the
        resource's power sensor, consumption positive, the home's time zone)
        when the asset has none yet, found by name when it has (an asset
        taken back keeps its sensor). ``None`` leaves a field to the server
        (the asset's stored flex-model, or its defaults). Capacities go as
        ``consumption-capacity`` and ``production-capacity``, with
        ``power-capacity`` the larger of the two (FlexMeasures refuses to
        schedule without a power capacity). A price is a quantity string
        (``"0.2 EUR/kWh"``) or the id of a price sensor (``"7"``).

        FlexMeasures answers an identical trigger with the job it made for
        it within the last hour, also a failed one; ``force_new`` sends
        ``force-new-job-creation`` to get a new job (after a failure, or
        when something the request does not show changed, such as the
        asset's stored flex-model).

        Raises:
            GridFlexNotFoundError: the resource is not an asset id, is gone,
                or has neither a scheduled power nor a power sensor.
            GridFlexRequestRejectedError: before anything is sent, when the
                start is naive, the duration not positive, a decimal not
                finite or a price empty; from the server, 422 for a
                flex-model it refuses.
            GridFlexRateLimitedError: HTTP 429 (the trigger budget is
                spent), with ``retry_after``.

        """
        asset_id = _asset_id(resource_id)
        body = _trigger_body(start, duration_hours, consumption_price, production_price)
        entry = _storage_flex_model(flex_model)
        sensor_id = await self._schedule_sensor(asset_id, create=True)
        site = await self._site_of(asset_id)
        body["flex-model"] = [{"sensor": sensor_id, **entry}]
        if force_new:
            body["force-new-job-creation"] = True
        answer = await self._auth.request(
            "POST", f"{self._asset_url(site)}/schedules/trigger", json_body=body
        )
        trigger = as_object(answer, "the FlexMeasures schedule trigger answer")
        schedule_id = optional_str(trigger, "schedule") or optional_str(trigger, "job")
        if not schedule_id:
            raise GridFlexResponseError(
                "FlexMeasures accepted the schedule trigger without a schedule id"
            )
        return schedule_id

    async def get_schedule(
        self, resource_id: str, schedule_id: str, *, duration_hours: int
    ) -> list[tuple[datetime, Decimal]] | None:
        """Return the scheduled power (kW, consumption positive) per interval start.

        It is read from the resource's scheduled power sensor (the one the
        trigger named), through the job: the beliefs of the job's own
        scheduler data source. ``None`` while
        the scheduling job is queued or running: API v3.0-32 (FlexMeasures
        1.0.1) answers 202 ``{status: QUEUED|STARTED}``, earlier servers 400
        ``UNKNOWN_SCHEDULE`` "… waiting to be processed" / "… in progress";
        both are read. Intervals without a value are left out.

        Raises:
            GridFlexNotFoundError: the resource has no scheduled power
                sensor, or the schedule id is unknown.
            FlexMeasuresScheduleFailedError: the scheduling job failed (HTTP
                400 ``UNKNOWN_SCHEDULE`` "… failed with …").
            GridFlexRequestRejectedError: another refusal, or before
                anything is sent when the duration is not positive.
            GridFlexResponseError: the schedule cannot be read.

        """
        asset_id = _asset_id(resource_id)
        job = _job_id(schedule_id)
        duration = _hours(duration_hours)
        sensor_id = await self._schedule_sensor(asset_id, create=False)
        try:
            answer = await self._auth.request(
                "GET",
                f"{self.api_url}/sensors/{sensor_id}/schedules/{job}",
                params={"duration": duration, "unit": "kW"},
            )
        except GridFlexRequestRejectedError as err:
            if err.status != 400:
                raise
            if any(phrase in err.detail for phrase in _PENDING_SCHEDULE):
                return None
            if _FAILED_SCHEDULE in err.detail:
                raise FlexMeasuresScheduleFailedError(err.status, err.detail) from err
            if "is not known" in err.detail:
                raise GridFlexNotFoundError(err.detail) from err
            raise
        schedule = as_object(answer, "a FlexMeasures schedule")
        if "values" not in schedule and schedule.get("status") in _PENDING_STATUSES:
            return None
        return _schedule_points(schedule)

    async def ensure_price_sensor(self, site_id: str, unit: str) -> PriceSensor:
        """Return the site asset's price sensor, creating it in ``unit`` when missing.

        The sensor (``PRICE_SENSOR_NAME``) has a 15-minute resolution, so
        hourly and quarter-hourly prices both fit (hourly ones are repeated
        per quarter). An existing one keeps its unit: the caller compares it.

        Raises:
            FlexMeasuresPriceUnitError: before anything is sent, when ``unit``
                is not an energy price (``EUR/MWh``).

        """
        site = _asset_id(site_id)
        _price_unit(unit)
        answer = await self._auth.request(
            "GET", f"{self.api_url}/sensors", params={"asset": str(site)}
        )
        for sensor in _objects(answer, "the FlexMeasures sensors"):
            sensor_id = _int(sensor.get("id"))
            if (
                sensor_id is not None
                and _int(sensor.get("generic_asset_id")) == site
                and sensor.get("name") == PRICE_SENSOR_NAME
            ):
                return PriceSensor(
                    str(sensor_id),
                    optional_str(sensor, "unit") or "",
                    PRICE_SENSOR_NAME,
                )
        created = as_object(
            await self._auth.request(
                "POST",
                f"{self.api_url}/sensors",
                json_body=self._sensor_body(
                    PRICE_SENSOR_NAME,
                    unit,
                    _resolution(PRICE_RESOLUTION_MINUTES),
                    site,
                    {},
                ),
            ),
            "the created FlexMeasures sensor",
        )
        sensor_id = _int(created.get("id"))
        if sensor_id is None:
            raise GridFlexResponseError("Expected a FlexMeasures sensor to have an id")
        return PriceSensor(str(sensor_id), unit, PRICE_SENSOR_NAME)

    async def get_price_sensor(self, sensor_id: str) -> PriceSensor:
        """Return an existing sensor that holds energy prices.

        Raises:
            GridFlexNotFoundError: no such sensor (FlexMeasures answers 422
                "No sensor found with ID n." for an unknown id).
            FlexMeasuresPriceUnitError: the sensor is not in an energy price
                unit (``EUR/MWh``, ``EUR/kWh``).

        """
        sensor = _sensor_id(sensor_id)
        try:
            answer = await self._auth.request("GET", f"{self.api_url}/sensors/{sensor}")
        except GridFlexRequestRejectedError as err:
            if err.status == 422 and "No sensor found" in err.detail:
                raise GridFlexNotFoundError(err.detail) from err
            raise
        found = as_object(answer, "a FlexMeasures sensor")
        unit = optional_str(found, "unit") or ""
        _price_unit(unit)
        return PriceSensor(str(sensor), unit, optional_str(found, "name"))

    async def set_site_prices(self, site_id: str, sensor_id: str) -> bool:
        """Make the site asset's flex-context take its prices from the sensor.

        ``consumption-price`` and ``production-price`` become ``{"sensor":
        id}``; the flex-context's other fields stay. FlexMeasures fails a
        storage schedule without a consumption price (platform notes §6).
        Returns whether anything changed.
        """
        url = self._asset_url(site_id)
        asset = as_object(await self._auth.request("GET", url), "a FlexMeasures asset")
        context = _json_field(asset, "flex_context")
        wanted = {"sensor": _sensor_id(sensor_id)}
        if all(
            context.get(key) == wanted
            for key in ("consumption-price", "production-price")
        ):
            return False
        context["consumption-price"] = wanted
        context["production-price"] = dict(wanted)
        await self._auth.request(
            "PATCH", url, json_body={"flex_context": _json_text(context)}
        )
        return True

    async def post_price_series(self, series: PriceSeries) -> None:
        """Store prices on a price sensor (``null`` for intervals without one).

        A series without values sends nothing; data FlexMeasures already
        holds counts as stored.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when the
                resolution is not positive, the start is naive or a value is
                not finite; from the server, 422 for a unit or resolution
                that does not fit the sensor.

        """
        sensor = _sensor_id(series.sensor_id)
        body = _series_body(
            PowerSeries(
                series.sensor_id, series.start, series.resolution_minutes, series.values
            ),
            unit=series.unit,
        )
        if body is None:
            return
        await self._auth.request(
            "POST", f"{self.api_url}/sensors/{sensor}/data", json_body=body
        )

    async def get_job(self, job_id: str) -> str:
        """Return the status of a background job (``QUEUED``, ``FINISHED``, ``FAILED``, …).

        Raises:
            GridFlexNotFoundError: the job is unknown (or the server has no
                jobs endpoint).

        """
        url = f"{self.api_url}/jobs/{_job_id(job_id)}"
        try:
            answer = await self._auth.request("GET", url)
        except GridFlexRequestRejectedError as err:
            if err.status == 422:
                return "FAILED"
            if err.status == 400 and "not found" in err.detail:
                raise GridFlexNotFoundError(err.detail) from err
            raise
        status = optional_str(as_object(answer, "a FlexMeasures job"), "status")
        if not status:
            raise GridFlexResponseError("The FlexMeasures job answer has no status")
        return status

    async def _schedule_sensor(self, asset_id: int, *, create: bool) -> int:
        """The resource asset's own scheduled power sensor (remembered per client).

        Found by name among the asset's sensors; with ``create``, made when
        missing, in the resolution of the asset's power sensor.
        """
        known = self._schedule_sensors.get(asset_id)
        if known is not None:
            return known
        own = {
            sensor.get("name"): (sensor_id, sensor)
            for sensor in await self._sensors(asset_id)
            if (sensor_id := _int(sensor.get("id"))) is not None
            and _int(sensor.get("generic_asset_id")) == asset_id
        }
        if SCHEDULE_SENSOR_NAME in own:
            sensor_id, sensor = own[SCHEDULE_SENSOR_NAME]
            await self._mark_consumption_positive(sensor_id, sensor)
        elif not create:
            raise GridFlexNotFoundError(
                f"FlexMeasures asset {asset_id} has no {SCHEDULE_SENSOR_NAME!r} sensor"
            )
        elif POWER_SENSOR_NAME in own:
            sensor_id = await self._create_power_sensor(
                asset_id,
                _sensor_resolution(own[POWER_SENSOR_NAME][1]),
                SCHEDULE_SENSOR_NAME,
            )
        else:
            raise GridFlexNotFoundError(
                f"FlexMeasures asset {asset_id} has no {POWER_SENSOR_NAME!r} sensor"
            )
        self._schedule_sensors[asset_id] = sensor_id
        return sensor_id

    async def _site_of(self, asset_id: int) -> int:
        """The top asset of the resource's tree (its site)."""
        current = asset_id
        seen = {current}
        for _ in range(_MAX_ASSET_DEPTH):
            asset = as_object(
                await self._auth.request("GET", self._asset_url(current)),
                "a FlexMeasures asset",
            )
            parent = _int(asset.get("parent_asset_id"))
            if parent is None or parent in seen:
                return current
            seen.add(parent)
            current = parent
        return current

    async def _assets(self) -> list[dict[str, object]]:
        answer = await self._auth.request("GET", f"{self.api_url}/assets")
        return _objects(answer, "the FlexMeasures assets")

    async def _sensors(self, asset_id: int) -> list[dict[str, object]]:
        """The sensors of the asset and its descendants."""
        answer = await self._auth.request(
            "GET", f"{self.api_url}/sensors", params={"asset": str(asset_id)}
        )
        return _objects(answer, "the FlexMeasures sensors")

    async def _power_sensors(self, asset_id: int) -> dict[int, int]:
        """Map asset id → id of its ``power`` sensor, for the asset and below.

        A power sensor made by an older GridFlex, without
        ``consumption_is_positive``, gets it now (see ``SIGN_ATTRIBUTE``).
        """
        found: dict[int, int] = {}
        for sensor in await self._sensors(asset_id):
            sensor_id = _int(sensor.get("id"))
            owner = _int(sensor.get("generic_asset_id"))
            if (
                sensor_id is not None
                and owner is not None
                and sensor.get("name") == POWER_SENSOR_NAME
            ):
                found.setdefault(owner, sensor_id)
                await self._mark_consumption_positive(sensor_id, sensor)
        return found

    async def _mark_consumption_positive(
        self, sensor_id: int, sensor: dict[str, object]
    ) -> None:
        """Add ``consumption_is_positive: true`` to a power sensor that lacks it.

        Its other attributes stay. Once per sensor and client; a refusal is
        logged and tried again by the next client (the data GridFlex posts is
        consumption positive either way).
        """
        if sensor_id in self._signed or "attributes" not in sensor:
            return
        attributes = _attributes(sensor)
        if attributes.get(SIGN_ATTRIBUTE) is True:
            self._signed.add(sensor_id)
            return
        attributes[SIGN_ATTRIBUTE] = True
        try:
            await self._auth.request(
                "PATCH",
                f"{self.api_url}/sensors/{sensor_id}",
                json_body={"attributes": _json_text(attributes)},
            )
        except GridFlexAuthError:
            raise
        except GridFlexError as err:
            _LOGGER.warning(
                "Could not mark FlexMeasures sensor %s as consumption positive: %s",
                sensor_id,
                err,
            )
            return
        self._signed.add(sensor_id)

    async def _asset_type_id(self, preferred: tuple[str, ...]) -> int:
        """The first of the ``preferred`` asset types the server offers.

        Else ``building``, else the server's first type. The types are read
        once per client.
        """
        if self._first_asset_type_id is None:
            answer = await self._auth.request("GET", f"{self.api_url}/assets/types")
            types = [
                (type_id, (optional_str(item, "name") or "").lower())
                for item in as_list(answer, "the FlexMeasures asset types")
                if isinstance(item, dict)
                and (type_id := _int(item.get("id"))) is not None
            ]
            if not types:
                raise GridFlexResponseError("FlexMeasures offers no asset types")
            for type_id, name in reversed(types):
                self._asset_type_ids[name] = type_id
            self._first_asset_type_id = types[0][0]
        for name in (*preferred, PREFERRED_ASSET_TYPE):
            if name in self._asset_type_ids:
                return self._asset_type_ids[name]
        return self._first_asset_type_id

    async def _account_id(self) -> int | None:
        """The account of the user the token belongs to, when it can be read.

        Only new top-level assets need it (a child takes its parent's
        account). Any answer but the user (404, 403, a 5xx, a body that
        cannot be read) leaves it unknown, to be asked again next time: the
        caller goes on without it. Refused credentials still raise.
        """
        if self._user_id is None:
            # A token fetched by another client of the same account says whose it is.
            self._user_id = _int(self._auth.keeper.subject)
        if self._account is not None or self._user_id is None:
            return self._account
        try:
            answer = await self._auth.request(
                "GET", f"{self.api_url}/users/{self._user_id}"
            )
            user = as_object(answer, "a FlexMeasures user")
        except GridFlexAuthError:
            raise
        except GridFlexError as err:
            _LOGGER.debug("The FlexMeasures user cannot be read: %s", err)
            return None
        data = user.get("data")
        if isinstance(data, dict):
            user = data
        self._account = _int(user.get("account_id"))
        return self._account

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
        subject = None if self._user_id is None else str(self._user_id)
        return Token(value=value, lifetime=TOKEN_LIFETIME, subject=subject)


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


def _asset_id(asset_id: str) -> int:
    """An asset id GridFlex was given; anything but digits cannot exist."""
    if not asset_id.isdigit():
        raise GridFlexNotFoundError(f"Not a FlexMeasures asset id: {asset_id!r}")
    return int(asset_id)


def _objects(answer: object, what: str) -> list[dict[str, object]]:
    """The objects of a list answer: a bare list, or ``{"data": [...]}``."""
    if isinstance(answer, dict):
        answer = answer.get("data")
    return [item for item in as_list(answer, what) if isinstance(item, dict)]


def _attributes(asset: dict[str, object]) -> dict[str, object]:
    """The asset's attributes, sent as a JSON string, sometimes read as an object.

    Numbers in a string are read as ``Decimal`` so they go back unchanged.
    """
    value = asset.get("attributes")
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}


def _json_text(value: object) -> str:
    """Dump JSON as ``json.dumps`` does, with ``Decimal``s as exact numbers."""
    if isinstance(value, Decimal):
        return decimal_string(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {_json_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(item) for item in value) + "]"
    return json.dumps(value)


def _resolution(minutes: int) -> str:
    """The sensor resolution as an ISO 8601 duration (whole hours in hours)."""
    if minutes <= 0:
        raise GridFlexRequestRejectedError(
            400, f"A sensor resolution must be positive, not {minutes} minutes"
        )
    if minutes % 60 == 0:
        return f"PT{minutes // 60}H"
    return f"PT{minutes}M"


def _sensor_resolution(sensor: dict[str, object]) -> str:
    """A sensor's ``event_resolution`` (ISO 8601) as GridFlex sends one."""
    duration = _parse_duration(optional_str(sensor, "event_resolution") or "")
    if duration is None or duration <= timedelta(0) or duration % timedelta(minutes=1):
        raise GridFlexResponseError(
            "Cannot read the resolution of FlexMeasures sensor "
            f"{sensor.get('id')}: {sensor.get('event_resolution')!r}"
        )
    return _resolution(duration // timedelta(minutes=1))


def _sensor_id(sensor_id: str) -> int:
    """A sensor id GridFlex was given; anything but digits cannot exist."""
    if not sensor_id.isdigit():
        raise GridFlexNotFoundError(f"Not a FlexMeasures sensor id: {sensor_id!r}")
    return int(sensor_id)


def _duration(minutes: int) -> str:
    """An ISO 8601 duration as FlexMeasures writes one (``P1DT2H15M``, ``PT45M``)."""
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    time_part = (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return "P" + (f"{days}D" if days else "") + (f"T{time_part}" if time_part else "")


def _series_body(series: PowerSeries, unit: str = "kW") -> dict[str, object] | None:
    """The ``POST /sensors/{id}/data`` body; ``None`` for a series without values.

    Decimals become JSON numbers only here, at the wire.
    """
    _resolution(series.resolution_minutes)
    if series.start.tzinfo is None or series.start.utcoffset() is None:
        raise GridFlexRequestRejectedError(
            400, "The start of a power series must be timezone-aware"
        )
    values: list[float | None] = []
    for value in series.values_kw:
        number = None if value is None else float(value)
        if number is not None and not math.isfinite(number):
            raise GridFlexRequestRejectedError(
                400, f"Not a finite power for FlexMeasures: {value}"
            )
        values.append(number)
    if not values:
        return None
    return {
        "start": series.start.astimezone(UTC).isoformat(),
        "duration": _duration(series.resolution_minutes * len(values)),
        "values": values,
        "unit": unit,
    }


def _hours(duration_hours: int) -> str:
    """A positive number of hours as an ISO 8601 duration (``PT24H``)."""
    if duration_hours <= 0:
        raise GridFlexRequestRejectedError(
            400,
            f"A schedule must last a positive number of hours, not {duration_hours}",
        )
    return f"PT{duration_hours}H"


def _job_id(job_id: str) -> str:
    """A job or schedule id that can go into a path."""
    if not job_id or any(char in job_id for char in "/?#% "):
        raise GridFlexNotFoundError(f"Not a FlexMeasures job id: {job_id!r}")
    return job_id


def _trigger_body(
    start: datetime,
    duration_hours: int,
    consumption_price: str | None,
    production_price: str | None,
) -> dict[str, object]:
    """The trigger body without the flex-model; checked before anything is sent."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise GridFlexRequestRejectedError(
            400, "The start of a schedule must be timezone-aware"
        )
    body: dict[str, object] = {
        "start": start.isoformat(),
        "duration": _hours(duration_hours),
    }
    context: dict[str, object] = {}
    for key, given in (
        ("consumption-price", consumption_price),
        ("production-price", production_price),
    ):
        if given is None:
            continue
        price = given.strip()
        if not price:
            raise GridFlexRequestRejectedError(400, f"An empty {key}")
        context[key] = {"sensor": int(price)} if price.isdigit() else price
    if context:
        body["flex-context"] = context
    return body


def _storage_flex_model(model: StorageFlexModel) -> dict[str, object]:
    """A trigger's flex-model entry (without ``sensor``) as quantity strings.

    Quantity strings, because a plain number would be read in the sensor's
    energy unit or MWh depending on the server. ``power-capacity`` is the
    larger of the two directions: FlexMeasures needs one, and
    ``consumption-capacity`` / ``production-capacity`` narrow it.
    """
    entry: dict[str, object] = {}
    for key, value, unit in (
        ("soc-at-start", model.soc_at_start_kwh, "kWh"),
        ("soc-min", model.soc_min_kwh, "kWh"),
        ("soc-max", model.soc_max_kwh, "kWh"),
    ):
        if value is not None:
            entry[key] = f"{decimal_string(value)} {unit}"
    entry.update(
        _capacities(model.consumption_capacity_kw, model.production_capacity_kw)
    )
    return entry


def _capacities(
    consumption_kw: Decimal | None, production_kw: Decimal | None
) -> dict[str, str]:
    """``power-capacity`` (the larger), ``consumption-`` and ``production-capacity``."""
    given = [value for value in (consumption_kw, production_kw) if value is not None]
    if not given:
        return {}
    if any(value < 0 for value in given):
        raise GridFlexRequestRejectedError(400, "A capacity cannot be negative")
    found = {"power-capacity": f"{decimal_string(max(given))} kW"}
    if consumption_kw is not None:
        found["consumption-capacity"] = f"{decimal_string(consumption_kw)} kW"
    if production_kw is not None:
        found["production-capacity"] = f"{decimal_string(production_kw)} kW"
    return found


def _price_unit(unit: str) -> str:
    """The currency of an energy price unit (``EUR/MWh``); refuse any other unit."""
    match = _ENERGY_PRICE.match(unit)
    if match is None:
        raise FlexMeasuresPriceUnitError(
            f"{unit or 'no unit'} is not an energy price unit such as EUR/MWh"
        )
    return match["currency"]


def _json_field(asset: dict[str, object], name: str) -> dict[str, object]:
    """An asset's JSON-string field (``flex_model``, ``flex_context``) as a dict."""
    value = asset.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}


def _parse_duration(text: str) -> timedelta | None:
    match = _ISO_DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    return timedelta(
        weeks=int(match["weeks"] or 0),
        days=int(match["days"] or 0),
        hours=int(match["hours"] or 0),
        minutes=int(match["minutes"] or 0),
        seconds=float(match["seconds"] or 0),
    )


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _schedule_points(schedule: dict[str, object]) -> list[tuple[datetime, Decimal]]:
    """``{values, start, duration, unit}`` as (interval start, kW) pairs."""
    values = schedule.get("values")
    start = _parse_start(optional_str(schedule, "start"))
    duration = _parse_duration(optional_str(schedule, "duration") or "")
    factor = _KW_PER_UNIT.get(optional_str(schedule, "unit") or "kW")
    if not isinstance(values, list) or start is None or duration is None:
        raise GridFlexResponseError("Cannot read the FlexMeasures schedule")
    if factor is None:
        raise GridFlexResponseError(
            f"The FlexMeasures schedule is not in a power unit: {schedule.get('unit')!r}"
        )
    if not values:
        return []
    step = duration / len(values)
    points: list[tuple[datetime, Decimal]] = []
    for index, value in enumerate(values):
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        number = None if isinstance(value, (str, bool)) else to_decimal(value)
        if number is None:
            raise GridFlexResponseError(
                f"Not a number in the FlexMeasures schedule: {value!r}"
            )
        points.append((start + index * step, number * factor))
    return points


def _parent_id(site_id: str, spec: ResourceSpec) -> int:
    """The asset to put the resource under: its group's, else the site's."""
    site = _asset_id(site_id)
    if spec.group_id is None:
        return site
    if not spec.group_id.isdigit():
        raise GridFlexRequestRejectedError(
            400, f"Not a FlexMeasures asset id for a group: {spec.group_id!r}"
        )
    return int(spec.group_id)


def _resource_attributes(
    attributes: dict[str, object], spec: ResourceSpec
) -> dict[str, object]:
    """GridFlex's attributes for ``spec`` on top of the asset's other ones."""
    attributes = dict(attributes)
    attributes["gridflex_type"] = spec.type.value
    if spec.external_id is not None:
        attributes["external_id"] = spec.external_id
    attributes["power_minimum_kw"] = decimal_string(spec.power_minimum_kw)
    attributes["power_maximum_kw"] = decimal_string(spec.power_maximum_kw)
    if spec.capacity_kwh is None:
        attributes.pop("capacity_kwh", None)
    else:
        attributes["capacity_kwh"] = decimal_string(spec.capacity_kwh)
    # Older versions kept the power here; the flex-model holds it now.
    attributes.pop("capacity_in_mw", None)
    return attributes


_OWNED_FLEX_MODEL: Final = (
    "power-capacity",
    "consumption-capacity",
    "production-capacity",
    "soc-min",
    "soc-max",
)
"""The stored flex-model fields GridFlex writes from the resource's limits."""


def _resource_flex_model(
    flex_model: dict[str, object], spec: ResourceSpec
) -> dict[str, object]:
    """The asset's stored flex-model for ``spec``, on top of its other fields.

    Charging up to ``power_maximum_kw`` (when positive) and discharging up
    to minus ``power_minimum_kw`` (when negative), never one symmetric
    capacity: a battery of -3 … 4 kW has consumption 4 kW and production
    3 kW. A resource with a capacity also gets ``soc-min`` (0) and
    ``soc-max``. A ``power-capacity`` that FlexMeasures made from an older
    version's ``capacity_in_mw`` is replaced.
    """
    stored = {
        key: value for key, value in flex_model.items() if key not in _OWNED_FLEX_MODEL
    }
    stored.update(
        _capacities(
            max(spec.power_maximum_kw, Decimal(0)),
            max(-spec.power_minimum_kw, Decimal(0)),
        )
    )
    if spec.capacity_kwh is not None:
        stored["soc-min"] = "0.0 kWh"
        stored["soc-max"] = f"{decimal_string(spec.capacity_kwh)} kWh"
    return stored


def _resource(answer: object, site: int, power_sensor_id: int | None) -> Resource:
    asset = as_object(answer, "a FlexMeasures asset")
    asset_id = _int(asset.get("id"))
    if asset_id is None:
        raise GridFlexResponseError("Expected a FlexMeasures asset to have an id")
    attributes = _attributes(asset)
    gridflex_type = attributes.get("gridflex_type")
    asset_type = asset.get("generic_asset_type")
    asset_type_name = (
        optional_str(asset_type, "name") if isinstance(asset_type, dict) else None
    )
    if isinstance(gridflex_type, str):
        raw_type: str | None = gridflex_type
        resource_type = _GRIDFLEX_TYPES.get(gridflex_type)
    else:
        raw_type = asset_type_name
        resource_type = _READ_ASSET_TYPES.get((raw_type or "").lower())
    parent = _int(asset.get("parent_asset_id"))
    external_id = attributes.get("external_id")
    if not isinstance(external_id, str):
        external_id = optional_str(asset, "external_id") or None
    return Resource(
        resource_id=str(asset_id),
        type=resource_type,
        raw_type=raw_type,
        name=optional_str(asset, "name"),
        power_minimum_kw=to_decimal(attributes.get("power_minimum_kw")),
        power_maximum_kw=to_decimal(attributes.get("power_maximum_kw")),
        capacity_kwh=to_decimal(attributes.get("capacity_kwh")),
        group_id=None if parent is None or parent == site else str(parent),
        external_id=external_id,
        power_sensor_id=None if power_sensor_id is None else str(power_sensor_id),
    )


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
