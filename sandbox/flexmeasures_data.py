"""FlexMeasures sensor data: ``POST`` and ``GET /api/v3_0/sensors/{id}/data``.

As FlexMeasures 1.0.1 (API v3.0-32) answers when no ``ingestion`` worker is
connected (it then saves the data within the request, so never 202). Both
routes need the bare token (401 otherwise) and read their fields from the
query string and the JSON body together (``combined_sensor_data_description``;
a key in both: the query's value). The path names the sensor: ``sensor`` and
``id`` in the body are ignored. The order of checks is FlexMeasures': token
(401), body size (POST only, 413), sensor id (404 ``{"message": "Sensor n not
found", "status": 404}``; ``SensorIdField`` of the data routes aborts with
404, unlike ``GET /sensors/{id}``'s 422), fields (422), whole-request checks
(422), then access to the sensor's account (403 ``INVALID_SENDER``).

Validation errors are 422 ``{"message": {"combined_sensor_data_description":
{field: [msgs]}}, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"}``.
Field errors (unknown fields, missing ``start``/``duration``/``unit``, a naive
or malformed datetime, a duration that is not ISO 8601 or not a whole number
of minutes, ``values`` that are not numbers, a ``type`` not in the enum) come
first; only without them do
the whole-request checks run, collected under ``"_schema"`` in FlexMeasures'
(alphabetical) order: several instantaneous values, a resolution (``duration
/ len(values)``) that is neither a multiple nor a divisor of the sensor's
``event_resolution`` (``"Resolution of 0:07:00 is incompatible with the
sensor's required resolution of 0:15:00."``), a unit that does not convert to
the sensor's (``"Required unit for this sensor is kW, got incompatible unit:
°C"`` — prefixes convert, W ↔ kW ↔ MW, EUR/MWh ↔ EUR/kWh, and a flow
converts to its stock over the resolution, kW ↔ kWh), a unit that does not
fit ``type``, one value over zero duration.

Where FlexMeasures fails with a 500 the sandbox answers 422 with its own
wording (a violation): ``values`` missing, a negative ``duration``, a
nominal duration (``P1M``, ``P1Y``), a body that is JSON but not an object.

``POST`` body: ``{start, duration, values, unit, prior?, horizon?, type?}``.
``start`` is an ISO 8601 datetime with an offset (seconds optional; a space
is read as ``+``, an unescaped ``+`` in a query string), ``values`` a
non-empty list of numbers and ``null`` or a single number (numeric strings
are read as numbers, as marshmallow's ``Float`` does). The server upsamples
coarser data by repeating values, converts the unit, floors ``start`` to the
sensor's resolution (in the offset given), downsamples finer data by
averaging, and drops ``null``. The body may be 3 MiB at most
(``FLEXMEASURES_MAX_SENSOR_DATA_INGESTION_BYTES``): 413 ``{"result":
"Rejected", "status": "PAYLOAD_TOO_LARGE", "message": "Request body exceeds
the configured limit of 3145728 bytes."}``. A body that is not JSON is
ignored, as FlexMeasures' loader does (so the fields are missing: 422).

Every stored value is a belief with a belief time: ``prior`` if given, else
the event's end minus ``horizon`` if given, else the time of the request. A
value equal to the most recent stored belief (from the same side of the
event's end) is skipped; a different value with the *same* belief time is a
replacement, refused as a whole: 403 ``{"results": "Rejected", "status":
"INVALID_REPLACEMENT", "message": …}`` (``results``, FlexMeasures' spelling).
A different value with a later belief time (a re-post without ``prior`` or
``horizon``) is a newer belief and becomes the current value. Answers: 200
``{"status": "PROCESSED", "message": "Request has been processed."}`` when
every non-null value was new; 200 ``{"results": "PROCESSED", "status":
"ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED", "message": "Some of the data
has already been received and successfully processed."}`` when some or all
values were skipped, or all were ``null`` (new values in it are stored).

``GET ?start&duration&unit[&resolution][&prior][&horizon][&source]
[&source-account][&source-type][&type]`` (snake_case spellings accepted, an
unknown parameter is 422) → 200 ``{values: [number | null], start,
duration, unit, resolution, status: "PROCESSED", message}``: one value per
``resolution`` (default: the sensor's) from ``start``, one belief per event
(``prior``/``horizon`` narrow the beliefs), averaged when coarser than the
sensor's resolution and repeated when finer, in the requested unit.

Two data sources write beliefs: the user (id 1, ``user``: what ``POST``
stores) and, once a schedule finished, the scheduler (id 2, ``scheduler``:
each finished schedule is written into the scheduled power sensor, see
``flexmeasures_schedules.py``). Per source the most recent belief counts;
across sources the scheduler's where it has one, so an unfiltered read of a
scheduled sensor answers the schedule for future and overlapping intervals,
as a real FlexMeasures 1.0.1 server does (platform notes §6). ``source=<id>``,
``source-type=user|scheduler`` and ``source-account`` (the scheduler's
source has no account) keep them apart; ``source`` must name a source that
exists (``No data source found with ID n.``), ``source-type`` one that
recorded data on the sensor (422 ``No data source with source-type 'user'
has recorded any data on this sensor.`` otherwise: an answer about the data,
not recorded as a violation).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
import json
import math
import re
from typing import Any, NoReturn

from aiohttp import web

from .envelopes import (
    FLEXMEASURES_FORBIDDEN,
    flexmeasures_http_error,
    flexmeasures_rejected,
    flexmeasures_unprocessable,
)
from .flexmeasures import (
    CURRENCY_UNITS,
    MISSING,
    NOT_NULL,
    OTHER_UNITS,
    SENSORS,
    SI_BASE_UNITS,
    UNKNOWN,
    _authenticate,
    _Duration,
)
from .openapi import RAW_BODY_KEY
from .state import FlexMeasuresState, JSONDict, get_state
from .validation import RequestRejectedError, unknown_fields

routes = web.RouteTableDef()

SENSOR_DATA = f"{SENSORS}/{{id}}/data"
#: Where FlexMeasures' webargs loader files the errors of these routes.
LOCATION = "combined_sensor_data_description"
#: ``FLEXMEASURES_MAX_SENSOR_DATA_INGESTION_BYTES`` (3 MiB by default).
MAX_INGESTION_BYTES = 3 * 1024 * 1024
#: A body beyond this is not read to its end before the 413.
_DRAIN_LIMIT = 64 * 1024 * 1024
PROCESSED_MESSAGE = "Request has been processed."
ALREADY_RECEIVED_MESSAGE = (
    "Some of the data has already been received and successfully processed."
)
REPLACEMENT_MESSAGE = (
    "Some of the data represents a replacement: existing values would be changed "
    "for the same sensor, source, event timestamp and belief time. This is reserved "
    "for customized servers. If you are hosting FlexMeasures, you can enable "
    "replacements by setting FLEXMEASURES_ALLOW_DATA_OVERWRITE=True in the "
    "configuration settings. Alternatively, submit the data with a different prior, "
    "or check whether the same file was already uploaded with different values."
)
POST_TYPES: tuple[str, ...] = (
    "PostSensorDataRequest",
    "PostMeterDataRequest",
    "PostPrognosisRequest",
    "PostPriceDataRequest",
    "PostWeatherDataRequest",
)
GET_TYPES: tuple[str, ...] = (
    "GetSensorDataRequest",
    "GetMeterDataRequest",
    "GetPrognosisRequest",
    "GetPriceDataRequest",
)
#: The data source FlexMeasures creates for the (single) sandbox user.
DATA_SOURCE_ID = 1
DATA_SOURCE_TYPE = "user"
#: The data source FlexMeasures creates for its storage scheduler once it has
#: saved a schedule (``type: scheduler``, no account).
SCHEDULER_SOURCE_ID = 2
SCHEDULER_SOURCE_TYPE = "scheduler"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

type _Messages = list[str] | dict[str, list[str]]
type _Errors = dict[str, _Messages]


class _FieldError(ValueError):
    """One field is invalid; ``messages`` are marshmallow's for it."""

    def __init__(self, messages: str | dict[str, list[str]]) -> None:
        super().__init__(str(messages))
        self.messages: _Messages = [messages] if isinstance(messages, str) else messages


