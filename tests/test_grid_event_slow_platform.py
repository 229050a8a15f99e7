"""A slow platform never makes a push late, and never makes it acknowledged twice.

Real time here (no frozen clock): the platform's ``/reports`` takes 12 s.
"""

from __future__ import annotations

import time

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import Sandbox
from .test_grid_event_ledger import (
    _acks,
    _event,
    _list,
    _lpc_payload,
    _notification,
    _push,
    _pushing_site,
)


async def test_webhook_answers_at_once_while_the_platform_is_slow(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    sandbox: Sandbox,
) -> None:
    """/reports takes 12 s: the push is answered in < 100 ms, acknowledged once."""
    entry = await _pushing_site(hass, sandbox)
    client = await hass_client_no_auth()
    event_id = await _event(sandbox, _lpc_payload(entry, [4]))
    await sandbox.fault(
        "/energy-coordination/v1/reports", "delay_after", seconds=12, times=1
    )
    started = time.perf_counter()
    status = await _push(client, entry, _notification(sandbox, event_id, "n-slow"))
    answered = time.perf_counter() - started
    assert status == 200
    assert answered < 0.1, answered
    await hass.async_block_till_done(wait_background_tasks=True)
    waited = time.perf_counter() - started
    assert waited >= 12  # the acknowledgement waited for the platform's answer
    assert _acks(sandbox, event_id) == 1
    [listed] = [e for e in await _list(hass, entry) if e["event_id"] == event_id]
    assert listed["acknowledged"] is True
    assert listed["answer"]["state"] == "done"
    # Later polls do not send it again.
    events = entry.runtime_data.event_coordinator
    for _ in range(2):
        await events.async_refresh()
        await hass.async_block_till_done(wait_background_tasks=True)
    assert _acks(sandbox, event_id) == 1
