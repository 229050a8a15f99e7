"""Powernaut bids, activations and the bidAccepted webhook in the sandbox, over real HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from sandbox_helpers import Client, WebhookReceiver, basic

from sandbox import SandboxServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

SITES = "/v1/connect/sites"
RESOURCES = "/v1/connect/resources"
BIDS = "/v1/connect/bids"
CONTROL = "/_sandbox/powernaut"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
POWER = {"active": {"minimum": "-5.0", "maximum": "5.0"}}
CURVE = [{"value": "2.5", "price": "0.25"}, {"value": "-3.0"}]
BID_KEYS = {
    "id",
    "resource_id",
    "timing",
    "power_type",
    "curve",
    "expires_at",
    "webhooks",
    "baseline",
    "status",
    "activation",
    "report",
    "created_at",
    "modified_at",
}
SUMMARY_KEYS = {
    "start",
    "end",
    "value",
    "energy",
    "direction",
    "resource_id",
    "resource_type",
    "site_id",
    "bid_id",
}
LOCKED = {
    "message": "Bid can no longer be updated",
    "error": "Conflict",
    "status_code": 409,
}


def z(moment: datetime) -> str:
    """Write a moment as Powernaut answers it."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_TEST_START: list[datetime] = []


@pytest.fixture(autouse=True)
def _same_quarter_throughout() -> Iterator[None]:
    """Let ``quarter()`` count from the test's start, even if a quarter-hour passes."""
    _TEST_START.append(datetime.now(UTC))
    yield
    _TEST_START.clear()


def quarter(offset: int = 1) -> datetime:
    """Return the start of the quarter-hour ``offset`` quarters after the current one.

    "Current" is the test's start (at collection time: now).
    """
    now = _TEST_START[0] if _TEST_START else datetime.now(UTC)
    current = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return current + timedelta(minutes=15 * offset)


def timing(offset: int = 1) -> dict[str, str]:
    """Return a bid window ``offset`` quarter-hours ahead (as the partner writes it)."""
    start = quarter(offset)
    return {
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": (start + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
    }


def bid_body(offset: int = 1, **fields: Any) -> dict[str, Any]:
    """Build a CreateBidDto."""
    return {"timing": timing(offset), "curve": CURVE, **fields}


