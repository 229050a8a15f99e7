"""Powernaut Connect client against recorded responses."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from custom_components.gridflex.platforms import (
    EdgeCredentials,
    Environment,
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    GridFlexTimeoutError,
    HealthCheck,
    Location,
    Market,
    MarketStatus,
    PlatformKey,
    PowernautClient,
    Resource,
    ResourceSpec,
    ResourceStatus,
    ResourceType,
    SiteRegistration,
    SiteStatus,
    SupplyDirection,
    UpstreamStatus,
    create_client,
    powernaut,
)

from .conftest import FakeClock, FakePlatform, load, reply

if TYPE_CHECKING:
    import aiohttp

TOKEN = "/v1/auth/token"
SITES = "/v1/connect/sites"
SITE_ID = "0b7c5f2e-0000-4000-8000-000000000004"
SITE = f"{SITES}/{SITE_ID}"
EAN = "541448820044157096"
ADDRESS = "Dok Noord 1, 9000 Gent, Belgium"
CREDENTIALS = {"client_id": "partner-id", "client_secret": "partner-secret"}
RESOURCES = "/v1/connect/resources"
BATTERY_ID = "7d1e9c40-0000-4000-8000-000000000101"
GROUP_ID = "7d1e9c40-0000-4000-8000-000000000102"
CHARGER_ID = "7d1e9c40-0000-4000-8000-000000000103"
BATTERY = f"{RESOURCES}/{BATTERY_ID}"
CHARGER = f"{RESOURCES}/{CHARGER_ID}"


def _client(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    clock: FakeClock | None = None,
    *,
    timeout: float = 2.0,
    credentials: dict[str, str] | None = None,
) -> PowernautClient:
    client = create_client(
        PlatformKey.POWERNAUT,
        session,
        credentials or CREDENTIALS,
        environment=Environment.CUSTOM,
        base_url=fake.url,
        request_timeout=timeout,
        clock=clock or FakeClock(),
    )
    assert isinstance(client, PowernautClient)
    return client


def _spec(**overrides: object) -> ResourceSpec:
    fields: dict[str, object] = {
        "name": "Home Battery",
        "type": ResourceType.BATTERY,
        "power_minimum_kw": Decimal(-5),
        "power_maximum_kw": Decimal("7.4"),
        "capacity_kwh": Decimal("13.50"),
        "external_id": "gridflex-battery",
    }
    fields.update(overrides)
    return ResourceSpec(**fields)  # type: ignore[arg-type]


def _registration(**overrides: object) -> SiteRegistration:
    fields: dict[str, object] = {
        "name": "Home",
        "country": "BE",
        "grid_identifier": EAN,
        "location": Location(address=ADDRESS),
    }
    fields.update(overrides)
    return SiteRegistration(**fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def token_route(fake: FakePlatform) -> None:
    """Hand out a token unless a test says otherwise."""
    fake.on("POST", TOKEN, reply(fixture="powernaut_token"))


def _no_sites(fake: FakePlatform) -> None:
    fake.on("GET", SITES, reply(fixture="powernaut_sites_empty"))


async def test_token_request(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Basic auth of the url-encoded id and secret, no body; then Bearer."""
    fake.on("GET", SITE, reply(fixture="powernaut_site"))
    fake.on("GET", f"{SITE}/markets", reply(body=[]))
    client = _client(
        fake,
        session,
        credentials={"client_id": "grid flex", "client_secret": "s3cr:t/+=é"},
    )
    await client.get_site(SITE_ID)
    token_request, site_request, markets_request = fake.sent()
    assert token_request.path == TOKEN
    assert token_request.method == "POST"
    assert token_request.body == b""
    expected = base64.b64encode(b"grid%20flex:s3cr%3At%2F%2B%3D%C3%A9").decode()
    assert token_request.headers["Authorization"] == f"Basic {expected}"
    assert site_request.headers["Authorization"] == "Bearer pn-token-1"
    assert markets_request.headers["Authorization"] == "Bearer pn-token-1"


@pytest.mark.parametrize(
    ("status", "fixture"),
    [
        (403, "powernaut_error_403_credentials"),
        (400, "powernaut_error_400"),
        (401, "powernaut_error_401"),
    ],
)
async def test_token_refused(
    fake: FakePlatform, session: aiohttp.ClientSession, status: int, fixture: str
) -> None:
    """400, 401 and 403 from the token endpoint are authentication errors."""
    fake.on("POST", TOKEN, reply(status, fixture=fixture))
    with pytest.raises(GridFlexAuthError, match="refused the client credentials"):
        await _client(fake, session).authenticate()


