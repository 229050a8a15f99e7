"""Energy Coordination LPC events: received, acknowledged once, started, ended."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
import hashlib
import hmac
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.calendar import DOMAIN as CALENDAR_DOMAIN
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.gridflex.const import DOMAIN

from .conftest import GSRN_NO, Sandbox, setup_site
from .test_resources import add_resource, subentry_by_title

T0 = datetime.fromisoformat("2026-11-22T10:00:00+00:00")
LPC_ACTIVE = "binary_sensor.home_lpc_active"
LIMIT = "sensor.home_power_limit"
NEXT = "sensor.home_next_grid_event"
GRID_EVENT = "event.home_grid_event"
CALENDAR = "calendar.home_grid_events"


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


async def _lpc_event(sandbox: Sandbox, entry: ConfigEntry, hours: list[float]) -> str:
    """Create an LPC event for the site's location: 5 kW, then 3 kW."""
    location_id = entry.data["site_id"].split("/", 1)[1]
    points = [
        {
            "timestamp": (T0 + timedelta(hours=1 + index)).isoformat(),
            "maxPowerInKiloWatts": limit,
        }
        for index, limit in enumerate(hours)
    ]
    created = await sandbox.control(
        "POST",
        "energy_coordination/events",
        {
            "payload": {
                "payloadType": "LocationLPC",
                "targets": [
                    {
                        "locationId": location_id,
                        "meterPointId": GSRN_NO,
                        "resolution": "01:00:00",
                        "points": points,
                    }
                ],
            }
        },
    )
    return str(created["id"])


def _acknowledgements(sandbox: Sandbox, event_id: str) -> list[dict[str, Any]]:
    return [
        report
        for report in sandbox.server.state.energy_coordination.reports
        if report["eventId"] == event_id
        and "Acknowledgement" in report["body"]["payloads"][0]["payloadType"]
    ]


async def test_lpc_event_lifecycle(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An LPC event is acknowledged once and drives the entities through its hours."""
    bus_events: list[Event] = []
    hass.bus.async_listen(f"{DOMAIN}_grid_event", bus_events.append)
    entry = await setup_site(hass, sandbox, "energy_coordination")
    assert hass.states.get(LPC_ACTIVE).state == STATE_OFF
    event_id = await _lpc_event(sandbox, entry, [5, 5, 3])

    await _advance(hass, freezer, T0 + timedelta(minutes=5))  # next poll
    assert len(_acknowledgements(sandbox, event_id)) == 1
    ack = _acknowledgements(sandbox, event_id)[0]["body"]["payloads"][0]
    assert ack["payloadType"] == "LocationLPCAcknowledgement"
    assert ack["acknowledgedTargets"][0]["meterPointId"] == GSRN_NO
    state = hass.states.get(GRID_EVENT)
    assert state.attributes["event_type"] == "lpc_received"
    assert state.attributes["event_id"] == event_id
    assert hass.states.get(NEXT).state == "2026-11-22T11:00:00+00:00"
    assert hass.states.get(LIMIT).state == STATE_UNKNOWN

    calendar = await hass.services.async_call(
        CALENDAR_DOMAIN,
        "get_events",
        {"entity_id": CALENDAR, "duration": {"hours": 24}},
        blocking=True,
        return_response=True,
    )
    summaries = [e["summary"] for e in calendar[CALENDAR]["events"]]
    # Touching hours with the same limit are one window.
    assert summaries == ["LPC 5 kW", "LPC 3 kW"]

    await _advance(hass, freezer, T0 + timedelta(hours=1))
    assert hass.states.get(LPC_ACTIVE).state == STATE_ON
    assert hass.states.get(LIMIT).state == "5"
    assert hass.states.get(GRID_EVENT).attributes["event_type"] == "lpc_started"

    await _advance(hass, freezer, T0 + timedelta(hours=3, minutes=30))
    assert hass.states.get(LIMIT).state == "3"

    await _advance(hass, freezer, T0 + timedelta(hours=4))
    assert hass.states.get(LPC_ACTIVE).state == STATE_OFF
    assert hass.states.get(GRID_EVENT).attributes["event_type"] == "lpc_ended"
    # At 13:00 the 5 kW window ends as the 3 kW one starts (same moment).
    types = [e.data["type"] for e in bus_events]
    assert types[0] == "lpc_received"
    assert sorted(types[1:]) == ["lpc_ended", "lpc_ended", "lpc_started", "lpc_started"]
    assert types[-1] == "lpc_ended"
    assert {
        e.data["limit_kw"] for e in bus_events if e.data["type"] != "lpc_received"
    } == {5.0, 3.0}
    assert len(_acknowledgements(sandbox, event_id)) == 1


async def test_acknowledged_once_across_restart(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A restart does not acknowledge the same event again."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _lpc_event(sandbox, entry, [4])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert len(_acknowledgements(sandbox, event_id)) == 1

    assert await hass.config_entries.async_reload(entry.entry_id)
    await _advance(hass, freezer, T0 + timedelta(minutes=15))
    assert len(_acknowledgements(sandbox, event_id)) == 1
    # The event is still known, and still drives the entities.
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert hass.states.get(LPC_ACTIVE).state == STATE_ON


async def test_acknowledgement_retried(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A failed acknowledgement is sent on a later poll, once."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _lpc_event(sandbox, entry, [4])
    await sandbox.fault("/energy-coordination/v1/reports", "status", status=503)
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert _acknowledgements(sandbox, event_id) == []
    await sandbox.clear_faults()
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    await _advance(hass, freezer, T0 + timedelta(minutes=15))
    assert len(_acknowledgements(sandbox, event_id)) == 1


def _notification(
    event_id: str, payload: dict[str, Any], notification_id: str
) -> bytes:
    return json.dumps(
        {
            "notificationId": notification_id,
            "eventId": event_id,
            "eventCreatedAtUtc": T0.isoformat(),
            "notificationSentUtc": T0.isoformat(),
            "notificationType": "LocationLPCRequested",
            "payload": payload,
        }
    ).encode()


def _sign(secret: str, body: bytes) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), body, hashlib.sha256).digest()
    ).decode()


async def test_without_external_url_polls_only(
    hass: HomeAssistant, sandbox: Sandbox, issue_registry: ir.IssueRegistry
) -> None:
    """No address the platform can reach: a repair says events come by polling."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    assert issue_registry.async_get_issue(
        DOMAIN, f"webhook_unreachable_{entry.entry_id}"
    )
    assert sandbox.server.state.energy_coordination.webhooks == {}


