"""Carry activations out: steer each resource's mapped control to its setpoint.

One executor per entry follows the event coordinator's activations per
resource. A resource whose subentry maps a *control* (a ``number`` taking a
power or current setpoint, a ``select`` mode, a ``switch`` or a ``climate``
offset; how each is driven is ``controls.py``'s) is driven to the activation's
setpoint while the activation is in force, within a safety envelope:

- never beyond the resource's power limits (``power_min_kw``/``power_max_kw``)
  nor the entity's own range (a number's ``min``/``max``, a climate's
  ``min_temp``/``max_temp``);
- for a battery or EV with a state-of-charge sensor, never discharging
  (below 0 kW) while the SoC is at or below the reserve SoC, never charging
  while it is at or above the maximum SoC (the bidding settings; an unknown
  SoC counts as both);
- never against the homeowner: a change of the control that GridFlex did not
  make (told by the state's context) stops the steering for the rest of that
  activation, is recorded (bus event ``gridflex_activation_control``, the
  resource's *Activation active* attributes, the log) and the homeowner's
  value stays, also when the activation ends.

When the activation ends or is cancelled the control returns to the mapped
"normal" value (or option), else to the state it had before. Without a
mapped control nothing is steered: the activation is only shown, as it always
was.

Activation types (Powernaut): ``exact`` holds the setpoint;
``maximise_upwards``/``maximise_downwards`` deliver as much as possible in that
direction, which GridFlex reads on the power axis (consumption positive): the
resource's maximum, respectively its minimum, power, within the envelope.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import (
    CALLBACK_TYPE,
    Context,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_call_later, async_track_state_change_event
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
import probatio as vol

from .bid_settings import CONF_EV_SOC_ENTITY
from .const import (
    CONF_BIDDING,
    CONF_MAX_SOC,
    CONF_POWER_ENTITY,
    CONF_POWER_MAX,
    CONF_POWER_MIN,
    CONF_RESERVE_SOC,
    CONF_RESOURCE_ID,
    CONF_SOC_ENTITY,
    DOMAIN,
    LOGGER,
)
from .controls import Control, control_from, decimal_or_none
from .event_coordinator import SIGNAL_GRID_EVENT
from .platforms.bids import BidStatus
from .platforms.errors import GridFlexError
from .platforms.models import GridEvent, LimitWindow
from .resources import is_group, resource_subentries
from .telemetry import to_kw

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry
    from .event_coordinator import GridEventCoordinator

CONF_CONTROL: Final = "control"
"""The subentry's control mapping (a section of the resource form)."""

BUS_EVENT: Final = f"{DOMAIN}_activation_control"
"""Fired when GridFlex takes, hands back or loses a resource's control."""

STORAGE_VERSION: Final = 1
REPORT_CHECKS: Final = (300, 600, 1200, 2400, 3600)
"""Seconds after an activation when the platform's report is looked for."""
BID_EVENT_PREFIX: Final = "activation-"
"""An activation read from a bid is ``activation-<bid id>``."""

MAXIMISE_UP: Final = "maximise_upwards"
MAXIMISE_DOWN: Final = "maximise_downwards"


@dataclass(frozen=True, slots=True)
class ControlMapping:
    """A resource's mapped control and its safety envelope (kW)."""

    control: Control
    power_min_kw: Decimal
    power_max_kw: Decimal
    soc_entity: str | None
    reserve_soc: Decimal | None
    max_soc: Decimal | None

    @property
    def entity_id(self) -> str:
        """The control's entity."""
        return self.control.entity_id


_decimal = decimal_or_none


def control_mapping(data: Any) -> ControlMapping | None:
    """Return the control a resource subentry maps (``None``: not steered)."""
    power_min = _decimal(data.get(CONF_POWER_MIN))
    power_max = _decimal(data.get(CONF_POWER_MAX))
    if power_min is None or power_max is None:
        return None
    control = control_from(data.get(CONF_CONTROL) or {}, power_min, power_max)
    if control is None:
        return None
    # The reserve and maximum SoC are the bidding settings' (read flat too).
    bidding = data.get(CONF_BIDDING) or {}
    return ControlMapping(
        control=control,
        power_min_kw=power_min,
        power_max_kw=power_max,
        # An EV charger maps its car's SoC sensor in the bidding section.
        soc_entity=data.get(CONF_SOC_ENTITY) or bidding.get(CONF_EV_SOC_ENTITY),
        reserve_soc=_decimal(bidding.get(CONF_RESERVE_SOC, data.get(CONF_RESERVE_SOC))),
        max_soc=_decimal(bidding.get(CONF_MAX_SOC, data.get(CONF_MAX_SOC))),
    )


