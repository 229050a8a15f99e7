"""Fix flows: unknown platform resources, and reports with hours lacking statistics."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import CONF_KEPT_RESOURCES, CONF_SITE_ID, DOMAIN
from .coordinator import GridFlexConfigEntry
from .event_coordinator import GridEventCoordinator
from .event_worker import NothingToReportError
from .issues import ISSUE_REPORT_PREFIX, can_take_back, orphan_issue_id, report_issue_id
from .ledger import AlreadyDoneError
from .platforms.errors import GridFlexError, GridFlexNotFoundError
from .resources import async_take_back


class OrphanResourceFlow(RepairsFlow):
    """Take back, keep or delete a platform resource no GridFlex resource stands for."""

    def __init__(
        self,
        entry: GridFlexConfigEntry,
        resource_id: str,
        name: str | None = None,
        resource_type: str | None = None,
        *,
        adoptable: bool = False,
    ) -> None:
        """Remember which resource of which site this is about, and its names."""
        self._entry = entry
        self._resource_id = resource_id
        self._adoptable = adoptable
        # The issue carries the platform's name and type of the resource. Its
        # issues are not persistent (raised again at each start), so only an
        # issue of a running earlier version lacks them: the id stands in.
        self._placeholders = {
            "site": entry.title,
            "resource": name or resource_id,
            "type": resource_type or "?",
            "resource_id": resource_id,
        }

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask whether to take the resource back, keep it or delete it.

        Taking back is offered for a resource GridFlex can stand for (a type
        it knows, and power limits).
        """
        return self.async_show_menu(
            menu_options=["adopt", "keep", "delete"]
            if self._adoptable
            else ["keep", "delete"],
            description_placeholders=self._placeholders,
        )

    async def async_step_adopt(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Make the resource a GridFlex resource of the site again."""
        if user_input is None:
            return self.async_show_form(
                step_id="adopt", description_placeholders=self._placeholders
            )
        if self._entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        client = self._entry.runtime_data.client
        try:
            listed = {
                r.resource_id: r
                for r in await client.list_resources(self._entry.data[CONF_SITE_ID])
            }
        except GridFlexError as err:
            return self.async_abort(
                reason="adopt_failed", description_placeholders={"error": str(err)}
            )
        resource = listed.get(self._resource_id)
        if resource is None:
            return self.async_abort(
                reason="resource_gone", description_placeholders=self._placeholders
            )
        if not can_take_back(resource):
            return self.async_abort(
                reason="cannot_adopt", description_placeholders=self._placeholders
            )
        async_take_back(self.hass, self._entry, [resource], listed)
        return self.async_create_entry(data={})

    async def async_step_keep(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Leave the resource on the platform and stop asking."""
        kept = [*self._entry.data.get(CONF_KEPT_RESOURCES, ()), self._resource_id]
        self.hass.config_entries.async_update_entry(
            self._entry, data={**self._entry.data, CONF_KEPT_RESOURCES: kept}
        )
        return self.async_create_entry(data={})

    async def async_step_delete(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Delete the resource on the platform (permanent)."""
        if user_input is None:
            return self.async_show_form(
                step_id="delete", description_placeholders=self._placeholders
            )
        if self._entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        try:
            await self._entry.runtime_data.client.delete_resource(
                self._entry.data[CONF_SITE_ID], self._resource_id
            )
        except GridFlexNotFoundError:
            pass
        except GridFlexError as err:
            return self.async_abort(
                reason="delete_failed", description_placeholders={"error": str(err)}
            )
        return self.async_create_entry(data={})


class IncompleteReportFlow(RepairsFlow):
    """Send the hours the recorder has, or never report the event."""

    def __init__(self, entry: GridFlexConfigEntry, event_id: str) -> None:
        """Remember which event of which site this is about."""
        self._entry = entry
        self._event_id = event_id

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask whether to send what exists or to give up (the issue's text)."""
        issue = ir.async_get(self.hass).async_get_issue(
            DOMAIN, report_issue_id(self._entry.entry_id, self._event_id)
        )
        placeholders = dict(issue.translation_placeholders or {}) if issue else {}
        placeholders.setdefault("site", self._entry.title)
        placeholders.setdefault("event_id", self._event_id)
        for key in ("start", "hours", "count"):
            placeholders.setdefault(key, "?")
        return self.async_show_menu(
            menu_options=["send_available", "give_up"],
            description_placeholders=placeholders,
        )

    def _events(self) -> GridEventCoordinator | None:
        return self._entry.runtime_data.event_coordinator

    async def async_step_send_available(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Send the report with the hours that have statistics."""
        if self._entry.state is not ConfigEntryState.LOADED or not (
            events := self._events()
        ):
            return self.async_abort(reason="not_loaded")
        try:
            result, _hours = await events.worker.async_report(
                self._event_id, allow_missing=True
            )
        except NothingToReportError:
            return self.async_abort(reason="nothing_to_report")
        except AlreadyDoneError:
            return self.async_create_entry(data={})
        if result.error is not None:
            return self.async_abort(
                reason="report_failed",
                description_placeholders={"error": str(result.error)},
            )
        events.async_update_listeners()
        return self.async_create_entry(data={})

    async def async_step_give_up(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Never report this event."""
        if self._entry.state is not ConfigEntryState.LOADED or not (
            events := self._events()
        ):
            return self.async_abort(reason="not_loaded")
        await events.worker.async_give_up_report(self._event_id)
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """Create the fix flow of a fixable GridFlex issue."""
    assert data is not None
    entry: GridFlexConfigEntry = hass.config_entries.async_get_known_entry(
        str(data["entry_id"])
    )
    if data.get("kind") == ISSUE_REPORT_PREFIX:
        event_id = str(data["event_id"])
        assert issue_id == report_issue_id(entry.entry_id, event_id)
        return IncompleteReportFlow(entry, event_id)
    resource_id = str(data["resource_id"])
    assert issue_id == orphan_issue_id(entry.entry_id, resource_id)
    name, resource_type = data.get("name"), data.get("type")
    return OrphanResourceFlow(
        entry,
        resource_id,
        str(name) if name is not None else None,
        str(resource_type) if resource_type is not None else None,
        adoptable=bool(data.get("adoptable")),
    )
