"""Grid events: polling, the site's ledger and the received/started/ended lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    CONF_BASE_URL,
    CONF_ENVIRONMENT,
    CONF_PLATFORM,
    CONF_RESOURCE_ID,
    CONF_SITE_ID,
    DOMAIN,
    LOGGER,
)
from .coordinator import update_error
from .event_worker import GridEventWorker
from .grid_events import (
    LPC_KINDS,
    event_payload,
    event_prefix,
    event_windows,
    is_location_lpc,
    is_resource_lpc,
)
from .issues import async_sync_eligibility_issue
from .ledger import SiteLedger, ledger_key
from .platforms.errors import GridFlexError, GridFlexNotFoundError
from .platforms.models import (
    EventListing,
    GridEvent,
    GridEventKind,
    InvalidGridEvent,
    LimitWindow,
)
from .resources import (
    async_resource_missing,
    is_group,
    resource_device_identifier,
    resource_subentries,
)

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry
    from .platforms import FlexPlatform

EVENT_POLL_INTERVAL: Final = timedelta(minutes=5)
POLL_OVERLAP: Final = timedelta(hours=1)
"""A poll reads back to this long before the previous complete poll started
(events are listed by creation time; a late write must not slip between)."""
FIRST_POLL_HISTORY: Final = timedelta(days=31)
"""How far back the first poll of a site reads."""
STOP_WAIT: Final = 15.0
"""Seconds an unloading entry waits for a send in flight."""
BUS_EVENT: Final = f"{DOMAIN}_grid_event"
SIGNAL_GRID_EVENT: Final = "gridflex_grid_event_{}"

ACTIVATION_READS: Final = 4
"""Resources whose activations are read at the same time."""

EVENT_TYPES: Final = [
    "lpc_received",
    "lpc_started",
    "lpc_ended",
    "lpc_declined",
    "lpc_reservation_received",
    "activation_started",
    "activation_ended",
    "activation_cancelled",
    "price_curve_received",
]


def supports_grid_events(client: Any) -> bool:
    """Return whether the platform sends LPC events or activations."""
    return bool(
        client.capabilities.lpc_events
        or callable(getattr(client, "list_activations", None))
    )


class GridEventCoordinator(DataUpdateCoordinator[None]):
    """Poll the platform's grid events and drive their lifecycle.

    Polling and push feed the same ledger; what the platform must hear once
    (acknowledgements, reports) is sent by the worker, off the paths that
    receive events.
    """

    config_entry: GridFlexConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: GridFlexConfigEntry, client: FlexPlatform
    ) -> None:
        """Poll every few minutes; events may come just in time."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} grid events {entry.title}",
            update_interval=EVENT_POLL_INTERVAL,
        )
        self.client: Any = client
        self._site_id: str = entry.data[CONF_SITE_ID]
        self.ledger = SiteLedger(
            hass,
            ledger_key(
                entry.data[CONF_PLATFORM],
                entry.data[CONF_ENVIRONMENT],
                entry.data.get(CONF_BASE_URL),
                self._site_id,
            ),
        )
        self.worker = GridEventWorker(hass, entry, client, self.ledger)
        self._scheduled: dict[str, list[CALLBACK_TYPE]] = {}
        self._worker_task: asyncio.Task[None] | None = None
        self._work_again = False

    @property
    def site_id(self) -> str:
        """Return the site's platform id."""
        return self._site_id

    async def _async_setup(self) -> None:
        """Load the ledger and schedule the windows still to come."""
        await self.ledger.async_load(
            legacy_key=f"{DOMAIN}.{self.config_entry.entry_id}.grid_events"
        )
        for event in self.ledger.events.values():
            self._schedule(event)

    async def _async_update_data(self) -> None:
        """Fetch new events, then let the worker send what is due."""
        started = dt_util.utcnow()
        try:
            if self.client.capabilities.lpc_events:
                since = (
                    self.ledger.last_poll - POLL_OVERLAP
                    if self.ledger.last_poll
                    else started - FIRST_POLL_HISTORY
                )
                listing: EventListing = await self.client.list_events(
                    self._site_id, since=since
                )
            else:
                listing = EventListing(events=tuple(await self._list_activations()))
        except GridFlexError as err:
            # The same truthful messages as the site's polls (a 429 or an odd
            # answer is not "cannot connect").
            raise update_error(err) from err
        events = list(listing.events)
        invalid = list(listing.invalid)
        first = self.ledger.last_poll is None
        if self.client.capabilities.lpc_events:
            # The page that reaches back past ``since`` is read whole; what is
            # older was covered by the previous complete poll (and may have
            # been pruned since: it must not come back).
            events = [e for e in events if e.created_at >= since]
            invalid = [
                i for i in invalid if i.created_at is None or i.created_at >= since
            ]
            if listing.complete:
                self.ledger.last_poll = started
        pruned = self.ledger.prune(started, self.worker.still_matters)
        if pruned:
            LOGGER.debug("Pruned %s grid events from the ledger", pruned)
        await self.async_receive(
            events, invalid, history=first and self.client.capabilities.lpc_events
        )

    async def _list_activations(self) -> list[GridEvent]:
        """Poll the activations of every resource (fallback for the webhook).

        The resources are read side by side, a few at a time, so the first
        refresh of a site with ten resources costs about one round trip
        rather than ten.
        """
        since = dt_util.utcnow() - timedelta(days=1)
        limit = asyncio.Semaphore(ACTIVATION_READS)

        async def read(resource_id: str) -> list[GridEvent]:
            async with limit:
                try:
                    listed: list[GridEvent] = await self.client.list_activations(
                        resource_id, start=since
                    )
                except GridFlexNotFoundError:
                    # Gone on the platform: the others still poll; the
                    # resource itself is handled once, not at every poll.
                    async_resource_missing(self.hass, self.config_entry, resource_id)
                    return []
                return listed

        resource_ids = [
            resource_id
            for subentry in resource_subentries(self.config_entry).values()
            if (resource_id := subentry.data.get(CONF_RESOURCE_ID))
            and not is_group(subentry)
        ]
        # Any other failure fails the poll as before (gather raises the first).
        lists = await asyncio.gather(*(read(rid) for rid in resource_ids))
        return [event for listed in lists for event in listed]

    async def async_receive(
        self,
        events: list[GridEvent],
        invalid: list[InvalidGridEvent] | None = None,
        *,
        history: bool = False,
    ) -> None:
        """Take in events from any source, store them, act on the new ones.

        With ``history`` (the first poll of a site GridFlex never followed),
        events that are over already are kept as history: whether they were
        answered or reported before is not known, so nothing is sent or fired
        for them. A reinstall finds the site's ledger and is no first poll.
        Returns once the ledger is on disk; sending happens in the worker.
        """
        cancelled = self._take_cancellations(events)
        self._forget_reactivated(events)
        new = self.ledger.add(events)
        stored = bool(new)
        now = dt_util.utcnow()
        if history:
            past = [e for e in new if e.end is not None and e.end <= now]
            for event in past:
                self.ledger.mark_history(event.event_id)
            new = [e for e in new if e not in past]
        for item in self.ledger.add_invalid(invalid or []):
            stored = True
            LOGGER.warning(
                "Grid event %s cannot be read and is kept aside: %s",
                item.event_id,
                item.reason,
            )
        if stored or cancelled:
            # On disk before a push is answered and before anything is sent.
            await self.ledger.async_save()
        else:
            self.ledger.schedule_save()  # only the time of the poll changed
        for event in new:
            self._announce(event, now)
        if new or cancelled:
            self.async_update_listeners()
        self.async_kick()

    def _take_cancellations(self, events: list[GridEvent]) -> list[GridEvent]:
        """Replace activations that came back without a value (cancelled)."""
        cancelled = []
        for event in events:
            known = self.ledger.events.get(event.event_id)
            if (
                event.kind is GridEventKind.ACTIVATION
                and not event.windows
                and known is not None
                and known.windows
            ):
                self.ledger.events[event.event_id] = event
                for unsub in self._scheduled.pop(event.event_id, []):
                    unsub()
                self._fire("activation_cancelled", known, known.windows[0])
                cancelled.append(event)
        return cancelled

    def _forget_reactivated(self, events: list[GridEvent]) -> None:
        """Let a cancelled activation that was activated again be new once more.

        Powernaut can activate a bid again after cancelling it: the same event
        id comes back with a window and a ``created_at`` after the
        cancellation's. A listing that still shows the value from before the
        cancellation is older than it and changes nothing.
        """
        for event in events:
            known = self.ledger.events.get(event.event_id)
            if (
                event.kind is GridEventKind.ACTIVATION
                and event.windows
                and known is not None
                and not known.windows
                and known.created_at is not None
                and event.created_at is not None
                and event.created_at > known.created_at
            ):
                del self.ledger.events[event.event_id]

    @callback
    def _announce(self, event: GridEvent, now: datetime) -> None:
        """Fire what a new event means, and schedule its windows."""
        first = event.windows[0] if event.windows else None
        if event.kind in LPC_KINDS:
            self._fire("lpc_received", event, first)
        elif event.kind is GridEventKind.LPC_RESERVATION:
            self._fire("lpc_reservation_received", event, first)
        elif event.kind is GridEventKind.PRICE_CURVE:
            self._fire("price_curve_received", event, None)
        elif (
            event.kind is GridEventKind.USER_ELIGIBILITY and event.eligible is not None
        ):
            programme = self.config_entry.runtime_data.programme_coordinator
            if programme is not None:
                # Read the user's and the meter points' eligibility again (and
                # the enrollment and compensation that may follow from it).
                self.config_entry.async_create_background_task(
                    self.hass,
                    programme.async_request_refresh(),
                    f"{DOMAIN} programme refresh {self.config_entry.title}",
                )
            else:
                async_sync_eligibility_issue(
                    self.hass, self.config_entry, eligible=event.eligible
                )
        self._schedule(event)
        for window in event.windows:
            if window.start <= now < window.end and event.kind in (
                *LPC_KINDS,
                GridEventKind.ACTIVATION,
            ):
                # Arrived while already in force (e.g. an activation).
                self._fire(f"{event_prefix(event)}_started", event, window)

    @callback
    def async_kick(self) -> None:
        """Have the worker look at the ledger (one worker per site)."""
        if self._worker_task is not None and not self._worker_task.done():
            self._work_again = True
            return
        self._worker_task = self.config_entry.async_create_background_task(
            self.hass, self._async_work(), f"{DOMAIN} grid event worker"
        )

    async def _async_work(self) -> None:
        while True:
            self._work_again = False
            try:
                await self.worker.async_run()
            except Exception:  # noqa: BLE001 - one bad run must not stop the worker
                LOGGER.exception("The grid event worker failed")
            self.async_update_listeners()
            if not self._work_again:
                return

    async def async_stop(self) -> None:
        """Let a send in flight finish (so its outcome is known), then stop.

        The ledger is written last: that also cancels a pending delayed save,
        which must not overwrite what the next instance (a reload) writes.
        """
        self.async_cancel_schedules()
        task = self._worker_task
        if task is not None and not task.done():
            try:
                async with asyncio.timeout(STOP_WAIT):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.ledger.async_save()

    async def async_fire_declined(self, event: GridEvent) -> None:
        """Tell automations that the event was declined."""
        self._fire("lpc_declined", event, event.windows[0] if event.windows else None)
        self.async_update_listeners()

    @callback
    def _schedule(self, event: GridEvent) -> None:
        """Fire started/ended at each future window edge of an LPC event or activation."""
        if (
            event.kind not in LPC_KINDS and event.kind is not GridEventKind.ACTIVATION
        ) or event.event_id in self._scheduled:
            return
        prefix = event_prefix(event)
        now = dt_util.utcnow()
        unsubs: list[CALLBACK_TYPE] = []
        for window in event.windows:
            for moment, kind in (
                (window.start, f"{prefix}_started"),
                (window.end, f"{prefix}_ended"),
            ):
                if moment <= now:
                    continue

                @callback
                def _edge(
                    _now: datetime,
                    kind: str = kind,
                    window: LimitWindow = window,
                ) -> None:
                    if not self.ledger.declined(event.event_id):
                        self._fire(kind, event, window)
                    self.async_update_listeners()
                    if kind.endswith("_ended"):
                        self.async_kick()

                unsubs.append(async_track_point_in_utc_time(self.hass, _edge, moment))
        self._scheduled[event.event_id] = unsubs

    @callback
    def _fire(self, kind: str, event: GridEvent, window: LimitWindow | None) -> None:
        """Tell the event entity and the event bus."""
        payload = event_payload(event, window)
        if event.kind is GridEventKind.ACTIVATION:
            payload.update(self._resource_details(event))
        # The entry tells sites apart (device triggers); the entity has its own.
        data = {"type": kind, "entry_id": self.config_entry.entry_id, **payload}
        if event.kind in (*LPC_KINDS, GridEventKind.LPC_RESERVATION):
            data["windows"] = event_windows(event)  # all its hours and limits
        elif event.kind is GridEventKind.PRICE_CURVE:
            data["price_area"] = event.price_area
            data["currency"] = event.currency
            data["energy_unit"] = event.energy_unit
        self.hass.bus.async_fire(BUS_EVENT, data)
        async_dispatcher_send(
            self.hass,
            SIGNAL_GRID_EVENT.format(self.config_entry.entry_id),
            kind,
            payload,
        )

    @callback
    def _resource_details(self, event: GridEvent) -> dict[str, str | None]:
        """Name the resource an activation targets: its name, subentry and device.

        All ``None`` when the resource is not (or no longer) one of GridFlex's.
        """
        resource_id = activation_resource(event)
        entry = self.config_entry
        for subentry_id, subentry in resource_subentries(entry).items():
            if resource_id and subentry.data.get(CONF_RESOURCE_ID) == resource_id:
                device = dr.async_get(self.hass).async_get_device_by_identifier(
                    resource_device_identifier(entry.entry_id, subentry_id),
                    entry.entry_id,
                )
                return {
                    "resource_name": subentry.title,
                    "subentry_id": subentry_id,
                    "device_id": device.id if device else None,
                }
        return {"resource_name": None, "subentry_id": None, "device_id": None}

    @callback
    def async_cancel_schedules(self) -> None:
        """Stop the window timers (on unload)."""
        for unsubs in self._scheduled.values():
            for unsub in unsubs:
                unsub()
        self._scheduled.clear()

    def active_window(
        self, now: datetime, *, resource_id: str | None = None
    ) -> tuple[GridEvent, LimitWindow] | None:
        """Return the LPC window in force now, if any (the lowest limit wins).

        LPC windows are the site's (LocationLPC) unless ``resource_id`` asks
        for one resource's (ResourceLPC); declined events are not in force.
        """

        def applies(event: GridEvent) -> bool:
            if event.kind not in LPC_KINDS or self.ledger.declined(event.event_id):
                return False
            if resource_id is None:
                return is_location_lpc(event)
            return is_resource_lpc(event) and resource_id in event.resource_ids

        active = [
            (event, window)
            for event in self.ledger.sorted_events(applies)
            for window in event.windows
            if window.start <= now < window.end
        ]
        return min(active, key=lambda pair: pair[1].max_power_kw) if active else None

    def active_activations(
        self, now: datetime
    ) -> dict[str, tuple[GridEvent, LimitWindow]]:
        """Return the activation in force now for each resource, by platform id.

        An activation is one accepted bid of one resource. Should two be in
        force for the same resource, the one accepted last is the setpoint.
        """
        active: dict[str, tuple[GridEvent, LimitWindow]] = {}
        for event in self.ledger.sorted_events(
            lambda e: e.kind is GridEventKind.ACTIVATION
        ):
            for window in event.windows:
                if not window.start <= now < window.end:
                    continue
                resource_id = activation_resource(event) or ""
                known = active.get(resource_id)
                if known is None or event.created_at >= known[0].created_at:
                    active[resource_id] = (event, window)
        return active

    def activation_setpoint(self, now: datetime) -> Decimal | None:
        """Return the sum of the setpoints in force now across the site's resources.

        ``None`` while no activation is in force.
        """
        active = self.active_activations(now)
        if not active:
            return None
        return sum((window.max_power_kw for _, window in active.values()), Decimal(0))

    def next_event_start(self, now: datetime) -> datetime | None:
        """Return when the next LPC event (not one already running) starts."""
        starts = [
            event.start
            for event in self.ledger.sorted_events(
                lambda e: e.kind in LPC_KINDS and not self.ledger.declined(e.event_id)
            )
            if event.start is not None and event.start > now
        ]
        return min(starts) if starts else None


def activation_resource(event: GridEvent) -> str | None:
    """Return the platform id of the resource an activation targets."""
    return event.resource_ids[0] if event.resource_ids else None
