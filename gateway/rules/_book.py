"""The active rule packs, and which one answers a question.

An AEO question goes to the pack whose parties hold the importing country on one side and the
operator's programme country on the other; a grade question to the pack covering its scheme.
Of a pair's (or a scheme's) packs, the one valid on the decision date decides; if none is, one
of them still answers, OPEN for validity. Two packs that could both answer one question on one
date are refused at activation, so a question never has two answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from gateway.errors import RulePackError
from gateway.rules._pack import Decision, Outcome, Reason, RulePack
from gateway.schema.cxg.v1.profile_pb2 import CommonGrade, CreditProfile

_NO_ARRANGEMENT = (
    "{importing} 与 {programme} 之间没有生效的经认证的经营者互认安排",
    "no AEO mutual-recognition arrangement between {importing} and {programme}",
    "нет соглашения о взаимном признании УЭО между {importing} и {programme}",
)
_NO_SCALE = (
    "没有规则包涵盖评级体系 {scheme}",
    "no rule pack covers the rating scale {scheme}",
    "ни один пакет правил не охватывает шкалу {scheme}",
)


class RuleBook:
    def __init__(self, packs: Iterable[RulePack] = ()) -> None:
        self.packs = tuple(packs)

    def with_pack(self, pack: RulePack) -> RuleBook:
        """This book with ``pack`` active in place of any other version of its id; refused
        when it could answer a question another active pack answers on the same date."""
        others = [p for p in self.packs if p.id != pack.id]
        for other in others:
            if _overlap(pack, other):
                raise RulePackError(
                    f"{pack.name} and the active {other.name} would both decide the same "
                    "questions on the same dates",
                    field="/valid_from",
                )
        return RuleBook([*others, pack])

    def recognize_aeo(
        self, importing: str, programme: str, facts: dict[str, Any], day: date
    ) -> Decision:
        candidates = [
            p
            for p in self.packs
            if p.parties is not None and _between(p.parties, importing, programme)
        ]
        if not candidates:
            reason = Reason(
                "no-arrangement",
                *(x.format(importing=importing, programme=programme) for x in _NO_ARRANGEMENT),
            )
            return _unpacked(Outcome.NOT_RECOGNIZED, reason, day)
        return _valid_first(candidates, day).decide(facts, day)

    def partner_countries(self, programme: str) -> tuple[str, ...]:
        """The countries an active pack names across from ``programme``: those whose customs
        may recognise its AEO authorisations (sorted)."""
        found: set[str] = set()
        for pack in self.packs:
            if pack.parties is not None:
                a, b = pack.parties
                found |= (b if programme in a else frozenset()) | (
                    a if programme in b else frozenset()
                )
        found.discard(programme)
        return tuple(sorted(found))

    def equivalent_grade(self, rating: dict[str, str], day: date) -> Decision:
        scheme = rating.get("scheme", "")
        candidates = [p for p in self.packs if scheme in p.schemes]
        if not candidates:
            reason = Reason("no-pack", *(x.format(scheme=scheme) for x in _NO_SCALE))
            return _unpacked(Outcome.OPEN, reason, day)
        return _valid_first(candidates, day).decide({"rating": rating}, day)

    def common_grade(self, profile: CreditProfile, day: date) -> CommonGrade | None:
        """The profile's grade on the common scale: of its ratings the packs recognize, the
        most recent, and of equally recent ones the lowest (the cautious reading)."""
        best: tuple[str, int, Decision, str] | None = None
        for rating in profile.ratings:
            decision = self.equivalent_grade(rating_facts(rating), day)
            if decision.outcome != Outcome.RECOGNIZED:
                continue
            key = (rating.as_of_date, -decision.ordinal)
            if best is None or key > best[:2]:
                best = (*key, decision, rating.scheme)
        if best is None:
            return None
        decision = best[2]
        return CommonGrade(
            bucket=decision.bucket,
            ordinal=decision.ordinal,
            source_scheme=best[3],
            rule_pack=f"{decision.pack}#{decision.pack_sha256}",
        )


def rating_facts(rating: Any) -> dict[str, str]:
    """A ``Rating`` as the facts a grade pack reads: the fields that are set."""
    fields = ("scheme", "grade", "as_of_date", "issuer", "valid_from_date", "valid_until_date")
    return {name: getattr(rating, name) for name in fields if getattr(rating, name)}


def _between(parties: tuple[frozenset[str], frozenset[str]], one: str, other: str) -> bool:
    a, b = parties
    return (one in a and other in b) or (one in b and other in a)


def _valid_first(candidates: list[RulePack], day: date) -> RulePack:
    return next((p for p in candidates if p.valid_on(day)), candidates[0])


def _overlap(one: RulePack, other: RulePack) -> bool:
    if one.type != other.type:
        return False
    if one.parties is not None and other.parties is not None:
        same_question = any(
            _between(other.parties, x, y) for x in one.parties[0] for y in one.parties[1]
        )
    else:
        same_question = bool(one.schemes & other.schemes)
    if not same_question:
        return False
    ends = [p.valid_to or date.max for p in (one, other)]
    return one.valid_from <= ends[1] and other.valid_from <= ends[0]


def _unpacked(outcome: Outcome, reason: Reason, day: date) -> Decision:
    return Decision(outcome, reason, "", "", "", day.isoformat())
