"""Polling of the site's state on the platform."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import CONF_RESOURCE_ID, CONF_SITE_ID, DOMAIN, LOGGER, SUBENTRY_RESOURCE
from .issues import async_sync_resource_issues, async_sync_site_issues
from .platforms import FlexPlatform
from .platforms.errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexError,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexResponseError,
)
from .platforms.models import Resource, Site

if TYPE_CHECKING:
    from .activation_executor import ActivationExecutor
    from .baseline_coordinator import BaselineCoordinator
    from .bid_manager import BidManager
    from .event_coordinator import GridEventCoordinator
    from .load_control import LimitController
    from .meter import MeterData
    from .programme import ProgrammeCoordinator
    from .schedules import ScheduleCoordinator


@dataclass(frozen=True, slots=True)
class SiteSnapshot:
    """The site as last read from the platform, and when."""

    site: Site
    synced_at: datetime
    resources: dict[str, Resource] = field(default_factory=dict)
    """The site's resources on the platform by platform id, where it reports status."""


@dataclass(kw_only=True, slots=True)
class GridFlexRuntimeData:
    """What a loaded GridFlex entry holds while it runs."""

    client: FlexPlatform
    site_coordinator: SiteCoordinator
    data: dict[str, Any]
    """The entry data the entry was set up with (a change means reload)."""
    options: dict[str, Any] = field(default_factory=dict)
    """The options the entry was set up with (a change means reload)."""
    subentries: dict[str, ConfigSubentry] = field(default_factory=dict)
    resource_data: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    """Title and data of each resource as last followed: Home Assistant
    changes a subentry object in place when it is reconfigured, so changes
    are told from this copy, not from ``subentries``."""
    """The resource subentries known to the running entry."""
    site_device_id: str | None = None
    meter: MeterData | None = None
    event_coordinator: GridEventCoordinator | None = None
    schedule_coordinator: ScheduleCoordinator | None = None
    baseline_coordinator: BaselineCoordinator | None = None
    activation_executor: ActivationExecutor | None = None
    bid_manager: BidManager | None = None
    limit_controller: LimitController | None = None
    """Keeps the site under its power limits with the mapped loads (off by default)."""
    programme_coordinator: ProgrammeCoordinator | None = None
    """Compensation, eligibility and enrollment (platforms with a programme)."""
    missing_resources: set[str] = field(default_factory=set)
    """Platform ids of resources the platform answered 404 for (handled once)."""


type GridFlexConfigEntry = ConfigEntry[GridFlexRuntimeData]


class PlatformErrorKind(StrEnum):
    """Why the latest poll of the site failed."""

    UNREACHABLE = "unreachable"
    """No answer: DNS, TCP or TLS failure, timeout, or a 5xx."""
    RATE_LIMITED = "rate_limited"
    """HTTP 429: the platform answered and asked to slow down."""
    AUTH = "auth"
    """The platform answered and refused the credentials (reauth)."""
    NOT_FOUND = "not_found"
    """The platform answered that the site does not exist (HTTP 404)."""
    UNEXPECTED_ANSWER = "unexpected_answer"
    """The platform answered, but not usably: another 4xx, or a body that is
    not JSON."""


REACHABLE_ERROR_KINDS = frozenset(PlatformErrorKind) - {PlatformErrorKind.UNREACHABLE}
"""Failures that are answers: the platform was reached."""


class SiteCoordinator(DataUpdateCoordinator[SiteSnapshot]):
    """Read the site's status, upstream status and markets from the platform."""

    config_entry: GridFlexConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: GridFlexConfigEntry,
        client: FlexPlatform,
    ) -> None:
        """Poll at the interval the platform is worth polling at."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=config_entry,
            name=f"{DOMAIN} site {config_entry.title}",
            update_interval=timedelta(seconds=client.capabilities.site_poll_seconds),
        )
        self.client = client
        self.last_error_kind: PlatformErrorKind | None = None
        """Why the latest poll failed; ``None`` after a successful one."""

    @property
    def platform_reachable(self) -> bool:
        """Return whether the latest poll got an answer from the platform.

        Off only when it truly could not be reached; a 429, refused
        credentials or an unexpected answer all came from the platform.
        """
        return self.last_update_success or self.last_error_kind in REACHABLE_ERROR_KINDS

    async def _async_update_data(self) -> SiteSnapshot:
        """Fetch the site; remember why it failed, if it did."""
        try:
            snapshot = await self._async_fetch()
        except GridFlexError as err:
            self.last_error_kind = error_kind(err)
            raise self._as_update_error(err) from err
        self.last_error_kind = None
        return snapshot

    def _as_update_error(self, err: GridFlexError) -> Exception:
        """Map a platform error to what Home Assistant expects, with a true message."""
        return update_error(err)

    async def _async_fetch(self) -> SiteSnapshot:
        """Read the site (and its resources' status) from the platform."""
        site_id = self.config_entry.data[CONF_SITE_ID]
        resources: dict[str, Resource] = {}
        if self.client.capabilities.resource_status and self._has_resources():
            # Side by side: one round trip instead of two at every refresh.
            site, listed = await asyncio.gather(
                self.client.get_site(site_id), self.client.list_resources(site_id)
            )
            resources = {r.resource_id: r for r in listed}
        else:
            site = await self.client.get_site(site_id)
        async_sync_site_issues(self.hass, self.config_entry, site)
        if self.client.capabilities.resource_status:
            async_sync_resource_issues(self.hass, self.config_entry, resources)
        return SiteSnapshot(site=site, synced_at=dt_util.utcnow(), resources=resources)

    def _has_resources(self) -> bool:
        """Return whether any resource subentry points at a platform resource."""
        return any(
            subentry.subentry_type == SUBENTRY_RESOURCE
            and subentry.data.get(CONF_RESOURCE_ID)
            for subentry in self.config_entry.subentries.values()
        )


def update_error(err: GridFlexError) -> Exception:
    """Map a platform error to what Home Assistant expects, with a true message."""
    match err:
        case GridFlexAuthError():
            # The coordinator starts the reauth flow when this is raised.
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            )
        case GridFlexRateLimitedError():
            return UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders={
                    "retry_after": str(int(err.retry_after or 0))
                },
                retry_after=err.retry_after,
            )
        case GridFlexNotFoundError():
            return UpdateFailed(
                translation_domain=DOMAIN, translation_key="site_not_found"
            )
        case GridFlexResponseError():
            # A subclass of the connection error, but the platform answered.
            return UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="unexpected_error",
                translation_placeholders={"error": str(err) or type(err).__name__},
            )
        case GridFlexConnectionError():
            return UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err) or type(err).__name__},
            )
    # Another 4xx (with its status in the message) or any other answer.
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="unexpected_error",
        translation_placeholders={"error": str(err) or type(err).__name__},
    )


def error_kind(err: GridFlexError) -> PlatformErrorKind:
    """Return what a platform error says about reaching the platform."""
    match err:
        case GridFlexAuthError():
            return PlatformErrorKind.AUTH
        case GridFlexRateLimitedError():
            return PlatformErrorKind.RATE_LIMITED
        case GridFlexNotFoundError():
            return PlatformErrorKind.NOT_FOUND
        case GridFlexResponseError():
            return PlatformErrorKind.UNEXPECTED_ANSWER
        case GridFlexConnectionError():
            return PlatformErrorKind.UNREACHABLE
    return PlatformErrorKind.UNEXPECTED_ANSWER
