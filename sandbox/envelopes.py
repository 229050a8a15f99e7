"""Error bodies in each platform's own shape, and which platform a path belongs to.

Every error the sandbox sends (validation failures, missing auth, injected
faults, unknown routes) goes through these builders, so each platform's
envelope lives in exactly one place:

- Powernaut Connect: ``{"message": str | list[str], "error": <reason phrase>,
  "status_code": <int>}`` for every 4xx and 5xx.
- Energy Coordination: a bare JSON string for 400 (and for injected 429/5xx),
  no body at all for 401, 404 and 409; the webhook, event and simulation
  schema checks answer 400 ``application/problem+json``
  (``HttpValidationProblemDetails {type, title, status, errors}``).
- FlexMeasures: ``{"result": "Rejected", "status": <CODE>, "message": str}``
  for business errors, ``{"message": {...}, "result": "Rejected",
  "status": "UNPROCESSABLE_ENTITY"}`` for 422, and ``{"message": str,
  "status": <int>}`` from its generic HTTP error handler (404, 5xx).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

POWERNAUT = "powernaut"
ENERGY_COORDINATION = "energy_coordination"
FLEXMEASURES = "flexmeasures"
PLATFORMS: tuple[str, ...] = (POWERNAUT, ENERGY_COORDINATION, FLEXMEASURES)

CONTROL_PREFIX = "/_sandbox"
POWERNAUT_PREFIX = "/v1"
ENERGY_COORDINATION_PREFIX = "/energy-coordination/v1"
ENERGY_COORDINATION_TOKEN_PATH = "/connect/token"
FLEXMEASURES_PREFIX = "/api"

FLEXMEASURES_VERSION = "1.0.1"
FLEXMEASURES_API_VERSION = "v3_0"
FLEXMEASURES_UNAUTHENTICATED = (
    "You could not be properly authenticated for this content or functionality."
)
FLEXMEASURES_FORBIDDEN = "You cannot be authorized for this content or functionality."


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def is_control_path(path: str) -> bool:
    """Return whether the path is one of the sandbox's own control routes."""
    return _under(path, CONTROL_PREFIX)


def platform_for_path(path: str) -> str | None:
    """Return the platform key whose contract the path belongs to, if any."""
    if _under(path, POWERNAUT_PREFIX):
        return POWERNAUT
    if _under(path, "/energy-coordination") or path == ENERGY_COORDINATION_TOKEN_PATH:
        return ENERGY_COORDINATION
    if _under(path, FLEXMEASURES_PREFIX):
        return FLEXMEASURES
    return None


def reason_phrase(status: int) -> str:
    """Return the HTTP reason phrase for a status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def powernaut_error(
    status: int, message: str | list[str], headers: dict[str, str] | None = None
) -> web.Response:
    """Build Powernaut's error envelope."""
    return web.json_response(
        {"message": message, "error": reason_phrase(status), "status_code": status},
        status=status,
        headers=headers,
    )


def energy_coordination_error(
    status: int, message: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """Build an Energy Coordination error: a JSON string, or no body when ``message`` is None."""
    if message is None:
        return web.Response(status=status, headers=headers)
    return web.json_response(message, status=status, headers=headers)


#: ASP.NET Core's ``type`` and ``title`` for a validation problem.
PROBLEM_TYPE_400 = "https://tools.ietf.org/html/rfc9110#section-15.5.1"
PROBLEM_TITLE = "One or more validation errors occurred."


def energy_coordination_problem(
    errors: dict[str, list[str]], status: int = 400
) -> web.Response:
    """Build an Energy Coordination ``HttpValidationProblemDetails`` (problem+json)."""
    return web.json_response(
        {
            "type": PROBLEM_TYPE_400,
            "title": PROBLEM_TITLE,
            "status": status,
            "errors": errors,
        },
        status=status,
        content_type="application/problem+json",
    )


def flexmeasures_rejected(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Build FlexMeasures' ``{"result": "Rejected", "status": CODE, "message"}`` envelope."""
    return web.json_response(
        {"result": "Rejected", "status": code, "message": message},
        status=status,
        headers=headers,
    )


def flexmeasures_unprocessable(message: dict[str, Any]) -> web.Response:
    """Build FlexMeasures' 422 envelope (webargs/marshmallow messages)."""
    return web.json_response(
        {"message": message, "result": "Rejected", "status": "UNPROCESSABLE_ENTITY"},
        status=422,
    )


def flexmeasures_http_error(status: int, message: str) -> web.Response:
    """Build the body FlexMeasures' generic HTTP error handler sends (404, 5xx)."""
    return web.json_response({"message": message, "status": status}, status=status)


def flexmeasures_unauthenticated() -> web.Response:
    """Build FlexMeasures' 401 body."""
    return web.json_response(
        {"message": FLEXMEASURES_UNAUTHENTICATED, "status": "UNAUTHORIZED"}, status=401
    )


def platform_error(
    platform: str | None,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Build a generic error (unknown route, injected fault) in the platform's envelope."""
    if platform == POWERNAUT:
        return powernaut_error(status, message, headers)
    if platform == ENERGY_COORDINATION:
        if status in (401, 404, 405, 409):
            return energy_coordination_error(status, None, headers)
        return energy_coordination_error(status, message, headers)
    if platform == FLEXMEASURES:
        if status == 429:
            return flexmeasures_rejected(status, "TOO_MANY_REQUESTS", message, headers)
        response = flexmeasures_http_error(status, message)
        if headers:
            response.headers.update(headers)
        return response
    return web.json_response({"error": message}, status=status, headers=headers)
