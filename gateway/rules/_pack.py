"""Rule packs: mutual-recognition rules as data, with their own tests.

A pack is a TOML file (``rules/*.toml``); its SHA-256 over the exact file bytes is its name
wherever it is served or cited. The format::

    id = "aeo-mra-cn-eu"             # stable across versions
    version = "1.0.0"                # semantic version; a changed pack is a new version
    type = "aeo-recognition"         # aeo-recognition | grade-equivalence
    engine = "cel/1"                 # the expression language; another one decides nothing (OPEN)
    valid_from = "2014-11-06"        # first day the pack may decide (ISO date)
    valid_to = ""                    # last day; empty = open-ended
    max_age_days = 2                 # optional: facts older than this on the decision date -> OPEN
    arrangement = "..."              # what the pack implements (treaty, decision, order)
    reads = ["aeo.status", "date"]   # the facts its rules read (documentation for operators)
    [description]                    # zh, en and ru, all three required
    zh = "..."
    en = "..."
    ru = "..."
    [parties]                        # aeo-recognition: the two customs sides, ISO 3166-1 codes;
    a = ["CN"]                       # a decision applies when the importing country is on one
    b = ["AT", "BE", "..."]          # side and the operator's programme country on the other
    schemes = ["SP_LT"]              # grade-equivalence: the rating scales it covers

    [[rules]]                        # in order: the first whose `when` is true decides
    id = "suspended"
    when = 'aeo.status == "suspended"'   # CEL (https://cel.dev), must give a bool
    outcome = "NOT_RECOGNIZED"       # RECOGNIZED | NOT_RECOGNIZED | OPEN
    benefits = ["..."]               # aeo-recognition, RECOGNIZED: what the arrangement grants
    bucket = "..."                   # grade-equivalence, RECOGNIZED: the common bucket ...
    ordinal = 7                      # ... and its position on the common scale (higher is better)
    reason = { zh = "...", en = "...", ru = "..." }

    [[grades]]                       # grade-equivalence: the table, consulted when no rule decided
    scheme = "SP_LT"
    grade = "BBB-"
    ordinal = 7
    bucket = "LOWER_MEDIUM"
    source = "S&P Global Ratings definitions"

    [[tests]]                        # run before activation: a pack whose tests fail is refused
    name = "authorised on the first day"
    date = "2015-11-01"              # the decision date
    facts = { aeo = { ... }, data_date = "2015-11-01" }
    expect = "RECOGNIZED"
    rule = "authorised"              # optional: the rule id that must decide

The facts each type gives its rules (every date an ISO ``YYYY-MM-DD`` string, so that CEL
compares them as text; a fact that is not known is absent, and a rule that reads it decides
OPEN, "data missing"):
- aeo-recognition: ``date``, ``importing_country``, ``data_date`` (when the operator's AEO data
  was last published) and ``aeo``: ``number``, ``programme_country``, ``type``, ``status``
  (authorised | suspended | revoked | annulled), ``authorised_date``, ``valid_until_date``.
- grade-equivalence: ``date`` and ``rating``: ``scheme``, ``grade``, ``as_of_date``,
  ``issuer``, ``valid_from_date``, ``valid_until_date``.

A decision is OPEN, before any rule runs, when the engine is unknown (step ``engine``), when the
decision date is outside the pack's validity (``validity``), or, for a pack with
``max_age_days``, when the facts' date (the AEO data's ``data_date``, a rating's ``as_of_date``)
is missing (``data-missing``), later than the decision date (``data-after-date``) or older than
the limit (``freshness``); during the rules, when one reads a fact that is absent
(``data-missing``); and after them, when none decided (``no-rule``).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from cel_expr_python import cel

from gateway.errors import RulePackError

ENGINE = "cel/1"
TYPES = ("aeo-recognition", "grade-equivalence")
LANGUAGES = ("zh", "en", "ru")
MAX_PACK_BYTES = 1024 * 1024

# The variables each pack type's expressions may name; anything else fails at load.
_VARIABLES = {
    "aeo-recognition": ("date", "importing_country", "data_date", "aeo"),
    "grade-equivalence": ("date", "rating"),
}
_FRESHNESS = {"aeo-recognition": ("data_date",), "grade-equivalence": ("rating", "as_of_date")}


class Outcome(StrEnum):
    RECOGNIZED = "RECOGNIZED"
    NOT_RECOGNIZED = "NOT_RECOGNIZED"
    OPEN = "OPEN"


@dataclass(frozen=True)
class Reason:
    rule: str  # the rule id, or a step of the engine: engine, validity, freshness, no-rule
    zh: str
    en: str
    ru: str


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: Reason
    pack_id: str
    pack_version: str
    pack_sha256: str
    date: str
    benefits: tuple[str, ...] = ()
    bucket: str = ""
    ordinal: int = 0

    @property
    def pack(self) -> str:
        return f"{self.pack_id}@{self.pack_version}"


@dataclass(frozen=True)
class Rule:
    id: str
    when: str
    outcome: Outcome
    reason: Reason
    program: Any = field(repr=False, compare=False)
    benefits: tuple[str, ...] = ()
    bucket: str = ""
    ordinal: int = 0


@dataclass(frozen=True)
class Grade:
    scheme: str
    grade: str
    ordinal: int
    bucket: str
    source: str


@dataclass(frozen=True)
class PackTest:
    name: str
    date: date
    facts: Mapping[str, Any]
    expect: Outcome
    rule: str = ""


@dataclass(frozen=True)
class Failure:
    test: str
    expected: str
    got: str


@dataclass(frozen=True)
class RulePack:
    """A parsed pack, its expressions compiled once."""

    id: str
    version: str
    type: str
    engine: str
    valid_from: date
    valid_to: date | None
    max_age_days: int | None
    arrangement: str
    description: Mapping[str, str]
    reads: tuple[str, ...]
    parties: tuple[frozenset[str], frozenset[str]] | None
    schemes: frozenset[str]
    rules: tuple[Rule, ...]
    grades: Mapping[tuple[str, str], Grade]
    tests: tuple[PackTest, ...]
    source: bytes = field(repr=False)
    sha256: str = ""

    @classmethod
    def from_bytes(cls, data: bytes) -> RulePack:
        """Parse and compile a pack; ``RulePackError`` names the key or rule that is wrong."""
        if len(data) > MAX_PACK_BYTES:
            raise RulePackError(f"a pack is at most {MAX_PACK_BYTES} bytes", field="/")
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RulePackError(f"not a UTF-8 TOML file: {exc}", field="/") from exc
        return _parse(doc, data)

    @property
    def name(self) -> str:
        return f"{self.id}@{self.version}"

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def decide(self, facts: Mapping[str, Any], day: date) -> Decision:
        """The pack's decision on ``facts`` as of ``day`` (which is also the ``date`` fact)."""
        facts = {**facts, "date": day.isoformat()}
        if self.engine != ENGINE:
            return self._open("engine", day)
        if not self.valid_on(day):
            return self._open("validity", day)
        if self.max_age_days is not None:
            stated = self._facts_date(facts)
            if stated is None:  # nothing to judge freshness by
                return self._open("data-missing", day, detail=".".join(_FRESHNESS[self.type]))
            if stated > day:  # facts of a later day say nothing of this one
                return self._open("data-after-date", day)
            if day - stated > timedelta(days=self.max_age_days):
                return self._open("freshness", day)
        for rule in self.rules:
            result = rule.program.eval(data=facts)
            if result.type() == cel.Type.ERROR:  # a fact the rule reads is missing or wrong
                return self._open("data-missing", day, detail=f"{rule.id}: {result.value()}")
            if result.type() != cel.Type.BOOL:
                return self._open("data-missing", day, detail=f"{rule.id}: not a bool")
            if result.value():
                return self._decision(
                    rule.outcome, rule.reason, day, rule.benefits, rule.bucket, rule.ordinal
                )
        if self.type == "grade-equivalence":
            rating = facts.get("rating")
            if (
                not isinstance(rating, Mapping)
                or not rating.get("scheme")
                or not rating.get("grade")
            ):
                return self._open("data-missing", day, detail="rating.scheme, rating.grade")
            row = self.grades.get((str(rating["scheme"]), str(rating["grade"])))
            if row is not None:
                reason = Reason(
                    f"grade:{row.scheme}:{row.grade}",
                    f"{row.scheme} {row.grade} 对应通用等级 {row.bucket}（序数 {row.ordinal}）",
                    f"{row.scheme} {row.grade} is {row.bucket} (ordinal {row.ordinal}) on the common scale",
                    f"{row.scheme} {row.grade} соответствует {row.bucket} (порядок {row.ordinal}) общей шкалы",
                )
                return self._decision(Outcome.RECOGNIZED, reason, day, (), row.bucket, row.ordinal)
        return self._open("no-rule", day)

    def run_tests(self) -> list[Failure]:
        """The pack's own test cases that fail (empty: all pass)."""
        failures = []
        for test in self.tests:
            got = self.decide(test.facts, test.date)
            if got.outcome != test.expect or (test.rule and got.reason.rule != test.rule):
                failures.append(
                    Failure(
                        test.name,
                        f"{test.expect} by {test.rule or 'any rule'}",
                        f"{got.outcome} by {got.reason.rule} ({got.reason.en})",
                    )
                )
        return failures

    # internals --------------------------------------------------------------------------------

    def _facts_date(self, facts: Mapping[str, Any]) -> date | None:
        value: Any = facts
        for key in _FRESHNESS[self.type]:
            value = value.get(key) if isinstance(value, Mapping) else None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return None

    def _open(self, step: str, day: date, detail: str = "") -> Decision:
        zh, en, ru = _ENGINE_REASONS[step]
        if step == "validity":
            until = self.valid_to.isoformat() if self.valid_to else "…"
            span = f" ({self.valid_from.isoformat()} – {until})"
            zh, en, ru = zh + span, en + span, ru + span
        if step == "freshness":
            zh, en, ru = (x.format(days=self.max_age_days) for x in (zh, en, ru))
        if detail:
            zh, en, ru = (f"{x}: {detail}" for x in (zh, en, ru))
        return self._decision(Outcome.OPEN, Reason(step, zh, en, ru), day)

    def _decision(
        self,
        outcome: Outcome,
        reason: Reason,
        day: date,
        benefits: tuple[str, ...] = (),
        bucket: str = "",
        ordinal: int = 0,
    ) -> Decision:
        return Decision(
            outcome,
            reason,
            self.id,
            self.version,
            self.sha256,
            day.isoformat(),
            benefits,
            bucket,
            ordinal,
        )


