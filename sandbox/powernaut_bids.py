"""Powernaut bids, activations and the ``bidAccepted`` webhook (under ``/v1/connect``).

Routes (cloud-cloud Bearer, or a site's edge-cloud Basic credentials scoped to
that site: another site's resource or bid is 403 "Insufficient permissions"):

- ``POST /v1/connect/resources/{id}/bid``: a ``CreateBidDto`` ``{timing:
  {start, end}, power_type?, curve: [{value, price?}], expires_at?,
  webhooks?: {accepted?}}`` → 201 ``BidDto``. An *open* bid of the resource
  for the same window is updated in place (same id, ``created_at`` kept, the
  other fields replaced as for a new bid); an *accepted* one is 409 "Bid can
  no longer be updated". 404 "Resource does not exist".
- ``GET /v1/connect/bids?page&page_size&status=open|accepted``: ``{total,
  items: [BidDto]}``, open and accepted bids only, newest first (default page
  1, page size 10).
- ``GET /v1/connect/bids/{id}`` → 200 ``BidDto`` (404 "Bid does not exist").
- ``PATCH /v1/connect/bids/{id}`` ``{power_type?, curve?, expires_at?,
  webhooks?}`` (partial; ``null`` unsets ``expires_at`` and ``webhooks`` and
  resets ``power_type`` to ``active``; ``curve`` cannot be null) → **202**
  ``BidDto``; accepted or expired bids are 409 "Bid can no longer be
  updated"; 404 "Bid not found".
- ``DELETE /v1/connect/bids/{id}`` → 204 (the bid is gone); accepted or
  expired bids are 409; 404 "Bid not found".
- ``GET /v1/connect/resources/{id}/activations?page&page_size&start&end``:
  ``{total, items: [ProviderActivationSummaryDto]}``, one item per accepted
  bid of the resource whose activation has a value (cancelled activations are
  not listed: the summary's ``value`` is not nullable), newest window first;
  ``start``/``end`` keep activations whose window overlaps ``[start, end)``.

``BidDto`` = ``{id, resource_id, timing: {start, end}, power_type, curve,
expires_at, webhooks, baseline, status, activation, report, created_at,
modified_at}``: times in UTC as ``2026-11-22T10:00:00.000Z``, ``expires_at``
null when not set, ``webhooks`` ``{}`` or ``{accepted}``, ``baseline`` always
``"0.000000"`` (the sandbox keeps no baselines), ``activation`` null until
the control API activates the bid, then ``{value, price, created_at, type}``
(a cancellation sets ``value: null`` and adds ``canceled_at``, a date-time
string as platform-apis.md §5 says), ``report`` null until the
control API sets it (``{energy_requested, energy_delivered,
extra_energy_delivered}``, decimal strings in kWh, the last one nullable). The curve is
stored as sent. ``status`` is ``open``, ``accepted`` or ``expired``: an open
bid expires at its ``expires_at`` or 30 s before its window ends (the last
moment Powernaut accepts a bid); it is brought up to date whenever bids are
read. Bids of a deleted resource (or site) disappear with it.

Validation (400, every message listed, recorded as violations): unknown
properties anywhere, ``timing`` exactly one quarter-hour (whole UTC
quarter-hours, ``end = start + 15 min``, times with ``Z`` or an offset) that
can still be accepted (its end at least 30 s away), ``power_type`` active or
reactive, ``curve`` 1 to 100 points with ``value`` a decimal string (up to 15
integer digits, a dot and 1 to 6 decimals; platform-apis.md §5) within the
resource's ``power.active`` (or ``power.reactive``) bounds and ``price`` a
decimal string with at most 5 decimals (``null`` = no price), ``expires_at``
after now and no later than the window's end ("Invalid expiry date"),
``webhooks.accepted`` an http(s) URL, invalid uuids in paths, bad paging or
dates in queries. Meter resources cannot bid (400).

Control routes (``/_sandbox``, no auth; errors ``{"error"}``):

- ``POST /_sandbox/powernaut/resources/{id}/bids``: the same
  ``CreateBidDto``, checked the same way, as the partner would send it
  (without credentials) → 201 ``BidDto`` (400 / 404 / 409 ``{"error"}``).
- ``POST /_sandbox/powernaut/bids/{id}/activate`` ``{value: "2.5" | null,
  type?: exact|maximise_upwards|maximise_downwards, price?}``: ``value`` must
  be a value of the bid's curve (compared as numbers); the bid becomes
  ``accepted`` with ``activation {value, price (default: the curve point's,
  else "0.0"), created_at: now, type (default exact)}``. The first acceptance
  expires every other open bid on the same site, as Powernaut does (they
  are no longer listed; ``GET /bids/{id}`` shows them ``expired``, and a new
  bid for the same window is a new bid).
  A bid can be activated again (a new ``created_at``, ``canceled_at``
  removed) until 30 s before its end. ``value: null`` cancels the current
  activation (``value: null``, ``canceled_at: now``; ``type``/``price`` not
  allowed). Either way the ``bidAccepted`` webhook is called → 200 ``{bid,
  webhook_url, delivery_id, canceled_bids}`` (``webhook_url``/``delivery_id``
  null when neither the bid nor its resource has ``webhooks.accepted``).

- ``POST /_sandbox/powernaut/bids/{id}/report`` ``{energy_requested,
  energy_delivered, extra_energy_delivered?}`` (decimal strings in kWh, the
  last one may be null or left out): sets the ``report`` of an accepted bid,
  as Powernaut does a few minutes after the window → 200 ``BidDto`` (400
  for a bid that is not accepted or a bad body, 404 unknown bid).

Webhook deliveries: ``POST <webhooks.accepted of the bid, else of its
resource>`` with ``Content-Type: application/json``,
``X-Powernaut-Webhook-Version: v1`` and the body ``{"id": "<bid id>"}``. A
2xx or 406 answer ends the delivery (406: the partner cannot deliver); any
other answer (redirects are not followed), a timeout or a connection error is
retried up to the dispatcher's ``retries`` (3) times after ``retry_base_delay
* 2**n`` seconds, each attempt bounded by its ``timeout`` (5 s by default):
the ``SandboxServer(webhook_...)`` settings shared with Energy Coordination.
Each attempt is appended to ``state.powernaut.webhook_deliveries``:
``{delivery_id, bid_id, event: "accepted"|"canceled", url, attempt, sent_at,
status_code (null without an answer), timed_out, duration_ms, outcome:
"delivered"|"declined"|"failed"}``. Deliveries run as tasks of the server's
``WebhookDispatcher``: ``await server.webhooks.wait_idle()`` waits for them,
``POST /_sandbox/reset`` and ``SandboxServer.stop()`` cancel them. A delivery
stops when its bid is gone (reset, resource deleted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
import uuid

import aiohttp
from aiohttp import web

from .control import ControlError
from .energy_coordination_webhooks import WEBHOOKS_KEY
from .powernaut import authenticate, read_body, reject
from .powernaut_resources import RESOURCE_NOT_FOUND, RESOURCES_PATH
from .state import STATE_KEY, JSONDict, PowernautState, SandboxState, get_state
from .validation import (
    BodyError,
    RequestRejectedError,
    is_decimal_string,
    is_uuid,
    json_type,
    parse_positive_int,
    read_json,
    unknown_fields,
)

if TYPE_CHECKING:
    from .energy_coordination_webhooks import WebhookDispatcher

routes = web.RouteTableDef()

BIDS_PATH = "/v1/connect/bids"
CONTROL_PREFIX = "/_sandbox/powernaut"
POWER_TYPES: tuple[str, ...] = ("active", "reactive")
BID_STATUSES: tuple[str, ...] = ("open", "accepted", "expired")
LISTED_STATUSES: tuple[str, ...] = ("open", "accepted")
ACTIVATION_TYPES: tuple[str, ...] = (
    "exact",
    "maximise_upwards",
    "maximise_downwards",
)
WEBHOOK_VERSION_HEADER = "X-Powernaut-Webhook-Version"
WEBHOOK_VERSION = "v1"
QUARTER_HOUR = timedelta(minutes=15)
#: Powernaut accepts a bid until 30 s before its window ends.
ACCEPTANCE_MARGIN = timedelta(seconds=30)
MAX_CURVE_POINTS = 100
SANDBOX_BASELINE = "0.000000"
DEFAULT_ACTIVATION_PRICE = "0.0"
BID_NOT_FOUND = "Bid does not exist"
BID_NOT_FOUND_CHANGE = "Bid not found"
BID_LOCKED = "Bid can no longer be updated"
INVALID_EXPIRY = "Invalid expiry date"
_DEFAULT_PAGE_SIZE = 10
_CREATE_FIELDS = ("timing", "power_type", "curve", "expires_at", "webhooks")
_UPDATE_FIELDS = ("power_type", "curve", "expires_at", "webhooks")
_ACTIVATE_FIELDS = ("value", "type", "price")
_REPORT_FIELDS = ("energy_requested", "energy_delivered", "extra_energy_delivered")
#: Prices allow 5 decimals (the intended form of the spec's broken pattern).
_PRICE_PATTERN = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,5})?$")
#: ISO 8601 date-time with a timezone (``Z`` or an offset); seconds optional.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$"
)
_INVALID = object()


class BidError(Exception):
    """A bid request is refused: the status and the messages to answer with."""

    def __init__(self, status: int, messages: str | list[str]) -> None:
        """Keep the status and the messages."""
        self.status = status
        self.messages = messages
        super().__init__(self.text)

    @property
    def text(self) -> str:
        """Return the messages as one line."""
        return (
            self.messages
            if isinstance(self.messages, str)
            else "; ".join(self.messages)
        )

    def platform(self) -> RequestRejectedError:
        """Return the refusal in Powernaut's envelope."""
        return reject(self.status, self.messages)

    def control(self) -> ControlError:
        """Return the refusal as a control error."""
        return ControlError(self.status, self.text)


