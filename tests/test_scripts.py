"""The developer scripts, quickly.

Syntax, scripts/test's argument handling, scripts/python314's first choice,
and scripts/dev_config.py (HA's HTTP store, the YAML migration, the banner).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
from types import ModuleType

import pytest

from custom_components.gridflex.grid_identifier import normalize_grid_identifier

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
SHELL_SCRIPTS = [
    SCRIPTS / "_venv.sh",
    SCRIPTS / "develop",
    SCRIPTS / "flexmeasures_server",
    SCRIPTS / "lint",
    SCRIPTS / "python314",
    SCRIPTS / "setup",
    SCRIPTS / "test",
    SCRIPTS / "test_flexmeasures",
    ROOT / ".ci" / "run",
]


def _run(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own scripts
        [str(arg) for arg in args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _dev_config() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dev_config", SCRIPTS / "dev_config.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: path.name)
def test_shell_syntax(script: Path) -> None:
    """Every shell script parses (``bash -n``); the runnable ones are executable."""
    result = _run("bash", "-n", script)
    assert result.returncode == 0, result.stderr
    if script.name not in ("_venv.sh", "run"):  # sourced / run as `bash .ci/run`
        assert os.access(script, os.X_OK)


def test_scripts_test_full_run_has_the_gate() -> None:
    """Without arguments: ruff, mypy and pytest with coverage."""
    result = _run(SCRIPTS / "test", env={"GRIDFLEX_TEST_DRY_RUN": "1"})
    assert result.returncode == 0, result.stderr
    commands = [
        line.strip() for line in result.stdout.splitlines() if not line.startswith("==")
    ]
    assert commands == [
        "ruff check .",
        "ruff format --check .",
        "mypy custom_components sandbox",
        "python -m pytest --cov --cov-report=term-missing",
    ]


def test_scripts_test_subset_is_pytest_only() -> None:
    """With arguments: only pytest with them, no lint and no coverage."""
    result = _run(
        SCRIPTS / "test",
        "tests/test_x.py",
        "-k",
        "a and b",
        env={"GRIDFLEX_TEST_DRY_RUN": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "python -m pytest tests/test_x.py -k a\\ and\\ b "
    ]


def test_python314_takes_the_one_on_path(tmp_path: Path) -> None:
    """A working python3.14 on PATH is printed at once: no cache, no download."""
    if sys.version_info[:2] != (3, 14):
        pytest.skip("needs a Python 3.14 to put on PATH")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3.14").symlink_to(sys.executable)
    cache = tmp_path / "cache"
    result = _run(
        SCRIPTS / "python314",
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GRIDFLEX_PY_CACHE": str(cache),
            "GRIDFLEX_PY_SOURCES": "path",
            "PYTHON": "",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{bin_dir / 'python3.14'}\n"
    assert not cache.exists()


def test_python314_reports_when_nothing_is_allowed(tmp_path: Path) -> None:
    """With no source that can work it fails with a message, printing no path."""
    result = _run(
        SCRIPTS / "python314",
        env={
            "PATH": "/usr/bin:/bin",
            "GRIDFLEX_PY_CACHE": str(tmp_path / "cache"),
            "GRIDFLEX_PY_SOURCES": "cache",
            "PYTHON": "",
        },
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no Python 3.14 found" in result.stderr


@pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck not installed"
)
def test_shellcheck() -> None:
    """Shellcheck finds nothing (when installed)."""
    result = _run("shellcheck", "-x", *SHELL_SCRIPTS)
    assert result.returncode == 0, result.stdout


def test_dev_config_writes_a_stable_http_store(tmp_path: Path) -> None:
    """A new config dir gets configuration.yaml without http: and a stable 127.0.0.1 store."""
    dev_config = _dev_config()
    changes = dev_config.prepare(tmp_path, 8124)
    assert len(changes) == 2
    yaml = (tmp_path / "configuration.yaml").read_text()
    assert "\nhttp:" not in yaml
    assert "frontend:" in yaml
    store = json.loads((tmp_path / ".storage" / "http").read_text())
    assert (store["version"], store["minor_version"], store["key"]) == (2, 2, "http")
    data = store["data"]
    assert data["pending"] is None
    assert data["yaml_migration_done"] is True
    assert data["stable"]["server_host"] == ["127.0.0.1"]
    assert data["stable"]["server_port"] == 8124
    assert data["stable"]["error"] is None
    # Nothing to do the second time; a changed port rewrites the store.
    assert dev_config.prepare(tmp_path, 8124) == []
    assert len(dev_config.prepare(tmp_path, 8125)) == 1


def test_dev_config_migrates_an_old_config(tmp_path: Path) -> None:
    """An http: block from an earlier scripts/develop is dropped, a pending config cleared."""
    dev_config = _dev_config()
    (tmp_path / "configuration.yaml").write_text(
        "homeassistant:\n  name: x\nhttp:\n  server_host: 127.0.0.1\n\n  server_port: 8123\n"
        "frontend:\n"
    )
    (tmp_path / ".storage").mkdir()
    (tmp_path / ".storage" / "http").write_text(
        json.dumps(
            {
                "version": 2,
                "minor_version": 2,
                "key": "http",
                "data": {
                    "stable": {},
                    "pending": {"server_port": 8123},
                    "yaml_migration_done": True,
                },
            }
        )
    )
    changes = dev_config.prepare(tmp_path, 8123)
    assert len(changes) == 2
    assert (tmp_path / "configuration.yaml").read_text() == (
        "homeassistant:\n  name: x\nfrontend:\n"
    )
    data = json.loads((tmp_path / ".storage" / "http").read_text())["data"]
    assert data["pending"] is None
    assert data["stable"]["server_host"] == ["127.0.0.1"]


def test_banner_identifiers_are_valid() -> None:
    """The banner names every platform once, its credentials and an identifier the flow accepts."""
    dev_config = _dev_config()
    text = dev_config.banner(8123, 8765, "config/sandbox-state.json")
    assert "http://127.0.0.1:8123" in text
    assert "http://127.0.0.1:8765" in text
    assert "sandbox-secret" in text
    assert "sandbox-password" in text
    for country, _scheme, identifier in dev_config.TEST_IDENTIFIERS.values():
        assert normalize_grid_identifier(country, identifier) == identifier
        assert identifier in text
    assert text.count("GridFlex development") == 1
