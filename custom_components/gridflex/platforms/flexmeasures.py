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
- A resource is a child asset of the site asset (a group's member a child of
  the group's asset) with a ``power`` sensor in kW. What FlexMeasures has no
  field for (GridFlex type, limits, capacity) is kept in the attributes, with
  decimals as exact strings; ``capacity_in_mw`` is FlexMeasures' own number.
  ``GET /assets`` lists only ``id|name|account_id|generic_asset_type`` unless
  ``fields`` asks for more; ``root`` selects an asset and its descendants.
  ``GET /sensors?asset=`` lists the sensors of an asset and its descendants.
  Deleting an asset deletes its children.
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
- Schedules are triggered on the resource's site asset (the top of its
  tree, so the site's flex-context applies) with ``POST
  /assets/{id}/schedules/trigger`` and a one-entry ``flex-model`` list
  naming the resource's power sensor; state of charge and power go as
  quantity strings (``"12.1 kWh"``, ``"7.4 kW"``: a plain number would be
  read in the sensor's energy unit or MWh, depending on the server), the
  flex-context is one object. API v3.0-32 answers 202 ``{status:
  "ACCEPTED", job, schedule, job-url}``, older servers 200 ``{schedule,
  status: "PROCESSED"}``; 429 when the trigger budget (``10 per 5
  minutes`` by default) is spent. ``GET /sensors/{id}/schedules/{uuid}``
  answers 200 ``{values, start, duration, unit}``, or while the job is not
  done 400 ``UNKNOWN_SCHEDULE`` "Scheduling job waiting to be processed" /
  "in progress" (202 ``{status: QUEUED|STARTED}`` on servers that sunset
  the 400), 400 "Scheduling job failed with …" when it failed and 400
  ``UNRECOGNIZED_UDI_EVENT`` for an unknown uuid. ``GET /jobs/{uuid}``
  (v3.0-31+) answers 202 while queued or running, 200 finished, 422
  failed, 404 unknown (400 on v3.0-31).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
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
    RegisteredSite,
    Resource,
    ResourceSpec,
    ResourceType,
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

POWER_SENSOR_NAME: Final = "power"
"""The name of the sensor GridFlex gives each resource asset."""

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
        self._account: int | None = None
        self._asset_type_ids: dict[str, int] = {}
        self._schedule_sensors: dict[int, int] = {}
        self._first_asset_type_id: int | None = None
        self._auth = TokenAuth.for_platform(
            session,
            platform_name="FlexMeasures",
            request_timeout=request_timeout,
            detail=_error_detail,
            fetch=self._fetch_token,
            header=lambda token: {"Authorization": token},
            clock=clock,
            margin=0.0,
        )
        self._http = self._auth.http

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
            "generic_asset_type_id": await self._asset_type_id(()),
        }
        account_id = await self._account_id()
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
        """Create the child asset, then its power sensor.

        When the sensor cannot be created the asset is deleted again, so a
        retry does not stumble over the asset's name.

        Raises:
            GridFlexRequestRejectedError: before anything is sent, when the
                resolution is not a positive number of minutes, a decimal is
                not finite, or ``group_id`` is not an asset id.

        """
        parent = _parent_id(site_id, spec)
        resolution = _resolution(spec.resolution_minutes)
        attributes = _json_text(_resource_attributes({}, spec))
        body: dict[str, object] = {
            "name": spec.name,
            "generic_asset_type_id": await self._asset_type_id(
                RESOURCE_ASSET_TYPES[spec.type]
            ),
            "parent_asset_id": parent,
        }
        account_id = await self._account_id()
        if account_id is not None:
            body["account_id"] = account_id
        body["attributes"] = attributes
        asset = as_object(
            await self._auth.request("POST", f"{self.api_url}/assets", json_body=body),
            "the created FlexMeasures asset",
        )
        asset_id = _int(asset.get("id"))
        if asset_id is None:
            raise GridFlexResponseError("Expected a FlexMeasures asset to have an id")
        sensor_body = {
            "name": POWER_SENSOR_NAME,
            "unit": "kW",
            "event_resolution": resolution,
            "generic_asset_id": asset_id,
        }
        try:
            sensor = as_object(
                await self._auth.request(
                    "POST", f"{self.api_url}/sensors", json_body=sensor_body
                ),
                "the created FlexMeasures sensor",
            )
        except GridFlexError:
            with contextlib.suppress(GridFlexError):
                await self._auth.request("DELETE", self._asset_url(asset_id))
            raise
        return _resource(asset, _asset_id(site_id), _int(sensor.get("id")))

    async def update_resource(
        self, site_id: str, resource_id: str, spec: ResourceSpec
    ) -> Resource:
        """Rename, move into or out of a group, and rewrite GridFlex's attributes.

        Attributes GridFlex does not own are kept. The power sensor keeps its
        resolution.
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
        }
        answer = await self._auth.request("PATCH", url, json_body=body)
        if answer is None:
            return await self.get_resource(site_id, resource_id)
        sensors = await self._power_sensors(asset_id)
        return _resource(answer, _asset_id(site_id), sensors.get(asset_id))

    async def delete_resource(self, site_id: str, resource_id: str) -> None:
        """Delete the resource asset (and with it its sensor).

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
        body = {
            "name": POWER_SENSOR_NAME,
            "unit": "kW",
            "event_resolution": resolution,
            "generic_asset_id": site,
        }
        sensor = as_object(
            await self._auth.request("POST", f"{self.api_url}/sensors", json_body=body),
            "the created FlexMeasures sensor",
        )
        sensor_id = _int(sensor.get("id"))
        if sensor_id is None:
            raise GridFlexResponseError("Expected a FlexMeasures sensor to have an id")
        return str(sensor_id)

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
        soc_at_start_kwh: Decimal | None,
        soc_min_kwh: Decimal | None,
        soc_max_kwh: Decimal | None,
        power_capacity_kw: Decimal | None,
        consumption_price: str | None = None,
    ) -> str:
        """Ask for a schedule of the resource's power sensor; return the schedule id.

        The trigger goes to the resource's site asset, with the resource's
        power sensor in the flex-model. ``None`` leaves a field to the
        server (its defaults or the asset's stored flex-model).
        ``consumption_price`` is a quantity string (``"0.2 EUR/kWh"``) or
        the id of a price sensor (``"7"``).

        Raises:
            GridFlexNotFoundError: the resource is not an asset id, is gone,
                or has no power sensor.
            GridFlexRequestRejectedError: before anything is sent, when the
                start is naive, the duration not positive, a decimal not
                finite or the price empty; from the server, 422 for a
                flex-model it refuses.
            GridFlexRateLimitedError: HTTP 429 (the trigger budget is
                spent), with ``retry_after``.

        """
        asset_id = _asset_id(resource_id)
        body = _trigger_body(start, duration_hours, consumption_price)
        flex_model: dict[str, object] = {}
        for key, value, unit in (
            ("soc-at-start", soc_at_start_kwh, "kWh"),
            ("soc-min", soc_min_kwh, "kWh"),
            ("soc-max", soc_max_kwh, "kWh"),
            ("power-capacity", power_capacity_kw, "kW"),
        ):
            if value is not None:
                flex_model[key] = f"{decimal_string(value)} {unit}"
        sensor_id = await self._schedule_sensor(asset_id)
        site = await self._site_of(asset_id)
        body["flex-model"] = [{"sensor": sensor_id, **flex_model}]
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

        ``None`` while the scheduling job is queued or running. Intervals
        without a value are left out.

        Raises:
            GridFlexNotFoundError: the resource has no power sensor, or the
                schedule id is unknown.
            GridFlexRequestRejectedError: the scheduling job failed (HTTP
                400 ``UNKNOWN_SCHEDULE`` "… failed with …"), or before
                anything is sent when the duration is not positive.
            GridFlexResponseError: the schedule cannot be read.

        """
        asset_id = _asset_id(resource_id)
        job = _job_id(schedule_id)
        duration = _hours(duration_hours)
        sensor_id = await self._schedule_sensor(asset_id)
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
            if "is not known" in err.detail:
                raise GridFlexNotFoundError(err.detail) from err
            raise
        schedule = as_object(answer, "a FlexMeasures schedule")
        if "values" not in schedule and schedule.get("status") in _PENDING_STATUSES:
            return None
        return _schedule_points(schedule)

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

    async def _schedule_sensor(self, asset_id: int) -> int:
        """The resource asset's own power sensor (remembered per client)."""
        known = self._schedule_sensors.get(asset_id)
        if known is not None:
            return known
        sensor_id = (await self._power_sensors(asset_id)).get(asset_id)
        if sensor_id is None:
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

    async def _power_sensors(self, asset_id: int) -> dict[int, int]:
        """Map asset id → id of its ``power`` sensor, for the asset and below."""
        answer = await self._auth.request(
            "GET", f"{self.api_url}/sensors", params={"asset": str(asset_id)}
        )
        found: dict[int, int] = {}
        for sensor in _objects(answer, "the FlexMeasures sensors"):
            sensor_id = _int(sensor.get("id"))
            owner = _int(sensor.get("generic_asset_id"))
            if (
                sensor_id is not None
                and owner is not None
                and sensor.get("name") == POWER_SENSOR_NAME
            ):
                found.setdefault(owner, sensor_id)
        return found

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
        """The account of the user the token belongs to, when it can be read."""
        if self._account is not None or self._user_id is None:
            return self._account
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


def _series_body(series: PowerSeries) -> dict[str, object] | None:
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
        "unit": "kW",
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
    start: datetime, duration_hours: int, consumption_price: str | None
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
    if consumption_price is not None:
        price = consumption_price.strip()
        if not price:
            raise GridFlexRequestRejectedError(400, "An empty consumption price")
        body["flex-context"] = {
            "consumption-price": {"sensor": int(price)} if price.isdigit() else price
        }
    return body


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
    largest = max(abs(spec.power_minimum_kw), abs(spec.power_maximum_kw))
    attributes["capacity_in_mw"] = largest.scaleb(-3)
    return attributes


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
