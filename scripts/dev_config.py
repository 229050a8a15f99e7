"""The Home Assistant config directory scripts/develop runs with, and its banner.

    python scripts/dev_config.py prepare CONFIG_DIR HA_PORT
    python scripts/dev_config.py banner HA_PORT SANDBOX_PORT STATE_FILE

``prepare``:

- ``configuration.yaml``: written when missing (the UI's integrations and
  GridFlex's, no ``default_config``); an ``http:`` block left by an earlier
  version of this script is removed (HA 2026.10 keeps HTTP settings in
  ``.storage/http``; YAML there is migrated once, as an unconfirmed *pending*
  config that HA reverts, with a restart, five minutes later, and afterwards
  ignored with a repair issue).
- ``.storage/http``: HA's HTTP config store (version 2.2) with a *stable*
  config binding 127.0.0.1 on HA_PORT, no pending config and the YAML
  migration marked done, built with HA's own ``HTTP_STORAGE_SCHEMA``. Written
  when missing or when it holds anything else; left alone otherwise.

Prints what it changed. ``banner`` prints the URLs, the sandbox credentials
and a valid grid identifier per platform.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import sys
import tempfile
from typing import Any

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent

#: A grid identifier each platform's config flow accepts, with its country.
TEST_IDENTIFIERS: dict[str, tuple[str, str, str]] = {
    "powernaut": ("BE", "EAN", "541448820044157096"),
    "energy_coordination": ("NO", "GSRN", "707057500000123458"),
    "flexmeasures": ("BE", "EAN", "541448820044157096"),
}
PLATFORM_NAMES = {
    "powernaut": "Powernaut Connect",
    "energy_coordination": "Energy Coordination",
    "flexmeasures": "FlexMeasures",
}

CONFIGURATION_YAML = """\
homeassistant:
  name: GridFlex development
  country: BE
  time_zone: Europe/Brussels
  latitude: 51.0673
  longitude: 3.7302
  unit_system: metric
  currency: EUR
# HTTP (127.0.0.1, the port) is in .storage/http, written by scripts/dev_config.py.
# default_config pulls in components that fail on a bare Linux box (go2rtc, speech);
# list what the UI and GridFlex need instead.
frontend:
config:
energy:
history:
logbook:
recorder:
repairs:
search:
system_health:
logger:
  default: info
  logs:
    custom_components.gridflex: debug
"""

# A top-level ``http:`` key and its indented (or blank/comment) continuation lines.
_HTTP_BLOCK = re.compile(
    r"^http:[^\n]*\n(?:(?:[ \t]+[^\n]*|[ \t]*(?:#[^\n]*)?)\n)*", re.MULTILINE
)


def drop_http_block(text: str) -> str:
    """Return the YAML without its top-level ``http:`` block."""
    return _HTTP_BLOCK.sub("", text)


def http_store(port: int, created_at: str) -> dict[str, Any]:
    """Return the ``.storage/http`` document for a stable 127.0.0.1:port config."""
    from homeassistant.components.http.config import (
        HTTP_STORAGE_SCHEMA,
        STORAGE_KEY,
        STORAGE_MINOR_VERSION,
        STORAGE_VERSION,
    )

    stable = dict(HTTP_STORAGE_SCHEMA({"server_host": [HOST], "server_port": port}))
    stable.update(created_at=created_at, error=None, error_message=None)
    return {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }


def _store_is_current(current: Any, wanted: dict[str, Any]) -> bool:
    """Whether the existing store already is ``wanted`` (timestamps aside)."""
    if not isinstance(current, dict):
        return False
    try:
        data = current["data"]
        stable = {k: v for k, v in data["stable"].items() if k != "created_at"}
    except KeyError, TypeError, AttributeError:
        return False
    want = wanted["data"]
    return (
        current.get("version") == wanted["version"]
        and current.get("minor_version") == wanted["minor_version"]
        and data.get("pending") is None
        and data.get("yaml_migration_done") is True
        and stable == {k: v for k, v in want["stable"].items() if k != "created_at"}
    )


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    Path(tmp).chmod(mode)
    Path(tmp).replace(path)


def prepare(config_dir: Path, port: int) -> list[str]:
    """Bring the config directory to what scripts/develop needs; return the changes."""
    changes: list[str] = []
    yaml_path = config_dir / "configuration.yaml"
    if not yaml_path.exists():
        _write_atomic(yaml_path, CONFIGURATION_YAML)
        changes.append(f"wrote {yaml_path}")
    else:
        text = yaml_path.read_text(encoding="utf-8")
        if (stripped := drop_http_block(text)) != text:
            _write_atomic(yaml_path, stripped)
            changes.append(
                f"removed the http: block from {yaml_path} (now in .storage/http)"
            )

    store_path = config_dir / ".storage" / "http"
    from homeassistant.util import dt as dt_util

    wanted = http_store(port, dt_util.utcnow().isoformat())
    try:
        current = json.loads(store_path.read_text(encoding="utf-8"))
    except FileNotFoundError, ValueError:
        current = None
    if not _store_is_current(current, wanted):
        _write_atomic(store_path, json.dumps(wanted, indent=2) + "\n", 0o600)
        changes.append(f"wrote {store_path}: stable HTTP config {HOST}:{port}")
    return changes


def banner(ha_port: int, sandbox_port: int, state_file: str) -> str:
    """Return the one banner scripts/develop prints."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from sandbox import SANDBOX_CREDENTIALS

    sandbox = f"http://{HOST}:{sandbox_port}"
    lines = [
        "",
        "=" * 78,
        "GridFlex development",
        f"  Home Assistant  http://{HOST}:{ha_port}   (create the owner account on first start)",
        f"  Sandbox         {sandbox}   (control API {sandbox}/_sandbox/..., sandbox/README.md)",
        f"  Sandbox state   {state_file}   (delete it for a fresh sandbox)",
        "",
        "Add GridFlex: Settings > Devices & services > Add integration > GridFlex,",
        f'environment "Custom URL", under Advanced the sandbox URL {sandbox}, then:',
    ]
    for platform, credentials in SANDBOX_CREDENTIALS.items():
        country, scheme, identifier = TEST_IDENTIFIERS[platform]
        pairs = "  ".join(f"{name}={value}" for name, value in credentials.items())
        lines.append(f"  {PLATFORM_NAMES.get(platform, platform)}")
        lines.append(f"    {pairs}")
        lines.append(f"    country {country}, {scheme} {identifier}")
    lines += ["Stop with Ctrl-C.", "=" * 78, ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Command line entry point."""
    match argv[1:]:
        case ["prepare", config_dir, port]:
            for change in prepare(Path(config_dir), int(port)):
                print(f"develop: {change}")
        case ["banner", ha_port, sandbox_port, state_file]:
            print(banner(int(ha_port), int(sandbox_port), state_file))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
