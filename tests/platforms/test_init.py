"""The package surface: credential fields, capabilities, the client factory."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from custom_components.gridflex import platforms
from custom_components.gridflex.platforms import (
    CREDENTIAL_FIELDS,
    Capabilities,
    EnergyCoordinationClient,
    Environment,
    FlexMeasuresClient,
    FlexPlatform,
    PlatformKey,
    PowernautClient,
    ResourceType,
    capabilities,
    create_client,
)

if TYPE_CHECKING:
    import aiohttp

PACKAGE_DIR = Path(platforms.__file__).parent

CREDENTIALS = {
    PlatformKey.POWERNAUT: {"client_id": "id", "client_secret": "secret"},
    PlatformKey.ENERGY_COORDINATION: {"client_id": "id", "client_secret": "secret"},
    PlatformKey.FLEXMEASURES: {"email": "me@example.com", "password": "pw"},
}
CLIENTS: dict[PlatformKey, type] = {
    PlatformKey.POWERNAUT: PowernautClient,
    PlatformKey.ENERGY_COORDINATION: EnergyCoordinationClient,
    PlatformKey.FLEXMEASURES: FlexMeasuresClient,
}


def test_credential_fields() -> None:
    """Client credentials for the OAuth-style platforms, email and password else."""
    assert CREDENTIAL_FIELDS == {
        PlatformKey.POWERNAUT: ("client_id", "client_secret"),
        PlatformKey.ENERGY_COORDINATION: ("client_id", "client_secret"),
        PlatformKey.FLEXMEASURES: ("email", "password"),
    }


def test_capabilities() -> None:
    """What each platform offers."""
    assert capabilities(PlatformKey.POWERNAUT) == Capabilities(
        site_status=True,
        upstream_status=True,
        markets=True,
        supply_direction=True,
        streams_measurements=True,
        lpc_events=False,
        schedules=False,
        max_resources_per_site=10,
        countries=("BE", "NL", "LU", "FR", "GB", "IE", "IT", "ES"),
        site_poll_seconds=300,
        display_name="Powernaut",
        resource_types=tuple(ResourceType),
        resource_status=True,
        power_decimals=6,
        power_integer_digits=15,
        resource_resolution=False,
        bids=True,
        baselines=True,
    )
    assert capabilities(PlatformKey.ENERGY_COORDINATION) == Capabilities(
        site_status=False,
        upstream_status=False,
        markets=False,
        supply_direction=False,
        streams_measurements=False,
        lpc_events=True,
        schedules=False,
        max_resources_per_site=None,
        countries=("NO",),
        site_poll_seconds=900,
        display_name="Energy Coordination",
        resource_types=(
            ResourceType.BATTERY,
            ResourceType.ELECTRIC_VEHICLE,
            ResourceType.EV_CHARGER,
            ResourceType.HEAT_PUMP,
            ResourceType.SOLAR,
            ResourceType.BOILER,
            ResourceType.WIND,
            ResourceType.OTHER,
        ),
        resource_status=False,
        resource_resolution=False,
        usage_plans=True,
        programme=True,
    )
    assert capabilities(PlatformKey.FLEXMEASURES) == Capabilities(
        site_status=False,
        upstream_status=False,
        markets=False,
        supply_direction=False,
        streams_measurements=False,
        lpc_events=False,
        schedules=True,
        max_resources_per_site=None,
        countries=("BE", "NL", "LU", "FR", "GB", "IE", "IT", "ES", "NO"),
        site_poll_seconds=900,
        display_name="FlexMeasures",
        resource_types=tuple(ResourceType),
        resource_status=False,
        resource_resolution=True,
        uploads_intervals=True,
    )
    # The raw key works as well as the enum.
    assert capabilities("flexmeasures") is FlexMeasuresClient.capabilities  # type: ignore[arg-type]


@pytest.mark.parametrize("platform", list(PlatformKey))
async def test_create_client(
    session: aiohttp.ClientSession, platform: PlatformKey
) -> None:
    """Each key builds its client, which implements the protocol."""
    client = create_client(
        platform,
        session,
        CREDENTIALS[platform],
        environment=Environment.PRODUCTION,
        base_url="http://ignored.example",
    )
    assert type(client) is CLIENTS[platform]
    assert isinstance(client, FlexPlatform)
    assert client.platform is platform
    assert client.capabilities is capabilities(platform)


@pytest.mark.parametrize(
    ("platform", "environment", "base_url", "token_url"),
    [
        (
            PlatformKey.POWERNAUT,
            Environment.PRODUCTION,
            "https://api.powernaut.io",
            "https://api.powernaut.io/v1/auth/token",
        ),
        (
            PlatformKey.POWERNAUT,
            Environment.SANDBOX,
            "https://api.sandbox.powernaut.io",
            "https://api.sandbox.powernaut.io/v1/auth/token",
        ),
        (
            PlatformKey.ENERGY_COORDINATION,
            Environment.PRODUCTION,
            "https://api.voluespark.com/energy-coordination/v1",
            "https://auth.identity.volue.com/connect/token",
        ),
        (
            PlatformKey.ENERGY_COORDINATION,
            Environment.SANDBOX,
            "https://api.sandbox.voluespark.com/energy-coordination/v1",
            "https://auth.identity.volue.com/connect/token",
        ),
        (
            PlatformKey.FLEXMEASURES,
            Environment.PRODUCTION,
            "https://seita.flexmeasures.io",
            "https://seita.flexmeasures.io/api/requestAuthToken",
        ),
        (
            PlatformKey.FLEXMEASURES,
            Environment.SANDBOX,
            "https://seita.flexmeasures.io",
            "https://seita.flexmeasures.io/api/requestAuthToken",
        ),
    ],
)
async def test_urls(
    session: aiohttp.ClientSession,
    platform: PlatformKey,
    environment: Environment,
    base_url: str,
    token_url: str,
) -> None:
    """Production and sandbox hosts."""
    client = create_client(
        platform, session, CREDENTIALS[platform], environment=environment
    )
    assert isinstance(
        client, (PowernautClient, EnergyCoordinationClient, FlexMeasuresClient)
    )
    assert client.base_url == base_url
    assert client.token_url == token_url


async def test_custom_urls(session: aiohttp.ClientSession) -> None:
    """A custom root gets each platform's own paths appended."""
    root = "http://127.0.0.1:8765/"
    powernaut = create_client(
        PlatformKey.POWERNAUT,
        session,
        CREDENTIALS[PlatformKey.POWERNAUT],
        environment=Environment.CUSTOM,
        base_url=root,
    )
    assert isinstance(powernaut, PowernautClient)
    assert powernaut.token_url == "http://127.0.0.1:8765/v1/auth/token"
    flexmeasures = create_client(
        PlatformKey.FLEXMEASURES,
        session,
        CREDENTIALS[PlatformKey.FLEXMEASURES],
        environment=Environment.CUSTOM,
        base_url=root,
    )
    assert isinstance(flexmeasures, FlexMeasuresClient)
    assert flexmeasures.api_url == "http://127.0.0.1:8765/api/v3_0"


