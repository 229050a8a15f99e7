"""FlexMeasures (API v3.0-32, server 1.0.1) under ``/api``.

Routes:

- ``GET /api/``: ``{message, versions: ["v3_0"], flexmeasures_version}``.
- ``POST /api/requestAuthToken`` ``{email, password}`` → 200 ``{auth_token,
  user_id}``; 422 for a missing or unknown field, 404 for an unknown email,
  401 for a wrong (or revoked) password.
- ``GET /api/v3_0/health/ready``: ``{database_sql, database_redis}``.
- ``GET /api/v3_0/users/{id}``: the user (to learn its ``account_id``).
- ``GET /api/v3_0/assets/types``: ``[{id, name, description}]``.
- ``GET /api/v3_0/assets``: the account's assets (child assets included, with
  ``parent_asset_id``) as a bare list; with ``page`` (and ``per-page``,
  default 10) ``{data, num-records, filtered-records, status: 200}``.
  ``root=<id>`` (and ``depth``, 0 = the root only) selects an asset and its
  descendants, ``fields=id|name|…`` the keys of each asset (default: all).
- ``POST /api/v3_0/assets``: create an asset (201). ``name`` and
  ``generic_asset_type_id`` are required, ``account_id`` must be the user's
  account (a user who is not a site admin cannot create public assets, so it
  must be sent, unless ``parent_asset_id`` names an existing asset of the
  account: the child inherits its account), ``latitude``/``longitude`` are
  numbers, and ``attributes``, ``flex_context``, ``flex_model``,
  ``sensors_to_show`` and ``sensors_to_show_as_kpis`` are JSON *strings*.
  Names are unique among siblings (same parent) within an account: 422
  otherwise (``An asset with the name 'x' already exists under parent asset
  n``). A stored ``flex_model`` / ``flex_context`` is checked as
  FlexMeasures' DB schemas check it (known keys; fixed quantities in fitting
  units or ``{"sensor": id}``; no time series; see
  ``flexmeasures_schedules.check_stored_flex_model``), its errors beside
  the asset's own fields. ``capacity_in_mw`` in a new asset's attributes is moved into
  the flex-model as ``power-capacity`` (``0.005`` → ``"5.0 kW"``), as
  FlexMeasures 1.0.1 does; a PATCH stores the attributes as sent.
- ``GET``, ``PATCH`` (partial, incl. ``parent_asset_id``; 200) and ``DELETE``
  (204, cascades to child assets and all their sensors)
  ``/api/v3_0/assets/{id}``. An asset's ``sensors`` lists ``[{id, name}]``.
- ``POST /api/v3_0/sensors`` ``{name, unit, event_resolution,
  generic_asset_id, timezone?, attributes? (JSON string)}`` → 201 ``{id,
  name, unit, timezone, event_resolution, entity_address, attributes (JSON
  string), generic_asset_id}``; 422 for missing or invalid fields, a unit
  FlexMeasures cannot handle, a duration that is not ISO 8601 (or nominal),
  an unknown asset, or a name already used on the asset.
- ``GET /api/v3_0/sensors/{id}`` (200, plus ``status: 200``), ``PATCH``
  (partial: ``name``, ``unit``, ``timezone``, ``event_resolution``,
  ``attributes`` as a JSON string; ``id``, ``generic_asset_id`` and
  ``entity_address`` cannot be updated; 200 the whole sensor) and ``DELETE``
  (204); an unknown id is 422 ``{"path": {"id": ["No sensor found with ID
  n."]}}`` like FlexMeasures' ``SensorIdField`` (not recorded as a violation).
  A sensor created without ``timezone`` gets the server's
  ``FLEXMEASURES_TIMEZONE`` (``Europe/Amsterdam`` here, not UTC).
- ``GET /api/v3_0/sensors?asset=<id>`` (legacy ``asset_id``; or ``account``,
  ``unit``, ``filter``): sensors of the asset and its descendants (default:
  of the account) as a bare list; with ``page`` ``{data, num-records,
  filtered-records, status: 200}``.
- ``GET /api/v3_0/assets/{id}/sensors``: the asset's own sensors, **always
  paginated** (FlexMeasures calls ``db.paginate`` even without ``page``):
  ``{data: [sensor], num-records, filtered-records, status: 200}`` with
  ``page`` default 1 and ``per-page`` default 10; ``filter``, ``sort-by``
  (``id|name|resolution``) and ``sort-dir`` are supported.
- ``POST`` and ``GET /api/v3_0/sensors/{id}/data``: see ``flexmeasures_data.py``.

Dict answers of views FlexMeasures decorates with ``@as_json`` (GET/PATCH of
an asset, GET of a sensor, the paginated lists) carry ``"status": 200``
(flask-json's ``JSON_ADD_STATUS``); creations (201) and bare lists do not.

The API routes need the bare token in ``Authorization`` (``Bearer <token>``
is refused with 401 ``{"message": …, "status": "UNAUTHORIZED"}``). Body and
query problems answer 422 ``{"message": {"json"|"query"|"path": {field:
[msgs]}}, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}``; unknown
assets 404 ``{"message", "status": 404}``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
import difflib
from functools import cache, partial
import json
import re
import shlex
from typing import Any, ClassVar
import zoneinfo

from aiohttp import web

from .envelopes import (
    FLEXMEASURES,
    FLEXMEASURES_API_VERSION,
    FLEXMEASURES_FORBIDDEN,
    FLEXMEASURES_VERSION,
    flexmeasures_http_error,
    flexmeasures_rejected,
    flexmeasures_unauthenticated,
    flexmeasures_unprocessable,
)
from .state import FLEXMEASURES_USER_ID, FlexMeasuresState, JSONDict, get_state
from .validation import (
    BodyError,
    RequestRejectedError,
    is_int,
    is_number,
    parse_positive_int,
    read_json,
    unknown_fields,
)

routes = web.RouteTableDef()

V3 = "/api/v3_0"
SENSORS = f"{V3}/sensors"
#: The server timezone a sensor gets when none is sent (FlexMeasures uses
#: ``FLEXMEASURES_TIMEZONE``; this sandbox is set up for Dutch homes).
SERVER_TIMEZONE = "Europe/Amsterdam"
#: Entity addresses are ``ea1.<yyyy-mm>.<reversed domain>:fm1.<sensor id>``.
ENTITY_ADDRESS_PREFIX = "ea1.2023-08.localhost:fm1"
#: The keys of an asset as ``GET /assets/{id}`` answers it (``fields`` picks from these).
ASSET_RESPONSE_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "description",
    "account_id",
    "owner",
    "latitude",
    "longitude",
    "generic_asset_type_id",
    "generic_asset_type",
    "attributes",
    "parent_asset_id",
    "child_assets",
    "sensors",
    "sensors_to_show",
    "flex_context",
    "flex_model",
    "sensors_to_show_as_kpis",
    "external_id",
)
SENSOR_NAME_MAX_LENGTH = 120
SENSOR_UNIT_MAX_LENGTH = 80
SI_PREFIXES: tuple[str, ...] = ("", "m", "k", "M", "G", "T")
SI_BASE_UNITS: tuple[str, ...] = (
    "W",
    "Wh",
    "VA",
    "VAh",
    "var",
    "varh",
    "VAr",
    "J",
    "V",
    "A",
    "Ah",
    "Hz",
    "g",
    "t",
    "m",
    "s",
    "l",
    "L",
)
OTHER_UNITS: frozenset[str] = frozenset(
    {
        "%",
        "°C",
        "°F",
        "K",
        "min",
        "h",
        "d",
        "m²",
        "m³",
        "W/m²",
        "dimensionless",
    }
)
CURRENCY_UNITS: frozenset[str] = frozenset(
    {
        "EUR",
        "USD",
        "GBP",
        "NOK",
        "SEK",
        "DKK",
        "CHF",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "ISK",
        "JPY",
        "AUD",
        "CAD",
        "CNY",
        "INR",
        "KRW",
    }
)
MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."
NOT_NULL = "Field may not be null."
#: Asset fields that travel as JSON strings, with the JSON type they must hold.
JSON_STRING_FIELDS: dict[str, type] = {
    "attributes": dict,
    "flex_context": dict,
    "flex_model": dict,
    "sensors_to_show": list,
    "sensors_to_show_as_kpis": list,
}
_ASSET_INPUT_FIELDS = (
    "name",
    "description",
    "account_id",
    "latitude",
    "longitude",
    "generic_asset_type_id",
    "parent_asset_id",
    "external_id",
    *JSON_STRING_FIELDS,
)

# Responses and auth


def _unprocessable(
    location: str, errors: dict[str, list[str]] | str
) -> RequestRejectedError:
    reason = (
        errors
        if isinstance(errors, str)
        else "; ".join(
            f"{field}: {' '.join(msgs) if isinstance(msgs, list) else json.dumps(msgs)}"
            for field, msgs in errors.items()
        )
    )
    return RequestRejectedError(flexmeasures_unprocessable({location: errors}), reason)


def _authenticate(request: web.Request) -> JSONDict:
    """Check the bare token in Authorization; return the user."""
    token = request.headers.get("Authorization", "").strip()
    state = get_state(request)
    if not token or not state.token_valid(FLEXMEASURES, token):
        reason = (
            "Authorization must be the bare token, without 'Bearer'"
            if token.lower().startswith("bearer ")
            else "Missing, unknown or expired token"
        )
        raise RequestRejectedError(flexmeasures_unauthenticated(), reason)
    return state.flexmeasures.users[FLEXMEASURES_USER_ID]


def authenticate(request: web.Request) -> JSONDict:
    """Check the bare token in Authorization (401 otherwise); return the user."""
    return _authenticate(request)


async def _body(request: web.Request) -> Any:
    try:
        return await read_json(request)
    except BodyError as err:
        raise RequestRejectedError(
            flexmeasures_http_error(
                400,
                "The browser (or proxy) sent a request that this server could not understand.",
            ),
            str(err),
        ) from err


def _as_json(body: JSONDict, status: int = 200) -> web.Response:
    """Answer like a view decorated with flask-json's ``@as_json``.

    With ``JSON_ADD_STATUS`` (flask-json's default, which FlexMeasures keeps)
    a dict answer carries the HTTP status as ``"status"``; lists do not.
    """
    return web.json_response({**body, "status": status}, status=status)


def _asset_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise _unprocessable("path", {"id": ["Not a valid integer."]})
    return int(raw)


def _asset_or_404(request: web.Request, user: JSONDict) -> JSONDict:
    asset_id = _asset_id(request)
    asset = get_state(request).flexmeasures.assets.get(asset_id)
    if asset is None:
        raise RequestRejectedError(
            flexmeasures_http_error(404, f"No asset found with ID {asset_id}."),
            f"Asset {asset_id} does not exist",
        )
    if asset["account_id"] != user["account_id"]:
        raise RequestRejectedError(
            flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
            f"Asset {asset_id} belongs to another account",
        )
    return asset


# Asset validation and serialisation


class _FieldError(ValueError):
    """One field of an asset body is invalid (the message is marshmallow's)."""


def _string(value: Any, store: FlexMeasuresState) -> str:
    if not isinstance(value, str):
        raise _FieldError("Not a valid string.")
    return value


def _name(value: Any, store: FlexMeasuresState) -> str:
    if not _string(value, store).strip():
        raise _FieldError("Shorter than minimum length 1.")
    return str(value)


def _external_id(value: Any, store: FlexMeasuresState) -> str | None:
    return _string(value, store).strip() or None


def _coordinate(name: str, limit: int, value: Any, store: FlexMeasuresState) -> float:
    if not is_number(value):
        raise _FieldError("Not a valid number.")
    if value > limit:
        raise _FieldError(
            f"{name.capitalize()} {value} exceeds the maximum {name} of {limit} degrees."
        )
    if value < -limit:
        raise _FieldError(
            f"{name.capitalize()} {value} exceeds the minimum {name} of -{limit} degrees."
        )
    return float(value)


def _asset_type_id(value: Any, store: FlexMeasuresState) -> int:
    if not is_int(value):
        raise _FieldError("Not a valid integer.")
    if value not in store.asset_types:
        raise _FieldError(f"GenericAssetType with id {value} doesn't exist.")
    return value


def _parent_asset_id(value: Any, store: FlexMeasuresState) -> int:
    if not is_int(value):
        raise _FieldError("Not a valid integer.")
    if value not in store.assets:
        raise _FieldError(f"Parent GenericAsset with id {value} doesn't exist.")
    return value


def _json_string(expected: type, value: Any, store: FlexMeasuresState) -> Any:
    if not isinstance(value, str):
        raise _FieldError("Not a valid JSON string.")
    try:
        decoded = json.loads(value)
    except ValueError:
        raise _FieldError("Not a valid JSON string.") from None
    if not isinstance(decoded, expected):
        kind = "an object" if expected is dict else "a list"
        raise _FieldError(f"Must be a JSON string holding {kind}.")
    return decoded


type _Checker = Callable[[Any, FlexMeasuresState], Any]

#: Asset body fields (``account_id`` aside): how to check them, and whether
#: ``null`` is accepted.
_ASSET_FIELDS: dict[str, tuple[_Checker, bool]] = {
    "name": (_name, False),
    "description": (_string, True),
    "external_id": (_external_id, False),
    "latitude": (partial(_coordinate, "latitude", 90), True),
    "longitude": (partial(_coordinate, "longitude", 180), True),
    "generic_asset_type_id": (_asset_type_id, False),
    "parent_asset_id": (_parent_asset_id, True),
    **{
        name: (partial(_json_string, expected), False)
        for name, expected in JSON_STRING_FIELDS.items()
    },
}


def _check_asset_fields(
    body: JSONDict, store: FlexMeasuresState, errors: dict[str, list[str]]
) -> JSONDict:
    """Check the fields present in an asset body; return them as stored values."""
    for name in unknown_fields(body, _ASSET_INPUT_FIELDS):
        errors[name] = [UNKNOWN]
    values: JSONDict = {}
    for name, (check, nullable) in _ASSET_FIELDS.items():
        if name not in body:
            continue
        if body[name] is None:
            if nullable:
                values[name] = None
            else:
                errors[name] = [NOT_NULL]
            continue
        try:
            values[name] = check(body[name], store)
        except _FieldError as err:
            errors[name] = [str(err)]
    _check_stored_flex(values, store, errors)
    return values


def _check_stored_flex(
    values: JSONDict, store: FlexMeasuresState, errors: dict[str, list[str]]
) -> None:
    """Check a stored ``flex_model`` / ``flex_context`` as FlexMeasures' DB schemas do.

    Their errors stand beside the asset's own (``{"json": {"soc-at-start":
    ["Unknown field."]}}``), as a real 1.0.1 server answers them.
    """
    from .flexmeasures_schedules import (
        check_stored_flex_context,
        check_stored_flex_model,
    )

    for name, check in (
        ("flex_model", check_stored_flex_model),
        ("flex_context", check_stored_flex_context),
    ):
        if isinstance(values.get(name), dict):
            errors.update(check(store, values[name]))


def _move_capacity_in_mw(record: JSONDict) -> None:
    """Move ``capacity_in_mw`` from a new asset's attributes into its flex-model.

    FlexMeasures 1.0.1 logs a warning and keeps the capacity as the asset's
    flex-model ``power-capacity`` in kW (``0.005`` → ``"5.0 kW"``; platform
    notes §6, checked against a real server); a ``power-capacity`` already in
    the flex-model wins. Only at creation: a later PATCH stores the
    attributes as sent.
    """
    attributes = record["attributes"]
    if "capacity_in_mw" not in attributes:
        return
    capacity = attributes.pop("capacity_in_mw")
    if is_number(capacity) and "power-capacity" not in record["flex_model"]:
        kw = float(Decimal(str(capacity)).scaleb(3))
        record["flex_model"] = {**record["flex_model"], "power-capacity": f"{kw} kW"}


def _check_account(
    body: JSONDict,
    store: FlexMeasuresState,
    user: JSONDict,
    errors: dict[str, list[str]],
) -> int | None:
    """Check ``account_id`` of a new asset; return it (None when not given or invalid)."""
    account_id = body.get("account_id")
    if account_id is None:
        return None
    if not is_int(account_id):
        errors["account_id"] = ["Not a valid integer."]
    elif account_id not in store.accounts:
        errors["account_id"] = [f"Account with Id {account_id} doesn't exist."]
    elif account_id != user["account_id"]:
        errors["account_id"] = [
            "User is not allowed to create assets for this account."
        ]
    else:
        return account_id
    return None


def _name_taken(
    store: FlexMeasuresState,
    name: str,
    account_id: int | None,
    parent_id: int | None,
    exclude: int | None = None,
) -> bool:
    return any(
        asset["name"] == name
        and asset["account_id"] == account_id
        and asset["parent_asset_id"] == parent_id
        and asset["id"] != exclude
        for asset in store.assets.values()
    )


def _name_taken_message(
    name: str, parent_id: int | None, account_id: int | None
) -> str:
    if parent_id is not None:
        return f"An asset with the name '{name}' already exists under parent asset {parent_id}"
    return f"An asset with the name '{name}' already exists in account {account_id}"


def _descendants(store: FlexMeasuresState, asset_id: int) -> list[int]:
    """Return the ids of an asset's children, grandchildren and so on."""
    found: list[int] = []
    parents = [asset_id]
    while parents:
        children = [
            child["id"]
            for child in store.assets.values()
            if child["parent_asset_id"] in parents and child["id"] not in found
        ]
        found.extend(children)
        parents = children
    return found


def _check_parent_account(
    store: FlexMeasuresState, parent_id: int, account_id: int | None
) -> None:
    """Refuse (403) a parent asset in another account than the child's."""
    if store.assets[parent_id]["account_id"] != account_id:
        raise RequestRejectedError(
            flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
            f"Parent asset {parent_id} belongs to another account",
        )


def _dump_asset(store: FlexMeasuresState, record: JSONDict) -> JSONDict:
    """Serialise an asset record the way ``GenericAssetSchema`` dumps it."""
    asset_type = store.asset_types[record["generic_asset_type_id"]]
    account = store.accounts.get(record["account_id"])
    return {
        "id": record["id"],
        "name": record["name"],
        "description": record["description"],
        "account_id": record["account_id"],
        "owner": {"id": account["id"], "name": account["name"]} if account else None,
        "latitude": record["latitude"],
        "longitude": record["longitude"],
        "generic_asset_type_id": asset_type["id"],
        "generic_asset_type": {"id": asset_type["id"], "name": asset_type["name"]},
        "attributes": json.dumps(record["attributes"]),
        "parent_asset_id": record["parent_asset_id"],
        "child_assets": [
            {
                "id": child["id"],
                "name": child["name"],
                "account_id": child["account_id"],
                "generic_asset_type": {
                    "id": child["generic_asset_type_id"],
                    "name": store.asset_types[child["generic_asset_type_id"]]["name"],
                },
            }
            for child in store.assets.values()
            if child["parent_asset_id"] == record["id"]
        ],
        "sensors": [
            {"id": sensor["id"], "name": sensor["name"]}
            for sensor in store.sensors.values()
            if sensor["generic_asset_id"] == record["id"]
        ],
        "sensors_to_show": json.dumps(record["sensors_to_show"]),
        "flex_context": json.dumps(record["flex_context"]),
        "flex_model": json.dumps(record["flex_model"]),
        "sensors_to_show_as_kpis": json.dumps(record["sensors_to_show_as_kpis"]),
        "external_id": record["external_id"],
    }


def _refresh(store: FlexMeasuresState, *asset_ids: int | None) -> None:
    """Re-serialise stored assets (the store holds dumps, parents list children)."""
    for asset_id in asset_ids:
        if asset_id is not None and asset_id in store.assets:
            store.assets[asset_id] = _dump_asset(store, _record(store.assets[asset_id]))


def _record(asset: JSONDict) -> JSONDict:
    """Turn a stored asset dump back into plain values."""
    record = dict(asset)
    for name in JSON_STRING_FIELDS:
        record[name] = json.loads(asset[name])
    return record


# Routes


@routes.get("/api/")
async def versions(request: web.Request) -> web.Response:
    """List the API versions (public)."""
    return web.json_response(
        {
            "message": "For these API versions a public endpoint is available, listing its service. "
            "An authentication token can be requested at: /api/requestAuthToken",
            "versions": [FLEXMEASURES_API_VERSION],
            "flexmeasures_version": FLEXMEASURES_VERSION,
        }
    )


@routes.post("/api/requestAuthToken")
async def request_auth_token(request: web.Request) -> web.Response:
    """Exchange email and password for a token."""
    state = get_state(request)
    body = await _body(request)
    if not isinstance(body, dict):
        raise _unprocessable("json", {"_schema": ["Invalid input type."]})
    errors: dict[str, list[str]] = {
        name: [UNKNOWN] for name in unknown_fields(body, ("email", "password"))
    }
    for name in ("email", "password"):
        if name not in body:
            errors[name] = [MISSING]
        elif not isinstance(body[name], str):
            errors[name] = ["Not a valid string."]
    if errors:
        raise _unprocessable("json", errors)
    user = next(
        (
            user
            for user in state.flexmeasures.users.values()
            if user["email"] == body["email"]
        ),
        None,
    )
    if user is None:
        raise RequestRejectedError(
            web.json_response(
                {"errors": [f"User with email '{body['email']}' does not exist"]},
                status=404,
            ),
            "Unknown email",
        )
    if not state.credentials_valid(
        FLEXMEASURES, email=body["email"], password=body["password"]
    ):
        raise RequestRejectedError(
            web.json_response(
                {"errors": ["User password does not match."]}, status=401
            ),
            "Password refused",
        )
    token = state.issue_token(FLEXMEASURES)
    return web.json_response({"auth_token": token.token, "user_id": user["id"]})


@routes.get(f"{V3}/health/ready")
async def health_ready(request: web.Request) -> web.Response:
    """Report the server's readiness (public)."""
    return web.json_response({"database_sql": True, "database_redis": True})


@routes.get(f"{V3}/users/{{id}}")
async def get_user(request: web.Request) -> web.Response:
    """Return a user (only the caller)."""
    user = _authenticate(request)
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise _unprocessable("path", {"id": ["Not a valid integer."]})
    if int(raw) != user["id"]:
        raise RequestRejectedError(
            flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
            "Another user's data",
        )
    return web.json_response(user)


@routes.get(f"{V3}/assets/types")
async def asset_types(request: web.Request) -> web.Response:
    """List the generic asset types."""
    _authenticate(request)
    return web.json_response(list(get_state(request).flexmeasures.asset_types.values()))


def _subtree(store: FlexMeasuresState, root_id: int, depth: int | None) -> set[int]:
    """Return the root and its descendants down to ``depth`` levels (all when None)."""
    found = {root_id}
    frontier = {root_id}
    level = 0
    while frontier and (depth is None or level < depth):
        frontier = {
            asset["id"]
            for asset in store.assets.values()
            if asset["parent_asset_id"] in frontier and asset["id"] not in found
        }
        found |= frontier
        level += 1
    return found


def _response_fields(request: web.Request) -> list[str] | None:
    """Parse ``fields`` (``id|name|…``): the asset keys to answer, None for all."""
    raw = request.query.get("fields")
    if raw is None:
        return None
    fields = [name.strip() for name in raw.split("|") if name.strip()]
    if unknown := [name for name in fields if name not in ASSET_RESPONSE_FIELDS]:
        raise _unprocessable(
            "query", {"fields": [f"Unknown asset field(s): {', '.join(unknown)}."]}
        )
    return fields


@routes.get(f"{V3}/assets")
async def list_assets(request: web.Request) -> web.Response:
    """List the account's assets (children included); paginated when ``page`` is given.

    ``root`` (with ``depth``) selects an asset and its descendants; ``fields``
    (``id|name|parent_asset_id``) selects the keys of each asset.
    """
    user = _authenticate(request)
    store = get_state(request).flexmeasures
    page, per_page = _pagination(request)
    fields = _response_fields(request)
    raw_depth = request.query.get("depth")
    if raw_depth is not None and not raw_depth.isdigit():
        raise _unprocessable(
            "query", {"depth": ["Must be greater than or equal to 0."]}
        )
    raw_root = request.query.get("root")
    if raw_root is not None:
        root = _query_asset(request, user, raw_root, "query", "root")
        depth = None if raw_depth is None else int(raw_depth)
        selected = _subtree(store, root["id"], depth)
        assets = [asset for key, asset in store.assets.items() if key in selected]
    else:
        assets = [
            asset
            for asset in store.assets.values()
            if asset["account_id"] == user["account_id"]
        ]
    if fields is not None:
        assets = [
            {key: value for key, value in asset.items() if key in fields}
            for asset in assets
        ]
    if page is None:
        return web.json_response(assets)
    start = (page - 1) * per_page
    return _as_json(
        {
            "data": assets[start : start + per_page],
            "num-records": len(assets),
            "filtered-records": len(assets),
        }
    )


@routes.post(f"{V3}/assets")
async def create_asset(request: web.Request) -> web.Response:
    """Create an asset in the user's account (201)."""
    user = _authenticate(request)
    body = await _body(request)
    store = get_state(request).flexmeasures
    if not isinstance(body, dict):
        raise _unprocessable("json", {"_schema": ["Invalid input type."]})
    errors: dict[str, list[str]] = {}
    values = _check_asset_fields(body, store, errors)
    for name in ("name", "generic_asset_type_id"):
        if name not in body:
            errors[name] = [MISSING]
    account_id = _check_account(body, store, user, errors)
    parent_id = values.get("parent_asset_id")
    if account_id is None and parent_id is not None:
        account_id = store.assets[parent_id]["account_id"]  # the child inherits it
    if (
        "name" in values
        and "account_id" not in errors
        and _name_taken(store, values["name"], account_id, parent_id)
    ):
        errors["name"] = [_name_taken_message(values["name"], parent_id, account_id)]
    if errors:
        raise _unprocessable("json", errors)
    if parent_id is not None:
        _check_parent_account(store, parent_id, user["account_id"])
    if account_id is None:
        raise RequestRejectedError(
            flexmeasures_rejected(
                403,
                "INVALID_SENDER",
                "Only site admins may create public assets (account_id=None).",
            ),
            "account_id missing: a user who is not a site admin must send account_id",
            violation=True,
        )
    record: JSONDict = {
        "id": store.next_asset_id,
        "name": values["name"],
        "description": values.get("description"),
        "account_id": account_id,
        "latitude": values.get("latitude"),
        "longitude": values.get("longitude"),
        "generic_asset_type_id": values["generic_asset_type_id"],
        "parent_asset_id": parent_id,
        "external_id": values.get("external_id"),
        "attributes": values.get("attributes", {}),
        "flex_context": values.get("flex_context", {}),
        "flex_model": values.get("flex_model", {}),
        "sensors_to_show": values.get("sensors_to_show", []),
        "sensors_to_show_as_kpis": values.get("sensors_to_show_as_kpis", []),
    }
    _move_capacity_in_mw(record)
    store.next_asset_id += 1
    store.assets[record["id"]] = _dump_asset(store, record)
    _refresh(store, parent_id)
    return web.json_response(store.assets[record["id"]], status=201)


@routes.get(f"{V3}/assets/{{id}}")
async def get_asset(request: web.Request) -> web.Response:
    """Return one asset."""
    user = _authenticate(request)
    return _as_json(_asset_or_404(request, user))


@routes.patch(f"{V3}/assets/{{id}}")
async def patch_asset(request: web.Request) -> web.Response:
    """Change the given fields of an asset (200)."""
    user = _authenticate(request)
    asset = _asset_or_404(request, user)
    body = await _body(request)
    if not isinstance(body, dict) or not body:
        raise _unprocessable("json", "No JSON data provided.")
    store = get_state(request).flexmeasures
    errors: dict[str, list[str]] = {}
    values = _check_asset_fields(body, store, errors)
    if "account_id" in body and body["account_id"] != asset["account_id"]:
        errors["account_id"] = ["The account of an asset cannot be changed."]
    if values.get("parent_asset_id") == asset["id"]:
        errors["parent_asset_id"] = ["An asset cannot be its own parent."]
    elif values.get("parent_asset_id") in _descendants(store, asset["id"]):
        errors["parent_asset_id"] = [
            "An asset cannot be placed under one of its own descendants."
        ]
    record = {**_record(asset), **values}
    if "name" in values or "parent_asset_id" in values:
        if _name_taken(
            store,
            record["name"],
            record["account_id"],
            record["parent_asset_id"],
            asset["id"],
        ):
            errors.setdefault("name", []).append(
                _name_taken_message(
                    record["name"], record["parent_asset_id"], record["account_id"]
                )
            )
    if errors:
        raise _unprocessable("json", errors)
    if (
        record["parent_asset_id"] is not None
        and record["parent_asset_id"] != asset["parent_asset_id"]
    ):
        _check_parent_account(store, record["parent_asset_id"], asset["account_id"])
    old_parent = asset["parent_asset_id"]
    store.assets[asset["id"]] = _dump_asset(store, record)
    _refresh(store, old_parent, record["parent_asset_id"])
    return _as_json(store.assets[asset["id"]])


@routes.delete(f"{V3}/assets/{{id}}")
async def delete_asset(request: web.Request) -> web.Response:
    """Delete an asset and its children (204)."""
    user = _authenticate(request)
    asset = _asset_or_404(request, user)
    store = get_state(request).flexmeasures
    doomed = {asset["id"], *_descendants(store, asset["id"])}
    for asset_id in doomed:
        del store.assets[asset_id]
    for sensor_id in [
        key
        for key, sensor in store.sensors.items()
        if sensor["generic_asset_id"] in doomed
    ]:
        del store.sensors[sensor_id]
        store.forget_sensor_data(sensor_id)
    _refresh(store, asset["parent_asset_id"])
    return web.Response(status=204)


# Sensors


class _Duration:
    """An ISO 8601 duration without years or months, in seconds."""

    PATTERN = re.compile(
        r"^P(?=\d|T\d)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
        r"(?:(?P<days>\d+)D)?(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
        r"(?:(?P<seconds>\d+(?:\.\d{1,6})?)S)?)?$"
    )
    UNITS: ClassVar[dict[str, int]] = {
        "weeks": 604800,
        "days": 86400,
        "hours": 3600,
        "minutes": 60,
    }

    @classmethod
    def parse(cls, value: str) -> Decimal:
        """Return the duration in seconds; raise ``_FieldError`` when it is not one."""
        match = cls.PATTERN.match(value)
        if match is None:
            raise _FieldError(f"Cannot parse {value} as ISO8601 duration.")
        if match["years"] or match["months"]:
            raise _FieldError(
                f"Nominal durations (years, months) such as {value} are not supported "
                "as a sensor resolution."
            )
        seconds = Decimal(match["seconds"] or 0)
        for name, factor in cls.UNITS.items():
            seconds += int(match[name] or 0) * factor
        return seconds

    @staticmethod
    def format(seconds: Decimal) -> str:
        """Format like FlexMeasures' ``duration_isoformat``: hours, never days (``PT24H``)."""
        whole = int(seconds)
        fraction = seconds - whole
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        parts = [f"{hours}H" if hours else "", f"{minutes}M" if minutes else ""]
        if secs or fraction:
            text = (
                f"{secs + fraction:f}".rstrip("0").rstrip(".")
                if fraction
                else str(secs)
            )
            parts.append(f"{text}S")
        return "PT" + ("".join(parts) or "0H")


def _sensor_name(value: Any, store: FlexMeasuresState) -> str:
    name = _string(value, store)
    if len(name) > SENSOR_NAME_MAX_LENGTH:
        raise _FieldError(f"Longer than maximum length {SENSOR_NAME_MAX_LENGTH}.")
    return name


def is_valid_unit(unit: str) -> bool:
    """Return whether FlexMeasures would handle the unit (a practical subset of pint's).

    Accepted: ``""`` (dimensionless), SI power/energy/electric units with a
    ``m``/``k``/``M``/``G``/``T`` prefix (``W``, ``Wh``, ``VA``, ``var``, …),
    ``%``, temperatures, time and volume units, common currency codes, and one
    ``a/b`` ratio of those (``EUR/MWh``, ``m³/h``).
    """
    if not unit:
        return True
    parts = unit.split("/")
    return len(parts) <= 2 and all(_is_simple_unit(part) for part in parts)


def _is_simple_unit(unit: str) -> bool:
    if unit in OTHER_UNITS or unit in CURRENCY_UNITS:
        return True
    return any(
        unit == prefix + base for prefix in SI_PREFIXES for base in SI_BASE_UNITS
    )


def _unit(value: Any, store: FlexMeasuresState) -> str:
    unit = _string(value, store)
    if len(unit) > SENSOR_UNIT_MAX_LENGTH or not is_valid_unit(unit):
        raise _FieldError(f"Unit '{unit}' cannot be handled.")
    return unit


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: Any, store: FlexMeasuresState) -> str:
    name = _string(value, store)
    known = _known_timezones()
    if name in known:
        return name
    if suggestion := difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6):
        raise _FieldError(f"Invalid timezone '{name}'. Did you mean '{suggestion[0]}'?")
    raise _FieldError(f"Invalid timezone '{name}'. Example: {SERVER_TIMEZONE}.")


