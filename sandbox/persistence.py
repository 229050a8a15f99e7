"""Keep a ``SandboxState`` in a JSON file across restarts (``python -m sandbox --state FILE``).

``state_to_json`` / ``state_from_json`` (de)serialise what a client created:
the three platforms' stores, the issued tokens and the revoked credentials.
Injected faults and the request and violation logs are not kept: they
describe one run. ``StateFile`` loads the file at start (a missing file means
the seeded state; an unreadable one is moved aside to ``FILE.corrupt`` and the
sandbox starts seeded) and writes it atomically (temporary file, fsync,
rename) whenever the serialised state changed, polled every ``interval``
seconds, and once more at shutdown.

Only ``python -m sandbox`` uses this; ``SandboxServer`` in the tests keeps its
state in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import fields
import json
import logging
import os
from pathlib import Path
import tempfile
from typing import Any

from .envelopes import ENERGY_COORDINATION, FLEXMEASURES, POWERNAUT
from .state import (
    EnergyCoordinationState,
    FlexMeasuresState,
    IssuedToken,
    JSONDict,
    PowernautState,
    SandboxState,
)

_LOGGER = logging.getLogger(__name__)

FORMAT_VERSION = 1

#: FlexMeasures stores keyed by integer ids (JSON object keys are strings).
_INT_KEYED = frozenset(
    {
        "accounts",
        "users",
        "passwords",
        "asset_types",
        "assets",
        "sensors",
        "beliefs",
        "belief_history",
    }
)

type _Store = PowernautState | EnergyCoordinationState | FlexMeasuresState


def _store_to_json(store: _Store) -> JSONDict:
    return {item.name: getattr(store, item.name) for item in fields(store)}


def _store_from_json[S: _Store](
    cls: type[S], data: Any, int_keyed: frozenset[str]
) -> S:
    """Build a store from saved data; unknown fields are ignored, missing ones seeded."""
    store = cls()
    if not isinstance(data, dict):
        return store
    for item in fields(store):
        if item.name not in data:
            continue
        value = data[item.name]
        if item.name in int_keyed and isinstance(value, dict):
            value = {int(key): entry for key, entry in value.items()}
        setattr(store, item.name, value)
    return store


def state_to_json(state: SandboxState) -> JSONDict:
    """Return the state worth keeping as JSON-ready data."""
    return {
        "version": FORMAT_VERSION,
        POWERNAUT: _store_to_json(state.powernaut),
        ENERGY_COORDINATION: _store_to_json(state.energy_coordination),
        FLEXMEASURES: _store_to_json(state.flexmeasures),
        "auth": {
            "tokens": [
                {
                    "platform": token.platform,
                    "token": token.token,
                    "issued_at": token.issued_at,
                    "expires_at": token.expires_at,
                }
                for token in state.auth.tokens.values()
            ],
            "revoked": sorted(state.auth.revoked),
        },
    }


def state_from_json(state: SandboxState, data: Any) -> None:
    """Replace the state's stores, in place, with saved data from ``state_to_json``.

    Faults and logs start empty. Raises ``ValueError`` for data of another
    format version or shape.
    """
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a sandbox state file of format {FORMAT_VERSION}")
    state.reset()
    state.powernaut = _store_from_json(PowernautState, data.get(POWERNAUT), frozenset())
    state.energy_coordination = _store_from_json(
        EnergyCoordinationState, data.get(ENERGY_COORDINATION), frozenset()
    )
    state.flexmeasures = _store_from_json(
        FlexMeasuresState, data.get(FLEXMEASURES), _INT_KEYED
    )
    auth = data.get("auth") or {}
    for token in auth.get("tokens", []):
        issued = IssuedToken(
            platform=str(token["platform"]),
            token=str(token["token"]),
            issued_at=float(token["issued_at"]),
            expires_at=float(token["expires_at"]),
        )
        state.auth.tokens[issued.token] = issued
    state.auth.revoked = {str(platform) for platform in auth.get("revoked", [])}


def _dumps(state: SandboxState) -> str:
    return json.dumps(state_to_json(state), indent=1, sort_keys=True) + "\n"


class StateFile:
    """A ``SandboxState`` mirrored to a JSON file."""

    def __init__(self, state: SandboxState, path: str | os.PathLike[str]) -> None:
        """Bind a state to a file; nothing is read or written yet."""
        self.state = state
        self.path = Path(path)
        self._written: str | None = None
        self._task: asyncio.Task[None] | None = None

    def load(self) -> bool:
        """Load the file into the state; return whether there was a usable one."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        try:
            state_from_json(self.state, json.loads(text))
        except (ValueError, TypeError, KeyError) as err:
            aside = self.path.with_name(self.path.name + ".corrupt")
            self.path.replace(aside)
            _LOGGER.warning(
                "Unreadable sandbox state %s (%s); moved to %s", self.path, err, aside
            )
            self.state.reset()
            return False
        self._written = _dumps(self.state)
        return True

    def save(self) -> bool:
        """Write the state if it changed since the last write; return whether it wrote."""
        text = _dumps(self.state)
        if text == self._written:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
        self._written = text
        return True

    def start(self, interval: float = 1.0) -> None:
        """Save every ``interval`` seconds (when changed) until ``stop()``."""
        self._task = asyncio.get_running_loop().create_task(self._run(interval))

    async def _run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.save()
            except (OSError, TypeError, ValueError) as err:
                _LOGGER.warning(
                    "Could not save the sandbox state to %s: %s", self.path, err
                )

    async def stop(self) -> None:
        """Stop the periodic saves and write a last time."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.save()
