"""HA-free clients for the grid-flexibility platforms GridFlex connects to.

Plain Python on aiohttp: nothing here imports Home Assistant. Build a client
with ``create_client`` and talk to it through the ``FlexPlatform`` protocol;
every failure is a ``GridFlexError``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from .base import Capabilities, FlexPlatform
from .energy_coordination import EnergyCoordinationClient
from .errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexError,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    GridFlexTimeoutError,
)
from .flexmeasures import FlexMeasuresClient
from .models import (
    HEALTH_CHECK_STATES,
    EdgeCredentials,
    Environment,
    HealthCheck,
    Location,
    Market,
    MarketStatus,
    PlatformKey,
    RegisteredSite,
    Resource,
    ResourceSpec,
    ResourceStatus,
    ResourceType,
    Site,
    SiteRegistration,
    SiteStatus,
    SupplyDirection,
    UpstreamStatus,
)
from .powernaut import PowernautClient

if TYPE_CHECKING:
    from collections.abc import Mapping

    import aiohttp

    from ._http import Clock
    from .tokens import TokenKeeper

__all__ = [
    "CREDENTIAL_FIELDS",
    "HEALTH_CHECK_STATES",
    "Capabilities",
    "EdgeCredentials",
    "EnergyCoordinationClient",
    "Environment",
    "FlexMeasuresClient",
    "FlexPlatform",
    "GridFlexAuthError",
    "GridFlexConnectionError",
    "GridFlexError",
    "GridFlexNotFoundError",
    "GridFlexRateLimitedError",
    "GridFlexRequestRejectedError",
    "GridFlexResponseError",
    "GridFlexTimeoutError",
    "HealthCheck",
    "Location",
    "Market",
    "MarketStatus",
    "PlatformKey",
    "PowernautClient",
    "RegisteredSite",
    "Resource",
    "ResourceSpec",
    "ResourceStatus",
    "ResourceType",
    "Site",
    "SiteRegistration",
    "SiteStatus",
    "SupplyDirection",
    "UpstreamStatus",
    "capabilities",
    "create_client",
]

CREDENTIAL_FIELDS: Final[dict[PlatformKey, tuple[str, ...]]] = {
    PlatformKey.POWERNAUT: ("client_id", "client_secret"),
    PlatformKey.ENERGY_COORDINATION: ("client_id", "client_secret"),
    PlatformKey.FLEXMEASURES: ("email", "password"),
}
"""The credentials each platform asks for, in the order to ask for them."""

_CAPABILITIES: Final[dict[PlatformKey, Capabilities]] = {
    PlatformKey.POWERNAUT: PowernautClient.capabilities,
    PlatformKey.ENERGY_COORDINATION: EnergyCoordinationClient.capabilities,
    PlatformKey.FLEXMEASURES: FlexMeasuresClient.capabilities,
}


def capabilities(platform: PlatformKey) -> Capabilities:
    """Return what ``platform`` offers, without building a client."""
    return _CAPABILITIES[PlatformKey(platform)]


def create_client(
    platform: PlatformKey,
    session: aiohttp.ClientSession,
    credentials: Mapping[str, str],
    *,
    environment: Environment,
    base_url: str | None = None,
    request_timeout: float = 10.0,
    clock: Clock = time.monotonic,
    tokens: TokenKeeper | None = None,
    timezone: str | None = None,
    price_area: str | None = None,
) -> FlexPlatform:
    """Build the client for ``platform`` on the injected ``session``.

    ``credentials`` holds the fields of ``CREDENTIAL_FIELDS[platform]``.
    ``base_url`` is a server root and is used only with
    ``Environment.CUSTOM``, where it is required. ``clock`` (monotonic
    seconds) decides when tokens are renewed. ``tokens`` is the keeper of
    the account's token, to share it with the other clients of the same
    account (``tokens.account_key_of`` names the account); without it the
    client keeps a token of its own, on ``clock``. ``timezone`` (an IANA
    name, the home's) is given to the sensors a client creates where the
    platform has sensors (FlexMeasures). ``price_area`` (the site's bidding
    zone, ``NO1`` … ``SE4``) decides which price curves are the site's on
    Energy Coordination; the other platforms have no use for it.

    Raises:
        ValueError: a credential field is missing, or a custom environment
            has no ``base_url``.

    """
    platform = PlatformKey(platform)
    missing = [
        name for name in CREDENTIAL_FIELDS[platform] if not credentials.get(name)
    ]
    if missing:
        raise ValueError(f"Missing credentials for {platform}: {', '.join(missing)}")
    environment = Environment(environment)
    if platform is PlatformKey.POWERNAUT:
        return PowernautClient(
            session,
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            environment=environment,
            base_url=base_url,
            request_timeout=request_timeout,
            clock=clock,
            tokens=tokens,
        )
    if platform is PlatformKey.ENERGY_COORDINATION:
        return EnergyCoordinationClient(
            session,
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
            environment=environment,
            base_url=base_url,
            request_timeout=request_timeout,
            clock=clock,
            tokens=tokens,
            price_area=price_area,
        )
    return FlexMeasuresClient(
        session,
        email=credentials["email"],
        password=credentials["password"],
        environment=environment,
        base_url=base_url,
        request_timeout=request_timeout,
        clock=clock,
        tokens=tokens,
        timezone=timezone,
    )