@pytest.mark.parametrize("platform", list(PlatformKey))
async def test_custom_needs_base_url(
    session: aiohttp.ClientSession, platform: PlatformKey
) -> None:
    """A custom environment without a root is a programming error."""
    with pytest.raises(ValueError, match="base_url"):
        create_client(
            platform, session, CREDENTIALS[platform], environment=Environment.CUSTOM
        )


async def test_missing_credentials(session: aiohttp.ClientSession) -> None:
    """Missing or empty credential fields are named (never their values)."""
    with pytest.raises(ValueError, match="client_secret") as err:
        create_client(
            PlatformKey.POWERNAUT,
            session,
            {"client_id": "id", "client_secret": ""},
            environment=Environment.PRODUCTION,
        )
    assert "client_id" not in str(err.value)
    with pytest.raises(ValueError, match="email, password"):
        create_client(
            PlatformKey.FLEXMEASURES,
            session,
            {},
            environment=Environment.PRODUCTION,
        )


def test_package_never_imports_home_assistant(tmp_path: Path) -> None:
    """The package works on its own (it could move to PyPI unchanged).

    It is imported from a copy: the integration's own directory holds Home
    Assistant platform modules (``calendar.py``, ``event.py``) that would
    shadow the standard library there.
    """
    shutil.copytree(
        PACKAGE_DIR,
        tmp_path / "platforms",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import platforms\n"
        "from platforms import powernaut, energy_coordination, flexmeasures\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'homeassistant')\n"
        "assert not bad, bad\n"
        "print(platforms.create_client.__name__)\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "create_client"


def test_py_typed_is_shipped() -> None:
    """Type checkers of dependants read the annotations."""
    assert (PACKAGE_DIR / "py.typed").is_file()