async def create_site(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    """Create a site and return it with its Default credentials."""
    status, body, _ = await client.request(
        "POST",
        SITES,
        json={
            "location": {"address": "Dok Noord 1, 9000 Gent"},
            "supply_points": [{"grid_identifier": "541448820000000001"}],
        },
        headers=headers,
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def create_resource(
    client: Client, headers: dict[str, str], site_id: str, **fields: Any
) -> dict[str, Any]:
    """Create a resource and return its ResourceDto."""
    body = {"site_id": site_id, "type": "static_battery", "power": POWER, **fields}
    status, answer, _ = await client.request(
        "POST", RESOURCES, json=body, headers=headers
    )
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


async def setup(
    client: Client, **resource_fields: Any
) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """Return auth headers, a site and a battery resource on it."""
    headers = await client.powernaut_headers()
    site = await create_site(client, headers)
    resource = await create_resource(client, headers, site["id"], **resource_fields)
    return headers, site, resource


async def place(
    client: Client, headers: dict[str, str], resource_id: str, **body: Any
) -> dict[str, Any]:
    """Bid through the partner route and return the BidDto."""
    status, answer, _ = await client.request(
        "POST",
        f"{RESOURCES}/{resource_id}/bid",
        json=bid_body(**body),
        headers=headers,
    )
    assert status == 201, answer
    return answer  # type: ignore[no-any-return]


async def activate(client: Client, bid_id: str, **body: Any) -> dict[str, Any]:
    """Activate (or with ``value=None`` cancel) a bid through the control API."""
    return await client.control(  # type: ignore[no-any-return]
        "POST", f"/powernaut/bids/{bid_id}/activate", {"value": "2.5", **body}
    )


# Bids


async def test_bid_lifecycle(client: Client, sandbox: SandboxServer) -> None:
    """Create, read, list, update in place, patch and delete an open bid."""
    headers, _, resource = await setup(client)
    bid = await place(
        client,
        headers,
        resource["id"],
        offset=2,
        expires_at=z(quarter(2)),
    )
    assert set(bid) == BID_KEYS
    assert bid["resource_id"] == resource["id"]
    assert bid["timing"] == {
        "start": z(quarter(2)),
        "end": z(quarter(3)),
    }
    assert bid["timing"]["start"].endswith(":00.000Z")
    assert (bid["power_type"], bid["status"], bid["baseline"]) == (
        "active",
        "open",
        "0.000000",
    )
    assert bid["curve"] == CURVE
    assert bid["expires_at"] == z(quarter(2))
    assert (bid["webhooks"], bid["activation"], bid["report"]) == ({}, None, None)
    assert sandbox.state.powernaut.bids[bid["id"]] == bid

    status, body, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert (status, body) == (200, bid)

    # An open bid for the same window (written with an offset) is updated in place.
    start = quarter(2).astimezone(timezone(timedelta(hours=2)))
    status, again, _ = await client.request(
        "POST",
        f"{RESOURCES}/{resource['id']}/bid",
        json={
            "timing": {
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=15)).isoformat(),
            },
            "curve": [{"value": "1.0"}],
            "webhooks": {"accepted": "https://partner.example/hook"},
        },
        headers=headers,
    )
    assert status == 201, again
    assert again["id"] == bid["id"]
    assert again["created_at"] == bid["created_at"]
    assert again["timing"] == bid["timing"]
    assert again["curve"] == [{"value": "1.0"}]
    assert again["expires_at"] is None
    assert again["webhooks"] == {"accepted": "https://partner.example/hook"}
    assert len(sandbox.state.powernaut.bids) == 1

    other = await place(client, headers, resource["id"], offset=3)
    status, body, _ = await client.request("GET", BIDS, headers=headers)
    assert status == 200
    assert body == {"total": 2, "items": [other, again]}
    status, body, _ = await client.request(
        "GET", f"{BIDS}?page=2&page_size=1&status=open", headers=headers
    )
    assert body == {"total": 2, "items": [again]}

    status, patched, _ = await client.request(
        "PATCH",
        f"{BIDS}/{bid['id']}",
        json={"curve": [{"value": "-2.0", "price": "0.12345"}], "webhooks": {}},
        headers=headers,
    )
    assert status == 202, patched
    assert patched["curve"] == [{"value": "-2.0", "price": "0.12345"}]
    assert patched["webhooks"] == {}
    assert patched["timing"] == bid["timing"]
    status, patched, _ = await client.request(
        "PATCH",
        f"{BIDS}/{bid['id']}",
        json={"power_type": "active", "expires_at": z(quarter(2))},
        headers=headers,
    )
    assert status == 202, patched
    assert (patched["power_type"], patched["expires_at"]) == ("active", z(quarter(2)))

    status, body, _ = await client.request(
        "DELETE", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert (status, body) == (204, None)
    status, body, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert (status, body) == (
        404,
        {"message": "Bid does not exist", "error": "Not Found", "status_code": 404},
    )
    for method in ("PATCH", "DELETE"):
        status, body, _ = await client.request(
            method, f"{BIDS}/{bid['id']}", json={}, headers=headers
        )
        assert (status, body["message"]) == (404, "Bid not found")
    assert sandbox.state.violations == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Refused by the OpenAPI validation (CreateBidDto) before the handler:
        ([], "body: [] is not of type 'object'"),
        ({}, "body.timing: is required"),
        ({"timing": timing()}, "body.curve: is required"),
        (bid_body(extra=1), "body.extra: is not allowed"),
        (bid_body(timing=None), "body.timing: may not be null"),
        (bid_body(timing="soon"), "body.timing: 'soon' is not of type 'object'"),
        (bid_body(timing={"start": timing()["start"]}), "body.timing.end: is required"),
        (
            bid_body(timing={**timing(), "duration": "PT15M"}),
            "body.timing.duration: is not allowed",
        ),
        (
            bid_body(timing={"start": timing()["start"], "end": timing(2)["end"]}),
            "timing must be exactly one quarter-hour (end = start + 15 min)",
        ),
        (
            bid_body(timing={"start": "2026-13-01T00:00:00Z", "end": timing()["end"]}),
            "body.timing.start: '2026-13-01T00:00:00Z' is not a 'date-time'",
        ),
        (
            bid_body(
                timing={
                    "start": z(quarter() + timedelta(minutes=5)),
                    "end": z(quarter() + timedelta(minutes=20)),
                }
            ),
            "timing.start must be a perfect quarter-hour",
        ),
        (
            bid_body(timing={k: v.rstrip("Z") for k, v in timing().items()}),
            "body.timing.start: ",  # ... is not a 'date-time' (no offset)
        ),
        (
            bid_body(timing={"start": 1, "end": timing()["end"]}),
            "body.timing.start: 1 is not of type 'string'",
        ),
        (bid_body(offset=-1), "timing must be a window that can still be accepted"),
        (bid_body(curve=[]), "body.curve: [] should be non-empty"),
        (
            bid_body(curve=[{"value": "1.0"}] * 101),
            "body.curve: has more than 100 items",
        ),
        (
            bid_body(curve={"value": "1.0"}),
            "body.curve: {'value': '1.0'} is not of type 'array'",
        ),
        (bid_body(curve=["1.0"]), "body.curve[0]: '1.0' is not of type 'object'"),
        (bid_body(curve=[{"price": "0.1"}]), "body.curve[0].value: is required"),
        (
            bid_body(curve=[{"value": 2.5}]),
            "body.curve[0].value: 2.5 is not of type 'string'",
        ),
        (
            bid_body(curve=[{"value": "2,5"}]),
            "body.curve[0].value: '2,5' does not match",
        ),
        (
            bid_body(curve=[{"value": "1.1234567"}]),
            "body.curve[0].value: '1.1234567' does not match",
        ),
        (
            bid_body(curve=[{"value": "1.0", "price": "0.123456"}]),
            "body.curve[0].price: '0.123456' does not match",
        ),
        (
            bid_body(curve=[{"value": "1.0", "currency": "EUR"}]),
            "body.curve[0].currency: is not allowed",
        ),
        (
            bid_body(curve=[{"value": "1.0"}, {"value": "5.5"}]),
            "curve.1.value must be within the resource's active power limits (-5.0 to 5.0 kW)",
        ),
        (
            bid_body(power_type="apparent"),
            "body.power_type: 'apparent' is not one of ['active', 'reactive']",
        ),
        (
            bid_body(power_type="reactive"),
            "The resource has no reactive power limits",
        ),
        (
            bid_body(expires_at="tomorrow"),
            "body.expires_at: 'tomorrow' is not a 'date-time'",
        ),
        (bid_body(expires_at=z(quarter(-1))), "Invalid expiry date"),
        (bid_body(expires_at=z(quarter(3))), "Invalid expiry date"),
        (
            bid_body(webhooks={"accepted": "partner.example/hook"}),
            "webhooks.accepted must be a URL address",
        ),
        (
            bid_body(webhooks={"rejected": "https://partner.example"}),
            "body.webhooks.rejected: is not allowed",
        ),
        (bid_body(webhooks=[]), "body.webhooks: [] is not of type 'object'"),
    ],
)
async def test_create_bid_validation(
    client: Client, sandbox: SandboxServer, body: Any, message: str
) -> None:
    """Invalid CreateBidDtos are 400s naming the problem, recorded as violations."""
    headers, _, resource = await setup(client)
    status, answer, _ = await client.request(
        "POST", f"{RESOURCES}/{resource['id']}/bid", json=body, headers=headers
    )
    assert status == 400, answer
    assert answer["error"] == "Bad Request"
    messages = answer["message"]
    messages = [messages] if isinstance(messages, str) else messages
    assert any(text.startswith(message) for text in messages), messages
    [violation] = sandbox.state.violations
    assert violation["path"] == f"{RESOURCES}/{resource['id']}/bid"
    assert sandbox.state.powernaut.bids == {}


