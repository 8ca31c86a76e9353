"""A real browser for the web pages' tests: Debian's headless Chromium driven by Playwright,
never a downloaded browser."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from tests.support import missing_tool

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # CI installs it with the [test] extra; see the fixture
    sync_playwright = None

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"

__all__ = ["ARTIFACTS", "Browser", "Chromium", "Page", "start_chromium"]


class Chromium:
    """The browser, driven from a thread of its own: Playwright's sync API keeps an asyncio loop
    running in the thread that starts it, and the gateway fixture starts its own loop."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="playwright")
        self._playwright = self.run(lambda: sync_playwright().start())
        self.browser: Browser = self.run(
            lambda: self._playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        )

    def run(self, action: Callable[[], T]) -> T:
        return self._thread.submit(action).result(timeout=120)

    def close(self) -> None:
        self.run(self.browser.close)
        self.run(self._playwright.stop)
        self._thread.shutdown()


def start_chromium() -> Chromium:
    """The browser, or a skip naming what to install."""
    if sync_playwright is None:
        missing_tool(
            "the playwright package is missing", "the test extra: pip install -e '.[test]'"
        )
    if not CHROMIUM.exists():
        missing_tool(f"no Chromium at {CHROMIUM}", "Debian's browser: apt-get install chromium")
    return Chromium()
