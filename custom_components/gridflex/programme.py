"""The site's standing in a platform's programme: compensation, eligibility, enrollment.

Energy Coordination (Volue Spark) pays homes in its programme: the user's
compensation for the current month per location (the active amount is
payable, the blocked amount is held back until its problems are solved),
whether the user and the site's meter points are eligible, and whether the
user is enrolled. GridFlex reads the three together:

- every ``POLL_INTERVAL`` (6 hours: four small requests, so a month's change
  of period or a new amount shows within the day without asking the
  platform more than 16 times a day);
- when a ``UserEligibility`` event names the site's user (pushed or polled);
- after the homeowner enrolls or unenrolls through GridFlex.

The first read starts in the background once the entry is set up, so
setting up never waits on it. Each compensation problem of the site's
location becomes a repair issue (cleared when the platform no longer lists
it); a site that is not eligible (its user or a meter point) gets the
``not_eligible`` repair, cleared once it is eligible again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util, slugify

from .const import CONF_SITE_ID, DOMAIN, LOGGER
from .coordinator import GridFlexConfigEntry, update_error
from .issues import async_replace_issues, async_sync_eligibility_issue
from .platforms.base import ProgrammeMember
from .platforms.errors import GridFlexError
from .platforms.models import (
    Compensation,
    Eligibility,
    Enrollment,
    LocationCompensation,
)

POLL_INTERVAL = timedelta(hours=6)
"""How often compensation, eligibility and enrollment are read."""

ISSUE_COMPENSATION_PREFIX = "compensation"
"""Issue ids: ``compensation_<entry id>_<problem>``."""

PROBLEM_ISSUES: dict[str, str] = {
    "MissingMpidOnLocation": "compensation_missing_meter_point",
    "CompensationMpidDoesNotMatchLocation": "compensation_meter_point_mismatch",
}
"""The repair (translation key) of each problem type the platform documents;
any other type gets ``compensation_problem`` with the platform's message."""


@dataclass(frozen=True, slots=True)
class ProgrammeStatus:
    """What one read of the programme found."""

    compensation: Compensation
    location: LocationCompensation | None
    """The site's own location's compensation (``None``: not listed)."""
    eligibility: Eligibility
    enrollment: Enrollment
    read_at: datetime


def location_id_of(site_id: str) -> str:
    """Return the location of an Energy Coordination site id (``user/location``)."""
    return site_id.partition("/")[2]


class ProgrammeCoordinator(DataUpdateCoordinator[ProgrammeStatus | None]):
    """Read the site's compensation, eligibility and enrollment.

    ``data`` is ``None`` until the first read (in the background) succeeds.
    """

    config_entry: GridFlexConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        config_entry: GridFlexConfigEntry,
        client: ProgrammeMember,
    ) -> None:
        """Poll every ``POLL_INTERVAL``; the first read starts after setup."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=config_entry,
            name=f"{DOMAIN} programme {config_entry.title}",
            update_interval=POLL_INTERVAL,
        )
        self.client = client

    @property
    def site_id(self) -> str:
        """Return the site's id on the platform."""
        return str(self.config_entry.data[CONF_SITE_ID])

    @callback
    def async_start(self) -> None:
        """Read the programme in the background (setup does not wait for it)."""
        self.config_entry.async_create_background_task(
            self.hass,
            self.async_refresh(),
            f"{DOMAIN} programme {self.config_entry.title}",
        )

    async def _async_update_data(self) -> ProgrammeStatus | None:
        """Read the three figures; sync the repairs they call for."""
        try:
            compensation = await self.client.get_compensation(self.site_id)
            eligibility = await self.client.get_eligibility(self.site_id)
            enrollment = await self.client.get_enrollment(self.site_id)
        except GridFlexError as err:
            raise update_error(err) from err
        location = compensation.for_location(location_id_of(self.site_id))
        self._sync_issues(location, eligibility)
        return ProgrammeStatus(
            compensation=compensation,
            location=location,
            eligibility=eligibility,
            enrollment=enrollment,
            read_at=dt_util.utcnow(),
        )

    @callback
    def _sync_issues(
        self, location: LocationCompensation | None, eligibility: Eligibility
    ) -> None:
        entry = self.config_entry
        prefix = compensation_issue_prefix(entry.entry_id)
        problems = location.problems if location is not None else ()
        wanted = {f"{prefix}{slugify(problem.kind)}": problem for problem in problems}
        async_replace_issues(self.hass, prefix, set(wanted))
        meter_points = (
            ", ".join(location.meter_point_ids)
            if location is not None and location.meter_point_ids
            else "-"
        )
        for issue_id, problem in wanted.items():
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=PROBLEM_ISSUES.get(
                    problem.kind, "compensation_problem"
                ),
                translation_placeholders={
                    "site": entry.title,
                    "message": problem.message or "-",
                    "problem": problem.kind,
                    "meter_points": meter_points,
                },
            )
        async_sync_eligibility_issue(
            self.hass,
            entry,
            eligible=eligibility.user_eligible,
            meter_points=[mpid for mpid, ok in eligibility.meter_points if not ok],
        )

    async def async_set_enrollment(self, enroll: bool) -> Enrollment:
        """Enroll or unenroll the site's user, then read the programme again."""
        if enroll:
            enrollment = await self.client.enroll(self.site_id)
        else:
            enrollment = await self.client.unenroll(self.site_id)
        if self.data is not None:
            self.async_set_updated_data(
                ProgrammeStatus(
                    compensation=self.data.compensation,
                    location=self.data.location,
                    eligibility=self.data.eligibility,
                    enrollment=enrollment,
                    read_at=dt_util.utcnow(),
                )
            )
        await self.async_request_refresh()
        return enrollment


def compensation_issue_prefix(entry_id: str) -> str:
    """Return the prefix of the site's compensation issues."""
    return f"{ISSUE_COMPENSATION_PREFIX}_{entry_id}_"
