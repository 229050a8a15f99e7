"""Powernaut Connect resources (``/v1/connect/resources``), served next to the sites.

Routes (cloud-cloud Bearer, or a site's edge-cloud Basic credentials scoped to
that site: another site's resource or ``site_id`` is 403 "Insufficient
permissions"):

- ``POST /v1/connect/resources``: a ``CreateResourceDto`` → 201 ``ResourceDto``.
  ``type``, ``power`` and ``site_id`` are required; the site must exist (404
  "Site does not exist"); at most 10 resources per site (400 "A maximum of 10
  resources can be created per site", the spec's words). ``external_id`` is
  not unique: the spec has no such rule and no 409 for this route, so a
  second resource with the same ``external_id`` is created like any other.
- ``GET /v1/connect/resources?site_id=`` (``connection_point_id`` is the
  deprecated alias; no page parameters, other query parameters are 400):
  ``{total, items}``, oldest first; without ``site_id`` every resource (with
  edge-cloud auth: the site's own).
- ``GET /v1/connect/resources/{id}``, ``PATCH`` (partial; ``null`` unsets
  the spec's nullable ``external_id``, ``group_id`` and ``parent_id`` — the
  OpenAPI validation refuses it elsewhere — and an empty ``webhooks: {}``
  removes the webhook; ``site_id`` cannot be changed; 202 ``ResourceDto``) and
  ``DELETE`` (204). Deleting a group clears its members' ``group_id``,
  deleting a meter its children's ``parent_id``, and a site's
  ``head_meter_resource_id`` that named it.

``ResourceDto``: ``{id, type, name, external_id, site_id, power: {active:
{minimum, maximum}, reactive?}, capacity: {minimum?, maximum} | null,
group_id, parent_id, webhooks?: {accepted?}, created_at, modified_at,
last_seen_at: null}``; ``webhooks`` only when set. The spec has no resource
status or health checks; ``PATCH /_sandbox/powernaut/resources/{id}`` adds
``status`` and ``health_checks`` (the product docs' check names in snake_case:
``availability``, ``activation_compliance``, ``baselines_too_inaccurate``,
``no_bids``, ``meter_data_anomalies``; the shorter ``baselines``, ``bids`` and
``meter_data`` are taken too and served under the name given) and ``null``
removes them again.

Validation follows the service's whitelisting validator: unknown properties,
bad enums, JSON numbers or badly formed decimals (the intended pattern: up
to 15 integer digits, optionally a dot and 1 to 6 decimals; platform-apis.md
§5), ``minimum`` above ``maximum``, invalid uuids, a ``group_id`` that is not a ``group``
resource on the same site, a ``parent_id`` that is not a ``meter`` resource on
the same site (groups have no parent; at most 10 levels, no cycles) are 400s
listing every problem. A site's ``status`` turns ``no_resources`` →
``onboarded`` with its first resource and back when its last one is deleted
(a ``paused`` or ``deleted`` site keeps its status).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
import uuid

from aiohttp import web

from .powernaut import SITE_NOT_FOUND, authenticate, read_body, reject
from .state import JSONDict, PowernautState, get_state
from .validation import (
    RequestRejectedError,
    is_decimal_string,
    is_uuid,
    json_type,
    unknown_fields,
    utc_now_iso,
)

routes = web.RouteTableDef()

RESOURCES_PATH = "/v1/connect/resources"
RESOURCE_TYPES: tuple[str, ...] = (
    "static_battery",
    "heat_pump",
    "electric_vehicle",
    "electric_vehicle_charging_point",
    "photovoltaic",
    "wind",
    "group",
    "other",
    "meter",
)
#: The product docs' resource statuses (not in the spec; see the control API).
RESOURCE_STATUSES: tuple[str, ...] = (
    "onboarding",
    "operational",
    "degraded",
    "suspended",
)
#: The product docs' health checks and their values (not in the spec), by
#: the docs' names in snake_case.
HEALTH_CHECKS: dict[str, tuple[str, ...]] = {
    "availability": ("initial", "online", "offline"),
    "activation_compliance": ("initial", "compliant", "not_compliant"),
    "baselines_too_inaccurate": ("initial", "accurate", "inaccurate"),
    "no_bids": ("initial", "active", "no_bids"),
    "meter_data_anomalies": ("initial", "ok", "rare_anomaly", "frequent_anomaly"),
}
#: Shorter names of three checks, also taken by the control API.
HEALTH_CHECK_ALIASES: dict[str, str] = {
    "baselines": "baselines_too_inaccurate",
    "bids": "no_bids",
    "meter_data": "meter_data_anomalies",
}
MAX_RESOURCES_PER_SITE = 10
MAX_HIERARCHY_LEVELS = 10
RESOURCE_NOT_FOUND = "Resource does not exist"
_CREATE_FIELDS = (
    "type",
    "power",
    "capacity",
    "site_id",
    "name",
    "external_id",
    "group_id",
    "parent_id",
    "webhooks",
)
_UPDATE_FIELDS = tuple(name for name in _CREATE_FIELDS if name != "site_id")
_REQUIRED = ("type", "power", "site_id")
#: Optional fields: ``null`` is the same as leaving them out on create, and
#: unsets them on update.
_NULLABLE = ("capacity", "name", "external_id", "group_id", "parent_id", "webhooks")
_QUERY_FIELDS = ("site_id", "connection_point_id")
_INVALID = object()


# Body validation


def _check_decimal(value: Any, where: str, errors: list[str]) -> Decimal | None:
    if not isinstance(value, str):
        errors.append(
            f'{where} must be a decimal string such as "7.4", not a JSON {json_type(value)}'
        )
    elif not is_decimal_string(value):
        errors.append(
            f'{where} must be a decimal string such as "7.4" '
            "(at most 15 integer digits, a dot and at most 6 decimals)"
        )
    else:
        return Decimal(value)
    return None


def _check_bounds(
    value: Any, where: str, errors: list[str], *, minimum_required: bool
) -> Any:
    """Check a ``{minimum, maximum}`` object of decimal strings."""
    if not isinstance(value, dict):
        errors.append(f"{where} must be an object, not a JSON {json_type(value)}")
        return _INVALID
    extra = unknown_fields(value, ("minimum", "maximum"))
    errors.extend(f"property {where}.{name} should not exist" for name in extra)
    valid = not extra
    bounds: dict[str, Decimal] = {}
    for name in ("minimum", "maximum"):
        if value.get(name) is None:
            if name == "maximum" or minimum_required:
                errors.append(f"{where}.{name} should not be empty")
                valid = False
            continue
        number = _check_decimal(value[name], f"{where}.{name}", errors)
        if number is None:
            valid = False
        else:
            bounds[name] = number
    if not valid:
        return _INVALID
    if "minimum" in bounds and bounds["minimum"] > bounds["maximum"]:
        errors.append(f"{where}.minimum must not be greater than {where}.maximum")
        return _INVALID
    return {name: value[name] for name in ("minimum", "maximum") if name in bounds}


def _check_power(value: Any, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(f"power must be an object, not a JSON {json_type(value)}")
        return _INVALID
    extra = unknown_fields(value, ("active", "reactive"))
    errors.extend(f"property power.{name} should not exist" for name in extra)
    power: JSONDict = {}
    valid = not extra
    if value.get("active") is None:
        errors.append("power.active should not be empty")
        valid = False
    for name in ("active", "reactive"):
        if value.get(name) is None:
            continue
        bounds = _check_bounds(
            value[name], f"power.{name}", errors, minimum_required=True
        )
        if bounds is _INVALID:
            valid = False
        else:
            power[name] = bounds
    return power if valid else _INVALID


def _check_capacity(value: Any, errors: list[str]) -> Any:
    return _check_bounds(value, "capacity", errors, minimum_required=False)


def _check_type(value: Any, errors: list[str]) -> Any:
    if value in RESOURCE_TYPES:
        return value
    errors.append(
        f"type must be one of the following values: {', '.join(RESOURCE_TYPES)}"
    )
    return _INVALID


def _check_name(value: Any, errors: list[str]) -> Any:
    if isinstance(value, str) and value:
        return value
    errors.append("name must be a string of at least 1 character, or null")
    return _INVALID


def _check_external_id(value: Any, errors: list[str]) -> Any:
    if isinstance(value, str) and value:
        return value
    errors.append("external_id must be a string of at least 1 character, or null")
    return _INVALID


def _uuid_checker(name: str) -> _Checker:
    def check(value: Any, errors: list[str]) -> Any:
        if is_uuid(value):
            return value
        errors.append(f"{name} must be a UUID")
        return _INVALID

    return check


def _check_webhooks(value: Any, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(f"webhooks must be an object, not a JSON {json_type(value)}")
        return _INVALID
    extra = unknown_fields(value, ("accepted",))
    errors.extend(f"property webhooks.{name} should not exist" for name in extra)
    valid = not extra
    if "accepted" in value:
        url = value["accepted"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append("webhooks.accepted must be a URL address")
            valid = False
    return (
        {key: value[key] for key in ("accepted",) if key in value}
        if valid
        else _INVALID
    )


type _Checker = Callable[[Any, list[str]], Any]

_FIELD_CHECKS: dict[str, _Checker] = {
    "type": _check_type,
    "power": _check_power,
    "capacity": _check_capacity,
    "site_id": _uuid_checker("site_id"),
    "name": _check_name,
    "external_id": _check_external_id,
    "group_id": _uuid_checker("group_id"),
    "parent_id": _uuid_checker("parent_id"),
    "webhooks": _check_webhooks,
}


def _validate_body(body: Any, *, update: bool) -> tuple[JSONDict, list[str]]:
    """Check a Create/UpdateResourceDto; return the accepted fields and the errors."""
    if not isinstance(body, dict):
        return {}, [f"The body must be a JSON object, not a JSON {json_type(body)}"]
    allowed = _UPDATE_FIELDS if update else _CREATE_FIELDS
    errors = [
        "site_id cannot be changed (property site_id should not exist)"
        if update and name == "site_id"
        else f"property {name} should not exist"
        for name in unknown_fields(body, allowed)
    ]
    if not update:
        errors.extend(
            f"{name} should not be empty"
            for name in _REQUIRED
            if body.get(name) is None
        )
    accepted: JSONDict = {}
    for name in allowed:
        if name not in body:
            continue
        if body[name] is None:
            if name in _NULLABLE:
                accepted[name] = None
            elif update:
                errors.append(f"{name} cannot be null")
            continue
        if (value := _FIELD_CHECKS[name](body[name], errors)) is not _INVALID:
            accepted[name] = value
    return accepted, errors


# Relations between resources


def _levels(resource: JSONDict, site_resources: dict[str, JSONDict]) -> int | None:
    """Count the levels from the resource up to its root; None on a cycle."""
    seen = {resource["id"]}
    levels = 1
    current = resource
    while (parent_id := current["parent_id"]) in site_resources:
        if parent_id in seen:
            return None
        seen.add(parent_id)
        current = site_resources[parent_id]
        levels += 1
    return levels


def _check_group(
    candidate: JSONDict, site_resources: dict[str, JSONDict]
) -> str | None:
    group_id = candidate["group_id"]
    if group_id is None:
        return None
    if group_id == candidate["id"]:
        return "group_id cannot refer to the resource itself"
    group = site_resources.get(group_id)
    if group is None or group["type"] != "group":
        return "group_id must refer to a group resource on the same site"
    return None


def _check_parent(
    candidate: JSONDict, site_resources: dict[str, JSONDict]
) -> str | None:
    parent_id = candidate["parent_id"]
    if parent_id is None:
        return None
    if candidate["type"] == "group":
        return "Group resources cannot have a parent"
    if parent_id == candidate["id"]:
        return "parent_id cannot refer to the resource itself"
    parent = site_resources.get(parent_id)
    if parent is None:
        return "parent_id must refer to a resource on the same site"
    if parent["type"] != "meter":
        return "Only meter resources can be parents"
    return None


def _check_dependants(
    candidate: JSONDict, site_resources: dict[str, JSONDict]
) -> list[str]:
    """A group with members stays a group; a meter with children stays a meter."""
    others = [item for key, item in site_resources.items() if key != candidate["id"]]
    errors: list[str] = []
    for key, kind, what in (
        ("group_id", "group", "group members"),
        ("parent_id", "meter", "child resources"),
    ):
        if candidate["type"] != kind and any(
            item[key] == candidate["id"] for item in others
        ):
            errors.append(f"The resource has {what}, so its type must stay {kind}")
    return errors


def _check_hierarchy(site_resources: dict[str, JSONDict]) -> str | None:
    levels = [_levels(item, site_resources) for item in site_resources.values()]
    if None in levels:
        return "parent_id would make the resource its own ancestor"
    if max(level or 0 for level in levels) > MAX_HIERARCHY_LEVELS:
        return f"The resource hierarchy is limited to {MAX_HIERARCHY_LEVELS} levels"
    return None


def _check_relations(store: PowernautState, candidate: JSONDict) -> list[str]:
    """Check group, parent and type rules for a resource about to be stored."""
    site_resources = {
        key: item
        for key, item in store.resources.items()
        if item["site_id"] == candidate["site_id"]
    }
    site_resources[candidate["id"]] = candidate
    errors = [
        error
        for error in (
            _check_group(candidate, site_resources),
            _check_parent(candidate, site_resources),
        )
        if error is not None
    ]
    errors.extend(_check_dependants(candidate, site_resources))
    if not errors and (error := _check_hierarchy(site_resources)) is not None:
        errors.append(error)
    return errors


def sync_site_status(store: PowernautState, site_id: str) -> None:
    """Turn a site ``onboarded`` with its first resource, ``no_resources`` without any."""
    site = store.sites.get(site_id)
    if site is None:
        return
    has_resources = any(
        resource["site_id"] == site_id for resource in store.resources.values()
    )
    status = site["status"]
    if has_resources and status == "no_resources":
        status = "onboarded"
    elif not has_resources and status == "onboarded":
        status = "no_resources"
    if status != site["status"]:
        site["status"] = status
        site["modified_at"] = utc_now_iso()


def remove_resource(store: PowernautState, resource_id: str) -> None:
    """Delete a resource and clear every reference to it."""
    resource = store.resources.pop(resource_id)
    now = utc_now_iso()
    for other in store.resources.values():
        for key in ("group_id", "parent_id"):
            if other[key] == resource_id:
                other[key] = None
                other["modified_at"] = now
    site = store.sites.get(resource["site_id"])
    if site is not None and site.get("head_meter_resource_id") == resource_id:
        site["head_meter_resource_id"] = None
        site["modified_at"] = now
    sync_site_status(store, resource["site_id"])


# Routes


def _resource_id(request: web.Request) -> str:
    resource_id = request.match_info["id"]
    if not is_uuid(resource_id):
        raise reject(
            400,
            "Validation failed (uuid is expected)",
            f"Resource id {resource_id!r} is not a uuid",
        )
    return resource_id


def _forbidden_site() -> RequestRejectedError:
    return reject(
        403, "Insufficient permissions", "Edge-cloud credentials of another site"
    )


def _resource_or_404(request: web.Request, scope: str | None) -> JSONDict:
    resource = get_state(request).powernaut.resources.get(_resource_id(request))
    if resource is None:
        raise reject(404, RESOURCE_NOT_FOUND)
    if scope is not None and resource["site_id"] != scope:
        raise _forbidden_site()
    return resource


@routes.post(RESOURCES_PATH)
async def create_resource(request: web.Request) -> web.Response:
    """Create a resource on a site (201)."""
    scope = authenticate(request, edge=True)
    accepted, errors = _validate_body(await read_body(request), update=False)
    if errors:
        raise reject(400, errors)
    store = get_state(request).powernaut
    site = store.sites.get(accepted["site_id"])
    if site is None:
        raise reject(404, SITE_NOT_FOUND)
    if scope is not None and scope != site["id"]:
        raise _forbidden_site()
    if (
        sum(1 for item in store.resources.values() if item["site_id"] == site["id"])
        >= MAX_RESOURCES_PER_SITE
    ):
        raise reject(
            400,
            f"A maximum of {MAX_RESOURCES_PER_SITE} resources can be created per site",
        )
    now = utc_now_iso()
    resource: JSONDict = {
        "id": str(uuid.uuid4()),
        "type": accepted["type"],
        "name": accepted.get("name"),
        "external_id": accepted.get("external_id"),
        "site_id": site["id"],
        "power": accepted["power"],
        "capacity": accepted.get("capacity"),
        "group_id": accepted.get("group_id"),
        "parent_id": accepted.get("parent_id"),
    }
    if accepted.get("webhooks") is not None:
        resource["webhooks"] = accepted["webhooks"]
    resource.update(created_at=now, modified_at=now, last_seen_at=None)
    if errors := _check_relations(store, resource):
        raise reject(400, errors)
    store.resources[resource["id"]] = resource
    sync_site_status(store, site["id"])
    return web.json_response(resource, status=201)


@routes.get(RESOURCES_PATH)
async def list_resources(request: web.Request) -> web.Response:
    """List resources (of one site with ``site_id``), oldest first, unpaginated."""
    scope = authenticate(request, edge=True)
    errors = [
        f"property {name} should not exist"
        for name in sorted(set(request.query) - set(_QUERY_FIELDS))
    ]
    wanted: set[str] = set()
    for name in _QUERY_FIELDS:
        for value in request.query.getall(name, []):
            if is_uuid(value):
                wanted.add(value)
            else:
                errors.append(f"{name} must be a UUID")
    if len(wanted) > 1:
        errors.append("site_id and connection_point_id must name the same site")
    if errors:
        raise reject(400, errors)
    site_id = next(iter(wanted), None)
    if scope is not None:
        if site_id is not None and site_id != scope:
            raise _forbidden_site()
        site_id = scope
    items = [
        resource
        for resource in get_state(request).powernaut.resources.values()
        if site_id is None or resource["site_id"] == site_id
    ]
    return web.json_response({"total": len(items), "items": items})


@routes.get(f"{RESOURCES_PATH}/{{id}}")
async def get_resource(request: web.Request) -> web.Response:
    """Return one resource."""
    scope = authenticate(request, edge=True)
    return web.json_response(_resource_or_404(request, scope))


@routes.patch(f"{RESOURCES_PATH}/{{id}}")
async def update_resource(request: web.Request) -> web.Response:
    """Update the given fields of a resource (202)."""
    scope = authenticate(request, edge=True)
    _resource_id(request)
    accepted, errors = _validate_body(await read_body(request), update=True)
    if errors:
        raise reject(400, errors)
    resource = _resource_or_404(request, scope)
    store = get_state(request).powernaut
    candidate = {**resource, **accepted}
    if errors := _check_relations(store, candidate):
        raise reject(400, errors)
    changed = {
        key: value for key, value in accepted.items() if resource.get(key) != value
    }
    for key, value in changed.items():
        if key == "webhooks" and not (value or {}).get("accepted"):
            # An empty ``webhooks: {}`` (or a documented-style null, which the
            # validation refuses first) leaves the resource without a webhook.
            resource.pop(key, None)
        else:
            resource[key] = value
    if changed:
        resource["modified_at"] = utc_now_iso()
    return web.json_response(resource, status=202)


@routes.delete(f"{RESOURCES_PATH}/{{id}}")
async def delete_resource(request: web.Request) -> web.Response:
    """Delete a resource (204)."""
    scope = authenticate(request, edge=True)
    resource = _resource_or_404(request, scope)
    remove_resource(get_state(request).powernaut, resource["id"])
    return web.Response(status=204)


# Used by the control API


def _merged_health_checks(resource: JSONDict, checks: Any) -> JSONDict:
    """Merge checks into the resource's; a check keeps the last name it was given."""
    if not isinstance(checks, dict):
        raise TypeError("health_checks must be an object or null")
    if extra := unknown_fields(checks, (*HEALTH_CHECKS, *HEALTH_CHECK_ALIASES)):
        raise ValueError(f"Unknown health checks: {', '.join(extra)}")
    merged = dict(
        resource.get("health_checks") or dict.fromkeys(HEALTH_CHECKS, "initial")
    )
    for name, value in checks.items():
        check = HEALTH_CHECK_ALIASES.get(str(name), str(name))
        if value not in HEALTH_CHECKS[check]:
            raise ValueError(
                f"health_checks.{name} must be one of {', '.join(HEALTH_CHECKS[check])}"
            )
        for other in [n for n in merged if HEALTH_CHECK_ALIASES.get(n, n) == check]:
            del merged[other]
        merged[name] = value
    return merged


def apply_status_control(resource: JSONDict, body: Any) -> None:
    """Set or remove a resource's ``status`` and ``health_checks`` (control API).

    ``health_checks`` given as an object is merged into the current checks
    (missing checks start as ``initial``); ``null`` removes a field. Raises
    ``TypeError``/``ValueError`` before changing anything when the body is invalid.
    """
    if not isinstance(body, dict):
        raise TypeError("The body must be a JSON object")
    if extra := unknown_fields(body, ("status", "health_checks")):
        raise ValueError(f"Unknown fields: {', '.join(extra)}")
    updates: JSONDict = {}
    if "status" in body:
        if body["status"] is not None and body["status"] not in RESOURCE_STATUSES:
            raise ValueError(
                f"status must be one of {', '.join(RESOURCE_STATUSES)}, or null"
            )
        updates["status"] = body["status"]
    if "health_checks" in body:
        checks = body["health_checks"]
        updates["health_checks"] = (
            None if checks is None else _merged_health_checks(resource, checks)
        )
    changed = False
    for key, value in updates.items():
        if value is None:
            changed = resource.pop(key, None) is not None or changed
        elif resource.get(key) != value:
            resource[key] = value
            changed = True
    if changed:
        resource["modified_at"] = utc_now_iso()
