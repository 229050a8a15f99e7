"""FlexMeasures client against recorded responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
import json
from typing import TYPE_CHECKING, Any

import pytest

from custom_components.gridflex.platforms import (
    EnergyCoordinationClient,
    Environment,
    FlexMeasuresClient,
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexNotFoundError,
    GridFlexRateLimitedError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    Location,
    PlatformKey,
    PowernautClient,
    Resource,
    ResourceSpec,
    ResourceType,
    Site,
    SiteRegistration,
    create_client,
)
from custom_components.gridflex.platforms.base import IntervalUploader
from custom_components.gridflex.platforms.flexmeasures import FlexMeasuresPriceUnitError
from custom_components.gridflex.platforms.models import PowerSeries, PriceSeries

from .conftest import FakeClock, FakePlatform, load, reply

if TYPE_CHECKING:
    import aiohttp

TOKEN = "/api/requestAuthToken"
API = "/api/v3_0"
ASSETS = f"{API}/assets"
TYPES = f"{ASSETS}/types"
ASSET = f"{ASSETS}/42"
USER = f"{API}/users/7"
SENSORS = f"{API}/sensors"
BATTERY = f"{ASSETS}/50"
GROUP = f"{ASSETS}/51"
RESOURCE_FIELDS = "id|name|parent_asset_id|generic_asset_type|attributes"
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


@pytest.mark.parametrize(
    "answer",
    [reply(500), reply(403, fixture="fm_error_401"), reply(body=["not", "a user"])],
)
async def test_register_when_the_user_read_fails(
    fake: FakePlatform, session: aiohttp.ClientSession, answer: Any
) -> None:
    """Any answer but the user: the account of the user's other assets; asked again later."""
    fake.on(
        "GET", ASSETS, reply(body=[{"id": 41, "name": "toy-building", "account_id": 2}])
    )
    fake.on("GET", TYPES, reply(fixture="fm_asset_types"))
    fake.on("GET", USER, answer)
    fake.on("POST", ASSETS, reply(201, fixture="fm_asset_created"))
    client = _client(fake, session)
    await client.register_site(_registration())
    assert fake.sent("POST", ASSETS)[0].json()["account_id"] == 2
    await client.register_site(_registration())
    assert len(fake.sent("GET", USER)) == 2


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


BATTERY_RESOURCE = Resource(
    resource_id="50",
    type=ResourceType.BATTERY,
    raw_type="battery",
    name="Home Battery",
    power_minimum_kw=Decimal("-5.0"),
    power_maximum_kw=Decimal("7.4"),
    capacity_kwh=Decimal("13.5"),
    external_id="gridflex-battery",
    power_sensor_id="101",
)
BATTERY_ATTRIBUTES = (
    '{"gridflex_type": "battery", "external_id": "gridflex-battery", '
    '"power_minimum_kw": "-5.0", "power_maximum_kw": "7.4", '
    '"capacity_kwh": "13.5"}'
)
#: -5 … 7.4 kW: charging at 7.4 kW, discharging at 5 kW, never one symmetric capacity.
BATTERY_FLEX_MODEL = (
    '{"power-capacity": "7.4 kW", "consumption-capacity": "7.4 kW", '
    '"production-capacity": "5.0 kW", "soc-min": "0.0 kWh", "soc-max": "13.5 kWh"}'
)
SIGNED = '{"consumption_is_positive": true}'


def _creation_routes(fake: FakePlatform, types: str = "fm_asset_types_all") -> None:
    fake.on("GET", ASSETS, reply(body=[]))  # no asset of that name yet
    fake.on("GET", TYPES, reply(fixture=types))
    fake.on("GET", USER, reply(fixture="fm_user"))
    fake.on("POST", ASSETS, reply(201, fixture="fm_resource_created"))
    fake.on("POST", SENSORS, reply(201, fixture="fm_sensor_created"))


async def test_create_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A child asset with JSON-string attributes and flex-model, then its power sensor."""
    _creation_routes(fake)
    resource = await _client(fake, session).create_resource("42", _spec())
    (created,) = fake.sent("POST", ASSETS)
    body = created.json()
    assert body == {
        "name": "Home Battery",
        "generic_asset_type_id": 5,
        "parent_asset_id": 42,
        "account_id": 2,
        "attributes": BATTERY_ATTRIBUTES,
        "flex_model": BATTERY_FLEX_MODEL,
    }
    assert isinstance(body["attributes"], str)
    assert "capacity_in_mw" not in json.loads(body["attributes"])
    assert fake.sent("POST", SENSORS)[0].json() == {
        "name": "power",
        "unit": "kW",
        "event_resolution": "PT15M",
        "generic_asset_id": 50,
        "attributes": SIGNED,
    }
    assert resource == BATTERY_RESOURCE
    assert fake.sent("GET", ASSETS)[0].query == {
        "root": "42",
        "depth": "1",
        "fields": RESOURCE_FIELDS,
    }
    assert fake.calls() == [
        f"POST {TOKEN}",
        f"GET {ASSETS}",
        f"GET {TYPES}",
        f"GET {USER}",
        f"POST {ASSETS}",
        f"POST {SENSORS}",
    ]


async def test_sensors_get_the_home_timezone(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A client told the home's timezone gives it to the sensors it makes."""
    _creation_routes(fake)
    client = _client(fake, session)
    client.timezone = "Europe/Brussels"
    await client.create_resource("42", _spec())
    assert fake.sent("POST", SENSORS)[0].json()["timezone"] == "Europe/Brussels"