# Times


def _now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Format a moment as Powernaut does: UTC, milliseconds, ``Z``."""
    return (
        moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def parse_time(value: Any) -> datetime | None:
    """Parse an ISO 8601 date-time with a timezone; None when it is not one."""
    if not isinstance(value, str) or _DATE_TIME.match(value) is None:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _is_quarter_hour(moment: datetime) -> bool:
    return moment.minute % 15 == 0 and (moment.second, moment.microsecond) == (0, 0)


# Body validation


@dataclass(slots=True)
class _Accepted:
    """The fields of a Create/UpdateBidDto that passed the shape checks."""

    fields: JSONDict
    start: datetime | None = None
    end: datetime | None = None
    expires_at: datetime | None = None


def _check_time(value: Any, where: str, errors: list[str]) -> datetime | None:
    if not isinstance(value, str):
        errors.append(
            f"{where} must be an ISO 8601 date string, not a JSON {json_type(value)}"
        )
        return None
    moment = parse_time(value)
    if moment is None:
        errors.append(
            f"{where} must be a valid ISO 8601 date string with a timezone "
            '("Z" or an offset like "+01:00")'
        )
    return moment


def _check_timing(value: Any, errors: list[str]) -> tuple[datetime, datetime] | None:
    if not isinstance(value, dict):
        errors.append(f"timing must be an object, not a JSON {json_type(value)}")
        return None
    extra = unknown_fields(value, ("start", "end"))
    errors.extend(f"property timing.{name} should not exist" for name in extra)
    moments: list[datetime | None] = []
    for name in ("start", "end"):
        if value.get(name) is None:
            errors.append(f"timing.{name} should not be empty")
            moments.append(None)
            continue
        moment = _check_time(value[name], f"timing.{name}", errors)
        if moment is not None and not _is_quarter_hour(moment):
            errors.append(f"timing.{name} must be a perfect quarter-hour")
            moment = None
        moments.append(moment)
    start, end = moments
    if start is None or end is None or extra:
        return None
    if end - start != QUARTER_HOUR:
        errors.append("timing must be exactly one quarter-hour (end = start + 15 min)")
        return None
    if _now() >= end - ACCEPTANCE_MARGIN:
        errors.append(
            "timing must be a window that can still be accepted "
            "(its end at least 30 seconds from now)"
        )
        return None
    return start, end


def _check_power_type(value: Any, errors: list[str]) -> Any:
    if value in POWER_TYPES:
        return value
    errors.append(
        f"power_type must be one of the following values: {', '.join(POWER_TYPES)}"
    )
    return _INVALID


def _check_point(index: int, item: Any, errors: list[str]) -> JSONDict | None:
    where = f"curve.{index}"
    if not isinstance(item, dict):
        errors.append(f"{where} must be an object, not a JSON {json_type(item)}")
        return None
    extra = unknown_fields(item, ("value", "price"))
    errors.extend(f"property {where}.{name} should not exist" for name in extra)
    valid = not extra
    value = item.get("value")
    if value is None:
        errors.append(f"{where}.value should not be empty")
        valid = False
    elif not is_decimal_string(value):
        errors.append(
            f'{where}.value must be a decimal string such as "5.1" (at most 15 '
            f"integer digits, a dot and at most 6 decimals), not {json.dumps(value)}"
        )
        valid = False
    price = item.get("price")
    if price is not None and (
        not isinstance(price, str) or _PRICE_PATTERN.match(price) is None
    ):
        errors.append(
            f'{where}.price must be a decimal string such as "0.25" (at most 15 '
            f"integer digits, a dot and at most 5 decimals), not {json.dumps(price)}"
        )
        valid = False
    if not valid:
        return None
    point: JSONDict = {"value": value}
    if price is not None:
        point["price"] = price
    return point


def _check_curve(value: Any, errors: list[str]) -> Any:
    if not isinstance(value, list):
        errors.append(f"curve must be an array, not a JSON {json_type(value)}")
        return _INVALID
    if not value:
        errors.append("curve must contain at least 1 elements")
        return _INVALID
    if len(value) > MAX_CURVE_POINTS:
        errors.append(f"curve must contain no more than {MAX_CURVE_POINTS} elements")
        return _INVALID
    points = [_check_point(index, item, errors) for index, item in enumerate(value)]
    if any(point is None for point in points):
        return _INVALID
    return points


def _check_webhooks(value: Any, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        errors.append(f"webhooks must be an object, not a JSON {json_type(value)}")
        return _INVALID
    extra = unknown_fields(value, ("accepted",))
    errors.extend(f"property webhooks.{name} should not exist" for name in extra)
    if "accepted" not in value:
        return _INVALID if extra else {}
    url = value["accepted"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append("webhooks.accepted must be a URL address")
        return _INVALID
    return _INVALID if extra else {"accepted": url}


type _Checker = Callable[[Any, list[str]], Any]

_FIELD_CHECKS: dict[str, _Checker] = {
    "power_type": _check_power_type,
    "curve": _check_curve,
    "webhooks": _check_webhooks,
}


def _validate_bid_body(body: Any, *, update: bool) -> tuple[_Accepted, list[str]]:
    """Check a Create/UpdateBidDto's shape; return the accepted fields and the errors.

    ``null`` stands for "not given" on create; on update it unsets
    ``expires_at`` and ``webhooks``, resets ``power_type`` and is refused for
    ``curve``.
    """
    accepted = _Accepted(fields={})
    if not isinstance(body, dict):
        return accepted, [
            f"The body must be a JSON object, not a JSON {json_type(body)}"
        ]
    allowed = _UPDATE_FIELDS if update else _CREATE_FIELDS
    errors = [
        f"property {name} should not exist" for name in unknown_fields(body, allowed)
    ]
    if not update:
        errors.extend(
            f"{name} should not be empty"
            for name in ("timing", "curve")
            if body.get(name) is None
        )
    for name in allowed:
        if name not in body:
            continue
        if body[name] is not None:
            _accept_field(accepted, name, body[name], errors)
        elif update and name == "curve":
            errors.append("curve cannot be null")
        elif update:
            accepted.fields[name] = None
    return accepted, errors


def _accept_field(
    accepted: _Accepted, name: str, value: Any, errors: list[str]
) -> None:
    """Check one non-null field of a bid body and keep it when valid."""
    if name == "timing":
        if (window := _check_timing(value, errors)) is not None:
            accepted.start, accepted.end = window
    elif name == "expires_at":
        if (moment := _check_time(value, "expires_at", errors)) is not None:
            accepted.expires_at = moment
            accepted.fields[name] = iso(moment)
    elif (checked := _FIELD_CHECKS[name](value, errors)) is not _INVALID:
        accepted.fields[name] = checked


def _check_against(
    resource: JSONDict,
    power_type: str,
    curve: list[JSONDict],
    end: datetime,
    expires_at: datetime | None,
) -> list[str]:
    """Check the curve against the resource's power bounds and the expiry date."""
    errors: list[str] = []
    if resource["type"] == "meter":
        errors.append("Meter resources cannot bid")
    bounds = resource["power"].get(power_type)
    if bounds is None:
        errors.append(
            f"The resource has no {power_type} power limits, so it cannot bid {power_type} power"
        )
    else:
        low, high = Decimal(bounds["minimum"]), Decimal(bounds["maximum"])
        unit = "kW" if power_type == "active" else "kVAR"
        errors.extend(
            f"curve.{index}.value must be within the resource's {power_type} power "
            f"limits ({bounds['minimum']} to {bounds['maximum']} {unit})"
            for index, point in enumerate(curve)
            if not low <= Decimal(point["value"]) <= high
        )
    if expires_at is not None and not _now() < expires_at <= end:
        errors.append(INVALID_EXPIRY)
    return errors


