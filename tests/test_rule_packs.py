"""The rule packs in rules/ and the pack engine (gateway/rules/_pack.py).

Every pack parses and passes its own embedded tests; the legal date edges are asserted here
again, in Python, so that a pack edited to pass its own (edited) tests still fails here; and
small packs written below show the engine refusing malformed packs by field and deciding OPEN
at each of its steps.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import RulePackError
from gateway.rules import RuleBook
from gateway.rules._pack import Outcome, RulePack

RULES = Path(__file__).resolve().parent.parent / "rules"
PACK_FILES = sorted(p.name for p in RULES.glob("*.toml"))
EXPECTED_PACKS = {
    "aeo-mra-cn-eu.toml",
    "aeo-mra-cn-by.toml",
    "aeo-mra-cn-mn.toml",
    "aeo-mra-cn-ru.toml",
    "cn-customs-order-251.toml",
    "cn-customs-order-282.toml",
    "grades-agency.toml",
    "grades-cn-tax.toml",
    "grades-ru-bureau.toml",
}
EU27 = {
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
}  # fmt: skip
# A corrected pack is a new version of its id; the others are still at their first.
VERSIONS = {"aeo-mra-cn-eu": "1.1.0"}


@functools.cache
def pack(name: str) -> RulePack:
    return RulePack.from_bytes((RULES / f"{name}.toml").read_bytes())


def d(text: str) -> date:
    return date.fromisoformat(text)


def aeo_facts(
    programme: str,
    type_: str,
    status: str = "authorised",
    *,
    importing: str,
    data_date: str,
    authorised: str = "2012-03-01",
    until: str | None = None,
) -> dict[str, Any]:
    aeo = {
        "number": f"{programme}3702960517",
        "programme_country": programme,
        "type": type_,
        "status": status,
        "authorised_date": authorised,
    }
    if until is not None:
        aeo["valid_until_date"] = until
    return {"importing_country": importing, "data_date": data_date, "aeo": aeo}


def has_script(text: str, first: str, last: str) -> bool:
    return any(first <= ch <= last for ch in text)


# -- every pack -------------------------------------------------------------------------------


def test_the_expected_packs_are_there() -> None:
    assert set(PACK_FILES) == EXPECTED_PACKS


@pytest.mark.parametrize("file", PACK_FILES)
def test_pack_parses_and_passes_its_own_tests(file: str) -> None:
    p = pack(file.removesuffix(".toml"))
    assert p.id == file.removesuffix(".toml")
    assert (p.version, p.engine) == (VERSIONS.get(p.id, "1.0.0"), "cel/1")
    assert p.run_tests() == []
    assert p.arrangement and p.reads
    # every rule is exercised by at least one embedded test that names it
    assert {rule.id for rule in p.rules} <= {t.rule for t in p.tests}
    # the zh text is written in Chinese characters, the ru text in Cyrillic
    for text in (p.description, *(vars(r.reason) for r in p.rules)):
        assert has_script(text["zh"], "\u4e00", "\u9fff"), text
        assert has_script(text["ru"], "\u0400", "\u04ff"), text


@pytest.mark.parametrize("file", PACK_FILES)
def test_pack_hash_is_over_the_file_bytes(file: str) -> None:
    p = pack(file.removesuffix(".toml"))
    assert p.sha256 == hashlib.sha256((RULES / file).read_bytes()).hexdigest()


def test_eu_pack_names_the_member_states_and_the_decision_date() -> None:
    p = pack("aeo-mra-cn-eu")
    # the 27, and the United Kingdom until the end of its transition period (a rule ends it)
    assert p.parties == (frozenset({"CN"}), frozenset(EU27 | {"GB"}))
    assert p.valid_from == d("2014-05-16")  # JCCC decision of 16 May 2014 (2014/772/EU)
    assert "2014/772/EU" in p.arrangement


# -- date edges, asserted here and not only in the packs ---------------------------------------


@pytest.mark.parametrize(
    ("name", "partner", "partner_type", "before", "first"),
    [
        ("aeo-mra-cn-eu", "DE", "AEOS", "2015-10-31", "2015-11-01"),
        ("aeo-mra-cn-by", "BY", "BY_THIRD_CATEGORY", "2019-07-23", "2019-07-24"),
        ("aeo-mra-cn-mn", "MN", None, "2025-05-31", "2025-06-01"),
    ],
)
def test_mra_applies_from_its_date(
    name: str, partner: str, partner_type: str | None, before: str, first: str
) -> None:
    p = pack(name)
    chinese = aeo_facts("CN", "CN_ADVANCED", importing=partner, data_date=before)
    refused = p.decide(chinese, d(before))
    assert (refused.outcome, refused.reason.rule) == (Outcome.NOT_RECOGNIZED, "not-yet-applied")
    assert refused.benefits == ()

    chinese = aeo_facts("CN", "CN_ADVANCED", importing=partner, data_date=first)
    granted = p.decide(chinese, d(first))
    assert (granted.outcome, granted.reason.rule) == (Outcome.RECOGNIZED, "recognized")
    assert granted.benefits and all(b == b.lower() and " " not in b for b in granted.benefits)
    assert granted.pack_sha256 == p.sha256 and granted.date == first

    if partner_type is not None:  # the other direction: the partner's AEO in China
        theirs = aeo_facts(partner, partner_type, importing="CN", data_date=first)
        assert p.decide(theirs, d(first)).outcome == Outcome.RECOGNIZED
        theirs = aeo_facts(partner, partner_type, importing="CN", data_date=before)
        assert p.decide(theirs, d(before)).outcome == Outcome.NOT_RECOGNIZED
        # Data of a later day is no evidence for the day before.
        later = aeo_facts(partner, partner_type, importing="CN", data_date=first)
        assert p.decide(later, d(before)).reason.rule == "data-after-date"


def test_eu_aeoc_alone_is_not_covered() -> None:
    facts = aeo_facts("FR", "AEOC", importing="CN", data_date="2020-05-05")
    decision = pack("aeo-mra-cn-eu").decide(facts, d("2020-05-05"))
    assert (decision.outcome, decision.reason.rule) == (Outcome.NOT_RECOGNIZED, "type-not-covered")


# Decision 2014/772/EU bound the UK as a member state from 2015-11-01; it left the EU on
# 2020-01-31 and stayed bound through the transition period (Withdrawal Agreement arts. 126 and
# 129(1)), which ended on 2020-12-31. No China-UK arrangement has followed (rules/README.md).
UK_COVERED = ["2015-11-01", "2019-06-01", "2020-01-31", "2020-02-01", "2020-12-31"]
UK_NOT_COVERED = ["2021-01-01", "2021-01-05", "2026-06-01"]


@pytest.mark.parametrize("day", UK_COVERED + UK_NOT_COVERED)
def test_uk_is_covered_until_the_end_of_the_transition_period(day: str) -> None:
    p = pack("aeo-mra-cn-eu")
    covered = day in UK_COVERED
    for facts in (
        aeo_facts("GB", "AEOS", importing="CN", data_date=day),  # a UK AEO in China
        aeo_facts("GB", "AEOF", importing="CN", data_date=day),
        aeo_facts("CN", "CN_ADVANCED", importing="GB", data_date=day),  # a Chinese AEO in the UK
    ):
        decision = p.decide(facts, d(day))
        if covered:
            assert (decision.outcome, decision.reason.rule) == (Outcome.RECOGNIZED, "recognized")
            assert decision.benefits
        else:
            assert (decision.outcome, decision.reason.rule) == (
                Outcome.NOT_RECOGNIZED,
                "gb-after-transition",
            )
            assert decision.benefits == () and "2020-12-31" in decision.reason.en
    # AEOC alone was never covered, for the UK as for any member state
    aeoc = p.decide(aeo_facts("GB", "AEOC", importing="CN", data_date=day), d(day))
    assert aeoc.outcome == Outcome.NOT_RECOGNIZED


def test_the_uk_leaving_changes_nothing_for_the_27() -> None:
    p, day = pack("aeo-mra-cn-eu"), "2021-01-05"
    for member in sorted(EU27):
        theirs = p.decide(aeo_facts(member, "AEOS", importing="CN", data_date=day), d(day))
        assert theirs.outcome == Outcome.RECOGNIZED, member
        ours = p.decide(aeo_facts("CN", "CN_ADVANCED", importing=member, data_date=day), d(day))
        assert ours.outcome == Outcome.RECOGNIZED, member


def test_the_rule_book_sends_china_uk_questions_to_the_eu_pack() -> None:
    book = RuleBook([pack(name) for name in ("aeo-mra-cn-eu", "aeo-mra-cn-by")])
    before = book.recognize_aeo(
        "CN", "GB", aeo_facts("GB", "AEOS", importing="CN", data_date="2019-06-01"), d("2019-06-01")
    )
    assert (before.pack_id, before.outcome) == ("aeo-mra-cn-eu", Outcome.RECOGNIZED)
    after = book.recognize_aeo(
        "CN", "GB", aeo_facts("GB", "AEOS", importing="CN", data_date="2021-01-05"), d("2021-01-05")
    )
    assert (after.pack_id, after.outcome) == ("aeo-mra-cn-eu", Outcome.NOT_RECOGNIZED)
    assert after.reason.rule == "gb-after-transition"


def customs_order_on(day: date) -> RulePack:
    valid = [
        p for p in (pack("cn-customs-order-251"), pack("cn-customs-order-282")) if p.valid_on(day)
    ]
    assert len(valid) == 1, [p.id for p in valid]
    return valid[0]


def test_order_251_then_282_for_a_certified_enterprise() -> None:
    last, first = d("2026-03-31"), d("2026-04-01")
    assert customs_order_on(last).id == "cn-customs-order-251"
    assert customs_order_on(first).id == "cn-customs-order-282"

    certified = aeo_facts("CN", "CN_CERTIFIED", importing="CN", data_date="2026-03-31")
    under_251 = customs_order_on(last).decide(certified, last)
    assert (under_251.outcome, under_251.reason.rule) == (
        Outcome.NOT_RECOGNIZED,
        "not-an-aeo-category",
    )
    certified = aeo_facts("CN", "CN_CERTIFIED", importing="CN", data_date="2026-04-01")
    under_282 = customs_order_on(first).decide(certified, first)
    assert (under_282.outcome, under_282.reason.rule) == (Outcome.RECOGNIZED, "aeo-certified")
    assert under_282.benefits

    # 高级认证企业 is an AEO on both sides of the boundary
    for day in (last, first):
        advanced = aeo_facts("CN", "CN_ADVANCED", importing="CN", data_date=day.isoformat())
        assert customs_order_on(day).decide(advanced, day).outcome == Outcome.RECOGNIZED
    # and 251 itself refuses to decide the day after its last day
    advanced = aeo_facts("CN", "CN_ADVANCED", importing="CN", data_date="2026-04-01")
    after = pack("cn-customs-order-251").decide(advanced, first)
    assert (after.outcome, after.reason.rule) == (Outcome.OPEN, "validity")


AEO_PACKS = [
    ("aeo-mra-cn-eu", "DE", "2020-06-01"),
    ("aeo-mra-cn-by", "BY", "2020-06-01"),
    ("aeo-mra-cn-mn", "MN", "2025-07-01"),
    ("cn-customs-order-251", "CN", "2022-06-01"),
    ("cn-customs-order-282", "CN", "2026-06-01"),
]


@pytest.mark.parametrize(("name", "importing", "day"), AEO_PACKS)
@pytest.mark.parametrize("status", ["suspended", "revoked", "annulled"])
def test_withdrawn_authorisations_are_not_recognized(
    name: str, importing: str, day: str, status: str
) -> None:
    facts = aeo_facts("CN", "CN_ADVANCED", status, importing=importing, data_date=day)
    decision = pack(name).decide(facts, d(day))
    assert (decision.outcome, decision.reason.rule) == (Outcome.NOT_RECOGNIZED, status)
    assert decision.benefits == ()
    # the same operator, authorised, is recognized: the status alone made the difference
    facts["aeo"]["status"] = "authorised"
    assert pack(name).decide(facts, d(day)).outcome == Outcome.RECOGNIZED


@pytest.mark.parametrize(("name", "importing", "day"), AEO_PACKS)
def test_authorisation_dates_bound_recognition(name: str, importing: str, day: str) -> None:
    p, today = pack(name), d(day)
    tomorrow, yesterday = (today + timedelta(days=1)).isoformat(), (today - timedelta(days=1))
    later = aeo_facts("CN", "CN_ADVANCED", importing=importing, data_date=day, authorised=tomorrow)
    assert p.decide(later, today).reason.rule == "authorised-later"
    ended = aeo_facts(
        "CN", "CN_ADVANCED", importing=importing, data_date=day, until=yesterday.isoformat()
    )
    assert p.decide(ended, today).reason.rule == "expired"
    last_day = aeo_facts("CN", "CN_ADVANCED", importing=importing, data_date=day, until=day)
    assert p.decide(last_day, today).outcome == Outcome.RECOGNIZED


def test_russia_is_signed_but_not_applied() -> None:
    p = pack("aeo-mra-cn-ru")
    assert p.valid_from == d("2022-02-04")
    for day, facts in [
        ("2022-02-04", aeo_facts("CN", "CN_ADVANCED", importing="RU", data_date="2022-02-04")),
        ("2030-01-01", aeo_facts("RU", "RU_AEO", importing="CN", data_date="2030-01-01")),
        ("2030-01-01", {}),
    ]:
        decision = p.decide(facts, d(day))
        assert decision.outcome == Outcome.NOT_RECOGNIZED
        assert decision.reason.rule == "not-yet-applied"
        assert "not yet applied" in decision.reason.en and "2022-02-04" in decision.reason.en
        assert "尚未实施" in decision.reason.zh and "не применяется" in decision.reason.ru


def test_stale_aeo_data_is_open_for_freshness() -> None:
    p, day = pack("aeo-mra-cn-eu"), d("2020-06-10")
    assert p.max_age_days == 7
    week_old = aeo_facts("CN", "CN_ADVANCED", importing="DE", data_date="2020-06-03")
    assert p.decide(week_old, day).outcome == Outcome.RECOGNIZED
    stale = aeo_facts("CN", "CN_ADVANCED", importing="DE", data_date="2020-06-02")
    decision = p.decide(stale, day)
    assert (decision.outcome, decision.reason.rule) == (Outcome.OPEN, "freshness")
    assert "7" in decision.reason.en


def test_mongolian_operator_is_open_until_the_adapter_has_a_type_code() -> None:
    facts = aeo_facts("MN", "MN_AEO", importing="CN", data_date="2025-07-01")
    decision = pack("aeo-mra-cn-mn").decide(facts, d("2025-07-01"))
    assert (decision.outcome, decision.reason.rule) == (Outcome.OPEN, "mn-type-not-coded")


# -- grades -------------------------------------------------------------------------------------

SP_ORDER = [
    "AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
    "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C",
]  # fmt: skip
MOODYS_ORDER = [
    "Aaa", "Aa1", "Aa2", "Aa3", "A1", "A2", "A3", "Baa1", "Baa2", "Baa3", "Ba1", "Ba2", "Ba3",
    "B1", "B2", "B3", "Caa1", "Caa2", "Caa3", "Ca", "C",
]  # fmt: skip


def grade(name: str, scheme: str, value: str, day: date, **extra: str) -> Any:
    facts = {"rating": {"scheme": scheme, "grade": value, "as_of_date": day.isoformat(), **extra}}
    return pack(name).decide(facts, day)


days = st.dates(min_value=d("2000-01-01"), max_value=d("2099-12-31"))


@settings(max_examples=200, deadline=None)
@given(row=st.sampled_from(sorted(pack("grades-agency").grades.values(), key=repr)), day=days)
def test_every_agency_row_decides_its_own_ordinal(row: Any, day: date) -> None:
    decision = grade("grades-agency", row.scheme, row.grade, day)
    assert decision.outcome == Outcome.RECOGNIZED
    assert (decision.ordinal, decision.bucket) == (row.ordinal, row.bucket)
    assert decision.reason.rule == f"grade:{row.scheme}:{row.grade}"


@settings(max_examples=200, deadline=None)
@given(i=st.integers(0, len(SP_ORDER) - 1), j=st.integers(0, len(SP_ORDER) - 1), day=days)
def test_sp_fitch_and_moodys_agree_on_order(i: int, j: int, day: date) -> None:
    def ordinal(scheme: str, order: list[str], k: int) -> int:
        return grade("grades-agency", scheme, order[k], day).ordinal

    sp_i, sp_j = ordinal("SP_LT", SP_ORDER, i), ordinal("SP_LT", SP_ORDER, j)
    m_i, m_j = ordinal("MOODYS_LT", MOODYS_ORDER, i), ordinal("MOODYS_LT", MOODYS_ORDER, j)
    assert (sp_i, sp_j) == (m_i, m_j)  # corresponding grades share a position
    assert (sp_i, sp_j) == (ordinal("FITCH_LT", SP_ORDER, i), ordinal("FITCH_LT", SP_ORDER, j))
    if i <= j:  # earlier in the list is at least as good
        assert sp_i >= sp_j


def test_agency_scale_anchors() -> None:
    day = d("2025-01-15")
    assert grade("grades-agency", "SP_LT", "AAA", day).ordinal == 10
    assert grade("grades-agency", "SP_LT", "BBB-", day).ordinal == 7  # investment-grade floor
    assert grade("grades-agency", "SP_LT", "BB+", day).ordinal == 6
    assert grade("grades-agency", "SP_LT", "SD", day).ordinal == 1
    assert grade("grades-agency", "FITCH_LT", "RD", day).ordinal == 1
    for withdrawn, rule in [("NR", "not-rated"), ("WD", "withdrawn"), ("WR", "withdrawn")]:
        decision = grade("grades-agency", "SP_LT", withdrawn, day)
        assert (decision.outcome, decision.reason.rule) == (Outcome.NOT_RECOGNIZED, rule)
    expired = grade("grades-agency", "SP_LT", "A", day, valid_until_date="2025-01-14")
    assert (expired.outcome, expired.reason.rule) == (Outcome.OPEN, "rating-expired")
    stale = pack("grades-agency").decide(
        {"rating": {"scheme": "SP_LT", "grade": "A", "as_of_date": "2023-12-01"}}, day
    )
    assert (stale.outcome, stale.reason.rule) == (Outcome.OPEN, "freshness")


def test_cn_tax_policy() -> None:
    day = d("2025-05-01")
    ordinals = {g: grade("grades-cn-tax", "CN_TAX", g, day).ordinal for g in "ABCD"}
    assert ordinals == {"A": 7, "B": 6, "C": 4, "D": 1}
    m = grade("grades-cn-tax", "CN_TAX", "M", day)
    assert (m.outcome, m.reason.rule) == (Outcome.OPEN, "new-taxpayer")
    assert pack("grades-cn-tax").max_age_days == 550


def test_ru_bureau_policy_is_monotone_and_cautious() -> None:
    day = d("2025-03-01")
    ordinals = [
        grade("grades-ru-bureau", "RU_BUREAU_CLASS", str(c), day).ordinal for c in range(1, 11)
    ]
    assert ordinals == sorted(ordinals, reverse=True)  # class 1 best, class 10 worst
    assert ordinals[0] <= 8 and ordinals[-1] == 1  # top capped; class 10 is default
    outside = grade("grades-ru-bureau", "RU_BUREAU_CLASS", "11", day)
    assert (outside.outcome, outside.reason.rule) == (Outcome.OPEN, "no-rule")


# -- the engine, on small packs ----------------------------------------------------------------

BASE = """\
id = "t"
version = "1.0.0"
type = "aeo-recognition"
engine = "cel/1"
valid_from = 2020-01-01
arrangement = "test"
reads = ["aeo.status"]

