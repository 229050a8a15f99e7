"""Sensors of the site and its resources: status, sync, grid events, schedules."""

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
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util

from .baseline_coordinator import SITE_KEY, BaselineCoordinator, targets
from .bid_manager import BIDDING_TYPES, BidManager, BidSummary, ResourceBids
from .compensation_sensors import compensation_sensors
from .const import (
    CONF_RESOURCE_ID,
    CONF_RESOURCE_TYPE,
    DOMAIN,
    SIGNAL_RESOURCE_ADDED,
    SIGNAL_SCHEDULABLE,
)
from .coordinator import GridFlexConfigEntry, SiteCoordinator, SiteSnapshot
from .entity import (
    GridFlexMeterEntity,
    GridFlexResourceActivationEntity,
    GridFlexResourceEntity,
    GridFlexResourceLpcEntity,
    GridFlexSiteEntity,
    site_device_info,
)
from .event_coordinator import GridEventCoordinator
from .limit_entities import LimitControlEntity
from .lpc_energy import EnergyAboveLimitSensor, LpcWindowImportSensor
from .meter import MeterData
from .platforms.base import Capabilities
from .platforms.models import (
    HEALTH_CHECK_STATES,
    HealthCheck,
    Resource,
    ResourceStatus,
    SiteStatus,
    UpstreamStatus,
)
from .price_signal import PriceSignalSensor
from .resources import is_group, resource_subentries
from .schedules import ScheduleCoordinator, schedulable

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class GridFlexSiteSensorDescription(SensorEntityDescription):
    """Describes a sensor of the site."""

    value_fn: Callable[[SiteSnapshot], str | datetime | None]
    exists_fn: Callable[[Capabilities], bool] = lambda _: True


SITE_SENSORS: tuple[GridFlexSiteSensorDescription, ...] = (
    GridFlexSiteSensorDescription(
        key="site_status",
        translation_key="site_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in SiteStatus],
        value_fn=lambda snapshot: snapshot.site.status,
        exists_fn=lambda capabilities: capabilities.site_status,
    ),
    GridFlexSiteSensorDescription(
        key="upstream_status",
        translation_key="upstream_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in UpstreamStatus],
        value_fn=lambda snapshot: snapshot.site.upstream_status,
        exists_fn=lambda capabilities: capabilities.upstream_status,
    ),
    GridFlexSiteSensorDescription(
        key="last_sync",
        translation_key="last_sync",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda snapshot: snapshot.synced_at,
    ),
)


@dataclass(frozen=True, kw_only=True)
class GridFlexMeterSensorDescription(SensorEntityDescription):
    """Describes a sensor of how meter data moves."""

    value_fn: Callable[[MeterData], int | datetime | None]
    exists_fn: Callable[[MeterData], bool] = lambda _: True


METER_SENSORS: tuple[GridFlexMeterSensorDescription, ...] = (
    GridFlexMeterSensorDescription(
        key="last_measurement_sent",
        translation_key="last_measurement_sent",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda meter: meter.last_sent,
    ),
    GridFlexMeterSensorDescription(
        key="measurements_queued",
        translation_key="measurements_queued",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda meter: meter.queued,
        exists_fn=lambda meter: meter.uploads,
    ),
    GridFlexMeterSensorDescription(
        key="measurements_dropped",
        translation_key="measurements_dropped",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda meter: meter.dropped,
    ),
    GridFlexMeterSensorDescription(
        key="measurements_skipped",
        translation_key="measurements_skipped",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda meter: meter.skipped,
    ),
)


@dataclass(frozen=True, kw_only=True)
class GridFlexResourceSensorDescription(SensorEntityDescription):
    """Describes a status sensor of a resource.

    Disabled by default: the current Powernaut API specification has no
    resource status or health checks, so until the platform sends them these
    sensors would only ever be unknown. They are not enabled automatically
    once it does (the suspended-resource repair works without them); the
    homeowner enables them on the resource's device.
    """

    value_fn: Callable[[Resource], str | None]


