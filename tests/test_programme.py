"""The site's programme on Energy Coordination: compensation, eligibility, enrollment.

Inside Home Assistant against the sandbox over real HTTP; the sandbox's
control endpoints change what the platform answers, as the programme would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.gridflex.const import DOMAIN

from .conftest import GSRN_NO, SITE_INPUT, Sandbox, credentials, setup_site, start_flow

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
EC = "energy-coordination"
COMPENSATION = "sensor.home_compensation"
BLOCKED = "sensor.home_blocked_compensation"
ELIGIBLE = "binary_sensor.home_eligible"
ENROLLED = "binary_sensor.home_enrolled"


@pytest.fixture(autouse=True)
def morning(freezer: FrozenDateTimeFactory) -> None:
    """Start on a weekday morning at 10:00 UTC."""
    freezer.move_to(T0)


async def _advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def _refresh(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Ask for a fresh read, as a dashboard's refresh button does.

    Requests within 10 s of the last read wait for its cool-down: the time
    moves past it first.
    """
    await _advance(hass, freezer, timedelta(seconds=11))
    await hass.services.async_call(
        "homeassistant",
        "update_entity",
        {"entity_id": ELIGIBLE},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)


def _user(entry: ConfigEntry) -> str:
    return str(entry.data["site_id"].split("/", 1)[0])


def _location(entry: ConfigEntry) -> str:
    return str(entry.data["site_id"].split("/", 1)[1])


async def _enrollment(sandbox: Sandbox, entry: ConfigEntry) -> Any:
    """Return the user's enrollment as the platform holds it (with its history)."""
    return await sandbox.control("GET", f"{EC}/users/{_user(entry)}/enrollment")


async def _set_user_eligible(
    sandbox: Sandbox, entry: ConfigEntry, eligible: bool, *, publish: bool = False
) -> None:
    """Change the user's eligibility on the platform (and announce it, if asked)."""
    await sandbox.control(
        "PUT",
        f"{EC}/users/{_user(entry)}/eligibility",
        {"isEligible": eligible, "publish": publish},
    )


