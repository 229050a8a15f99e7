"""Powernaut baselines (under ``/v1/connect``).

Routes (cloud-cloud Bearer, or a site's edge-cloud Basic credentials scoped to
that site: another site's resource is 403 "Insufficient permissions"):

- ``POST /v1/connect/sites/{id}/baseline`` and
  ``POST /v1/connect/resources/{id}/baseline``: a ``CreateBaselineDto``
  ``{start, power_type?, values, skip_activated_windows?}`` → 201 without a
  body. 404 "Site does not exist" / "Resource does not exist".
- ``GET /v1/connect/sites/{id}/baseline?amount&start&granularity``: ``{items:
  [decimal string]}``, the site's active baseline per step (``granularity``
  a whole number of quarter-hours as ``PT<n>M`` / ``PT<n>H``; each step the
  mean of its quarter-hours); a quarter-hour without a baseline reads
  ``"0.000000"``.

Rules, with every message listed in a 400 (recorded as violations): unknown
properties; ``start`` an ISO 8601 date-time with ``Z`` or an offset, a whole
quarter-hour, at least the current quarter-hour and at most 192 quarter-hours
ahead; ``power_type`` active or reactive; ``values`` 1 to 192 decimal strings
(up to 15 integer digits, a dot and 1 to 6 decimals: the intended form of the
spec's pattern, platform-apis.md §5); ``skip_activated_windows`` a boolean.
A meter resource takes baselines like any other (the guide asks for the site
and every resource).

Overlapping baselines are overwritten, quarter-hour by quarter-hour. A window
is *activated* when the resource (for a site: any of its resources) has an
accepted bid for it (``sandbox/powernaut_bids.py``, cancelled or not: "there
have been activations in this time window"). Without
``skip_activated_windows`` a baseline covering an activated window is 409
"Cannot update baseline: there have been activations in this time window"
and nothing is stored; with it those windows keep their baseline and the
rest is stored. The spec lists the 409 for the resource route only; the
site's windows are activated through its resources, so the sandbox answers
the site route the same way (``skip_activated_windows`` is in the shared
``CreateBaselineDto``).

Reactive baselines are checked and logged but not stored (only active power
is read back). Every accepted POST is appended to
``state.powernaut.baseline_posts``: ``{target: "site/<id>" | "resource/<id>",
start, power_type, values, skip_activated_windows, skipped: [quarter
starts], received_at}``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
import re
from typing import Any

from aiohttp import web

from .powernaut import SITE_NOT_FOUND, authenticate, read_body, reject
from .powernaut_resources import RESOURCE_NOT_FOUND, RESOURCES_PATH
from .state import JSONDict, PowernautState, get_state
from .validation import is_decimal_string, is_uuid, json_type, unknown_fields

routes = web.RouteTableDef()

SITES_PATH = "/v1/connect/sites"
QUARTER_HOUR = timedelta(minutes=15)
MAX_VALUES = 192
ACTIVATED = "Cannot update baseline: there have been activations in this time window"
EMPTY_VALUE = "0.000000"
_FIELDS = ("start", "power_type", "values", "skip_activated_windows")
_POWER_TYPES = ("active", "reactive")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"
)
_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?$")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or _DATE_TIME.match(value) is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _quarter_floor(moment: datetime) -> datetime:
    return moment.replace(
        minute=moment.minute - moment.minute % 15, second=0, microsecond=0
    )


def _check_start(raw: Any, errors: list[str]) -> datetime | None:
    if raw is None:
        errors.append("start should not be empty")
        return None
    start = _parse_time(raw)
    if start is None:
        errors.append(
            "start must be a valid ISO 8601 date string with a timezone "
            '("Z" or an offset like "+01:00")'
        )
        return None
    if (start.minute % 15, start.second, start.microsecond) != (0, 0, 0):
        errors.append("start must be a perfect quarter-hour")
        return None
    current = _quarter_floor(_now())
    if start < current:
        errors.append("start must be at least the current quarter-hour")
    elif start > current + QUARTER_HOUR * MAX_VALUES:
        errors.append("start cannot be more than 192 quarter-hours in the future")
    return start


def _check_values(values: Any, errors: list[str]) -> None:
    if not isinstance(values, list):
        errors.append(f"values must be an array, not a JSON {json_type(values)}")
    elif not 1 <= len(values) <= MAX_VALUES:
        errors.append(f"values must contain 1 to {MAX_VALUES} elements")
    else:
        errors.extend(
            f'values.{index} must be a decimal string such as "1.25", not {value!r}'
            for index, value in enumerate(values)
            if not is_decimal_string(value)
        )


def _check(body: Any) -> tuple[datetime | None, JSONDict, list[str]]:
    """Check a CreateBaselineDto; return its start, fields and every error."""
    if not isinstance(body, dict):
        return None, {}, [f"The body must be an object, not a JSON {json_type(body)}"]
    errors = [
        f"property {name} should not exist" for name in unknown_fields(body, _FIELDS)
    ]
    start = _check_start(body.get("start"), errors)
    if body.get("power_type", "active") not in _POWER_TYPES:
        errors.append(
            "power_type must be one of the following values: active, reactive"
        )
    _check_values(body.get("values"), errors)
    if not isinstance(body.get("skip_activated_windows", False), bool):
        errors.append("skip_activated_windows must be a boolean value")
    return start, body, errors


def _activated(store: PowernautState, resource_ids: set[str]) -> set[datetime]:
    """The quarter-hours with an accepted bid of one of these resources."""
    windows: set[datetime] = set()
    for bid in store.bids.values():
        if bid["resource_id"] in resource_ids and bid["status"] == "accepted":
            start = _parse_time(bid["timing"]["start"])
            if start is not None:
                windows.add(start)
    return windows


async def _store(
    request: web.Request, store: PowernautState, target: str, resource_ids: set[str]
) -> web.Response:
    start, body, errors = _check(await read_body(request))
    if errors or start is None:
        raise reject(400, errors or ["start should not be empty"])
    quarters = [start + QUARTER_HOUR * i for i in range(len(body["values"]))]
    activated = _activated(store, resource_ids).intersection(quarters)
    skip = bool(body.get("skip_activated_windows", False))
    if activated and not skip:
        raise reject(409, ACTIVATED)
    if body.get("power_type", "active") == "active":
        stored = store.baselines.setdefault(target, {})
        for quarter, value in zip(quarters, body["values"], strict=True):
            if quarter not in activated:
                stored[_iso(quarter)] = value
    store.baseline_posts.append(
        {
            "target": target,
            "start": _iso(start),
            "power_type": body.get("power_type", "active"),
            "values": list(body["values"]),
            "skip_activated_windows": skip,
            "skipped": sorted(_iso(quarter) for quarter in activated),
            "received_at": _iso(_now()),
        }
    )
    return web.Response(status=201)


def _path_id(request: web.Request, what: str) -> str:
    value = request.match_info["id"]
    if not is_uuid(value):
        raise reject(
            400,
            "Validation failed (uuid is expected)",
            f"{what} id {value!r} is not a uuid",
        )
    return value


def _site(request: web.Request, store: PowernautState, scope: str | None) -> str:
    site_id = _path_id(request, "Site")
    if site_id not in store.sites:
        raise reject(404, SITE_NOT_FOUND)
    if scope is not None and scope != site_id:
        raise reject(
            403, "Insufficient permissions", "Edge-cloud credentials of another site"
        )
    return site_id


@routes.post(f"{SITES_PATH}/{{id}}/baseline")
async def create_site_baseline(request: web.Request) -> web.Response:
    """Store a site's baseline (201, no body)."""
    scope = authenticate(request, edge=True)
    store = get_state(request).powernaut
    site_id = _site(request, store, scope)
    members = {
        key
        for key, resource in store.resources.items()
        if resource["site_id"] == site_id
    }
    return await _store(request, store, f"site/{site_id}", members)


