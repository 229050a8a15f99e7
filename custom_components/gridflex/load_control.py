"""Keep the home under a power limit: the controller in Home Assistant.

One controller per site, off until the homeowner turns on the site's *Limit
control* switch. It follows, by state changes (never by polling), the site's
grid power sensor (the meter of the options; a repeated reading counts as
fresh), the resources' power sensors and every load's control, and decides
with ``limit_control.decide`` what to curtail or restore; ``controls.py``
moves the entities. The meter's readings, the limits' edges and a 5 s tick
(for dwell times and staleness) make it look; each look reads the loads'
power sensors as they are, so a load's reading never counts ahead of the
meter's.

The limits it works with:

- the site's LocationLPC limit while a window is in force, and the
  homeowner's manual limit (``gridflex.set_power_limit``) until its end: the
  lowest one counts, for every load, against the metered import;
- a resource's ResourceLPC limit: for the loads that belong to that resource
  only, against the resource's power sensor (else the sum of its loads);
- a Powernaut ``maximise_downwards`` activation of a resource: that
  resource's loads are shed (a limit of 0 kW).

A load under several limits is held at the deepest level any of them asks
for, and restored only when all of them allow it. When no limit is left (the
window ended, the manual limit expired or was cleared, the switch was turned
off, the entry unloads) every load GridFlex holds goes back to the state it
had before, unless the homeowner changed it meanwhile: a change GridFlex did
not make (told by its context) releases the load for the rest of that limit,
is logged and fired as the bus event ``gridflex_limit_control`` (type
``overridden``).

Stale or missing meter data (no update for 30 s while a site limit is in
force) makes the decision core curtail conservatively, and a repair issue
says so until fresh data returns. What it needs to put loads back (their
level and the state before GridFlex took them) and the manual limit are kept
on disk, so a restart in the middle of a window still restores them.

Per site LPC event (LocationLPC), while the controller is on, the time and
the energy above the limit are added up and written to the event ledger (``list_grid_events``
shows them).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

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
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_track_state_change_event,
    async_track_state_report_event,
    async_track_time_interval,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
import probatio as vol

from .const import (
    CONF_LIMIT_KEEP_OFF,
    CONF_POWER_ENTITY,
    CONF_RESOURCE_ID,
    DOMAIN,
    LOGGER,
)
from .controls import control_from
from .event_coordinator import BUS_EVENT as GRID_EVENT
from .limit_control import (
    ActionKind,
    Decision,
    LimitSettings,
    Load,
    LoadSpec,
    LoadState,
    decide,
    target_kw,
)
from .loads import LoadConfig, control_value, load_config, load_spec, load_subentries
from .meter import site_source
from .resources import resource_subentries
from .telemetry import to_kw

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry

STORAGE_VERSION: Final = 1
TICK: Final = timedelta(seconds=5)
"""How often dwell times, staleness and the limits' edges are looked at."""
PEAK_WINDOW: Final = timedelta(minutes=5)
"""How far back the peak of the rest of the home is taken (restores fit under it)."""
BUS_EVENT: Final = f"{DOMAIN}_limit_control"
"""Fired when a load is curtailed, restored or changed by hand."""
LIMIT_EXCEEDED: Final = "limit_exceeded"
"""The type of the ``gridflex_grid_event`` fired when the import goes above the limit."""
ISSUE_METER_STALE: Final = "limit_meter_stale"
MAXIMISE_DOWN: Final = "maximise_downwards"


def stale_issue_id(entry_id: str) -> str:
    """Return the id of the repair issue about the meter going quiet."""
    return f"{ISSUE_METER_STALE}_{entry_id}"


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.limit_control")


async def async_remove_limit_store(hass: HomeAssistant, entry_id: str) -> None:
    """Forget the loads' earlier states and the manual limit (entry removed)."""
    await _store(hass, entry_id).async_remove()
    ir.async_delete_issue(hass, DOMAIN, stale_issue_id(entry_id))


