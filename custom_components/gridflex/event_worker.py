"""The worker that tells the platform what it must hear once about each grid event.

Push, poll and actions only put events in the ledger and wake the worker; the
worker acknowledges LPC events, sends the energy usage plan of acknowledged
location LPC events (``usage_plan.py``) and reports their energy through the
ledger's one serialized path, in that order. Each event is handled on its
own: one that cannot be answered, planned or reported yet never holds up the
others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import CONF_ENERGY_ENTITY, CONF_GRID_ENERGY_ENTITY, CONF_RESOURCE_ID, LOGGER
from .coordinator import GridFlexConfigEntry
from .grid_events import LPC_KINDS, is_location_lpc, is_resource_lpc
from .issues import async_clear_report_issue, async_raise_report_issue
from .ledger import (
    DONE,
    EXPIRED,
    FINAL_STATES,
    GIVEN_UP,
    UNKNOWN,
    SendResult,
    SiteLedger,
)
from .platforms.base import UsagePlanTaker
from .platforms.models import GridEvent
from .reports import async_hourly_energy, event_hours, report_deadline
from .resources import resource_subentries
from .usage_plan import NoPlanError, NoPlanReason, async_usage_plan, curtailable_loads

SEND_TIMEOUT: Final = 60.0
"""Seconds an acknowledgement or report may take. Longer than a request on
the receiving paths: the worker runs apart from them, and an answer that
comes late is better than an outcome that stays unknown."""
REPORT_DELAY: Final = timedelta(minutes=20)
"""After an event ends, wait for the recorder's hourly statistics (compiled at :10)."""
REPORT_WAIT: Final = timedelta(days=1)
"""How long a report with hours the recorder lacks waits before the homeowner
is asked (a repair) to send what exists or to give up."""


class ReportIncompleteError(Exception):
    """Some hours of the event have no statistics."""

    def __init__(self, missing: list[datetime]) -> None:
        """Keep the missing hours."""
        super().__init__(f"{len(missing)} hours missing")
        self.missing = missing


class NothingToReportError(Exception):
    """No energy sensor, or no hour of the event has statistics."""


def _iso_hours(hours: list[datetime]) -> list[str]:
    return [hour.isoformat() for hour in hours]