# Fields


_ISO_DATETIME = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"[T ](?P<hour>\d{1,2}):(?P<minute>\d{1,2})"
    r"(?::(?P<second>\d{1,2})(?:\.(?P<microsecond>\d{1,6})\d{0,6})?)?"
    r"(?P<tzinfo>Z|[+-]\d{2}(?::?\d{2})?)?$"
)
_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO_DURATION = re.compile(
    rf"^(?P<sign>[+-])?P(?!\b)(?:(?P<years>{_NUMBER})Y)?(?:(?P<months>{_NUMBER})M)?"
    rf"(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?"
    rf"(?:(?P<seconds>{_NUMBER})S)?)?$"
)
_DURATION_SECONDS: dict[str, int] = {
    "weeks": 604800,
    "days": 86400,
    "hours": 3600,
    "minutes": 60,
    "seconds": 1,
}


def _fixed_timezone(text: str) -> timezone:
    if text == "Z":
        return UTC
    minutes = 60 * int(text[1:3]) + (int(text[-2:]) if len(text) > 3 else 0)
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def _aware_datetime(value: Any) -> datetime:
    """Parse like FlexMeasures' ``AwareDateTimeField`` (marshmallow's ISO format)."""
    if not isinstance(value, str):
        raise _FieldError("Not a valid datetime.")
    match = _ISO_DATETIME.match(value.replace(" ", "+"))
    if match is None:
        raise _FieldError("Not a valid datetime.")
    offset = match["tzinfo"]
    try:
        tzinfo = None if offset is None else _fixed_timezone(offset)
        parsed = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int((match["microsecond"] or "0").ljust(6, "0")),
            tzinfo=tzinfo,
        )
    except ValueError:
        raise _FieldError("Not a valid datetime.") from None
    if tzinfo is None:
        raise _FieldError("Not a valid aware datetime.")
    return parsed


