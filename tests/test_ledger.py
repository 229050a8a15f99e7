"""The grid event ledger on its own: outcomes, at-most-once resends, upgrades."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from homeassistant.core import HomeAssistant
import pytest

from custom_components.gridflex.ledger import AlreadyDoneError, SiteLedger, ledger_key
from custom_components.gridflex.platforms.errors import (
    GridFlexConnectionError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexTimeoutError,
)
from custom_components.gridflex.platforms.models import (
    GridEvent,
    GridEventKind,
    InvalidGridEvent,
    LimitWindow,
)

KEY = ledger_key("energy_coordination", "sandbox", None, "u/l")
NOW = datetime(2026, 11, 22, 10, tzinfo=UTC)


def _event(event_id: str, end: datetime = NOW) -> GridEvent:
    return GridEvent(
        event_id=event_id,
        kind=GridEventKind.LPC,
        created_at=end - timedelta(hours=2),
        windows=(LimitWindow(end - timedelta(hours=1), end, max_power_kw=Decimal(4)),),
    )


def test_keys_tell_sites_and_environments_apart() -> None:
    """A key per platform, environment, custom URL and site."""
    keys = {
        ledger_key("energy_coordination", "sandbox", None, "u/l"),
        ledger_key("energy_coordination", "production", None, "u/l"),
        ledger_key("energy_coordination", "custom", "http://a", "u/l"),
        ledger_key("energy_coordination", "custom", "http://b", "u/l"),
        ledger_key("energy_coordination", "sandbox", None, "u/m"),
    }
    assert len(keys) == 5


@pytest.mark.parametrize(
    ("error", "state", "again"),
    [
        (GridFlexTimeoutError("slow"), "unknown", True),
        (GridFlexRateLimitedError("429", retry_after=30), "failed", True),
        (GridFlexConnectionError("down"), "failed", True),
        (GridFlexRequestRejectedError(400, "no"), "rejected", False),
    ],
)
async def test_outcomes(
    hass: HomeAssistant, error: Exception, state: str, again: bool
) -> None:
    """Each failure is recorded as what it is; only some may be sent again."""
    ledger = SiteLedger(hass, KEY)
    ledger.add([_event("e")])

    async def fail() -> str | None:
        raise error

    result = await ledger.async_send("e", "answer", "acknowledged", fail)
    assert result.outcome["state"] == state
    assert result.error is error
    assert ledger.may_send("e", "answer", retry_rejected=False) is again


async def test_unknown_resent_once(hass: HomeAssistant) -> None:
    """An unknown outcome is resent once; then nothing more is sent."""
    ledger = SiteLedger(hass, KEY)
    ledger.add([_event("e")])
    calls = 0

    async def slow() -> str | None:
        nonlocal calls
        calls += 1
        raise GridFlexTimeoutError("slow")

    await ledger.async_send("e", "answer", "acknowledged", slow)
    second = await ledger.async_send("e", "answer", "acknowledged", slow)
    assert second.outcome["resent"] is True
    with pytest.raises(AlreadyDoneError):
        await ledger.async_send("e", "answer", "acknowledged", slow)
    assert calls == 2


async def test_concurrent_sends_are_one(hass: HomeAssistant) -> None:
    """Sends of one slot wait for each other; only the first goes out."""
    ledger = SiteLedger(hass, KEY)
    ledger.add([_event("e")])
    calls = 0

    async def ok() -> str | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return "report-1"

    results = await asyncio.gather(
        *(ledger.async_send("e", "report", "reported", ok) for _ in range(5)),
        return_exceptions=True,
    )
    assert calls == 1
    assert sum(isinstance(r, AlreadyDoneError) for r in results) == 4
    assert ledger.outcome("e", "report")["platform_id"] == "report-1"  # type: ignore[index]


async def test_cancelled_send_is_unknown(hass: HomeAssistant) -> None:
    """Home Assistant stopping mid-request leaves an unknown outcome on disk."""
    ledger = SiteLedger(hass, KEY)
    ledger.add([_event("e")])
    started = asyncio.Event()

    async def hang() -> str | None:
        started.set()
        await asyncio.sleep(3600)
        return None

    task = asyncio.create_task(ledger.async_send("e", "answer", "acknowledged", hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ledger.state("e", "answer") == "unknown"


async def test_reload_and_legacy_store(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A ledger reads back what it wrote, and takes over the per-entry store of 0.1."""
    hass_storage["gridflex.entry1.grid_events"] = {
        "version": 1,
        "key": "gridflex.entry1.grid_events",
        "data": {
            "events": {
                "old": {"event_id": "old", "kind": "lpc", "created_at": NOW.isoformat()}
            },
            "acknowledged": ["old"],
            "reported": ["old"],
        },
    }
    ledger = SiteLedger(hass, KEY)
    await ledger.async_load(legacy_key="gridflex.entry1.grid_events")
    assert ledger.state("old", "answer") == "done"
    assert ledger.state("old", "report") == "done"
    assert "gridflex.entry1.grid_events" not in hass_storage
    ledger.add_invalid([InvalidGridEvent("bad", "year 9999", created_at=NOW)])
    ledger.last_poll = NOW
    await ledger.async_save()

    again = SiteLedger(hass, KEY)
    await again.async_load(legacy_key="gridflex.entry1.grid_events")
    assert again.known("old")
    assert again.last_poll == NOW
    assert set(again.invalid) == {"bad"}


async def test_unreadable_stored_event_is_dropped(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """A stored event that cannot be read back does not stop the ledger."""
    hass_storage[KEY] = {
        "version": 1,
        "key": KEY,
        "data": {"events": {"x": {"event_id": "x", "kind": "nope"}}, "rows": {}},
    }
    ledger = SiteLedger(hass, KEY)
    await ledger.async_load()
    assert ledger.events == {}


async def test_prune(hass: HomeAssistant) -> None:
    """Old events that no longer matter go; the ones that matter stay."""
    ledger = SiteLedger(hass, KEY)
    ledger.add([_event("old"), _event("keep"), _event("new", NOW + timedelta(days=59))])
    ledger.add_invalid([InvalidGridEvent("bad", "unreadable")])
    ledger.invalid["bad"]["seen_at"] = NOW.isoformat()
    pruned = ledger.prune(
        NOW + timedelta(days=61), lambda event: event.event_id == "keep"
    )
    assert pruned == 2
    assert set(ledger.events) == {"keep", "new"}
    assert ledger.invalid == {}
