"""The shared HTTP plumbing: error mapping, token renewal, parsing helpers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
import socket
from typing import TYPE_CHECKING, Any

import pytest

from custom_components.gridflex.platforms import _http
from custom_components.gridflex.platforms._http import (
    JsonHttp,
    Token,
    TokenAuth,
    UnauthorizedError,
    as_list,
    as_object,
    decimal_string,
    flatten_messages,
    optional_str,
    parse_retry_after,
    required_str,
    root_url,
    to_decimal,
    to_lifetime,
)
from custom_components.gridflex.platforms.errors import (
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    GridFlexTimeoutError,
)
from custom_components.gridflex.platforms.models import Environment
from custom_components.gridflex.platforms.tokens import TokenKeeper

from .conftest import FakeClock, FakePlatform, reply

if TYPE_CHECKING:
    import aiohttp


def _http_client(session: aiohttp.ClientSession, timeout: float = 2.0) -> JsonHttp:
    return JsonHttp(
        session,
        platform_name="Test platform",
        request_timeout=timeout,
        detail=lambda body: body.get("message") if isinstance(body, dict) else None,
    )


async def test_json_body_query_and_headers(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """JSON goes out as JSON, the answer comes back parsed."""
    fake.on("POST", "/thing", reply(201, body={"id": 1, "ok": True}))
    answer = await _http_client(session).request(
        "POST",
        f"{fake.url}/thing",
        headers={"X-Test": "1"},
        params={"page": "2"},
        json_body={"value": "7.0"},
    )
    assert answer == {"id": 1, "ok": True}
    (sent,) = fake.sent()
    assert sent.json() == {"value": "7.0"}
    assert sent.query == {"page": "2"}
    assert sent.headers["X-Test"] == "1"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/json"


async def test_form_body(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """A form goes out url-encoded."""
    fake.on("POST", "/form", reply(body={}))
    await _http_client(session).request(
        "POST", f"{fake.url}/form", form={"a": "b c", "d": "&="}
    )
    (sent,) = fake.sent()
    assert sent.form() == {"a": "b c", "d": "&="}
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize("raw", [b"", b"   \n"])
async def test_empty_success_is_none(
    fake: FakePlatform, session: aiohttp.ClientSession, raw: bytes
) -> None:
    """204 and other empty answers read as ``None``."""
    fake.on("DELETE", "/thing", reply(204 if not raw else 202, raw=raw))
    assert await _http_client(session).request("DELETE", f"{fake.url}/thing") is None


async def test_malformed_json(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 2xx body that is not JSON is a response error (a connection error)."""
    fake.on("GET", "/thing", reply(raw=b'{"items": [', content_type="text/html"))
    with pytest.raises(GridFlexResponseError, match="not JSON"):
        await _http_client(session).request("GET", f"{fake.url}/thing")


