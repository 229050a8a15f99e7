"""Diagnostics redact secrets and personal data."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    CLIENT_ID,
    MockUser,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from .conftest import EAN_BE, PLATFORMS, SITE_INPUT, Sandbox, credentials, setup_site
from .test_resources import add_resource


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sandbox: Sandbox,
    snapshot: SnapshotAssertion,
    platform: str,
) -> None:
    """No token, secret, identifier, address or coordinate leaks."""
    entry = await setup_site(hass, sandbox, platform)
    # The programme's first read (Energy Coordination) runs after setup.
    await hass.async_block_till_done(wait_background_tasks=True)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    dumped = json.dumps(diagnostics)
    for secret in credentials(platform).values():
        assert secret not in dumped
    assert SITE_INPUT[platform]["grid_identifier"] not in dumped
    assert EAN_BE not in dumped
    assert "Dok Noord" not in dumped
    assert "51.0673" not in dumped
    assert diagnostics["entry"]["data"]["site_id"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["site_name"] == "**REDACTED**"
    assert '"Home"' not in dumped
    assert diagnostics["platform_reachable"] is True
    if entry.data["edge_credentials"]:
        assert entry.data["edge_credentials"]["secret"] not in dumped
    assert diagnostics == snapshot(
        exclude=props(
            "synced_at",
            "base_url",
            "last_poll",
            "read_at",
            "period_start",
            "period_end",
        )
    )


async def test_diagnostics_resources_and_outbox(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
    sandbox: Sandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Resources (names redacted) and what waits in the outbox are included."""
    freezer.move_to("2026-11-22T10:00:00+00:00")
    hass.states.async_set(
        "sensor.grid_power",
        "2000",
        {"unit_of_measurement": "W", "device_class": "power"},
    )
    hass.states.async_set(
        "sensor.charger_power",
        "7.2",
        {"unit_of_measurement": "kW", "device_class": "power"},
    )
    entry = await setup_site(hass, sandbox, "flexmeasures", site_name="Holiday home")
    await add_resource(
        hass,
        entry,
        "Garage charger",
        "ev_charger",
        {
            "power_entity": "sensor.charger_power",
            "power_min_kw": 0,
            "power_max_kw": 7.4,
        },
    )
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"grid_power_entity": "sensor.grid_power"}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    await sandbox.fault("/api/v3_0/sensors/*/data", "status", status=503)
    for _ in range(31):
        freezer.tick(timedelta(minutes=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)

    # A token issued now: the fixture's expired while time moved on.
    refresh_token = await hass.auth.async_create_refresh_token(
        hass_admin_user, CLIENT_ID
    )
    token = hass.auth.async_create_access_token(refresh_token)

    async def client_now() -> Any:
        return await hass_client(token)

    diagnostics = await get_diagnostics_for_config_entry(hass, client_now, entry)
    dumped = json.dumps(diagnostics)
    assert "Holiday home" not in dumped
    assert "Garage charger" not in dumped
    assert diagnostics["entry"]["data"]["site_name"] == "**REDACTED**"

    [resource] = diagnostics["resources"]
    assert resource["title"] == "**REDACTED**"
    assert resource["data"]["resource_type"] == "ev_charger"
    assert resource["data"]["power_max_kw"] == "7.4"
    assert resource["data"]["power_entity"] == "sensor.charger_power"
    assert resource["data"]["resource_id"] == "**REDACTED**"
    assert {d["model"] for d in diagnostics["devices"]} == {"Site", "EV charger"}
    assert {d["name"] for d in diagnostics["devices"]} == {"**REDACTED**"}

    outbox = diagnostics["outbox"]
    assert outbox["queued"] == sum(s["queued"] for s in outbox["sensors"]) > 0
    assert {s["sensor_id"] for s in outbox["sensors"]} == {"**REDACTED**"}
    site = next(s for s in outbox["sensors"] if s["resolution_minutes"] == 15)
    assert site["queued"] == 2
    assert site["oldest"] == "2026-11-22T10:00:00+00:00"
