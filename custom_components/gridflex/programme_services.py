"""Actions of the site's programme: enroll and unenroll.

Unenrolling ends the payments of the platform's programme, so the action
runs only with ``confirm: true`` in its data; without it nothing is sent.
Both answer (when asked) with the enrollment as the platform gives it.
"""

from __future__ import annotations

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio as vol

from .const import DOMAIN
from .coordinator import GridFlexConfigEntry
from .platforms.errors import GridFlexError, GridFlexRequestRejectedError
from .platforms.models import Enrollment
from .programme import ProgrammeCoordinator
from .service_entry import loaded_entry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_CONFIRM = "confirm"

ENROLL_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})
UNENROLL_SCHEMA = ENROLL_SCHEMA.extend(
    {vol.Optional(ATTR_CONFIRM, default=False): cv.boolean}
)


def _programme(call: ServiceCall) -> tuple[GridFlexConfigEntry, ProgrammeCoordinator]:
    """Return the call's loaded entry and its programme."""
    entry = loaded_entry(call)
    if (programme := entry.runtime_data.programme_coordinator) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_programme",
            translation_placeholders={"site": entry.title},
        )
    return entry, programme


def _response(enrollment: Enrollment) -> ServiceResponse:
    return {
        "enrolled": enrollment.enrolled,
        "enrolled_at": (
            None
            if enrollment.enrolled_at is None
            else enrollment.enrolled_at.isoformat()
        ),
    }


async def _async_set(call: ServiceCall, *, enroll: bool) -> ServiceResponse:
    entry, programme = _programme(call)
    try:
        enrollment = await programme.async_set_enrollment(enroll)
    except GridFlexRequestRejectedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="enroll_refused" if enroll else "unenroll_refused",
            translation_placeholders={"site": entry.title, "error": err.detail},
        ) from err
    except GridFlexError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="platform_refused",
            translation_placeholders={"error": str(err) or type(err).__name__},
        ) from err
    return _response(enrollment)


async def _enroll(call: ServiceCall) -> ServiceResponse:
    """Enroll the site's user in the platform's programme."""
    return await _async_set(call, enroll=True)


async def _unenroll(call: ServiceCall) -> ServiceResponse:
    """End the enrollment, only when the call confirms it."""
    if not call.data[ATTR_CONFIRM]:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="unenroll_not_confirmed"
        )
    return await _async_set(call, enroll=False)


@callback
def async_setup_programme_services(hass: HomeAssistant) -> None:
    """Register the enroll and unenroll actions."""
    hass.services.async_register(
        DOMAIN,
        "enroll",
        _enroll,
        ENROLL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        "unenroll",
        _unenroll,
        UNENROLL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
