"""Energy Coordination's Spark programme (tag "User Spark Program") under ``/energy-coordination/v1``.

Routes (Bearer auth as every Energy Coordination route: 401 without body;
faults and OpenAPI validation apply as everywhere):

- ``GET /users/{userId}/compensation`` → 200
  ``GetUserCompensationForCurrentMonthResponse`` ``{userId, period: {from,
  to}, locationCompensations: [{locationId, meterPointIds, activeAmount,
  blockedAmount, currency, problems: [{problemType, message}]}]}``, one entry
  per location of the user (registration order; none: ``[]``); 404 without
  body for an unknown user.
- ``GET /users/{userId}/eligibility`` → 200 ``{userId, isEligible}``; 404
  without body.
- ``GET /users/eligible?page&pageSize`` → 200 ``{pagination, users:
  [{userId}]}``: the registered users that are eligible, in registration
  order, paged as ``GET /users`` (``pageSize`` 1..1000, default 100); bad
  paging is 400 ``application/problem+json`` (this operation's documented
  400, unlike ``GET /users``' string).
- ``GET /meters/{mpid}/eligible`` → 200 ``{meterPointId, isEligible}`` for
  any meter point id (the spec lists no 404).
- ``GET`` / ``POST`` / ``DELETE /users/{userId}/enrollment`` → 200
  ``GetUserEnrollmentResponse`` ``{isEnrolled, userId, enrollmentId (uuid) |
  null, enrollmentDate (date-time) | null}``; 404 without body for an
  unknown user.

Business rules (the sandbox's; where Spark's are undocumented they are
assumptions, marked so):

- **Period** (assumption): the current calendar month in Europe/Oslo, ``from``
  its first day and ``to`` its last day (``format: date``, both inclusive).
  The amounts belong to that month: a compensation last set or earned in an
  earlier month reads ``0`` / ``0`` (its currency and meter point ids stay).
- **Amounts**: ``activeAmount`` and ``blockedAmount`` default to 0,
  ``currency`` to ``NOK``; the control API sets them and adds earnings.
- **Problems**: a location without meter point ids has a
  ``MissingMpidOnLocation`` problem (the docs: compensation needs a meter
  point id). The compensation's meter point ids (set through the control
  API; by default the location's) that differ, as a set, from the location's
  give ``CompensationMpidDoesNotMatchLocation``. ``meterPointIds`` in the
  answer are the compensation's.
- **Blocking** (assumption): while a location has a problem, earnings added
  through the control API go to ``blockedAmount``; ``activeAmount`` keeps what
  it had. Blocked amounts stay blocked when the problem is solved (nothing
  documents a release).
- **Eligibility**: users and meter points are eligible unless the control
  API says otherwise (per id, or through the defaults). A meter point id
  that is not an 18-digit GSRN is never eligible (assumption: it names no
  Norwegian meter point). ``POST /simulation/events/usereligibility``
  changes nobody's eligibility (the spec says so); the control API's
  eligibility route can publish a ``UserEligibility`` event with the change.
- **Enrollment**: ``POST`` enrolls (a new ``enrollmentId`` and
  ``enrollmentDate`` = now) and is idempotent: enrolling an enrolled user
  answers the same enrollment, even when the user is no longer eligible.
  ``POST`` for a user who is not eligible is 400 with a JSON string
  (assumption: the spec documents a string 400). Losing eligibility does not
  end an enrollment. ``DELETE`` ends the enrollment and answers **200**
  ``{}``: the spec lists both ``200`` (``application/json`` without a
  schema) and ``204``, the docs' table says 204; the sandbox answers the
  spec's first form, so clients must take both. ``DELETE`` for a user who is
  not enrolled is 400 with a JSON string (assumption). These two 400s are
  not recorded as violations: they depend on state the control API can
  change behind the client's back. Deleting the user ends everything.

The control routes (``control_programme.py``) set eligibility, compensation
and enrollment behind the client's back; they use ``render_compensation``,
``enroll`` and ``unenroll`` from here.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Final
import uuid
from zoneinfo import ZoneInfo

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
from .energy_coordination_events import iso, utc_now
from .envelopes import energy_coordination_error
from .state import EnergyCoordinationState, JSONDict
from .validation import RequestRejectedError, is_gsrn

routes = web.RouteTableDef()

#: The zone the programme's months are counted in (Elvia's, Norway's).
PROGRAMME_ZONE: Final = ZoneInfo("Europe/Oslo")
CURRENCIES: tuple[str, ...] = ("NOK", "EUR", "SEK", "DKK")
DEFAULT_CURRENCY = "NOK"
MISSING_MPID = "MissingMpidOnLocation"
MPID_MISMATCH = "CompensationMpidDoesNotMatchLocation"


# Time


def programme_month(now: datetime | None = None) -> tuple[date, date]:
    """Return the first and last day of the current month in Europe/Oslo."""
    today = (now or utc_now()).astimezone(PROGRAMME_ZONE).date()
    first = today.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_key(now: datetime | None = None) -> str:
    """Return the current Europe/Oslo month as ``YYYY-MM``."""
    return programme_month(now)[0].strftime("%Y-%m")


# Compensation


def new_compensation(month: str) -> JSONDict:
    """Return a location's compensation before anything was set or earned."""
    return {
        "activeAmount": 0.0,
        "blockedAmount": 0.0,
        "currency": DEFAULT_CURRENCY,
        "meterPointIds": None,
        "month": month,
    }