async def test_create_bid_references(client: Client, sandbox: SandboxServer) -> None:
    """Resource ids: not a uuid 400, unknown 404; meters cannot bid; reactive bounds apply."""
    headers, site, _ = await setup(client)
    meter = await create_resource(client, headers, site["id"], type="meter")
    var = await create_resource(
        client,
        headers,
        site["id"],
        power={
            "active": {"minimum": "0.0", "maximum": "3.0"},
            "reactive": {"minimum": "-1.0", "maximum": "1.0"},
        },
    )
    cases = [
        ("nope", bid_body(), 400, "path.id: 'nope' is not a 'uuid'"),
        (UNKNOWN_ID, bid_body(), 404, "Resource does not exist"),
        (meter["id"], bid_body(), 400, "Meter resources cannot bid"),
        (
            var["id"],
            bid_body(curve=[{"value": "2.0"}], power_type="reactive"),
            400,
            "curve.0.value must be within the resource's reactive power limits (-1.0 to 1.0 kVAR)",
        ),
    ]
    for resource_id, body, expected, message in cases:
        status, answer, _ = await client.request(
            "POST", f"{RESOURCES}/{resource_id}/bid", json=body, headers=headers
        )
        assert status == expected, answer
        assert message in answer["message"], answer
    reactive = await place(
        client, headers, var["id"], curve=[{"value": "-0.5"}], power_type="reactive"
    )
    assert reactive["power_type"] == "reactive"
    assert [v["status"] for v in sandbox.state.violations] == [400, 400, 400]


async def test_patch_validation(client: Client, sandbox: SandboxServer) -> None:
    """PATCH checks its body (timing cannot change, curve cannot be null) and the bounds."""
    headers, _, resource = await setup(client)
    bid = await place(client, headers, resource["id"])
    for body, message in (
        ({"timing": timing(2)}, "body.timing: is not allowed"),
        ({"curve": None}, "body.curve: may not be null"),
        ({"curve": [{"value": "9.0"}]}, "curve.0.value must be within"),
        ({"expires_at": z(quarter(4))}, "Invalid expiry date"),
        ("x", "body: 'x' is not of type 'object'"),
    ):
        status, answer, _ = await client.request(
            "PATCH", f"{BIDS}/{bid['id']}", json=body, headers=headers
        )
        assert status == 400, answer
        assert message in str(answer["message"])
    status, answer, _ = await client.request(
        "PATCH", f"{BIDS}/not-a-uuid", json={}, headers=headers
    )
    assert (status, answer["message"]) == (
        400,
        ["path.id: 'not-a-uuid' is not a 'uuid'"],
    )
    status, answer, _ = await client.request(
        "PATCH", f"{BIDS}/{bid['id']}", data="{", headers=headers
    )
    assert status == 400
    assert len(sandbox.state.violations) == 7
    status, unchanged, _ = await client.request(
        "PATCH", f"{BIDS}/{bid['id']}", json={}, headers=headers
    )
    assert (status, unchanged) == (202, bid)


