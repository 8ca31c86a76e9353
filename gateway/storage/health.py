"""Whether the database answers, as the gateway last found it.

A database that cannot be reached, or does not answer within its timeout, is an outage, not a
bug: requests that need it are answered 503 / UNAVAILABLE with a Retry-After, never 500 with a
traceback. ``outage`` turns such a failure into that error and marks the database down; a
watcher pings it every second and marks it up again once it answers. Each change of state is
logged once and told to the listeners (gRPC health), however many requests meet the outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.errors import DatabaseUnavailable

_log = logging.getLogger("cxg.database")

# What a database that is down, stalled or locked raises through SQLAlchemy. Driver-level
# errors of the same kinds (OperationalError, InterfaceError in DB-API terms) are added by the
# Database that knows its driver.
SQLALCHEMY_OUTAGES: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
)


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
        """Mark the database down for ``cause``; returns the error to answer the request with
        (it names the kind of failure, never the database's own message)."""
        if isinstance(cause, str):
            reason = cause
        elif isinstance(cause, DBAPIError) and cause.orig is not None:
            reason = f"{type(cause.orig).__name__}: {_first_line(cause.orig)}"
        else:
            reason = f"{type(cause).__name__}: {_first_line(cause)}"
        self._set(False, reason)
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
                except FutureTimeout:
                    self.outage(f"no answer to a ping within {self._timeout:g} s")
                    continue
                except Exception as exc:  # the ping's own failure: its kind is the reason
                    pending = None
                    self.outage(exc.__cause__ or exc)
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]
