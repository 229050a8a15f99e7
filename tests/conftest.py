"""Fixtures: GridFlex inside Home Assistant against the local sandbox over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.gridflex.const import DOMAIN
from sandbox import SANDBOX_CREDENTIALS, SandboxServer

# Valid identifiers (GS1 check digit computed independently in the tests of
# grid_identifier.py): a Belgian EAN and a Norwegian GSRN meter point.
EAN_BE = "541448820044157096"
EAN_BE_OTHER = "541448820044157102"
GSRN_NO = "707057500000123458"

SITE_INPUT: dict[str, dict[str, Any]] = {
    "powernaut": {
        "site_name": "Home",
        "country": "be",
        "grid_identifier": EAN_BE,
        "direction": "bidirectional",
        "address": "Dok Noord 1, 9000 Gent, Belgium",
        "location": {"latitude": 51.0673, "longitude": 3.7302},
    },
    "energy_coordination": {
        "site_name": "Home",
        "country": "no",
        "grid_identifier": GSRN_NO,
        "location": {"latitude": 79.519137, "longitude": 15.976113},
    },
    "flexmeasures": {
        "site_name": "Home",
        "country": "be",
        "grid_identifier": EAN_BE,
        "address": "Dok Noord 1, 9000 Gent, Belgium",
        "location": {"latitude": 51.0673, "longitude": 3.7302},
    },
}

PLATFORMS = list(SITE_INPUT)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load GridFlex from custom_components in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialise Home Assistant objects (registry entries, states) stably."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture(autouse=True)
def short_request_timeout() -> Generator[None]:
    """Make injected delays outlast the client's timeout quickly."""
    with patch("custom_components.gridflex.client.REQUEST_TIMEOUT", 0.5):
        yield


@dataclass
class Sandbox:
    """The running sandbox and a session to drive its control endpoints."""

    server: SandboxServer
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        """Root URL of the sandbox."""
        return self.server.url

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call a control endpoint and return its JSON answer (if any)."""
        async with self.session.request(
            method, f"{self.url}/_sandbox/{path}", json=body
        ) as resp:
            assert resp.status < 300, await resp.text()
            if resp.content_type == "application/json":
                return await resp.json()
            return None

    async def fault(self, path: str, kind: str, **kwargs: Any) -> None:
        """Inject a fault on the routes matching ``path``."""
        await self.control("POST", "faults", {"path": path, "kind": kind, **kwargs})

    async def clear_faults(self) -> None:
        """Remove every injected fault."""
        await self.control("DELETE", "faults")

    def requests(self, platform: str | None = None) -> list[dict[str, Any]]:
        """Return the requests the sandbox received (optionally of one platform)."""
        return [
            r
            for r in self.server.state.requests
            if platform is None or r.get("platform") == platform
        ]


@pytest.fixture
async def sandbox(socket_enabled: None) -> AsyncIterator[Sandbox]:
    """Run the sandbox on a free port; fail the test on any invalid request.

    Also fails the test when the sandbox received any acknowledgement or energy
    report twice for one event.
    """
    server = SandboxServer(host="127.0.0.1", port=0)
    await server.start()
    session = aiohttp.ClientSession()
    try:
        yield Sandbox(server, session)
    finally:
        violations = list(server.state.violations)
        duplicates = server.state.energy_coordination.duplicate_reports()
        await session.close()
        await server.stop()
    assert violations == [], (
        f"GridFlex sent requests the platform rejects: {violations}"
    )
    # Exactly once: no test may leave an acknowledgement or report sent twice.
    assert duplicates == {}, f"GridFlex sent these more than once: {duplicates}"


def credentials(platform: str) -> dict[str, str]:
    """Return the sandbox's credentials for a platform."""
    return dict(SANDBOX_CREDENTIALS[platform])


async def start_flow(
    hass: HomeAssistant, sandbox: Sandbox, platform: str
) -> dict[str, Any]:
    """Run the user step and land on the credentials step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "platform": platform,
            "environment": "custom",
            "advanced": {"base_url": sandbox.url},
        },
    )
    assert result["step_id"] == "credentials"
    return dict(result)


async def setup_site(
    hass: HomeAssistant,
    sandbox: Sandbox,
    platform: str,
    *,
    enroll: bool = False,
    **site_overrides: Any,
) -> ConfigEntry:
    """Add GridFlex through the real config flow and return the loaded entry.

    On a platform with a programme, the flow's last step offers enrollment:
    ``enroll`` answers it.
    """
    result = await start_flow(hass, sandbox, platform)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(platform)
    )
    assert result["step_id"] == "site", result.get("errors")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SITE_INPUT[platform], **site_overrides}
    )
    result = await finish_programme_step(hass, result, enroll=enroll)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    return entry


async def finish_programme_step(
    hass: HomeAssistant, result: Any, *, enroll: bool = False
) -> Any:
    """Answer the flow's enrollment offer, if it makes one."""
    if result.get("step_id") == "enroll":
        return await hass.config_entries.flow.async_configure(
            result["flow_id"], {"enroll": enroll}
        )
    if result.get("step_id") == "enroll_not_eligible":
        return await hass.config_entries.flow.async_configure(result["flow_id"], {})
    return result


async def start_reauth_flow(hass: HomeAssistant, entry: ConfigEntry) -> Any:
    """Start the reauth flow of an entry, as Home Assistant does."""
    return await hass.config_entries.flow.async_init(
        DOMAIN,
        context={
            "source": config_entries.SOURCE_REAUTH,
            "entry_id": entry.entry_id,
        },
        data=entry.data,
    )


async def start_reconfigure_flow(hass: HomeAssistant, entry: ConfigEntry) -> Any:
    """Start the reconfigure flow of an entry, as the UI does."""
    return await hass.config_entries.flow.async_init(
        DOMAIN,
        context={
            "source": config_entries.SOURCE_RECONFIGURE,
            "entry_id": entry.entry_id,
        },
    )


async def create_lpc_event(
    sandbox: Sandbox,
    entry: ConfigEntry,
    start: datetime,
    limits: Sequence[float],
    *,
    hours: Sequence[int] | None = None,
    payload_type: str = "LocationLPC",
    resource_ids: Sequence[str] = (),
) -> str:
    """Have the Energy Coordination sandbox issue an LPC event for the site.

    One hourly point per limit, from ``start`` (or at the ``hours`` after it);
    with ``resource_ids`` one target per resource (a ``ResourceLPC``).
    Returns the event's id.
    """
    offsets = list(hours) if hours is not None else list(range(len(limits)))
    target = {
        "locationId": entry.data["site_id"].split("/", 1)[1],
        "meterPointId": GSRN_NO,
        "resolution": "01:00:00",
        "points": [
            {
                "timestamp": (start + timedelta(hours=offset)).isoformat(),
                "maxPowerInKiloWatts": limit,
            }
            for offset, limit in zip(offsets, limits, strict=True)
        ],
    }
    targets = (
        [{**target, "resourceId": resource_id} for resource_id in resource_ids]
        if resource_ids
        else [target]
    )
    created = await sandbox.control(
        "POST",
        "energy_coordination/events",
        {"payload": {"payloadType": payload_type, "targets": targets}},
    )
    return str(created["id"])
