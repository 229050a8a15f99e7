"""What the benchmarks share: printing, the machine, a real Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
import logging
import os
from pathlib import Path
import platform
import statistics
import tempfile
from unittest.mock import patch

from aiohttp.resolver import ThreadedResolver
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_test_home_assistant


def report(text: str = "") -> None:
    """Print one line of the benchmark's output (and flush it at once)."""
    print(text, flush=True)  # noqa: T201 - a benchmark prints its figures


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo names it ("unknown" elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return "unknown"


def report_machine(title: str) -> None:
    """Print the benchmark's title and the machine it runs on."""
    report(f"== {title} ==")
    report(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Home Assistant {ha_version}"
    )
    report()


def median(values: Sequence[float]) -> float:
    """The median of the repeated measurements."""
    return statistics.median(values)


def quiet_logs() -> None:
    """Keep Home Assistant's and GridFlex's logging out of the figures."""
    logging.basicConfig(level=logging.ERROR)


@asynccontextmanager
async def home_assistant() -> AsyncIterator[HomeAssistant]:
    """A real, running ``HomeAssistant`` core in a throw-away config folder.

    Built by ``async_test_home_assistant`` (the helper behind the tests'
    ``hass`` fixture, usable outside pytest): the state machine, the event
    bus, the timers and ``Store`` are Home Assistant's own. Only the
    registries it loads while starting are kept off the disk; a ``Store``
    made afterwards (the outbox's) writes to ``<config>/.storage`` for real.
    Home Assistant's shared aiohttp session gets aiohttp's threaded DNS
    resolver instead of the zeroconf one (which needs the ``network``
    integration), as the tests' plugin does with its own resolver.
    """
    resolver = ThreadedResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]
    with (
        tempfile.TemporaryDirectory(prefix="gridflex-bench-") as config_dir,
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            return_value=resolver,
        ),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)