def _health(check: HealthCheck) -> GridFlexResourceSensorDescription:
    """Describe the sensor of one health check."""
    return GridFlexResourceSensorDescription(
        key=f"health_{check.value}",
        translation_key=f"health_{check.value}",
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        options=list(HEALTH_CHECK_STATES[check]),
        value_fn=lambda resource: resource.health.get(check),
    )


RESOURCE_SENSORS: tuple[GridFlexResourceSensorDescription, ...] = (
    GridFlexResourceSensorDescription(
        key="resource_status",
        translation_key="resource_status",
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        options=[status.value for status in ResourceStatus],
        value_fn=lambda resource: resource.status,
    ),
    *(_health(check) for check in HealthCheck),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the site's sensors and each resource's sensors."""
    coordinator = entry.runtime_data.site_coordinator
    capabilities = entry.runtime_data.client.capabilities
    async_add_entities(
        GridFlexSiteSensor(coordinator, description)
        for description in SITE_SENSORS
        if description.exists_fn(capabilities)
    )
    if entry.runtime_data.limit_controller is not None:
        # The "keep under limit" controller's headroom and curtailed loads.
        async_add_entities([HeadroomSensor(entry), CurtailedLoadsSensor(entry)])
    # The programme's compensation (platforms with a programme only).
    async_add_entities(compensation_sensors(entry))
    # Resource LPC events exist only where the platform sends LPC events;
    # activations (Powernaut) where it sends grid events but no LPC events.
    lpc_events: GridEventCoordinator | None = None
    activations: GridEventCoordinator | None = None
    if (events := entry.runtime_data.event_coordinator) is not None:
        if capabilities.lpc_events:
            lpc_events = events
            async_add_entities(
                [
                    PowerLimitSensor(events, entry),
                    NextGridEventSensor(events, entry),
                    LimitUsageSensor(events, entry),
                    # Price curves come with the LPC events (Energy Coordination).
                    PriceSignalSensor(events, entry),
                    LpcWindowImportSensor(events, entry),
                    EnergyAboveLimitSensor(events, entry),
                ]
            )
        else:
            activations = events
            async_add_entities([ActivationSetpointSensor(events, entry)])
    if (schedules := entry.runtime_data.schedule_coordinator) is not None:
        _async_setup_schedules(hass, entry, async_add_entities, schedules)
    if (baselines := entry.runtime_data.baseline_coordinator) is not None:
        _async_setup_baselines(hass, entry, async_add_entities, baselines)
    if (bids := entry.runtime_data.bid_manager) is not None:
        async_add_entities(BidSensor(bids, description) for description in BID_SENSORS)
        _async_setup_resource_bids(hass, entry, async_add_entities, bids)
    meter = entry.runtime_data.meter
    if meter is not None and (meter.streams or meter.uploads):
        async_add_entities(
            GridFlexMeterSensor(entry, description)
            for description in METER_SENSORS
            if description.exists_fn(meter)
        )
    if (
        capabilities.resource_status
        or lpc_events is not None
        or activations is not None
    ):
        _async_setup_resources(hass, entry, async_add_entities, lpc_events, activations)


@callback
def _async_setup_schedules(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    schedules: ScheduleCoordinator,
) -> None:
    """Add a scheduled power sensor per schedulable resource, now and when one appears."""
    added: set[str] = set()

    @callback
    def add_new() -> None:
        for subentry_id, subentry in schedulable(entry).items():
            if subentry_id in added:
                continue
            added.add(subentry_id)
            async_add_entities(
                [ScheduledPowerSensor(schedules, subentry)],
                config_subentry_id=subentry_id,
            )

    _add_now_and_when(hass, entry, SIGNAL_SCHEDULABLE, add_new)


@callback
def _add_now_and_when(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    signal: str,
    add_new: Callable[..., None],
) -> None:
    """Add the entities there are now, and again each time ``signal`` tells of more."""
    add_new()
    entry.async_on_unload(
        async_dispatcher_connect(hass, signal.format(entry.entry_id), add_new)
    )


@callback
def _async_setup_baselines(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    baselines: BaselineCoordinator,
) -> None:
    """Add a Baseline sensor per target with a power sensor, and the site's accuracy."""
    added: set[str] = set()

    @callback
    def add_new(*_: Any) -> None:
        for target in targets(entry):
            if target.key in added:
                continue
            added.add(target.key)
            if target.is_site:
                async_add_entities(
                    [
                        BaselineSensor(baselines, SITE_KEY),
                        BaselineAccuracySensor(baselines),
                    ]
                )
            else:
                async_add_entities(
                    [BaselineSensor(baselines, target.key)],
                    config_subentry_id=target.key,
                )

    _add_now_and_when(hass, entry, SIGNAL_RESOURCE_ADDED, add_new)


@callback
def _async_setup_resource_bids(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    bids: BidManager,
) -> None:
    """Add the bid sensors of each resource that can bid, now and when one appears."""
    added: set[str] = set()

    @callback
    def add_new(*_: Any) -> None:
        for subentry_id, subentry in resource_subentries(entry).items():
            if (
                subentry_id in added
                or subentry.data.get(CONF_RESOURCE_TYPE) not in BIDDING_TYPES
            ):
                continue
            added.add(subentry_id)
            async_add_entities(
                [
                    ResourceBidSensor(bids, subentry, description)
                    for description in BID_SENSORS
                ],
                config_subentry_id=subentry_id,
            )

    _add_now_and_when(hass, entry, SIGNAL_RESOURCE_ADDED, add_new)


@callback
def _async_setup_resources(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    lpc_events: GridEventCoordinator | None,
    activations: GridEventCoordinator | None = None,
) -> None:
    """Add each resource's sensors, now and for resources added later."""
    coordinator = entry.runtime_data.site_coordinator
    resource_status = entry.runtime_data.client.capabilities.resource_status

    @callback
    def add_resource(subentry: ConfigSubentry) -> None:
        # Groups have no meaningful status and are not targeted by resource
        # LPC events: only their members are.
        if is_group(subentry):
            return
        entities: list[SensorEntity] = []
        if resource_status:
            entities += [
                GridFlexResourceSensor(coordinator, subentry, description)
                for description in RESOURCE_SENSORS
            ]
        if lpc_events is not None:
            entities.append(ResourcePowerLimitSensor(lpc_events, subentry))
        if activations is not None:
            entities.append(ResourceActivationSetpointSensor(activations, subentry))
        async_add_entities(entities, config_subentry_id=subentry.subentry_id)

    for subentry in resource_subentries(entry).values():
        add_resource(subentry)
    entry.async_on_unload(
        async_dispatcher_connect(
            hass, SIGNAL_RESOURCE_ADDED.format(entry.entry_id), add_resource
        )
    )


class GridFlexSiteSensor(GridFlexSiteEntity, SensorEntity):
    """A sensor of the site."""

    entity_description: GridFlexSiteSensorDescription

    @property
    def native_value(self) -> str | datetime | None:
        """Return the value read from the latest snapshot."""
        return self.entity_description.value_fn(self.coordinator.data)


class GridFlexResourceSensor(GridFlexResourceEntity, SensorEntity):
    """A status or health-check sensor of a resource."""

    entity_description: GridFlexResourceSensorDescription

    def __init__(
        self,
        coordinator: SiteCoordinator,
        subentry: ConfigSubentry,
        description: GridFlexResourceSensorDescription,
    ) -> None:
        """Attach the sensor to the resource's device."""
        super().__init__(coordinator, subentry, description)

    @property
    def native_value(self) -> str | None:
        """Return the status; unknown when the platform reports none."""
        if (resource := self.resource) is None:
            return None
        return self.entity_description.value_fn(resource)


class GridFlexMeterSensor(GridFlexMeterEntity, SensorEntity):
    """A figure of how meter data moves to the platform."""

    entity_description: GridFlexMeterSensorDescription

    @property
    def native_value(self) -> int | datetime | None:
        """Return the figure."""
        return self.entity_description.value_fn(self.meter)


class _GridEventSensor(CoordinatorEntity[GridEventCoordinator], SensorEntity):
    """A sensor of the site's grid events; known events outlast an outage."""

    _attr_has_entity_name = True
    _unique_id_key: str | None = None
    """The unique id's suffix when it is not the translation key (kept on rename)."""

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Attach the sensor to the site device."""
        super().__init__(coordinator)
        key = self._unique_id_key or self._attr_translation_key
        self._attr_unique_id = f"{entry.unique_id}_{key}"
        self._attr_device_info = site_device_info(entry)

    @property
    def available(self) -> bool:
        """Known events stay valid while the platform is unreachable."""
        return True


class PowerLimitSensor(_GridEventSensor):
    """The site's power limit in force now (LocationLPC; unknown otherwise).

    Limits of single resources (ResourceLPC) are not the site's: each
    resource shows its own on its device.
    """

    _attr_translation_key = "power_limit"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT

    @property
    def native_value(self) -> Decimal | None:
        """Return the limit of the site's window in force."""
        active = self.coordinator.active_window(dt_util.utcnow())
        return active[1].max_power_kw if active else None


class NextGridEventSensor(_GridEventSensor):
    """When the next LPC event starts (not the next hour of one running now)."""

    _attr_translation_key = "next_grid_event"
    _attr_device_class = SensorDeviceClass.TIMESTAMP

    @property
    def native_value(self) -> datetime | None:
        """Return the start of the next LPC event that has not started yet."""
        return self.coordinator.next_event_start(dt_util.utcnow())


class LimitUsageSensor(_GridEventSensor):
    """The site's grid power now as a share of the site's limit in force.

    100 % is at the limit; above 100 % the site takes more than the limit
    right now. This is a momentary reading, not a compliance verdict: what
    GridFlex reports to the platform is each event hour's energy, and a
    moment above the limit need not put the hour above it. Unknown outside
    the site's (LocationLPC) windows and without a grid power sensor.

    Named "LPC compliance" before; the unique id is kept so the entity and
    its history survive the rename.
    """

    _attr_translation_key = "limit_usage"
    _unique_id_key = "lpc_compliance"
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 0

    def __init__(
        self, coordinator: GridEventCoordinator, entry: GridFlexConfigEntry
    ) -> None:
        """Follow the site's meter as well as the events."""
        super().__init__(coordinator, entry)
        self._meter = entry.runtime_data.meter

    async def async_added_to_hass(self) -> None:
        """Update when the site's power changes."""
        await super().async_added_to_hass()
        if self._meter is not None:
            self.async_on_remove(
                self._meter.async_add_listener(self.async_write_ha_state)
            )

    @property
    def native_value(self) -> Decimal | None:
        """Return site power / limit in %, unknown outside LPC windows."""
        active = self.coordinator.active_window(dt_util.utcnow())
        site = self._meter.site_kw if self._meter is not None else None
        if active is None or site is None or active[1].max_power_kw <= 0:
            return None
        return (site / active[1].max_power_kw * 100).quantize(Decimal("0.1"))


class ActivationSetpointSensor(_GridEventSensor):
    """The site's activation setpoint: the sum of the setpoints in force (kW).

    Each activation targets one resource, whose own *Activation setpoint*
    shows it; the site adds up those in force now (two resources activated
    at 2 kW and 3 kW make 5 kW). Unknown while no activation is in force.
    """

    _attr_translation_key = "activation_setpoint"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT

    @property
    def native_value(self) -> Decimal | None:
        """Return the sum of the setpoints in force; unknown outside activations."""
        return self.coordinator.activation_setpoint(dt_util.utcnow())


class ResourceActivationSetpointSensor(GridFlexResourceActivationEntity, SensorEntity):
    """The power asked of one resource by its activation in force (kW)."""

    _attr_translation_key = "activation_setpoint"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT

    @property
    def native_value(self) -> Decimal | None:
        """Return the resource's setpoint; unknown outside its activations."""
        active = self.active_activation()
        return active[1].max_power_kw if active else None


class ResourcePowerLimitSensor(GridFlexResourceLpcEntity, SensorEntity):
    """The power limit in force for one resource (ResourceLPC; unknown otherwise)."""

    _attr_translation_key = "power_limit"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT

    @property
    def native_value(self) -> Decimal | None:
        """Return the limit of the resource's window in force."""
        active = self.active_window()
        return active[1].max_power_kw if active else None


class ScheduledPowerSensor(CoordinatorEntity[ScheduleCoordinator], SensorEntity):
    """The power the platform's schedule plans for now; the schedule as attribute."""

    _attr_has_entity_name = True
    _attr_translation_key = "scheduled_power"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT

    def __init__(
        self, coordinator: ScheduleCoordinator, subentry: ConfigSubentry
    ) -> None:
        """Attach the sensor to the resource's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._subentry_id = subentry.subentry_id
        self._attr_unique_id = (
            f"{entry.unique_id}_{subentry.subentry_id}_scheduled_power"
        )
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}")}
        )

    @property
    def native_value(self) -> Decimal | None:
        """Return the planned power of the current interval."""
        return self.coordinator.power_now(self._subentry_id)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the whole schedule."""
        schedule = (self.coordinator.data or {}).get(self._subentry_id, [])
        return {
            "schedule": [
                {"start": start.isoformat(), "power_kw": float(value)}
                for start, value in schedule
            ]
        }


class BaselineSensor(CoordinatorEntity[BaselineCoordinator], SensorEntity):
    """The baseline GridFlex posted for now; the next 24 hours as attribute."""

    _attr_has_entity_name = True
    _attr_translation_key = "baseline"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT
    _attr_suggested_display_precision = 3
    _unrecorded_attributes = frozenset({"forecast"})

    def __init__(self, coordinator: BaselineCoordinator, key: str) -> None:
        """Attach the sensor to the site's device, or to the resource's."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._key = key
        if key == SITE_KEY:
            self._attr_unique_id = f"{entry.unique_id}_baseline"
            self._attr_device_info = site_device_info(entry)
        else:
            self._attr_unique_id = f"{entry.unique_id}_{key}_baseline"
            self._attr_device_info = DeviceInfo(
                identifiers={(DOMAIN, f"{entry.entry_id}_{key}")}
            )

    @property
    def native_value(self) -> float | None:
        """Return the baseline of the current quarter-hour."""
        return self.coordinator.power_now(self._key)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the posted curve and how much history it stands on."""
        result = (self.coordinator.data or {}).get(self._key)
        if result is None:
            return {"forecast": [], "confidence": None}
        return {
            "forecast": [
                {"start": start.isoformat(), "power_kw": round(value, 3)}
                for start, value in zip(result.starts(), result.values_kw, strict=True)
            ],
            "confidence": result.confidence.value,
        }


class BaselineAccuracySensor(CoordinatorEntity[BaselineCoordinator], SensorEntity):
    """Normalised MAE of yesterday's posted site baseline against what happened."""

    _attr_has_entity_name = True
    _attr_translation_key = "baseline_accuracy"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 2

    def __init__(self, coordinator: BaselineCoordinator) -> None:
        """Attach the sensor to the site's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._attr_unique_id = f"{entry.unique_id}_baseline_accuracy"
        self._attr_device_info = site_device_info(entry)

    @property
    def native_value(self) -> float | None:
        """Return the error; unknown until a day has a baseline and measurements."""
        accuracy = self.coordinator.accuracy
        return (
            None
            if accuracy is None or accuracy.nmae is None
            else round(accuracy.nmae, 4)
        )

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return which day was measured and over how many quarter-hours."""
        accuracy = self.coordinator.accuracy
        return {
            "day": accuracy.day if accuracy else None,
            "quarter_hours": accuracy.quarters if accuracy else 0,
        }


@dataclass(frozen=True, kw_only=True)
class BidSensorDescription(SensorEntityDescription):
    """Describes a sensor of the site's bids."""

    value_fn: Callable[[BidSummary], int | Decimal]
    resource_fn: Callable[[ResourceBids], int | Decimal]
    """The same figure of one resource."""
    monetary: bool = False
    kept: bool = False
    """A total kept on disk: available also when the platform is not."""


BID_SENSORS: tuple[BidSensorDescription, ...] = (
    BidSensorDescription(
        key="open_bids",
        translation_key="open_bids",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda summary: summary.open_bids,
        resource_fn=lambda bids: bids.open_bids,
    ),
    BidSensorDescription(
        key="accepted_bids_today",
        translation_key="accepted_bids_today",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda summary: summary.accepted_today,
        resource_fn=lambda bids: bids.accepted_today,
    ),
    BidSensorDescription(
        key="bid_energy_delivered",
        translation_key="bid_energy_delivered",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=lambda summary: summary.energy_delivered_kwh,
        resource_fn=lambda bids: bids.energy_delivered_kwh,
        kept=True,
    ),
    BidSensorDescription(
        key="bid_earnings",
        translation_key="bid_earnings",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=2,
        value_fn=lambda summary: summary.earnings,
        resource_fn=lambda bids: bids.earnings,
        monetary=True,
        kept=True,
    ),
)


class BidSensor(CoordinatorEntity[BidManager], SensorEntity):
    """A sensor of the site's bids: counts, delivered energy and earnings."""

    _attr_has_entity_name = True
    entity_description: BidSensorDescription

    def __init__(
        self, coordinator: BidManager, description: BidSensorDescription
    ) -> None:
        """Attach the sensor to the site's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._attr_unique_id = f"{entry.unique_id}_{description.key}"
        self._attr_device_info = site_device_info(entry)
        if description.monetary:
            # The site's currency: the platform infers it from the site.
            self._attr_native_unit_of_measurement = coordinator.currency

    @property
    def available(self) -> bool:
        """Totals stay available; the counts follow the latest pass."""
        return self.entity_description.kept or super().available

    @property
    def native_value(self) -> int | Decimal:
        """Return the value of the latest pass."""
        return self.entity_description.value_fn(self.coordinator.data or BidSummary())

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the open bids' quarter-hours on the open-bids sensor."""
        if self.entity_description.key != "open_bids":
            return None
        return {"windows": list((self.coordinator.data or BidSummary()).open_windows)}


class ResourceBidSensor(CoordinatorEntity[BidManager], SensorEntity):
    """A sensor of one resource's bids, on its device; the site's sum them."""

    _attr_has_entity_name = True
    entity_description: BidSensorDescription

    def __init__(
        self,
        coordinator: BidManager,
        subentry: ConfigSubentry,
        description: BidSensorDescription,
    ) -> None:
        """Attach the sensor to the resource's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self.entity_description = description
        self._subentry_id = subentry.subentry_id
        self._resource_id = str(subentry.data.get(CONF_RESOURCE_ID, ""))
        self._attr_unique_id = (
            f"{entry.unique_id}_{subentry.subentry_id}_{description.key}"
        )
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{entry.entry_id}_{subentry.subentry_id}")}
        )
        if description.monetary:
            self._attr_native_unit_of_measurement = coordinator.currency

    @property
    def available(self) -> bool:
        """Totals stay available; the counts follow the latest pass."""
        return self.entity_description.kept or super().available

    @property
    def native_value(self) -> int | Decimal:
        """Return the resource's figure of the latest pass."""
        summary = self.coordinator.data or BidSummary()
        bids = summary.resources.get(self._resource_id, ResourceBids())
        return self.entity_description.resource_fn(bids)


class HeadroomSensor(LimitControlEntity, SensorEntity):
    """The target (limit minus margin) minus the import; unknown without a limit."""

    _attr_translation_key = "headroom"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = UnitOfPower.KILO_WATT
    _attr_suggested_display_precision = 2

    @property
    def native_value(self) -> float | None:
        """Return the headroom in kW."""
        return self.controller.headroom_kw

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the limit, its source and the target."""
        limit = self.controller.site_limit
        return {
            "limit_kw": limit.limit_kw if limit else None,
            "limit_source": limit.source if limit else None,
            "target_kw": self.controller.target_kw,
        }


class CurtailedLoadsSensor(LimitControlEntity, SensorEntity):
    """How many loads GridFlex holds curtailed, with their names."""

    _attr_translation_key = "curtailed_loads"
    _attr_state_class = SensorStateClass.MEASUREMENT

    @property
    def native_value(self) -> int:
        """Return the count."""
        return len(self.controller.curtailed())

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the loads' names."""
        return {"loads": self.controller.curtailed()}
