"""GridFlex: connect a home to grid-flexibility platforms."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .activation_executor import ActivationExecutor, async_remove_store
from .baseline_coordinator import BaselineCoordinator, takes_baselines
from .bid_manager import async_start_bids
from .client import async_create_platform_client
from .const import CONF_PRICE_AREA, CONF_SEND_BASELINES, DOMAIN
from .coordinator import (
    GridFlexConfigEntry,
    GridFlexRuntimeData,
    PlatformErrorKind,
    SiteCoordinator,
    error_kind,
)
from .event_coordinator import GridEventCoordinator, supports_grid_events
from .issues import async_delete_site_issues
from .load_control import LimitController, async_remove_limit_store
from .meter import MeterData
from .platforms.base import ProgrammeMember
from .platforms.errors import GridFlexAuthError, GridFlexError
from .programme import ProgrammeCoordinator
from .push import async_remove_push, async_setup_activation_push, async_setup_push
from .resources import (
    async_ensure_devices,
    async_entry_updated,
    async_reconcile,
    resource_data,
    resource_subentries,
)
from .schedules import ScheduleCoordinator
from .services import async_setup_services

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CALENDAR,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.SWITCH,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up GridFlex's actions; sites are configured through config entries."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: GridFlexConfigEntry) -> bool:
    """Connect to the platform, reconcile the resources, follow the site."""
    client = async_create_platform_client(
        hass, entry.data, price_area=entry.options.get(CONF_PRICE_AREA)
    )
    try:
        # The first request fetches the account's token, unless the flows or
        # the previous load left a fresh one; refused credentials fail it.
        await async_reconcile(hass, entry, client)
    except GridFlexAuthError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="authentication_failed"
        ) from err
    except GridFlexError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            # Only an unreachable platform "cannot connect"; any other failure
            # is an answer, told as such (with its status and detail).
            translation_key=(
                "cannot_connect"
                if error_kind(err) is PlatformErrorKind.UNREACHABLE
                else "unexpected_error"
            ),
            translation_placeholders={"error": str(err) or type(err).__name__},
        ) from err

    coordinator = SiteCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()

    entry.runtime_data = GridFlexRuntimeData(
        client=client,
        site_coordinator=coordinator,
        data=dict(entry.data),
        options=dict(entry.options),
        subentries=resource_subentries(entry),
        resource_data=resource_data(resource_subentries(entry)),
    )
    async_ensure_devices(hass, entry)
    if supports_grid_events(client):
        events = GridEventCoordinator(hass, entry, client)
        await events.async_config_entry_first_refresh()
        entry.runtime_data.event_coordinator = events
        if client.capabilities.lpc_events:
            await async_setup_push(hass, entry, events)
        else:
            await async_setup_activation_push(hass, entry, events)
            # Steers the resources' mapped controls (none mapped: nothing moves).
            entry.runtime_data.activation_executor = ActivationExecutor(
                hass, entry, events
            )
        entry.runtime_data.data = dict(entry.data)
    if client.capabilities.schedules:
        # No trigger or poll here: it starts in the background after setup.
        entry.runtime_data.schedule_coordinator = ScheduleCoordinator(
            hass, entry, client
        )
    if takes_baselines(client) and entry.options.get(CONF_SEND_BASELINES, True):
        # Nothing is read or posted here: it starts in the background after setup.
        entry.runtime_data.baseline_coordinator = BaselineCoordinator(
            hass, entry, client
        )
    entry.runtime_data.bid_manager = async_start_bids(hass, entry, client)
    # Starts following the sensors; nothing here waits for the platform (the
    # meter finds its platform sensors in the background).
    meter = entry.runtime_data.meter = MeterData(hass, entry)
    await meter.async_start()
    # Off until its switch is turned on; it starts following after setup.
    entry.runtime_data.limit_controller = LimitController(hass, entry)
    if client.capabilities.programme and isinstance(client, ProgrammeMember):
        # Nothing is read here: the first read starts in the background.
        entry.runtime_data.programme_coordinator = ProgrammeCoordinator(
            hass, entry, client
        )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(async_entry_updated))
    _async_start_background(entry)
    return True


@callback
def _async_start_background(entry: GridFlexConfigEntry) -> None:
    """Start what works in the background, now that the entities exist."""
    runtime = entry.runtime_data
    for worker in (
        runtime.schedule_coordinator,
        runtime.baseline_coordinator,
        runtime.activation_executor,
        runtime.limit_controller,
        runtime.programme_coordinator,
    ):
        if worker is not None:
            worker.async_start()


async def async_unload_entry(hass: HomeAssistant, entry: GridFlexConfigEntry) -> bool:
    """Stop following the site; keep undelivered meter data on disk."""
    if entry.runtime_data.activation_executor is not None:
        await entry.runtime_data.activation_executor.async_stop()
    if entry.runtime_data.limit_controller is not None:
        await entry.runtime_data.limit_controller.async_stop()
    if entry.runtime_data.event_coordinator is not None:
        await entry.runtime_data.event_coordinator.async_stop()
    if entry.runtime_data.meter is not None:
        await entry.runtime_data.meter.async_stop()
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: GridFlexConfigEntry) -> None:
    """Forget the site's repair issues and webhooks; the site stays on the platform.

    Its resources stay too, without the webhook GridFlex set on them (when
    the platform answers within a few seconds).
    """
    async_delete_site_issues(hass, entry.entry_id)
    await async_remove_push(hass, entry)
    await async_remove_store(hass, entry.entry_id)
    await async_remove_limit_store(hass, entry.entry_id)
