"""Property-based tests: hostile input only ever raises GridFlex's own errors.

Generated event payloads (arbitrary JSON; structurally plausible events with
extreme times, resolutions, numbers and nesting; valid events with exactly
one hostile field), raw webhook bodies (arbitrary bytes, mangled JSON, deep
nesting, huge bodies) and energy reports. Reading may only raise
``GridFlexResponseError``, building a report only
``GridFlexRequestRejectedError``; what is read keeps to the module's sanity
bounds, and valid events survive the round trip through the wire.

Examples per run: 1,300 event payloads (250 arbitrary + 350 plausible + 300
one hostile field + 150 envelopes + 250 round trips) and 1,050 raw webhook
bodies (300 bytes + 400 mangled + 100 deep or huge + 250 round trips), plus
500 reports (300 hour lists + 200 usage reports).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.gridflex.platforms import (
    EnergyCoordinationClient,
    Environment,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
)
from custom_components.gridflex.platforms.energy_coordination import (
    EARLIEST_EVENT_TIME,
    LATEST_EVENT_TIME,
    MAX_ABS_KW,
    MAX_ABS_PRICE,
    MAX_NOTIFICATION_BYTES,
    MAX_NOTIFICATION_DEPTH,
    MAX_RESOLUTION,
    _hourly,
    read_notification,
    usage_points,
)
from custom_components.gridflex.platforms.models import (
    GridEvent,
    GridEventKind,
    LimitWindow,
    PricePoint,
)

GSRN = "707057500000123458"
USER_ID = f"gridflex-{GSRN}"
SITE_ID = f"{USER_ID}/{USER_ID}"
RESOURCES = ("gridflex-charger", "gridflex-battery")


def _fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _client() -> EnergyCoordinationClient:
    """Reading needs no session: nothing is sent."""
    session: Any = None
    return EnergyCoordinationClient(
        session, client_id="id", client_secret="secret", environment=Environment.SANDBOX
    )


CLIENT = _client()

# --- strategies ----------------------------------------------------------------

HOSTILE_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "2026-10-24T17:00:00Z",
        "2026-10-24T17:00:00",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "1999-12-31T23:59:59.9999999Z",
        "2199-12-31T23:00:00Z",
        "2200-01-01T00:00:00Z",
        "2026-W43-6T17",
        "01:00:00",
        "1.00:00:00",
        "1.00:00:01",
        "00:00:00",
        "00:00:00.0000001",
        "10675199.02:48:05",
        "99999999.23:59:59.9999999",
        "-01:00:00",
        "24:00:00",
        "NaN",
        "-Infinity",
        "sNaN",
        "1E+999999999",
        "-1e-999999999",
        "1_000_000",
        "1000000.0000001",
        "LocationLPC",
        "ResourceLPC",
        "PriceCurve",
        "UserEligibility",
        "LPCReservation",
        USER_ID,
        GSRN,
    ]
)
EXTREME_NUMBERS = st.one_of(
    # Integers too long to write as a string (built lazily: Hypothesis
    # describes sampled values with repr, which refuses them).
    st.integers(4300, 5000).map(lambda digits: -(10**digits)),
    st.sampled_from(
        [
            0,
            -0.0,
            10**6,
            -(10**6),
            10**6 + 1,
            -(10**400),
            1e308,
            float("inf"),
            float("nan"),
            Decimal("1E+999999999"),
            Decimal("-1E-999999999"),
            Decimal("sNaN"),
            Decimal("-Infinity"),
            Decimal("1000000.0000000000000000000000000001"),
            True,
        ]
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(max_size=20),
    HOSTILE_STRINGS,
    EXTREME_NUMBERS,
)
KEYS = st.one_of(
    st.sampled_from(
        [
            "payloadType",
            "targets",
            "points",
            "timestamp",
            "maxPowerInKiloWatts",
            "resolution",
            "locationId",
            "meterPointId",
            "resourceId",
            "priceCurveDelta",
            "price",
            "energyUnit",
            "addedUsers",
            "removedUsers",
            "eventId",
            "eventCreatedAtUtc",
            "payload",
        ]
    ),
    st.text(max_size=8),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(KEYS, children, max_size=5)
    ),
    max_leaves=25,
)


def _nested(depth: int) -> Any:
    value: Any = []
    for index in range(depth):
        value = [value] if index % 2 else {"points": value}
    return value


DEEP = st.integers(1, 3000).map(_nested)
ANY = st.one_of(JSON, DEEP)

OFFSETS = st.builds(
    timezone,
    st.timedeltas(
        min_value=-timedelta(hours=23, minutes=59),
        max_value=timedelta(hours=23, minutes=59),
    ).map(lambda delta: timedelta(minutes=delta // timedelta(minutes=1))),
)
ANY_TIME = st.datetimes(
    min_value=datetime(1, 1, 1),  # noqa: DTZ001 - naive bounds, zones added
    max_value=datetime(9999, 12, 31, 23, 59, 59),  # noqa: DTZ001
    timezones=st.one_of(st.none(), st.just(UTC), OFFSETS),
)
NEAR_TIME = st.datetimes(
    min_value=datetime(1999, 12, 30),  # noqa: DTZ001
    max_value=datetime(2200, 1, 2),  # noqa: DTZ001
    timezones=st.one_of(st.none(), st.just(UTC), OFFSETS),
)
EDGE_TIMES = st.builds(
    lambda when, zone: when.replace(tzinfo=zone).isoformat(),
    st.sampled_from(
        [
            datetime.min,  # noqa: DTZ901 - zones added
            datetime.max,  # noqa: DTZ901
            datetime(1999, 12, 31, 23, 59, 59, 999999),  # noqa: DTZ001
            datetime(2000, 1, 1),  # noqa: DTZ001
            datetime(2199, 12, 31, 23, 59, 59, 999999),  # noqa: DTZ001
            datetime(2200, 1, 1),  # noqa: DTZ001
        ]
    ),
    st.one_of(st.none(), OFFSETS),
)
VALID_TIMES = st.datetimes(
    min_value=datetime(2000, 1, 2),  # noqa: DTZ001
    max_value=datetime(2199, 12, 30),  # noqa: DTZ001
    timezones=st.one_of(st.none(), st.just(UTC), OFFSETS),
).map(datetime.isoformat)


def _mostly(
    valid: st.SearchStrategy[Any], *hostile: st.SearchStrategy[Any], percent: int = 80
) -> Any:
    """``valid`` ``percent`` % of the time, else one of the ``hostile`` strategies.

    Payloads that are valid but for a field or two reach the deepest checks.
    """
    anything_hostile = st.one_of(*hostile)
    return st.integers(0, 99).flatmap(
        lambda roll: valid if roll < percent else anything_hostile
    )


OVERFLOW_TIMES = st.builds(
    lambda edge, minutes: edge.replace(
        tzinfo=timezone(timedelta(minutes=minutes if edge.year == 1 else -minutes))
    ).isoformat(),
    st.sampled_from([datetime.min, datetime.max]),  # noqa: DTZ901 - zones added
    st.integers(1, 24 * 60 - 1),
)
"""Times whose offset takes them before year 1 or past year 9999 in UTC."""


TIMESTAMPS = _mostly(
    VALID_TIMES,
    ANY_TIME.map(datetime.isoformat),
    NEAR_TIME.map(datetime.isoformat),
    EDGE_TIMES,
    OVERFLOW_TIMES,
    HOSTILE_STRINGS,
    SCALARS,
)


def _dotnet(span: timedelta) -> str:
    """A timedelta as a .NET TimeSpan string."""
    seconds = span.seconds
    text = f"{seconds // 3600:02}:{seconds % 3600 // 60:02}:{seconds % 60:02}"
    if span.days:
        text = f"{span.days}.{text}"
    if span.microseconds:
        text += f".{span.microseconds * 10:07}"
    return text


RESOLUTIONS = _mostly(
    st.one_of(
        st.none(),
        st.timedeltas(min_value=timedelta(0), max_value=MAX_RESOLUTION).map(_dotnet),
    ),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10**7)).map(_dotnet),
    st.timedeltas(min_value=MAX_RESOLUTION, max_value=MAX_RESOLUTION * 3).map(_dotnet),
    HOSTILE_STRINGS,
    SCALARS,
)
VALID_KW = st.decimals(min_value=-MAX_ABS_KW, max_value=MAX_ABS_KW)
NUMBERS = _mostly(
    VALID_KW,
    st.decimals(),
    st.decimals(min_value=-(10**7), max_value=10**7),
    st.floats(),
    st.integers(),
    st.text(alphabet="0123456789.eE+-_ ", max_size=12),
    EXTREME_NUMBERS,
    SCALARS,
)
LOCATIONS = _mostly(st.just(USER_ID), st.just("elsewhere"), SCALARS)
POINTS = _mostly(
    st.lists(
        st.fixed_dictionaries(
            {"timestamp": TIMESTAMPS, "maxPowerInKiloWatts": NUMBERS},
            optional={"extra": ANY},
        ),
        min_size=1,
        max_size=8,
    ),
    st.just([]),
    st.none(),
    ANY,
)
METER_POINTS = _mostly(st.sampled_from([GSRN, None]), st.just("other"), SCALARS)
RESOURCE_IDS = _mostly(st.sampled_from(RESOURCES), SCALARS)
TARGET = st.fixed_dictionaries(
    {"locationId": LOCATIONS, "resolution": RESOLUTIONS, "points": POINTS},
    optional={"meterPointId": METER_POINTS, "resourceId": RESOURCE_IDS},
)
TARGETS = _mostly(
    st.lists(_mostly(TARGET, ANY), min_size=1, max_size=4), st.just([]), ANY
)
LPC_PAYLOADS = st.fixed_dictionaries(
    {
        "payloadType": st.sampled_from(
            ["LocationLPC", "ResourceLPC", "LPCReservation"]
        ),
        "targets": TARGETS,
    }
)
PRICE_POINTS = _mostly(
    st.lists(
        st.fixed_dictionaries({"price": NUMBERS, "timestamp": TIMESTAMPS}),
        min_size=1,
        max_size=6,
    ),
    ANY,
)
PRICE_PAYLOADS = st.fixed_dictionaries(
    {
        "payloadType": st.just("PriceCurve"),
        "targets": _mostly(
            st.lists(
                st.fixed_dictionaries(
                    {"locationId": LOCATIONS}, optional={"resourceId": RESOURCE_IDS}
                ),
                min_size=1,
                max_size=3,
            ),
            ANY,
        ),
        "priceCurveDelta": _mostly(
            st.fixed_dictionaries(
                {"points": PRICE_POINTS, "resolution": RESOLUTIONS},
                optional={
                    "energyUnit": _mostly(st.sampled_from(["kWh", "MWh"]), SCALARS),
                    "currency": SCALARS,
                },
            ),
            ANY,
        ),
    }
)
USERS = _mostly(
    st.lists(
        _mostly(st.sampled_from([USER_ID, "someone"]), SCALARS), min_size=1, max_size=4
    ),
    st.just([]),
    ANY,
)
ELIGIBILITY_PAYLOADS = st.fixed_dictionaries(
    {"payloadType": st.just("UserEligibility")},
    optional={"addedUsers": USERS, "removedUsers": USERS, "lastUpdated": TIMESTAMPS},
)
PAYLOADS = st.one_of(LPC_PAYLOADS, PRICE_PAYLOADS, ELIGIBILITY_PAYLOADS)
NOTIFICATIONS = st.one_of(
    st.fixed_dictionaries(
        {"eventId": st.one_of(st.text(min_size=1, max_size=10), SCALARS)},
        optional={
            "eventCreatedAtUtc": TIMESTAMPS,
            "payload": st.one_of(PAYLOADS, ANY),
            "notificationType": SCALARS,
        },
    ),
    ANY,
)

# --- checks --------------------------------------------------------------------


def _check_event(event: GridEvent | None) -> None:
    """What was read keeps to the module's bounds."""
    if event is None:
        return
    assert EARLIEST_EVENT_TIME <= event.created_at < LATEST_EVENT_TIME
    assert event.created_at.tzinfo is UTC
    assert (event.eligible is not None) == (
        event.kind is GridEventKind.USER_ELIGIBILITY
    )
    last_end = None
    for window in event.windows:
        assert window.start < window.end
        assert window.end - window.start >= timedelta(microseconds=1)
        assert EARLIEST_EVENT_TIME <= window.start < LATEST_EVENT_TIME
        assert window.end <= LATEST_EVENT_TIME + MAX_RESOLUTION
        assert window.max_power_kw.is_finite()
        assert abs(window.max_power_kw) <= MAX_ABS_KW
        assert last_end is None or last_end <= window.start
        last_end = window.end
    for price in event.prices:
        assert price.start < price.end <= price.start + MAX_RESOLUTION
        assert price.price.is_finite()
        assert abs(price.price) <= MAX_ABS_PRICE
    assert [p.start for p in event.prices] == sorted(p.start for p in event.prices)


