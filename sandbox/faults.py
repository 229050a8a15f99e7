"""Injected faults: what they are, which requests they hit, and how they answer.

A fault is registered with ``POST /_sandbox/faults`` and hits every
non-control request whose method and path match, until its ``times`` run out
(or until ``DELETE /_sandbox/faults``). When several faults match, the one
registered first applies. Kinds:

- ``status``: answer ``status`` (default 503) in the platform's error envelope.
- ``delay``: wait ``seconds``, then answer normally.
- ``delay_after``: handle the request fully (state changed, report stored,
  violations recorded), then wait ``seconds`` before sending the answer — a
  client that times out meanwhile has in fact been served.
- ``rate_limit``: answer 429 with ``Retry-After: <retry_after>`` in the
  platform's envelope.
- ``malformed``: answer 200 with ``Content-Type: application/json`` and a body
  that is not JSON.

``DelayScheduler`` owns the timers behind ``delay`` faults so that stopping the
server cancels them: nothing lingers on the event loop afterwards.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any
import uuid

from aiohttp import web

from .envelopes import platform_error
from .validation import is_int, is_number, unknown_fields

FAULT_KINDS: tuple[str, ...] = (
    "status",
    "delay",
    "delay_after",
    "rate_limit",
    "malformed",
)
FAULT_METHODS: tuple[str, ...] = (
    "*",
    "GET",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "HEAD",
    "OPTIONS",
)
MAX_DELAY_SECONDS = 600.0
MALFORMED_BODY = b'{"status": "ok", "items": [{"id": 1,'
_FIELDS = ("method", "path", "kind", "status", "seconds", "retry_after", "times")


class FaultSpecError(ValueError):
    """The fault specification sent to the control API is invalid."""


@dataclass(slots=True)
class Fault:
    """One injected fault."""

    id: str
    method: str
    path: str
    kind: str
    status: int = 503
    seconds: float = 0.0
    retry_after: int = 1
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Return whether this fault applies to the request."""
        if self.method not in ("*", method.upper()):
            return False
        return fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        """Return the fault as JSON-ready data."""
        return asdict(self)


def _set_status(fault: Fault, body: dict[str, Any]) -> None:
    status = body.get("status", 503)
    if not is_int(status) or not 500 <= status <= 599:
        raise FaultSpecError("status must be an HTTP 5xx code, e.g. 500 or 503")
    fault.status = status


def _set_delay(fault: Fault, body: dict[str, Any]) -> None:
    seconds = body.get("seconds")
    if not is_number(seconds) or not 0 < seconds <= MAX_DELAY_SECONDS:
        raise FaultSpecError(
            f"seconds must be a number > 0 and <= {MAX_DELAY_SECONDS:g}"
        )
    fault.seconds = float(seconds)


def _set_retry_after(fault: Fault, body: dict[str, Any]) -> None:
    retry_after = body.get("retry_after", 1)
    if not is_int(retry_after) or retry_after < 0:
        raise FaultSpecError("retry_after must be an integer >= 0 (seconds)")
    fault.retry_after = retry_after


_KIND_OPTIONS = {
    "status": _set_status,
    "delay": _set_delay,
    "delay_after": _set_delay,
    "rate_limit": _set_retry_after,
}


def parse_fault(body: Any) -> Fault:
    """Validate a ``POST /_sandbox/faults`` body and build the fault."""
    if not isinstance(body, dict):
        raise FaultSpecError("The body must be a JSON object")
    if extra := unknown_fields(body, _FIELDS):
        raise FaultSpecError(f"Unknown fields: {', '.join(extra)}")
    method = body.get("method", "*")
    if not isinstance(method, str) or method.upper() not in FAULT_METHODS:
        raise FaultSpecError(f"method must be one of {', '.join(FAULT_METHODS)}")
    path = body.get("path")
    if not isinstance(path, str) or not path:
        raise FaultSpecError("path must be a non-empty glob, e.g. /v1/connect/sites*")
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    times = body.get("times")
    if times is not None and (not is_int(times) or times < 1):
        raise FaultSpecError("times must be an integer >= 1, or null for until cleared")
    fault = Fault(
        id=uuid.uuid4().hex[:12],
        method=method.upper(),
        path=path,
        kind=kind,
        times=times,
    )
    if (set_options := _KIND_OPTIONS.get(kind)) is not None:
        set_options(fault, body)
    return fault


class FaultStore:
    """The registered faults, in registration order."""

    def __init__(self) -> None:
        """Start with no faults."""
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        """Register a fault."""
        self.faults.append(fault)
        return fault

    def clear(self) -> int:
        """Remove every fault; return how many there were."""
        count = len(self.faults)
        self.faults.clear()
        return count

    def remove(self, fault_id: str) -> bool:
        """Remove one fault by id; return whether it existed."""
        for fault in self.faults:
            if fault.id == fault_id:
                self.faults.remove(fault)
                return True
        return False

    def take(self, method: str, path: str) -> Fault | None:
        """Return the first fault matching the request and count the hit."""
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.times is not None and fault.hits >= fault.times:
                    self.faults.remove(fault)
                return fault
        return None

    def as_list(self) -> list[dict[str, Any]]:
        """Return the faults as JSON-ready data."""
        return [fault.as_dict() for fault in self.faults]


def fault_response(fault: Fault, platform: str | None) -> web.Response | None:
    """Return the answer for a fault, or None when the request should go on (delays)."""
    if fault.kind == "status":
        return platform_error(
            platform, fault.status, f"Injected fault: HTTP {fault.status}"
        )
    if fault.kind == "rate_limit":
        return platform_error(
            platform,
            429,
            "Too Many Requests",
            headers={"Retry-After": str(fault.retry_after)},
        )
    if fault.kind == "malformed":
        return web.Response(
            status=200, body=MALFORMED_BODY, content_type="application/json"
        )
    return None


class DelayScheduler:
    """Sleeps for delay faults with timers the server can cancel on stop."""

    def __init__(self) -> None:
        """Start with nothing pending."""
        self._pending: dict[asyncio.Future[None], asyncio.TimerHandle] = {}

    @property
    def pending(self) -> int:
        """Return how many delays are running."""
        return len(self._pending)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; raise ``CancelledError`` if the server stops first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _resolve, future)
        self._pending[future] = handle
        try:
            await future
        finally:
            handle.cancel()
            self._pending.pop(future, None)

    def cancel_all(self) -> None:
        """Cancel every pending delay and its timer."""
        for future, handle in list(self._pending.items()):
            handle.cancel()
            future.cancel()
        self._pending.clear()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