# Bids in the store


def _window(bid: JSONDict) -> tuple[datetime, datetime]:
    """Return a stored bid's window (written by this module, so always readable)."""
    start = parse_time(bid["timing"]["start"]) or _now()
    end = parse_time(bid["timing"]["end"]) or start + QUARTER_HOUR
    return start, end


def _window_end(bid: JSONDict) -> datetime:
    return _window(bid)[1]


def _refresh(store: PowernautState) -> None:
    """Drop bids of deleted resources; expire open bids that can no longer be accepted."""
    now = _now()
    for bid_id in [
        key
        for key, bid in store.bids.items()
        if bid["resource_id"] not in store.resources
    ]:
        del store.bids[bid_id]
    for bid in store.bids.values():
        if bid["status"] != "open":
            continue
        expires_at = parse_time(bid["expires_at"])
        if now >= _window_end(bid) - ACCEPTANCE_MARGIN or (
            expires_at is not None and now >= expires_at
        ):
            bid["status"] = "expired"


def _store(request: web.Request) -> PowernautState:
    store = get_state(request).powernaut
    _refresh(store)
    return store


@dataclass(frozen=True, slots=True)
class NewBid:
    """A CreateBidDto that passed the shape checks."""

    start: datetime
    end: datetime
    fields: JSONDict
    expires_at: datetime | None


