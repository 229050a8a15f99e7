"""Build a platform client from a config entry's data, on HA's shared session."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import CONF_BASE_URL, CONF_ENVIRONMENT, CONF_PLATFORM, REQUEST_TIMEOUT
from .platforms import CREDENTIAL_FIELDS, FlexPlatform, create_client
from .platforms.models import Environment, PlatformKey


def async_create_platform_client(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> FlexPlatform:
    """Return a client for the platform, environment and credentials in ``data``."""
    platform = PlatformKey(data[CONF_PLATFORM])
    return create_client(
        platform,
        async_get_clientsession(hass),
        {field: data[field] for field in CREDENTIAL_FIELDS[platform]},
        environment=Environment(data[CONF_ENVIRONMENT]),
        base_url=data.get(CONF_BASE_URL),
        request_timeout=REQUEST_TIMEOUT,
    )
