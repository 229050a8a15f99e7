"""Subentry flow: map a device of the home to a flexible resource on the platform."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
import uuid

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigSubentry,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    ATTR_TEMPERATURE,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    DeviceSelector,
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

from .activation_executor import CONF_CONTROL
from .bid_manager import BIDDING_TYPES, site_currency
from .bid_settings import bidding_section, validate_bidding
from .client import async_create_platform_client
from .const import (
    CONF_BIDDING,
    CONF_CAPACITY,
    CONF_DEVICE_ID,
    CONF_ENERGY_ENTITY,
    CONF_EXTERNAL_ID,
    CONF_GROUP,
    CONF_POWER_ENTITY,
    CONF_POWER_MAX,
    CONF_POWER_MIN,
    CONF_RESOLUTION,
    CONF_RESOURCE_ID,
    CONF_RESOURCE_TYPE,
    CONF_SITE_ID,
    CONF_SOC_ENTITY,
    LOGGER,
)
from .controls import (
    CLIMATE_DOMAINS,
    CONF_CONTROL_ENTITY,
    CONF_CONTROL_INVERTED,
    CONF_CONTROL_NORMAL,
    CONF_CONTROL_OFFSET,
    CONF_CONTROL_OPTION_DOWN,
    CONF_CONTROL_OPTION_NORMAL,
    CONF_CONTROL_OPTION_UP,
    CONF_CONTROL_SCALE,
    CONF_CONTROL_UNIT,
    CONTROL_DOMAINS,
    CONTROL_UNITS,
    DEFAULT_OFFSET,
    DEFAULT_SCALE,
    NUMBER_DOMAINS,
    SELECT_DOMAINS,
    SWITCH_DOMAINS,
    domain_of,
)
from .platforms import capabilities
from .platforms.base import Capabilities
from .platforms.errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexError,
    GridFlexRequestRejectedError,
)
from .platforms.models import PlatformKey, Resource, ResourceType
from .push import activation_webhook_url
from .resources import build_spec, find_by_external_id, is_group, resource_subentries

CONF_NAME = "name"
STORAGE_TYPES = (ResourceType.BATTERY, ResourceType.ELECTRIC_VEHICLE)
CAPACITY_TYPES = (
    ResourceType.BATTERY,
    ResourceType.ELECTRIC_VEHICLE,
    ResourceType.GROUP,
)
RESOLUTIONS = ("5", "15", "60")


def _decimal(value: Any) -> Decimal:
    """Return what the homeowner typed as an exact decimal (no float artefacts)."""
    # str() of a float is its shortest round-trip form: 7.4 -> "7.4".
    return Decimal(str(value))


def _plain(value: Decimal) -> str:
    """Return a decimal as a plain string, never in exponent notation."""
    return format(value, "f")


def _fits(value: Decimal, caps: Capabilities) -> str | None:
    """Return an error key when the value exceeds the platform's decimal pattern."""
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    decimals = max(0, -exponent)
    integer_digits = max(1, len(digits) + exponent) if digits else 1
    if decimals > caps.power_decimals:
        return "too_precise"
    if integer_digits > caps.power_integer_digits:
        return "too_large"
    return None


def _capacity(
    resource_type: ResourceType,
    value: Any,
    caps: Capabilities,
    errors: dict[str, str],
) -> str | None:
    """Check the capacity (required for batteries); return it as a decimal string."""
    if value is None:
        if resource_type is ResourceType.BATTERY:
            errors[CONF_CAPACITY] = "capacity_required"
        return None
    capacity_kwh = _decimal(value)
    if capacity_kwh <= 0:
        errors[CONF_CAPACITY] = "capacity_invalid"
    elif error := _fits(capacity_kwh, caps):
        errors[CONF_CAPACITY] = error
    return _plain(capacity_kwh)


