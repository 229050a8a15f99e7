"""Fixtures: a real FlexMeasures 1.0.1 server, and the sandbox beside it for parity.

``fm_server`` (session) starts ``scripts/flexmeasures_server`` — a fresh
database with one account and an account-admin user holding the sandbox's
FlexMeasures credentials — and stops it at the end. With ``GRIDFLEX_FM_URL``
set it uses that server instead and leaves it running (credentials from
``GRIDFLEX_FM_EMAIL`` / ``GRIDFLEX_FM_PASSWORD``, default the sandbox's; its
``FLEXMEASURES_TIMEZONE`` in ``GRIDFLEX_FM_TIMEZONE``, default the sandbox's).

Every test makes its own sites (a fresh grid identifier each), so tests do
not see each other's assets and a reused server gives the same results.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import secrets
import subprocess
import time
from typing import Any

import aiohttp
from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.gridflex.const import DOMAIN
from sandbox import SANDBOX_CREDENTIALS, SandboxServer
from sandbox.flexmeasures import SERVER_TIMEZONE

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "flexmeasures_server"
CREDENTIALS = SANDBOX_CREDENTIALS["flexmeasures"]
SITE_INPUT: dict[str, Any] = {
    "site_name": "Home",
    "country": "be",
    "address": "Dok Noord 1, 9000 Gent, Belgium",
    "location": {"latitude": 51.0673, "longitude": 3.7302},
}
# How often and how fast a schedule is polled until its job is done.
MAX_POLLS = 300
SERVER_POLL_DELAY = 0.05

_START_REPORT: list[str] = []


@dataclass(frozen=True)
class FlexMeasuresServer:
    """Where the real server is and who GridFlex logs in as."""

    url: str
    email: str
    password: str
    timezone: str


@pytest.fixture(scope="session")
def fm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlexMeasuresServer]:
    """The real server: started by scripts/flexmeasures_server, or GRIDFLEX_FM_URL."""
    email = os.environ.get("GRIDFLEX_FM_EMAIL", CREDENTIALS["email"])
    password = os.environ.get("GRIDFLEX_FM_PASSWORD", CREDENTIALS["password"])
    timezone = os.environ.get("GRIDFLEX_FM_TIMEZONE", SERVER_TIMEZONE)
    url = os.environ.get("GRIDFLEX_FM_URL")
    if url:
        _START_REPORT.append(f"using the FlexMeasures server at {url}")
        yield FlexMeasuresServer(url.rstrip("/"), email, password, timezone)
        return
    state_file = tmp_path_factory.mktemp("flexmeasures") / "server.json"
    env = {
        **os.environ,
        "GRIDFLEX_FM_EMAIL": email,
        "GRIDFLEX_FM_PASSWORD": password,
        "GRIDFLEX_FM_TIMEZONE": timezone,
    }
    begun = time.monotonic()
    started = subprocess.run(  # noqa: S603 - our own script
        [str(SCRIPT), "start", "--json", str(state_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    _START_REPORT.extend(
        line for line in started.stderr.splitlines() if "flexmeasures_server:" in line
    )
    _START_REPORT.append(
        f"scripts/flexmeasures_server start took {time.monotonic() - begun:.1f} s"
    )
    if started.returncode != 0:
        pytest.fail(
            f"scripts/flexmeasures_server start failed:\n{started.stderr[-4000:]}",
            pytrace=False,
        )
    state = json.loads(state_file.read_text(encoding="utf-8"))
    try:
        yield FlexMeasuresServer(state["url"], email, password, state["timezone"])
    finally:
        subprocess.run(  # noqa: S603 - our own script
            [str(SCRIPT), "stop"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show how the real server was started (install and start times)."""
    if _START_REPORT:
        terminalreporter.section("FlexMeasures server")
        for line in _START_REPORT:
            terminalreporter.write_line(line)


def new_ean() -> str:
    """A fresh Belgian EAN (GS1 check digit) so every test has its own site."""
    body = "5414488" + f"{secrets.randbelow(10**10):010d}"
    total = sum(
        int(digit) * (3 if index % 2 == 0 else 1)
        for index, digit in enumerate(reversed(body))
    )
    return body + str((10 - total % 10) % 10)


