"""Consent repository: consents SME portals record for their companies, and the one lookup that
decides whether a request citing a consent may go ahead.

A consent row is never deleted; revoking stamps ``revoked_at`` once, so the record of what was
allowed, to whom and until when survives the revocation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update

from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.tables import consents


@dataclass(frozen=True)
class ConsentRow:
    id: str
    profile_id: str
    subject_scheme: str
    subject_value: str
    grantee: str
    purpose: str
    granted_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


_COLUMNS = [consents.c[f.name] for f in fields(ConsentRow)]

_by_id = select(*_COLUMNS).where(consents.c.id == bindparam("id"))

# Every condition of a valid consent in one statement on the primary key: a request that needs
# consent pays a single indexed lookup, and no row can pass half of the checks.
_valid = select(consents.c.id).where(
    consents.c.id == bindparam("id"),
    consents.c.grantee == bindparam("grantee"),
    consents.c.profile_id == bindparam("profile_id"),
    consents.c.purpose == bindparam("purpose"),
    consents.c.revoked_at.is_(None),
    consents.c.expires_at > bindparam("at"),
)


class ConsentStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)

    def add(self, row: ConsentRow) -> None:
        with self._db.write() as conn:
            conn.execute(insert(consents).values(**asdict(row)))
            self._changes.record(
                conn,
                "consent.grant",
                [f"consents/{row.id}", f"profiles/{row.profile_id}"],
                {
                    "grantee": row.grantee,
                    "purpose": row.purpose,
                    "expires_at": row.expires_at.isoformat(),
                },
            )

    def get(self, consent_id: str) -> ConsentRow | None:
        rows = self._db.read(_by_id, {"id": consent_id})
        return _row(rows[0]) if rows else None

    def revoke(self, consent_id: str, at: datetime) -> ConsentRow | None:
        """Revoke at ``at`` unless already revoked (the first time stays on record); the consent
        as it now stands, None when there is none."""
        with self._db.write() as conn:
            revoked = conn.execute(
                update(consents)
                .where(consents.c.id == consent_id, consents.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            found = conn.execute(_by_id, {"id": consent_id}).first()
            if revoked.rowcount:
                self._changes.record(conn, "consent.revoke", [f"consents/{consent_id}"])
        return _row(found) if found else None

    def list_for(
        self, partner_id: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> list[ConsentRow]:
        """Consents the partner granted or received, newest first (ties by id, so a page
        boundary never splits or repeats consents recorded at the same instant), those before
        the ``(created_at, id)`` cursor when given."""
        query = select(*_COLUMNS).where(
            or_(consents.c.granted_by == partner_id, consents.c.grantee == partner_id)
        )
        if before is not None:
            created_at, consent_id = before
            query = query.where(
                or_(
                    consents.c.created_at < created_at,
                    and_(consents.c.created_at == created_at, consents.c.id < consent_id),
                )
            )
        query = query.order_by(consents.c.created_at.desc(), consents.c.id.desc()).limit(limit)
        return [_row(row) for row in self._db.read(query)]

    def valid(
        self, consent_id: str, grantee: str, profile_id: str, purpose: str, at: datetime
    ) -> bool:
        """True when the consent lets ``grantee`` see the profile for ``purpose`` at ``at``:
        neither revoked nor expired."""
        params = {
            "id": consent_id,
            "grantee": grantee,
            "profile_id": profile_id,
            "purpose": purpose,
            "at": at,
        }
        return bool(self._db.read(_valid, params))


def _row(row: Any) -> ConsentRow:
    # The statements select exactly the dataclass's fields, in order.
    return ConsentRow(*row)
