"""FlexMeasures schedules (API v3.0-32, server 1.0.1): trigger, jobs, schedules.

Routes (the bare token in ``Authorization``, 401 otherwise):

- ``POST /api/v3_0/assets/{id}/schedules/trigger`` ``{start, duration?,
  resolution?, prior?, "flex-model": [{sensor, soc-at-start?, soc-min?,
  soc-max?, power-capacity?, consumption-capacity?, …}], "flex-context"?:
  {…}, sequential?, "force-new-job-creation"?}`` → **202** ``{"status":
  "ACCEPTED", "job": uuid, "schedule": uuid, "job-url":
  "/api/v3_0/jobs/<uuid>", "message": "Request has been accepted for
  processing."}`` with ``X-RateLimit-Limit``/``-Remaining``/``-Reset``.
- ``GET /api/v3_0/jobs/{uuid}`` → ``{status, message, result, func-name,
  origin, enqueued-at, started-at, ended-at, exc-info}`` (plus the legacy
  snake_case aliases ``func_name``, ``enqueued_at``, …): **202** while
  ``QUEUED``/``STARTED``, 200 ``FINISHED`` (``result``: ``{unresolved: [],
  resolved: [], num-beliefs}``), **422** ``FAILED`` (not a violation), 404
  ``{"status": "ERROR", "message": "Job <uuid> not found."}``; 403
  ``INVALID_SENDER`` for another account's job.
- ``GET /api/v3_0/sensors/{id}/schedules/{uuid}?duration=PT6H&unit=&sign-convention=``
  → 200 ``{values, start, duration, unit, scheduler_info: {scheduler:
  "StorageScheduler"}, status: "PROCESSED", message: "Request has been
  processed. StorageScheduler was used."}``. While the job is not finished:
  400 ``{"result": "Rejected", "status": "UNKNOWN_SCHEDULE", "message": "No
  known schedule for this time period. Scheduling job waiting to be
  processed. StorageScheduler was used."}`` (``… in progress. …`` once
  started) with the ``pending_as_202`` setting off; by default, as 1.0.1
  answers, 202 ``{status: QUEUED|STARTED, message}``. A failed job is 400
  ``UNKNOWN_SCHEDULE`` "… Scheduling job failed with ValueError: ….
  StorageScheduler was used." either way. An unknown uuid is 400
  ``UNRECOGNIZED_UDI_EVENT`` ("The requested UDI event (id = <uuid>, type =
  job) is not known."); an unknown sensor 422 as ``GET /sensors/{id}``.
  Pending, failed and unknown answers are normal answers, not violations.

Trigger checks, in this order: token (401); the trigger budget (429, see
below); the asset (404 ``No asset found with ID n.``, 403 for another
account's asset, 422 for a non-numeric id); the body (400 when not JSON);
then the fields, all answered as 422 ``{"message": {"json": {…}}, "result":
"Rejected", "status": "UNPROCESSABLE_ENTITY"}`` — unknown fields (top level,
flex-model entries and flex-context), ``start`` missing or without an offset
(``Not a valid aware datetime.``), ``prior`` likewise, ``duration`` and
``resolution`` not ISO 8601, not whole minutes or not positive,
``flex-model`` not a list of objects, ``flex-context`` not one object (§5 of
the platform notes; newer FlexMeasures also takes a list of per-commodity
objects), booleans that marshmallow would not read as booleans. Flex-model
entries (errors under ``flex-model.<index>.<field>``):

- ``sensor`` is required (the sandbox does not schedule ``asset``-only group
  entries), must exist (``No sensor found with ID n.``), record power (W,
  kW, MW, VA, …) at a non-zero resolution; under ``_schema``: a sensor that
  is not on the asset or its offspring (``Sensor 5 does not belong to asset
  3 (or to one of its offspring)``) or named twice (``Sensor 5 should not
  occur more than once in the flex-model``).
- ``soc-at-start``, ``soc-min``, ``soc-max``: a quantity string whose unit
  converts to MWh (``"12.1 kWh"``, ``"12.1kWh"``, ``"0.0121 MWh"``, ``"800
  Wh"``; ``Cannot convert value `12 kW` to 'MWh'``), or a plain number. A
  number is read in ``soc-unit`` (``kWh``|``MWh``) when given, else — as
  FlexMeasures' ``StorageFlexModelSchema`` guesses it — in the power
  sensor's energy unit (kW → kWh, MW → MWh), else in MWh. So ``12.1`` on a kW
  sensor is 12.1 kWh, not MWh. ``soc-min`` must not be negative.
- ``power-capacity``, ``consumption-capacity``, ``production-capacity``: a
  quantity string convertible to MW (``"7.4 kW"``, ``"25kVA"``; not
  negative), a sensor reference ``{"sensor": id}`` or a time series list; a
  plain number is refused (FlexMeasures has no default unit for it).
- Other keys of the storage flex-model (``soc-minima``, ``soc-targets``,
  ``roundtrip-efficiency``, …, ``asset``) are accepted as they are.
- The scheduled sensor's asset's stored ``flex_model`` (an asset field,
  checked when stored like FlexMeasures' ``DBStorageFlexModelSchema``:
  ``check_stored_flex_model``) lies under the entry: what the entry leaves
  out comes from it.

Flex-context: the keys of FlexMeasures' ``FlexContextSchema``;
``consumption-price``/``production-price`` must be an energy price (``"0.2
EUR/kWh"``, ``"200 EUR/MWh"``), ``site-*-capacity`` a power, the other
prices any quantity; each may instead be ``{"sensor": id}`` (an existing
sensor of the account) or a time series list. ``inflexible-device-sensors``
lists existing sensor ids; ``relax-*`` are booleans. Other values pass.
The job's flex-context is the stored ``flex_context`` of the asset's
ancestors and of the asset (top first), with the trigger's on top.

Jobs: the job uuid is also the schedule uuid. A job starts ``QUEUED``; each
``GET`` of the job or of one of its schedules answers the current state and
then moves it on: after ``polls_to_finish`` polls (default 2, taken when the
job is created) it is computed and becomes ``FINISHED`` (or ``FAILED``, see
below). So by default: GET 1 → QUEUED, GET 2 → STARTED, GET 3 → FINISHED;
with 0 the job is finished at once. An identical trigger (same asset and
body) within ``job_cache_seconds`` (an hour, FlexMeasures' job cache) answers
the earlier job again — also when that job failed — unless
``"force-new-job-creation": true``. The cache key is the request only: a
changed stored flex-model or flex-context does not make a new job.

The schedule (deterministic and price-driven, no optimisation; ``prior``
is checked but not used): per flex-model sensor, from ``start`` floored to
the sensor's resolution for ``duration`` (default ``PT48H``, the planning
horizon; at most 2520 steps), one value per sensor resolution (constant over
each ``resolution`` block when that is a multiple of the sensor's). Prices
come from the flex-context's ``consumption-price`` and ``production-price``
(which defaults to the consumption price): a quantity, a time series, or a
price sensor's latest beliefs (sides and gaps filled from the nearest known
price). The device charges at its consumption capacity while the consumption
price is below its mean over the window and a later production price is
higher, and discharges at its production capacity while the production price
is above its mean, never above ``soc-max`` (none: no bound) nor below
``soc-min`` (default 0; ``soc-at-start`` defaults to 0). Its power capacity
is ``power-capacity``, else ``capacity_in_mw`` / ``power-capacity`` in the
sensor's or its asset's attributes, else the flex-context's
``site-power-capacity``, else — with both given — the larger of
``consumption-capacity`` and ``production-capacity``; those (and the site's)
narrow it per direction, so a battery of -3 … 4 kW discharges at 3 kW at
most. Values are in the sensor's unit, consumption positive. The job fails
with FlexMeasures 1.0.1's own messages (checked against a real server):
``ValueError: Missing consumption price for commodity 'electricity'.``,
``UnknownPricesException: Prices unknown for planning window. (sensor n)``
(a price sensor without a price in the window; a time series likewise),
``ValueError: Power capacity on asset n is not defined in the flex-model.``
and, when ``soc-min`` > ``soc-max`` or ``soc-at-start`` lies outside them,
``InfeasibleProblemException: infeasible``.

``GET …/schedules/{uuid}``: ``duration`` (default ``PT6H``, at most the 48 h
planning horizon) cuts the schedule, ``unit`` converts (W/kW/MW, kW ↔ kWh
over the resolution; ``Incompatible units: kW cannot be converted to °C.``),
``sign-convention`` ``consumption-positive`` (default) | ``production-positive``
| ``wysiwyg`` (the stored sign: consumption positive only when the sensor's
``consumption_is_positive`` attribute is true). ``start`` is answered in UTC
(``Z``). A sensor the finished job did not schedule is 400
``UNKNOWN_SCHEDULE`` ("… A scheduling job has been processed with your job
ID, but the schedule was not found in the database. …").

Trigger budget (``FLEXMEASURES_API_TRIGGER_RATE_LIMIT = "10 per 5
minutes"``): per account, only accepted (202) triggers count (FlexMeasures'
``deduct_when``), in a moving window. Over it: 429 ``{"result": "Rejected",
"status": "TOO_MANY_REQUESTS", "message": "You hit a rate limit. The limit
you hit allows 10 per 5 minute."}`` with ``Retry-After`` (seconds until the
oldest counted trigger leaves the window) and ``X-RateLimit-*``; not a
violation, and no job is made. ``POST /_sandbox/reset`` empties the window.

State: ``state.flexmeasures.jobs[uuid]`` ``{id, asset_id, account_id,
status, enqueued-at, started-at, ended-at, exception, polls,
polls_to_finish, pinned, body, cache_key, outcome}`` (``outcome``: the
schedule computed at trigger time and the problem that makes the job fail,
if any); ``state.flexmeasures.schedules[uuid]`` ``{job, asset_id,
scheduler_info, sensors: {"<sensor id>": {start, resolution, unit,
values, belief_time, stored_sign}}}`` once finished. A finished schedule is
written into each scheduled power sensor as beliefs of the scheduler's data
source (id 2, type ``scheduler``), formed at the trigger's ``prior`` (else
when it was triggered) and stored
consumption positive only when the sensor has ``consumption_is_positive:
true`` (else production positive: +5 kW charging is stored as -5), so
``GET /sensors/{id}/data`` answers them as FlexMeasures does (see
``flexmeasures_data.py``; ``source`` / ``source-type`` keep them apart).

Control routes (no auth, ``{"error"}`` with 400/404 like ``control.py``):

- ``GET`` / ``PUT /_sandbox/flexmeasures/scheduling`` ``{polls_to_finish?:
  int >= 0, trigger_limit?: int >= 1 | null (no limit),
  trigger_window_seconds?: number > 0, pending_as_202?: bool,
  job_cache_seconds?: number >= 0}`` → 200 the settings (defaults 2, 10,
  300, true, 3600; reset by ``POST /_sandbox/reset``).
  ``scheduling_settings(server.state)`` gives the same object in tests.
- ``POST /_sandbox/flexmeasures/jobs/{uuid}`` ``{status: "QUEUED" |
  "STARTED" | "FINISHED" | "FAILED", message?: str}`` → 200 the job as
  ``GET /jobs/{uuid}`` shows it (polls no longer move it). ``FINISHED``
  computes the schedule even when the job would fail (it then schedules
  0); ``FAILED`` fails with ``ValueError: <message>``.

Not served: the deprecated ``POST /sensors/{id}/schedules/trigger``,
``GET /assets/{id}/jobs`` and the 303 fallback-scheduler redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
import math
import re
import time
from typing import Any, Final
import uuid
import weakref

from aiohttp import web

from .control import ControlError
from .envelopes import (
    FLEXMEASURES_FORBIDDEN,
    flexmeasures_rejected,
    flexmeasures_unprocessable,
)
from .flexmeasures import (
    MISSING,
    NOT_NULL,
    SENSORS,
    UNKNOWN,
    V3,
    _asset_or_404,
    _authenticate,
    _body,
    _descendants,
    _sensor_or_error,
    is_valid_unit,
)
from .flexmeasures_data import (
    _aware_datetime,
    _current,
    _duration,
    _duration_format,
    _event_key,
    _FieldError,
    _floor,
    _is_energy_price_unit,
    _isodate_format,
    _multiplier,
    _parse_unit,
    _resolution_of,
)
from .state import FlexMeasuresState, JSONDict, SandboxState, get_state
from .validation import BodyError, RequestRejectedError, read_json, unknown_fields

routes = web.RouteTableDef()

TRIGGER = f"{V3}/assets/{{id}}/schedules/trigger"
JOB = f"{V3}/jobs/{{uuid}}"
SCHEDULE = f"{SENSORS}/{{id}}/schedules/{{uuid}}"
CONTROL_SETTINGS = "/_sandbox/flexmeasures/scheduling"
CONTROL_JOB = "/_sandbox/flexmeasures/jobs/{uuid}"

SCHEDULER: Final = "StorageScheduler"
SCHEDULER_INFO_MESSAGE: Final = f"{SCHEDULER} was used."
FUNC_NAME: Final = "flexmeasures.data.services.scheduling.create_schedule"
ACCEPTED_MESSAGE: Final = "Request has been accepted for processing."
PROCESSED_MESSAGE: Final = "Request has been processed."
NO_SCHEDULE: Final = "No known schedule for this time period."
# Why a job fails, as FlexMeasures 1.0.1 words it ("<exception>: <message>").
INFEASIBLE: Final = "InfeasibleProblemException: infeasible"
NO_CAPACITY: Final = (
    "ValueError: Power capacity on asset {asset} is not defined in the flex-model."
)
NO_PRICE: Final = "ValueError: Missing consumption price for commodity 'electricity'."
UNKNOWN_PRICES: Final = "UnknownPricesException: Prices unknown for planning window."
FORCED_FAILURE: Final = "The sandbox control API failed this job."
#: ``FLEXMEASURES_PLANNING_HORIZON``: the default ``duration`` of a trigger,
#: and the most ``GET …/schedules/{uuid}`` answers.
PLANNING_HORIZON: Final = timedelta(hours=48)
#: ``FLEXMEASURES_MAX_PLANNING_HORIZON``: steps of the sensor's resolution.
MAX_PLANNING_STEPS: Final = 2520
DEFAULT_SCHEDULE_DURATION: Final = timedelta(hours=6)
SIGN_CONVENTIONS: Final = ("consumption-positive", "production-positive", "wysiwyg")
JOB_STATUSES: Final = ("QUEUED", "STARTED", "FINISHED", "FAILED")
_PENDING: Final = ("QUEUED", "STARTED")
_JOB_MESSAGES: Final = {
    "QUEUED": "Scheduling job waiting to be processed.",
    "STARTED": "Scheduling job in progress.",
    "FINISHED": "Scheduling job has finished.",
}

_TRIGGER_FIELDS: Final = (
    "start",
    "prior",
    "duration",
    "resolution",
    "flex-model",
    "flex-context",
    "sequential",
    "force-new-job-creation",
)
#: The keys of FlexMeasures' storage flex-model (``StorageFlexModelSchema``).
_FLEX_MODEL_FIELDS: Final = frozenset(
    {
        "sensor",
        "asset",
        "commodity",
        "consumption",
        "production",
        "soc-at-start",
        "soc-min",
        "soc-max",
        "soc-unit",
        "power-capacity",
        "consumption-capacity",
        "production-capacity",
        "operation-modes",
        "group",
        "inflexible-consumption",
        "inflexible-production",
        "prefer-curtailing-later",
        "prefer-charging-sooner",
        "soc-maxima",
        "soc-minima",
        "soc-targets",
        "state-of-charge",
        "charging-efficiency",
        "discharging-efficiency",
        "roundtrip-efficiency",
        "storage-efficiency",
        "soc-gain",
        "soc-usage",
        "coupling",
        "coupling-coefficient",
    }
)
#: The keys of FlexMeasures' ``FlexContextSchema``.
_FLEX_CONTEXT_FIELDS: Final = frozenset(
    {
        "commodity",
        "consumption-price",
        "production-price",
        "site-power-capacity",
        "site-consumption-capacity",
        "site-production-capacity",
        "site-consumption-breach-price",
        "site-production-breach-price",
        "site-peak-consumption",
        "site-peak-consumption-price",
        "site-peak-production",
        "site-peak-production-price",
        "consumption-breach-price",
        "production-breach-price",
        "soc-minima-breach-price",
        "soc-maxima-breach-price",
        "relax-constraints",
        "relax-soc-constraints",
        "relax-capacity-constraints",
        "relax-site-capacity-constraints",
        "commitments",
        "inflexible-device-sensors",
        "inflexible-consumption",
        "inflexible-production",
        "aggregate-consumption",
        "aggregate-production",
    }
)
#: marshmallow's ``Boolean`` truthy and falsy inputs.
_TRUTHY: Final = frozenset(
    {"t", "T", "true", "True", "TRUE", "on", "On", "ON", "y", "Y", "yes", "Yes"}
    | {"YES", "1", 1}
)
_FALSY: Final = frozenset(
    {"f", "F", "false", "False", "FALSE", "off", "Off", "OFF", "n", "N", "no", "No"}
    | {"NO", "0", 0}
)
_QUANTITY = re.compile(
    r"^\s*(?P<magnitude>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"\s*(?P<unit>\S(?:.*\S)?)?\s*$"
)
_ENERGY_UNITS: Final = ("kWh", "MWh")
_HOUR: Final = timedelta(hours=1)

type _Errors = dict[str, Any]


# Settings and per-server bookkeeping


@dataclass(slots=True)
class SchedulingSettings:
    """How the sandbox runs scheduling jobs and counts triggers."""

    polls_to_finish: int = 2
    """GETs (of the job or its schedules) a new job answers before it is finished."""
    trigger_limit: int | None = 10
    """Accepted triggers per account in the window; None: no limit."""
    trigger_window_seconds: float = 300.0
    pending_as_202: bool = True
    """Answer unfinished schedules 202 ``{status: QUEUED|STARTED}``, as 1.0.1 does
    (False: the older 400 ``UNKNOWN_SCHEDULE`` "… in progress")."""
    job_cache_seconds: float = 3600.0
    """How long an identical trigger answers the same job (failed ones too)."""


@dataclass(slots=True)
class _Runtime:
    """Settings and trigger times of one server, until its state is reset."""

    store: FlexMeasuresState
    settings: SchedulingSettings = field(default_factory=SchedulingSettings)
    triggers: dict[int, list[float]] = field(default_factory=dict)


_RUNTIMES: weakref.WeakKeyDictionary[SandboxState, _Runtime] = (
    weakref.WeakKeyDictionary()
)


def _runtime(state: SandboxState) -> _Runtime:
    """Return the server's bookkeeping; a reset state starts with defaults."""
    runtime = _RUNTIMES.get(state)
    if runtime is None or runtime.store is not state.flexmeasures:
        runtime = _Runtime(store=state.flexmeasures)
        _RUNTIMES[state] = runtime
    return runtime


