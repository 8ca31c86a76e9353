"""Rule decisions (issue: mutual recognition as rule packs): decisions per second on one core,
against bare evaluations of one compiled CEL expression in the same run.

    .venv/bin/python bench/bench_rules.py              # 3 s per measurement (~10 s)
    .venv/bin/python bench/bench_rules.py --seconds 1  # quicker

Single thread, pinned to one CPU when the OS allows. Every pack is parsed once (its CEL programs
compiled once, as the gateway keeps them); the timed loop is ``RulePack.decide(facts, day)`` only:
- ``aeo``: an aeo-recognition pack of 8 rules, with max_age_days; the facts make rules 1-6 false
  and rule 7 (the last but one) decide, so 7 CEL evaluations per decision;
- ``grade``: a grade-equivalence pack of 2 guard rules (both false) and a 22-row table; the
  table decides;
- ``bare CEL``: ``program.eval(data=facts)`` of one compiled expression
  (``aeo.status == "authorised"``), the floor of one rule;
- ``RecognizeAeo answer``: ``RuleService.recognize_aeo`` as the API runs it, on a SQLite file:
  the operator's latest profile looked up by AEO number, the shipped EU-China pack deciding,
  the answer signed (Ed25519 JWS). Transport and audit leaf excluded.
The issue's target is at least 2,000 decisions per second. Measures; never asserts.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from _rate import pin_to_one_core, rate
from cel_expr_python import cel

from gateway.audit.entries import Actor, acting_as
from gateway.config import Settings
from gateway.mapping import adapter
from gateway.rules import Outcome, RulePack
from gateway.schema.cxg.v1.rules_service_pb2 import RecognizeAeoRequest
from gateway.service import PartnerAdmin, ProfileExchange
from gateway.service.rules import RuleService
from gateway.signing import KeyRing, SigningKey
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from gateway.trust import Partner

ROOT = Path(__file__).resolve().parents[1]

DAY = date(2026, 6, 1)
REASON = 'reason = { zh = "理由", en = "reason", ru = "причина" }'
HEADER = """
id = "{id}"
version = "1.0.0"
type = "{type}"
engine = "cel/1"
valid_from = 2020-01-01
{extra}
[description]
zh = "基准"
en = "bench"
ru = "тест"
"""

# (id, when, outcome): rules 1-6 are false for the benchmark's facts, rule 7 decides.
AEO_RULES = (
    ("not-yet-applied", 'date < "2021-01-01"', "NOT_RECOGNIZED"),
    ("annulled", 'aeo.status == "annulled"', "NOT_RECOGNIZED"),
    ("revoked", 'aeo.status == "revoked"', "NOT_RECOGNIZED"),
    ("suspended", 'aeo.status == "suspended"', "NOT_RECOGNIZED"),
    ("authorised-later", "has(aeo.authorised_date) && aeo.authorised_date > date", "OPEN"),
    (
        "expired",
        'has(aeo.valid_until_date) && aeo.valid_until_date != "" && aeo.valid_until_date < date',
        "NOT_RECOGNIZED",
    ),
    (
        "recognized",
        'aeo.status == "authorised" && aeo.type in ["AEOC", "AEOF", "CN_ADVANCED"]',
        "RECOGNIZED",
    ),
    ("type-not-covered", "true", "NOT_RECOGNIZED"),
)
AEO_FACTS: dict[str, Any] = {
    "importing_country": "DE",
    "data_date": "2026-05-31",
    "aeo": {
        "number": "CN3702960123",
        "programme_country": "CN",
        "type": "CN_ADVANCED",
        "status": "authorised",
        "authorised_date": "2022-03-01",
        "valid_until_date": "2027-03-01",
    },
}
GRADES = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+")
GRADE_FACTS: dict[str, Any] = {
    "rating": {"scheme": "SP_LT", "grade": "BBB-", "as_of_date": "2026-01-15"}
}


def aeo_pack() -> RulePack:
    rules = "".join(
        f'\n[[rules]]\nid = "{rid}"\nwhen = \'{when}\'\noutcome = "{outcome}"\n'
        + ('benefits = ["fewer-inspections"]\n' if outcome == "RECOGNIZED" else "")
        + REASON
        + "\n"
        for rid, when, outcome in AEO_RULES
    )
    text = (
        HEADER.format(id="bench-aeo", type="aeo-recognition", extra="max_age_days = 2")
        + '[parties]\na = ["CN"]\nb = ["DE", "FR"]\n'
        + rules
        + '\n[[tests]]\nname = "t"\ndate = 2026-06-01\nexpect = "RECOGNIZED"\nrule = "recognized"\n'
        + 'facts = { data_date = "2026-06-01", aeo = { status = "authorised", type = "AEOC" } }\n'
    )
    return RulePack.from_bytes(text.encode())


def grade_pack() -> RulePack:
    rows = "".join(
        f'\n[[grades]]\nscheme = "{scheme}"\ngrade = "{grade}"\nordinal = {20 - n}\n'
        f'bucket = "B{20 - n}"\n'
        for scheme in ("SP_LT", "FITCH_LT")
        for n, grade in enumerate(GRADES)
    )
    guards = (
        '\n[[rules]]\nid = "withdrawn"\nwhen = \'rating.grade == "WD"\'\noutcome = "OPEN"\n'
        + REASON
        + '\n[[rules]]\nid = "expired"\nwhen = \'has(rating.valid_until_date) && '
        + 'rating.valid_until_date < date\'\noutcome = "OPEN"\n'
        + REASON
        + "\n"
    )
    text = (
        HEADER.format(
            id="bench-grades",
            type="grade-equivalence",
            extra='max_age_days = 400\nschemes = ["SP_LT", "FITCH_LT"]',
        )
        + guards
        + rows
        + '\n[[tests]]\nname = "t"\ndate = 2026-06-01\nexpect = "RECOGNIZED"\n'
        + 'facts = { rating = { scheme = "SP_LT", grade = "AAA", as_of_date = "2026-01-01" } }\n'
    )
    return RulePack.from_bytes(text.encode())


def service_call(folder: Path) -> Callable[[], object]:
    """RuleService.recognize_aeo for a Chinese AEO imported from the customs sample, with the
    shipped EU-China pack active, as a German customs caller asks."""
    with acting_as(Actor("bench:setup", "bench")):  # whom the set-up's change leaves name
        return _service_call(folder)


def _service_call(folder: Path) -> Callable[[], object]:
    KeyRing.init(folder / "keys" / "gateway")
    settings = Settings(database_url=f"sqlite:///{folder / 'cxg.db'}", keys_dir=folder / "keys")
    db = Database.from_url(settings.database_url)
    db.upgrade()
    customs = Partner(
        id="de-customs", name="DE customs", country="DE", roles=frozenset({"customs"})
    )
    PartnerAdmin(db).register(customs, [SigningKey.generate("EdDSA").public_jwk()])
    directory = PartnerStore(db)
    exchange = ProfileExchange.from_settings(settings, db, directory)
    with (ROOT / "adapters" / "customs_aeo" / "samples" / "cn-operator.xml").open("rb") as sample:
        assert exchange.import_records(adapter("customs-aeo-list"), sample, customs).imported == 1
    rules = RuleService.from_settings(settings, db)
    rules.activate(rules.sign((ROOT / "rules" / "aeo-mra-cn-eu.toml").read_bytes()))
    request = RecognizeAeoRequest(aeo_number="CN3702960517")
    answer = rules.recognize_aeo(request, customs)
    assert answer.decision.rule == "recognized", answer
    return lambda: rules.recognize_aeo(request, customs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    args = parser.parse_args()
    pin_to_one_core()

    aeo, grades = aeo_pack(), grade_pack()
    assert not aeo.run_tests() and not grades.run_tests()
    decided = aeo.decide(AEO_FACTS, DAY)
    assert (decided.outcome, decided.reason.rule) == (Outcome.RECOGNIZED, "recognized"), decided
    graded = grades.decide(GRADE_FACTS, DAY)
    assert graded.outcome == Outcome.RECOGNIZED and graded.reason.rule == "grade:SP_LT:BBB-"

    env = cel.NewEnv(variables={name: cel.Type.DYN for name in ("date", "aeo")})
    program = env.compile('aeo.status == "authorised"')
    bare_facts = {**AEO_FACTS, "date": DAY.isoformat()}
    assert program.eval(data=bare_facts).value() is True

    results = {
        "bare CEL (1 expression)": rate(lambda: program.eval(data=bare_facts), args.seconds),
        "aeo pack (7th of 8 rules decides)": rate(lambda: aeo.decide(AEO_FACTS, DAY), args.seconds),
        "grade pack (2 rules + table)": rate(lambda: grades.decide(GRADE_FACTS, DAY), args.seconds),
    }
    with tempfile.TemporaryDirectory(prefix="cxg-bench-rules-") as tmp:
        recognize = service_call(Path(tmp))
        results["RecognizeAeo answer (lookup, decide, sign)"] = rate(recognize, args.seconds)
    bare = results["bare CEL (1 expression)"]
    print(f"one core, {args.seconds:g} s per measurement; target >= 2,000 decisions/s")
    for name, per_second in results.items():
        print(
            f"{name:36} {per_second:>10,.0f} /s  {1e6 / per_second:>7.1f} µs"
            f"  ({per_second / bare:.2f}x bare CEL)"
        )


if __name__ == "__main__":
    main()