def _control_section() -> section:
    """Return the form's section mapping the control GridFlex steers.

    One section for every kind of control; each field says which kind it is
    for, and ``_control`` keeps the ones of the entity's kind.
    """
    number = NumberSelector(
        NumberSelectorConfig(mode=NumberSelectorMode.BOX, step="any")
    )
    return section(
        vol.Schema(
            {
                vol.Optional(CONF_CONTROL_ENTITY): EntitySelector(
                    EntitySelectorConfig(domain=list(CONTROL_DOMAINS))
                ),
                vol.Optional(CONF_CONTROL_UNIT, default="w"): SelectSelector(
                    SelectSelectorConfig(
                        options=list(CONTROL_UNITS), translation_key=CONF_CONTROL_UNIT
                    )
                ),
                vol.Optional(CONF_CONTROL_SCALE, default=DEFAULT_SCALE): NumberSelector(
                    NumberSelectorConfig(
                        mode=NumberSelectorMode.BOX,
                        min=1,
                        step="any",
                        unit_of_measurement="W/A",
                    )
                ),
                vol.Optional(CONF_CONTROL_INVERTED, default=False): BooleanSelector(),
                vol.Optional(CONF_CONTROL_NORMAL): number,
                vol.Optional(CONF_CONTROL_OPTION_UP): TextSelector(),
                vol.Optional(CONF_CONTROL_OPTION_DOWN): TextSelector(),
                vol.Optional(CONF_CONTROL_OPTION_NORMAL): TextSelector(),
                vol.Optional(
                    CONF_CONTROL_OFFSET, default=DEFAULT_OFFSET
                ): NumberSelector(
                    NumberSelectorConfig(
                        mode=NumberSelectorMode.BOX,
                        min=0.1,
                        max=10,
                        step=0.1,
                        unit_of_measurement="°C",
                    )
                ),
            }
        ),
        {"collapsed": True},
    )


def _option(value: Any) -> str | None:
    """Return an option name as typed (blank: none)."""
    return (value.strip() or None) if isinstance(value, str) else None


def _control(
    hass: HomeAssistant, value: Any, errors: dict[str, str]
) -> dict[str, Any] | None:
    """Return the control mapping to store; ``None`` when no control is mapped.

    The selectors have checked the entity's domain, the unit, a scale of at
    least 1 W/A and an offset of 0.1-10 °C. Only the fields of the entity's
    kind are stored; a number keeps the form it always had
    (``{control_entity, control_unit, control_scale, control_inverted,
    control_normal}``). A select needs an option for at least one direction,
    each one the select offers (errors under ``control``:
    ``control_options_missing``, ``control_option_unknown``); a climate needs
    a target temperature (``control_no_temperature``).
    """
    if not isinstance(value, dict) or not value.get(CONF_CONTROL_ENTITY):
        return None
    entity_id: str = value[CONF_CONTROL_ENTITY]
    domain = domain_of(entity_id)
    state = hass.states.get(entity_id)
    known = state is not None and state.state not in (
        STATE_UNAVAILABLE,
        STATE_UNKNOWN,
    )
    control: dict[str, Any] = {CONF_CONTROL_ENTITY: entity_id}
    if domain in NUMBER_DOMAINS:
        control.update(
            {
                CONF_CONTROL_UNIT: value.get(CONF_CONTROL_UNIT, "w"),
                CONF_CONTROL_SCALE: value.get(CONF_CONTROL_SCALE, DEFAULT_SCALE),
                CONF_CONTROL_INVERTED: bool(value.get(CONF_CONTROL_INVERTED, False)),
                CONF_CONTROL_NORMAL: value.get(CONF_CONTROL_NORMAL),
            }
        )
    elif domain in SELECT_DOMAINS:
        options = {
            key: _option(value.get(key))
            for key in (
                CONF_CONTROL_OPTION_UP,
                CONF_CONTROL_OPTION_DOWN,
                CONF_CONTROL_OPTION_NORMAL,
            )
        }
        control.update(options)
        offered = state.attributes.get("options") if known and state else None
        if options[CONF_CONTROL_OPTION_UP] is None and (
            options[CONF_CONTROL_OPTION_DOWN] is None
        ):
            errors[CONF_CONTROL] = "control_options_missing"
        elif isinstance(offered, list) and any(
            option is not None and option not in offered for option in options.values()
        ):
            errors[CONF_CONTROL] = "control_option_unknown"
    elif domain in SWITCH_DOMAINS:
        control[CONF_CONTROL_INVERTED] = bool(value.get(CONF_CONTROL_INVERTED, False))
    elif domain in CLIMATE_DOMAINS:
        control[CONF_CONTROL_OFFSET] = value.get(CONF_CONTROL_OFFSET, DEFAULT_OFFSET)
        if known and state and state.attributes.get(ATTR_TEMPERATURE) is None:
            errors[CONF_CONTROL] = "control_no_temperature"
    return control


