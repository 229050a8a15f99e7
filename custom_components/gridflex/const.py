"""Constants for the GridFlex integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "gridflex"
LOGGER = logging.getLogger(__package__)

CONF_PLATFORM: Final = "platform"
CONF_ENVIRONMENT: Final = "environment"
CONF_BASE_URL: Final = "base_url"
CONF_ADVANCED: Final = "advanced"
CONF_SITE_ID: Final = "site_id"
CONF_SITE_NAME: Final = "site_name"
CONF_COUNTRY: Final = "country"
CONF_GRID_IDENTIFIER: Final = "grid_identifier"
CONF_INJECTION_GRID_IDENTIFIER: Final = "injection_grid_identifier"
CONF_DIRECTION: Final = "direction"
CONF_ADDRESS: Final = "address"
CONF_LOCATION: Final = "location"
CONF_LATITUDE: Final = "latitude"
CONF_LONGITUDE: Final = "longitude"
CONF_EDGE_CREDENTIALS: Final = "edge_credentials"

REQUEST_TIMEOUT: Final = 10.0
"""Seconds every request to a platform may take."""

ISSUE_CONTRACT_PREFIX: Final = "contract"
ISSUE_MARKET_PREFIX: Final = "market_consent"

SUBENTRY_RESOURCE: Final = "resource"
CONF_RESOURCE_TYPE: Final = "resource_type"
CONF_DEVICE_ID: Final = "device_id"
CONF_POWER_ENTITY: Final = "power_entity"
CONF_ENERGY_ENTITY: Final = "energy_entity"
CONF_SOC_ENTITY: Final = "soc_entity"
CONF_POWER_MIN: Final = "power_min_kw"
CONF_POWER_MAX: Final = "power_max_kw"
CONF_CAPACITY: Final = "capacity_kwh"
CONF_GROUP: Final = "group"
CONF_RESOLUTION: Final = "resolution_minutes"
CONF_EXTERNAL_ID: Final = "external_id"
CONF_RESOURCE_ID: Final = "resource_id"
CONF_BIDDING: Final = "bidding"
"""The resource form's section with the homeowner's bidding settings."""
CONF_BID_ENABLED: Final = "bid_enabled"
CONF_BID_MIN_PRICE: Final = "bid_min_price"
"""The lowest price per kWh (the site's currency) GridFlex bids at."""
CONF_RESERVE_SOC: Final = "reserve_soc"
"""The state of charge (%) a battery keeps for the home: never offered."""
CONF_MAX_SOC: Final = "max_soc"
"""The state of charge (%) a battery is never charged above for a bid."""
DEFAULT_RESERVE_SOC: Final = 20
DEFAULT_MAX_SOC: Final = 95
DEFAULT_BID_MIN_PRICE: Final = "0.25"
CONF_KEPT_RESOURCES: Final = "kept_resources"
CONF_ADOPT_RESOURCES: Final = "adopt_resources"
"""Platform resources chosen in the config flow, taken into Home Assistant at setup."""

ISSUE_ORPHAN_PREFIX: Final = "orphan_resource"
ISSUE_SUSPENDED_PREFIX: Final = "resource_suspended"
ISSUE_UNMAPPED_PREFIX: Final = "resource_unmapped"
ISSUE_PRICE_UNIT: Final = "price_unit"
ISSUE_PRICE_SENSOR: Final = "price_sensor"
ISSUE_NO_PRICE_SOURCE: Final = "no_price_source"
SIGNAL_RESOURCE_ADDED: Final = "gridflex_resource_added_{}"

CONF_GRID_POWER_ENTITY: Final = "grid_power_entity"
CONF_GRID_EXPORT_ENTITY: Final = "grid_export_entity"
CONF_GRID_POWER_INVERTED: Final = "grid_power_inverted"
CONF_SEND_BASELINES: Final = "send_baselines"
CONF_LIMIT_KEEP_OFF: Final = "limit_keep_off"
CONF_PRICE_AREA: Final = "price_area"
CONF_ENROLL: Final = "enroll"
CONF_STREAM_ADVANCED: Final = "stream"
CONF_MQTT_BROKER: Final = "mqtt_broker"
CONF_MQTT_CA_FILE: Final = "mqtt_ca_file"
CONF_SITE_TOPIC: Final = "site_topic"
CONF_RESOURCE_TOPIC: Final = "resource_topic"
CONF_GRID_ENERGY_ENTITY: Final = "grid_energy_entity"
CONF_PRICE_ENTITY: Final = "price_entity"
"""FlexMeasures: the Home Assistant sensor with the electricity price."""
CONF_PRICE_SENSOR_ID: Final = "price_sensor_id"
"""FlexMeasures: the id of an existing FlexMeasures price sensor instead."""
SIGNAL_SCHEDULABLE: Final = "gridflex_schedulable_{}"
"""Sent when a resource becomes schedulable while the entry runs."""

RESOURCE_TYPE_NAMES: Final[dict[str, str]] = {
    "battery": "Battery",
    "electric_vehicle": "Electric vehicle",
    "ev_charger": "EV charger",
    "heat_pump": "Heat pump",
    "solar": "Solar panels",
    "boiler": "Electric boiler",
    "wind": "Wind turbine",
    "group": "Group (hybrid resources)",
    "other": "Other",
}
"""English names of the resource types, as in the ``resource_type`` selector.

Used where Home Assistant takes a plain string rather than a translation key
(a device's model, a repair's placeholders) and the translations are not loaded.
"""
