"""Energy Coordination webhooks in the sandbox: registration, signed deliveries, retries, logs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import socket
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from sandbox_helpers import EC_BASE, MPID, Client, WebhookReceiver, ec_partner

from sandbox import SandboxServer
from sandbox.energy_coordination_webhooks import SANDBOX_TENANT_ID, sign_payload

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

HOOKS = f"{EC_BASE}/webhooks"
SIM = f"{EC_BASE}/simulation/events"
SECRET = "Secret123%"

#: ``_tests/webhook-test-data/price-curve-event.json`` of
#: Volue-Public/spark-energy-coordination-partner-reference (with its final
#: newline), signed with ``signing-key.txt`` = ``Secret123%``.
REFERENCE_NOTIFICATION = (
    b'{"notificationId":"18d91015-e25e-4078-b8a6-0bf0e9093f2f","eventId":"1cc9ea41-59a4-453e-8c3a-2385b900a0a9","eventCreatedAtUtc":"2000-01-01T00:00:00+00:00","notificationSentUtc":"2000-01-01T00:00:00+00:00","notificationType":"PriceCurveCreated","payload":{"targets":[],"priceCurveDelta":{"points":['
    b'{"price":0.96313495300801624,"timestamp":"2024-09-12T13:48:47.1936858+00:00"},{"price":0.88262173005615586,"timestamp":"2024-09-12T14:48:47.1940526+00:00"},{"price":0.70279967977591492,"timestamp":"2024-09-12T15:48:47.194055+00:00"},{"price":0.18873019401735025,"timestamp":"2024-09-12T16:48:47.1940553+00:00"},'
    b'{"price":0.62083252941219487,"timestamp":"2024-09-12T17:48:47.1940555+00:00"},{"price":0.23805294965011603,"timestamp":"2024-09-12T18:48:47.1940557+00:00"},{"price":0.3147047635413529,"timestamp":"2024-09-12T19:48:47.1940559+00:00"},{"price":0.0809170381178677,"timestamp":"2024-09-12T20:48:47.1940561+00:00"},'
    b'{"price":0.87876012291829552,"timestamp":"2024-09-12T21:48:47.1940563+00:00"},{"price":0.045319833942664051,"timestamp":"2024-09-12T22:48:47.1940564+00:00"},{"price":0.07189678430164801,"timestamp":"2024-09-12T23:48:47.1940566+00:00"},{"price":0.41696272875667915,"timestamp":"2024-09-13T00:48:47.1940568+00:00"},'
    b'{"price":0.34686907872834799,"timestamp":"2024-09-13T01:48:47.1940569+00:00"},{"price":0.5344930384787764,"timestamp":"2024-09-13T02:48:47.1940571+00:00"},{"price":0.86902822702420966,"timestamp":"2024-09-13T03:48:47.1940573+00:00"},{"price":0.33362301716101126,"timestamp":"2024-09-13T04:48:47.1940574+00:00"},'
    b'{"price":0.60711420271789495,"timestamp":"2024-09-13T05:48:47.1940576+00:00"},{"price":0.79322502991284739,"timestamp":"2024-09-13T06:48:47.1940578+00:00"},{"price":0.91955989702518688,"timestamp":"2024-09-13T07:48:47.1940579+00:00"},{"price":0.60111170273588653,"timestamp":"2024-09-13T08:48:47.1940581+00:00"},'
    b'{"price":0.62505013481324776,"timestamp":"2024-09-13T09:48:47.1940582+00:00"},{"price":0.08493849865987804,"timestamp":"2024-09-13T10:48:47.1940584+00:00"},{"price":0.27264675914250499,"timestamp":"2024-09-13T11:48:47.1940586+00:00"},{"price":0.70827141966537241,"timestamp":"2024-09-13T12:48:47.1940587+00:00"}],'
    b'"energyUnit":"kWh","currency":"NOK","resolution":"01:00:00"},"priceArea":"SE1","payloadType":"PriceCurve"}}\n'
)
REFERENCE_SIGNATURE = "3NV3o7iHHwKXX+6yYjz0ihi7G0Xr1hyPnWCHksq7H40="


def test_signature_test_vector() -> None:
    """The signature reproduces the docs' test vector (raw bytes, final newline included)."""
    assert len(REFERENCE_NOTIFICATION) == 2274
    assert sign_payload(SECRET, REFERENCE_NOTIFICATION) == REFERENCE_SIGNATURE
    assert (
        sign_payload(SECRET, REFERENCE_NOTIFICATION.rstrip(b"\n"))
        != REFERENCE_SIGNATURE
    )


