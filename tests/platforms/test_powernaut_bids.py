"""The Powernaut client's bids against the sandbox: wire form, update in place, reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import aiohttp
import pytest

from custom_components.gridflex.platforms import PowernautClient
from custom_components.gridflex.platforms.bids import (
    BidPoint,
    BidReport,
    BidRequest,
    BidStatus,
)
from custom_components.gridflex.platforms.errors import (
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
)
from sandbox import SandboxServer

from .powernaut_sandbox import running_sandbox, site_with_battery

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture
async def pn_sandbox(socket_enabled: None) -> AsyncIterator[SandboxServer]:
    """Run the sandbox; fail the test on any request it refused as invalid."""
    async for server in running_sandbox():
        yield server


async def _battery(
    pn_sandbox: SandboxServer, session: aiohttp.ClientSession
) -> tuple[PowernautClient, str]:
    return await site_with_battery(pn_sandbox, session, Decimal(10))


def _next_quarter() -> datetime:
    now = datetime.now(UTC)
    return now.replace(
        minute=now.minute - now.minute % 15, second=0, microsecond=0
    ) + timedelta(minutes=15)


async def test_place_update_list_delete_and_report(
    pn_sandbox: SandboxServer, session: aiohttp.ClientSession
) -> None:
    """A bid goes out as decimal strings, is updated in place, and reads back."""
    client, resource_id = await _battery(pn_sandbox, session)
    start = _next_quarter()
    end = start + timedelta(minutes=15)
    request = BidRequest(
        start=start,
        end=end,
        curve=(
            BidPoint(Decimal("-3.800"), Decimal("0.25")),
            BidPoint(Decimal(5), Decimal("0.123450")),
        ),
        expires_at=start + timedelta(minutes=5),
    )
    bid = await client.place_bid(resource_id, request)
    stored = pn_sandbox.state.powernaut.bids[bid.bid_id]
    assert stored["curve"] == [
        {"value": "-3.8", "price": "0.25"},
        {"value": "5.0", "price": "0.12345"},
    ]
    assert (bid.start, bid.end, bid.status) == (start, end, BidStatus.OPEN)
    assert bid.curve == request.curve
    assert bid.expires_at == request.expires_at

    # The same window again: the same bid, changed in place.
    changed = await client.place_bid(
        resource_id,
        BidRequest(start=start, end=end, curve=(BidPoint(Decimal("2.5")),)),
    )
    assert changed.bid_id == bid.bid_id
    assert changed.curve == (BidPoint(Decimal("2.5")),)
    assert changed.expires_at is None
    assert [b.bid_id for b in await client.list_bids(BidStatus.OPEN)] == [bid.bid_id]

    async with session.post(
        f"{pn_sandbox.url}/_sandbox/powernaut/bids/{bid.bid_id}/activate",
        json={"value": "2.5", "price": "0.3"},
    ) as response:
        assert response.status == 200
    async with session.post(
        f"{pn_sandbox.url}/_sandbox/powernaut/bids/{bid.bid_id}/report",
        json={"energy_requested": "0.625", "energy_delivered": "0.6"},
    ) as response:
        assert response.status == 200
    (accepted,) = await client.list_bids(BidStatus.ACCEPTED)
    assert accepted.status is BidStatus.ACCEPTED
    assert (accepted.activation_power_kw, accepted.activation_price) == (
        Decimal("2.5"),
        Decimal("0.3"),
    )
    assert accepted.report == BidReport(Decimal("0.625"), Decimal("0.6"), None)
    with pytest.raises(GridFlexRequestRejectedError) as refused:
        await client.delete_bid(bid.bid_id)
    assert refused.value.status == 409

    other = await client.place_bid(
        resource_id,
        BidRequest(
            start=end, end=end + timedelta(minutes=15), curve=(BidPoint(Decimal(1)),)
        ),
    )
    await client.delete_bid(other.bid_id)
    with pytest.raises(GridFlexNotFoundError):
        await client.delete_bid(other.bid_id)


@pytest.mark.parametrize(
    ("shift", "length", "expiry", "points"),
    [
        (timedelta(minutes=1), timedelta(minutes=15), None, 1),
        (timedelta(0), timedelta(minutes=30), None, 1),
        (timedelta(0), timedelta(minutes=15), timedelta(minutes=16), 1),
        (timedelta(0), timedelta(minutes=15), timedelta(0), 1),
        (timedelta(0), timedelta(minutes=15), None, 0),
        (timedelta(0), timedelta(minutes=15), None, 101),
    ],
)
async def test_refused_before_sending(
    pn_sandbox: SandboxServer,
    session: aiohttp.ClientSession,
    shift: timedelta,
    length: timedelta,
    expiry: timedelta | None,
    points: int,
) -> None:
    """Unaligned or long windows, expiry outside the window, 0 or 101 points."""
    client, resource_id = await _battery(pn_sandbox, session)
    start = _next_quarter() + shift
    request = BidRequest(
        start=start,
        end=start + length,
        curve=tuple(BidPoint(Decimal(1)) for _ in range(points)),
        expires_at=None if expiry is None else start + expiry,
    )
    sent = len(pn_sandbox.state.requests)
    with pytest.raises(GridFlexRequestRejectedError):
        await client.place_bid(resource_id, request)
    assert len(pn_sandbox.state.requests) == sent
    assert pn_sandbox.state.powernaut.bids == {}
