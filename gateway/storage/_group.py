"""Group commit: many threads each need a durable write acknowledged; one writer thread commits
whatever is queued in a single transaction and answers each caller once it is durable.

On this machine a durable commit costs about the same for one row as for a hundred
(PERFORMANCE.md), so under concurrent load the commit rate stops being the limit, and nothing is
acknowledged before it is on disk.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommitter(Generic[T, R]):
    """``commit(items)`` runs on the writer thread and returns one result per item, in order;
    if it raises, every caller of that group gets the exception."""

    def __init__(
        self, commit: Callable[[list[T]], list[R]], *, name: str, max_group: int = 500
    ) -> None:
        self._commit = commit
        self._name = name
        self._max_group = max_group
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, item: T) -> Future[R]:
        answer: Future[R] = Future()
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._writer.start()
        self._queue.put((item, answer))
        return answer

    def close(self) -> None:
        """Commit what is queued, then stop the writer; a later submit starts a new one."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                self._queue.put(None)
        if writer is not None:
            writer.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            # Whatever arrived meanwhile joins this commit; no waiting for more.
            while len(group) < self._max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop once this group is committed
                    break
                group.append(more)
            try:
                results = self._commit([item for item, _ in group])
            except Exception as exc:
                for _, answer in group:
                    answer.set_exception(exc)
                continue
            for (_, answer), result in zip(group, results, strict=True):
                answer.set_result(result)