def _point_count(payload: Any) -> int:
    """How many limit points the payload's targets hold."""
    targets = payload.get("targets") if isinstance(payload, dict) else None
    if not isinstance(targets, list):
        return 0
    return sum(
        len(target["points"])
        for target in targets
        if isinstance(target, dict) and isinstance(target.get("points"), list)
    )


def _read(payload: Any, created_at: Any = "2026-10-24T10:00:00Z") -> None:
    try:
        event = CLIENT.parse_event(SITE_ID, "fuzzed", created_at, payload)
    except GridFlexResponseError:
        return
    _check_event(event)
    if event is not None and event.windows:
        # Each point lasts at most MAX_RESOLUTION: so do all of them together.
        covered = sum((w.end - w.start for w in event.windows), timedelta(0))
        assert covered <= _point_count(payload) * MAX_RESOLUTION


def _read_body(raw: bytes) -> None:
    try:
        body = read_notification(raw)
    except GridFlexResponseError:
        return
    assert isinstance(body, dict)
    try:
        event = CLIENT.parse_notification(SITE_ID, body)
    except GridFlexResponseError:
        return
    _check_event(event)


# --- event payloads --------------------------------------------------------------


@_fuzz(250)
@given(payload=ANY, created_at=TIMESTAMPS)
def test_parse_event_arbitrary_json(payload: Any, created_at: Any) -> None:
    """Any JSON at all: an event, None, or a response error."""
    _read(payload, created_at)


