"""Energy Coordination events and their simulation in the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import itertools
from typing import TYPE_CHECKING, Any

import pytest
from sandbox_helpers import EC_BASE, MPID, MPID_2, Client, ec_partner

if TYPE_CHECKING:
    from sandbox import SandboxServer

SIM = f"{EC_BASE}/simulation/events"
LPC_EVENT: dict[str, Any] = {
    "targets": [
        {
            "locationId": "home",
            "meterPointId": MPID,
            "resolution": "01:00:00",
            "points": [
                {"maxPowerInKiloWatts": 3.5, "timestamp": "2026-03-03T12:00:00+00:00"},
                {"maxPowerInKiloWatts": 3.0, "timestamp": "2026-03-03T13:00:00+00:00"},
            ],
        }
    ],
    "payloadType": "LocationLPC",
}


def _next_hour() -> datetime:
    now = datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


async def test_location_lpc_simulation_defaults(
    client: Client, sandbox: SandboxServer
) -> None:
    """An empty body targets every meter point: one event each, hourly points from the next hour."""
    headers = await ec_partner(client, meter_points=(MPID, MPID_2), resources=False)
    before = _next_hour()
    status, body, resp = await client.request(
        "POST", f"{SIM}/lpc/locations", json={}, headers=headers
    )
    assert status == 200, body
    event = body["simulatedEvent"]
    assert set(event) == {"id", "createdAt", "payload"}
    assert event["payload"]["payloadType"] == "LocationLPC"
    [target] = event["payload"]["targets"]
    assert (target["locationId"], target["meterPointId"], target["resolution"]) == (
        "home",
        MPID,
        "01:00:00",
    )
    stamps = [datetime.fromisoformat(p["timestamp"]) for p in target["points"]]
    assert len(stamps) == 4
    assert stamps[0] in (before, before + timedelta(hours=1))
    assert [b - a for a, b in itertools.pairwise(stamps)] == [timedelta(hours=1)] * 3
    assert all(p["maxPowerInKiloWatts"] > 0 for p in target["points"])

    ids = resp.headers["X-Sandbox-Event-Ids"].split(",")
    assert ids[0] == event["id"]
    assert len(ids) == 2
    events = sandbox.state.energy_coordination.events
    assert [events[i]["payload"]["targets"][0]["meterPointId"] for i in ids] == [
        MPID,
        MPID_2,
    ]


async def test_location_lpc_simulation_given(client: Client) -> None:
    """Given locations and points are used as they are; errors are 400."""
    headers = await ec_partner(client, meter_points=(MPID, MPID_2), resources=False)
    points = [{"maxPowerInKiloWatts": 2.5, "timestamp": "2026-11-22T10:00:00Z"}]
    status, body, resp = await client.request(
        "POST",
        f"{SIM}/lpc/locations",
        json={
            "locations": [
                {
                    "location": {"locationId": "home", "meterPointId": MPID_2},
                    "points": points,
                }
            ]
        },
        headers=headers,
    )
    assert status == 200, body
    assert body["simulatedEvent"]["payload"]["targets"] == [
        {
            "locationId": "home",
            "meterPointId": MPID_2,
            "resolution": "01:00:00",
            "points": points,
        }
    ]
    assert resp.headers["X-Sandbox-Event-Ids"] == body["simulatedEvent"]["id"]

    # Shape errors: problem+json.
    for bad in (
        {
            "locations": [{"location": {"locationId": "home", "meterPointId": MPID}}],
            "x": 1,
        },
        {"locations": [{"location": {"locationId": "home", "mpid": MPID}}]},
        {"locations": [{"location": {"locationId": "home"}}]},
        {"locations": "home"},
        {
            "locations": [
                {
                    "location": {"locationId": "home", "meterPointId": MPID},
                    "points": [
                        {"maxPowerInKiloWatts": -1, "timestamp": "2026-11-22T10:00:00Z"}
                    ],
                }
            ]
        },
        {
            "locations": [
                {
                    "location": {"locationId": "home", "meterPointId": MPID},
                    "points": [
                        {"maxPowerInKiloWatts": 1, "timestamp": "2026-11-22T10:30:00Z"}
                    ],
                }
            ]
        },
        [],
    ):
        status, body, resp = await client.request(
            "POST", f"{SIM}/lpc/locations", json=bad, headers=headers
        )
        assert status == 400, bad
        assert resp.content_type == "application/problem+json", bad
        assert body["status"] == 400
        assert body["errors"], bad

    # References to partner data: a JSON string.
    for bad in (
        {
            "locations": [
                {"location": {"locationId": "elsewhere", "meterPointId": MPID}}
            ]
        },
        {
            "locations": [
                {
                    "location": {
                        "locationId": "home",
                        "meterPointId": "707057500000000009",
                    }
                }
            ]
        },
        {
            "locations": [
                {"location": {"locationId": "home", "meterPointId": MPID}},
                {"location": {"locationId": "home", "meterPointId": MPID}},
            ]
        },
    ):
        status, body, resp = await client.request(
            "POST", f"{SIM}/lpc/locations", json=bad, headers=headers
        )
        assert (status, resp.content_type) == (400, "application/json"), bad
        assert isinstance(body, str)


async def test_simulation_without_partner_data(client: Client) -> None:
    """LPC simulations need something to target; a price curve then has no targets."""
    headers = await client.energy_coordination_headers()
    for path in ("lpc/locations", "lpc/resources"):
        status, body, _ = await client.request(
            "POST", f"{SIM}/{path}", json={}, headers=headers
        )
        assert status == 400
        assert isinstance(body, str)
    status, body, _ = await client.request(
        "POST", f"{SIM}/pricecurve", json={}, headers=headers
    )
    assert status == 200
    assert body["simulatedEvent"]["payload"]["targets"] == []
    # The body is required (a missing body is 400), and auth as always.
    status, _, _ = await client.request("POST", f"{SIM}/lpc/locations", headers=headers)
    assert status == 400
    status, body, _ = await client.request("POST", f"{SIM}/lpc/locations", json={})
    assert (status, body) == (401, None)


async def test_resource_lpc_simulation(client: Client) -> None:
    """Resources get one event with a target each; meter points come from the resource or its location."""
    headers = await ec_partner(client, meter_points=(MPID, MPID_2))
    status, body, _ = await client.request(
        "POST", f"{SIM}/lpc/resources", json={}, headers=headers
    )
    assert status == 200, body
    payload = body["simulatedEvent"]["payload"]
    assert payload["payloadType"] == "ResourceLPC"
    assert [
        (
            t["resourceId"],
            t["locationId"],
            t["meterPointId"],
            t["resolution"],
            len(t["points"]),
        )
        for t in payload["targets"]
    ] == [("hp-1", "home", MPID, "01:00:00", 4), ("ev-1", "home", MPID, "01:00:00", 4)]

    status, body, _ = await client.request(
        "POST",
        f"{SIM}/lpc/resources",
        json={
            "resources": [{"resource": {"resourceId": "ev-1", "locationId": "home"}}]
        },
        headers=headers,
    )
    assert status == 200, body
    assert [t["resourceId"] for t in body["simulatedEvent"]["payload"]["targets"]] == [
        "ev-1"
    ]
    for bad in (
        {"resources": [{"resource": {"resourceId": "nope"}}]},
        {"resources": [{"resource": {"resourceId": "hp-1", "locationId": "other"}}]},
        {"resources": [{"resource": {"resourceId": "hp-1", "meterPointId": MPID_2}}]},
    ):
        status, body, resp = await client.request(
            "POST", f"{SIM}/lpc/resources", json=bad, headers=headers
        )
        assert (status, resp.content_type) == (400, "application/json"), bad
    status, body, resp = await client.request(
        "POST",
        f"{SIM}/lpc/resources",
        json={"resources": [{"resource": {"resourceId": "hp-1", "kind": "x"}}]},
        headers=headers,
    )
    assert (status, resp.content_type) == (400, "application/problem+json")
    assert body["errors"] == {
        "$.resources[0].resource.kind": ["is not allowed (additionalProperties: false)"]
    }


@pytest.mark.parametrize("path", ["pricecurve", "priceCurve"])
async def test_price_curve_simulation(client: Client, path: str) -> None:
    """Price curves: generated by default, given fields kept; both path spellings."""
    headers = await ec_partner(client)
    status, body, _ = await client.request(
        "POST", f"{SIM}/{path}", json={}, headers=headers
    )
    assert status == 200, body
    payload = body["simulatedEvent"]["payload"]
    assert payload["payloadType"] == "PriceCurve"
    assert payload["targets"] == [
        {"resourceId": "hp-1", "locationId": "home"},
        {"resourceId": "ev-1", "locationId": "home"},
    ]
    curve = payload["priceCurveDelta"]
    assert (curve["energyUnit"], curve["currency"], curve["resolution"]) == (
        "kWh",
        "NOK",
        "01:00:00",
    )
    assert len(curve["points"]) == 24
    assert payload["priceArea"] == "NO1"

    given = {
        "targets": [{"resourceId": "ev-1", "locationId": "home"}],
        "priceCurveDelta": {
            "points": [{"price": 1.25, "timestamp": "2026-03-04T00:00:00+00:00"}],
            "currency": "EUR",
        },
        "priceArea": "NO5",
    }
    status, body, _ = await client.request(
        "POST", f"{SIM}/{path}", json=given, headers=headers
    )
    assert status == 200, body
    payload = body["simulatedEvent"]["payload"]
    assert payload["targets"] == given["targets"]
    assert payload["priceCurveDelta"] == {
        "points": given["priceCurveDelta"]["points"],
        "energyUnit": "kWh",
        "currency": "EUR",
        "resolution": "01:00:00",
    }
    assert payload["priceArea"] == "NO5"

    for bad in (
        {"priceArea": "NO9"},
        {"priceCurveDelta": {"currency": "USD"}},
        {"targets": [{"resourceId": "ev-1"}]},
        {"priceCurve": {}},
    ):
        status, body, resp = await client.request(
            "POST", f"{SIM}/{path}", json=bad, headers=headers
        )
        assert (status, resp.content_type) == (400, "application/problem+json"), bad
    status, body, resp = await client.request(
        "POST",
        f"{SIM}/{path}",
        json={"targets": [{"resourceId": "ev-1", "locationId": "cabin"}]},
        headers=headers,
    )
    assert (status, resp.content_type) == (400, "application/json")


async def test_user_eligibility_simulation(client: Client) -> None:
    """User eligibility lists the registered users as added; no body needed."""
    headers = await ec_partner(client, resources=False)
    status, body, _ = await client.request(
        "POST", f"{SIM}/usereligibility", headers=headers
    )
    assert status == 200, body
    payload = body["simulatedEvent"]["payload"]
    assert payload["payloadType"] == "UserEligibility"
    assert (payload["addedUsers"], payload["removedUsers"]) == (["u1"], [])
    assert datetime.fromisoformat(payload["lastUpdated"]).tzinfo is not None


async def test_events_list_and_get(client: Client, sandbox: SandboxServer) -> None:
    """Events are listed newest first with Spark's pagination; one can be fetched by id."""
    headers = await ec_partner(client)
    ids = []
    for path in ("usereligibility", "pricecurve", "lpc/resources"):
        status, body, _ = await client.request(
            "POST", f"{SIM}/{path}", json={}, headers=headers
        )
        assert status == 200, body
        ids.append(body["simulatedEvent"]["id"])
    old = await client.control(
        "POST",
        "/energy_coordination/events",
        {"payload": LPC_EVENT, "createdAt": "2020-01-01T00:00:00+00:00"},
    )

    status, body, _ = await client.request("GET", f"{EC_BASE}/events", headers=headers)
    assert status == 200
    assert [event["id"] for event in body["events"]] == [*reversed(ids), old["id"]]
    assert body["pagination"] == {
        "totalRecords": 4,
        "pageSize": 100,
        "currentPage": 1,
        "totalPages": 1,
        "nextPage": None,
        "previousPage": None,
    }
    status, body, _ = await client.request(
        "GET", f"{EC_BASE}/events?page=2&pageSize=3", headers=headers
    )
    assert [event["id"] for event in body["events"]] == [old["id"]]
    assert (body["pagination"]["previousPage"], body["pagination"]["nextPage"]) == (
        1,
        None,
    )

    for query in ("page=0", "pageSize=1001", "pageSize=x", "page=-1"):
        status, body, resp = await client.request(
            "GET", f"{EC_BASE}/events?{query}", headers=headers
        )
        assert (status, resp.content_type) == (400, "application/problem+json"), query
        assert body["title"] == "One or more validation errors occurred."

    status, body, _ = await client.request(
        "GET", f"{EC_BASE}/events/{ids[0]}", headers=headers
    )
    assert (status, body) == (200, sandbox.state.energy_coordination.events[ids[0]])
    status, body, _ = await client.request(
        "GET", f"{EC_BASE}/events/nope", headers=headers
    )
    assert (status, body) == (404, None)
    status, body, _ = await client.request("GET", f"{EC_BASE}/events")
    assert (status, body) == (401, None)
    violations = [
        v for v in sandbox.state.violations if v["path"] == f"{EC_BASE}/events"
    ]
    assert len(violations) == 4


