"""The scan-to-check page (GET /s/{code}) in a real browser: Debian's headless Chromium driven by
Playwright, never a downloaded browser. Every kind of code, in zh, en and ru, on a phone-sized
screen; also without JavaScript, and with hostile input. Screenshots of every case are kept in
test-artifacts/sco-page/ at the repository root. Scan URLs survive what proxies and browsers do
to a path (merged slashes, resolved dot segments, case changes), checked against the page."""

from __future__ import annotations

import dataclasses
import functools
import random
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import base45  # type: ignore[import-untyped]
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.names import AEO_TYPES, GRADES
from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
from gateway.sco import Names, ScoClaims, issue
from gateway.sco._token import PREFIX, text_to_cose
from gateway.service.sco import ScoService, code_in, url_form
from gateway.signing import SigningKey
from gateway.transport.rest._scan_text import TEXT
from gateway.transport.serve import Gateway
from tests.browser import ARTIFACTS as BROWSER_ARTIFACTS
from tests.browser import Browser, Chromium, Page
from tests.support import TestPartner, profile, publish

ARTIFACTS = BROWSER_ARTIFACTS / "sco-page"
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
        grade_bucket="LOWER_MEDIUM",
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
    # Codes are shown by their names in the page's language (tests/test_scan_i18n.py).
    assert (
        page.locator("#country").inner_text() == {"zh": "中国", "en": "China", "ru": "Китай"}[lang]
    )
    grade = GRADES["LOWER_MEDIUM"][COLUMN[lang]]
    assert page.locator("#grade").inner_text() in (grade, words("none", lang))
    advanced = AEO_TYPES["CN_ADVANCED"][COLUMN[lang]]
    assert page.locator("#aeo").inner_text() == (
        f"{words('aeo_yes', lang)}{words('aeo_open', lang)}{advanced}{words('aeo_close', lang)}"
    )
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


QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def test_the_scan_url_holds_the_code_in_the_qr_alphabet(codes: Codes) -> None:
    url = codes.url("valid")
    assert url == url.upper() and set(url) <= QR_ALPHANUMERIC
    assert url.startswith(f"HTTP://127.0.0.1:{codes.port}/S/SC1-")
    # After the scan path: digits and upper-case letters only, nothing a proxy rewrites.
    assert re.fullmatch(r"SC1-[0-9A-Z]+", url.split("/S/", 1)[1])


def test_the_gateway_s_scan_urls_name_its_bound_port(gateway: Gateway, codes: Codes) -> None:
    # The fixture asks for port 0; the URL names the port the gateway bound.
    assert f"127.0.0.1:{gateway.rest_port}/S/SC1-" in gateway.services.sco.scan_url(codes.valid)


# --- scan URLs behind proxies (issue 14, item 13) ----------------------------------------------


def merge_slashes(url: str) -> str:
    """What nginx does by default (merge_slashes on) before it routes or passes a path on."""
    origin, path = split_url(url)
    return origin + re.sub("/{2,}", "/", path)


def remove_dot_segments(url: str) -> str:
    """RFC 3986 section 5.2.4, as browsers, proxies and HTTP clients resolve a path."""
    origin, path = split_url(url)
    output: list[str] = []
    while path:
        if path.startswith(("../", "./")):
            path = path[path.index("/") + 1 :]
        elif path.startswith("/./") or path == "/.":
            path = "/" + path[3:]
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            end = path.find("/", 1)
            end = len(path) if end < 0 else end
            output.append(path[:end])
            path = path[end:]
    return origin + "".join(output)


def split_url(url: str) -> tuple[str, str]:
    scheme, rest = url.split("://", 1)
    host, slash, path = rest.partition("/")
    return f"{scheme}://{host}", slash + path


NORMALISATIONS: dict[str, Callable[[str], str]] = {
    "merged slashes": merge_slashes,
    "dot segments resolved": remove_dot_segments,
    "upper case": str.upper,
    "lower case": str.lower,
}


def old_scan_url(sco: ScoService, code: str) -> str:
    """The URL form QR codes held before: the code itself, its space and % percent-encoded."""
    escaped = code.replace("%", "%25").replace(" ", "%20")
    return f"{sco.public_url.upper()}/S/{escaped}"


