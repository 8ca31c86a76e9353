"""Group commit without a writer thread: whoever needs a write durable commits, in one
transaction, everything the others queued meanwhile, and each caller is answered once the
transaction holding its item is durable.

On this machine a durable commit costs about the same for one row as for a hundred
(PERFORMANCE.md), so under concurrent load the commit rate stops being the limit. The commit runs
on a thread that is already running (a caller's thread, or the event loop): a dedicated writer
thread had to win a CPU and the GIL back after every database call, and under load that waiting,
not the database, set the commit rate (bench/README.md, bench_audit.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# A queued item and how to answer its caller: a thread's Future, or a future of the event loop
# that commits it (set on that loop only).
_Queued = tuple[T, "Future[R] | asyncio.Future[R]"]


class GroupCommitter(Generic[T, R]):
    """``commit(items)`` returns one result per item, in order; if it raises, every caller of
    that group gets the exception. One commit runs at a time per committer."""

    def __init__(self, commit: Callable[[list[T]], list[R]], *, gather: float = 0.005) -> None:
        self._commit = commit
        self._gather = gather
        self._last_flush = float("-inf")
        self._turn = threading.Condition()
        self._committing = False
        self._loops_waiting = 0
        self._queued: list[_Queued[T, R]] = []  # from threads
        self._on_loop: dict[asyncio.AbstractEventLoop, list[_Queued[T, R]]] = {}

    def run(self, item: T) -> R:
        """From a thread: returns once ``item`` is durable. The first caller to find no commit
        under way commits the queue; the others wait, then return or take the next turn."""
        answer: Future[R] = Future()
        with self._turn:
            self._queued.append((item, answer))
            while (self._committing or self._loops_waiting) and not answer.done():
                self._turn.wait()
            if answer.done():
                return answer.result()
            group = self._take_turn([])
        self._commit_group(group)
        return answer.result()

    async def submit(self, item: T) -> R:
        """From an event loop: committed on the loop, together with every item its coroutines
        queued since the loop's last commit. A commit starts once the loop's ready callbacks
        have run, and no sooner than ``gather`` seconds after the previous one started: an idle
        gateway commits at once, a busy one commits groups at most 1/``gather`` times a second
        (gRPC starts one call per pass of the loop, so a commit per pass would be a commit
        per call; a commit blocks the loop for about a quarter of a millisecond)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        pending = self._on_loop.get(loop)
        if pending is None:
            pending = self._on_loop[loop] = []
            loop.call_at(max(loop.time(), self._last_flush + self._gather), self._flush, loop)
        pending.append((item, answer))
        return await answer

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._last_flush = loop.time()
        pending = self._on_loop.pop(loop)
        with self._turn:
            # A thread's commit is under way: wait (briefly: the loop is blocked); the loop
            # goes next, before any thread, so threads cannot starve it.
            self._loops_waiting += 1
            while self._committing:
                self._turn.wait()
            self._loops_waiting -= 1
            group = self._take_turn(pending)
        self._commit_group(group)

    def _take_turn(self, group: list[_Queued[T, R]]) -> list[_Queued[T, R]]:
        """Under ``_turn``: claim the commit, with every item threads have queued."""
        self._committing = True
        group += self._queued
        self._queued = []
        return group

    def _commit_group(self, group: list[_Queued[T, R]]) -> None:
        try:
            try:
                results = self._commit([item for item, _ in group])
            except Exception as exc:
                for _, answer in group:
                    if not answer.done():  # a coroutine's may have been cancelled
                        answer.set_exception(exc)
            else:
                for (_, answer), result in zip(group, results, strict=True):
                    if not answer.done():
                        answer.set_result(result)
        finally:
            with self._turn:
                self._committing = False
                self._turn.notify_all()