_ENGINE_REASONS = {
    "engine": (
        "规则包使用本网关不支持的表达式引擎，无法判定",
        "the pack needs an expression engine this gateway does not run: cannot decide",
        "пакет требует механизм выражений, которого нет у шлюза: решение невозможно",
    ),
    "validity": (
        "规则包在该日期不适用",
        "the pack does not apply on that date",
        "пакет не действует на эту дату",
    ),
    "freshness": (
        "数据已超过 {days} 天，过旧，无法判定",
        "the data is older than {days} days: too stale to decide",
        "данные старше {days} дн.: слишком устарели для решения",
    ),
    "data-after-date": (
        "数据的日期晚于判定日期，不能说明当日的情况",
        "the data is dated after the decision date: it says nothing of that day",
        "данные датированы позже даты решения и ничего не говорят о ней",
    ),
    "data-missing": (
        "缺少规则所需的数据",
        "a fact the rule needs is missing",
        "нет данных, нужных правилу",
    ),
    "no-rule": (
        "规则包中没有适用于此情形的规则",
        "no rule of the pack decides this case",
        "ни одно правило пакета не решает этот случай",
    ),
}


# -- parsing ----------------------------------------------------------------------------------

_PACK_KEYS = {
    "id",
    "version",
    "type",
    "engine",
    "valid_from",
    "valid_to",
    "max_age_days",
    "arrangement",
    "reads",
    "description",
    "parties",
    "schemes",
    "rules",
    "grades",
    "tests",
}


