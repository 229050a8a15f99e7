"""Small validation helpers shared by the platform modules.

Nothing here knows a platform's envelope: the helpers answer yes/no or collect
messages, and a handler that refuses a request raises ``RequestRejectedError`` with
the platform's own response. The server's middleware records the refusal as a
violation (HTTP 400 and 422 by default) before sending the response.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
import json
import math
import re
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiohttp import web

#: Powernaut's decimal rule as the service applies it (the published pattern is
#: broken, see platform-apis.md §5): up to 15 integer digits, optionally a dot
#: and 1 to 6 decimals.
DECIMAL_PATTERN = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$")
UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
#: A GSRN (Global Service Relation Number) is 18 digits; Norwegian meter point
#: ids (``707057500…``) are GSRNs.
GSRN_PATTERN = re.compile(r"^[0-9]{18}$")
_POSITIVE_INT = re.compile(r"^[0-9]+$")
INT32_MAX = 2**31 - 1


class RequestRejectedError(Exception):
    """A handler refuses the request with a ready platform response.

    ``violation`` says whether the refusal is a contract violation by the
    client (recorded under ``/_sandbox/violations``); by default HTTP 400 and
    422 are, other statuses (401, 403, 404, 409) are not.
    """

    def __init__(
        self, response: web.Response, reason: str, *, violation: bool | None = None
    ) -> None:
        """Keep the response to send and why the request was refused."""
        super().__init__(reason)
        self.response = response
        self.reason = reason
        self.violation = (
            response.status in (400, 422) if violation is None else violation
        )


class BodyError(Exception):
    """The request body is missing, not JSON, or sent with the wrong content type."""


def utc_now_iso() -> str:
    """Return the current time as ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_type(value: Any) -> str:
    """Name the JSON type of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_number(value: Any) -> TypeGuard[int | float]:
    """Return whether the value is a finite JSON number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def is_int(value: Any) -> TypeGuard[int]:
    """Return whether the value is a JSON integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_uuid(value: Any) -> bool:
    """Return whether the value is a uuid in canonical 8-4-4-4-12 form."""
    return isinstance(value, str) and UUID_PATTERN.match(value) is not None


def is_decimal_string(value: Any) -> bool:
    """Return whether the value is a string following Powernaut's decimal rule."""
    return isinstance(value, str) and DECIMAL_PATTERN.match(value) is not None


def decimal_within(value: str, limit: int) -> bool:
    """Return whether a decimal string lies within ``[-limit, limit]``."""
    try:
        return abs(Decimal(value)) <= limit
    except InvalidOperation:
        return False


def is_gsrn(value: Any) -> bool:
    """Return whether the value is an 18-digit GSRN meter point id."""
    return isinstance(value, str) and GSRN_PATTERN.match(value) is not None


def unknown_fields(obj: dict[str, Any], allowed: Iterable[str]) -> list[str]:
    """Return the keys of ``obj`` that are not in ``allowed``, sorted."""
    allowed_set = set(allowed)
    return sorted(key for key in obj if key not in allowed_set)


def parse_positive_int(text: str | None) -> int | None:
    """Parse a query value as an integer >= 1 (within int32); None when it is not one."""
    if text is None or _POSITIVE_INT.match(text) is None:
        return None
    value = int(text)
    if value < 1 or value > INT32_MAX:
        return None
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request) -> Any:
    """Decode the request body as strict JSON sent as ``application/json``."""
    if request.content_type != "application/json":
        raise BodyError(
            f"Content-Type must be application/json, got {request.content_type!r}"
        )
    try:
        text = await request.text()
    except UnicodeDecodeError as err:
        raise BodyError(f"The request body is not valid UTF-8: {err}") from err
    if not text.strip():
        raise BodyError("The request body is empty")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise BodyError(f"The request body is not valid JSON: {err}") from err
