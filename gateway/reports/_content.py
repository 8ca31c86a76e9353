"""What a report says, section by section: identity, AEO (with what partner countries recognise),
grade, public records for the period, open disputes. Built as ``_layout`` blocks in the report's
languages, the primary first: a label carries every language ("名称 / Name"), a sentence is
repeated in each.

Public records are the part a reader takes instead of a certificate of no violation, so every
pair of record kind and authority type the view shows is either listed or stated absent, with
its source and the date of the source's data; a period that runs past that date is stated only
up to it, and where the view leaves an authority's records out, or the data carry no date, the
report says it states nothing rather than "no record". A record is never dropped: one of no
known kind or authority type is listed under "not stated".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date
from typing import Any

from gateway.names import AEO_TYPES, GRADES, LANGUAGES, PURPOSES, SCHEMES, country_name, named
from gateway.reports._facts import ReportFacts
from gateway.reports._fonts import ReportFonts
from gateway.reports._layout import Block, Row, Span, Style, heading, labelled, paragraph
from gateway.reports._text import (
    AEO_STATES,
    AUTHORITIES,
    AUTHORITIES_IN_TEXT,
    CLAUSE_SEPARATOR,
    DISPUTE_STATES,
    ENTITY_STATUS,
    KINDS,
    KINDS_IN_TEXT,
    LIST_SEPARATOR,
    PARENTHESES,
    REGISTER_AS_PUBLISHED,
    REGISTERS,
    REPAIR_STATES,
    TEXT,
    Words,
)
from gateway.schema.cxg.v1.profile_pb2 import (
    AeoStatus,
    AuthorityType,
    DisputeState,
    LocalizedText,
    PublicRecord,
    PublicRecordKind,
    RepairState,
)

BLUE = (0.08, 0.2, 0.45)
BODY = Style(8.5, 12.0, (0.0, 0.0, 0.0))
SECONDARY = Style(8.5, 12.0, (0.3, 0.3, 0.3))  # the same sentence in a second language
LABEL = Style(7.5, 12.0, (0.35, 0.35, 0.35))
H1 = Style(11.5, 17.0, BLUE)
H2 = Style(9.5, 14.0, BLUE)
H3 = Style(8.5, 13.0, (0.2, 0.2, 0.2))
LABEL_WIDTH = 118.0  # points: about 42 mm
INDENT = 12.0
_TOGETHER_ROWS = 16  # a record or an authorisation up to this long is not split across pages

# Reported in this order; UNSPECIFIED (and any value this build does not know) only when a
# record has it.
_KINDS = (
    PublicRecordKind.PUBLIC_RECORD_KIND_LICENCE,
    PublicRecordKind.PUBLIC_RECORD_KIND_PENALTY,
    PublicRecordKind.PUBLIC_RECORD_KIND_DISHONESTY_LIST,
)
_AUTHORITY_TYPES = (
    AuthorityType.AUTHORITY_TYPE_CUSTOMS,
    AuthorityType.AUTHORITY_TYPE_TAX,
    AuthorityType.AUTHORITY_TYPE_MARKET_REGULATION,
    AuthorityType.AUTHORITY_TYPE_COURT,
    AuthorityType.AUTHORITY_TYPE_OTHER,
)
_UNSPECIFIED_KIND = PublicRecordKind.PUBLIC_RECORD_KIND_UNSPECIFIED
_UNSPECIFIED_AUTHORITY = AuthorityType.AUTHORITY_TYPE_UNSPECIFIED


def report_blocks(facts: ReportFacts, fonts: ReportFonts, width: float) -> list[Block]:
    """The body of the report, ``width`` points wide."""
    writer = _Writer(facts, fonts, width)
    writer.identity()
    writer.aeo()
    writer.grade()
    writer.records()
    writer.disputes()
    writer.about()
    return writer.blocks


def columns(facts: ReportFacts) -> list[int]:
    """The report's languages as columns of the word tables, the primary first."""
    return [LANGUAGES.index(language) for language in facts.languages]


def say(key: str, column: int, **values: Any) -> str:
    """``TEXT[key]`` in ``column``'s language; a ``Words`` value is taken in the same one."""
    return TEXT[key][column].format(
        **{
            name: value[column] if isinstance(value, tuple) else value
            for name, value in values.items()
        }
    )


def joined(texts: Iterable[str], separator: str = " / ") -> str:
    return separator.join(dict.fromkeys(text for text in texts if text))