async def test_control_creates_events_as_given(
    client: Client, sandbox: SandboxServer
) -> None:
    """The control route stores the payload exactly, with an optional id and createdAt."""
    event = await client.control(
        "POST",
        "/energy_coordination/events",
        {"id": "evt-1", "createdAt": "2026-03-03T12:00:00+00:00", "payload": LPC_EVENT},
    )
    assert event == {
        "id": "evt-1",
        "createdAt": "2026-03-03T12:00:00+00:00",
        "payload": LPC_EVENT,
    }
    bare = await client.control(
        "POST",
        "/energy_coordination/events",
        {
            "lastUpdated": "2026-03-03T12:00:00+00:00",
            "addedUsers": [],
            "removedUsers": ["u9"],
            "payloadType": "UserEligibility",
        },
    )
    assert bare["payload"]["removedUsers"] == ["u9"]
    assert set(sandbox.state.energy_coordination.events) == {"evt-1", bare["id"]}

    reservation = {**LPC_EVENT, "payloadType": "LPCReservation"}
    resource_lpc = {
        "targets": [
            {**LPC_EVENT["targets"][0], "resourceId": "hp-1"},
        ],
        "payloadType": "ResourceLPC",
    }
    price = {
        "targets": [],
        "priceCurveDelta": {
            "points": [
                {
                    "price": 0.96313495300801624,
                    "timestamp": "2024-09-12T13:48:47.1936858+00:00",
                }
            ],
            "energyUnit": "kWh",
            "currency": "NOK",
            "resolution": "01:00:00",
        },
        "priceArea": "SE1",
        "payloadType": "PriceCurve",
    }
    for payload in (reservation, resource_lpc, price):
        created = await client.control(
            "POST", "/energy_coordination/events", {"payload": payload}
        )
        assert created["payload"] == payload

    lpc_target = LPC_EVENT["targets"][0]
    for bad in (
        {"id": "evt-1", "payload": LPC_EVENT},
        {"payload": {**LPC_EVENT, "payloadType": "Unknown"}},
        {"payload": {**LPC_EVENT, "extra": 1}},
        {"payload": {"payloadType": "LocationLPC", "targets": []}},
        {
            "payload": {
                "payloadType": "LocationLPC",
                "targets": [{**lpc_target, "resolution": "1h"}],
            }
        },
        {
            "payload": {
                "payloadType": "LocationLPC",
                "targets": [
                    {**lpc_target, "points": [{"timestamp": "2026-03-03T12:00:00"}]}
                ],
            }
        },
        {"payload": {**price, "priceArea": "XX"}},
        {"payload": resource_lpc | {"targets": [lpc_target]}},
        {"payload": LPC_EVENT, "createdAt": "yesterday"},
        {"payload": LPC_EVENT, "webhooks": False},
        [],
    ):
        status, body, _ = await client.request(
            "POST", "/_sandbox/energy_coordination/events", json=bad
        )
        assert status == 400, bad
        assert "error" in body


async def test_faults_hit_event_routes(client: Client) -> None:
    """Injected faults answer on the new routes in the Energy Coordination envelope."""
    headers = await client.energy_coordination_headers()
    await client.control(
        "POST",
        "/faults",
        {"path": f"{EC_BASE}/events*", "kind": "status", "status": 502, "times": 1},
    )
    status, body, _ = await client.request("GET", f"{EC_BASE}/events", headers=headers)
    assert (status, body) == (502, "Injected fault: HTTP 502")
    status, _, _ = await client.request("GET", f"{EC_BASE}/events", headers=headers)
    assert status == 200
    await client.control(
        "POST", "/faults", {"path": f"{SIM}/*", "kind": "rate_limit", "times": 1}
    )
    status, _, resp = await client.request(
        "POST", f"{SIM}/usereligibility", headers=headers
    )
    assert (status, resp.headers["Retry-After"]) == (429, "1")
