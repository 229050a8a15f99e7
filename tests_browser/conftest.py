"""Fixtures: one Chromium page on scripts/develop's Home Assistant and sandbox.

scripts/browser_test starts scripts/develop with a throw-away config directory
and sets GRIDFLEX_BROWSER_HA_URL, GRIDFLEX_BROWSER_SANDBOX_URL and
GRIDFLEX_BROWSER_OUTPUT (where the screenshots go).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import re
import time

from playwright.sync_api import (
    Browser,
    Page,
    TimeoutError as PlaywrightTimeoutError,
    sync_playwright,
)
import pytest

HA_URL = os.environ.get("GRIDFLEX_BROWSER_HA_URL", "http://127.0.0.1:18123")
SANDBOX_URL = os.environ.get("GRIDFLEX_BROWSER_SANDBOX_URL", "http://127.0.0.1:18765")
# scripts/browser_test sets it; the default is for running pytest by hand.
DEFAULT_OUTPUT = "/tmp/gridflex-browser"  # noqa: S108
OUTPUT = Path(os.environ.get("GRIDFLEX_BROWSER_OUTPUT", DEFAULT_OUTPUT))
CHROMIUM = os.environ.get("GRIDFLEX_BROWSER_CHROMIUM", "/usr/bin/chromium")
# The machine's network is closed: without the background-networking flags
# Chromium's own connections are refused many at a time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Visible text of the document, shadow roots included (HA's frontend is web
# components); form labels rendered from attributes are not text nodes.
DEEP_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.textContent.trim();
      const parent = node.parentElement;
      if (text && (!parent || parent.checkVisibility())) out.push(text);
      return;
    }
    if (node.nodeType === Node.ELEMENT_NODE) {
      if (["STYLE", "SCRIPT", "TEMPLATE"].includes(node.tagName)) return;
      if (node.shadowRoot) walk(node.shadowRoot);
      for (const attr of ["label", "helper", "placeholder", "heading"]) {
        const value = node.getAttribute(attr);
        if (value && node.checkVisibility()) out.push(value);
      }
    }
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out.join("\\n");
}"""

RAW_KEY = re.compile(r"component\.gridflex|\{[A-Za-z_][A-Za-z0-9_]*\}")
LOADING = re.compile(r"Loading", re.IGNORECASE)


class Walk:
    """The page, its screenshots and the checks after every step."""

    def __init__(self, page: Page, directory: Path) -> None:
        """Keep the page; screenshots go to ``directory``."""
        self.page = page
        self.directory = directory
        self.shots: list[Path] = []

    def text(self) -> str:
        """Return the visible text, shadow roots included."""
        return str(self.page.evaluate(DEEP_TEXT))

    def settle(self, timeout: float = 20.0) -> str:
        """Wait for the network and for every 'Loading…' to go; return the text."""
        # Map tiles and the like may never finish on a closed network.
        with contextlib.suppress(PlaywrightTimeoutError):
            self.page.wait_for_load_state("networkidle", timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        text = self.text()
        while LOADING.search(text) and time.monotonic() < deadline:
            time.sleep(0.25)
            text = self.text()
        return text

    def step(self, name: str) -> str:
        """Screenshot the page as ``name`` and check what it shows."""
        text = self.settle()
        path = self.directory / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self.shots.append(path)
        (path.with_suffix(".txt")).write_text(text, encoding="utf-8")
        raw = sorted(set(RAW_KEY.findall(text)))
        assert not raw, f"{name}: raw translation keys or placeholders {raw}:\n{text}"
        assert not LOADING.search(text), f"{name}: still loading:\n{text}"
        return text


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless (never a browser Playwright downloads)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def walk(browser: Browser) -> Iterator[Walk]:
    """One page for the whole walk: onboarding logs it in for the platforms."""
    directory = OUTPUT / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield Walk(page, directory)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:
    """Keep the call's report on the item for ``shot_on_failure``."""
    report = yield
    if call.when == "call":
        item.stash[CALL_REPORT] = report
    return report


CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.fixture(autouse=True)
def shot_on_failure(request: pytest.FixtureRequest, walk: Walk) -> Iterator[None]:
    """Screenshot the page (and keep its text) when a test fails."""
    yield
    report = request.node.stash.get(CALL_REPORT, None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        path = walk.directory / f"FAILED-{name}.png"
        walk.page.screenshot(path=path, full_page=True)
        path.with_suffix(".txt").write_text(walk.text(), encoding="utf-8")
