"""Binary sensors of the site's programme: eligibility and enrollment.

On the site device of a platform with a programme (Energy Coordination):

- *Eligible*: on when the site's user and every meter point of the site are
  eligible.
- *Enrolled*: on while the site's user is enrolled.

The amounts it pays are in ``compensation_sensors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import GridFlexConfigEntry
from .entity import site_device_info
from .programme import ProgrammeCoordinator, ProgrammeStatus


@dataclass(frozen=True, kw_only=True)
class ProgrammeBinarySensorDescription(BinarySensorEntityDescription):
    """Describes a yes/no of the site's programme standing."""

    is_on_fn: Callable[[ProgrammeStatus], bool]
    attributes_fn: Callable[[ProgrammeStatus], dict[str, Any]]


def _eligibility_attributes(status: ProgrammeStatus) -> dict[str, Any]:
    return {
        "user_eligible": status.eligibility.user_eligible,
        "meter_points": dict(status.eligibility.meter_points),
    }


def _enrollment_attributes(status: ProgrammeStatus) -> dict[str, Any]:
    enrolled_at = status.enrollment.enrolled_at
    return {
        "enrolled_at": None if enrolled_at is None else enrolled_at.isoformat(),
    }


PROGRAMME_BINARY_SENSORS: tuple[ProgrammeBinarySensorDescription, ...] = (
    ProgrammeBinarySensorDescription(
        key="eligible",
        translation_key="eligible",
        is_on_fn=lambda status: status.eligibility.eligible,
        attributes_fn=_eligibility_attributes,
    ),
    ProgrammeBinarySensorDescription(
        key="enrolled",
        translation_key="enrolled",
        is_on_fn=lambda status: status.enrollment.enrolled,
        attributes_fn=_enrollment_attributes,
    ),
)


class ProgrammeEntity(CoordinatorEntity[ProgrammeCoordinator]):
    """An entity of the programme, on the site device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: ProgrammeCoordinator, key: str) -> None:
        """Attach the entity to the site device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.unique_id}_{key}"
        self._attr_device_info = site_device_info(entry)


class ProgrammeBinarySensor(ProgrammeEntity, BinarySensorEntity):
    """Whether the site is eligible for, or enrolled in, the programme."""

    entity_description: ProgrammeBinarySensorDescription

    def __init__(
        self,
        coordinator: ProgrammeCoordinator,
        description: ProgrammeBinarySensorDescription,
    ) -> None:
        """Attach the binary sensor to the site device."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def is_on(self) -> bool | None:
        """Return the latest read's answer."""
        data = self.coordinator.data
        return None if data is None else self.entity_description.is_on_fn(data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return what the answer is made of."""
        data = self.coordinator.data
        return None if data is None else self.entity_description.attributes_fn(data)


def programme_binary_sensors(
    entry: GridFlexConfigEntry,
) -> list[ProgrammeBinarySensor]:
    """Return the site's eligibility and enrollment sensors (none without a programme)."""
    coordinator = entry.runtime_data.programme_coordinator
    if coordinator is None:
        return []
    return [
        ProgrammeBinarySensor(coordinator, description)
        for description in PROGRAMME_BINARY_SENSORS
    ]
