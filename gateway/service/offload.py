"""Blocking work off the event loop both transports are served on.

Anything that may touch the database (a lookup, a trust-cache refresh, a quota flush, a
signature check with a replay-cache write) runs in a worker thread: a database that stalls then
stalls the requests that wait for it, never the loop and the requests that need no database
(the JWKS, gRPC health, the scan page's static parts). A request waits at most ``deadline``
seconds; past it, it is answered 503 / UNAVAILABLE and the database is marked down. The
thread keeps waiting for the database; work that had not started yet is not run at all.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from gateway.storage.health import DatabaseHealth

P = ParamSpec("P")
R = TypeVar("R")


class Offload:
    def __init__(self, health: DatabaseHealth, *, deadline: float, workers: int = 32) -> None:
        self._health = health
        self.deadline = deadline
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="cxg-worker")

    async def run(self, call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``call(*args, **kwargs)`` in a worker thread, within the deadline."""
        started = self._start(call, *args, **kwargs)
        # A timer that cancels the call, rather than asyncio.wait_for, which costs a task and
        # about 35 µs of CPU per call here (bench/README.md).
        expired: list[bool] = []
        timer = asyncio.get_running_loop().call_later(self.deadline, _expire, started, expired)
        try:
            return await started
        except asyncio.CancelledError:
            if expired:
                raise self._health.outage(f"no answer within {self.deadline:g} s") from None
            raise
        finally:
            timer.cancel()

    async def run_unbounded(self, call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``run`` without the deadline, for work whose length the caller chose (a bulk import
        of a large file); each of its database statements still has its own timeouts."""
        return await self._start(call, *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(
        self, call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> asyncio.Future[R]:
        # The caller's context goes with the call: the actor its changes are audited under.
        context = contextvars.copy_context()
        bound = functools.partial(context.run, call, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._pool, bound)


def _expire(started: asyncio.Future[Any], expired: list[bool]) -> None:
    """The deadline passed: cancel the call (it is not run if it has not started)."""
    if not started.done():
        expired.append(True)
        started.cancel()