def random_codes(gateway: Gateway, count: int) -> list[str]:
    """``count`` genuine codes of the gateway (VALID: index 0 is the fixture's valid code), of
    random lengths and contents; the random code id and signature vary every byte."""
    sco = gateway.services.sco
    chance = random.Random(14)
    now = datetime.now(UTC).replace(microsecond=0)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz.,&()-"
    made = []
    for _ in range(count):
        name = "".join(chance.choice(letters) for _ in range(chance.randrange(0, 60))).strip()
        claims = ScoClaims.new(
            subject_ids=[("AEO", AEO["value"])],
            names=Names(zh=NAMES["zh"][: chance.randrange(0, 13)], en=name),
            country="CN",
            issuer=sco.issuer,
            status_index=0,
            valid_for=timedelta(days=chance.randrange(1, 1000)),
            status_uri=sco.status_uri,
            now=now - timedelta(minutes=1),
        )
        made.append(issue(claims, gateway.exchange.keyring.active))
    return made


def verdict(client: httpx.Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    found = re.search(r'data-result="([A-Z_]+)"', page.text)
    assert found is not None, url
    return found.group(1)


def test_scan_urls_survive_path_normalisation(gateway: Gateway, codes: Codes) -> None:
    """About 9% of codes hold "//" (Base45 has '/' and '.' in its alphabet), so their URLs, the
    code as such in the path, broke behind nginx, which merges slashes by default. Every one of
    2,000 random codes' scan URLs, with its slashes merged, its dot segments resolved, or its
    case changed, gets the very verdict of the URL as issued from the real scan page."""
    # The normalisations as specified (RFC 3986 section 5.2.4's example; nginx's merging).
    assert remove_dot_segments("http://h/a/b/c/./../../g") == "http://h/a/g"
    assert remove_dot_segments("http://h/mid/content=5/../6") == "http://h/mid/6"
    assert merge_slashes("HTTP://H:1//S/AB//C///D") == "HTTP://H:1/S/AB/C/D"
    sco = gateway.services.sco
    texts = random_codes(gateway, 2000)
    urls = [sco.scan_url(text) for text in texts]
    # The sample holds the codes that broke: their old URLs change under normalisation.
    old_urls = [old_scan_url(sco, text) for text in texts]
    broken = [url for url in old_urls if merge_slashes(url) != url]
    assert len(broken) > 0.05 * len(texts), len(broken)
    with httpx.Client(timeout=30) as client:
        for text, url in zip(texts, urls, strict=True):
            assert set(url) <= QR_ALPHANUMERIC and url == url.upper()
            expected = verdict(client, url)
            assert expected == "VALID", (text, url)
            for name, normalise in NORMALISATIONS.items():
                changed = normalise(url)
                if changed != url:  # the same URL needs no second request
                    assert verdict(client, changed) == expected, (name, url)
        # The old form is still read as issued (and in any case), not once normalised.
        for url in broken[:20]:
            assert verdict(client, url) == verdict(client, url.lower()) == "VALID", url
            assert verdict(client, merge_slashes(url)) != "VALID", url
    # What an offline app does with a scanned URL reads every form back to the code.
    for text, url in zip(texts[:300], urls, strict=False):
        for form in (url, url.lower(), old_scan_url(sco, text), old_scan_url(sco, text).lower()):
            assert code_in(form) == text, form


@given(st.binary(max_size=700))
def test_the_url_form_carries_any_bytes(data: bytes) -> None:
    text = PREFIX + base45.b45encode(data).decode("ascii")
    form = url_form(text)
    assert re.fullmatch(r"SC1-[0-9A-Z]*", form)
    assert code_in(form) == code_in(form.lower()) == text
    assert len(form) <= len(text) * 1.04 + 4  # base 36 is about as dense as Base45


def test_the_scan_url_opens_as_is(chromium: Chromium, codes: Codes) -> None:
    def visit(url: str) -> None:
        context, page = open_page(chromium.browser, url, "en")
        try:
            assert_page(page, "VALID", "en", fields=True)
        finally:
            context.close()

    # Also typed or rewritten in lower case, and in the form QR codes held before.
    for url in (
        codes.url("valid"),
        codes.url("valid").lower(),
        old_scan_url(codes.sco, codes.valid),
    ):
        chromium.run(functools.partial(visit, url))


@pytest.mark.parametrize(
    ("code", "result"),
    [
        ("<script>alert(1)</script>", "MALFORMED"),
        ('SC1:"><img src=x onerror=alert(1)><b>bold</b>', "MALFORMED"),
        ("SC1:" + "A" * 4996, "OVERSIZE"),
        ("", "MALFORMED"),
        ("SC1-" + "Z" * 4996, "OVERSIZE"),
        ("sc1-0000", "MALFORMED"),
        ("http://[::1/s/SC1-1", "MALFORMED"),
    ],
    ids=["script", "html", "5000-characters", "empty", "5000-url-form", "zeros", "bad-url"],
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
