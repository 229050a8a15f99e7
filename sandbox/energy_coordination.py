"""Energy Coordination API (Volue Spark) under ``/energy-coordination/v1``, and its token endpoint.

Routes:

- ``POST /connect/token``: OAuth2 client credentials, form body
  ``grant_type=client_credentials&client_id&client_secret`` (HTTP Basic client
  authentication also works) → 200 ``{access_token, expires_in: 3600,
  token_type: "Bearer"}``; 400 ``{"error": "invalid_client"}`` for wrong or
  revoked credentials, ``{"error": "unsupported_grant_type"}`` for another
  grant, ``{"error": "invalid_request"}`` for a body that is not a form.
- ``GET /users?page&pageSize``: ``{pagination, users}`` (pageSize 1..1000,
  default 100).
- ``POST /users`` ``{userId}`` → 201 ``{userId}``; 400 (string) when it exists.
- ``GET /users/{userId}`` (404 without body), ``DELETE /users/{userId}`` (204,
  also removes the user's locations and Spark programme state).
- ``GET /users/{userId}/locations``: the user's ``GetLocationResponse`` list.
- ``POST /users/{userId}/locations``: ``PostLocationRequest`` → 201 location;
  409 when the location id, or one of its meter point ids, is already
  registered.
- ``GET``, ``PUT``, ``PATCH`` (``null`` leaves a field unchanged), ``DELETE``
  ``/users/{userId}/locations/{locationId}`` (DELETE also removes the
  location's resources and compensation).
- ``POST /users/{userId}/locations/{locationId}/resources`` ``{resourceId,
  resourceType, meterPointId?}`` → 201 ``GetLocationBoundResourceResponse``
  ``{resourceId, resourceType, locationId, userId, meterPointId}``; 404
  without body for an unknown user or location; 400 (string) when the
  resource id is registered anywhere already.
- ``GET /users/{userId}/locations/{locationId}/resources``: that list (404
  without body for an unknown user or location).
- ``GET /resources/{resourceId}``: ``GetResourceResponse`` ``{resourceId,
  resourceType, userId, locationId, meterPointId}`` (404 without body);
  ``DELETE /resources/{resourceId}``: 204 (404 without body).
- ``GET /users/{userId}/resources``: ``{resources: [GetResourceResponse]}``
  (404 without body for an unknown user).

Events, simulation, reports and webhooks are served by
``energy_coordination_events.py``, ``energy_coordination_simulation.py``,
``energy_coordination_reports.py`` and ``energy_coordination_webhooks.py``,
which share this module's ``authenticate``, ``read_body``, ``bad_request``
(400 JSON string), ``problem`` (400 ``application/problem+json``),
``not_found`` and paging helpers.

Every API route needs ``Authorization: Bearer <token>`` (scheme
case-insensitive); a missing, unknown or expired token gets 401 without body.
Bodies are checked like the service's schemas (``additionalProperties:
false``): unknown fields, wrong types, bad ``locationType``, coordinates that
are not numbers, meter point ids that are not 18-digit GSRNs, a location
with neither ``meterPointIds`` nor ``coordinates``, a ``resourceType`` outside
``Generic, Vehicle, Charger, HotWaterTank, HVAC, SolarInverter`` and a missing
or empty ``resourceId`` are 400 with a JSON string.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
import math
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .envelopes import (
    ENERGY_COORDINATION,
    energy_coordination_error,
    energy_coordination_problem,
)
from .state import EnergyCoordinationState, JSONDict, get_state
from .validation import (
    BodyError,
    RequestRejectedError,
    is_gsrn,
    is_number,
    json_type,
    parse_positive_int,
    read_json,
    unknown_fields,
)

routes = web.RouteTableDef()

BASE = "/energy-coordination/v1"
LOCATION_TYPES: tuple[str, ...] = ("Unknown", "Residential", "Commercial", "Other")
RESOURCE_TYPES: tuple[str, ...] = (
    "Generic",
    "Vehicle",
    "Charger",
    "HotWaterTank",
    "HVAC",
    "SolarInverter",
)
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_POST_LOCATION_FIELDS = (
    "locationId",
    "locationType",
    "coordinates",
    "meterPointId",
    "meterPointIds",
)
_PATCH_LOCATION_FIELDS = ("locationType", "coordinates", "meterPointIds")
_POST_RESOURCE_FIELDS = ("resourceId", "resourceType", "meterPointId")


# Responses and auth


def bad_request(message: str) -> RequestRejectedError:
    """Refuse the request with 400 and a bare JSON string (the spec's usual 400)."""
    return RequestRejectedError(energy_coordination_error(400, message), message)


def problem(errors: dict[str, list[str]]) -> RequestRejectedError:
    """Refuse the request with 400 ``application/problem+json`` listing ``errors``."""
    reason = "; ".join(
        f"{field}: {message}"
        for field, messages in errors.items()
        for message in messages
    )
    return RequestRejectedError(energy_coordination_problem(errors), reason)


def not_found(reason: str) -> RequestRejectedError:
    """Refuse the request with 404 without body."""
    return RequestRejectedError(energy_coordination_error(404), reason)


def _conflict(reason: str) -> RequestRejectedError:
    return RequestRejectedError(energy_coordination_error(409), reason)


def _oauth_error(error: str, reason: str, *, violation: bool) -> RequestRejectedError:
    return RequestRejectedError(
        web.json_response({"error": error}, status=400), reason, violation=violation
    )


def authenticate(request: web.Request) -> None:
    """Require a valid Energy Coordination Bearer token (401 without body otherwise)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestRejectedError(
            energy_coordination_error(401, headers={"WWW-Authenticate": "Bearer"}),
            "Missing Authorization: Bearer header",
        )
    if not get_state(request).token_valid(ENERGY_COORDINATION, token.strip()):
        raise RequestRejectedError(
            energy_coordination_error(
                401,
                headers={
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    'error_description="The token is expired or unknown"'
                },
            ),
            "Bearer token unknown, expired or revoked",
        )


async def read_body(request: web.Request) -> Any:
    """Decode the JSON body; 400 (bare string) when it is missing or not JSON."""
    try:
        return await read_json(request)
    except BodyError as err:
        raise bad_request(str(err)) from err


def ec_store(request: web.Request) -> EnergyCoordinationState:
    """Return the Energy Coordination state of the app serving the request."""
    return get_state(request).energy_coordination


def _user_or_404(request: web.Request) -> str:
    user_id = request.match_info["userId"]
    if user_id not in ec_store(request).users:
        raise not_found(f"User {user_id!r} does not exist")
    return user_id


def _location_or_404(request: web.Request) -> JSONDict:
    user_id = _user_or_404(request)
    location_id = request.match_info["locationId"]
    location = ec_store(request).locations.get(location_id)
    if location is None or location["userId"] != user_id:
        raise not_found(f"Location {location_id!r} of user {user_id!r} does not exist")
    return location


# Validation of location bodies


def _check_coordinates(value: Any) -> JSONDict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(
            f"coordinates must be an object or null, not a JSON {json_type(value)}"
        )
    if extra := unknown_fields(value, ("latitude", "longitude")):
        raise bad_request(f"coordinates has unknown fields: {', '.join(extra)}")
    coordinates: JSONDict = {}
    for name, limit in (("latitude", 90), ("longitude", 180)):
        number = value.get(name)
        if not is_number(number):
            raise bad_request(
                f"coordinates.{name} must be a number, not a JSON {json_type(number)}"
            )
        if abs(number) > limit:
            raise bad_request(
                f"coordinates.{name} must be between -{limit} and {limit}"
            )
        coordinates[name] = number
    return coordinates


def _check_meter_point_ids(value: Any, name: str = "meterPointIds") -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request(f"{name} must be an array of strings or null")
    for item in value:
        if not is_gsrn(item):
            raise bad_request(
                f"{name} contains {item!r}, which is not a meter point id (an 18-digit GSRN)"
            )
    if len(set(value)) != len(value):
        raise bad_request(f"{name} contains the same meter point id twice")
    return list(value)


def _check_location_type(body: JSONDict, *, patch: bool) -> str | None:
    if "locationType" not in body or (patch and body["locationType"] is None):
        return None
    location_type = body["locationType"]
    if location_type not in LOCATION_TYPES:
        raise bad_request(f"locationType must be one of {', '.join(LOCATION_TYPES)}")
    return str(location_type)


def _check_location_meter_points(body: JSONDict, *, patch: bool) -> list[str] | None:
    meter_point_ids = _check_meter_point_ids(body.get("meterPointIds"))
    deprecated = None if patch else body.get("meterPointId")
    if deprecated is None:
        return meter_point_ids
    if not is_gsrn(deprecated):
        raise bad_request(
            f"meterPointId {deprecated!r} is not a meter point id (an 18-digit GSRN)"
        )
    if not meter_point_ids:
        return [deprecated]
    if deprecated not in meter_point_ids:
        raise bad_request("meterPointId must be one of meterPointIds")
    return meter_point_ids


def _validate_location(body: Any, *, patch: bool) -> JSONDict:
    """Check a Post/Put/PatchLocationRequest; return the given fields, normalised."""
    if not isinstance(body, dict):
        raise bad_request(
            f"The body must be a JSON object, not a JSON {json_type(body)}"
        )
    allowed = _PATCH_LOCATION_FIELDS if patch else _POST_LOCATION_FIELDS
    if extra := unknown_fields(body, allowed):
        raise bad_request(
            f"Unknown fields are not allowed: {', '.join(extra)} (additionalProperties is false)"
        )
    data: JSONDict = {}
    if not patch:
        location_id = body.get("locationId")
        if not isinstance(location_id, str) or not location_id.strip():
            raise bad_request("locationId is required and must be a non-empty string")
        data["locationId"] = location_id
    if (location_type := _check_location_type(body, patch=patch)) is not None:
        data["locationType"] = location_type
    if (coordinates := _check_coordinates(body.get("coordinates"))) is not None:
        data["coordinates"] = coordinates
    if (meter_point_ids := _check_location_meter_points(body, patch=patch)) is not None:
        data["meterPointIds"] = meter_point_ids
    if not patch and not data.get("meterPointIds") and "coordinates" not in data:
        raise bad_request("Either meterPointIds or coordinates must be provided")
    return data


def _check_conflicts(
    store: EnergyCoordinationState, meter_point_ids: list[str], location_id: str
) -> None:
    for other in store.locations.values():
        if other["locationId"] == location_id:
            continue
        if shared := set(other["meterPointIds"]) & set(meter_point_ids):
            raise _conflict(
                f"Meter point {min(shared)} is already registered on location "
                f"{other['locationId']!r}"
            )


def _location_response(user_id: str, data: JSONDict) -> JSONDict:
    meter_point_ids: list[str] = data.get("meterPointIds") or []
    return {
        "locationId": data["locationId"],
        "locationType": data.get("locationType", "Unknown"),
        "coordinates": data.get("coordinates"),
        "meterPointId": meter_point_ids[0] if meter_point_ids else None,
        "meterPointIds": meter_point_ids,
        "userId": user_id,
    }


# Token endpoint


def _client_from_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except binascii.Error, UnicodeDecodeError:
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


@routes.post("/connect/token")
async def create_token(request: web.Request) -> web.Response:
    """Issue an access token for the client credentials grant."""
    state = get_state(request)
    if request.content_type != "application/x-www-form-urlencoded":
        raise _oauth_error(
            "invalid_request",
            "The token request must be a form (application/x-www-form-urlencoded)",
            violation=True,
        )
    form = await request.post()
    basic = _client_from_basic(request.headers.get("Authorization", ""))
    client_id, client_secret = basic or (
        str(form.get("client_id", "")),
        str(form.get("client_secret", "")),
    )
    if not state.credentials_valid(
        ENERGY_COORDINATION, client_id=client_id, client_secret=client_secret
    ):
        raise _oauth_error(
            "invalid_client", "Client credentials refused", violation=False
        )
    if form.get("grant_type") != "client_credentials":
        raise _oauth_error(
            "unsupported_grant_type",
            f"grant_type must be client_credentials, got {form.get('grant_type')!r}",
            violation=True,
        )
    token = state.issue_token(ENERGY_COORDINATION)
    return web.json_response(
        {
            "access_token": token.token,
            "expires_in": int(token.expires_at - token.issued_at),
            "token_type": "Bearer",
        }
    )


# Users


class PagingError(ValueError):
    """``page`` or ``pageSize`` is not acceptable."""

    def __init__(self, field: str, message: str) -> None:
        """Keep the offending query parameter and the explanation."""
        super().__init__(message)
        self.field = field
        self.message = message


def parse_paging(request: web.Request) -> tuple[int, int]:
    """Read ``page`` (default 1) and ``pageSize`` (default 100, at most 1000)."""
    raw_page = request.query.get("page")
    raw_size = request.query.get("pageSize")
    page = 1 if raw_page is None else parse_positive_int(raw_page)
    size = DEFAULT_PAGE_SIZE if raw_size is None else parse_positive_int(raw_size)
    if page is None:
        raise PagingError("page", "page must be an integer >= 1")
    if size is None or size > MAX_PAGE_SIZE:
        raise PagingError(
            "pageSize", f"pageSize must be an integer between 1 and {MAX_PAGE_SIZE}"
        )
    return page, size


def paginate(
    items: list[JSONDict], page: int, size: int
) -> tuple[JSONDict, list[JSONDict]]:
    """Return Spark's ``pagination`` block and the items of one page."""
    total_pages = math.ceil(len(items) / size)
    start = (page - 1) * size
    block = {
        "totalRecords": len(items),
        "pageSize": size,
        "currentPage": page,
        "totalPages": total_pages,
        "nextPage": page + 1 if page < total_pages else None,
        "previousPage": page - 1 if page > 1 else None,
    }
    return block, items[start : start + size]


@routes.get(f"{BASE}/users")
async def list_users(request: web.Request) -> web.Response:
    """List users with Spark's pagination block."""
    authenticate(request)
    try:
        page, size = parse_paging(request)
    except PagingError as err:
        raise bad_request(err.message) from err
    block, users = paginate(list(ec_store(request).users.values()), page, size)
    return web.json_response({"pagination": block, "users": users})


@routes.post(f"{BASE}/users")
async def create_user(request: web.Request) -> web.Response:
    """Register a user under the partner-chosen id."""
    authenticate(request)
    body = await read_body(request)
    if not isinstance(body, dict):
        raise bad_request(
            f"The body must be a JSON object, not a JSON {json_type(body)}"
        )
    if extra := unknown_fields(body, ("userId",)):
        raise bad_request(
            f"Unknown fields are not allowed: {', '.join(extra)} (additionalProperties is false)"
        )
    user_id = body.get("userId")
    if not isinstance(user_id, str) or not user_id.strip():
        raise bad_request("userId is required and must be a non-empty string")
    store = ec_store(request)
    if user_id in store.users:
        raise bad_request(f"User with id '{user_id}' already exists")
    store.users[user_id] = {"userId": user_id}
    return web.json_response({"userId": user_id}, status=201)


@routes.get(f"{BASE}/users/{{userId}}")
async def get_user(request: web.Request) -> web.Response:
    """Return one user."""
    authenticate(request)
    return web.json_response({"userId": _user_or_404(request)})


@routes.delete(f"{BASE}/users/{{userId}}")
async def delete_user(request: web.Request) -> web.Response:
    """Delete a user and the user's locations (204)."""
    authenticate(request)
    user_id = _user_or_404(request)
    store = ec_store(request)
    del store.users[user_id]
    for location_id in [
        key
        for key, location in store.locations.items()
        if location["userId"] == user_id
    ]:
        del store.locations[location_id]
        store.forget_location(location_id)
    _delete_resources(store, lambda resource: resource["userId"] == user_id)
    store.forget_user(user_id)
    return web.Response(status=204)


# Locations


@routes.get(f"{BASE}/users/{{userId}}/locations")
async def list_locations(request: web.Request) -> web.Response:
    """List the user's locations."""
    authenticate(request)
    user_id = _user_or_404(request)
    return web.json_response(
        [
            location
            for location in ec_store(request).locations.values()
            if location["userId"] == user_id
        ]
    )


@routes.post(f"{BASE}/users/{{userId}}/locations")
async def create_location(request: web.Request) -> web.Response:
    """Register a location for the user (201; 409 when it, or a meter point, exists)."""
    authenticate(request)
    data = _validate_location(await read_body(request), patch=False)
    user_id = _user_or_404(request)
    store = ec_store(request)
    if data["locationId"] in store.locations:
        raise _conflict(f"Location {data['locationId']!r} already exists")
    _check_conflicts(store, data.get("meterPointIds", []), data["locationId"])
    location = _location_response(user_id, data)
    store.locations[location["locationId"]] = location
    return web.json_response(location, status=201)


@routes.get(f"{BASE}/users/{{userId}}/locations/{{locationId}}")
async def get_location(request: web.Request) -> web.Response:
    """Return one of the user's locations."""
    authenticate(request)
    return web.json_response(_location_or_404(request))


@routes.put(f"{BASE}/users/{{userId}}/locations/{{locationId}}")
async def replace_location(request: web.Request) -> web.Response:
    """Replace one of the user's locations."""
    authenticate(request)
    data = _validate_location(await read_body(request), patch=False)
    location = _location_or_404(request)
    if data["locationId"] != location["locationId"]:
        raise bad_request("locationId in the body must match the path")
    store = ec_store(request)
    _check_conflicts(store, data.get("meterPointIds", []), location["locationId"])
    replaced = _location_response(location["userId"], data)
    store.locations[location["locationId"]] = replaced
    return web.json_response(replaced)


@routes.patch(f"{BASE}/users/{{userId}}/locations/{{locationId}}")
async def patch_location(request: web.Request) -> web.Response:
    """Change the given fields of one of the user's locations."""
    authenticate(request)
    data = _validate_location(await read_body(request), patch=True)
    location = _location_or_404(request)
    store = ec_store(request)
    if "meterPointIds" in data:
        _check_conflicts(store, data["meterPointIds"], location["locationId"])
    merged = {**location, **data}
    if not merged["meterPointIds"] and merged["coordinates"] is None:
        raise bad_request("Either meterPointIds or coordinates must be provided")
    patched = _location_response(location["userId"], merged)
    store.locations[location["locationId"]] = patched
    return web.json_response(patched)


@routes.delete(f"{BASE}/users/{{userId}}/locations/{{locationId}}")
async def delete_location(request: web.Request) -> web.Response:
    """Delete one of the user's locations (204)."""
    authenticate(request)
    location = _location_or_404(request)
    store = ec_store(request)
    del store.locations[location["locationId"]]
    store.forget_location(location["locationId"])
    _delete_resources(
        store, lambda resource: resource["locationId"] == location["locationId"]
    )
    return web.Response(status=204)


# Resources


def _delete_resources(
    store: EnergyCoordinationState, doomed: Callable[[JSONDict], bool]
) -> None:
    for resource_id in [
        key for key, resource in store.resources.items() if doomed(resource)
    ]:
        del store.resources[resource_id]


def _validate_resource(body: Any) -> JSONDict:
    """Check a PostLocationBoundResourceRequest; return it with ``meterPointId``."""
    if not isinstance(body, dict):
        raise bad_request(
            f"The body must be a JSON object, not a JSON {json_type(body)}"
        )
    if extra := unknown_fields(body, _POST_RESOURCE_FIELDS):
        raise bad_request(
            f"Unknown fields are not allowed: {', '.join(extra)} (additionalProperties is false)"
        )
    resource_id = body.get("resourceId")
    if not isinstance(resource_id, str) or not resource_id.strip():
        raise bad_request("resourceId is required and must be a non-empty string")
    resource_type = body.get("resourceType")
    if resource_type not in RESOURCE_TYPES:
        raise bad_request(
            f"resourceType is required and must be one of {', '.join(RESOURCE_TYPES)}"
        )
    meter_point_id = body.get("meterPointId")
    if meter_point_id is not None and not is_gsrn(meter_point_id):
        raise bad_request(
            f"meterPointId {meter_point_id!r} is not a meter point id (an 18-digit GSRN)"
        )
    return {
        "resourceId": resource_id,
        "resourceType": resource_type,
        "meterPointId": meter_point_id,
    }


def _location_bound(resource: JSONDict) -> JSONDict:
    """Render a stored resource as ``GetLocationBoundResourceResponse``."""
    return {
        "resourceId": resource["resourceId"],
        "resourceType": resource["resourceType"],
        "locationId": resource["locationId"],
        "userId": resource["userId"],
        "meterPointId": resource["meterPointId"],
    }


def _resource_or_404(request: web.Request) -> JSONDict:
    resource_id = request.match_info["resourceId"]
    resource = ec_store(request).resources.get(resource_id)
    if resource is None:
        raise not_found(f"Resource {resource_id!r} does not exist")
    return resource


@routes.post(f"{BASE}/users/{{userId}}/locations/{{locationId}}/resources")
async def create_resource(request: web.Request) -> web.Response:
    """Register a resource at one of the user's locations (201)."""
    authenticate(request)
    data = _validate_resource(await read_body(request))
    location = _location_or_404(request)
    store = ec_store(request)
    if data["resourceId"] in store.resources:
        raise bad_request(f"Resource with id '{data['resourceId']}' already exists")
    resource: JSONDict = {
        "resourceId": data["resourceId"],
        "resourceType": data["resourceType"],
        "userId": location["userId"],
        "locationId": location["locationId"],
        "meterPointId": data["meterPointId"],
    }
    store.resources[resource["resourceId"]] = resource
    return web.json_response(_location_bound(resource), status=201)


@routes.get(f"{BASE}/users/{{userId}}/locations/{{locationId}}/resources")
async def list_location_resources(request: web.Request) -> web.Response:
    """List the resources registered at one of the user's locations."""
    authenticate(request)
    location = _location_or_404(request)
    return web.json_response(
        [
            _location_bound(resource)
            for resource in ec_store(request).resources.values()
            if resource["locationId"] == location["locationId"]
        ]
    )


@routes.get(f"{BASE}/users/{{userId}}/resources")
async def list_user_resources(request: web.Request) -> web.Response:
    """List all of a user's resources."""
    authenticate(request)
    user_id = _user_or_404(request)
    return web.json_response(
        {
            "resources": [
                resource
                for resource in ec_store(request).resources.values()
                if resource["userId"] == user_id
            ]
        }
    )


@routes.get(f"{BASE}/resources/{{resourceId}}")
async def get_resource(request: web.Request) -> web.Response:
    """Return one resource."""
    authenticate(request)
    return web.json_response(_resource_or_404(request))


@routes.delete(f"{BASE}/resources/{{resourceId}}")
async def delete_resource(request: web.Request) -> web.Response:
    """Delete a resource (204)."""
    authenticate(request)
    resource = _resource_or_404(request)
    del ec_store(request).resources[resource["resourceId"]]
    return web.Response(status=204)
