"""The HTTP plumbing every platform client shares.

``JsonHttp`` sends one JSON request on the injected ``aiohttp.ClientSession``
under a timeout and maps every transport and status failure onto the
``GridFlexError`` tree. ``TokenAuth`` sends requests with a platform token
from a ``TokenKeeper`` (``tokens``), which renews it before it expires, lets
concurrent callers share one token fetch and may be shared by every client
of the same account; a request is retried exactly once after an HTTP 401.

What differs per platform (how a token is fetched, how it goes into the
``Authorization`` header, where the platform puts its error message) is passed
in by the platform's own module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from http import HTTPStatus
import json
import logging
import math
import time
from typing import Final

import aiohttp

from .errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    GridFlexTimeoutError,
)
from .models import Environment
from .tokens import TokenKeeper

_LOGGER = logging.getLogger(__name__)

type Clock = Callable[[], float]
"""Monotonic seconds, ``time.monotonic`` unless a test injects another clock."""

type DetailParser = Callable[[object], str | None]
"""Return the platform's own explanation from a parsed error body, if any."""

_DETAIL_MAX_CHARS: Final = 300


class UnauthorizedError(GridFlexAuthError):
    """The platform answered HTTP 401 to one request.

    ``TokenAuth`` catches it to renew the token once; when it escapes it is
    still a ``GridFlexAuthError``.
    """

    def __init__(self, detail: str) -> None:
        """Keep the platform's explanation."""
        super().__init__(f"HTTP 401: {detail}")
        self.detail = detail


