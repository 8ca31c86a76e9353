"""The scan page names every value a code carries in the reader's language (issue 15, item 7).

Grade buckets and AEO types are strings in the proto (rule packs and partners bring them), so
their tables are checked against where the values come from: every bucket a shipped rule pack
can give, every canonical type of the customs-aeo-list adapter and of the rule packs. Identifier
schemes come from the registry, results from ``Result`` and the proto ``CodeState`` enum,
countries from the ISO 3166-1 table; each needs a zh, en and ru name. Then the zh and ru pages of
a code holding such values show none of them raw. Problem documents keep their English
``detail``; their ``type`` and ``title`` depend on the error class alone."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from gateway import errors
from gateway import names as value_names
from gateway.identifiers import COUNTRIES, SCHEMES
from gateway.names import AEO_TYPES, GRADES, country_name
from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
from gateway.sco import Names, Result, ScoClaims, issue
from gateway.transport.errors import TABLE, problem
from gateway.transport.rest._scan_text import TEXT
from gateway.transport.serve import Gateway
from tests.support import USCC

ROOT = Path(__file__).parents[1]
LANGUAGES = ("zh", "en", "ru")
# What a raw code looks like on a page: upper-case words joined by underscores (LOWER_MEDIUM,
# CN_ADVANCED, CN_USCC).
RAW = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")


def _packs() -> list[dict[str, object]]:
    return [tomllib.loads(path.read_text("utf-8")) for path in sorted(ROOT.glob("rules/*.toml"))]


def shipped_buckets() -> set[str]:
    found = set()
    for pack in _packs():
        for row in [*pack.get("grades", []), *pack.get("rules", [])]:  # type: ignore[misc]
            if row.get("bucket"):
                found.add(row["bucket"])
    return found


def shipped_aeo_types() -> set[str]:
    spec = tomllib.loads((ROOT / "adapters/customs_aeo/spec.toml").read_text("utf-8"))
    found = set(spec["codes"]["type"].values())
    for pack in _packs():
        for rule in pack.get("rules", []):  # type: ignore[attr-defined]
            when = rule["when"]
            found |= set(re.findall(r'aeo\.type\s*==\s*"([^"]+)"', when))
            for listed in re.findall(r"aeo\.type\s+in\s+\[([^\]]*)\]", when):
                found |= set(re.findall(r'"([^"]+)"', listed))
        for test in pack.get("tests", []):  # type: ignore[attr-defined]
            aeo = test.get("facts", {}).get("aeo", {})
            if aeo.get("type"):
                found.add(aeo["type"])
    return found


def assert_three_names(names: tuple[str, ...], value: str) -> None:
    assert len(names) == 3, value
    assert all(name.strip() for name in names), value


# -- The tables -------------------------------------------------------------------------------


def test_the_shipped_values_are_found() -> None:
    """Guards the two scans above: they find the values the rule packs are known to use."""
    assert {"PRIME", "LOWER_MEDIUM", "IN_DEFAULT"} <= shipped_buckets()
    assert {"CN_ADVANCED", "CN_CERTIFIED", "AEOS", "BY_THIRD_CATEGORY"} <= shipped_aeo_types()


def test_every_grade_bucket_has_three_names() -> None:
    missing = shipped_buckets() - set(GRADES)
    assert not missing, f"add to value_names.GRADES: {sorted(missing)}"
    for bucket, names in GRADES.items():
        assert_three_names(names, bucket)
        assert not RAW.search(" ".join(names)), bucket


def test_every_aeo_type_has_three_names() -> None:
    missing = shipped_aeo_types() - set(AEO_TYPES)
    assert not missing, f"add to value_names.AEO_TYPES: {sorted(missing)}"
    for aeo_type, names in AEO_TYPES.items():
        assert_three_names(names, aeo_type)
        assert not RAW.search(" ".join(names)), aeo_type


def test_every_identifier_scheme_has_three_names() -> None:
    assert set(value_names.SCHEMES) == set(SCHEMES)
    for scheme, names in value_names.SCHEMES.items():
        assert_three_names(names, scheme)
        assert not RAW.search(" ".join(names)), scheme


def test_every_purpose_has_three_names() -> None:
    from gateway.service.reports import SUBJECT_ACCESS
    from gateway.trust.policy import PURPOSES

    assert set(value_names.PURPOSES) == {*PURPOSES, SUBJECT_ACCESS}
    for purpose, names in value_names.PURPOSES.items():
        assert_three_names(names, purpose)


def test_every_result_and_code_state_has_three_names() -> None:
    for result in Result:
        assert_three_names(TEXT[result.value], result.value)
        assert_three_names(TEXT[f"{result.value}_explained"], result.value)
    # The proto's code states are what a code's result is read from: each one has its words.
    for state in sco_pb.CodeState.DESCRIPTOR.values:
        if state.number:
            assert_three_names(TEXT[state.name.removeprefix("CODE_STATE_")], state.name)
    for key, names in TEXT.items():
        assert len(names) == 3, key


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_country_has_a_name_in_each_language(lang: str) -> None:
    unnamed = sorted(code for code in COUNTRIES if country_name(code, lang) == code)
    assert not unnamed, f"CLDR has no {lang} name for {unnamed}"
    assert (
        country_name("KZ", lang)
        == {"zh": "哈萨克斯坦", "en": "Kazakhstan", "ru": "Казахстан"}[lang]
    )


def test_a_value_without_a_name_is_shown_as_it_is() -> None:
    assert value_names.named(GRADES, "NEW_BUCKET", 0) == "NEW_BUCKET"
    assert country_name("XK", "en") in ("Kosovo", "XK")  # not ISO-assigned; CLDR names it
    assert country_name("", "zh") == ""


# -- The pages --------------------------------------------------------------------------------


class _Text(HTMLParser):
    """The text a reader sees: character data outside <style> and <title>, no attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


