"""The scan-to-check page (GET /s/{code}) in a real browser: Debian's headless Chromium driven by
Playwright, never a downloaded browser. Every kind of code, in zh, en and ru, on a phone-sized
screen; also without JavaScript, and with hostile input. Screenshots of every case are kept in
test-artifacts/sco-page/ at the repository root."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import base45  # type: ignore[import-untyped]
import httpx
import pytest

from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
from gateway.sco import Names, ScoClaims, issue
from gateway.sco._token import PREFIX, text_to_cose
from gateway.service.sco import ScoService
from gateway.signing import SigningKey
from gateway.transport.rest._scan_text import TEXT
from gateway.transport.serve import Gateway
from tests.support import TestPartner, missing_tool, profile, publish

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # CI installs it with the [test] extra; see the browser fixture
    sync_playwright = None

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts" / "sco-page"
LANGS = {"zh": ("zh-CN", "zh-CN,zh;q=0.9"), "en": ("en-US", "en-US,en;q=0.9"),
         "ru": ("ru-RU", "ru-RU,ru;q=0.9")}  # fmt: skip
COLUMN = {"zh": 0, "en": 1, "ru": 2}
NAMES = {
    "zh": "青岛海通国际贸易有限公司",
    "en": "Qingdao Haitong International Trade Co., Ltd.",
    "ru": "Циндао Хайтун Интернэшнл Трейд Ко., Лтд.",
}
PHONE = {"width": 390, "height": 844}
AEO = {"scheme": "AEO", "value": "CN3702960123"}


def words(key: str, lang: str) -> str:
    return TEXT[key][COLUMN[lang]]


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


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    """One headless Chromium for the whole module (each case gets its own context)."""
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


@dataclasses.dataclass
class Codes:
    """One code of each kind, and the scan URLs their QR codes would hold."""

    sco: ScoService  # as the gateway's, with its bound REST port in its scan URLs
    port: int
    valid: str
    revoked: str
    expired: str
    forged: str
    unknown_issuer: str

    def url(self, kind: str) -> str:
        return self.sco.scan_url(getattr(self, kind))


@pytest.fixture
def codes(gateway: Gateway, partners: dict[str, TestPartner]) -> Codes:
    document = profile()
    document["subject"]["legalName"]["ru"] = NAMES["ru"]
    publish(gateway.exchange, partners["cn-customs"], document)
    operator = partners["cxg-operator"].as_partner()
    service = gateway.services.sco

    def issued() -> sco_pb.ScoCode:
        return service.issue_code(sco_pb.IssueScoCodeRequest(subject=AEO), operator)

    valid, revoked = issued(), issued()
    service.set_status(
        sco_pb.SetScoCodeStatusRequest(name=revoked.name, state=sco_pb.CODE_STATE_REVOKED),
        operator,
    )
    long_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    old = ScoClaims.new(
        subject_ids=[("AEO", AEO["value"])],
        names=Names(**NAMES),
        country="CN",
        issuer=service.issuer,
        status_index=0,
        valid_for=timedelta(days=30),
        grade_bucket="A",
        aeo_type="CN_ADVANCED",
        now=long_ago,
    )
    expired = issue(old, gateway.exchange.keyring.active)
    stranger = issue(dataclasses.replace(old, expires_at=long_ago + timedelta(days=900)),
                     SigningKey.generate())  # fmt: skip
    return Codes(
        sco=service,
        port=gateway.rest_port,
        valid=valid.code,
        revoked=revoked.code,
        expired=expired,
        forged=flip_signature(valid.code),
        unknown_issuer=stranger,
    )


def flip_signature(code: str) -> str:
    """The code with one bit of its signature flipped: still well-formed, never verifying.
    (Flipping a Base45 character instead breaks zlib's checksum: that is MALFORMED.)"""
    cose = bytearray(text_to_cose(code))
    cose[-1] ^= 0x01  # the signature is the COSE_Sign1's last item
    encoded: bytes = base45.b45encode(zlib.compress(bytes(cose), 9))
    return PREFIX + encoded.decode("ascii")


def open_page(browser: Browser, url: str, lang: str, **options: Any) -> tuple[Any, Page]:
    locale, accept = LANGS[lang]
    context = browser.new_context(
        locale=locale, extra_http_headers={"Accept-Language": accept}, viewport=PHONE, **options
    )
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return context, page


def assert_page(page: Page, result: str, lang: str, *, fields: bool) -> None:
    assert page.get_attribute("html", "lang") == lang
    section = page.locator("#result")
    assert section.get_attribute("data-result") == result
    assert section.locator("strong").inner_text() == words(result, lang)
    assert words(f"{result}_explained", lang) in section.inner_text()
    assert page.title() == f"{words('title', lang)} · {words(result, lang)}"
    if not fields:
        assert page.locator("#company").count() == 0
        return
    assert page.locator("#company").inner_text() == NAMES[lang]
    assert page.locator("#country").inner_text() == "CN"
    assert page.locator("#grade").inner_text() in ("A", words("none", lang))
    assert page.locator("#aeo").inner_text() == f"{words('aeo_yes', lang)} (CN_ADVANCED)"
    validity = page.locator("#validity").inner_text()
    assert len(validity.split(" – ")) == 2, validity
    assert page.locator("#issuer").inner_text() == "cxg.qingdao.dev"


CASES = {
    "valid": ("VALID", True),
    "revoked": ("REVOKED", True),
    "expired": ("EXPIRED", True),
    "forged": ("FORGED", False),
    "unknown_issuer": ("UNKNOWN_ISSUER", False),
}


@pytest.mark.parametrize("lang", list(LANGS))
@pytest.mark.parametrize("kind", list(CASES))
def test_each_kind_of_code_in_each_language(
    chromium: Chromium, codes: Codes, kind: str, lang: str
) -> None:
    chromium.run(lambda: visit(chromium.browser, codes.url(kind), kind, lang))


def visit(browser: Browser, url: str, kind: str, lang: str) -> None:
    result, fields = CASES[kind]
    context, page = open_page(browser, url, lang)
    try:
        assert_page(page, result, lang, fields=fields)
        # Mobile first: nothing wider than a phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=ARTIFACTS / f"{kind}-{lang}.png", full_page=True)
        # The language links switch the page's language, keeping the code and its result.
        other = {"zh": "en", "en": "ru", "ru": "zh"}[lang]
        page.click(f'nav a[hreflang="{other}"]')
        page.wait_for_load_state()
        assert page.url.endswith(f"?lang={other}")
        assert page.locator(f'nav a[hreflang="{other}"]').get_attribute("aria-current") == "true"
        assert_page(page, result, other, fields=fields)
    finally:
        context.close()


@pytest.mark.parametrize("lang", list(LANGS))
def test_the_page_works_without_javascript(chromium: Chromium, codes: Codes, lang: str) -> None:
    def visit() -> None:
        context, page = open_page(chromium.browser, codes.url("valid"), lang,
                                  java_script_enabled=False)  # fmt: skip
        try:
            assert_page(page, "VALID", lang, fields=True)
            page.screenshot(path=ARTIFACTS / f"valid-{lang}-no-javascript.png", full_page=True)
        finally:
            context.close()

    chromium.run(visit)


def test_the_scan_url_holds_the_code_in_the_qr_alphabet(codes: Codes) -> None:
    url = codes.url("valid")
    assert url == url.upper() and url.startswith(f"HTTP://127.0.0.1:{codes.port}/S/SC1:")


def test_the_gateway_s_scan_urls_name_its_bound_port(gateway: Gateway, codes: Codes) -> None:
    # The fixture asks for port 0; the URL names the port the gateway bound.
    assert f"127.0.0.1:{gateway.rest_port}/S/SC1:" in gateway.services.sco.scan_url(codes.valid)


def test_the_scan_url_opens_as_is(chromium: Chromium, codes: Codes) -> None:
    def visit() -> None:
        context, page = open_page(chromium.browser, codes.url("valid"), "en")
        try:
            assert_page(page, "VALID", "en", fields=True)
        finally:
            context.close()

    chromium.run(visit)


@pytest.mark.parametrize(
    ("code", "result"),
    [
        ("<script>alert(1)</script>", "MALFORMED"),
        ('SC1:"><img src=x onerror=alert(1)><b>bold</b>', "MALFORMED"),
        ("SC1:" + "A" * 4996, "OVERSIZE"),
        ("", "MALFORMED"),
    ],
    ids=["script", "html", "5000-characters", "empty"],
)
def test_hostile_input_gets_a_plain_page(gateway: Gateway, code: str, result: str) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{gateway.rest_port}/s/{code}", headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f'data-result="{result}"' in page
    assert f"<strong>{words(result, 'en')}</strong>" in page
    for raw in ("<script", "<img", "<b>", "onerror"):
        assert raw not in page
    assert 'id="company"' not in page  # nothing from an unverified code is shown
