"""One token per account: flows, reloads and the running entry share it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.gridflex.client import (
    DATA_TOKEN_KEEPERS,
    KEEPER_IDLE,
    async_token_keeper,
)
from sandbox import SANDBOX_CREDENTIALS

from .conftest import (
    PLATFORMS,
    Sandbox,
    credentials,
    setup_site,
    start_flow,
    start_reauth_flow,
)
from .test_resources import add_resource

TOKEN_PATHS = ("/v1/auth/token", "/connect/token", "/api/requestAuthToken")
RESOURCES = [
    ("Battery", "battery", "sensor.battery_power", {"capacity_kwh": 10}),
    ("Charger", "ev_charger", "sensor.charger_power", {}),
    ("Heat pump", "heat_pump", "sensor.heat_pump_power", {}),
]


@pytest.fixture(autouse=True)
def power_sensors(hass: HomeAssistant) -> None:
    """The home's power sensors the resources are mapped to."""
    for _name, _type, entity_id, _extra in RESOURCES:
        hass.states.async_set(
            entity_id, "1200", {"unit_of_measurement": "W", "device_class": "power"}
        )


def token_requests(sandbox: Sandbox, platform: str) -> list[dict[str, Any]]:
    """The requests the platform's token endpoint received."""
    return [r for r in sandbox.requests(platform) if r["path"] in TOKEN_PATHS]


def refused(sandbox: Sandbox, platform: str) -> list[dict[str, Any]]:
    """The requests the platform answered with HTTP 401."""
    return [r for r in sandbox.requests(platform) if r["status"] == 401]


async def add_resources(hass: HomeAssistant, entry: Any) -> None:
    """Run three 'Add resource' subentry flows."""
    for name, resource_type, entity_id, extra in RESOURCES:
        result = await add_resource(
            hass,
            entry,
            name,
            resource_type,
            {
                "power_entity": entity_id,
                "power_min_kw": 0,
                "power_max_kw": 5,
                **extra,
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_one_token_for_setup_flows_and_reload(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> None:
    """A site setup, three resource flows and a reload fetch a single token."""
    entry = await setup_site(hass, sandbox, platform)
    await add_resources(hass, entry)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(entry.subentries) == 3
    assert len(token_requests(sandbox, platform)) == 1

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert len(token_requests(sandbox, platform)) == 1
    assert sandbox.server.state.auth.issued == {platform: 1}
    assert refused(sandbox, platform) == []


async def test_token_renewed_before_it_expires(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A token near its end is renewed before a request, never after a 401."""
    # Tokens live 2 s: the keeper renews them half way, after 1 s.
    await sandbox.control(
        "PUT", "tokens/lifetime", {"platform": "powernaut", "seconds": 2}
    )
    entry = await setup_site(hass, sandbox, "powernaut")
    issued = sandbox.server.state.auth.issued["powernaut"]
    await asyncio.sleep(2.1)  # the last token has expired on the platform
    await add_resources(hass, entry)
    assert len(entry.subentries) == 3
    assert sandbox.server.state.auth.issued["powernaut"] > issued
    assert refused(sandbox, "powernaut") == []


async def test_401_renews_once_for_everyone(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """A token the platform dropped early is renewed once, on the first 401."""
    entry = await setup_site(hass, sandbox, "powernaut")
    await hass.async_block_till_done(wait_background_tasks=True)
    await sandbox.control("POST", "tokens/expire", {"platform": "powernaut"})
    await add_resources(hass, entry)
    assert len(entry.subentries) == 3
    assert len(refused(sandbox, "powernaut")) == 1
    assert sandbox.server.state.auth.issued["powernaut"] == 2


async def test_new_credentials_get_a_new_keeper(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Reauthentication with a rotated secret fetches with it, once."""
    entry = await setup_site(hass, sandbox, "powernaut")
    old = async_token_keeper(hass, entry.data)
    rotated = {**credentials("powernaut"), "client_secret": "rotated-secret"}
    with patch.dict(SANDBOX_CREDENTIALS["powernaut"], rotated):
        await sandbox.control("POST", "tokens/expire", {"platform": "powernaut"})
        result = await start_reauth_flow(hass, entry)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], rotated
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reauth_successful"
        await hass.async_block_till_done(wait_background_tasks=True)
        assert entry.state is ConfigEntryState.LOADED
        assert entry.data["client_secret"] == "rotated-secret"
        # The flow's check and the reloaded entry share the new token.
        assert sandbox.server.state.auth.issued["powernaut"] == 2
        assert async_token_keeper(hass, entry.data) is not old
    assert refused(sandbox, "powernaut") == []


async def test_unused_keepers_are_dropped(
    hass: HomeAssistant, sandbox: Sandbox, freezer: FrozenDateTimeFactory
) -> None:
    """An entry keeps its keeper; one no entry or recent flow uses goes."""
    entry = await setup_site(hass, sandbox, "flexmeasures")
    kept = async_token_keeper(hass, entry.data)
    # A flow with other credentials leaves a keeper behind.
    result = await start_flow(hass, sandbox, "flexmeasures")
    wrong = {**credentials("flexmeasures"), "password": "wrong"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], wrong)
    assert result["errors"]
    hass.config_entries.flow.async_abort(result["flow_id"])
    assert len(hass.data[DATA_TOKEN_KEEPERS]) == 2

    freezer.tick(KEEPER_IDLE + timedelta(seconds=1))
    assert async_token_keeper(hass, entry.data) is kept
    assert len(hass.data[DATA_TOKEN_KEEPERS]) == 1

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    # Within the idle time a new flow of the same account still finds it.
    assert async_token_keeper(hass, entry.data) is kept
    freezer.tick(KEEPER_IDLE + timedelta(seconds=1))
    assert async_token_keeper(hass, entry.data) is not kept
    assert len(hass.data[DATA_TOKEN_KEEPERS]) == 1


async def test_keys_and_keepers_keep_no_secret(
    hass: HomeAssistant, sandbox: Sandbox
) -> None:
    """Keepers are known by a hash; neither the key nor the keeper shows a secret."""
    entry = await setup_site(hass, sandbox, "powernaut")
    secret = entry.data["client_secret"]
    (key,) = hass.data[DATA_TOKEN_KEEPERS]
    keeper = async_token_keeper(hass, entry.data)
    token = next(iter(sandbox.server.state.auth.tokens))
    for text in (key, repr(keeper), repr(hass.data[DATA_TOKEN_KEEPERS])):
        assert secret not in text
        assert entry.data["client_id"] not in text
        assert token not in text