def validate_new_bid(body: Any) -> NewBid:
    """Check a CreateBidDto's shape; raise ``BidError`` (400, every message)."""
    accepted, errors = _validate_bid_body(body, update=False)
    if errors or accepted.start is None or accepted.end is None:
        raise BidError(400, errors)
    return NewBid(accepted.start, accepted.end, accepted.fields, accepted.expires_at)


def place_bid(store: PowernautState, resource: JSONDict, accepted: NewBid) -> JSONDict:
    """Create a bid for a resource, or update the open one for the same window.

    ``accepted`` comes from ``validate_new_bid``. Raises ``BidError`` (400
    with every message, 409 when the window's bid is accepted) before
    changing anything.
    """
    start, end = accepted.start, accepted.end
    fields = accepted.fields
    now = iso(_now())
    candidate: JSONDict = {
        "id": str(uuid.uuid4()),
        "resource_id": resource["id"],
        "timing": {"start": iso(start), "end": iso(end)},
        "power_type": fields.get("power_type", "active"),
        "curve": fields["curve"],
        "expires_at": fields.get("expires_at"),
        "webhooks": fields.get("webhooks", {}),
        "baseline": SANDBOX_BASELINE,
        "status": "open",
        "activation": None,
        "report": None,
        "created_at": now,
        "modified_at": now,
    }
    if errors := _check_against(
        resource, candidate["power_type"], candidate["curve"], end, accepted.expires_at
    ):
        raise BidError(400, errors)
    for bid in store.bids.values():
        if (
            bid["resource_id"] != resource["id"]
            or bid["timing"] != candidate["timing"]
            or bid["status"] == "expired"
        ):
            continue
        if bid["status"] == "accepted":
            raise BidError(409, BID_LOCKED)
        bid.update(
            {
                key: candidate[key]
                for key in ("power_type", "curve", "expires_at", "webhooks")
            },
            modified_at=now,
        )
        return bid
    store.bids[candidate["id"]] = candidate
    return candidate


