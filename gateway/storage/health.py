"""Whether the database answers, as the gateway last found it.

A database that cannot be reached, or does not answer within its timeout, is an outage, not a
bug: requests that need it are answered 503 / UNAVAILABLE with a Retry-After, never 500 with a
traceback. ``outage`` turns such a failure into that error and marks the database down; a
watcher pings it every second and marks it up again once it answers. Each change of state is
logged once and told to the listeners (gRPC health), however many requests meet the outage.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.errors import DatabaseUnavailable
from gateway.observe import metrics

_log = logging.getLogger("cxg.database")

# PostgreSQL's query_canceled (statement_timeout) and lock_not_available (lock_timeout).
_TIMEOUT_SQLSTATES = ("57014", "55P03")

# What a database that is down, stalled or locked raises through SQLAlchemy. Driver-level
# errors of the same kinds (OperationalError, InterfaceError in DB-API terms) are added by the
# Database that knows its driver.
SQLALCHEMY_OUTAGES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
)


# SQLite result codes (the primary code, the low byte of an extended one) of a database that is
# busy, locked, out of memory or disk, read-only, interrupted, unreadable or corrupt. Any other
# (SQLITE_ERROR: a syntax error, too many variables, a missing table) is the statement's.
_SQLITE_OUTAGES = frozenset({5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26})
# SQLSTATE classes of errors of the statement or its data, never of the server's health.
_STATEMENT_CLASSES = frozenset({"21", "22", "23", "42", "44"})


def is_statement_error(exc: BaseException) -> bool:
    """Whether an error of an outage's type (OperationalError) was the statement's own fault,
    by the driver's result code: a bug to report, not a database to mark down."""
    raised = getattr(exc, "orig", None) or exc
    sqlite_code = getattr(raised, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return (sqlite_code & 0xFF) not in _SQLITE_OUTAGES
    state = getattr(raised, "sqlstate", None)
    return isinstance(state, str) and state[:2] in _STATEMENT_CLASSES


class DatabaseHealth:
    def __init__(self, ping: Callable[[], None], *, timeout: float) -> None:
        self._ping = ping
        self._timeout = timeout
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._listeners: list[Callable[[bool], None]] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._down_since is None

    def outage(self, cause: BaseException | str) -> DatabaseUnavailable:
        """Mark the database down for ``cause`` a request met; returns the error to answer the
        request with (it names the kind of failure, never the database's own message)."""
        metrics.database_errors.labels(_kind(cause, known_down=not self.available)).inc()
        self._set(False, _reason(cause))
        told = cause if isinstance(cause, str) else type(cause).__name__
        return DatabaseUnavailable(f"the database is unavailable ({told}); retry later")

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(available)`` on every change of state, from whichever thread saw it."""
        self._listeners.append(listener)

    def watch(self, every: float = 1.0) -> None:
        """Ping the database every ``every`` seconds, in a thread of its own, while serving."""
        self._stop.clear()
        self._watcher = threading.Thread(
            target=self._watch, args=(every,), name="cxg-database-health", daemon=True
        )
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def _watch(self, every: float) -> None:
        # The ping runs in a thread of its own: a stalled database blocks it, not the watcher,
        # which marks the database down at the timeout and keeps waiting for that same ping.
        pinger = ThreadPoolExecutor(1, thread_name_prefix="cxg-database-ping")
        pending: Future[None] | None = None
        try:
            while not self._stop.wait(every):
                pending = pending or pinger.submit(self._ping)
                try:
                    pending.result(timeout=self._timeout)
                # The watcher's own failures mark the database down without counting as errors
                # met by requests: an outage would otherwise count one a second, traffic or not.
                except FutureTimeout:
                    self._set(False, f"no answer to a ping within {self._timeout:g} s")
                    continue
                except Exception as exc:  # the ping's own failure: its kind is the reason
                    pending = None
                    self._set(False, _reason(exc.__cause__ or exc))
                    continue
                pending = None
                self._set(True, "")
        finally:
            pinger.shutdown(wait=False)

    def _set(self, available: bool, reason: str) -> None:
        with self._lock:
            if self.available == available:
                return
            down_since, self._down_since = self._down_since, None if available else time.monotonic()
            metrics.database_up.set(1 if available else 0)
        if available:
            assert down_since is not None
            _log.warning("database available again after %.1f s", time.monotonic() - down_since)
        else:
            _log.error(
                "database unavailable (%s): requests that need it are answered 503 / "
                "UNAVAILABLE until it answers a ping again",
                reason,
            )
        for listener in self._listeners:
            try:
                listener(available)
            except Exception:  # a listener's failure must not hide the outage from the others
                _log.exception("a database health listener failed")


def _reason(cause: BaseException | str) -> str:
    """What the log says of a failure: its kind and the first line of its message."""
    if isinstance(cause, str):
        return cause
    if isinstance(cause, DBAPIError) and cause.orig is not None:
        return f"{type(cause.orig).__name__}: {_first_line(cause.orig)}"
    return f"{type(cause).__name__}: {_first_line(cause)}"


def _kind(cause: BaseException | str, *, known_down: bool) -> str:
    """The ``kind`` label of a failure, one of a fixed few: "timeout" (no answer within a
    deadline, a lock or statement timeout), "pool_timeout" (no pooled connection came free in
    time), or "unavailable" (refused, dropped, or a request that found it known down)."""
    if isinstance(cause, PoolTimeout):
        return "pool_timeout"
    if isinstance(cause, str):
        # Told as text: a deadline that passed, or a request that did not even try because
        # the database is known to be down.
        return "unavailable" if known_down else "timeout"
    error = cause.orig if isinstance(cause, DBAPIError) else cause
    if (
        getattr(error, "sqlstate", None) in _TIMEOUT_SQLSTATES
        or getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
    ):
        return "timeout"
    return "unavailable"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]
