"""``python -m sandbox`` without the vendors' specs: it runs, unvalidated, and says so."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sandbox.openapi import specs_available


def test_specs_found_beside_the_clone() -> None:
    """The test suite always has the specs (../shared/specs or $SANDBOX_SPECS_DIR)."""
    assert specs_available()


def test_specs_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder without the spec files is not taken for one."""
    monkeypatch.setenv("SANDBOX_SPECS_DIR", "/nonexistent/specs")
    assert not specs_available()


def test_sandbox_runs_without_specs() -> None:
    """A clone with nothing beside it still gets a (loudly unvalidated) sandbox."""
    result = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"SANDBOX_SPECS_DIR": "/nonexistent/specs", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "NOT validated" in result.stdout
    assert "GridFlex sandbox listening on http://127.0.0.1:" in result.stdout


_SCRIPT = """
import asyncio, contextlib, signal, os
from sandbox.__main__ import _parse_args, _serve

async def main():
    task = asyncio.create_task(_serve(_parse_args(["--port", "0"])))
    await asyncio.sleep(1.5)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 10)

asyncio.run(main())
"""
