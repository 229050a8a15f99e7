"""Site status entities and repair issues follow the platform."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import (
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.gridflex.const import DOMAIN
from custom_components.gridflex.platforms.errors import GridFlexRequestRejectedError

from .conftest import PLATFORMS, Sandbox, setup_site

STATUS = "sensor.home_site_status"
UPSTREAM = "sensor.home_upstream_status"


async def _poll(hass: HomeAssistant) -> None:
    """Let the site coordinator's next poll happen (longest interval: 15 min)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=15))
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture(autouse=True)
def fixed_time(freezer: FrozenDateTimeFactory) -> None:
    """Make timestamps in snapshots stable."""
    freezer.move_to("2026-11-22T10:00:00+00:00")


@pytest.mark.parametrize("entity_platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_entities(
    hass: HomeAssistant,
    sandbox: Sandbox,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
    platform: str,
    entity_platform: Platform,
) -> None:
    """Every entity of the site, as registered and as its state."""
    freezer.move_to("2026-11-22T10:00:00+00:00")
    with patch("custom_components.gridflex.PLATFORMS", [entity_platform]):
        entry = await setup_site(hass, sandbox, platform)
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_status_follows_platform(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """Status and upstream status follow what the platform says."""
    entry = await setup_site(hass, sandbox, "powernaut")
    site_id = entry.data["site_id"]
    assert hass.states.get(STATUS).state == "no_resources"
    assert hass.states.get(UPSTREAM).state == "no_upstream_registered"

    await sandbox.control(
        "PATCH",
        f"powernaut/sites/{site_id}",
        {"status": "onboarded", "upstream_status": "contract_active"},
    )
    await _poll(hass)
    assert hass.states.get(STATUS).state == "onboarded"
    assert hass.states.get(UPSTREAM).state == "contract_active"

    for upstream in ("pending_steering_readiness", "connected", "disconnected"):
        await sandbox.control(
            "PATCH", f"powernaut/sites/{site_id}", {"upstream_status": upstream}
        )
        await _poll(hass)
        assert hass.states.get(UPSTREAM).state == upstream


async def test_unknown_status_value(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A status value the platform adds later shows as unknown, no crash."""
    entry = await setup_site(hass, sandbox, "powernaut")
    sandbox.server.state.powernaut.sites[entry.data["site_id"]]["status"] = "archived"
    await _poll(hass)
    assert hass.states.get(STATUS).state == STATE_UNKNOWN


@pytest.mark.parametrize(
    "upstream", ["contract_needs_agreement", "no_contract", "contract_inactive"]
)
async def test_contract_issue(
    hass: HomeAssistant,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
    upstream: str,
) -> None:
    """A contract the homeowner must act on raises an issue until resolved."""
    entry = await setup_site(hass, sandbox, "powernaut")
    site_id = entry.data["site_id"]
    issue_id = f"contract_{entry.entry_id}"

    await sandbox.control(
        "PATCH", f"powernaut/sites/{site_id}", {"upstream_status": upstream}
    )
    await _poll(hass)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == upstream
    assert issue.translation_placeholders == {"site": "Home"}

    await sandbox.control(
        "PATCH", f"powernaut/sites/{site_id}", {"upstream_status": "contract_active"}
    )
    await _poll(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_market_consent_issue(
    hass: HomeAssistant,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A market that needs consent raises an issue with its URL, until given."""
    entry = await setup_site(hass, sandbox, "powernaut")
    site_id = entry.data["site_id"]
    url = "https://consent.example/sites/abc"
    await sandbox.control(
        "PUT",
        f"powernaut/sites/{site_id}/markets",
        [
            {"name": "mFRR", "status": "active"},
            {
                "name": "aFRR",
                "status": "action_required",
                "action": {"name": "consent_required", "url": url},
            },
            {"name": "FCR", "status": "ineligible"},
        ],
    )
    await _poll(hass)
    issues = [
        i
        for (domain, issue_id), i in issue_registry.issues.items()
        if domain == DOMAIN and issue_id.startswith("market_consent")
    ]
    assert len(issues) == 1
    assert issues[0].translation_key == "market_consent_required"
    assert issues[0].learn_more_url == url
    assert issues[0].translation_placeholders == {
        "site": "Home",
        "market": "aFRR",
        "url": url,
    }

    await sandbox.control(
        "PUT",
        f"powernaut/sites/{site_id}/markets",
        [{"name": "aFRR", "status": "active"}],
    )
    await _poll(hass)
    assert not [
        i
        for (d, i) in issue_registry.issues
        if d == DOMAIN and i.startswith("market_consent")
    ]


async def test_issues_removed_with_entry(
    hass: HomeAssistant,
    sandbox: Sandbox,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Removing GridFlex removes its open issues."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await sandbox.control(
        "PATCH",
        f"powernaut/sites/{entry.data['site_id']}",
        {"upstream_status": "no_contract"},
    )
    await _poll(hass)
    assert issue_registry.async_get_issue(DOMAIN, f"contract_{entry.entry_id}")
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not [d for (d, _) in issue_registry.issues if d == DOMAIN]


REACHABLE = "binary_sensor.home_platform_reachable"


# A timeout is unreachable too (tests/test_init.py: this module freezes time).
@pytest.mark.parametrize(
    ("kind", "extra", "reachable", "translation_key"),
    [
        ("status", {"status": 503}, False, "cannot_connect"),
        ("rate_limit", {"retry_after": 30}, True, "rate_limited"),
        ("malformed", {}, True, "unexpected_error"),
    ],
)
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_reachable_only_off_when_unreachable(
    hass: HomeAssistant,
    sandbox: Sandbox,
    platform: str,
    kind: str,
    extra: dict[str, Any],
    reachable: bool,
    translation_key: str,
) -> None:
    """Off for no connection, a timeout or a 5xx; on for answers (429, not JSON)."""
    entry = await setup_site(hass, sandbox, platform)
    coordinator = entry.runtime_data.site_coordinator
    await sandbox.fault("*", kind, **extra)
    await _poll(hass)
    expected = STATE_ON if reachable else STATE_OFF
    assert hass.states.get(REACHABLE).state == expected
    assert coordinator.last_exception.translation_key == translation_key
    await sandbox.clear_faults()
    await _poll(hass)
    assert hass.states.get(REACHABLE).state == STATE_ON
    assert coordinator.last_error_kind is None


async def test_reachable_on_rejected_poll(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A 400 is an answer: unexpected, with its status; the platform is reachable."""
    entry = await setup_site(hass, sandbox, "powernaut")
    coordinator = entry.runtime_data.site_coordinator
    with patch(
        "custom_components.gridflex.platforms.powernaut.PowernautClient.get_site",
        side_effect=GridFlexRequestRejectedError(400, "Invalid page size"),
    ):
        await _poll(hass)
    assert hass.states.get(REACHABLE).state == STATE_ON
    assert hass.states.get(STATUS).state == STATE_UNAVAILABLE
    assert coordinator.last_exception.translation_key == "unexpected_error"
    assert "HTTP 400: Invalid page size" in str(coordinator.last_exception)
    assert coordinator.last_error_kind == "unexpected_answer"


async def test_reachable_on_site_not_found(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A 404 for the site says the site is gone, not that the platform is."""
    entry = await setup_site(hass, sandbox, "powernaut")
    sandbox.server.state.powernaut.sites.clear()
    await _poll(hass)
    coordinator = entry.runtime_data.site_coordinator
    assert coordinator.last_exception.translation_key == "site_not_found"
    assert hass.states.get(REACHABLE).state == STATE_ON


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_reachable_on_refused_credentials(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """Refused credentials come from the platform: reauth, but reachable."""
    entry = await setup_site(hass, sandbox, platform)
    await sandbox.control("POST", "credentials/revoke", {"platform": platform})
    await _poll(hass)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert entry.runtime_data.site_coordinator.last_error_kind == "auth"
    assert hass.states.get(REACHABLE).state == STATE_ON