def _event_resolution(value: Any, store: FlexMeasuresState) -> str:
    if not isinstance(value, str):
        raise _FieldError(f"Cannot parse {json.dumps(value)} as ISO8601 duration.")
    return _Duration.format(_Duration.parse(value))


def _generic_asset_id(value: Any, store: FlexMeasuresState) -> int:
    if not is_int(value):
        raise _FieldError("Not a valid integer.")
    if value not in store.assets:
        raise _FieldError(f"Generic asset with id {value} doesn't exist.")
    return value


#: Sensor body fields and how to check them (none accepts ``null``).
_SENSOR_FIELDS: dict[str, _Checker] = {
    "name": _sensor_name,
    "unit": _unit,
    "timezone": _timezone,
    "event_resolution": _event_resolution,
    "attributes": partial(_json_string, dict),
    "generic_asset_id": _generic_asset_id,
}
_SENSOR_REQUIRED = ("name", "unit", "event_resolution", "generic_asset_id")


def _sensor_or_error(request: web.Request, user: JSONDict) -> JSONDict:
    """Find the sensor in the path (422 when unknown, as ``SensorIdField`` answers)."""
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise _unprocessable("path", {"id": ["Not a valid integer."]})
    store = get_state(request).flexmeasures
    sensor = store.sensors.get(int(raw))
    if sensor is None:
        raise RequestRejectedError(
            flexmeasures_unprocessable(
                {"path": {"id": [f"No sensor found with ID {int(raw)}."]}}
            ),
            f"Sensor {int(raw)} does not exist",
            violation=False,
        )
    if store.assets[sensor["generic_asset_id"]]["account_id"] != user["account_id"]:
        raise RequestRejectedError(
            flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
            f"Sensor {sensor['id']} belongs to another account",
        )
    return sensor


