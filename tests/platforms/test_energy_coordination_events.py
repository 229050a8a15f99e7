"""Energy Coordination grid events, reports and webhooks against recorded responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import decimal
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
    GridFlexTimeoutError,
    PlatformKey,
    create_client,
    energy_coordination,
)
from custom_components.gridflex.platforms.energy_coordination import (
    MAX_NOTIFICATION_BYTES,
    MAX_NOTIFICATION_DEPTH,
    NOTIFICATION_TYPES,
    SIGNATURE_HEADER,
    read_notification,
    verify_signature,
)
from custom_components.gridflex.platforms.models import (
    EventListing,
    GridEvent,
    GridEventKind,
    LimitWindow,
    PricePoint,
    WebhookInfo,
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


async def test_list_events_stops_at_since(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Pages on until a page holds an event older than ``since``, read in full."""
    fake.on(
        "GET",
        EVENTS,
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
        reply(fixture="ec_events_page3"),
    )
    listing = await _client(fake, session).list_events(
        SITE_ID, since=utc(2026, 10, 23, 11, 30), page_size=5
    )
    assert [r.query for r in fake.sent("GET", EVENTS)] == [
        {"page": "1", "pageSize": "5"},
        {"page": "2", "pageSize": "5"},
    ]
    assert fake.sent("GET", EVENTS)[0].headers["Authorization"] == "Bearer ec-token-1"
    assert listing.complete is True
    assert listing.invalid == ()
    events = listing.events
    # Page 2 is read to its end (00 and 0a are older than since); the
    # duplicate pushed onto page 2 is read once.
    assert [(e.event_id[-2:], e.kind, e.raw_type) for e in events] == [
        ("0a", GridEventKind.LPC, "LocationLPC"),
        ("00", GridEventKind.LPC, "LocationLPC"),
        ("01", GridEventKind.LPC_RESERVATION, "LPCReservation"),
        ("02", GridEventKind.USER_ELIGIBILITY, "UserEligibility"),
        ("03", GridEventKind.LPC, "ResourceLPC"),
        ("04", GridEventKind.PRICE_CURVE, "PriceCurve"),
        ("07", GridEventKind.LPC, "LocationLPC"),
    ]
    _, _, reservation, eligibility, resource_lpc, price_curve, location_lpc = events

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

    # The site's user is among the added users.
    assert eligibility == GridEvent(
        event_id="7c0e5a61-2f4b-4d8e-9b1a-000000000002",
        kind=GridEventKind.USER_ELIGIBILITY,
        created_at=utc(2026, 10, 23, 12),
        raw_type="UserEligibility",
        eligible=True,
    )
    assert reservation.windows == (
        LimitWindow(utc(2026, 10, 25, 16), utc(2026, 10, 25, 18), Decimal(4)),
    )
    assert reservation.resource_ids == ()


