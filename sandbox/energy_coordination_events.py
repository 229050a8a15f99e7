"""Energy Coordination events (under ``/energy-coordination/v1``) and the checks shared with them.

Routes (``Authorization: Bearer`` as every Energy Coordination route):

- ``GET /events?page&pageSize``: ``{pagination: {totalRecords, pageSize,
  currentPage, totalPages, nextPage|null, previousPage|null}, events:
  [GetEventResponse]}``, newest first (by ``createdAt``, later creation first
  on ties); ``page`` ≥ 1, ``pageSize`` 1..1000 (default 100), otherwise 400
  ``application/problem+json``.
- ``GET /events/{eventId}``: ``GetEventResponse`` ``{id, createdAt,
  payload}``; 404 without body.

``payload.payloadType`` is the discriminator (platform-apis.md §5: the
spec's ``allOf`` unions validate nothing as written):

- ``PriceCurve``: ``{targets: [{resourceId, locationId}], priceCurveDelta:
  {points: [{price, timestamp}], energyUnit: kWh|MWh, currency:
  NOK|EUR|SEK|DKK, resolution}, priceArea: NO1..NO5|FI|DK1|DK2|SE1..SE4|Unknown}``;
- ``UserEligibility``: ``{lastUpdated, addedUsers: [str], removedUsers: [str]}``;
- ``LocationLPC`` and ``LPCReservation``: ``{targets: [{locationId,
  meterPointId, resolution, points: [{maxPowerInKiloWatts, timestamp}]}]}``;
- ``ResourceLPC``: ``{targets: [{meterPointId, locationId, resourceId,
  resolution, points}]}``.

Events are created by the simulation routes
(``energy_coordination_simulation.py``) and by the control route ``POST
/_sandbox/energy_coordination/events``; ``check_event_payload`` is the
payload check the control route applies. Creating an event stores it and
pushes it to the subscribed webhooks (``energy_coordination_webhooks.py``).

The helpers here (date-times, .NET time spans, the ``Errors`` collector and
the field checks) are shared by the simulation, report and webhook modules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import re
from typing import Any
import uuid

from aiohttp import web

from .energy_coordination import (
    BASE,
    PagingError,
    authenticate,
    ec_store,
    not_found,
    paginate,
    parse_paging,
    problem,
)
from .state import JSONDict
from .validation import is_number, json_type, unknown_fields

routes = web.RouteTableDef()

type Errors = dict[str, list[str]]

EVENT_PAYLOAD_TYPES: tuple[str, ...] = (
    "PriceCurve",
    "UserEligibility",
    "LocationLPC",
    "ResourceLPC",
    "LPCReservation",
)
#: The webhook ``NotificationType`` each event payload type is announced with.
NOTIFICATION_TYPE_OF: dict[str, str] = {
    "PriceCurve": "PriceCurveCreated",
    "UserEligibility": "UserEligibilityUpdated",
    "LocationLPC": "LocationLPCRequested",
    "ResourceLPC": "ResourceLPCRequested",
    "LPCReservation": "LPCReservationCreated",
}
PRICE_AREAS: tuple[str, ...] = (
    "Unknown",
    "NO1",
    "NO2",
    "NO3",
    "NO4",
    "NO5",
    "FI",
    "DK1",
    "DK2",
    "SE1",
    "SE2",
    "SE3",
    "SE4",
)
CURRENCIES: tuple[str, ...] = ("NOK", "EUR", "SEK", "DKK")
ENERGY_UNITS: tuple[str, ...] = ("kWh", "MWh")
#: The only resolution Spark supports today ("currently only 01:00:00").
HOURLY = "01:00:00"
ONE_HOUR = timedelta(hours=1)

_LPC_TARGET_FIELDS = ("locationId", "meterPointId", "resolution", "points")
_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "PriceCurve": ("targets", "priceCurveDelta", "priceArea"),
    "UserEligibility": ("lastUpdated", "addedUsers", "removedUsers"),
    "LocationLPC": ("targets",),
    "ResourceLPC": ("targets",),
    "LPCReservation": ("targets",),
}
_PRICE_CURVE_FIELDS = ("points", "energyUnit", "currency", "resolution")

#: RFC 3339 date-time: seconds required, up to 7 decimals (.NET), an offset.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?(?:Z|[+-]\d{2}:\d{2})$"
)
#: .NET TimeSpan "c" format: ``[d.]hh:mm:ss[.fffffff]``.
_TIME_SPAN = re.compile(r"^(?:(\d{1,8})\.)?(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


# Time helpers


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Format a moment as Spark does: ISO 8601 in UTC with ``+00:00``."""
    return moment.astimezone(UTC).isoformat()


def next_hour(moment: datetime) -> datetime:
    """Return the start of the next whole UTC hour after ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + ONE_HOUR


def is_hour_start(moment: datetime) -> bool:
    """Return whether the moment is the start of a whole UTC hour."""
    utc = moment.astimezone(UTC)
    return (utc.minute, utc.second, utc.microsecond) == (0, 0, 0)


def parse_date_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 date-time with an offset; None when it is not one."""
    if not isinstance(value, str) or _DATE_TIME.match(value) is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_time_span(value: Any) -> timedelta | None:
    """Parse a positive .NET TimeSpan (``01:00:00``, ``1.00:00:00``); None otherwise."""
    if not isinstance(value, str):
        return None
    match = _TIME_SPAN.match(value)
    if match is None:
        return None
    days, hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59:
        return None
    span = timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0").ljust(7, "0")) // 10,
    )
    return span if span > timedelta(0) else None


