"""Sensors of the site's compensation in the platform's programme.

On the site device of a platform with a programme (Energy Coordination):
*Compensation* and *Blocked compensation*, the site's location's active
(payable) and blocked (held back) amounts for the programme's current period
(a month), in the platform's currency. Monetary, state class ``total`` with
``last_reset`` at the period's first day, so the recorder keeps long-term
statistics and a statistics card shows the earnings of each month (its
"change" per month).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.util import dt as dt_util

from .coordinator import GridFlexConfigEntry
from .platforms.models import LocationCompensation
from .programme import ProgrammeCoordinator
from .programme_entities import ProgrammeEntity


@dataclass(frozen=True, kw_only=True)
class CompensationSensorDescription(SensorEntityDescription):
    """Describes an amount of the site's compensation."""

    value_fn: Callable[[LocationCompensation], Decimal]


COMPENSATION_SENSORS: tuple[CompensationSensorDescription, ...] = (
    CompensationSensorDescription(
        key="compensation",
        translation_key="compensation",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=lambda location: location.active_amount,
    ),
    CompensationSensorDescription(
        key="blocked_compensation",
        translation_key="blocked_compensation",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=lambda location: location.blocked_amount,
    ),
)


class CompensationSensor(ProgrammeEntity, SensorEntity):
    """An amount the site earned in the programme's current period."""

    entity_description: CompensationSensorDescription

    def __init__(
        self,
        coordinator: ProgrammeCoordinator,
        description: CompensationSensorDescription,
    ) -> None:
        """Attach the sensor to the site device."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def _location(self) -> LocationCompensation | None:
        data = self.coordinator.data
        return None if data is None else data.location

    @property
    def native_value(self) -> Decimal | None:
        """Return the amount; unknown while the platform lists no location."""
        location = self._location
        return None if location is None else self.entity_description.value_fn(location)

    @property
    def native_unit_of_measurement(self) -> str | None:
        """Return the platform's currency (ISO 4217) for the site's location."""
        location = self._location
        return None if location is None else location.currency

    @property
    def last_reset(self) -> datetime | None:
        """Return the start of the programme's period (the amounts restart then)."""
        data = self.coordinator.data
        if data is None or data.compensation.period_start is None:
            return None
        return dt_util.start_of_local_day(data.compensation.period_start)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the period and the problems holding payments back."""
        data = self.coordinator.data
        if data is None:
            return None
        period = data.compensation
        location = data.location
        return {
            "period_start": (
                None if period.period_start is None else period.period_start.isoformat()
            ),
            "period_end": (
                None if period.period_end is None else period.period_end.isoformat()
            ),
            "problems": (
                [problem.kind for problem in location.problems]
                if location is not None
                else []
            ),
        }


def compensation_sensors(entry: GridFlexConfigEntry) -> list[CompensationSensor]:
    """Return the site's compensation sensors (none without a programme)."""
    coordinator = entry.runtime_data.programme_coordinator
    if coordinator is None:
        return []
    return [
        CompensationSensor(coordinator, description)
        for description in COMPENSATION_SENSORS
    ]
