"""FlexMeasures client against recorded responses."""

from __future__ import annotations

from decimal import Decimal
import json
from typing import TYPE_CHECKING

import pytest

from custom_components.gridflex.platforms import (
    Environment,
    FlexMeasuresClient,
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    Location,
    PlatformKey,
    Site,
    SiteRegistration,
    create_client,
)

from .conftest import FakeClock, FakePlatform, load, reply

if TYPE_CHECKING:
    import aiohttp

TOKEN = "/api/requestAuthToken"
API = "/api/v3_0"
ASSETS = f"{API}/assets"
TYPES = f"{ASSETS}/types"
ASSET = f"{ASSETS}/42"
USER = f"{API}/users/7"
EAN = "541448820044157096"
ADDRESS = "Dok Noord 1, 9000 Gent, Belgium"
CREDENTIALS = {"email": "toy-user@flexmeasures.io", "password": "toy-password"}
GENT = Location(
    address=ADDRESS, latitude=Decimal("51.0673"), longitude=Decimal("3.7302")
)


def _client(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    clock: FakeClock | None = None,
) -> FlexMeasuresClient:
    client = create_client(
        PlatformKey.FLEXMEASURES,
        session,
        CREDENTIALS,
        environment=Environment.CUSTOM,
        base_url=fake.url,
        request_timeout=2.0,
        clock=clock or FakeClock(),
    )
    assert isinstance(client, FlexMeasuresClient)
    return client


def _registration(location: Location = GENT) -> SiteRegistration:
    return SiteRegistration(
        name="Home", country="BE", grid_identifier=EAN, location=location
    )


@pytest.fixture(autouse=True)
def token_route(fake: FakePlatform) -> None:
    """Hand out a token unless a test says otherwise."""
    fake.on("POST", TOKEN, reply(fixture="fm_token"))


