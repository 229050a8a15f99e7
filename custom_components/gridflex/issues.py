"""Repair issues for what the homeowner must do on the platform's side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir, translation
from homeassistant.util import dt as dt_util, slugify

from .const import (
    CONF_RESOURCE_ID,
    DOMAIN,
    ISSUE_CONTRACT_PREFIX,
    ISSUE_MARKET_PREFIX,
    ISSUE_NO_PRICE_SOURCE,
    ISSUE_ORPHAN_PREFIX,
    ISSUE_PRICE_SENSOR,
    ISSUE_PRICE_UNIT,
    ISSUE_SUSPENDED_PREFIX,
    ISSUE_UNMAPPED_PREFIX,
    RESOURCE_TYPE_NAMES,
    SUBENTRY_RESOURCE,
)
from .platforms.models import (
    GridEvent,
    MarketStatus,
    Resource,
    ResourceStatus,
    Site,
    UpstreamStatus,
)

if TYPE_CHECKING:
    from datetime import datetime

    from .coordinator import GridFlexConfigEntry

ISSUE_REPORT_PREFIX = "report_incomplete"

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
    async_replace_issues(hass, contract_issue_id(entry.entry_id), wanted)
    async_replace_issues(hass, f"{ISSUE_MARKET_PREFIX}_{entry.entry_id}_", wanted)


@callback
def async_delete_site_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Delete every issue of the entry (it is being removed)."""
    registry = ir.async_get(hass)
    prefixes = (
        contract_issue_id(entry_id),
        f"{ISSUE_MARKET_PREFIX}_{entry_id}_",
        f"{ISSUE_ORPHAN_PREFIX}_{entry_id}_",
        f"{ISSUE_SUSPENDED_PREFIX}_{entry_id}_",
        f"{ISSUE_UNMAPPED_PREFIX}_{entry_id}_",
        f"webhook_unreachable_{entry_id}",
        f"webhook_unhealthy_{entry_id}",
        f"outbox_overflow_{entry_id}",
        f"{ISSUE_REPORT_PREFIX}_{entry_id}_",
        eligibility_issue_id(entry_id),
        f"compensation_{entry_id}_",
        f"limit_meter_stale_{entry_id}",
        *(
            f"{prefix}_{entry_id}"
            for prefix in (ISSUE_PRICE_UNIT, ISSUE_PRICE_SENSOR, ISSUE_NO_PRICE_SOURCE)
        ),
    )
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.startswith(prefixes):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


def orphan_issue_id(entry_id: str, resource_id: str) -> str:
    """Return the id of the issue about a resource no subentry knows."""
    return f"{ISSUE_ORPHAN_PREFIX}_{entry_id}_{resource_id}"


def suspended_issue_id(entry_id: str, subentry_id: str) -> str:
    """Return the id of the issue about a suspended resource."""
    return f"{ISSUE_SUSPENDED_PREFIX}_{entry_id}_{subentry_id}"


@callback
def async_replace_issues(hass: HomeAssistant, prefix: str, wanted: set[str]) -> None:
    """Delete the issues starting with ``prefix`` that are not wanted."""
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and issue_id.startswith(prefix) and issue_id not in wanted:
            ir.async_delete_issue(hass, DOMAIN, issue_id)


@callback
def resource_type_name(hass: HomeAssistant, resource_type: str | None) -> str:
    """Return a resource type's name in Home Assistant's language.

    For the places that take a plain string, not a translation key (a
    device's model, a repair's placeholders): the ``resource_type`` selector's
    option in the server's language when its translations are loaded (they
    are, once GridFlex is set up), else English. A type GridFlex does not know
    is returned as the platform gave it.
    """
    if not resource_type:
        resource_type = "other"
    key = f"component.{DOMAIN}.selector.resource_type.options.{resource_type}"
    translated = translation.async_get_cached_translations(
        hass, hass.config.language, "selector", DOMAIN
    ).get(key)
    return translated or RESOURCE_TYPE_NAMES.get(resource_type, resource_type)


def orphan_placeholders(
    hass: HomeAssistant, entry: GridFlexConfigEntry, resource: Resource
) -> dict[str, str]:
    """Name an orphan resource as the platform does: its name, type and id."""
    return {
        "site": entry.title,
        "resource": resource.name or resource.resource_id,
        "type": resource_type_name(
            hass, resource.type.value if resource.type else resource.raw_type
        ),
        "resource_id": resource.resource_id,
    }


def can_take_back(resource: Resource) -> bool:
    """Return whether a platform resource can become a resource subentry.

    It needs a type GridFlex knows and both power limits (a ``meter`` or an
    unknown type is left to the platform).
    """
    return (
        resource.type is not None
        and resource.power_minimum_kw is not None
        and resource.power_maximum_kw is not None
    )


@callback
def async_sync_orphan_issues(
    hass: HomeAssistant, entry: GridFlexConfigEntry, orphans: list[Resource]
) -> None:
    """Offer to take back, keep or delete each platform resource no subentry knows."""
    wanted: set[str] = set()
    for resource in orphans:
        issue_id = orphan_issue_id(entry.entry_id, resource.resource_id)
        wanted.add(issue_id)
        placeholders = orphan_placeholders(hass, entry, resource)
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            # The fix flow shows the same names: it is given only this data.
            data={
                "entry_id": entry.entry_id,
                "resource_id": resource.resource_id,
                "name": placeholders["resource"],
                "type": placeholders["type"],
                "adoptable": can_take_back(resource),
            },
            is_fixable=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key="orphan_resource",
            translation_placeholders=placeholders,
        )
    async_replace_issues(hass, f"{ISSUE_ORPHAN_PREFIX}_{entry.entry_id}_", wanted)