@dataclass(slots=True)
class Steering:
    """One activation GridFlex is carrying out on one resource's control."""

    event_id: str
    window: LimitWindow
    mapping: ControlMapping
    previous: Any
    """The control's state before GridFlex took it (returned at the end)."""
    power_entity: str | None
    context: Context = field(default_factory=Context)
    target_kw: Decimal | None = None
    set_value: Any = None
    overridden: bool = False
    delivered_kwh: Decimal = Decimal(0)
    last_reading: tuple[datetime, Decimal | None] | None = None
    unsubs: list[CALLBACK_TYPE] = field(default_factory=list)

    def integrate(self, moment: datetime, kw: Decimal | None) -> None:
        """Add the energy since the previous reading (held until this one)."""
        moment = min(max(moment, self.window.start), self.window.end)
        if self.last_reading is not None:
            since, value = self.last_reading
            if value is not None and moment > since:
                hours = Decimal((moment - since).total_seconds()) / 3600
                self.delivered_kwh += value * hours
        self.last_reading = (moment, kw)


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, dict[str, Any]]]:
    """What each control was before GridFlex took it, per entry."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.activation_control")


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Forget the controls' earlier values when the entry is removed."""
    await _store(hass, entry_id).async_remove()


class ActivationExecutor:
    """Follow the entry's activations and steer the mapped controls."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: GridFlexConfigEntry,
        events: GridEventCoordinator,
    ) -> None:
        """Prepare; nothing is steered before ``async_start``."""
        self.hass = hass
        self.entry = entry
        self.events = events
        self.steering: dict[str, Steering] = {}
        """What is being steered, by resource subentry id."""
        self.last_runs: dict[str, dict[str, Any]] = {}
        """The latest finished activation of each resource subentry."""
        self._lock = asyncio.Lock()
        self._unsubs: list[CALLBACK_TYPE] = []
        # What each control was before GridFlex took it, on disk: a restart
        # of Home Assistant during an activation still returns it.
        self._store: Store[dict[str, dict[str, Any]]] = _store(hass, entry.entry_id)
        self._held: dict[str, dict[str, Any]] | None = None
        self._reports_due: dict[str, str] = {}
        self._stopped = False
        """Bid ids whose report is awaited, with their resource subentry."""

    @callback
    def async_start(self) -> None:
        """Follow the activations (the first look runs in the background)."""
        self._unsubs.append(
            async_dispatcher_connect(
                self.hass,
                SIGNAL_GRID_EVENT.format(self.entry.entry_id),
                self._on_grid_event,
            )
        )
        self._unsubs.append(self.events.async_add_listener(self.async_schedule_sync))

        async def _entry_updated(_hass: HomeAssistant, _entry: Any) -> None:
            # A control mapped, changed or cleared takes effect at once.
            self.async_schedule_sync()

        self._unsubs.append(self.entry.add_update_listener(_entry_updated))
        self.async_schedule_sync()

    async def async_stop(self) -> None:
        """Hand every control back (unload): nothing stays steered unseen."""
        self._stopped = True
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        async with self._lock:
            for subentry_id in list(self.steering):
                await self._async_finish(subentry_id, restore=True)

    def diagnostics(self) -> dict[str, dict[str, Any]]:
        """Each resource's control as its entities show it (for diagnostics)."""
        return {
            subentry_id: self.state_of(subentry_id)
            for subentry_id in sorted(self.steering.keys() | self.last_runs.keys())
        }

    def state_of(self, subentry_id: str) -> dict[str, Any]:
        """Return what the resource's entities show about its control."""
        steering = self.steering.get(subentry_id)
        attributes: dict[str, Any] = {}
        if steering is not None:
            attributes["control_entity"] = steering.mapping.entity_id
            attributes["control_state"] = (
                "overridden" if steering.overridden else "steering"
            )
            attributes["control_target_kw"] = (
                float(steering.target_kw) if steering.target_kw is not None else None
            )
            # What GridFlex set: a number, an option, on/off, a temperature.
            attributes["control_value"] = steering.set_value
        if (last := self.last_runs.get(subentry_id)) is not None:
            attributes["last_activation"] = last
        return attributes

    @callback
    def _on_grid_event(self, kind: str, _payload: dict[str, Any]) -> None:
        if kind.startswith("activation_"):
            self.async_schedule_sync()

    @callback
    def async_schedule_sync(self) -> None:
        """Look at the activations in force (soon, in the background)."""
        self.entry.async_create_background_task(
            self.hass, self._async_sync(), f"{DOMAIN} activation executor"
        )

    async def _async_sync(self) -> None:
        async with self._lock:
            if self._stopped:
                return  # unloading: nothing is taken again
            try:
                await self._async_sync_locked()
            except Exception:  # noqa: BLE001 - one bad look must not stop the next
                LOGGER.exception("Carrying out the activations failed")

    async def _async_sync_locked(self) -> None:
        if self._held is None:
            self._held = await self._store.async_load() or {}
        active = self.events.active_activations(dt_util.utcnow())
        changed = await self._async_follow(active)
        for subentry_id, subentry in resource_subentries(self.entry).items():
            if subentry_id in self.steering or is_group(subentry):
                continue
            resource_id = subentry.data.get(CONF_RESOURCE_ID)
            if not resource_id or (current := active.get(resource_id)) is None:
                continue
            if (mapping := control_mapping(subentry.data)) is None:
                continue  # only shown, for automations to act on
            if self._overridden(subentry_id, current[0], current[1]):
                continue  # the homeowner's for the rest of this activation
            await self._async_begin(subentry_id, *current, mapping, None)
            changed = True
        for steering in self.steering.values():
            if not steering.overridden:
                await self._async_apply(steering)
        if changed:
            self.events.async_update_listeners()

    async def _async_follow(
        self, active: dict[str, tuple[GridEvent, LimitWindow]]
    ) -> bool:
        """End or hand over what is steered; return whether anything changed."""
        subentries = resource_subentries(self.entry)
        changed = False
        for subentry_id in list(self.steering):
            steering = self.steering[subentry_id]
            subentry = subentries.get(subentry_id)
            mapping = control_mapping(subentry.data) if subentry else None
            current = (
                active.get(subentry.data.get(CONF_RESOURCE_ID) or "")
                if subentry
                else None
            )
            if (
                current is None
                or mapping is None
                or mapping.entity_id != steering.mapping.entity_id
            ):
                await self._async_finish(subentry_id, restore=True)
                changed = True
                continue
            if mapping != steering.mapping:
                # The same control with other settings: they apply from now.
                steering.mapping = mapping
                steering.set_value = None
            if (current[0].event_id, current[1]) != (
                steering.event_id,
                steering.window,
            ):
                # The next activation follows at once: hand over without
                # returning to normal in between.
                previous = steering.previous
                await self._async_finish(subentry_id, restore=False)
                await self._async_begin(subentry_id, *current, mapping, previous)
                changed = True
        return changed

    def _overridden(
        self, subentry_id: str, event: GridEvent, window: LimitWindow
    ) -> bool:
        last = self.last_runs.get(subentry_id)
        return bool(
            last
            and last.get("overridden")
            and last.get("event_id") == event.event_id
            and last.get("start") == window.start.isoformat()
        )

    async def _async_begin(
        self,
        subentry_id: str,
        event: GridEvent,
        window: LimitWindow,
        mapping: ControlMapping,
        previous: Any,
    ) -> None:
        subentry = self.entry.subentries[subentry_id]
        held = self._held if self._held is not None else {}
        record = {"event_id": event.event_id, "start": window.start.isoformat()}
        if previous is None:
            known = held.get(subentry_id) or {}
            if {k: known.get(k) for k in record} == record:
                # Taken before a restart: what it was before that.
                previous = known.get("previous")
            else:
                previous = mapping.control.capture(
                    self.hass.states.get(mapping.entity_id)
                )
        held[subentry_id] = {**record, "previous": previous}
        await self._store.async_save(held)
        steering = Steering(
            event_id=event.event_id,
            window=window,
            mapping=mapping,
            previous=previous,
            power_entity=subentry.data.get(CONF_POWER_ENTITY),
        )
        steering.target_kw = self._target(event, window, mapping)
        if steering.power_entity and (
            power := self.hass.states.get(steering.power_entity)
        ):
            # A reading held since before the window counts from its start.
            steering.integrate(power.last_changed, to_kw(power))
        self.steering[subentry_id] = steering

        @callback
        def _control_changed(change: Event[EventStateChangedData]) -> None:
            self._async_control_changed(subentry_id, steering, change)

        @callback
        def _power_changed(change: Event[EventStateChangedData]) -> None:
            if (new_state := change.data["new_state"]) is not None:
                steering.integrate(new_state.last_updated, to_kw(new_state))

        steering.unsubs.append(
            async_track_state_change_event(
                self.hass, [mapping.entity_id], _control_changed
            )
        )
        if steering.power_entity:
            steering.unsubs.append(
                async_track_state_change_event(
                    self.hass, [steering.power_entity], _power_changed
                )
            )
        if mapping.soc_entity and (
            mapping.reserve_soc is not None or mapping.max_soc is not None
        ):

            @callback
            def _soc_changed(_change: Event[EventStateChangedData]) -> None:
                self.async_schedule_sync()

            steering.unsubs.append(
                async_track_state_change_event(
                    self.hass, [mapping.soc_entity], _soc_changed
                )
            )
        LOGGER.info(
            "Steering %s to the activation of %s (%s kW)",
            mapping.entity_id,
            subentry.title,
            window.max_power_kw,
        )
        self._fire("steering", subentry_id, steering)

    def _target(
        self, event: GridEvent, window: LimitWindow, mapping: ControlMapping
    ) -> Decimal:
        """Return the power to steer to (kW), within the safety envelope."""
        if event.raw_type == MAXIMISE_UP:
            wanted = mapping.power_max_kw
        elif event.raw_type == MAXIMISE_DOWN:
            wanted = mapping.power_min_kw
        else:
            wanted = window.max_power_kw
        low, high = mapping.power_min_kw, mapping.power_max_kw
        if mapping.soc_entity and (
            mapping.reserve_soc is not None or mapping.max_soc is not None
        ):
            soc = _decimal(_value(self.hass.states.get(mapping.soc_entity)))
            if mapping.reserve_soc is not None and (
                soc is None or soc <= mapping.reserve_soc
            ):
                # At the reserve (or unknown): no discharging.
                low = max(low, Decimal(0))
            if mapping.max_soc is not None and (soc is None or soc >= mapping.max_soc):
                # Full (or unknown): no charging.
                high = min(high, Decimal(0))
            high = max(high, low)
        return min(max(wanted, low), high)

    async def _async_apply(self, steering: Steering) -> None:
        """Set the control to the current target (unless it holds it already)."""
        event = self.events.ledger.events.get(steering.event_id)
        if event is not None:
            steering.target_kw = self._target(event, steering.window, steering.mapping)
        if steering.target_kw is None:
            return
        control = steering.mapping.control
        state = self.hass.states.get(control.entity_id)
        value = control.for_power(steering.target_kw, state, steering.previous)
        if value is None or value == steering.set_value:
            return
        steering.set_value = value
        await self._async_set(control, value, steering.context)

    async def _async_set(self, control: Control, value: Any, context: Context) -> None:
        try:
            await control.async_set(self.hass, value, context)
        except (HomeAssistantError, vol.Invalid) as err:
            # Refused by the entity or its action's schema: steering goes on.
            LOGGER.warning("Could not set %s to %s: %s", control.entity_id, value, err)

    @callback
    def _async_control_changed(
        self,
        subentry_id: str,
        steering: Steering,
        change: Event[EventStateChangedData],
    ) -> None:
        """A change GridFlex did not make, to another value, is the homeowner's."""
        control = steering.mapping.control
        new_state = change.data["new_state"]
        if control.read(change.data["old_state"]) is None:
            # Back from unavailable: not the homeowner's doing; set it again.
            steering.set_value = None
            self.async_schedule_sync()
            return
        if (
            steering.overridden
            or self.steering.get(subentry_id) is not steering
            or new_state is None
            or not control.changed_by_hand(change, steering.context, steering.set_value)
        ):
            return
        value = control.read(new_state)
        steering.overridden = True
        LOGGER.warning(
            "%s was changed to %s during an activation; GridFlex stops steering it",
            steering.mapping.entity_id,
            value,
        )
        self._fire("overridden", subentry_id, steering, value=value)
        self.events.async_update_listeners()

    async def _async_finish(self, subentry_id: str, *, restore: bool) -> None:
        """Stop steering; return the control unless the homeowner took it."""
        steering = self.steering.pop(subentry_id)
        for unsub in steering.unsubs:
            unsub()
        if self._held is not None and self._held.pop(subentry_id, None) is not None:
            await self._store.async_save(self._held)
        if steering.power_entity:
            steering.integrate(
                dt_util.utcnow(), to_kw(self.hass.states.get(steering.power_entity))
            )
        restored: Any = None
        if restore and not steering.overridden:
            control = steering.mapping.control
            restored = control.restore_value(steering.previous)
            if restored is not None:
                await self._async_set(control, restored, steering.context)
        window = steering.window
        until = min(max(dt_util.utcnow(), window.start), window.end)
        hours = Decimal((until - window.start).total_seconds()) / 3600
        self.last_runs[subentry_id] = {
            "event_id": steering.event_id,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "until": until.isoformat(),
            "setpoint_kw": float(window.max_power_kw),
            "target_kw": float(steering.target_kw)
            if steering.target_kw is not None
            else None,
            "requested_kwh": round(float(window.max_power_kw * hours), 6),
            "delivered_kwh": round(float(steering.delivered_kwh), 6)
            if steering.power_entity
            else None,
            "overridden": steering.overridden,
        }
        LOGGER.info(
            "Activation %s of %s: requested %s kWh, delivered %s kWh",
            steering.event_id,
            steering.mapping.entity_id,
            self.last_runs[subentry_id]["requested_kwh"],
            self.last_runs[subentry_id]["delivered_kwh"],
        )
        self._fire(
            "restored" if restored is not None else "released", subentry_id, steering
        )
        self._await_report(subentry_id, steering.event_id)

    @callback
    def _await_report(self, subentry_id: str, event_id: str) -> None:
        """Look for the platform's report of a bid a few times after it ends."""
        bid_id = event_id.removeprefix(BID_EVENT_PREFIX)
        if (
            self._stopped
            or bid_id == event_id
            or bid_id.startswith("mqtt-")  # a command over MQTT names no bid
            or not callable(getattr(self.events.client, "list_bids", None))
        ):
            return
        self._reports_due[bid_id] = subentry_id
        for delay in REPORT_CHECKS:
            self._unsubs.append(
                async_call_later(self.hass, delay, self._async_check_reports)
            )

    async def _async_check_reports(self, _now: datetime) -> None:
        """Put the platform's report beside what GridFlex measured."""
        if not self._reports_due:
            return
        try:
            bids = await self.events.client.list_bids(BidStatus.ACCEPTED)
        except GridFlexError as err:
            LOGGER.debug("Could not read the bids' reports: %s", err)
            return
        for bid in bids:
            subentry_id = self._reports_due.get(bid.bid_id)
            if subentry_id is None or bid.report is None:
                continue
            del self._reports_due[bid.bid_id]
            last = self.last_runs.get(subentry_id)
            if last is None or last["event_id"] != BID_EVENT_PREFIX + bid.bid_id:
                continue
            last["reported_requested_kwh"] = float(bid.report.energy_requested_kwh)
            last["reported_delivered_kwh"] = float(bid.report.energy_delivered_kwh)
            LOGGER.info(
                "Activation %s: the platform reports %s kWh delivered"
                " (GridFlex measured %s kWh)",
                last["event_id"],
                last["reported_delivered_kwh"],
                last["delivered_kwh"],
            )
            self.hass.bus.async_fire(
                BUS_EVENT,
                {
                    "type": "reported",
                    "entry_id": self.entry.entry_id,
                    "subentry_id": subentry_id,
                    "event_id": last["event_id"],
                    "last_activation": dict(last),
                },
            )
            self.events.async_update_listeners()

    @callback
    def _fire(
        self, kind: str, subentry_id: str, steering: Steering, **extra: Any
    ) -> None:
        subentry = self.entry.subentries.get(subentry_id)
        data: dict[str, Any] = {
            "type": kind,
            "entry_id": self.entry.entry_id,
            "subentry_id": subentry_id,
            "resource_name": subentry.title if subentry else None,
            "entity_id": steering.mapping.entity_id,
            "event_id": steering.event_id,
            "target_kw": float(steering.target_kw)
            if steering.target_kw is not None
            else None,
            **extra,
        }
        if kind in ("restored", "released"):
            data["last_activation"] = self.last_runs.get(subentry_id)
        self.hass.bus.async_fire(BUS_EVENT, data)


def _value(state: State | None) -> str | None:
    """Return a state (``None``: unknown or unavailable)."""
    if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        return None
    return state.state
