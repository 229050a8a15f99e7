"""Energy Coordination grid events, reports and webhooks against recorded responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
import json
import logging
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.gridflex.platforms import (
    EnergyCoordinationClient,
    Environment,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    PlatformKey,
    create_client,
)
from custom_components.gridflex.platforms.energy_coordination import (
    NOTIFICATION_TYPES,
    SIGNATURE_HEADER,
    verify_signature,
)
from custom_components.gridflex.platforms.models import (
    GridEvent,
    GridEventKind,
    LimitWindow,
    PricePoint,
)

from .conftest import FIXTURES, FakeClock, FakePlatform, load, reply

if TYPE_CHECKING:
    import aiohttp

API = "/energy-coordination/v1"
TOKEN = "/connect/token"
EVENTS = f"{API}/events"
REPORTS = f"{API}/reports"
WEBHOOKS = f"{API}/webhooks"
SIMULATE_LPC = f"{API}/simulation/events/lpc/locations"
GSRN = "707057500000123458"
USER_ID = f"gridflex-{GSRN}"
SITE_ID = f"{USER_ID}/{USER_ID}"
CREDENTIALS = {"client_id": "spark-partner", "client_secret": "spark secret&=+"}
OSLO = ZoneInfo("Europe/Oslo")
EVENT_ID = "7c0e5a61-2f4b-4d8e-9b1a-000000000007"
KNOWN_EVENT_ID = "7c0e5a61-2f4b-4d8e-9b1a-000000000000"
REFERENCE_SECRET = "Secret123%"
REFERENCE_SIGNATURE = "3NV3o7iHHwKXX+6yYjz0ihi7G0Xr1hyPnWCHksq7H40="
WEBHOOK_URL = "https://home.example/api/webhook/gridflex-0123"
WEBHOOK_SECRET = "whsec-Do-Not-Log-7f3a9c"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _client(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    environment: Environment = Environment.CUSTOM,
) -> EnergyCoordinationClient:
    client = create_client(
        PlatformKey.ENERGY_COORDINATION,
        session,
        CREDENTIALS,
        environment=environment,
        base_url=f"{fake.url}/",
        request_timeout=2.0,
        clock=FakeClock(),
    )
    assert isinstance(client, EnergyCoordinationClient)
    return client


def _lpc_event(**overrides: Any) -> GridEvent:
    fields: dict[str, Any] = {
        "event_id": EVENT_ID,
        "kind": GridEventKind.LPC,
        "created_at": utc(2026, 10, 24, 10),
        "windows": (
            LimitWindow(utc(2026, 10, 24, 17), utc(2026, 10, 24, 19), Decimal("3.5")),
        ),
        "meter_point_id": GSRN,
        "raw_type": "LocationLPC",
    }
    fields.update(overrides)
    return GridEvent(**fields)


def _lpc_payload(*points: tuple[str | None, Any], **target: Any) -> dict[str, Any]:
    return {
        "targets": [
            {
                "locationId": USER_ID,
                "meterPointId": GSRN,
                "resolution": "01:00:00",
                "points": [
                    {"maxPowerInKiloWatts": kw, "timestamp": ts} for ts, kw in points
                ],
                **target,
            }
        ],
        "payloadType": "LocationLPC",
    }


@pytest.fixture(autouse=True)
def token_route(fake: FakePlatform) -> None:
    """Hand out a token unless a test says otherwise."""
    fake.on("POST", TOKEN, reply(fixture="ec_token"))


# --- polling ---------------------------------------------------------------


async def test_list_events_stops_at_a_known_event(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Pages on to the known event; only this site's events, oldest first."""
    fake.on(
        "GET",
        EVENTS,
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
        reply(fixture="ec_events_page3"),
    )
    asked: list[str] = []

    def known(event_id: str) -> bool:
        asked.append(event_id)
        return event_id == KNOWN_EVENT_ID

    events = await _client(fake, session).list_events(
        SITE_ID, stop_at=known, page_size=5
    )
    assert [r.query for r in fake.sent("GET", EVENTS)] == [
        {"page": "1", "pageSize": "5"},
        {"page": "2", "pageSize": "5"},
    ]
    assert fake.sent("GET", EVENTS)[0].headers["Authorization"] == "Bearer ec-token-1"
    # The duplicate pushed onto page 2 is asked about once; nothing after the
    # known event is.
    assert asked[-1] == KNOWN_EVENT_ID
    assert len(asked) == len(set(asked)) == 8
    assert [(e.event_id[-2:], e.kind, e.raw_type) for e in events] == [
        ("01", GridEventKind.LPC_RESERVATION, "LPCReservation"),
        ("02", GridEventKind.USER_ELIGIBILITY, "UserEligibility"),
        ("03", GridEventKind.LPC, "ResourceLPC"),
        ("04", GridEventKind.PRICE_CURVE, "PriceCurve"),
        ("07", GridEventKind.LPC, "LocationLPC"),
    ]
    reservation, eligibility, resource_lpc, price_curve, location_lpc = events

    assert location_lpc == GridEvent(
        event_id=EVENT_ID,
        kind=GridEventKind.LPC,
        created_at=utc(2026, 10, 24, 10),
        windows=(
            # 19:00+02:00 and 18:00Z touch with one limit: one window; the
            # other location's 0 kW at 17:00Z is ignored; 20:00Z is a gap.
            LimitWindow(utc(2026, 10, 24, 17), utc(2026, 10, 24, 19), Decimal("3.5")),
            LimitWindow(utc(2026, 10, 24, 19), utc(2026, 10, 24, 20), Decimal(2)),
            LimitWindow(utc(2026, 10, 24, 21), utc(2026, 10, 24, 22), Decimal(2)),
        ),
        meter_point_id=GSRN,
        raw_type="LocationLPC",
    )
    assert location_lpc.start == utc(2026, 10, 24, 17)
    assert location_lpc.end == utc(2026, 10, 24, 22)

    # Resource targets: the site's two resources, the lower limit where they
    # overlap; the other location's resource is ignored.
    assert resource_lpc.resource_ids == ("gridflex-charger", "gridflex-battery")
    assert resource_lpc.windows == (
        LimitWindow(utc(2026, 10, 24, 16), utc(2026, 10, 24, 17), Decimal(5)),
        LimitWindow(utc(2026, 10, 24, 17), utc(2026, 10, 24, 18), Decimal("7.4")),
    )

    # Per MWh on the wire, per kWh in GridFlex; each price lasts an hour.
    assert price_curve.prices == (
        PricePoint(utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), Decimal("0.12345")),
        PricePoint(utc(2026, 10, 25, 1), utc(2026, 10, 25, 2), Decimal("-0.0205")),
    )
    assert price_curve.currency == "NOK"
    assert price_curve.resource_ids == ("gridflex-battery",)
    assert price_curve.windows == ()
    assert price_curve.start is None
    assert price_curve.end is None

    assert eligibility == GridEvent(
        event_id="7c0e5a61-2f4b-4d8e-9b1a-000000000002",
        kind=GridEventKind.USER_ELIGIBILITY,
        created_at=utc(2026, 10, 23, 12),
        raw_type="UserEligibility",
    )
    assert reservation.windows == (
        LimitWindow(utc(2026, 10, 25, 16), utc(2026, 10, 25, 18), Decimal(4)),
    )
    assert reservation.resource_ids == ()


