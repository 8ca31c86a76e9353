"""The replay store: one-time identifiers (``jti``) remembered until they expire.

A row per identifier in the database, so every replica sees it and a restart forgets nothing;
the primary key makes "first time?" one atomic insert, whichever replica asks first wins.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from gateway.storage.database import Database
from gateway.storage.tables import seen_jtis

MAX_KEY_LENGTH = 400


class ReplayStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def remember(self, key: str, expires_at: float) -> bool:
        """True the first time ``key`` is seen (it is then kept until ``expires_at``, a Unix
        time); False when it was seen before and has not expired."""
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"replay key longer than {MAX_KEY_LENGTH} characters")
        now = datetime.now(UTC)
        expiry = datetime.fromtimestamp(expires_at, UTC)
        try:
            with self._db.write() as conn:
                # An expired entry of the same key no longer blocks it; old entries go with it.
                conn.execute(
                    delete(seen_jtis).where(seen_jtis.c.key == key, seen_jtis.c.expires_at < now)
                )
                conn.execute(insert(seen_jtis).values(key=key, expires_at=expiry))
        except IntegrityError:
            return False
        return True

    def purge(self) -> int:
        """Delete every expired entry; returns how many."""
        with self._db.write() as conn:
            return conn.execute(
                delete(seen_jtis).where(seen_jtis.c.expires_at < datetime.now(UTC))
            ).rowcount