def scheduling_settings(state: SandboxState) -> SchedulingSettings:
    """Return the live scheduling settings of a server's state (tests may change them)."""
    return _runtime(state).settings


# Responses


def _rejected(errors: _Errors, location: str = "json") -> RequestRejectedError:
    summary = "; ".join(
        f"{name}: {' '.join(msgs) if isinstance(msgs, list) else json.dumps(msgs)}"
        for name, msgs in errors.items()
    )
    return RequestRejectedError(flexmeasures_unprocessable({location: errors}), summary)


def _unknown_schedule(message: str, *, violation: bool = False) -> RequestRejectedError:
    text = f"{NO_SCHEDULE} {message} {SCHEDULER_INFO_MESSAGE}"
    return RequestRejectedError(
        flexmeasures_rejected(400, "UNKNOWN_SCHEDULE", text), text, violation=violation
    )


def _failed(exception: str) -> str:
    """``Scheduling job failed with <exception>: <message>.`` (one final dot)."""
    text = f"Scheduling job failed with {exception}"
    return text if text.endswith(".") else f"{text}."


def _now() -> str:
    return datetime.now(UTC).isoformat()


# Quantities


class _QuantityError(ValueError):
    """A value is not the quantity a field needs (the message is FlexMeasures')."""


def _quantity(text: str, to_unit: str) -> tuple[Decimal, str]:
    """Split a quantity string into magnitude and unit; the unit must be known."""
    match = _QUANTITY.match(text)
    unit = "" if match is None else (match["unit"] or "")
    if match is None or (unit and _parse_unit(unit) is None):
        raise _QuantityError(f"Cannot convert value '{text}' to a valid quantity.")
    if not unit:
        raise _QuantityError(f"Cannot convert value `{text}` to '{to_unit}'")
    return Decimal(match["magnitude"]), unit