class JsonHttp:
    """Send JSON requests to one platform and map its failures."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        platform_name: str,
        request_timeout: float,
        detail: DetailParser,
    ) -> None:
        """Use ``session``; give every request ``request_timeout`` seconds."""
        self._session = session
        self._platform_name = platform_name
        self._timeout = request_timeout
        self._detail = detail

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: object | None = None,
        form: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - one request's limit, applied with asyncio.timeout
    ) -> object:
        """Send one request and return its parsed JSON body (``None`` when empty).

        ``timeout`` overrides the client's request timeout for this request
        only (seconds); ``None`` keeps the client's.

        Raises:
            GridFlexTimeoutError: no complete answer within the request timeout.
            GridFlexConnectionError: the platform could not be reached, or 5xx.
            GridFlexRateLimitedError: HTTP 429.
            UnauthorizedError: HTTP 401.
            GridFlexNotFoundError: HTTP 404.
            GridFlexRequestRejectedError: any other 4xx.
            GridFlexResponseError: a success whose body is not JSON.

        """
        send_headers = {"Accept": "application/json"}
        if headers:
            send_headers.update(headers)
        limit = self._timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                async with self._session.request(
                    method,
                    url,
                    headers=send_headers,
                    params=dict(params) if params else None,
                    json=json_body,
                    data=dict(form) if form is not None else None,
                ) as response:
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
                    raw = await response.read()
        except TimeoutError as err:
            raise GridFlexTimeoutError(
                f"{self._platform_name} did not answer {method} {_path(url)} "
                f"within {limit:g} s"
            ) from err
        except (aiohttp.ClientError, OSError) as err:
            raise GridFlexConnectionError(
                f"Cannot reach {self._platform_name} ({method} {_path(url)}): "
                f"{type(err).__name__}"
            ) from err
        _LOGGER.debug("%s %s -> %s", method, _path(url), status)
        if 200 <= status < 300:
            return self._parse_success(raw, method, url)
        self._raise_for_status(status, raw, retry_after)
        # A 1xx or 3xx left over after the session's own redirect handling is
        # not an answer a client can use.
        raise GridFlexResponseError(
            f"{self._platform_name} answered HTTP {status} to {method} {_path(url)}"
        )

    def _parse_success(self, raw: bytes, method: str, url: str) -> object:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as err:
            raise GridFlexResponseError(
                f"{self._platform_name} answered {method} {_path(url)} "
                "with a body that is not JSON"
            ) from err

    def _raise_for_status(
        self, status: int, raw: bytes, retry_after: str | None
    ) -> None:
        if status >= 500:
            raise GridFlexConnectionError(
                f"{self._platform_name} failed with HTTP {status}: "
                f"{self._explain(raw, status)}"
            )
        if status == 429:
            raise GridFlexRateLimitedError(
                f"{self._platform_name} asked to slow down (HTTP 429)",
                retry_after=parse_retry_after(retry_after),
            )
        if status == 401:
            raise UnauthorizedError(self._explain(raw, status))
        if status == 404:
            raise GridFlexNotFoundError(self._explain(raw, status))
        if status >= 400:
            raise GridFlexRequestRejectedError(status, self._explain(raw, status))

    def _explain(self, raw: bytes, status: int) -> str:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return _reason(status)
        try:
            parsed: object = json.loads(text)
        except ValueError:
            return _shorten(text)
        return _shorten(self._detail(parsed) or text)


@dataclass(frozen=True, slots=True)
class Token:
    """A token as a platform hands it out."""

    value: str = field(repr=False)
    lifetime: float
    """Seconds the platform says the token lives."""
    subject: str | None = None
    """Whom the platform issued it to, when the answer says (a user id)."""


type TokenFetcher = Callable[[], Awaitable[Token]]
type HeaderBuilder = Callable[[str], Mapping[str, str]]


def bearer_header(token: str) -> dict[str, str]:
    """Present a token as ``Authorization: Bearer <token>``."""
    return {"Authorization": f"Bearer {token}"}


class TokenAuth:
    """Send requests with a fresh platform token.

    The token comes from ``keeper`` (a new one of its own when none is
    given; pass the account's shared keeper to share its token). It is
    renewed ``margin`` seconds before it expires (at most half way through a
    short-lived token). Concurrent callers wait for one fetch. A request
    answered with HTTP 401 is sent once more with a new token; a second 401
    raises ``GridFlexAuthError``.
    """

    def __init__(
        self,
        http: JsonHttp,
        *,
        fetch: TokenFetcher,
        header: HeaderBuilder,
        clock: Clock = time.monotonic,
        margin: float = 60.0,
        keeper: TokenKeeper | None = None,
    ) -> None:
        """Fetch tokens with ``fetch`` and present them with ``header``.

        ``clock`` is used only for a keeper made here; a given ``keeper``
        keeps its own.
        """
        self._http = http
        self._fetch = fetch
        self._header = header
        self._margin = margin
        self._keeper = keeper if keeper is not None else TokenKeeper(clock=clock)

    @property
    def http(self) -> JsonHttp:
        """Return the JSON transport the tokens are used on."""
        return self._http

    @property
    def keeper(self) -> TokenKeeper:
        """Return the keeper of the account's token."""
        return self._keeper

    @classmethod
    def for_platform(
        cls,
        session: aiohttp.ClientSession,
        *,
        platform_name: str,
        request_timeout: float,
        detail: DetailParser,
        fetch: TokenFetcher,
        header: HeaderBuilder = bearer_header,
        clock: Clock = time.monotonic,
        margin: float = 60.0,
        keeper: TokenKeeper | None = None,
    ) -> TokenAuth:
        """Build the transport and the token handling of one platform client."""
        http = JsonHttp(
            session,
            platform_name=platform_name,
            request_timeout=request_timeout,
            detail=detail,
        )
        return cls(
            http,
            fetch=fetch,
            header=header,
            clock=clock,
            margin=margin,
            keeper=keeper,
        )

    async def authenticate(self) -> None:
        """Fetch a new token now, whatever the state of the current one."""
        await self._keeper.renew(self._fetch)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: object | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - one request's limit, applied with asyncio.timeout
    ) -> object:
        """Send an authorized request; renew the token once on HTTP 401.

        ``timeout`` overrides the request timeout for each of the (at most
        two) attempts; ``None`` keeps the client's.
        """
        token = await self._keeper.token(self._fetch, self._margin)
        try:
            return await self._http.request(
                method,
                url,
                headers=self._header(token),
                params=params,
                json_body=json_body,
                timeout=timeout,
            )
        except UnauthorizedError:
            _LOGGER.debug("Token refused on %s %s, renewing it", method, _path(url))
        token = await self._keeper.renewed(token, self._fetch)
        try:
            return await self._http.request(
                method,
                url,
                headers=self._header(token),
                params=params,
                json_body=json_body,
                timeout=timeout,
            )
        except UnauthorizedError as err:
            self._keeper.forget(token)
            raise GridFlexAuthError(
                f"The platform refused a freshly issued token: {err.detail}"
            ) from err


