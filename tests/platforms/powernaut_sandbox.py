"""The Powernaut client against a running sandbox: the server and a site with a battery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp

from custom_components.gridflex.platforms import (
    Environment,
    PlatformKey,
    PowernautClient,
    create_client,
)
from custom_components.gridflex.platforms.models import (
    Location,
    ResourceSpec,
    ResourceType,
    SiteRegistration,
)
from sandbox import SANDBOX_CREDENTIALS, SandboxServer


async def running_sandbox(**settings: Any) -> AsyncIterator[SandboxServer]:
    """Run the sandbox; fail the test on any request it refused as invalid."""
    server = SandboxServer(**settings)
    await server.start()
    try:
        yield server
    finally:
        violations = list(server.state.violations)
        await server.stop()
    assert violations == []


async def site_with_battery(
    server: SandboxServer, session: aiohttp.ClientSession, capacity_kwh: Decimal
) -> tuple[PowernautClient, str]:
    """Register the Belgian test site and a ±5 kW battery; the client and its id."""
    client = create_client(
        PlatformKey.POWERNAUT,
        session,
        SANDBOX_CREDENTIALS["powernaut"],
        environment=Environment.CUSTOM,
        base_url=server.url,
    )
    assert isinstance(client, PowernautClient)
    registered = await client.register_site(
        SiteRegistration(
            name="Home",
            country="BE",
            grid_identifier="541448820044157096",
            location=Location(address="Dok Noord 1, 9000 Gent"),
        )
    )
    resource = await client.create_resource(
        registered.site.site_id,
        ResourceSpec(
            name="Home Battery",
            type=ResourceType.BATTERY,
            power_minimum_kw=Decimal(-5),
            power_maximum_kw=Decimal(5),
            capacity_kwh=capacity_kwh,
        ),
    )
    return client, resource.resource_id