async def test_list_bids_queries(client: Client, sandbox: SandboxServer) -> None:
    """Bad paging, unknown parameters and statuses are 400; expired bids are not listed."""
    headers, _, resource = await setup(client)
    for query in ("page=0", "page_size=x", "status=expired", "resource_id=1"):
        status, answer, _ = await client.request(
            "GET", f"{BIDS}?{query}", headers=headers
        )
        assert status == 400, (query, answer)
    bid = await place(client, headers, resource["id"])
    sandbox.state.powernaut.bids[bid["id"]]["expires_at"] = z(
        datetime.now(UTC) - timedelta(seconds=1)
    )
    status, answer, _ = await client.request("GET", BIDS, headers=headers)
    assert answer == {"total": 0, "items": []}
    status, answer, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert answer["status"] == "expired"
    for method in ("PATCH", "DELETE"):
        status, answer, _ = await client.request(
            method, f"{BIDS}/{bid['id']}", json={}, headers=headers
        )
        assert (status, answer) == (409, LOCKED)
    # An expired bid does not block a new bid for its window.
    fresh = await place(client, headers, resource["id"])
    assert fresh["id"] != bid["id"]
    assert fresh["status"] == "open"


async def test_accepted_bid_is_immutable(
    client: Client, sandbox: SandboxServer
) -> None:
    """Once accepted, PATCH, DELETE and a new bid for the window are 409 (no violations)."""
    headers, _, resource = await setup(client)
    bid = await place(client, headers, resource["id"])
    answer = await activate(client, bid["id"])
    assert answer["bid"]["status"] == "accepted"
    assert (answer["webhook_url"], answer["delivery_id"]) == (None, None)
    for method, path, body in (
        ("PATCH", f"{BIDS}/{bid['id']}", {"curve": [{"value": "1.0"}]}),
        ("DELETE", f"{BIDS}/{bid['id']}", None),
        ("POST", f"{RESOURCES}/{resource['id']}/bid", bid_body()),
    ):
        kwargs = {} if body is None else {"json": body}
        status, reply, _ = await client.request(method, path, headers=headers, **kwargs)
        assert (status, reply) == (409, LOCKED), method
    status, stored, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert stored["curve"] == CURVE
    assert sandbox.state.violations == []
    status, listed, _ = await client.request(
        "GET", f"{BIDS}?status=accepted", headers=headers
    )
    assert listed == {"total": 1, "items": [stored]}
    status, listed, _ = await client.request(
        "GET", f"{BIDS}?status=open", headers=headers
    )
    assert listed == {"total": 0, "items": []}


async def test_auth_and_edge_scope(client: Client, sandbox: SandboxServer) -> None:
    """Bid routes need auth; a site's edge-cloud credentials reach its own bids only."""
    headers, site, resource = await setup(client)
    other_site = await create_site(client, headers)
    other = await create_resource(client, headers, other_site["id"])
    credentials = site["credentials"]
    edge = {"Authorization": basic(credentials["key"], credentials["secret"])}
    own = await place(client, edge, resource["id"])
    foreign = await place(client, headers, other["id"], offset=2)
    status, body, _ = await client.request("GET", BIDS, headers=edge)
    assert body == {"total": 1, "items": [own]}
    status, body, _ = await client.request("GET", BIDS, headers=headers)
    assert body["total"] == 2
    for method, path in (
        ("GET", f"{BIDS}/{foreign['id']}"),
        ("PATCH", f"{BIDS}/{foreign['id']}"),
        ("DELETE", f"{BIDS}/{foreign['id']}"),
        ("POST", f"{RESOURCES}/{other['id']}/bid"),
        ("GET", f"{RESOURCES}/{other['id']}/activations"),
    ):
        status, body, _ = await client.request(
            method, path, json=bid_body() if method == "POST" else {}, headers=edge
        )
        assert (status, body["message"]) == (403, "Insufficient permissions"), path
    for method, path in (
        ("GET", BIDS),
        ("GET", f"{BIDS}/{own['id']}"),
        ("POST", f"{RESOURCES}/{resource['id']}/bid"),
        ("GET", f"{RESOURCES}/{resource['id']}/activations"),
    ):
        status, body, _ = await client.request(method, path, json=bid_body())
        assert (status, body["status_code"]) == (401, 401), path
    assert sandbox.state.violations == []


