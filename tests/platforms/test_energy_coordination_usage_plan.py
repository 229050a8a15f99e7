"""The Energy Coordination client's energy usage plan (``LocationEnergyUsagePlan``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from custom_components.gridflex.platforms import GridFlexRequestRejectedError
from custom_components.gridflex.platforms.base import UsagePlanTaker
from custom_components.gridflex.platforms.models import GridEventKind

from .conftest import FakePlatform, reply
from .test_energy_coordination_events import (
    EVENT_ID,
    GSRN,
    OSLO,
    REPORTS,
    SITE_ID,
    TOKEN,
    USER_ID,
    _client,
    _lpc_event,
    utc,
)

if TYPE_CHECKING:
    import aiohttp


@pytest.fixture(autouse=True)
def _token(fake: FakePlatform) -> None:
    fake.on("POST", TOKEN, reply(fixture="ec_token"))


async def test_usage_plan_wire_body(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """One payload of the spec's shape: UTC hour starts, kWh as JSON numbers."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    client = _client(fake, session)
    assert isinstance(client, UsagePlanTaker)
    assert client.capabilities.usage_plans
    report_id = await client.send_usage_plan(
        SITE_ID,
        _lpc_event(),
        [
            # Given in local time and out of order: sent in UTC, oldest first.
            (datetime(2026, 10, 24, 20, tzinfo=OSLO), Decimal("2.50"), Decimal(0)),
            (utc(2026, 10, 24, 17), Decimal("4.125"), Decimal("0.6")),
        ],
    )
    assert report_id == "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
    (report,) = fake.sent("POST", REPORTS)
    assert report.json() == {
        "eventId": EVENT_ID,
        "payloads": [
            {
                "locationId": USER_ID,
                "meterPointId": GSRN,
                "resolution": "01:00:00",
                "baseline": [
                    {"timestamp": "2026-10-24T17:00:00.000Z", "kiloWattHours": 4.125},
                    {"timestamp": "2026-10-24T18:00:00.000Z", "kiloWattHours": 2.5},
                ],
                "flexibility": [
                    {"timestamp": "2026-10-24T17:00:00.000Z", "kiloWattHours": 0.6},
                    {"timestamp": "2026-10-24T18:00:00.000Z", "kiloWattHours": 0},
                ],
                "payloadType": "LocationEnergyUsagePlan",
            }
        ],
    }
    assert b'"kiloWattHours": 0}' in report.body  # a number, not a string


@pytest.mark.parametrize(
    ("event_fields", "hours", "match"),
    [
        (
            {"resource_ids": ("gridflex-charger",), "raw_type": "ResourceLPC"},
            [(utc(2026, 10, 24, 17), Decimal(1), Decimal(0))],
            "location LPC events only",
        ),
        (
            {"kind": GridEventKind.PRICE_CURVE, "windows": ()},
            [(utc(2026, 10, 24, 17), Decimal(1), Decimal(0))],
            "location LPC events only",
        ),
        ({}, [], "No hours"),
        (
            {},
            [(utc(2026, 10, 24, 17), Decimal(1), Decimal("1.5"))],
            "above its baseline",
        ),
        ({}, [(utc(2026, 10, 24, 17), Decimal(-1), Decimal(0))], "negative"),
        (
            {},
            [(utc(2026, 10, 24, 17, 30), Decimal(1), Decimal(0))],
            "start of a UTC hour",
        ),
        (
            {},
            [
                (utc(2026, 10, 24, 17), Decimal(1), Decimal(0)),
                (utc(2026, 10, 24, 17), Decimal(2), Decimal(0)),
            ],
            "given twice",
        ),
        ({}, [(utc(2026, 10, 24, 17), Decimal("NaN"), Decimal(0))], "finite"),
    ],
)
async def test_usage_plan_refused_unsent(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    event_fields: dict[str, object],
    hours: list[tuple[datetime, Decimal, Decimal]],
    match: str,
) -> None:
    """What the plan cannot say is refused before anything is sent."""
    with pytest.raises(GridFlexRequestRejectedError, match=match):
        await _client(fake, session).send_usage_plan(
            SITE_ID, _lpc_event(**event_fields), hours
        )
    assert fake.requests == []


async def test_usage_plan_reads_meter_point_of_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An event without a meter point is planned for the location's."""
    fake.on("POST", REPORTS, reply(fixture="ec_report_created"))
    hour = utc(2026, 10, 24, 17)
    await _client(fake, session).send_usage_plan(
        SITE_ID,
        _lpc_event(meter_point_id=None),
        [(hour + timedelta(hours=h), Decimal(1), Decimal(0)) for h in range(2)],
    )
    (report,) = fake.sent("POST", REPORTS)
    assert report.json()["payloads"][0]["meterPointId"] == GSRN
