"""Credit reports issued by this gateway: the signed document, its digest and its state.

Issuing and revoking append their change leaf in the same transaction (``ChangeLog``), so a
report exists exactly when the audit log says it was issued, and is revoked exactly when the log
says so.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from datetime import datetime

from sqlalchemy import insert, select, update

from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.tables import profiles, reports


@dataclass(frozen=True)
class StoredReport:
    id: str
    profile_id: str
    profile_version: int
    subject_scheme: str
    subject_value: str
    purpose: str
    language: str
    period_start: str
    period_end: str
    requested_by: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoke_reason: str
    sha256: str
    size_bytes: int
    pdf: bytes  # b"" when read without the document


_WITHOUT_PDF = [c for c in reports.c if c.name != "pdf"]
_FIELDS = tuple(f.name for f in fields(StoredReport))


def _report(row: object, *, with_pdf: bool) -> StoredReport:
    values = dict(row._mapping)  # type: ignore[attr-defined]
    if not with_pdf:
        values["pdf"] = b""
    return StoredReport(**{name: values[name] for name in _FIELDS})


class ReportStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)

    def add(self, report: StoredReport) -> None:
        """Store an issued report with the leaf that records it (naming its digest)."""
        with self._db.write() as conn:
            conn.execute(insert(reports).values(**asdict(report)))
            self._changes.record(
                conn,
                "report.issue",
                [
                    f"reports/{report.id}",
                    f"profiles/{report.profile_id}/versions/{report.profile_version}",
                ],
                {
                    "sha256": report.sha256,
                    "purpose": report.purpose,
                    "requested_by": report.requested_by,
                    "expires_at": report.expires_at.isoformat(),
                },
            )

    def get(self, report_id: str, *, with_pdf: bool = False) -> StoredReport | None:
        columns = list(reports.c) if with_pdf else _WITHOUT_PDF
        rows = self._db.read(select(*columns).where(reports.c.id == report_id))
        return _report(rows[0], with_pdf=with_pdf) if rows else None

    def by_digest(self, sha256: str) -> StoredReport | None:
        rows = self._db.read(select(*_WITHOUT_PDF).where(reports.c.sha256 == sha256))
        return _report(rows[0], with_pdf=False) if rows else None

    def revoke(self, report_id: str, at: datetime, reason: str) -> tuple[StoredReport, bool] | None:
        """Revoke unless revoked already (a compare-and-set: of two revocations one writes).
        The report and whether this call revoked it; None if there is no such report."""
        with self._db.write() as conn:
            changed = conn.execute(
                update(reports)
                .where(reports.c.id == report_id, reports.c.revoked_at.is_(None))
                .values(revoked_at=at, revoke_reason=reason)
            ).rowcount
            if changed:
                self._changes.record(
                    conn, "report.revoke", [f"reports/{report_id}"], {"reason": reason}
                )
            rows = conn.execute(select(*_WITHOUT_PDF).where(reports.c.id == report_id)).all()
        return (_report(rows[0], with_pdf=False), bool(changed)) if rows else None

    def page(
        self,
        *,
        profile_id: str | None,
        requested_by: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[StoredReport]:
        """Reports about a profile or asked for by a partner, newest first, from ``before``."""
        query = select(*_WITHOUT_PDF)
        if profile_id is not None:
            query = query.where(reports.c.profile_id == profile_id)
        if requested_by is not None:
            query = query.where(reports.c.requested_by == requested_by)
        if before is not None:
            at, report_id = before
            query = query.where(
                (reports.c.issued_at < at)
                | ((reports.c.issued_at == at) & (reports.c.id < report_id))
            )
        query = query.order_by(reports.c.issued_at.desc(), reports.c.id.desc()).limit(limit)
        return [_report(row, with_pdf=False) for row in self._db.read(query)]

    def latest_versions(self, profile_ids: Collection[str]) -> dict[str, int]:
        """The profiles' newest versions now (what tells a report superseded)."""
        rows = self._db.read(
            select(profiles.c.id, profiles.c.latest_version).where(
                profiles.c.id.in_(list(profile_ids))
            )
        )
        return {row.id: int(row.latest_version) for row in rows}