def stored_compensation(store: EnergyCoordinationState, location_id: str) -> JSONDict:
    """Return the location's stored compensation for this month, creating it.

    A compensation of an earlier month starts the new month at 0 / 0.
    """
    month = month_key()
    record = store.compensations.get(location_id)
    if record is None:
        record = store.compensations[location_id] = new_compensation(month)
    elif record["month"] != month:
        record.update(activeAmount=0.0, blockedAmount=0.0, month=month)
    return record


def _problems(location: JSONDict, meter_point_ids: list[str]) -> list[JSONDict]:
    location_id = location["locationId"]
    registered: list[str] = location["meterPointIds"] or []
    problems: list[JSONDict] = []
    if not registered:
        problems.append(
            {
                "problemType": MISSING_MPID,
                "message": f"Location '{location_id}' has no meter point id; "
                "compensation needs one",
            }
        )
    if set(meter_point_ids) != set(registered):
        problems.append(
            {
                "problemType": MPID_MISMATCH,
                "message": "The compensation's meter point ids "
                f"({', '.join(meter_point_ids) or 'none'}) do not match those of "
                f"location '{location_id}' ({', '.join(registered) or 'none'})",
            }
        )
    return problems


def render_compensation(store: EnergyCoordinationState, location: JSONDict) -> JSONDict:
    """Render a location's ``LocationCompensation`` for the current month."""
    month = month_key()
    record = store.compensations.get(location["locationId"]) or new_compensation(month)
    meter_point_ids: list[str] = (
        list(record["meterPointIds"])
        if record["meterPointIds"] is not None
        else list(location["meterPointIds"] or [])
    )
    current = record["month"] == month
    return {
        "locationId": location["locationId"],
        "meterPointIds": meter_point_ids,
        "activeAmount": record["activeAmount"] if current else 0.0,
        "blockedAmount": record["blockedAmount"] if current else 0.0,
        "currency": record["currency"],
        "problems": _problems(location, meter_point_ids),
    }


def add_earnings(
    store: EnergyCoordinationState, location: JSONDict, amount: float
) -> JSONDict:
    """Add earnings to a location: blocked while it has a problem, else active."""
    blocked = bool(render_compensation(store, location)["problems"])
    record = stored_compensation(store, location["locationId"])
    key = "blockedAmount" if blocked else "activeAmount"
    # Rounded to 6 decimals so that repeated additions do not show float noise.
    record[key] = round(record[key] + amount, 6)
    return render_compensation(store, location)


# Enrollment


def enrollment_response(store: EnergyCoordinationState, user_id: str) -> JSONDict:
    """Render a user's ``GetUserEnrollmentResponse``."""
    current = store.enrollments.get(user_id)
    return {
        "isEnrolled": current is not None,
        "userId": user_id,
        "enrollmentId": None if current is None else current["enrollmentId"],
        "enrollmentDate": None if current is None else current["enrollmentDate"],
    }


def _record(
    store: EnergyCoordinationState, user_id: str, action: str, key: str
) -> None:
    store.enrollment_history.setdefault(user_id, []).append(
        {"action": action, "enrollmentId": key, "at": iso(utc_now())}
    )


def enroll(store: EnergyCoordinationState, user_id: str) -> bool:
    """Enroll a user (eligibility not checked); return whether it was not enrolled."""
    if user_id in store.enrollments:
        return False
    enrollment_id = str(uuid.uuid4())
    store.enrollments[user_id] = {
        "enrollmentId": enrollment_id,
        "enrollmentDate": iso(utc_now()),
    }
    _record(store, user_id, "enrolled", enrollment_id)
    return True