def _query_asset(
    request: web.Request, user: JSONDict, raw: str, location: str, field: str
) -> JSONDict:
    """Find an asset named by id in the path or query (422 when unknown, like ``AssetIdField``)."""
    if not raw.isdigit():
        raise _unprocessable(location, {field: ["Not a valid integer."]})
    asset = get_state(request).flexmeasures.assets.get(int(raw))
    if asset is None:
        raise RequestRejectedError(
            flexmeasures_unprocessable(
                {location: {field: [f"No asset found with ID {int(raw)}."]}}
            ),
            f"Asset {int(raw)} does not exist",
            violation=False,
        )
    if asset["account_id"] != user["account_id"]:
        raise RequestRejectedError(
            flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
            f"Asset {asset['id']} belongs to another account",
        )
    return asset


def _query_value(request: web.Request, *names: str) -> str | None:
    """Return the first of a query parameter's spellings that is present."""
    return next((request.query[name] for name in names if name in request.query), None)


def _pagination(request: web.Request) -> tuple[int | None, int]:
    """Parse ``page`` and ``per-page`` (legacy ``per_page``; default 10)."""
    errors: dict[str, list[str]] = {}
    raw_page = request.query.get("page")
    page = None if raw_page is None else parse_positive_int(raw_page)
    if raw_page is not None and page is None:
        errors["page"] = ["Must be greater than or equal to 1."]
    raw_size = _query_value(request, "per-page", "per_page")
    per_page = 10 if raw_size is None else parse_positive_int(raw_size)
    if per_page is None:
        errors["per-page"] = ["Must be greater than or equal to 1."]
    if errors:
        raise _unprocessable("query", errors)
    return page, per_page or 10