def parse_retry_after(value: str | None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (seconds or HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except TypeError, ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def flatten_messages(value: object) -> str | None:
    """Join the strings in a message that may be a string, a list or a mapping."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        parts = [part for item in value if (part := flatten_messages(item))]
        return "; ".join(parts) or None
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            text = flatten_messages(item)
            if text:
                parts.append(f"{key}: {text}")
        return "; ".join(parts) or None
    return None


def as_object(value: object, what: str) -> dict[str, object]:
    """Return ``value`` as a JSON object, or raise ``GridFlexResponseError``."""
    if isinstance(value, dict):
        return value
    raise GridFlexResponseError(f"Expected {what} to be a JSON object")


def as_list(value: object, what: str) -> list[object]:
    """Return ``value`` as a JSON array, or raise ``GridFlexResponseError``."""
    if isinstance(value, list):
        return value
    raise GridFlexResponseError(f"Expected {what} to be a JSON array")


def required_str(obj: Mapping[str, object], key: str, what: str) -> str:
    """Return the non-empty string at ``key``, or raise ``GridFlexResponseError``."""
    value = obj.get(key)
    if isinstance(value, str) and value:
        return value
    raise GridFlexResponseError(f"Expected {what} to have a string {key!r}")


def optional_str(obj: Mapping[str, object], key: str) -> str | None:
    """Return the string at ``key``, or ``None`` when absent or not a string."""
    value = obj.get(key)
    return value if isinstance(value, str) else None


def to_decimal(value: object) -> Decimal | None:
    """Read a decimal string or JSON number; ``None`` when it is neither."""
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def decimal_string(
    value: Decimal,
    *,
    max_decimals: int | None = None,
    max_integer_digits: int | None = None,
) -> str:
    """Write ``value`` exactly as a plain decimal string with a dot.

    Never exponent notation and never through ``float``: trailing zeros go,
    at least one decimal stays (``7.40`` → ``"7.4"``, ``7`` → ``"7.0"``,
    ``1E+1`` → ``"10.0"``, ``-0`` → ``"0.0"``).

    Raises:
        GridFlexRequestRejectedError: before anything is sent, when ``value``
            is not finite or needs more decimals or integer digits than allowed.

    """
    if not value.is_finite():
        raise GridFlexRequestRejectedError(400, f"Not a finite number: {value}")
    if value.is_zero():
        return "0.0"
    whole, _, fraction = format(value, "f").partition(".")
    fraction = fraction.rstrip("0") or "0"
    text = f"{whole}.{fraction}"
    digits = whole.lstrip("-")
    if (max_decimals is not None and len(fraction) > max_decimals) or (
        max_integer_digits is not None and len(digits) > max_integer_digits
    ):
        raise GridFlexRequestRejectedError(
            400,
            f"{text} has more than {max_integer_digits} digits before or "
            f"{max_decimals} after the decimal point",
        )
    return text


def to_lifetime(value: object, default: float) -> float:
    """Read a token lifetime in seconds; ``default`` when missing or unreadable."""
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    if isinstance(value, str):
        number = to_decimal(value)
        if number is not None and number > 0:
            return float(number)
    return default


def _path(url: str) -> str:
    """Return the URL without scheme, host and query (nothing secret is logged)."""
    rest = url.split("://", 1)[-1]
    path = rest[rest.find("/") :] if "/" in rest else "/"
    return path.split("?", 1)[0]


def _shorten(text: str) -> str:
    return (
        text if len(text) <= _DETAIL_MAX_CHARS else text[: _DETAIL_MAX_CHARS - 1] + "…"
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def root_url(
    environment: Environment,
    base_url: str | None,
    *,
    production: str,
    sandbox: str,
) -> str:
    """Return the server root to use, without a trailing slash.

    ``base_url`` is used only with ``Environment.CUSTOM``, where it is required.
    """
    if environment is Environment.PRODUCTION:
        return production
    if environment is Environment.SANDBOX:
        return sandbox
    if not base_url or not base_url.strip():
        raise ValueError("A custom environment needs a base_url")
    return base_url.strip().rstrip("/")
