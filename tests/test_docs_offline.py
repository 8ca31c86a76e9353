"""The documentation pages work offline (issue 15, item 4): /docs (Swagger UI) and /redoc load
nothing but the gateway's own files, under a strict Content-Security-Policy.

In Debian's headless Chromium (Playwright, as tests/test_sco_page.py) with every host but
127.0.0.1 unresolvable, and every request elsewhere aborted and recorded: the pages render every
operation of the OpenAPI document, no request leaves the loopback address, and the console shows
no CSP violation. Screenshots go to test-artifacts/docs/ at the repository root, or to the
directory named by CXG_DOCS_SCREENSHOTS. Without a browser, the pinned files are checked against
their recorded SHA-256 and the pages' HTML and headers are checked as served."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from gateway.transport.rest import docs
from gateway.transport.serve import Gateway
from tests.support import missing_tool

try:
    from playwright.sync_api import Browser, Page, Route, sync_playwright
except ImportError:  # CI installs it with the [test] extra; see the chromium fixture
    sync_playwright = None

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("CXG_DOCS_SCREENSHOTS") or Path(__file__).parents[1] / "test-artifacts" / "docs"
)
LOOPBACK = "127.0.0.1"
# Chromium resolves no name but the loopback address: a page that needs the internet breaks.
OFFLINE = f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def base(gateway: Gateway) -> str:
    return f"http://{LOOPBACK}:{gateway.rest_port}"


def operations(gateway: Gateway) -> dict[str, str]:
    """operationId -> summary of every operation in the served OpenAPI document."""
    document = httpx.get(f"{base(gateway)}/openapi.json").json()
    return {
        operation["operationId"]: operation.get("summary", "")
        for path in document["paths"].values()
        for method, operation in path.items()
        if method in METHODS
    }


# -- Without a browser ------------------------------------------------------------------------


def test_the_pinned_files_are_the_ones_installed() -> None:
    assert importlib.metadata.version("fastapi-offline") == "1.7.7"  # pyproject.toml pins it
    for name, (_, digest) in docs.PINNED.items():
        installed = (docs.distribution_dir() / name).read_bytes()
        assert docs.sha256_b64(installed) == digest, name
    for name, asset in docs.assets().items():
        assert asset.integrity == f"sha256-{docs.sha256_b64(asset.body)}", name
    # The one change to a pinned file: the Redocly logo, which ReDoc loads from its CDN.
    redoc = (docs.distribution_dir() / "redoc.standalone.js").read_bytes()
    assert redoc.count(b"https://cdn.redoc.ly/") == 1
    assert b"cdn.redoc.ly" not in docs.assets()["redoc.standalone.js"].body


@pytest.mark.parametrize("path", [docs.DOCS_PATH, docs.REDOC_PATH])
def test_the_pages_load_only_their_own_files(gateway: Gateway, path: str) -> None:
    response = httpx.get(base(gateway) + path)
    assert response.status_code == 200
    csp = {docs.DOCS_PATH: docs.CSP, docs.REDOC_PATH: docs.REDOC_CSP}[path]
    assert response.headers["content-security-policy"] == csp
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    page = response.text
    # No inline script, and each file loaded with its integrity.
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all('src="/docs/assets/' in s and "integrity=" in s for s in scripts)
    assert re.findall(r'(?:src|href)="([^"]+)"', page) == [
        url
        for url in re.findall(r'(?:src|href)="([^"]+)"', page)
        if url.startswith("/docs/assets/")
    ]
    assert "http://" not in page and "https://" not in page
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert httpx.get(base(gateway) + url).status_code == 200, url


def test_only_the_known_files_are_served(gateway: Gateway) -> None:
    served = httpx.get(f"{base(gateway)}{docs.ASSETS_PATH}/swagger-ui.css")
    assert served.headers["content-type"].startswith("text/css")
    assert served.headers["x-content-type-options"] == "nosniff"
    for name in ("favicon.png", "..%2F..%2Fdocs.py", "docs.py", "../docs.py"):
        assert httpx.get(f"{base(gateway)}{docs.ASSETS_PATH}/{name}").status_code == 404, name


def test_the_docs_routes_are_outside_the_openapi_document(gateway: Gateway) -> None:
    paths = httpx.get(f"{base(gateway)}/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


# -- In Chromium, offline ---------------------------------------------------------------------


class Chromium:
    """The browser, driven from a thread of its own (see tests/test_sco_page.py)."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="playwright")
        self._playwright = self.run(lambda: sync_playwright().start())
        self.browser: Browser = self.run(
            lambda: self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=[OFFLINE]
            )
        )

    def run(self, action: Callable[[], T]) -> T:
        return self._thread.submit(action).result(timeout=180)

    def close(self) -> None:
        self.run(self.browser.close)
        self.run(self._playwright.stop)
        self._thread.shutdown()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    if sync_playwright is None:
        missing_tool(
            "the playwright package is missing", "the test extra: pip install -e '.[test]'"
        )
    if not CHROMIUM.exists():
        missing_tool(f"no Chromium at {CHROMIUM}", "Debian's browser: apt-get install chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = Chromium()
    yield driver
    driver.close()


# Records what the page says about the Content-Security-Policy; added before any page script.
_LISTEN = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__violations = window.__violations || []).push(e.violatedDirective + " " + e.blockedURI);
});"""


@dataclass
class Visit:
    """What one page load did: requests elsewhere than the loopback address (aborted), console
    errors and CSP violations."""

    elsewhere: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)


def visit(browser: Browser, url: str, check: Callable[[Page], Any], shot: str) -> Visit:
    seen = Visit()
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def guard(route: Route) -> None:
        if urllib.parse.urlsplit(route.request.url).hostname == LOOPBACK:
            route.continue_()
        else:
            seen.elsewhere.append(route.request.url)
            route.abort()

    try:
        context.route("**/*", guard)
        page = context.new_page()
        page.add_init_script(_LISTEN)
        page.on(
            "console",
            lambda message: seen.console.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: seen.console.append(str(error)))
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        check(page)
        page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=False)
        seen.violations = page.evaluate("window.__violations || []")
    finally:
        context.close()
    return seen


def assert_offline(seen: Visit) -> None:
    assert seen.elsewhere == [], "the page asked a host other than the loopback address"
    assert seen.violations == []
    assert [m for m in seen.console if "Content Security Policy" in m] == []
    assert seen.console == []


def test_swagger_ui_renders_every_operation_offline(gateway: Gateway, chromium: Chromium) -> None:
    expected = operations(gateway)

    def check(page: Page) -> None:
        page.wait_for_selector(".opblock", timeout=60_000)
        assert page.locator(".opblock").count() == len(expected)
        get_profile = page.locator(".opblock-summary-description", has_text="Get a profile (")
        assert get_profile.first.is_visible()
        assert page.locator(".opblock-summary-description").first.inner_text() != ""
        # The document's title as Swagger UI shows it, from /openapi.json.
        assert page.locator(".info .title").inner_text().startswith("Credit Exchange Gateway")

    seen = chromium.run(lambda: visit(chromium.browser, base(gateway) + "/docs", check, "docs"))
    assert_offline(seen)


def test_redoc_renders_every_operation_offline(gateway: Gateway, chromium: Chromium) -> None:
    expected = operations(gateway)

    def check(page: Page) -> None:
        page.wait_for_selector("[data-section-id*='operation/']", timeout=60_000)
        sections = page.eval_on_selector_all(
            "[data-section-id*='operation/']", "els => els.map(e => e.dataset.sectionId)"
        )
        assert {s.rsplit("/", 1)[1] for s in sections} == set(expected)
        heading = page.locator("h2", has_text=expected["GetProfile"])
        assert heading.first.is_visible() or heading.count() == 1
        # ReDoc falls back to the system's fonts: no web font was fetched or asked for.
        fonts = page.evaluate("[...document.fonts].map(f => f.family + ' ' + f.status)")
        assert [f for f in fonts if f.endswith("loaded")] == []

    seen = chromium.run(lambda: visit(chromium.browser, base(gateway) + "/redoc", check, "redoc"))
    assert_offline(seen)


def test_the_offline_rules_reach_chromium(gateway: Gateway, chromium: Chromium) -> None:
    """The harness itself: a page that wants an external file has it aborted and recorded."""

    def check(page: Page) -> None:
        page.evaluate("fetch('https://cdn.jsdelivr.net/npm/redoc').catch(() => null)")
        page.wait_for_timeout(300)

    seen = chromium.run(
        lambda: visit(chromium.browser, base(gateway) + "/openapi.json", check, "harness")
    )
    assert seen.elsewhere == ["https://cdn.jsdelivr.net/npm/redoc"]
    assert json.dumps(seen.console)  # recorded, whatever the browser said about the abort
