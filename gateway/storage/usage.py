"""Daily request counts per partner and UTC day (``quota_usage``), summed over every replica.

A replica adds what it counted since its last flush and reads the new total back in the same
statement: one atomic upsert, so concurrent replicas never overwrite each other's counts.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Table, delete
from sqlalchemy.dialects import postgresql, sqlite

from gateway.storage.database import Database
from gateway.storage.tables import quota_usage

_INSERTS: dict[str, Callable[[Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


class UsageStore:
    def __init__(self, db: Database) -> None:
        dialect = db.engine.dialect.name
        if dialect not in _INSERTS:
            raise ValueError(f"quota usage needs SQLite or PostgreSQL, not {dialect}")
        self._db = db
        self._insert = _INSERTS[dialect]

    def add(self, partner_id: str, day: str, delta: int) -> int:
        """Add ``delta`` requests to the partner's count for ``day`` (``YYYY-MM-DD``, UTC);
        returns the day's total over every replica, this addition included."""
        statement = self._insert(quota_usage).values(partner_id=partner_id, day=day, requests=delta)
        statement = statement.on_conflict_do_update(
            index_elements=[quota_usage.c.partner_id, quota_usage.c.day],
            set_={"requests": quota_usage.c.requests + statement.excluded.requests},
        )
        with self._db.write() as conn:
            return int(conn.execute(statement.returning(quota_usage.c.requests)).scalar_one())

    def purge(self, before_day: str) -> int:
        """Delete the counts of every day before ``before_day``; returns how many rows."""
        with self._db.write() as conn:
            return conn.execute(delete(quota_usage).where(quota_usage.c.day < before_day)).rowcount