def _duration(value: Any) -> timedelta:
    """Parse like FlexMeasures' ``DurationField`` (isodate; whole minutes only)."""
    if not isinstance(value, str):
        raise _FieldError("Not a valid string.")
    match = _ISO_DURATION.match(value)
    if match is None:
        raise _FieldError(
            f"Cannot parse {value} as ISO8601 duration: "
            f"Unable to parse duration string {value!r}"
        )
    if any(
        Decimal(match[name].replace(",", "."))
        for name in ("years", "months")
        if match[name]
    ):
        # FlexMeasures parses these as nominal durations and then fails (500).
        raise _FieldError(
            f"Nominal durations (years, months) such as {value} are not supported "
            "for sensor data."
        )
    seconds = sum(
        (
            Decimal(match[name].replace(",", ".")) * factor
            for name, factor in _DURATION_SECONDS.items()
            if match[name]
        ),
        Decimal(0),
    )
    duration = timedelta(microseconds=int(seconds * 1_000_000))
    if match["sign"] == "-":
        duration = -duration
    if duration.seconds % 60 or duration.microseconds:
        raise _FieldError("FlexMeasures only support multiples of 1 minute.")
    return duration


def _period(value: Any) -> timedelta:
    """A ``duration``: an ISO 8601 duration that is not negative."""
    duration = _duration(value)
    if duration < timedelta(0):
        # FlexMeasures fails (500) on a negative duration.
        raise _FieldError("Must not be negative.")
    return duration


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _FieldError("Not a valid string.")
    return value


def _non_empty_string(value: Any) -> str:
    if not _string(value):
        raise _FieldError("Shorter than minimum length 1.")
    return str(value)


def _one_of(choices: tuple[str, ...], value: Any) -> str:
    if _string(value) not in choices:
        raise _FieldError(f"Must be one of: {', '.join(choices)}.")
    return str(value)


