"""Grid events exactly once and never lost, inside Home Assistant against the sandbox.

Races, slow platforms, missed pushes, hostile payloads, reinstalls and
idempotent actions, over real HTTP.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta
import hashlib
import hmac
import json
import logging
from typing import Any
import uuid

from aiohttp.test_utils import TestClient
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.ledger import ledger_key

from .conftest import GSRN_NO, Sandbox, setup_site

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
GRID_EVENT = "event.home_grid_event"
LPC_ACTIVE = "binary_sensor.home_lpc_active"
EXTERNAL_URL = "https://home.example.org"
ACK_TYPES = ("LocationLPCAcknowledgement", "ResourceLPCAcknowledgement")


@pytest.fixture(autouse=True)
def morning(freezer: FrozenDateTimeFactory) -> None:
    """Start the day at 10:00 UTC."""
    freezer.move_to(T0)


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, to: datetime
) -> None:
    freezer.move_to(to)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _location(entry: ConfigEntry) -> str:
    return str(entry.data["site_id"].split("/", 1)[1])


def _lpc_payload(
    entry: ConfigEntry, hours: list[float], *, first: datetime | None = None
) -> dict[str, Any]:
    return _location_lpc(_location(entry), hours, first=first)


def _location_lpc(
    location: str, hours: list[float], *, first: datetime | None = None
) -> dict[str, Any]:
    start = first or T0 + timedelta(hours=1)
    return {
        "payloadType": "LocationLPC",
        "targets": [
            {
                "locationId": location,
                "meterPointId": GSRN_NO,
                "resolution": "01:00:00",
                "points": [
                    {
                        "timestamp": (start + timedelta(hours=i)).isoformat(),
                        "maxPowerInKiloWatts": limit,
                    }
                    for i, limit in enumerate(hours)
                ],
            }
        ],
    }


async def _event(sandbox: Sandbox, payload: dict[str, Any]) -> str:
    created = await sandbox.control(
        "POST", "energy_coordination/events", {"payload": payload}
    )
    return str(created["id"])


def _acks(sandbox: Sandbox, event_id: str) -> int:
    state = sandbox.server.state.energy_coordination
    return sum(state.count_payloads(event_id, kind) for kind in ACK_TYPES)


def _all_acks(sandbox: Sandbox) -> dict[str, int]:
    state = sandbox.server.state.energy_coordination
    counts: dict[str, int] = {}
    for report in state.reports:
        for kind in report["payloadTypes"]:
            if kind in ACK_TYPES:
                counts[report["eventId"]] = counts.get(report["eventId"], 0) + 1
    return counts


def _sign(secret: str, body: bytes) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), body, hashlib.sha256).digest()
    ).decode()


def _notification(sandbox: Sandbox, event_id: str, notification_id: str) -> bytes:
    stored = sandbox.server.state.energy_coordination.events[event_id]
    return json.dumps(
        {
            "notificationId": notification_id,
            "eventId": event_id,
            "eventCreatedAtUtc": stored["createdAt"],
            "notificationSentUtc": stored["createdAt"],
            "notificationType": "LocationLPCRequested",
            "payload": stored["payload"],
        }
    ).encode()


async def _push(
    client: TestClient, entry: ConfigEntry, body: bytes, *, secret: str | None = None
) -> int:
    resp = await client.post(
        f"/api/webhook/{entry.data['webhook_id']}",
        data=body,
        headers={
            "X-Payload-Signature": _sign(secret or entry.data["webhook_secret"], body)
        },
    )
    return resp.status


async def _pushing_site(hass: HomeAssistant, sandbox: Sandbox) -> ConfigEntry:
    await hass.config.async_update(external_url=EXTERNAL_URL)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data.get("platform_webhook_id")
    return entry


async def _list(hass: HomeAssistant, entry: ConfigEntry) -> list[dict[str, Any]]:
    listed = await hass.services.async_call(
        DOMAIN,
        "list_grid_events",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    return list(listed["events"])


async def test_concurrent_pushes_and_poll_acknowledge_once(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
) -> None:
    """Three concurrent deliveries of one new event plus a poll: one acknowledgement.

    Twenty rounds, each with a new event; never more than one acknowledgement.
    """
    entry = await _pushing_site(hass, sandbox)
    client = await hass_client_no_auth()
    events = entry.runtime_data.event_coordinator
    for _ in range(20):
        event_id = await _event(sandbox, _lpc_payload(entry, [4]))
        statuses = await asyncio.gather(
            *(
                _push(
                    client, entry, _notification(sandbox, event_id, str(uuid.uuid4()))
                )
                for _ in range(3)
            ),
            events.async_refresh(),
        )
        assert statuses[:3] == [200, 200, 200]
        await hass.async_block_till_done(wait_background_tasks=True)
        assert _acks(sandbox, event_id) == 1
    assert set(_all_acks(sandbox).values()) == {1}
    assert len(_all_acks(sandbox)) == 20


async def test_missed_push_is_polled(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Event A is never pushed, newer B is: the next poll still finds A."""
    entry = await _pushing_site(hass, sandbox)
    client = await hass_client_no_auth()
    webhooks = sandbox.server.state.energy_coordination.webhooks
    for webhook in webhooks.values():
        webhook["enabled"] = False  # A is not delivered
    event_a = await _event(sandbox, _lpc_payload(entry, [4]))
    freezer.tick(timedelta(seconds=30))
    event_b = await _event(sandbox, _lpc_payload(entry, [3]))
    assert await _push(client, entry, _notification(sandbox, event_b, "n-b")) == 200
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _acks(sandbox, event_b) == 1
    assert _acks(sandbox, event_a) == 0

    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert _acks(sandbox, event_a) == 1
    assert _acks(sandbox, event_b) == 1
    assert {e["event_id"] for e in await _list(hass, entry)} >= {event_a, event_b}


