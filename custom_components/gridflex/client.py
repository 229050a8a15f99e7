"""Build a platform client from a config entry's data, on HA's shared session.

Every client of the same account (platform, server and credentials) shares
one token keeper: the config flow, the subentry flows, reloads and the
running entry fetch one token between them and renew it before it expires.
A keeper stays while a config entry has that account, or while flows use
it (it handed out a client less than ``KEEPER_IDLE`` ago); then it is
dropped. New credentials (reauthentication) are another account, so they
get a new keeper. Keepers are known by a hash of the account only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_BASE_URL,
    CONF_ENVIRONMENT,
    CONF_PLATFORM,
    DOMAIN,
    REQUEST_TIMEOUT,
)
from .platforms import CREDENTIAL_FIELDS, FlexPlatform, create_client
from .platforms.models import Environment, PlatformKey
from .platforms.tokens import TokenKeeper, account_key_of

KEEPER_IDLE = timedelta(minutes=10)
"""How long a keeper no config entry uses is kept after it last built a client."""


@dataclass(slots=True)
class _Held:
    keeper: TokenKeeper
    used: datetime


DATA_TOKEN_KEEPERS: HassKey[dict[str, _Held]] = HassKey(f"{DOMAIN}_token_keepers")


def async_create_platform_client(
    hass: HomeAssistant, data: Mapping[str, Any], *, price_area: str | None = None
) -> FlexPlatform:
    """Return a client for the platform, environment and credentials in ``data``.

    ``price_area`` is the site's bidding zone (the site's options), for the
    platforms whose price curves are per area.
    """
    platform = PlatformKey(data[CONF_PLATFORM])
    credentials = {field: data[field] for field in CREDENTIAL_FIELDS[platform]}
    return create_client(
        platform,
        async_get_clientsession(hass),
        credentials,
        environment=Environment(data[CONF_ENVIRONMENT]),
        base_url=data.get(CONF_BASE_URL),
        request_timeout=REQUEST_TIMEOUT,
        tokens=async_token_keeper(hass, data),
        timezone=hass.config.time_zone,
        price_area=price_area,
    )


def _account(data: Mapping[str, Any]) -> str:
    """Return the hash naming the account ``data`` signs in with."""
    platform = PlatformKey(data[CONF_PLATFORM])
    environment = Environment(data[CONF_ENVIRONMENT])
    server = data.get(CONF_BASE_URL) if environment is Environment.CUSTOM else None
    return account_key_of(
        f"{platform}/{environment}",
        server,
        {field: str(data.get(field, "")) for field in CREDENTIAL_FIELDS[platform]},
    )


@callback
def async_token_keeper(hass: HomeAssistant, data: Mapping[str, Any]) -> TokenKeeper:
    """Return the keeper of the account in ``data``; drop those nothing uses."""
    account = _account(data)
    held = hass.data.setdefault(DATA_TOKEN_KEEPERS, {})
    now = dt_util.utcnow()
    in_use = {
        _account(entry.data)
        for entry in hass.config_entries.async_entries(DOMAIN)
        if CONF_PLATFORM in entry.data
    }
    for key in [
        key
        for key, kept in held.items()
        if key not in in_use and now - kept.used > KEEPER_IDLE
    ]:
        del held[key]
    if (kept := held.get(account)) is None:
        kept = held[account] = _Held(TokenKeeper(), now)
    kept.used = now
    return kept.keeper
