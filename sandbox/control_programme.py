"""Control routes for Energy Coordination's Spark programme (no auth; not part of any platform).

They answer under ``/_sandbox/energy-coordination/…`` and
``/_sandbox/energy_coordination/…`` alike; bodies are JSON objects, unknown
fields are 400; errors are ``{"error": "<what is wrong>"}`` with 400 or 404.

- ``PUT …/users/{userId}/eligibility`` ``{"isEligible": bool | null,
  "publish"?: bool}``: set a registered user's eligibility (``null``: back to
  the default) → 200 ``{userId, isEligible, changed, event}``. With
  ``publish: true`` one ``UserEligibility`` event ``{lastUpdated,
  addedUsers: [userId] | [], removedUsers: [] | [userId], payloadType}``
  (the user under ``addedUsers`` when now eligible, else ``removedUsers``;
  also when nothing changed) is stored under ``/events`` and pushed to the
  subscribed webhooks like a simulated event; ``event`` is its
  ``GetEventResponse`` (else ``null``). 404 for an unknown user.
- ``PUT …/meters/{meterPointId}/eligibility`` ``{"isEligible": bool | null}``
  → 200 ``{meterPointId, isEligible}`` (any id; it need not be registered).
- ``GET`` / ``PUT …/programme/defaults`` ``{"usersEligible"?: bool,
  "metersEligible"?: bool}`` → 200 ``{usersEligible, metersEligible}``: the
  eligibility of users and meter points without an explicit setting (seeded:
  both ``true``).
- ``PUT …/locations/{locationId}/compensation`` ``{"activeAmount"?: number
  ≥ 0, "blockedAmount"?: number ≥ 0, "currency"?: NOK|EUR|SEK|DKK,
  "meterPointIds"?: [string] | null}``: change the given fields of the
  location's compensation for the current month (``meterPointIds: null``:
  the location's own) → 200 the ``LocationCompensation`` as ``GET
  /users/{userId}/compensation`` renders it; 404 for an unknown location.
- ``POST …/locations/{locationId}/compensation/earnings`` ``{"amount":
  number > 0}``: earnings grow — added to ``blockedAmount`` while the
  location has a problem, else to ``activeAmount`` → 200 the
  ``LocationCompensation``; 404.
- ``GET …/users/{userId}/enrollment`` → 200 ``{userId, isEnrolled,
  enrollmentId, enrollmentDate, history: [{action: enrolled|unenrolled,
  enrollmentId, at}]}``; 404 for an unknown user.
- ``PUT …/users/{userId}/enrollment`` ``{"isEnrolled": bool}``: enroll or
  unenroll behind the client's back (eligibility is not checked; an enrolled
  user keeps the enrollment) → 200 as the GET; 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .control import EC_CONTROL_PREFIXES, ControlError
from .energy_coordination_events import iso, new_event, utc_now
from .energy_coordination_programme import (
    CURRENCIES,
    add_earnings,
    enroll,
    enrollment_response,
    render_compensation,
    stored_compensation,
    unenroll,
)
from .energy_coordination_webhooks import publish_event
from .state import EnergyCoordinationState, JSONDict, get_state
from .validation import BodyError, is_number, read_json, unknown_fields

routes = web.RouteTableDef()

type _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _route(method: str, tail: str) -> Callable[[_Handler], _Handler]:
    """Register a control route under both spellings of the prefix."""

    def register(handler: _Handler) -> _Handler:
        for prefix in EC_CONTROL_PREFIXES:
            routes.route(method, prefix + tail)(handler)
        return handler

    return register


async def _body(request: web.Request, allowed: tuple[str, ...]) -> JSONDict:
    try:
        body = await read_json(request)
    except BodyError as err:
        raise ControlError(400, str(err)) from err
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    if extra := unknown_fields(body, allowed):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    return body


def _flag(body: JSONDict, name: str, *, nullable: bool = False) -> bool | None:
    value = body.get(name)
    if isinstance(value, bool) or (nullable and value is None):
        return value
    raise ControlError(400, f"{name} must be a boolean{' or null' if nullable else ''}")


def _store(request: web.Request) -> EnergyCoordinationState:
    return get_state(request).energy_coordination


def _user(request: web.Request) -> str:
    user_id = request.match_info["userId"]
    if user_id not in _store(request).users:
        raise ControlError(404, f"No user {user_id!r}")
    return user_id


def _location(request: web.Request) -> JSONDict:
    location_id = request.match_info["locationId"]
    location = _store(request).locations.get(location_id)
    if location is None:
        raise ControlError(404, f"No location {location_id!r}")
    return location


# Eligibility


@_route("PUT", "/users/{userId}/eligibility")
async def set_user_eligibility(request: web.Request) -> web.Response:
    """Set a user's eligibility; optionally publish a UserEligibility event."""
    body = await _body(request, ("isEligible", "publish"))
    if "isEligible" not in body:
        raise ControlError(400, "isEligible is required (a boolean, or null)")
    eligible = _flag(body, "isEligible", nullable=True)
    publish = _flag(body, "publish") if "publish" in body else False
    user_id = _user(request)
    store = _store(request)
    before = store.user_is_eligible(user_id)
    if eligible is None:
        store.user_eligibility.pop(user_id, None)
    else:
        store.user_eligibility[user_id] = eligible
    after = store.user_is_eligible(user_id)
    event: JSONDict | None = None
    if publish:
        event = new_event(
            {
                "lastUpdated": iso(utc_now()),
                "addedUsers": [user_id] if after else [],
                "removedUsers": [] if after else [user_id],
                "payloadType": "UserEligibility",
            }
        )
        publish_event(request.app, event)
    return web.json_response(
        {
            "userId": user_id,
            "isEligible": after,
            "changed": after != before,
            "event": event,
        }
    )


