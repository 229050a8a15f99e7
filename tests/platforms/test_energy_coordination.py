"""Energy Coordination client against recorded responses."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from custom_components.gridflex.platforms import (
    EnergyCoordinationClient,
    Environment,
    GridFlexAuthError,
    GridFlexConnectionError,
    GridFlexNotFoundError,
    GridFlexRequestRejectedError,
    GridFlexResponseError,
    Location,
    PlatformKey,
    Resource,
    ResourceSpec,
    ResourceType,
    Site,
    SiteRegistration,
    create_client,
)

from .conftest import FakeClock, FakePlatform, load, reply

if TYPE_CHECKING:
    import aiohttp

API = "/energy-coordination/v1"
TOKEN = "/connect/token"
GSRN = "707057500000123458"
USER_ID = f"gridflex-{GSRN}"
USER = f"{API}/users/{USER_ID}"
LOCATIONS = f"{USER}/locations"
LOCATION = f"{LOCATIONS}/{USER_ID}"
SITE_ID = f"{USER_ID}/{USER_ID}"
CREDENTIALS = {"client_id": "spark-partner", "client_secret": "spark secret&=+"}
LOCATION_RESOURCES = f"{LOCATION}/resources"
RESOURCE_ID = "gridflex-battery"
RESOURCE = f"{API}/resources/{RESOURCE_ID}"
SVALBARD = Location(latitude=Decimal("79.519137"), longitude=Decimal("15.976113"))


def _client(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    clock: FakeClock | None = None,
) -> EnergyCoordinationClient:
    client = create_client(
        PlatformKey.ENERGY_COORDINATION,
        session,
        CREDENTIALS,
        environment=Environment.CUSTOM,
        base_url=f"{fake.url}/",
        request_timeout=2.0,
        clock=clock or FakeClock(),
    )
    assert isinstance(client, EnergyCoordinationClient)
    return client


def _registration(location: Location = SVALBARD) -> SiteRegistration:
    return SiteRegistration(
        name="Home", country="NO", grid_identifier=GSRN, location=location
    )


def _spec(**overrides: object) -> ResourceSpec:
    fields: dict[str, object] = {
        "name": "Home Battery",
        "type": ResourceType.BATTERY,
        "power_minimum_kw": Decimal(-5),
        "power_maximum_kw": Decimal("7.4"),
        "capacity_kwh": Decimal("13.5"),
        "external_id": RESOURCE_ID,
    }
    fields.update(overrides)
    return ResourceSpec(**fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def token_route(fake: FakePlatform) -> None:
    """Hand out a token unless a test says otherwise."""
    fake.on("POST", TOKEN, reply(fixture="ec_token"))


def test_urls(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Custom roots serve the API and (by assumption) the token endpoint."""
    client = _client(fake, session)
    assert client.base_url == f"{fake.url}{API}"
    assert client.token_url == f"{fake.url}{TOKEN}"