@routes.post(f"{RESOURCES_PATH}/{{id}}/baseline")
async def create_resource_baseline(request: web.Request) -> web.Response:
    """Store a resource's baseline (201, no body)."""
    scope = authenticate(request, edge=True)
    store = get_state(request).powernaut
    resource = store.resources.get(_path_id(request, "Resource"))
    if resource is None:
        raise reject(404, RESOURCE_NOT_FOUND)
    if scope is not None and resource["site_id"] != scope:
        raise reject(
            403, "Insufficient permissions", "Edge-cloud credentials of another site"
        )
    return await _store(request, store, f"resource/{resource['id']}", {resource["id"]})


@routes.get(f"{SITES_PATH}/{{id}}/baseline")
async def read_site_baseline(request: web.Request) -> web.Response:
    """Read a site's active baseline back, step by step."""
    scope = authenticate(request, edge=True)
    store = get_state(request).powernaut
    site_id = _site(request, store, scope)
    errors: list[str] = []
    amount_text = request.query.get("amount", "")
    amount = int(amount_text) if amount_text.isdigit() else 0
    if not 1 <= amount <= MAX_VALUES:
        errors.append(f"amount must be a number from 1 to {MAX_VALUES}")
    start = _parse_time(request.query.get("start"))
    if start is None or (start.second, start.microsecond) != (0, 0):
        errors.append("start must be an ISO 8601 date with a timezone, whole minutes")
    match = _DURATION.match(request.query.get("granularity", ""))
    minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0) if match else 0
    if minutes <= 0 or minutes % 15:
        errors.append("granularity must be a whole number of quarter-hours, e.g. PT15M")
    if errors or start is None:
        raise reject(400, errors)
    stored = store.baselines.get(f"site/{site_id}", {})
    per_step = minutes // 15
    items: list[str] = []
    for step in range(amount):
        first = start + timedelta(minutes=minutes * step)
        values = [
            Decimal(stored.get(_iso(first + QUARTER_HOUR * i), EMPTY_VALUE))
            for i in range(per_step)
        ]
        items.append(f"{sum(values) / per_step:.6f}")
    return web.json_response({"items": items})
