"""Powernaut Connect (Partner API) as served by ``api.powernaut.io``, under ``/v1``.

Routes:

- ``POST /v1/auth/token``: HTTP Basic with the url-encoded client id and
  secret, no body (a form body is ignored) → 200 ``{access_token,
  expires_in: 3600, token_type: "Bearer"}``; wrong or revoked credentials →
  403 ``Invalid credentials``; a missing or malformed Basic header → 400.
- ``POST /v1/connect/sites``: create a site from a ``CreateConnectionPointDto``
  → 201 site with ``credentials: {name: "Default", key, secret}``; new sites
  are ``no_resources`` / ``no_upstream_registered``.
- ``GET /v1/connect/sites?page&page_size``: ``{total, items}``, newest first.
- ``GET /v1/connect/sites/{id}``, ``PATCH`` (partial, ``null`` unsets
  ``external_id`` / ``head_meter_resource_id``; 202), ``DELETE`` (204, also
  deletes the site's resources).
- ``GET /v1/connect/sites/{id}/markets``: the site's markets (default ``[]``;
  set them with ``PUT /_sandbox/powernaut/sites/{id}/markets``).
- ``POST /v1/connect/sites/{id}/credentials`` ``{name}`` → 201 ``{name, key,
  secret}`` (409 when the name exists), ``GET`` → ``{items: [{name, key,
  is_rotating}]}``, ``DELETE ?name=`` → 204.

Resources (``/v1/connect/resources``) live in ``powernaut_resources.py``.

Every ``/v1/connect`` route needs ``Authorization: Bearer <token>``. The two
read routes that accept edge-cloud auth (``GET /sites``, ``GET /sites/{id}``)
also take ``Basic base64(key:secret)`` with a site's credentials, scoped to
that site. Errors use ``{message, error, status_code}``. Bodies are validated
like the service's whitelisting validator: unknown properties, wrong types,
bad enums, non-string or badly formed decimals and invalid uuids in paths are
400s listing every problem.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
import secrets
from typing import Any
from urllib.parse import unquote
import uuid

from aiohttp import web

from .envelopes import POWERNAUT, powernaut_error
from .state import JSONDict, PowernautState, get_state
from .validation import (
    BodyError,
    RequestRejectedError,
    decimal_within,
    is_decimal_string,
    is_uuid,
    json_type,
    parse_positive_int,
    read_json,
    unknown_fields,
    utc_now_iso,
)

routes = web.RouteTableDef()

SITE_STATUSES: tuple[str, ...] = ("no_resources", "onboarded", "paused", "deleted")
UPSTREAM_STATUSES: tuple[str, ...] = (
    "no_upstream_registered",
    "no_contract",
    "contract_needs_agreement",
    "contract_pending",
    "contract_active",
    "contract_inactive",
    "paused",
    "pending_steering_readiness",
    "deleted",
    "pending",
    "connected",
    "disconnected",
)
DIRECTIONS: tuple[str, ...] = ("offtake", "injection", "bidirectional")
#: Market statuses the markets endpoint returns (``unavailable`` is the spec's
#: discriminator word for ``ineligible``; both are accepted from the control API).
MARKET_STATUSES: tuple[str, ...] = (
    "active",
    "ineligible",
    "unavailable",
    "action_required",
)
_SITE_FIELDS = (
    "location",
    "supply_points",
    "grid_identifier",
    "external_id",
    "infer_meter_data_from_resources",
)
_UPDATE_FIELDS = (*_SITE_FIELDS, "head_meter_resource_id")
_DEFAULT_PAGE_SIZE = 10
DEFAULT_CREDENTIAL_NAME = "Default"
SITE_NOT_FOUND = "Site does not exist"
_INVALID = object()


# Responses and auth


def reject(
    status: int, message: str | list[str], reason: str | None = None
) -> RequestRejectedError:
    """Build a refusal in Powernaut's envelope (``reason`` defaults to the message)."""
    text = reason or (message if isinstance(message, str) else "; ".join(message))
    return RequestRejectedError(powernaut_error(status, message), text)


def _unauthorized(reason: str) -> RequestRejectedError:
    return reject(401, "Unauthorized", reason)


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except binascii.Error, UnicodeDecodeError:
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return unquote(user), unquote(password)


