"""The replay store: one-time identifiers (``jti``) remembered until they expire.

A row per identifier in the database, so every replica sees it and a restart forgets nothing;
the primary key makes "first time?" atomic, whichever replica asks first wins.

Every DPoP-bound request brings a new identifier, so one durable commit per identifier would cap
those requests at the database's commit rate (PERFORMANCE.md: ~3k commits/s, one at a time on
SQLite). Identifiers are therefore committed in groups: callers queue theirs, one writer thread
inserts everything queued in a single transaction (``INSERT .. ON CONFLICT DO NOTHING RETURNING``
tells which were new), and each caller gets its answer only once that transaction is durable.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from gateway.storage.database import Database
from gateway.storage.tables import seen_jtis

MAX_KEY_LENGTH = 400
_MAX_GROUP = 500


class ReplayStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(seen_jtis)
        self._queue: queue.SimpleQueue[tuple[str, datetime, Future[bool]] | None] = (
            queue.SimpleQueue()
        )
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def remember(self, key: str, expires_at: float) -> bool:
        """True the first time ``key`` is seen (it is then kept until ``expires_at``, a Unix
        time); False when it was seen before and has not expired. Returns once durable."""
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"replay key longer than {MAX_KEY_LENGTH} characters")
        answer: Future[bool] = Future()
        self._start()
        self._queue.put((key, datetime.fromtimestamp(expires_at, UTC), answer))
        return answer.result()

    def close(self) -> None:
        """Stop the writer after what is queued; later calls start a new one."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(None)
            writer.join()

    def purge(self) -> int:
        """Delete every expired entry; returns how many."""
        with self._db.write() as conn:
            return conn.execute(
                delete(seen_jtis).where(seen_jtis.c.expires_at < datetime.now(UTC))
            ).rowcount

    def _start(self) -> None:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(
                        target=self._run, name="cxg-replay", daemon=True
                    )
                    self._writer.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            # Whatever arrived meanwhile joins this commit; no waiting for more.
            while len(group) < _MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(more)
            self._commit(group)

    def _commit(self, group: list[tuple[str, datetime, Future[bool]]]) -> None:
        first: dict[str, datetime] = {}
        for key, expiry, _ in group:
            first.setdefault(key, expiry)
        try:
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
        except Exception as exc:
            for *_, answer in group:
                answer.set_exception(exc)
            return
        for key, _, answer in group:
            answer.set_result(key in inserted)
            inserted.discard(key)  # a key twice in one group: only its first caller is new
