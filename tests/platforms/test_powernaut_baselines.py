"""Powernaut client: baselines as CreateBaselineDto, refused before sending when wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from custom_components.gridflex.platforms import (
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
)
from custom_components.gridflex.platforms.base import BaselineTaker

from .conftest import FakePlatform, reply
from .test_powernaut import BATTERY, BATTERY_ID, SITE, SITE_ID, _client, token_route

if TYPE_CHECKING:
    import aiohttp

START = datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
# A token for every test, as in test_powernaut.
__all__ = ["token_route"]


async def test_site_and_resource_baseline(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Decimal strings with a dot (watts at most), UTC ``Z``, skip activated windows."""
    fake.on("POST", f"{SITE}/baseline", reply(201))
    fake.on("POST", f"{BATTERY}/baseline", reply(201))
    client = _client(fake, session)
    assert isinstance(client, BaselineTaker)
    assert client.capabilities.baselines
    values = [Decimal(0), Decimal("1.23456"), Decimal(-7), Decimal("12.5")]
    # An offset start is sent as UTC.
    await client.post_site_baseline(
        SITE_ID, START.astimezone(timezone(timedelta(hours=1))), values
    )
    await client.post_resource_baseline(BATTERY_ID, START, values[:1])
    assert fake.sent("POST", f"{SITE}/baseline")[0].json() == {
        "start": "2026-12-07T10:15:00Z",
        "power_type": "active",
        "values": ["0.0", "1.235", "-7.0", "12.5"],
        "skip_activated_windows": True,
    }
    assert fake.sent("POST", f"{BATTERY}/baseline")[0].json()["values"] == ["0.0"]


@pytest.mark.parametrize(
    ("start", "count"),
    [
        (START + timedelta(minutes=5), 1),
        (START + timedelta(seconds=1), 1),
        (START.replace(tzinfo=None), 1),
        (START, 0),
        (START, 193),
    ],
)
async def test_refused_before_sending(
    fake: FakePlatform, session: aiohttp.ClientSession, start: datetime, count: int
) -> None:
    """Off the quarter-hour, naive, or not 1 to 192 values: nothing is sent."""
    client = _client(fake, session)
    with pytest.raises(GridFlexRequestRejectedError):
        await client.post_site_baseline(SITE_ID, start, [Decimal(1)] * count)
    assert fake.requests == []


async def test_unknown_site(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """A site the platform no longer has is a not-found error."""
    fake.on(
        "POST",
        f"{SITE}/baseline",
        reply(
            404,
            body={
                "message": "Site does not exist",
                "error": "Not Found",
                "status_code": 404,
            },
        ),
    )
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).post_site_baseline(SITE_ID, START, [Decimal(1)])
