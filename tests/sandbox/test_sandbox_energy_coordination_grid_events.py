"""Sandbox features for the grid-event tests.

Concurrent redelivery, late answers, webhook controls, hostile raw events,
duplicate reports and paging limits.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from sandbox_helpers import EC_BASE, MPID, Client, WebhookReceiver, ec_partner

from sandbox.openapi import validate_webhook_notification

if TYPE_CHECKING:
    from sandbox import SandboxServer

HOOKS = f"{EC_BASE}/webhooks"
REPORTS = f"{EC_BASE}/reports"
EVENTS = f"{EC_BASE}/events"
SECRET = "Secret123%"
CONTROL = "/energy-coordination"


def lpc(payload_type: str = "LocationLPC", **extra: str) -> dict[str, Any]:
    """An LPC payload for location ``home`` at ``MPID``, 11:00-13:00 UTC."""
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


async def event(client: Client, payload: dict[str, Any]) -> str:
    created = await client.control("POST", f"{CONTROL}/events", {"payload": payload})
    return str(created["id"])


async def register(
    client: Client, headers: dict[str, str], url: str, **fields: Any
) -> dict[str, Any]:
    status, body, _ = await client.request(
        "POST",
        HOOKS,
        json={"webhookUrl": url, "webhookSecret": SECRET, **fields},
        headers=headers,
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def signed(received: Any) -> bool:
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), received.raw, hashlib.sha256).digest()
    ).decode()
    return bool(received.headers.get("X-Payload-Signature") == expected)


# a. concurrent redelivery


async def test_deliver_n_times_concurrently(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """One stored event, three simultaneous deliveries with their own notification ids."""
    headers = await ec_partner(client)
    hook = await register(client, headers, receiver.url)
    event_id = await event(client, lpc())
    await receiver.wait_for(1)  # the delivery at creation
    await sandbox.webhooks.wait_idle()
    receiver.received.clear()

    receiver.hang = True
    answer_task = asyncio.create_task(
        client.control("POST", f"{CONTROL}/events/{event_id}/deliver", {"times": 3})
    )
    arrived = await receiver.wait_for(3)  # all three before any was answered
    assert not answer_task.done()
    receiver.release()
    answer = await answer_task

    ids = {json.loads(r.raw)["notificationId"] for r in arrived}
    assert len(ids) == 3
    assert all(json.loads(r.raw)["eventId"] == event_id for r in arrived)
    assert all(signed(r) for r in arrived)
    assert answer["eventId"] == event_id
    assert {d["notificationId"] for d in answer["deliveries"]} == ids
    assert all(
        (d["webhookId"], d["delivered"], d["attempts"], d["responseStatusCode"])
        == (hook["webhookId"], True, 1, 200)
        for d in answer["deliveries"]
    )
    logs = sandbox.state.energy_coordination.logs_for(event_id)
    assert len(logs) == 4
    assert sandbox.webhooks.pending == 0


async def test_deliver_reports_failures_and_checks_input(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """A delivery that keeps failing is reported after its retries; bad input is 400/404."""
    headers = await ec_partner(client)
    hook = await register(client, headers, receiver.url)
    event_id = await event(client, lpc())
    await sandbox.webhooks.wait_idle()
    receiver.statuses = [500] * 4
    answer = await client.control(
        "POST",
        f"{CONTROL}/events/{event_id}/deliver",
        {"webhookId": hook["webhookId"]},
    )
    [delivery] = answer["deliveries"]
    assert (delivery["delivered"], delivery["attempts"]) == (False, 4)
    assert delivery["responseStatusCode"] == 500
    for path, body, status in (
        (f"{CONTROL}/events/nope/deliver", {}, 404),
        (f"{CONTROL}/events/{event_id}/deliver", {"webhookId": "nope"}, 404),
        (f"{CONTROL}/events/{event_id}/deliver", {"times": 0}, 400),
        (f"{CONTROL}/events/{event_id}/deliver", {"times": 101}, 400),
        (f"{CONTROL}/events/{event_id}/deliver", {"times": "3"}, 400),
        (f"{CONTROL}/events/{event_id}/deliver", {"extra": 1}, 400),
    ):
        code, _, _ = await client.request("POST", "/_sandbox" + path, json=body)
        assert code == status, (path, body)
    # The old spelling of the prefix answers too.
    answer = await client.control(
        "POST", f"/energy_coordination/events/{event_id}/deliver", {"times": 2}
    )
    assert [d["delivered"] for d in answer["deliveries"]] == [True, True]


# b. delay_after


async def test_delay_after_answers_late_but_handles_at_once(
    client: Client, sandbox: SandboxServer
) -> None:
    """The report is stored although the client gave up waiting for the answer."""
    headers = await ec_partner(client)
    event_id = await event(client, lpc())
    fault = await client.control(
        "POST",
        "/faults",
        {
            "path": REPORTS,
            "method": "POST",
            "kind": "delay_after",
            "seconds": 0.5,
            "times": 1,
        },
    )
    ack = {"payloadType": "LocationLPCAcknowledgement"}
    with pytest.raises(TimeoutError):
        await client.request(
            "POST",
            REPORTS,
            json={"eventId": event_id, "payloads": [ack]},
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=0.15),
        )
    store = sandbox.state.energy_coordination
    assert store.count_payloads(event_id, "LocationLPCAcknowledgement") == 1
    await asyncio.sleep(0.5)
    logged = [r for r in sandbox.state.requests if r["path"] == REPORTS]
    assert [(r["status"], r["fault"]) for r in logged] == [(200, fault["id"])]
    # Used up (times: 1): the next report is answered at once.
    status, _, _ = await client.request(
        "POST", REPORTS, json={"eventId": event_id, "payloads": [ack]}, headers=headers
    )
    assert status == 200
    assert sandbox.state.violations == []


async def test_delay_after_spec_is_checked(client: Client) -> None:
    """``delay_after`` takes ``seconds`` like ``delay``."""
    for spec in (
        {"path": "/x", "kind": "delay_after"},
        {"path": "/x", "kind": "delay_after", "seconds": 0},
    ):
        status, body, _ = await client.request("POST", "/_sandbox/faults", json=spec)
        assert status == 400, body


# c. webhook controls


async def test_disabled_webhooks_get_nothing(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """Disabled (by the platform route or the control) webhooks receive no deliveries."""
    headers = await ec_partner(client)
    hook = await register(client, headers, receiver.url)
    webhook_id = hook["webhookId"]
    status, _, _ = await client.request(
        "PUT", f"{HOOKS}/{webhook_id}/enabled?enabled=false", headers=headers
    )
    assert status == 204
    event_id = await event(client, lpc())
    answer = await client.control(
        "POST", f"{CONTROL}/events/{event_id}/deliver", {"times": 2}
    )
    assert answer["deliveries"] == []
    await client.control("PATCH", f"{CONTROL}/webhooks/{webhook_id}", {"enabled": True})
    answer = await client.control("POST", f"{CONTROL}/events/{event_id}/deliver", {})
    assert [d["delivered"] for d in answer["deliveries"]] == [True]
    await client.control(
        "PATCH", f"{CONTROL}/webhooks/{webhook_id}", {"enabled": False}
    )
    await event(client, lpc())
    await sandbox.webhooks.wait_idle()
    assert len(receiver.received) == 1
    assert sandbox.state.energy_coordination.webhooks[webhook_id]["enabled"] is False


async def test_webhook_status_control(client: Client) -> None:
    """The control sets WebhookStatus; GET /webhooks/{id} shows it."""
    headers = await ec_partner(client)
    hook = await register(client, headers, "https://partner.example/notify")
    path = f"{CONTROL}/webhooks/{hook['webhookId']}"
    for value in ("Unhealthy", "TimeOut", "Healthy", "New"):
        changed = await client.control("PATCH", path, {"status": value})
        assert changed["status"] == value
        status, body, _ = await client.request(
            "GET", f"{HOOKS}/{hook['webhookId']}", headers=headers
        )
        assert (status, body["status"]) == (200, value)
    for body in ({"status": "Dead"}, {"enabled": "no"}, {"url": "x"}):
        status, _, _ = await client.request("PATCH", "/_sandbox" + path, json=body)
        assert status == 400, body
    status, _, _ = await client.request(
        "PATCH", f"/_sandbox{CONTROL}/webhooks/nope", json={"status": "New"}
    )
    assert status == 404


async def test_webhook_deleted_behind_the_clients_back(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """The webhook is gone: the platform answers 404 for it and nothing is delivered."""
    headers = await ec_partner(client)
    hook = await register(client, headers, receiver.url)
    webhook_id = hook["webhookId"]
    answer = await client.control("DELETE", f"{CONTROL}/webhooks/{webhook_id}")
    assert answer == {"deleted": webhook_id}
    status, _, _ = await client.request("GET", f"{HOOKS}/{webhook_id}", headers=headers)
    assert status == 404
    status, body, _ = await client.request("GET", HOOKS, headers=headers)
    assert body == {"webhooks": []}
    await event(client, lpc())
    await sandbox.webhooks.wait_idle()
    assert receiver.received == []
    assert webhook_id not in sandbox.state.energy_coordination.webhook_secrets
    status, _, _ = await client.request(
        "DELETE", f"/_sandbox{CONTROL}/webhooks/{webhook_id}"
    )
    assert status == 404


async def test_pending_retries_stop_when_deleted(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """A delivery waiting for its retry gives up when the webhook is deleted."""
    headers = await ec_partner(client)
    hook = await register(client, headers, receiver.url)
    receiver.statuses = [503]
    await event(client, lpc())
    await receiver.wait_for(1)
    await client.control("DELETE", f"{CONTROL}/webhooks/{hook['webhookId']}")
    await sandbox.webhooks.wait_idle()
    assert len(receiver.received) == 1


# d. raw events


HOSTILE: dict[str, Any] = {
    "id": "hostile-1",
    "createdAt": "9999-12-31T23:59:59.9999999+00:00",
    "payload": {
        "payloadType": "LocationLPC",
        "targets": [
            {
                "locationId": "home",
                "meterPointId": MPID,
                "resolution": "10675199.02:48:05",
                "points": [
                    {
                        "timestamp": "9999-12-31T23:00:00+00:00",
                        "maxPowerInKiloWatts": "lots",
                    },
                    {"timestamp": None, "maxPowerInKiloWatts": -1e308},
                ],
                "junk": {"a": [{"b": [{"c": [[[[{"d": None}]]]]}]}]},
            }
        ],
    },
}


async def test_raw_events_are_stored_unchecked_and_listed(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """Hostile events go in as given, are listed by GET /events and can be pushed signed."""
    headers = await ec_partner(client)
    await register(client, headers, receiver.url)
    normal = await event(client, lpc())
    await receiver.wait_for(1)
    await sandbox.webhooks.wait_idle()

    answer = await client.control(
        "POST", f"{CONTROL}/events/raw", {"event": HOSTILE, "push": True}
    )
    assert (answer["key"], answer["event"]) == ("hostile-1", HOSTILE)
    [notification] = answer["notifications"]
    received = await receiver.wait_for(2)
    await sandbox.webhooks.wait_idle()
    pushed = received[-1]
    assert signed(pushed)
    body = json.loads(pushed.raw)
    assert (body["notificationId"], body["eventId"]) == (
        notification["notificationId"],
        "hostile-1",
    )
    assert (body["notificationType"], body["payload"]) == (
        "LocationLPCRequested",
        HOSTILE["payload"],
    )
    assert body["eventCreatedAtUtc"].startswith("9999-12-31T23:59:59.9999")
    assert validate_webhook_notification(pushed.raw, pushed.headers) != []

    junk = {"payload": [1, {"payloadType": 7}], "createdAt": "yesterday", "id": 5}
    answer = await client.control(
        "POST",
        f"{CONTROL}/events/raw",
        {"event": junk, "push": True, "notificationType": "Unknown"},
    )
    junk_key = answer["key"]
    assert answer["event"] == junk
    await sandbox.webhooks.wait_idle()
    # The webhook subscribes to every type (no list): "Unknown" reaches it too.
    assert json.loads(receiver.received[-1].raw)["payload"] == junk["payload"]

    status, listing, _ = await client.request("GET", EVENTS, headers=headers)
    assert status == 200
    assert [e.get("id") for e in listing["events"]] == ["hostile-1", normal, 5]
    status, body, _ = await client.request(
        "GET", f"{EVENTS}/hostile-1", headers=headers
    )
    assert (status, body) == (200, HOSTILE)
    status, body, _ = await client.request(
        "GET", f"{EVENTS}/{junk_key}", headers=headers
    )
    assert (status, body) == (200, junk)
    # Not pushed unless asked; an id in use is refused.
    await client.control("POST", f"{CONTROL}/events/raw", {"event": {"id": "quiet"}})
    await sandbox.webhooks.wait_idle()
    assert len(receiver.received) == 3
    for raw in (
        {"event": {"id": "quiet"}},
        {"event": [1]},
        {"event": {}, "push": "yes"},
        {"event": {}, "notificationType": "Gossip"},
        {"event": {}, "extra": 1},
    ):
        status, _, _ = await client.request(
            "POST", f"/_sandbox{CONTROL}/events/raw", json=raw
        )
        assert status == 400, raw


async def test_reports_on_a_junk_event_are_refused_not_crashed(
    client: Client, sandbox: SandboxServer
) -> None:
    """A report on an event whose payload is junk is a 400 (no targets), never a 500."""
    headers = await ec_partner(client)
    await client.control(
        "POST", f"{CONTROL}/events/raw", {"event": {"id": "junk", "payload": "x"}}
    )
    status, body, _ = await client.request(
        "POST",
        REPORTS,
        json={
            "eventId": "junk",
            "payloads": [
                {
                    "payloadType": "LocationLPCAcknowledgement",
                    "acknowledgedTargets": [
                        {"locationId": "home", "meterPointId": MPID}
                    ],
                }
            ],
        },
        headers=headers,
    )
    assert status == 400
    assert "does not apply" in body
    sandbox.state.violations.clear()


# e. duplicate reports


async def test_duplicate_reports(client: Client, sandbox: SandboxServer) -> None:
    """A second acknowledgement or energy report for one event is a duplicate."""
    headers = await ec_partner(client)
    location_event = await event(client, lpc())
    resource_event = await event(client, lpc("ResourceLPC", resourceId="hp-1"))
    store = sandbox.state.energy_coordination

    async def report(event_id: str, *payloads: dict[str, Any]) -> None:
        status, body, _ = await client.request(
            "POST",
            REPORTS,
            json={"eventId": event_id, "payloads": list(payloads)},
            headers=headers,
        )
        assert status == 200, body

    usage = {
        "locationId": "home",
        "meterPointId": MPID,
        "points": [{"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": 2}],
        "resolution": "01:00:00",
        "payloadType": "LocationEnergyUsage",
    }
    resource_usage = {
        "resourceId": "hp-1",
        "points": [{"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": 1}],
        "resolution": "01:00:00",
        "payloadType": "EnergyUsage",
    }
    await report(location_event, {"payloadType": "LocationLPCAcknowledgement"})
    await report(location_event, usage)
    await report(resource_event, {"payloadType": "ResourceLPCAcknowledgement"})
    await report(resource_event, resource_usage)
    assert store.duplicate_reports() == {}
    assert await client.control("GET", f"{CONTROL}/duplicates") == {}

    await report(location_event, {"payloadType": "LocationLPCAcknowledged"})
    await report(location_event, usage)
    await report(resource_event, resource_usage)
    await report(resource_event, {"payloadType": "ResourceLPCAcknowledged"})
    await report(resource_event, {"payloadType": "ResourceLPCAcknowledgement"})
    expected = {
        location_event: {"LocationEnergyUsage": 2, "LocationLPCAcknowledgement": 2},
        resource_event: {"EnergyUsage": 2, "ResourceLPCAcknowledgement": 3},
    }
    assert store.duplicate_reports() == expected
    assert await client.control("GET", f"{CONTROL}/duplicates") == expected
    assert await client.control("GET", "/energy_coordination/duplicates") == expected


async def test_one_report_with_usage_per_resource_is_no_duplicate(
    client: Client, sandbox: SandboxServer
) -> None:
    """Two resources' EnergyUsage in one report is one report."""
    headers = await ec_partner(client)
    payload = lpc("ResourceLPC", resourceId="hp-1")
    second = {**payload["targets"][0], "resourceId": "ev-1"}
    payload["targets"].append(second)
    event_id = await event(client, payload)
    usages = [
        {
            "resourceId": resource_id,
            "points": [{"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": 1}],
            "resolution": "01:00:00",
            "payloadType": "EnergyUsage",
        }
        for resource_id in ("hp-1", "ev-1")
    ]
    status, body, _ = await client.request(
        "POST", REPORTS, json={"eventId": event_id, "payloads": usages}, headers=headers
    )
    assert status == 200, body
    assert sandbox.state.energy_coordination.duplicate_reports() == {}


