"""Energy Coordination reports in the sandbox: acknowledgements and energy usage."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import EC_BASE, MPID, MPID_2, Client, ec_partner

if TYPE_CHECKING:
    from sandbox import SandboxServer

REPORTS = f"{EC_BASE}/reports"


def _lpc(payload_type: str = "LocationLPC", **extra: str) -> dict[str, Any]:
    return {
        "targets": [
            {
                "locationId": "home",
                "meterPointId": MPID,
                "resolution": "01:00:00",
                "points": [
                    {
                        "maxPowerInKiloWatts": 3.5,
                        "timestamp": "2024-09-12T11:00:00+00:00",
                    },
                    {
                        "maxPowerInKiloWatts": 3.0,
                        "timestamp": "2024-09-12T12:00:00+00:00",
                    },
                ],
                **extra,
            }
        ],
        "payloadType": payload_type,
    }


async def _event(client: Client, payload: dict[str, Any]) -> str:
    event = await client.control(
        "POST", "/energy_coordination/events", {"payload": payload}
    )
    return str(event["id"])


USAGE: dict[str, Any] = {
    "locationId": "home",
    "meterPointId": MPID,
    "points": [
        {"kiloWattHours": 72, "timestamp": "2024-09-12T11:00:00+00:00"},
        {"kiloWattHours": 7.9, "timestamp": "2024-09-12T12:00:00.000Z"},
    ],
    "resolution": "01:00:00",
    "payloadType": "LocationEnergyUsage",
}


@pytest.mark.parametrize(
    "payload_type", ["LocationLPCAcknowledgement", "LocationLPCAcknowledged"]
)
async def test_location_acknowledgement_and_usage(
    client: Client, sandbox: SandboxServer, payload_type: str
) -> None:
    """Acknowledgements (either spelling) and energy usage are accepted and stored."""
    headers = await client.energy_coordination_headers()
    event_id = await _event(client, _lpc())
    for ack in (
        {"payloadType": payload_type},
        {
            "payloadType": payload_type,
            "acknowledgedTargets": [{"locationId": "home", "meterPointId": MPID}],
            "declinedTargets": [],
        },
    ):
        status, body, _ = await client.request(
            "POST",
            REPORTS,
            json={"eventId": event_id, "payloads": [ack]},
            headers=headers,
        )
        assert status == 200, body
        assert set(body) == {"id", "eventId", "createdAt"}
        assert body["eventId"] == event_id

    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": event_id, "payloads": [USAGE]},
        headers=headers,
    )
    assert status == 200, body

    store = sandbox.state.energy_coordination
    assert len(store.reports_for(event_id)) == 3
    assert store.count_payloads(event_id, "LocationLPCAcknowledgement") == 2
    assert store.count_payloads(event_id, "LocationEnergyUsage") == 1
    assert store.reports[-1]["body"] == {"eventId": event_id, "payloads": [USAGE]}
    assert store.reports[0]["payloadTypes"] == ["LocationLPCAcknowledgement"]


async def test_reservation_plan_and_resource_reports(
    client: Client, sandbox: SandboxServer
) -> None:
    """LPCReservation takes location payloads; ResourceLPC and PriceCurve take resource ones."""
    headers = await client.energy_coordination_headers()
    reservation = await _event(client, _lpc("LPCReservation"))
    plan = {
        "locationId": "home",
        "meterPointId": MPID,
        "resolution": "01:00:00",
        "baseline": [{"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": 4}],
        "flexibility": [
            {"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": -1.5}
        ],
        "payloadType": "LocationEnergyUsagePlan",
    }
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": reservation, "payloads": [plan, USAGE]},
        headers=headers,
    )
    assert status == 200, body

    resource_event = await _event(client, _lpc("ResourceLPC", resourceId="hp-1"))
    ack = {
        "payloadType": "ResourceLPCAcknowledged",
        "acknowledgedTargets": [],
        "declinedTargets": [
            {"meterPointId": MPID, "locationId": "home", "resourceId": "hp-1"}
        ],
    }
    usage = {
        "resourceId": "hp-1",
        "locationId": None,
        "meterPointId": MPID,
        "points": [{"timestamp": "2024-09-12T12:00:00+00:00", "kiloWattHours": 0}],
        "resolution": "01:00:00",
        "curvePoints": None,
        "payloadType": "EnergyUsage",
    }
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": resource_event, "payloads": [ack]},
        headers=headers,
    )
    assert status == 200, body
    # Location usage belongs to location events: a resource event is
    # answered per resource.
    for payloads in ([USAGE, usage], [plan], [LOCATION_ACK]):
        status, body, _ = await client.request(
            "POST",
            REPORTS,
            json={"eventId": resource_event, "payloads": payloads},
            headers=headers,
        )
        assert status == 400
        assert "does not apply to a ResourceLPC event" in body
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": resource_event, "payloads": [usage]},
        headers=headers,
    )
    assert status == 200, body
    store = sandbox.state.energy_coordination
    assert store.count_payloads(resource_event, "ResourceLPCAcknowledgement") == 1
    assert store.count_payloads(resource_event, "EnergyUsage") == 1
    assert store.count_payloads(resource_event, "LocationEnergyUsage") == 0

    price = await _event(
        client,
        {
            "targets": [{"resourceId": "hp-1", "locationId": "home"}],
            "priceCurveDelta": {
                "points": [{"price": 1.0, "timestamp": "2024-09-12T12:00:00+00:00"}],
                "energyUnit": "kWh",
                "currency": "NOK",
                "resolution": "01:00:00",
            },
            "priceArea": "NO1",
            "payloadType": "PriceCurve",
        },
    )
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": price, "payloads": [{**usage, "meterPointId": None}]},
        headers=headers,
    )
    assert status == 200, body


async def test_simulated_event_report(client: Client) -> None:
    """A simulated LPC event can be acknowledged and reported on its own hours."""
    headers = await ec_partner(client, resources=False)
    status, body, _ = await client.request(
        "POST", f"{EC_BASE}/simulation/events/lpc/locations", json={}, headers=headers
    )
    event = body["simulatedEvent"]
    hours = [p["timestamp"] for p in event["payload"]["targets"][0]["points"]]
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={
            "eventId": event["id"],
            "payloads": [
                {
                    "payloadType": "LocationLPCAcknowledgement",
                    "acknowledgedTargets": [
                        {"locationId": "home", "meterPointId": MPID}
                    ],
                },
                {**USAGE, "points": [{"timestamp": hours[-1], "kiloWattHours": 1.25}]},
            ],
        },
        headers=headers,
    )
    assert status == 200, body


def _with(payload: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(payload)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


_DROP = object()
LOCATION_ACK = {
    "payloadType": "LocationLPCAcknowledgement",
    "acknowledgedTargets": [{"locationId": "home", "meterPointId": MPID}],
}


@pytest.mark.parametrize(
    ("payloads", "why"),
    [
        ([_with(USAGE, ("extra",), 1)], "unknown field"),
        ([_with(USAGE, ("points", 0, "extra"), 1)], "unknown point field"),
        ([_with(USAGE, ("resolution",), "00:15:00")], "resolution"),
        ([_with(USAGE, ("resolution",), _DROP)], "resolution missing"),
        ([_with(USAGE, ("meterPointId",), _DROP)], "meter point missing"),
        ([_with(USAGE, ("meterPointId",), None)], "meter point null"),
        (
            [_with(USAGE, ("points", 0, "timestamp"), "2024-09-12T12:00:00+01:00")],
            "not UTC",
        ),
        (
            [_with(USAGE, ("points", 0, "timestamp"), "2024-09-12T11:30:00+00:00")],
            "not an hour start",
        ),
        (
            [_with(USAGE, ("points", 0, "timestamp"), "2024-09-12T11:00:00")],
            "no offset",
        ),
        (
            [_with(USAGE, ("points", 0, "timestamp"), "2024-09-12T12:00:00+00:00")],
            "duplicate",
        ),
        (
            [_with(USAGE, ("points", 0, "timestamp"), "2024-09-12T10:00:00+00:00")],
            "outside the event",
        ),
        ([_with(USAGE, ("points", 0, "kiloWattHours"), -1)], "negative"),
        ([_with(USAGE, ("points", 0, "kiloWattHours"), "72")], "string"),
        ([_with(USAGE, ("points", 0, "kiloWattHours"), True)], "boolean"),
        ([_with(USAGE, ("meterPointId",), MPID_2)], "not a target"),
        ([_with(USAGE, ("locationId",), "cabin")], "not a target location"),
        ([USAGE, USAGE], "same target twice"),
        ([_with(USAGE, ("payloadType",), "LocationEnergyUsages")], "unknown type"),
        ([_with(USAGE, ("payloadType",), _DROP)], "no type"),
        (
            [
                {
                    "resourceId": "hp-1",
                    "points": USAGE["points"],
                    "resolution": "01:00:00",
                    "payloadType": "EnergyUsage",
                }
            ],
            "resource payload on a location event",
        ),
        (
            [_with(LOCATION_ACK, ("acknowledgedTargets", 0, "meterPointId"), MPID_2)],
            "ack of a foreign target",
        ),
        (
            [_with(LOCATION_ACK, ("acknowledgedTargets", 0, "meterPointId"), _DROP)],
            "ack target incomplete",
        ),
        (
            [{**LOCATION_ACK, "declinedTargets": LOCATION_ACK["acknowledgedTargets"]}],
            "acked and declined",
        ),
        (
            [
                {
                    "payloadType": "ResourceLPCAcknowledgement",
                    "acknowledgedTargets": [
                        {
                            "locationId": "home",
                            "meterPointId": MPID,
                            "resourceId": "hp-1",
                        }
                    ],
                }
            ],
            "wrong ack kind",
        ),
        ([{**LOCATION_ACK, "acknowledged": True}], "ack unknown field"),
        ([LOCATION_ACK, LOCATION_ACK], "two acks"),
        ([], "no payloads"),
        ("x", "payloads not an array"),
        (["x"], "payload not an object"),
    ],
)
async def test_report_violations(
    client: Client, sandbox: SandboxServer, payloads: Any, why: str
) -> None:
    """Every violation is 400 with a JSON string and a recorded violation."""
    headers = await client.energy_coordination_headers()
    event_id = await _event(client, _lpc())
    status, body, resp = await client.request(
        "POST",
        REPORTS,
        json={"eventId": event_id, "payloads": payloads},
        headers=headers,
    )
    assert (status, resp.content_type) == (400, "application/json"), why
    assert isinstance(body, str), why
    assert sandbox.state.energy_coordination.reports == []
    assert sandbox.state.violations[-1]["path"] == REPORTS


async def test_report_event_and_body_rules(
    client: Client, sandbox: SandboxServer
) -> None:
    """The event must exist; eventId is required; unknown top-level fields are 400."""
    headers = await client.energy_coordination_headers()
    event_id = await _event(client, _lpc())
    eligibility = await _event(
        client,
        {
            "lastUpdated": "2026-01-01T00:00:00+00:00",
            "addedUsers": [],
            "removedUsers": [],
            "payloadType": "UserEligibility",
        },
    )
    for body in (
        {"eventId": "nope", "payloads": [USAGE]},
        {"eventId": None, "payloads": [USAGE]},
        {"payloads": [USAGE]},
        {"eventId": event_id},
        {"eventId": event_id, "payloads": [USAGE], "note": "x"},
        {"eventId": eligibility, "payloads": [LOCATION_ACK]},
        [USAGE],
    ):
        status, answer, _ = await client.request(
            "POST", REPORTS, json=body, headers=headers
        )
        assert status == 400, body
        assert isinstance(answer, str)
    status, answer, _ = await client.request(
        "POST",
        REPORTS,
        data="not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert status == 400
    status, answer, _ = await client.request(
        "POST", REPORTS, json={"eventId": event_id, "payloads": [USAGE]}
    )
    assert (status, answer) == (401, None)
    assert sandbox.state.energy_coordination.reports == []


PLAN: dict[str, Any] = {
    "locationId": "home",
    "meterPointId": MPID,
    "resolution": "01:00:00",
    "baseline": [
        {"timestamp": "2024-09-12T11:00:00.000Z", "kiloWattHours": 5},
        {"timestamp": "2024-09-12T12:00:00.000Z", "kiloWattHours": 4.5},
    ],
    "flexibility": [
        {"timestamp": "2024-09-12T11:00:00.000Z", "kiloWattHours": 1.5},
        {"timestamp": "2024-09-12T12:00:00.000Z", "kiloWattHours": 0},
    ],
    "payloadType": "LocationEnergyUsagePlan",
}


@pytest.mark.parametrize(
    ("payload", "accepted", "why"),
    [
        (PLAN, True, "as GridFlex sends it"),
        # No documented bound: a home that exports has a negative net baseline,
        # and nothing says flexibility stays below the baseline.
        (_with(PLAN, ("baseline", 0, "kiloWattHours"), -2), True, "negative baseline"),
        (_with(PLAN, ("flexibility", 1, "kiloWattHours"), 9), True, "above baseline"),
        (_with(PLAN, ("flexibility",), _DROP), False, "flexibility missing"),
        (_with(PLAN, ("baseline",), _DROP), False, "baseline missing"),
        (_with(PLAN, ("points",), []), False, "a usage field"),
        (_with(PLAN, ("resolution",), "02:00:00"), False, "the spec's example"),
        (
            _with(PLAN, ("baseline", 0, "timestamp"), "2024-09-12T10:00:00.000Z"),
            False,
            "hour outside the event",
        ),
        (
            _with(PLAN, ("flexibility", 0, "timestamp"), "2024-09-12T13:00:00.000Z"),
            False,
            "flexibility hour outside the event",
        ),
        (_with(PLAN, ("meterPointId",), MPID_2), False, "not a target"),
        (_with(PLAN, ("baseline", 0, "kiloWattHours"), "5"), False, "a string"),
    ],
)
async def test_usage_plan_rules(
    client: Client, sandbox: SandboxServer, payload: Any, accepted: bool, why: str
) -> None:
    """A plan: the spec's fields, the event's target and hours, no invented bounds."""
    headers = await client.energy_coordination_headers()
    event_id = await _event(client, _lpc())
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": event_id, "payloads": [payload]},
        headers=headers,
    )
    assert (status == 200) is accepted, (why, body)
    assert bool(sandbox.state.violations) is not accepted, why
    sandbox.state.violations.clear()


async def test_usage_plan_only_for_location_events(
    client: Client, sandbox: SandboxServer
) -> None:
    """A ResourceLPC event takes no plan; a second plan on one event is a duplicate."""
    headers = await client.energy_coordination_headers()
    resource_event = await _event(client, _lpc("ResourceLPC", resourceId="hp-1"))
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={"eventId": resource_event, "payloads": [PLAN]},
        headers=headers,
    )
    assert status == 400, body
    assert "does not apply to a ResourceLPC event" in body
    sandbox.state.violations.clear()

    event_id = await _event(client, _lpc())
    for _ in range(2):
        status, body, _ = await client.request(
            "POST",
            REPORTS,
            json={"eventId": event_id, "payloads": [PLAN]},
            headers=headers,
        )
        assert status == 200, body
    store = sandbox.state.energy_coordination
    assert store.duplicate_reports() == {event_id: {"LocationEnergyUsagePlan": 2}}
