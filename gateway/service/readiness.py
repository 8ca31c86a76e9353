"""Whether this gateway process should be sent traffic: the state ``/readyz``, gRPC health and
the ``cxg_ready`` gauge all follow.

Ready means every check passes: the database answers (as its health watcher last found it: a
probe never waits for the database), its schema was at the newest migration when the gateway
started, a signing key is loaded, the active rule packs loaded, the audit log's group commit
takes leaves (its commit thread neither closed nor stuck), and the process is not shutting down.
Each check is a cheap read of state kept elsewhere; a watcher thread re-reads them every second
and tells the listeners of each change of the overall answer, as do ``shut_down`` and the
database's own changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

_log = logging.getLogger("cxg.readiness")

Check = Callable[[], str | None]  # None when it passes, else why not (a few words)

SHUTTING_DOWN = "shutting-down"


class Readiness:
    def __init__(self, checks: Mapping[str, Check]) -> None:
        if not checks:
            raise ValueError("readiness needs at least one check")  # fail closed
        self._checks = dict(checks)
        self._stopping = False
        # Reentrant: shut_down runs in a signal handler, maybe while this thread updates.
        self._lock = threading.RLock()
        self._ready: bool | None = None  # as last told to the listeners
        self._listeners: list[Callable[[bool], None]] = []
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def failing(self) -> dict[str, str]:
        """Each failing check and why; empty when ready."""
        failing: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                problem = check()
            except Exception as exc:  # a check that cannot tell fails
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                failing[name] = problem
        if self._stopping:
            failing["shutdown"] = SHUTTING_DOWN
        return failing

    @property
    def stopping(self) -> bool:
        return self._stopping

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(ready)`` now and on every change, from whichever thread saw it."""
        with self._lock:
            self._listeners.append(listener)
            ready = self._ready
        if ready is not None:
            listener(ready)

    def update(self) -> dict[str, str]:
        """Evaluate the checks, tell the listeners if the answer changed; the failing ones."""
        failing = self.failing()
        ready = not failing
        with self._lock:
            if ready == self._ready:
                return failing
            first, self._ready = self._ready is None, ready
            if ready:
                _log.log(logging.INFO if first else logging.WARNING, "ready for traffic")
            else:
                _log.warning(
                    "not ready: %s", ", ".join(f"{k} {v}" for k, v in sorted(failing.items()))
                )
            for listener in self._listeners:
                try:
                    listener(ready)
                except Exception:  # one listener's failure must not hide the change from others
                    _log.exception("a readiness listener failed")
        return failing

    def shut_down(self) -> None:
        """Not ready from now on, for good (the process is shutting down)."""
        self._stopping = True
        self.update()

    def watch(self, every: float = 1.0) -> None:
        """Re-evaluate every ``every`` seconds in a thread of its own, while serving."""
        self.update()
        self._stop.clear()
        self._watcher = threading.Thread(
            target=self._watch, args=(every,), name="cxg-readiness", daemon=True
        )
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None

    def _watch(self, every: float) -> None:
        while not self._stop.wait(every):
            self.update()
