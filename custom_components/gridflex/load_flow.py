"""Subentry flow: a load of the home GridFlex may curtail to keep under a limit.

Loads stay in Home Assistant: nothing is sent to any platform. The control
is mapped as a resource's control is (the same section and checks).
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.data_entry_flow import section
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)
from homeassistant.util.unit_conversion import PowerConverter
import probatio as vol

from .const import CONF_POWER_ENTITY
from .controls import CONF_CONTROL_ENTITY
from .loads import (
    CONF_DWELL_S,
    CONF_LOAD_CONTROL,
    CONF_NAME,
    CONF_NOMINAL_KW,
    CONF_PRIORITY,
    CONF_RESOURCE_SUBENTRY_ID,
    DEFAULT_PRIORITY,
    load_subentries,
)
from .resources import is_group, resource_subentries
from .subentry_flow import _control, _control_section

MAX_PRIORITY = 100
MAX_DWELL_S = 3600


class LoadSubentryFlow(ConfigSubentryFlow):
    """Add or change a load GridFlex may curtail."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Name the load, map its control, power sensor and priority."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = self._validate(user_input, errors)
            if not errors:
                return self.async_create_entry(title=data[CONF_NAME], data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                self._schema(None), user_input or {CONF_PRIORITY: DEFAULT_PRIORITY}
            ),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change any of the load's settings."""
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = self._validate(user_input, errors, subentry.subentry_id)
            if not errors:
                return self.async_update_and_abort(
                    self._get_entry(), subentry, title=data[CONF_NAME], data=data
                )
        current = {k: v for k, v in subentry.data.items() if v is not None}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                self._schema(subentry.subentry_id), user_input or current
            ),
            errors=errors,
        )

    def _resources(self) -> list[SelectOptionDict]:
        """Return the site's resources a load can belong to (not groups)."""
        return [
            SelectOptionDict(value=subentry_id, label=subentry.title)
            for subentry_id, subentry in resource_subentries(self._get_entry()).items()
            if not is_group(subentry)
        ]

    def _schema(self, _subentry_id: str | None) -> vol.Schema:
        control = _control_section()
        schema: dict[vol.Marker, Any] = {
            vol.Required(CONF_NAME): TextSelector(),
            vol.Required(CONF_LOAD_CONTROL): section(
                control.schema, {"collapsed": False}
            ),
            vol.Required(CONF_POWER_ENTITY): EntitySelector(
                EntitySelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.POWER
                )
            ),
            vol.Required(CONF_NOMINAL_KW): NumberSelector(
                NumberSelectorConfig(
                    mode=NumberSelectorMode.BOX, step="any", unit_of_measurement="kW"
                )
            ),
            vol.Required(CONF_PRIORITY): NumberSelector(
                NumberSelectorConfig(
                    mode=NumberSelectorMode.BOX, min=1, max=MAX_PRIORITY, step=1
                )
            ),
        }
        if resources := self._resources():
            schema[vol.Optional(CONF_RESOURCE_SUBENTRY_ID)] = SelectSelector(
                SelectSelectorConfig(
                    options=resources, mode=SelectSelectorMode.DROPDOWN
                )
            )
        schema[vol.Optional(CONF_DWELL_S)] = NumberSelector(
            NumberSelectorConfig(
                mode=NumberSelectorMode.BOX,
                min=0,
                max=MAX_DWELL_S,
                step=1,
                unit_of_measurement="s",
            )
        )
        return vol.Schema(schema)

    def _validate(
        self,
        user_input: dict[str, Any],
        errors: dict[str, str],
        _subentry_id: str | None = None,
    ) -> dict[str, Any]:
        """Check the form; return the data to store (the keys other parts read)."""
        name = str(user_input.get(CONF_NAME) or "").strip()
        if not name:
            errors[CONF_NAME] = "name_required"
        section_input = user_input.get(CONF_LOAD_CONTROL)
        control = _control(self.hass, section_input, errors)
        if control is None or not control.get(CONF_CONTROL_ENTITY):
            errors[CONF_LOAD_CONTROL] = "control_required"
        elif self._in_use(control[CONF_CONTROL_ENTITY], _subentry_id):
            # Two loads on one entity would undo each other.
            errors[CONF_LOAD_CONTROL] = "control_in_use"
        power_entity = user_input.get(CONF_POWER_ENTITY)
        if power_entity and not self._power_unit_ok(power_entity):
            errors[CONF_POWER_ENTITY] = "power_unit"
        nominal = user_input.get(CONF_NOMINAL_KW)
        if not isinstance(nominal, (int, float)) or nominal <= 0:
            errors[CONF_NOMINAL_KW] = "nominal_invalid"
        resource = user_input.get(CONF_RESOURCE_SUBENTRY_ID) or None
        if resource is not None and resource not in {
            option["value"] for option in self._resources()
        }:
            errors[CONF_RESOURCE_SUBENTRY_ID] = "invalid_resource"
        dwell = user_input.get(CONF_DWELL_S)
        return {
            CONF_NAME: name,
            CONF_LOAD_CONTROL: control,
            CONF_POWER_ENTITY: power_entity,
            CONF_NOMINAL_KW: float(nominal) if isinstance(nominal, (int, float)) else 0,
            CONF_PRIORITY: int(user_input.get(CONF_PRIORITY) or DEFAULT_PRIORITY),
            CONF_RESOURCE_SUBENTRY_ID: resource,
            CONF_DWELL_S: int(dwell) if dwell is not None else None,
        }

    def _in_use(self, entity_id: str, subentry_id: str | None) -> bool:
        """Return whether another load of the site steers this entity."""
        return any(
            (other.data.get(CONF_LOAD_CONTROL) or {}).get(CONF_CONTROL_ENTITY)
            == entity_id
            for other_id, other in load_subentries(self._get_entry()).items()
            if other_id != subentry_id
        )

    def _power_unit_ok(self, entity_id: str) -> bool:
        """Return whether the power sensor's unit converts to kW."""
        unit: str | None = None
        if (state := self.hass.states.get(entity_id)) is not None:
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        if unit is None and (entity := er.async_get(self.hass).async_get(entity_id)):
            unit = entity.unit_of_measurement
        return unit in PowerConverter.VALID_UNITS