def _search_terms(request: web.Request) -> list[str]:
    raw = request.query.get("filter")
    if not raw:
        return []
    try:
        return shlex.split(raw)
    except ValueError:
        return raw.split()


def _matches(term: str, sensor: JSONDict, *names: str) -> bool:
    lowered = term.lower()
    return any(lowered in name.lower() for name in (sensor["name"], *names)) or (
        term.isdecimal() and str(sensor["id"]).startswith(term)
    )


def _resolution_seconds(sensor: JSONDict) -> Decimal:
    return _Duration.parse(sensor["event_resolution"])


def _check_sensor_fields(
    body: JSONDict, store: FlexMeasuresState
) -> tuple[JSONDict, dict[str, list[str]]]:
    """Check a new sensor's fields; return the stored values and the errors."""
    errors: dict[str, list[str]] = {
        name: [UNKNOWN] for name in unknown_fields(body, _SENSOR_FIELDS)
    }
    values: JSONDict = {}
    for name, check in _SENSOR_FIELDS.items():
        if name not in body:
            if name in _SENSOR_REQUIRED:
                errors[name] = [MISSING]
        elif body[name] is None:
            errors[name] = [NOT_NULL]
        else:
            try:
                values[name] = check(body[name], store)
            except _FieldError as err:
                errors[name] = [str(err)]
    if "name" in values and "generic_asset_id" in values:
        if any(
            sensor["name"] == values["name"]
            and sensor["generic_asset_id"] == values["generic_asset_id"]
            for sensor in store.sensors.values()
        ):
            errors["name"] = [
                (
                    f"A sensor with the name '{values['name']}' already exists on "
                    f"asset {values['generic_asset_id']}."
                )
            ]
    return values, errors