def purpose_words(purpose: str) -> Words:
    return PURPOSES.get(purpose, (purpose, purpose, purpose))


class _Writer:
    def __init__(self, facts: ReportFacts, fonts: ReportFonts, width: float) -> None:
        self.facts = facts
        self.fonts = fonts
        self.width = width
        self.columns = columns(facts)
        self.blocks: list[Block] = []
        profile = facts.profile
        provenance = profile.provenance
        retrieved = provenance.retrieved_at
        self.as_of: date | None = (
            retrieved.ToDatetime(tzinfo=UTC).date()
            if profile.HasField("provenance")
            and provenance.HasField("retrieved_at")
            and (retrieved.seconds or retrieved.nanos)
            else None
        )
        self.source = provenance.source_institution

    # -- words ---------------------------------------------------------------------------------

    def label(self, key: str, **values: Any) -> str:
        return joined(say(key, column, **values) for column in self.columns)

    def names(self, words: Words) -> str:
        return joined(words[column] for column in self.columns)

    def lines(self, key: str, **values: Any) -> str:
        """One line per language."""
        return joined((say(key, column, **values) for column in self.columns), "\n")

    def localized(self, text: LocalizedText) -> str:
        """Company text in the report's languages, else in whichever language it has."""
        chosen = [getattr(text, LANGUAGES[column]) for column in self.columns]
        if not any(chosen):
            chosen = [text.zh, text.en, text.ru, text.local]
        return joined((value for value in chosen if value), "\n") if any(chosen) else ""

    def countries(self, code: str) -> str:
        return joined(country_name(code, LANGUAGES[column]) for column in self.columns) + (
            f" ({code})" if code else ""
        )

    def date_or(self, text: str, key: str = "not_stated") -> str:
        return text or self.label(key)

    # -- blocks --------------------------------------------------------------------------------

    def h1(self, text: str) -> None:
        self.blocks.append(heading(self.fonts, text, H1, self.width, space_before=12.0, rule=True))

    def h2(self, text: str, *, indent: float = 0.0) -> None:
        block = heading(self.fonts, text, H2, self.width - indent, space_before=6.0, rule=False)
        self._indent(block, indent)
        self.blocks.append(block)

    def h3(self, text: str, *, indent: float = 0.0) -> None:
        block = heading(self.fonts, text, H3, self.width - indent, space_before=4.0, rule=False)
        self._indent(block, indent)
        self.blocks.append(block)

    @staticmethod
    def _indent(block: Block, indent: float) -> None:
        if indent:
            block.rows[:] = [
                Row(
                    row.height,
                    tuple(Span(s.x + indent, s.text, s.style) for s in row.spans),
                    row.rule,
                )
                for row in block.rows
            ]

    @contextlib.contextmanager
    def _together(self) -> Iterator[None]:
        """The blocks added inside as one, kept on one page unless it is long."""
        first = len(self.blocks)
        yield
        parts = self.blocks[first:]
        if len(parts) > 1:
            rows = list(parts[0].rows)
            for part in parts[1:]:
                if part.space_before:
                    rows.append(Row(part.space_before, ()))
                rows += part.rows
            together = Block(rows, parts[0].space_before, keep_together=len(rows) <= _TOGETHER_ROWS)
            self.blocks[first:] = [together]

    def field(
        self, label: str, value: str, *, indent: float = 0.0, space_before: float = 0.0
    ) -> None:
        self.blocks.append(
            labelled(
                self.fonts,
                label,
                value,
                LABEL,
                BODY,
                width=self.width,
                label_width=LABEL_WIDTH,
                indent=indent,
                space_before=space_before,
            )
        )

    def sentence(self, key: str, *, indent: float = 0.0, **values: Any) -> None:
        """The sentence in each language, a paragraph each, the primary first; kept together."""
        with self._together():
            self._sentences(key, indent, values)

    def _sentences(self, key: str, indent: float, values: dict[str, Any]) -> None:
        for index, column in enumerate(self.columns):
            style = BODY if index == 0 else SECONDARY
            self.blocks.append(
                paragraph(
                    self.fonts,
                    say(key, column, **values),
                    style,
                    self.width,
                    indent=indent,
                    space_before=3.0 if index == 0 else 0.0,
                )
            )

    # -- sections ------------------------------------------------------------------------------

    def identity(self) -> None:
        subject = self.facts.profile.subject
        self.h1(self.label("sec_identity"))
        name = subject.legal_name
        for language in LANGUAGES:
            if getattr(name, language):
                self.field(self.label(f"name_{language}"), getattr(name, language))
        if name.local:
            key = "name_local" if name.local_lang else "name_local_unnamed"
            self.field(self.label(key, lang=name.local_lang), name.local)
        self.field(self.label("country"), self.countries(subject.country))
        address = self._address()
        if address:
            self.field(self.label("address"), address)
        if subject.legal_form:
            self.field(self.label("legal_form"), subject.legal_form)
        self.field(self.label("status"), self.names(_words(ENTITY_STATUS, subject.status)))
        if subject.registration_date:
            self.field(self.label("registration_date"), subject.registration_date)
        profile = self.facts.profile
        self.field(
            self.label("profile"),
            self.label(
                "profile_value", name=profile.name or "—", version=self.facts.profile_version
            ),
        )
        self.h2(self.label("identifiers"))
        for entity in subject.ids:
            register = self._register(entity.scheme, entity.value)
            self.field(
                joined(named(SCHEMES, entity.scheme, column) for column in self.columns),
                entity.value + "\n" + self.lines("register", register=register),
            )

    def _address(self) -> str:
        address = self.facts.profile.subject.address
        full = self.localized(address.full_text)
        parts = [address.street, address.locality, address.region, address.postal_code]
        written = ", ".join(part for part in parts if part)
        if address.country:
            written += (", " if written else "") + self.countries(address.country)
        return joined((full, written if any(parts) else ""), "\n")

    def _register(self, scheme: str, value: str) -> Words:
        if scheme == "AEO":
            code, template = value[:2], REGISTERS["AEO"]
            return _each(
                lambda column: template[column].format(
                    country=country_name(code, LANGUAGES[column])
                )
            )
        return REGISTERS.get(scheme, REGISTER_AS_PUBLISHED)

    def aeo(self) -> None:
        self.h1(self.label("sec_aeo"))
        authorisations = self.facts.profile.aeo
        if not authorisations:
            self.sentence("aeo_none")
        for index, aeo in enumerate(authorisations):
            with self._together():
                self._authorisation(aeo, index)

    def _authorisation(self, aeo: AeoStatus, index: int) -> None:
        number = aeo.authorisation_number
        self.field(self.label("aeo_number"), number, space_before=6.0 if index else 0.0)
        self.field(self.label("aeo_country"), self.countries(aeo.program_country))
        if aeo.type:
            self.field(
                self.label("aeo_type"),
                joined(named(AEO_TYPES, aeo.type, column) for column in self.columns),
            )
        self.field(self.label("aeo_status"), self.names(_words(AEO_STATES, aeo.status)))
        self.field(self.label("aeo_authorised"), self.date_or(aeo.authorised_date))
        self.field(self.label("aeo_valid_until"), self.date_or(aeo.valid_until_date, "open_ended"))
        recognitions = [r for r in self.facts.recognitions if r.aeo_number == number]
        self.h3(self.label("recognitions"), indent=INDENT)
        if not recognitions:
            self.sentence("recognitions_none", indent=INDENT)
        # Countries decided alike (an arrangement with a union decides for each member) share
        # one entry: the outcome, then the countries, then the reason, rule and pack.
        alike: dict[tuple[str, str, str, tuple[str, str, str]], list[str]] = {}
        for recognition in recognitions:
            key = (recognition.outcome, recognition.rule, recognition.rule_pack, recognition.reason)
            alike.setdefault(key, []).append(recognition.importing_country)
        for (outcome, rule, pack, reason), codes in alike.items():
            lines = [
                LIST_SEPARATOR[column].join(
                    f"{country_name(code, LANGUAGES[column])} ({code})" for code in codes
                )
                for column in self.columns
            ]
            for column in self.columns:
                clauses = [say("recognition_rule", column, rule=rule or "—")]
                if pack:
                    clauses.append(say("recognition_pack", column, pack=pack))
                detail = CLAUSE_SEPARATOR[column].join(clauses)
                opening, closing = (p[column] for p in PARENTHESES)
                said = reason[column]
                lines.append(f"{said}{opening}{detail}{closing}" if said else detail)
            self.field(self.label(outcome), joined(lines, "\n"), indent=INDENT)

    def grade(self) -> None:
        profile = self.facts.profile
        self.h1(self.label("sec_grade"))
        grade = profile.common_grade
        if profile.HasField("common_grade") and grade.bucket:
            value = joined(
                (
                    say(
                        "grade_value",
                        column,
                        bucket=named(GRADES, grade.bucket, column),
                        ordinal=grade.ordinal,
                    )
                    + CLAUSE_SEPARATOR[column]
                    + say(
                        "grade_basis",
                        column,
                        scheme=grade.source_scheme or "—",
                        pack=grade.rule_pack or "—",
                    )
                    for column in self.columns
                ),
                "\n",
            )
            self.field(self.label("common_grade"), value)
        else:
            self.sentence("grade_none")
        self.h2(self.label("ratings"))
        if not profile.ratings:
            self.sentence("ratings_none")
        for rating in profile.ratings:
            lines = []
            for column in self.columns:
                clauses = [rating.grade or "—"]
                if rating.issuer:
                    clauses.append(say("rating_issuer", column, issuer=rating.issuer))
                if rating.as_of_date:
                    clauses.append(say("rating_as_of", column, date=rating.as_of_date))
                start, end = rating.valid_from_date, rating.valid_until_date
                if start and end:
                    clauses.append(say("rating_valid", column, start=start, end=end))
                elif start:
                    clauses.append(say("rating_from", column, start=start))
                elif end:
                    clauses.append(say("rating_until", column, end=end))
                lines.append(CLAUSE_SEPARATOR[column].join(clauses))
            self.field(rating.scheme or "—", joined(lines, "\n"))

    # -- public records ------------------------------------------------------------------------

    def records(self) -> None:
        facts = self.facts
        start, end = facts.period_start.isoformat(), facts.period_end.isoformat()
        self.h1(self.label("sec_records", start=start, end=end))
        self.sentence("records_intro", start=start, end=end)
        shown = facts.authorities_shown
        left_out = [kind for kind in _AUTHORITY_TYPES if kind not in shown]
        if left_out:
            self.sentence(
                "records_not_shown",
                purpose=purpose_words(facts.purpose),
                authorities=_listed(AUTHORITIES_IN_TEXT[a] for a in left_out),
            )
        coverage = self._coverage()
        if coverage is None and any(a in shown for a in _AUTHORITY_TYPES):
            reason = (
                _each(
                    lambda column: say(
                        "reason_before", column, source=self._source(column), as_of=self.as_of
                    )
                )
                if self.as_of is not None
                else TEXT["reason_no_date"]
            )
            self.sentence("records_unknown", start=start, end=end, reason=reason)

        in_period = [r for r in facts.profile.public_records if self._in_period(r)]
        grouped: dict[tuple[int, int], list[PublicRecord]] = {}
        for record in in_period:
            grouped.setdefault((_kind(record), _authority(record)), []).append(record)
        kinds = list(_KINDS) + (
            [_UNSPECIFIED_KIND] if any(k == _UNSPECIFIED_KIND for k, _ in grouped) else []
        )
        authorities = list(_AUTHORITY_TYPES) + (
            [_UNSPECIFIED_AUTHORITY] if any(a == _UNSPECIFIED_AUTHORITY for _, a in grouped) else []
        )
        for kind in kinds:
            said = [a for a in authorities if grouped.get((kind, a)) or self._claims(kind, a)]
            if not said:
                continue
            self.h2(self.names(KINDS[kind]))
            for authority in said:
                listed = grouped.get((kind, authority))
                if listed:
                    self._list_records(authority, listed, coverage)
                elif coverage is not None:
                    claim_end, key = coverage
                    self.sentence(
                        "no_record",
                        indent=INDENT,
                        kind=KINDS_IN_TEXT[kind],
                        authority=AUTHORITIES_IN_TEXT[authority],
                        start=start,
                        end=claim_end,
                        coverage=self._coverage_words(key),
                    )

    def _claims(self, kind: int, authority: int) -> bool:
        """Whether the report states that no record of ``kind`` by ``authority`` exists: only
        for the kinds and authority types it reports on, when the view shows that authority's
        records and the data cover part of the period."""
        return (
            kind in _KINDS
            and authority in _AUTHORITY_TYPES
            and authority in self.facts.authorities_shown
            and self._coverage() is not None
        )

    def _coverage(self) -> tuple[str, str] | None:
        """The last day the source's data cover within the period, and which words say so;
        None when they cover none of it (or do not say when they were retrieved)."""
        facts = self.facts
        if self.as_of is None or self.as_of < facts.period_start:
            return None
        if self.as_of >= facts.period_end:
            return facts.period_end.isoformat(), "coverage"
        return self.as_of.isoformat(), "coverage_partial"

    def _coverage_words(self, key: str) -> Words:
        return _each(
            lambda column: say(
                key,
                column,
                source=self._source(column),
                as_of=self.as_of,
                end=self.facts.period_end.isoformat(),
            )
        )

    def _source(self, column: int) -> str:
        return self.source or TEXT["source_unnamed"][column]

    def _in_period(self, record: PublicRecord) -> bool:
        try:
            decided = date.fromisoformat(record.decision_date)
        except ValueError:
            return True  # a date that does not parse may be in the period: listed, not dropped
        return self.facts.period_start <= decided <= self.facts.period_end

    def _list_records(
        self, authority: int, records: list[PublicRecord], coverage: tuple[str, str] | None
    ) -> None:
        if coverage is not None:
            title = self.label(
                "listed_by",
                authority=AUTHORITIES[authority],
                coverage=self._coverage_words(coverage[1]),
            )
        else:
            title = self.names(AUTHORITIES[authority])
        self.h3(title, indent=INDENT)
        for index, record in enumerate(records):
            with self._together():
                self._record(record, authority, index)

    def _record(self, record: PublicRecord, authority: int, index: int) -> None:
        indent = INDENT * 2
        self.field(
            self.label("decision_number"),
            record.decision_number or self.label("not_stated"),
            indent=indent,
            space_before=4.0 if index else 0.0,
        )
        self.field(self.label("decision_date"), self.date_or(record.decision_date), indent=indent)
        self.field(
            self.label("authority"),
            self.localized(record.authority) or self.names(AUTHORITIES[authority]),
            indent=indent,
        )
        summary = self.localized(record.summary)
        if summary:
            self.field(self.label("summary"), summary, indent=indent)
        state = self._state(record)
        if state:
            self.field(self.label("record_state"), state, indent=indent)

    def _state(self, record: PublicRecord) -> str:
        states = []
        if record.dispute_state != DisputeState.DISPUTE_STATE_NONE:
            states.append(self.names(_words(DISPUTE_STATES, record.dispute_state)))
        if record.repair_state != RepairState.REPAIR_STATE_NONE:
            states.append(self.names(_words(REPAIR_STATES, record.repair_state)))
        if record.disclosure_until_date:
            states.append(self.label("disclosed_until", date=record.disclosure_until_date))
        return joined(states, "\n")

    # -- disputes ------------------------------------------------------------------------------

    def disputes(self) -> None:
        profile = self.facts.profile
        self.h1(self.label("sec_disputes"))
        for mark in profile.disputes:
            lines = []
            for column in self.columns:
                fields = (
                    say("dispute_fields", column, fields=", ".join(mark.fields))
                    if mark.fields
                    else TEXT["dispute_fields_outside"][column]
                )
                filed = say(
                    "dispute_value",
                    column,
                    filed=mark.filed_date or TEXT["not_stated"][column],
                    due=mark.due_date or TEXT["not_stated"][column],
                )
                lines.append(filed + CLAUSE_SEPARATOR[column] + fields)
            self.field(mark.dispute or self.label("not_stated"), joined(lines, "\n"))
        under_review = [
            r
            for r in profile.public_records
            if self._in_period(r)
            and (
                r.dispute_state == DisputeState.DISPUTE_STATE_DISPUTED
                or r.repair_state == RepairState.REPAIR_STATE_REQUESTED
            )
        ]
        if under_review:
            self.h2(self.label("under_review"))
        for record in under_review:
            value = joined(
                (
                    record.decision_number or self.label("not_stated"),
                    record.decision_date,
                    self.localized(record.authority),
                    self._state(record),
                ),
                "\n",
            )
            self.field(self.names(KINDS[_kind(record)]), value)
        if not profile.disputes and not under_review:
            self.sentence("disputes_none")

    def about(self) -> None:
        self.h1(self.label("sec_about"))
        self.sentence("about")


def _words(table: dict[int, Words], value: int) -> Words:
    """A value's words; one this build does not know is shown as its number."""
    return table.get(value) or (str(value), str(value), str(value))


def _listed(items: Iterable[Words]) -> Words:
    words = list(items)
    return _each(lambda column: LIST_SEPARATOR[column].join(item[column] for item in words))


def _each(text: Callable[[int], str]) -> Words:
    """Words made the same way in each language."""
    return text(0), text(1), text(2)


def _kind(record: PublicRecord) -> int:
    return record.kind if record.kind in KINDS else _UNSPECIFIED_KIND


def _authority(record: PublicRecord) -> int:
    return record.authority_type if record.authority_type in AUTHORITIES else _UNSPECIFIED_AUTHORITY
