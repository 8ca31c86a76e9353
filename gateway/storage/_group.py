"""Group commit: whoever needs a write durable commits, in one transaction, everything the
others queued meanwhile, and each caller is answered once the transaction holding its item is
durable.

On this machine a durable commit costs about the same for one row as for a hundred
(PERFORMANCE.md), so under concurrent load the commit rate stops being the limit. A caller's
thread commits on itself (it is already running). An event loop never does: it gathers the items
its coroutines queue during a few milliseconds and hands them to one commit thread, so a
database that stalls or waits for a lock stalls only the requests that wait for their items, up
to ``deadline`` seconds, never the loop and the requests that need no database.

A committer given ``GroupMetrics`` (the audit log's: ``AUDIT_LEAVES``) reports its group sizes,
commit times and the items waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import Gauge, Histogram

from gateway.observe import metrics

T = TypeVar("T")
R = TypeVar("R")

# A queued item and how to answer its caller: a thread's Future, or a future of the event loop
# the item came from (settled on that loop only).
_Queued = tuple[T, "Future[R] | asyncio.Future[R]"]
# A caller to answer: its future, and the result or the exception of its commit.
_Answer = tuple["Future[Any] | asyncio.Future[Any]", Any, "Exception | None"]


@dataclass(frozen=True)
class GroupMetrics:
    """Where a committer reports: items per commit, seconds per commit, items waiting."""

    size: Histogram
    seconds: Histogram
    waiting: Gauge


# The audit log's leaves (the replay store's group commit reports nothing).
AUDIT_LEAVES = GroupMetrics(
    metrics.group_commit_size, metrics.group_commit_seconds, metrics.appends_waiting
)


class GroupCommitter(Generic[T, R]):
    """``commit(items)`` returns one result per item, in order; if it raises, every caller of
    that group gets the exception. One commit runs at a time per committer.

    A coroutine that waits longer than ``deadline`` seconds for its item gets the exception
    ``timed_out(reason)`` returns: its item was not acknowledged, and if its commit has not
    started yet it is not written at all."""

    def __init__(
        self,
        commit: Callable[[list[T]], list[R]],
        *,
        gather: float = 0.005,
        deadline: float | None = None,
        timed_out: Callable[[str], Exception] = TimeoutError,
        metrics: GroupMetrics | None = None,
    ) -> None:
        self._commit = commit
        self._metrics = metrics
        self._gather = gather
        self._deadline = deadline
        self._timed_out = timed_out
        self._last_flush = float("-inf")
        self._turn = threading.Condition()
        self._committing = False
        self._queued: list[_Queued[T, R]] = []
        self._on_loop: dict[asyncio.AbstractEventLoop, list[_Queued[T, R]]] = {}
        self._committer: ThreadPoolExecutor | None = None  # commits the loops' items
        self._closed = False
        # Since when items handed over wait for the commit thread, and since when the commit
        # under way runs (time.monotonic()): what ``stalled_for`` reports.
        self._handed_over: float | None = None
        self._commit_started: float | None = None

    def run(self, item: T) -> R:
        """From a thread: returns once ``item`` is durable. The first caller to find no commit
        under way commits the queue; the others wait, then return or take the next turn."""
        answer: Future[R] = Future()
        with self._turn:
            self._queued.append((item, answer))
            self._waiting(1)
            while self._committing and not answer.done():
                self._turn.wait()
            if answer.done():
                return answer.result()
            group = self._take_turn()
        self._commit_group(group)
        return answer.result()

    async def submit(self, item: T) -> R:
        """From an event loop: committed on the commit thread together with every item the
        loop's coroutines queued since its last hand-over. A hand-over happens once the loop's
        ready callbacks have run, and no sooner than ``gather`` seconds after the previous one:
        an idle gateway commits at once, a busy one hands over groups at most 1/``gather``
        times a second (gRPC starts one call per pass of the loop, so a commit per pass would
        be a commit per call)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        pending = self._on_loop.get(loop)
        if pending is None:
            pending = self._on_loop[loop] = []
            loop.call_at(max(loop.time(), self._last_flush + self._gather), self._flush, loop)
        pending.append((item, answer))
        self._waiting(1)
        if self._deadline is None:
            return await answer
        # A timer rather than asyncio.wait_for, which costs a task per call.
        expired: list[bool] = []
        timer = loop.call_later(self._deadline, _expire, answer, expired)
        try:
            return await answer
        except asyncio.CancelledError:
            if not expired:
                raise  # the caller itself was cancelled
            raise self._timed_out(
                f"the database did not commit within {self._deadline:g} s"
            ) from None
        finally:
            timer.cancel()

    def stalled_for(self) -> float:
        """How long the oldest work not yet done has waited (seconds): items handed over to the
        commit thread, or the commit under way; 0 when there is none. A commit thread that is
        stuck (a database that never answers) shows here long before anyone reads a log."""
        now = time.monotonic()
        oldest = min(
            (t for t in (self._handed_over, self._commit_started) if t is not None), default=now
        )
        return now - oldest

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Wait for the loops' items handed over so far to be committed."""
        self._closed = True
        if self._committer is not None:
            self._committer.shutdown(wait=True)
            self._committer = None

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._last_flush = loop.time()
        pending = self._on_loop.pop(loop)
        with self._turn:
            self._queued += pending
            if self._handed_over is None:
                self._handed_over = time.monotonic()
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="cxg-group-commit")
        self._committer.submit(self._drain)

    def _drain(self) -> None:
        """On the commit thread: commit what is queued, unless a caller's thread did already."""
        with self._turn:
            while self._committing:
                self._turn.wait()
            self._handed_over = None
            if not self._queued:
                return
            group = self._take_turn()
        self._commit_group(group)

    def _take_turn(self) -> list[_Queued[T, R]]:
        """Under ``_turn``: claim the commit, with every item queued whose caller still waits
        (a coroutine past its deadline has been answered; its item is left out)."""
        self._committing = True
        group = [(item, answer) for item, answer in self._queued if not answer.done()]
        self._waiting(len(group) - len(self._queued))  # given up: no longer waiting
        self._queued = []
        return group

    def _commit_group(self, group: list[_Queued[T, R]]) -> None:
        started = self._commit_started = time.monotonic()
        try:
            try:
                results = self._commit([item for item, _ in group]) if group else []
            except Exception as exc:
                _settle_all([(answer, None, exc) for _, answer in group])
            else:
                if self._metrics is not None and group:
                    self._metrics.size.observe(len(group))
                    self._metrics.seconds.observe(time.monotonic() - started)
                _settle_all(
                    [
                        (answer, result, None)
                        for (_, answer), result in zip(group, results, strict=True)
                    ]
                )
        finally:
            self._waiting(-len(group))
            with self._turn:
                self._commit_started = None
                self._committing = False
                self._turn.notify_all()

    def _waiting(self, change: int) -> None:
        if self._metrics is not None and change:
            self._metrics.waiting.inc(change)


def _settle_all(answers: list[_Answer]) -> None:
    """Answer the callers of a group from the committing thread: a thread's Future at once,
    the coroutines of each loop in one callback on that loop (one wake-up of the loop a
    group, not one a caller)."""
    on_loop: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
    for answer, result, error in answers:
        if isinstance(answer, asyncio.Future):
            on_loop.setdefault(answer.get_loop(), []).append((answer, result, error))
        elif error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result)
    for loop, settled in on_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle_on_loop, settled)


def _settle_on_loop(answers: list[_Answer]) -> None:
    for answer, result, error in answers:
        if answer.done():  # its coroutine gave up at its deadline
            continue
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result)


def _expire(answer: asyncio.Future[Any], expired: list[bool]) -> None:
    """The deadline passed: give up the item (its commit leaves it out if not begun)."""
    if not answer.done():
        expired.append(True)
        answer.cancel()