async def test_token_request_and_bare_header(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Email and password as JSON; the token goes out without ``Bearer``."""
    fake.on("GET", ASSET, reply(fixture="fm_asset"))
    await _client(fake, session).get_site("42")
    token_request, asset_request = fake.sent()
    assert token_request.json() == CREDENTIALS
    assert asset_request.headers["Authorization"] == "fm-token-1"


async def test_token_in_spec_form(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The spec's ``authentication_token`` spelling is read as well."""
    fake.on("POST", TOKEN, reply(fixture="fm_token_spec"))
    fake.on("GET", ASSET, reply(fixture="fm_asset"))
    await _client(fake, session).get_site("42")
    assert fake.sent("GET", ASSET)[0].headers["Authorization"] == "fm-token-spec"


@pytest.mark.parametrize(
    ("status", "fixture", "detail"),
    [
        (401, "fm_error_401", "could not be properly authenticated"),
        (404, "fm_error_404_user", "does not exist"),
        (422, "fm_error_422", "name: An asset with this name"),
        (400, "fm_error_400_token", "Not a valid JSON body"),
    ],
)
async def test_token_refused(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    status: int,
    fixture: str,
    detail: str,
) -> None:
    """401, 404 (unknown email), 422 and 400 from the token endpoint."""
    fake.on("POST", TOKEN, reply(status, fixture=fixture))
    with pytest.raises(GridFlexAuthError, match=detail):
        await _client(fake, session).authenticate()


async def test_token_endpoint_other_errors(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Other failures of the token endpoint are not credential problems."""
    fake.on("POST", TOKEN, reply(405, body={"status": "METHOD_NOT_ALLOWED"}))
    with pytest.raises(GridFlexRequestRejectedError, match="METHOD_NOT_ALLOWED") as err:
        await _client(fake, session).authenticate()
    assert not isinstance(err.value, GridFlexAuthError)
    fake.on("POST", TOKEN, reply(500))
    with pytest.raises(GridFlexConnectionError):
        await _client(fake, session).authenticate()
    fake.on("POST", TOKEN, reply(body={"user_id": 7}))
    with pytest.raises(GridFlexResponseError, match="no token"):
        await _client(fake, session).authenticate()


async def test_token_renewed_after_five_hours(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """No lifetime is given: the token is renewed after 5 hours."""
    fake.on("POST", TOKEN, reply(fixture="fm_token"), reply(fixture="fm_token_2"))
    fake.on("GET", ASSET, reply(fixture="fm_asset"))
    client = _client(fake, session, clock)
    await client.get_site("42")
    clock.advance(5 * 3600 - 1)
    await client.get_site("42")
    clock.advance(1)
    await client.get_site("42")
    assert [r.headers["Authorization"] for r in fake.sent("GET", ASSET)] == [
        "fm-token-1",
        "fm-token-1",
        "fm-token-2",
    ]


async def test_reauth_once_on_401(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 401 renews the token once; a second 401 is an auth error."""
    fake.on("POST", TOKEN, reply(fixture="fm_token"), reply(fixture="fm_token_2"))
    fake.on("GET", ASSET, reply(401, fixture="fm_error_401"), reply(fixture="fm_asset"))
    client = _client(fake, session)
    assert (await client.get_site("42")).site_id == "42"
    fake.on("GET", ASSET, reply(401, fixture="fm_error_401"))
    with pytest.raises(GridFlexAuthError, match="could not be properly authenticated"):
        await client.get_site("42")


async def test_find_site_by_name(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The asset named after the grid identifier, read in full."""
    fake.on("GET", ASSETS, reply(fixture="fm_assets"))
    fake.on("GET", ASSET, reply(fixture="fm_asset"))
    site = await _client(fake, session).find_site(EAN)
    assert site == Site(site_id="42", grid_identifier=EAN, location=GENT)
    assert fake.sent("GET", ASSETS)[0].query == {}


async def test_find_site_by_attribute(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A renamed asset is found by its ``grid_identifier`` attribute."""
    fake.on("GET", ASSETS, reply(fixture="fm_assets_renamed"))
    fake.on(
        "GET",
        f"{ASSETS}/43",
        reply(
            body={"id": 43, "name": "My house", "attributes": {"grid_identifier": EAN}}
        ),
    )
    site = await _client(fake, session).find_site(EAN)
    assert site == Site(site_id="43", grid_identifier=EAN)


async def test_find_site_none(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No matching asset: no site."""
    fake.on(
        "GET", ASSETS, reply(body=[{"id": 1, "name": "x", "attributes": "{not json"}])
    )
    assert await _client(fake, session).find_site(EAN) is None


async def test_find_site_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An asset list that is neither a list nor ``{data: [...]}``."""
    fake.on("GET", ASSETS, reply(body={"assets": []}))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).find_site(EAN)


async def test_register_creates_asset(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A ``building`` asset in the user's account, attributes as a JSON string."""
    fake.on("GET", ASSETS, reply(body=[]))
    fake.on("GET", TYPES, reply(fixture="fm_asset_types"))
    fake.on("GET", USER, reply(fixture="fm_user"))
    fake.on("POST", ASSETS, reply(201, fixture="fm_asset_created"))
    registered = await _client(fake, session).register_site(_registration())
    (created,) = fake.sent("POST", ASSETS)
    body = created.json()
    assert body == {
        "name": f"GridFlex {EAN}",
        "generic_asset_type_id": 5,
        "account_id": 2,
        "latitude": 51.0673,
        "longitude": 3.7302,
        "attributes": json.dumps(
            {"grid_identifier": EAN, "country": "BE", "address": ADDRESS}
        ),
    }
    assert isinstance(body["attributes"], str)
    assert created.headers["Authorization"] == "fm-token-1"
    assert registered.created is True
    assert registered.edge_credentials is None
    assert registered.site == Site(site_id="44", grid_identifier=EAN, location=GENT)


async def test_register_without_location_or_building_type(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No coordinates, no address, no ``building`` type, user wrapped or not."""
    fake.on("GET", ASSETS, reply(body=[]))
    fake.on("GET", TYPES, reply(fixture="fm_asset_types_no_building"))
    fake.on("GET", USER, reply(body={"id": 7, "account_id": "3"}))
    fake.on("POST", ASSETS, reply(201, body={"id": 45, "name": f"GridFlex {EAN}"}))
    registered = await _client(fake, session).register_site(_registration(Location()))
    assert fake.sent("POST", ASSETS)[0].json() == {
        "name": f"GridFlex {EAN}",
        "generic_asset_type_id": 3,
        "account_id": 3,
        "attributes": json.dumps({"grid_identifier": EAN, "country": "BE"}),
    }
    assert registered.site == Site(site_id="45", grid_identifier=EAN)


async def test_register_when_user_cannot_be_read(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without a readable user the account is left to the server."""
    fake.on("GET", ASSETS, reply(body=[]))
    fake.on("GET", TYPES, reply(fixture="fm_asset_types"))
    fake.on("GET", USER, reply(404))
    fake.on("POST", ASSETS, reply(201, fixture="fm_asset_created"))
    await _client(fake, session).register_site(_registration())
    assert "account_id" not in fake.sent("POST", ASSETS)[0].json()


async def test_register_when_token_has_no_user(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A token answer without ``user_id``: no account lookup."""
    fake.on("POST", TOKEN, reply(fixture="fm_token_spec"))
    fake.on("GET", ASSETS, reply(body=[]))
    fake.on("GET", TYPES, reply(fixture="fm_asset_types"))
    fake.on("POST", ASSETS, reply(201, fixture="fm_asset_created"))
    await _client(fake, session).register_site(_registration())
    assert fake.sent("GET", USER) == []
    assert "account_id" not in fake.sent("POST", ASSETS)[0].json()


async def test_register_adopts_existing_asset(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The asset exists already: adopted, nothing created."""
    fake.on("GET", ASSETS, reply(fixture="fm_assets"))
    fake.on("GET", ASSET, reply(fixture="fm_asset"))
    registered = await _client(fake, session).register_site(_registration())
    assert registered.created is False
    assert registered.site.site_id == "42"
    assert fake.sent("POST", ASSETS) == []


async def test_register_without_asset_types(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A server without asset types cannot hold the site."""
    fake.on("GET", ASSETS, reply(body=[]))
    fake.on("GET", TYPES, reply(body=[{"name": "no id"}]))
    with pytest.raises(GridFlexResponseError, match="no asset types"):
        await _client(fake, session).register_site(_registration())


async def test_register_rejected(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 422 carries the field messages."""
    fake.on("GET", ASSETS, reply(body=[]))
    fake.on("GET", TYPES, reply(fixture="fm_asset_types"))
    fake.on("GET", USER, reply(fixture="fm_user"))
    fake.on("POST", ASSETS, reply(422, fixture="fm_error_422"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).register_site(_registration())
    assert err.value.status == 422
    assert err.value.detail == (
        "json: name: An asset with this name already exists in this account."
    )


async def test_get_site(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """The asset as a site: no statuses, no markets."""
    fake.on("GET", ASSET, reply(fixture="fm_asset"))
    site = await _client(fake, session).get_site("42")
    assert site == Site(site_id="42", grid_identifier=EAN, location=GENT)


async def test_get_site_bad_id(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Asset ids are numbers; anything else cannot exist."""
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).get_site("../users/7")
    assert fake.requests == []


async def test_get_site_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A deleted asset is not found."""
    fake.on("GET", ASSET, reply(404, body={"message": "No asset found with id 42."}))
    with pytest.raises(GridFlexNotFoundError, match="No asset found"):
        await _client(fake, session).get_site("42")


async def test_get_site_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An asset without an id is a response error."""
    fake.on("GET", ASSET, reply(body={"name": "x"}))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).get_site("42")


async def test_update_site_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A partial PATCH: coordinates and the attributes with the new address."""
    fake.on("GET", ASSET, reply(fixture="fm_asset"))
    fake.on("PATCH", ASSET, reply(fixture="fm_asset_moved"))
    brussels = Location(
        address="Grote Markt 1, 1000 Brussel",
        latitude=Decimal("50.8503"),
        longitude=Decimal("4.3517"),
    )
    site = await _client(fake, session).update_site_location("42", brussels)
    assert fake.sent("PATCH", ASSET)[0].json() == {
        "latitude": 50.8503,
        "longitude": 4.3517,
        "attributes": json.dumps(
            {
                "grid_identifier": EAN,
                "country": "BE",
                "address": "Grote Markt 1, 1000 Brussel",
            }
        ),
    }
    assert site.location == brussels


async def test_update_site_location_without_address(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No address removes it; missing coordinates are left alone."""
    fake.on("GET", ASSET, reply(fixture="fm_asset"), reply(fixture="fm_asset"))
    fake.on("PATCH", ASSET, reply(204))
    await _client(fake, session).update_site_location("42", Location())
    assert fake.sent("PATCH", ASSET)[0].json() == {
        "attributes": json.dumps({"grid_identifier": EAN, "country": "BE"})
    }
    assert len(fake.sent("GET", ASSET)) == 2


async def test_error_detail_shapes(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Bare strings and bodies without a message still explain themselves."""
    fake.on("GET", ASSET, reply(403, body="INVALID_SENDER"))
    with pytest.raises(GridFlexRequestRejectedError, match="INVALID_SENDER"):
        await _client(fake, session).get_site("42")
    fake.on("GET", ASSET, reply(403, body={"result": "Rejected"}))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).get_site("42")
    assert err.value.detail == '{"result": "Rejected"}'
    assert load("fm_error_422")["status"] == "UNPROCESSABLE_ENTITY"