async def test_timeout(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """A platform slower than the request timeout raises a timeout error."""
    fake.on("GET", "/slow", reply(body={}, delay=1.0))
    with pytest.raises(GridFlexTimeoutError, match=r"within 0\.05 s"):
        await _http_client(session, timeout=0.05).request("GET", f"{fake.url}/slow")


async def test_timeout_per_request(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """``timeout`` overrides the client's limit for one request, either way."""
    fake.on("GET", "/slow", reply(body={"ok": 1}, delay=0.3))
    client = _http_client(session, timeout=2.0)
    with pytest.raises(GridFlexTimeoutError, match=r"within 0\.05 s"):
        await client.request("GET", f"{fake.url}/slow", timeout=0.05)
    # The next request has the client's own limit again.
    assert await client.request("GET", f"{fake.url}/slow") == {"ok": 1}
    short = _http_client(session, timeout=0.05)
    assert await short.request("GET", f"{fake.url}/slow", timeout=2.0) == {"ok": 1}
    with pytest.raises(GridFlexTimeoutError, match=r"within 0\.05 s"):
        await short.request("GET", f"{fake.url}/slow", timeout=None)


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    """Nobody listening is a connection error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GridFlexConnectionError, match="Cannot reach") as err:
        await _http_client(session).request("GET", f"http://127.0.0.1:{port}/x")
    assert not isinstance(err.value, GridFlexTimeoutError)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors(
    fake: FakePlatform, session: aiohttp.ClientSession, status: int
) -> None:
    """5xx is a connection error that says what the platform said."""
    fake.on("GET", "/x", reply(status, body={"message": "database down"}))
    with pytest.raises(GridFlexConnectionError, match=f"HTTP {status}: database down"):
        await _http_client(session).request("GET", f"{fake.url}/x")


async def test_rate_limited_seconds(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """429 carries the Retry-After seconds."""
    fake.on("GET", "/x", reply(429, body={}, headers={"Retry-After": "120"}))
    with pytest.raises(GridFlexRateLimitedError) as err:
        await _http_client(session).request("GET", f"{fake.url}/x")
    assert err.value.retry_after == 120.0
    assert isinstance(err.value, GridFlexConnectionError)


async def test_rate_limited_http_date(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """429 with an HTTP date in Retry-After becomes seconds from now."""
    when = datetime.now(UTC) + timedelta(seconds=90)
    fake.on(
        "GET",
        "/x",
        reply(
            429, body={}, headers={"Retry-After": format_datetime(when, usegmt=True)}
        ),
    )
    with pytest.raises(GridFlexRateLimitedError) as err:
        await _http_client(session).request("GET", f"{fake.url}/x")
    assert err.value.retry_after is not None
    assert 80 <= err.value.retry_after <= 91


async def test_rate_limited_without_header(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """429 without Retry-After has no retry_after."""
    fake.on("GET", "/x", reply(429))
    with pytest.raises(GridFlexRateLimitedError) as err:
        await _http_client(session).request("GET", f"{fake.url}/x")
    assert err.value.retry_after is None


async def test_not_found(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """404 is not-found with the platform's words, or the reason phrase."""
    fake.on("GET", "/a", reply(404, body={"message": "Site does not exist"}))
    fake.on("GET", "/b", reply(404))
    client = _http_client(session)
    with pytest.raises(GridFlexNotFoundError) as err:
        await client.request("GET", f"{fake.url}/a")
    assert err.value.detail == "Site does not exist"
    assert err.value.status == 404
    with pytest.raises(GridFlexNotFoundError) as err:
        await client.request("GET", f"{fake.url}/b")
    assert err.value.detail == "Not Found"


async def test_unauthorized(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """401 raises the internal unauthorized error, an auth error."""
    fake.on("GET", "/x", reply(401, body={"message": "Unauthorized"}))
    with pytest.raises(UnauthorizedError) as err:
        await _http_client(session).request("GET", f"{fake.url}/x")
    assert isinstance(err.value, GridFlexAuthError)
    assert err.value.detail == "Unauthorized"


async def test_rejected_details(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Other 4xx: the platform's message, else the body text, shortened."""
    fake.on("POST", "/a", reply(400, body={"message": "Invalid page size"}))
    fake.on("POST", "/b", reply(409, body={"other": "shape"}))
    fake.on("POST", "/c", reply(422, raw=b"plain words", content_type="text/plain"))
    fake.on("POST", "/d", reply(400, raw=b"x" * 1000, content_type="text/plain"))
    fake.on("POST", "/e", reply(499))
    client = _http_client(session)
    expected = {
        "a": (400, "Invalid page size"),
        "b": (409, '{"other": "shape"}'),
        "c": (422, "plain words"),
        "d": (400, "x" * 299 + "…"),
        "e": (499, "HTTP 499"),
    }
    for path, (status, detail) in expected.items():
        with pytest.raises(GridFlexRequestRejectedError) as err:
            await client.request("POST", f"{fake.url}/{path}")
        assert (err.value.status, err.value.detail) == (status, detail)
        assert not isinstance(err.value, GridFlexNotFoundError)


async def test_redirect_not_followed_is_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 3xx the session does not follow is not a usable answer."""
    fake.on("GET", "/x", reply(304))
    with pytest.raises(GridFlexResponseError, match="HTTP 304"):
        await _http_client(session).request("GET", f"{fake.url}/x")


class _Tokens:
    """A token source that counts fetches."""

    def __init__(self, lifetime: float = 3600.0, delay: float = 0.0) -> None:
        self.fetches = 0
        self.lifetime = lifetime
        self.delay = delay

    async def __call__(self) -> Token:
        self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return Token(value=f"t{self.fetches}", lifetime=self.lifetime)


def _auth(
    session: aiohttp.ClientSession, tokens: _Tokens, clock: FakeClock
) -> TokenAuth:
    return TokenAuth(
        _http_client(session),
        fetch=tokens,
        header=lambda token: {"Authorization": f"Bearer {token}"},
        clock=clock,
    )


async def test_token_reused_then_renewed_before_expiry(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A token is reused until 60 s before it expires, then renewed."""
    fake.on("GET", "/x", reply(body={}))
    tokens = _Tokens(lifetime=3600)
    auth = _auth(session, tokens, clock)
    await auth.request("GET", f"{fake.url}/x")
    clock.advance(3539)
    await auth.request("GET", f"{fake.url}/x")
    assert tokens.fetches == 1
    clock.advance(1)
    await auth.request("GET", f"{fake.url}/x")
    assert tokens.fetches == 2
    assert [r.headers["Authorization"] for r in fake.sent()] == [
        "Bearer t1",
        "Bearer t1",
        "Bearer t2",
    ]


async def test_short_lived_token_renewed_half_way(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A token shorter than twice the margin is renewed half way through."""
    fake.on("GET", "/x", reply(body={}))
    tokens = _Tokens(lifetime=30)
    auth = _auth(session, tokens, clock)
    await auth.request("GET", f"{fake.url}/x")
    clock.advance(14)
    await auth.request("GET", f"{fake.url}/x")
    assert tokens.fetches == 1
    clock.advance(1)
    await auth.request("GET", f"{fake.url}/x")
    assert tokens.fetches == 2


async def test_concurrent_callers_share_one_fetch(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Callers arriving together wait for one token fetch."""
    fake.on("GET", "/x", reply(body={}))
    tokens = _Tokens(delay=0.05)
    auth = _auth(session, tokens, clock)
    await asyncio.gather(*(auth.request("GET", f"{fake.url}/x") for _ in range(5)))
    assert tokens.fetches == 1
    assert len(fake.sent()) == 5


async def test_concurrent_401_renews_once(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Two callers refused with the same token share one renewal."""
    tokens = _Tokens()
    auth = _auth(session, tokens, clock)
    await auth.authenticate()
    fake.on(
        "GET",
        "/x",
        reply(401, body={"message": "expired"}, delay=0.05),
        reply(401, body={"message": "expired"}, delay=0.05),
        reply(body={"ok": 1}),
    )
    results = await asyncio.gather(
        auth.request("GET", f"{fake.url}/x"), auth.request("GET", f"{fake.url}/x")
    )
    assert list(results) == [{"ok": 1}, {"ok": 1}]
    assert tokens.fetches == 2


async def test_second_401_is_auth_error(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """401, renew, 401 again: auth error; the next call fetches afresh."""
    fake.on("GET", "/x", reply(401, body={"message": "Unauthorized"}))
    tokens = _Tokens()
    auth = _auth(session, tokens, clock)
    with pytest.raises(GridFlexAuthError, match="freshly issued token: Unauthorized"):
        await auth.request("GET", f"{fake.url}/x")
    assert tokens.fetches == 2
    assert len(fake.sent()) == 2
    fake.on("GET", "/x", reply(body={}))
    await auth.request("GET", f"{fake.url}/x")
    assert tokens.fetches == 3


async def test_token_auth_timeout_per_request(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """The override reaches the request, and the retry after a 401."""
    fake.on("GET", "/slow", reply(body={"ok": 1}, delay=0.3))
    auth = _auth(session, _Tokens(), clock)
    with pytest.raises(GridFlexTimeoutError, match=r"within 0\.05 s"):
        await auth.request("GET", f"{fake.url}/slow", timeout=0.05)
    fake.on(
        "GET",
        "/retry",
        reply(401, body={"message": "expired"}),
        reply(body={"ok": 1}, delay=0.3),
    )
    with pytest.raises(GridFlexTimeoutError, match=r"within 0\.05 s"):
        await auth.request("GET", f"{fake.url}/retry", timeout=0.05)
    assert len(fake.sent("GET", "/retry")) == 2
    assert await auth.request("GET", f"{fake.url}/slow") == {"ok": 1}


async def test_authenticate_always_fetches(
    session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """``authenticate`` checks the credentials even with a valid token."""
    tokens = _Tokens()
    auth = _auth(session, tokens, clock)
    await auth.authenticate()
    await auth.authenticate()
    assert tokens.fetches == 2


def test_parse_retry_after() -> None:
    """Seconds, HTTP dates (past ones are 0), nonsense is ``None``."""
    assert parse_retry_after(None) is None
    assert parse_retry_after("  ") is None
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("inf") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    future = datetime.now(UTC) + timedelta(hours=1)
    naive = format_datetime(future.replace(tzinfo=None))
    seconds = parse_retry_after(naive)
    assert seconds is not None
    assert 3500 < seconds <= 3600


def test_flatten_messages() -> None:
    """Strings, lists and mappings of messages become one line."""
    assert flatten_messages(" one ") == "one"
    assert flatten_messages("") is None
    assert flatten_messages(["a", "", None, "b"]) == "a; b"
    assert flatten_messages([]) is None
    assert (
        flatten_messages({"json": {"name": ["taken"]}, "x": None})
        == "json: name: taken"
    )
    assert flatten_messages({}) is None
    assert flatten_messages(42) is None


def test_shape_helpers() -> None:
    """The helpers that read JSON raise response errors on a wrong shape."""
    assert as_object({"a": 1}, "x") == {"a": 1}
    with pytest.raises(GridFlexResponseError, match="Expected x to be a JSON object"):
        as_object([], "x")
    assert as_list([1], "x") == [1]
    with pytest.raises(GridFlexResponseError, match="JSON array"):
        as_list(None, "x")
    assert required_str({"k": "v"}, "k", "x") == "v"
    for bad in ({"k": ""}, {"k": 1}, {}):
        with pytest.raises(GridFlexResponseError, match="string 'k'"):
            required_str(bad, "k", "x")
    assert optional_str({"k": "v"}, "k") == "v"
    assert optional_str({"k": 1}, "k") is None


def test_to_decimal() -> None:
    """Decimal strings and JSON numbers; everything else is ``None``."""
    assert to_decimal("50.85") == Decimal("50.85")
    assert to_decimal(" 4.35 ") == Decimal("4.35")
    assert to_decimal(79.519137) == Decimal("79.519137")
    assert to_decimal(3) == Decimal(3)
    assert to_decimal(True) is None
    assert to_decimal(None) is None
    assert to_decimal("abc") is None
    assert to_decimal("NaN") is None
    assert to_decimal([1]) is None
    assert to_decimal(Decimal("0.0074")) == Decimal("0.0074")
    assert to_decimal(Decimal("NaN")) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("7.4"), "7.4"),
        (Decimal(7), "7.0"),
        (Decimal(-5), "-5.0"),
        (Decimal(0), "0.0"),
        (Decimal("-0.00"), "0.0"),
        (Decimal("0E-9"), "0.0"),
        (Decimal("1E+1"), "10.0"),
        (Decimal("-2.5E+3"), "-2500.0"),
        (Decimal("7.400"), "7.4"),
        (Decimal("1E-7"), "0.0000001"),
        (
            Decimal("12345678901234567890123456789.123456789"),
            "12345678901234567890123456789.123456789",
        ),
    ],
)
def test_decimal_string(value: Decimal, text: str) -> None:
    """Exact, a dot and at least one decimal, never exponent notation."""
    assert decimal_string(value) == text


def test_decimal_string_limits() -> None:
    """Limits on decimals and integer digits refuse before sending."""
    assert (
        decimal_string(
            Decimal("-123456789012345.123456"), max_decimals=6, max_integer_digits=15
        )
        == "-123456789012345.123456"
    )
    for value in (Decimal("0.1234567"), Decimal(1234567890123456), Decimal("NaN")):
        with pytest.raises(GridFlexRequestRejectedError) as err:
            decimal_string(value, max_decimals=6, max_integer_digits=15)
        assert err.value.status == 400
    with pytest.raises(GridFlexRequestRejectedError):
        decimal_string(Decimal("-Infinity"))


def test_to_lifetime() -> None:
    """Token lifetimes: positive numbers or numeric strings, else the default."""
    assert to_lifetime(3600, 1.0) == 3600.0
    assert to_lifetime(59.5, 1.0) == 59.5
    assert to_lifetime("1800", 1.0) == 1800.0
    assert to_lifetime("0", 1.0) == 1.0
    assert to_lifetime("soon", 1.0) == 1.0
    assert to_lifetime(0, 1.0) == 1.0
    assert to_lifetime(float("inf"), 1.0) == 1.0
    assert to_lifetime(True, 1.0) == 1.0
    assert to_lifetime(None, 1.0) == 1.0


def test_root_url() -> None:
    """Production and sandbox are fixed; custom needs a root."""
    kwargs = {"production": "https://p", "sandbox": "https://s"}
    assert root_url(Environment.PRODUCTION, "http://ignored", **kwargs) == "https://p"
    assert root_url(Environment.SANDBOX, None, **kwargs) == "https://s"
    assert root_url(Environment.CUSTOM, " http://127.0.0.1:8765/ ", **kwargs) == (
        "http://127.0.0.1:8765"
    )
    for missing in (None, "", "  "):
        with pytest.raises(ValueError, match="base_url"):
            root_url(Environment.CUSTOM, missing, **kwargs)


def test_path_hides_host_and_query() -> None:
    """Only the path of a URL reaches log lines and error messages."""
    assert _http._path("https://user@host/a/b?secret=1") == "/a/b"
    assert _http._path("https://host") == "/"


async def test_second_401_keeps_a_token_renewed_meanwhile(clock: FakeClock) -> None:
    """A refused retry does not throw away a token another client just got."""
    tokens = _Tokens()
    keeper = TokenKeeper(clock=clock)
    renewed: list[str] = []

    class _RefuseAll:
        async def request(self, *args: object, **kwargs: Any) -> object:
            if kwargs["headers"]["Authorization"] == "t2" and not renewed:
                # Another client of the same account renews meanwhile.
                renewed.append(await keeper.renew(tokens))
            raise UnauthorizedError("expired")

    auth = TokenAuth(
        _RefuseAll(),  # type: ignore[arg-type]
        fetch=tokens,
        header=lambda token: {"Authorization": token},
        keeper=keeper,
    )
    with pytest.raises(GridFlexAuthError):
        await auth.request("GET", "http://127.0.0.1/x")
    assert renewed == ["t3"]
    assert await keeper.token(tokens, 60) == "t3"
    assert tokens.fetches == 3


async def test_second_401_forgets_the_refused_token(clock: FakeClock) -> None:
    """After a refused retry, the next request fetches a new token."""
    tokens = _Tokens()
    keeper = TokenKeeper(clock=clock)

    class _RefuseAll:
        async def request(self, *args: object, **kwargs: object) -> object:
            raise UnauthorizedError("expired")

    auth = TokenAuth(
        _RefuseAll(),  # type: ignore[arg-type]
        fetch=tokens,
        header=lambda token: {"Authorization": token},
        keeper=keeper,
    )
    with pytest.raises(GridFlexAuthError):
        await auth.request("GET", "http://127.0.0.1/x")
    assert tokens.fetches == 2
    assert await keeper.token(tokens, 60) == "t3"