async def test_deleting_the_resource_drops_its_bids(
    client: Client, sandbox: SandboxServer
) -> None:
    """Bids go with their resource (and so with their site)."""
    headers, site, resource = await setup(client)
    bid = await place(client, headers, resource["id"])
    status, _, _ = await client.request(
        "DELETE", f"{RESOURCES}/{resource['id']}", headers=headers
    )
    assert status == 204
    status, body, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert (status, body["message"]) == (404, "Bid does not exist")
    assert sandbox.state.powernaut.bids == {}
    assert site["id"] in sandbox.state.powernaut.sites


async def test_faults_hit_bid_routes(client: Client, sandbox: SandboxServer) -> None:
    """Injected faults answer the bid routes in Powernaut's envelope."""
    headers = await client.powernaut_headers()
    await client.control(
        "POST",
        "/faults",
        {"path": "/v1/connect/bids*", "kind": "status", "status": 503, "times": 1},
    )
    status, body, _ = await client.request("GET", BIDS, headers=headers)
    assert (status, body["status_code"], body["error"]) == (
        503,
        503,
        "Service Unavailable",
    )
    status, body, _ = await client.request("GET", BIDS, headers=headers)
    assert status == 200
    assert sandbox.state.requests[-2]["fault"] is not None


# Control: creating bids, activating, cancelling


async def test_control_create_bid(client: Client, sandbox: SandboxServer) -> None:
    """The control route bids without credentials, checked like the partner route."""
    headers, _, resource = await setup(client)
    status, bid, _ = await client.request(
        "POST", f"{CONTROL}/resources/{resource['id']}/bids", json=bid_body()
    )
    assert status == 201, bid
    assert set(bid) == BID_KEYS
    status, body, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert (status, body) == (200, bid)
    for resource_id, body, expected, message in (
        (resource["id"], {"curve": CURVE}, 400, "timing should not be empty"),
        (resource["id"], bid_body(curve=[{"value": "7.0"}]), 400, "curve.0.value"),
        (UNKNOWN_ID, bid_body(), 404, "Resource does not exist"),
    ):
        status, answer, _ = await client.request(
            "POST", f"{CONTROL}/resources/{resource_id}/bids", json=body
        )
        assert status == expected, answer
        assert message in answer["error"]
    status, answer, _ = await client.request(
        "POST", f"{CONTROL}/resources/{resource['id']}/bids", data="x"
    )
    assert status == 400
    await activate(client, bid["id"])
    status, answer, _ = await client.request(
        "POST", f"{CONTROL}/resources/{resource['id']}/bids", json=bid_body()
    )
    assert (status, answer) == (409, {"error": "Bid can no longer be updated"})
    assert sandbox.state.violations == []


async def test_activation_calls_the_resource_webhook(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """Acceptance sets the activation and POSTs {"id"} with the version header."""
    headers, _, resource = await setup(client, webhooks={"accepted": receiver.url})
    bid = await place(client, headers, resource["id"])
    before = datetime.now(UTC)
    answer = await activate(client, bid["id"], type="maximise_upwards")
    [received] = await receiver.wait_for(1)
    await sandbox.webhooks.wait_idle()
    assert received.json == {"id": bid["id"]}
    assert received.raw == f'{{"id":"{bid["id"]}"}}'.encode()
    assert received.headers["X-Powernaut-Webhook-Version"] == "v1"
    assert received.headers["Content-Type"] == "application/json"
    assert answer["webhook_url"] == receiver.url
    assert answer["canceled_bids"] == []

    status, stored, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert (status, stored) == (200, answer["bid"])
    assert stored["status"] == "accepted"
    activation = stored["activation"]
    assert set(activation) == {"value", "price", "created_at", "type"}
    assert (activation["value"], activation["price"], activation["type"]) == (
        "2.5",
        "0.25",
        "maximise_upwards",
    )
    created = datetime.fromisoformat(activation["created_at"])
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC)
    [delivery] = sandbox.state.powernaut.webhook_deliveries
    assert delivery | {"sent_at": None, "duration_ms": None} == {
        "delivery_id": answer["delivery_id"],
        "bid_id": bid["id"],
        "event": "accepted",
        "url": receiver.url,
        "attempt": 1,
        "sent_at": None,
        "status_code": 200,
        "timed_out": False,
        "duration_ms": None,
        "outcome": "delivered",
    }