@routes.post(SENSORS)
async def create_sensor(request: web.Request) -> web.Response:
    """Create a sensor on one of the account's assets (201)."""
    user = _authenticate(request)
    body = await _body(request)
    store = get_state(request).flexmeasures
    if not isinstance(body, dict):
        raise _unprocessable("json", {"_schema": ["Invalid input type."]})
    values, errors = _check_sensor_fields(body, store)
    if errors:
        raise _unprocessable("json", errors)
    asset = store.assets[values["generic_asset_id"]]
    if asset["account_id"] != user["account_id"]:
        raise RequestRejectedError(
            flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
            f"Asset {asset['id']} belongs to another account",
        )
    sensor_id = store.next_sensor_id
    store.next_sensor_id += 1
    sensor: JSONDict = {
        "id": sensor_id,
        "name": values["name"],
        "unit": values["unit"],
        "timezone": values.get("timezone", SERVER_TIMEZONE),
        "event_resolution": values["event_resolution"],
        "entity_address": f"{ENTITY_ADDRESS_PREFIX}.{sensor_id}",
        "attributes": json.dumps(values.get("attributes", {})),
        "generic_asset_id": asset["id"],
    }
    store.sensors[sensor_id] = sensor
    _refresh(store, asset["id"])
    return web.json_response(sensor, status=201)