@callback
def async_sync_resource_issues(
    hass: HomeAssistant, entry: GridFlexConfigEntry, resources: dict[str, Resource]
) -> None:
    """Raise an issue for each suspended resource; clear it once it recovers."""
    wanted: set[str] = set()
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type != SUBENTRY_RESOURCE:
            continue
        resource = resources.get(subentry.data.get(CONF_RESOURCE_ID, ""))
        if resource is None or resource.status is not ResourceStatus.SUSPENDED:
            continue
        issue_id = suspended_issue_id(entry.entry_id, subentry_id)
        wanted.add(issue_id)
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="resource_suspended",
            translation_placeholders={"site": entry.title, "resource": subentry.title},
        )
    async_replace_issues(hass, f"{ISSUE_SUSPENDED_PREFIX}_{entry.entry_id}_", wanted)


def report_issue_id(entry_id: str, event_id: str) -> str:
    """Return the id of the issue about an event's incomplete energy report."""
    return f"{ISSUE_REPORT_PREFIX}_{entry_id}_{slugify(event_id)}"


def eligibility_issue_id(entry_id: str) -> str:
    """Return the id of the issue saying the site's user is not eligible."""
    return f"not_eligible_{entry_id}"


def webhook_unhealthy_issue_id(entry_id: str) -> str:
    """Return the id of the issue saying the platform marks the webhook unhealthy."""
    return f"webhook_unhealthy_{entry_id}"


def _hours_text(hours: list[datetime]) -> str:
    """The hours as the homeowner reads them (local time), shortened when many."""
    shown = [f"{dt_util.as_local(hour):%Y-%m-%d %H:%M}" for hour in hours[:6]]
    if len(hours) > len(shown):
        shown.append(f"… (+{len(hours) - len(shown)})")
    return ", ".join(shown)


@callback
def async_raise_report_issue(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    event: GridEvent,
    missing: list[datetime],
) -> None:
    """Ask the homeowner what to do with a report whose hours have no statistics."""
    assert event.start is not None
    ir.async_create_issue(
        hass,
        DOMAIN,
        report_issue_id(entry.entry_id, event.event_id),
        data={
            "entry_id": entry.entry_id,
            "event_id": event.event_id,
            "kind": ISSUE_REPORT_PREFIX,
        },
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="report_incomplete",
        translation_placeholders={
            "site": entry.title,
            "event_id": event.event_id,
            "start": f"{dt_util.as_local(event.start):%Y-%m-%d %H:%M}",
            "hours": _hours_text(missing),
            "count": str(len(missing)),
        },
    )


@callback
def async_clear_report_issue(
    hass: HomeAssistant, entry: GridFlexConfigEntry, event_id: str
) -> None:
    """Delete the incomplete-report issue of an event (reported or given up)."""
    ir.async_delete_issue(hass, DOMAIN, report_issue_id(entry.entry_id, event_id))


@callback
def _async_warn_while(
    hass: HomeAssistant,
    issue_id: str,
    *,
    active: bool,
    translation_key: str,
    placeholders: dict[str, str],
) -> None:
    """Keep a non-fixable warning issue while ``active``; delete it otherwise."""
    if not active:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=translation_key,
        translation_placeholders=placeholders,
    )


@callback
def async_sync_eligibility_issue(
    hass: HomeAssistant,
    entry: GridFlexConfigEntry,
    *,
    eligible: bool,
    meter_points: list[str] | None = None,
) -> None:
    """Raise the issue while the site is not eligible; clear it once it is.

    ``eligible`` is the user's eligibility (a ``UserEligibility`` event, or
    the platform's answer); ``meter_points`` are the site's meter points the
    platform says are not eligible (known only from a read of eligibility).
    """
    if not eligible:
        key, placeholders = "not_eligible", {"site": entry.title}
    else:
        key = "meter_point_not_eligible"
        placeholders = {
            "site": entry.title,
            "meter_points": ", ".join(meter_points or ()),
        }
    _async_warn_while(
        hass,
        eligibility_issue_id(entry.entry_id),
        active=not eligible or bool(meter_points),
        translation_key=key,
        placeholders=placeholders,
    )


@callback
def async_sync_webhook_health_issue(
    hass: HomeAssistant, entry: GridFlexConfigEntry, *, healthy: bool, status: str
) -> None:
    """Raise the issue while the platform marks the webhook unhealthy."""
    _async_warn_while(
        hass,
        webhook_unhealthy_issue_id(entry.entry_id),
        active=not healthy,
        translation_key="webhook_unhealthy",
        placeholders={"site": entry.title, "status": status},
    )


@callback
def async_sync_no_price_issue(
    hass: HomeAssistant, entry: GridFlexConfigEntry, *, missing: bool
) -> None:
    """Keep the repair saying which price source to set while schedules need one."""
    _async_warn_while(
        hass,
        f"{ISSUE_NO_PRICE_SOURCE}_{entry.entry_id}",
        active=missing,
        translation_key="no_price_source",
        placeholders={"site": entry.title},
    )