async def test_bid_webhook_wins_over_resource_webhook(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """The bid's webhooks.accepted is called instead of the resource's."""
    headers, _, resource = await setup(
        client, webhooks={"accepted": "http://127.0.0.1:9/never"}
    )
    bid = await place(
        client, headers, resource["id"], webhooks={"accepted": receiver.url + "?bid=1"}
    )
    answer = await activate(client, bid["id"], value="-3.0", price="0.5")
    await receiver.wait_for(1)
    await sandbox.webhooks.wait_idle()
    assert answer["webhook_url"] == receiver.url + "?bid=1"
    assert answer["bid"]["activation"]["price"] == "0.5"
    assert [d["url"] for d in sandbox.state.powernaut.webhook_deliveries] == [
        receiver.url + "?bid=1"
    ]


async def test_webhook_retries(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """Answers other than 2xx/406 are retried (up to 3 times); 406 is final."""
    headers, _, resource = await setup(client, webhooks={"accepted": receiver.url})
    first = await place(client, headers, resource["id"])
    receiver.statuses = [500, 302, 503]
    await activate(client, first["id"])
    await receiver.wait_for(4)
    await sandbox.webhooks.wait_idle()
    deliveries = sandbox.state.powernaut.webhook_deliveries
    assert [(d["attempt"], d["status_code"], d["outcome"]) for d in deliveries] == [
        (1, 500, "failed"),
        (2, 302, "failed"),
        (3, 503, "failed"),
        (4, 200, "delivered"),
    ]
    assert len({d["delivery_id"] for d in deliveries}) == 1
    assert {r.json["id"] for r in receiver.received} == {first["id"]}

    deliveries.clear()
    receiver.received.clear()
    receiver.statuses = [406]
    await activate(client, first["id"], value="-3.0")
    await receiver.wait_for(1)
    await sandbox.webhooks.wait_idle()
    assert [(d["status_code"], d["outcome"]) for d in deliveries] == [(406, "declined")]

    deliveries.clear()
    receiver.received.clear()
    receiver.statuses = [500] * 5
    await activate(client, first["id"])
    await receiver.wait_for(4)
    await sandbox.webhooks.wait_idle()
    assert len(receiver.received) == 4
    assert [d["outcome"] for d in deliveries] == ["failed"] * 4


async def test_webhook_unreachable_and_timeout(
    socket_enabled: None, receiver: WebhookReceiver
) -> None:
    """Connection errors and answers slower than the timeout are failed attempts."""
    receiver.hang = True
    async with (
        SandboxServer(
            webhook_retry_base_delay=0.01, webhook_timeout=0.2, webhook_retries=1
        ) as server,
        aiohttp.ClientSession() as http,
    ):
        client = Client(server, http)
        headers, _, resource = await setup(client, webhooks={"accepted": receiver.url})
        bid = await place(
            client,
            headers,
            resource["id"],
            webhooks={"accepted": "http://127.0.0.1:9/closed"},
        )
        await activate(client, bid["id"])
        timed = await place(client, headers, resource["id"], offset=2)
        await activate(client, timed["id"])
        await server.webhooks.wait_idle()
        by_bid: dict[str, list[Any]] = {}
        for delivery in server.state.powernaut.webhook_deliveries:
            by_bid.setdefault(delivery["bid_id"], []).append(
                (delivery["status_code"], delivery["timed_out"], delivery["outcome"])
            )
        assert by_bid == {
            bid["id"]: [(None, False, "failed")] * 2,
            timed["id"]: [(None, True, "failed")] * 2,
        }


async def test_cancellation_and_reactivation(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """A null value cancels: the same webhook, activation.value null, canceled_at set."""
    headers, _, resource = await setup(client, webhooks={"accepted": receiver.url})
    bid = await place(client, headers, resource["id"])
    accepted = await activate(client, bid["id"])
    cancelled = await activate(client, bid["id"], value=None)
    received = await receiver.wait_for(2)
    await sandbox.webhooks.wait_idle()
    assert [r.json for r in received] == [{"id": bid["id"]}] * 2
    assert [d["event"] for d in sandbox.state.powernaut.webhook_deliveries] == [
        "accepted",
        "canceled",
    ]
    assert cancelled["delivery_id"] != accepted["delivery_id"]
    status, stored, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert stored["status"] == "accepted"
    activation = stored["activation"]
    assert activation["value"] is None
    assert isinstance(activation["canceled_at"], str)
    assert datetime.fromisoformat(activation["canceled_at"]) >= datetime.fromisoformat(
        activation["created_at"]
    )
    assert (activation["type"], activation["price"]) == ("exact", "0.25")
    status, listed, _ = await client.request(
        "GET", f"{RESOURCES}/{resource['id']}/activations", headers=headers
    )
    assert (status, listed) == (200, {"total": 0, "items": []})

    again = await activate(client, bid["id"], value="-3.0")
    assert "canceled_at" not in again["bid"]["activation"]
    assert again["bid"]["activation"]["price"] == "0.0"
    await receiver.wait_for(3)


async def test_activate_errors(client: Client, sandbox: SandboxServer) -> None:
    """The activation control checks its body, the curve and the bid's state."""
    headers, _, resource = await setup(client)
    bid = await place(client, headers, resource["id"])
    path = f"{CONTROL}/bids/{bid['id']}/activate"
    for body, expected, message in (
        ([], 400, "The body must be a JSON object"),
        ({}, 400, "value is required"),
        ({"value": "2.5", "extra": 1}, 400, "Unknown fields: extra"),
        ({"value": 2.5}, 400, "value must be a decimal string"),
        (
            {"value": "1.0"},
            400,
            "value must be one of the bid curve's values: 2.5, -3.0",
        ),
        ({"value": "2.5", "type": "max"}, 400, "type must be one of"),
        ({"value": "2.5", "price": 1}, 400, "price must be a decimal string"),
        ({"value": None}, 400, "The bid has no activation to cancel"),
        ({"value": None, "type": "exact"}, 400, "A cancellation (value null)"),
    ):
        status, answer, _ = await client.request("POST", path, json=body)
        assert (status, answer["error"][: len(message)]) == (expected, message), body
    status, answer, _ = await client.request(
        "POST", f"{CONTROL}/bids/{UNKNOWN_ID}/activate", json={"value": "2.5"}
    )
    assert (status, answer) == (404, {"error": "Bid does not exist"})
    status, answer, _ = await client.request("POST", path, data="{")
    assert status == 400
    # "2.50" is the curve's "2.5".
    accepted = await activate(client, bid["id"], value="2.50")
    assert accepted["bid"]["activation"]["value"] == "2.50"
    sandbox.state.powernaut.bids[bid["id"]]["timing"]["end"] = z(
        datetime.now(UTC) + timedelta(seconds=10)
    )
    status, answer, _ = await client.request("POST", path, json={"value": "2.5"})
    assert (status, answer["error"][:22]) == (400, "The bid has expired (a")
    other = await place(client, headers, resource["id"], offset=2)
    sandbox.state.powernaut.bids[other["id"]]["expires_at"] = z(
        datetime.now(UTC) - timedelta(seconds=1)
    )
    status, answer, _ = await client.request(
        "POST", f"{CONTROL}/bids/{other['id']}/activate", json={"value": "2.5"}
    )
    assert status == 400
    assert answer["error"].startswith("The bid has expired")


async def test_first_acceptance_cancels_open_bids_on_the_site(
    client: Client, sandbox: SandboxServer
) -> None:
    """Accepting a bid expires the site's other open bids; other sites keep theirs."""
    headers, site, battery = await setup(client)
    heat_pump = await create_resource(client, headers, site["id"], type="heat_pump")
    other_site = await create_site(client, headers)
    elsewhere = await create_resource(client, headers, other_site["id"])
    chosen = await place(client, headers, battery["id"])
    later = await place(client, headers, battery["id"], offset=2)
    sibling = await place(client, headers, heat_pump["id"])
    foreign = await place(client, headers, elsewhere["id"])
    answer = await activate(client, chosen["id"])
    assert sorted(answer["canceled_bids"]) == sorted([later["id"], sibling["id"]])
    bids = sandbox.state.powernaut.bids
    assert {key: bid["status"] for key, bid in bids.items()} == {
        chosen["id"]: "accepted",
        later["id"]: "expired",
        sibling["id"]: "expired",
        foreign["id"]: "open",
    }
    # Expired bids are no longer listed, and the window takes a new bid.
    replaced = await place(client, headers, battery["id"], offset=2)
    assert replaced["id"] != later["id"]
    assert replaced["status"] == "open"
    again = await activate(client, chosen["id"], value="-3.0")
    assert again["canceled_bids"] == []


# Activations


async def test_activations_listing(client: Client, sandbox: SandboxServer) -> None:
    """Accepted bids with a value, newest window first, paged and filtered by time."""
    headers, site, resource = await setup(client)
    bids = []
    for offset, value, kind in (
        (1, "2.5", "maximise_upwards"),
        (2, "-3.0", "exact"),
        (3, "2.5", "maximise_downwards"),
    ):
        bid = await place(client, headers, resource["id"], offset=offset)
        await activate(client, bid["id"], value=value, type=kind)
        bids.append(bid)
    await place(client, headers, resource["id"], offset=4)  # open: not listed
    path = f"{RESOURCES}/{resource['id']}/activations"
    status, body, _ = await client.request("GET", path, headers=headers)
    assert status == 200
    assert body["total"] == 3
    assert [item["bid_id"] for item in body["items"]] == [
        bids[2]["id"],
        bids[1]["id"],
        bids[0]["id"],
    ]
    newest, middle, oldest = body["items"]
    assert set(oldest) == SUMMARY_KEYS
    assert oldest == {
        "start": z(quarter(1)),
        "end": z(quarter(2)),
        "value": "2.5",
        "energy": {"delivered": None, "requested": "0.625000", "extra_delivered": None},
        "direction": "upward",
        "resource_id": resource["id"],
        "resource_type": "static_battery",
        "site_id": site["id"],
        "bid_id": bids[0]["id"],
    }
    assert (middle["direction"], middle["energy"]["requested"]) == (
        "downward",
        "-0.750000",
    )
    assert newest["direction"] == "downward"

    status, body, _ = await client.request(
        "GET", f"{path}?page=2&page_size=2", headers=headers
    )
    assert body == {"total": 3, "items": [oldest]}
    status, body, _ = await client.request(
        "GET",
        path,
        params={"start": z(quarter(2)), "end": z(quarter(3) + timedelta(minutes=1))},
        headers=headers,
    )
    assert [item["bid_id"] for item in body["items"]] == [bids[2]["id"], bids[1]["id"]]
    status, body, _ = await client.request(
        "GET",
        path,
        params={"end": quarter(2).isoformat()},
        headers=headers,
    )
    assert [item["bid_id"] for item in body["items"]] == [bids[0]["id"]]

    for params, message in (
        ({"start": "yesterday"}, "start must be a valid ISO 8601"),
        ({"end": "2026-11-22T10:00:00"}, "end must be a valid ISO 8601"),
        (
            {"start": z(quarter(3)), "end": z(quarter(1))},
            "start must not be after end",
        ),
        ({"page": "0"}, "page must be an integer not less than 1"),
        ({"page_size": "-1"}, "page_size must be an integer not less than 1"),
        ({"status": "accepted"}, "property status should not exist"),
    ):
        status, body, _ = await client.request(
            "GET", path, params=params, headers=headers
        )
        assert status == 400, params
        assert any(text.startswith(message) for text in body["message"]), body
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}/{UNKNOWN_ID}/activations", headers=headers
    )
    assert (status, body["message"]) == (404, "Resource does not exist")
    status, body, _ = await client.request(
        "GET", f"{RESOURCES}/x/activations", headers=headers
    )
    assert status == 400
    assert len(sandbox.state.violations) == 7


# Deliveries and the server's life cycle


async def _hanging_delivery(
    receiver: WebhookReceiver,
    server: SandboxServer,
    act: Callable[[], Awaitable[Any]],
) -> None:
    receiver.statuses = [500] * 10
    await act()
    await receiver.wait_for(1)
    assert server.webhooks.pending == 1


async def test_reset_and_stop_cancel_deliveries(
    socket_enabled: None, receiver: WebhookReceiver
) -> None:
    """Deliveries waiting to retry or in flight end with reset and stop; nothing lingers."""
    server = SandboxServer(webhook_retry_base_delay=30)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            client = Client(server, http)

            async def accept() -> None:
                headers, _, resource = await setup(
                    client, webhooks={"accepted": receiver.url}
                )
                bid = await place(client, headers, resource["id"])
                await activate(client, bid["id"])

            await _hanging_delivery(receiver, server, accept)
            await client.control("POST", "/reset")
            await asyncio.sleep(0)
            await server.webhooks.wait_idle()
            assert server.webhooks.pending == 0
            assert server.state.powernaut.bids == {}

            receiver.received.clear()
            receiver.hang = True
            await _hanging_delivery(receiver, server, accept)
    finally:
        await server.stop()
    assert server.webhooks.pending == 0
    assert not [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("sandbox-powernaut-webhook-")
    ]


async def test_delivery_stops_when_the_bid_is_gone(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """A retrying delivery gives up once its bid disappeared (resource deleted)."""
    headers, _, resource = await setup(client, webhooks={"accepted": receiver.url})
    bid = await place(client, headers, resource["id"])
    sandbox.webhooks.retry_base_delay = 0.5
    receiver.statuses = [500] * 10
    await activate(client, bid["id"])
    await receiver.wait_for(1)
    status, _, _ = await client.request(
        "DELETE", f"{RESOURCES}/{resource['id']}", headers=headers
    )
    assert status == 204
    await sandbox.webhooks.wait_idle()
    assert len(receiver.received) == 1
    assert len(sandbox.state.powernaut.webhook_deliveries) == 1


async def test_report_control(client: Client, sandbox: SandboxServer) -> None:
    """The control API sets an accepted bid's report; open bids and bad bodies are 400."""
    headers, _, resource = await setup(client)
    bid = await place(client, headers, resource["id"])
    path = f"/powernaut/bids/{bid['id']}/report"
    body = {"energy_requested": "0.625", "energy_delivered": "0.6"}
    status, answer, _ = await client.request(
        "POST", f"{CONTROL}/bids/{bid['id']}/report", json=body
    )
    assert (status, answer["error"]) == (400, "Only an accepted bid has a report")
    await activate(client, bid["id"])
    status, answer, _ = await client.request(
        "POST", f"{CONTROL}/bids/{bid['id']}/report", json={"energy_delivered": 0.6}
    )
    assert status == 400
    reported = await client.control("POST", path, body)
    assert reported["report"] == {**body, "extra_energy_delivered": None}
    status, answer, _ = await client.request(
        "GET", f"{BIDS}/{bid['id']}", headers=headers
    )
    assert (status, answer["report"]) == (200, reported["report"])
