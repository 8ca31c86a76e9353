"""The replay store: one-time identifiers (``jti``) remembered until they expire.

A row per identifier in the database, so every replica sees it and a restart forgets nothing;
the primary key makes "first time?" atomic, whichever replica asks first wins.

Every DPoP-bound request brings a new identifier, so one durable commit per identifier would cap
those requests at the database's commit rate (PERFORMANCE.md: ~3k commits/s, one at a time on
SQLite). Identifiers are therefore group-committed (``_group.py``): one transaction inserts what
is queued (``INSERT .. ON CONFLICT .. RETURNING`` tells which were new; an expired entry of the
same key is overwritten), and each caller gets its answer only once that transaction is durable.
The statements are compiled once per chunk size and run on the driver's cursor: compiling a
statement of each group's own size cost more than the commit (bench_real.py's DPoP profile).

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

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from gateway.errors import QuotaExceeded
from gateway.storage._group import GroupCommitter
from gateway.storage.database import Database, DriverStatement
from gateway.storage.tables import seen_jtis

MAX_KEY_LENGTH = 400


class ReplayStore:
    # Keys per statement: groups are split into power-of-two chunks, each size compiled once.
    _MAX_CHUNK = 64

    def __init__(self, db: Database) -> None:
        self._db = db
        self._dialect_insert = sqlite.insert if db.is_sqlite else postgresql.insert
        self._chunks: dict[int, DriverStatement] = {}
        stored_time = seen_jtis.c.expires_at.type.bind_processor(db.engine.dialect)
        self._stored_time: Callable[[datetime], Any] = stored_time or (lambda at: at)
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
        keys = list(first.items())
        now = self._stored_time(datetime.now(UTC))
        inserted: set[str] = set()
        with self._db.driver_write() as cursor:
            start = 0
            while start < len(keys):
                size = min(1 << ((len(keys) - start).bit_length() - 1), self._MAX_CHUNK)
                params: dict[str, Any] = {"now": now}
                for i, (key, expiry) in enumerate(keys[start : start + size]):
                    params[f"key_{i}"], params[f"expires_at_{i}"] = key, self._stored_time(expiry)
                self._chunk(size).execute(cursor, params)
                inserted.update(row[0] for row in cursor.fetchall())
                start += size
        answers = []
        for key, _ in group:
            answers.append(key in inserted)
            inserted.discard(key)  # a key twice in one group: only its first caller is new
        return answers

    def _chunk(self, size: int) -> DriverStatement:
        """Insert ``size`` keys; an entry of the same key that expired before ``now`` is
        overwritten (it no longer blocks the key); returns the keys inserted or overwritten."""
        statement = self._chunks.get(size)
        if statement is None:
            rows: list[dict[str, Any]] = [
                {"key": bindparam(f"key_{i}"), "expires_at": bindparam(f"expires_at_{i}")}
                for i in range(size)
            ]
            upsert = self._dialect_insert(seen_jtis).values(rows)
            statement = self._db.compile(
                upsert.on_conflict_do_update(
                    index_elements=["key"],
                    set_={"expires_at": upsert.excluded.expires_at},
                    where=seen_jtis.c.expires_at < bindparam("now"),
                ).returning(seen_jtis.c.key)
            )
            self._chunks[size] = statement
        return statement


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