@_route("PUT", "/meters/{meterPointId}/eligibility")
async def set_meter_eligibility(request: web.Request) -> web.Response:
    """Set a meter point's eligibility (``null``: back to the default)."""
    body = await _body(request, ("isEligible",))
    if "isEligible" not in body:
        raise ControlError(400, "isEligible is required (a boolean, or null)")
    eligible = _flag(body, "isEligible", nullable=True)
    meter_point_id = request.match_info["meterPointId"]
    store = _store(request)
    if eligible is None:
        store.meter_eligibility.pop(meter_point_id, None)
    else:
        store.meter_eligibility[meter_point_id] = eligible
    return web.json_response(
        {
            "meterPointId": meter_point_id,
            "isEligible": store.meter_is_eligible(meter_point_id),
        }
    )


def _defaults(store: EnergyCoordinationState) -> web.Response:
    return web.json_response(
        {"usersEligible": store.users_eligible, "metersEligible": store.meters_eligible}
    )


@_route("GET", "/programme/defaults")
async def get_programme_defaults(request: web.Request) -> web.Response:
    """Return the eligibility of users and meter points without a setting."""
    return _defaults(_store(request))


@_route("PUT", "/programme/defaults")
async def set_programme_defaults(request: web.Request) -> web.Response:
    """Set the eligibility of users and meter points without a setting."""
    body = await _body(request, ("usersEligible", "metersEligible"))
    store = _store(request)
    users = _flag(body, "usersEligible") if "usersEligible" in body else None
    meters = _flag(body, "metersEligible") if "metersEligible" in body else None
    if users is not None:
        store.users_eligible = users
    if meters is not None:
        store.meters_eligible = meters
    return _defaults(store)


# Compensation


def _amount(body: JSONDict, name: str, *, positive: bool) -> float | None:
    if name not in body:
        return None
    value: Any = body[name]
    bound = "> 0" if positive else ">= 0"
    if not is_number(value) or value < 0 or (positive and value == 0):
        raise ControlError(400, f"{name} must be a number {bound}")
    return float(value)


def _meter_point_ids(body: JSONDict) -> list[str] | None:
    value = body["meterPointIds"]
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item for item in value
    ):
        raise ControlError(
            400, "meterPointIds must be an array of non-empty strings, or null"
        )
    return list(value)


@_route("PUT", "/locations/{locationId}/compensation")
async def set_compensation(request: web.Request) -> web.Response:
    """Change the given fields of a location's compensation for this month."""
    body = await _body(
        request, ("activeAmount", "blockedAmount", "currency", "meterPointIds")
    )
    changes: JSONDict = {}
    for name in ("activeAmount", "blockedAmount"):
        if (amount := _amount(body, name, positive=False)) is not None:
            changes[name] = amount
    if "currency" in body:
        if body["currency"] not in CURRENCIES:
            raise ControlError(400, f"currency must be one of {', '.join(CURRENCIES)}")
        changes["currency"] = body["currency"]
    if "meterPointIds" in body:
        changes["meterPointIds"] = _meter_point_ids(body)
    location = _location(request)
    store = _store(request)
    stored_compensation(store, location["locationId"]).update(changes)
    return web.json_response(render_compensation(store, location))


@_route("POST", "/locations/{locationId}/compensation/earnings")
async def add_compensation_earnings(request: web.Request) -> web.Response:
    """Add earnings to a location (blocked while it has a problem)."""
    body = await _body(request, ("amount",))
    amount = _amount(body, "amount", positive=True)
    if amount is None:
        raise ControlError(400, "amount is required (a number > 0)")
    location = _location(request)
    return web.json_response(add_earnings(_store(request), location, amount))


# Enrollment


def _enrollment(store: EnergyCoordinationState, user_id: str) -> web.Response:
    return web.json_response(
        {
            **enrollment_response(store, user_id),
            "history": store.enrollment_history.get(user_id, []),
        }
    )


@_route("GET", "/users/{userId}/enrollment")
async def get_enrollment_state(request: web.Request) -> web.Response:
    """Return a user's enrollment and its history."""
    return _enrollment(_store(request), _user(request))


@_route("PUT", "/users/{userId}/enrollment")
async def set_enrollment_state(request: web.Request) -> web.Response:
    """Enroll or unenroll a user behind the client's back."""
    body = await _body(request, ("isEnrolled",))
    if "isEnrolled" not in body:
        raise ControlError(400, "isEnrolled is required (a boolean)")
    enrolled = _flag(body, "isEnrolled")
    user_id = _user(request)
    store = _store(request)
    if enrolled:
        enroll(store, user_id)
    else:
        unenroll(store, user_id)
    return _enrollment(store, user_id)