def _parse(doc: dict[str, Any], source: bytes) -> RulePack:
    _only(doc, _PACK_KEYS, "")
    pack_type = _text(doc, "type", "")
    if pack_type not in TYPES:
        raise RulePackError(f"type must be one of {', '.join(TYPES)}", field="/type")
    version = _text(doc, "version", "")
    if not _is_semver(version):
        raise RulePackError("version must be a semantic version (1.2.3)", field="/version")
    engine = _text(doc, "engine", "")
    valid_to = doc.get("valid_to", "")
    rules = doc.get("rules", [])
    if not isinstance(rules, list) or (not rules and pack_type == "aeo-recognition"):
        raise RulePackError("a pack has at least one rule", field="/rules")  # fail closed
    env = cel.NewEnv(variables={name: cel.Type.DYN for name in _VARIABLES[pack_type]})
    compiled = tuple(
        _rule(item, f"/rules/{n}", pack_type, env, engine) for n, item in enumerate(rules)
    )
    if len({rule.id for rule in compiled}) != len(compiled):
        raise RulePackError("rule ids must be unique", field="/rules")
    grades = _grades(doc.get("grades", []), pack_type)
    if pack_type == "grade-equivalence" and not compiled and not grades:
        raise RulePackError("a grade pack has rules or grades", field="/grades")
    parties = None
    schemes: frozenset[str] = frozenset()
    if pack_type == "aeo-recognition":
        sides = doc.get("parties")
        if not isinstance(sides, dict) or set(sides) != {"a", "b"}:
            raise RulePackError("parties has two sides, a and b", field="/parties")
        parties = (_countries(sides["a"], "/parties/a"), _countries(sides["b"], "/parties/b"))
    else:
        schemes = frozenset(_strings(doc.get("schemes"), "/schemes"))
        if not schemes:
            raise RulePackError("a grade pack names the schemes it covers", field="/schemes")
        stray = {scheme for scheme, _ in grades} - schemes
        if stray:
            raise RulePackError(f"grades of schemes not covered: {sorted(stray)}", field="/grades")
    max_age = doc.get("max_age_days")
    if max_age is not None and (not _is_whole(max_age) or max_age < 0):
        raise RulePackError("max_age_days is a whole number of days", field="/max_age_days")
    pack = RulePack(
        id=_text(doc, "id", ""),
        version=version,
        type=pack_type,
        engine=engine,
        valid_from=_date(doc.get("valid_from"), "/valid_from"),
        valid_to=_date(valid_to, "/valid_to") if valid_to else None,
        max_age_days=max_age,
        arrangement=str(doc.get("arrangement", "")),
        description=_languages(doc.get("description"), "/description"),
        reads=_reads(doc.get("reads", []), pack_type),
        parties=parties,
        schemes=schemes,
        rules=compiled,
        grades=grades,
        tests=tuple(_test(item, f"/tests/{n}") for n, item in enumerate(doc.get("tests", []))),
        source=source,
        sha256=hashlib.sha256(source).hexdigest(),
    )
    if pack.valid_to is not None and pack.valid_to < pack.valid_from:
        raise RulePackError("valid_to is before valid_from", field="/valid_to")
    if not pack.tests:
        raise RulePackError("a pack carries its own test cases", field="/tests")
    return pack