async def test_list_events_without_stop_reads_every_page(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without ``stop_at`` paging ends where ``nextPage`` is null."""
    fake.on(
        "GET",
        EVENTS,
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
        reply(fixture="ec_events_page3"),
    )
    events = await _client(fake, session).list_events(SITE_ID)
    assert [r.query["page"] for r in fake.sent("GET", EVENTS)] == ["1", "2", "3"]
    assert fake.sent("GET", EVENTS)[0].query["pageSize"] == "100"
    assert [e.event_id[-2:] for e in events] == [
        "0a",
        "00",
        "01",
        "02",
        "03",
        "04",
        "07",
    ]


async def test_list_events_for_another_site(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The other location sees only its own targets."""
    fake.on(
        "GET",
        EVENTS,
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
    )
    other = "gridflex-707057500000999995"
    events = await _client(fake, session).list_events(
        f"{other}/{other}", stop_at=lambda event_id: event_id.endswith("02")
    )
    assert [(e.event_id[-2:], e.raw_type) for e in events] == [
        ("03", "ResourceLPC"),
        ("04", "PriceCurve"),
        ("06", "LocationLPC"),
        ("07", "LocationLPC"),
    ]
    assert events[0].resource_ids == ("someone-elses-charger",)
    assert events[0].windows == (
        LimitWindow(utc(2026, 10, 24, 16), utc(2026, 10, 24, 17), Decimal(0)),
    )
    assert events[3].meter_point_id == "707057500000999995"


async def test_list_events_skips_what_cannot_be_read(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One unreadable event is logged and skipped; the others still arrive."""
    good = load("ec_events_page1")["events"][0]
    broken_points = _lpc_payload(("2026-10-24T17:00:00Z", None))
    fake.on(
        "GET",
        EVENTS,
        reply(
            body={
                "events": [
                    "junk",
                    {"createdAt": "2026-10-24T10:00:00+00:00", "payload": {}},
                    {"id": "no-payload", "createdAt": "2026-10-24T10:00:00+00:00"},
                    {"id": "no-created-at", "payload": _lpc_payload()},
                    {
                        "id": "bad-points",
                        "createdAt": "2026-10-24T10:00:00Z",
                        "payload": broken_points,
                    },
                    {
                        "id": "bad-created-at",
                        "createdAt": "yesterday",
                        "payload": _lpc_payload(),
                    },
                    good,
                ],
                "pagination": {
                    "currentPage": 1,
                    "pageSize": 100,
                    "totalRecords": 7,
                    "nextPage": 1,
                },
            }
        ),
    )
    with caplog.at_level(logging.WARNING):
        events = await _client(fake, session).list_events(SITE_ID)
    assert [e.event_id for e in events] == [EVENT_ID]
    # nextPage that does not move on ends the paging.
    assert len(fake.sent("GET", EVENTS)) == 1
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 4
    assert "no-payload" in skipped[0]
    assert "no createdAt" in skipped[1]
    assert "maxPowerInKiloWatts" in skipped[2]
    assert "yesterday" in skipped[3]


@pytest.mark.parametrize(
    "body",
    [
        {
            "pagination": {
                "currentPage": 1,
                "pageSize": 100,
                "totalRecords": 0,
                "nextPage": None,
            }
        },
        {"events": None},
        {"events": [], "pagination": {"nextPage": True}},
        {"events": [], "pagination": {"nextPage": "2"}},
    ],
)
async def test_list_events_empty(
    fake: FakePlatform, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    """No events, or no usable next page: one request, nothing found."""
    fake.on("GET", EVENTS, reply(body=body))
    assert await _client(fake, session).list_events(SITE_ID) == []
    assert len(fake.sent("GET", EVENTS)) == 1


async def test_list_events_unreadable_page(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A page that is not an object, or events that are not a list."""
    client = _client(fake, session)
    fake.on("GET", EVENTS, reply(body=["x"]))
    with pytest.raises(GridFlexResponseError):
        await client.list_events(SITE_ID)
    fake.on("GET", EVENTS, reply(body={"events": {"id": "x"}}))
    with pytest.raises(GridFlexResponseError):
        await client.list_events(SITE_ID)


@pytest.mark.parametrize("page_size", [0, -1, 1001])
async def test_list_events_page_size(
    fake: FakePlatform, session: aiohttp.ClientSession, page_size: int
) -> None:
    """The page size is 1 to 1000; anything else is refused unsent."""
    with pytest.raises(GridFlexRequestRejectedError):
        await _client(fake, session).list_events(SITE_ID, page_size=page_size)
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).list_events("no-slash")
    assert fake.requests == []


async def test_list_events_rejected(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A problem+json 400 keeps its explanation."""
    fake.on(
        "GET",
        EVENTS,
        reply(
            400,
            body={"title": "Bad Request", "errors": {"pageSize": ["Too large"]}},
            content_type="application/problem+json",
        ),
    )
    with pytest.raises(GridFlexRequestRejectedError, match="Too large"):
        await _client(fake, session).list_events(SITE_ID, page_size=1000)


# --- reading events ----------------------------------------------------------


def test_event_across_the_autumn_dst_change(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """2026-10-25 in Oslo has 25 hours: 25 distinct UTC hours, one window."""
    recorded = load("ec_event_lpc_dst")
    client = _client(fake, session)
    event = client.parse_event(
        SITE_ID, recorded["id"], recorded["createdAt"], recorded["payload"]
    )
    assert event is not None
    assert event.created_at == utc(2026, 10, 23, 8)
    assert event.windows == (
        LimitWindow(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), Decimal("3.7")),
    )
    assert event.end - event.start == timedelta(hours=25)  # type: ignore[operator]

    # Alternating limits keep every hour apart: 02:00+02:00 and 02:00+01:00
    # are two hours, not one.
    payload = json.loads(json.dumps(recorded["payload"]))
    for index, point in enumerate(payload["targets"][0]["points"]):
        point["maxPowerInKiloWatts"] = 2 + index % 2
    event = client.parse_event(SITE_ID, "dst", "2026-10-23T08:00:00Z", payload)
    assert event is not None
    assert len(event.windows) == 25
    assert [w.start for w in event.windows] == [
        utc(2026, 10, 24, 22) + timedelta(hours=hour) for hour in range(25)
    ]
    assert all(w.end - w.start == timedelta(hours=1) for w in event.windows)
    assert all(w.start.tzinfo is UTC for w in event.windows)
    assert [w.max_power_kw for w in event.windows[2:5]] == [2, 3, 2]


@pytest.mark.parametrize(
    ("resolution", "step"),
    [
        ("01:00:00", timedelta(hours=1)),
        (None, timedelta(hours=1)),
        ("00:15:00", timedelta(minutes=15)),
        ("1.00:00:00", timedelta(days=1)),
        ("00:00:00.5", timedelta(milliseconds=500)),
        ("00:00:01.0000001", timedelta(seconds=1)),
    ],
)
def test_point_lasts_the_resolution(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    resolution: str | None,
    step: timedelta,
) -> None:
    """A .NET TimeSpan; a missing one is read as the documented hour."""
    payload = _lpc_payload(("2026-10-24T17:00:00Z", 4), resolution=resolution)
    if resolution is None:
        del payload["targets"][0]["resolution"]
    event = _client(fake, session).parse_event(
        SITE_ID, "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.windows == (
        LimitWindow(utc(2026, 10, 24, 17), utc(2026, 10, 24, 17) + step, Decimal(4)),
    )


@pytest.mark.parametrize(
    "resolution", ["PT1H", "24:00:00", "00:60:00", "00:00:00", "1h", 3600]
)
def test_unreadable_resolution(
    fake: FakePlatform, session: aiohttp.ClientSession, resolution: object
) -> None:
    """Anything but a positive TimeSpan is a response error."""
    payload = _lpc_payload(("2026-10-24T17:00:00Z", 4), resolution=resolution)
    with pytest.raises(GridFlexResponseError, match="resolution"):
        _client(fake, session).parse_event(
            SITE_ID, "e", "2026-10-24T10:00:00Z", payload
        )


def test_merging_points(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Out of order, repeated, touching and apart; kW exact, times UTC."""
    payload = _lpc_payload(
        ("2026-10-24T19:00:00+00:00", "2.50"),
        ("2026-10-24T17:00:00Z", 2.5),
        ("2026-10-24T18:00:00", 2.5),  # no offset: read as UTC
        ("2026-10-24T18:00:00+00:00", 1.1),  # the same hour twice: the lower holds
        ("2026-10-24T22:00:00.000Z", 0),
    )
    event = _client(fake, session).parse_event(
        SITE_ID, "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.windows == (
        LimitWindow(utc(2026, 10, 24, 17), utc(2026, 10, 24, 18), Decimal("2.5")),
        LimitWindow(utc(2026, 10, 24, 18), utc(2026, 10, 24, 19), Decimal("1.1")),
        LimitWindow(utc(2026, 10, 24, 19), utc(2026, 10, 24, 20), Decimal("2.50")),
        LimitWindow(utc(2026, 10, 24, 22), utc(2026, 10, 24, 23), Decimal(0)),
    )
    assert str(event.windows[1].max_power_kw) == "1.1"


def test_lpc_without_points(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """A target of the site without points is still the site's event."""
    payload = _lpc_payload()
    payload["targets"][0]["points"] = None
    event = _client(fake, session).parse_event(
        SITE_ID, "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.windows == ()
    assert event.start is None


@pytest.mark.parametrize(
    "payload",
    [
        {"payloadType": "Unknown"},
        {"payloadType": "EnergyForecast", "targets": "anything"},
        {"targets": []},
        {"payloadType": 7},
    ],
)
def test_unknown_payload_types(
    fake: FakePlatform, session: aiohttp.ClientSession, payload: dict[str, Any]
) -> None:
    """Types GridFlex does not read are None, whatever else they hold."""
    assert _client(fake, session).parse_event(SITE_ID, "e", "garbled", payload) is None


def test_targets_elsewhere(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Another location, or the site's location under another meter point."""
    client = _client(fake, session)
    assert (
        client.parse_event(
            SITE_ID, "e", "2026-10-24T10:00:00Z", _lpc_payload(locationId="elsewhere")
        )
        is None
    )
    other_meter = _lpc_payload(
        ("2026-10-24T17:00:00Z", 1), meterPointId="707057500000999995"
    )
    assert client.parse_event(SITE_ID, "e", "2026-10-24T10:00:00Z", other_meter) is None
    price_curve = {
        "targets": [],
        "priceCurveDelta": {"points": []},
        "priceArea": "NO1",
        "payloadType": "PriceCurve",
    }
    assert client.parse_event(SITE_ID, "e", "2026-10-24T10:00:00Z", price_curve) is None


def test_site_of_a_foreign_user(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without a meter point in the site id, the location alone decides."""
    payload = _lpc_payload(("2026-10-24T17:00:00Z", 1), locationId="house")
    event = _client(fake, session).parse_event(
        "someone/house", "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.meter_point_id == GSRN
    payload["targets"][0]["meterPointId"] = None
    event = _client(fake, session).parse_event(
        "someone/house", "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.meter_point_id is None


def test_meter_point_from_the_site(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A target without a meter point gets the site's."""
    payload = _lpc_payload(("2026-10-24T17:00:00Z", 1))
    del payload["targets"][0]["meterPointId"]
    event = _client(fake, session).parse_event(
        SITE_ID, "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.meter_point_id == GSRN


def test_user_eligibility(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Only for the site's own user, added or removed."""
    client = _client(fake, session)
    payload: dict[str, Any] = {
        "lastUpdated": "2026-10-23T11:59:00+00:00",
        "addedUsers": [],
        "removedUsers": ["someone", USER_ID],
        "payloadType": "UserEligibility",
    }
    event = client.parse_event(SITE_ID, "e", "2026-10-23T12:00:00+00:00", payload)
    assert event == GridEvent(
        event_id="e",
        kind=GridEventKind.USER_ELIGIBILITY,
        created_at=utc(2026, 10, 23, 12),
        raw_type="UserEligibility",
    )
    assert client.parse_event("someone-else/house", "e", "x", payload) is None
    assert (
        client.parse_event(
            SITE_ID, "e", "x", {"addedUsers": None, "payloadType": "UserEligibility"}
        )
        is None
    )


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"payloadType": "LocationLPC"}, "targets"),
        ({"targets": {"locationId": USER_ID}, "payloadType": "ResourceLPC"}, "targets"),
        (_lpc_payload(points="17:00"), "points"),
        (_lpc_payload(points=["17:00"]), "points"),
        (_lpc_payload(("17:00", 1)), "ISO 8601"),
        (_lpc_payload((None, 1)), "ISO 8601"),
        (_lpc_payload(("2026-10-24T17:00:00Z", "lots")), "maxPowerInKiloWatts"),
        (
            {**_lpc_payload(("2026-10-24T17:00:00Z", 1)), "payloadType": "ResourceLPC"},
            "resourceId",
        ),
        (
            {
                "targets": [{"resourceId": "r", "locationId": USER_ID}],
                "payloadType": "PriceCurve",
            },
            "priceCurveDelta",
        ),
        (
            {
                "targets": [{"resourceId": "r", "locationId": USER_ID}],
                "priceCurveDelta": {"points": [{"timestamp": "2026-10-24T17:00:00Z"}]},
                "payloadType": "PriceCurve",
            },
            "price",
        ),
    ],
)
def test_unreadable_payloads(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    payload: dict[str, Any],
    match: str,
) -> None:
    """A type GridFlex reads, in a form it cannot: a response error."""
    with pytest.raises(GridFlexResponseError, match=match):
        _client(fake, session).parse_event(
            SITE_ID, "e", "2026-10-24T10:00:00Z", payload
        )


def test_unreadable_created_at(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The creation time of the site's event must be a time."""
    payload = _lpc_payload(("2026-10-24T17:00:00Z", 1))
    with pytest.raises(GridFlexResponseError, match="ISO 8601"):
        _client(fake, session).parse_event(SITE_ID, "e", "soon", payload)


def test_price_curve_per_kwh(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Prices per kWh stay as they are; a resource-less target is the location's."""
    payload = {
        "targets": [
            {"locationId": USER_ID},
            {"resourceId": "r1", "locationId": USER_ID},
        ],
        "priceCurveDelta": {
            "points": [
                {"price": "0.5", "timestamp": "2026-10-24T18:00:00Z"},
                {"price": 0.25, "timestamp": "2026-10-24T17:00:00Z"},
            ],
            "energyUnit": "kWh",
            "resolution": "00:30:00",
        },
        "payloadType": "PriceCurve",
    }
    event = _client(fake, session).parse_event(
        SITE_ID, "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.prices == (
        PricePoint(utc(2026, 10, 24, 17), utc(2026, 10, 24, 17, 30), Decimal("0.25")),
        PricePoint(utc(2026, 10, 24, 18), utc(2026, 10, 24, 18, 30), Decimal("0.5")),
    )
    assert event.currency is None
    assert event.resource_ids == ("r1",)
    assert event.meter_point_id == GSRN


# --- webhook pushes ----------------------------------------------------------


def test_signature_test_vector() -> None:
    """The reference push, signed with the reference key, byte for byte."""
    body = (FIXTURES / "ec_notification_price_curve.json").read_bytes()
    assert len(body) == 2274
    assert verify_signature(REFERENCE_SECRET, body, REFERENCE_SIGNATURE)
    assert verify_signature(REFERENCE_SECRET, body, f" {REFERENCE_SIGNATURE}\n")
    assert SIGNATURE_HEADER == "X-Payload-Signature"


@pytest.mark.parametrize(
    ("secret", "body_end", "signature"),
    [
        ("Secret123", None, REFERENCE_SIGNATURE),
        ("", None, REFERENCE_SIGNATURE),
        (REFERENCE_SECRET, -1, REFERENCE_SIGNATURE),  # without the final newline
        (REFERENCE_SECRET, None, None),
        (REFERENCE_SECRET, None, ""),
        (REFERENCE_SECRET, None, "not base64!"),
        (REFERENCE_SECRET, None, REFERENCE_SIGNATURE[:-2]),  # bad padding
        (REFERENCE_SECRET, None, "3NV3o7iHHwKXX+6yYjz0ih"),  # too short
        (REFERENCE_SECRET, None, "ÆØÅ="),
        (REFERENCE_SECRET, None, REFERENCE_SIGNATURE.replace("3", "4", 1)),
    ],
)
def test_signature_refused(
    secret: str, body_end: int | None, signature: str | None
) -> None:
    """Wrong key or body, a missing or garbled header: never verified."""
    body = (FIXTURES / "ec_notification_price_curve.json").read_bytes()[:body_end]
    assert verify_signature(secret, body, signature) is False


def test_parse_reference_notification(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The reference push targets nobody; with the site as a target it is read."""
    raw = (FIXTURES / "ec_notification_price_curve.json").read_bytes()
    body = json.loads(raw, parse_float=Decimal)
    client = _client(fake, session)
    assert client.parse_notification(SITE_ID, body) is None

    body["payload"]["targets"] = [
        {"resourceId": "gridflex-battery", "locationId": USER_ID}
    ]
    event = client.parse_notification(SITE_ID, body)
    assert event is not None
    assert event.event_id == "1cc9ea41-59a4-453e-8c3a-2385b900a0a9"
    assert event.kind is GridEventKind.PRICE_CURVE
    assert event.raw_type == "PriceCurve"
    assert event.created_at == utc(2000, 1, 1)
    assert event.currency == "NOK"
    assert event.resource_ids == ("gridflex-battery",)
    assert len(event.prices) == 24
    first = event.prices[0]
    # Seven fractional digits (.NET ticks) are cut to microseconds.
    assert first.start == datetime(2024, 9, 12, 13, 48, 47, 193685, tzinfo=UTC)
    assert first.end == first.start + timedelta(hours=1)
    # Parsed with parse_float=Decimal, every digit of the price survives.
    assert first.price == Decimal("0.96313495300801624")
    assert event.prices[-1].price == Decimal("0.70827141966537241")


def test_parse_lpc_notification(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The push carries the same payload as polling, in another envelope."""
    body = load("ec_notification_lpc")
    event = _client(fake, session).parse_notification(SITE_ID, body)
    assert event == GridEvent(
        event_id="9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
        kind=GridEventKind.LPC,
        created_at=utc(2026, 10, 24, 10),
        windows=(
            LimitWindow(utc(2026, 10, 25, 15), utc(2026, 10, 25, 17), Decimal("2.2")),
        ),
        meter_point_id=GSRN,
        raw_type="LocationLPC",
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"eventId": None}, "eventId"),
        ({"eventCreatedAtUtc": ""}, "eventCreatedAtUtc"),
        ({"payload": None}, "payload"),
        ({"payload": [1]}, "payload"),
    ],
)
def test_unreadable_notification(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    change: dict[str, Any],
    match: str,
) -> None:
    """Not an EventNotification: a response error."""
    body = {**load("ec_notification_lpc"), **change}
    with pytest.raises(GridFlexResponseError, match=match):
        _client(fake, session).parse_notification(SITE_ID, body)


# --- reports -------------------------------------------------------------------


async def test_acknowledge_location_event(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Spec spelling, the site's location and meter point, nothing declined."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    await _client(fake, session).acknowledge_event(SITE_ID, _lpc_event())
    (report,) = fake.sent("POST", REPORTS)
    assert report.headers["Content-Type"] == "application/json"
    assert report.headers["Authorization"] == "Bearer ec-token-1"
    assert report.body == (
        b'{"eventId": "7c0e5a61-2f4b-4d8e-9b1a-000000000007", "payloads": '
        b'[{"acknowledgedTargets": [{"locationId": "gridflex-707057500000123458", '
        b'"meterPointId": "707057500000123458"}], "declinedTargets": [], '
        b'"payloadType": "LocationLPCAcknowledgement"}]}'
    )


async def test_decline_location_event(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """accept=False moves the targets under declinedTargets."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    await _client(fake, session).acknowledge_event(
        SITE_ID,
        _lpc_event(kind=GridEventKind.LPC_RESERVATION, raw_type="LPCReservation"),
        accept=False,
    )
    assert fake.sent("POST", REPORTS)[0].json() == {
        "eventId": EVENT_ID,
        "payloads": [
            {
                "acknowledgedTargets": [],
                "declinedTargets": [{"locationId": USER_ID, "meterPointId": GSRN}],
                "payloadType": "LocationLPCAcknowledgement",
            }
        ],
    }


async def test_acknowledge_resource_event(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A resource event is answered per resource; the meter point is derived."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    event = _lpc_event(
        resource_ids=("gridflex-charger", "gridflex-battery"),
        meter_point_id=None,
        raw_type="ResourceLPC",
    )
    await _client(fake, session).acknowledge_event(SITE_ID, event)
    assert fake.sent("POST", REPORTS)[0].json() == {
        "eventId": EVENT_ID,
        "payloads": [
            {
                "acknowledgedTargets": [
                    {
                        "meterPointId": GSRN,
                        "locationId": USER_ID,
                        "resourceId": "gridflex-charger",
                    },
                    {
                        "meterPointId": GSRN,
                        "locationId": USER_ID,
                        "resourceId": "gridflex-battery",
                    },
                ],
                "declinedTargets": [],
                "payloadType": "ResourceLPCAcknowledgement",
            }
        ],
    }


@pytest.mark.parametrize(
    "kind",
    [
        GridEventKind.PRICE_CURVE,
        GridEventKind.USER_ELIGIBILITY,
        GridEventKind.ACTIVATION,
    ],
)
async def test_acknowledge_other_kinds_refused(
    fake: FakePlatform, session: aiohttp.ClientSession, kind: GridEventKind
) -> None:
    """Only LPC events are acknowledged; nothing is sent."""
    with pytest.raises(GridFlexRequestRejectedError):
        await _client(fake, session).acknowledge_event(SITE_ID, _lpc_event(kind=kind))
    assert fake.requests == []


async def test_acknowledge_on_foreign_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No meter point in the event or the site id: the location's own."""
    location = f"{API}/users/someone/locations/house"
    fake.on(
        "GET", location, reply(body={"locationId": "house", "meterPointIds": [GSRN]})
    )
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    await _client(fake, session).acknowledge_event(
        "someone/house", _lpc_event(meter_point_id=None)
    )
    assert fake.sent("POST", REPORTS)[0].json()["payloads"][0][
        "acknowledgedTargets"
    ] == [{"locationId": "house", "meterPointId": GSRN}]
    fake.on("GET", location, reply(body={"locationId": "house", "meterPointIds": []}))
    with pytest.raises(GridFlexRequestRejectedError, match="no meter point"):
        await _client(fake, session).acknowledge_event(
            "someone/house", _lpc_event(meter_point_id=None)
        )
    assert len(fake.sent("POST", REPORTS)) == 1


async def test_report_rejected(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The platform's bare-string 400 is the detail."""
    fake.on("POST", REPORTS, reply(400, body="Event not found"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).acknowledge_event(SITE_ID, _lpc_event())
    assert err.value.detail == "Event not found"


async def test_report_energy_usage_wire_body(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """UTC hour starts in the documented form, hourly, kWh as JSON numbers."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    await _client(fake, session).report_energy_usage(
        SITE_ID,
        _lpc_event(),
        [
            (datetime(2026, 10, 24, 20, tzinfo=OSLO), Decimal("2.50")),  # 18:00Z
            (utc(2026, 10, 24, 17), Decimal(3)),
        ],
    )
    (report,) = fake.sent("POST", REPORTS)
    assert report.body == (
        b'{"eventId": "7c0e5a61-2f4b-4d8e-9b1a-000000000007", "payloads": '
        b'[{"locationId": "gridflex-707057500000123458", '
        b'"meterPointId": "707057500000123458", "points": ['
        b'{"timestamp": "2026-10-24T17:00:00.000Z", "kiloWattHours": 3}, '
        b'{"timestamp": "2026-10-24T18:00:00.000Z", "kiloWattHours": 2.5}], '
        b'"resolution": "01:00:00", "payloadType": "LocationEnergyUsage"}]}'
    )


async def test_report_energy_usage_with_resources(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """All payloads for one event in one report: the location's, then each resource's."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    event = _lpc_event(
        resource_ids=("gridflex-charger", "gridflex-battery", "gridflex-boiler"),
        raw_type="ResourceLPC",
    )
    hour = utc(2026, 10, 24, 16)
    await _client(fake, session).report_energy_usage(
        SITE_ID,
        event,
        [(hour, Decimal("4.125"))],
        resource_hours={
            "gridflex-battery": [(hour, Decimal("-1.5"))],
            "gridflex-charger": [
                (hour, Decimal("0.1")),
                (hour + timedelta(hours=1), Decimal(0)),
            ],
        },
    )
    (report,) = fake.sent("POST", REPORTS)
    assert report.json() == {
        "eventId": EVENT_ID,
        "payloads": [
            {
                "locationId": USER_ID,
                "meterPointId": GSRN,
                "points": [
                    {"timestamp": "2026-10-24T16:00:00.000Z", "kiloWattHours": 4.125}
                ],
                "resolution": "01:00:00",
                "payloadType": "LocationEnergyUsage",
            },
            {
                "resourceId": "gridflex-charger",
                "locationId": USER_ID,
                "meterPointId": GSRN,
                "points": [
                    {"timestamp": "2026-10-24T16:00:00.000Z", "kiloWattHours": 0.1},
                    {"timestamp": "2026-10-24T17:00:00.000Z", "kiloWattHours": 0},
                ],
                "resolution": "01:00:00",
                "payloadType": "EnergyUsage",
            },
            {
                "resourceId": "gridflex-battery",
                "locationId": USER_ID,
                "meterPointId": GSRN,
                "points": [
                    {"timestamp": "2026-10-24T16:00:00.000Z", "kiloWattHours": -1.5}
                ],
                "resolution": "01:00:00",
                "payloadType": "EnergyUsage",
            },
        ],
    }
    assert b'"kiloWattHours": 0.1}' in report.body


async def test_report_energy_usage_across_dst(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The 25 local hours of 2026-10-25 in Oslo are 25 distinct UTC hours."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    first = utc(2026, 10, 24, 22)
    local_hours = [(first + timedelta(hours=h)).astimezone(OSLO) for h in range(25)]
    assert local_hours[2].hour == local_hours[3].hour == 2  # 02:00 twice
    await _client(fake, session).report_energy_usage(
        SITE_ID,
        _lpc_event(),
        [(when, Decimal(index)) for index, when in enumerate(local_hours)],
    )
    points = fake.sent("POST", REPORTS)[0].json()["payloads"][0]["points"]
    assert [p["timestamp"] for p in points] == [
        f"{first + timedelta(hours=h):%Y-%m-%dT%H}:00:00.000Z" for h in range(25)
    ]
    assert points[2:4] == [
        {"timestamp": "2026-10-25T00:00:00.000Z", "kiloWattHours": 2},
        {"timestamp": "2026-10-25T01:00:00.000Z", "kiloWattHours": 3},
    ]
    assert len({p["timestamp"] for p in points}) == 25


@pytest.mark.parametrize(
    ("hours", "match"),
    [
        ([(datetime(2026, 10, 24, 17), Decimal(1))], "no time zone"),  # noqa: DTZ001
        ([(utc(2026, 10, 24, 17, 30), Decimal(1))], "start of a UTC hour"),
        (
            [
                (
                    datetime(
                        2026,
                        10,
                        24,
                        17,
                        tzinfo=timezone(timedelta(hours=5, minutes=30)),
                    ),
                    Decimal(1),
                )
            ],
            "UTC hour",
        ),
        (
            [
                (utc(2026, 10, 24, 17), Decimal(1)),
                (datetime(2026, 10, 24, 19, tzinfo=OSLO), Decimal(2)),
            ],
            "twice",
        ),
        ([(utc(2026, 10, 24, 17), Decimal("NaN"))], "finite"),
        ([(utc(2026, 10, 24, 17), Decimal("Infinity"))], "finite"),
    ],
)
async def test_report_energy_usage_refused_unsent(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    hours: list[tuple[datetime, Decimal]],
    match: str,
) -> None:
    """Hours that cannot be sent as the platform wants them: nothing sent."""
    with pytest.raises(GridFlexRequestRejectedError, match=match):
        await _client(fake, session).report_energy_usage(SITE_ID, _lpc_event(), hours)
    assert fake.requests == []


async def test_report_energy_usage_half_hour_zone(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A local half hour that is a UTC hour start is fine."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    india = timezone(timedelta(hours=5, minutes=30))
    await _client(fake, session).report_energy_usage(
        SITE_ID,
        _lpc_event(),
        [(datetime(2026, 10, 24, 22, 30, tzinfo=india), Decimal(1))],
    )
    points = fake.sent("POST", REPORTS)[0].json()["payloads"][0]["points"]
    assert points == [{"timestamp": "2026-10-24T17:00:00.000Z", "kiloWattHours": 1}]


async def test_report_energy_usage_for_resources_not_targeted(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Resource hours for a resource the event does not target: refused unsent."""
    with pytest.raises(GridFlexRequestRejectedError, match="gridflex-fridge"):
        await _client(fake, session).report_energy_usage(
            SITE_ID,
            _lpc_event(),
            [(utc(2026, 10, 24, 17), Decimal(1))],
            resource_hours={"gridflex-fridge": [(utc(2026, 10, 24, 17), Decimal(1))]},
        )
    assert fake.requests == []


# --- webhooks --------------------------------------------------------------------


async def test_register_webhook(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """URL, secret and types go out; the id comes back; the secret is never logged."""
    fake.on("POST", WEBHOOKS, reply(201, fixture="ec_webhook_created"))
    with caplog.at_level(logging.DEBUG):
        webhook_id = await _client(fake, session).register_webhook(
            WEBHOOK_URL,
            WEBHOOK_SECRET,
            ["LocationLPCRequested", "ResourceLPCRequested", "LPCReservationCreated"],
        )
    assert webhook_id == "a7b8c9d0-e1f2-3456-0123-567890123456"
    (created,) = fake.sent("POST", WEBHOOKS)
    assert created.json() == {
        "name": "GridFlex",
        "webhookSecret": WEBHOOK_SECRET,
        "webhookUrl": WEBHOOK_URL,
        "notificationTypes": [
            "LocationLPCRequested",
            "ResourceLPCRequested",
            "LPCReservationCreated",
        ],
    }
    assert created.headers["Authorization"] == "Bearer ec-token-1"
    assert caplog.records
    assert WEBHOOK_SECRET not in caplog.text


async def test_register_webhook_for_every_type(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """NOTIFICATION_TYPES is the spec's enum without Unknown."""
    fake.on("POST", WEBHOOKS, reply(201, fixture="ec_webhook_created"))
    await _client(fake, session).register_webhook(
        WEBHOOK_URL, WEBHOOK_SECRET, NOTIFICATION_TYPES
    )
    assert fake.sent("POST", WEBHOOKS)[0].json()["notificationTypes"] == [
        "PriceCurveCreated",
        "UserEligibilityUpdated",
        "LocationLPCRequested",
        "ResourceLPCRequested",
        "LPCReservationCreated",
    ]


@pytest.mark.parametrize(("url", "secret"), [(WEBHOOK_URL, ""), ("", WEBHOOK_SECRET)])
async def test_register_webhook_refused_unsent(
    fake: FakePlatform, session: aiohttp.ClientSession, url: str, secret: str
) -> None:
    """Pushes must be signed: no secret, no webhook."""
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).register_webhook(url, secret, NOTIFICATION_TYPES)
    assert fake.requests == []
    assert WEBHOOK_SECRET not in str(err.value)


async def test_register_webhook_rejected(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A problem+json 400; the secret stays out of error and logs."""
    fake.on(
        "POST",
        WEBHOOKS,
        reply(
            400,
            body={
                "title": "One or more validation errors occurred.",
                "errors": {"notificationTypes[0]": ["Unknown notification type"]},
            },
            content_type="application/problem+json",
        ),
    )
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(GridFlexRequestRejectedError) as err,
    ):
        await _client(fake, session).register_webhook(
            WEBHOOK_URL, WEBHOOK_SECRET, ["Nope"]
        )
    assert "Unknown notification type" in err.value.detail
    assert WEBHOOK_SECRET not in str(err.value)
    assert WEBHOOK_SECRET not in caplog.text


async def test_register_webhook_empty_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 200 without a body: the newest webhook with the URL is the one."""
    fake.on("POST", WEBHOOKS, reply(200))
    created = load("ec_webhook_created")
    fake.on(
        "GET",
        WEBHOOKS,
        reply(
            body={
                "webhooks": [
                    {
                        **created,
                        "webhookId": "older",
                        "createdDate": "2026-10-01T00:00:00+00:00",
                    },
                    created,
                    {
                        **created,
                        "webhookId": "other",
                        "webhookUrl": "https://elsewhere.example/",
                    },
                    {
                        **created,
                        "webhookId": None,
                        "createdDate": "2027-01-01T00:00:00+00:00",
                    },
                    "junk",
                ]
            }
        ),
    )
    client = _client(fake, session)
    webhook_id = await client.register_webhook(
        WEBHOOK_URL, WEBHOOK_SECRET, NOTIFICATION_TYPES
    )
    assert webhook_id == created["webhookId"]
    fake.on("GET", WEBHOOKS, reply(body={"webhooks": None}))
    with pytest.raises(GridFlexResponseError):
        await client.register_webhook(WEBHOOK_URL, WEBHOOK_SECRET, NOTIFICATION_TYPES)


async def test_register_webhook_unreadable_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A created webhook without its id is a response error."""
    fake.on("POST", WEBHOOKS, reply(201, body={"webhookUrl": WEBHOOK_URL}))
    with pytest.raises(GridFlexResponseError, match="webhookId"):
        await _client(fake, session).register_webhook(
            WEBHOOK_URL, WEBHOOK_SECRET, NOTIFICATION_TYPES
        )


async def test_delete_webhook(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """204 when deleted, not-found once gone, the id escaped, an empty id unsent."""
    path = f"{WEBHOOKS}/a7b8c9d0-e1f2-3456-0123-567890123456"
    fake.on("DELETE", path, reply(204), reply(404, body="Webhook not found"))
    client = _client(fake, session)
    await client.delete_webhook("a7b8c9d0-e1f2-3456-0123-567890123456")
    with pytest.raises(GridFlexNotFoundError, match="Webhook not found"):
        await client.delete_webhook("a7b8c9d0-e1f2-3456-0123-567890123456")
    fake.on("DELETE", f"{WEBHOOKS}/a/b", reply(404))
    with pytest.raises(GridFlexNotFoundError):
        await client.delete_webhook("a/b")
    assert fake.requests[-1].raw_path == f"{WEBHOOKS}/a%2Fb"
    count = len(fake.requests)
    with pytest.raises(GridFlexNotFoundError):
        await client.delete_webhook("")
    assert len(fake.requests) == count


# --- simulation --------------------------------------------------------------------


async def test_simulate_lpc_event(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The site's location and meter point, the points on UTC hour starts."""
    fake.on("POST", SIMULATE_LPC, reply(fixture="ec_simulated_lpc"))
    event = await _client(fake, session).simulate_lpc_event(
        SITE_ID,
        [
            (datetime(2026, 10, 25, 18, tzinfo=OSLO), Decimal("1.5")),  # 17:00Z
            (utc(2026, 10, 25, 16), Decimal("1.50")),
        ],
    )
    (sent,) = fake.sent("POST", SIMULATE_LPC)
    assert sent.body == (
        b'{"locations": [{"location": {"locationId": "gridflex-707057500000123458", '
        b'"meterPointId": "707057500000123458"}, "points": ['
        b'{"timestamp": "2026-10-25T16:00:00.000Z", "maxPowerInKiloWatts": 1.5}, '
        b'{"timestamp": "2026-10-25T17:00:00.000Z", "maxPowerInKiloWatts": 1.5}]}]}'
    )
    assert event == GridEvent(
        event_id="f0e1d2c3-b4a5-4968-8778-695a4b3c2d1e",
        kind=GridEventKind.LPC,
        created_at=utc(2026, 10, 24, 10, 30),
        windows=(
            LimitWindow(utc(2026, 10, 25, 16), utc(2026, 10, 25, 18), Decimal("1.5")),
        ),
        meter_point_id=GSRN,
        raw_type="LocationLPC",
    )


async def test_simulate_lpc_event_random_points(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without points the platform picks them: no ``points`` field at all."""
    fake.on("POST", SIMULATE_LPC, reply(fixture="ec_simulated_lpc"))
    client = EnergyCoordinationClient(
        session, client_id="id", client_secret="secret", environment=Environment.SANDBOX
    )
    assert client.environment is Environment.SANDBOX
    client = _client(fake, session)
    await client.simulate_lpc_event(SITE_ID)
    assert fake.sent("POST", SIMULATE_LPC)[0].json() == {
        "locations": [{"location": {"locationId": USER_ID, "meterPointId": GSRN}}]
    }


async def test_simulate_lpc_event_elsewhere(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A simulated event for another location is not the site's: None."""
    simulated = load("ec_simulated_lpc")
    simulated["simulatedEvent"]["payload"]["targets"][0]["locationId"] = "elsewhere"
    fake.on("POST", SIMULATE_LPC, reply(body=simulated))
    assert await _client(fake, session).simulate_lpc_event(SITE_ID) is None


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {"simulatedEvent": None},
        {"simulatedEvent": {"id": "x", "createdAt": "2026-10-24T10:00:00Z"}},
    ],
)
async def test_simulate_lpc_event_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: object
) -> None:
    """An answer without a simulated event is a response error."""
    fake.on("POST", SIMULATE_LPC, reply(body=answer))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).simulate_lpc_event(SITE_ID)


async def test_simulate_lpc_event_refused_unsent(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Production has no simulation; points must be on UTC hour starts."""
    production = EnergyCoordinationClient(
        session,
        client_id="id",
        client_secret="secret",
        environment=Environment.PRODUCTION,
    )
    with pytest.raises(GridFlexRequestRejectedError, match="sandbox"):
        await production.simulate_lpc_event(SITE_ID)
    with pytest.raises(GridFlexRequestRejectedError, match="UTC hour"):
        await _client(fake, session).simulate_lpc_event(
            SITE_ID, [(utc(2026, 10, 25, 16, 15), Decimal(1))]
        )
    assert fake.requests == []


def test_resource_targeted_twice(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """One resource in two targets is one resource id; the windows join."""
    payload = _lpc_payload(("2026-10-24T17:00:00Z", 3), resourceId="gridflex-charger")
    second = {
        **payload["targets"][0],
        "points": [{"maxPowerInKiloWatts": 3, "timestamp": "2026-10-24T18:00:00Z"}],
    }
    payload["targets"].append(second)
    payload["payloadType"] = "ResourceLPC"
    event = _client(fake, session).parse_event(
        SITE_ID, "e", "2026-10-24T10:00:00Z", payload
    )
    assert event is not None
    assert event.resource_ids == ("gridflex-charger",)
    assert event.windows == (
        LimitWindow(utc(2026, 10, 24, 17), utc(2026, 10, 24, 19), Decimal(3)),
    )


async def test_report_energy_usage_of_resources_only(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without site hours only the resources' payloads go out; nothing at all is refused."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    event = _lpc_event(resource_ids=("gridflex-charger",), raw_type="ResourceLPC")
    client = _client(fake, session)
    with pytest.raises(GridFlexRequestRejectedError, match="No energy usage"):
        await client.report_energy_usage(SITE_ID, event, [], resource_hours={})
    assert fake.requests == []
    await client.report_energy_usage(
        SITE_ID,
        event,
        [],
        resource_hours={"gridflex-charger": [(utc(2026, 10, 24, 17), Decimal("0.75"))]},
    )
    payloads = fake.sent("POST", REPORTS)[0].json()["payloads"]
    assert [p["payloadType"] for p in payloads] == ["EnergyUsage"]
    assert payloads[0]["points"] == [
        {"timestamp": "2026-10-24T17:00:00.000Z", "kiloWattHours": 0.75}
    ]
