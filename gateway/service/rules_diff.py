"""What a new version of a rule pack would change: a dry run over the stored profiles.

Every stored profile (its latest version) is asked the questions the two packs answer, once with
each pack, as of one date, and the decisions that differ (outcome, deciding rule, or common
bucket / ordinal) are returned. Nothing is written. Each pack answers as the active set would if
it were the only pack there (``RuleBook([pack])``), so a question only one of the packs covers
shows as a change to or from "no arrangement" / "no pack".

- aeo-recognition: each AEO authorisation of the profile whose programme country is on one side
  of either pack's parties, asked once per country of the other side (sorted), with the facts
  ``RuleService`` gives its rules: ``importing_country`` and ``aeo_facts(...)``.
- grade-equivalence: each rating whose scheme either pack covers, with ``rating_facts(rating)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from gateway.errors import RulePackError
from gateway.rules import Decision, RuleBook, RulePack, rating_facts
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile
from gateway.service.rules import aeo_facts
from gateway.storage import ProfileStore

PAGE = 500


@dataclass(frozen=True)
class DiffRow:
    """One question whose answer changes between the two packs."""

    profile_id: str
    name: str  # the subject's legal name (en, else zh, ru, local)
    subject: str  # the subject's first identifier, "SCHEME value"
    question: str  # aeo-recognition: "NUMBER importing COUNTRY"; grade-equivalence: "SCHEME:GRADE"
    old: Decision
    new: Decision


def diff_packs(profiles: ProfileStore, old: RulePack, new: RulePack, day: date) -> list[DiffRow]:
    """The decisions over every stored profile that change from ``old`` to ``new`` on ``day``,
    in profile-id order; ``RulePackError`` when the packs are not of one type."""
    if old.type != new.type:
        raise RulePackError(
            f"{old.name} is {old.type} but {new.name} is {new.type}: compare one type",
            field="/type",
        )
    books = RuleBook([old]), RuleBook([new])
    rows: list[DiffRow] = []
    for profile_id, profile, published_at in _latest(profiles):
        name, subject = _name(profile), _subject(profile)
        if new.type == "aeo-recognition":
            for number, importing, programme in _aeo_questions(profile, old, new):
                facts = {"importing_country": importing}
                facts |= aeo_facts(profile, number, published_at)
                before, after = (
                    book.recognize_aeo(importing, programme, facts, day) for book in books
                )
                if _changed(before, after):
                    question = f"{number} importing {importing}"
                    rows.append(DiffRow(profile_id, name, subject, question, before, after))
        else:
            schemes = old.schemes | new.schemes
            seen: set[tuple[tuple[str, str], ...]] = set()
            for rating in profile.ratings:
                if rating.scheme not in schemes:
                    continue
                facts = rating_facts(rating)
                key = tuple(sorted(facts.items()))
                if key in seen:
                    continue
                seen.add(key)
                before, after = (book.equivalent_grade(facts, day) for book in books)
                if _changed(before, after):
                    question = f"{rating.scheme}:{rating.grade}"
                    rows.append(DiffRow(profile_id, name, subject, question, before, after))
    return rows


def _changed(before: Decision, after: Decision) -> bool:
    return (before.outcome, before.reason.rule, before.bucket, before.ordinal) != (
        after.outcome,
        after.reason.rule,
        after.bucket,
        after.ordinal,
    )


def _aeo_questions(
    profile: CreditProfile, old: RulePack, new: RulePack
) -> Iterator[tuple[str, str, str]]:
    """(authorisation number, importing country, programme country), each pair once."""
    asked: set[tuple[str, str]] = set()
    for status in profile.aeo:
        programme, number = status.program_country, status.authorisation_number
        importing: set[str] = set()
        for pack in (old, new):
            assert pack.parties is not None  # an aeo-recognition pack always has parties
            a, b = pack.parties
            if programme in a:
                importing |= b
            if programme in b:
                importing |= a
        for country in sorted(importing):
            if (number, country) not in asked:
                asked.add((number, country))
                yield number, country, programme


def _latest(profiles: ProfileStore) -> Iterator[tuple[str, CreditProfile, datetime]]:
    after = ""
    while True:
        page = profiles.search(name_prefix="", country="", after=after, limit=PAGE)
        for ref in page:
            stored = profiles.load(ref.row_id)
            yield ref.profile_id, CreditProfile.FromString(stored.profile_pb), stored.published_at
        if len(page) < PAGE:
            return
        after = page[-1].profile_id


def _name(profile: CreditProfile) -> str:
    text = profile.subject.legal_name
    return text.en or text.zh or text.ru or text.local


def _subject(profile: CreditProfile) -> str:
    ids = profile.subject.ids
    return f"{ids[0].scheme} {ids[0].value}" if ids else ""
