"""Powernaut activations (accepted bids) and the resource webhook, against recorded responses and the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.gridflex.platforms import (
    Environment,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    PlatformKey,
    PowernautClient,
    create_client,
    powernaut,
)
from custom_components.gridflex.platforms.models import (
    GridEvent,
    GridEventKind,
    LimitWindow,
)
from custom_components.gridflex.platforms.powernaut import (
    ACTIVATION_EVENT_PREFIX,
    CANCELLED_ACTIVATION,
)
from sandbox import SandboxServer

from .conftest import FakeClock, FakePlatform, load, reply
from .powernaut_sandbox import running_sandbox, site_with_battery

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

TOKEN = "/v1/auth/token"
BID_ID = "b1d5e0a2-0000-4000-8000-000000000201"
BID_2 = "b1d5e0a2-0000-4000-8000-000000000202"
BID_3 = "b1d5e0a2-0000-4000-8000-000000000203"
BID = f"/v1/connect/bids/{BID_ID}"
RESOURCE_ID = "7d1e9c40-0000-4000-8000-000000000101"
RESOURCE = f"/v1/connect/resources/{RESOURCE_ID}"
ACTIVATIONS = f"{RESOURCE}/activations"
HOOK = "https://ha.example/api/webhook/gridflex-powernaut"
CREDENTIALS = {"client_id": "partner-id", "client_secret": "partner-secret"}


def at(text: str) -> datetime:
    """Parse a UTC time written as ``2026-11-22T17:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _client(fake: FakePlatform, session: aiohttp.ClientSession) -> PowernautClient:
    client = create_client(
        PlatformKey.POWERNAUT,
        session,
        CREDENTIALS,
        environment=Environment.CUSTOM,
        base_url=fake.url,
        request_timeout=2.0,
        clock=FakeClock(),
    )
    assert isinstance(client, PowernautClient)
    return client


@pytest.fixture(autouse=True)
def token_route(fake: FakePlatform) -> None:
    """Hand out a token."""
    fake.on("POST", TOKEN, reply(fixture="powernaut_token"))


def _bid(**activation: Any) -> dict[str, Any]:
    """The accepted bid fixture with activation fields replaced."""
    body: dict[str, Any] = load("powernaut_bid_accepted")
    body["activation"] = {**body["activation"], **activation}
    return body


# get_activation


