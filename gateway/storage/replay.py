"""The replay store: one-time identifiers (``jti``) remembered until they expire.

A row per identifier in the database, so every replica sees it and a restart forgets nothing;
the primary key makes "first time?" atomic, whichever replica asks first wins.

Every DPoP-bound request brings a new identifier, so one durable commit per identifier would cap
those requests at the database's commit rate (PERFORMANCE.md: ~3k commits/s, one at a time on
SQLite). Identifiers are therefore group-committed (``_group.py``): one transaction inserts what
is queued (``INSERT .. ON CONFLICT DO NOTHING RETURNING`` tells which were new), and each caller
gets its answer only once that transaction is durable.

``LocalReplayStore`` keeps identifiers in this process only: for DPoP proofs that carry a server
nonce, when the operator chose not to share their ``jti``s (``CXG_DPOP_NONCE_REPLAY=local``).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from gateway.errors import QuotaExceeded
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


class LocalReplayStore:
    """Identifiers remembered in this process's memory until they expire, at most ``capacity``
    at once. Full, it refuses (``QuotaExceeded``, retry in a second) rather than forget an
    identifier that has not expired: a forgotten one could be replayed."""

    def __init__(self, capacity: int = 200_000, clock: Callable[[], float] = time.time) -> None:
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []  # (expires_at, key), soonest first

    def remember(self, key: str, expires_at: float) -> bool:
        """As ``ReplayStore.remember``, for this process only."""
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"replay key longer than {MAX_KEY_LENGTH} characters")
        with self._lock:
            now = self._clock()
            while self._queue and self._queue[0][0] < now:
                expired, old = heapq.heappop(self._queue)
                if self._expiry.get(old) == expired:
                    del self._expiry[old]
            known = self._expiry.get(key)
            if known is not None and known >= now:
                return False
            if len(self._expiry) >= self._capacity:
                raise QuotaExceeded(
                    "too many DPoP proofs in flight on this replica; retry", retry_after=1
                )
            self._expiry[key] = expires_at
            heapq.heappush(self._queue, (expires_at, key))
            return True

    def __len__(self) -> int:
        return len(self._expiry)