def _reads(value: Any, pack_type: str) -> tuple[str, ...]:
    """The facts a pack says it reads: each must start with a fact its type has."""
    reads = tuple(_strings(value, "/reads"))
    unknown = [name for name in reads if name.split(".")[0] not in _VARIABLES[pack_type]]
    if unknown:
        raise RulePackError(f"{pack_type} packs have no fact {unknown[0]!r}", field="/reads")
    return reads


def _rule(item: Any, where: str, pack_type: str, env: Any, engine: str) -> Rule:
    if not isinstance(item, dict):
        raise RulePackError("a rule is a table", field=where)
    _only(item, {"id", "when", "outcome", "reason", "benefits", "bucket", "ordinal"}, where)
    outcome = _outcome(item.get("outcome"), f"{where}/outcome")
    when = _text(item, "when", where)
    program = None
    if engine == ENGINE:  # a pack for another engine loads, and decides nothing (OPEN)
        try:
            program = env.compile(when)
        except RuntimeError as exc:
            raise RulePackError(f"not a valid expression: {exc}", field=f"{where}/when") from exc
    rule_id = _text(item, "id", where)
    reason = _languages(item.get("reason"), f"{where}/reason")
    benefits = tuple(_strings(item.get("benefits", []), f"{where}/benefits"))
    bucket, ordinal = str(item.get("bucket", "")), item.get("ordinal", 0)
    if benefits and (pack_type != "aeo-recognition" or outcome != Outcome.RECOGNIZED):
        raise RulePackError("only a recognition grants benefits", field=f"{where}/benefits")
    if (bucket or ordinal) and (pack_type != "grade-equivalence" or outcome != Outcome.RECOGNIZED):
        raise RulePackError("only a recognized grade has a bucket", field=f"{where}/bucket")
    if not _is_whole(ordinal):
        raise RulePackError("ordinal is a whole number", field=f"{where}/ordinal")
    return Rule(
        rule_id, when, outcome, Reason(rule_id, **reason), program, benefits, bucket, ordinal
    )


