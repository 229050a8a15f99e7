"""Setup, polling and recovery of a GridFlex entry against the sandbox."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.platforms.errors import GridFlexRequestRejectedError

from .conftest import PLATFORMS, Sandbox, setup_site

STATUS = "sensor.home_site_status"
REACHABLE = "binary_sensor.home_platform_reachable"
LAST_SYNC = "sensor.home_last_successful_sync"
POLL = timedelta(seconds=300)
LIMIT_ENTITIES = {"limit_control", "headroom", "curtailed_loads", "limit_exceeded"}
"""The "keep under limit" controller's, on every platform."""


async def _poll(hass: HomeAssistant) -> None:
    """Let the site coordinator's next poll happen (longest interval: 15 min)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=15))
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_setup_and_unload(
    hass: HomeAssistant,
    sandbox: Sandbox,
    entity_registry: er.EntityRegistry,
    platform: str,
) -> None:
    """The entry loads, creates the entities the platform has data for, unloads."""
    entry = await setup_site(hass, sandbox, platform)
    assert entry.state is ConfigEntryState.LOADED
    entities = {
        e.translation_key
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    }
    if platform == "powernaut":
        assert (
            entities
            == {
                "site_status",
                "upstream_status",
                "last_sync",
                "platform_reachable",
                "grid_event",
                "activation_setpoint",
                "activation_active",
                "open_bids",
                "accepted_bids_today",
                "bid_energy_delivered",
                "bid_earnings",
            }
            | LIMIT_ENTITIES
        )
    elif platform == "energy_coordination":
        # No site statuses, no meter data on this platform: no such entities;
        # it sends grid events instead.
        assert (
            entities
            == {
                "last_sync",
                "platform_reachable",
                "grid_event",
                "grid_events",
                "lpc_active",
                "power_limit",
                "next_grid_event",
                "limit_usage",
                # The programme's standing and the money it pays.
                "compensation",
                "blocked_compensation",
                "eligible",
                "enrolled",
                # Price curves and the energy of LPC windows.
                "price_signal",
                "lpc_window_import",
                "energy_above_limit",
            }
            | LIMIT_ENTITIES
        )
    else:
        # FlexMeasures takes interval data: its delivery figures are shown.
        assert (
            entities
            == {
                "last_sync",
                "platform_reachable",
                "last_measurement_sent",
                "measurements_queued",
                "measurements_dropped",
                "measurements_skipped",
            }
            | LIMIT_ENTITIES
        )
    assert hass.states.get(REACHABLE).state == STATE_ON

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("status", {"status": 500}),
        ("status", {"status": 503}),
        ("delay", {"seconds": 1.0}),
        ("rate_limit", {"retry_after": 30}),
        ("malformed", {}),
    ],
)
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_faults_during_polling(
    hass: HomeAssistant,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    platform: str,
    kind: str,
    extra: dict,
) -> None:
    """A failing platform makes entities unavailable; they recover afterwards."""
    entry = await setup_site(hass, sandbox, platform)

    await sandbox.fault("*", kind, **extra)
    await _poll(hass)
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(LAST_SYNC).state == STATE_UNAVAILABLE
    # Off only when the platform cannot be reached; a 429 or a body that is
    # not JSON is an answer (tests/test_site_status.py covers the messages).
    unreachable = kind in ("status", "delay")
    assert hass.states.get(REACHABLE).state == (STATE_OFF if unreachable else STATE_ON)
    await _poll(hass)
    # Logged once, not per poll.
    assert caplog.text.count("Error fetching gridflex site") == 1

    await sandbox.clear_faults()
    await _poll(hass)
    assert hass.states.get(REACHABLE).state == STATE_ON
    assert hass.states.get(LAST_SYNC).state != STATE_UNAVAILABLE
    assert "recovered" in caplog.text


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_faults_during_setup(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """A platform failing at startup retries setup instead of crashing."""
    entry = await setup_site(hass, sandbox, platform)
    await hass.config_entries.async_unload(entry.entry_id)

    for kind, extra in (
        ("status", {"status": 503}),
        ("malformed", {}),
        ("delay", {"seconds": 1.0}),
        ("rate_limit", {"retry_after": 5}),
    ):
        await sandbox.fault("*", kind, **extra)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.SETUP_RETRY, kind
        await sandbox.clear_faults()
        await hass.config_entries.async_unload(entry.entry_id)

    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_expired_token_renewed_silently(
    hass: HomeAssistant,
    sandbox: Sandbox,
    platform: str,
) -> None:
    """An expired token is renewed on the 401 without anything showing."""
    entry = await setup_site(hass, sandbox, platform)
    await sandbox.control("POST", "tokens/expire", {"platform": platform})
    await _poll(hass)
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(REACHABLE).state == STATE_ON
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    statuses = [r["status"] for r in sandbox.requests(platform)]
    assert 401 in statuses  # the platform did refuse the old token once


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_revoked_credentials_start_reauth(
    hass: HomeAssistant,
    sandbox: Sandbox,
    platform: str,
) -> None:
    """Revoked credentials start the reauth flow."""
    entry = await setup_site(hass, sandbox, platform)
    await sandbox.control("POST", "credentials/revoke", {"platform": platform})
    await _poll(hass)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == entry.entry_id
    # The platform answered (it refused the credentials): reachable.
    assert hass.states.get(REACHABLE).state == STATE_ON


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_revoked_credentials_at_setup(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """Credentials refused at startup fail setup into reauth."""
    entry = await setup_site(hass, sandbox, platform)
    await hass.config_entries.async_unload(entry.entry_id)
    await sandbox.control("POST", "credentials/revoke", {"platform": platform})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]


async def test_site_deleted_on_platform(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A site deleted behind GridFlex's back makes entities unavailable."""
    await setup_site(hass, sandbox, "powernaut")
    sandbox.server.state.powernaut.sites.clear()
    await _poll(hass)
    assert hass.states.get(STATUS).state == STATE_UNAVAILABLE


async def test_rejected_poll(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A poll the platform rejects makes entities unavailable, with its reason."""
    entry = await setup_site(hass, sandbox, "powernaut")
    coordinator = entry.runtime_data.site_coordinator
    with patch(
        "custom_components.gridflex.platforms.powernaut.PowernautClient.get_site",
        side_effect=GridFlexRequestRejectedError(400, "Invalid page size"),
    ):
        await _poll(hass)
    assert hass.states.get(STATUS).state == STATE_UNAVAILABLE
    assert coordinator.last_exception.translation_key == "unexpected_error"
    assert "Invalid page size" in str(coordinator.last_exception)
