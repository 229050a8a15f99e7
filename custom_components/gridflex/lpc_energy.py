"""Energy the site took from the grid during its LPC windows, and above the limit.

Two running totals in kWh on the site device, for long-term statistics
(``total_increasing``: the recorder compiles their hourly sums, so a
statistics card shows them per day or month):

- *Import during LPC windows*: the site's grid import (the positive part of
  its grid power) while a site (``LocationLPC``) window is in force;
- *Energy above limit*: the import above the limit in force, over the same
  windows.

Both are left Riemann sums of the site's grid power as GridFlex's meter
reads it: each reading counts from the moment it was reported until the
next one, at most ``STALE_AFTER`` (a meter that stopped reporting does not
count on). A reading that stays the same still counts: a tick every
``TICK`` adds it up, and a sensor that reports the same value again keeps
it fresh. Window starts and ends split the sum exactly. The totals survive
restarts; the time Home Assistant was not running counts nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, Final

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import Event, callback
from homeassistant.helpers.event import (
    async_track_state_change_event,
    async_track_state_report_event,
    async_track_time_interval,
)
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .coordinator import GridFlexConfigEntry
from .entity import site_device_info
from .event_coordinator import GridEventCoordinator
from .grid_events import is_location_lpc
from .meter import site_source
from .telemetry import to_kw

STALE_AFTER: Final = timedelta(seconds=30)
"""How long a reading counts without being reported again."""
TICK: Final = timedelta(seconds=10)
"""How often a reading that does not change is added up."""
KWH_DIGITS: Final = Decimal("0.000001")
SECONDS_PER_HOUR: Final = Decimal(3600)


class _LpcEnergySensor(CoordinatorEntity[GridEventCoordinator], RestoreSensor):
    """A running total of energy (kWh) over the site's LPC windows."""

    _attr_has_entity_name = True
    _attr_device_class = SensorDeviceClass.ENERGY
    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_native_unit_of_measurement = UnitOfEnergy.KILO_WATT_HOUR
    _attr_suggested_display_precision = 3

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Attach the sensor to the site device; the total starts at zero."""
        super().__init__(coordinator)
        self._entry = entry
        self._attr_unique_id = f"{entry.unique_id}_{self._attr_translation_key}"
        self._attr_device_info = site_device_info(entry)
        # The site's grid power as the meter reads it (options change: reload).
        self._source = site_source(dict(entry.options))
        self._total = Decimal(0)
        self._attr_native_value = self._total
        self._counted_until = dt_util.utcnow()
        """The sum covers everything before this moment."""
        self._kw: Decimal | None = None
        self._reported: datetime | None = None
        """When the reading in ``_kw`` was last reported."""

    @property
    def available(self) -> bool:
        """The total stays valid while the platform is unreachable."""
        return True

    def _integrand(self, import_kw: Decimal, limit_kw: Decimal) -> Decimal:
        """Return the power (kW) counted at ``import_kw`` under ``limit_kw``."""
        raise NotImplementedError

    async def async_added_to_hass(self) -> None:
        """Take the total back, then add up from now on."""
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        if last is not None and last.native_value is not None:
            try:
                self._total = Decimal(str(last.native_value))
            except ArithmeticError:
                self._total = Decimal(0)
            self._attr_native_value = self._total
        now = dt_util.utcnow()
        self._counted_until = now
        self._kw, self._reported = self._reading()
        if self._source is not None:
            # Every report of the grid sensors, a change or the same value
            # again, is taken at its own moment.
            sensors = [entity_id for entity_id, _sign in self._source.sensors]
            self.async_on_remove(
                async_track_state_change_event(self.hass, sensors, self._async_report)
            )
            self.async_on_remove(
                async_track_state_report_event(self.hass, sensors, self._async_report)
            )
        self.async_on_remove(
            async_track_time_interval(self.hass, self._async_tick, TICK)
        )

    @callback
    def _async_tick(self, _now: datetime) -> None:
        """Count up to now; show the total when it moved."""
        before = self._attr_native_value
        self._advance(dt_util.utcnow())
        if self._attr_native_value != before:
            self.async_write_ha_state()

    @callback
    def _async_report(self, _event: Event[Any]) -> None:
        """Count up to the report; the next tick shows the total.

        At most one state per tick, however often the meter reports.
        """
        self._advance(dt_util.utcnow())

    @callback
    def _handle_coordinator_update(self) -> None:
        """Count up to now before the windows change."""
        self._advance(dt_util.utcnow())
        super()._handle_coordinator_update()

    def _reading(self) -> tuple[Decimal | None, datetime | None]:
        """Return the site's grid power now (kW) and when it was last reported.

        The meter's sum of the grid sensors, each with its sign. A reading is
        as fresh as the latest report of any of its sensors (an import sensor
        and an export sensor that stays at zero).
        """
        if self._source is None:
            return None, None
        states = [
            (self.hass.states.get(entity_id), sign)
            for entity_id, sign in self._source.sensors
        ]
        present = [(state, sign) for state, sign in states if state is not None]
        if len(present) < len(states):
            return None, None
        reported = max(state.last_reported for state, _sign in present)
        total = Decimal(0)
        for state, sign in present:
            if (kw := to_kw(state)) is None:
                return None, reported
            total += sign * kw
        return total, reported

    @callback
    def _advance(self, now: datetime) -> None:
        """Add the readings up to ``now``, then take the newest one."""
        kw, reported = self._reading()
        if reported is not None and (
            self._reported is None or reported > self._reported or kw != self._kw
        ):
            # A newer report: the previous reading held until it came.
            self._count_until(reported)
            self._counted_until = max(self._counted_until, reported)
            self._kw, self._reported = kw, reported
        elif reported is None:  # no grid power sensor (any more)
            self._kw, self._reported = None, None
        self._count_until(now)
        self._attr_native_value = self._total.quantize(KWH_DIGITS)

    def _count_until(self, end: datetime) -> None:
        """Add the current reading from where the sum stands to ``end``."""
        start = self._counted_until
        if self._kw is not None and self._reported is not None:
            end = min(end, self._reported + STALE_AFTER)
            if end > start:
                self._total += self._energy(start, end, self._kw)
        self._counted_until = max(start, end)

    def _energy(self, start: datetime, end: datetime, kw: Decimal) -> Decimal:
        """Return the kWh of ``kw`` over ``[start, end)``, in the site's windows."""
        moments = {start, end}
        overlaps = False
        for event in self.coordinator.ledger.events.values():
            if not is_location_lpc(event):
                continue
            for window in event.windows:
                if window.start < end and window.end > start:
                    overlaps = True
                    moments.update(
                        moment
                        for moment in (window.start, window.end)
                        if start < moment < end
                    )
        if not overlaps:
            return Decimal(0)
        edges = sorted(moments)
        energy = Decimal(0)
        for left, right in pairwise(edges):
            if (active := self.coordinator.active_window(left)) is None:
                continue
            power = self._integrand(kw, active[1].max_power_kw)
            if power > 0:
                seconds = Decimal(str((right - left).total_seconds()))
                energy += power * seconds / SECONDS_PER_HOUR
        return energy


class LpcWindowImportSensor(_LpcEnergySensor):
    """Energy imported from the grid while a site LPC window is in force."""

    _attr_translation_key = "lpc_window_import"

    def _integrand(self, import_kw: Decimal, limit_kw: Decimal) -> Decimal:
        """Count the import."""
        return max(import_kw, Decimal(0))


class EnergyAboveLimitSensor(_LpcEnergySensor):
    """Energy imported above the limit in force of a site LPC window."""

    _attr_translation_key = "energy_above_limit"

    def _integrand(self, import_kw: Decimal, limit_kw: Decimal) -> Decimal:
        """Count the import above the limit."""
        return max(import_kw - limit_kw, Decimal(0))
