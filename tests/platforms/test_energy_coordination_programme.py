"""Energy Coordination programme (compensation, eligibility, enrollment) and price areas.

Client unit tests against recorded responses on the recording fake platform,
a property-based test of the answer readers (only ``GridFlexResponseError``,
results within the bounds), and the price-area rule for price curves.

Examples per run: 900 fuzzed answers (300 compensations, 300 enrollments,
300 eligibilities, each plausible with hostile fields or arbitrary JSON) and
300 price curves whose relevance must agree with reading them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
import json
import logging
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.gridflex.platforms import (
    EnergyCoordinationClient,
    Environment,
    FlexMeasuresClient,
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    GridFlexTimeoutError,
    PlatformKey,
    PowernautClient,
    capabilities,
    create_client,
)
from custom_components.gridflex.platforms.base import ProgrammeMember
from custom_components.gridflex.platforms.energy_coordination import (
    PRICE_AREAS,
    _site_relevance,
)
from custom_components.gridflex.platforms.energy_coordination_programme import (
    LATEST_DATE,
    MAX_ABS_AMOUNT,
    MAX_AMOUNT_DECIMALS,
    MAX_LOCATIONS,
    MAX_METER_POINTS,
    MAX_PROBLEMS,
    MAX_TEXT,
    read_compensation,
    read_enrollment,
    read_meter_point_eligibility,
    read_user_eligibility,
)
from custom_components.gridflex.platforms.models import (
    Compensation,
    CompensationProblem,
    Eligibility,
    Enrollment,
    GridEvent,
    GridEventKind,
    LocationCompensation,
    PricePoint,
)

from .conftest import FakeClock, FakePlatform, load, reply

if TYPE_CHECKING:
    import aiohttp

API = "/energy-coordination/v1"
TOKEN = "/connect/token"
GSRN = "707057500000123458"
GSRN_2 = "707057500000999995"
USER_ID = f"gridflex-{GSRN}"
SITE_ID = f"{USER_ID}/{USER_ID}"
USER = f"{API}/users/{USER_ID}"
LOCATION = f"{USER}/locations/{USER_ID}"
COMPENSATION = f"{USER}/compensation"
ELIGIBILITY = f"{USER}/eligibility"
ENROLLMENT = f"{USER}/enrollment"
METER = f"{API}/meters/{GSRN}/eligible"
METER_2 = f"{API}/meters/{GSRN_2}/eligible"
CREDENTIALS = {"client_id": "spark-partner", "client_secret": "spark secret&=+"}
CREATED = "2026-12-07T10:00:00Z"
LATER = "2026-12-07T11:00:00Z"

type Call = Callable[[EnergyCoordinationClient], Awaitable[object]]


def _client(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    *,
    price_area: str | None = None,
    request_timeout: float = 2.0,
) -> EnergyCoordinationClient:
    client = create_client(
        PlatformKey.ENERGY_COORDINATION,
        session,
        CREDENTIALS,
        environment=Environment.CUSTOM,
        base_url=f"{fake.url}/",
        request_timeout=request_timeout,
        clock=FakeClock(),
        price_area=price_area,
    )
    assert isinstance(client, EnergyCoordinationClient)
    # Hand out a token unless the test says otherwise.
    fake.routes.setdefault(("POST", TOKEN), [reply(fixture="ec_token")])
    return client


def _with_location(fake: FakePlatform, *meter_point_ids: str, **fields: Any) -> None:
    body = {**load("ec_location"), "meterPointIds": list(meter_point_ids), **fields}
    fake.on("GET", LOCATION, reply(body=body))


# --- the client ----------------------------------------------------------------


def test_programme_capability(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Energy Coordination runs the programme; the others do not."""
    assert capabilities(PlatformKey.ENERGY_COORDINATION).programme is True
    assert isinstance(_client(fake, session), ProgrammeMember)
    for platform, client_type in (
        (PlatformKey.POWERNAUT, PowernautClient),
        (PlatformKey.FLEXMEASURES, FlexMeasuresClient),
    ):
        assert capabilities(platform).programme is False
        assert not issubclass(client_type, ProgrammeMember)


