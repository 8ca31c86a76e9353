"""Group commit (gateway/storage/_group.py): callers commit for each other, threads and an
event loop alike; nobody is answered before the commit holding their item returns, and a
failed commit fails exactly the callers whose items it held."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.errors import DatabaseUnavailable
from gateway.storage._group import GroupCommitter


class Log:
    """A commit function that records its groups; ``slow`` makes concurrent callers queue."""

    def __init__(self, slow: float = 0.0, fail_on: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.starts: list[float] = []
        self.durable: set[str] = set()
        self.overlaps = 0  # commits that ran while another was running
        self._running = 0
        self._slow = slow
        self._fail_on = fail_on
        self._lock = threading.Lock()

    def commit(self, items: list[str]) -> list[int]:
        with self._lock:
            self._running += 1
            self.overlaps += self._running > 1
            self.starts.append(time.monotonic())
        try:
            time.sleep(self._slow)
            if self._fail_on in items:
                raise RuntimeError("disk full")
            self.groups.append(list(items))
            self.durable.update(items)
            return [len(item) for item in items]
        finally:
            with self._lock:
                self._running -= 1


def test_threads_commit_for_each_other_and_are_answered_after_their_commit() -> None:
    log = Log(slow=0.01)
    committer = GroupCommitter(log.commit)
    items = [f"item-{'x' * n}" for n in range(32)]

    def call(item: str) -> int:
        result = committer.run(item)
        assert item in log.durable  # answered only once its group was committed
        return result

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, items))
    assert results == [len(item) for item in items]
    assert sorted(item for group in log.groups for item in group) == sorted(items)
    assert len(log.groups) < len(items)  # callers that queued during a commit shared the next
    assert log.overlaps == 0


def test_a_loop_commits_what_its_coroutines_queued_in_one_pass_together() -> None:
    log = Log()
    committer = GroupCommitter(log.commit)

    async def main() -> list[int]:
        return await asyncio.gather(*(committer.submit(f"c{n}") for n in range(50)))

    assert asyncio.run(main()) == [len(f"c{n}") for n in range(50)]
    assert log.groups == [[f"c{n}" for n in range(50)]]


def test_a_busy_loop_waits_the_gather_time_between_commits_and_an_idle_one_does_not() -> None:
    log = Log()
    committer = GroupCommitter(log.commit, gather=0.2)

    async def main() -> None:
        started = time.monotonic()
        await committer.submit("first")  # idle: committed at once
        assert time.monotonic() - started < 0.15
        await asyncio.gather(committer.submit("second"), committer.submit("third"))

    asyncio.run(main())
    assert log.groups == [["first"], ["second", "third"]]
    # Hand-overs are ``gather`` apart; each commit starts after its hop to the commit thread,
    # the first one's (which starts that thread) a little later than the next.
    assert log.starts[1] - log.starts[0] >= 0.19


def test_a_failed_commit_fails_its_callers_only() -> None:
    log = Log(fail_on="bad")
    committer = GroupCommitter(log.commit)

    async def group(items: list[str]) -> list[object]:
        return await asyncio.gather(*(committer.submit(i) for i in items), return_exceptions=True)

    failed = asyncio.run(group(["good", "bad"]))
    assert [type(answer) for answer in failed] == [RuntimeError, RuntimeError]
    assert asyncio.run(group(["later"])) == [5]
    with pytest.raises(RuntimeError, match="disk full"):
        committer.run("bad")
    assert committer.run("after") == 5
    assert log.durable == {"later", "after"}


def test_a_loop_and_threads_share_one_committer_without_overlapping_commits() -> None:
    log = Log(slow=0.005)
    committer = GroupCommitter(log.commit, gather=0.0)
    stop = threading.Event()
    thread_results: list[int] = []

    def thread_caller() -> None:
        while not stop.is_set():
            thread_results.append(committer.run("thread"))

    async def main() -> list[int]:
        return [await committer.submit(f"loop{n}") for n in range(20)]

    threads = [threading.Thread(target=thread_caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        loop_results = asyncio.run(main())
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert loop_results == [len(f"loop{n}") for n in range(20)]
    assert thread_results and set(thread_results) == {len("thread")}
    assert log.overlaps == 0


class Stalled:
    """A commit function that blocks until released, as a stalled database does."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.groups: list[list[str]] = []

    def commit(self, items: list[str]) -> list[int]:
        self.started.set()
        self.release.wait(timeout=30)
        self.groups.append(list(items))
        return [len(item) for item in items]


def test_a_stalled_commit_never_blocks_the_loop() -> None:
    stalled = Stalled()
    committer = GroupCommitter(stalled.commit)

    async def main() -> int:
        waiting = asyncio.ensure_future(committer.submit("leaf"))
        ticks = 0
        while not stalled.started.is_set() or ticks < 20:  # the loop keeps turning meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiting.done()
        stalled.release.set()
        return await waiting

    try:
        assert asyncio.run(main()) == len("leaf")
    finally:
        stalled.release.set()
        committer.close()
    assert stalled.groups == [["leaf"]]


def test_past_its_deadline_a_caller_is_refused_and_an_unstarted_item_is_not_written() -> None:
    stalled = Stalled()
    committer = GroupCommitter(
        stalled.commit, gather=0.0, deadline=0.3, timed_out=DatabaseUnavailable
    )

    async def main() -> list[object]:
        first = asyncio.ensure_future(committer.submit("in-commit"))
        while not stalled.started.is_set():
            await asyncio.sleep(0.005)
        second = asyncio.ensure_future(committer.submit("queued"))  # behind the stalled commit
        return await asyncio.gather(first, second, return_exceptions=True)

    try:
        answers = asyncio.run(main())
    finally:
        stalled.release.set()
        committer.close()
    assert [type(answer) for answer in answers] == [DatabaseUnavailable, DatabaseUnavailable]
    assert "did not commit within 0.3 s" in str(answers[0])
    # The stalled commit had started: it finishes. The queued item's caller was answered 503
    # before its commit began, so it is not written.
    assert stalled.groups == [["in-commit"]]