async def test_client_credentials_grant(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A form with the grant type and the credentials; then Bearer."""
    fake.on("GET", LOCATION, reply(fixture="ec_location"))
    await _client(fake, session).get_site(SITE_ID)
    token_request, location_request = fake.sent()
    assert token_request.form() == {
        "grant_type": "client_credentials",
        **CREDENTIALS,
    }
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in token_request.headers
    assert location_request.headers["Authorization"] == "Bearer ec-token-1"


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_token_refused(
    fake: FakePlatform, session: aiohttp.ClientSession, status: int
) -> None:
    """OAuth2 errors from the token endpoint are authentication errors."""
    fake.on("POST", TOKEN, reply(status, fixture="ec_token_error"))
    with pytest.raises(GridFlexAuthError, match="invalid_client"):
        await _client(fake, session).authenticate()


async def test_token_endpoint_other_errors(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Other token endpoint failures are not credential problems."""
    fake.on("POST", TOKEN, reply(405, raw=b"", content_type="text/plain"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).authenticate()
    assert not isinstance(err.value, GridFlexAuthError)
    fake.on("POST", TOKEN, reply(500))
    with pytest.raises(GridFlexConnectionError):
        await _client(fake, session).authenticate()
    fake.on("POST", TOKEN, reply(body={"token_type": "Bearer"}))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).authenticate()


async def test_token_renewal_and_reauth(
    fake: FakePlatform, session: aiohttp.ClientSession, clock: FakeClock
) -> None:
    """Renewed a minute before expiry; renewed once more after a 401."""
    fake.on(
        "POST",
        TOKEN,
        reply(fixture="ec_token"),
        reply(fixture="ec_token_2"),
        reply(body={"access_token": "ec-token-3"}),
    )
    fake.on(
        "GET",
        LOCATION,
        reply(fixture="ec_location"),
        reply(fixture="ec_location"),
        reply(401, raw=b""),
        reply(fixture="ec_location"),
    )
    client = _client(fake, session, clock)
    await client.get_site(SITE_ID)
    clock.advance(3541)
    await client.get_site(SITE_ID)
    await client.get_site(SITE_ID)
    assert [r.headers["Authorization"] for r in fake.sent("GET", LOCATION)] == [
        "Bearer ec-token-1",
        "Bearer ec-token-2",
        "Bearer ec-token-2",
        "Bearer ec-token-3",
    ]


async def test_second_401_is_auth_error(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A fresh token refused again is an authentication error."""
    fake.on("GET", LOCATION, reply(401))
    with pytest.raises(GridFlexAuthError):
        await _client(fake, session).get_site(SITE_ID)
    assert len(fake.sent("POST", TOKEN)) == 2


async def test_find_site(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """GridFlex's user, then its location holding the meter point."""
    fake.on("GET", USER, reply(fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(fixture="ec_locations"))
    site = await _client(fake, session).find_site(GSRN)
    assert site == Site(site_id=SITE_ID, grid_identifier=GSRN, location=SVALBARD)
    assert fake.calls() == [f"POST {TOKEN}", f"GET {USER}", f"GET {LOCATIONS}"]


async def test_find_site_by_meter_point(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A location with another id is found by its (legacy) meter point."""
    fake.on("GET", USER, reply(fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(fixture="ec_locations_foreign"))
    site = await _client(fake, session).find_site(GSRN)
    assert site is not None
    assert site.site_id == f"{USER_ID}/homeowner-house"
    assert site.grid_identifier == GSRN
    assert site.location == Location()


async def test_find_site_no_user(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """No user (404 without a body) means no site."""
    fake.on("GET", USER, reply(404))
    assert await _client(fake, session).find_site(GSRN) is None


async def test_find_site_no_matching_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A user without the meter point means no site."""
    fake.on("GET", USER, reply(fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(body=[load("ec_locations")[0], "junk"]))
    assert await _client(fake, session).find_site(GSRN) is None


async def test_register_creates_user_and_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Nothing there: the user, then the location with numeric coordinates."""
    fake.on("GET", USER, reply(404))
    fake.on("POST", f"{API}/users", reply(201, fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(body=[]))
    fake.on("POST", LOCATIONS, reply(201, fixture="ec_location_created"))
    registered = await _client(fake, session).register_site(
        _registration(
            Location(
                address="Longyearbyen 1",
                latitude=Decimal("79.519137"),
                longitude=Decimal("15.976113"),
            )
        )
    )
    assert fake.sent("POST", f"{API}/users")[0].json() == {"userId": USER_ID}
    (created,) = fake.sent("POST", LOCATIONS)
    assert created.body == (
        b'{"locationId": "gridflex-707057500000123458", "locationType": "Residential", '
        b'"coordinates": {"latitude": 79.519137, "longitude": 15.976113}, '
        b'"meterPointIds": ["707057500000123458"]}'
    )
    assert registered.created is True
    assert registered.edge_credentials is None
    assert registered.site.site_id == SITE_ID
    assert registered.site.location == Location(
        address="Longyearbyen 1",
        latitude=Decimal("79.519137"),
        longitude=Decimal("15.976113"),
    )


async def test_register_without_coordinates(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Unknown coordinates are left out (not nullable); the meter point identifies it."""
    fake.on("GET", USER, reply(fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(body=[]))
    fake.on(
        "POST",
        LOCATIONS,
        reply(201, body={**load("ec_location_created"), "coordinates": None}),
    )
    registered = await _client(fake, session).register_site(_registration(Location()))
    assert fake.sent("POST", f"{API}/users") == []
    assert fake.sent("POST", LOCATIONS)[0].json() == {
        "locationId": USER_ID,
        "locationType": "Residential",
        "meterPointIds": [GSRN],
    }
    assert registered.created is True
    assert registered.site.location == Location()


async def test_register_adopts_existing_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """User and location exist: nothing is created."""
    fake.on("GET", USER, reply(fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(fixture="ec_locations"))
    registered = await _client(fake, session).register_site(_registration())
    assert registered.created is False
    assert registered.site.site_id == SITE_ID
    assert [r.method for r in fake.sent()] == ["POST", "GET", "GET"]


async def test_register_adopts_location_created_meanwhile(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 409 on creation: the location appeared since; adopt it."""
    fake.on("GET", USER, reply(fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(body=[]))
    fake.on("POST", LOCATIONS, reply(409))
    fake.on("GET", LOCATION, reply(fixture="ec_location"))
    registered = await _client(fake, session).register_site(
        _registration(
            Location(address="Somewhere", latitude=Decimal(1), longitude=Decimal(2))
        )
    )
    assert registered.created is False
    assert registered.site.location.address == "Somewhere"
    assert registered.site.location.latitude == Decimal("79.519137")


async def test_register_rejected(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 400 with a bare JSON string is the detail."""
    fake.on("GET", USER, reply(fixture="ec_user"))
    fake.on("GET", LOCATIONS, reply(body=[]))
    fake.on("POST", LOCATIONS, reply(400, fixture="ec_error_string"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).register_site(_registration())
    assert err.value.detail == load("ec_error_string")


async def test_problem_details(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """problem+json: title, detail and field errors."""
    fake.on(
        "PATCH",
        LOCATION,
        reply(400, fixture="ec_problem", content_type="application/problem+json"),
    )
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).update_site_location(SITE_ID, SVALBARD)
    assert err.value.detail == (
        "One or more validation errors occurred. - coordinates.latitude: "
        "The field latitude must be between -90 and 90."
    )


async def test_get_site(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """The location as a site: no statuses, no markets."""
    fake.on("GET", LOCATION, reply(fixture="ec_location"))
    site = await _client(fake, session).get_site(SITE_ID)
    assert site == Site(site_id=SITE_ID, grid_identifier=GSRN, location=SVALBARD)
    assert site.status is None
    assert site.markets == ()


@pytest.mark.parametrize("site_id", ["no-slash", "/location", "user/"])
async def test_get_site_bad_id(
    fake: FakePlatform, session: aiohttp.ClientSession, site_id: str
) -> None:
    """A site id that is not ``user/location`` cannot exist."""
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).get_site(site_id)
    assert fake.requests == []


async def test_get_site_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A location without an id, or not an object, is a response error."""
    fake.on("GET", LOCATION, reply(body={"coordinates": None}))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).get_site(SITE_ID)
    fake.on("GET", LOCATION, reply(body=["x"]))
    with pytest.raises(GridFlexResponseError):
        await _client(fake, session).get_site(SITE_ID)


async def test_update_site_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Only the coordinates go to the platform; the address stays with us."""
    fake.on("PATCH", LOCATION, reply(fixture="ec_location_moved"))
    site = await _client(fake, session).update_site_location(
        SITE_ID,
        Location(
            address="Vei 230, Longyearbyen",
            latitude=Decimal("78.220942"),
            longitude=Decimal("15.619465"),
        ),
    )
    assert fake.sent("PATCH", LOCATION)[0].json() == {
        "coordinates": {"latitude": 78.220942, "longitude": 15.619465}
    }
    assert site.location == Location(
        address="Vei 230, Longyearbyen",
        latitude=Decimal("78.220942"),
        longitude=Decimal("15.619465"),
    )


async def test_update_site_location_address_only(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An address alone changes nothing on the platform."""
    fake.on("GET", LOCATION, reply(fixture="ec_location"))
    site = await _client(fake, session).update_site_location(
        SITE_ID, Location(address="Vei 230")
    )
    assert fake.sent("PATCH") == []
    assert site.location.address == "Vei 230"
    assert site.location.latitude == Decimal("79.519137")


async def test_update_site_location_empty_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """An empty PATCH answer: the location is read back."""
    fake.on("PATCH", LOCATION, reply(204))
    fake.on("GET", LOCATION, reply(fixture="ec_location_moved"))
    site = await _client(fake, session).update_site_location(SITE_ID, SVALBARD)
    assert site.location.latitude == Decimal("78.220942")
    assert site.location.address is None


async def test_problem_details_without_field_errors(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """problem+json with a title and a detail only."""
    fake.on(
        "GET",
        LOCATION,
        reply(
            403,
            body={"title": "Forbidden", "detail": "Not your location", "status": 403},
            content_type="application/problem+json",
        ),
    )
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).get_site(SITE_ID)
    assert err.value.detail == "Forbidden - Not your location"


async def test_get_site_minimal_location(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A location with only its id and a legacy meter point still reads."""
    fake.on("GET", LOCATION, reply(body={"locationId": USER_ID, "meterPointId": GSRN}))
    site = await _client(fake, session).get_site(SITE_ID)
    assert site == Site(site_id=SITE_ID, grid_identifier=GSRN)
    fake.on("GET", LOCATION, reply(body={"locationId": USER_ID}))
    site = await _client(fake, session).get_site(SITE_ID)
    assert site.grid_identifier == ""


BATTERY = Resource(
    resource_id=RESOURCE_ID,
    type=ResourceType.OTHER,
    raw_type="Generic",
    external_id=RESOURCE_ID,
)


async def test_create_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Bound to the location with GridFlex's id and the site's meter point."""
    fake.on("POST", LOCATION_RESOURCES, reply(201, fixture="ec_resource_created"))
    resource = await _client(fake, session).create_resource(SITE_ID, _spec())
    (created,) = fake.sent("POST", LOCATION_RESOURCES)
    assert created.json() == {
        "resourceId": RESOURCE_ID,
        "resourceType": "Generic",
        "meterPointId": GSRN,
    }
    assert created.headers["Authorization"] == "Bearer ec-token-1"
    assert resource == BATTERY


@pytest.mark.parametrize(
    ("resource_type", "wire", "read_back"),
    [
        (ResourceType.BATTERY, "Generic", ResourceType.OTHER),
        (ResourceType.ELECTRIC_VEHICLE, "Vehicle", ResourceType.ELECTRIC_VEHICLE),
        (ResourceType.EV_CHARGER, "Charger", ResourceType.EV_CHARGER),
        (ResourceType.HEAT_PUMP, "HVAC", ResourceType.HEAT_PUMP),
        (ResourceType.SOLAR, "SolarInverter", ResourceType.SOLAR),
        (ResourceType.BOILER, "HotWaterTank", ResourceType.BOILER),
        (ResourceType.WIND, "Generic", ResourceType.OTHER),
        (ResourceType.OTHER, "Generic", ResourceType.OTHER),
    ],
)
async def test_resource_types_both_ways(
    fake: FakePlatform,
    session: aiohttp.ClientSession,
    resource_type: ResourceType,
    wire: str,
    read_back: ResourceType,
) -> None:
    """Each type but group has a ``resourceType``; ``Generic`` reads as other."""
    fake.on(
        "POST",
        LOCATION_RESOURCES,
        reply(201, body={**load("ec_resource_created"), "resourceType": wire}),
    )
    resource = await _client(fake, session).create_resource(
        SITE_ID, _spec(type=resource_type)
    )
    assert fake.sent("POST", LOCATION_RESOURCES)[0].json()["resourceType"] == wire
    assert resource.type is read_back
    assert resource.raw_type == wire


@pytest.mark.parametrize(
    "spec",
    [
        _spec(type=ResourceType.GROUP),
        _spec(group_id="gridflex-group", type=ResourceType.GROUP),
        _spec(external_id=None),
        _spec(external_id=""),
    ],
)
async def test_create_resource_refused_before_sending(
    fake: FakePlatform, session: aiohttp.ClientSession, spec: ResourceSpec
) -> None:
    """No groups, and the partner-chosen id is required."""
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).create_resource(SITE_ID, spec)
    assert err.value.status == 400
    assert fake.requests == []


async def test_create_resource_empty_answer(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A 200 without a body: the resource is read back."""
    fake.on("POST", LOCATION_RESOURCES, reply(200))
    fake.on("GET", RESOURCE, reply(fixture="ec_resource"))
    resource = await _client(fake, session).create_resource(SITE_ID, _spec())
    assert resource == BATTERY
    assert fake.calls()[1:] == [f"POST {LOCATION_RESOURCES}", f"GET {RESOURCE}"]


async def test_create_resource_on_foreign_user(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A user GridFlex did not name carries no meter point: ``null``."""
    path = f"{API}/users/someone/locations/house/resources"
    fake.on("POST", path, reply(201, fixture="ec_resource_created"))
    await _client(fake, session).create_resource("someone/house", _spec())
    assert fake.sent("POST", path)[0].json()["meterPointId"] is None


async def test_create_resource_rejected(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The platform's bare-string explanation is the detail."""
    fake.on("POST", LOCATION_RESOURCES, reply(400, body="Resource already exists"))
    with pytest.raises(GridFlexRequestRejectedError) as err:
        await _client(fake, session).create_resource(SITE_ID, _spec())
    assert err.value.detail == "Resource already exists"


async def test_list_resources(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """The location's resources; an unknown type keeps its raw word."""
    fake.on("GET", LOCATION_RESOURCES, reply(body=[*load("ec_resources"), "junk"]))
    resources = await _client(fake, session).list_resources(SITE_ID)
    assert resources == [
        BATTERY,
        Resource(
            resource_id="gridflex-charger",
            type=ResourceType.EV_CHARGER,
            raw_type="Charger",
            external_id="gridflex-charger",
        ),
        Resource(
            resource_id="boiler-from-elsewhere",
            type=ResourceType.BOILER,
            raw_type="HotWaterTank",
            external_id="boiler-from-elsewhere",
        ),
        Resource(
            resource_id="gridflex-fridge",
            raw_type="Fridge",
            external_id="gridflex-fridge",
        ),
    ]


async def test_list_resources_site_gone(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A location that is gone is not-found; a bad site id too, unsent."""
    fake.on("GET", LOCATION_RESOURCES, reply(404))
    client = _client(fake, session)
    with pytest.raises(GridFlexNotFoundError):
        await client.list_resources(SITE_ID)
    with pytest.raises(GridFlexNotFoundError):
        await client.list_resources("no-slash")
    assert len(fake.sent("GET")) == 1


async def test_get_resource(fake: FakePlatform, session: aiohttp.ClientSession) -> None:
    """Id and type only: the platform keeps nothing else."""
    fake.on("GET", RESOURCE, reply(fixture="ec_resource"))
    resource = await _client(fake, session).get_resource(SITE_ID, RESOURCE_ID)
    assert resource == BATTERY
    assert resource.name is None
    assert resource.power_maximum_kw is None


async def test_get_resource_not_found_or_unreadable(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """404 is not-found; an answer without ``resourceId`` is a response error."""
    fake.on("GET", RESOURCE, reply(404, body="Resource not found"))
    client = _client(fake, session)
    with pytest.raises(GridFlexNotFoundError, match="Resource not found"):
        await client.get_resource(SITE_ID, RESOURCE_ID)
    fake.on("GET", RESOURCE, reply(body={"resourceType": "Generic"}))
    with pytest.raises(GridFlexResponseError):
        await client.get_resource(SITE_ID, RESOURCE_ID)


async def test_delete_resource(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """DELETE answers 204; once gone, 404 is not-found."""
    fake.on("DELETE", RESOURCE, reply(204), reply(404))
    client = _client(fake, session)
    assert await client.delete_resource(SITE_ID, RESOURCE_ID) is None
    with pytest.raises(GridFlexNotFoundError):
        await client.delete_resource(SITE_ID, RESOURCE_ID)


async def test_update_resource_same_type(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A type that maps to the same ``resourceType`` changes nothing."""
    fake.on("GET", RESOURCE, reply(fixture="ec_resource"))
    resource = await _client(fake, session).update_resource(
        SITE_ID,
        RESOURCE_ID,
        _spec(type=ResourceType.WIND, name="Renamed", capacity_kwh=None),
    )
    assert resource == BATTERY
    assert fake.calls() == [f"POST {TOKEN}", f"GET {RESOURCE}"]


async def test_update_resource_new_type_recreates(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """Another ``resourceType``: delete, then create again with the same id."""
    fake.on("GET", RESOURCE, reply(fixture="ec_resource"))
    fake.on("DELETE", RESOURCE, reply(204))
    fake.on(
        "POST",
        LOCATION_RESOURCES,
        reply(201, body={**load("ec_resource_created"), "resourceType": "HVAC"}),
    )
    resource = await _client(fake, session).update_resource(
        SITE_ID,
        RESOURCE_ID,
        _spec(type=ResourceType.HEAT_PUMP, external_id="ignored-on-update"),
    )
    assert fake.calls() == [
        f"POST {TOKEN}",
        f"GET {RESOURCE}",
        f"DELETE {RESOURCE}",
        f"POST {LOCATION_RESOURCES}",
    ]
    assert fake.sent("POST", LOCATION_RESOURCES)[0].json() == {
        "resourceId": RESOURCE_ID,
        "resourceType": "HVAC",
        "meterPointId": GSRN,
    }
    assert resource.type is ResourceType.HEAT_PUMP
    assert resource.resource_id == RESOURCE_ID


async def test_update_resource_refused_or_gone(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A group is refused unsent; a resource that is gone is not-found."""
    client = _client(fake, session)
    with pytest.raises(GridFlexRequestRejectedError):
        await client.update_resource(
            SITE_ID, RESOURCE_ID, _spec(type=ResourceType.GROUP)
        )
    assert fake.requests == []
    fake.on("GET", RESOURCE, reply(404))
    with pytest.raises(GridFlexNotFoundError):
        await client.update_resource(SITE_ID, RESOURCE_ID, _spec())
    assert fake.sent("DELETE") == []


async def test_resource_id_is_escaped_in_the_path(
    fake: FakePlatform, session: aiohttp.ClientSession
) -> None:
    """A resource id cannot reach another route."""
    fake.on("GET", f"{API}/resources/a/b", reply(404))
    with pytest.raises(GridFlexNotFoundError):
        await _client(fake, session).get_resource(SITE_ID, "a/b")
    assert fake.requests[-1].raw_path == f"{API}/resources/a%2Fb"