async def test_webhook_push(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A signed push is processed at once, once; poll and push give one grid event."""
    await hass.config.async_update(external_url="https://home.example.org")
    entry = await setup_site(hass, sandbox, "energy_coordination")
    assert not issue_registry.async_get_issue(
        DOMAIN, f"webhook_unreachable_{entry.entry_id}"
    )
    webhooks = sandbox.server.state.energy_coordination.webhooks
    assert len(webhooks) == 1
    registered = next(iter(webhooks.values()))
    webhook_id = entry.data["webhook_id"]
    assert (
        registered["webhookUrl"] == f"https://home.example.org/api/webhook/{webhook_id}"
    )
    secret = entry.data["webhook_secret"]

    event_id = await _lpc_event(sandbox, entry, [4])
    payload = sandbox.server.state.energy_coordination.events[event_id]["payload"]
    body = _notification(event_id, payload, "n-1")
    client = await hass_client_no_auth()

    # A wrong signature is refused and changes nothing.
    resp = await client.post(
        f"/api/webhook/{webhook_id}",
        data=body,
        headers={"X-Payload-Signature": _sign("not-the-secret", body)},
    )
    assert resp.status == 400
    await hass.async_block_till_done()
    assert hass.states.get(GRID_EVENT).state == STATE_UNKNOWN
    assert _acknowledgements(sandbox, event_id) == []

    # Signed but not a notification: refused.
    garbage = b"not json"
    resp = await client.post(
        f"/api/webhook/{webhook_id}",
        data=garbage,
        headers={"X-Payload-Signature": _sign(secret, garbage)},
    )
    assert resp.status == 400

    # Signed: processed at once (no poll needed), acknowledged.
    for _ in range(2):  # the platform retries: a duplicate is processed once
        resp = await client.post(
            f"/api/webhook/{webhook_id}",
            data=body,
            headers={"X-Payload-Signature": _sign(secret, body)},
        )
        assert resp.status == 200
        await hass.async_block_till_done()
    assert hass.states.get(GRID_EVENT).attributes["event_id"] == event_id
    assert len(_acknowledgements(sandbox, event_id)) == 1
    received = hass.states.get(GRID_EVENT).last_changed

    # The same event by polling: still one grid event, one acknowledgement.
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert hass.states.get(GRID_EVENT).last_changed == received
    assert len(_acknowledgements(sandbox, event_id)) == 1

    # Removing GridFlex unregisters the webhook on the platform.
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert sandbox.server.state.energy_coordination.webhooks == {}


async def test_actions(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """List, decline, acknowledge, report and simulate grid events by action."""
    entry = await setup_site(hass, sandbox, "energy_coordination")
    event_id = await _lpc_event(sandbox, entry, [4])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    target = {"config_entry_id": entry.entry_id}

    listed = await hass.services.async_call(
        DOMAIN, "list_grid_events", target, blocking=True, return_response=True
    )
    [event] = listed["events"]
    assert event["event_id"] == event_id
    assert event["acknowledged"] is True
    assert event["reported"] is False
    assert event["windows"][0]["max_power_kw"] == "4"

    # Answered already: the platform takes one answer per event.
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "decline_event", {**target, "event_id": event_id}, blocking=True
        )
    assert err.value.translation_key == "acknowledged_cannot_decline"
    assert len(_acknowledgements(sandbox, event_id)) == 1

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "send_energy_report",
            {**target, "event_id": event_id},
            blocking=True,
        )
    assert err.value.translation_key == "event_not_ended"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "acknowledge_event", {**target, "event_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "unknown_event"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "list_grid_events",
            {"config_entry_id": "nope"},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "unknown_entry"

    # A new event whose automatic acknowledgement failed: declining it on
    # the homeowner's request fails too while the platform is down.
    await sandbox.fault("/energy-coordination/v1/reports", "status", status=503)
    second = await _lpc_event(sandbox, entry, [2])
    await _advance(hass, freezer, T0 + timedelta(minutes=10))
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "decline_event", {**target, "event_id": second}, blocking=True
        )
    assert err.value.translation_key == "platform_refused"
    await sandbox.clear_faults()

    before = len(sandbox.server.state.energy_coordination.events)
    await hass.services.async_call(DOMAIN, "simulate_lpc_event", target, blocking=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(sandbox.server.state.energy_coordination.events) == before + 1
    listed = await hass.services.async_call(
        DOMAIN, "list_grid_events", target, blocking=True, return_response=True
    )
    assert len(listed["events"]) == 3


async def test_lpc_compliance(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Compliance is the site's grid power as a share of the limit in force."""
    hass.states.async_set(
        "sensor.grid_power",
        "4000",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    entry = await setup_site(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": "sensor.grid_power"}
    )
    await hass.async_block_till_done()
    await _lpc_event(sandbox, entry, [5])
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    assert hass.states.get("sensor.home_power_against_limit").state == STATE_UNKNOWN

    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1))
    assert hass.states.get("sensor.home_power_against_limit").state == "80.0"
    hass.states.async_set(
        "sensor.grid_power",
        "6.5",
        {"unit_of_measurement": "kW", "device_class": "power"},
    )
    await hass.async_block_till_done()
    # The change is recorded; the meter's 4 s refresh shows it.
    assert hass.states.get("sensor.home_power_against_limit").state == "80.0"
    await _advance(hass, freezer, T0 + timedelta(hours=1, minutes=1, seconds=4))
    assert hass.states.get("sensor.home_power_against_limit").state == "130.0"


