"""Polling of the site's state on the platform."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
)
from .platforms.models import Resource, Site

if TYPE_CHECKING:
    from .event_coordinator import GridEventCoordinator
    from .meter import MeterData
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
    """The resource subentries known to the running entry."""
    site_device_id: str | None = None
    meter: MeterData | None = None
    event_coordinator: GridEventCoordinator | None = None
    schedule_coordinator: ScheduleCoordinator | None = None


type GridFlexConfigEntry = ConfigEntry[GridFlexRuntimeData]


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

    async def _async_update_data(self) -> SiteSnapshot:
        """Fetch the site; map platform errors to what Home Assistant expects."""
        site_id = self.config_entry.data[CONF_SITE_ID]
        resources: dict[str, Resource] = {}
        try:
            site = await self.client.get_site(site_id)
            if self.client.capabilities.resource_status and self._has_resources():
                resources = {
                    r.resource_id: r for r in await self.client.list_resources(site_id)
                }
        except GridFlexAuthError as err:
            # The coordinator starts the reauth flow when this is raised.
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            ) from err
        except GridFlexRateLimitedError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="rate_limited",
                translation_placeholders={
                    "retry_after": str(int(err.retry_after or 0))
                },
                retry_after=err.retry_after,
            ) from err
        except GridFlexNotFoundError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key="site_not_found"
            ) from err
        except GridFlexConnectionError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err
        except GridFlexError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="unexpected_error",
                translation_placeholders={"error": str(err) or type(err).__name__},
            ) from err
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