@routes.get(SENSORS)
async def list_sensors(request: web.Request) -> web.Response:
    """List the account's sensors, or an asset tree's; paginated when ``page`` is given."""
    user = _authenticate(request)
    store = get_state(request).flexmeasures
    raw_asset = _query_value(request, "asset", "asset_id")
    raw_account = _query_value(request, "account", "account_id")
    page, per_page = _pagination(request)
    unit = request.query.get("unit")
    if unit is not None and not is_valid_unit(unit):
        raise _unprocessable("query", {"unit": [f"Unit '{unit}' cannot be handled."]})
    asset = (
        None
        if raw_asset is None
        else _query_asset(request, user, raw_asset, "query", "asset")
    )
    if raw_account is not None:
        if not raw_account.isdigit():
            raise _unprocessable("query", {"account": ["Not a valid integer."]})
        if int(raw_account) != user["account_id"]:
            raise RequestRejectedError(
                flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
                f"Account {raw_account} is not the user's account",
            )
    if asset is not None:
        asset_ids = {asset["id"], *_descendants(store, asset["id"])}
    else:
        asset_ids = {
            key
            for key, item in store.assets.items()
            if item["account_id"] == user["account_id"]
        }
    account_name = store.accounts[user["account_id"]]["name"]
    terms = _search_terms(request)
    sensors = [
        sensor
        for sensor in store.sensors.values()
        if sensor["generic_asset_id"] in asset_ids
        and (unit is None or sensor["unit"] == unit)
        and (
            not terms
            or any(
                _matches(
                    term,
                    sensor,
                    store.assets[sensor["generic_asset_id"]]["name"],
                    account_name,
                )
                for term in terms
            )
        )
    ]
    if page is None:
        return web.json_response(sensors)
    start = (page - 1) * per_page
    return _as_json(
        {
            "data": sensors[start : start + per_page],
            "num-records": len(sensors),
            "filtered-records": len(sensors),
        }
    )