class FlexMeasuresAPI:
    """Raw HTTP to a FlexMeasures server (the real one or the sandbox)."""

    def __init__(
        self, session: aiohttp.ClientSession, url: str, email: str, password: str
    ) -> None:
        """Talk to ``url`` as this user (``login`` fetches the token)."""
        self.session = session
        self.url = url
        self.api = f"{url}/api/v3_0"
        self._email = email
        self._password = password
        self._token = ""
        self.user_id = 0
        self._types: dict[str, int] = {}
        self._account: int | None = None

    async def login(self) -> None:
        """Fetch a token with the email and password."""
        async with self.session.post(
            f"{self.url}/api/requestAuthToken",
            json={"email": self._email, "password": self._password},
        ) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        self._token = body["auth_token"]
        self.user_id = body["user_id"]

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request under /api/v3_0; return the status and the JSON (or text)."""
        async with self.session.request(
            method,
            f"{self.api}{path}",
            json=json_body,
            params=params,
            headers={"Authorization": self._token},
        ) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """``call`` that must succeed (2xx); return the JSON."""
        status, body = await self.call(method, path, **kwargs)
        assert 200 <= status < 300, (method, path, status, body)
        return body

    async def account_id(self) -> int:
        """The account of the logged-in user."""
        if self._account is None:
            user = await self.ok("GET", f"/users/{self.user_id}")
            self._account = int(user["account_id"])
        return self._account

    async def asset_type(self, name: str) -> int:
        """The id of an asset type (``battery``, ``building``, …)."""
        if not self._types:
            for item in await self.ok("GET", "/assets/types"):
                self._types[item["name"]] = item["id"]
        return self._types[name]

    async def asset_body(
        self, name: str, type_name: str, parent: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """The body of ``POST /assets``; JSON fields go as JSON strings."""
        body: dict[str, Any] = {
            "name": name,
            "generic_asset_type_id": await self.asset_type(type_name),
            "account_id": await self.account_id(),
        }
        if parent is not None:
            body["parent_asset_id"] = parent
        for key, value in fields.items():
            body[key] = json.dumps(value) if isinstance(value, dict) else value
        return body

    async def create_asset(
        self, name: str, type_name: str, parent: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create an asset in the user's account; return it."""
        body = await self.asset_body(name, type_name, parent, **fields)
        status, answer = await self.call("POST", "/assets", json_body=body)
        assert status == 201, answer
        return dict(answer)

    async def create_sensor(
        self,
        asset_id: int,
        name: str = "power",
        unit: str = "kW",
        resolution: str = "PT15M",
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a sensor on an asset; ``attributes`` go as a JSON string."""
        body: dict[str, Any] = {
            "name": name,
            "unit": unit,
            "event_resolution": resolution,
            "generic_asset_id": asset_id,
        }
        for key, value in fields.items():
            body[key] = json.dumps(value) if isinstance(value, dict) else value
        status, answer = await self.call("POST", "/sensors", json_body=body)
        assert status == 201, answer
        return dict(answer)

    async def tree(self, site_id: int) -> dict[int, dict[str, Any]]:
        """The site asset and its descendants, by id."""
        answer = await self.ok(
            "GET",
            "/assets",
            params={
                "root": str(site_id),
                "depth": "3",
                "fields": "id|name|parent_asset_id|generic_asset_type|attributes",
            },
        )
        return {asset["id"]: asset for asset in _rows(answer)}

    async def sensors(self, asset_id: int) -> dict[int, dict[str, Any]]:
        """The sensors of an asset and its descendants, by id."""
        answer = await self.ok("GET", "/sensors", params={"asset": str(asset_id)})
        return {sensor["id"]: sensor for sensor in _rows(answer)}

    async def assets_named(self, name: str) -> list[dict[str, Any]]:
        """The account's assets with this name."""
        return [a for a in _rows(await self.ok("GET", "/assets")) if a["name"] == name]


def _rows(answer: Any) -> list[dict[str, Any]]:
    """A list answer: a bare list, or ``{"data": [...]}`` when paginated."""
    if isinstance(answer, dict):
        answer = answer.get("data", [])
    return [row for row in answer if isinstance(row, dict)]


def attributes(thing: dict[str, Any]) -> dict[str, Any]:
    """An asset's or sensor's attributes (a JSON string on the wire)."""
    value = thing.get("attributes") or "{}"
    return dict(json.loads(value) if isinstance(value, str) else value)


def is_pending(status: int, body: Any) -> bool:
    """A schedule poll answered 'not done yet' (202, or the older 400 form)."""
    if status == 202:
        return True
    message = str(body.get("message", "")) if isinstance(body, dict) else str(body)
    return status == 400 and (
        "Scheduling job waiting" in message or "Scheduling job in progress" in message
    )


@dataclass
class Target:
    """One side of a parity test: the sandbox or the real server."""

    name: str
    api: FlexMeasuresAPI
    timezone: str
    poll_delay: float
    rejections: list[str] = field(default_factory=list)
    """Reasons of rejections the test provokes on purpose (the sandbox logs them)."""

    def expect_rejection(self, reason: str) -> None:
        """Let the sandbox log a rejection whose reason contains ``reason``."""
        self.rejections.append(reason)

    async def poll_schedule(
        self, sensor_id: int, job: str, duration: str = "PT2H"
    ) -> list[tuple[int, Any]]:
        """Read the schedule until its job is done; every answer, the last final."""
        answers: list[tuple[int, Any]] = []
        for _ in range(MAX_POLLS):
            status, body = await self.api.call(
                "GET",
                f"/sensors/{sensor_id}/schedules/{job}",
                params={"duration": duration},
            )
            answers.append((status, body))
            if not is_pending(status, body):
                return answers
            await asyncio.sleep(self.poll_delay)
        raise AssertionError(f"{self.name}: job {job} still pending: {answers[-3:]}")


@pytest.fixture
async def fm_api(
    socket_enabled: None, fm_server: FlexMeasuresServer
) -> AsyncIterator[FlexMeasuresAPI]:
    """Raw HTTP to the real server, logged in as GridFlex's user."""
    async with aiohttp.ClientSession() as session:
        api = FlexMeasuresAPI(
            session, fm_server.url, fm_server.email, fm_server.password
        )
        await api.login()
        yield api


@pytest.fixture(params=["sandbox", "server"])
async def target(
    request: pytest.FixtureRequest, socket_enabled: None, fm_server: FlexMeasuresServer
) -> AsyncIterator[Target]:
    """The sandbox (fresh, strict) or the real server, for the same raw requests."""
    async with aiohttp.ClientSession() as session:
        if request.param == "server":
            api = FlexMeasuresAPI(
                session, fm_server.url, fm_server.email, fm_server.password
            )
            await api.login()
            yield Target("server", api, fm_server.timezone, SERVER_POLL_DELAY)
            return
        sandbox = SandboxServer(host="127.0.0.1", port=0)
        await sandbox.start()
        api = FlexMeasuresAPI(
            session, sandbox.url, CREDENTIALS["email"], CREDENTIALS["password"]
        )
        sandbox_target = Target("sandbox", api, SERVER_TIMEZONE, 0.0)
        try:
            await api.login()
            yield sandbox_target
        finally:
            violations = list(sandbox.state.violations)
            await sandbox.stop()
        violations = [
            v
            for v in violations
            if not any(reason in v["reason"] for reason in sandbox_target.rejections)
        ]
        # The requests themselves must be what the vendor's OpenAPI file allows.
        assert violations == [], (
            f"requests the platform's contract rejects: {violations}"
        )


def next_hours(hours: int = 2) -> tuple[datetime, datetime]:
    """A window of whole hours starting two hours from now (UTC)."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
        hours=2
    )
    return start, start + timedelta(hours=hours)


async def add_site(
    hass: HomeAssistant, server: FlexMeasuresServer, grid_identifier: str
) -> ConfigEntry:
    """Add GridFlex for FlexMeasures through the config flow (custom URL)."""
    result = await start_site_flow(hass, server, grid_identifier)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    return entry


async def start_site_flow(
    hass: HomeAssistant, server: FlexMeasuresServer, grid_identifier: str
) -> dict[str, Any]:
    """Run the flow's user, credentials and site steps; return the last result."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "platform": "flexmeasures",
            "environment": "custom",
            "advanced": {"base_url": server.url},
        },
    )
    assert result["step_id"] == "credentials", result.get("errors")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"email": server.email, "password": server.password}
    )
    assert result["step_id"] == "site", result.get("errors")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SITE_INPUT, "grid_identifier": grid_identifier}
    )
    return dict(result)
