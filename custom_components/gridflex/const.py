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