def _grades(items: Any, pack_type: str) -> dict[tuple[str, str], Grade]:
    if items and pack_type != "grade-equivalence":
        raise RulePackError("only a grade pack has grades", field="/grades")
    table: dict[tuple[str, str], Grade] = {}
    ordinals: dict[str, int] = {}  # one bucket, one place on the common scale
    for n, item in enumerate(items):
        where = f"/grades/{n}"
        if not isinstance(item, dict):
            raise RulePackError("a grade is a table", field=where)
        _only(item, {"scheme", "grade", "ordinal", "bucket", "source"}, where)
        if not _is_whole(item.get("ordinal")):
            raise RulePackError("ordinal is a whole number", field=f"{where}/ordinal")
        row = Grade(
            _text(item, "scheme", where),
            _text(item, "grade", where),
            item["ordinal"],
            _text(item, "bucket", where),
            str(item.get("source", "")),
        )
        if (row.scheme, row.grade) in table:
            raise RulePackError(f"{row.scheme} {row.grade} is listed twice", field=where)
        table[row.scheme, row.grade] = row
        if ordinals.setdefault(row.bucket, row.ordinal) != row.ordinal:
            raise RulePackError(
                f"bucket {row.bucket} has ordinal {ordinals[row.bucket]} elsewhere", field=where
            )
    return table


def _test(item: Any, where: str) -> PackTest:
    if not isinstance(item, dict):
        raise RulePackError("a test is a table", field=where)
    _only(item, {"name", "date", "facts", "expect", "rule"}, where)
    facts = item.get("facts", {})
    if not isinstance(facts, dict):
        raise RulePackError("facts is a table", field=f"{where}/facts")
    return PackTest(
        name=_text(item, "name", where),
        date=_date(item.get("date"), f"{where}/date"),
        facts=_plain(facts),
        expect=_outcome(item.get("expect"), f"{where}/expect"),
        rule=str(item.get("rule", "")),
    )


def _plain(value: Any) -> Any:
    """TOML's date literals as the ISO text the rules compare."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value.isoformat() if isinstance(value, date) else value


def _only(doc: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise RulePackError(f"unknown key {unknown[0]!r}", field=f"{where}/{unknown[0]}")


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RulePackError(f"{key} is required text", field=f"{where}/{key}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RulePackError("expected a list of text", field=where)
    return value


def _countries(value: Any, where: str) -> frozenset[str]:
    codes = _strings(value, where)
    bad = [c for c in codes if len(c) != 2 or not c.isascii() or not c.isupper()]
    if not codes or bad:
        raise RulePackError(f"expected ISO 3166-1 alpha-2 codes, got {bad or codes}", field=where)
    return frozenset(codes)


def _languages(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RulePackError("expected zh, en and ru text", field=where)
    _only(value, set(LANGUAGES), where)
    return {lang: _text(value, lang, where) for lang in LANGUAGES}


def _outcome(value: Any, where: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        raise RulePackError(f"outcome must be one of {', '.join(Outcome)}", field=where) from None


def _date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        raise RulePackError("expected a date, not a date and time", field=where)
    if isinstance(value, date):  # TOML's own date literal
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RulePackError("expected an ISO date (YYYY-MM-DD)", field=where) from None


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is no number


def _is_semver(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 3 and all(
        p.isdigit() and (p == "0" or not p.startswith("0")) for p in parts
    )
