"""The refusal log: one row per refused request, append-only, listed newest first by id."""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import insert, select

from gateway.storage.database import Database
from gateway.storage.tables import refusals


@dataclass(frozen=True)
class RefusalRow:
    id: int | None  # None until stored
    at: datetime
    partner_id: str | None  # None when the caller was not authenticated
    operation: str
    transport: str
    reason: str
    detail: str
    field: str | None


class RefusalStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, rows: builtins.list[RefusalRow]) -> None:
        """Store ``rows`` in one transaction (the log writes them in batches)."""
        if rows:
            values = [{k: v for k, v in asdict(row).items() if k != "id"} for row in rows]
            with self._db.write() as conn:
                conn.execute(insert(refusals), values)

    def list(
        self, *, partner_id: str | None, before_id: int | None, limit: int
    ) -> builtins.list[RefusalRow]:
        """Up to ``limit`` refusals, newest first: only ``partner_id``'s when given, and only
        those older than ``before_id`` (the last of the previous page) when given."""
        query = select(refusals).order_by(refusals.c.id.desc()).limit(limit)
        if partner_id is not None:
            query = query.where(refusals.c.partner_id == partner_id)
        if before_id is not None:
            query = query.where(refusals.c.id < before_id)
        return [RefusalRow(**row._mapping) for row in self._db.read(query)]