async def _site(hass: HomeAssistant, sandbox: Sandbox, **kwargs: Any) -> ConfigEntry:
    assert await async_setup_component(hass, "homeassistant", {})
    entry = await setup_site(hass, sandbox, "energy_coordination", **kwargs)
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def test_compensation_sensors_show_the_platform_amounts(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """Active and blocked amounts in the platform's currency, with the period."""
    entry = await _site(hass, sandbox)
    state = hass.states.get(COMPENSATION)
    assert state is not None
    assert float(state.state) == 0
    assert state.attributes["unit_of_measurement"] == "NOK"
    assert state.attributes["device_class"] == "monetary"
    assert state.attributes["state_class"] == "total"
    assert state.attributes["period_start"] == "2026-11-01"
    assert state.attributes["period_end"] == "2026-11-30"
    assert state.attributes["problems"] == []

    await sandbox.control(
        "PUT",
        f"{EC}/locations/{_location(entry)}/compensation",
        {"activeAmount": 42.5, "blockedAmount": 7.25, "currency": "EUR"},
    )
    # Not before the next read (every 6 hours) ...
    await _advance(hass, freezer, timedelta(hours=5))
    assert float(hass.states.get(COMPENSATION).state) == 0
    await _advance(hass, freezer, timedelta(hours=1, seconds=1))
    state = hass.states.get(COMPENSATION)
    assert float(state.state) == 42.5
    assert state.attributes["unit_of_measurement"] == "EUR"
    assert float(hass.states.get(BLOCKED).state) == 7.25


async def test_compensation_problem_raises_and_clears_a_repair(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """CompensationMpidDoesNotMatchLocation: a repair saying what to do; gone when fixed."""
    entry = await _site(hass, sandbox)
    issue_id = f"compensation_{entry.entry_id}_compensationmpiddoesnotmatchlocation"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    await sandbox.control(
        "PUT",
        f"{EC}/locations/{_location(entry)}/compensation",
        {"meterPointIds": ["707057500000000017"]},
    )
    await _refresh(hass, freezer)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "compensation_meter_point_mismatch"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["site"] == "Home"
    assert issue.translation_placeholders["message"] not in ("", "-")
    assert hass.states.get(COMPENSATION).attributes["problems"] == [
        "CompensationMpidDoesNotMatchLocation"
    ]

    await sandbox.control(
        "PUT",
        f"{EC}/locations/{_location(entry)}/compensation",
        {"meterPointIds": None},
    )
    await _refresh(hass, freezer)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(COMPENSATION).attributes["problems"] == []


async def test_not_eligible_turns_the_sensor_off_with_a_repair(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A user who is not eligible: Eligible off and the not_eligible repair."""
    entry = await _site(hass, sandbox)
    issue_id = f"not_eligible_{entry.entry_id}"
    assert hass.states.get(ELIGIBLE).state == STATE_ON
    assert hass.states.get(ELIGIBLE).attributes["meter_points"] == {GSRN_NO: True}

    await _set_user_eligible(sandbox, entry, False)
    await _refresh(hass, freezer)
    state = hass.states.get(ELIGIBLE)
    assert state.state == STATE_OFF
    assert state.attributes["user_eligible"] is False
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "not_eligible"

    # The user is eligible again, but the meter point is not.
    await _set_user_eligible(sandbox, entry, True)
    await sandbox.control(
        "PUT", f"{EC}/meters/{GSRN_NO}/eligibility", {"isEligible": False}
    )
    await _refresh(hass, freezer)
    assert hass.states.get(ELIGIBLE).state == STATE_OFF
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "meter_point_not_eligible"
    assert issue.translation_placeholders == {"site": "Home", "meter_points": GSRN_NO}

    await sandbox.control(
        "PUT", f"{EC}/meters/{GSRN_NO}/eligibility", {"isEligible": True}
    )
    await _refresh(hass, freezer)
    assert hass.states.get(ELIGIBLE).state == STATE_ON
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_user_eligibility_event_refreshes_eligibility(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A UserEligibility event naming the user is read at once, not at the next poll."""
    entry = await _site(hass, sandbox)
    assert hass.states.get(ELIGIBLE).state == STATE_ON
    await _set_user_eligible(sandbox, entry, False, publish=True)
    # The event poll (minutes) finds the event; the programme's own poll is
    # hours away.
    await _advance(hass, freezer, timedelta(minutes=5))
    await _advance(hass, freezer, timedelta(seconds=15))
    assert hass.states.get(ELIGIBLE).state == STATE_OFF
    assert issue_registry.async_get_issue(DOMAIN, f"not_eligible_{entry.entry_id}")

    await _set_user_eligible(sandbox, entry, True, publish=True)
    await _advance(hass, freezer, timedelta(minutes=5))
    await _advance(hass, freezer, timedelta(seconds=15))
    assert hass.states.get(ELIGIBLE).state == STATE_ON
    assert not issue_registry.async_get_issue(DOMAIN, f"not_eligible_{entry.entry_id}")


async def test_enroll_and_unenroll_actions(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The actions change the platform's enrollment; unenrolling needs confirmation."""
    entry = await _site(hass, sandbox)
    assert hass.states.get(ENROLLED).state == STATE_OFF
    answer = await hass.services.async_call(
        DOMAIN,
        "enroll",
        {"config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert answer is not None
    assert answer["enrolled"] is True
    assert answer["enrolled_at"]
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is True
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(ENROLLED)
    assert state.state == STATE_ON
    assert state.attributes["enrolled_at"]

    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN, "unenroll", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert refused.value.translation_key == "unenroll_not_confirmed"
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is True

    await hass.services.async_call(
        DOMAIN,
        "unenroll",
        {"config_entry_id": entry.entry_id, "confirm": True},
        blocking=True,
    )
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is False
    assert [step["action"] for step in platform["history"]] == [
        "enrolled",
        "unenrolled",
    ]
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(ENROLLED).state == STATE_OFF


async def test_enroll_refused_when_not_eligible(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The platform refuses to enroll a user who is not eligible: a clear error."""
    entry = await _site(hass, sandbox)
    await _set_user_eligible(sandbox, entry, False)
    with pytest.raises(Exception) as refused:
        await hass.services.async_call(
            DOMAIN, "enroll", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert getattr(refused.value, "translation_key", None) == "enroll_refused"
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is False


async def test_actions_need_a_programme(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """A FlexMeasures site has no programme: the actions say so."""
    entry = await setup_site(hass, sandbox, "flexmeasures")
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN, "enroll", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert refused.value.translation_key == "no_programme"
    assert hass.states.get(COMPENSATION) is None


async def test_config_flow_offers_enrollment(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The flow's last step enrolls only when the homeowner ticks it."""
    entry = await _site(hass, sandbox, enroll=True)
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is True
    assert hass.states.get(ENROLLED).state == STATE_ON


async def test_config_flow_enrolls_nothing_by_itself(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Declining the offer leaves the user unenrolled."""
    entry = await _site(hass, sandbox, enroll=False)
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is False
    assert hass.states.get(ENROLLED).state == STATE_OFF
    assert hass.states.get(COMPENSATION).state != STATE_UNKNOWN


async def test_config_flow_when_not_eligible(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A site that is not eligible is told so, and created without enrolling."""
    await sandbox.control("PUT", f"{EC}/programme/defaults", {"usersEligible": False})
    entry = await _site(hass, sandbox)
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is False
    assert hass.states.get(ELIGIBLE).state == STATE_OFF


async def test_config_flow_shows_the_refusal(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The platform refuses the enrollment: the step says why; declining still works."""
    result = await start_flow(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("energy_coordination")
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SITE_INPUT["energy_coordination"]
    )
    assert result["step_id"] == "enroll"
    # Between the offer and the answer the user stops being eligible.
    user = result["description_placeholders"]["site"]
    assert user == "Home"
    await sandbox.control("PUT", f"{EC}/programme/defaults", {"usersEligible": False})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"enroll": True}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "enroll_rejected"}
    assert result["description_placeholders"]["detail"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"enroll": False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_missing_meter_point_repair(
    hass: HomeAssistant,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The location lost its meter point on the platform: a repair until it is back."""
    entry = await _site(hass, sandbox)
    issue_id = f"compensation_{entry.entry_id}_missingmpidonlocation"
    location = sandbox.server.state.energy_coordination.locations[_location(entry)]
    kept = location["meterPointIds"]
    # Changed on the platform's side (e.g. in its portal), not by GridFlex.
    location["meterPointIds"] = []
    await _refresh(hass, freezer)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "compensation_missing_meter_point"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["meter_points"] == "-"

    location["meterPointIds"] = kept
    await _refresh(hass, freezer)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def _to_enroll_step(hass: HomeAssistant, sandbox: Sandbox) -> dict[str, Any]:
    result = await start_flow(hass, sandbox, "energy_coordination")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials("energy_coordination")
    )
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], SITE_INPUT["energy_coordination"]
        )
    )


async def test_config_flow_offers_enrollment_when_the_standing_is_unknown(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """The platform does not answer the programme read: enrollment is offered anyway."""
    await sandbox.fault(
        "/energy-coordination/v1/users/*/enrollment", "status", status=503, times=1
    )
    result = await _to_enroll_step(hass, sandbox)
    assert result["step_id"] == "enroll"
    # The enrollment itself meets an outage: said so, nothing lost.
    await sandbox.fault(
        "/energy-coordination/v1/users/*/enrollment", "status", status=503, times=1
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"enroll": True}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"enroll": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is True
    assert len(platform["history"]) == 1


async def test_config_flow_skips_the_offer_for_an_enrolled_site(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A site set up again whose user is enrolled already is not asked again."""
    entry = await _site(hass, sandbox, enroll=True)
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await _to_enroll_step(hass, sandbox)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unenroll_meets_an_outage(hass: HomeAssistant, sandbox: Sandbox) -> None:
    """The platform cannot be reached: a translated error, the user still enrolled."""
    entry = await _site(hass, sandbox, enroll=True)
    await sandbox.fault(
        "/energy-coordination/v1/users/*/enrollment", "status", status=503
    )
    with pytest.raises(HomeAssistantError) as failed:
        await hass.services.async_call(
            DOMAIN,
            "unenroll",
            {"config_entry_id": entry.entry_id, "confirm": True},
            blocking=True,
        )
    assert failed.value.translation_key == "platform_refused"
    await sandbox.clear_faults()
    platform = await _enrollment(sandbox, entry)
    assert platform["isEnrolled"] is True
