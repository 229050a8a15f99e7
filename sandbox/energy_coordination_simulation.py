"""Energy Coordination's sandbox simulation routes (under ``/energy-coordination/v1``).

The real sandbox API has these routes to create test events; the simulated
events are stored (``GET /events``) and pushed to subscribed webhooks like
any other. Every route needs ``Authorization: Bearer`` and answers 200
``{simulatedEvent: GetEventResponse}``; the header ``X-Sandbox-Event-Ids``
(a sandbox addition) lists every event the call created, comma-separated.

- ``POST /simulation/events/lpc/locations`` ``{locations?: [{location:
  {locationId, meterPointId}, points?: [{maxPowerInKiloWatts, timestamp}]}]}``:
  one ``LocationLPC`` event **per meter point id** (the docs: location LPC is
  sent per meter point), each with one target; ``simulatedEvent`` is the first.
  Without ``locations`` (missing, null or empty) every meter point of every
  registered location is targeted.
- ``POST /simulation/events/lpc/resources`` ``{resources?: [{resource:
  {locationId?, resourceId, meterPointId?}, points?}]}``: one ``ResourceLPC``
  event with a target per resource. The meter point is the resource's, else
  its location's first; ``locationId`` and ``meterPointId``, when given, must
  match. Without ``resources`` every location-bound resource with a meter
  point is targeted.
- ``POST /simulation/events/pricecurve`` (and the older spelling
  ``/simulation/events/priceCurve``) ``{targets?: [{resourceId, locationId}],
  priceCurveDelta?: {points?, energyUnit?, currency?, resolution?},
  priceArea?}``: one ``PriceCurve`` event. Without ``targets`` every
  location-bound resource is targeted (none: ``targets: []``, as in Spark's
  reference data); missing curve fields are generated (24 hourly points from
  the next hour, ``kWh``, ``NOK``, ``01:00:00``); ``priceArea`` defaults to
  ``NO1`` (Elvia's area).
- ``POST /simulation/events/usereligibility`` (no body; a body is ignored):
  one ``UserEligibility`` event with ``addedUsers`` = the registered users,
  ``removedUsers`` = ``[]``. It changes nobody's eligibility.

Generated LPC points: hourly from the start of the next UTC hour, 4 hours,
``maxPowerInKiloWatts`` 5.0, 4.0, 3.5, 4.5, resolution ``01:00:00``. Given
points must be whole hours (the resolution is ``01:00:00``), unique, and
``maxPowerInKiloWatts`` ≥ 0.

Errors: a body whose shape is wrong (not an object, unknown fields, wrong
types, bad enums or date-times, a missing id) is 400
``application/problem+json``; a body that is not JSON, and references to
partner data that do not hold (unknown location or resource, a meter point
of another location, a target named twice, nothing to target) are 400 with a
JSON string, the spec's documented 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from .energy_coordination import (
    BASE,
    authenticate,
    bad_request,
    ec_store,
    problem,
    read_body,
)
from .energy_coordination_events import (
    HOURLY,
    ONE_HOUR,
    PRICE_AREAS,
    Errors,
    check_array,
    check_enum,
    check_object,
    check_points,
    check_price_curve_delta,
    check_string,
    iso,
    new_event,
    next_hour,
    utc_now,
)
from .energy_coordination_webhooks import publish_event
from .state import EnergyCoordinationState, JSONDict

routes = web.RouteTableDef()

type _Points = list[JSONDict] | None
#: ``(locationId, meterPointId, given points)``
type _LocationTarget = tuple[str, str, _Points]
#: ``(locationId, resourceId, meterPointId, given points)``
type _ResourceTarget = tuple[str, str, str, _Points]

SIMULATION = f"{BASE}/simulation/events"
SIMULATED_LPC_KILOWATTS: tuple[float, ...] = (5.0, 4.0, 3.5, 4.5)
SIMULATED_PRICE_HOURS = 24
DEFAULT_PRICE_AREA = "NO1"
EVENT_IDS_HEADER = "X-Sandbox-Event-Ids"


def _lpc_points(start: datetime) -> list[JSONDict]:
    return [
        {"maxPowerInKiloWatts": kilowatts, "timestamp": iso(start + hour * ONE_HOUR)}
        for hour, kilowatts in enumerate(SIMULATED_LPC_KILOWATTS)
    ]


def _price_points(start: datetime) -> list[JSONDict]:
    return [
        {
            "price": round(0.2 + 0.05 * (hour % 6), 2),
            "timestamp": iso(start + hour * ONE_HOUR),
        }
        for hour in range(SIMULATED_PRICE_HOURS)
    ]


def _given_points(points: list[JSONDict]) -> list[JSONDict]:
    return [
        {
            "maxPowerInKiloWatts": point["maxPowerInKiloWatts"],
            "timestamp": point["timestamp"],
        }
        for point in points
    ]


def _answer(app: web.Application, events: list[JSONDict]) -> web.Response:
    for event in events:
        publish_event(app, event)
    return web.json_response(
        {"simulatedEvent": events[0]},
        headers={EVENT_IDS_HEADER: ",".join(event["id"] for event in events)},
    )


def _check_items(
    body: Any, list_name: str, item_name: str, item_fields: tuple[str, ...]
) -> list[JSONDict]:
    """Check ``{<list_name>?: [{<item_name>: {...}, points?}]}``; return the items."""
    errors: Errors = {}
    data = check_object(body, "$", errors, optional=(list_name,))
    items: list[JSONDict] = []
    if data is not None and data.get(list_name) is not None:
        for index, item in enumerate(
            check_array(data[list_name], f"$.{list_name}", errors) or []
        ):
            where = f"$.{list_name}[{index}]"
            obj = check_object(
                item, where, errors, required=(item_name,), optional=("points",)
            )
            if obj is None:
                continue
            items.append(obj)
            target = obj.get(item_name)
            if item_name in obj:
                target = check_object(
                    target, f"{where}.{item_name}", errors, optional=item_fields
                )
            for name in item_fields:
                if isinstance(target, dict) and target.get(name) is not None:
                    check_string(target[name], f"{where}.{item_name}.{name}", errors)
            if obj.get("points") is not None:
                check_points(
                    obj["points"],
                    f"{where}.points",
                    errors,
                    value_field="maxPowerInKiloWatts",
                    minimum=0,
                    whole_hours=True,
                )
    if errors:
        raise problem(errors)
    return items


def _required(target: JSONDict, name: str, where: str) -> str:
    value = target.get(name)
    if value is None:
        raise problem({f"{where}.{name}": ["is required"]})
    return str(value)


# Location LPC


def _location_targets(
    store: EnergyCoordinationState, items: list[JSONDict]
) -> list[_LocationTarget]:
    targets: list[_LocationTarget]
    if not items:
        targets = [
            (location["locationId"], meter_point_id, None)
            for location in store.locations.values()
            for meter_point_id in location["meterPointIds"]
        ]
        if not targets:
            raise bad_request(
                "There are no locations with meter point ids to target; register one first"
            )
        return targets
    targets = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = f"$.locations[{index}].location"
        location_id = _required(item["location"], "locationId", where)
        meter_point_id = _required(item["location"], "meterPointId", where)
        location = store.locations.get(location_id)
        if location is None:
            raise bad_request(f"Location with id '{location_id}' does not exist")
        if meter_point_id not in location["meterPointIds"]:
            raise bad_request(
                f"Meter point '{meter_point_id}' is not a meter point of location '{location_id}'"
            )
        if meter_point_id in seen:
            raise bad_request(f"Meter point '{meter_point_id}' is targeted twice")
        seen.add(meter_point_id)
        targets.append((location_id, meter_point_id, item.get("points")))
    return targets


@routes.post(f"{SIMULATION}/lpc/locations")
async def simulate_location_lpc(request: web.Request) -> web.Response:
    """Create one LocationLPC event per targeted meter point."""
    authenticate(request)
    items = _check_items(
        await read_body(request),
        "locations",
        "location",
        ("locationId", "meterPointId"),
    )
    start = next_hour(utc_now())
    events = [
        new_event(
            {
                "targets": [
                    {
                        "locationId": location_id,
                        "meterPointId": meter_point_id,
                        "resolution": HOURLY,
                        "points": _lpc_points(start)
                        if points is None
                        else _given_points(points),
                    }
                ],
                "payloadType": "LocationLPC",
            }
        )
        for location_id, meter_point_id, points in _location_targets(
            ec_store(request), items
        )
    ]
    return _answer(request.app, events)


# Resource LPC


def _resource_meter_point(
    store: EnergyCoordinationState, resource: JSONDict
) -> str | None:
    if resource["meterPointId"] is not None:
        return str(resource["meterPointId"])
    location = store.locations.get(resource["locationId"] or "")
    if location is None or not location["meterPointIds"]:
        return None
    return str(location["meterPointIds"][0])


def _resource_target(
    store: EnergyCoordinationState, item: JSONDict, where: str
) -> tuple[str, str, str]:
    given = item["resource"]
    resource_id = _required(given, "resourceId", where)
    resource = store.resources.get(resource_id)
    if resource is None:
        raise bad_request(f"Resource with id '{resource_id}' does not exist")
    if resource["locationId"] is None:
        raise bad_request(f"Resource '{resource_id}' is not bound to a location")
    if given.get("locationId") not in (None, resource["locationId"]):
        raise bad_request(
            f"Resource '{resource_id}' is at location '{resource['locationId']}', "
            f"not '{given['locationId']}'"
        )
    meter_point_id = _resource_meter_point(store, resource)
    if meter_point_id is None:
        raise bad_request(
            f"Resource '{resource_id}' has no meter point id, nor has its location"
        )
    if given.get("meterPointId") not in (None, meter_point_id):
        raise bad_request(
            f"Meter point '{given['meterPointId']}' is not the meter point of "
            f"resource '{resource_id}' ({meter_point_id})"
        )
    return resource["locationId"], resource_id, meter_point_id


def _resource_targets(
    store: EnergyCoordinationState, items: list[JSONDict]
) -> list[_ResourceTarget]:
    targets: list[_ResourceTarget]
    if not items:
        targets = [
            (resource["locationId"], resource["resourceId"], meter_point_id, None)
            for resource in store.resources.values()
            if resource["locationId"] is not None
            and (meter_point_id := _resource_meter_point(store, resource)) is not None
        ]
        if not targets:
            raise bad_request(
                "There are no location-bound resources with a meter point to target; "
                "register one first"
            )
        return targets
    targets = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        location_id, resource_id, meter_point_id = _resource_target(
            store, item, f"$.resources[{index}].resource"
        )
        if resource_id in seen:
            raise bad_request(f"Resource '{resource_id}' is targeted twice")
        seen.add(resource_id)
        targets.append((location_id, resource_id, meter_point_id, item.get("points")))
    return targets


@routes.post(f"{SIMULATION}/lpc/resources")
async def simulate_resource_lpc(request: web.Request) -> web.Response:
    """Create one ResourceLPC event with a target per resource."""
    authenticate(request)
    items = _check_items(
        await read_body(request),
        "resources",
        "resource",
        ("locationId", "resourceId", "meterPointId"),
    )
    start = next_hour(utc_now())
    targets = [
        {
            "meterPointId": meter_point_id,
            "locationId": location_id,
            "resourceId": resource_id,
            "resolution": HOURLY,
            "points": _lpc_points(start) if points is None else _given_points(points),
        }
        for location_id, resource_id, meter_point_id, points in _resource_targets(
            ec_store(request), items
        )
    ]
    return _answer(
        request.app, [new_event({"targets": targets, "payloadType": "ResourceLPC"})]
    )


# Price curve


def _check_price_curve_request(body: Any) -> JSONDict:
    errors: Errors = {}
    data = check_object(
        body, "$", errors, optional=("targets", "priceCurveDelta", "priceArea")
    )
    if data is None:
        raise problem(errors)
    if data.get("targets") is not None:
        for index, target in enumerate(
            check_array(data["targets"], "$.targets", errors) or []
        ):
            where = f"$.targets[{index}]"
            obj = check_object(
                target, where, errors, required=("resourceId", "locationId")
            )
            for name in ("resourceId", "locationId"):
                if obj is not None and name in obj:
                    check_string(obj[name], f"{where}.{name}", errors)
    if data.get("priceCurveDelta") is not None:
        check_price_curve_delta(
            data["priceCurveDelta"], "$.priceCurveDelta", errors, partial=True
        )
    if data.get("priceArea") is not None:
        check_enum(data["priceArea"], "$.priceArea", errors, PRICE_AREAS)
    if errors:
        raise problem(errors)
    return data


def _price_targets(
    store: EnergyCoordinationState, given: list[JSONDict] | None
) -> list[JSONDict]:
    if not given:
        return [
            {"resourceId": resource["resourceId"], "locationId": resource["locationId"]}
            for resource in store.resources.values()
            if resource["locationId"] is not None
        ]
    seen: set[str] = set()
    for target in given:
        resource = store.resources.get(target["resourceId"])
        if resource is None:
            raise bad_request(
                f"Resource with id '{target['resourceId']}' does not exist"
            )
        if resource["locationId"] != target["locationId"]:
            raise bad_request(
                f"Resource '{target['resourceId']}' is not at location '{target['locationId']}'"
            )
        if target["resourceId"] in seen:
            raise bad_request(f"Resource '{target['resourceId']}' is targeted twice")
        seen.add(target["resourceId"])
    return [
        {"resourceId": target["resourceId"], "locationId": target["locationId"]}
        for target in given
    ]


async def _simulate_price_curve(request: web.Request) -> web.Response:
    authenticate(request)
    data = _check_price_curve_request(await read_body(request))
    targets = _price_targets(ec_store(request), data.get("targets"))
    curve: JSONDict = data.get("priceCurveDelta") or {}
    payload = {
        "targets": targets,
        "priceCurveDelta": {
            "points": curve.get("points") or _price_points(next_hour(utc_now())),
            "energyUnit": curve.get("energyUnit", "kWh"),
            "currency": curve.get("currency", "NOK"),
            "resolution": curve.get("resolution", HOURLY),
        },
        "priceArea": data.get("priceArea") or DEFAULT_PRICE_AREA,
        "payloadType": "PriceCurve",
    }
    return _answer(request.app, [new_event(payload)])


@routes.post(f"{SIMULATION}/pricecurve")
async def simulate_price_curve(request: web.Request) -> web.Response:
    """Create one PriceCurve event."""
    return await _simulate_price_curve(request)


@routes.post(f"{SIMULATION}/priceCurve")
async def simulate_price_curve_old_path(request: web.Request) -> web.Response:
    """Create one PriceCurve event (the older path spelling)."""
    return await _simulate_price_curve(request)


# User eligibility


@routes.post(f"{SIMULATION}/usereligibility")
async def simulate_user_eligibility(request: web.Request) -> web.Response:
    """Create one UserEligibility event listing the registered users as added."""
    authenticate(request)
    payload = {
        "lastUpdated": iso(utc_now()),
        "addedUsers": list(ec_store(request).users),
        "removedUsers": [],
        "payloadType": "UserEligibility",
    }
    return _answer(request.app, [new_event(payload)])