async def test_compensation(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Every location of the user, amounts exact, problems by type."""
    fake.on("GET", COMPENSATION, reply(fixture="ec_compensation"))
    compensation = await _client(fake, session).get_compensation(SITE_ID)
    assert compensation == Compensation(
        period_start=date(2026, 12, 1),
        period_end=date(2026, 12, 31),
        locations=(
            LocationCompensation(
                location_id=USER_ID,
                meter_point_ids=(GSRN,),
                active_amount=Decimal("123.45"),
                blocked_amount=Decimal("6.7"),
                currency="NOK",
            ),
            LocationCompensation(
                location_id="cabin",
                meter_point_ids=(),
                active_amount=Decimal("0.0"),
                blocked_amount=Decimal("12.5"),
                currency="NOK",
                problems=(
                    CompensationProblem(
                        kind="MissingMpidOnLocation",
                        message="Location cabin has no meter point id",
                    ),
                ),
            ),
        ),
    )
    site = compensation.for_location(USER_ID)
    assert site is not None
    assert site.active_amount == Decimal("123.45")
    assert compensation.for_location("elsewhere") is None
    (request,) = fake.sent("GET", COMPENSATION)
    assert request.headers["Authorization"] == "Bearer ec-token-1"
    assert request.body == b""


async def test_compensation_lenient(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """What the contract leaves open is read, not refused."""
    answer = {
        "period": {"from": "2026-12-01T00:00:00+01:00", "to": "2026-12-31T23:59:59"},
        "locationCompensations": [
            {"meterPointIds": [GSRN], "activeAmount": 5},
            {
                "locationId": USER_ID,
                "meterPointIds": [GSRN, GSRN, 7, None],
                "activeAmount": 17,
                "currency": "GBP",
                "problems": [
                    {"problemType": "MeterPointNotMetered", "message": "Not metered"},
                    {"message": "No type"},
                    {"problemType": "CompensationMpidDoesNotMatchLocation"},
                    {"problemType": "", "message": "x" * (MAX_TEXT + 5)},
                ],
            },
            {"locationId": "bare"},
        ],
    }
    fake.on("GET", COMPENSATION, reply(body=answer))
    compensation = await _client(fake, session).get_compensation(SITE_ID)
    assert (compensation.period_start, compensation.period_end) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )
    site, bare = compensation.locations
    assert site.meter_point_ids == (GSRN,)
    assert site.active_amount == 17
    assert site.blocked_amount == 0
    assert site.currency == "GBP"
    assert [(p.kind, p.message[:11]) for p in site.problems] == [
        ("MeterPointNotMetered", "Not metered"),
        ("Unknown", "No type"),
        ("CompensationMpidDoesNotMatchLocation", ""),
        ("Unknown", "x" * 11),
    ]
    assert len(site.problems[-1].message) == MAX_TEXT
    assert site.problems[-1].message.endswith("…")
    assert bare == LocationCompensation(
        location_id="bare",
        meter_point_ids=(),
        active_amount=Decimal(0),
        blocked_amount=Decimal(0),
        currency=None,
    )
    fake.on("GET", COMPENSATION, reply(body={"userId": USER_ID}))
    assert await _client(fake, session).get_compensation(SITE_ID) == Compensation(
        period_start=None, period_end=None
    )


async def test_compensation_amounts_exact(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A double is read by the digits sent, never by its binary value."""
    raw = (
        b'{"period":{"from":"2026-12-01","to":"2026-12-31"},'
        b'"locationCompensations":[{"locationId":"L","activeAmount":0.1,'
        b'"blockedAmount":-1E+2}]}'
    )
    fake.on("GET", COMPENSATION, reply(raw=raw))
    compensation = await _client(fake, session).get_compensation(SITE_ID)
    (location,) = compensation.locations
    assert location.active_amount == Decimal("0.1")
    binary = 0.1
    assert location.active_amount != Decimal(binary)
    assert location.blocked_amount == Decimal(-100)
    # The reader keeps every digit of a Decimal parsed with parse_float.
    parsed = json.loads(raw, parse_float=Decimal)
    parsed["locationCompensations"][0]["activeAmount"] = Decimal(
        "0.12345678901234567890123"
    )
    (location,) = read_compensation(parsed, USER_ID).locations
    assert location.active_amount == Decimal("0.12345678901234567890123")


def _compensation_with(**location: Any) -> dict[str, Any]:
    return {
        "userId": USER_ID,
        "period": {"from": "2026-12-01", "to": "2026-12-31"},
        "locationCompensations": [{"locationId": USER_ID, **location}],
    }


HUGE = 10**400


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ([], "JSON object"),
        ("compensation", "JSON object"),
        (None, "JSON object"),
        ({"userId": "someone-else"}, "about userId"),
        ({"period": "2026-12"}, "JSON object"),
        ({"period": {"from": "December"}}, "date"),
        ({"period": {"from": 20261201}}, "date"),
        ({"period": {"to": "2026-13-01"}}, "date"),
        ({"period": {"from": "1999-12-01"}}, "out of range"),
        ({"period": {"to": "2200-01-01"}}, "out of range"),
        ({"period": {"from": "2026-12-31", "to": "2026-12-01"}}, "ends after"),
        ({"locationCompensations": {"locationId": "L"}}, "list of"),
        ({"locationCompensations": ["L"]}, "JSON object"),
        (
            {"locationCompensations": [{"locationId": "L"}] * (MAX_LOCATIONS + 1)},
            "out of range",
        ),
        (_compensation_with(activeAmount="12.5"), "number as activeAmount"),
        (_compensation_with(activeAmount=True), "number as activeAmount"),
        (_compensation_with(blockedAmount=[1]), "number as blockedAmount"),
        (_compensation_with(activeAmount=float("nan")), "finite"),
        (_compensation_with(blockedAmount=float("-inf")), "finite"),
        (_compensation_with(activeAmount=1_000_000.01), "out of range"),
        (_compensation_with(blockedAmount=-1_000_001), "out of range"),
        (_compensation_with(activeAmount=HUGE), "out of range"),
        (_compensation_with(activeAmount=1e-40), "decimals"),
        (_compensation_with(currency=978), "currency"),
        (_compensation_with(currency="N" * 65), "currency"),
        (_compensation_with(meterPointIds=GSRN), "list of meterPointIds"),
        (
            _compensation_with(meterPointIds=["m"] * (MAX_METER_POINTS + 1)),
            "out of range",
        ),
        (_compensation_with(problems={"problemType": "X"}), "list of problems"),
        (_compensation_with(problems=["broken"]), "JSON object"),
        (_compensation_with(problems=[{"problemType": 3}]), "problemType"),
        (
            _compensation_with(problems=[{"message": "m"}] * (MAX_PROBLEMS + 1)),
            "out of range",
        ),
    ],
)
async def test_compensation_refused(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: Any, match: str
) -> None:
    """An answer the reader cannot take is a response error, nothing else."""
    if answer is None:
        fake.on("GET", COMPENSATION, reply(raw=b"null"))
    else:
        fake.on("GET", COMPENSATION, reply(body=answer))
    with pytest.raises(GridFlexResponseError, match=match):
        await _client(fake, session).get_compensation(SITE_ID)