@routes.get(f"{SENSORS}/{{id}}")
async def get_sensor(request: web.Request) -> web.Response:
    """Return one sensor."""
    user = _authenticate(request)
    return _as_json(_sensor_or_error(request, user))


@routes.delete(f"{SENSORS}/{{id}}")
async def delete_sensor(request: web.Request) -> web.Response:
    """Delete a sensor (and its data) (204)."""
    user = _authenticate(request)
    sensor = _sensor_or_error(request, user)
    store = get_state(request).flexmeasures
    del store.sensors[sensor["id"]]
    store.forget_sensor_data(sensor["id"])
    _refresh(store, sensor["generic_asset_id"])
    return web.Response(status=204)


#: Sensor fields ``PATCH /sensors/{id}`` may not change.
_SENSOR_FIXED = ("id", "generic_asset_id", "entity_address")


def _check_sensor_patch(
    body: JSONDict, sensor: JSONDict, store: FlexMeasuresState
) -> tuple[JSONDict, dict[str, list[str]]]:
    """Check a sensor PATCH; return the values to store and the errors."""
    errors: dict[str, list[str]] = {
        name: [UNKNOWN]
        for name in unknown_fields(body, (*_SENSOR_FIELDS, *_SENSOR_FIXED))
    }
    errors.update(
        {name: ["Cannot be updated."] for name in _SENSOR_FIXED if name in body}
    )
    values: JSONDict = {}
    for name, check in _SENSOR_FIELDS.items():
        if name not in body or name in _SENSOR_FIXED:
            continue
        if body[name] is None:
            errors[name] = [NOT_NULL]
            continue
        try:
            values[name] = check(body[name], store)
        except _FieldError as err:
            errors[name] = [str(err)]
    if "name" in values and any(
        other["name"] == values["name"]
        and other["generic_asset_id"] == sensor["generic_asset_id"]
        and other["id"] != sensor["id"]
        for other in store.sensors.values()
    ):
        errors["name"] = [
            (
                f"A sensor with the name '{values['name']}' already exists on "
                f"asset {sensor['generic_asset_id']}."
            )
        ]
    return values, errors


