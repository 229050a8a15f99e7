"""The sandbox's state file (``python -m sandbox --state FILE``): what survives a restart."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import re
import signal
import sys
from typing import Any

import aiohttp
from sandbox_helpers import PN, Client, basic

from sandbox import SandboxServer
from sandbox.__main__ import _parse_args
from sandbox.persistence import (
    FORMAT_VERSION,
    StateFile,
    state_from_json,
    state_to_json,
)
from sandbox.state import SandboxState

ROOT = Path(__file__).resolve().parents[2]
SITE_BODY: dict[str, Any] = {
    "location": {"latitude": "50.501079", "longitude": "4.476460"},
    "supply_points": [
        {"grid_identifier": "541448820044157096", "direction": "bidirectional"}
    ],
    "external_id": "home-1",
}


async def _token(client: Client) -> dict[str, str]:
    status, body, _ = await client.request(
        "POST",
        "/v1/auth/token",
        headers={"Authorization": basic(PN["client_id"], PN["client_secret"])},
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


def _filled_state() -> SandboxState:
    state = SandboxState()
    state.powernaut.sites["s1"] = {"id": "s1", "status": "active"}
    state.energy_coordination.users["u1"] = {"userId": "u1"}
    state.energy_coordination.webhook_secrets["w1"] = None
    state.flexmeasures.assets[7] = {"id": 7, "name": "home"}
    state.flexmeasures.sensors[3] = {"id": 3, "unit": "kW"}
    state.flexmeasures.beliefs[3] = {"2026-11-22T10:00:00+00:00": 1.5}
    state.flexmeasures.next_asset_id = 8
    state.flexmeasures.data_posts = 2
    state.issue_token("powernaut")
    state.revoke_credentials("flexmeasures")
    state.faults.faults.append(object())  # type: ignore[arg-type]
    state.requests.append({"method": "GET"})
    return state


def test_round_trip_keeps_stores_tokens_and_revocations() -> None:
    """Stores (integer ids included), tokens and revocations come back; faults and logs do not."""
    state = _filled_state()
    data = json.loads(json.dumps(state_to_json(state)))
    restored = SandboxState()
    state_from_json(restored, data)
    assert state_to_json(restored) == state_to_json(state)
    assert restored.flexmeasures.assets == {7: {"id": 7, "name": "home"}}
    assert restored.flexmeasures.beliefs == {3: {"2026-11-22T10:00:00+00:00": 1.5}}
    assert restored.flexmeasures.users[1]["id"] == 1
    assert restored.flexmeasures.next_asset_id == 8
    assert restored.energy_coordination.webhook_secrets == {"w1": None}
    assert restored.auth.revoked == {"flexmeasures"}
    (token,) = state.auth.tokens
    assert restored.token_valid("powernaut", token)
    assert restored.faults.faults == []
    assert restored.requests == []


def test_unknown_fields_ignored_missing_fields_seeded() -> None:
    """A file from another revision loads: extra fields are dropped, absent ones seeded."""
    restored = SandboxState()
    state_from_json(
        restored,
        {
            "version": FORMAT_VERSION,
            "powernaut": {"sites": {}, "gone": 1},
            "flexmeasures": [],
        },
    )
    assert restored.powernaut.sites == {}
    assert restored.flexmeasures.users[1]["id"] == 1
    assert restored.auth.tokens == {}


def test_load_missing_and_corrupt_files(tmp_path: Path) -> None:
    """No file: seeded state. An unreadable file is moved aside and the state stays seeded."""
    path = tmp_path / "state.json"
    state = SandboxState()
    assert not StateFile(state, path).load()
    path.write_text("{not json")
    assert not StateFile(state, path).load()
    assert not path.exists()
    assert (tmp_path / "state.json.corrupt").read_text() == "{not json"
    path.write_text(json.dumps({"version": 999}))
    assert not StateFile(state, path).load()
    assert state.powernaut.sites == {}


def test_save_writes_only_changes_atomically(tmp_path: Path) -> None:
    """``save()`` writes when the state changed, leaves no temporary files."""
    path = tmp_path / "dev" / "state.json"
    state = SandboxState()
    file = StateFile(state, path)
    assert file.save()
    assert not file.save()
    state.powernaut.sites["s1"] = {"id": "s1"}
    assert file.save()
    assert json.loads(path.read_text())["powernaut"]["sites"] == {"s1": {"id": "s1"}}
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]
    again = SandboxState()
    loaded = StateFile(again, path)
    assert loaded.load()
    assert not loaded.save()  # what was just read needs no write


async def test_site_survives_a_restart(socket_enabled: None, tmp_path: Path) -> None:
    """A site created before a restart answers GET after it, with the old and a new token."""
    path = tmp_path / "state.json"
    async with aiohttp.ClientSession() as http:
        first = SandboxServer()
        first_file = StateFile(first.state, path)
        assert not first_file.load()
        await first.start()
        first_file.start(interval=0.01)
        client = Client(first, http)
        headers = await _token(client)
        status, site, _ = await client.request(
            "POST", "/v1/connect/sites", json=SITE_BODY, headers=headers
        )
        assert status == 201, site
        # The periodic save picks the change up without a shutdown.
        for _ in range(200):
            if path.exists() and site["id"] in path.read_text():
                break
            await asyncio.sleep(0.01)
        assert site["id"] in path.read_text()
        await first.stop()
        await first_file.stop()

        second = SandboxServer()
        assert StateFile(second.state, path).load()
        async with second:
            client = Client(second, http)
            for auth in (headers, await _token(client)):
                status, body, _ = await client.request(
                    "GET", f"/v1/connect/sites/{site['id']}", headers=auth
                )
                assert status == 200, body
                assert body["grid_identifier"] == "541448820044157096"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # noqa: ASYNC240


def test_cli_state_argument() -> None:
    """``--state FILE`` is optional; without it nothing is persisted."""
    assert _parse_args([]).state is None
    assert _parse_args(["--state", "x.json"]).state == "x.json"


async def _start_cli(path: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        "0",
        "--state",
        str(path),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while line := (await proc.stdout.readline()).decode():
            if match := re.search(r"listening on (http://\S+)", line):
                return proc, match.group(1)
    proc.kill()
    await proc.wait()
    raise AssertionError("the sandbox did not start")


async def _stop_cli(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert b"GridFlex sandbox stopped." in out


async def test_cli_keeps_state_across_processes(
    socket_enabled: None, tmp_path: Path
) -> None:
    """``python -m sandbox --state FILE``: stop with SIGTERM, start again, the site is there."""
    path = tmp_path / "state.json"
    proc, url = await _start_cli(path)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                url + "/v1/auth/token",
                headers={"Authorization": basic(PN["client_id"], PN["client_secret"])},
            ) as resp:
                token = (await resp.json())["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(
                url + "/v1/connect/sites", json=SITE_BODY, headers=headers
            ) as resp:
                assert resp.status == 201
                site_id = (await resp.json())["id"]
    finally:
        await _stop_cli(proc)
    saved = json.loads(path.read_text())
    assert site_id in saved["powernaut"]["sites"]

    proc, url = await _start_cli(path)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(url + f"/v1/connect/sites/{site_id}", headers=headers) as resp,
        ):
            assert resp.status == 200
    finally:
        await _stop_cli(proc)