# Routes


def _forbidden_site() -> RequestRejectedError:
    return reject(
        403, "Insufficient permissions", "Edge-cloud credentials of another site"
    )


def _path_uuid(request: web.Request, what: str) -> str:
    value = request.match_info["id"]
    if not is_uuid(value):
        raise reject(
            400,
            "Validation failed (uuid is expected)",
            f"{what} id {value!r} is not a uuid",
        )
    return value


def _resource_or_404(
    request: web.Request, store: PowernautState, scope: str | None
) -> JSONDict:
    resource = store.resources.get(_path_uuid(request, "Resource"))
    if resource is None:
        raise reject(404, RESOURCE_NOT_FOUND)
    if scope is not None and resource["site_id"] != scope:
        raise _forbidden_site()
    return resource


def _bid_or_404(
    request: web.Request, store: PowernautState, scope: str | None, message: str
) -> JSONDict:
    bid = store.bids.get(_path_uuid(request, "Bid"))
    if bid is None:
        raise reject(404, message)
    if scope is not None and store.resources[bid["resource_id"]]["site_id"] != scope:
        raise _forbidden_site()
    return bid


def _page_params(request: web.Request, errors: list[str]) -> tuple[int, int]:
    values: list[int] = []
    for name, default in (("page", 1), ("page_size", _DEFAULT_PAGE_SIZE)):
        raw = request.query.get(name)
        value = default if raw is None else parse_positive_int(raw)
        if value is None:
            errors.append(f"{name} must be an integer not less than 1")
            value = default
        values.append(value)
    return values[0], values[1]


def _page(items: list[JSONDict], page: int, size: int) -> JSONDict:
    start = (page - 1) * size
    return {"total": len(items), "items": items[start : start + size]}


def _unknown_query(request: web.Request, allowed: tuple[str, ...]) -> list[str]:
    return [
        f"property {name} should not exist"
        for name in sorted(set(request.query) - set(allowed))
    ]


@routes.post(f"{RESOURCES_PATH}/{{id}}/bid")
async def create_bid(request: web.Request) -> web.Response:
    """Bid a resource's flexibility for one quarter-hour (201)."""
    scope = authenticate(request, edge=True)
    _path_uuid(request, "Resource")
    try:
        accepted = validate_new_bid(await read_body(request))
        store = _store(request)
        resource = _resource_or_404(request, store, scope)
        bid = place_bid(store, resource, accepted)
    except BidError as err:
        raise err.platform() from err
    return web.json_response(bid, status=201)