@_fuzz(350)
@given(payload=PAYLOADS, created_at=TIMESTAMPS)
def test_parse_event_plausible(payload: dict[str, Any], created_at: Any) -> None:
    """Events of every read type with extreme values in every field."""
    _read(payload, created_at)


@_fuzz(150)
@given(body=NOTIFICATIONS)
def test_parse_notification_plausible(body: Any) -> None:
    """Envelopes around those payloads, or anything else."""
    try:
        event = CLIENT.parse_notification(SITE_ID, body)
    except GridFlexResponseError:
        return
    _check_event(event)


# --- one hostile field in a valid event ----------------------------------------

HOSTILE_TIMES = st.one_of(
    ANY_TIME.map(datetime.isoformat), EDGE_TIMES, OVERFLOW_TIMES, HOSTILE_STRINGS
)
HOSTILE_RESOLUTIONS = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10**7)).map(_dotnet),
    st.timedeltas(min_value=MAX_RESOLUTION, max_value=MAX_RESOLUTION * 3).map(_dotnet),
    HOSTILE_STRINGS,
)
HOSTILE_NUMBERS = st.one_of(
    st.decimals(min_value=MAX_ABS_KW, max_value=MAX_ABS_KW * 10),
    st.decimals(max_value=-MAX_ABS_KW),
    st.decimals(),
    EXTREME_NUMBERS,
)
HOSTILE_BY_KEY = {
    "createdAt": HOSTILE_TIMES,
    "timestamp": HOSTILE_TIMES,
    "lastUpdated": HOSTILE_TIMES,
    "resolution": HOSTILE_RESOLUTIONS,
    "maxPowerInKiloWatts": HOSTILE_NUMBERS,
    "price": HOSTILE_NUMBERS,
}
HOSTILE_VALUES = st.one_of(
    HOSTILE_TIMES, HOSTILE_RESOLUTIONS, HOSTILE_NUMBERS, SCALARS, DEEP
)
VALID_RESOLUTIONS = st.timedeltas(
    min_value=timedelta(microseconds=1), max_value=MAX_RESOLUTION
).map(_dotnet)