async def test_powernaut_activation(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An activation by webhook and by polling is one grid event; cancelling ends it."""
    await hass.config.async_update(external_url="https://home.example.org")
    hass.states.async_set(
        "sensor.battery_power",
        "0",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    entry = await setup_site(hass, sandbox, "powernaut")
    await add_resource(
        hass,
        entry,
        "Battery",
        "battery",
        {
            "power_entity": "sensor.battery_power",
            "power_min_kw": -5,
            "power_max_kw": 5,
            "capacity_kwh": 10,
        },
    )
    # The resource gets its webhook when GridFlex (re)starts.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    resource_id = subentry_by_title(entry, "Battery").data["resource_id"]
    webhook_id = entry.data["webhook_id"]
    resource = sandbox.server.state.powernaut.resources[resource_id]
    assert resource["webhooks"] == {
        "accepted": f"https://home.example.org/api/webhook/{webhook_id}"
    }

    start = T0 + timedelta(minutes=15)
    bid = await sandbox.control(
        "POST",
        f"powernaut/resources/{resource_id}/bids",
        {
            "timing": {
                "start": start.isoformat().replace("+00:00", "Z"),
                "end": (start + timedelta(minutes=15))
                .isoformat()
                .replace("+00:00", "Z"),
            },
            "curve": [{"value": "2.5"}],
        },
    )
    await sandbox.control(
        "POST", f"powernaut/bids/{bid['id']}/activate", {"value": "2.5"}
    )
    client = await hass_client_no_auth()
    resp = await client.post(f"/api/webhook/{webhook_id}", json={"id": bid["id"]})
    assert resp.status == 200
    await hass.async_block_till_done()
    setpoint = "sensor.home_activation_setpoint"
    assert hass.states.get(setpoint).state == STATE_UNKNOWN

    # Polling finds the same activation: still one grid event.
    await _advance(hass, freezer, T0 + timedelta(minutes=5))
    listed = await hass.services.async_call(
        DOMAIN,
        "list_grid_events",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert [e["event_id"] for e in listed["events"]] == [f"activation-{bid['id']}"]

    await _advance(hass, freezer, start + timedelta(seconds=1))
    assert hass.states.get(GRID_EVENT).attributes["event_type"] == "activation_started"
    assert hass.states.get(setpoint).state == "2.5"

    await sandbox.control(
        "POST", f"powernaut/bids/{bid['id']}/activate", {"value": None}
    )
    resp = await client.post(f"/api/webhook/{webhook_id}", json={"id": bid["id"]})
    assert resp.status == 200
    await hass.async_block_till_done()
    assert (
        hass.states.get(GRID_EVENT).attributes["event_type"] == "activation_cancelled"
    )
    assert hass.states.get(setpoint).state == STATE_UNKNOWN
