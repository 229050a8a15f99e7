"""Grid events: polling, acknowledgement and the received/started/ended lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ENERGY_ENTITY,
    CONF_GRID_ENERGY_ENTITY,
    CONF_RESOURCE_ID,
    CONF_SITE_ID,
    DOMAIN,
    LOGGER,
)
from .grid_events import LPC_KINDS, GridEventStore
from .platforms.errors import GridFlexAuthError, GridFlexError
from .platforms.models import GridEvent, GridEventKind, LimitWindow
from .reports import async_hourly_energy, event_hours
from .resources import is_group, resource_subentries

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry
    from .platforms import FlexPlatform

EVENT_POLL_INTERVAL = timedelta(minutes=5)
REPORT_DELAY = timedelta(minutes=20)
"""After an event ends, wait for the recorder's hourly statistics (compiled at :10)."""
REPORT_GIVE_UP = timedelta(days=1)
"""Report what the recorder has once this long has passed, even if hours are missing."""
BUS_EVENT = f"{DOMAIN}_grid_event"
SIGNAL_GRID_EVENT = "gridflex_grid_event_{}"

EVENT_TYPES = [
    "lpc_received",
    "lpc_started",
    "lpc_ended",
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


def event_payload(
    event: GridEvent, window: LimitWindow | None = None
) -> dict[str, Any]:
    """Return what the event entity and the bus event carry."""
    return {
        "event_id": event.event_id,
        "kind": event.kind.value,
        "limit_kw": float(window.max_power_kw) if window else None,
        "start": (
            window.start if window else event.start or event.created_at
        ).isoformat(),
        "end": (window.end if window else event.end or event.created_at).isoformat(),
    }


ACTIVATION_KINDS = frozenset({GridEventKind.ACTIVATION})


def _prefix(event: GridEvent) -> str:
    return "activation" if event.kind is GridEventKind.ACTIVATION else "lpc"


class GridEventCoordinator(DataUpdateCoordinator[None]):
    """Poll the platform's grid events and drive their lifecycle.

    Polling and push (later) feed the same deduplicated store. Each LPC event
    for this site is acknowledged once; its windows fire ``lpc_started`` and
    ``lpc_ended`` on time.
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
        self.store = GridEventStore(hass, entry.entry_id)
        self._scheduled: dict[str, list[CALLBACK_TYPE]] = {}
        self._site_id = entry.data[CONF_SITE_ID]

    async def _async_setup(self) -> None:
        """Load earlier events and schedule the windows still to come."""
        await self.store.async_load()
        for event in self.store.events.values():
            self._schedule(event)

    async def _async_update_data(self) -> None:
        """Fetch new events, then acknowledge what still needs it."""
        try:
            if self.client.capabilities.lpc_events:
                events = await self.client.list_events(
                    self._site_id, stop_at=self.store.known
                )
            else:
                events = await self._async_list_activations()
        except GridFlexAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            ) from err
        except GridFlexError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err
        await self.async_process(events)

    async def _async_list_activations(self) -> list[GridEvent]:
        """Poll the activations of every resource (fallback for the webhook)."""
        since = dt_util.utcnow() - timedelta(days=1)
        events: list[GridEvent] = []
        for subentry in resource_subentries(self.config_entry).values():
            resource_id = subentry.data.get(CONF_RESOURCE_ID)
            if resource_id and not is_group(subentry):
                events += await self.client.list_activations(resource_id, start=since)
        return events

    async def async_process(self, events: list[GridEvent]) -> None:
        """Take in events from any source; act on the ones not seen before."""
        cancelled = [
            event
            for event in events
            if event.kind is GridEventKind.ACTIVATION
            and not event.windows
            and (known := self.store.events.get(event.event_id)) is not None
            and known.windows
        ]
        for event in cancelled:
            known = self.store.events[event.event_id]
            self.store.events[event.event_id] = event
            for unsub in self._scheduled.pop(event.event_id, []):
                unsub()
            self._fire("activation_cancelled", known, known.windows[0])
        new = self.store.add(events)
        if new or cancelled:
            await self.store.async_save()
        now = dt_util.utcnow()
        for event in new:
            if event.kind in LPC_KINDS:
                self._fire(
                    "lpc_received", event, event.windows[0] if event.windows else None
                )
            elif event.kind is GridEventKind.PRICE_CURVE:
                self._fire("price_curve_received", event, None)
            self._schedule(event)
            for window in event.windows:
                if window.start <= now < window.end:
                    # Arrived while already in force (e.g. an activation).
                    self._fire(f"{_prefix(event)}_started", event, window)
        await self._async_acknowledge_pending()
        await self._async_report_ended()
        self.async_update_listeners()

    async def _async_acknowledge_pending(self) -> None:
        """Acknowledge every LPC event not acknowledged yet (and not over)."""
        now = dt_util.utcnow()
        for event in self.store.sorted_events(
            lambda e: e.kind in LPC_KINDS and e.event_id not in self.store.acknowledged
        ):
            if event.end is not None and event.end <= now:
                continue
            try:
                await self.client.acknowledge_event(self._site_id, event)
            except GridFlexError as err:
                LOGGER.warning(
                    "Could not acknowledge grid event %s yet: %s", event.event_id, err
                )
                return
            self.store.acknowledged.add(event.event_id)
            await self.store.async_save()
            LOGGER.info("Acknowledged grid event %s", event.event_id)

    async def async_answer(self, event_id: str, *, accept: bool) -> None:
        """Acknowledge or decline an LPC event on the homeowner's request."""
        event = self.store.events[event_id]
        await self.client.acknowledge_event(self._site_id, event, accept=accept)
        self.store.acknowledged.add(event_id)
        await self.store.async_save()

    async def async_report_now(self, event_id: str) -> int:
        """Send the energy report of an ended event now; return the hours sent."""
        event = self.store.events[event_id]
        energy_entity = self.config_entry.options[CONF_GRID_ENERGY_ENTITY]
        assert event.start is not None and event.end is not None
        energy = await async_hourly_energy(
            self.hass, energy_entity, event_hours(event.start, event.end)
        )
        await self.client.report_energy_usage(
            self._site_id,
            event,
            sorted(energy.items()),
            resource_hours=await self._async_resource_hours(event),
        )
        self.store.reported.add(event_id)
        await self.store.async_save()
        return len(energy)

    async def _async_resource_hours(
        self, event: GridEvent
    ) -> dict[str, list[tuple[datetime, Decimal]]] | None:
        """Return kWh per hour for each targeted resource with an energy sensor."""
        if not event.resource_ids or event.start is None or event.end is None:
            return None
        hours = event_hours(event.start, event.end)
        sensors = {
            str(subentry.data[CONF_RESOURCE_ID]): subentry.data[CONF_ENERGY_ENTITY]
            for subentry in resource_subentries(self.config_entry).values()
            if subentry.data.get(CONF_RESOURCE_ID)
            and subentry.data.get(CONF_ENERGY_ENTITY)
        }
        result = {
            resource_id: sorted(
                (
                    await async_hourly_energy(self.hass, sensors[resource_id], hours)
                ).items()
            )
            for resource_id in event.resource_ids
            if resource_id in sensors
        }
        return result or None

    async def _async_report_ended(self) -> None:
        """Report the energy of each ended LPC event once, from the statistics."""
        energy_entity = self.config_entry.options.get(CONF_GRID_ENERGY_ENTITY)
        if not energy_entity:
            return
        now = dt_util.utcnow()
        for event in self.store.sorted_events(
            lambda e: e.kind in LPC_KINDS and e.event_id not in self.store.reported
        ):
            if (
                event.end is None
                or event.start is None
                or event.end + REPORT_DELAY > now
            ):
                continue
            hours = event_hours(event.start, event.end)
            energy = await async_hourly_energy(self.hass, energy_entity, hours)
            if len(energy) < len(hours):
                if event.end + REPORT_GIVE_UP > now:
                    continue  # the recorder may still fill them in
                LOGGER.warning(
                    "Reporting grid event %s without %s hours the recorder does not have",
                    event.event_id,
                    len(hours) - len(energy),
                )
            try:
                await self.client.report_energy_usage(
                    self._site_id,
                    event,
                    sorted(energy.items()),
                    resource_hours=await self._async_resource_hours(event),
                )
            except GridFlexError as err:
                LOGGER.warning(
                    "Could not report energy for grid event %s yet: %s",
                    event.event_id,
                    err,
                )
                return
            self.store.reported.add(event.event_id)
            await self.store.async_save()
            LOGGER.info("Reported energy usage for grid event %s", event.event_id)

    @callback
    def _schedule(self, event: GridEvent) -> None:
        """Fire started/ended at each future window edge of an LPC event or activation."""
        if (
            event.kind not in LPC_KINDS and event.kind is not GridEventKind.ACTIVATION
        ) or event.event_id in self._scheduled:
            return
        prefix = _prefix(event)
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
                    self._fire(kind, event, window)
                    self.async_update_listeners()

                unsubs.append(async_track_point_in_utc_time(self.hass, _edge, moment))
        self._scheduled[event.event_id] = unsubs

    @callback
    def _fire(self, kind: str, event: GridEvent, window: LimitWindow | None) -> None:
        """Tell the event entity and the event bus."""
        payload = event_payload(event, window)
        self.hass.bus.async_fire(BUS_EVENT, {"type": kind, **payload})
        async_dispatcher_send(
            self.hass,
            SIGNAL_GRID_EVENT.format(self.config_entry.entry_id),
            kind,
            payload,
        )

    @callback
    def async_cancel_schedules(self) -> None:
        """Stop the window timers (on unload)."""
        for unsubs in self._scheduled.values():
            for unsub in unsubs:
                unsub()
        self._scheduled.clear()

    def active_window(
        self, now: datetime, kinds: frozenset[GridEventKind] = LPC_KINDS
    ) -> tuple[GridEvent, LimitWindow] | None:
        """Return the window in force now, if any (the lowest value wins)."""
        active = [
            (event, window)
            for event in self.store.sorted_events(lambda e: e.kind in kinds)
            for window in event.windows
            if window.start <= now < window.end
        ]
        return min(active, key=lambda pair: pair[1].max_power_kw) if active else None

    def next_window_start(self, now: datetime) -> datetime | None:
        """Return when the next LPC window starts."""
        starts = [
            window.start
            for event in self.store.sorted_events(lambda e: e.kind in LPC_KINDS)
            for window in event.windows
            if window.start > now
        ]
        return min(starts) if starts else None