async def _register(
    client: Client, headers: dict[str, str], url: str, **fields: Any
) -> dict[str, Any]:
    status, body, _ = await client.request(
        "POST", HOOKS, json={"webhookUrl": url, **fields}, headers=headers
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def _verify(received: Any, secret: str = SECRET) -> None:
    expected = base64.b64encode(
        hmac.new(secret.encode(), received.raw, hashlib.sha256).digest()
    ).decode()
    assert received.headers["X-Payload-Signature"] == expected


async def test_webhook_crud(client: Client, sandbox: SandboxServer) -> None:
    """Register, list, read, replace, patch, enable/disable and delete webhooks."""
    headers = await client.energy_coordination_headers()
    hook = await _register(
        client,
        headers,
        "https://partner.example/notify",
        name="Example",
        webhookSecret=SECRET,
        notificationTypes=["LocationLPCRequested"],
    )
    assert set(hook) == {
        "webhookId",
        "webhookUrl",
        "name",
        "notificationTypes",
        "enabled",
        "status",
        "modifiedDate",
        "createdDate",
        "lastAnalyzedTimestamp",
    }
    assert (
        hook["name"],
        hook["notificationTypes"],
        hook["enabled"],
        hook["status"],
    ) == (
        "Example",
        ["LocationLPCRequested"],
        True,
        "New",
    )
    hook_id = hook["webhookId"]
    assert sandbox.state.energy_coordination.webhook_secrets[hook_id] == SECRET
    bare = await _register(client, headers, "http://127.0.0.1:9/x")
    assert (bare["name"], bare["notificationTypes"]) == (None, [])

    status, body, _ = await client.request("GET", HOOKS, headers=headers)
    assert (status, [h["webhookId"] for h in body["webhooks"]]) == (
        200,
        [hook_id, bare["webhookId"]],
    )
    assert "webhookSecret" not in str(body)
    status, body, _ = await client.request("GET", f"{HOOKS}/{hook_id}", headers=headers)
    assert (status, body) == (200, hook)

    status, body, _ = await client.request(
        "PUT",
        f"{HOOKS}/{hook_id}",
        json={"webhookUrl": "https://partner.example/v2", "enabled": False},
        headers=headers,
    )
    assert status == 200, body
    assert (
        body["webhookUrl"],
        body["name"],
        body["notificationTypes"],
        body["enabled"],
    ) == (
        "https://partner.example/v2",
        None,
        [],
        False,
    )
    assert sandbox.state.energy_coordination.webhook_secrets[hook_id] == SECRET
    status, body, _ = await client.request(
        "PATCH",
        f"{HOOKS}/{hook_id}",
        json={"name": "Renamed", "webhookSecret": "new-secret", "enabled": None},
        headers=headers,
    )
    assert status == 200, body
    assert (body["name"], body["enabled"]) == ("Renamed", False)
    assert sandbox.state.energy_coordination.webhook_secrets[hook_id] == "new-secret"

    status, body, _ = await client.request(
        "PUT", f"{HOOKS}/{hook_id}/enabled?enabled=true", headers=headers
    )
    assert (status, body) == (204, None)
    assert sandbox.state.energy_coordination.webhooks[hook_id]["enabled"] is True
    for query in ("", "?enabled=maybe"):
        status, body, resp = await client.request(
            "PUT", f"{HOOKS}/{hook_id}/enabled{query}", headers=headers
        )
        assert (status, resp.content_type) == (400, "application/problem+json")
    status, body, _ = await client.request(
        "PUT", f"{HOOKS}/nope/enabled?enabled=false", headers=headers
    )
    assert (status, body) == (404, None)

    snapshot = await client.control("GET", "/state")
    assert snapshot["energy_coordination"]["webhook_secrets"] == {
        hook_id: True,
        bare["webhookId"]: False,
    }
    status, body, _ = await client.request(
        "DELETE", f"{HOOKS}/{hook_id}", headers=headers
    )
    assert status == 204
    status, body, _ = await client.request(
        "DELETE", f"{HOOKS}/{hook_id}", headers=headers
    )
    assert status == 404
    assert isinstance(body, str)
    for method in ("GET", "PATCH"):
        status, body, _ = await client.request(
            method, f"{HOOKS}/{hook_id}", json={}, headers=headers
        )
        assert (status, body) == (404, None), method
    status, _, _ = await client.request("GET", HOOKS)
    assert status == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"webhookUrl": "partner.example/notify"},
        {"webhookUrl": "ftp://partner.example/notify"},
        {"webhookUrl": "https://"},
        {"webhookUrl": 5},
        {
            "webhookUrl": "https://partner.example/",
            "notificationTypes": ["EverythingCreated"],
        },
        {
            "webhookUrl": "https://partner.example/",
            "notificationTypes": ["Unknown", "Unknown"],
        },
        {"webhookUrl": "https://partner.example/", "notificationTypes": None},
        {"webhookUrl": "https://partner.example/", "webhookSecret": ""},
        {"webhookUrl": "https://partner.example/", "webhookSecret": 123},
        {"webhookUrl": "https://partner.example/", "enabled": True},
        {"webhookUrl": "https://partner.example/", "url": "x"},
        [],
    ],
)
async def test_webhook_validation(
    client: Client, sandbox: SandboxServer, body: Any
) -> None:
    """Bad registrations are 400 problem+json (HttpValidationProblemDetails)."""
    headers = await client.energy_coordination_headers()
    status, answer, resp = await client.request(
        "POST", HOOKS, json=body, headers=headers
    )
    assert (status, resp.content_type) == (400, "application/problem+json")
    assert answer["status"] == 400
    assert answer["errors"]
    assert sandbox.state.energy_coordination.webhooks == {}
    assert sandbox.state.violations[-1]["status"] == 400