@st.composite
def _valid_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A payload of any type GridFlex reads, valid, for the site."""
    kind = draw(st.sampled_from(["LocationLPC", "ResourceLPC", "PriceCurve", "Elig"]))
    if kind == "Elig":
        added = draw(st.booleans())
        return {
            "lastUpdated": draw(VALID_TIMES),
            "addedUsers": [USER_ID] if added else ["someone"],
            "removedUsers": ["someone"] if added else [USER_ID],
            "payloadType": "UserEligibility",
        }
    if kind == "PriceCurve":
        points = st.fixed_dictionaries(
            {
                "price": st.decimals(min_value=-MAX_ABS_PRICE, max_value=MAX_ABS_PRICE),
                "timestamp": VALID_TIMES,
            }
        )
        return {
            "targets": [
                {"resourceId": draw(st.sampled_from(RESOURCES)), "locationId": USER_ID}
            ],
            "priceCurveDelta": {
                "points": draw(st.lists(points, min_size=1, max_size=4)),
                "energyUnit": draw(st.sampled_from(["kWh", "MWh"])),
                "currency": "NOK",
                "resolution": draw(VALID_RESOLUTIONS),
            },
            "payloadType": "PriceCurve",
        }
    point = st.fixed_dictionaries(
        {"maxPowerInKiloWatts": VALID_KW, "timestamp": VALID_TIMES}
    )
    target = st.fixed_dictionaries(
        {
            "locationId": st.just(USER_ID),
            "meterPointId": st.just(GSRN),
            "resolution": VALID_RESOLUTIONS,
            "points": st.lists(point, min_size=1, max_size=4),
        },
        optional={"resourceId": st.sampled_from(RESOURCES)}
        if kind == "LocationLPC"
        else {},
    )
    targets = draw(st.lists(target, min_size=1, max_size=3))
    if kind == "ResourceLPC":
        for target_ in targets:
            target_["resourceId"] = draw(st.sampled_from(RESOURCES))
    return {"targets": targets, "payloadType": kind}


def _leaves(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON value, containers included."""
    found: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        found.append((value, key))
        if isinstance(child, (dict, list)):
            found.extend(_leaves(child))
    return found


