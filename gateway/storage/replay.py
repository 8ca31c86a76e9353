"""The replay store: one-time identifiers (``jti``) remembered until they expire.

A row per identifier in the database, so every replica sees it and a restart forgets nothing;
the primary key makes "first time?" atomic, whichever replica asks first wins.

Every DPoP-bound request brings a new identifier, so one durable commit per identifier would cap
those requests at the database's commit rate (PERFORMANCE.md: ~3k commits/s, one at a time on
SQLite). Identifiers are therefore group-committed (``_group.py``): one transaction inserts what
is queued (``INSERT .. ON CONFLICT DO NOTHING RETURNING`` tells which were new), and each caller
gets its answer only once that transaction is durable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from gateway.storage._group import GroupCommitter
from gateway.storage.database import Database
from gateway.storage.tables import seen_jtis

MAX_KEY_LENGTH = 400


class ReplayStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(seen_jtis)
        self._group: GroupCommitter[tuple[str, datetime], bool] = GroupCommitter(self._commit)

    def remember(self, key: str, expires_at: float) -> bool:
        """True the first time ``key`` is seen (it is then kept until ``expires_at``, a Unix
        time); False when it was seen before and has not expired. Returns once durable."""
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"replay key longer than {MAX_KEY_LENGTH} characters")
        return self._group.run((key, datetime.fromtimestamp(expires_at, UTC)))

    def purge(self) -> int:
        """Delete every expired entry; returns how many."""
        with self._db.write() as conn:
            return conn.execute(
                delete(seen_jtis).where(seen_jtis.c.expires_at < datetime.now(UTC))
            ).rowcount

    def _commit(self, group: list[tuple[str, datetime]]) -> list[bool]:
        first: dict[str, datetime] = {}
        for key, expiry in group:
            first.setdefault(key, expiry)
        with self._db.write() as conn:
            # An expired entry of the same key no longer blocks it; old entries go with it.
            conn.execute(
                delete(seen_jtis).where(
                    seen_jtis.c.key.in_(first), seen_jtis.c.expires_at < datetime.now(UTC)
                )
            )
            rows: list[dict[str, Any]] = [
                {"key": key, "expires_at": expiry} for key, expiry in first.items()
            ]
            inserted = set(
                conn.execute(
                    self._insert.values(rows)
                    .on_conflict_do_nothing(index_elements=["key"])
                    .returning(seen_jtis.c.key)
                ).scalars()
            )
        answers = []
        for key, _ in group:
            answers.append(key in inserted)
            inserted.discard(key)  # a key twice in one group: only its first caller is new
        return answers
