"""Rule packs as activated: the operator-signed file by its SHA-256, and which are active."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, text, update

from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.tables import rule_packs


@dataclass(frozen=True)
class StoredPack:
    sha256: str
    pack_id: str
    version: str
    jws: str
    activated_at: datetime
    active: bool


class RulePackStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)

    def activate(
        self,
        sha256: str,
        pack_id: str,
        version: str,
        jws: str,
        at: datetime,
        check: Callable[[list[StoredPack]], None],
    ) -> None:
        """Make this pack the active version of its id, in one transaction, once ``check``
        (which raises to refuse) has seen the active packs; activating a stored pack again (a
        roll-back to it) makes it active again. Activations take turns, so two overlapping
        packs cannot both pass their checks."""
        with self._db.write() as conn:
            if not self._db.is_sqlite:  # SQLite's write transaction already excludes others
                conn.execute(text("LOCK TABLE rule_packs IN SHARE ROW EXCLUSIVE MODE"))
            active = conn.execute(select(rule_packs).where(rule_packs.c.active))
            check([StoredPack(**row._mapping) for row in active])
            conn.execute(
                update(rule_packs)
                .where(rule_packs.c.pack_id == pack_id, rule_packs.c.active)
                .values(active=False)
            )
            stored = conn.execute(
                update(rule_packs)
                .where(rule_packs.c.sha256 == sha256)
                .values(active=True, activated_at=at)
            ).rowcount
            if not stored:
                conn.execute(
                    insert(rule_packs).values(
                        sha256=sha256, pack_id=pack_id, version=version, jws=jws,
                        activated_at=at, active=True,
                    )
                )  # fmt: skip
            self._changes.record(
                conn,
                "rules.activate",
                [f"rulePacks/{sha256}"],
                {"pack_id": pack_id, "version": version},
            )

    def active(self) -> list[StoredPack]:
        query = select(rule_packs).where(rule_packs.c.active).order_by(rule_packs.c.pack_id)
        return [StoredPack(**row._mapping) for row in self._db.read(query)]

    def get(self, sha256: str) -> StoredPack | None:
        rows = self._db.read(select(rule_packs).where(rule_packs.c.sha256 == sha256))
        return StoredPack(**rows[0]._mapping) if rows else None