@st.composite
def _one_hostile_field(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    """A valid payload and creation time with one field made hostile (or gone).

    Half the time the field is one a bound guards (a time, a resolution, a
    limit or a price), with a value made for it.
    """
    payload = draw(_valid_payloads())
    envelope: dict[str, Any] = {"createdAt": draw(VALID_TIMES), "payload": payload}
    leaves = _leaves(envelope)
    guarded = [leaf for leaf in leaves if leaf[1] in HOSTILE_BY_KEY]
    if guarded and draw(st.booleans()):
        container, key = draw(st.sampled_from(guarded))
        container[key] = draw(HOSTILE_BY_KEY[key])
    else:
        container, key = draw(st.sampled_from(leaves))
        if isinstance(container, dict) and key != "payload" and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(HOSTILE_VALUES)
    return envelope.get("payload"), envelope.get("createdAt")


@_fuzz(300)
@given(case=_one_hostile_field())
def test_parse_event_one_hostile_field(case: tuple[Any, Any]) -> None:
    """Valid but for one field: the check of that field must hold on its own."""
    payload, created_at = case
    _read(payload, created_at)


# --- raw webhook bodies ---------------------------------------------------------


@_fuzz(300)
@given(raw=st.binary(max_size=2000))
def test_read_notification_arbitrary_bytes(raw: bytes) -> None:
    """Any bytes at all."""
    _read_body(raw)


def _json_text(value: Any) -> bytes:
    try:
        return json.dumps(value, default=str).encode()
    except ValueError, RecursionError:  # an int too long, nesting too deep
        return b"null"


@_fuzz(400)
@given(
    value=st.one_of(NOTIFICATIONS, ANY),
    wrap=st.integers(0, 40),
    cut=st.one_of(st.none(), st.integers(0, 5000)),
    insert=st.one_of(st.none(), st.binary(min_size=1, max_size=4)),
    position=st.integers(0, 5000),
)
def test_read_notification_mangled_json(
    value: Any, wrap: int, cut: int | None, insert: bytes | None, position: int
) -> None:
    """JSON text of plausible pushes, wrapped, cut short or with bytes slipped in."""
    raw = _json_text(value)
    raw = b'{"payload": ' * wrap + raw + b"}" * wrap
    if cut is not None:
        raw = raw[:cut]
    if insert is not None:
        raw = raw[:position] + insert + raw[position:]
    _read_body(raw)


@_fuzz(100)
@given(
    depth=st.integers(0, 200_000),
    padding=st.integers(0, 2 * MAX_NOTIFICATION_BYTES),
    opener=st.sampled_from([b"[", b'{"a": ', b'{"payload": ', b'["\\"', b"[1, "]),
    closed=st.booleans(),
)
def test_read_notification_deep_or_huge(
    depth: int, padding: int, opener: bytes, closed: bool
) -> None:
    """Nesting far beyond the limit, bodies far beyond the size: refused cheaply."""
    closer = b"}" if opener.startswith(b"{") else b"]"
    raw = opener * depth + b"1" + (closer * depth if closed else b"")
    raw = b" " * padding + raw
    if len(raw) > MAX_NOTIFICATION_BYTES or depth > MAX_NOTIFICATION_DEPTH + 1:
        try:
            read_notification(raw)
        except GridFlexResponseError:
            return
        raise AssertionError("a body beyond the bounds was read")  # pragma: no cover
    _read_body(raw)


# --- round trips -----------------------------------------------------------------

HOURS = st.integers(
    0,
    (LATEST_EVENT_TIME - EARLIEST_EVENT_TIME - timedelta(days=49))
    // timedelta(hours=1),
)
STEPS = st.sampled_from(
    [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=6),
        timedelta(days=1),
    ]
)
LIMITS = st.decimals(min_value=-MAX_ABS_KW, max_value=MAX_ABS_KW, places=3)