async def test_report_payloads_must_fit_the_event(
    client: Client, sandbox: SandboxServer
) -> None:
    """Location usage is refused on a resource event; EnergyUsage only for targeted resources."""
    headers = await ec_partner(client)
    resource_event = await event(client, lpc("ResourceLPC", resourceId="hp-1"))
    location_usage = {
        "locationId": "home",
        "meterPointId": MPID,
        "points": [{"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": 2}],
        "resolution": "01:00:00",
        "payloadType": "LocationEnergyUsage",
    }
    other_resource = {
        "resourceId": "ev-1",
        "points": [{"timestamp": "2024-09-12T11:00:00+00:00", "kiloWattHours": 1}],
        "resolution": "01:00:00",
        "payloadType": "EnergyUsage",
    }
    for payload, message in (
        (location_usage, "LocationEnergyUsage does not apply to a ResourceLPC event"),
        (other_resource, "$.payloads[0].resourceId: is not a target of the event"),
    ):
        status, body, _ = await client.request(
            "POST",
            REPORTS,
            json={"eventId": resource_event, "payloads": [payload]},
            headers=headers,
        )
        assert status == 400
        assert message in body
    assert sandbox.state.energy_coordination.reports == []
    assert [v["status"] for v in sandbox.state.violations] == [400, 400]
    sandbox.state.violations.clear()


# f. paging limits


@pytest.mark.parametrize(
    "query",
    ["pageSize=1001", "pageSize=0", "pageSize=-5", "page=0", "page=-1", "pageSize=x"],
)
async def test_event_paging_limits(
    client: Client, sandbox: SandboxServer, query: str
) -> None:
    """A pageSize outside 1..1000 or a page below 1 is 400 problem+json, recorded."""
    headers = await client.energy_coordination_headers()
    status, body, response = await client.request(
        "GET", f"{EVENTS}?{query}", headers=headers
    )
    assert (status, response.content_type) == (400, "application/problem+json")
    assert body["status"] == 400
    [violation] = sandbox.state.violations
    assert violation["path"] == EVENTS
    status, body, _ = await client.request(
        "GET", f"{EVENTS}?pageSize=1000&page=1", headers=headers
    )
    assert status == 200
