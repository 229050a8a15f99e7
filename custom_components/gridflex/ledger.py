"""The grid event ledger: what GridFlex received and what it told the platform.

One ledger per platform and site (not per config entry): removing GridFlex and
adding the same site again finds it, so nothing is acknowledged or reported
twice. It holds

- the site's grid events as read (and the ones that could not be read, kept
  aside with the reason);
- per event, the outcome of each message that must reach the platform once:
  the *answer* (acknowledged or declined), the energy usage *plan* (location
  LPC events, sent after the answer; ``usage_plan.py``) and the energy
  *report*;
- the time of the last complete poll (the next poll reads back to it);
- per site LPC event, while the limit control was on, how long and how much
  energy the measured power stayed above the limit (``limit_stats``).

Every send goes through ``SiteLedger.async_send``: one lock per site makes the
sends one serialized path, and the row is written to disk as ``sending``
*before* the request leaves, then as ``done``, ``failed``, ``rejected`` or
``unknown``. ``unknown`` is a request whose answer never came (a timeout
after it was sent, or Home Assistant stopping mid-request): the platform may
have recorded it. It is resent at most once (``resent``), never more; a
``done`` row is never sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
import hashlib
from typing import Any, Final, Literal

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .grid_events import event_from_dict, event_to_dict
from .platforms.errors import (
    GridFlexAuthError,
    GridFlexError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexTimeoutError,
)
from .platforms.models import GridEvent, InvalidGridEvent

STORAGE_VERSION: Final = 1
KEEP_FOR: Final = timedelta(days=60)
"""How long an event is kept once it no longer matters (over, answered and
reported, or given up)."""

LAZY_SAVE_DELAY: Final = 60.0
"""Seconds before a change that may wait (the time of the last poll) is written."""

type Slot = Literal["answer", "plan", "report"]

SENDING: Final = "sending"
DONE: Final = "done"
FAILED: Final = "failed"
"""The platform could not be reached or answered 5xx/429: retried later."""
REJECTED: Final = "rejected"
"""The platform refused the request (4xx): not retried by itself."""
UNKNOWN: Final = "unknown"
GIVEN_UP: Final = "given_up"
EXPIRED: Final = "expired"
"""A report the platform no longer takes (past its deadline)."""
HISTORY: Final = "history"
"""An event that had ended before GridFlex first followed the site: whether
it was answered or reported then is not known here, so nothing is sent."""
FINAL_STATES: Final = frozenset({DONE, GIVEN_UP, EXPIRED, HISTORY})


def ledger_key(platform: str, environment: str, base_url: str | None, site: str) -> str:
    """Return the storage key of a site's ledger.

    The site id alone is not unique across environments (the sandbox and
    production may reuse ids), so the environment and a custom URL count too.
    """
    digest = hashlib.sha256(
        f"{platform}|{environment}|{base_url or ''}|{site}".encode()
    ).hexdigest()[:24]
    return f"{DOMAIN}.ledger.{platform}.{digest}"


class AlreadyDoneError(Exception):
    """The message was sent already (or is on its way); nothing was sent."""

    def __init__(self, outcome: dict[str, Any]) -> None:
        """Keep the recorded outcome."""
        super().__init__(outcome.get("state"))
        self.outcome = outcome


@dataclass(slots=True)
class SendResult:
    """What one ``async_send`` did."""

    outcome: dict[str, Any]
    error: GridFlexError | None = None


class SiteLedger:
    """The persisted grid events and send outcomes of one site."""

    def __init__(self, hass: HomeAssistant, key: str) -> None:
        """Prepare the ledger stored under ``key``."""
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, key)
        self.key = key
        self.events: dict[str, GridEvent] = {}
        self.invalid: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self.received_at: dict[str, str] = {}
        self.last_poll: datetime | None = None
        self.limit_stats: dict[str, dict[str, float]] = {}
        """Per site LPC event: ``seconds_controlled``, ``seconds_above``, ``kwh_above``."""
        self._lock = asyncio.Lock()

    # -- disk -------------------------------------------------------------

    async def async_load(self, legacy_key: str | None = None) -> None:
        """Read the ledger; take over a per-entry store of an older version."""
        stored = await self._store.async_load()
        if stored is None and legacy_key is not None:
            stored = await self._async_take_legacy(legacy_key)
        if not stored:
            return
        for event_id, data in stored.get("events", {}).items():
            try:
                self.events[event_id] = event_from_dict(data)
            except KeyError, ValueError, TypeError, OverflowError:
                LOGGER.warning("Dropping unreadable stored grid event %s", event_id)
        self.invalid = dict(stored.get("invalid", {}))
        self.rows = {k: dict(v) for k, v in stored.get("rows", {}).items()}
        self.received_at = dict(stored.get("received_at", {}))
        self.limit_stats = {
            k: dict(v) for k, v in stored.get("limit_stats", {}).items()
        }
        if last := stored.get("last_poll"):
            self.last_poll = dt_util.parse_datetime(last)
        now = dt_util.utcnow().isoformat()
        for row in self.rows.values():
            for outcome in row.values():
                if outcome.get("state") == SENDING:
                    # Home Assistant stopped while the request was out.
                    outcome["state"] = UNKNOWN
                    outcome["error"] = "interrupted"
                    outcome["updated_at"] = now

    async def _async_take_legacy(self, legacy_key: str) -> dict[str, Any] | None:
        """Read GridFlex 0.1's per-entry event store into the ledger's form."""
        legacy: Store[dict[str, Any]] = Store(
            self._store.hass, STORAGE_VERSION, legacy_key
        )
        old = await legacy.async_load()
        if not old:
            return None
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        for event_id in old.get("acknowledged", ()):
            rows.setdefault(event_id, {})["answer"] = {
                "state": DONE,
                "kind": "acknowledged",
            }
        for event_id in old.get("reported", ()):
            rows.setdefault(event_id, {})["report"] = {
                "state": DONE,
                "kind": "reported",
            }
        await legacy.async_remove()
        return {"events": old.get("events", {}), "rows": rows}

    def _data(self) -> dict[str, Any]:
        return {
            "events": {k: event_to_dict(v) for k, v in self.events.items()},
            "invalid": self.invalid,
            "rows": self.rows,
            "received_at": self.received_at,
            "limit_stats": self.limit_stats,
            "last_poll": self.last_poll.isoformat() if self.last_poll else None,
        }

    async def async_save(self) -> None:
        """Write the ledger now."""
        await self._store.async_save(self._data())

    def schedule_save(self) -> None:
        """Write the ledger soon (nothing that must not be lost changed).

        Home Assistant writes pending delayed saves when it stops.
        """
        self._store.async_delay_save(self._data, LAZY_SAVE_DELAY)

    # -- events -----------------------------------------------------------

    def known(self, event_id: str) -> bool:
        """Return whether the event was seen before."""
        return event_id in self.events

    def add(self, events: list[GridEvent]) -> list[GridEvent]:
        """Store the events not seen before; return those."""
        now = dt_util.utcnow().isoformat()
        new = []
        for event in events:
            if event.event_id in self.events:
                continue
            self.events[event.event_id] = event
            self.received_at[event.event_id] = now
            self.invalid.pop(event.event_id, None)
            new.append(event)
        return new

    def add_invalid(self, items: list[InvalidGridEvent]) -> list[InvalidGridEvent]:
        """Keep aside events that cannot be read; return the ones not seen before."""
        new = []
        for item in items:
            if item.event_id in self.events or item.event_id in self.invalid:
                continue
            self.invalid[item.event_id] = {
                "reason": item.reason[:500],
                "created_at": item.created_at.isoformat() if item.created_at else None,
                "raw_type": item.raw_type,
                "seen_at": dt_util.utcnow().isoformat(),
            }
            new.append(item)
        return new

    def sorted_events(
        self, predicate: Callable[[GridEvent], bool] = lambda _: True
    ) -> list[GridEvent]:
        """Return the stored events with windows, by start."""
        return sorted(
            (e for e in self.events.values() if e.windows and predicate(e)),
            key=lambda e: e.windows[0].start,
        )

    def outcome(self, event_id: str, slot: Slot) -> dict[str, Any] | None:
        """Return what happened to the event's answer or report, if anything."""
        return self.rows.get(event_id, {}).get(slot)

    def state(self, event_id: str, slot: Slot) -> str | None:
        """Return the state of the event's answer or report."""
        outcome = self.outcome(event_id, slot)
        return None if outcome is None else outcome.get("state")

    def declined(self, event_id: str) -> bool:
        """Return whether the homeowner declined the event."""
        outcome = self.outcome(event_id, "answer")
        return (
            outcome is not None
            and outcome.get("kind") == "declined"
            and outcome.get("state") in (DONE, SENDING, UNKNOWN)
        )

    def may_send(self, event_id: str, slot: Slot, *, retry_rejected: bool) -> bool:
        """Return whether a send of this slot may start now."""
        outcome = self.outcome(event_id, slot)
        if outcome is None:
            return True
        state = outcome.get("state")
        if state in FINAL_STATES or state == SENDING:
            return False
        if state == UNKNOWN:
            return not outcome.get("resent")
        if state == REJECTED:
            return retry_rejected
        return True  # FAILED

    def mark_history(self, event_id: str) -> None:
        """Record an event from before GridFlex followed the site (sends nothing)."""
        now = dt_util.utcnow().isoformat()
        self.rows[event_id] = {
            slot: {"state": HISTORY, "updated_at": now}
            for slot in ("answer", "plan", "report")
        }

    async def async_mark(
        self, event_id: str, slot: Slot, state: str, **details: Any
    ) -> None:
        """Record an outcome that is not a send (given up, expired)."""
        async with self._lock:
            row = self.rows.setdefault(event_id, {})
            row[slot] = {
                **row.get(slot, {}),
                "state": state,
                "updated_at": dt_util.utcnow().isoformat(),
                **details,
            }
            await self.async_save()

    async def async_send(
        self,
        event_id: str,
        slot: Slot,
        kind: str,
        send: Callable[[], Awaitable[str | None]],
        *,
        retry_rejected: bool = False,
        details: dict[str, Any] | None = None,
    ) -> SendResult:
        """Send one must-happen-once message through the site's one path.

        Raises:
            AlreadyDoneError: the slot is done, on its way, given up, or an
                unknown outcome was resent already; nothing is sent.

        """
        async with self._lock:
            previous = self.outcome(event_id, slot)
            if not self.may_send(event_id, slot, retry_rejected=retry_rejected):
                assert previous is not None
                raise AlreadyDoneError(previous)
            now = dt_util.utcnow().isoformat()
            resent = previous is not None and previous.get("state") == UNKNOWN
            outcome: dict[str, Any] = {
                "state": SENDING,
                "kind": kind,
                "sent_at": now,
                "updated_at": now,
                "attempts": int((previous or {}).get("attempts", 0)) + 1,
                "resent": resent,
                **(details or {}),
            }
            self.rows.setdefault(event_id, {})[slot] = outcome
            await self.async_save()
            error: GridFlexError | None = None
            try:
                outcome["platform_id"] = await send()
            except GridFlexTimeoutError as err:
                outcome["state"] = UNKNOWN
                error = err
            except (GridFlexRateLimitedError, GridFlexAuthError) as err:
                outcome["state"] = FAILED
                error = err
            except GridFlexRequestRejectedError as err:
                outcome["state"] = REJECTED
                error = err
            except GridFlexError as err:
                outcome["state"] = FAILED
                error = err
            except BaseException:
                # Cancelled (Home Assistant stops) or a bug: the request may be out.
                outcome["state"] = UNKNOWN
                outcome["error"] = "interrupted"
                await self.async_save()
                raise
            else:
                outcome["state"] = DONE
            if error is not None:
                outcome["error"] = str(error) or type(error).__name__
            outcome["updated_at"] = dt_util.utcnow().isoformat()
            await self.async_save()
            return SendResult(outcome=outcome, error=error)

    # -- housekeeping -----------------------------------------------------

    def prune(self, now: datetime, still_matters: Callable[[GridEvent], bool]) -> int:
        """Forget events that no longer matter and are older than ``KEEP_FOR``."""
        cutoff = now - KEEP_FOR
        gone = [
            event_id
            for event_id, event in self.events.items()
            if (event.end or event.created_at) < cutoff and not still_matters(event)
        ]
        for event_id in gone:
            del self.events[event_id]
            self.rows.pop(event_id, None)
            self.received_at.pop(event_id, None)
            self.limit_stats.pop(event_id, None)
        for event_id, item in list(self.invalid.items()):
            seen = dt_util.parse_datetime(item.get("seen_at") or "")
            if seen is None or seen < cutoff:
                del self.invalid[event_id]
                gone.append(event_id)
        return len(gone)
