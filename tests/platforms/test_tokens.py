"""A token keeper shared by several clients of one account."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from custom_components.gridflex.platforms import (
    Environment,
    FlexMeasuresClient,
    PlatformKey,
    PowernautClient,
    create_client,
)
from custom_components.gridflex.platforms._http import Token
from custom_components.gridflex.platforms.tokens import (
    TokenKeeper,
    account_key,
    account_key_of,
)

from .conftest import FakeClock, FakePlatform, reply
from .test_flexmeasures import (
    ASSETS,
    CREDENTIALS as FM_CREDENTIALS,
    TYPES,
    USER,
    _registration,
)
from .test_powernaut import CREDENTIALS as PN_CREDENTIALS

if TYPE_CHECKING:
    import aiohttp

PN_TOKEN = "/v1/auth/token"
FM_TOKEN = "/api/requestAuthToken"
RESOURCES = "/v1/connect/resources"


def _powernaut(
    fake: FakePlatform, session: aiohttp.ClientSession, keeper: TokenKeeper
) -> PowernautClient:
    client = create_client(
        PlatformKey.POWERNAUT,
        session,
        PN_CREDENTIALS,
        environment=Environment.CUSTOM,
        base_url=fake.url,
        request_timeout=2.0,
        tokens=keeper,
    )
    assert isinstance(client, PowernautClient)
    return client


def _flexmeasures(
    fake: FakePlatform, session: aiohttp.ClientSession, keeper: TokenKeeper
) -> FlexMeasuresClient:
    client = create_client(
        PlatformKey.FLEXMEASURES,
        session,
        FM_CREDENTIALS,
        environment=Environment.CUSTOM,
        base_url=fake.url,
        request_timeout=2.0,
        tokens=keeper,
    )
    assert isinstance(client, FlexMeasuresClient)
    return client


def _tokens(fake: FakePlatform) -> None:
    """Hand out ``t1``, then ``t2``, … (each living an hour)."""
    fake.on(
        "POST",
        PN_TOKEN,
        *(
            reply(
                body={
                    "access_token": f"t{n}",
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }
            )
            for n in range(1, 5)
        ),
    )


def _empty_resources(fake: FakePlatform) -> None:
    fake.on(
        "GET",
        RESOURCES,
        reply(body={"total": 0, "items": []}),
    )


async def test_clients_of_one_account_share_a_token(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Three clients on one keeper fetch one token between them."""
    fake.on("POST", PN_TOKEN, reply(fixture="powernaut_token"))
    _empty_resources(fake)
    keeper = TokenKeeper(clock=FakeClock())
    clients = [_powernaut(fake, session, keeper) for _ in range(3)]
    await asyncio.gather(*(client.list_resources("s") for client in clients))
    await clients[0].list_resources("s")
    assert len(fake.sent("POST", PN_TOKEN)) == 1
    assert keeper.fetches == 1
    headers = {r.headers["Authorization"] for r in fake.sent("GET", RESOURCES)}
    assert len(headers) == 1


async def test_shared_token_renewed_before_expiry(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The token is renewed 60 s before its lifetime ends, for every client."""
    _tokens(fake)
    _empty_resources(fake)
    clock = FakeClock()
    keeper = TokenKeeper(clock=clock)
    first, second = _powernaut(fake, session, keeper), _powernaut(fake, session, keeper)
    await first.list_resources("s")
    clock.advance(3539)
    await second.list_resources("s")
    assert keeper.fetches == 1
    clock.advance(1)
    await second.list_resources("s")
    await first.list_resources("s")
    assert keeper.fetches == 2
    sent = [r.headers["Authorization"] for r in fake.sent("GET", RESOURCES)]
    assert sent == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2"]


async def test_401_renews_once_for_all_clients(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """One client refused: one renewal, and the others use the renewed token."""
    _tokens(fake)
    page = {"total": 0, "items": []}
    fake.on(
        "GET",
        RESOURCES,
        reply(body=page),
        reply(401, body={"status_code": 401, "error": "Unauthorized"}),
        reply(body=page),
    )
    keeper = TokenKeeper(clock=FakeClock())
    first, second = _powernaut(fake, session, keeper), _powernaut(fake, session, keeper)
    await first.list_resources("s")
    await second.list_resources("s")  # 401, renewed, sent again
    await first.list_resources("s")
    assert keeper.fetches == 2
    sent = [r.headers["Authorization"] for r in fake.sent("GET", RESOURCES)]
    assert sent == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2"]


async def test_flexmeasures_user_known_from_a_shared_token(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A client that did not fetch the token still knows whose it is."""
    fake.on("POST", FM_TOKEN, reply(fixture="fm_token"))
    fake.on("GET", ASSETS, reply(body=[]))
    fake.on("GET", TYPES, reply(fixture="fm_asset_types"))
    fake.on("GET", USER, reply(fixture="fm_user"))
    fake.on("POST", ASSETS, reply(201, fixture="fm_asset_created"))
    keeper = TokenKeeper(clock=FakeClock())
    await _flexmeasures(fake, session, keeper).authenticate()
    await _flexmeasures(fake, session, keeper).register_site(_registration())
    assert len(fake.sent("POST", FM_TOKEN)) == 1
    assert keeper.subject == "7"
    (created,) = fake.sent("POST", ASSETS)
    assert created.json()["account_id"] == 2


async def test_renew_and_forget() -> None:
    """``renew`` always fetches; ``forget`` drops only the token it names."""
    fetched: list[str] = []

    async def fetch() -> Token:
        fetched.append(f"t{len(fetched) + 1}")
        return Token(value=fetched[-1], lifetime=3600)

    keeper = TokenKeeper(clock=FakeClock())
    assert await keeper.token(fetch, 60) == "t1"
    assert await keeper.renew(fetch) == "t2"
    keeper.forget("t1")
    assert await keeper.token(fetch, 60) == "t2"
    keeper.forget("t2")
    assert await keeper.token(fetch, 60) == "t3"
    assert await keeper.renewed("t1", fetch) == "t3"
    assert await keeper.renewed("t3", fetch) == "t4"
    assert keeper.fetches == 4
    assert "t4" not in repr(keeper)
    assert "t4" not in repr(Token(value="t4", lifetime=1))


def test_account_keys() -> None:
    """One key per platform, server and credentials; no secret in it."""
    base = account_key_of(
        "powernaut/custom", "http://h:1/", {"client_id": "a", "client_secret": "s3"}
    )
    assert base == account_key_of(
        "powernaut/custom", " http://h:1", {"client_secret": "s3", "client_id": "a"}
    )
    others = {
        account_key_of(
            "powernaut/custom", "http://h:1", {"client_id": "a", "client_secret": "x"}
        ),
        account_key_of(
            "powernaut/custom", "http://h:2", {"client_id": "a", "client_secret": "s3"}
        ),
        account_key_of(
            "energy_coordination/custom",
            "http://h:1",
            {"client_id": "a", "client_secret": "s3"},
        ),
        account_key_of(
            "powernaut/production", None, {"client_id": "a", "client_secret": "s3"}
        ),
    }
    assert base not in others
    assert len(others) == 4
    assert "s3" not in base
    assert len(base) == 64
    assert account_key("a", "b") != account_key("a,b")