def _integer(value: Any) -> int:
    """Read an integer as marshmallow's ``Integer`` does (``"3"`` and ``3.0`` too)."""
    if isinstance(value, bool):
        raise _FieldError("Not a valid integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise _FieldError("Not a valid integer.")


def _number(value: Any) -> float:
    """Read a number as marshmallow's ``Float`` does (numeric strings too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _FieldError("Not a valid number.")
    try:
        number = float(value)
    except ValueError:
        raise _FieldError("Not a valid number.") from None
    except OverflowError:
        raise _FieldError("Number too large.") from None
    if not math.isfinite(number):
        raise _FieldError("Special numeric values (nan or infinity) are not permitted.")
    return number


def _values(value: Any) -> list[float | None]:
    """A non-empty list of numbers and nulls, or a single number."""
    if not isinstance(value, list):
        return [_number(value)]
    if not value:
        raise _FieldError("Shorter than minimum length 1.")
    errors: dict[str, list[str]] = {}
    values: list[float | None] = []
    for index, item in enumerate(value):
        if item is None:
            values.append(None)
            continue
        try:
            values.append(_number(item))
        except _FieldError as err:
            errors[str(index)] = [str(err)]
    if errors:
        raise _FieldError(errors)
    return values


type _Parser = Callable[[Any], Any]

_POST_FIELDS: dict[str, _Parser] = {
    "start": _aware_datetime,
    "duration": _period,
    "horizon": _duration,
    "prior": _aware_datetime,
    "unit": _string,
    "values": _values,
    "type": partial(_one_of, POST_TYPES),
}
_POST_REQUIRED = ("start", "duration", "unit", "values")
_GET_FIELDS: dict[str, _Parser] = {
    "start": _aware_datetime,
    "duration": _period,
    "horizon": _duration,
    "prior": _aware_datetime,
    "unit": _string,
    "resolution": _duration,
    "source": _integer,
    "source-account": _integer,
    "source-type": _non_empty_string,
    "type": partial(_one_of, GET_TYPES),
}
_GET_REQUIRED = ("start", "duration", "unit")


def _parse_fields(
    data: JSONDict, fields: dict[str, _Parser], required: tuple[str, ...]
) -> tuple[JSONDict, _Errors]:
    """Check each field; return the parsed values and the errors per field."""
    errors: _Errors = {name: [UNKNOWN] for name in unknown_fields(data, fields)}
    parsed: JSONDict = {}
    for name, parse in fields.items():
        if name not in data:
            if name in required:
                errors[name] = [MISSING]
        elif data[name] is None:
            errors[name] = [NOT_NULL]
        else:
            try:
                parsed[name] = parse(data[name])
            except _FieldError as err:
                errors[name] = err.messages
    return parsed, errors


# Units


#: SI prefixes and their powers of ten.
_PREFIXES: dict[str, int] = {"": 0, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12}
#: Flows and the stocks they accumulate to over time.
_STOCKS: dict[str, str] = {"W": "Wh", "VA": "VAh", "var": "varh"}


@dataclass(frozen=True, slots=True)
class _Unit:
    """A unit as a base (``W``, ``EUR/Wh``) and a power of ten (``kW`` = ``W``, 3)."""

    base: str
    exponent: int


def _term(text: str) -> tuple[str, int] | None:
    if text in OTHER_UNITS or text in CURRENCY_UNITS:
        return text, 0
    for prefix, exponent in _PREFIXES.items():
        if text.startswith(prefix) and text[len(prefix) :] in SI_BASE_UNITS:
            return text[len(prefix) :], exponent
    return None


def _parse_unit(unit: str) -> _Unit | None:
    if unit in ("", "dimensionless"):
        return _Unit("", 0)
    terms = [_term(part) for part in unit.split("/")]
    if len(terms) > 2 or None in terms:
        return None
    (base, exponent), *rest = (term for term in terms if term is not None)
    if rest:
        (per, per_exponent) = rest[0]
        return _Unit(f"{base}/{per}", exponent - per_exponent)
    return _Unit(base, exponent)


def _multiplier(from_unit: str, to_unit: str, resolution: timedelta) -> float | None:
    """Return the factor that converts values between units; None when they do not convert.

    Prefixes convert within a unit (W, kW, MW; EUR/MWh, EUR/kWh); a flow
    converts to and from its stock (kW ↔ kWh) over a non-zero ``resolution``.
    """
    if from_unit == to_unit:
        return 1.0
    source, target = _parse_unit(from_unit), _parse_unit(to_unit)
    if source is None or target is None:
        return None
    factor = 10.0 ** (source.exponent - target.exponent)
    if source.base == target.base:
        return factor
    hours = resolution / timedelta(hours=1)
    if not hours:
        return None
    if _STOCKS.get(source.base) == target.base:
        return factor * hours
    if _STOCKS.get(target.base) == source.base:
        return factor / hours
    return None


def _is_energy_price_unit(unit: str) -> bool:
    currency, _, energy = unit.partition("/")
    parsed = _parse_unit(energy)
    return currency in CURRENCY_UNITS and parsed is not None and parsed.base == "Wh"


# Requests


def _rejected(
    errors: _Errors, reason: str | None = None, *, violation: bool = True
) -> RequestRejectedError:
    summary = "; ".join(
        f"{field}: {' '.join(msgs) if isinstance(msgs, list) else json.dumps(msgs)}"
        for field, msgs in errors.items()
    )
    return RequestRejectedError(
        flexmeasures_unprocessable({LOCATION: errors}),
        f"{reason}; {summary}" if reason else summary,
        violation=violation,
    )


def _forbidden(reason: str) -> RequestRejectedError:
    return RequestRejectedError(
        flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN), reason
    )


def _sensor(request: web.Request) -> JSONDict:
    """Find the sensor in the path: 404 when unknown, as the data routes' ``SensorIdField`` aborts."""
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise _rejected({"sensor": ["Not a valid integer."]})
    sensor = get_state(request).flexmeasures.sensors.get(int(raw))
    if sensor is None:
        raise RequestRejectedError(
            flexmeasures_http_error(404, f"Sensor {int(raw)} not found"),
            f"Sensor {int(raw)} does not exist",
            violation=False,
        )
    return sensor


def _check_access(store: FlexMeasuresState, sensor: JSONDict, user: JSONDict) -> None:
    if store.assets[sensor["generic_asset_id"]]["account_id"] != user["account_id"]:
        raise _forbidden(f"Sensor {sensor['id']} belongs to another account")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _decode(raw: bytes, content_type: str) -> tuple[Any, str | None]:
    """Decode a JSON body; FlexMeasures' loader ignores one that is not JSON.

    Returns the body (None when there is none or it is ignored) and, for an
    ignored body, why.
    """
    if not raw.strip():
        return None, None
    if content_type != "application/json":
        return None, f"Body ignored: Content-Type {content_type!r} is not JSON"
    try:
        return json.loads(raw.decode(), parse_constant=_reject_constant), None
    except ValueError as err:  # UnicodeDecodeError is a ValueError
        return None, f"Body ignored: not valid JSON ({err})"


def _description(request: web.Request, body: Any) -> JSONDict:
    """Combine the query and the JSON body as FlexMeasures' loader does.

    A key in both keeps the query's value (werkzeug's ``MultiDict.update``
    adds, and a field reads the first value); ``id`` and ``sensor`` are
    dropped: the path names the sensor.
    """
    if body is not None and not isinstance(body, dict):
        raise _rejected({"_schema": ["Invalid input type."]})
    data: JSONDict = dict(body or {})
    data.update({key: request.query[key] for key in request.query})
    if body is not None and "values" in body:
        data["values"] = body["values"]
    data.pop("id", None)
    data.pop("sensor", None)
    return data


async def _read_body(request: web.Request, limit: int | None) -> bytes:
    """Read the body; 413 when it is larger than ``limit`` (read to its end first).

    FlexMeasures compares ``Content-Length`` with the limit; the sandbox also
    counts the bytes of a chunked body.
    """
    too_large = limit is not None and (request.content_length or 0) > limit
    chunks: list[bytes] = []
    size = 0
    if (read := request.get(RAW_BODY_KEY)) is not None:
        # The OpenAPI validation read the body already (bodies up to 3 MiB).
        size = len(read)
        too_large = too_large or (limit is not None and size > limit)
        chunks.append(read)
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if limit is not None and size > limit:
            too_large = True
        if too_large:
            chunks.clear()
            if size > _DRAIN_LIMIT:
                break
        else:
            chunks.append(chunk)
    if too_large:
        message = f"Request body exceeds the configured limit of {limit} bytes."
        raise RequestRejectedError(
            web.json_response(
                {
                    "result": "Rejected",
                    "status": "PAYLOAD_TOO_LARGE",
                    "message": message,
                },
                status=413,
            ),
            f"Body of {max(size, request.content_length or 0)} bytes; {message}",
            violation=True,
        )
    return b"".join(chunks)


# Time


def _resolution_of(sensor: JSONDict) -> timedelta:
    seconds = _Duration.parse(sensor["event_resolution"])
    return timedelta(microseconds=int(seconds * 1_000_000))


def _floor(moment: datetime, resolution: timedelta) -> datetime:
    """Floor to the resolution on the wall clock of the moment's offset (as pandas does)."""
    offset = moment.utcoffset() or timedelta(0)
    wall = moment - _EPOCH + offset
    return moment - wall % resolution


def _event_key(moment: datetime) -> str:
    """The key of an event start in ``beliefs``: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()


def _belief_key(moment: datetime) -> str:
    """The key of a belief time in ``belief_history`` (fixed width: sorts by time)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _isodate_format(moment: datetime) -> str:
    """Format like isodate's ``datetime_isoformat``: seconds, ``Z`` for UTC."""
    offset = moment.utcoffset() or timedelta(0)
    if not offset:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    minutes = int(abs(offset) / timedelta(minutes=1))
    sign = "-" if offset < timedelta(0) else "+"
    return (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    )


def _duration_format(duration: timedelta) -> str:
    """Format like FlexMeasures' ``duration_isoformat`` (``PT24H``, never days)."""
    return _Duration.format(Decimal(duration // timedelta(microseconds=1)) / 1_000_000)


def _decide_resolution(duration: timedelta) -> timedelta:
    """FlexMeasures' default resolution for instantaneous sensors, by window length."""
    if duration > timedelta(weeks=16):
        return timedelta(hours=168)
    if duration > timedelta(weeks=2):
        return timedelta(hours=24)
    if duration > timedelta(days=2):
        return timedelta(hours=1)
    return timedelta(minutes=15)


# Stored beliefs


def _canonical_key(key: Any) -> str:
    moment = key if isinstance(key, datetime) else datetime.fromisoformat(key)
    return _event_key(moment)


def _current(store: FlexMeasuresState, sensor_id: int) -> dict[str, float]:
    """Return the sensor's current values, with keys in the canonical form.

    Tests may seed ``beliefs`` with datetimes or other ISO spellings; they
    are rewritten to ``_event_key`` form here.
    """
    current = store.beliefs.get(sensor_id, {})
    if any(_canonical_key(key) != key for key in current):
        current = {_canonical_key(key): value for key, value in current.items()}
        store.beliefs[sensor_id] = current
    return current


@dataclass(frozen=True, slots=True)
class _Stored:
    """A sensor's stored data: current values and the history of beliefs."""

    current: dict[str, float]
    history: dict[str, dict[str, float]]

    @classmethod
    def of(cls, store: FlexMeasuresState, sensor_id: int) -> _Stored:
        return cls(_current(store, sensor_id), store.belief_history.get(sensor_id, {}))

    def beliefs(self, key: str, end: datetime) -> list[tuple[datetime, float]]:
        """Return an event's beliefs as ``(belief time, value)``.

        A value seeded in ``beliefs`` without history counts as a belief
        formed at the event's end (a measurement).
        """
        if history := self.history.get(key):
            return [
                (datetime.fromisoformat(time), value) for time, value in history.items()
            ]
        value = self.current.get(key)
        return [] if value is None else [(end, value)]


@dataclass(frozen=True, slots=True)
class _Belief:
    key: str
    end: datetime
    time: datetime
    value: float


def _is_ex_ante(belief_time: datetime, end: datetime) -> bool:
    return belief_time < end


def _triage(
    stored: _Stored, beliefs: list[_Belief]
) -> tuple[list[_Belief], int, _Belief | None]:
    """Split beliefs into new ones and unchanged ones; find a replacement.

    Like FlexMeasures' ``drop_unchanged_beliefs``: a value equal to the most
    recent stored belief formed at or before its belief time (on the same
    side of the event's end) is unchanged. A different value with the same
    belief time as a stored belief is a replacement.
    """
    new: list[_Belief] = []
    unchanged = 0
    for belief in beliefs:
        known = stored.beliefs(belief.key, belief.end)
        side = _is_ex_ante(belief.time, belief.end)
        earlier = [
            (time, value)
            for time, value in known
            if time <= belief.time and _is_ex_ante(time, belief.end) == side
        ]
        if earlier and max(earlier, key=lambda item: item[0])[1] == belief.value:
            unchanged += 1
        elif any(time == belief.time for time, _ in known):
            return new, unchanged, belief
        else:
            new.append(belief)
    return new, unchanged, None


def _save(store: FlexMeasuresState, sensor_id: int, beliefs: list[_Belief]) -> None:
    if not beliefs:
        return
    current = _current(store, sensor_id)
    history = store.belief_history.setdefault(sensor_id, {})
    for belief in beliefs:
        event_history = history.setdefault(belief.key, {})
        if not event_history and belief.key in current:
            event_history[_belief_key(belief.end)] = current[belief.key]
        event_history[_belief_key(belief.time)] = belief.value
        current[belief.key] = event_history[max(event_history)]
    store.beliefs[sensor_id] = current


# POST


def _post_checks(sensor: JSONDict, parsed: JSONDict) -> list[str]:
    """FlexMeasures' schema checks, in its (alphabetical) order."""
    required = _resolution_of(sensor)
    values: list[float | None] = parsed["values"]
    inferred: timedelta = parsed["duration"] / len(values)
    unit: str = parsed["unit"]
    kind = parsed.get("type")
    zero = timedelta(0)
    messages: list[str] = []
    if len(values) > 1 and inferred == zero:
        messages.append(
            "Cannot save multiple instantaneous values that overlap. That is, two "
            "values spanning the same moment (a zero duration). Try sending a single "
            "value or definining a non-zero duration."
        )
    if required and inferred and inferred % required and required % inferred:
        messages.append(
            f"Resolution of {inferred} is incompatible with the sensor's required "
            f"resolution of {required}."
        )
    if _multiplier(unit, sensor["unit"], inferred) is None:
        messages.append(
            f"Required unit for this sensor is {sensor['unit']}, got incompatible "
            f"unit: {unit}"
        )
    if kind in ("PostMeterDataRequest", "PostPrognosisRequest"):
        if _multiplier(unit, "MW", inferred) is None:
            messages.append(
                "The unit required for this message type should be convertible to "
                f"MW, got incompatible unit: {unit}"
            )
    elif kind == "PostPriceDataRequest" and not _is_energy_price_unit(unit):
        messages.append(
            "The unit required for this message type should be convertible to an "
            f"energy price unit, got incompatible unit: {unit}"
        )
    if required and len(values) == 1 and inferred == zero:
        messages.append(
            "Cannot infer a non-zero resolution from one value over zero duration. "
            f"This sensor requires a resolution of {required}."
        )
    return messages


def _events(
    sensor: JSONDict, parsed: JSONDict
) -> tuple[list[tuple[datetime, float | None]], timedelta]:
    """Turn the values into events at the sensor's resolution, in the sensor's unit.

    FlexMeasures' order: upsample (repeat), convert the unit, floor the start
    to the sensor's resolution, downsample (average, ignoring nulls).
    """
    required = _resolution_of(sensor)
    values: list[float | None] = list(parsed["values"])
    duration: timedelta = parsed["duration"]
    inferred = duration / len(values)
    if required and inferred > required and not inferred % required:
        repeat = inferred // required
        values = [value for value in values for _ in range(repeat)]
    resolution = duration / len(values)
    factor = _multiplier(parsed["unit"], sensor["unit"], resolution)
    assert factor is not None  # checked by _post_checks
    start: datetime = parsed["start"]
    if required:
        start = _floor(start, required)
    events = [
        (start + index * resolution, None if value is None else value * factor)
        for index, value in enumerate(values)
    ]
    if not required or resolution >= required:
        return events, resolution
    bins: dict[int, list[float]] = {}
    for moment, value in events:
        found = bins.setdefault((moment - start) // required, [])
        if value is not None:
            found.append(value)
    return [
        (start + index * required, sum(found) / len(found) if found else None)
        for index, found in sorted(bins.items())
    ], required


def _belief_time(parsed: JSONDict, now: datetime, end: datetime) -> datetime:
    """``prior``, else the event's end minus ``horizon``, else now."""
    if "prior" in parsed:
        prior: datetime = parsed["prior"]
        return prior
    if "horizon" in parsed:
        horizon: timedelta = parsed["horizon"]
        return end - horizon
    return now


@routes.post(SENSOR_DATA)
async def post_sensor_data(request: web.Request) -> web.Response:
    """Store sensor data (200 PROCESSED or ALREADY_RECEIVED…; 403 INVALID_REPLACEMENT)."""
    user = _authenticate(request)
    body, ignored = _decode(
        await _read_body(request, MAX_INGESTION_BYTES), request.content_type
    )
    data = _description(request, body)
    sensor = _sensor(request)
    parsed, errors = _parse_fields(data, _POST_FIELDS, _POST_REQUIRED)
    if errors:
        raise _rejected(errors, ignored)
    if messages := _post_checks(sensor, parsed):
        raise _rejected({"_schema": messages}, ignored)
    events, resolution = _events(sensor, parsed)
    now = datetime.now(UTC)
    kind = parsed.get("type")
    beliefs = [
        _Belief(
            key=_event_key(moment),
            end=moment + resolution,
            time=_belief_time(parsed, now, moment + resolution),
            value=value,
        )
        for moment, value in events
        if value is not None
    ]
    horizons = [
        moment + resolution - _belief_time(parsed, now, moment + resolution)
        for moment, _ in events
    ]
    if kind == "PostMeterDataRequest" and any(h > timedelta(0) for h in horizons):
        raise _rejected({"_schema": ["Meter data must lie in the past."]})
    if kind == "PostPrognosisRequest" and any(h < timedelta(0) for h in horizons):
        raise _rejected({"_schema": ["Prognoses must lie in the future."]})
    store = get_state(request).flexmeasures
    _check_access(store, sensor, user)
    new, unchanged, replacement = _triage(_Stored.of(store, sensor["id"]), beliefs)
    if replacement is not None:
        raise RequestRejectedError(
            web.json_response(
                {
                    "results": "Rejected",
                    "status": "INVALID_REPLACEMENT",
                    "message": REPLACEMENT_MESSAGE,
                },
                status=403,
            ),
            (
                f"Sensor {sensor['id']} already holds another value for "
                f"{replacement.key} with belief time {_belief_key(replacement.time)}"
            ),
            violation=True,
        )
    _save(store, sensor["id"], new)
    store.data_posts += 1
    if unchanged or not new:
        store.replays += 1
        return web.json_response(
            {
                "results": "PROCESSED",
                "status": "ALREADY_RECEIVED_AND_SUCCESSFULLY_PROCESSED",
                "message": ALREADY_RECEIVED_MESSAGE,
            }
        )
    return web.json_response({"status": "PROCESSED", "message": PROCESSED_MESSAGE})


# GET


def _get_checks(
    store: FlexMeasuresState,
    sensor: JSONDict,
    parsed: JSONDict,
    resolution: timedelta,
) -> _Errors:
    """FlexMeasures' schema checks for reading, in its (alphabetical) order."""
    unit: str = parsed["unit"]
    kind = parsed.get("type")
    errors: _Errors = {}
    messages: list[str] = []
    if _multiplier(sensor["unit"], unit, resolution) is None:
        messages.append(
            f"Required unit for this sensor is {sensor['unit']}, got incompatible "
            f"unit: {unit}"
        )
    if kind in ("GetMeterDataRequest", "GetPrognosisRequest"):
        if _multiplier(unit, "MW", resolution) is None:
            messages.append(
                "The unit requested for this message type should be convertible from "
                f"MW, got incompatible unit: {unit}"
            )
    elif kind == "GetPriceDataRequest" and not _is_energy_price_unit(unit):
        messages.append(
            "The unit requested for this message type should be convertible from an "
            f"energy price unit, got incompatible unit: {unit}"
        )
    if messages:
        errors["_schema"] = messages
    source_type = parsed.get("source-type")
    recorded = {
        DATA_SOURCE_TYPE: bool(store.beliefs.get(sensor["id"])),
        SCHEDULER_SOURCE_TYPE: bool(scheduler_beliefs(store, sensor["id"])),
    }
    if source_type and not recorded.get(source_type):
        errors["source-type"] = [
            (
                f"No data source with source-type '{source_type}' has recorded any "
                "data on this sensor."
            )
        ]
    return errors


def scheduler_beliefs(
    store: FlexMeasuresState, sensor_id: int
) -> dict[str, list[tuple[datetime, float]]]:
    """The scheduler's beliefs on a sensor: event key → ``(belief time, value)``.

    Every finished schedule wrote its values into the sensor, in the sign the
    sensor stores (``stored_sign``: consumption positive only with
    ``consumption_is_positive``), formed when the job finished.
    """
    found: dict[str, list[tuple[datetime, float]]] = {}
    for schedule in store.schedules.values():
        written = schedule["sensors"].get(str(sensor_id))
        if written is None or "belief_time" not in written:
            continue
        start = datetime.fromisoformat(written["start"])
        step = timedelta(seconds=float(_Duration.parse(written["resolution"])))
        belief_time = datetime.fromisoformat(written["belief_time"])
        sign = written.get("stored_sign", 1)
        for index, value in enumerate(written["values"]):
            key = _event_key(start + index * step)
            found.setdefault(key, []).append((belief_time, value * sign))
    return found


def _latest(
    beliefs: list[tuple[datetime, float]], end: datetime, parsed: JSONDict
) -> tuple[datetime, float] | None:
    """The most recent belief within the request's belief filters."""
    kind = parsed.get("type")
    at_least: timedelta | None = parsed.get("horizon")
    if kind == "GetPrognosisRequest":
        at_least = max(at_least or timedelta(0), timedelta(0))
    at_most = timedelta(0) if kind == "GetMeterDataRequest" else None
    prior: datetime | None = parsed.get("prior")
    candidates = [
        (time, value)
        for time, value in beliefs
        if (prior is None or time <= prior)
        and (at_least is None or end - time >= at_least)
        and (at_most is None or end - time <= at_most)
    ]
    return max(candidates, key=lambda item: item[0]) if candidates else None


def _selected(
    store: FlexMeasuresState, sensor: JSONDict, parsed: JSONDict, account: int | None
) -> dict[datetime, float]:
    """Return one belief per event, as FlexMeasures' data GET picks it.

    Per data source the most recent belief within the request's filters
    (``source``, ``source-type``, ``source-account``, ``prior``,
    ``horizon``, ``type``); across sources one belief per event
    (``search_beliefs(one_deterministic_belief_per_event=True)``), and where
    the scheduler has one it is the scheduler's: a plain read of a scheduled
    power sensor answers the schedule for future and overlapping intervals,
    also where measurements were posted before the schedule (platform notes
    §6, checked against a real 1.0.1 server in ``tests_flexmeasures``).
    """
    source = parsed.get("source")
    source_type = parsed.get("source-type")
    resolution = _resolution_of(sensor)
    per_source: list[tuple[int, dict[str, list[tuple[datetime, float]]]]] = []
    if source in (None, DATA_SOURCE_ID) and source_type in (None, DATA_SOURCE_TYPE):
        stored = _Stored.of(store, sensor["id"])
        per_source.append(
            (
                DATA_SOURCE_ID,
                {
                    key: stored.beliefs(key, datetime.fromisoformat(key) + resolution)
                    for key in set(stored.current) | set(stored.history)
                },
            )
        )
    if (
        source in (None, SCHEDULER_SOURCE_ID)
        and source_type in (None, SCHEDULER_SOURCE_TYPE)
        and account is None
    ):
        per_source.append((SCHEDULER_SOURCE_ID, scheduler_beliefs(store, sensor["id"])))
    chosen: dict[datetime, float] = {}
    # The user's first, then the scheduler's over them.
    for _, beliefs in per_source:
        for key, found in beliefs.items():
            start = datetime.fromisoformat(key)
            latest = _latest(found, start + resolution, parsed)
            if latest is not None:
                chosen[start] = latest[1]
    return chosen


def _bins(
    events: dict[datetime, float],
    sensor_resolution: timedelta,
    start: datetime,
    duration: timedelta,
    resolution: timedelta,
) -> list[float | None]:
    """One value per ``resolution`` from ``start``: averaged, first (instantaneous) or repeated."""
    end = start + duration
    ordered = sorted(
        (moment, value)
        for moment, value in events.items()
        if moment >= start
        and moment + sensor_resolution <= end
        and (sensor_resolution or moment < end)
    )
    moments = [moment for moment, _ in ordered]
    answer: list[float | None] = []
    for index in range(-(-duration // resolution)):
        low = start + index * resolution
        if sensor_resolution and resolution < sensor_resolution:
            position = bisect_right(moments, low) - 1
            found = (
                [ordered[position][1]]
                if position >= 0 and moments[position] + sensor_resolution > low
                else []
            )
        else:
            first = bisect_left(moments, low)
            last = bisect_left(moments, low + resolution)
            found = [value for _, value in ordered[first:last]]
            if not sensor_resolution:
                found = found[:1]
        answer.append(sum(found) / len(found) if found else None)
    return answer


@routes.get(SENSOR_DATA)
async def get_sensor_data(request: web.Request) -> web.Response:
    """Read sensor data: ``{values, start, duration, unit, resolution, status, message}``."""
    user = _authenticate(request)
    body, ignored = _decode(await _read_body(request, None), request.content_type)
    data = {
        key.replace("_", "-"): value
        for key, value in _description(request, body).items()
    }
    sensor = _sensor(request)
    parsed, errors = _parse_fields(data, _GET_FIELDS, _GET_REQUIRED)
    store = get_state(request).flexmeasures
    known_sources = {DATA_SOURCE_ID} | (
        {SCHEDULER_SOURCE_ID} if store.schedules else set()
    )
    if parsed.get("source", DATA_SOURCE_ID) not in known_sources:
        errors["source"] = [f"No data source found with ID {parsed['source']}."]
    account = parsed.get("source-account")
    if account is not None and account not in store.accounts:
        errors["source-account"] = [f"No account found with ID {account}."]
    if "resolution" in parsed and parsed["resolution"] <= timedelta(0):
        errors["resolution"] = ["Must be greater than 0."]
    if errors:
        raise _rejected(errors, ignored)
    sensor_resolution = _resolution_of(sensor)
    duration: timedelta = parsed["duration"]
    resolution: timedelta = parsed.get("resolution") or (
        sensor_resolution or _decide_resolution(duration)
    )
    if errors := _get_checks(store, sensor, parsed, resolution):
        # A well-formed read of a source type that wrote nothing on the sensor
        # (yet) is an answer about the data, not a request the client got wrong.
        raise _rejected(errors, ignored, violation=set(errors) != {"source-type"})
    _check_access(store, sensor, user)
    factor = _multiplier(sensor["unit"], parsed["unit"], resolution)
    assert factor is not None  # checked by _get_checks
    selected = (
        {}
        if account not in (None, user["account_id"])
        else _selected(store, sensor, parsed, account)
    )
    values = _bins(selected, sensor_resolution, parsed["start"], duration, resolution)
    return web.json_response(
        {
            "values": [None if value is None else value * factor for value in values],
            "start": _isodate_format(parsed["start"]),
            "duration": _duration_format(duration),
            "unit": parsed["unit"],
            "resolution": _duration_format(resolution),
            "status": "PROCESSED",
            "message": PROCESSED_MESSAGE,
        }
    )