async def test_token_endpoint_down(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A failing token endpoint is a connection problem, not bad credentials."""
    fake.on(
        "POST", TOKEN, reply(503, raw=b"<html>down</html>", content_type="text/html")
    )
    with pytest.raises(GridFlexConnectionError) as err:
        await _client(fake, session).authenticate()
    assert not isinstance(err.value, GridFlexAuthError)


async def test_token_other_rejection_passes_through(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 4xx the token endpoint is not known for stays a rejection."""
    fake.on("POST", TOKEN, reply(404, body={"message": "Cannot POST /v1/auth/token"}))
    with pytest.raises(GridFlexNotFoundError, match="Cannot POST"):
        await _client(fake, session).authenticate()


@pytest.mark.parametrize(
    "body", [{"expires_in": 3600}, {"access_token": ""}, ["pn-token-1"]]
)
async def test_token_answer_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession, body: object
) -> None:
    """A token answer without a token is a response error."""
    fake.on("POST", TOKEN, reply(body=body))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).authenticate()


async def test_token_renewed_before_expiry(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """The token is renewed 60 s before ``expires_in`` runs out."""
    fake.on(
        "POST",
        TOKEN,
        reply(fixture="powernaut_token"),
        reply(fixture="powernaut_token_2"),
    )
    _no_sites(fake)
    client = _client(fake, session, clock)
    await client.find_site(EAN)
    clock.advance(3539)
    await client.find_site(EAN)
    clock.advance(2)
    await client.find_site(EAN)
    assert fake.calls() == [
        f"POST {TOKEN}",
        *[f"GET {SITES}"] * 2,
        f"POST {TOKEN}",
        f"GET {SITES}",
    ]
    assert fake.sent("GET", SITES)[-1].headers["Authorization"] == "Bearer pn-token-2"


async def test_token_without_lifetime_defaults_to_an_hour(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """A token answer without ``expires_in`` is taken to live an hour."""
    fake.on("POST", TOKEN, reply(body={"access_token": "pn-token-1"}))
    _no_sites(fake)
    client = _client(fake, session, clock)
    await client.find_site(EAN)
    clock.advance(3539)
    await client.find_site(EAN)
    assert len(fake.sent("POST", TOKEN)) == 1
    clock.advance(1)
    await client.find_site(EAN)
    assert len(fake.sent("POST", TOKEN)) == 2


async def test_reauthenticates_once_on_401(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An expired token (401) is renewed and the request sent once more."""
    fake.on(
        "POST",
        TOKEN,
        reply(fixture="powernaut_token"),
        reply(fixture="powernaut_token_2"),
    )
    fake.on(
        "GET",
        SITE,
        reply(401, fixture="powernaut_error_401"),
        reply(fixture="powernaut_site"),
    )
    fake.on("GET", f"{SITE}/markets", reply(body=[]))
    site = await _client(fake, session).get_site(SITE_ID)
    assert site.site_id == SITE_ID
    assert [r.headers["Authorization"] for r in fake.sent("GET", SITE)] == [
        "Bearer pn-token-1",
        "Bearer pn-token-2",
    ]


async def test_second_401_is_auth_error(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A renewed token refused again means the credentials are revoked."""
    fake.on("GET", SITE, reply(401, fixture="powernaut_error_401"))
    with pytest.raises(GridFlexAuthError):
        await _client(fake, session).get_site(SITE_ID)
    # The markets are read beside the site; the site's requests in order:
    assert [call for call in fake.calls() if not call.endswith("/markets")] == [
        f"POST {TOKEN}",
        f"GET {SITE}",
        f"POST {TOKEN}",
        f"GET {SITE}",
    ]


async def test_find_site_pages_through(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Pages are read until the site shows up; deleted sites are skipped."""
    fake.on(
        "GET",
        SITES,
        reply(fixture="powernaut_sites_page1"),
        reply(fixture="powernaut_sites_page2"),
    )
    site = await _client(fake, session).find_site(EAN)
    assert site is not None
    assert site.site_id == SITE_ID
    assert site.grid_identifier == EAN
    assert site.status is SiteStatus.NO_RESOURCES
    assert site.upstream_status is UpstreamStatus.NO_UPSTREAM_REGISTERED
    assert site.location == Location(address=ADDRESS)
    assert site.markets == ()
    assert [r.query for r in fake.sent("GET", SITES)] == [
        {"page": "1", "page_size": "100"},
        {"page": "2", "page_size": "100"},
    ]


async def test_find_site_by_offtake_point(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The offtake point identifies a site; spacing and case do not matter."""
    fake.on(
        "GET",
        SITES,
        reply(fixture="powernaut_sites_page1"),
        reply(fixture="powernaut_sites_page2"),
    )
    site = await _client(fake, session).find_site(" 5414 4882 0044 157119 ")
    assert site is not None
    assert site.site_id == "0b7c5f2e-0000-4000-8000-000000000003"
    assert site.grid_identifier == "541448820044157119"


async def test_find_site_ignores_injection_points(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An injection point does not identify a site; all pages are read."""
    fake.on(
        "GET",
        SITES,
        reply(fixture="powernaut_sites_page1"),
        reply(fixture="powernaut_sites_page2"),
        reply(fixture="powernaut_sites_empty"),
    )
    assert await _client(fake, session).find_site("541448820044157126") is None
    assert len(fake.sent("GET", SITES)) == 2


async def test_find_site_without_total_stops_at_empty_page(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without ``total`` the pages run until an empty one."""
    page = load("powernaut_sites_page1")
    del page["total"]
    fake.on("GET", SITES, reply(body=page), reply(body={"items": []}))
    assert await _client(fake, session).find_site("000") is None
    assert len(fake.sent("GET", SITES)) == 2


@pytest.mark.parametrize(
    "answer",
    [
        reply(raw=b"{not json"),
        reply(body={"total": 1}),
        reply(body=[]),
    ],
)
async def test_find_site_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: object
) -> None:
    """A site list that is not JSON or not ``{total, items}`` is a response error."""
    fake.on("GET", SITES, answer)  # type: ignore[arg-type]
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).find_site(EAN)


async def test_register_new_site_with_address(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A new site: the address as location, one bidirectional point."""
    _no_sites(fake)
    fake.on("POST", SITES, reply(201, fixture="powernaut_site_created"))
    registered = await _client(fake, session).register_site(
        _registration(location=Location(address=ADDRESS, latitude=Decimal("51.0673")))
    )
    (created,) = fake.sent("POST", SITES)
    assert created.json() == {
        "location": {"address": ADDRESS},
        "supply_points": [{"grid_identifier": EAN, "direction": "bidirectional"}],
    }
    assert created.headers["Authorization"] == "Bearer pn-token-1"
    assert registered.created is True
    assert registered.site.site_id == "0b7c5f2e-0000-4000-8000-000000000009"
    assert registered.site.status is SiteStatus.NO_RESOURCES
    assert registered.site.location == Location(
        latitude=Decimal("51.0673"), longitude=Decimal("3.7302")
    )
    assert registered.edge_credentials == EdgeCredentials(
        name="Default",
        key="6a1f6a43-5d0b-4d43-9d5f-4b9a0c1d2e3f",
        secret="edge-secret-default",
    )


@pytest.mark.parametrize(
    ("latitude", "longitude", "wire"),
    [
        (Decimal("50.85"), Decimal("4.35"), {"latitude": "50.85", "longitude": "4.35"}),
        (Decimal(51), Decimal(-4), {"latitude": "51.0", "longitude": "-4.0"}),
        (
            Decimal("51.06730049"),
            Decimal("3.730200"),
            {"latitude": "51.0673", "longitude": "3.7302"},
        ),
        (
            Decimal("1E+1"),
            Decimal("0.0000004"),
            {"latitude": "10.0", "longitude": "0.0"},
        ),
    ],
)
async def test_register_coordinates_as_decimal_strings(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    latitude: Decimal,
    longitude: Decimal,
    wire: dict[str, str],
) -> None:
    """Without an address the coordinates go out as decimal strings with a dot."""
    _no_sites(fake)
    fake.on("POST", SITES, reply(201, fixture="powernaut_site_created"))
    await _client(fake, session).register_site(
        _registration(
            location=Location(address="  ", latitude=latitude, longitude=longitude)
        )
    )
    assert fake.sent("POST", SITES)[0].json()["location"] == wire


@pytest.mark.parametrize(
    ("direction", "injection", "points"),
    [
        (
            SupplyDirection.OFFTAKE,
            None,
            [{"grid_identifier": EAN, "direction": "offtake"}],
        ),
        (
            SupplyDirection.OFFTAKE_INJECTION,
            "541448820044157102",
            [
                {"grid_identifier": EAN, "direction": "offtake"},
                {"grid_identifier": "541448820044157102", "direction": "injection"},
            ],
        ),
    ],
)
async def test_register_supply_points(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    direction: SupplyDirection,
    injection: str | None,
    points: list[dict[str, str]],
) -> None:
    """Offtake, or offtake plus injection, as the homeowner says."""
    _no_sites(fake)
    fake.on("POST", SITES, reply(201, fixture="powernaut_site_created"))
    await _client(fake, session).register_site(
        _registration(direction=direction, injection_grid_identifier=injection)
    )
    assert fake.sent("POST", SITES)[0].json()["supply_points"] == points


@pytest.mark.parametrize(
    "registration",
    [
        _registration(location=Location(latitude=Decimal("50.85"))),
        _registration(direction=SupplyDirection.OFFTAKE_INJECTION),
    ],
)
async def test_register_refused_before_sending(
    fake: FakePlatform, session: aiohttp.ClientSession, registration: SiteRegistration
) -> None:
    """What Powernaut would refuse is refused before anything is sent."""
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).register_site(registration)
    assert err.value.status == 400
    assert fake.requests == []


async def test_register_new_site_without_credentials_in_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """When the creation answer lacks credentials GridFlex issues its own."""
    _no_sites(fake)
    created = load("powernaut_site_created")
    del created["credentials"]
    fake.on("POST", SITES, reply(201, body=created))
    fake.on(
        "POST",
        f"{SITES}/{created['id']}/credentials",
        reply(201, fixture="powernaut_credentials"),
    )
    registered = await _client(fake, session).register_site(_registration())
    assert registered.created is True
    assert registered.edge_credentials is not None
    assert registered.edge_credentials.name == "GridFlex"


async def test_register_adopts_existing_site(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An existing site is adopted with a fresh GridFlex credential set."""
    fake.on(
        "GET",
        SITES,
        reply(fixture="powernaut_sites_page1"),
        reply(fixture="powernaut_sites_page2"),
    )
    fake.on("POST", f"{SITE}/credentials", reply(201, fixture="powernaut_credentials"))
    registered = await _client(fake, session).register_site(_registration())
    assert registered.created is False
    assert registered.site.site_id == SITE_ID
    assert registered.edge_credentials == EdgeCredentials(
        name="GridFlex",
        key="c0ffee00-1111-4222-8333-444455556666",
        secret="edge-secret-gridflex",
    )
    assert fake.sent("POST", f"{SITE}/credentials")[0].json() == {"name": "GridFlex"}
    assert fake.sent("POST", SITES) == []


async def test_register_replaces_existing_gridflex_credentials(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """409 (the set exists): delete it, then create it again."""
    fake.on(
        "GET",
        SITES,
        reply(fixture="powernaut_sites_page1"),
        reply(fixture="powernaut_sites_page2"),
    )
    fake.on(
        "POST",
        f"{SITE}/credentials",
        reply(409, fixture="powernaut_error_409_credentials"),
        reply(201, fixture="powernaut_credentials"),
    )
    fake.on("DELETE", f"{SITE}/credentials", reply(204))
    registered = await _client(fake, session).register_site(_registration())
    assert registered.edge_credentials is not None
    assert registered.edge_credentials.secret == "edge-secret-gridflex"
    assert fake.calls()[-3:] == [
        f"POST {SITE}/credentials",
        f"DELETE {SITE}/credentials",
        f"POST {SITE}/credentials",
    ]
    assert fake.sent("DELETE")[0].query == {"name": "GridFlex"}


async def test_register_credentials_error_passes_through(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Other credential errors are not retried."""
    fake.on("GET", SITES, reply(fixture="powernaut_sites_page2"))
    fake.on(
        "POST", f"{SITE}/credentials", reply(404, fixture="powernaut_error_404_site")
    )
    with pytest.raises(GridFlexNotFoundError, match="Site does not exist"):
        await _client(fake, session).register_site(_registration())


async def test_register_rejected_with_messages(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 400 carries Powernaut's messages, joined."""
    _no_sites(fake)
    fake.on("POST", SITES, reply(400, fixture="powernaut_error_400"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).register_site(_registration())
    assert err.value.status == 400
    assert err.value.detail == "Invalid datetime; Invalid page size"


async def test_get_site_with_markets(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Statuses and markets; ``unavailable`` reads as ineligible."""
    fake.on("GET", SITE, reply(fixture="powernaut_site"))
    fake.on("GET", f"{SITE}/markets", reply(fixture="powernaut_markets"))
    site = await _client(fake, session).get_site(SITE_ID)
    assert site.status is SiteStatus.ONBOARDED
    assert site.upstream_status is UpstreamStatus.CONTRACT_NEEDS_AGREEMENT
    assert site.raw_status == "onboarded"
    assert site.raw_upstream_status == "contract_needs_agreement"
    assert site.markets == (
        Market("mFRR", MarketStatus.ACTIVE),
        Market("aFRR", MarketStatus.INELIGIBLE),
        Market("FCR", MarketStatus.INELIGIBLE),
        Market(
            "Imbalance",
            MarketStatus.ACTION_REQUIRED,
            action="consent_required",
            action_url="https://app.powernaut.io/contract/1234/sign?country=BE",
        ),
    )


async def test_get_site_unknown_statuses(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Unknown status words become ``None``; the raw words are kept."""
    fake.on("GET", SITE, reply(fixture="powernaut_site_unknown_status"))
    fake.on(
        "GET",
        f"{SITE}/markets",
        reply(
            body=[{"name": "mFRR", "status": "action_required", "action": "consent"}]
        ),
    )
    site = await _client(fake, session).get_site(SITE_ID)
    assert site.status is None
    assert site.upstream_status is None
    assert site.raw_status == "hibernating"
    assert site.raw_upstream_status == "negotiating"
    assert site.location == Location(
        latitude=Decimal("50.85"), longitude=Decimal("4.35")
    )
    assert site.markets == (Market("mFRR", MarketStatus.ACTION_REQUIRED),)


async def test_get_site_minimal_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A site with nothing but an id still reads."""
    fake.on(
        "GET",
        SITE,
        reply(
            body={"id": SITE_ID, "supply_points": ["junk", {"direction": "offtake"}]}
        ),
    )
    fake.on("GET", f"{SITE}/markets", reply(body=[]))
    site = await _client(fake, session).get_site(SITE_ID)
    assert site.grid_identifier == ""
    assert site.location == Location()
    assert site.status is None
    assert site.raw_status is None


async def test_get_site_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """404 is not-found with Powernaut's message."""
    fake.on("GET", SITE, reply(404, fixture="powernaut_error_404_site"))
    with pytest.raises(GridFlexNotFoundError) as err:
        await _client(fake, session).get_site(SITE_ID)
    assert err.value.detail == "Site does not exist"


async def test_get_site_without_id_is_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A site answer without an id is a response error."""
    fake.on("GET", SITE, reply(body={"status": "onboarded"}))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).get_site(SITE_ID)


async def test_update_site_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """PATCH ``{location}``; 202 with the site, markets read again."""
    fake.on("PATCH", SITE, reply(202, fixture="powernaut_site"))
    fake.on("GET", f"{SITE}/markets", reply(fixture="powernaut_markets"))
    site = await _client(fake, session).update_site_location(
        SITE_ID, Location(address=ADDRESS)
    )
    (patch,) = fake.sent("PATCH", SITE)
    assert patch.json() == {"location": {"address": ADDRESS}}
    assert site.location.address == ADDRESS
    assert len(site.markets) == 4


async def test_update_site_location_empty_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 202 without a body: the site is read back."""
    fake.on("PATCH", SITE, reply(202))
    fake.on("GET", SITE, reply(fixture="powernaut_site"))
    fake.on("GET", f"{SITE}/markets", reply(body=[]))
    site = await _client(fake, session).update_site_location(
        SITE_ID, Location(latitude=Decimal("50.8503"), longitude=Decimal("4.3517"))
    )
    assert fake.sent("PATCH", SITE)[0].json() == {
        "location": {"latitude": "50.8503", "longitude": "4.3517"}
    }
    assert site.site_id == SITE_ID


async def test_update_site_location_needs_a_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No address and no coordinates: refused before sending."""
    with pytest.raises(GridFlexRequestRejectedError):
        await _client(fake, session).update_site_location(SITE_ID, Location())
    assert fake.requests == []


async def test_site_id_is_escaped_in_the_path(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A site id cannot reach another route."""
    fake.on("GET", f"{SITES}/a/b", reply(404, fixture="powernaut_error_404_site"))
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).get_site("a/b")
    assert f"{SITES}/a%2Fb" in [request.raw_path for request in fake.requests]


async def test_transport_failures(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Timeouts, 429 and 5xx surface as connection-type errors."""
    fake.on("GET", SITE, reply(fixture="powernaut_site", delay=0.5))
    with pytest.raises(GridFlexTimeoutError):
        await _client(fake, session, timeout=0.05).get_site(SITE_ID)
    fake.on("GET", SITE, reply(429, headers={"Retry-After": "30"}))
    with pytest.raises(GridFlexRateLimitedError) as err:
        await _client(fake, session).get_site(SITE_ID)
    assert err.value.retry_after == 30.0
    fake.on("GET", SITE, reply(502, raw=b"Bad Gateway", content_type="text/plain"))
    with pytest.raises(GridFlexConnectionError, match="HTTP 502: Bad Gateway"):
        await _client(fake, session).get_site(SITE_ID)


async def test_find_site_stops_after_page_limit(
    fake: FakePlatform, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that never ends its list is read to a bounded number of pages."""
    monkeypatch.setattr(powernaut, "_MAX_PAGES", 3)
    page = load("powernaut_sites_page1")
    del page["total"]
    fake.on("GET", SITES, reply(body=page))
    assert await _client(fake, session).find_site("000") is None
    assert len(fake.sent("GET", SITES)) == 3


async def test_rejection_with_bare_string(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A JSON string as the error body is the detail."""
    _no_sites(fake)
    fake.on("POST", SITES, reply(400, body="location must be set"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).register_site(_registration())
    assert err.value.detail == "location must be set"


async def test_rejection_without_message_uses_error(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without ``message`` the ``error`` reason phrase is the detail."""
    _no_sites(fake)
    fake.on("POST", SITES, reply(403, body={"error": "Forbidden", "status_code": 403}))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).register_site(_registration())
    assert err.value.detail == "Forbidden"


BATTERY_RESOURCE = Resource(
    resource_id=BATTERY_ID,
    type=ResourceType.BATTERY,
    raw_type="static_battery",
    name="Home Battery",
    power_minimum_kw=Decimal("-5.0"),
    power_maximum_kw=Decimal("7.4"),
    capacity_kwh=Decimal("13.5"),
    external_id="gridflex-battery",
    status=ResourceStatus.DEGRADED,
    health={
        HealthCheck.AVAILABILITY: "online",
        HealthCheck.ACTIVATION_COMPLIANCE: "initial",
        HealthCheck.BASELINES: "inaccurate",
        HealthCheck.BIDS: "no_bids",
        HealthCheck.METER_DATA: "rare_anomaly",
    },
)


async def test_create_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Power and capacity go out as exact decimal strings, never numbers."""
    fake.on("POST", RESOURCES, reply(201, fixture="powernaut_resource"))
    resource = await _client(fake, session).create_resource(SITE_ID, _spec())
    (created,) = fake.sent("POST", RESOURCES)
    assert created.json() == {
        "site_id": SITE_ID,
        "type": "static_battery",
        "name": "Home Battery",
        "external_id": "gridflex-battery",
        "power": {"active": {"minimum": "-5.0", "maximum": "7.4"}},
        "capacity": {"minimum": "0.0", "maximum": "13.5"},
    }
    assert b'"maximum": "7.4"' in created.body
    assert created.headers["Authorization"] == "Bearer pn-token-1"
    assert resource == BATTERY_RESOURCE


async def test_create_resource_in_group_without_capacity(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No capacity unless given; the group when given; no external id is null."""
    fake.on("POST", RESOURCES, reply(201, fixture="powernaut_resource_created"))
    resource = await _client(fake, session).create_resource(
        SITE_ID,
        _spec(
            name="Driveway charger",
            type=ResourceType.EV_CHARGER,
            power_minimum_kw=Decimal(0),
            power_maximum_kw=Decimal(11),
            capacity_kwh=None,
            group_id=GROUP_ID,
            external_id=None,
        ),
    )
    assert fake.sent("POST", RESOURCES)[0].json() == {
        "site_id": SITE_ID,
        "type": "electric_vehicle_charging_point",
        "name": "Driveway charger",
        "external_id": None,
        "power": {"active": {"minimum": "0.0", "maximum": "11.0"}},
        "group_id": GROUP_ID,
    }
    assert resource.type is ResourceType.EV_CHARGER
    assert resource.group_id == GROUP_ID
    assert resource.capacity_kwh is None
    assert resource.status is None
    assert resource.health == {}


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Decimal("7.4"), "7.4"),
        (Decimal(7), "7.0"),
        (Decimal(-5), "-5.0"),
        (Decimal("-0.000"), "0.0"),
        (Decimal("1E+1"), "10.0"),
        (Decimal("7.400000000"), "7.4"),
        (Decimal("0.000001"), "0.000001"),
        (Decimal("-123456789012345.123456"), "-123456789012345.123456"),
    ],
)
async def test_power_as_decimal_strings(
    fake: FakePlatform, session: aiohttp.ClientSession, value: Decimal, wire: str
) -> None:
    """A dot and at least one decimal, at most 6, no exponent, exact."""
    fake.on("POST", RESOURCES, reply(201, fixture="powernaut_resource"))
    await _client(fake, session).create_resource(
        SITE_ID, _spec(power_maximum_kw=value, capacity_kwh=value)
    )
    body = fake.sent("POST", RESOURCES)[0].json()
    assert body["power"]["active"]["maximum"] == wire
    assert body["capacity"] == {"minimum": "0.0", "maximum": wire}


@pytest.mark.parametrize(
    "spec",
    [
        _spec(power_maximum_kw=Decimal("7.4000001")),
        _spec(power_minimum_kw=Decimal(-1234567890123456)),
        _spec(capacity_kwh=Decimal("NaN")),
        _spec(power_maximum_kw=Decimal("Infinity")),
    ],
)
async def test_create_resource_refused_before_sending(
    fake: FakePlatform, session: aiohttp.ClientSession, spec: ResourceSpec
) -> None:
    """What Powernaut's decimal pattern cannot carry is refused up front."""
    client = _client(fake, session)
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await client.create_resource(SITE_ID, spec)
    assert err.value.status == 400
    with pytest.raises(GridFlexRequestRejectedError):
        await client.update_resource(SITE_ID, BATTERY_ID, spec)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("resource_type", "wire", "read_back"),
    [
        (ResourceType.BATTERY, "static_battery", ResourceType.BATTERY),
        (
            ResourceType.ELECTRIC_VEHICLE,
            "electric_vehicle",
            ResourceType.ELECTRIC_VEHICLE,
        ),
        (
            ResourceType.EV_CHARGER,
            "electric_vehicle_charging_point",
            ResourceType.EV_CHARGER,
        ),
        (ResourceType.HEAT_PUMP, "heat_pump", ResourceType.HEAT_PUMP),
        (ResourceType.SOLAR, "photovoltaic", ResourceType.SOLAR),
        (ResourceType.BOILER, "other", ResourceType.OTHER),
        (ResourceType.WIND, "wind", ResourceType.WIND),
        (ResourceType.GROUP, "group", ResourceType.GROUP),
        (ResourceType.OTHER, "other", ResourceType.OTHER),
    ],
)
async def test_resource_types_both_ways(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    resource_type: ResourceType,
    wire: str,
    read_back: ResourceType,
) -> None:
    """Each GridFlex type has a Powernaut type; a boiler is ``other``."""
    fake.on(
        "POST",
        RESOURCES,
        reply(201, body={**load("powernaut_resource"), "type": wire}),
    )
    resource = await _client(fake, session).create_resource(
        SITE_ID, _spec(type=resource_type)
    )
    assert fake.sent("POST", RESOURCES)[0].json()["type"] == wire
    assert resource.type is read_back
    assert resource.raw_type == wire


async def test_list_resources(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """One request with ``site_id``; unknown types keep only their raw word."""
    listing = load("powernaut_resources")
    listing["items"].append("junk")
    fake.on("GET", RESOURCES, reply(body=listing))
    resources = await _client(fake, session).list_resources(SITE_ID)
    (request,) = fake.sent("GET", RESOURCES)
    assert request.query == {"site_id": SITE_ID}
    assert resources[0] == BATTERY_RESOURCE
    group, charger, meter = resources[1:]
    assert (group.resource_id, group.type, group.group_id) == (
        GROUP_ID,
        ResourceType.GROUP,
        None,
    )
    assert (charger.type, charger.group_id) == (ResourceType.EV_CHARGER, GROUP_ID)
    assert charger.power_minimum_kw == Decimal("0.0")
    assert charger.status is None
    assert charger.health == {}
    assert meter.type is None
    assert meter.raw_type == "meter"
    assert meter.name is None
    assert meter.external_id is None


async def test_list_resources_empty_and_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An empty list is fine; a list without ``items`` is a response error."""
    fake.on("GET", RESOURCES, reply(body={"total": 0, "items": []}))
    client = _client(fake, session)
    assert await client.list_resources(SITE_ID) == []
    fake.on("GET", RESOURCES, reply(body={"total": 0}))
    with pytest.raises(GridFlexResponseError):
        await client.list_resources(SITE_ID)


async def test_get_resource(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Status and health checks are read when present."""
    fake.on("GET", BATTERY, reply(fixture="powernaut_resource"))
    assert await _client(fake, session).get_resource(SITE_ID, BATTERY_ID) == (
        BATTERY_RESOURCE
    )


async def test_get_resource_unknown_status_and_health(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Unknown status and health values are dropped; known ones are kept."""
    fake.on("GET", BATTERY, reply(fixture="powernaut_resource_unknown_status"))
    resource = await _client(fake, session).get_resource(SITE_ID, BATTERY_ID)
    assert resource.status is None
    assert resource.health == {HealthCheck.BASELINES: "accurate"}


async def test_get_resource_without_power_or_health_shapes(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Odd shapes of power, capacity and health checks read as absent."""
    fake.on(
        "GET",
        BATTERY,
        reply(
            body={
                "id": BATTERY_ID,
                "power": {"active": "7.4"},
                "capacity": None,
                "health_checks": ["online"],
            }
        ),
    )
    resource = await _client(fake, session).get_resource(SITE_ID, BATTERY_ID)
    assert resource == Resource(resource_id=BATTERY_ID)
    fake.on("GET", BATTERY, reply(body={"id": BATTERY_ID, "power": "7.4"}))
    resource = await _client(fake, session).get_resource(SITE_ID, BATTERY_ID)
    assert resource.power_maximum_kw is None


async def test_get_resource_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """404 is not-found with Powernaut's message; the id is escaped."""
    fake.on(
        "GET", f"{RESOURCES}/a/b", reply(404, fixture="powernaut_error_404_resource")
    )
    with pytest.raises(GridFlexNotFoundError) as err:
        await _client(fake, session).get_resource(SITE_ID, "a/b")
    assert err.value.detail == "Resource does not exist"
    assert fake.requests[-1].raw_path == f"{RESOURCES}/a%2Fb"


async def test_get_resource_without_id_is_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A resource answer without an id is a response error."""
    fake.on("GET", BATTERY, reply(body={"type": "static_battery"}))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).get_resource(SITE_ID, BATTERY_ID)


async def test_update_resource_clears_group_and_capacity(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """PATCH with every field; ``null`` clears the capacity and the group; 202."""
    fake.on("PATCH", CHARGER, reply(202, fixture="powernaut_resource_created"))
    resource = await _client(fake, session).update_resource(
        SITE_ID,
        CHARGER_ID,
        _spec(
            name="Driveway charger",
            type=ResourceType.EV_CHARGER,
            power_minimum_kw=Decimal(0),
            power_maximum_kw=Decimal(11),
            capacity_kwh=None,
        ),
    )
    (patch,) = fake.sent("PATCH", CHARGER)
    assert patch.json() == {
        "name": "Driveway charger",
        "type": "electric_vehicle_charging_point",
        "power": {"active": {"minimum": "0.0", "maximum": "11.0"}},
        "group_id": None,
    }
    assert b'"group_id": null' in patch.body
    assert resource.resource_id == CHARGER_ID


async def test_update_resource_into_group_empty_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Joining a group sends its id; a 202 without a body is read back."""
    fake.on("PATCH", BATTERY, reply(202))
    fake.on("GET", BATTERY, reply(fixture="powernaut_resource"))
    resource = await _client(fake, session).update_resource(
        SITE_ID, BATTERY_ID, _spec(type=ResourceType.BOILER, group_id=GROUP_ID)
    )
    assert fake.sent("PATCH", BATTERY)[0].json() == {
        "name": "Home Battery",
        "type": "other",
        "power": {"active": {"minimum": "-5.0", "maximum": "7.4"}},
        "capacity": {"minimum": "0.0", "maximum": "13.5"},
        "group_id": GROUP_ID,
    }
    assert resource == BATTERY_RESOURCE


async def test_update_resource_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Updating a deleted resource is not-found."""
    fake.on("PATCH", BATTERY, reply(404, fixture="powernaut_error_404_resource"))
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).update_resource(SITE_ID, BATTERY_ID, _spec())


async def test_delete_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """DELETE answers 204; a second time 404, which is not-found."""
    fake.on(
        "DELETE",
        BATTERY,
        reply(204),
        reply(404, fixture="powernaut_error_404_resource"),
    )
    client = _client(fake, session)
    assert await client.delete_resource(SITE_ID, BATTERY_ID) is None
    with pytest.raises(GridFlexNotFoundError, match="Resource does not exist"):
        await client.delete_resource(SITE_ID, BATTERY_ID)
    assert fake.calls() == [f"POST {TOKEN}", f"DELETE {BATTERY}", f"DELETE {BATTERY}"]
