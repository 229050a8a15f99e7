"""Readers of the Energy Coordination answers about the programme (Spark).

The programme pays a user for the flexibility of their locations. Its
endpoints (tag "User Spark Program" of the API specification) answer:

- ``GET /users/{userId}/compensation``: ``{userId, period: {from, to},
  locationCompensations: [{locationId, meterPointIds, activeAmount,
  blockedAmount, currency, problems: [{problemType, message}]}]}`` for the
  current month. ``from`` and ``to`` are dates (``format: date``); whether
  ``to`` is the last day of the period or the day after it is not
  documented, so it is kept as sent.
- ``GET /users/{userId}/eligibility``: ``{userId, isEligible}``;
  ``GET /meters/{mpid}/eligible``: ``{meterPointId, isEligible}``.
- ``GET`` / ``POST`` / ``DELETE /users/{userId}/enrollment``: ``{isEnrolled,
  userId, enrollmentId | null, enrollmentDate | null}``.

Lenient where the contract allows it: a problem type GridFlex does not know
is kept by its raw name (``Unknown`` when none is given), a currency outside
the specification's enum (``NOK``, ``EUR``, ``SEK``, ``DKK``) is kept as
sent, a period given as date-time is read by its date as written, and
optional fields may be missing (an amount reads as zero, lists as empty, an
enrollment without ``isEnrolled`` as enrolled when it has an
``enrollmentId``). A compensation entry without a ``locationId`` cannot be
any site's and is left out.

Strict where it matters: amounts are finite JSON numbers of at most
``MAX_ABS_AMOUNT`` either way with at most ``MAX_AMOUNT_DECIMALS`` decimals,
read exactly as ``Decimal`` (the digits of the number as parsed, like the
event reader); the booleans must be booleans; an answer about another user
or meter point than the one asked for, a period outside the years 2000 to
2199 or ending before it starts, and lists beyond their sanity bounds are
refused. Every reader raises ``GridFlexResponseError`` and nothing else for
whatever the answer holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
import logging
import reprlib
from typing import Final

from .errors import GridFlexResponseError
from .models import Compensation, CompensationProblem, Enrollment, LocationCompensation

_LOGGER = logging.getLogger(__name__)

MAX_ABS_AMOUNT: Final = Decimal(1_000_000)
"""The largest amount (in the answer's currency) read, either way."""
MAX_AMOUNT_DECIMALS: Final = 30
"""The most decimals an amount may have (a double printed in full has 17)."""
MAX_LOCATIONS: Final = 1000
"""The most locations one compensation answer may list."""
MAX_METER_POINTS: Final = 100
"""The most meter point ids one location's compensation may list."""
MAX_PROBLEMS: Final = 100
"""The most problems one location's compensation may list."""
MAX_TEXT: Final = 1000
"""Longer problem messages are cut to this many characters."""
MAX_NAME: Final = 64
"""The longest problem type or currency read (longer ones are refused)."""
EARLIEST_DATE: Final = date(2000, 1, 1)
LATEST_DATE: Final = date(2199, 12, 31)

PROBLEM_TYPES: Final = ("MissingMpidOnLocation", "CompensationMpidDoesNotMatchLocation")
"""The problem types of the specification; others are kept by their raw name."""
UNKNOWN_PROBLEM: Final = "Unknown"
"""The kind of a problem whose ``problemType`` is missing."""
CURRENCIES: Final = ("NOK", "EUR", "SEK", "DKK")
"""The specification's currencies; others are kept as sent."""

_SHOW: Final = reprlib.Repr(maxstring=80, maxother=80, maxlevel=3)
_UNREADABLE: Final = (
    OverflowError,
    ValueError,
    ArithmeticError,
    TypeError,
    RecursionError,
)


def read_compensation(answer: object, user_id: str) -> Compensation:
    """Read ``GET /users/{userId}/compensation`` for ``user_id``.

    Raises:
        GridFlexResponseError: an answer that is not a JSON object, is about
            another user, or holds a field GridFlex cannot read or outside
            its sanity bounds.

    """
    what = "the Energy Coordination compensation"
    return _guarded(what, lambda: _compensation(answer, user_id, what))


def read_user_eligibility(answer: object, user_id: str) -> bool:
    """Read ``GET /users/{userId}/eligibility``: whether the user is eligible.

    Raises:
        GridFlexResponseError: not a JSON object, about another user, or
            without a boolean ``isEligible``.

    """
    what = "the Energy Coordination user eligibility"
    return _guarded(what, lambda: _eligible(answer, "userId", user_id, what))


def read_meter_point_eligibility(answer: object, meter_point_id: str) -> bool:
    """Read ``GET /meters/{mpid}/eligible``: whether the meter point is eligible.

    Raises:
        GridFlexResponseError: not a JSON object, about another meter point,
            or without a boolean ``isEligible``.

    """
    what = "the Energy Coordination meter point eligibility"
    return _guarded(
        what, lambda: _eligible(answer, "meterPointId", meter_point_id, what)
    )


def read_enrollment(answer: object, user_id: str) -> Enrollment:
    """Read a ``GetUserEnrollmentResponse`` for ``user_id``.

    ``isEnrolled`` is optional in the specification (read-only): without it
    the user is enrolled when the answer has an ``enrollmentId``. An
    ``enrollmentId`` or ``enrollmentDate`` that cannot be read is left out
    (``None``): whether the user is enrolled does not depend on them.

    Raises:
        GridFlexResponseError: not a JSON object, about another user, or
            with an ``isEnrolled`` that is not a boolean.

    """
    what = "the Energy Coordination enrollment"
    return _guarded(what, lambda: _enrollment(answer, user_id, what))


def _guarded[T](what: str, read: Callable[[], T]) -> T:
    """Run ``read``; whatever it trips over becomes a ``GridFlexResponseError``."""
    try:
        return read()
    except _UNREADABLE as err:
        raise GridFlexResponseError(
            f"Cannot read {what}: {type(err).__name__}: {_SHOW.repr(str(err))[1:-1]}"
        ) from err


def _object(answer: object, what: str) -> Mapping[str, object]:
    if not isinstance(answer, dict):
        raise GridFlexResponseError(f"Expected {what} to be a JSON object")
    return answer


def _check_about(
    answer: Mapping[str, object], key: str, expected: str, what: str
) -> None:
    """Refuse an answer whose ``key`` names someone else (missing is fine)."""
    value = answer.get(key)
    if value is None:
        return
    if value != expected:
        raise GridFlexResponseError(
            f"Expected {what} to be about {key} {_SHOW.repr(expected)}, "
            f"not {_SHOW.repr(value)}"
        )


def _eligible(answer: object, key: str, expected: str, what: str) -> bool:
    body = _object(answer, what)
    _check_about(body, key, expected, what)
    eligible = body.get("isEligible")
    if not isinstance(eligible, bool):
        raise GridFlexResponseError(f"Expected {what} to have a boolean isEligible")
    return eligible


def _enrollment(answer: object, user_id: str, what: str) -> Enrollment:
    body = _object(answer, what)
    _check_about(body, "userId", user_id, what)
    enrollment_id = body.get("enrollmentId")
    if not isinstance(enrollment_id, str) or not enrollment_id:
        enrollment_id = None
    elif len(enrollment_id) > MAX_NAME:
        _LOGGER.debug("Ignoring an enrollmentId of %s characters", len(enrollment_id))
        enrollment_id = None
    enrolled = body.get("isEnrolled")
    if enrolled is None:
        enrolled = enrollment_id is not None
    elif not isinstance(enrolled, bool):
        raise GridFlexResponseError(f"Expected {what} to have a boolean isEnrolled")
    return Enrollment(
        enrolled=enrolled,
        enrollment_id=enrollment_id,
        enrolled_at=_enrollment_date(body.get("enrollmentDate")),
    )


def _enrollment_date(value: object) -> datetime | None:
    """An aware UTC time in the years 2000 to 2199; ``None`` otherwise."""
    if not isinstance(value, str) or len(value) > MAX_NAME:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        when = (
            parsed.replace(tzinfo=UTC)
            if parsed.tzinfo is None
            else parsed.astimezone(UTC)
        )
    except ValueError, OverflowError:
        _LOGGER.debug("Ignoring an enrollmentDate of %s", _SHOW.repr(value))
        return None
    if not EARLIEST_DATE <= when.date() <= LATEST_DATE:
        _LOGGER.debug("Ignoring an enrollmentDate of %s", _SHOW.repr(value))
        return None
    return when


def _compensation(answer: object, user_id: str, what: str) -> Compensation:
    body = _object(answer, what)
    _check_about(body, "userId", user_id, what)
    period_start, period_end = _period(body.get("period"), what)
    items = _list(body.get("locationCompensations"), what, "locationCompensations")
    if len(items) > MAX_LOCATIONS:
        raise GridFlexResponseError(
            f"Expected {what} to list at most {MAX_LOCATIONS} locations, "
            f"not {len(items)} (out of range)"
        )
    locations: list[LocationCompensation] = []
    for item in items:
        location = _location_compensation(item, what)
        if location is not None:
            locations.append(location)
    return Compensation(
        period_start=period_start, period_end=period_end, locations=tuple(locations)
    )


def _period(value: object, what: str) -> tuple[date | None, date | None]:
    if value is None:
        return None, None
    period = _object(value, f"the period of {what}")
    start = _date(period.get("from"), "from", what)
    end = _date(period.get("to"), "to", what)
    if start is not None and end is not None and end < start:
        raise GridFlexResponseError(
            f"Expected {what} to have a period that ends after it starts, "
            f"not {start.isoformat()} to {end.isoformat()}"
        )
    return start, end


def _date(value: object, key: str, what: str) -> date | None:
    """A ``format: date`` string; a date-time is read by its date as written."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise GridFlexResponseError(
            f"Expected {what} to have a date as its period's {key}, "
            f"not {_SHOW.repr(value)}"
        )
    text = value.strip()
    try:
        day = date.fromisoformat(text) if len(text) <= 10 else None
        if day is None:
            day = datetime.fromisoformat(text).date()
    except ValueError:
        raise GridFlexResponseError(
            f"Expected {what} to have a date as its period's {key}, "
            f"not {_SHOW.repr(value)}"
        ) from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise GridFlexResponseError(
            f"Expected {what} to have a period in the years 2000 to 2199, "
            f"not {day.isoformat()} (out of range)"
        )
    return day


def _list(value: object, what: str, key: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise GridFlexResponseError(f"Expected {what} to have a list of {key}")
    return value


def _location_compensation(item: object, what: str) -> LocationCompensation | None:
    entry = _object(item, f"each location of {what}")
    location_id = entry.get("locationId")
    if not isinstance(location_id, str) or not location_id:
        _LOGGER.debug("Skipping a location compensation without a locationId")
        return None
    where = f"{what} of location {_SHOW.repr(location_id)}"
    meter_points = _list(entry.get("meterPointIds"), where, "meterPointIds")
    if len(meter_points) > MAX_METER_POINTS:
        raise GridFlexResponseError(
            f"Expected {where} to list at most {MAX_METER_POINTS} meter points, "
            f"not {len(meter_points)} (out of range)"
        )
    meter_point_ids: list[str] = []
    for meter_point in meter_points:
        if isinstance(meter_point, str) and meter_point not in meter_point_ids:
            meter_point_ids.append(meter_point)
    problems = _list(entry.get("problems"), where, "problems")
    if len(problems) > MAX_PROBLEMS:
        raise GridFlexResponseError(
            f"Expected {where} to list at most {MAX_PROBLEMS} problems, "
            f"not {len(problems)} (out of range)"
        )
    return LocationCompensation(
        location_id=location_id,
        meter_point_ids=tuple(meter_point_ids),
        active_amount=_amount(entry.get("activeAmount"), "activeAmount", where),
        blocked_amount=_amount(entry.get("blockedAmount"), "blockedAmount", where),
        currency=_currency(entry.get("currency"), where),
        problems=tuple(_problem(problem, where) for problem in problems),
    )


def _amount(value: object, key: str, what: str) -> Decimal:
    """A finite JSON number within the bounds, exactly; zero when missing."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise GridFlexResponseError(
            f"Expected {what} to have a number as {key}, not {_SHOW.repr(value)}"
        )
    # A float is read by its shortest repr, the digits the platform sent (as
    # the event reader does); an int or a Decimal (parse_float) as it is.
    number = Decimal(value) if isinstance(value, int) else Decimal(str(value))
    if not number.is_finite():
        raise GridFlexResponseError(
            f"Expected {what} to have a finite number as {key}, not {_SHOW.repr(value)}"
        )
    if number.copy_abs() > MAX_ABS_AMOUNT:
        raise GridFlexResponseError(
            f"Expected {what} to have a {key} of at most {MAX_ABS_AMOUNT} "
            f"either way, not {_SHOW.repr(value)} (out of range)"
        )
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_AMOUNT_DECIMALS:
        raise GridFlexResponseError(
            f"Expected {what} to have a {key} with at most {MAX_AMOUNT_DECIMALS} "
            f"decimals, not {_SHOW.repr(value)} (out of range)"
        )
    return number


def _currency(value: object, what: str) -> str | None:
    """The currency as sent (the specification's enum or not); ``None`` if none."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise GridFlexResponseError(
            f"Expected {what} to have a currency code, not {_SHOW.repr(value)}"
        )
    return value


def _problem(item: object, what: str) -> CompensationProblem:
    problem = _object(item, f"each problem of {what}")
    kind = problem.get("problemType")
    if kind is None or kind == "":
        kind = UNKNOWN_PROBLEM
    elif not isinstance(kind, str) or len(kind) > MAX_NAME:
        raise GridFlexResponseError(
            f"Expected {what} to have a problemType name, not {_SHOW.repr(kind)}"
        )
    message = problem.get("message")
    text = message if isinstance(message, str) else ""
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return CompensationProblem(kind=kind, message=text)
