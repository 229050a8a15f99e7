"""Energy Coordination reports: ``POST /reports`` under ``/energy-coordination/v1``.

``POST /reports`` ``{eventId, payloads: [...]}`` (``Authorization: Bearer``)
→ 200 ``{id, eventId, createdAt}``; any violation is 400 with a bare JSON
string listing the problems (``$.payloads[0].points[1].timestamp: …``).
Accepted reports are kept in ``state.energy_coordination.reports``.

``payloadType`` is the discriminator (platform-apis.md §5):

- ``LocationLPCAcknowledgement`` ``{acknowledgedTargets?: [{locationId,
  meterPointId}], declinedTargets?: [...]}`` — for ``LocationLPC`` and
  ``LPCReservation`` events;
- ``ResourceLPCAcknowledgement`` ``{acknowledgedTargets?: [{meterPointId,
  locationId, resourceId}], declinedTargets?}`` — for ``ResourceLPC`` events;
- ``LocationEnergyUsage`` ``{locationId, meterPointId, points?: [{timestamp,
  kiloWattHours}], resolution}`` — for ``LocationLPC``/``LPCReservation``
  only: location usage belongs to location events, a ``ResourceLPC`` event
  is answered per resource (``EnergyUsage``); refused otherwise;
- ``LocationEnergyUsagePlan`` ``{locationId, meterPointId, resolution,
  baseline: [points], flexibility: [points]}`` — as ``LocationEnergyUsage``;
- ``EnergyUsage`` ``{resourceId, locationId?, meterPointId?, points?,
  resolution, curvePoints? (deprecated)}`` — for ``ResourceLPC`` and
  ``PriceCurve`` events (the resource must be one of the event's targets).

Rules: unknown fields are forbidden everywhere; ``eventId`` is required and
must name an existing event (the spec makes it nullable; GridFlex always
reports against an event); ``payloads`` is a non-empty array; ``resolution``
must be ``"01:00:00"``; energy timestamps must be UTC hour starts written as
``2024-09-12T11:00:00+00:00`` or ``2024-09-12T11:00:00.000Z``, unique within
a point list, and inside the hours the event covers for that target (a
point's ``[timestamp, timestamp + resolution)``); ``kiloWattHours`` is a
number ≥ 0 in energy usage (the energy consumed, as the guide says); a
plan's ``baseline`` and ``flexibility`` have no documented bound (a home
that exports has a negative net baseline), so none is imposed; acknowledged and declined
targets must be targets of the event, each listed once; the same target may
not get two payloads of one type in a report. A UserEligibility event takes
no report payloads; an event inserted raw (``POST
/_sandbox/energy-coordination/events/raw``) whose payload is junk has no
targets. Repeated reports on one event are accepted and counted
(``EnergyCoordinationState.duplicate_reports()``): the guide asks to "put
all payloads for one event in one report", yet also for the acknowledgement
on receipt and the energy usage after the end, so one event has several
reports (and a plan, made in between, one of its own); nothing documents
that the platform refuses a second one. Not checked: whether the event's hours have ended (the
docs ask for energy usage after the event), and the end-of-month deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import re
from typing import Any
import uuid

from aiohttp import web

from .energy_coordination import BASE, authenticate, bad_request, ec_store, read_body
from .energy_coordination_events import (
    HOURLY,
    ONE_HOUR,
    Errors,
    add_error,
    check_array,
    check_object,
    check_points,
    check_string,
    describe,
    iso,
    parse_date_time,
    parse_time_span,
    utc_now,
)
from .state import JSONDict

routes = web.RouteTableDef()

REPORT_PAYLOAD_TYPES: tuple[str, ...] = (
    "EnergyUsage",
    "LocationEnergyUsage",
    "LocationEnergyUsagePlan",
    "ResourceLPCAcknowledgement",
    "LocationLPCAcknowledgement",
)
#: The docs pages spell the acknowledgements ``…Acknowledged``; every spec
#: version (2024-09 → 2026-01) has ``…Acknowledgement``, the spelling clients
#: should send. The sandbox accepts both and records the spec's.
PAYLOAD_TYPE_ALIASES: dict[str, str] = {
    "LocationLPCAcknowledged": "LocationLPCAcknowledgement",
    "ResourceLPCAcknowledged": "ResourceLPCAcknowledgement",
}
_LOCATION_KEYS = ("locationId", "meterPointId")
_RESOURCE_KEYS = ("meterPointId", "locationId", "resourceId")
#: Required and optional fields per payload type (besides ``payloadType``).
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "EnergyUsage": (
        ("resourceId", "resolution"),
        ("locationId", "meterPointId", "points", "curvePoints"),
    ),
    "LocationEnergyUsage": (("locationId", "meterPointId", "resolution"), ("points",)),
    "LocationEnergyUsagePlan": (
        ("locationId", "meterPointId", "resolution", "baseline", "flexibility"),
        (),
    ),
    "LocationLPCAcknowledgement": ((), ("acknowledgedTargets", "declinedTargets")),
    "ResourceLPCAcknowledgement": ((), ("acknowledgedTargets", "declinedTargets")),
}
#: Fields the spec marks nullable.
_NULLABLE: dict[str, frozenset[str]] = {
    "EnergyUsage": frozenset({"locationId", "meterPointId", "curvePoints"}),
}
_LOCATION_PAYLOADS = frozenset(
    {"LocationLPCAcknowledgement", "LocationEnergyUsage", "LocationEnergyUsagePlan"}
)
#: Which report payloads apply to which event payload type.
APPLICABLE: dict[str, frozenset[str]] = {
    "LocationLPC": _LOCATION_PAYLOADS,
    "LPCReservation": _LOCATION_PAYLOADS,
    # A resource event is answered per resource: location usage (and its
    # plan) belongs to LocationLPC events.
    "ResourceLPC": frozenset({"ResourceLPCAcknowledgement", "EnergyUsage"}),
    "PriceCurve": frozenset({"EnergyUsage"}),
    "UserEligibility": frozenset(),
}
#: The point lists of each energy payload and the lowest value they allow.
_POINT_LISTS: dict[str, tuple[tuple[str, float | None], ...]] = {
    # A resource may return energy (a discharging battery): no lower bound is
    # documented for EnergyUsage, so none is imposed here.
    "EnergyUsage": (("points", None), ("curvePoints", None)),
    "LocationEnergyUsage": (("points", 0),),
    # Neither list of a plan has a documented bound (the guide describes only
    # the usage report's kWh as energy consumed); flexibility above the
    # baseline is not refused either: no rule says so.
    "LocationEnergyUsagePlan": (("baseline", None), ("flexibility", None)),
}
#: A UTC hour start as the docs ask for it: ``+00:00`` or ``.000Z`` (``Z`` alone too).
_UTC_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00(?:\.0{1,7})?(?:Z|\+00:00)$")


@dataclass(frozen=True, slots=True)
class _Target:
    """One target of an event and the time it covers."""

    location_id: str | None
    meter_point_id: str | None
    resource_id: str | None
    intervals: tuple[tuple[datetime, datetime], ...]

    def covers(self, hour: datetime) -> bool:
        return any(
            start < hour + ONE_HOUR and hour < end for start, end in self.intervals
        )


def _intervals(points: Any, resolution: Any) -> tuple[tuple[datetime, datetime], ...]:
    span = parse_time_span(resolution) or ONE_HOUR
    starts = (
        parse_date_time(point.get("timestamp"))
        for point in (points if isinstance(points, list) else [])
        if isinstance(point, dict)
    )
    return tuple((start, start + span) for start in starts if start is not None)


def _event_targets(event: JSONDict) -> list[_Target]:
    payload = event.get("payload")
    if not isinstance(payload, dict):  # a raw event's junk
        return []
    raw_targets = payload.get("targets")
    targets = [
        t
        for t in (raw_targets if isinstance(raw_targets, list) else [])
        if isinstance(t, dict)
    ]
    if payload.get("payloadType") == "PriceCurve":
        curve = payload.get("priceCurveDelta") or {}
        covered = _intervals(curve.get("points"), curve.get("resolution"))
        return [
            _Target(t.get("locationId"), None, t.get("resourceId"), covered)
            for t in targets
        ]
    return [
        _Target(
            t.get("locationId"),
            t.get("meterPointId"),
            t.get("resourceId"),
            _intervals(t.get("points"), t.get("resolution")),
        )
        for t in targets
    ]


# Shape


def _check_energy_points(
    value: Any, path: str, errors: Errors, minimum: float | None
) -> None:
    points = check_points(
        value, path, errors, value_field="kiloWattHours", minimum=minimum
    )
    for index, point in enumerate(points or []):
        stamp = point.get("timestamp")
        if (
            isinstance(stamp, str)
            and parse_date_time(stamp)
            and not _UTC_HOUR.match(stamp)
        ):
            add_error(
                errors,
                f"{path}[{index}].timestamp",
                "must be the start of an hour in UTC, e.g. 2024-09-12T11:00:00+00:00 "
                "or 2024-09-12T11:00:00.000Z",
            )


def _check_ack_targets(
    payload: JSONDict, path: str, errors: Errors, keys: tuple[str, ...]
) -> None:
    for list_name in ("acknowledgedTargets", "declinedTargets"):
        if list_name not in payload:
            continue
        where = f"{path}.{list_name}"
        for index, target in enumerate(
            check_array(payload[list_name], where, errors) or []
        ):
            obj = check_object(target, f"{where}[{index}]", errors, required=keys)
            for key in keys:
                if obj is not None and key in obj:
                    check_string(obj[key], f"{where}[{index}].{key}", errors)


def _check_payload(value: Any, path: str, errors: Errors) -> str | None:
    """Check one payload's shape; return its type in the spec's spelling."""
    if not isinstance(value, dict):
        check_object(value, path, errors)
        return None
    raw_type = value.get("payloadType")
    payload_type = (
        PAYLOAD_TYPE_ALIASES.get(raw_type, raw_type)
        if isinstance(raw_type, str)
        else None
    )
    if payload_type not in _FIELDS:
        add_error(
            errors,
            f"{path}.payloadType",
            f"must be one of {', '.join(REPORT_PAYLOAD_TYPES)} "
            f"(or the docs' {', '.join(PAYLOAD_TYPE_ALIASES)})",
        )
        return None
    required, optional = _FIELDS[payload_type]
    check_object(
        value, path, errors, required=(*required, "payloadType"), optional=optional
    )
    if payload_type.endswith("Acknowledgement"):
        keys = _LOCATION_KEYS if payload_type.startswith("Location") else _RESOURCE_KEYS
        _check_ack_targets(value, path, errors, keys)
        return payload_type
    nullable = _NULLABLE.get(payload_type, frozenset())
    given = {
        name: field
        for name, field in value.items()
        if not (field is None and name in nullable)
    }
    for name in ("locationId", "meterPointId", "resourceId"):
        if name in given:
            check_string(given[name], f"{path}.{name}", errors)
    if "resolution" in given and given["resolution"] != HOURLY:
        add_error(
            errors,
            f"{path}.resolution",
            f'must be "{HOURLY}" (the only resolution Spark supports)',
        )
    for name, minimum in _POINT_LISTS[payload_type]:
        if name in given:
            _check_energy_points(given[name], f"{path}.{name}", errors, minimum)
    return payload_type


def _check_report(body: Any) -> tuple[str, list[JSONDict], list[str]]:
    errors: Errors = {}
    data = check_object(body, "$", errors, required=("eventId", "payloads"))
    if data is None:
        raise bad_request(describe(errors))
    event_id = (
        check_string(data.get("eventId"), "$.eventId", errors)
        if "eventId" in data
        else None
    )
    payloads: list[JSONDict] = []
    types: list[str] = []
    if "payloads" in data:
        items = check_array(data["payloads"], "$.payloads", errors)
        if items == []:
            add_error(errors, "$.payloads", "must hold at least one payload")
        for index, item in enumerate(items or []):
            payload_type = _check_payload(item, f"$.payloads[{index}]", errors)
            if payload_type is not None:
                payloads.append(item)
                types.append(payload_type)
    if errors or event_id is None:
        raise bad_request(describe(errors))
    return event_id, payloads, types


# Against the event


def _check_covered(
    payload: JSONDict, payload_type: str, target: _Target, path: str, errors: Errors
) -> None:
    for name, _ in _POINT_LISTS[payload_type]:
        for index, point in enumerate(payload.get(name) or []):
            hour = parse_date_time(point["timestamp"])
            if hour is not None and not target.covers(hour):
                add_error(
                    errors,
                    f"{path}.{name}[{index}].timestamp",
                    f"{point['timestamp']} is outside the hours of the event",
                )


def _check_ack(
    payload: JSONDict,
    payload_type: str,
    targets: list[_Target],
    path: str,
    errors: Errors,
) -> None:
    resource = payload_type.startswith("Resource")
    known = {
        (t.location_id, t.meter_point_id, t.resource_id if resource else None)
        for t in targets
    }
    listed: set[tuple[Any, ...]] = set()
    for list_name in ("acknowledgedTargets", "declinedTargets"):
        for index, target in enumerate(payload.get(list_name) or []):
            key = (
                target["locationId"],
                target["meterPointId"],
                target["resourceId"] if resource else None,
            )
            where = f"{path}.{list_name}[{index}]"
            if key not in known:
                add_error(errors, where, "is not a target of the event")
            elif key in listed:
                add_error(errors, where, "is listed twice (acknowledged and declined?)")
            listed.add(key)


def _find_target(
    payload: JSONDict,
    payload_type: str,
    targets: list[_Target],
    path: str,
    errors: Errors,
) -> _Target | None:
    if payload_type == "EnergyUsage":
        found = next(
            (t for t in targets if t.resource_id == payload["resourceId"]), None
        )
        if found is None:
            add_error(errors, f"{path}.resourceId", "is not a target of the event")
            return None
        for name, expected in (
            ("locationId", found.location_id),
            ("meterPointId", found.meter_point_id),
        ):
            if (
                payload.get(name) is not None
                and expected is not None
                and payload[name] != expected
            ):
                add_error(
                    errors, f"{path}.{name}", f"must be {expected!r}, the target's"
                )
        return found
    key = (payload["locationId"], payload["meterPointId"])
    matching = [t for t in targets if (t.location_id, t.meter_point_id) == key]
    if not matching:
        add_error(
            errors, path, "locationId and meterPointId are not a target of the event"
        )
        return None
    # Resource targets at one location and meter point: their hours together.
    return _Target(*key, None, tuple(i for t in matching for i in t.intervals))


def _check_against_event(
    event: JSONDict, payloads: list[JSONDict], types: list[str]
) -> None:
    errors: Errors = {}
    payload = event.get("payload")
    event_type = payload.get("payloadType", "") if isinstance(payload, dict) else ""
    targets = _event_targets(event)
    seen: set[tuple[Any, ...]] = set()
    for index, (payload, payload_type) in enumerate(zip(payloads, types, strict=True)):
        path = f"$.payloads[{index}]"
        if payload_type not in APPLICABLE.get(event_type, frozenset()):
            add_error(
                errors,
                f"{path}.payloadType",
                f"{payload_type} does not apply to a {event_type} event",
            )
            continue
        if payload_type.endswith("Acknowledgement"):
            key: tuple[Any, ...] = (payload_type,)
            _check_ack(payload, payload_type, targets, path, errors)
        else:
            target = _find_target(payload, payload_type, targets, path, errors)
            if target is None:
                continue
            key = (
                payload_type,
                target.location_id,
                target.meter_point_id,
                target.resource_id,
            )
            _check_covered(payload, payload_type, target, path, errors)
        if key in seen:
            add_error(
                errors, path, "repeats a payload of this report for the same target"
            )
        seen.add(key)
    if errors:
        raise bad_request(describe(errors))


@routes.post(f"{BASE}/reports")
async def create_report(request: web.Request) -> web.Response:
    """Accept a report on an event (200 ``{id, eventId, createdAt}``)."""
    authenticate(request)
    body = await read_body(request)
    event_id, payloads, types = _check_report(body)
    store = ec_store(request)
    event = store.events.get(event_id)
    if event is None:
        raise bad_request(f"Event with id '{event_id}' does not exist")
    _check_against_event(event, payloads, types)
    report = {"id": str(uuid.uuid4()), "eventId": event_id, "createdAt": iso(utc_now())}
    store.reports.append({**report, "payloadTypes": types, "body": body})
    return web.json_response(report)