# Field checks collecting errors by JSON path


def add_error(errors: Errors, path: str, message: str) -> None:
    """Record a problem with the field at ``path``."""
    errors.setdefault(path, []).append(message)


def describe(errors: Errors) -> str:
    """Join collected errors into one sentence (for bare-string 400s and control errors)."""
    return "; ".join(
        f"{path}: {message}"
        for path, messages in errors.items()
        for message in messages
    )


def check_object(
    value: Any,
    path: str,
    errors: Errors,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> JSONDict | None:
    """Check an object with known fields (``additionalProperties: false``)."""
    if not isinstance(value, dict):
        add_error(errors, path, f"must be a JSON object, not a JSON {json_type(value)}")
        return None
    if extra := unknown_fields(value, (*required, *optional)):
        add_error(
            errors,
            path,
            f"unknown fields are not allowed: {', '.join(extra)} "
            "(additionalProperties is false)",
        )
    for name in required:
        if name not in value:
            add_error(errors, f"{path}.{name}", "is required")
    return value


def check_array(value: Any, path: str, errors: Errors) -> list[Any] | None:
    """Check an array."""
    if not isinstance(value, list):
        add_error(errors, path, f"must be an array, not a JSON {json_type(value)}")
        return None
    return value


def check_string(value: Any, path: str, errors: Errors) -> str | None:
    """Check a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        add_error(errors, path, "must be a non-empty string")
        return None
    return value


def check_strings(value: Any, path: str, errors: Errors) -> list[str] | None:
    """Check an array of non-empty strings."""
    items = check_array(value, path, errors)
    if items is None:
        return None
    for index, item in enumerate(items):
        check_string(item, f"{path}[{index}]", errors)
    return [item for item in items if isinstance(item, str)]


def check_enum(value: Any, path: str, errors: Errors, choices: tuple[str, ...]) -> None:
    """Check a string enum."""
    if value not in choices:
        add_error(errors, path, f"must be one of {', '.join(choices)}")


def check_number(
    value: Any, path: str, errors: Errors, *, minimum: float | None = None
) -> None:
    """Check a finite JSON number, optionally ``>= minimum``."""
    if not is_number(value):
        add_error(errors, path, f"must be a number, not a JSON {json_type(value)}")
    elif minimum is not None and value < minimum:
        add_error(errors, path, f"must be >= {minimum:g}")


def check_date_time(value: Any, path: str, errors: Errors) -> datetime | None:
    """Check an RFC 3339 date-time with an offset."""
    moment = parse_date_time(value)
    if moment is None:
        add_error(
            errors,
            path,
            "must be an ISO 8601 date-time with seconds and an offset, "
            "e.g. 2026-03-03T12:00:00+00:00",
        )
    return moment


def check_time_span(value: Any, path: str, errors: Errors) -> timedelta | None:
    """Check a positive .NET TimeSpan string such as ``01:00:00``."""
    span = parse_time_span(value)
    if span is None:
        add_error(errors, path, 'must be a time span such as "01:00:00"')
    return span


def check_points(
    value: Any,
    path: str,
    errors: Errors,
    *,
    value_field: str,
    minimum: float | None = None,
    whole_hours: bool = False,
) -> list[JSONDict] | None:
    """Check ``[{<value_field>: number, timestamp: date-time}]`` with unique timestamps."""
    points = check_array(value, path, errors)
    if points is None:
        return None
    seen: set[datetime] = set()
    for index, point in enumerate(points):
        where = f"{path}[{index}]"
        obj = check_object(point, where, errors, required=(value_field, "timestamp"))
        if obj is None:
            continue
        if value_field in obj:
            check_number(
                obj[value_field], f"{where}.{value_field}", errors, minimum=minimum
            )
        if "timestamp" not in obj:
            continue
        moment = check_date_time(obj["timestamp"], f"{where}.timestamp", errors)
        if moment is None:
            continue
        if whole_hours and not is_hour_start(moment):
            add_error(errors, f"{where}.timestamp", "must be the start of a UTC hour")
        if moment in seen:
            add_error(errors, f"{where}.timestamp", "is given twice")
        seen.add(moment)
    return [point for point in points if isinstance(point, dict)]


# Event payloads


def _check_lpc_targets(
    value: Any, path: str, errors: Errors, *, resource: bool
) -> None:
    targets = check_array(value, path, errors)
    if targets is None:
        return
    if not targets:
        add_error(errors, path, "must name at least one target")
    ids = (
        ("locationId", "meterPointId", "resourceId")
        if resource
        else ("locationId", "meterPointId")
    )
    fields = (*_LPC_TARGET_FIELDS, "resourceId") if resource else _LPC_TARGET_FIELDS
    for index, target in enumerate(targets):
        where = f"{path}[{index}]"
        obj = check_object(target, where, errors, required=fields)
        if obj is None:
            continue
        for name in ids:
            if name in obj:
                check_string(obj[name], f"{where}.{name}", errors)
        if "resolution" in obj:
            check_time_span(obj["resolution"], f"{where}.resolution", errors)
        if "points" in obj:
            check_points(
                obj["points"],
                f"{where}.points",
                errors,
                value_field="maxPowerInKiloWatts",
            )


def _check_price_curve(payload: JSONDict, path: str, errors: Errors) -> None:
    targets = check_array(payload.get("targets"), f"{path}.targets", errors) or []
    for index, target in enumerate(targets):
        where = f"{path}.targets[{index}]"
        obj = check_object(target, where, errors, required=("resourceId", "locationId"))
        for name in ("resourceId", "locationId"):
            if obj is not None and name in obj:
                check_string(obj[name], f"{where}.{name}", errors)
    if "priceArea" in payload:
        check_enum(payload["priceArea"], f"{path}.priceArea", errors, PRICE_AREAS)
    if "priceCurveDelta" in payload:
        check_price_curve_delta(
            payload["priceCurveDelta"], f"{path}.priceCurveDelta", errors, partial=False
        )


def check_price_curve_delta(
    value: Any, path: str, errors: Errors, *, partial: bool
) -> None:
    """Check a ``PriceCurve`` object (all four fields required unless ``partial``)."""
    required = () if partial else _PRICE_CURVE_FIELDS
    optional = _PRICE_CURVE_FIELDS if partial else ()
    curve = check_object(value, path, errors, required=required, optional=optional)
    if curve is None:
        return
    if "points" in curve:
        check_points(curve["points"], f"{path}.points", errors, value_field="price")
    if "energyUnit" in curve:
        check_enum(curve["energyUnit"], f"{path}.energyUnit", errors, ENERGY_UNITS)
    if "currency" in curve:
        check_enum(curve["currency"], f"{path}.currency", errors, CURRENCIES)
    if "resolution" in curve:
        check_time_span(curve["resolution"], f"{path}.resolution", errors)


def check_event_payload(value: Any, errors: Errors, path: str = "$.payload") -> None:
    """Check an event payload as the service sends it, ``payloadType`` first."""
    if not isinstance(value, dict):
        add_error(errors, path, f"must be a JSON object, not a JSON {json_type(value)}")
        return
    payload_type = value.get("payloadType")
    if payload_type not in EVENT_PAYLOAD_TYPES:
        add_error(
            errors,
            f"{path}.payloadType",
            f"must be one of {', '.join(EVENT_PAYLOAD_TYPES)}",
        )
        return
    fields = (*_EVENT_FIELDS[payload_type], "payloadType")
    payload = check_object(value, path, errors, required=fields)
    if payload is None:
        return
    if payload_type == "PriceCurve":
        _check_price_curve(payload, path, errors)
    elif payload_type == "UserEligibility":
        if "lastUpdated" in payload:
            check_date_time(payload["lastUpdated"], f"{path}.lastUpdated", errors)
        for name in ("addedUsers", "removedUsers"):
            if name in payload:
                check_strings(payload[name], f"{path}.{name}", errors)
    elif "targets" in payload:
        _check_lpc_targets(
            payload["targets"],
            f"{path}.targets",
            errors,
            resource=payload_type == "ResourceLPC",
        )


def new_event(
    payload: JSONDict, *, event_id: str | None = None, created_at: str | None = None
) -> JSONDict:
    """Build a ``GetEventResponse`` (a fresh uuid and the current time by default)."""
    return {
        "id": event_id if event_id is not None else str(uuid.uuid4()),
        "createdAt": created_at if created_at is not None else iso(utc_now()),
        "payload": payload,
    }


def newest_first(events: dict[str, JSONDict]) -> list[JSONDict]:
    """Order events newest first: by ``createdAt``, later creation first on ties."""
    ordered = list(enumerate(events.values()))
    ordered.sort(
        key=lambda pair: (
            # Raw events (control route) may have any createdAt, or none.
            parse_date_time(pair[1].get("createdAt"))
            or datetime.min.replace(tzinfo=UTC),
            pair[0],
        ),
        reverse=True,
    )
    return [event for _, event in ordered]


# Routes


@routes.get(f"{BASE}/events")
async def list_events(request: web.Request) -> web.Response:
    """List events, newest first, with Spark's pagination block."""
    authenticate(request)
    try:
        page, size = parse_paging(request)
    except PagingError as err:
        raise problem({err.field: [err.message]}) from err
    block, events = paginate(newest_first(ec_store(request).events), page, size)
    return web.json_response({"pagination": block, "events": events})


@routes.get(f"{BASE}/events/{{eventId}}")
async def get_event(request: web.Request) -> web.Response:
    """Return one event (404 without body)."""
    authenticate(request)
    event_id = request.match_info["eventId"]
    event = ec_store(request).events.get(event_id)
    if event is None:
        raise not_found(f"Event {event_id!r} does not exist")
    return web.json_response(event)