@dataclass(slots=True)
class LoadRuntime:
    """What GridFlex does to one load now."""

    level: int = 0
    changed_at: datetime | None = None
    previous_level: int | None = None
    hard_sheds: int = 0
    """How many times GridFlex switched it off under the limit in force (0 after it)."""
    prior: Any = None
    """The control's state before GridFlex took it (set back at the end)."""
    overridden: bool = False
    set_value: Any = None
    control: dict[str, Any] | None = None
    """The load's control mapping while curtailed (a removed load is still set back)."""
    context: Context = field(default_factory=Context)

    def to_dict(self) -> dict[str, Any]:
        """Return what is kept on disk."""
        return {
            "level": self.level,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "previous_level": self.previous_level,
            "hard_sheds": self.hard_sheds,
            "prior": self.prior,
            "overridden": self.overridden,
            "set_value": self.set_value,
            "control": self.control,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadRuntime:
        """Rebuild what was kept on disk."""
        changed = data.get("changed_at")
        return cls(
            level=int(data.get("level") or 0),
            changed_at=dt_util.parse_datetime(changed) if changed else None,
            previous_level=data.get("previous_level"),
            hard_sheds=int(data.get("hard_sheds") or 0),
            prior=data.get("prior"),
            overridden=bool(data.get("overridden")),
            set_value=data.get("set_value"),
            control=data.get("control"),
        )


@dataclass(frozen=True, slots=True)
class ActiveLimit:
    """A limit in force now."""

    limit_kw: float
    source: str
    """``location_lpc``, ``manual``, ``resource_lpc`` or ``activation``."""
    event_id: str | None = None
    end: datetime | None = None


@dataclass(slots=True)
class _Group:
    """Loads under one limit, against one measured power."""

    key: str
    limit: ActiveLimit | None
    configs: list[LoadConfig]
    import_kw: float | None
    import_at: datetime | None


@dataclass(slots=True)
class _Compliance:
    """The last measured power held until the next look (per limit)."""

    event_id: str
    at: datetime
    import_kw: float | None
    limit_kw: float


class LimitController:
    """Keep a site's metered import under the limits in force."""

    def __init__(self, hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
        """Prepare; nothing is followed before ``async_start``."""
        self.hass = hass
        self.entry = entry
        self.enabled = False
        self.manual: ActiveLimit | None = None
        self.loads: dict[str, LoadRuntime] = {}
        self.site_limit: ActiveLimit | None = None
        self.target_kw: float | None = None
        self.import_kw: float | None = None
        self.stale = False
        self.exceeded = False
        self.last_decision: dict[str, Any] | None = None
        self.resource_limits: dict[str, ActiveLimit] = {}
        self._store = _store(hass, entry.entry_id)
        # The homeowner may trade comfort for fewer switchings: a load
        # switched off then stays off until the limit ends.
        self.settings = LimitSettings(
            keep_off=bool(entry.options.get(CONF_LIMIT_KEEP_OFF, False))
        )
        self._lock = asyncio.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._unsubs: list[CALLBACK_TYPE] = []
        self._tracking: list[CALLBACK_TYPE] = []
        self._tracked: tuple[str, ...] = ()
        self._peaks: deque[tuple[datetime, float]] = deque()
        self._over_target: dict[str, datetime] = {}
        """Per limit group: when its measured power last went above the target."""
        self._compliance: dict[str, _Compliance] = {}
        self._loaded = False
        self._stopped = False
        self._again = False
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------

    @callback
    def async_start(self) -> None:
        """Load what was kept and start following (in the background)."""
        self.entry.async_create_background_task(
            self.hass, self._async_begin(), f"{DOMAIN} limit control start"
        )

    async def _async_begin(self) -> None:
        stored = await self._store.async_load() or {}
        if self._stopped:
            return
        if self.manual is None and (manual := stored.get("manual")):
            until = dt_util.parse_datetime(manual.get("until") or "")
            if until is not None and until > dt_util.utcnow():
                self.manual = ActiveLimit(
                    float(manual["limit_kw"]), "manual", end=until
                )
        for subentry_id, data in (stored.get("loads") or {}).items():
            self.loads[subentry_id] = LoadRuntime.from_dict(data)
        self._loaded = True
        if (events := self.entry.runtime_data.event_coordinator) is not None:
            self._unsubs.append(events.async_add_listener(self.async_schedule))

        async def _entry_updated(_hass: HomeAssistant, _entry: Any) -> None:
            self._async_track()
            self.async_schedule()

        self._unsubs.append(self.entry.add_update_listener(_entry_updated))
        self._unsubs.append(
            async_track_time_interval(
                self.hass, self._tick, TICK, cancel_on_shutdown=True
            )
        )
        self._async_track()
        self.async_schedule()

    async def async_stop(self) -> None:
        """Stop following; hand every load back (nothing stays curtailed unseen)."""
        self._stopped = True
        for unsub in self._unsubs + self._tracking:
            unsub()
        self._unsubs.clear()
        self._tracking.clear()
        if not self._loaded:
            return
        async with self._lock:
            configs = self._configs()
            for subentry_id, runtime in list(self.loads.items()):
                config = configs.get(subentry_id)
                if config is None:
                    await self._async_forget(self.loads.pop(subentry_id))
                elif runtime.level > 0 and not runtime.overridden:
                    await self._async_restore(config, runtime, dt_util.utcnow())
            self.loads = {k: v for k, v in self.loads.items() if v.level > 0}
            await self._async_save()

    # -- what the entities and the actions use ------------------------------

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``listener`` after each look."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def async_set_enabled(self, enabled: bool) -> None:
        """Turn the controller on or off (off: every load is handed back)."""
        if enabled == self.enabled:
            return
        self.enabled = enabled
        LOGGER.info(
            "Limit control of %s turned %s",
            self.entry.title,
            "on" if enabled else "off",
        )
        if self._loaded:
            await self._async_evaluate()

    async def async_set_manual_limit(self, limit_kw: float, until: datetime) -> None:
        """Keep the import under ``limit_kw`` until ``until`` (replaces the earlier one)."""
        self.manual = ActiveLimit(limit_kw, "manual", end=until)
        await self._async_save()
        await self._async_evaluate()

    async def async_clear_manual_limit(self) -> None:
        """Drop the manual limit."""
        self.manual = None
        await self._async_save()
        await self._async_evaluate()

    @property
    def headroom_kw(self) -> float | None:
        """Return the target minus the import (``None`` without a site limit)."""
        if self.target_kw is None or self.import_kw is None or self.stale:
            return None
        return round(self.target_kw - self.import_kw, 3)

    def curtailed(self) -> list[str]:
        """Return the names of the loads GridFlex holds curtailed now."""
        configs = self._configs()
        return [
            configs[subentry_id].name
            for subentry_id, runtime in self.loads.items()
            if runtime.level > 0 and subentry_id in configs
        ]

    def diagnostics(self) -> dict[str, Any]:
        """The controller's state, for diagnostics."""
        configs = self._configs()
        return {
            "enabled": self.enabled,
            "site_limit": _limit_dict(self.site_limit),
            "manual_limit": _limit_dict(self.manual),
            "resource_limits": {
                key: _limit_dict(limit) for key, limit in self.resource_limits.items()
            },
            "target_kw": self.target_kw,
            "import_kw": self.import_kw,
            "stale": self.stale,
            "exceeded": self.exceeded,
            "loads": [
                {
                    "subentry_id": config.subentry_id,
                    "control_entity": config.control.entity_id,
                    "priority": config.priority,
                    "nominal_kw": config.nominal_kw,
                    "resource_subentry_id": config.resource_subentry_id,
                    **self.loads.get(config.subentry_id, LoadRuntime()).to_dict(),
                }
                for config in self._ordered(configs)
            ],
            "last_decision": self.last_decision,
        }

    # -- following ---------------------------------------------------------

    def _configs(self) -> dict[str, LoadConfig]:
        configs: dict[str, LoadConfig] = {}
        for subentry_id, subentry in load_subentries(self.entry).items():
            if (config := load_config(subentry)) is not None:
                configs[subentry_id] = config
        return configs

    @staticmethod
    def _ordered(configs: dict[str, LoadConfig]) -> list[LoadConfig]:
        """The loads in priority order, the most important first."""
        return sorted(
            configs.values(), key=lambda c: (c.priority, c.name, c.subentry_id)
        )

    def _meter_sensors(self) -> tuple[tuple[str, int], ...]:
        source = site_source(dict(self.entry.options))
        return source.sensors if source is not None else ()

    def _resource_power(self, resource_subentry_id: str) -> str | None:
        subentry = resource_subentries(self.entry).get(resource_subentry_id)
        return subentry.data.get(CONF_POWER_ENTITY) if subentry else None

    @callback
    def _async_track(self) -> None:
        """Follow the meter, each load's power and control (again after a change)."""
        configs = self._configs()
        meters = [entity for entity, _sign in self._meter_sensors()]
        meters += [
            power
            for config in configs.values()
            if config.resource_subentry_id
            and (power := self._resource_power(config.resource_subentry_id))
        ]
        controls = [c.control.entity_id for c in configs.values()]
        tracked = (*meters, "|", *controls)
        if tracked == self._tracked:
            return
        for unsub in self._tracking:
            unsub()
        self._tracking = []
        self._tracked = tracked

        @callback
        def _reading(_event: Event[Any]) -> None:
            self.async_schedule()

        if meters:
            self._tracking.append(
                async_track_state_change_event(self.hass, meters, _reading)
            )
            # A meter reporting the same value again is fresh too.
            self._tracking.append(
                async_track_state_report_event(self.hass, meters, _reading)
            )
        # The loads' power sensors are read at each look: the meter (and the
        # tick) drive the looks, so a load's reading never runs ahead of it.
        if controls:
            self._tracking.append(
                async_track_state_change_event(
                    self.hass, controls, self._async_control_changed
                )
            )

    @callback
    def _tick(self, _now: datetime) -> None:
        self.async_schedule()

    @callback
    def async_schedule(self) -> None:
        """Look again soon (one look at a time; changes meanwhile make one more)."""
        if self._stopped or not self._loaded:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self.entry.async_create_background_task(
            self.hass, self._async_run(), f"{DOMAIN} limit control"
        )

    async def _async_run(self) -> None:
        while True:
            self._again = False
            await self._async_evaluate()
            if not self._again or self._stopped:
                return

    @callback
    def _async_control_changed(self, change: Event[EventStateChangedData]) -> None:
        """A change GridFlex did not make to a load it holds is the homeowner's."""
        entity_id = change.data["entity_id"]
        for config in self._configs().values():
            runtime = self.loads.get(config.subentry_id)
            if (
                config.control.entity_id != entity_id
                or runtime is None
                or runtime.level == 0
                or runtime.overridden
            ):
                continue
            control = config.control
            if control.read(change.data["old_state"]) is None:
                continue  # back from unavailable: not the homeowner's doing
            if not control.changed_by_hand(change, runtime.context, runtime.set_value):
                continue
            runtime.overridden = True
            value = control.read(change.data["new_state"])
            LOGGER.warning(
                "%s was changed to %s while GridFlex held it under the limit;"
                " GridFlex releases it",
                entity_id,
                value,
            )
            self._fire("overridden", config, runtime, value=value)
            self.async_schedule()

    # -- deciding ----------------------------------------------------------

    def _read(self, entity_id: str) -> State | None:
        return self.hass.states.get(entity_id)

    def _meter(self) -> tuple[float | None, datetime | None]:
        """Return the site's import (kW) and when it was last reported."""
        sensors = self._meter_sensors()
        if not sensors:
            return None, None
        total = 0.0
        at: datetime | None = None
        for entity_id, sign in sensors:
            state = self._read(entity_id)
            value = to_kw(state)
            if state is None or value is None:
                return None, None
            total += sign * float(value)
            at = state.last_reported if at is None else min(at, state.last_reported)
        return total, at

    def _power(self, entity_id: str | None) -> float | None:
        if not entity_id:
            return None
        value = to_kw(self._read(entity_id))
        return float(value) if value is not None else None

    def _site_limit(self, now: datetime) -> ActiveLimit | None:
        limits: list[ActiveLimit] = []
        if self.manual is not None:
            if self.manual.end is not None and self.manual.end <= now:
                self.manual = None
            else:
                limits.append(self.manual)
        events = self.entry.runtime_data.event_coordinator
        if events is not None and (active := events.active_window(now)) is not None:
            event, window = active
            limits.append(
                ActiveLimit(
                    float(window.max_power_kw),
                    "location_lpc",
                    event.event_id,
                    window.end,
                )
            )
        return min(limits, key=lambda lim: lim.limit_kw) if limits else None

    def _resource_limit(
        self, resource_subentry_id: str, now: datetime
    ) -> ActiveLimit | None:
        events = self.entry.runtime_data.event_coordinator
        subentry = resource_subentries(self.entry).get(resource_subentry_id)
        resource_id = subentry.data.get(CONF_RESOURCE_ID) if subentry else None
        if events is None or not resource_id:
            return None
        limits: list[ActiveLimit] = []
        if (active := events.active_window(now, resource_id=resource_id)) is not None:
            event, window = active
            limits.append(
                ActiveLimit(
                    float(window.max_power_kw),
                    "resource_lpc",
                    event.event_id,
                    window.end,
                )
            )
        activation = events.active_activations(now).get(resource_id)
        if activation is not None and activation[0].raw_type == MAXIMISE_DOWN:
            limits.append(
                ActiveLimit(
                    0.0, "activation", activation[0].event_id, activation[1].end
                )
            )
        return min(limits, key=lambda lim: lim.limit_kw) if limits else None

    def _groups(self, configs: list[LoadConfig], now: datetime) -> list[_Group]:
        site_import, site_at = self._meter()
        groups = [_Group("site", self._site_limit(now), configs, site_import, site_at)]
        by_resource: dict[str, list[LoadConfig]] = {}
        for config in configs:
            if config.resource_subentry_id:
                by_resource.setdefault(config.resource_subentry_id, []).append(config)
        self.resource_limits = {}
        for resource, members in by_resource.items():
            limit = self._resource_limit(resource, now)
            if limit is None:
                continue
            self.resource_limits[resource] = limit
            power_entity = self._resource_power(resource)
            if power_entity:
                state = self._read(power_entity)
                value = self._power(power_entity)
                at = (
                    state.last_reported
                    if state is not None and value is not None
                    else None
                )
            else:
                powers = [self._power(c.power_entity) for c in members]
                value = (
                    None if None in powers else sum(p for p in powers if p is not None)
                )
                at = now if value is not None else None
            groups.append(_Group(resource, limit, members, value, at))
        return groups

    def _load(
        self, config: LoadConfig, spec: LoadSpec, import_at: datetime | None
    ) -> Load:
        runtime = self.loads.get(config.subentry_id) or LoadRuntime()
        power = self._power(config.power_entity)
        state = self._read(config.power_entity) if config.power_entity else None
        if (
            power is not None
            and state is not None
            and import_at is not None
            and runtime.changed_at is not None
            and runtime.changed_at >= import_at
            and state.last_updated > import_at
        ):
            # The load already shows a change the meter does not show yet:
            # its reduction counts as on its way (unknown power), not twice.
            power = None
        return Load(
            spec=spec,
            state=LoadState(
                level=min(runtime.level, len(spec.levels) - 1),
                changed_at=runtime.changed_at,
                previous_level=runtime.previous_level,
                power_kw=power,
                overridden=runtime.overridden,
                hard_sheds=runtime.hard_sheds,
            ),
        )

    async def _async_evaluate(self) -> None:
        async with self._lock:
            if self._stopped or not self._loaded:
                return  # not before what was kept on disk is read
            try:
                await self._async_evaluate_locked()
            except Exception:  # noqa: BLE001 - one bad look must not stop the next
                LOGGER.exception("Keeping %s under the limit failed", self.entry.title)
        for listener in list(self._listeners):
            listener()

    async def _async_evaluate_locked(self) -> None:
        now = dt_util.utcnow()
        configs = self._configs()
        ordered = self._ordered(configs)
        specs = {
            c.subentry_id: spec
            for c in ordered
            if (spec := load_spec(c, self._read(c.control.entity_id))) is not None
        }
        groups = self._groups(ordered, now)
        site = groups[0]
        self._follow_compliance(groups, now)
        self.site_limit = site.limit
        self.import_kw = site.import_kw
        fresh = (
            site.import_kw is not None
            and site.import_at is not None
            and now - site.import_at <= self.settings.stale_after
        )
        self._note_base(site, configs, now, fresh=fresh)
        proposals: dict[str, list[int]] = {}
        site_decision: Decision | None = None
        over_target = self._over_target
        self._over_target = {}
        for group in groups:
            if group.limit is None or not self.enabled:
                continue
            if (
                group.import_kw is not None
                and group.import_at is not None
                and group.import_kw > target_kw(group.limit.limit_kw, self.settings)
            ):
                self._over_target[group.key] = over_target.get(
                    group.key, group.import_at
                )
            members = [c for c in group.configs if c.subentry_id in specs]
            loads = [
                self._load(c, specs[c.subentry_id], group.import_at) for c in members
            ]
            decision = decide(
                loads,
                now=now,
                limit_kw=group.limit.limit_kw,
                import_kw=group.import_kw,
                import_at=group.import_at,
                settings=self.settings,
                base_peak_kw=self._base_peak(now) if group is site and fresh else None,
                over_target_since=self._over_target.get(group.key),
            )
            moved = {action.key: action for action in decision.actions}
            for load in loads:
                action = moved.get(load.spec.key)
                level = load.state.level
                if action is not None and action.kind is not ActionKind.RELEASE:
                    level = action.level
                proposals.setdefault(load.spec.key, []).append(level)
            for action in decision.actions:
                LOGGER.debug("%s: %s", group.key, action.detail)
            if group is site:
                site_decision = decision
        self._note_site(site, site_decision, configs)
        await self._async_apply(ordered, specs, proposals, now)

    def _note_base(
        self,
        site: _Group,
        configs: dict[str, LoadConfig],
        now: datetime,
        *,
        fresh: bool,
    ) -> None:
        """Keep the recent import of the rest of the home (without the loads)."""
        while self._peaks and now - self._peaks[0][0] > PEAK_WINDOW:
            self._peaks.popleft()
        if not fresh or site.import_kw is None:
            return
        loads = sum(
            power
            for config in configs.values()
            if (power := self._power(config.power_entity)) is not None
        )
        self._peaks.append((now, site.import_kw - loads))

    def _base_peak(self, now: datetime) -> float | None:
        return max((value for _at, value in self._peaks), default=None)

    def _note_site(
        self, site: _Group, decision: Decision | None, configs: dict[str, LoadConfig]
    ) -> None:
        """Keep what the entities show; raise or clear the stale-meter repair."""
        limit = site.limit
        if limit is None:
            self.target_kw = None
        elif decision is not None and decision.target_kw is not None:
            self.target_kw = decision.target_kw
        else:
            margin = (
                self.settings.margin_kw
                if self.settings.margin_kw is not None
                else self.settings.margin_fraction * limit.limit_kw
            )
            self.target_kw = limit.limit_kw - margin
        now = dt_util.utcnow()
        stale = limit is not None and (
            site.import_kw is None
            or site.import_at is None
            or now - site.import_at > self.settings.stale_after
        )
        self._sync_stale_issue(stale and self.enabled)
        self.stale = stale
        exceeded = (
            limit is not None
            and not stale
            and site.import_kw is not None
            and site.import_kw > limit.limit_kw
        )
        if exceeded and not self.exceeded and limit is not None:
            LOGGER.warning(
                "%s imports %.2f kW, above its limit of %.2f kW",
                self.entry.title,
                site.import_kw,
                limit.limit_kw,
            )
            self.hass.bus.async_fire(
                GRID_EVENT,
                {
                    "type": LIMIT_EXCEEDED,
                    "entry_id": self.entry.entry_id,
                    "event_id": limit.event_id,
                    "source": limit.source,
                    "limit_kw": limit.limit_kw,
                    "import_kw": site.import_kw,
                    "limit_control": self.enabled,
                },
            )
        self.exceeded = exceeded
        if decision is not None:
            self.last_decision = {
                "at": now.isoformat(),
                "target_kw": decision.target_kw,
                "expected_import_kw": decision.expected_import_kw,
                "stale": decision.stale,
                "shortfall_kw": decision.shortfall_kw,
                "actions": [
                    {
                        "load": configs[a.key].name if a.key in configs else a.key,
                        "kind": a.kind.value,
                        "level": a.level,
                        "reason": a.reason.value,
                    }
                    for a in decision.actions
                ],
            }

    @callback
    def _sync_stale_issue(self, stale: bool) -> None:
        issue_id = stale_issue_id(self.entry.entry_id)
        if not stale:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        sensors = ", ".join(entity for entity, _sign in self._meter_sensors()) or "-"
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_METER_STALE,
            translation_placeholders={
                "site": self.entry.title,
                "sensor": sensors,
                "seconds": str(int(self.settings.stale_after.total_seconds())),
            },
        )

    # -- compliance --------------------------------------------------------

    def _follow_compliance(self, groups: list[_Group], now: datetime) -> None:
        """Add the time and energy above each LPC limit since the last look."""
        events = self.entry.runtime_data.event_coordinator
        if events is None:
            return
        ledger = events.ledger
        current: dict[str, _Compliance] = {}
        for group in groups:
            limit = group.limit
            if limit is None or limit.source != "location_lpc":
                continue
            assert limit.event_id is not None
            fresh = (
                group.import_at is not None
                and now - group.import_at <= self.settings.stale_after
            )
            current[group.key] = _Compliance(
                limit.event_id, now, group.import_kw if fresh else None, limit.limit_kw
            )
        changed = False
        for key, last in self._compliance.items():
            if not self.enabled or last.import_kw is None:
                continue
            until = now
            if key not in current or current[key].event_id != last.event_id:
                event = ledger.events.get(last.event_id)
                if event is not None and event.end is not None:
                    until = min(now, event.end)
            seconds = max(0.0, (until - last.at).total_seconds())
            excess = last.import_kw - last.limit_kw
            stats = ledger.limit_stats.setdefault(
                last.event_id,
                {"seconds_controlled": 0.0, "seconds_above": 0.0, "kwh_above": 0.0},
            )
            stats["seconds_controlled"] += seconds
            if excess > 0:
                stats["seconds_above"] += seconds
                stats["kwh_above"] += excess * seconds / 3600
            changed = changed or seconds > 0
        self._compliance = current if self.enabled else {}
        if changed:
            ledger.schedule_save()

    # -- applying ----------------------------------------------------------

    async def _async_apply(
        self,
        ordered: list[LoadConfig],
        specs: dict[str, LoadSpec],
        proposals: dict[str, list[int]],
        now: datetime,
    ) -> None:
        changed = self._release(ordered, proposals, now)
        # Curtail the least important first, restore the most important first.
        for config in reversed(ordered):
            spec = specs.get(config.subentry_id)
            wanted = proposals.get(config.subentry_id)
            runtime = self.loads.get(config.subentry_id) or LoadRuntime()
            if spec is None or not wanted or runtime.overridden:
                continue
            if (level := max(wanted)) > runtime.level:
                changed |= await self._async_move(config, spec, runtime, level, now)
        for config in ordered:
            runtime = self.loads.get(config.subentry_id) or LoadRuntime()
            wanted = proposals.get(config.subentry_id)
            if not wanted and runtime.hard_sheds:
                # No limit on it any more: the next one starts without back-off.
                runtime.hard_sheds = 0
                changed = True
            level = max(wanted) if wanted else 0
            if runtime.overridden or level >= runtime.level:
                continue
            spec = specs.get(config.subentry_id)
            if level == 0 or spec is None:
                changed |= await self._async_restore(config, runtime, now)
            else:
                changed |= await self._async_move(config, spec, runtime, level, now)
        # A load removed from the site is set back, then forgotten.
        known = {c.subentry_id for c in ordered}
        for subentry_id in [k for k in self.loads if k not in known]:
            await self._async_forget(self.loads.pop(subentry_id))
            changed = True
        if changed:
            await self._async_save()

    def _release(
        self,
        ordered: list[LoadConfig],
        proposals: dict[str, list[int]],
        now: datetime,
    ) -> bool:
        """Let go of the loads changed by hand; return whether any changed."""
        changed = False
        for config in ordered:
            runtime = self.loads.get(config.subentry_id)
            if runtime is None or not runtime.overridden:
                continue
            if runtime.level > 0:
                # Released: the homeowner's state stays, nothing is set back.
                runtime.previous_level, runtime.level = runtime.level, 0
                runtime.changed_at, runtime.prior, runtime.set_value = now, None, None
                self._fire("released", config, runtime)
                changed = True
            if config.subentry_id not in proposals:
                # No limit on it any more: the next limit may take it again.
                del self.loads[config.subentry_id]
                changed = True
        return changed

    async def _async_move(
        self,
        config: LoadConfig,
        spec: LoadSpec,
        runtime: LoadRuntime,
        level: int,
        now: datetime,
    ) -> bool:
        """Set a load to a curtailed level; return whether it moved."""
        control = config.control
        state = self._read(control.entity_id)
        prior = runtime.prior if runtime.level > 0 else control.capture(state)
        value = control_value(config, spec.levels[level].value, state, prior)
        if value is None:
            LOGGER.warning(
                "Cannot curtail %s: %s is not known", config.name, control.entity_id
            )
            return False
        runtime.prior = prior
        runtime.control = config.mapping
        was = min(runtime.level, len(spec.levels) - 1)
        if spec.levels[level].hard and not spec.levels[was].hard:
            runtime.hard_sheds += 1  # switched off: counts for the back-off
        runtime.previous_level, runtime.level = runtime.level, level
        runtime.changed_at = now
        runtime.set_value = value
        self.loads[config.subentry_id] = runtime
        await self._async_set(config, value, runtime.context)
        restored = runtime.previous_level is not None and level < runtime.previous_level
        self._fire(
            "restored" if restored else "curtailed", config, runtime, value=value
        )
        return True

    async def _async_restore(
        self, config: LoadConfig, runtime: LoadRuntime, now: datetime
    ) -> bool:
        """Set the load back to its state before GridFlex took it."""
        value = config.control.restore_value(runtime.prior)
        runtime.previous_level, runtime.level = runtime.level, 0
        runtime.changed_at = now
        runtime.set_value = None
        if value is not None:
            await self._async_set(config, value, runtime.context)
        runtime.prior = None
        self._fire("restored", config, runtime, value=value)
        return True

    async def _async_forget(self, runtime: LoadRuntime) -> None:
        """Set a removed load back to its state before GridFlex took it."""
        if runtime.level == 0 or runtime.overridden or not runtime.control:
            return
        control = control_from(runtime.control, Decimal(0), Decimal(1))
        value = control.restore_value(runtime.prior) if control else None
        if control is None or value is None:
            return
        try:
            await control.async_set(self.hass, value, runtime.context)
        except (HomeAssistantError, vol.Invalid) as err:
            LOGGER.warning("Could not set %s back: %s", control.entity_id, err)

    async def _async_set(
        self, config: LoadConfig, value: Any, context: Context
    ) -> None:
        try:
            await config.control.async_set(self.hass, value, context)
        except (HomeAssistantError, vol.Invalid) as err:
            LOGGER.warning(
                "Could not set %s to %s: %s", config.control.entity_id, value, err
            )

    async def _async_save(self) -> None:
        if not self._loaded:
            return  # never over what is on disk before it was read
        await self._store.async_save(
            {
                "manual": {
                    "limit_kw": self.manual.limit_kw,
                    "until": self.manual.end.isoformat(),
                }
                if self.manual is not None and self.manual.end is not None
                else None,
                "loads": {k: v.to_dict() for k, v in self.loads.items()},
            }
        )

    @callback
    def _fire(
        self, kind: str, config: LoadConfig, runtime: LoadRuntime, **extra: Any
    ) -> None:
        LOGGER.info("%s %s (level %s)", config.name, kind, runtime.level)
        self.hass.bus.async_fire(
            BUS_EVENT,
            {
                "type": kind,
                "entry_id": self.entry.entry_id,
                "subentry_id": config.subentry_id,
                "load": config.name,
                "entity_id": config.control.entity_id,
                "level": runtime.level,
                **extra,
            },
        )


def _limit_dict(limit: ActiveLimit | None) -> dict[str, Any] | None:
    if limit is None:
        return None
    return {
        "limit_kw": limit.limit_kw,
        "source": limit.source,
        "event_id": limit.event_id,
        "end": limit.end.isoformat() if limit.end else None,
    }