async def test_list_events_since_is_strictly_older(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An event created exactly at ``since`` is not older: paging goes on."""
    fake.on(
        "GET",
        EVENTS,
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
        reply(fixture="ec_events_page3"),
    )
    # since is 06:00Z, when the last event of page 1 was created.
    listing = await _client(fake, session).list_events(
        SITE_ID, since=datetime(2026, 10, 24, 8, tzinfo=OSLO), page_size=5
    )
    assert len(fake.sent("GET", EVENTS)) == 2
    assert listing.complete is True
    # That event is older than 06:30Z: page 1 is the last one read.
    fake.requests.clear()
    fake.on("GET", EVENTS, reply(fixture="ec_events_page1"))
    listing = await _client(fake, session).list_events(
        SITE_ID, since=utc(2026, 10, 24, 6, 30), page_size=5
    )
    assert len(fake.sent("GET", EVENTS)) == 1
    assert [e.event_id[-2:] for e in listing.events] == ["03", "04", "07"]


async def test_list_events_without_since_reads_every_page(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without ``since`` paging ends where ``nextPage`` is null."""
    fake.on(
        "GET",
        EVENTS,
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
        reply(fixture="ec_events_page3"),
    )
    listing = await _client(fake, session).list_events(SITE_ID)
    assert [r.query["page"] for r in fake.sent("GET", EVENTS)] == ["1", "2", "3"]
    assert fake.sent("GET", EVENTS)[0].query["pageSize"] == "100"
    assert listing.complete is True
    assert [e.event_id[-2:] for e in listing.events] == [
        "0a",
        "00",
        "01",
        "02",
        "03",
        "04",
        "07",
    ]


async def test_list_events_page_limit(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """``max_pages`` read with more to come and ``since`` not reached: incomplete."""
    pages = (
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
        reply(fixture="ec_events_page3"),
    )
    fake.on("GET", EVENTS, *pages)
    listing = await _client(fake, session).list_events(
        SITE_ID, page_size=5, max_pages=2
    )
    assert len(fake.sent("GET", EVENTS)) == 2
    assert listing.complete is False
    assert [e.event_id[-2:] for e in listing.events] == [
        "0a",
        "00",
        "01",
        "02",
        "03",
        "04",
        "07",
    ]

    # since reached on the last page allowed: complete.
    fake.requests.clear()
    fake.on("GET", EVENTS, *pages)
    listing = await _client(fake, session).list_events(
        SITE_ID, since=utc(2026, 10, 23), page_size=5, max_pages=2
    )
    assert len(fake.sent("GET", EVENTS)) == 2
    assert listing.complete is True

    # since not reached: incomplete, whatever since is.
    fake.requests.clear()
    fake.on("GET", EVENTS, *pages)
    listing = await _client(fake, session).list_events(
        SITE_ID, since=utc(2020, 1, 1), page_size=5, max_pages=1
    )
    assert len(fake.sent("GET", EVENTS)) == 1
    assert listing.complete is False
    assert [e.event_id[-2:] for e in listing.events] == ["03", "04", "07"]

    # The last page is the limit: nothing more to come, complete.
    fake.requests.clear()
    fake.on("GET", EVENTS, *pages)
    listing = await _client(fake, session).list_events(
        SITE_ID, page_size=5, max_pages=3
    )
    assert len(fake.sent("GET", EVENTS)) == 3
    assert listing.complete is True


async def test_list_events_for_another_site(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The other location sees only its own targets; its user was removed."""
    fake.on(
        "GET",
        EVENTS,
        reply(fixture="ec_events_page1"),
        reply(fixture="ec_events_page2"),
    )
    other = "gridflex-707057500000999995"
    listing = await _client(fake, session).list_events(
        f"{other}/{other}", since=utc(2026, 10, 24, 5)
    )
    events = listing.events
    assert [(e.event_id[-2:], e.raw_type) for e in events] == [
        ("02", "UserEligibility"),
        ("03", "ResourceLPC"),
        ("04", "PriceCurve"),
        ("06", "LocationLPC"),
        ("07", "LocationLPC"),
    ]
    assert events[0].eligible is False
    assert events[1].resource_ids == ("someone-elses-charger",)
    assert events[1].windows == (
        LimitWindow(utc(2026, 10, 24, 16), utc(2026, 10, 24, 17), Decimal(0)),
    )
    assert events[4].meter_point_id == "707057500000999995"


async def test_list_events_keeps_what_cannot_be_read(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The site's unreadable events come back as invalid; nothing raises."""
    good = load("ec_events_page1")["events"][0]
    site_lpc = _lpc_payload(("2026-10-24T17:00:00Z", 1))
    elsewhere = _lpc_payload(("2026-10-24T17:00:00Z", 1), locationId="elsewhere")
    at = "2026-10-24T10:00:00+00:00"

    def item(event_id: str | None, created_at: Any, payload: Any) -> dict[str, Any]:
        found = {"createdAt": created_at, "payload": payload}
        if event_id is not None:
            found["id"] = event_id
        return found

    items: list[Any] = [
        "junk",
        item(None, at, {}),
        item(None, at, site_lpc),  # the site's, without an id
        item(None, at, elsewhere),
        # Cannot tell whether it is the site's: skipped.
        item(None, "yesterday", {"targets": "?", "payloadType": "LocationLPC"}),
        {"id": "no-payload", "createdAt": at},
        {"id": "no-payload-nor-time", "createdAt": "never"},
        item(
            None,
            at,
            {
                "addedUsers": [USER_ID],
                "removedUsers": [],
                "payloadType": "UserEligibility",
            },
        ),
        item(None, at, {"addedUsers": ["x"], "payloadType": "UserEligibility"}),
        item("no-created-at", None, site_lpc),
        item("no-created-at-elsewhere", None, elsewhere),
        item("bad-points", at, _lpc_payload(("2026-10-24T17:00:00Z", None))),
        item("bad-created-at", "yesterday", site_lpc),
        item("year-9999", "9999-12-31T00:00:00Z", site_lpc),
        item("offset-overflow", "0001-01-01T00:00:00+01:00", site_lpc),
        item("point-9999", at, _lpc_payload(("9999-12-31T00:00:00Z", 1))),
        item(
            "long-resolution",
            at,
            _lpc_payload(("2026-10-24T17:00:00Z", 1), resolution="10675199.02:48:05"),
        ),
        item("huge-limit", at, _lpc_payload(("2026-10-24T17:00:00Z", 10**7))),
        item("unreadable-targets", at, {"targets": "?", "payloadType": "LocationLPC"}),
        item("unknown-type", "never", {"payloadType": "Mystery"}),
        good,
    ]
    fake.on(
        "GET",
        EVENTS,
        reply(
            body={
                "events": items,
                "pagination": {
                    "currentPage": 1,
                    "pageSize": 100,
                    "totalRecords": len(items),
                    "nextPage": 1,
                },
            }
        ),
    )
    with caplog.at_level(logging.DEBUG):
        listing = await _client(fake, session).list_events(SITE_ID)
    assert [e.event_id for e in listing.events] == [EVENT_ID]
    assert listing.complete is True
    # nextPage that does not move on ends the paging.
    assert len(fake.sent("GET", EVENTS)) == 1
    # Oldest first: the platform's order reversed.
    invalid = {i.event_id: i for i in listing.invalid}
    assert [i.event_id for i in listing.invalid] == [
        "unreadable-targets",
        "huge-limit",
        "long-resolution",
        "point-9999",
        "offset-overflow",
        "year-9999",
        "bad-created-at",
        "bad-points",
        "no-created-at",
        "",
        "",
    ]
    assert listing.invalid[-1].raw_type == "LocationLPC"
    assert listing.invalid[-2].raw_type == "UserEligibility"
    assert invalid[""].reason == "no id"
    assert invalid[""].created_at == utc(2026, 10, 24, 10)
    assert invalid[""].raw_type == "LocationLPC"
    assert "ISO 8601" in invalid["no-created-at"].reason
    assert invalid["no-created-at"].created_at is None
    assert "maxPowerInKiloWatts" in invalid["bad-points"].reason
    assert invalid["bad-points"].created_at == utc(2026, 10, 24, 10)
    assert "yesterday" in invalid["bad-created-at"].reason
    assert "out of range" in invalid["year-9999"].reason
    assert "out of range" in invalid["offset-overflow"].reason
    assert "out of range" in invalid["point-9999"].reason
    assert "resolution" in invalid["long-resolution"].reason
    assert "out of range" in invalid["huge-limit"].reason
    assert "targets" in invalid["unreadable-targets"].reason
    # Nothing above debug: the caller decides what to tell.
    assert not [
        r
        for r in caplog.records
        if r.name.startswith("custom_components") and r.levelno > logging.DEBUG
    ]
    skipped = caplog.text
    assert "no-payload" in skipped
    assert "maybe the site's" in skipped


async def test_list_events_invalid_read_once(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An unreadable event pushed onto the next page is listed once."""
    broken = {
        "id": "broken",
        "createdAt": "2026-10-24T10:00:00Z",
        "payload": _lpc_payload(("2026-10-24T17:00:00Z", "lots")),
    }
    fake.on(
        "GET",
        EVENTS,
        reply(body={"events": [broken], "pagination": {"nextPage": 2}}),
        reply(body={"events": [broken], "pagination": {"nextPage": None}}),
    )
    listing = await _client(fake, session).list_events(SITE_ID)
    assert len(fake.sent("GET", EVENTS)) == 2
    assert [i.event_id for i in listing.invalid] == ["broken"]


async def test_list_events_item_without_payload_counts_for_since(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Any item's createdAt tells where ``since`` is, even one not read."""
    fake.on(
        "GET",
        EVENTS,
        reply(
            body={
                "events": [{"id": "x", "createdAt": "2026-10-20T00:00:00Z"}],
                "pagination": {"nextPage": 2},
            }
        ),
    )
    listing = await _client(fake, session).list_events(SITE_ID, since=utc(2026, 10, 21))
    assert len(fake.sent("GET", EVENTS)) == 1
    assert listing == EventListing(complete=True)


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
    assert await _client(fake, session).list_events(SITE_ID) == EventListing()
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


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_pages": 0}, "max_pages"),
        ({"since": datetime(2026, 10, 24)}, "time zone"),  # noqa: DTZ001
    ],
)
async def test_list_events_refused_unsent(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    kwargs: dict[str, Any],
    match: str,
) -> None:
    """No pages to read, or a naive ``since``: refused unsent."""
    with pytest.raises(GridFlexRequestRejectedError, match=match):
        await _client(fake, session).list_events(SITE_ID, **kwargs)
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
        eligible=False,
    )
    added = {**payload, "addedUsers": [USER_ID], "removedUsers": ["someone"]}
    event = client.parse_event(SITE_ID, "e", "2026-10-23T12:00:00+00:00", added)
    assert event is not None
    assert event.eligible is True
    assert client.parse_event("someone-else/house", "e", "x", payload) is None
    assert (
        client.parse_event(
            SITE_ID, "e", "x", {"addedUsers": None, "payloadType": "UserEligibility"}
        )
        is None
    )
    both = {**payload, "addedUsers": [USER_ID]}
    with pytest.raises(GridFlexResponseError, match="not both"):
        client.parse_event(SITE_ID, "e", "2026-10-23T12:00:00+00:00", both)
    with pytest.raises(GridFlexResponseError, match="out of range"):
        client.parse_event(SITE_ID, "e", "1999-12-31T23:59:59Z", added)


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


def _price_payload(*points: tuple[str, Any], **curve: Any) -> dict[str, Any]:
    return {
        "targets": [{"resourceId": "r1", "locationId": USER_ID}],
        "priceCurveDelta": {
            "points": [{"price": price, "timestamp": ts} for ts, price in points],
            "energyUnit": "MWh",
            "resolution": "01:00:00",
            **curve,
        },
        "payloadType": "PriceCurve",
    }


HOUR = "2026-10-24T17:00:00Z"


@pytest.mark.parametrize(
    ("payload", "created_at", "match"),
    [
        (_lpc_payload(("9999-12-31T23:00:00Z", 1)), HOUR, "out of range"),
        (_lpc_payload(("1999-12-31T23:00:00Z", 1)), HOUR, "out of range"),
        (_lpc_payload(("2200-01-01T00:00:00Z", 1)), HOUR, "out of range"),
        # 2000-01-01T00:30+01:00 is still 1999 in UTC.
        (_lpc_payload(("2000-01-01T00:30:00+01:00", 1)), HOUR, "out of range"),
        # An offset that takes the time past year 9999 or before year 1.
        (_lpc_payload((HOUR, 1)), "9999-12-31T23:59:59-01:00", "out of range"),
        (_lpc_payload(("0001-01-01T00:00:00+01:00", 1)), HOUR, "out of range"),
        (_lpc_payload((HOUR, 1)), "9999-12-31T00:00:00Z", "out of range"),
        (_lpc_payload((HOUR, 1), resolution="10675199.02:48:05"), HOUR, "resolution"),
        (_lpc_payload((HOUR, 1), resolution="1.00:00:01"), HOUR, "resolution"),
        (_lpc_payload((HOUR, 1), resolution="999999999.00:00:00"), HOUR, "resolution"),
        (_lpc_payload((HOUR, 1), resolution="-01:00:00"), HOUR, "resolution"),
        (_lpc_payload((HOUR, "1000000.001")), HOUR, "out of range"),
        (_lpc_payload((HOUR, -(10**7))), HOUR, "out of range"),
        (_lpc_payload((HOUR, "1E+999999999")), HOUR, "out of range"),
        (_lpc_payload((HOUR, "NaN")), HOUR, "maxPowerInKiloWatts"),
        (_lpc_payload((HOUR, "-Infinity")), HOUR, "maxPowerInKiloWatts"),
        (_lpc_payload((HOUR, float("inf"))), HOUR, "maxPowerInKiloWatts"),
        (_lpc_payload((HOUR, Decimal("sNaN"))), HOUR, "maxPowerInKiloWatts"),
        (_lpc_payload((HOUR, True)), HOUR, "maxPowerInKiloWatts"),
        # An integer too long to write as a string.
        (_lpc_payload((HOUR, 10**5000)), HOUR, "out of range"),
        (_lpc_payload(*[(HOUR, 1)] * 10_001), HOUR, "at most 10000 points"),
        (_price_payload((HOUR, 10**7)), HOUR, "out of range"),
        (_price_payload((HOUR, 1), resolution="2.00:00:00"), HOUR, "resolution"),
        (_price_payload(("2300-01-01T00:00:00Z", 1)), HOUR, "out of range"),
        (_price_payload(*[(HOUR, 1)] * 10_001), HOUR, "at most 10000 price points"),
        ([1, 2], HOUR, "payload object"),
        ("LocationLPC", HOUR, "payload object"),
    ],
)
def test_out_of_range(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    payload: Any,
    created_at: str,
    match: str,
) -> None:
    """Hostile or absurd values are response errors, and nothing else."""
    with pytest.raises(GridFlexResponseError, match=match):
        _client(fake, session).parse_event(SITE_ID, "e", created_at, payload)


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("date value out of range"),
        ValueError("x" * 1000),
        decimal.InvalidOperation(),
        TypeError("unorderable"),
        RecursionError(),
    ],
)
def test_safety_net(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    """Whatever slips past the checks still comes out as a response error."""

    def broken(*_: Any) -> None:
        raise error

    monkeypatch.setattr(energy_coordination, "_limit_windows", broken)
    with pytest.raises(GridFlexResponseError, match=type(error).__name__) as err:
        _client(fake, session).parse_event(SITE_ID, "e", HOUR, _lpc_payload((HOUR, 1)))
    assert err.value.__cause__ is error
    assert len(str(err.value)) < 300


def test_too_many_points_for_the_site(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Six targets of the site with 10,000 points each: more than 50,000."""
    points = [
        {"maxPowerInKiloWatts": 1, "timestamp": f"2026-10-24T{hour:02}:00:00Z"}
        for hour in range(20)
    ] * 500
    target = {"locationId": USER_ID, "resolution": "01:00:00", "points": points}
    payload = {"targets": [target] * 6, "payloadType": "LocationLPC"}
    with pytest.raises(GridFlexResponseError, match="at most 50000 points"):
        _client(fake, session).parse_event(SITE_ID, "e", HOUR, payload)
    payload["targets"] = [target] * 5
    event = _client(fake, session).parse_event(SITE_ID, "e", HOUR, payload)
    assert event is not None
    assert event.windows == (
        LimitWindow(utc(2026, 10, 24), utc(2026, 10, 24, 20), Decimal(1)),
    )


def test_bounds_are_inclusive(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The edges of every bound are still read."""
    payload = _lpc_payload(
        ("2000-01-01T00:00:00Z", "-1000000"),
        ("2199-12-31T00:00:00Z", "1000000.000"),
        resolution="1.00:00:00",
    )
    event = _client(fake, session).parse_event(
        SITE_ID, "e", "2199-12-31T23:59:59.999999Z", payload
    )
    assert event is not None
    assert event.created_at == datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert event.windows == (
        LimitWindow(utc(2000, 1, 1), utc(2000, 1, 2), Decimal(-1000000)),
        LimitWindow(utc(2199, 12, 31), utc(2200, 1, 1), Decimal(1000000)),
    )
    first = utc(2026, 1, 1)
    many = _lpc_payload(
        *[((first + timedelta(hours=h)).isoformat(), h % 2) for h in range(10_000)]
    )
    event = _client(fake, session).parse_event(SITE_ID, "e", HOUR, many)
    assert event is not None
    assert len(event.windows) == 10_000


def test_overlapping_targets_lowest_limit(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Overlapping points of different lengths: the lowest limit in force holds."""
    payload = _lpc_payload(("2026-10-24T16:00:00Z", 5), resolution="04:00:00")
    payload["targets"].append(
        {
            "locationId": USER_ID,
            "resolution": "00:30:00",
            "points": [
                {"maxPowerInKiloWatts": 2, "timestamp": "2026-10-24T17:00:00Z"},
                {"maxPowerInKiloWatts": 7, "timestamp": "2026-10-24T18:00:00Z"},
                {"maxPowerInKiloWatts": 1, "timestamp": "2026-10-24T21:00:00Z"},
            ],
        }
    )
    event = _client(fake, session).parse_event(SITE_ID, "e", HOUR, payload)
    assert event is not None
    assert event.windows == (
        LimitWindow(utc(2026, 10, 24, 16), utc(2026, 10, 24, 17), Decimal(5)),
        LimitWindow(utc(2026, 10, 24, 17), utc(2026, 10, 24, 17, 30), Decimal(2)),
        LimitWindow(utc(2026, 10, 24, 17, 30), utc(2026, 10, 24, 20), Decimal(5)),
        LimitWindow(utc(2026, 10, 24, 21), utc(2026, 10, 24, 21, 30), Decimal(1)),
    )


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


@pytest.mark.parametrize("body", [[], "eventId", None, 7])
def test_notification_not_an_object(
    fake: FakePlatform, session: aiohttp.ClientSession, body: Any
) -> None:
    """A body that is no object at all is a response error too."""
    with pytest.raises(GridFlexResponseError, match="JSON object"):
        _client(fake, session).parse_notification(SITE_ID, body)


def test_read_notification(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """The raw push as an object, every digit of its prices kept."""
    raw = (FIXTURES / "ec_notification_price_curve.json").read_bytes()
    body = read_notification(raw)
    assert body == json.loads(raw, parse_float=Decimal)
    assert body["payload"]["priceCurveDelta"]["points"][0]["price"] == Decimal(
        "0.96313495300801624"
    )
    raw = (FIXTURES / "ec_notification_lpc.json").read_bytes()
    event = _client(fake, session).parse_notification(SITE_ID, read_notification(raw))
    assert event is not None
    assert event.windows[0].max_power_kw == Decimal("2.2")


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b" " * MAX_NOTIFICATION_BYTES + b"{}", "larger"),
        (
            b"[" * (MAX_NOTIFICATION_DEPTH + 1) + b"]" * (MAX_NOTIFICATION_DEPTH + 1),
            "deeper",
        ),
        (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "deeper"),
        (b"[" * 10_000_000, "larger"),
        (b"", "not UTF-8 JSON"),
        (b'{"eventId": "\xff"}', "not UTF-8 JSON"),
        (b'{"x": NaN}', "not UTF-8 JSON"),
        (b'{"x": -Infinity}', "not UTF-8 JSON"),
        (b'{"x": ' + b"9" * 5000 + b"}", "not UTF-8 JSON"),
        (b'{"x": 1', "not UTF-8 JSON"),
        (b"\xef\xbb\xbf{}", "not UTF-8 JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"eventId"', "JSON object"),
        (b"null", "JSON object"),
    ],
)
def test_read_notification_refused(raw: bytes, match: str) -> None:
    """Too large, too deep, not UTF-8 JSON, or no object: response errors."""
    with pytest.raises(GridFlexResponseError, match=match):
        read_notification(raw)


def test_read_notification_at_the_bounds() -> None:
    """Exactly the largest and the deepest body allowed are read."""
    depth = MAX_NOTIFICATION_DEPTH
    deep = b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    nested: Any = read_notification(deep)["a"]
    for _ in range(depth - 2):
        (nested,) = nested
    assert nested == []
    large = b'{"a": "' + b"x" * (MAX_NOTIFICATION_BYTES - 9) + b'"}'
    assert len(large) == MAX_NOTIFICATION_BYTES
    assert len(read_notification(large)["a"]) == MAX_NOTIFICATION_BYTES - 9
    # Brackets inside strings, escaped quotes included, do not nest.
    assert read_notification(b'{"a": "[[[[\\"{{{{", "b": "\\\\"}') == {
        "a": '[[[["{{{{',
        "b": "\\",
    }


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
    """All payloads for one event in one report: each resource's, in event order."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    event = _lpc_event(
        resource_ids=("gridflex-charger", "gridflex-battery", "gridflex-boiler"),
        raw_type="ResourceLPC",
    )
    hour = utc(2026, 10, 24, 16)
    report_id = await _client(fake, session).report_energy_usage(
        SITE_ID,
        event,
        [],
        resource_hours={
            "gridflex-battery": [(hour, Decimal("1.5"))],
            "gridflex-charger": [
                (hour, Decimal("0.1")),
                (hour + timedelta(hours=1), Decimal(0)),
            ],
            "gridflex-boiler": [],
        },
    )
    assert report_id == "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
    (report,) = fake.sent("POST", REPORTS)
    assert report.json() == {
        "eventId": EVENT_ID,
        "payloads": [
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
                    {"timestamp": "2026-10-24T16:00:00.000Z", "kiloWattHours": 1.5}
                ],
                "resolution": "01:00:00",
                "payloadType": "EnergyUsage",
            },
        ],
    }
    assert b'"kiloWattHours": 0.1}' in report.body