def unenroll(store: EnergyCoordinationState, user_id: str) -> bool:
    """End a user's enrollment; return whether there was one."""
    current = store.enrollments.pop(user_id, None)
    if current is None:
        return False
    _record(store, user_id, "unenrolled", current["enrollmentId"])
    return True


# Routes


def _refused(message: str) -> RequestRejectedError:
    """400 with a JSON string for a request the programme's state refuses.

    Not a violation: the state (eligibility, enrollment) can change behind
    the client's back, so a well-behaved client can meet it (as a 409).
    """
    return RequestRejectedError(
        energy_coordination_error(400, message), message, violation=False
    )


def _user_or_404(request: web.Request) -> str:
    user_id = request.match_info["userId"]
    if user_id not in ec_store(request).users:
        raise not_found(f"User {user_id!r} does not exist")
    return user_id


@routes.get(f"{BASE}/users/eligible")
async def list_eligible_users(request: web.Request) -> web.Response:
    """List the eligible users with Spark's pagination block."""
    authenticate(request)
    try:
        page, size = parse_paging(request)
    except PagingError as err:
        raise problem({err.field: [err.message]}) from err
    store = ec_store(request)
    eligible = [
        {"userId": user_id}
        for user_id in store.users
        if store.user_is_eligible(user_id)
    ]
    block, users = paginate(eligible, page, size)
    return web.json_response({"pagination": block, "users": users})


@routes.get(f"{BASE}/users/{{userId}}/compensation")
async def get_compensation(request: web.Request) -> web.Response:
    """Return the user's compensation per location for the current month."""
    authenticate(request)
    user_id = _user_or_404(request)
    store = ec_store(request)
    first, last = programme_month()
    return web.json_response(
        {
            "userId": user_id,
            "period": {"from": first.isoformat(), "to": last.isoformat()},
            "locationCompensations": [
                render_compensation(store, location)
                for location in store.locations.values()
                if location["userId"] == user_id
            ],
        }
    )


@routes.get(f"{BASE}/users/{{userId}}/eligibility")
async def get_eligibility(request: web.Request) -> web.Response:
    """Return whether the user is eligible for the Spark programme."""
    authenticate(request)
    user_id = _user_or_404(request)
    return web.json_response(
        {"userId": user_id, "isEligible": ec_store(request).user_is_eligible(user_id)}
    )


@routes.get(f"{BASE}/meters/{{mpid}}/eligible")
async def get_meter_eligibility(request: web.Request) -> web.Response:
    """Return whether a meter point is eligible (any id; no 404 in the spec)."""
    authenticate(request)
    meter_point_id = request.match_info["mpid"]
    eligible = is_gsrn(meter_point_id) and ec_store(request).meter_is_eligible(
        meter_point_id
    )
    return web.json_response({"meterPointId": meter_point_id, "isEligible": eligible})


@routes.get(f"{BASE}/users/{{userId}}/enrollment")
async def get_enrollment(request: web.Request) -> web.Response:
    """Return the user's enrollment."""
    authenticate(request)
    user_id = _user_or_404(request)
    return web.json_response(enrollment_response(ec_store(request), user_id))


@routes.post(f"{BASE}/users/{{userId}}/enrollment")
async def post_enrollment(request: web.Request) -> web.Response:
    """Enroll the user (idempotent); 400 when the user is not eligible."""
    authenticate(request)
    user_id = _user_or_404(request)
    store = ec_store(request)
    if user_id not in store.enrollments and not store.user_is_eligible(user_id):
        raise _refused(f"User '{user_id}' is not eligible for the Spark program")
    enroll(store, user_id)
    return web.json_response(enrollment_response(store, user_id))


@routes.delete(f"{BASE}/users/{{userId}}/enrollment")
async def delete_enrollment(request: web.Request) -> web.Response:
    """End the user's enrollment: 200 ``{}`` (the spec's 200; it also lists 204)."""
    authenticate(request)
    user_id = _user_or_404(request)
    if not unenroll(ec_store(request), user_id):
        raise _refused(f"User '{user_id}' is not enrolled in the Spark program")
    # The spec's 200 has an application/json body without a schema; the docs
    # table says 204. The sandbox answers 200 with an empty object.
    return web.json_response({})
