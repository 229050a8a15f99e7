"""FlexMeasures (API v3.0-32, server 1.0.1) under ``/api``.

Routes:

- ``GET /api/``: ``{message, versions: ["v3_0"], flexmeasures_version}``.
- ``POST /api/requestAuthToken`` ``{email, password}`` → 200 ``{auth_token,
  user_id}``; 422 for a missing or unknown field, 404 for an unknown email,
  401 for a wrong (or revoked) password.
- ``GET /api/v3_0/health/ready``: ``{database_sql, database_redis}``.
- ``GET /api/v3_0/users/{id}``: the user (to learn its ``account_id``).
- ``GET /api/v3_0/assets/types``: ``[{id, name, description}]``.
- ``GET /api/v3_0/assets``: the account's assets as a bare list; with
  ``page`` (and ``per-page``, default 10) ``{data, num-records,
  filtered-records}``.
- ``POST /api/v3_0/assets``: create an asset (201). ``name`` and
  ``generic_asset_type_id`` are required, ``account_id`` must be the user's
  account (a user who is not a site admin cannot create public assets, so it
  must be sent), ``latitude``/``longitude`` are numbers, and ``attributes``,
  ``flex_context``, ``flex_model``, ``sensors_to_show`` and
  ``sensors_to_show_as_kpis`` are JSON *strings*. Names are unique within an
  account (under the same parent): 422 otherwise.
- ``GET``, ``PATCH`` (partial, 200) and ``DELETE`` (204)
  ``/api/v3_0/assets/{id}``.

The API routes need the bare token in ``Authorization`` (``Bearer <token>``
is refused with 401 ``{"message": …, "status": "UNAUTHORIZED"}``). Body and
query problems answer 422 ``{"message": {"json"|"query"|"path": {field:
[msgs]}}, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}``; unknown
assets 404 ``{"message", "status": 404}``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
import json
from typing import Any

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
        else "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
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
    return values


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
        "sensors": [],
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


@routes.get(f"{V3}/assets")
async def list_assets(request: web.Request) -> web.Response:
    """List the account's assets; paginated when ``page`` is given."""
    user = _authenticate(request)
    store = get_state(request).flexmeasures
    assets = [
        asset
        for asset in store.assets.values()
        if asset["account_id"] == user["account_id"]
    ]
    if "page" not in request.query:
        return web.json_response(assets)
    errors: dict[str, list[str]] = {}
    page = parse_positive_int(request.query["page"])
    raw_size = request.query.get("per-page", request.query.get("per_page"))
    per_page = 10 if raw_size is None else parse_positive_int(raw_size)
    if page is None:
        errors["page"] = ["Must be greater than or equal to 1."]
    if per_page is None:
        errors["per-page"] = ["Must be greater than or equal to 1."]
    if page is None or per_page is None:
        raise _unprocessable("query", errors)
    start = (page - 1) * per_page
    return web.json_response(
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
    if (
        "name" in values
        and "account_id" not in errors
        and _name_taken(store, values["name"], account_id, parent_id)
    ):
        errors["name"] = [_name_taken_message(values["name"], parent_id, account_id)]
    if errors:
        raise _unprocessable("json", errors)
    if account_id is None and parent_id is not None:
        account_id = store.assets[parent_id]["account_id"]
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
    store.next_asset_id += 1
    store.assets[record["id"]] = _dump_asset(store, record)
    _refresh(store, parent_id)
    return web.json_response(store.assets[record["id"]], status=201)


@routes.get(f"{V3}/assets/{{id}}")
async def get_asset(request: web.Request) -> web.Response:
    """Return one asset."""
    user = _authenticate(request)
    return web.json_response(_asset_or_404(request, user))


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
    old_parent = asset["parent_asset_id"]
    store.assets[asset["id"]] = _dump_asset(store, record)
    _refresh(store, old_parent, record["parent_asset_id"])
    return web.json_response(store.assets[asset["id"]])


@routes.delete(f"{V3}/assets/{{id}}")
async def delete_asset(request: web.Request) -> web.Response:
    """Delete an asset and its children (204)."""
    user = _authenticate(request)
    asset = _asset_or_404(request, user)
    store = get_state(request).flexmeasures
    doomed = [asset["id"]]
    for asset_id in doomed:
        doomed.extend(
            child["id"]
            for child in store.assets.values()
            if child["parent_asset_id"] == asset_id
        )
    for asset_id in doomed:
        store.assets.pop(asset_id, None)
    _refresh(store, asset["parent_asset_id"])
    return web.Response(status=204)


def add_version_headers(response: web.StreamResponse) -> None:
    """Set the version headers FlexMeasures sends with every API response."""
    response.headers["FlexMeasures-Version"] = FLEXMEASURES_VERSION
    response.headers["API-Version"] = FLEXMEASURES_API_VERSION