class GridEventWorker:
    """Acknowledge and report each grid event of one site exactly once."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridFlexConfigEntry,
        client: Any,
        ledger: SiteLedger,
    ) -> None:
        """Work on the site of ``entry`` through its ledger."""
        self.hass = hass
        self.entry = entry
        self.client = client
        self.ledger = ledger
        self.site_id: str = entry.data["site_id"]
        self._no_plan: dict[str, NoPlanReason] = {}
        """Why an event has no plan yet (recorded if it starts without one)."""
        self._failed_plans: set[str] = set()
        """Events whose plan could not be made (logged once)."""

    # -- what is due ------------------------------------------------------

    def _lpc_events(self) -> list[GridEvent]:
        return self.ledger.sorted_events(lambda e: e.kind in LPC_KINDS)

    def still_matters(self, event: GridEvent) -> bool:
        """Return whether the event must be kept whatever its age."""
        if event.kind not in LPC_KINDS:
            return False
        answer = self.ledger.state(event.event_id, "answer")
        report = self.ledger.state(event.event_id, "report")
        return answer not in FINAL_STATES or report not in FINAL_STATES

    async def async_run(self) -> None:
        """Send every acknowledgement, plan and report that is due, each on its own."""
        if not self.client.capabilities.lpc_events:
            return
        for event in self._lpc_events():
            if self.ledger.may_send(event.event_id, "answer", retry_rejected=False):
                await self._async_answer(event, accept=True)
        if self._takes_plans():
            for event in self._lpc_events():
                await self._async_plan_if_due(event)
        now = dt_util.utcnow()
        for event in self._lpc_events():
            await self._async_report_if_due(event, now)

    async def _async_answer(self, event: GridEvent, *, accept: bool) -> SendResult:
        kind = "acknowledged" if accept else "declined"
        result = await self.ledger.async_send(
            event.event_id,
            "answer",
            kind,
            lambda: self.client.acknowledge_event(
                self.site_id, event, accept=accept, timeout=SEND_TIMEOUT
            ),
            retry_rejected=not accept,
        )
        if result.error is None:
            LOGGER.info("Grid event %s %s", event.event_id, kind)
        else:
            LOGGER.warning(
                "Grid event %s could not be %s (%s): %s",
                event.event_id,
                kind,
                result.outcome["state"],
                result.error,
            )
        return result

    # -- energy usage plans -----------------------------------------------

    def _takes_plans(self) -> bool:
        return bool(
            self.client.capabilities.usage_plans
            and isinstance(self.client, UsagePlanTaker)
            and curtailable_loads(self.entry)
            and (controller := self.entry.runtime_data.limit_controller) is not None
            and controller.enabled
        )

    async def _async_plan_if_due(self, event: GridEvent) -> None:
        """Send the event's plan once it is acknowledged, before it starts.

        A plan whose outcome is unknown (a timeout after it was sent) is not
        sent again, unlike an acknowledgement or a report: the platform has
        most likely recorded it, there is no way to ask, and the guide makes
        only the acknowledgement and the energy usage report mandatory; a
        second copy would be a duplicate for little gain. The row stays
        ``unknown`` and is never resent.
        """
        event_id = event.event_id
        answer = self.ledger.outcome(event_id, "answer") or {}
        if (
            not is_location_lpc(event)
            or answer.get("state") != DONE
            or answer.get("kind") != "acknowledged"
            or self.ledger.state(event_id, "plan") == UNKNOWN
            or not self.ledger.may_send(event_id, "plan", retry_rejected=False)
        ):
            return
        if event.end is None or dt_util.utcnow() >= event.end:
            return  # over: nothing to record (e.g. the ledger of an older version)
        try:
            plan = await async_usage_plan(self.hass, self.entry, event)
        except NoPlanError as err:
            if err.reason is not NoPlanReason.STARTED:
                LOGGER.debug("No plan yet for grid event %s: %s", event_id, err)
                self._no_plan[event_id] = err.reason
                return  # tried again at the next poll until the event starts
            why = self._no_plan.pop(event_id, NoPlanReason.STARTED)
            await self.ledger.async_mark(event_id, "plan", EXPIRED, reason=why.value)
            LOGGER.info(
                "Grid event %s started without an energy usage plan (%s)",
                event_id,
                why,
            )
            return
        except Exception:  # noqa: BLE001 - one event's plan must not stop the others
            if event_id not in self._failed_plans:
                self._failed_plans.add(event_id)
                LOGGER.warning(
                    "Could not make the energy usage plan of grid event %s",
                    event_id,
                    exc_info=True,
                )
            return
        self._no_plan.pop(event_id, None)
        hours = [(h.start, h.baseline_kwh, h.flexibility_kwh) for h in plan.hours]
        result = await self.ledger.async_send(
            event_id,
            "plan",
            "planned",
            lambda: self.client.send_usage_plan(
                self.site_id, event, hours, timeout=SEND_TIMEOUT
            ),
            details={
                "hours": len(hours),
                "loads": plan.loads,
                "shed_kw": round(plan.shed_kw, 3),
                "confidence": plan.confidence.value,
            },
        )
        if result.error is None:
            LOGGER.info("Sent the energy usage plan of grid event %s", event_id)
        else:
            LOGGER.warning(
                "Could not send the energy usage plan of grid event %s (%s): %s",
                event_id,
                result.outcome["state"],
                result.error,
            )

    # -- reports ----------------------------------------------------------

    async def _async_report_if_due(self, event: GridEvent, now: datetime) -> None:
        event_id = event.event_id
        if event.end is None or event.start is None:
            return
        if not self.ledger.may_send(event_id, "report", retry_rejected=False):
            return
        if now < event.end + REPORT_DELAY:
            return
        if now >= report_deadline(event.end):
            await self.ledger.async_mark(event_id, "report", EXPIRED)
            async_clear_report_issue(self.hass, self.entry, event_id)
            LOGGER.warning(
                "Grid event %s was not reported before the platform's deadline",
                event_id,
            )
            return
        try:
            send = await self._async_prepare_report(event, allow_missing=False)
        except NothingToReportError:
            return
        except ReportIncompleteError as err:
            if now >= event.end + REPORT_WAIT:
                async_raise_report_issue(self.hass, self.entry, event, err.missing)
            return
        async_clear_report_issue(self.hass, self.entry, event_id)
        await self._async_send_report(event, send)

    async def _async_send_report(
        self, event: GridEvent, send: tuple[Callable[[], Awaitable[str | None]], int]
    ) -> SendResult:
        sender, hours = send
        result = await self.ledger.async_send(
            event.event_id, "report", "reported", sender, details={"hours": hours}
        )
        if result.error is None:
            LOGGER.info("Reported energy usage for grid event %s", event.event_id)
        else:
            LOGGER.warning(
                "Could not report energy for grid event %s (%s): %s",
                event.event_id,
                result.outcome["state"],
                result.error,
            )
        return result

    async def _async_prepare_report(
        self, event: GridEvent, *, allow_missing: bool
    ) -> tuple[Callable[[], Awaitable[str | None]], int]:
        """Read the event's hours from the statistics; return the send and its size.

        Raises:
            NothingToReportError: no sensor, or no hour to send.
            ReportIncompleteError: hours are missing and ``allow_missing`` is off.

        """
        hours = event_hours(event.windows)
        missing: set[datetime] = set()
        site_hours: list[tuple[datetime, Decimal]] = []
        resource_hours: dict[str, list[tuple[datetime, Decimal]]] = {}
        if is_resource_lpc(event):
            sensors = self._resource_energy_sensors()
            for resource_id in event.resource_ids:
                if resource_id not in sensors:
                    continue
                found = await async_hourly_energy(
                    self.hass, sensors[resource_id], hours
                )
                missing.update(found.missing)
                if found.energy:
                    resource_hours[resource_id] = sorted(found.energy.items())
            if not any(r in sensors for r in event.resource_ids):
                raise NothingToReportError
        else:
            energy_entity = self.entry.options.get(CONF_GRID_ENERGY_ENTITY)
            if not energy_entity:
                raise NothingToReportError
            found = await async_hourly_energy(self.hass, energy_entity, hours)
            missing.update(found.missing)
            site_hours = sorted(found.energy.items())
        if missing and not allow_missing:
            raise ReportIncompleteError(sorted(missing))
        count = len(site_hours) + sum(len(v) for v in resource_hours.values())
        if count == 0:
            raise NothingToReportError

        async def _send() -> str | None:
            result: str | None = await self.client.report_energy_usage(
                self.site_id,
                event,
                site_hours,
                resource_hours=resource_hours or None,
                timeout=SEND_TIMEOUT,
            )
            return result

        return _send, count

    def _resource_energy_sensors(self) -> dict[str, str]:
        return {
            str(subentry.data[CONF_RESOURCE_ID]): subentry.data[CONF_ENERGY_ENTITY]
            for subentry in resource_subentries(self.entry).values()
            if subentry.data.get(CONF_RESOURCE_ID)
            and subentry.data.get(CONF_ENERGY_ENTITY)
        }

    # -- on the homeowner's request ----------------------------------------

    async def async_answer(self, event_id: str, *, accept: bool) -> SendResult:
        """Acknowledge or decline an event (the caller checked it may be sent)."""
        return await self._async_answer(self.ledger.events[event_id], accept=accept)

    async def async_report(
        self, event_id: str, *, allow_missing: bool
    ) -> tuple[SendResult, int]:
        """Send an ended event's report now; return the outcome and the hours sent.

        Raises:
            ReportIncompleteError: hours are missing and ``allow_missing`` is off.
            NothingToReportError: there is nothing to send.

        """
        event = self.ledger.events[event_id]
        send = await self._async_prepare_report(event, allow_missing=allow_missing)
        result = await self._async_send_report(event, send)
        if result.outcome["state"] == DONE:
            async_clear_report_issue(self.hass, self.entry, event_id)
        return result, send[1]

    async def async_give_up_report(self, event_id: str) -> None:
        """Never report this event (the homeowner's choice)."""
        await self.ledger.async_mark(event_id, "report", GIVEN_UP)
        async_clear_report_issue(self.hass, self.entry, event_id)

    def missing_hours(self, event_id: str) -> list[str]:
        """Return the hours a report of the event would lack (for messages)."""
        outcome = self.ledger.outcome(event_id, "report") or {}
        return list(outcome.get("missing", []))