def _number(value: Decimal) -> str:
    """A Decimal as a JSON number, exactly."""
    return f"@@{value}@@"


def _wire(body: dict[str, Any]) -> bytes:
    return re.sub(r'"@@([^@]*)@@"', r"\1", json.dumps(body)).encode()


def _windows(
    start: datetime, step: timedelta, limits: list[Decimal | None]
) -> tuple[LimitWindow, ...]:
    """Consecutive points as the windows they make (equal neighbours merged)."""
    windows: list[LimitWindow] = []
    for index, limit in enumerate(limits):
        if limit is None:
            continue
        begin = start + index * step
        last = windows[-1] if windows else None
        if last is not None and last.end == begin and last.max_power_kw == limit:
            windows[-1] = LimitWindow(last.start, begin + step, last.max_power_kw)
        else:
            windows.append(LimitWindow(begin, begin + step, limit))
    return tuple(windows)


@_fuzz(250)
@given(
    hour=HOURS,
    step=STEPS,
    limits=st.lists(st.one_of(st.none(), LIMITS), min_size=1, max_size=48),
    zone=OFFSETS,
    resources=st.lists(st.sampled_from(RESOURCES), max_size=2, unique=True),
    created=st.integers(0, 48),
    order=st.randoms(use_true_random=False),
    prices=st.lists(
        st.decimals(min_value=-MAX_ABS_PRICE, max_value=MAX_ABS_PRICE, places=3),
        max_size=24,
    ),
    per_mwh=st.booleans(),
    eligibility=st.sampled_from([None, True, False]),
)
def test_valid_events_round_trip(
    hour: int,
    step: timedelta,
    limits: list[Decimal | None],
    zone: timezone,
    resources: list[str],
    created: int,
    order: Any,
    prices: list[Decimal],
    per_mwh: bool,
    eligibility: bool | None,
) -> None:
    """Valid events pushed as raw bytes come back exactly as sent."""
    start = EARLIEST_EVENT_TIME + timedelta(hours=hour)
    created_at = start + timedelta(hours=created)
    points = [
        {
            "maxPowerInKiloWatts": _number(limit),
            "timestamp": (start + index * step).astimezone(zone).isoformat(),
        }
        for index, limit in enumerate(limits)
        if limit is not None
    ]
    order.shuffle(points)
    target: dict[str, Any] = {
        "locationId": USER_ID,
        "meterPointId": GSRN,
        "resolution": _dotnet(step),
        "points": points,
    }
    if resources:
        targets = [{**target, "resourceId": resource} for resource in resources]
        payload = {"targets": targets, "payloadType": "ResourceLPC"}
    else:
        payload = {"targets": [target], "payloadType": "LocationLPC"}
    if eligibility is not None:
        payload = {
            "addedUsers": [USER_ID] if eligibility else ["someone"],
            "removedUsers": [] if eligibility else [USER_ID],
            "payloadType": "UserEligibility",
        }
    elif prices:
        payload = {
            "targets": [{"resourceId": r, "locationId": USER_ID} for r in resources]
            or [{"locationId": USER_ID}],
            "priceCurveDelta": {
                "points": [
                    {
                        "price": _number(price),
                        "timestamp": (start + i * step).astimezone(zone).isoformat(),
                    }
                    for i, price in enumerate(prices)
                ],
                "energyUnit": "MWh" if per_mwh else "kWh",
                "currency": "NOK",
                "resolution": _dotnet(step),
            },
            "payloadType": "PriceCurve",
        }
    body = {
        "notificationId": "n",
        "eventId": "round-trip",
        "eventCreatedAtUtc": created_at.astimezone(zone).isoformat(),
        "notificationSentUtc": created_at.isoformat(),
        "notificationType": "LocationLPCRequested",
        "payload": payload,
    }
    event = CLIENT.parse_notification(SITE_ID, read_notification(_wire(body)))
    assert event is not None
    _check_event(event)
    assert event.event_id == "round-trip"
    assert event.created_at == created_at
    if eligibility is not None:
        assert event.kind is GridEventKind.USER_ELIGIBILITY
        assert event.eligible is eligibility
    elif prices:
        assert event.kind is GridEventKind.PRICE_CURVE
        assert event.resource_ids == tuple(resources)
        assert event.prices == tuple(
            PricePoint(
                start + i * step,
                start + (i + 1) * step,
                price / 1000 if per_mwh else price,
            )
            for i, price in enumerate(prices)
        )
    else:
        assert event.kind is GridEventKind.LPC
        assert event.resource_ids == tuple(resources)
        assert event.meter_point_id == GSRN
        assert event.windows == _windows(start, step, limits)