@routes.get(BIDS_PATH)
async def list_bids(request: web.Request) -> web.Response:
    """List open and accepted bids, newest first, one page at a time."""
    scope = authenticate(request, edge=True)
    errors = _unknown_query(request, ("page", "page_size", "status"))
    page, size = _page_params(request, errors)
    status = request.query.get("status")
    if status is not None and status not in LISTED_STATUSES:
        errors.append(
            f"status must be one of the following values: {', '.join(LISTED_STATUSES)}"
        )
    if errors:
        raise reject(400, errors)
    store = _store(request)
    wanted = (status,) if status is not None else LISTED_STATUSES
    items = [
        bid
        for bid in reversed(store.bids.values())
        if bid["status"] in wanted
        and (scope is None or store.resources[bid["resource_id"]]["site_id"] == scope)
    ]
    return web.json_response(_page(items, page, size))


@routes.get(f"{BIDS_PATH}/{{id}}")
async def get_bid(request: web.Request) -> web.Response:
    """Return one bid, with its activation once accepted."""
    scope = authenticate(request, edge=True)
    return web.json_response(
        _bid_or_404(request, _store(request), scope, BID_NOT_FOUND)
    )


@routes.patch(f"{BIDS_PATH}/{{id}}")
async def update_bid(request: web.Request) -> web.Response:
    """Change an open bid (202); accepted and expired bids are 409."""
    scope = authenticate(request, edge=True)
    _path_uuid(request, "Bid")
    accepted, errors = _validate_bid_body(await read_body(request), update=True)
    if errors:
        raise reject(400, errors)
    store = _store(request)
    bid = _bid_or_404(request, store, scope, BID_NOT_FOUND_CHANGE)
    if bid["status"] != "open":
        raise reject(409, BID_LOCKED)
    fields = accepted.fields
    merged: JSONDict = {
        "power_type": fields.get("power_type", bid["power_type"]) or "active",
        "curve": fields.get("curve", bid["curve"]),
        "expires_at": fields.get("expires_at", bid["expires_at"]),
        "webhooks": fields.get("webhooks", bid["webhooks"]) or {},
    }
    if errors := _check_against(
        store.resources[bid["resource_id"]],
        merged["power_type"],
        merged["curve"],
        _window_end(bid),
        accepted.expires_at,
    ):
        raise reject(400, errors)
    changed = {key: value for key, value in merged.items() if bid[key] != value}
    if changed:
        bid.update(changed, modified_at=iso(_now()))
    return web.json_response(bid, status=202)


@routes.delete(f"{BIDS_PATH}/{{id}}")
async def delete_bid(request: web.Request) -> web.Response:
    """Cancel an open bid (204); accepted and expired bids are 409."""
    scope = authenticate(request, edge=True)
    store = _store(request)
    bid = _bid_or_404(request, store, scope, BID_NOT_FOUND_CHANGE)
    if bid["status"] != "open":
        raise reject(409, BID_LOCKED)
    del store.bids[bid["id"]]
    return web.Response(status=204)


def _parse_range(request: web.Request, errors: list[str]) -> list[datetime | None]:
    moments: list[datetime | None] = []
    for name in ("start", "end"):
        raw = request.query.get(name)
        moment = None if raw is None else parse_time(raw)
        if raw is not None and moment is None:
            errors.append(
                f"{name} must be a valid ISO 8601 date string with a timezone (Invalid datetime)"
            )
        moments.append(moment)
    start, end = moments
    if start is not None and end is not None and start > end:
        errors.append("start must not be after end")
    return moments


def activation_summary(bid: JSONDict, resource: JSONDict) -> JSONDict:
    """Return the ``ProviderActivationSummaryDto`` of an activated bid."""
    activation = bid["activation"]
    delta = Decimal(activation["value"]) - Decimal(bid["baseline"])
    requested = delta * Decimal("0.25") + 0  # + 0 turns -0 into 0
    if activation["type"] == "maximise_upwards":
        direction = "upward"
    elif activation["type"] == "maximise_downwards":
        direction = "downward"
    else:
        direction = "downward" if delta < 0 else "upward"
    return {
        "start": bid["timing"]["start"],
        "end": bid["timing"]["end"],
        "value": activation["value"],
        "energy": {
            "delivered": None,
            "requested": f"{requested:.6f}",
            "extra_delivered": None,
        },
        "direction": direction,
        "resource_id": resource["id"],
        "resource_type": resource["type"],
        "site_id": resource["site_id"],
        "bid_id": bid["id"],
    }


