"""Diagnostics redact secrets and personal data."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from .conftest import EAN_BE, PLATFORMS, SITE_INPUT, Sandbox, credentials, setup_site


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
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    dumped = json.dumps(diagnostics)
    for secret in credentials(platform).values():
        assert secret not in dumped
    assert SITE_INPUT[platform]["grid_identifier"] not in dumped
    assert EAN_BE not in dumped
    assert "Dok Noord" not in dumped
    assert "51.0673" not in dumped
    assert diagnostics["entry"]["data"]["site_id"] == "**REDACTED**"
    if entry.data["edge_credentials"]:
        assert entry.data["edge_credentials"]["secret"] not in dumped
    assert diagnostics == snapshot(exclude=props("synced_at", "base_url", "last_poll"))
