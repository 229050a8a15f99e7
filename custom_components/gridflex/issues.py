"""Repair issues for what the homeowner must do on the platform's side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import slugify

from .const import DOMAIN, ISSUE_CONTRACT_PREFIX, ISSUE_MARKET_PREFIX
from .platforms.models import MarketStatus, Site, UpstreamStatus

if TYPE_CHECKING:
    from .coordinator import GridFlexConfigEntry

# Upstream statuses where flexibility cannot start until the homeowner acts
# (sign the supplier's contract, get one, or renew it).
ACTIONABLE_UPSTREAM_STATUSES = frozenset(
    {
        UpstreamStatus.CONTRACT_NEEDS_AGREEMENT,
        UpstreamStatus.NO_CONTRACT,
        UpstreamStatus.CONTRACT_INACTIVE,
    }
)


def contract_issue_id(entry_id: str) -> str:
    """Return the id of the entry's contract issue."""
    return f"{ISSUE_CONTRACT_PREFIX}_{entry_id}"


def market_issue_id(entry_id: str, market: str) -> str:
    """Return the id of the entry's consent issue for one market."""
    return f"{ISSUE_MARKET_PREFIX}_{entry_id}_{slugify(market)}"


@callback
def async_sync_site_issues(
    hass: HomeAssistant, entry: GridFlexConfigEntry, site: Site
) -> None:
    """Create the issues the site needs now and delete the resolved ones."""
    wanted: set[str] = set()
    if site.upstream_status in ACTIONABLE_UPSTREAM_STATUSES:
        issue_id = contract_issue_id(entry.entry_id)
        wanted.add(issue_id)
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=str(site.upstream_status),
            translation_placeholders={"site": entry.title},
        )
    for market in site.markets:
        if market.status is not MarketStatus.ACTION_REQUIRED:
            continue
        issue_id = market_issue_id(entry.entry_id, market.name)
        wanted.add(issue_id)
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            learn_more_url=market.action_url,
            severity=ir.IssueSeverity.WARNING,
            translation_key="market_consent_required",
            translation_placeholders={
                "site": entry.title,
                "market": market.name,
                "url": market.action_url or "",
            },
        )
    async_delete_site_issues(hass, entry.entry_id, keep=wanted)


@callback
def async_delete_site_issues(
    hass: HomeAssistant, entry_id: str, keep: set[str] | None = None
) -> None:
    """Delete the entry's site issues except those in ``keep``."""
    registry = ir.async_get(hass)
    prefixes = (
        contract_issue_id(entry_id),
        f"{ISSUE_MARKET_PREFIX}_{entry_id}_",
    )
    for domain, issue_id in list(registry.issues):
        if domain != DOMAIN or (keep and issue_id in keep):
            continue
        if issue_id.startswith(prefixes):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