def _edge_site(state: PowernautState, key: str, secret: str) -> str | None:
    for site_id, credentials in state.site_credentials.items():
        for credential in credentials.values():
            if secrets.compare_digest(
                credential["key"], key
            ) and secrets.compare_digest(credential["secret"], secret):
                return site_id
    return None


def authenticate(request: web.Request, *, edge: bool = False) -> str | None:
    """Check the caller; return None for cloud-cloud, or the site id for edge-cloud."""
    state = get_state(request)
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        if state.token_valid(POWERNAUT, value.strip()):
            return None
        raise _unauthorized("Bearer token unknown, expired or revoked")
    if scheme.lower() == "basic":
        credentials = _parse_basic(header)
        site_id = (
            _edge_site(state.powernaut, *credentials)
            if credentials is not None
            else None
        )
        if site_id is None:
            raise _unauthorized("Edge-cloud credentials unknown")
        if not edge:
            raise reject(
                403,
                "Insufficient permissions",
                "Edge-cloud auth on a cloud-cloud route",
            )
        return site_id
    raise _unauthorized("Missing Authorization: Bearer header")


async def read_body(request: web.Request) -> Any:
    """Decode the JSON body; a missing or malformed one is a 400."""
    try:
        return await read_json(request)
    except BodyError as err:
        raise reject(400, str(err)) from err


def _site_id(request: web.Request) -> str:
    site_id = request.match_info["id"]
    if not is_uuid(site_id):
        raise reject(
            400,
            "Validation failed (uuid is expected)",
            f"Site id {site_id!r} is not a uuid",
        )
    return site_id


def _site_or_404(request: web.Request, scope: str | None = None) -> JSONDict:
    site_id = _site_id(request)
    site = get_state(request).powernaut.sites.get(site_id)
    if site is None:
        raise reject(404, SITE_NOT_FOUND)
    if scope is not None and scope != site_id:
        raise reject(
            403, "Insufficient permissions", "Edge-cloud credentials of another site"
        )
    return site


# Validation of site bodies


def _check_coordinate(
    location: JSONDict, name: str, limit: int, errors: list[str]
) -> str | None:
    if name not in location:
        errors.append(f"location.{name} should not be empty")
        return None
    coordinate = location[name]
    if not isinstance(coordinate, str):
        errors.append(
            f"location.{name} must be a decimal string, not a JSON {json_type(coordinate)}"
        )
    elif not is_decimal_string(coordinate):
        errors.append(
            f'location.{name} must be a decimal string like "50.501079" '
            "(a dot and at most 6 decimals)"
        )
    elif not decimal_within(coordinate, limit):
        errors.append(f"location.{name} must be between -{limit} and {limit}")
    else:
        return coordinate
    return None