async def test_report_resource_event_without_location_usage(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Site hours for a resource event are refused unsent: they answer location events."""
    event = _lpc_event(resource_ids=("gridflex-charger",), raw_type="ResourceLPC")
    hour = utc(2026, 10, 24, 16)
    with pytest.raises(GridFlexRequestRejectedError, match="targets resources"):
        await _client(fake, session).report_energy_usage(
            SITE_ID,
            event,
            [(hour, Decimal(1))],
            resource_hours={"gridflex-charger": [(hour, Decimal(1))]},
        )
    with pytest.raises(GridFlexRequestRejectedError, match="targets resources"):
        await _client(fake, session).report_energy_usage(
            SITE_ID, event, [(hour, Decimal(1))]
        )
    assert fake.requests == []


async def test_report_id_and_timeout(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The report id comes back (None without one); a per-call timeout holds."""
    client = _client(fake, session)
    hours = [(utc(2026, 10, 24, 17), Decimal(1))]
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    assert (
        await client.acknowledge_event(SITE_ID, _lpc_event())
        == "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
    )
    for answer in (reply(200), reply(body={"eventId": EVENT_ID}), reply(body=["x"])):
        fake.on("POST", REPORTS, answer)
        assert await client.acknowledge_event(SITE_ID, _lpc_event()) is None
        assert await client.report_energy_usage(SITE_ID, _lpc_event(), hours) is None
    fake.on("POST", REPORTS, reply(fixture="ec_report_created", delay=0.5))
    with pytest.raises(GridFlexTimeoutError, match=r"within 0\.05 s"):
        await client.acknowledge_event(SITE_ID, _lpc_event(), timeout=0.05)
    with pytest.raises(GridFlexTimeoutError, match=r"within 0\.05 s"):
        await client.report_energy_usage(SITE_ID, _lpc_event(), hours, timeout=0.05)
    # The client's own timeout (2 s) otherwise.
    assert await client.acknowledge_event(SITE_ID, _lpc_event()) is not None


async def test_report_timeout_covers_the_meter_point_lookup(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without a meter point the location is fetched, under the same timeout."""
    location = f"{API}/users/someone/locations/house"
    fake.on(
        "GET",
        location,
        reply(body={"locationId": "house", "meterPointIds": [GSRN]}, delay=0.5),
    )
    with pytest.raises(GridFlexTimeoutError):
        await _client(fake, session).acknowledge_event(
            "someone/house", _lpc_event(meter_point_id=None), timeout=0.05
        )
    assert fake.sent("POST", REPORTS) == []


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
        ([(utc(2026, 10, 24, 17), Decimal("-0.001"))], "negative"),
        ([(utc(2026, 10, 24, 17), Decimal(-1))], "negative"),
        ([(utc(2026, 10, 24, 17), Decimal("1000000.1"))], "above"),
        ([(utc(2026, 10, 24, 17), Decimal("1E+999999999"))], "above"),
        ([(utc(2026, 10, 24, 17), None)], "finite"),
        ([(utc(1999, 12, 31, 23), Decimal(1))], "2000 to 2199"),
        ([(datetime(9999, 12, 31, 23, tzinfo=UTC), Decimal(1))], "2000 to 2199"),
        (
            [(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), Decimal(1))],
            "not a time GridFlex can report",
        ),
        ([("2026-10-24T17:00:00Z", Decimal(1))], "no time zone"),
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


async def test_report_energy_usage_edges(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Zero (also negative zero), the bound itself and tiny values go out."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    await _client(fake, session).report_energy_usage(
        SITE_ID,
        _lpc_event(),
        [
            (utc(2026, 10, 24, 17), Decimal("-0")),
            (utc(2026, 10, 24, 18), Decimal("1000000.000")),
            (utc(2026, 10, 24, 19), Decimal("1E-400")),
            (datetime(2000, 1, 1, tzinfo=UTC), Decimal(1)),
            (datetime(2199, 12, 31, 23, tzinfo=UTC), Decimal(1)),
        ],
    )
    points = fake.sent("POST", REPORTS)[0].json()["payloads"][0]["points"]
    assert [p["kiloWattHours"] for p in points] == [1, 0, 1000000, 0.0, 1]
    assert points[0]["timestamp"] == "2000-01-01T00:00:00.000Z"
    assert points[-1]["timestamp"] == "2199-12-31T23:00:00.000Z"


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


async def test_list_webhooks(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Health per webhook; missing optional fields tolerated, junk left out."""
    created = load("ec_webhook_created")
    fake.on(
        "GET",
        WEBHOOKS,
        reply(
            body={
                "webhooks": [
                    {**created, "status": "Unhealthy", "enabled": False},
                    {"webhookId": "bare"},
                    {**created, "webhookId": None},
                    {**created, "webhookId": ""},
                    {"webhookId": "odd", "enabled": "no", "status": 3, "webhookUrl": 1},
                    "junk",
                ]
            }
        ),
    )
    client = _client(fake, session)
    assert await client.list_webhooks() == [
        WebhookInfo(
            webhook_id=created["webhookId"],
            url=WEBHOOK_URL,
            enabled=False,
            status="Unhealthy",
        ),
        WebhookInfo(webhook_id="bare", url="", enabled=True, status=None),
        WebhookInfo(webhook_id="odd", url="", enabled=True, status=None),
    ]
    assert fake.sent("GET", WEBHOOKS)[0].headers["Authorization"] == "Bearer ec-token-1"
    for body in ({"webhooks": None}, {}):
        fake.on("GET", WEBHOOKS, reply(body=body))
        assert await client.list_webhooks() == []
    for body in ({"webhooks": {"webhookId": "x"}}, ["x"]):
        fake.on("GET", WEBHOOKS, reply(body=body))
        with pytest.raises(GridFlexResponseError):
            await client.list_webhooks()


async def test_get_webhook(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """One webhook's health; gone is not-found; the id escaped; empty unsent."""
    created = load("ec_webhook_created")
    path = f"{WEBHOOKS}/{created['webhookId']}"
    fake.on("GET", path, reply(fixture="ec_webhook_created"), reply(404))
    client = _client(fake, session)
    assert await client.get_webhook(created["webhookId"]) == WebhookInfo(
        webhook_id=created["webhookId"], url=WEBHOOK_URL, enabled=True, status="New"
    )
    with pytest.raises(GridFlexNotFoundError):
        await client.get_webhook(created["webhookId"])
    fake.on("GET", f"{WEBHOOKS}/a/b", reply(body={"enabled": False}))
    assert await client.get_webhook("a/b") == WebhookInfo(
        webhook_id="a/b", url="", enabled=False
    )
    assert fake.requests[-1].raw_path == f"{WEBHOOKS}/a%2Fb"
    fake.on("GET", f"{WEBHOOKS}/x", reply(body=["x"]))
    with pytest.raises(GridFlexResponseError):
        await client.get_webhook("x")
    fake.on("GET", f"{WEBHOOKS}/y", reply(body={"webhookId": 7}))
    with pytest.raises(GridFlexResponseError, match="webhookId"):
        await client.get_webhook("y")
    count = len(fake.requests)
    with pytest.raises(GridFlexNotFoundError):
        await client.get_webhook("")
    assert len(fake.requests) == count


async def test_enable_webhook(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """PUT .../enabled with ``enabled=true`` in the query, no body; 404 when gone."""
    path = f"{WEBHOOKS}/a7b8c9d0-e1f2-3456-0123-567890123456/enabled"
    fake.on("PUT", path, reply(204), reply(200), reply(404))
    client = _client(fake, session)
    await client.enable_webhook("a7b8c9d0-e1f2-3456-0123-567890123456")
    await client.enable_webhook("a7b8c9d0-e1f2-3456-0123-567890123456")
    with pytest.raises(GridFlexNotFoundError):
        await client.enable_webhook("a7b8c9d0-e1f2-3456-0123-567890123456")
    sent = fake.sent("PUT", path)
    assert [r.query for r in sent] == [{"enabled": "true"}] * 3
    assert sent[0].body == b""
    assert sent[0].headers["Authorization"] == "Bearer ec-token-1"
    fake.on("PUT", f"{WEBHOOKS}/a%2Fb/enabled", reply(204))
    count = len(fake.requests)
    with pytest.raises(GridFlexNotFoundError):
        await client.enable_webhook("")
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