# --- reports -----------------------------------------------------------------------

VALID_HOURS = st.builds(
    lambda hour, zone: (EARLIEST_EVENT_TIME + timedelta(hours=hour)).astimezone(zone),
    st.integers(0, 24 * 365 * 199),
    OFFSETS,
)
VALID_KWH = st.decimals(min_value=0, max_value=MAX_ABS_KW)
HOSTILE_HOURS = st.one_of(ANY_TIME, NEAR_TIME, EDGE_TIMES.map(datetime.fromisoformat))
HOSTILE_KWH = st.one_of(
    st.decimals(),
    st.decimals(max_value=Decimal("-1E-9")),
    st.decimals(min_value=MAX_ABS_KW + Decimal("1E-9"), max_value=MAX_ABS_KW * 10),
    EXTREME_NUMBERS,
    st.none(),
)
REPORT_TIMES = _mostly(VALID_HOURS, HOSTILE_HOURS, percent=95)
KWH = _mostly(VALID_KWH, HOSTILE_KWH, percent=75)
HOUR_LISTS = st.lists(st.tuples(REPORT_TIMES, KWH), max_size=6)


@st.composite
def _hours_with_one_hostile(draw: st.DrawFn) -> list[tuple[datetime, Any]]:
    """Valid hours and values, but for one time or value (or a repeated hour)."""
    hours = draw(st.lists(st.tuples(VALID_HOURS, VALID_KWH), min_size=1, max_size=6))
    index = draw(st.integers(0, len(hours) - 1))
    when, value = hours[index]
    change = draw(st.sampled_from(["time", "value", "repeat"]))
    if change == "time":
        hours[index] = (draw(HOSTILE_HOURS), value)
    elif change == "value":
        hours[index] = (when, draw(HOSTILE_KWH))
    else:
        hours.append((when.astimezone(draw(OFFSETS)), value))
    return hours