def _check_location(value: Any, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(f"location must be an object, not a JSON {json_type(value)}")
        return _INVALID
    errors.extend(
        f"property location.{name} should not exist"
        for name in unknown_fields(value, ("address", "latitude", "longitude"))
    )
    has_address = "address" in value
    has_coordinates = "latitude" in value or "longitude" in value
    if has_address and has_coordinates:
        errors.append("location must be either an address or coordinates, not both")
        return _INVALID
    if has_address:
        address = value["address"]
        if isinstance(address, str) and address.strip():
            return {"address": address}
        errors.append("location.address must be a non-empty string")
        return _INVALID
    if not has_coordinates:
        errors.append("location must have either address or latitude and longitude")
        return _INVALID
    latitude = _check_coordinate(value, "latitude", 90, errors)
    longitude = _check_coordinate(value, "longitude", 180, errors)
    if latitude is None or longitude is None:
        return _INVALID
    return {"latitude": latitude, "longitude": longitude}


def _check_supply_point(index: int, item: Any, errors: list[str]) -> JSONDict | None:
    where = f"supply_points.{index}"
    if not isinstance(item, dict):
        errors.append(f"{where} must be an object")
        return None
    extra = unknown_fields(item, ("grid_identifier", "direction"))
    errors.extend(f"property {where}.{name} should not exist" for name in extra)
    identifier = item.get("grid_identifier")
    direction = item.get("direction", "bidirectional")
    valid = not extra
    if not isinstance(identifier, str) or not identifier.strip():
        errors.append(f"{where}.grid_identifier must be a non-empty string")
        valid = False
    if direction not in DIRECTIONS:
        errors.append(
            f"{where}.direction must be one of the following values: {', '.join(DIRECTIONS)}"
        )
        valid = False
    return {"grid_identifier": identifier, "direction": direction} if valid else None


def _check_supply_points(value: Any, errors: list[str]) -> Any:
    if not isinstance(value, list):
        errors.append(f"supply_points must be an array, not a JSON {json_type(value)}")
        return _INVALID
    if not value:
        errors.append("supply_points should not be empty")
        return _INVALID
    points = [
        _check_supply_point(index, item, errors) for index, item in enumerate(value)
    ]
    valid = [point for point in points if point is not None]
    if len(valid) != len(points):
        return _INVALID
    directions = sorted(point["direction"] for point in valid)
    if directions not in (["bidirectional"], ["offtake"], ["injection", "offtake"]):
        errors.append(
            "supply_points must be a single bidirectional point, a single offtake point, "
            f"or an offtake and an injection point (got {', '.join(directions)})"
        )
        return _INVALID
    return valid


def _primary_identifier(points: list[JSONDict]) -> str:
    """Return the grid identifier of the bidirectional or offtake supply point."""
    return next(
        str(point["grid_identifier"])
        for point in points
        if point["direction"] in ("bidirectional", "offtake")
    )


def _check_grid_identifier(value: Any, errors: list[str]) -> Any:
    if isinstance(value, str) and value.strip():
        return value
    errors.append("grid_identifier must be a non-empty string")
    return _INVALID


def _check_external_id(value: Any, errors: list[str]) -> Any:
    if isinstance(value, str) and value:
        return value
    errors.append("external_id must be a string of at least 1 character, or null")
    return _INVALID


def _check_infer(value: Any, errors: list[str]) -> Any:
    if isinstance(value, bool):
        return value
    errors.append("infer_meter_data_from_resources must be a boolean value")
    return _INVALID


def _check_head_meter(value: Any, errors: list[str]) -> Any:
    if is_uuid(value):
        return value
    errors.append("head_meter_resource_id must be a UUID, or null")
    return _INVALID


type _Checker = Callable[[Any, list[str]], Any]

#: Site body fields: how to check a value, and whether ``null`` is accepted.
_FIELD_CHECKS: dict[str, tuple[_Checker, bool]] = {
    "location": (_check_location, False),
    "supply_points": (_check_supply_points, False),
    "grid_identifier": (_check_grid_identifier, False),
    "external_id": (_check_external_id, True),
    "infer_meter_data_from_resources": (_check_infer, False),
    "head_meter_resource_id": (_check_head_meter, True),
}


def _validate_site_body(body: Any, *, update: bool) -> tuple[JSONDict, list[str]]:
    """Check a create/update body; return the accepted fields and the errors."""
    if not isinstance(body, dict):
        return {}, [f"The body must be a JSON object, not a JSON {json_type(body)}"]
    allowed = _UPDATE_FIELDS if update else _SITE_FIELDS
    errors = [
        f"property {name} should not exist" for name in unknown_fields(body, allowed)
    ]
    if not update:
        errors.extend(
            f"{name} should not be empty"
            for name in ("location", "supply_points")
            if name not in body
        )
    accepted: JSONDict = {}
    for name in allowed:
        if name not in body:
            continue
        check, nullable = _FIELD_CHECKS[name]
        if body[name] is None:
            if nullable:
                accepted[name] = None
            else:
                errors.append(f"{name} cannot be null")
        elif (value := check(body[name], errors)) is not _INVALID:
            accepted[name] = value
    if (
        "grid_identifier" in accepted
        and "supply_points" in accepted
        and accepted["grid_identifier"]
        != _primary_identifier(accepted["supply_points"])
    ):
        errors.append(
            "grid_identifier must match the bidirectional or offtake supply point"
        )
    return accepted, errors


def _new_credential(name: str) -> JSONDict:
    return {
        "name": name,
        "key": str(uuid.uuid4()),
        "secret": secrets.token_urlsafe(32),
        "is_rotating": False,
    }


def _public_credential(credential: JSONDict) -> JSONDict:
    return {key: credential[key] for key in ("name", "key", "secret")}


# Routes


@routes.post("/v1/auth/token")
async def create_token(request: web.Request) -> web.Response:
    """Exchange the client id and secret (HTTP Basic) for a bearer token."""
    state = get_state(request)
    credentials = _parse_basic(request.headers.get("Authorization", ""))
    if credentials is None:
        raise reject(
            400,
            "Missing or malformed Authorization header: expected Basic base64(client_id:client_secret)",
        )
    client_id, client_secret = credentials
    if not state.credentials_valid(
        POWERNAUT, client_id=client_id, client_secret=client_secret
    ):
        raise reject(403, "Invalid credentials")
    token = state.issue_token(POWERNAUT)
    return web.json_response(
        {
            "access_token": token.token,
            "expires_in": int(token.expires_at - token.issued_at),
            "token_type": "Bearer",
        }
    )


@routes.post("/v1/connect/sites")
async def create_site(request: web.Request) -> web.Response:
    """Create a site and its Default edge-cloud credentials."""
    authenticate(request)
    accepted, errors = _validate_site_body(await read_body(request), update=False)
    if errors:
        raise reject(400, errors)
    state = get_state(request).powernaut
    points: list[JSONDict] = accepted["supply_points"]
    now = utc_now_iso()
    site: JSONDict = {
        "id": str(uuid.uuid4()),
        "status": "no_resources",
        "upstream_status": "no_upstream_registered",
        "location": accepted["location"],
        "grid_identifier": _primary_identifier(points),
        "external_id": accepted.get("external_id"),
        "supply_points": points,
        "infer_meter_data_from_resources": accepted.get(
            "infer_meter_data_from_resources", False
        ),
        "head_meter_resource_id": None,
        "created_at": now,
        "modified_at": now,
        "last_seen_at": None,
    }
    credential = _new_credential(DEFAULT_CREDENTIAL_NAME)
    state.sites[site["id"]] = site
    state.site_credentials[site["id"]] = {credential["name"]: credential}
    return web.json_response(
        {**site, "credentials": _public_credential(credential)}, status=201
    )


@routes.get("/v1/connect/sites")
async def list_sites(request: web.Request) -> web.Response:
    """List the sites, newest first, one page at a time."""
    scope = authenticate(request, edge=True)
    errors: list[str] = []
    pages: dict[str, int] = {}
    for name, default in (("page", 1), ("page_size", _DEFAULT_PAGE_SIZE)):
        raw = request.query.get(name)
        value = default if raw is None else parse_positive_int(raw)
        if value is None:
            errors.append(f"{name} must be an integer not less than 1")
        else:
            pages[name] = value
    if errors:
        raise reject(400, errors)
    sites = [
        site
        for site in reversed(get_state(request).powernaut.sites.values())
        if scope is None or site["id"] == scope
    ]
    start = (pages["page"] - 1) * pages["page_size"]
    return web.json_response(
        {"total": len(sites), "items": sites[start : start + pages["page_size"]]}
    )


@routes.get("/v1/connect/sites/{id}")
async def get_site(request: web.Request) -> web.Response:
    """Return one site."""
    scope = authenticate(request, edge=True)
    return web.json_response(_site_or_404(request, scope))


@routes.patch("/v1/connect/sites/{id}")
async def update_site(request: web.Request) -> web.Response:
    """Update the given fields of a site (202)."""
    authenticate(request)
    _site_id(request)
    accepted, errors = _validate_site_body(await read_body(request), update=True)
    if errors:
        raise reject(400, errors)
    site = _site_or_404(request)
    if "grid_identifier" in accepted and "supply_points" not in accepted:
        accepted["supply_points"] = [
            {
                "grid_identifier": accepted["grid_identifier"],
                "direction": "bidirectional",
            }
        ]
    if "supply_points" in accepted:
        accepted["grid_identifier"] = _primary_identifier(accepted["supply_points"])
    changed = {key: value for key, value in accepted.items() if site.get(key) != value}
    if changed:
        site.update(changed)
        site["modified_at"] = utc_now_iso()
    return web.json_response(site, status=202)


@routes.delete("/v1/connect/sites/{id}")
async def delete_site(request: web.Request) -> web.Response:
    """Delete a site with its credentials, markets and resources (204)."""
    authenticate(request)
    site = _site_or_404(request)
    state = get_state(request).powernaut
    del state.sites[site["id"]]
    state.site_credentials.pop(site["id"], None)
    state.markets.pop(site["id"], None)
    for resource_id in [
        key
        for key, resource in state.resources.items()
        if resource["site_id"] == site["id"]
    ]:
        del state.resources[resource_id]
    return web.Response(status=204)


@routes.get("/v1/connect/sites/{id}/markets")
async def list_markets(request: web.Request) -> web.Response:
    """Return the markets the site can take part in."""
    authenticate(request)
    site = _site_or_404(request)
    return web.json_response(get_state(request).powernaut.markets.get(site["id"], []))


@routes.post("/v1/connect/sites/{id}/credentials")
async def create_credentials(request: web.Request) -> web.Response:
    """Create a named edge-cloud credential set (201, 409 when the name exists)."""
    authenticate(request)
    _site_id(request)
    body = await read_body(request)
    if not isinstance(body, dict):
        raise reject(
            400, f"The body must be a JSON object, not a JSON {json_type(body)}"
        )
    errors = [
        f"property {name} should not exist" for name in unknown_fields(body, ("name",))
    ]
    name = body.get("name", DEFAULT_CREDENTIAL_NAME)
    if not isinstance(name, str) or not 1 <= len(name) <= 512:
        errors.append("name must be a string of 1 to 512 characters")
    if errors:
        raise reject(400, errors)
    site = _site_or_404(request)
    credentials = get_state(request).powernaut.site_credentials.setdefault(
        site["id"], {}
    )
    if name in credentials:
        raise reject(
            409,
            "A credential set with this name already exists for this connection point",
        )
    credentials[name] = _new_credential(name)
    return web.json_response(_public_credential(credentials[name]), status=201)


@routes.get("/v1/connect/sites/{id}/credentials")
async def list_credentials(request: web.Request) -> web.Response:
    """List the site's credential sets, without secrets."""
    authenticate(request)
    site = _site_or_404(request)
    credentials = get_state(request).powernaut.site_credentials.get(site["id"], {})
    return web.json_response(
        {
            "items": [
                {key: credential[key] for key in ("name", "key", "is_rotating")}
                for credential in credentials.values()
            ]
        }
    )


@routes.delete("/v1/connect/sites/{id}/credentials")
async def delete_credentials(request: web.Request) -> web.Response:
    """Revoke the named credential set (204)."""
    authenticate(request)
    _site_id(request)
    name = request.query.get("name")
    if name is None or not 1 <= len(name) <= 512:
        raise reject(
            400, "name must be a string of 1 to 512 characters (query parameter)"
        )
    site = _site_or_404(request)
    credentials = get_state(request).powernaut.site_credentials.get(site["id"], {})
    if name not in credentials:
        raise reject(404, "Credential set does not exist")
    del credentials[name]
    return web.Response(status=204)


# Used by the control API


def validate_markets(body: Any) -> list[JSONDict]:
    """Check a list of market objects as the markets endpoint returns them."""
    if not isinstance(body, list):
        raise TypeError("The body must be a JSON array of market objects")
    markets: list[JSONDict] = []
    for index, market in enumerate(body):
        where = f"markets[{index}]"
        if not isinstance(market, dict):
            raise TypeError(f"{where} must be an object")
        if extra := unknown_fields(market, ("name", "status", "action")):
            raise ValueError(f"{where} has unknown fields: {', '.join(extra)}")
        name = market.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name must be a non-empty string")
        status = market.get("status")
        if status not in MARKET_STATUSES:
            raise ValueError(
                f"{where}.status must be one of {', '.join(MARKET_STATUSES)}"
            )
        if status != "action_required":
            if "action" in market:
                raise ValueError(f"{where}.action is only allowed with action_required")
            markets.append({"name": name, "status": status})
            continue
        action = market.get("action")
        if (
            not isinstance(action, dict)
            or unknown_fields(action, ("name", "url"))
            or action.get("name") != "consent_required"
            or not isinstance(action.get("url"), str)
            or not action["url"]
        ):
            raise ValueError(
                f'{where}.action must be {{"name": "consent_required", "url": "<url>"}}'
            )
        markets.append(
            {
                "name": name,
                "status": status,
                "action": {"name": "consent_required", "url": action["url"]},
            }
        )
    return markets