@routes.patch(f"{SENSORS}/{{id}}")
async def patch_sensor(request: web.Request) -> web.Response:
    """Change the given fields of a sensor (200, the whole sensor)."""
    user = _authenticate(request)
    sensor = _sensor_or_error(request, user)
    body = await _body(request)
    if not isinstance(body, dict) or not body:
        raise _unprocessable("json", "No JSON data provided.")
    store = get_state(request).flexmeasures
    values, errors = _check_sensor_patch(body, sensor, store)
    if errors:
        raise _unprocessable("json", errors)
    if "attributes" in values:
        values["attributes"] = json.dumps(values["attributes"])
    sensor.update(values)
    _refresh(store, sensor["generic_asset_id"])
    return _as_json(sensor)


@routes.get(f"{V3}/assets/{{id}}/sensors")
async def asset_sensors(request: web.Request) -> web.Response:
    """List an asset's own sensors, always as a page: ``{data, num-records, filtered-records, status}``."""
    user = _authenticate(request)
    asset = _query_asset(request, user, request.match_info["id"], "path", "id")
    page, per_page = _pagination(request)
    sort_by = _query_value(request, "sort-by", "sort_by")
    sort_dir = _query_value(request, "sort-dir", "sort_dir")
    errors: dict[str, list[str]] = {}
    if sort_by is not None and sort_by not in _SENSOR_SORT_KEYS:
        errors["sort-by"] = [f"Must be one of: {', '.join(_SENSOR_SORT_KEYS)}."]
    if sort_dir is not None and sort_dir not in ("asc", "desc"):
        errors["sort-dir"] = ["Must be one of: asc, desc."]
    if errors:
        raise _unprocessable("query", errors)
    store = get_state(request).flexmeasures
    own = [
        sensor
        for sensor in store.sensors.values()
        if sensor["generic_asset_id"] == asset["id"]
    ]
    terms = _search_terms(request)
    matching = [
        sensor
        for sensor in own
        if not terms or any(_matches(term, sensor) for term in terms)
    ]
    if sort_by is not None:
        matching.sort(key=_SENSOR_SORT_KEYS[sort_by], reverse=sort_dir == "desc")
    start = ((page or 1) - 1) * per_page
    return _as_json(
        {
            "data": matching[start : start + per_page],
            "num-records": len(own),
            "filtered-records": len(matching),
        }
    )


_SENSOR_SORT_KEYS: dict[str, Callable[[JSONDict], Any]] = {
    "id": lambda sensor: sensor["id"],
    "name": lambda sensor: sensor["name"],
    "resolution": _resolution_seconds,
}


def add_version_headers(response: web.StreamResponse) -> None:
    """Set the version headers FlexMeasures sends with every API response."""
    response.headers["FlexMeasures-Version"] = FLEXMEASURES_VERSION
    response.headers["API-Version"] = FLEXMEASURES_API_VERSION