async def test_get_activation(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An accepted bid becomes an ACTIVATION event for its quarter-hour and resource."""
    fake.on("GET", BID, reply(fixture="powernaut_bid_accepted"))
    event = await _client(fake, session).get_activation(BID_ID)
    assert event == GridEvent(
        event_id=f"activation-{BID_ID}",
        kind=GridEventKind.ACTIVATION,
        created_at=datetime(2026, 11, 22, 16, 31, 7, 845000, tzinfo=UTC),
        windows=(
            LimitWindow(
                start=at("2026-11-22T17:00"),
                end=at("2026-11-22T17:15"),
                max_power_kw=Decimal("-3.5"),
            ),
        ),
        resource_ids=(RESOURCE_ID,),
        raw_type="exact",
    )
    assert event.event_id.startswith(ACTIVATION_EVENT_PREFIX)
    assert (event.start, event.end) == (at("2026-11-22T17:00"), at("2026-11-22T17:15"))
    (request,) = fake.sent("GET", BID)
    assert request.headers["Authorization"] == "Bearer pn-token-1"
    assert fake.calls() == [f"POST {TOKEN}", f"GET {BID}"]


@pytest.mark.parametrize("kind", ["maximise_upwards", "maximise_downwards", None])
async def test_get_activation_type(
    fake: FakePlatform, session: aiohttp.ClientSession, kind: str | None
) -> None:
    """The activation type is the event's raw type (absent: None)."""
    body = _bid(type=kind, value="2.5")
    if kind is None:
        del body["activation"]["type"]
    fake.on("GET", BID, reply(body=body))
    event = await _client(fake, session).get_activation(BID_ID)
    assert event is not None
    assert event.raw_type == kind
    assert event.windows[0].max_power_kw == Decimal("2.5")


@pytest.mark.parametrize(
    "body",
    [
        load("powernaut_bid_open"),
        {k: v for k, v in load("powernaut_bid_open").items() if k != "activation"},
        {"id": BID_ID, "status": "expired"},
    ],
    ids=["null", "absent", "minimal"],
)
async def test_get_activation_none_without_activation(
    fake: FakePlatform, session: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    """A bid that was never accepted has no activation."""
    fake.on("GET", BID, reply(body=body))
    assert await _client(fake, session).get_activation(BID_ID) is None


async def test_get_activation_cancelled(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A null value: the same event id, no windows, raw type cancelled, at canceled_at."""
    fake.on("GET", BID, reply(fixture="powernaut_bid_cancelled"))
    event = await _client(fake, session).get_activation(BID_ID)
    assert event == GridEvent(
        event_id=f"activation-{BID_ID}",
        kind=GridEventKind.ACTIVATION,
        created_at=datetime(2026, 11, 22, 16, 58, 40, 120000, tzinfo=UTC),
        resource_ids=(RESOURCE_ID,),
        raw_type=CANCELLED_ACTIVATION,
    )
    assert event.start is None


@pytest.mark.parametrize(
    ("activation", "cancelled", "created_at"),
    [
        # canceled_at set while a value is still there: cancelled.
        (
            {"canceled_at": "2026-11-22T16:40:00Z"},
            True,
            at("2026-11-22T16:40"),
        ),
        # A cancellation older than the current activation: re-activated.
        (
            {"canceled_at": "2026-11-22T16:00:00+01:00"},
            False,
            datetime(2026, 11, 22, 16, 31, 7, 845000, tzinfo=UTC),
        ),
        # Unreadable canceled_at: cancelled, at the activation's time.
        (
            {"canceled_at": "soon"},
            True,
            datetime(2026, 11, 22, 16, 31, 7, 845000, tzinfo=UTC),
        ),
        # value null without canceled_at.
        (
            {"value": None},
            True,
            datetime(2026, 11, 22, 16, 31, 7, 845000, tzinfo=UTC),
        ),
        # The spec's ``object`` type: an empty object means not cancelled.
        (
            {"canceled_at": {}},
            False,
            datetime(2026, 11, 22, 16, 31, 7, 845000, tzinfo=UTC),
        ),
        (
            {"canceled_at": None},
            False,
            datetime(2026, 11, 22, 16, 31, 7, 845000, tzinfo=UTC),
        ),
    ],
)
async def test_get_activation_cancellation_forms(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    activation: dict[str, Any],
    cancelled: bool,
    created_at: datetime,
) -> None:
    """Cancelled when value is null or canceled_at is not older than created_at."""
    fake.on("GET", BID, reply(body=_bid(**activation)))
    event = await _client(fake, session).get_activation(BID_ID)
    assert event is not None
    assert event.created_at == created_at
    assert (event.raw_type == CANCELLED_ACTIVATION) is cancelled
    assert (not event.windows) is cancelled


async def test_get_activation_without_resource_id(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A bid without resource id still maps (no resource ids)."""
    body = _bid()
    del body["resource_id"]
    fake.on("GET", BID, reply(body=body))
    event = await _client(fake, session).get_activation(BID_ID)
    assert event is not None
    assert event.resource_ids == ()


@pytest.mark.parametrize(
    "body",
    [
        ["not", "a", "bid"],
        _bid(created_at=None),
        _bid(created_at="yesterday"),
        _bid(value="a lot"),
        _bid(value=True),
        {**_bid(), "timing": None},
        {**_bid(), "timing": {"start": "2026-11-22T17:00:00Z"}},
    ],
)
async def test_get_activation_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession, body: object
) -> None:
    """An activation without a readable time, value or window is a response error."""
    fake.on("GET", BID, reply(body=body))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).get_activation(BID_ID)


async def test_get_activation_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An unknown bid is not-found; the id is escaped in the path."""
    fake.on(
        "GET", "/v1/connect/bids/a/b", reply(404, fixture="powernaut_error_404_bid")
    )
    with pytest.raises(GridFlexNotFoundError, match="Bid does not exist"):
        await _client(fake, session).get_activation("a/b")
    assert fake.requests[-1].raw_path == "/v1/connect/bids/a%2Fb"


# list_activations


async def test_list_activations_pages(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Every page is fetched; events oldest first, created at their window start."""
    fake.on(
        "GET",
        ACTIVATIONS,
        reply(fixture="powernaut_activations_page1"),
        reply(fixture="powernaut_activations_page2"),
    )
    events = await _client(fake, session).list_activations(
        RESOURCE_ID,
        start=datetime(2026, 11, 22, 18, 0, tzinfo=timezone(timedelta(hours=1))),
        end=at("2026-11-23T00:00"),
    )
    assert [request.query for request in fake.sent("GET", ACTIVATIONS)] == [
        {
            "page": str(page),
            "page_size": "100",
            "start": "2026-11-22T17:00:00Z",
            "end": "2026-11-23T00:00:00Z",
        }
        for page in (1, 2)
    ]
    assert events == [
        GridEvent(
            event_id=f"activation-{bid_id}",
            kind=GridEventKind.ACTIVATION,
            created_at=at(start),
            windows=(
                LimitWindow(start=at(start), end=at(end), max_power_kw=Decimal(value)),
            ),
            resource_ids=(RESOURCE_ID,),
        )
        for bid_id, start, end, value in (
            (BID_ID, "2026-11-22T17:00", "2026-11-22T17:15", "-3.5"),
            (BID_2, "2026-11-22T17:30", "2026-11-22T17:45", "-1.25"),
            (BID_3, "2026-11-22T18:00", "2026-11-22T18:15", "2.5"),
        )
    ]


async def test_list_activations_without_filters(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No start/end: only paging parameters; an empty list is one request."""
    fake.on("GET", ACTIVATIONS, reply(body={"total": 0, "items": []}))
    assert await _client(fake, session).list_activations(RESOURCE_ID) == []
    (request,) = fake.sent("GET", ACTIVATIONS)
    assert request.query == {"page": "1", "page_size": "100"}


async def test_list_activations_odd_items(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Non-objects are skipped, a bid listed twice keeps its first entry, no value is cancelled.

    Without ``total`` the pages are read until one is empty.
    """
    first = load("powernaut_activations_page1")["items"]
    cancelled = {**first[1], "value": None, "resource_id": None}
    fake.on(
        "GET",
        ACTIVATIONS,
        reply(body={"items": [first[0], "junk", cancelled]}),
        reply(body={"items": [{**first[0], "value": "9.0"}]}),
        reply(body={"items": []}),
    )
    events = await _client(fake, session).list_activations(RESOURCE_ID)
    assert len(fake.sent("GET", ACTIVATIONS)) == 3
    assert [(e.event_id, e.raw_type, e.windows) for e in events] == [
        (f"activation-{BID_2}", CANCELLED_ACTIVATION, ()),
        (
            f"activation-{BID_3}",
            None,
            (
                LimitWindow(
                    at("2026-11-22T18:00"), at("2026-11-22T18:15"), Decimal("2.5")
                ),
            ),
        ),
    ]
    assert events[0].created_at == at("2026-11-22T17:30")
    assert events[0].resource_ids == (RESOURCE_ID,)


async def test_list_activations_page_limit_and_naive_times(
    fake: FakePlatform, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list that never ends is read to a bounded number of pages; times without offset are UTC."""
    monkeypatch.setattr(powernaut, "_MAX_PAGES", 3)
    item = load("powernaut_activations_page2")["items"][0]
    item |= {"start": "2026-11-22T17:00:00", "end": "2026-11-22T17:15:00"}
    fake.on("GET", ACTIVATIONS, reply(body={"items": [item]}))
    [event] = await _client(fake, session).list_activations(RESOURCE_ID)
    assert len(fake.sent("GET", ACTIVATIONS)) == 3
    assert (event.start, event.end) == (at("2026-11-22T17:00"), at("2026-11-22T17:15"))


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"total": 1, "items": None},
        {"total": 1, "items": [{"start": "2026-11-22T17:00:00Z", "value": "1.0"}]},
        {"total": 1, "items": [{"bid_id": BID_ID, "start": "now", "value": "1.0"}]},
        {
            "total": 1,
            "items": [
                {
                    "bid_id": BID_ID,
                    "start": "2026-11-22T17:00:00Z",
                    "end": "2026-11-22T17:15:00Z",
                    "value": "x",
                }
            ],
        },
    ],
)
async def test_list_activations_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession, body: object
) -> None:
    """Pages or items we cannot read are response errors."""
    fake.on("GET", ACTIVATIONS, reply(body=body))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).list_activations(RESOURCE_ID)


async def test_list_activations_naive_time_refused(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Naive datetimes are refused before anything is sent."""
    client = _client(fake, session)
    with pytest.raises(
        GridFlexRequestRejectedError, match="end must be a timezone-aware datetime"
    ):
        await client.list_activations(
            RESOURCE_ID,
            start=at("2026-11-22T17:00"),
            end=datetime.fromisoformat("2026-11-23T00:00"),
        )
    assert fake.requests == []


async def test_list_activations_unknown_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A deleted resource is not-found."""
    fake.on("GET", ACTIVATIONS, reply(404, fixture="powernaut_error_404_resource"))
    with pytest.raises(GridFlexNotFoundError, match="Resource does not exist"):
        await _client(fake, session).list_activations(RESOURCE_ID)


# set_resource_webhook


async def test_set_resource_webhook(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """PATCH webhooks {accepted}; None sends an empty webhooks; a gone resource is 404."""
    fake.on(
        "PATCH",
        RESOURCE,
        reply(202, fixture="powernaut_resource"),
        reply(202),
        reply(404, fixture="powernaut_error_404_resource"),
    )
    client = _client(fake, session)
    assert await client.set_resource_webhook(RESOURCE_ID, HOOK) is None
    assert await client.set_resource_webhook(RESOURCE_ID, None) is None
    with pytest.raises(GridFlexNotFoundError):
        await client.set_resource_webhook(RESOURCE_ID, HOOK)
    first, second, _ = fake.sent("PATCH", RESOURCE)
    assert first.json() == {"webhooks": {"accepted": HOOK}}
    assert second.body == b'{"webhooks": {}}'
    assert first.headers["Content-Type"].startswith("application/json")


# Against the sandbox


class Hook:
    """A bidAccepted receiver on 127.0.0.1 that records bid ids."""

    def __init__(self) -> None:
        """Start empty."""
        self.url = ""
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        """Record the call and answer 200."""
        self.bodies.append(await request.json())
        self.headers.append(dict(request.headers))
        return web.Response(status=200)


@pytest.fixture
async def hook(socket_enabled: None) -> AsyncIterator[Hook]:
    """Run the receiver on a free port."""
    receiver = Hook()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield receiver
    await runner.cleanup()


@pytest.fixture
async def pn_sandbox(socket_enabled: None) -> AsyncIterator[SandboxServer]:
    """Run the sandbox; fail the test on any request the sandbox refused as invalid."""
    async for server in running_sandbox(
        webhook_retry_base_delay=0.05, webhook_timeout=1.0
    ):
        yield server


async def test_activation_round_trip_with_the_sandbox(
    pn_sandbox: SandboxServer, hook: Hook, session: aiohttp.ClientSession
) -> None:
    """Webhook set by the client, bid accepted and cancelled by the sandbox, read back."""
    client, resource_id = await site_with_battery(pn_sandbox, session, Decimal("13.5"))
    await client.set_resource_webhook(resource_id, hook.url)
    assert pn_sandbox.state.powernaut.resources[resource_id]["webhooks"] == {
        "accepted": hook.url
    }

    now = datetime.now(UTC)
    start = now.replace(
        minute=now.minute - now.minute % 15, second=0, microsecond=0
    ) + timedelta(minutes=15)
    end = start + timedelta(minutes=15)
    async with session.post(
        f"{pn_sandbox.url}/_sandbox/powernaut/resources/{resource_id}/bids",
        json={
            "timing": {"start": start.isoformat(), "end": end.isoformat()},
            "curve": [{"value": "-2.5", "price": "0.2"}, {"value": "4.0"}],
        },
    ) as response:
        assert response.status == 201
        bid_id = (await response.json())["id"]
    assert await client.get_activation(bid_id) is None

    async with session.post(
        f"{pn_sandbox.url}/_sandbox/powernaut/bids/{bid_id}/activate",
        json={"value": "-2.5", "type": "maximise_downwards"},
    ) as response:
        assert response.status == 200
    await pn_sandbox.webhooks.wait_idle()
    assert hook.bodies == [{"id": bid_id}]
    assert hook.headers[0]["X-Powernaut-Webhook-Version"] == "v1"

    event = await client.get_activation(hook.bodies[0]["id"])
    assert event is not None
    assert event.event_id == f"activation-{bid_id}"
    assert event.windows == (LimitWindow(start, end, Decimal("-2.5")),)
    assert event.resource_ids == (resource_id,)
    assert event.raw_type == "maximise_downwards"
    assert now - timedelta(seconds=5) <= event.created_at <= datetime.now(UTC)

    listed = await client.list_activations(resource_id, start=start, end=end)
    assert [(e.event_id, e.windows) for e in listed] == [
        (event.event_id, event.windows)
    ]
    assert await client.list_activations(resource_id, end=start) == []

    async with session.post(
        f"{pn_sandbox.url}/_sandbox/powernaut/bids/{bid_id}/activate",
        json={"value": None},
    ) as response:
        assert response.status == 200
    await pn_sandbox.webhooks.wait_idle()
    assert hook.bodies == [{"id": bid_id}] * 2
    cancelled = await client.get_activation(bid_id)
    assert cancelled is not None
    assert cancelled.event_id == event.event_id
    assert (cancelled.windows, cancelled.raw_type) == ((), CANCELLED_ACTIVATION)
    assert cancelled.created_at >= event.created_at

    await client.set_resource_webhook(resource_id, None)
    assert "webhooks" not in pn_sandbox.state.powernaut.resources[resource_id]
