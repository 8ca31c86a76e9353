"""Disputes and credit repairs in the database.

Each change is one transaction with everything that follows from it: the dispute row (or the
repair row, written in the transaction that stores the repair's new version), the profile's
``marks`` generation (so that every view signed before is stale), the SCO codes a dispute puts
under review or gives back, the outbox events (``gateway/storage/events.py``) and the audit leaf.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from gateway.errors import Conflict
from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.events import (
    DISPUTE_CHANGED,
    RECORD_REPAIRED,
    SCO_STATUS_CHANGED,
    OutboxEvent,
    emit,
)
from gateway.storage.tables import (
    disputes,
    profile_disclosures,
    profiles,
    record_repairs,
    sco_codes,
)

OPEN, CORRECTED, UPHELD, REJECTED = "open", "corrected", "upheld", "rejected"
SUBJECT, RECIPIENT = "subject", "recipient"
# A record as its publisher names it: (PublicRecordKind, decision number, decision date).
RecordKey = tuple[int, str, str]


@dataclass(frozen=True)
class DisputeRow:
    id: str
    profile_id: str
    version: int
    fields: tuple[str, ...]  # JSON pointers into the full view (records named by their key)
    filer_fields: tuple[str, ...]  # as the filer's view showed them
    reason: str
    evidence_sha256: str
    filed_by: str
    filer: str
    publisher: str
    state: str
    filed_at: datetime
    due_date: str
    answered_at: datetime | None = None
    answer_reasons: str | None = None
    corrected_version: int | None = None
    reviewed_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Repair:
    profile_id: str
    record: RecordKey
    repair_date: str
    repair_authority: str
    repair_decision_number: str
    recorded_by: str
    recorded_at: datetime
    customs_record: bool  # the record is in the customs view too


@dataclass(frozen=True)
class Overlay:
    """What a served view of one version shows beyond the stored version: the disputes open
    on it (or on an earlier version) and the records repaired since."""

    disputes: tuple[DisputeRow, ...] = ()
    repaired: frozenset[RecordKey] = frozenset()


NO_OVERLAY = Overlay()


class CorrectionStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)

    # -- disputes -------------------------------------------------------------------------------

    def file(self, dispute: DisputeRow, *, review_codes: bool) -> DisputeRow:
        """Store a new open dispute; with ``review_codes`` the company's valid SCO codes go
        under review until it is answered. One filer has one open dispute per version."""
        with self._db.write() as conn:
            already = conn.execute(
                select(disputes.c.id).where(
                    disputes.c.profile_id == dispute.profile_id,
                    disputes.c.version == dispute.version,
                    disputes.c.filed_by == dispute.filed_by,
                    disputes.c.state == OPEN,
                )
            ).first()
            if already is not None:
                raise Conflict(
                    f"disputes/{already.id} of this filer on this version is still open;"
                    " wait for its answer",
                    field="version",
                )
            reviewed = (
                _move_codes(conn, dispute.profile_id, "valid", "under_review", dispute.filed_at)
                if review_codes
                else []
            )
            dispute = replace(dispute, reviewed_codes=tuple(reviewed))
            conn.execute(insert(disputes).values(**_row(dispute)))
            _bump_marks(conn, dispute.profile_id)
            emit(conn, [_dispute_event(dispute, dispute.filed_at, [dispute.publisher])])
            self._changes.record(
                conn,
                "dispute.filed",
                [f"disputes/{dispute.id}", f"profiles/{dispute.profile_id}"],
                {
                    "version": dispute.version,
                    "fields": list(dispute.filer_fields),
                    "filer": dispute.filer,
                    "evidenceSha256": dispute.evidence_sha256,
                    "dueDate": dispute.due_date,
                    "reviewedCodes": reviewed,
                },
            )
        return dispute

    def answer(
        self,
        dispute_id: str,
        state: str,
        reasons: str,
        corrected_version: int | None,
        at: datetime,
        notify_since: datetime,
    ) -> tuple[DisputeRow, bool] | None:
        """Close an open dispute with the publisher's answer (a compare-and-set: of two answers
        only the first counts). The dispute and whether this call answered it; None if none."""
        with self._db.write() as conn:
            changed = conn.execute(
                update(disputes)
                .where(disputes.c.id == dispute_id, disputes.c.state == OPEN)
                .values(
                    state=state,
                    answered_at=at,
                    answer_reasons=reasons,
                    corrected_version=corrected_version,
                )
            ).rowcount
            row = conn.execute(select(disputes).where(disputes.c.id == dispute_id)).first()
            if row is None:
                return None
            dispute = _dispute(row)
            if not changed:
                return dispute, False
            # Codes this dispute put under review are valid again, unless another open dispute
            # holds them too (or their issuer has changed them since).
            others = conn.execute(
                select(disputes.c.reviewed_codes).where(
                    disputes.c.profile_id == dispute.profile_id, disputes.c.state == OPEN
                )
            )
            held = {code for (codes,) in others for code in codes}
            given_back = _move_codes(
                conn,
                dispute.profile_id,
                "under_review",
                "valid",
                at,
                only=[c for c in dispute.reviewed_codes if c not in held],
            )
            _bump_marks(conn, dispute.profile_id)
            event = _dispute_event(dispute, at, [dispute.filed_by, dispute.publisher])
            # Every partner that received the disputed version (or a later one, which showed
            # the mark) in the look-back is told, subscribed or not.
            event.detail["notify"] = {
                "since": notify_since.isoformat(),
                "fromVersion": dispute.version,
            }
            emit(conn, [event])
            self._changes.record(
                conn,
                "dispute.answered",
                [f"disputes/{dispute.id}", f"profiles/{dispute.profile_id}"],
                {
                    "state": state,
                    "reasons": reasons,
                    "correctedVersion": corrected_version or 0,
                    "codesGivenBack": given_back,
                },
            )
        return dispute, True

    def get(self, dispute_id: str) -> DisputeRow | None:
        rows = self._db.read(select(disputes).where(disputes.c.id == dispute_id))
        return _dispute(rows[0]) if rows else None

    def find(
        self,
        *,
        party: str | None,
        profile_id: str,
        open_only: bool,
        due_before: date | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[DisputeRow]:
        """Disputes newest first: those ``party`` filed or must answer (None: all), about
        ``profile_id`` (empty: any), open only, open and due before ``due_before``, and after
        the page cursor ``before`` (filing time, id)."""
        query = select(disputes).order_by(disputes.c.filed_at.desc(), disputes.c.id.desc())
        if party is not None:
            query = query.where(or_(disputes.c.filed_by == party, disputes.c.publisher == party))
        if profile_id:
            query = query.where(disputes.c.profile_id == profile_id)
        if open_only or due_before is not None:
            query = query.where(disputes.c.state == OPEN)
        if due_before is not None:
            query = query.where(disputes.c.due_date < due_before.isoformat())
        if before is not None:
            at, last = before
            query = query.where(
                or_(
                    disputes.c.filed_at < at,
                    and_(disputes.c.filed_at == at, disputes.c.id < last),
                )
            )
        return [_dispute(row) for row in self._db.read(query.limit(limit))]

    def received(self, partner_id: str, profile_id: str, version: int) -> list[str]:
        """The purposes under which the partner received the version (from the audit log's
        disclosures), the last one first."""
        rows = self._db.read(
            select(profile_disclosures.c.purpose)
            .where(
                profile_disclosures.c.partner_id == partner_id,
                profile_disclosures.c.profile_id == profile_id,
                profile_disclosures.c.version == version,
            )
            .order_by(profile_disclosures.c.id.desc())
            .limit(100)
        )
        return list(dict.fromkeys(row.purpose for row in rows))

    # -- what served views show -----------------------------------------------------------------

    def overlay(self, profile_id: str, version: int) -> Overlay:
        open_disputes = self._db.read(
            select(disputes)
            .where(
                disputes.c.profile_id == profile_id,
                disputes.c.state == OPEN,
                disputes.c.version <= version,
            )
            .order_by(disputes.c.filed_at, disputes.c.id)
        )
        repaired = self._db.read(
            select(
                record_repairs.c.kind,
                record_repairs.c.decision_number,
                record_repairs.c.decision_date,
            ).where(record_repairs.c.profile_id == profile_id)
        )
        return Overlay(
            tuple(_dispute(row) for row in open_disputes),
            frozenset((r.kind, r.decision_number, r.decision_date) for r in repaired),
        )


def write_repair(
    conn: Connection, changes: ChangeLog, repair: Repair, version: int, notify_since: datetime
) -> None:
    """Record a repair in the transaction that stores its new version (``version``)."""
    kind, number, decided = repair.record
    conn.execute(
        insert(record_repairs).values(
            profile_id=repair.profile_id,
            kind=kind,
            decision_number=number,
            decision_date=decided,
            repair_date=repair.repair_date,
            repair_authority=repair.repair_authority,
            repair_decision_number=repair.repair_decision_number,
            version=version,
            recorded_by=repair.recorded_by,
            recorded_at=repair.recorded_at,
        )
    )
    _bump_marks(conn, repair.profile_id)
    detail: dict[str, Any] = {
        "record": {"kind": kind, "decisionNumber": number, "decisionDate": decided},
        "customsRecord": repair.customs_record,
        "repairDate": repair.repair_date,
        "repairAuthority": repair.repair_authority,
        "repairDecisionNumber": repair.repair_decision_number,
        # Every partner that received the profile (any version before this one) in the
        # look-back is told, subscribed or not.
        "notify": {"since": notify_since.isoformat(), "fromVersion": 1},
    }
    emit(
        conn,
        [OutboxEvent(0, RECORD_REPAIRED, repair.profile_id, version, detail, repair.recorded_at)],
    )
    changes.record(
        conn,
        "record.repaired",
        [f"profiles/{repair.profile_id}"],
        {k: v for k, v in detail.items() if k != "notify"} | {"version": version},
    )


def _dispute_event(dispute: DisputeRow, at: datetime, partners: list[str]) -> OutboxEvent:
    detail: dict[str, Any] = {
        "dispute": f"disputes/{dispute.id}",
        "state": dispute.state,
        "dueDate": dispute.due_date,
        "notifyPartners": sorted(set(partners)),
    }
    return OutboxEvent(0, DISPUTE_CHANGED, dispute.profile_id, dispute.version, detail, at)


def _bump_marks(conn: Connection, profile_id: str) -> None:
    conn.execute(
        update(profiles).where(profiles.c.id == profile_id).values(marks=profiles.c.marks + 1)
    )


def _move_codes(
    conn: Connection,
    profile_id: str,
    source: str,
    target: str,
    at: datetime,
    *,
    only: list[str] | None = None,
) -> list[str]:
    """Move the company's codes in state ``source`` (those of ``only``, when given) to
    ``target``, each with its SCO status event; the codes moved."""
    if only is not None and not only:
        return []
    query = select(sco_codes.c.code_id).where(
        sco_codes.c.profile_id == profile_id, sco_codes.c.state == source
    )
    if only is not None:
        query = query.where(sco_codes.c.code_id.in_(only))
    moved = sorted(row.code_id for row in conn.execute(query.with_for_update()))
    if moved:
        conn.execute(
            update(sco_codes)
            .where(sco_codes.c.code_id.in_(moved), sco_codes.c.state == source)
            .values(state=target, changed_at=at)
        )
        emit(
            conn,
            [
                OutboxEvent(
                    0,
                    SCO_STATUS_CHANGED,
                    profile_id,
                    0,
                    {"code": f"scoCodes/{code}", "previous": source, "current": target},
                    at,
                )
                for code in moved
            ],
        )
    return moved


def _row(dispute: DisputeRow) -> dict[str, Any]:
    return {
        "id": dispute.id,
        "profile_id": dispute.profile_id,
        "version": dispute.version,
        "fields": list(dispute.fields),
        "filer_fields": list(dispute.filer_fields),
        "reason": dispute.reason,
        "evidence_sha256": dispute.evidence_sha256,
        "filed_by": dispute.filed_by,
        "filer": dispute.filer,
        "publisher": dispute.publisher,
        "state": dispute.state,
        "filed_at": dispute.filed_at,
        "due_date": dispute.due_date,
        "answered_at": dispute.answered_at,
        "answer_reasons": dispute.answer_reasons,
        "corrected_version": dispute.corrected_version,
        "reviewed_codes": list(dispute.reviewed_codes),
    }


def _dispute(row: Any) -> DisputeRow:
    return DisputeRow(
        id=row.id,
        profile_id=row.profile_id,
        version=row.version,
        fields=tuple(row.fields),
        filer_fields=tuple(row.filer_fields),
        reason=row.reason,
        evidence_sha256=row.evidence_sha256,
        filed_by=row.filed_by,
        filer=row.filer,
        publisher=row.publisher,
        state=row.state,
        filed_at=row.filed_at,
        due_date=row.due_date,
        answered_at=row.answered_at,
        answer_reasons=row.answer_reasons,
        corrected_version=row.corrected_version,
        reviewed_codes=tuple(row.reviewed_codes),
    )