def _energy_kwh(text: str) -> Decimal:
    """A quantity string convertible to MWh, in kWh."""
    magnitude, unit = _quantity(text, "MWh")
    parsed = _parse_unit(unit)
    if parsed is None or parsed.base != "Wh":
        raise _QuantityError(f"Cannot convert value `{text}` to 'MWh'")
    return magnitude.scaleb(parsed.exponent - 3)


def _power_kw(text: str) -> Decimal:
    """A quantity string convertible to MW, in kW."""
    magnitude, unit = _quantity(text, "MW")
    parsed = _parse_unit(unit)
    if parsed is None or parsed.base not in ("W", "VA"):
        raise _QuantityError(f"Cannot convert value `{text}` to 'MW'")
    return magnitude.scaleb(parsed.exponent - 3)


def _price(text: str) -> None:
    _, unit = _quantity(text, "/MWh")
    if not _is_energy_price_unit(unit):
        raise _QuantityError(f"Cannot convert value `{text}` to '/MWh'")


def _any_quantity(text: str) -> None:
    _quantity(text, "dimensionless")


def _unsupported(value: Any) -> _QuantityError:
    return _QuantityError(
        f"Unsupported value type. `{type(value)}` was provided but only dict, list, "
        "str, pint Quantity, tuple, and numeric values with a default source unit "
        "are supported."
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Field checks


def _boolean(value: Any) -> bool:
    """Read a boolean as marshmallow's ``Boolean`` does."""
    if isinstance(value, bool):
        return value
    hashable = isinstance(value, (str, int, float))
    if hashable and value in _TRUTHY:
        return True
    if hashable and value in _FALSY:
        return False
    raise _FieldError("Not a valid boolean.")


def _positive_duration(value: Any) -> timedelta:
    duration = _duration(value)
    if duration <= timedelta(0):
        raise _FieldError("Must be greater than 0.")
    return duration


def _flex_model_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _FieldError("Not a valid list.")
    return value


def _flex_context(value: Any) -> JSONDict:
    if not isinstance(value, dict):
        raise _FieldError("`flex-context` must be an object.")
    return value


_TRIGGER_CHECKS: Final[dict[str, Callable[[Any], Any]]] = {
    "start": _aware_datetime,
    "prior": _aware_datetime,
    "duration": _positive_duration,
    "resolution": _positive_duration,
    "flex-model": _flex_model_list,
    "flex-context": _flex_context,
    "sequential": _boolean,
    "force-new-job-creation": _boolean,
}


def _parse_trigger(body: JSONDict) -> tuple[JSONDict, _Errors]:
    errors: _Errors = {
        name: [UNKNOWN] for name in unknown_fields(body, _TRIGGER_FIELDS)
    }
    parsed: JSONDict = {}
    for name, check in _TRIGGER_CHECKS.items():
        if name not in body:
            continue
        if body[name] is None:
            errors[name] = [NOT_NULL]
            continue
        try:
            parsed[name] = check(body[name])
        except _FieldError as err:
            errors[name] = err.messages
    if "start" not in body:
        errors["start"] = [MISSING]
    return parsed, errors


@dataclass(frozen=True, slots=True)
class _Device:
    """A flex-model entry as the sandbox schedules it (kWh and kW).

    The scheduled sensor's asset's stored ``flex_model`` is merged under the
    trigger's entry (the entry wins), as FlexMeasures merges them. A capacity
    given as a sensor reference or a time series counts as given and is
    scheduled as 0 kW.
    """

    sensor: JSONDict
    soc_at_start: Decimal | None = None
    soc_min: Decimal | None = None
    soc_max: Decimal | None = None
    power_capacity: Decimal | None = None
    consumption_capacity: Decimal | None = None
    production_capacity: Decimal | None = None


def _default_soc_unit(entry: JSONDict, sensor: JSONDict | None) -> str:
    """The unit of plain SoC numbers, as ``StorageFlexModelSchema`` guesses it."""
    soc_unit = entry.get("soc-unit")
    if soc_unit in _ENERGY_UNITS:
        return str(soc_unit)
    unit = None if sensor is None else sensor["unit"]
    if unit in ("kW", "MW"):
        return f"{unit}h"
    return "MWh"


def _soc(value: Any, default_unit: str) -> Decimal:
    if isinstance(value, str):
        return _energy_kwh(value)
    if _is_number(value) and math.isfinite(value):
        return _energy_kwh(f"{value!r} {default_unit}")
    raise _QuantityError("Not a valid quantity.")


class _Context:
    """What the flex-model and flex-context checks need to know."""

    def __init__(self, store: FlexMeasuresState, asset: JSONDict) -> None:
        self.store = store
        self.asset = asset
        self.offspring = {asset["id"], *_descendants(store, asset["id"])}

    def sensor_reference(self, value: JSONDict) -> None:
        """Check ``{"sensor": id}``: an existing sensor of the account."""
        if "sensor" not in value:
            raise _QuantityError("Dictionary provided but `sensor` key not found.")
        raw = value["sensor"]
        sensor = (
            self.store.sensors.get(raw)
            if isinstance(raw, int) and not isinstance(raw, bool)
            else None
        )
        if (
            sensor is None
            or self.store.assets[sensor["generic_asset_id"]]["account_id"]
            != self.asset["account_id"]
        ):
            raise _QuantityError(f"No sensor found with ID {raw}.")

    def variable(self, value: Any, check: Callable[[str], Any]) -> Decimal | None:
        """A quantity string (checked, its kW/kWh if ``check`` says), sensor or series."""
        if isinstance(value, str):
            result = check(value)
            return result if isinstance(result, Decimal) else None
        if isinstance(value, dict):
            self.sensor_reference(value)
            return None
        if isinstance(value, list):
            return None
        raise _unsupported(value)


_SOC_FIELDS: Final = ("soc-at-start", "soc-min", "soc-max")
_CAPACITY_FIELDS: Final = (
    "power-capacity",
    "consumption-capacity",
    "production-capacity",
)


def _entry_sensor(
    context: _Context, entry: JSONDict, errors: _Errors
) -> JSONDict | None:
    """The entry's power sensor, or None (with the reason in ``errors``)."""
    if "sensor" not in entry:
        errors["_schema"] = (
            ["Specify either a sensor or an asset."]
            if "asset" not in entry
            else ["The sandbox schedules power sensors only: give `sensor`."]
        )
        return None
    raw = entry["sensor"]
    sensor = context.store.sensors.get(raw) if isinstance(raw, int) else None
    if isinstance(raw, bool) or not isinstance(raw, int):
        errors["sensor"] = ["Not a valid integer."]
    elif sensor is None:
        errors["sensor"] = [f"No sensor found with ID {raw}."]
    else:
        unit = _parse_unit(sensor["unit"])
        if unit is None or unit.base not in ("W", "VA"):
            errors["sensor"] = [
                f"Sensor {raw} does not record power (unit {sensor['unit']!r})."
            ]
        elif not _resolution_of(sensor):
            errors["sensor"] = [
                (
                    f"Sensor {raw} is instantaneous; the sandbox schedules sensors "
                    "with a resolution."
                )
            ]
        else:
            return sensor
    return None


def _check_socs(
    entry: JSONDict, sensor: JSONDict | None, errors: _Errors
) -> dict[str, Decimal]:
    """The entry's SoC fields in kWh (the invalid ones go to ``errors``)."""
    if "soc-unit" in entry and entry["soc-unit"] not in _ENERGY_UNITS:
        errors["soc-unit"] = ["Must be one of: kWh, MWh."]
    default_unit = _default_soc_unit(entry, sensor)
    socs: dict[str, Decimal] = {}
    for name in _SOC_FIELDS:
        if name in entry:
            try:
                socs[name] = _soc(entry[name], default_unit)
            except _QuantityError as err:
                errors[name] = [str(err)]
    if socs.get("soc-min", Decimal(0)) < 0:
        errors["soc-min"] = ["Must be greater than or equal to 0 megawatt_hour."]
    return socs


def _check_capacities(
    context: _Context, entry: JSONDict, errors: _Errors
) -> dict[str, Decimal]:
    """The entry's capacities in kW (0 for a sensor or time series); errors to ``errors``."""
    capacities: dict[str, Decimal] = {}
    for name in _CAPACITY_FIELDS:
        if name not in entry:
            continue
        try:
            kw = context.variable(entry[name], _power_kw)
        except _QuantityError as err:
            errors[name] = [str(err)]
            continue
        if kw is not None and kw < 0:
            errors[name] = ["Must be greater than or equal to 0 megawatt."]
        else:
            capacities[name] = Decimal(0) if kw is None else kw
    return capacities


def _stored_flex_model(store: FlexMeasuresState, sensor: JSONDict) -> JSONDict:
    """The flex-model stored on the sensor's asset (checked when it was stored)."""
    asset = store.assets.get(sensor["generic_asset_id"])
    if asset is None:
        return {}
    stored = json.loads(asset["flex_model"])
    return stored if isinstance(stored, dict) else {}


def _device(context: _Context, sensor: JSONDict, entry: JSONDict) -> _Device:
    """The device to schedule: the stored flex-model with the entry on top."""
    merged = {**_stored_flex_model(context.store, sensor), **entry}
    ignored: _Errors = {}
    socs = _check_socs(merged, sensor, ignored)
    capacities = _check_capacities(context, merged, ignored)
    return _Device(
        sensor=sensor,
        soc_at_start=socs.get("soc-at-start"),
        soc_min=socs.get("soc-min"),
        soc_max=socs.get("soc-max"),
        power_capacity=capacities.get("power-capacity"),
        consumption_capacity=capacities.get("consumption-capacity"),
        production_capacity=capacities.get("production-capacity"),
    )


def _check_entry(context: _Context, entry: Any) -> tuple[_Device | None, _Errors]:
    """Check one flex-model entry; return the device (None on errors) and the errors."""
    if not isinstance(entry, dict):
        return None, {"_schema": ["Invalid input type."]}
    errors: _Errors = {
        name: [UNKNOWN] for name in unknown_fields(entry, _FLEX_MODEL_FIELDS)
    }
    sensor = _entry_sensor(context, entry, errors)
    _check_socs(entry, sensor, errors)
    _check_capacities(context, entry, errors)
    if errors or sensor is None:
        return None, errors
    return _device(context, sensor, entry), {}


def _check_flex_model(
    context: _Context, entries: list[Any]
) -> tuple[list[_Device], _Errors]:
    errors: _Errors = {}
    devices: list[_Device] = []
    for index, entry in enumerate(entries):
        device, entry_errors = _check_entry(context, entry)
        if device is None:
            errors[str(index)] = entry_errors
        else:
            devices.append(device)
    if errors:
        return devices, {"flex-model": errors}
    seen: set[int] = set()
    for device in devices:
        sensor_id = device.sensor["id"]
        if sensor_id in seen:
            return devices, {
                "_schema": [
                    f"Sensor {sensor_id} should not occur more than once in the flex-model"
                ]
            }
        seen.add(sensor_id)
        if device.sensor["generic_asset_id"] not in context.offspring:
            return devices, {
                "_schema": [
                    (
                        f"Sensor {sensor_id} does not belong to asset "
                        f"{context.asset['id']} (or to one of its offspring)"
                    )
                ]
            }
    return devices, {}


def _inflexible_sensors(context: _Context, value: Any) -> None:
    if not isinstance(value, list):
        raise _QuantityError("Not a valid list.")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise _QuantityError("Not a valid integer.")
        context.sensor_reference({"sensor": item})


def _relax(value: Any) -> None:
    try:
        _boolean(value)
    except _FieldError:
        raise _QuantityError("Not a valid boolean.") from None


def _check_context_value(context: _Context, name: str, value: Any) -> None:
    if name in ("consumption-price", "production-price"):
        context.variable(value, _price)
    elif name.startswith("site-") and name.endswith("-capacity"):
        context.variable(value, _power_kw)
    elif name.endswith("-price"):
        context.variable(value, _any_quantity)
    elif name == "inflexible-device-sensors":
        _inflexible_sensors(context, value)
    elif name.startswith("relax-") and value is not None:
        _relax(value)


def _check_flex_context(context: _Context, flex_context: JSONDict) -> _Errors:
    """Check the trigger's flex-context; return the errors."""
    errors: _Errors = {
        name: [UNKNOWN] for name in unknown_fields(flex_context, _FLEX_CONTEXT_FIELDS)
    }
    for name, value in flex_context.items():
        if name not in _FLEX_CONTEXT_FIELDS:
            continue
        try:
            _check_context_value(context, name, value)
        except _QuantityError as err:
            errors[name] = [str(err)]
    return {"flex-context": errors} if errors else {}


# Stored flex-model and flex-context (asset fields)

#: The keys of FlexMeasures' ``DBStorageFlexModelSchema`` (no ``soc-at-start``,
#: ``sensor`` or ``soc-unit``: those exist only in a trigger).
_STORED_FLEX_MODEL_FIELDS: Final = frozenset(
    {
        "consumption",
        "production",
        "group",
        "inflexible-consumption",
        "inflexible-production",
        "soc-min",
        "soc-max",
        "soc-minima",
        "soc-maxima",
        "soc-targets",
        "state-of-charge",
        "soc-gain",
        "soc-usage",
        "roundtrip-efficiency",
        "charging-efficiency",
        "discharging-efficiency",
        "storage-efficiency",
        "prefer-charging-sooner",
        "prefer-curtailing-later",
        "power-capacity",
        "consumption-capacity",
        "production-capacity",
        "commodity",
        "coupling",
        "coupling-coefficient",
        "coupling-base",
        "coupling-min",
    }
)
_STORED_ENERGY_FIELDS: Final = (
    "soc-min",
    "soc-max",
    "soc-minima",
    "soc-maxima",
    "soc-targets",
)
_NO_STORED_SERIES: Final = (
    "A time series specification (listing segments) is not supported when storing "
    "{what} fields. Use a fixed quantity or a sensor reference instead."
)


def _stored_reference(store: FlexMeasuresState, value: JSONDict) -> None:
    raw = value.get("sensor")
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in store.sensors:
        raise _QuantityError(f"No sensor found with ID {raw}.")


def _stored_value(
    store: FlexMeasuresState, what: str, value: Any, check: Callable[[str], Any]
) -> None:
    """A fixed quantity (checked) or a sensor reference; no time series."""
    if isinstance(value, list):
        raise _QuantityError(_NO_STORED_SERIES.format(what=what))
    if isinstance(value, dict):
        _stored_reference(store, value)
    elif isinstance(value, str):
        check(value)
    elif not _is_number(value):
        raise _unsupported(value)


def check_stored_flex_model(store: FlexMeasuresState, flex_model: JSONDict) -> _Errors:
    """Check an asset's ``flex_model`` as ``DBStorageFlexModelSchema`` does."""
    errors: _Errors = {
        name: [UNKNOWN]
        for name in unknown_fields(flex_model, _STORED_FLEX_MODEL_FIELDS)
    }
    for name, value in flex_model.items():
        check: Callable[[str], Any] | None = None
        if name in _STORED_ENERGY_FIELDS:
            check = _energy_kwh
        elif name in _CAPACITY_FIELDS:
            check = _power_kw
            if _is_number(value):
                errors[name] = [str(_unsupported(value))]
                continue
        if check is None:
            continue
        try:
            _stored_value(store, "flex-model", value, check)
        except _QuantityError as err:
            errors[name] = [str(err)]
    return errors


def check_stored_flex_context(
    store: FlexMeasuresState, flex_context: JSONDict
) -> _Errors:
    """Check an asset's ``flex_context``: known keys, prices and capacities in units."""
    errors: _Errors = {
        name: [UNKNOWN] for name in unknown_fields(flex_context, _FLEX_CONTEXT_FIELDS)
    }
    for name, value in flex_context.items():
        if name in ("consumption-price", "production-price"):
            check: Callable[[str], Any] = _price
        elif name.startswith("site-") and name.endswith("-capacity"):
            check = _power_kw
        else:
            continue
        try:
            _stored_value(store, "flex-context", value, check)
        except _QuantityError as err:
            errors[name] = [str(err)]
    return errors


# The schedule


@dataclass(frozen=True, slots=True)
class _Plan:
    start: datetime
    duration: timedelta
    resolution: timedelta | None
    devices: list[_Device]
    flex_context: JSONDict
    """The asset tree's stored flex-contexts (top first) with the trigger's on top."""
    belief_time: datetime
    """When the schedule's beliefs are formed: the trigger's ``prior``, else now."""


def _context_of(
    store: FlexMeasuresState, asset: JSONDict, trigger: JSONDict
) -> JSONDict:
    """The flex-context a job uses: ancestors' and the asset's, then the trigger's."""
    chain: list[JSONDict] = []
    current: JSONDict | None = asset
    while current is not None and len(chain) < 20:
        chain.append(current)
        parent = current["parent_asset_id"]
        current = None if parent is None else store.assets.get(parent)
    merged: JSONDict = {}
    for item in reversed(chain):
        stored = json.loads(item["flex_context"])
        if isinstance(stored, dict):
            merged.update(stored)
    merged.update(trigger)
    return merged


def _attribute_capacity(store: FlexMeasuresState, sensor: JSONDict) -> Decimal | None:
    """``capacity_in_mw``, else ``power-capacity``, of the sensor, else of its asset, in kW."""
    asset = store.assets[sensor["generic_asset_id"]]
    for attributes in (sensor["attributes"], asset["attributes"]):
        found = json.loads(attributes, parse_float=Decimal)
        value = found.get("capacity_in_mw")
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            return Decimal(value).scaleb(3)
        text = found.get("power-capacity")
        if isinstance(text, str):
            try:
                return _power_kw(text)
            except _QuantityError:
                continue
    return None


def _site_capacity(context: JSONDict, *names: str) -> Decimal | None:
    """The smallest of the flex-context's site capacities given as quantities."""
    found = [
        _power_kw(context[name]) for name in names if isinstance(context.get(name), str)
    ]
    return min(found) if found else None


def _capacities(
    store: FlexMeasuresState, device: _Device, plan: _Plan
) -> tuple[Decimal, Decimal] | None:
    """Consumption and production capacity in kW; None without a power capacity.

    FlexMeasures needs the device's power capacity (flex-model
    ``power-capacity``, else ``capacity_in_mw``/``power-capacity`` attributes
    of the sensor or its asset, else the site's power capacity);
    ``consumption-capacity`` and ``production-capacity`` narrow it per
    direction, as do the site's consumption and production capacities.
    """
    power = device.power_capacity
    if power is None:
        power = _attribute_capacity(store, device.sensor)
    if power is None:
        power = _site_capacity(plan.flex_context, "site-power-capacity")
    if power is None and None not in (
        device.consumption_capacity,
        device.production_capacity,
    ):
        # Both directions given: FlexMeasures 1.0.1 needs no power capacity then.
        assert device.consumption_capacity is not None
        assert device.production_capacity is not None
        power = max(device.consumption_capacity, device.production_capacity)
    if power is None:
        return None
    up = [power, device.consumption_capacity]
    up.append(_site_capacity(plan.flex_context, "site-consumption-capacity"))
    down = [power, device.production_capacity]
    down.append(_site_capacity(plan.flex_context, "site-production-capacity"))
    return (
        min(value for value in up if value is not None),
        min(value for value in down if value is not None),
    )


def _infeasible(device: _Device) -> bool:
    low = device.soc_min if device.soc_min is not None else Decimal(0)
    start = device.soc_at_start if device.soc_at_start is not None else Decimal(0)
    high = device.soc_max
    if high is not None and (low > high or start > high):
        return True
    return device.soc_min is not None and start < low


def _kw_to_unit(unit: str) -> Decimal:
    parsed = _parse_unit(unit)
    return Decimal(1).scaleb(3 - (parsed.exponent if parsed is not None else 3))


class _PriceError(ValueError):
    """Prices cannot be had for the planning window (the job fails with this)."""


def _per_mwh(unit: str, resolution: timedelta) -> Decimal:
    """The factor from ``unit`` (an energy price) to the same currency per MWh."""
    currency = unit.partition("/")[0]
    factor = _multiplier(unit, f"{currency}/MWh", resolution)
    return Decimal(str(factor)) if factor is not None else Decimal(1)


def _filled(found: list[Decimal | None], problem: str) -> list[Decimal]:
    """Fill gaps and sides from the nearest known price; fail without any."""
    known = [price for price in found if price is not None]
    if not known:
        raise _PriceError(problem)
    filled: list[Decimal] = []
    last = known[0]
    for price in found:
        last = price if price is not None else last
        filled.append(last)
    return filled


def _sensor_prices(
    store: FlexMeasuresState, sensor_id: int, starts: list[datetime]
) -> list[Decimal]:
    """The price sensor's latest beliefs at each step start, sides and gaps filled.

    FlexMeasures fills a price series towards the window's sides from the
    nearest known price; a window without any price fails.
    """
    sensor = store.sensors[sensor_id]
    resolution = _resolution_of(sensor)
    factor = _per_mwh(sensor["unit"], resolution)
    current = _current(store, sensor_id)
    found: list[Decimal | None] = []
    for moment in starts:
        belief = current.get(
            _event_key(_floor(moment, resolution) if resolution else moment)
        )
        found.append(None if belief is None else Decimal(str(belief)) * factor)
    return _filled(found, f"{UNKNOWN_PRICES} (sensor {sensor_id})")


def _series_prices(
    segments: list[Any], starts: list[datetime], step: timedelta
) -> list[Decimal]:
    """A time series ``[{value, start, end | duration}]`` at each step start."""
    spans: list[tuple[datetime, datetime, Decimal]] = []
    for segment in segments:
        if not isinstance(segment, dict) or not isinstance(segment.get("value"), str):
            continue
        try:
            begin = _aware_datetime(segment.get("start"))
            if "end" in segment:
                finish = _aware_datetime(segment["end"])
            else:
                finish = begin + _duration(segment.get("duration"))
            magnitude, unit = _quantity(segment["value"], "/MWh")
        except _FieldError, _QuantityError:
            continue
        spans.append((begin, finish, magnitude * _per_mwh(unit, step)))
    return _filled(
        [
            next(
                (price for begin, finish, price in spans if begin <= moment < finish),
                None,
            )
            for moment in starts
        ],
        UNKNOWN_PRICES,
    )


def _prices(
    store: FlexMeasuresState, value: Any, starts: list[datetime], step: timedelta
) -> list[Decimal]:
    """A price (quantity, ``{"sensor": id}`` or time series) per step, per MWh."""
    if isinstance(value, str):
        magnitude, unit = _quantity(value, "/MWh")
        return [magnitude * _per_mwh(unit, step)] * len(starts)
    if isinstance(value, dict):
        return _sensor_prices(store, value["sensor"], starts)
    if isinstance(value, list):
        return _series_prices(value, starts, step)
    return [Decimal(str(value))] * len(starts)


def _powers(
    device: _Device,
    capacities: tuple[Decimal, Decimal],
    prices: tuple[list[Decimal], list[Decimal]],
    block_hours: Decimal,
) -> list[Decimal]:
    """Price-driven power per block (kW, consumption positive).

    Charge at the consumption capacity while the consumption price is below
    its mean over the window and some later production price is higher;
    discharge at the production capacity while the production price is above
    its mean; never beyond ``soc-max`` or below ``soc-min``.
    """
    up, down = capacities
    buy, sell = prices
    mean_buy = sum(buy, Decimal(0)) / len(buy)
    mean_sell = sum(sell, Decimal(0)) / len(sell)
    later_best = [max(sell[index + 1 :], default=None) for index in range(len(sell))]
    low = device.soc_min if device.soc_min is not None else Decimal(0)
    high = device.soc_max if device.soc_max is not None else Decimal("Infinity")
    soc = device.soc_at_start if device.soc_at_start is not None else Decimal(0)
    powers: list[Decimal] = []
    for index, (price, revenue) in enumerate(zip(buy, sell, strict=True)):
        best = later_best[index]
        power = Decimal(0)
        if price < mean_buy and best is not None and best > price:
            power = max(Decimal(0), min(up, (high - soc) / block_hours))
        elif revenue > mean_sell:
            power = -max(Decimal(0), min(down, (soc - low) / block_hours))
        soc += power * block_hours
        powers.append(power)
    return powers


def _device_schedule(
    store: FlexMeasuresState, device: _Device, plan: _Plan
) -> tuple[JSONDict, str | None]:
    """The device's price-driven schedule, and the problem that fails the job."""
    resolution = _resolution_of(device.sensor)
    start = _floor(plan.start, resolution)
    span = plan.start + plan.duration - start
    steps = max(1, min(-(-span // resolution), MAX_PLANNING_STEPS))
    block = 1
    if plan.resolution and not plan.resolution % resolution:
        block = max(1, plan.resolution // resolution)
    firsts = list(range(0, steps, block))
    starts = [start + first * resolution for first in firsts]
    problem: str | None = None
    capacities = _capacities(store, device, plan)
    if capacities is None:
        problem = NO_CAPACITY.format(asset=device.sensor["generic_asset_id"])
    consumption = plan.flex_context.get("consumption-price")
    production = plan.flex_context.get("production-price", consumption)
    buy: list[Decimal] = []
    sell: list[Decimal] = []
    if consumption is None:
        problem = problem or NO_PRICE
    else:
        try:
            buy = _prices(store, consumption, starts, resolution * block)
            sell = _prices(store, production, starts, resolution * block)
        except _PriceError as err:
            problem = problem or str(err)
    if _infeasible(device):
        problem = problem or INFEASIBLE
    step_hours = Decimal(resolution // timedelta(seconds=1)) / 3600
    powers: list[Decimal] = []
    block_powers = (
        _powers(device, capacities, (buy, sell), step_hours * block)
        if capacities is not None and buy and problem is None
        else [Decimal(0)] * len(firsts)
    )
    for first, power in zip(firsts, block_powers, strict=True):
        powers.extend([power] * min(block, steps - first))
    factor = _kw_to_unit(device.sensor["unit"])
    return {
        "start": _isodate_format(start.astimezone(UTC)),
        "resolution": _duration_format(resolution),
        "unit": device.sensor["unit"],
        "values": [float(power * factor) for power in powers],
    }, problem


def _outcome(store: FlexMeasuresState, plan: _Plan) -> JSONDict:
    sensors: JSONDict = {}
    problem: str | None = None
    for device in plan.devices:
        schedule, found = _device_schedule(store, device, plan)
        sensors[str(device.sensor["id"])] = schedule
        problem = problem or found
    return {
        "sensors": sensors,
        "problem": problem,
        "belief_time": plan.belief_time.astimezone(UTC).isoformat(
            timespec="microseconds"
        ),
    }


# Jobs


def _finish(store: FlexMeasuresState, job: JSONDict, *, forced: bool) -> None:
    """Finish a job: store its schedule, or fail it when its input cannot be scheduled."""
    now = _now()
    job["started-at"] = job["started-at"] or now
    job["ended-at"] = now
    problem = job["outcome"]["problem"]
    if problem and not forced:
        job["status"] = "FAILED"
        job["exception"] = problem
        return
    job["status"] = "FINISHED"
    job["exception"] = None
    # Written into each scheduled power sensor as the scheduler's beliefs,
    # formed at the trigger's prior (else when triggered), in the sign the
    # sensor stores (platform notes §6).
    sensors: JSONDict = {}
    for sensor_id, written in job["outcome"]["sensors"].items():
        sensor = store.sensors.get(int(sensor_id))
        attributes = json.loads(sensor["attributes"]) if sensor else {}
        consumption_positive = attributes.get("consumption_is_positive") is True
        sensors[sensor_id] = {
            **written,
            "belief_time": job["outcome"].get("belief_time") or _now(),
            "stored_sign": 1 if consumption_positive else -1,
        }
    store.schedules[job["id"]] = {
        "job": job["id"],
        "asset_id": job["asset_id"],
        "scheduler_info": {"scheduler": SCHEDULER},
        "sensors": sensors,
    }


def _poll(store: FlexMeasuresState, job: JSONDict) -> str:
    """Answer the job's status, then move it on one poll."""
    status: str = job["status"]
    if status in _PENDING and not job["pinned"]:
        job["polls"] += 1
        if job["polls"] >= job["polls_to_finish"]:
            _finish(store, job, forced=False)
        else:
            job["status"] = "STARTED"
            job["started-at"] = job["started-at"] or _now()
    return status


def _job_view(store: FlexMeasuresState, job: JSONDict, status: str) -> JSONDict:
    """The ``GET /jobs/{uuid}`` body for the job in ``status``."""
    finished = status == "FINISHED"
    failed = status == "FAILED"
    schedule = store.schedules.get(job["id"]) if finished else None
    result = (
        {
            "unresolved": [],
            "resolved": [],
            "num-beliefs": sum(
                len(item["values"]) for item in schedule["sensors"].values()
            ),
        }
        if schedule is not None
        else None
    )
    ended = job["ended-at"] if status in ("FINISHED", "FAILED") else None
    started = job["started-at"] if status != "QUEUED" else None
    exc_info = (
        "Traceback (most recent call last):\n"
        '  File "flexmeasures/data/services/scheduling.py", in create_schedule\n'
        f"{job['exception']}\n"
        if failed
        else None
    )
    message = _failed(job["exception"]) if failed else _JOB_MESSAGES[status]
    view: JSONDict = {
        "status": status,
        "message": message,
        "result": result,
        "func-name": FUNC_NAME,
        "origin": "scheduling",
        "enqueued-at": job["enqueued-at"],
        "started-at": started,
        "ended-at": ended,
        "exc-info": exc_info,
    }
    view.update({key.replace("-", "_"): view[key] for key in list(view)[3:]})
    return view


def _job_or_none(
    store: FlexMeasuresState, job_id: str, user: JSONDict
) -> JSONDict | None:
    job = store.jobs.get(job_id)
    if job is None or job["account_id"] != user["account_id"]:
        return None
    return job


# Trigger budget


def _limit_text(limit: int, window: float) -> str:
    """The limit as flask-limiter writes it (``10 per 5 minute``)."""
    for seconds, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if window >= seconds and not window % seconds:
            return f"{limit} per {int(window // seconds)} {name}"
    count = int(window) if float(window).is_integer() else window
    return f"{limit} per {count} second"


def _budget(runtime: _Runtime, account_id: int) -> tuple[list[float], float] | None:
    """The account's counted triggers within the window, and now; None without a limit."""
    settings = runtime.settings
    if settings.trigger_limit is None:
        return None
    now = time.monotonic()
    hits = [
        moment
        for moment in runtime.triggers.get(account_id, [])
        if moment > now - settings.trigger_window_seconds
    ]
    runtime.triggers[account_id] = hits
    return hits, now


def _rate_headers(runtime: _Runtime, hits: list[float], now: float) -> dict[str, str]:
    settings = runtime.settings
    limit = settings.trigger_limit or 0
    window = settings.trigger_window_seconds
    reset_in = (hits[0] + window - now) if hits else window
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(limit - len(hits), 0)),
        "X-RateLimit-Reset": str(math.ceil(time.time() + reset_in)),
    }


def _check_budget(runtime: _Runtime, account_id: int) -> None:
    budget = _budget(runtime, account_id)
    if budget is None:
        return
    hits, now = budget
    limit = runtime.settings.trigger_limit or 0
    if len(hits) < limit:
        return
    window = runtime.settings.trigger_window_seconds
    retry_after = max(1, math.ceil(hits[-limit] + window - now))
    headers = _rate_headers(runtime, hits, now)
    headers["Retry-After"] = str(retry_after)
    message = (
        f"You hit a rate limit. The limit you hit allows {_limit_text(limit, window)}."
    )
    raise RequestRejectedError(
        flexmeasures_rejected(429, "TOO_MANY_REQUESTS", message, headers),
        f"{len(hits)} triggers in the last {window:g} s; {message}",
        violation=False,
    )


def _spend_budget(runtime: _Runtime, account_id: int) -> dict[str, str]:
    budget = _budget(runtime, account_id)
    if budget is None:
        return {}
    hits, now = budget
    hits.append(now)
    return _rate_headers(runtime, hits, now)


# Routes


def _check_trigger(
    store: FlexMeasuresState, asset: JSONDict, body: Any
) -> tuple[JSONDict, _Plan]:
    """Check the trigger body (422 on any problem); return the parsed fields and the plan."""
    if not isinstance(body, dict):
        raise _rejected({"_schema": ["Invalid input type."]})
    parsed, errors = _parse_trigger(body)
    if errors:
        raise _rejected(errors)
    context = _Context(store, asset)
    devices, errors = _check_flex_model(context, parsed.get("flex-model", []))
    trigger_context = parsed.get("flex-context", {})
    errors.update(_check_flex_context(context, trigger_context))
    if errors:
        raise _rejected(errors)
    return parsed, _Plan(
        start=parsed["start"],
        duration=parsed.get("duration", PLANNING_HORIZON),
        resolution=parsed.get("resolution"),
        devices=devices,
        flex_context=_context_of(store, asset, trigger_context),
        belief_time=parsed.get("prior") or datetime.now(UTC),
    )


def _cached_job(
    store: FlexMeasuresState, cache_key: str, ttl: float
) -> JSONDict | None:
    """The job an identical request made within the cache time, failed or not.

    FlexMeasures' job cache (``FLEXMEASURES_JOB_CACHE_TTL``, an hour) answers
    the same job for the same request, also one that failed, unless the
    trigger says ``force-new-job-creation``.
    """
    now = datetime.now(UTC)
    return next(
        (
            job
            for job in reversed(store.jobs.values())
            if job["cache_key"] == cache_key
            and (now - datetime.fromisoformat(job["enqueued-at"])).total_seconds() < ttl
        ),
        None,
    )


def _new_job(
    store: FlexMeasuresState,
    *,
    runtime: _Runtime,
    asset: JSONDict,
    body: JSONDict,
    plan: _Plan,
    cache_key: str,
) -> JSONDict:
    job_id = str(uuid.uuid4())
    job: JSONDict = {
        "id": job_id,
        "asset_id": asset["id"],
        "account_id": asset["account_id"],
        "status": "QUEUED",
        "enqueued-at": _now(),
        "started-at": None,
        "ended-at": None,
        "exception": None,
        "polls": 0,
        "polls_to_finish": runtime.settings.polls_to_finish,
        "pinned": False,
        "body": body,
        "cache_key": cache_key,
        "outcome": _outcome(store, plan),
    }
    store.jobs[job_id] = job
    if job["polls_to_finish"] <= 0:
        _finish(store, job, forced=False)
    return job


@routes.post(TRIGGER)
async def trigger_schedule(request: web.Request) -> web.Response:
    """Queue a scheduling job for flex-model sensors under the asset (202)."""
    user = _authenticate(request)
    state = get_state(request)
    runtime = _runtime(state)
    _check_budget(runtime, user["account_id"])
    asset = _asset_or_404(request, user)
    body = await _body(request)
    store = state.flexmeasures
    parsed, plan = _check_trigger(store, asset, body)
    cache_key = json.dumps(
        [
            asset["id"],
            {k: v for k, v in body.items() if k != "force-new-job-creation"},
        ],
        sort_keys=True,
    )
    job = (
        None
        if parsed.get("force-new-job-creation")
        else _cached_job(store, cache_key, runtime.settings.job_cache_seconds)
    )
    if job is None:
        job = _new_job(
            store,
            runtime=runtime,
            asset=asset,
            body=body,
            plan=plan,
            cache_key=cache_key,
        )
    headers = _spend_budget(runtime, user["account_id"])
    return web.json_response(
        {
            "status": "ACCEPTED",
            "job": job["id"],
            "schedule": job["id"],
            "job-url": f"{V3}/jobs/{job['id']}",
            "message": ACCEPTED_MESSAGE,
        },
        status=202,
        headers=headers,
    )


@routes.get(JOB)
async def get_job(request: web.Request) -> web.Response:
    """The job's status: 202 queued or running, 200 finished, 422 failed."""
    user = _authenticate(request)
    store = get_state(request).flexmeasures
    job_id = request.match_info["uuid"]
    job = store.jobs.get(job_id)
    if job is None:
        raise RequestRejectedError(
            web.json_response(
                {"status": "ERROR", "message": f"Job {job_id} not found."}, status=404
            ),
            f"Job {job_id} does not exist",
            violation=False,
        )
    if job["account_id"] != user["account_id"]:
        raise RequestRejectedError(
            flexmeasures_rejected(403, "INVALID_SENDER", FLEXMEASURES_FORBIDDEN),
            f"Job {job_id} belongs to another account",
        )
    status = _poll(store, job)
    code = {"FINISHED": 200, "FAILED": 422}.get(status, 202)
    return web.json_response(_job_view(store, job, status), status=code)


def _schedule_query(
    request: web.Request, sensor: JSONDict
) -> tuple[timedelta, str, str]:
    """``duration``, ``unit`` and ``sign-convention`` (422 in ``query`` when invalid)."""
    errors: _Errors = {}
    duration = DEFAULT_SCHEDULE_DURATION
    if "duration" in request.query:
        try:
            duration = _positive_duration(request.query["duration"])
        except _FieldError as err:
            errors["duration"] = err.messages
    unit = request.query.get("unit", sensor["unit"])
    if not is_valid_unit(unit):
        errors["unit"] = [f"Invalid unit: {unit}"]
    elif _multiplier(sensor["unit"], unit, _resolution_of(sensor)) is None:
        errors["unit"] = [
            f"Incompatible units: {sensor['unit']} cannot be converted to {unit}."
        ]
    convention = request.query.get("sign-convention", SIGN_CONVENTIONS[0])
    if convention not in SIGN_CONVENTIONS:
        errors["sign-convention"] = [f"Must be one of: {', '.join(SIGN_CONVENTIONS)}."]
    if errors:
        raise _rejected(errors, "query")
    return duration, unit, convention


def _pending(job: JSONDict, status: str, pending_as_202: bool) -> web.Response:
    if status == "FAILED":
        raise _unknown_schedule(_failed(job["exception"]))
    message = _JOB_MESSAGES[status]
    if pending_as_202:
        return web.json_response({"status": status, "message": message}, status=202)
    raise _unknown_schedule(message)


def _sign(found: JSONDict, convention: str) -> Decimal:
    """Schedules are kept consumption positive; flip them as the convention asks.

    ``wysiwyg`` answers the sign the sensor stored them in: consumption
    positive only when the sensor had ``consumption_is_positive``.
    """
    if convention == "production-positive":
        return Decimal(-1)
    if convention == "wysiwyg":
        return Decimal(found.get("stored_sign", -1))
    return Decimal(1)


@routes.get(SCHEDULE)
async def get_schedule(request: web.Request) -> web.Response:
    """The schedule of one sensor from a finished job."""
    user = _authenticate(request)
    sensor = _sensor_or_error(request, user)
    duration, unit, convention = _schedule_query(request, sensor)
    state = get_state(request)
    store = state.flexmeasures
    job_id = request.match_info["uuid"]
    job = _job_or_none(store, job_id, user)
    if job is None:
        message = f"The requested UDI event (id = {job_id}, type = job) is not known."
        raise RequestRejectedError(
            flexmeasures_rejected(400, "UNRECOGNIZED_UDI_EVENT", message),
            message,
            violation=False,
        )
    status = _poll(store, job)
    if status != "FINISHED":
        return _pending(job, status, _runtime(state).settings.pending_as_202)
    found = store.schedules[job_id]["sensors"].get(str(sensor["id"]))
    if found is None:
        raise _unknown_schedule(
            "A scheduling job has been processed with your job ID, but the schedule "
            "was not found in the database.",
            violation=True,
        )
    resolution = _resolution_of(sensor)
    count = min(len(found["values"]), min(duration, PLANNING_HORIZON) // resolution)
    factor = _multiplier(sensor["unit"], unit, resolution)
    scale = Decimal(str(factor)) * _sign(found, convention)
    return web.json_response(
        {
            "values": [
                float(Decimal(str(value)) * scale) for value in found["values"][:count]
            ],
            "start": found["start"],
            "duration": _duration_format(resolution * count),
            "unit": unit,
            "scheduler_info": {"scheduler": SCHEDULER},
            "status": "PROCESSED",
            "message": f"{PROCESSED_MESSAGE} {SCHEDULER_INFO_MESSAGE}",
        }
    )


# Control


async def _control_body(request: web.Request) -> JSONDict:
    try:
        body = await read_json(request)
    except BodyError as err:
        raise ControlError(400, str(err)) from err
    if not isinstance(body, dict):
        raise ControlError(400, "The body must be a JSON object")
    return body


def _apply_settings(settings: SchedulingSettings, body: JSONDict) -> None:
    if extra := unknown_fields(body, asdict(settings)):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    polls = body.get("polls_to_finish", settings.polls_to_finish)
    if isinstance(polls, bool) or not isinstance(polls, int) or polls < 0:
        raise ControlError(400, "polls_to_finish must be an integer >= 0")
    limit = body.get("trigger_limit", settings.trigger_limit)
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
    ):
        raise ControlError(400, "trigger_limit must be an integer >= 1, or null")
    window = body.get("trigger_window_seconds", settings.trigger_window_seconds)
    if not _is_number(window) or not math.isfinite(window) or window <= 0:
        raise ControlError(400, "trigger_window_seconds must be a number > 0")
    as_202 = body.get("pending_as_202", settings.pending_as_202)
    if not isinstance(as_202, bool):
        raise ControlError(400, "pending_as_202 must be a boolean")
    cache = body.get("job_cache_seconds", settings.job_cache_seconds)
    if not _is_number(cache) or not math.isfinite(cache) or cache < 0:
        raise ControlError(400, "job_cache_seconds must be a number >= 0")
    settings.polls_to_finish = polls
    settings.trigger_limit = limit
    settings.trigger_window_seconds = float(window)
    settings.pending_as_202 = as_202
    settings.job_cache_seconds = float(cache)


@routes.get(CONTROL_SETTINGS)
async def get_settings(request: web.Request) -> web.Response:
    """Return the scheduling settings."""
    return web.json_response(asdict(scheduling_settings(get_state(request))))


@routes.put(CONTROL_SETTINGS)
async def put_settings(request: web.Request) -> web.Response:
    """Change the given scheduling settings; answer all of them."""
    settings = scheduling_settings(get_state(request))
    _apply_settings(settings, await _control_body(request))
    return web.json_response(asdict(settings))


@routes.post(CONTROL_JOB)
async def force_job(request: web.Request) -> web.Response:
    """Put a job into a state and keep it there."""
    store = get_state(request).flexmeasures
    job = store.jobs.get(request.match_info["uuid"])
    if job is None:
        raise ControlError(404, "No such job")
    body = await _control_body(request)
    if extra := unknown_fields(body, ("status", "message")):
        raise ControlError(400, f"Unknown fields: {', '.join(extra)}")
    status = body.get("status")
    if status not in JOB_STATUSES:
        raise ControlError(400, f"status must be one of {', '.join(JOB_STATUSES)}")
    message = body.get("message", FORCED_FAILURE)
    if not isinstance(message, str) or not message:
        raise ControlError(400, "message must be a non-empty string")
    store.schedules.pop(job["id"], None)
    job["pinned"] = True
    job["status"] = status
    job["exception"] = None
    if status == "QUEUED":
        job["started-at"] = job["ended-at"] = None
    elif status == "STARTED":
        job["started-at"] = job["started-at"] or _now()
        job["ended-at"] = None
    elif status == "FINISHED":
        _finish(store, job, forced=True)
    else:
        job["started-at"] = job["started-at"] or _now()
        job["ended-at"] = _now()
        job["exception"] = f"ValueError: {message}"
    return web.json_response(_job_view(store, job, status))