class ResourceSubentryFlow(ConfigSubentryFlow):
    """Add or change a flexible resource of the site."""

    def __init__(self) -> None:
        """Start with nothing chosen; pick the new resource's key once.

        The ``external_id`` stays the same for every attempt of this flow, so
        a resource created by an attempt whose answer got lost is found on
        the platform and taken, never created a second time.
        """
        self._base: dict[str, Any] = {}
        self._external_id = uuid.uuid4().hex

    @property
    def _caps(self) -> Capabilities:
        return capabilities(PlatformKey(self._get_entry().data["platform"]))

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Name the resource, pick its type and, optionally, its device."""
        entry = self._get_entry()
        limit = self._caps.max_resources_per_site
        if limit is not None and len(resource_subentries(entry)) >= limit:
            return self.async_abort(
                reason="max_resources", description_placeholders={"limit": str(limit)}
            )
        if user_input is None and limit is not None:
            # What the platform holds counts, resources unknown to Home
            # Assistant included; unreachable now, the details step checks.
            try:
                listed = await self._async_list_resources()
            except GridFlexError as err:
                LOGGER.debug("Could not count the platform's resources: %s", err)
            else:
                if (full := self._platform_full(listed)) is not None:
                    return self.async_abort(
                        reason="platform_full", description_placeholders=full
                    )
        if user_input is not None:
            self._base = user_input
            return await self.async_step_details()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_NAME): TextSelector(),
                    vol.Required(CONF_RESOURCE_TYPE): SelectSelector(
                        SelectSelectorConfig(
                            options=[t.value for t in self._caps.resource_types],
                            translation_key=CONF_RESOURCE_TYPE,
                            mode=SelectSelectorMode.DROPDOWN,
                        )
                    ),
                    vol.Optional(CONF_DEVICE_ID): DeviceSelector(),
                }
            ),
        )

    async def async_step_details(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Map the sensors and the power limits; create the resource on the platform."""
        resource_type = ResourceType(self._base[CONF_RESOURCE_TYPE])
        errors: dict[str, str] = {}
        placeholders = {"detail": ""}
        if user_input is not None:
            data = self._validate(resource_type, user_input, errors)
            if not errors:
                data[CONF_EXTERNAL_ID] = self._external_id
                result = await self._async_mirror(
                    data, self._base[CONF_NAME], None, errors, placeholders
                )
                if result is not None:
                    return self.async_create_entry(
                        title=self._base[CONF_NAME],
                        data={**data, CONF_RESOURCE_ID: result},
                        unique_id=result,
                    )
        return self.async_show_form(
            step_id="details",
            data_schema=self.add_suggested_values_to_schema(
                self._details_schema(resource_type, None),
                user_input or self._defaults_from_device(resource_type),
            ),
            description_placeholders=placeholders,
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the name, sensors and limits; update the platform's copy."""
        subentry = self._get_reconfigure_subentry()
        resource_type = ResourceType(subentry.data[CONF_RESOURCE_TYPE])
        errors: dict[str, str] = {}
        placeholders = {"detail": ""}
        if user_input is not None:
            name = user_input.pop(CONF_NAME).strip()
            data = self._validate(resource_type, user_input, errors, subentry)
            if not errors:
                data = {
                    **data,
                    CONF_RESOURCE_TYPE: resource_type.value,
                    CONF_DEVICE_ID: subentry.data.get(CONF_DEVICE_ID),
                    CONF_EXTERNAL_ID: subentry.data[CONF_EXTERNAL_ID],
                    CONF_RESOURCE_ID: subentry.data[CONF_RESOURCE_ID],
                }
                resource_id = await self._async_mirror(
                    data, name, subentry.data[CONF_RESOURCE_ID], errors, placeholders
                )
                if resource_id is not None:
                    return self.async_update_and_abort(
                        self._get_entry(),
                        subentry,
                        title=name,
                        data={**data, CONF_RESOURCE_ID: resource_id},
                    )
            user_input[CONF_NAME] = name
        current = {
            CONF_NAME: subentry.title,
            **{k: v for k, v in subentry.data.items() if v is not None},
        }
        for key in (CONF_POWER_MIN, CONF_POWER_MAX, CONF_CAPACITY):
            if key in current:
                current[key] = float(current[key])
        schema = self._details_schema(resource_type, subentry)
        schema = schema.extend({vol.Required(CONF_NAME): TextSelector()})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or current
            ),
            description_placeholders=placeholders,
            errors=errors,
        )

    def _groups(self, exclude: str | None) -> list[SelectOptionDict]:
        """Return the site's group resources a resource can join."""
        return [
            SelectOptionDict(value=subentry_id, label=subentry.title)
            for subentry_id, subentry in resource_subentries(self._get_entry()).items()
            if is_group(subentry) and subentry_id != exclude
        ]

    def _details_schema(
        self, resource_type: ResourceType, subentry: ConfigSubentry | None
    ) -> vol.Schema:
        """Return the form for the sensors and limits of this type of resource."""
        caps = self._caps
        schema: dict[vol.Marker, Any] = {}
        power = EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class=SensorDeviceClass.POWER)
        )
        if resource_type is ResourceType.GROUP:
            schema[vol.Optional(CONF_POWER_ENTITY)] = power
        else:
            schema[vol.Required(CONF_POWER_ENTITY)] = power
            schema[vol.Optional(CONF_ENERGY_ENTITY)] = EntitySelector(
                EntitySelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.ENERGY
                )
            )
        if resource_type in STORAGE_TYPES:
            schema[vol.Optional(CONF_SOC_ENTITY)] = EntitySelector(
                EntitySelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.BATTERY
                )
            )
        kw = NumberSelector(
            NumberSelectorConfig(
                mode=NumberSelectorMode.BOX,
                step="any",
                unit_of_measurement="kW",
            )
        )
        schema[vol.Required(CONF_POWER_MIN)] = kw
        schema[vol.Required(CONF_POWER_MAX)] = kw
        if resource_type in CAPACITY_TYPES:
            capacity = NumberSelector(
                NumberSelectorConfig(
                    mode=NumberSelectorMode.BOX,
                    min=0,
                    step="any",
                    unit_of_measurement="kWh",
                )
            )
            # Required for batteries, checked in _validate for a translated error.
            schema[vol.Optional(CONF_CAPACITY)] = capacity
        if caps.bids and resource_type is not ResourceType.GROUP:
            # The control GridFlex steers when a bid is accepted (optional).
            schema[vol.Optional(CONF_CONTROL)] = _control_section()
        if caps.bids and resource_type in BIDDING_TYPES:
            # Whether and how GridFlex bids the resource's flexibility.
            schema[vol.Optional(CONF_BIDDING)] = bidding_section(
                site_currency(self._get_entry()), resource_type
            )
        groups = self._groups(subentry.subentry_id if subentry else None)
        if resource_type is not ResourceType.GROUP and groups:
            schema[vol.Optional(CONF_GROUP)] = SelectSelector(
                SelectSelectorConfig(options=groups, mode=SelectSelectorMode.DROPDOWN)
            )
        if caps.resource_resolution:
            schema[vol.Required(CONF_RESOLUTION, default="15")] = SelectSelector(
                SelectSelectorConfig(
                    options=list(RESOLUTIONS), translation_key=CONF_RESOLUTION
                )
            )
        return vol.Schema(schema)

    def _defaults_from_device(self, resource_type: ResourceType) -> dict[str, Any]:
        """Suggest the chosen device's power, energy and battery sensors."""
        device_id = self._base.get(CONF_DEVICE_ID)
        if not device_id:
            return {}
        wanted = {
            SensorDeviceClass.POWER: CONF_POWER_ENTITY,
            SensorDeviceClass.ENERGY: CONF_ENERGY_ENTITY,
        }
        if resource_type in STORAGE_TYPES:
            wanted[SensorDeviceClass.BATTERY] = CONF_SOC_ENTITY
        defaults: dict[str, Any] = {}
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_device(registry, device_id):
            if entity.domain != "sensor" or entity.disabled:
                continue
            device_class = entity.device_class or entity.original_device_class
            if (key := wanted.get(device_class)) and key not in defaults:  # type: ignore[call-overload]
                defaults[key] = entity.entity_id
        return defaults

    def _power_unit_ok(self, entity_id: str) -> bool:
        """Return whether the power sensor's unit converts to kW."""
        unit: str | None = None
        if (state := self.hass.states.get(entity_id)) is not None:
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
        if unit is None and (entity := er.async_get(self.hass).async_get(entity_id)):
            unit = entity.unit_of_measurement
        return unit in PowerConverter.VALID_UNITS

    def _validate(
        self,
        resource_type: ResourceType,
        user_input: dict[str, Any],
        errors: dict[str, str],
        subentry: ConfigSubentry | None = None,
    ) -> dict[str, Any]:
        """Check the form against the platform's rules; return the data to store."""
        caps = self._caps
        data: dict[str, Any] = {
            CONF_RESOURCE_TYPE: resource_type.value,
            CONF_DEVICE_ID: self._base.get(CONF_DEVICE_ID),
            CONF_POWER_ENTITY: user_input.get(CONF_POWER_ENTITY),
            CONF_ENERGY_ENTITY: user_input.get(CONF_ENERGY_ENTITY),
            CONF_SOC_ENTITY: user_input.get(CONF_SOC_ENTITY),
            CONF_GROUP: user_input.get(CONF_GROUP),
        }
        if caps.resource_resolution:
            data[CONF_RESOLUTION] = int(user_input.get(CONF_RESOLUTION, "15"))
        if caps.bids and resource_type is not ResourceType.GROUP:
            data[CONF_CONTROL] = _control(
                self.hass, user_input.get(CONF_CONTROL), errors
            )
        data.update(self._bidding_data(resource_type, user_input, errors))
        power_entity = user_input.get(CONF_POWER_ENTITY)
        if power_entity and not self._power_unit_ok(power_entity):
            errors[CONF_POWER_ENTITY] = "power_unit"
        try:
            minimum = _decimal(user_input[CONF_POWER_MIN])
            maximum = _decimal(user_input[CONF_POWER_MAX])
        except InvalidOperation, KeyError, ValueError:
            errors[CONF_POWER_MIN] = "invalid_number"
            return data
        for key, value in ((CONF_POWER_MIN, minimum), (CONF_POWER_MAX, maximum)):
            if error := _fits(value, caps):
                errors[key] = error
        if minimum > maximum:
            errors[CONF_POWER_MAX] = "min_above_max"
        data[CONF_POWER_MIN] = _plain(minimum)
        data[CONF_POWER_MAX] = _plain(maximum)
        data[CONF_CAPACITY] = _capacity(
            resource_type, user_input.get(CONF_CAPACITY), caps, errors
        )
        if (group := data[CONF_GROUP]) is not None:
            target = resource_subentries(self._get_entry()).get(group)
            if (
                target is None
                or not is_group(target)
                or resource_type is ResourceType.GROUP
                or (subentry is not None and group == subentry.subentry_id)
            ):
                errors[CONF_GROUP] = "invalid_group"
        return data

    def _bidding_data(
        self,
        resource_type: ResourceType,
        user_input: dict[str, Any],
        errors: dict[str, str],
    ) -> dict[str, Any]:
        """Return the bidding settings to store (none where the resource cannot bid)."""
        if not self._caps.bids or resource_type not in BIDDING_TYPES:
            return {}
        return {
            CONF_BIDDING: validate_bidding(
                user_input.get(CONF_BIDDING), errors, resource_type, user_input
            )
        }

    async def _async_list_resources(self) -> list[Resource]:
        """Return what the platform holds for the site."""
        entry = self._get_entry()
        client = async_create_platform_client(self.hass, entry.data)
        return await client.list_resources(entry.data[CONF_SITE_ID])

    def _platform_full(self, listed: list[Resource]) -> dict[str, str] | None:
        """Return the placeholders of the refusal when the site has no room left.

        The platform counts every resource of the site (at most 10 on
        Powernaut, the 11th is a 400), also those no subentry stands for.
        """
        limit = self._caps.max_resources_per_site
        if limit is None or len(listed) < limit:
            return None
        held = {
            subentry.data.get(CONF_RESOURCE_ID)
            for subentry in resource_subentries(self._get_entry()).values()
        }
        return {
            "limit": str(limit),
            "count": str(len(listed)),
            "unknown": str(sum(1 for r in listed if r.resource_id not in held)),
        }

    async def _async_mirror(
        self,
        data: dict[str, Any],
        name: str,
        resource_id: str | None,
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> str | None:
        """Create or update the resource on the platform; return its id.

        Before creating, the site's resources are read: one carrying this
        flow's ``external_id`` (an earlier attempt whose answer was lost) is
        taken and updated instead, and a site without room is refused here,
        before the platform would refuse it.
        """
        entry = self._get_entry()
        client = async_create_platform_client(self.hass, entry.data)
        spec = build_spec(entry, data, name, webhook_url=activation_webhook_url(entry))
        site_id = entry.data[CONF_SITE_ID]
        try:
            if resource_id is None:
                listed = await client.list_resources(site_id)
                if found := find_by_external_id(listed, spec.external_id):
                    LOGGER.info("Resource %s was created already; taking it", name)
                    resource_id = found.resource_id
                elif (full := self._platform_full(listed)) is not None:
                    errors["base"] = "platform_full"
                    placeholders.update(full)
                    return None
            if resource_id is None:
                resource = await client.create_resource(site_id, spec)
            else:
                resource = await client.update_resource(site_id, resource_id, spec)
        except GridFlexAuthError:
            errors["base"] = "invalid_auth"
        except GridFlexConnectionError:
            errors["base"] = "cannot_connect"
        except GridFlexRequestRejectedError as err:
            errors["base"] = "resource_rejected"
            placeholders["detail"] = err.detail
        except GridFlexError:
            LOGGER.exception("Unexpected error while saving the resource")
            errors["base"] = "unknown"
        else:
            return resource.resource_id
        return None