_TIMESTAMP = re.compile(r"2[01]\d\d-\d\d-\d\dT\d\d:00:00\.000Z")


def _check_points(points: list[dict[str, object]], key: str) -> None:
    """Points the platform takes: UTC hour starts once each, JSON numbers."""
    stamps = [str(point["timestamp"]) for point in points]
    assert stamps == sorted(set(stamps))
    assert all(_TIMESTAMP.fullmatch(stamp) for stamp in stamps)
    for point in points:
        value = point[key]
        assert isinstance(value, (int, float))
        assert not isinstance(value, bool)
        assert 0 <= value <= MAX_ABS_KW
    json.dumps(points, allow_nan=False)


@_fuzz(300)
@given(values=st.one_of(HOUR_LISTS, _hours_with_one_hostile()))
def test_hourly(values: list[tuple[datetime, Any]]) -> None:
    """Any times and values: report points, or a refusal before sending."""
    try:
        points = _hourly(values, "kiloWattHours")
    except GridFlexRequestRejectedError:
        return
    _check_points(points, "kiloWattHours")


@_fuzz(200)
@given(
    resource_ids=st.lists(st.sampled_from(RESOURCES), max_size=2, unique=True),
    hours=HOUR_LISTS,
    resource_hours=st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from([*RESOURCES, "gridflex-fridge"]), HOUR_LISTS, max_size=3
        ),
    ),
)
def test_usage_report(
    resource_ids: list[str],
    hours: list[tuple[datetime, Any]],
    resource_hours: dict[str, list[tuple[datetime, Any]]] | None,
) -> None:
    """Location usage for location events only, resources' for resource events."""
    event = GridEvent(
        event_id="e",
        kind=GridEventKind.LPC,
        created_at=EARLIEST_EVENT_TIME,
        resource_ids=tuple(resource_ids),
    )
    try:
        points, per_resource = usage_points(event, hours, resource_hours)
    except GridFlexRequestRejectedError:
        return
    assert points or per_resource
    if resource_ids:
        assert not points
    else:
        assert not per_resource
    assert set(per_resource) <= set(resource_ids)
    _check_points(points, "kiloWattHours")
    for resource_points in per_resource.values():
        assert resource_points
        _check_points(resource_points, "kiloWattHours")