async def test_signed_delivery_and_logs(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """A simulated event reaches subscribed webhooks, signed; each attempt is logged."""
    headers = await ec_partner(client)
    hook = await _register(
        client,
        headers,
        receiver.url,
        webhookSecret=SECRET,
        notificationTypes=["LocationLPCRequested", "PriceCurveCreated"],
    )
    await _register(
        client, headers, receiver.url, notificationTypes=["ResourceLPCRequested"]
    )
    disabled = await _register(client, headers, receiver.url, webhookSecret=SECRET)
    await client.request(
        "PUT", f"{HOOKS}/{disabled['webhookId']}/enabled?enabled=false", headers=headers
    )

    status, body, _ = await client.request(
        "POST", f"{SIM}/lpc/locations", json={}, headers=headers
    )
    assert status == 200
    event = body["simulatedEvent"]
    [received] = await receiver.wait_for(1)
    await sandbox.webhooks.wait_idle()
    assert len(receiver.received) == 1
    _verify(received)
    assert received.headers["Content-Type"] == "application/json"
    notification = received.json
    assert list(notification) == [
        "notificationId",
        "eventId",
        "eventCreatedAtUtc",
        "notificationSentUtc",
        "notificationType",
        "payload",
    ]
    assert (notification["eventId"], notification["notificationType"]) == (
        event["id"],
        "LocationLPCRequested",
    )
    assert notification["payload"] == event["payload"]
    assert notification["eventCreatedAtUtc"].endswith("+00:00")

    store = sandbox.state.energy_coordination
    [log] = store.logs_for(event["id"])
    assert log == {
        "webhookId": hook["webhookId"],
        "tenantId": SANDBOX_TENANT_ID,
        "partnerEventId": event["id"],
        "notificationId": notification["notificationId"],
        "notificationType": "LocationLPCRequested",
        "notificationSent": notification["notificationSentUtc"],
        "sparkSignature": received.headers["X-Payload-Signature"],
        "webhookUrl": receiver.url,
        "requestTimeout": False,
        "responseStatusCode": 200,
        "requestDurationMs": log["requestDurationMs"],
    }
    assert isinstance(log["requestDurationMs"], int)
    assert store.webhooks[hook["webhookId"]]["status"] == "Healthy"

    # The resource-only webhook gets the resource LPC, without a signature header.
    status, body, _ = await client.request(
        "POST", f"{SIM}/lpc/resources", json={}, headers=headers
    )
    await receiver.wait_for(2)
    await sandbox.webhooks.wait_idle()
    unsigned = receiver.received[1]
    assert unsigned.json["notificationType"] == "ResourceLPCRequested"
    assert "X-Payload-Signature" not in unsigned.headers
    assert store.logs_for(body["simulatedEvent"]["id"])[0]["sparkSignature"] is None

    status, body, _ = await client.request(
        "GET", f"{HOOKS}/logs?webhookId={hook['webhookId']}", headers=headers
    )
    assert status == 200
    assert body["webhookNotificationLogs"] == [log]
    assert body["pagination"]["totalRecords"] == 1
    status, body, _ = await client.request(
        "GET", f"{HOOKS}/logs?pageSize=1", headers=headers
    )
    assert (body["pagination"]["totalRecords"], body["pagination"]["nextPage"]) == (
        2,
        2,
    )
    assert (
        body["webhookNotificationLogs"][0]["notificationType"] == "ResourceLPCRequested"
    )
    status, body, resp = await client.request(
        "GET", f"{HOOKS}/logs?page=0", headers=headers
    )
    assert (status, resp.content_type) == (400, "application/problem+json")
    status, body, _ = await client.request(
        "GET", f"{HOOKS}/logs/{log['notificationId']}", headers=headers
    )
    assert status == 200
    assert body == {
        "webhookNotificationLog": log,
        "notificationContent": received.raw.decode(),
    }
    status, body, _ = await client.request("GET", f"{HOOKS}/logs/nope", headers=headers)
    assert (status, body) == (404, None)


async def test_retries_with_backoff_then_dropped(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """Non-2xx answers are retried 3 times with growing delays, then dropped."""
    headers = await client.energy_coordination_headers()
    hook = await _register(client, headers, receiver.url, webhookSecret=SECRET)
    receiver.statuses = [500, 503, 502, 500, 200]
    started = time.monotonic()
    event = await client.control(
        "POST",
        "/energy_coordination/events",
        {
            "payload": {
                "lastUpdated": "2026-01-01T00:00:00+00:00",
                "addedUsers": ["u1"],
                "removedUsers": [],
                "payloadType": "UserEligibility",
            }
        },
    )
    await sandbox.webhooks.wait_idle()
    elapsed = time.monotonic() - started
    assert len(receiver.received) == 4
    assert elapsed >= 0.05 + 0.1 + 0.2
    ids = {r.json["notificationId"] for r in receiver.received}
    assert len(ids) == 1
    for received in receiver.received:
        _verify(received)
    logs = sandbox.state.energy_coordination.logs_for(event["id"])
    assert [log["responseStatusCode"] for log in logs] == [500, 503, 502, 500]
    assert sandbox.state.energy_coordination.webhooks[hook["webhookId"]]["status"] == (
        "Unhealthy"
    )


async def test_retry_succeeds_and_connection_errors(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """One failure then success: two attempts. An unreachable URL is logged without status."""
    headers = await client.energy_coordination_headers()
    receiver.statuses = [503]
    await _register(client, headers, receiver.url, webhookSecret=SECRET)
    status, body, _ = await client.request(
        "POST", f"{SIM}/pricecurve", json={}, headers=headers
    )
    assert status == 200
    await sandbox.webhooks.wait_idle()
    logs = sandbox.state.energy_coordination.logs_for(body["simulatedEvent"]["id"])
    assert [log["responseStatusCode"] for log in logs] == [503, 200]

    # A port nobody listens on: connection refused, 4 attempts, no status.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await client.request("DELETE", f"{HOOKS}/{logs[0]['webhookId']}", headers=headers)
    await _register(client, headers, f"http://127.0.0.1:{port}/notify")
    status, body, _ = await client.request(
        "POST", f"{SIM}/pricecurve", json={}, headers=headers
    )
    await sandbox.webhooks.wait_idle()
    logs = sandbox.state.energy_coordination.logs_for(body["simulatedEvent"]["id"])
    assert [(log["responseStatusCode"], log["requestTimeout"]) for log in logs] == [
        (None, False)
    ] * 4


async def test_timeout(socket_enabled: None, receiver: WebhookReceiver) -> None:
    """An attempt that outlasts the timeout is logged as one and retried."""
    receiver.hang = True
    async with (
        SandboxServer(
            webhook_retry_base_delay=0.01, webhook_timeout=0.2, webhook_retries=1
        ) as server,
        aiohttp.ClientSession() as http,
    ):
        client = Client(server, http)
        headers = await client.energy_coordination_headers()
        hook = await _register(client, headers, receiver.url, webhookSecret=SECRET)
        await client.request("POST", f"{SIM}/usereligibility", headers=headers)
        await server.webhooks.wait_idle()
        logs = server.state.energy_coordination.webhook_logs
        assert [(log["requestTimeout"], log["responseStatusCode"]) for log in logs] == [
            (True, None),
            (True, None),
        ]
        assert all(log["requestDurationMs"] >= 150 for log in logs)
        assert (
            server.state.energy_coordination.webhooks[hook["webhookId"]]["status"]
            == "TimeOut"
        )


async def test_redelivery_control(
    client: Client, sandbox: SandboxServer, receiver: WebhookReceiver
) -> None:
    """The control route pushes an event again, under a new or the same notification id."""
    headers = await client.energy_coordination_headers()
    hook = await _register(client, headers, receiver.url, webhookSecret=SECRET)
    event = await client.control(
        "POST",
        "/energy_coordination/events",
        {
            "id": "evt-dup",
            "createdAt": "2026-03-03T13:00:00+01:00",
            "payload": {
                "targets": [
                    {
                        "locationId": "home",
                        "meterPointId": MPID,
                        "resolution": "01:00:00",
                        "points": [
                            {
                                "maxPowerInKiloWatts": 2,
                                "timestamp": "2026-03-03T12:00:00+00:00",
                            }
                        ],
                    }
                ],
                "payloadType": "LPCReservation",
            },
        },
    )
    first = (await receiver.wait_for(1))[0].json
    assert (
        first["eventId"],
        first["notificationType"],
        first["eventCreatedAtUtc"],
    ) == (
        "evt-dup",
        "LPCReservationCreated",
        "2026-03-03T12:00:00+00:00",
    )
    answer = await client.control(
        "POST", "/energy_coordination/webhooks/deliver", {"eventId": event["id"]}
    )
    assert answer["eventId"] == "evt-dup"
    [notification] = answer["notifications"]
    assert notification["webhookId"] == hook["webhookId"]
    assert notification["notificationId"] != first["notificationId"]
    answer = await client.control(
        "POST",
        "/energy_coordination/webhooks/deliver",
        {
            "eventId": "evt-dup",
            "webhookId": hook["webhookId"],
            "reuseNotificationId": True,
        },
    )
    assert (
        answer["notifications"][0]["notificationId"] == notification["notificationId"]
    )
    received = await receiver.wait_for(3)
    await sandbox.webhooks.wait_idle()
    assert [r.json["eventId"] for r in received] == ["evt-dup"] * 3
    assert received[1].json["payload"] == received[0].json["payload"]

    for body, expected in (
        ({"eventId": "nope"}, 404),
        ({"eventId": "evt-dup", "webhookId": "nope"}, 404),
        ({}, 400),
        ({"eventId": "evt-dup", "reuseNotificationId": "yes"}, 400),
        ({"eventId": "evt-dup", "extra": 1}, 400),
    ):
        status, _, _ = await client.request(
            "POST", "/_sandbox/energy_coordination/webhooks/deliver", json=body
        )
        assert status == expected, body


async def _pending_after_first_attempt(
    receiver: WebhookReceiver, server: SandboxServer, act: Callable[[], Awaitable[Any]]
) -> None:
    receiver.statuses = [500] * 10
    await act()
    await receiver.wait_for(1)
    assert server.webhooks.pending == 1


async def test_stop_and_reset_cancel_deliveries(
    socket_enabled: None, receiver: WebhookReceiver
) -> None:
    """Deliveries waiting to retry or in flight are cancelled by reset and stop; nothing lingers."""
    server = SandboxServer(webhook_retry_base_delay=30)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            client = Client(server, http)

            async def simulate() -> Any:
                headers = await client.energy_coordination_headers()
                await _register(client, headers, receiver.url, webhookSecret=SECRET)
                return await client.request(
                    "POST", f"{SIM}/usereligibility", headers=headers
                )

            await _pending_after_first_attempt(receiver, server, simulate)
            await client.control("POST", "/reset")
            await asyncio.sleep(0)
            await server.webhooks.wait_idle()
            assert server.webhooks.pending == 0

            # Stop while the request is in flight (the receiver does not answer).
            receiver.received.clear()
            receiver.hang = True
            await _pending_after_first_attempt(receiver, server, simulate)
    finally:
        await server.stop()
    assert server.webhooks.pending == 0
    assert not [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("sandbox-webhook-")
    ]