@pytest.fixture
def code(gateway: Gateway) -> str:
    """A code signed by the gateway's key, holding a value of every kind the page names."""
    service = gateway.services.sco
    now = datetime.now(UTC).replace(microsecond=0)
    claims = ScoClaims.new(
        subject_ids=[("CN_USCC", USCC), ("AEO", "CN3702960123")],
        names=Names(
            zh="青岛海通国际贸易有限公司", en="Qingdao Haitong International Trade Co., Ltd."
        ),
        country="KZ",
        issuer=service.issuer,
        status_index=0,
        valid_for=timedelta(days=30),
        grade_bucket="LOWER_MEDIUM",
        aeo_type="CN_ADVANCED",
        now=now - timedelta(days=1),
    )
    return service.scan_url(issue(claims, gateway.exchange.keyring.active))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_names_every_value_in_the_readers_language(
    gateway: Gateway, code: str, lang: str
) -> None:
    path = "/" + code.split("/", 3)[3]
    response = httpx.get(f"http://127.0.0.1:{gateway.rest_port}{path}?lang={lang}")
    assert response.status_code == 200
    text = visible_text(response.text)
    column = LANGUAGES.index(lang)
    assert 'id="company"' in response.text, "the code's claims are shown"
    assert country_name("KZ", lang) in text
    assert GRADES["LOWER_MEDIUM"][column] in text
    assert AEO_TYPES["CN_ADVANCED"][column] in text
    assert value_names.SCHEMES["CN_USCC"][column] in text
    if lang != "en":  # nor an English name in a zh or ru page
        for english in ("Kazakhstan", GRADES["LOWER_MEDIUM"][1], AEO_TYPES["CN_ADVANCED"][1]):
            assert english not in text
    assert RAW.findall(text) == []
    for raw in ("LOWER_MEDIUM", "CN_ADVANCED", "CN_USCC", " KZ "):
        assert raw not in text


# -- Problem documents ------------------------------------------------------------------------


def _instance(cls: type[errors.GatewayError], message: str) -> errors.GatewayError:
    extra: dict[str, object] = {
        errors.InvalidIdentifier: {"scheme": "LEI", "rule": "length"},
        errors.AdapterError: {"field": "/a", "canonical": "subject", "rule": "required"},
        errors.QuotaExceeded: {"retry_after": 1},
    }.get(cls, {})
    return cls(message, **extra)


@pytest.mark.parametrize("cls", list(TABLE), ids=lambda cls: cls.__name__)
def test_problem_type_and_title_are_stable_per_error_class(
    cls: type[errors.GatewayError],
) -> None:
    """The SDK maps ``type`` (and shows ``title``); ``detail`` stays the English message."""
    _, one = problem(_instance(cls, "expire_time is not a valid time"))
    _, other = problem(_instance(cls, "другое сообщение"))
    assert (one["type"], one["title"]) == (other["type"], other["title"])
    assert one["type"] == f"urn:cxg:problem:{TABLE[cls].slug}"
    assert one["title"].isascii() and one["detail"] == "expire_time is not a valid time"