@routes.get(f"{RESOURCES_PATH}/{{id}}/activations")
async def list_activations(request: web.Request) -> web.Response:
    """List a resource's activations, newest window first, one page at a time."""
    scope = authenticate(request, edge=True)
    _path_uuid(request, "Resource")
    errors = _unknown_query(request, ("page", "page_size", "start", "end"))
    page, size = _page_params(request, errors)
    start, end = _parse_range(request, errors)
    if errors:
        raise reject(400, errors)
    store = _store(request)
    resource = _resource_or_404(request, store, scope)
    bids = [
        bid
        for bid in store.bids.values()
        if bid["resource_id"] == resource["id"]
        and bid["status"] == "accepted"
        and bid["activation"] is not None
        and bid["activation"]["value"] is not None
        and (start is None or _window_end(bid) > start)
        and (end is None or _window(bid)[0] < end)
    ]
    bids.sort(
        key=lambda bid: (bid["timing"]["start"], bid["activation"]["created_at"]),
        reverse=True,
    )
    items = [activation_summary(bid, resource) for bid in bids]
    return web.json_response(_page(items, page, size))


# Webhook deliveries


def _track(dispatcher: WebhookDispatcher, task: asyncio.Task[None]) -> None:
    """Hand a delivery to the dispatcher's task set.

    ``wait_idle()``, ``cancel_all()`` (``POST /_sandbox/reset``) and
    ``close()`` (``SandboxServer.stop()``) then cover Powernaut deliveries
    as they cover Energy Coordination's.
    """
    tasks = dispatcher._tasks  # noqa: SLF001 - the dispatcher has no public hook
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _deliver(
    dispatcher: WebhookDispatcher,
    state: SandboxState,
    delivery: JSONDict,
) -> None:
    body = json.dumps({"id": delivery["bid_id"]}, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        WEBHOOK_VERSION_HEADER: WEBHOOK_VERSION,
    }
    for attempt in range(dispatcher.retries + 1):
        if attempt:
            await asyncio.sleep(dispatcher.retry_base_delay * 2 ** (attempt - 1))
        store = state.powernaut
        bid = store.bids.get(delivery["bid_id"])
        if bid is None or bid["resource_id"] not in store.resources:
            return
        status: int | None = None
        timed_out = False
        sent_at = iso(_now())
        started = time.monotonic()
        try:
            async with dispatcher._client().post(  # noqa: SLF001 - shared session, closed by close()
                delivery["url"],
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=dispatcher.timeout),
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            timed_out = True
        except aiohttp.ClientError, OSError:
            pass
        if status == 406:
            outcome = "declined"
        elif status is not None and 200 <= status < 300:
            outcome = "delivered"
        else:
            outcome = "failed"
        store.webhook_deliveries.append(
            {
                **delivery,
                "attempt": attempt + 1,
                "sent_at": sent_at,
                "status_code": status,
                "timed_out": timed_out,
                "duration_ms": round((time.monotonic() - started) * 1000),
                "outcome": outcome,
            }
        )
        if outcome != "failed":
            return


def notify_accepted(app: web.Application, bid: JSONDict, event: str) -> JSONDict | None:
    """Start the ``bidAccepted`` webhook for a bid; None when no URL is set.

    The URL is the bid's ``webhooks.accepted``, else its resource's. Returns
    ``{delivery_id, bid_id, event, url}``.
    """
    state = app[STATE_KEY]
    resource = state.powernaut.resources.get(bid["resource_id"], {})
    url = bid["webhooks"].get("accepted") or (resource.get("webhooks") or {}).get(
        "accepted"
    )
    if not url:
        return None
    delivery: JSONDict = {
        "delivery_id": str(uuid.uuid4()),
        "bid_id": bid["id"],
        "event": event,
        "url": url,
    }
    dispatcher = app[WEBHOOKS_KEY]
    task = asyncio.get_running_loop().create_task(
        _deliver(dispatcher, state, delivery),
        name=f"sandbox-powernaut-webhook-{delivery['delivery_id']}",
    )
    _track(dispatcher, task)
    return delivery


# Control routes


async def _control_json(request: web.Request) -> Any:
    try:
        return await read_json(request)
    except BodyError as err:
        raise ControlError(400, str(err)) from err


def _control_resource(store: PowernautState, request: web.Request) -> JSONDict:
    resource = store.resources.get(request.match_info["id"])
    if resource is None:
        raise BidError(404, RESOURCE_NOT_FOUND)
    return resource


@routes.post(f"{CONTROL_PREFIX}/resources/{{id}}/bids")
async def control_create_bid(request: web.Request) -> web.Response:
    """Create a bid as the partner would, without credentials (201)."""
    body = await _control_json(request)
    store = get_state(request).powernaut
    _refresh(store)
    try:
        accepted = validate_new_bid(body)
        bid = place_bid(store, _control_resource(store, request), accepted)
    except BidError as err:
        raise err.control() from err
    return web.json_response(bid, status=201)