[description]
zh = "测试"
en = "test"
ru = "тест"

[parties]
a = ["CN"]
b = ["DE"]

[[rules]]
id = "ok"
when = 'aeo.status == "authorised"'
outcome = "RECOGNIZED"
benefits = ["x"]
reason = { zh = "是", en = "yes", ru = "да" }

[[tests]]
name = "authorised"
date = 2020-01-02
facts = { aeo = { status = "authorised" } }
expect = "RECOGNIZED"
"""

GRADE_BASE = """\
id = "g"
version = "1.0.0"
type = "grade-equivalence"
engine = "cel/1"
valid_from = 2020-01-01
arrangement = "test"
schemes = ["SP_LT"]

[description]
zh = "测试"
en = "test"
ru = "тест"

[[grades]]
scheme = "SP_LT"
grade = "AAA"
ordinal = 10
bucket = "PRIME"

[[tests]]
name = "aaa"
date = 2020-01-02
facts = { rating = { scheme = "SP_LT", grade = "AAA" } }
expect = "RECOGNIZED"
"""

EXTRA_RULE = """
[[rules]]
id = "{id}"
when = 'aeo.status == "revoked"'
outcome = "NOT_RECOGNIZED"
reason = {{ zh = "否", en = "no", ru = "нет" }}
"""


def edit(text: str, old: str, new: str) -> bytes:
    assert old in text, old
    return text.replace(old, new, 1).encode()


def test_the_small_packs_are_valid() -> None:
    for text in (BASE, GRADE_BASE):
        assert RulePack.from_bytes(text.encode()).run_tests() == []


@pytest.mark.parametrize(
    ("data", "where"),
    [
        pytest.param(edit(BASE, 'id = "t"\n', 'id = "t"\ncolour = "red"\n'), "/colour", id="unknown-key"),
        pytest.param(edit(BASE, 'id = "ok"\n', 'id = "ok"\npriority = 1\n'), "/rules/0/priority", id="unknown-rule-key"),
        pytest.param(edit(BASE, 'aeo.status == "authorised"', 'aeo.status == '), "/rules/0/when", id="cel-syntax"),
        pytest.param(edit(BASE, 'aeo.status == "authorised"', 'importer == "CN"'), "/rules/0/when", id="undeclared-variable"),
        pytest.param(edit(BASE, 'outcome = "RECOGNIZED"', 'outcome = "MAYBE"'), "/rules/0/outcome", id="unknown-outcome"),
        pytest.param(edit(BASE, 'outcome = "RECOGNIZED"', 'outcome = "NOT_RECOGNIZED"'), "/rules/0/benefits", id="benefits-on-refusal"),
        pytest.param(edit(BASE, ', ru = "да" }', " }"), "/rules/0/reason/ru", id="missing-ru-reason"),
        pytest.param(edit(BASE, 'ru = "тест"\n', ""), "/description/ru", id="missing-ru-description"),
        pytest.param(BASE.split("[[tests]]")[0].encode(), "/tests", id="no-tests"),
        pytest.param(edit(BASE, "valid_from = 2020-01-01\n", "valid_from = 2020-01-01\nvalid_to = 2019-12-31\n"), "/valid_to", id="valid-to-before-from"),
        pytest.param(edit(BASE, 'version = "1.0.0"', 'version = "1.0"'), "/version", id="semver-two-parts"),
        pytest.param(edit(BASE, 'version = "1.0.0"', 'version = "01.0.0"'), "/version", id="semver-leading-zero"),
        pytest.param(edit(BASE, "[[tests]]", EXTRA_RULE.format(id="ok") + "\n[[tests]]"), "/rules", id="duplicate-rule-id"),
        pytest.param(edit(GRADE_BASE, "[[tests]]", '[[grades]]\nscheme = "MOODYS_LT"\ngrade = "Aaa"\nordinal = 10\nbucket = "PRIME"\n\n[[tests]]'), "/grades", id="grade-of-uncovered-scheme"),
        pytest.param(edit(BASE, 'b = ["DE"]', 'b = ["Germany"]'), "/parties/b", id="bad-country"),
        pytest.param(b"id = ", "/", id="not-toml"),
        pytest.param(edit(BASE, 'reads = ["aeo.status"]', 'reads = ["rating.grade"]'), "/reads", id="reads-a-fact-of-another-type"),
        pytest.param(edit(BASE, "valid_from = 2020-01-01\n", "valid_from = 2020-01-01\nmax_age_days = true\n"), "/max_age_days", id="bool-for-days"),
        pytest.param(edit(GRADE_BASE, "ordinal = 10", "ordinal = true"), "/grades/0/ordinal", id="bool-for-ordinal"),
        pytest.param(edit(BASE, "valid_from = 2020-01-01", "valid_from = 2020-01-01T00:00:00"), "/valid_from", id="date-time-for-date"),
        pytest.param(edit(GRADE_BASE, "[[tests]]", '[[grades]]\nscheme = "SP_LT"\ngrade = "AA+"\nordinal = 9\nbucket = "PRIME"\n\n[[tests]]'), "/grades/1", id="bucket-with-two-ordinals"),
    ],
)  # fmt: skip
def test_malformed_pack_is_refused_by_field(data: bytes, where: str) -> None:
    with pytest.raises(RulePackError) as caught:
        RulePack.from_bytes(data)
    assert caught.value.field == where


def small(**edits: str) -> RulePack:
    text = BASE
    for old, new in edits.values():
        text = edit(text, old, new).decode()
    return RulePack.from_bytes(text.encode())


AUTHORISED = {"aeo": {"status": "authorised"}}


def test_unknown_engine_loads_and_decides_open() -> None:
    p = small(
        engine=('engine = "cel/1"', 'engine = "cel/9"'),
        when=('aeo.status == "authorised"', "this is not CEL ((("),
    )
    decision = p.decide(AUTHORISED, d("2020-01-02"))
    assert (decision.outcome, decision.reason.rule) == (Outcome.OPEN, "engine")
    assert [f.test for f in p.run_tests()] == ["authorised"]


def test_missing_fact_is_open_data_missing() -> None:
    decision = small().decide({"importing_country": "DE"}, d("2020-01-02"))
    assert (decision.outcome, decision.reason.rule) == (Outcome.OPEN, "data-missing")
    nested = small().decide({"aeo": {"type": "AEOS"}}, d("2020-01-02"))
    assert (nested.outcome, nested.reason.rule) == (Outcome.OPEN, "data-missing")


def test_non_bool_expression_is_open() -> None:
    p = small(when=('aeo.status == "authorised"', "aeo.status"))
    decision = p.decide(AUTHORISED, d("2020-01-02"))
    assert decision.outcome == Outcome.OPEN
    assert "not a bool" in decision.reason.en


def test_no_rule_matching_is_open() -> None:
    decision = small().decide({"aeo": {"status": "revoked"}}, d("2020-01-02"))
    assert (decision.outcome, decision.reason.rule) == (Outcome.OPEN, "no-rule")


def test_outside_validity_is_open() -> None:
    p = small(to=("valid_from = 2020-01-01\n", "valid_from = 2020-01-01\nvalid_to = 2020-12-31\n"))
    assert p.decide(AUTHORISED, d("2020-01-01")).outcome == Outcome.RECOGNIZED
    assert p.decide(AUTHORISED, d("2020-12-31")).outcome == Outcome.RECOGNIZED
    for day in ("2019-12-31", "2021-01-01"):
        decision = p.decide(AUTHORISED, d(day))
        assert (decision.outcome, decision.reason.rule) == (Outcome.OPEN, "validity")


def test_first_matching_rule_decides() -> None:
    p = small(rule=("[[tests]]", EXTRA_RULE.format(id="revoked") + "\n[[tests]]"))
    decision = p.decide({"aeo": {"status": "revoked"}}, d("2020-01-02"))
    assert (decision.outcome, decision.reason.rule) == (Outcome.NOT_RECOGNIZED, "revoked")
    assert decision.reason.ru == "нет"


def test_wrong_embedded_expectation_is_reported_by_name() -> None:
    p = small(
        expect=('expect = "RECOGNIZED"', 'expect = "NOT_RECOGNIZED"'),
        name=('name = "authorised"', 'name = "wrongly expects a refusal"'),
    )
    failures = p.run_tests()
    assert [f.test for f in failures] == ["wrongly expects a refusal"]
    assert "NOT_RECOGNIZED" in failures[0].expected and "RECOGNIZED" in failures[0].got


def test_wrong_embedded_rule_is_reported() -> None:
    p = small(rule=('expect = "RECOGNIZED"', 'expect = "RECOGNIZED"\nrule = "other"'))
    assert [f.test for f in p.run_tests()] == ["authorised"]


def test_sha256_changes_with_one_byte() -> None:
    one = RulePack.from_bytes(BASE.encode())
    other = RulePack.from_bytes(edit(BASE, 'arrangement = "test"', 'arrangement = "tesT"'))
    assert one.sha256 == hashlib.sha256(BASE.encode()).hexdigest()
    assert one.sha256 != other.sha256
    assert one.decide(AUTHORISED, d("2020-01-02")).pack_sha256 == one.sha256


def test_a_rating_that_is_not_a_table_is_missing_data_not_a_crash() -> None:
    grades = RulePack.from_bytes(GRADE_BASE.encode())
    for rating in ("AAA", {"scheme": "SP_LT"}, {"grade": "AAA"}):
        decision = grades.decide({"rating": rating}, d("2020-01-02"))
        assert (decision.outcome, decision.reason.rule) == (Outcome.OPEN, "data-missing")