@pytest.mark.parametrize("match", ["name", "external_id"])
async def test_create_resource_adopts_an_existing_asset(
    fake: FakePlatform, session: aiohttp.ClientSession, match: str
) -> None:
    """An asset of that name (or GridFlex's external id) under the parent is taken back."""
    _creation_routes(fake)
    found = load("fm_resource_asset")
    if match == "external_id":
        found["name"] = "Renamed on the server"
    fake.on("GET", ASSETS, reply(body=[load("fm_asset"), found]))
    fake.on("GET", BATTERY, reply(body=found))
    fake.on("PATCH", BATTERY, reply(fixture="fm_resource_asset"))
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    resource = await _client(fake, session).create_resource("42", _spec())
    assert fake.sent("POST") == fake.sent("POST", TOKEN)
    assert fake.sent("PATCH", BATTERY)[0].json() == {
        "name": "Home Battery",
        "parent_asset_id": 42,
        "attributes": BATTERY_ATTRIBUTES,
        "flex_model": BATTERY_FLEX_MODEL,
    }
    assert resource.resource_id == "50"
    assert resource.power_sensor_id == "101"


async def test_adopted_asset_without_power_sensor_gets_one(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A taken-back asset that lost its sensor gets a new one; nothing else is made."""
    _creation_routes(fake)
    fake.on("GET", ASSETS, reply(body=[load("fm_resource_asset")]))
    fake.on("GET", BATTERY, reply(fixture="fm_resource_asset"))
    fake.on("PATCH", BATTERY, reply(fixture="fm_resource_asset"))
    fake.on("GET", SENSORS, reply(body=[]))
    resource = await _client(fake, session).create_resource("42", _spec())
    assert fake.sent("POST", ASSETS) == []
    assert len(fake.sent("POST", SENSORS)) == 1
    assert resource.power_sensor_id == "101"


async def test_create_resource_in_group(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Under the group's asset; no capacity attribute; hours in hours."""
    _creation_routes(fake)
    await _client(fake, session).create_resource(
        "42",
        _spec(
            name="Roof PV",
            type=ResourceType.SOLAR,
            power_minimum_kw=Decimal("-6.50"),
            power_maximum_kw=Decimal(0),
            capacity_kwh=None,
            group_id="51",
            external_id=None,
            resolution_minutes=60,
        ),
    )
    body = fake.sent("POST", ASSETS)[0].json()
    assert body["parent_asset_id"] == 51
    assert body["generic_asset_type_id"] == 1
    assert body["attributes"] == (
        '{"gridflex_type": "solar", "power_minimum_kw": "-6.5", '
        '"power_maximum_kw": "0.0"}'
    )
    assert json.loads(body["flex_model"]) == {
        "power-capacity": "6.5 kW",
        "consumption-capacity": "0.0 kW",
        "production-capacity": "6.5 kW",
    }
    assert fake.sent("GET", ASSETS)[0].query["root"] == "51"
    assert fake.sent("POST", SENSORS)[0].json()["event_resolution"] == "PT1H"


@pytest.mark.parametrize(
    ("minutes", "wire"),
    [(5, "PT5M"), (15, "PT15M"), (90, "PT90M"), (120, "PT2H")],
)
async def test_create_resource_resolution(
    fake: FakePlatform, session: aiohttp.ClientSession, minutes: int, wire: str
) -> None:
    """The homeowner's resolution becomes the sensor's ISO 8601 duration."""
    _creation_routes(fake)
    await _client(fake, session).create_resource(
        "42", _spec(resolution_minutes=minutes)
    )
    assert fake.sent("POST", SENSORS)[0].json()["event_resolution"] == wire


@pytest.mark.parametrize(
    ("minimum", "maximum", "capacities"),
    [
        (Decimal(0), Decimal(0), ("0.0", "0.0", "0.0")),
        (Decimal(-3), Decimal(4), ("4.0", "4.0", "3.0")),
        (Decimal(-11000), Decimal(3), ("11000.0", "3.0", "11000.0")),
        (Decimal("0.1"), Decimal("1E+1"), ("10.0", "10.0", "0.0")),
    ],
)
async def test_stored_capacities_per_direction(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    minimum: Decimal,
    maximum: Decimal,
    capacities: tuple[str, str, str],
) -> None:
    """Power, consumption and production capacity, exact, in the stored flex-model."""
    _creation_routes(fake)
    await _client(fake, session).create_resource(
        "42", _spec(power_minimum_kw=minimum, power_maximum_kw=maximum)
    )
    flex_model = json.loads(fake.sent("POST", ASSETS)[0].json()["flex_model"])
    power, consumption, production = capacities
    assert flex_model == {
        "power-capacity": f"{power} kW",
        "consumption-capacity": f"{consumption} kW",
        "production-capacity": f"{production} kW",
        "soc-min": "0.0 kWh",
        "soc-max": "13.5 kWh",
    }


@pytest.mark.parametrize(
    ("resource_type", "all_types", "few_types", "no_building"),
    [
        (ResourceType.BATTERY, 5, 2, 3),
        (ResourceType.ELECTRIC_VEHICLE, 3, 5, 3),
        (ResourceType.EV_CHARGER, 3, 5, 3),
        (ResourceType.HEAT_PUMP, 9, 5, 3),
        (ResourceType.SOLAR, 1, 1, 3),
        (ResourceType.BOILER, 7, 5, 3),
        (ResourceType.WIND, 2, 5, 3),
        (ResourceType.GROUP, 6, 5, 3),
        (ResourceType.OTHER, 7, 5, 3),
    ],
)
async def test_resource_asset_types(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    resource_type: ResourceType,
    all_types: int,
    few_types: int,
    no_building: int,
) -> None:
    """The preferred asset type, else ``building``, else the server's first."""
    for types, expected in (
        ("fm_asset_types_all", all_types),
        ("fm_asset_types", few_types),
        ("fm_asset_types_no_building", no_building),
    ):
        _creation_routes(fake, types)
        await _client(fake, session).create_resource("42", _spec(type=resource_type))
        body = fake.sent("POST", ASSETS)[-1].json()
        assert body["generic_asset_type_id"] == expected
        assert json.loads(body["attributes"])["gridflex_type"] == resource_type


async def test_create_resource_caches_types_and_account(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Asset types and the account are read once per client."""
    _creation_routes(fake, "fm_asset_types")
    fake.on("GET", ASSETS, reply(body=[]))
    client = _client(fake, session)
    await client.create_resource("42", _spec())
    await client.create_resource("42", _spec(type=ResourceType.WIND))
    await client.register_site(_registration())
    assert len(fake.sent("GET", TYPES)) == 1
    assert len(fake.sent("GET", USER)) == 1
    assert [r.json()["generic_asset_type_id"] for r in fake.sent("POST", ASSETS)] == [
        2,
        5,
        5,
    ]


async def test_create_resource_without_account(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Without a readable account the parent decides it."""
    _creation_routes(fake)
    fake.on("GET", USER, reply(404))
    client = _client(fake, session)
    await client.create_resource("42", _spec())
    await client.create_resource("42", _spec())
    assert "account_id" not in fake.sent("POST", ASSETS)[0].json()
    assert len(fake.sent("GET", USER)) == 2


@pytest.mark.parametrize(
    ("site_id", "spec", "error"),
    [
        ("42", _spec(resolution_minutes=0), GridFlexRequestRejectedError),
        ("42", _spec(group_id="group-a"), GridFlexRequestRejectedError),
        ("42", _spec(power_maximum_kw=Decimal("NaN")), GridFlexRequestRejectedError),
        ("site", _spec(), GridFlexNotFoundError),
    ],
)
async def test_create_resource_refused_before_sending(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    site_id: str,
    spec: ResourceSpec,
    error: type[Exception],
) -> None:
    """What cannot become an asset is refused before anything is sent."""
    with pytest.raises(error):
        await _client(fake, session).create_resource(site_id, spec)
    assert fake.requests == []


async def test_create_resource_sensor_refused_removes_asset(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No half-made resource: the asset goes when its sensor cannot be made."""
    _creation_routes(fake)
    fake.on("POST", SENSORS, reply(422, fixture="fm_error_422"))
    fake.on("DELETE", BATTERY, reply(204))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).create_resource("42", _spec())
    assert err.value.status == 422
    assert fake.calls()[-2:] == [f"POST {SENSORS}", f"DELETE {BATTERY}"]


async def test_create_resource_cleanup_failure_keeps_first_error(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A failing clean-up does not hide why the sensor failed."""
    _creation_routes(fake)
    fake.on("POST", SENSORS, reply(503))
    fake.on("DELETE", BATTERY, reply(500))
    with pytest.raises(GridFlexConnectionError, match="HTTP 503"):
        await _client(fake, session).create_resource("42", _spec())


async def test_create_resource_unreadable_answers(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An asset or a sensor without an id is a response error (the asset goes again)."""
    _creation_routes(fake)
    fake.on("POST", SENSORS, reply(201, body={"name": "power"}))
    fake.on("DELETE", BATTERY, reply(204))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).create_resource("42", _spec())
    assert fake.calls()[-1] == f"DELETE {BATTERY}"
    fake.on("POST", ASSETS, reply(201, body={"name": "Home Battery"}))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).create_resource("42", _spec())


async def test_list_resources(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The site's children and its groups' members, with their power sensors."""
    fake.on("GET", ASSETS, reply(fixture="fm_resource_assets"))
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    resources = await _client(fake, session).list_resources("42")
    assert fake.sent("GET", ASSETS)[0].query == {
        "root": "42",
        "depth": "2",
        "fields": RESOURCE_FIELDS,
    }
    assert fake.sent("GET", SENSORS)[0].query == {"asset": "42"}
    assert resources == [
        BATTERY_RESOURCE,
        Resource(
            resource_id="51",
            type=ResourceType.GROUP,
            raw_type="group",
            name="PV + battery",
            power_minimum_kw=Decimal("-10.0"),
            power_maximum_kw=Decimal("5.0"),
            external_id="gridflex-group",
            power_sensor_id="102",
        ),
        Resource(
            resource_id="53",
            type=ResourceType.WIND,
            raw_type="wind",
            name="Garden turbine",
        ),
        Resource(
            resource_id="52",
            type=ResourceType.SOLAR,
            raw_type="solar",
            name="Roof PV",
            power_minimum_kw=Decimal("-6.5"),
            power_maximum_kw=Decimal("0.0"),
            group_id="51",
            external_id="gridflex-solar",
            power_sensor_id="104",
        ),
    ]


async def test_list_resources_filters_a_whole_account(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Assets outside the site's tree, or without an id, are left out."""
    assets = [
        *load("fm_resource_assets"),
        {"id": 60, "name": "Elsewhere", "parent_asset_id": None},
        {"id": 61, "name": "Elsewhere's child", "parent_asset_id": 60},
        {"name": "no id", "parent_asset_id": 42},
        {"id": 70, "name": "Too deep", "parent_asset_id": 52},
    ]
    fake.on("GET", ASSETS, reply(body={"data": assets}))
    fake.on("GET", SENSORS, reply(body={"data": load("fm_sensors")}))
    resources = await _client(fake, session).list_resources("42")
    assert [r.resource_id for r in resources] == ["50", "51", "53", "52"]


async def test_list_resources_none(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A site without children needs no sensor lookup; a bad id none at all."""
    fake.on("GET", ASSETS, reply(body=[load("fm_resource_assets")[0]]))
    client = _client(fake, session)
    assert await client.list_resources("42") == []
    assert fake.sent("GET", SENSORS) == []
    with pytest.raises(GridFlexNotFoundError):
        await client.list_resources("../42")
    assert len(fake.sent("GET", ASSETS)) == 1


async def test_get_resource(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """The asset and the sensors below it; only its own power sensor counts."""
    fake.on("GET", BATTERY, reply(fixture="fm_resource_asset"))
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    resource = await _client(fake, session).get_resource("42", "50")
    assert resource == BATTERY_RESOURCE
    assert fake.sent("GET", SENSORS)[0].query == {"asset": "50"}


async def test_get_group_member(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A member's group is its parent asset; no power sensor reads as absent."""
    asset = {
        **load("fm_resource_asset"),
        "id": 52,
        "parent_asset_id": 51,
        "attributes": {"gridflex_type": "solar", "power_maximum_kw": "0.0"},
    }
    fake.on("GET", f"{ASSETS}/52", reply(body=asset))
    fake.on("GET", SENSORS, reply(body=[{"id": 9, "name": "power"}, "junk"]))
    resource = await _client(fake, session).get_resource("42", "52")
    assert resource.group_id == "51"
    assert resource.type is ResourceType.SOLAR
    assert resource.power_maximum_kw == Decimal("0.0")
    assert resource.power_sensor_id is None


async def test_get_resource_read_back_shapes(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Unknown GridFlex types stay raw; the asset's own external id is a fallback."""
    asset = {
        "id": 50,
        "name": "Fridge",
        "parent_asset_id": None,
        "external_id": "fridge-1",
        "generic_asset_type": {"id": 6, "name": "building"},
        "attributes": json.dumps({"gridflex_type": "fridge", "capacity_kwh": 2}),
    }
    fake.on("GET", BATTERY, reply(body=asset))
    fake.on("GET", SENSORS, reply(body=[]))
    client = _client(fake, session)
    resource = await client.get_resource("42", "50")
    assert resource == Resource(
        resource_id="50",
        raw_type="fridge",
        name="Fridge",
        capacity_kwh=Decimal(2),
        external_id="fridge-1",
    )
    fake.on("GET", BATTERY, reply(body={"id": 50, "generic_asset_type": {"id": 6}}))
    resource = await client.get_resource("42", "50")
    assert resource == Resource(resource_id="50")
    fake.on("GET", BATTERY, reply(body={"id": 50, "generic_asset_type": "x"}))
    assert (await client.get_resource("42", "50")).raw_type is None


async def test_get_resource_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A deleted asset is not-found; an id that is no number is never sent."""
    fake.on("GET", BATTERY, reply(404, body={"message": "No asset found with id 50."}))
    client = _client(fake, session)
    with pytest.raises(GridFlexNotFoundError, match="No asset found"):
        await client.get_resource("42", "50")
    with pytest.raises(GridFlexNotFoundError):
        await client.get_resource("42", "../sensors")
    assert len(fake.sent("GET")) == 1


async def test_update_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Partial PATCH: name, parent and GridFlex's attributes, others kept."""
    current = load("fm_resource_asset")
    current["parent_asset_id"] = 51
    current["attributes"] = (
        '{"note": "keep me", "gridflex_type": "battery", "capacity_kwh": "13.5", '
        '"soc_in_mwh": 0.0000123456789012345678, "nested": {"efficiency": [0.95, 1]}, '
        '"capacity_in_mw": 0.0074}'
    )
    # FlexMeasures made power-capacity out of an older capacity_in_mw.
    current["flex_model"] = (
        '{"power-capacity": "0.0074 MW", "roundtrip-efficiency": "90%", '
        '"soc-max": "13.5 kWh"}'
    )
    fake.on("GET", BATTERY, reply(body=current))
    patched = {**load("fm_resource_asset"), "name": "Garage battery"}
    fake.on("PATCH", BATTERY, reply(body=patched))
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    resource = await _client(fake, session).update_resource(
        "42",
        "50",
        _spec(
            name="Garage battery",
            type=ResourceType.OTHER,
            power_minimum_kw=Decimal("-3.70"),
            power_maximum_kw=Decimal(2),
            capacity_kwh=None,
            external_id=None,
        ),
    )
    (patch,) = fake.sent("PATCH", BATTERY)
    assert patch.json() == {
        "name": "Garage battery",
        "parent_asset_id": 42,
        "attributes": (
            '{"note": "keep me", "gridflex_type": "other", '
            '"soc_in_mwh": 0.0000123456789012345678, '
            '"nested": {"efficiency": [0.95, 1]}, '
            '"power_minimum_kw": "-3.7", "power_maximum_kw": "2.0"}'
        ),
        "flex_model": (
            '{"roundtrip-efficiency": "90%", "power-capacity": "3.7 kW", '
            '"consumption-capacity": "2.0 kW", "production-capacity": "3.7 kW"}'
        ),
    }
    assert resource.name == "Garage battery"
    assert resource.group_id is None
    assert resource.power_sensor_id == "101"


async def test_update_resource_into_group_empty_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Joining a group moves the asset under it; an empty answer is read back."""
    fake.on("GET", BATTERY, reply(fixture="fm_resource_asset"))
    fake.on("PATCH", BATTERY, reply(204))
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    await _client(fake, session).update_resource("42", "50", _spec(group_id="51"))
    body = fake.sent("PATCH", BATTERY)[0].json()
    assert body["parent_asset_id"] == 51
    assert body["attributes"] == BATTERY_ATTRIBUTES
    assert fake.calls()[1:] == [
        f"GET {BATTERY}",
        f"PATCH {BATTERY}",
        f"GET {BATTERY}",
        f"GET {SENSORS}",
    ]


async def test_update_resource_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A deleted asset is not-found before anything is changed."""
    fake.on("GET", BATTERY, reply(404, body={"message": "No asset found with id 50."}))
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).update_resource("42", "50", _spec())
    assert fake.sent("PATCH") == []


async def test_delete_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """DELETE answers 204; a resource without children is just deleted."""
    fake.on("GET", BATTERY, reply(fixture="fm_resource_asset"))
    fake.on("DELETE", BATTERY, reply(204))
    assert await _client(fake, session).delete_resource("42", "50") is None
    assert fake.calls()[1:] == [f"GET {BATTERY}", f"DELETE {BATTERY}"]


async def test_delete_group_keeps_members(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """FlexMeasures would delete the children: they move to the site first."""
    group = load("fm_resource_group_asset")
    group["child_assets"].append({"name": "no id"})
    fake.on("GET", GROUP, reply(body=group))
    fake.on("PATCH", f"{ASSETS}/52", reply(fixture="fm_resource_asset"))
    fake.on("PATCH", f"{ASSETS}/54", reply(fixture="fm_resource_asset"))
    fake.on("DELETE", GROUP, reply(204))
    await _client(fake, session).delete_resource("42", "51")
    assert fake.calls()[1:] == [
        f"GET {GROUP}",
        f"PATCH {ASSETS}/52",
        f"PATCH {ASSETS}/54",
        f"DELETE {GROUP}",
    ]
    assert [r.json() for r in fake.sent("PATCH")] == [{"parent_asset_id": 42}] * 2


async def test_delete_resource_not_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Already gone: not-found, nothing deleted; odd children are skipped."""
    fake.on("GET", BATTERY, reply(404, body={"message": "No asset found with id 50."}))
    client = _client(fake, session)
    with pytest.raises(GridFlexNotFoundError):
        await client.delete_resource("42", "50")
    assert fake.sent("DELETE") == []
    fake.on("GET", BATTERY, reply(body={"id": 50, "child_assets": None}))
    fake.on("DELETE", BATTERY, reply(404, body={"message": "gone meanwhile"}))
    with pytest.raises(GridFlexNotFoundError, match="gone meanwhile"):
        await client.delete_resource("42", "50")


async def test_get_resource_without_id_is_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An asset answer without an id is a response error."""
    fake.on("GET", BATTERY, reply(body={"name": "Home Battery"}))
    fake.on("GET", SENSORS, reply(body=[]))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).get_resource("42", "50")


# --- meter data: the site's power sensor and interval uploads -------------------

SITE_DATA = f"{SENSORS}/100/data"
WINTER = timezone(timedelta(hours=1))


def _series(
    values: tuple[Decimal | None, ...] = (Decimal("1.2"), None, Decimal("-3.50")),
    **overrides: Any,
) -> PowerSeries:
    fields: dict[str, Any] = {
        "sensor_id": "100",
        "start": datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        "resolution_minutes": 15,
        "values_kw": values,
    }
    fields.update(overrides)
    return PowerSeries(**fields)


def test_flexmeasures_uploads_intervals() -> None:
    """Only FlexMeasures takes interval data; its client is an IntervalUploader."""
    assert FlexMeasuresClient.capabilities.uploads_intervals
    assert not PowernautClient.capabilities.uploads_intervals
    assert not EnergyCoordinationClient.capabilities.uploads_intervals
    assert issubclass(FlexMeasuresClient, IntervalUploader)


async def test_site_power_sensor_found(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The site asset's own ``power`` sensor is used as it is."""
    fake.on("GET", SENSORS, reply(fixture="fm_sensors"))
    client = _client(fake, session)
    assert isinstance(client, IntervalUploader)
    assert await client.ensure_site_power_sensor("42", 5) == "100"
    [listing] = fake.sent("GET", SENSORS)
    assert listing.query == {"asset": "42"}
    assert fake.sent("POST", SENSORS) == []


@pytest.mark.parametrize(("minutes", "resolution"), [(15, "PT15M"), (60, "PT1H")])
async def test_site_power_sensor_created(
    fake: FakePlatform, session: aiohttp.ClientSession, minutes: int, resolution: str
) -> None:
    """Power sensors of the resources and other sensors of the site do not count."""
    fake.on("GET", SENSORS, reply(fixture="fm_sensors_resources_only"))
    fake.on("POST", SENSORS, reply(201, fixture="fm_site_sensor_created"))
    client = _client(fake, session)
    assert await client.ensure_site_power_sensor("42", minutes) == "110"
    [created] = fake.sent("POST", SENSORS)
    assert created.json() == {
        "name": "power",
        "unit": "kW",
        "event_resolution": resolution,
        "generic_asset_id": 42,
        "attributes": SIGNED,
    }


async def test_site_power_sensor_errors(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Bad ids and resolutions are refused before sending; an id-less answer fails."""
    client = _client(fake, session)
    with pytest.raises(GridFlexNotFoundError):
        await client.ensure_site_power_sensor("site-42", 15)
    with pytest.raises(GridFlexRequestRejectedError) as rejected:
        await client.ensure_site_power_sensor("42", 0)
    assert rejected.value.status == 400
    assert fake.sent() == []
    fake.on("GET", SENSORS, reply(body={"data": []}))
    fake.on("POST", SENSORS, reply(201, body={"name": "power"}))
    with pytest.raises(GridFlexResponseError):
        await client.ensure_site_power_sensor("42", 15)


async def test_post_power_series_wire_form(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Start in UTC with an offset, duration = values x resolution, numbers and null."""
    fake.on("POST", SITE_DATA, reply(fixture="fm_data_processed"))
    series = _series(start=datetime(2026, 11, 22, 11, 0, tzinfo=WINTER))
    await _client(fake, session).post_power_series(series)
    [posted] = fake.sent("POST", SITE_DATA)
    assert posted.headers["Authorization"] == "fm-token-1"
    assert posted.json() == {
        "start": "2026-11-22T10:00:00+00:00",
        "duration": "PT45M",
        "values": [1.2, None, -3.5],
        "unit": "kW",
    }
    assert b'"values": [1.2, null, -3.5]' in posted.body


@pytest.mark.parametrize(
    ("minutes", "count", "duration"),
    [
        (1, 1, "PT1M"),
        (15, 3, "PT45M"),
        (60, 2, "PT2H"),
        (15, 8, "PT2H"),
        (15, 9, "PT2H15M"),
        (15, 96, "P1D"),
        (15, 97, "P1DT15M"),
        (5, 301, "P1DT1H5M"),
        (60, 49, "P2DT1H"),
    ],
)
async def test_post_power_series_duration(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    minutes: int,
    count: int,
    duration: str,
) -> None:
    """ISO 8601 durations as FlexMeasures writes them (days, hours, minutes)."""
    fake.on("POST", SITE_DATA, reply(fixture="fm_data_processed"))
    series = _series((Decimal(1),) * count, resolution_minutes=minutes)
    await _client(fake, session).post_power_series(series)
    assert fake.sent("POST", SITE_DATA)[0].json()["duration"] == duration


@pytest.mark.parametrize(
    ("status", "fixture"),
    [
        (200, "fm_data_processed"),
        (200, "fm_data_already_received"),
        (202, "fm_data_accepted"),
    ],
)
async def test_post_power_series_stored(
    fake: FakePlatform, session: aiohttp.ClientSession, status: int, fixture: str
) -> None:
    """Processed, a replay of data already held, and queued all count as stored."""
    fake.on("POST", SITE_DATA, reply(status, fixture=fixture))
    await _client(fake, session).post_power_series(_series())
    assert len(fake.sent("POST", SITE_DATA)) == 1


async def test_post_power_series_refused(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """403 INVALID_REPLACEMENT and 422 are rejections; 429 is rate limiting."""
    client = _client(fake, session)
    fake.on("POST", SITE_DATA, reply(403, fixture="fm_error_403_replacement"))
    with pytest.raises(GridFlexRequestRejectedError, match="replacement") as refused:
        await client.post_power_series(_series())
    assert refused.value.status == 403
    fake.on("POST", SITE_DATA, reply(422, fixture="fm_error_422_resolution"))
    with pytest.raises(GridFlexRequestRejectedError, match="incompatible") as refused:
        await client.post_power_series(_series(resolution_minutes=7))
    assert refused.value.status == 422
    fake.on("POST", SITE_DATA, reply(429, body={}, headers={"Retry-After": "30"}))
    with pytest.raises(GridFlexRateLimitedError) as limited:
        await client.post_power_series(_series())
    assert limited.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("series", "error"),
    [
        (_series(sensor_id="sensor-100"), GridFlexNotFoundError),
        (_series(resolution_minutes=0), GridFlexRequestRejectedError),
        (_series(start=datetime(2026, 11, 22, 10)), GridFlexRequestRejectedError),  # noqa: DTZ001
        (_series((Decimal(1), Decimal("NaN"))), GridFlexRequestRejectedError),
        (_series((Decimal("Infinity"),)), GridFlexRequestRejectedError),
        (_series((Decimal("1E+400"),)), GridFlexRequestRejectedError),
    ],
)
async def test_post_power_series_checked_before_sending(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    series: PowerSeries,
    error: type[Exception],
) -> None:
    """What FlexMeasures cannot take is refused without a request."""
    with pytest.raises(error):
        await _client(fake, session).post_power_series(series)
    assert fake.sent() == []


async def test_post_empty_power_series_sends_nothing(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A series without values has nothing to store."""
    await _client(fake, session).post_power_series(_series(()))
    assert fake.sent() == []


# --- sign convention, prices and measurements ----------------------------------

PRICE = f"{SENSORS}/105"


async def test_older_power_sensors_become_consumption_positive(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A power sensor without consumption_is_positive gets it (once), other attributes kept."""
    sensors = load("fm_sensors")
    sensors[0]["attributes"] = '{"note": "keep"}'
    sensors[1]["attributes"] = SIGNED
    sensors[2]["attributes"] = "{}"
    fake.on("GET", SENSORS, reply(body=sensors))
    fake.on("PATCH", f"{SENSORS}/100", reply(body=sensors[0]))
    fake.on("PATCH", f"{SENSORS}/102", reply(500))
    client = _client(fake, session)
    assert await client.ensure_site_power_sensor("42", 15) == "100"
    assert fake.sent("PATCH", f"{SENSORS}/100")[0].json() == {
        "attributes": '{"note": "keep", "consumption_is_positive": true}'
    }
    # A refusal is not fatal and is tried again; a done sensor is not.
    await client.ensure_site_power_sensor("42", 15)
    assert len(fake.sent("PATCH", f"{SENSORS}/100")) == 1
    assert len(fake.sent("PATCH", f"{SENSORS}/102")) == 2
    assert fake.sent("PATCH", f"{SENSORS}/101") == []


async def test_price_sensor_found_or_created(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The site's ``electricity price`` sensor: found by name, else made at 15 minutes."""
    fake.on("GET", SENSORS, reply(fixture="fm_sensors_resources_only"))
    fake.on("POST", SENSORS, reply(201, body={"id": 120, "name": "electricity price"}))
    client = _client(fake, session)
    client.timezone = "Europe/Brussels"
    found = await client.ensure_price_sensor("42", "EUR/MWh")
    assert (found.sensor_id, found.unit) == ("120", "EUR/MWh")
    assert fake.sent("POST", SENSORS)[0].json() == {
        "name": "electricity price",
        "unit": "EUR/MWh",
        "event_resolution": "PT15M",
        "generic_asset_id": 42,
        "timezone": "Europe/Brussels",
        "attributes": "{}",
    }
    existing = load("fm_sensors_resources_only")
    existing[1]["name"] = "electricity price"
    fake.on("GET", SENSORS, reply(body=existing))
    found = await client.ensure_price_sensor("42", "NOK/MWh")
    assert (found.sensor_id, found.unit) == ("105", "EUR/MWh")
    assert len(fake.sent("POST", SENSORS)) == 1
    with pytest.raises(FlexMeasuresPriceUnitError):
        await client.ensure_price_sensor("42", "kW")


async def test_existing_price_sensor(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A named sensor must exist (422 from the server: not found) and hold prices."""
    fake.on(
        "GET", PRICE, reply(body={"id": 105, "name": "day-ahead", "unit": "EUR/MWh"})
    )
    client = _client(fake, session)
    assert (await client.get_price_sensor("105")).unit == "EUR/MWh"
    fake.on("GET", PRICE, reply(body={"id": 105, "name": "power", "unit": "kW"}))
    with pytest.raises(FlexMeasuresPriceUnitError, match="kW is not an energy price"):
        await client.get_price_sensor("105")
    fake.on(
        "GET",
        PRICE,
        reply(
            422, body={"message": {"path": {"id": ["No sensor found with ID 105."]}}}
        ),
    )
    with pytest.raises(GridFlexNotFoundError):
        await client.get_price_sensor("105")
    fake.on("GET", PRICE, reply(422, fixture="fm_error_422"))
    with pytest.raises(GridFlexRequestRejectedError):
        await client.get_price_sensor("105")


async def test_site_prices_in_the_flex_context(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Both prices from the sensor; the flex-context's other fields stay; no needless PATCH."""
    site = load("fm_asset")
    site["flex_context"] = '{"site-power-capacity": "17 kVA"}'
    fake.on("GET", ASSET, reply(body=site))
    fake.on("PATCH", ASSET, reply(fixture="fm_asset"))
    client = _client(fake, session)
    assert await client.set_site_prices("42", "105") is True
    assert json.loads(fake.sent("PATCH", ASSET)[0].json()["flex_context"]) == {
        "site-power-capacity": "17 kVA",
        "consumption-price": {"sensor": 105},
        "production-price": {"sensor": 105},
    }
    site["flex_context"] = (
        '{"consumption-price": {"sensor": 105}, "production-price": {"sensor": 105}}'
    )
    assert await client.set_site_prices("42", "105") is False
    assert len(fake.sent("PATCH", ASSET)) == 1


async def test_post_price_series(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Prices go in the sensor's unit; an empty series sends nothing."""
    fake.on("POST", f"{PRICE}/data", reply(fixture="fm_data_processed"))
    client = _client(fake, session)
    start = datetime(2026, 11, 22, 10, tzinfo=UTC)
    await client.post_price_series(
        PriceSeries("105", start, 15, (Decimal("95.5"), None), "EUR/MWh")
    )
    assert fake.sent("POST", f"{PRICE}/data")[0].json() == {
        "start": "2026-11-22T10:00:00+00:00",
        "duration": "PT30M",
        "values": [95.5, None],
        "unit": "EUR/MWh",
    }
    await client.post_price_series(PriceSeries("105", start, 15, (), "EUR/MWh"))
    assert len(fake.sent("POST", f"{PRICE}/data")) == 1