async def test_poison_events_never_stop_polling(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A year-9999 event on the platform: setup works, others go on, no traceback."""
    await hass.config.async_update(external_url=EXTERNAL_URL)
    state = sandbox.server.state.energy_coordination
    # The sandbox's events are what the platform sends; put hostile ones in
    # directly (the platform's own validation is what failed).
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await hass.async_block_till_done(wait_background_tasks=True)
    good = await _event(sandbox, _lpc_payload(entry, [4]))
    bad_payload = _lpc_payload(
        entry, [4], first=datetime.fromisoformat("9999-12-31T23:00:00+00:00")
    )
    state.events["poison-9999"] = {
        "id": "poison-9999",
        "createdAt": T0.isoformat().replace("+00:00", "Z"),
        "payload": bad_payload,
    }
    span = _lpc_payload(entry, [4])
    span["targets"][0]["resolution"] = "10675199.02:48:05"
    state.events["poison-span"] = {
        "id": "poison-span",
        "createdAt": T0.isoformat().replace("+00:00", "Z"),
        "payload": span,
    }
    caplog.set_level(logging.WARNING)
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    events = entry.runtime_data.event_coordinator
    assert events.last_update_success
    assert _acks(sandbox, good) == 1
    listed = {e["event_id"]: e for e in await _list(hass, entry)}
    assert listed["poison-9999"]["valid"] is False
    assert listed["poison-span"]["valid"] is False
    assert listed[good]["valid"] is True

    # The same in a signed push: refused with 400, nothing breaks.
    client = await hass_client_no_auth()
    body = json.dumps(
        {
            "notificationId": "n-poison",
            "eventId": "poison-push",
            "eventCreatedAtUtc": "2026-11-22T10:00:00Z",
            "notificationSentUtc": "2026-11-22T10:00:00Z",
            "notificationType": "LocationLPCRequested",
            "payload": bad_payload,
        }
    ).encode()
    assert await _push(client, entry, body) == 400
    deep = b"[" * 100_000 + b"]" * 100_000
    assert await _push(client, entry, deep) == 400
    huge = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    assert await _push(client, entry, huge) == 400

    # Polling goes on, and a reload (setup) works with the poison on the platform.
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    assert events.last_update_success
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.event_coordinator.last_update_success
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Each unreadable event is logged once.
    logged = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "poison-9999" in r.getMessage()
    ]
    assert len(logged) == 1


async def test_actions_are_idempotent(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Acknowledging twice, declining after acknowledging, … send nothing."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    target = {"config_entry_id": entry.entry_id}
    event_id = await _event(sandbox, _lpc_payload(entry, [4]))
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert _acks(sandbox, event_id) == 1

    for action, key in (
        ("acknowledge_event", "already_acknowledged"),
        ("decline_event", "acknowledged_cannot_decline"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, action, {**target, "event_id": event_id}, blocking=True
            )
        assert err.value.translation_key == key
    assert _acks(sandbox, event_id) == 1

    # An event not yet answered (the platform refused the automatic answer)
    # can be declined once; then it is declined, not in force, and says so.
    await sandbox.fault(
        "/energy-coordination/v1/reports", "status", status=503, times=1
    )
    declined_id = await _event(
        sandbox, _lpc_payload(entry, [2], first=T0 + timedelta(hours=2))
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    assert _acks(sandbox, declined_id) == 0
    fired: list[Any] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", fired.append)
    await hass.services.async_call(
        DOMAIN, "decline_event", {**target, "event_id": declined_id}, blocking=True
    )
    await hass.async_block_till_done()
    assert _acks(sandbox, declined_id) == 1
    assert [e.data["type"] for e in fired] == ["lpc_declined"]
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "acknowledge_event",
            {**target, "event_id": declined_id},
            blocking=True,
        )
    assert err.value.translation_key == "already_declined"
    listed = {e["event_id"]: e for e in await _list(hass, entry)}
    assert listed[declined_id]["declined"] is True
    assert listed[declined_id]["acknowledged"] is False
    # The worker does not acknowledge a declined event later on.
    await _advance(hass, freezer, T0 + timedelta(hours=2, minutes=30))
    assert _acks(sandbox, declined_id) == 1
    assert hass.states.get(LPC_ACTIVE).state == STATE_OFF


async def test_late_arrival_is_acknowledged(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An event that arrives after its hours ended is still acknowledged."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _event(
        sandbox, _lpc_payload(entry, [4], first=T0 - timedelta(hours=3))
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert _acks(sandbox, event_id) == 1


async def test_interrupted_send_is_resent_at_most_once(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A send in flight when Home Assistant stopped is resent once, never more."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    first = await _event(sandbox, _lpc_payload(entry, [4]))
    second = await _event(sandbox, _lpc_payload(entry, [3]))
    await sandbox.fault("/energy-coordination/v1/reports", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert _acks(sandbox, first) == _acks(sandbox, second) == 0
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await sandbox.clear_faults()
    # As if Home Assistant had stopped while the first was out, and while the
    # second was resent after an unknown outcome.
    key = ledger_key(
        "energy_coordination", "custom", sandbox.url, entry.data["site_id"]
    )
    rows = hass_storage[key]["data"]["rows"]
    rows[first]["answer"]["state"] = "sending"
    rows[second]["answer"] |= {"state": "sending", "resent": True}
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    await _advance(hass, freezer, T0 + timedelta(minutes=15))
    listed = {e["event_id"]: e for e in await _list(hass, entry)}
    assert _acks(sandbox, first) == 1
    assert listed[first]["answer"]["state"] == "done"
    assert listed[first]["answer"]["resent"] is True
    assert _acks(sandbox, second) == 0
    assert listed[second]["answer"]["state"] == "unknown"


async def test_webhook_health(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Disabled → enabled again; deleted → registered again; unhealthy → repair."""
    entry = await _pushing_site(hass, sandbox)
    webhooks = sandbox.server.state.energy_coordination.webhooks
    [webhook] = webhooks.values()
    webhook["enabled"] = False
    await _advance(hass, freezer, T0 + timedelta(days=1, minutes=1))
    assert webhook["enabled"] is True

    webhooks.clear()
    await _advance(hass, freezer, T0 + timedelta(days=2, minutes=2))
    assert len(webhooks) == 1
    [webhook] = webhooks.values()
    assert entry.data["platform_webhook_id"] == webhook["webhookId"]

    webhook["status"] = "Unhealthy"
    await _advance(hass, freezer, T0 + timedelta(days=3, minutes=3))
    issue = issue_registry.async_get_issue(
        DOMAIN, f"webhook_unhealthy_{entry.entry_id}"
    )
    assert issue is not None
    webhook["status"] = "Healthy"
    await _advance(hass, freezer, T0 + timedelta(days=4, minutes=4))
    assert not issue_registry.async_get_issue(
        DOMAIN, f"webhook_unhealthy_{entry.entry_id}"
    )


async def test_user_eligibility_repair(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The platform removes the site's user: a repair; adds it back: cleared.

    The event makes GridFlex read the user's eligibility again at once (the
    programme's own poll is hours away).
    """
    entry = await setup_site(hass, sandbox, "energy_coordination")
    user_id = entry.data["site_id"].split("/", 1)[0]
    issue_id = f"not_eligible_{entry.entry_id}"
    await sandbox.control(
        "PUT",
        f"energy-coordination/users/{user_id}/eligibility",
        {"isEligible": False, "publish": True},
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert issue_registry.async_get_issue(DOMAIN, issue_id)
    freezer.tick(timedelta(seconds=1))
    await sandbox.control(
        "PUT",
        f"energy-coordination/users/{user_id}/eligibility",
        {"isEligible": True, "publish": True},
    )
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    assert not issue_registry.async_get_issue(DOMAIN, issue_id)


async def test_old_events_are_pruned(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Events that no longer matter are forgotten after 60 days, and stay so."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _event(sandbox, _lpc_payload(entry, [4]))
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    events = entry.runtime_data.event_coordinator
    assert event_id in events.ledger.events
    # Never reported (no energy sensor): past the platform's deadline (the end
    # of the event's month) the report is closed as expired.
    await _advance(hass, freezer, T0 + timedelta(days=9))
    assert events.ledger.state(event_id, "report") == "expired"
    assert event_id in events.ledger.events
    await _advance(hass, freezer, T0 + timedelta(days=61))
    await _advance(hass, freezer, T0 + timedelta(days=61, minutes=5))
    assert event_id not in events.ledger.events
    # The platform still lists it: it does not come back.
    await _advance(hass, freezer, T0 + timedelta(days=61, minutes=10))
    assert event_id not in events.ledger.events
    assert _acks(sandbox, event_id) == 1


async def test_platform_pushes_for_real(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The sandbox itself pushes to Home Assistant over HTTP: signed, once each.

    The event's first delivery, then three concurrent redeliveries (each with
    its own notification id) racing a poll: one grid event, one acknowledgement.
    """
    entry = await setup_site(hass, sandbox, "energy_coordination")
    assert not entry.data.get("platform_webhook_id")  # no address yet
    client = await hass_client_no_auth()
    await hass.config.async_update(external_url=str(client.make_url("")).rstrip("/"))
    # The daily check registers the webhook once Home Assistant has an address.
    await _advance(hass, freezer, T0 + timedelta(days=1, minutes=1))
    assert entry.data.get("platform_webhook_id")
    fired: list[Any] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", fired.append)
    event_id = await _event(sandbox, _lpc_payload(entry, [4]))
    delivered = await sandbox.control(
        "POST", f"energy-coordination/events/{event_id}/deliver", {"times": 3}
    )
    await entry.runtime_data.event_coordinator.async_refresh()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [d["responseStatusCode"] for d in delivered["deliveries"]] == [200] * 3
    assert _acks(sandbox, event_id) == 1
    assert [e.data["type"] for e in fired] == ["lpc_received"]
    state = sandbox.server.state.energy_coordination
    # The automatic delivery at creation reached Home Assistant too.
    assert {log["responseStatusCode"] for log in state.logs_for(event_id)} == {200}
    assert len(state.logs_for(event_id)) == 4
    assert not issue_registry.async_get_issue(
        DOMAIN, f"webhook_unreachable_{entry.entry_id}"
    )


async def test_first_poll_keeps_past_events_as_history(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Added to a site with a past: ended events are history, running ones answered.

    Whether an event that ended before GridFlex followed the site was answered
    or reported then is not known here; nothing is guessed or sent for it.
    """
    await hass.config.async_update(external_url=None)
    freezer.move_to(T0 - timedelta(hours=6))
    # The platform's history for this location, before GridFlex is added.
    location = "gridflex-" + GSRN_NO
    entry_like = type("E", (), {"data": {"site_id": f"{location}/{location}"}})()
    past = await _event(
        sandbox,
        _lpc_payload(entry_like, [4], first=T0 - timedelta(hours=5)),  # type: ignore[arg-type]
    )
    running = await _event(
        sandbox,
        _lpc_payload(entry_like, [3, 3], first=T0 - timedelta(hours=1)),  # type: ignore[arg-type]
    )
    freezer.move_to(T0)
    fired: list[Any] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", fired.append)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _acks(sandbox, past) == 0
    assert _acks(sandbox, running) == 1
    assert [e.data["event_id"] for e in fired if e.data["type"] == "lpc_received"] == [
        running
    ]
    listed = {e["event_id"]: e for e in await _list(hass, entry)}
    assert listed[past]["answer"]["state"] == "history"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "acknowledge_event",
            {"config_entry_id": entry.entry_id, "event_id": past},
            blocking=True,
        )
    assert err.value.translation_key == "event_history"
    await _advance(hass, freezer, T0 + timedelta(hours=2))
    assert _acks(sandbox, past) == 0


async def test_webhook_check_survives_platform_errors(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The daily check tolerates an unreachable platform; enabling may fail."""
    entry = await _pushing_site(hass, sandbox)
    [webhook] = sandbox.server.state.energy_coordination.webhooks.values()
    await sandbox.fault("/energy-coordination/v1/webhooks/*", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(days=1, minutes=1))
    assert entry.data["platform_webhook_id"] == webhook["webhookId"]
    await sandbox.clear_faults()
    webhook["enabled"] = False
    await sandbox.fault(
        "/energy-coordination/v1/webhooks/*/enabled", "status", status=503
    )
    await _advance(hass, freezer, T0 + timedelta(days=2, minutes=2))
    assert webhook["enabled"] is False
    assert "Could not enable the grid event webhook" in caplog.text
    assert not issue_registry.async_get_issue(
        DOMAIN, f"webhook_unhealthy_{entry.entry_id}"
    )


async def test_signed_but_unreadable_notifications(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
) -> None:
    """Signed junk is refused with 400; an unreadable event is kept aside by id."""
    entry = await _pushing_site(hass, sandbox)
    client = await hass_client_no_auth()
    no_id = json.dumps({"notificationId": "n-1", "payload": {}}).encode()
    assert await _push(client, entry, no_id) == 400
    bad = json.dumps(
        {
            "notificationId": "n-2",
            "eventId": "bad-limits",
            "eventCreatedAtUtc": "2026-11-22T10:00:00Z",
            "notificationSentUtc": "2026-11-22T10:00:00Z",
            "notificationType": "LocationLPCRequested",
            "payload": {
                **_lpc_payload(entry, [4]),
                "targets": [
                    {
                        **_lpc_payload(entry, [4])["targets"][0],
                        "points": [
                            {
                                "timestamp": "2026-11-22T11:00:00Z",
                                "maxPowerInKiloWatts": "x",
                            }
                        ],
                    }
                ],
            },
        }
    ).encode()
    assert await _push(client, entry, bad) == 400
    listed = {e["event_id"]: e for e in await _list(hass, entry)}
    assert listed["bad-limits"]["valid"] is False
    assert listed["bad-limits"]["raw_type"] == "LocationLPC"
    assert set(listed) == {"bad-limits"}


async def test_answer_in_flight_is_not_sent_again(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """While an answer's outcome is unknown, the actions refuse to send another."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _event(sandbox, _lpc_payload(entry, [4]))
    await sandbox.fault("/energy-coordination/v1/reports", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    events = entry.runtime_data.event_coordinator
    events.ledger.rows[event_id]["answer"] |= {"state": "unknown", "resent": True}
    for action in ("acknowledge_event", "decline_event"):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                action,
                {"config_entry_id": entry.entry_id, "event_id": event_id},
                blocking=True,
            )
        assert err.value.translation_key == "answer_pending"
    assert _acks(sandbox, event_id) == 0