def _activation_request(body: Any) -> JSONDict:
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    if extra := unknown_fields(body, _ACTIVATE_FIELDS):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    if "value" not in body:
        raise ControlError(
            400, 'value is required: a decimal string such as "2.5", or null'
        )
    value = body["value"]
    if value is None:
        if "type" in body or "price" in body:
            raise ControlError(
                400, "A cancellation (value null) takes no type or price"
            )
        return {"value": None}
    if not is_decimal_string(value):
        raise ControlError(
            400,
            f'value must be a decimal string such as "2.5", or null, not {json.dumps(value)}',
        )
    kind = body.get("type", "exact")
    if kind not in ACTIVATION_TYPES:
        raise ControlError(400, f"type must be one of {', '.join(ACTIVATION_TYPES)}")
    price = body.get("price")
    if price is not None and (
        not isinstance(price, str) or _PRICE_PATTERN.match(price) is None
    ):
        raise ControlError(
            400,
            'price must be a decimal string with at most 5 decimals, such as "0.25"',
        )
    return {"value": value, "type": kind, "price": price}


def _accept(store: PowernautState, bid: JSONDict, wanted: JSONDict) -> list[str]:
    """Activate a bid; return the ids of the other open bids this cancels."""
    if bid["status"] == "expired" or _now() >= _window_end(bid) - ACCEPTANCE_MARGIN:
        raise ControlError(
            400, "The bid has expired (a bid can be accepted until 30 s before its end)"
        )
    value = Decimal(wanted["value"])
    point = next(
        (item for item in bid["curve"] if Decimal(item["value"]) == value), None
    )
    if point is None:
        values = ", ".join(item["value"] for item in bid["curve"])
        raise ControlError(
            400, f"value must be one of the bid curve's values: {values}"
        )
    now = iso(_now())
    bid["activation"] = {
        "value": wanted["value"],
        "price": wanted["price"] or point.get("price") or DEFAULT_ACTIVATION_PRICE,
        "created_at": now,
        "type": wanted["type"],
    }
    canceled: list[str] = []
    if bid["status"] == "open":
        site_id = store.resources[bid["resource_id"]]["site_id"]
        canceled = [
            key
            for key, other in store.bids.items()
            if key != bid["id"]
            and other["status"] == "open"
            and store.resources[other["resource_id"]]["site_id"] == site_id
        ]
        for key in canceled:
            # Expired, as Powernaut does: no longer listed, still readable,
            # and the partner places a new bid for the window.
            store.bids[key]["status"] = "expired"
            store.bids[key]["modified_at"] = now
    bid["status"] = "accepted"
    bid["modified_at"] = now
    return canceled


def _cancel(bid: JSONDict) -> None:
    activation = bid["activation"]
    if bid["status"] != "accepted" or activation is None or activation["value"] is None:
        raise ControlError(400, "The bid has no activation to cancel")
    now = iso(_now())
    activation["value"] = None
    activation["canceled_at"] = now
    bid["modified_at"] = now


@routes.post(f"{CONTROL_PREFIX}/bids/{{id}}/activate")
async def control_activate_bid(request: web.Request) -> web.Response:
    """Accept a bid (or cancel its activation) and call the bidAccepted webhook."""
    wanted = _activation_request(await _control_json(request))
    store = get_state(request).powernaut
    _refresh(store)
    bid = store.bids.get(request.match_info["id"])
    if bid is None:
        raise ControlError(404, BID_NOT_FOUND)
    canceled: list[str] = []
    if wanted["value"] is None:
        _cancel(bid)
    else:
        canceled = _accept(store, bid, wanted)
    delivery = notify_accepted(
        request.app, bid, "canceled" if wanted["value"] is None else "accepted"
    )
    return web.json_response(
        {
            "bid": bid,
            "webhook_url": delivery["url"] if delivery else None,
            "delivery_id": delivery["delivery_id"] if delivery else None,
            "canceled_bids": canceled,
        }
    )


def _report_request(body: Any) -> JSONDict:
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    if extra := unknown_fields(body, _REPORT_FIELDS):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    report: JSONDict = {}
    for name in _REPORT_FIELDS:
        value = body.get(name)
        if value is None and name == "extra_energy_delivered":
            report[name] = None
            continue
        if not is_decimal_string(value):
            raise ControlError(
                400,
                f'{name} must be a decimal string such as "0.625", not {json.dumps(value)}',
            )
        report[name] = value
    return report


@routes.post(f"{CONTROL_PREFIX}/bids/{{id}}/report")
async def control_report_bid(request: web.Request) -> web.Response:
    """Set the delivery report of an accepted bid, as Powernaut does after the window."""
    report = _report_request(await _control_json(request))
    store = get_state(request).powernaut
    _refresh(store)
    bid = store.bids.get(request.match_info["id"])
    if bid is None:
        raise ControlError(404, BID_NOT_FOUND)
    if bid["status"] != "accepted":
        raise ControlError(400, "Only an accepted bid has a report")
    bid["report"] = report
    bid["modified_at"] = iso(_now())
    return web.json_response(bid)