@pytest.mark.parametrize(
    "amount", [MAX_ABS_AMOUNT, -MAX_ABS_AMOUNT, Decimal(f"1E-{MAX_AMOUNT_DECIMALS}")]
)
def test_compensation_bounds_included(amount: Decimal) -> None:
    """The bounds themselves are read."""
    (location,) = read_compensation(
        _compensation_with(activeAmount=amount), USER_ID
    ).locations
    assert location.active_amount == amount


async def test_eligibility(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """The user, then each of the location's meter points."""
    _with_location(fake, GSRN, GSRN_2)
    fake.on("GET", ELIGIBILITY, reply(fixture="ec_eligibility_user"))
    fake.on("GET", METER, reply(fixture="ec_eligibility_meter"))
    fake.on("GET", METER_2, reply(body={"meterPointId": GSRN_2, "isEligible": False}))
    eligibility = await _client(fake, session).get_eligibility(SITE_ID)
    assert eligibility == Eligibility(
        user_eligible=True, meter_points=((GSRN, True), (GSRN_2, False))
    )
    assert eligibility.eligible is False
    assert fake.calls()[1:] == [
        f"GET {ELIGIBILITY}",
        f"GET {LOCATION}",
        f"GET {METER}",
        f"GET {METER_2}",
    ]
    fake.on("GET", METER_2, reply(body={"meterPointId": GSRN_2, "isEligible": True}))
    assert (await _client(fake, session).get_eligibility(SITE_ID)).eligible is True
    fake.on("GET", ELIGIBILITY, reply(body={"userId": USER_ID, "isEligible": False}))
    eligibility = await _client(fake, session).get_eligibility(SITE_ID)
    assert eligibility.user_eligible is False
    assert eligibility.eligible is False


async def test_eligibility_meter_point_fallback(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without meter points on the location: GridFlex's own, or none at all."""
    _with_location(fake, meterPointId=None)
    fake.on("GET", ELIGIBILITY, reply(fixture="ec_eligibility_user"))
    fake.on("GET", METER, reply(fixture="ec_eligibility_meter"))
    eligibility = await _client(fake, session).get_eligibility(SITE_ID)
    assert eligibility.meter_points == ((GSRN, True),)
    # The deprecated single meterPointId counts, once.
    _with_location(fake, GSRN_2, meterPointId=GSRN_2)
    fake.on("GET", METER_2, reply(body={"meterPointId": GSRN_2, "isEligible": True}))
    eligibility = await _client(fake, session).get_eligibility(SITE_ID)
    assert eligibility.meter_points == ((GSRN_2, True),)
    # A user GridFlex did not name, at a location without meter points.
    fake.on(
        "GET",
        f"{API}/users/someone/locations/house",
        reply(body={"locationId": "house", "meterPointIds": []}),
    )
    fake.on(
        "GET",
        f"{API}/users/someone/eligibility",
        reply(body={"userId": "someone", "isEligible": True}),
    )
    eligibility = await _client(fake, session).get_eligibility("someone/house")
    assert eligibility == Eligibility(user_eligible=True, meter_points=())
    assert eligibility.eligible is True


async def test_eligibility_meter_point_quoted(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A meter point id is one path segment, whatever it holds."""
    _with_location(fake, "NO 1/2")
    fake.on("GET", ELIGIBILITY, reply(fixture="ec_eligibility_user"))
    fake.on(
        "GET",
        f"{API}/meters/NO 1/2/eligible",
        reply(body={"meterPointId": "NO 1/2", "isEligible": True}),
    )
    fake.on(
        "GET",
        f"{API}/meters/NO%201%2F2/eligible",
        reply(body={"meterPointId": "NO 1/2", "isEligible": True}),
    )
    eligibility = await _client(fake, session).get_eligibility(SITE_ID)
    assert eligibility.meter_points == (("NO 1/2", True),)
    assert fake.requests[-1].raw_path == f"{API}/meters/NO%201%2F2/eligible"


async def test_eligibility_meter_points_bounded(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Each meter point is a request: a location with too many is refused."""
    fake.on("GET", ELIGIBILITY, reply(fixture="ec_eligibility_user"))
    _with_location(fake, *(f"m{n}" for n in range(MAX_METER_POINTS + 1)))
    with pytest.raises(GridFlexResponseError, match="out of range"):
        await _client(fake, session).get_eligibility(SITE_ID)
    assert not any("/meters/" in call for call in fake.calls())


@pytest.mark.parametrize(
    ("user", "meter", "match"),
    [
        ({"userId": USER_ID}, None, "boolean isEligible"),
        ({"userId": USER_ID, "isEligible": "true"}, None, "boolean isEligible"),
        ({"userId": "someone", "isEligible": True}, None, "about userId"),
        ([True], None, "JSON object"),
        (None, {"meterPointId": GSRN, "isEligible": 1}, "boolean isEligible"),
        (None, {"meterPointId": GSRN_2, "isEligible": True}, "about meterPointId"),
        (None, "eligible", "JSON object"),
    ],
)
async def test_eligibility_refused(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    user: Any,
    meter: Any,
    match: str,
) -> None:
    """Whether the site is eligible is never guessed."""
    _with_location(fake, GSRN)
    fake.on("GET", ELIGIBILITY, reply(body=user or load("ec_eligibility_user")))
    fake.on("GET", METER, reply(body=meter or load("ec_eligibility_meter")))
    with pytest.raises(GridFlexResponseError, match=match):
        await _client(fake, session).get_eligibility(SITE_ID)


def test_eligibility_missing_ids_accepted() -> None:
    """The answers' ids are required by the spec, but a missing one is no lie."""
    assert read_user_eligibility({"isEligible": True}, USER_ID) is True
    assert read_meter_point_eligibility({"isEligible": False}, GSRN) is False


async def test_enrollment(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """GET reads the enrollment; POST enrolls and answers with it."""
    fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment_none"))
    client = _client(fake, session)
    assert await client.get_enrollment(SITE_ID) == Enrollment(enrolled=False)
    fake.on("POST", ENROLLMENT, reply(fixture="ec_enrollment"))
    enrolled = Enrollment(
        enrolled=True,
        enrollment_id="5d0c1c8e-8b7a-4e0f-9b59-2f1f3c6a9d41",
        enrolled_at=datetime(2026, 12, 1, 8, 15, 30, 123456, tzinfo=UTC),
    )
    assert await client.enroll(SITE_ID) == enrolled
    (post,) = fake.sent("POST", ENROLLMENT)
    assert post.body == b""
    assert post.headers["Authorization"] == "Bearer ec-token-1"
    assert fake.calls() == [
        f"POST {TOKEN}",
        f"GET {ENROLLMENT}",
        f"POST {ENROLLMENT}",
    ]


async def test_enroll_read_back(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An empty answer, or a refusal for a user already enrolled: read back."""
    fake.on("POST", ENROLLMENT, reply(204))
    fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment"))
    client = _client(fake, session)
    assert (await client.enroll(SITE_ID)).enrolled is True
    for status in (400, 409):
        fake.on("POST", ENROLLMENT, reply(status, body="User is already enrolled"))
        assert (await client.enroll(SITE_ID)).enrolled is True
    assert fake.calls()[1:] == [f"POST {ENROLLMENT}", f"GET {ENROLLMENT}"] * 3


async def test_enroll_refused(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A refusal for a user who is not enrolled carries the platform's message."""
    fake.on("POST", ENROLLMENT, reply(400, fixture="ec_error_enrollment"))
    fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment_none"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).enroll(SITE_ID)
    assert err.value.status == 400
    assert err.value.detail == load("ec_error_enrollment")
    fake.on("POST", ENROLLMENT, reply(403, body="Forbidden for this partner"))
    with pytest.raises(GridFlexRequestRejectedError, match="Forbidden") as err:
        await _client(fake, session).enroll(SITE_ID)
    assert err.value.status == 403
    assert len(fake.sent("GET", ENROLLMENT)) == 1


@pytest.mark.parametrize(
    "answer",
    [
        reply(204),
        reply(200, raw=b""),
        reply(200, body={}),
        reply(200, body="Enrollment deleted"),
        reply(200, fixture="ec_enrollment_none"),
    ],
    ids=["204", "200-empty", "200-object", "200-string", "200-enrollment"],
)
async def test_unenroll(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: Any
) -> None:
    """The spec's 200 and the guide's 204 both mean not enrolled."""
    fake.on("DELETE", ENROLLMENT, answer)
    assert await _client(fake, session).unenroll(SITE_ID) == Enrollment(enrolled=False)
    assert fake.calls() == [f"POST {TOKEN}", f"DELETE {ENROLLMENT}"]


async def test_unenroll_answer_read(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 200 whose body is an enrollment is taken as the platform says it."""
    fake.on("DELETE", ENROLLMENT, reply(200, fixture="ec_enrollment"))
    assert (await _client(fake, session).unenroll(SITE_ID)).enrolled is True
    fake.on("DELETE", ENROLLMENT, reply(200, body={"isEnrolled": False, "userId": "x"}))
    with pytest.raises(GridFlexResponseError, match="about userId"):
        await _client(fake, session).unenroll(SITE_ID)


async def test_unenroll_retried_after_unknown_outcome(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The first DELETE times out; the retry finds nothing to delete: done."""
    fake.on("DELETE", ENROLLMENT, reply(204, delay=1.0), reply(404))
    fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment_none"))
    client = _client(fake, session, request_timeout=0.3)
    with pytest.raises(GridFlexTimeoutError):
        await client.unenroll(SITE_ID)
    assert await client.unenroll(SITE_ID) == Enrollment(enrolled=False)
    assert fake.calls()[1:] == [
        f"DELETE {ENROLLMENT}",
        f"DELETE {ENROLLMENT}",
        f"GET {ENROLLMENT}",
    ]


@pytest.mark.parametrize("status", [400, 404])
async def test_unenroll_refused_but_not_enrolled(
    fake: FakePlatform, session: aiohttp.ClientSession, status: int
) -> None:
    """A 400 or 404 for a user who is not enrolled is the state asked for."""
    fake.on("DELETE", ENROLLMENT, reply(status, body="User is not enrolled"))
    fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment_none"))
    assert (await _client(fake, session).unenroll(SITE_ID)).enrolled is False


async def test_unenroll_refused(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Still enrolled after a refusal, or the read back fails: an error."""
    fake.on("DELETE", ENROLLMENT, reply(400, body="Enrollment is locked this month"))
    fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment"))
    client = _client(fake, session)
    with pytest.raises(GridFlexRequestRejectedError, match="locked") as err:
        await client.unenroll(SITE_ID)
    assert err.value.status == 400
    fake.on("DELETE", ENROLLMENT, reply(404))
    with pytest.raises(GridFlexNotFoundError):
        await client.unenroll(SITE_ID)
    # No such user: the read back is refused too.
    fake.on("GET", ENROLLMENT, reply(404))
    with pytest.raises(GridFlexNotFoundError):
        await client.unenroll(SITE_ID)
    # The read back does not answer: the outcome stays unknown.
    fake.on("DELETE", ENROLLMENT, reply(400, body="Try again"))
    fake.on("GET", ENROLLMENT, reply(503))
    with pytest.raises(GridFlexConnectionError):
        await client.unenroll(SITE_ID)
    # Other refusals are not read back.
    before = len(fake.sent("GET", ENROLLMENT))
    fake.on("DELETE", ENROLLMENT, reply(409, body="Conflict"))
    with pytest.raises(GridFlexRequestRejectedError, match="Conflict"):
        await client.unenroll(SITE_ID)
    assert len(fake.sent("GET", ENROLLMENT)) == before


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"userId": USER_ID, "enrollmentId": "e-1"},
            Enrollment(enrolled=True, enrollment_id="e-1"),
        ),
        ({"userId": USER_ID}, Enrollment(enrolled=False)),
        ({}, Enrollment(enrolled=False)),
        (
            {"isEnrolled": True, "enrollmentId": 7, "enrollmentDate": "yesterday"},
            Enrollment(enrolled=True),
        ),
        (
            {"isEnrolled": True, "enrollmentId": "e" * 65, "enrollmentDate": 3},
            Enrollment(enrolled=True),
        ),
        (
            {"isEnrolled": True, "enrollmentDate": "1999-12-31T23:00:00Z"},
            Enrollment(enrolled=True),
        ),
        (
            {"isEnrolled": True, "enrollmentDate": "9999-12-31T23:59:59-01:00"},
            Enrollment(enrolled=True),
        ),
        (
            {"isEnrolled": False, "enrollmentDate": "2026-12-01T09:00:00"},
            Enrollment(
                enrolled=False, enrolled_at=datetime(2026, 12, 1, 9, tzinfo=UTC)
            ),
        ),
    ],
)
async def test_enrollment_lenient(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    answer: dict[str, Any],
    expected: Enrollment,
) -> None:
    """Optional fields may be missing; the metadata never decides anything."""
    fake.on("GET", ENROLLMENT, reply(body=answer))
    assert await _client(fake, session).get_enrollment(SITE_ID) == expected


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"isEnrolled": "yes", "userId": USER_ID}, "boolean isEnrolled"),
        ({"isEnrolled": True, "userId": "someone"}, "about userId"),
        ([{"isEnrolled": True}], "JSON object"),
        ("enrolled", "JSON object"),
    ],
)
async def test_enrollment_refused(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: Any, match: str
) -> None:
    """Whether the user is enrolled is never guessed."""
    fake.on("GET", ENROLLMENT, reply(body=answer))
    fake.on("POST", ENROLLMENT, reply(body=answer))
    client = _client(fake, session)
    with pytest.raises(GridFlexResponseError, match=match):
        await client.get_enrollment(SITE_ID)
    with pytest.raises(GridFlexResponseError, match=match):
        await client.enroll(SITE_ID)


CALLS: dict[str, tuple[Call, str, str]] = {
    "compensation": (lambda c: c.get_compensation(SITE_ID), "GET", COMPENSATION),
    "eligibility": (lambda c: c.get_eligibility(SITE_ID), "GET", ELIGIBILITY),
    "meter-eligibility": (lambda c: c.get_eligibility(SITE_ID), "GET", METER),
    "location": (lambda c: c.get_eligibility(SITE_ID), "GET", LOCATION),
    "enrollment": (lambda c: c.get_enrollment(SITE_ID), "GET", ENROLLMENT),
    "enroll": (lambda c: c.enroll(SITE_ID), "POST", ENROLLMENT),
    "unenroll": (lambda c: c.unenroll(SITE_ID), "DELETE", ENROLLMENT),
}
"""Each request of the programme: how to make it, and its method and path."""


def _answer_every_request(fake: FakePlatform) -> None:
    fake.on("GET", COMPENSATION, reply(fixture="ec_compensation"))
    fake.on("GET", ELIGIBILITY, reply(fixture="ec_eligibility_user"))
    fake.on("GET", METER, reply(fixture="ec_eligibility_meter"))
    _with_location(fake, GSRN)
    fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment"))
    fake.on("POST", ENROLLMENT, reply(fixture="ec_enrollment"))
    fake.on("DELETE", ENROLLMENT, reply(204))


ERRORS: dict[str, tuple[Any, type[Exception], str]] = {
    "400": (
        reply(400, fixture="ec_error_string"),
        GridFlexRequestRejectedError,
        "already exists",
    ),
    "400-problem": (
        reply(400, fixture="ec_problem", content_type="application/problem+json"),
        GridFlexRequestRejectedError,
        "latitude must be between",
    ),
    "404": (reply(404), GridFlexNotFoundError, "Not Found"),
    "401": (reply(401, body="expired"), GridFlexAuthError, "freshly issued"),
    "429": (
        reply(429, headers={"Retry-After": "30"}),
        GridFlexRateLimitedError,
        "slow down",
    ),
    "500": (reply(500, body="boom"), GridFlexConnectionError, "HTTP 500"),
    "timeout": (reply(200, delay=1.0), GridFlexTimeoutError, "did not answer"),
    "not-json": (
        reply(200, raw=b"<html>", content_type="text/html"),
        GridFlexResponseError,
        "not JSON",
    ),
}
"""Each way a request can fail, with the error it maps to."""


@pytest.mark.parametrize("error", list(ERRORS))
@pytest.mark.parametrize("call", list(CALLS))
async def test_errors(
    fake: FakePlatform, session: aiohttp.ClientSession, call: str, error: str
) -> None:
    """Every request maps every failure the way the rest of the client does.

    The read back of a refused enroll answers "not enrolled", that of a
    refused unenroll "still enrolled", so the refusal is what surfaces.
    """
    make, method, path = CALLS[call]
    answer, expected, match = ERRORS[error]
    _answer_every_request(fake)
    if call == "enroll":
        fake.on("GET", ENROLLMENT, reply(fixture="ec_enrollment_none"))
    fake.on(method, path, answer)
    client = _client(fake, session, request_timeout=0.3)
    with pytest.raises(expected, match=match) as err:
        await make(client)
    if isinstance(err.value, GridFlexRequestRejectedError):
        assert err.value.status == int(error[:3])
    if error == "429":
        assert isinstance(err.value, GridFlexRateLimitedError)
        assert err.value.retry_after == 30


async def test_not_json_object_answers(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Answers that are JSON but not objects: response errors, for each reader."""
    _answer_every_request(fake)
    for method, path in (
        ("GET", COMPENSATION),
        ("GET", ELIGIBILITY),
        ("GET", METER),
        ("GET", LOCATION),
        ("GET", ENROLLMENT),
    ):
        fake.on(method, path, reply(body=[1, 2]))
    client = _client(fake, session)
    for make in (
        client.get_compensation,
        client.get_eligibility,
        client.get_enrollment,
    ):
        with pytest.raises(GridFlexResponseError, match="JSON object"):
            await make(SITE_ID)
    _answer_every_request(fake)
    fake.on("GET", METER, reply(body=3))
    with pytest.raises(GridFlexResponseError, match="JSON object"):
        await client.get_eligibility(SITE_ID)


@pytest.mark.parametrize("call", list(CALLS))
async def test_bad_site_id(
    fake: FakePlatform, session: aiohttp.ClientSession, call: str
) -> None:
    """A site id that is not ``user/location``: not found, nothing sent."""
    client = _client(fake, session)
    make = {
        "compensation": client.get_compensation,
        "eligibility": client.get_eligibility,
        "meter-eligibility": client.get_eligibility,
        "location": client.get_eligibility,
        "enrollment": client.get_enrollment,
        "enroll": client.enroll,
        "unenroll": client.unenroll,
    }[call]
    with pytest.raises(GridFlexNotFoundError, match="site id"):
        await make("no-slash")
    assert fake.requests == []


# --- readers, fuzzed -------------------------------------------------------------

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "NOK",
            "GBP",
            USER_ID,
            GSRN,
            "2026-12-01",
            "2026-12-01T00:00:00+14:00",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01",
            "1E+999999999",
            "NaN",
            "\x00",
            "ÆØÅ" * 30,
        ]
    ),
    st.text(max_size=20),
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _mostly(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a plausible value, sometimes anything at all."""
    return st.one_of(value, value, value, ANY_JSON)


AMOUNTS = st.one_of(
    st.decimals(min_value=-MAX_ABS_AMOUNT * 2, max_value=MAX_ABS_AMOUNT * 2),
    st.sampled_from(
        [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
    ),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: d.scaleb(-40)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.just(None),
)
DATES = st.one_of(
    st.dates().map(date.isoformat),
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.just(None),
)
PROBLEMS = st.fixed_dictionaries(
    {},
    optional={
        "problemType": _mostly(
            st.sampled_from(
                ["MissingMpidOnLocation", "CompensationMpidDoesNotMatchLocation", "X"]
            )
        ),
        "message": _mostly(st.text(max_size=50)),
    },
)
LOCATIONS = st.fixed_dictionaries(
    {},
    optional={
        "locationId": _mostly(st.sampled_from([USER_ID, "cabin", ""])),
        "meterPointIds": _mostly(st.lists(st.sampled_from([GSRN, GSRN_2]), max_size=3)),
        "activeAmount": _mostly(AMOUNTS),
        "blockedAmount": _mostly(AMOUNTS),
        "currency": _mostly(st.sampled_from(["NOK", "EUR", "SEK", "DKK", "GBP"])),
        "problems": _mostly(st.lists(PROBLEMS, max_size=3)),
    },
)
COMPENSATIONS = st.fixed_dictionaries(
    {},
    optional={
        "userId": _mostly(st.just(USER_ID)),
        "period": _mostly(
            st.fixed_dictionaries({}, optional={"from": DATES, "to": DATES})
        ),
        "locationCompensations": _mostly(st.lists(LOCATIONS, max_size=4)),
    },
)
ENROLLMENTS = st.fixed_dictionaries(
    {},
    optional={
        "isEnrolled": _mostly(st.booleans()),
        "userId": _mostly(st.just(USER_ID)),
        "enrollmentId": _mostly(st.one_of(st.none(), st.uuids().map(str))),
        "enrollmentDate": _mostly(DATES),
    },
)
ELIGIBILITIES = st.fixed_dictionaries(
    {},
    optional={
        "isEligible": _mostly(st.booleans()),
        "userId": _mostly(st.just(USER_ID)),
        "meterPointId": _mostly(st.just(GSRN)),
    },
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _check_compensation(compensation: Compensation) -> None:
    """What was read keeps to the reader's bounds."""
    for day in (compensation.period_start, compensation.period_end):
        assert day is None or date(2000, 1, 1) <= day <= LATEST_DATE
    if compensation.period_start and compensation.period_end:
        assert compensation.period_start <= compensation.period_end
    assert len(compensation.locations) <= MAX_LOCATIONS
    for location in compensation.locations:
        assert location.location_id
        assert all(isinstance(mp, str) for mp in location.meter_point_ids)
        for amount in (location.active_amount, location.blocked_amount):
            assert isinstance(amount, Decimal)
            assert amount.is_finite()
            assert abs(amount) <= MAX_ABS_AMOUNT
        assert location.currency is None or isinstance(location.currency, str)
        for problem in location.problems:
            assert problem.kind
            assert len(problem.message) <= MAX_TEXT


@FUZZ
@given(answer=st.one_of(COMPENSATIONS, ANY_JSON))
def test_read_compensation_fuzzed(answer: Any) -> None:
    """Any answer: a compensation within the bounds, or a response error."""
    try:
        compensation = read_compensation(answer, USER_ID)
    except GridFlexResponseError:
        return
    _check_compensation(compensation)


@FUZZ
@given(answer=st.one_of(ENROLLMENTS, ANY_JSON))
def test_read_enrollment_fuzzed(answer: Any) -> None:
    """Any answer: an enrollment, or a response error."""
    try:
        enrollment = read_enrollment(answer, USER_ID)
    except GridFlexResponseError:
        return
    assert isinstance(enrollment.enrolled, bool)
    assert enrollment.enrolled_at is None or enrollment.enrolled_at.tzinfo is UTC
    assert isinstance(answer, dict)
    if isinstance(answer.get("isEnrolled"), bool):
        assert enrollment.enrolled is answer["isEnrolled"]


@FUZZ
@given(answer=st.one_of(ELIGIBILITIES, ANY_JSON))
def test_read_eligibility_fuzzed(answer: Any) -> None:
    """Any answer: exactly the boolean sent, or a response error."""
    for read, about in (
        (read_user_eligibility, USER_ID),
        (read_meter_point_eligibility, GSRN),
    ):
        try:
            eligible = read(answer, about)
        except GridFlexResponseError:
            continue
        assert isinstance(answer, dict)
        assert eligible is answer["isEligible"]


class _Tripping(dict[str, Any]):
    """An answer that fails while it is read, as no JSON answer can."""

    def get(self, key: str, default: Any = None) -> Any:
        raise RecursionError(key)


@pytest.mark.parametrize(
    ("read", "about"),
    [
        (read_compensation, USER_ID),
        (read_enrollment, USER_ID),
        (read_user_eligibility, USER_ID),
        (read_meter_point_eligibility, GSRN),
    ],
)
def test_readers_raise_only_response_errors(
    read: Callable[[Any, str], object], about: str
) -> None:
    """Whatever a reader trips over becomes a response error."""
    with pytest.raises(GridFlexResponseError, match="RecursionError") as err:
        read(_Tripping(), about)
    assert isinstance(err.value.__cause__, RecursionError)


# --- the price-area rule ----------------------------------------------------------


def _curve(
    targets: list[dict[str, Any]] | None = None, area: Any = "NO1", **curve: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "targets": (
            [{"resourceId": "gridflex-battery", "locationId": USER_ID}]
            if targets is None
            else targets
        ),
        "priceCurveDelta": {
            "points": [{"price": 120.5, "timestamp": "2026-12-07T17:00:00Z"}],
            "energyUnit": "MWh",
            "currency": "NOK",
            "resolution": "01:00:00",
            **curve,
        },
        "payloadType": "PriceCurve",
    }
    if area is not None:
        payload["priceArea"] = area
    return payload


def _parse(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    payload: dict[str, Any],
    price_area: str | None,
) -> GridEvent | None:
    return _client(fake, session, price_area=price_area).parse_event(
        SITE_ID, "curve-1", CREATED, payload
    )


def test_price_curve_fields(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """The event carries the curve's area, energy unit and currency."""
    event = _parse(fake, session, _curve(), "NO1")
    assert event == GridEvent(
        event_id="curve-1",
        kind=GridEventKind.PRICE_CURVE,
        created_at=datetime(2026, 12, 7, 10, tzinfo=UTC),
        prices=(
            PricePoint(
                datetime(2026, 12, 7, 17, tzinfo=UTC),
                datetime(2026, 12, 7, 18, tzinfo=UTC),
                Decimal("0.1205"),
            ),
        ),
        currency="NOK",
        resource_ids=("gridflex-battery",),
        meter_point_id=GSRN,
        raw_type="PriceCurve",
        price_area="NO1",
        energy_unit="MWh",
    )


@pytest.mark.parametrize(
    ("site_area", "targets", "curve_area", "expected"),
    [
        # Aimed at the site's location.
        ("NO1", None, "NO1", "NO1"),
        ("NO1", None, "NO2", None),
        ("NO1", None, "SE1", None),
        ("NO1", None, "Unknown", "unknown-area"),
        ("NO1", None, None, "unknown-area"),
        ("NO1", None, "NO9", "NO9"),
        ("no1", None, "NO1", "NO1"),
        (" NO1 ", None, "no1", "NO1"),
        # For the whole of an area.
        ("NO1", [], "NO1", "NO1"),
        ("NO1", [], "NO2", None),
        ("NO1", [], "Unknown", None),
        ("NO1", [], None, None),
        # Aimed elsewhere, whatever the area.
        ("NO1", [{"resourceId": "r", "locationId": "elsewhere"}], "NO1", None),
        # No area set: as before, only curves aimed at the site's location.
        (None, None, "NO2", "NO2"),
        (None, None, "NO1", "NO1"),
        (None, [], "NO1", None),
        ("", [], "NO1", None),
        (None, [{"resourceId": "r", "locationId": "elsewhere"}], "NO1", None),
    ],
)
def test_price_area_rule(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    site_area: str | None,
    targets: list[dict[str, Any]] | None,
    curve_area: str | None,
    expected: str | None,
) -> None:
    """Which price curves are the site's, by location and bidding zone."""
    payload = _curve(targets, curve_area)
    event = _parse(fake, session, payload, site_area)
    if expected is None:
        assert event is None
    else:
        assert event is not None
        assert event.price_area == (None if expected == "unknown-area" else expected)
        assert event.currency == "NOK"
        assert event.energy_unit == "MWh"
        assert event.meter_point_id == GSRN
        assert event.resource_ids == (() if targets == [] else ("gridflex-battery",))
    client = _client(fake, session, price_area=site_area)
    assert _site_relevance(USER_ID, USER_ID, payload, client.price_area) is (
        expected is not None
    )


def test_price_curve_other_area_logged(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A curve for the site's location but another area says why it is left out."""
    with caplog.at_level(logging.DEBUG, "custom_components.gridflex.platforms"):
        assert _parse(fake, session, _curve(area="NO3"), "NO1") is None
    assert "is for NO3, not the site's NO1" in caplog.text


def test_reference_push_area_wide(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The reference push (``targets: []``, ``SE1``) is the site's in SE1 only."""
    body = load("ec_notification_price_curve")
    for area, found in (("SE1", True), ("NO1", False), (None, False)):
        event = _client(fake, session, price_area=area).parse_notification(
            SITE_ID, body
        )
        assert (event is not None) is found
    event = _client(fake, session, price_area="SE1").parse_notification(SITE_ID, body)
    assert event is not None
    assert event.resource_ids == ()
    assert event.meter_point_id == GSRN
    assert (event.price_area, event.currency, event.energy_unit) == (
        "SE1",
        "NOK",
        "kWh",
    )
    assert len(event.prices) == 24


@pytest.mark.parametrize(
    "curve_fields",
    [
        {"currency": 578, "energyUnit": None},
        {"currency": "", "energyUnit": "k" * 17},
    ],
)
def test_price_curve_names_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession, curve_fields: dict[str, Any]
) -> None:
    """A currency or energy unit that is no short name is left out."""
    event = _parse(fake, session, _curve(**curve_fields), "NO1")
    assert event is not None
    assert (event.currency, event.energy_unit) == (None, None)
    # Without an energy unit the prices are taken per kWh.
    assert event.prices[0].price == Decimal("120.5")
    long_area = _parse(fake, session, _curve(area="N" * 17), "NO1")
    assert long_area is not None
    assert long_area.price_area is None


async def test_listing_keeps_area_rule(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An unreadable curve is the site's invalid event only under the rule."""
    events = {
        "events": [
            # No id: kept aside only when the curve is the site's.
            {"createdAt": CREATED, "payload": _curve([], "NO1")},
            {"createdAt": CREATED, "payload": _curve([], "NO2")},
            {"createdAt": LATER, "payload": _curve(None, "NO2")},
            {"id": "ok", "createdAt": CREATED, "payload": _curve([], "NO1")},
            {"id": "other", "createdAt": CREATED, "payload": _curve([], "SE4")},
        ],
        "pagination": {"nextPage": None},
    }
    fake.on("GET", f"{API}/events", reply(body=events))
    listing = await _client(fake, session, price_area="NO1").list_events(SITE_ID)
    assert [event.event_id for event in listing.events] == ["ok"]
    assert [(i.event_id, i.reason, i.created_at) for i in listing.invalid] == [
        ("", "no id", datetime(2026, 12, 7, 10, tzinfo=UTC))
    ]
    # Without an area, only the curve aimed at the site's location is.
    listing = await _client(fake, session).list_events(SITE_ID)
    assert listing.events == ()
    assert [(i.event_id, i.reason, i.created_at) for i in listing.invalid] == [
        ("", "no id", datetime(2026, 12, 7, 11, tzinfo=UTC))
    ]


PRICE_PAYLOADS = st.fixed_dictionaries(
    {
        "targets": st.one_of(
            st.just([]),
            st.lists(
                st.fixed_dictionaries(
                    {"locationId": st.sampled_from([USER_ID, "elsewhere"])},
                    optional={
                        "resourceId": st.sampled_from(["r1", "r2"]),
                        "meterPointId": st.sampled_from([GSRN, GSRN_2]),
                    },
                ),
                max_size=3,
            ),
        ),
        "priceCurveDelta": st.just(
            {"points": [{"price": 1, "timestamp": "2026-12-07T17:00:00Z"}]}
        ),
        "payloadType": st.just("PriceCurve"),
    },
    optional={
        "priceArea": st.sampled_from([*PRICE_AREAS, "Unknown", "NO9", "", None, 7])
    },
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    payload=PRICE_PAYLOADS,
    site_area=st.sampled_from([None, "NO1", "SE1", "no1"]),
)
def test_site_relevance_agrees_with_parse_event(
    payload: dict[str, Any], site_area: str | None
) -> None:
    """The relevance of an unreadable item follows the same rule as reading it."""
    session: Any = None
    client = EnergyCoordinationClient(
        session,
        client_id="id",
        client_secret="secret",
        environment=Environment.SANDBOX,
        price_area=site_area,
    )
    event = client.parse_event(SITE_ID, "e", CREATED, payload)
    assert _site_relevance(USER_ID, USER_ID, payload, client.price_area) is (
        event is not None
    )
    if event is not None:
        assert event.price_area is None or event.price_area != "UNKNOWN"
        if client.price_area is not None and event.price_area in PRICE_AREAS:
            assert event.price_area == client.price_area


def test_create_client_price_area(session: aiohttp.ClientSession) -> None:
    """Only the Energy Coordination client takes the site's price area."""
    client = create_client(
        PlatformKey.ENERGY_COORDINATION,
        session,
        CREDENTIALS,
        environment=Environment.SANDBOX,
        price_area="no4",
    )
    assert isinstance(client, EnergyCoordinationClient)
    assert client.price_area == "NO4"
    for platform, credentials in (
        (PlatformKey.POWERNAUT, CREDENTIALS),
        (PlatformKey.FLEXMEASURES, {"email": "a@b.c", "password": "p"}),
    ):
        other = create_client(
            platform,
            session,
            credentials,
            environment=Environment.SANDBOX,
            price_area="NO4",
        )
        assert not hasattr(other, "price_area")
