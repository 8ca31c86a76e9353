"""Reading a bulk file with the mapping, validation and XSD check of its records in worker
processes: ``read_in_workers`` gives the same Records, in the same order, as ``Adapter.read``.

The calling process reads the file as ``read`` does (the safe streaming parser splits it into
record positions, and refuses a file whole); the records' readers go to the workers in chunks
of ``CHUNK`` and their results come back in file order. At most ``in_flight`` chunks are out at
a time, so what is held does not grow with the file. The first ``IN_PROCESS`` records are mapped
in the calling process: a small file never waits for a worker to start. The pool is started
once, with the "spawn" method (never fork: the gateway process runs gRPC threads), and kept for
the process. A worker that dies fails the read with ``Unavailable``; the pool is then replaced.

Only a registered adapter (``registry.adapters()``) is mapped in workers, as a worker finds it by
name; any other adapter, or ``workers`` 0, reads in the calling process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import IO

from gateway.errors import AdapterError, Unavailable
from gateway.mapping._adapter import Adapter, Record
from gateway.mapping._documents import Reader
from gateway.profiles import CreditProfile

CHUNK = 200  # records a worker maps in one go: large enough that a round trip is a small cost
IN_PROCESS = 2_000  # records mapped in the calling process before the workers are used

# What crosses between processes: an AdapterError does not pickle (keyword-only arguments).
_Error = tuple[str, str, str, str]  # message, field, canonical, rule
_Item = tuple[int, str, Reader | _Error]
_Result = tuple[int, str, bytes | None, _Error | None]


@dataclass(frozen=True)
class AcceptedLegacy:
    """``accept_legacy`` as a set of ``scheme:value`` identifiers, which can go to a worker."""

    ids: frozenset[str]

    def __call__(self, scheme: str, value: str) -> bool:
        return f"{scheme}:{value}" in self.ids


def read_in_workers(
    adapter: Adapter,
    stream: IO[bytes],
    *,
    accept_legacy: AcceptedLegacy | None = None,
    workers: int | None = None,
    in_process: int | None = None,
    chunk: int | None = None,
    executor: Callable[[int], Executor] | None = None,
) -> Iterator[Record]:
    """``adapter.read(stream, accept_legacy=accept_legacy)``, its records mapped in ``workers``
    processes (default: one per core) after the first ``in_process`` (``IN_PROCESS``), in
    chunks of ``chunk`` (``CHUNK``). ``executor`` gives the pool for a number of workers
    (default: the process's shared pool)."""
    from gateway.mapping.registry import adapters

    count = (os.cpu_count() or 1) if workers is None else workers
    positions = adapter._positions(stream)
    if count < 1 or adapters().get(adapter.name) is not adapter:
        for number, location, item in positions:
            yield adapter._record(number, location, item, accept_legacy)
        return
    for number, location, item in positions:
        yield adapter._record(number, location, item, accept_legacy)
        if number >= (IN_PROCESS if in_process is None else in_process):
            break
    else:
        return
    pool = (executor or _shared_pool)(count)
    size = CHUNK if chunk is None else chunk
    yield from _in_order(adapter.name, accept_legacy, positions, pool, size, in_flight=2 * count)


def _in_order(
    name: str,
    accept_legacy: AcceptedLegacy | None,
    positions: Iterator[tuple[int, str, Reader | AdapterError]],
    pool: Executor,
    chunk: int,
    *,
    in_flight: int,
) -> Iterator[Record]:
    """The records of ``positions`` mapped on ``pool``, in order, ``in_flight`` chunks out at
    most. An exception from ``positions`` (a file refused whole) is raised after the records
    before it, as ``read`` raises it."""
    pending: deque[Future[list[_Result]]] = deque()
    items: list[_Item] = []
    try:
        while True:
            try:
                position = next(positions, None)
            except Exception:
                while pending:
                    yield from _records(pending.popleft())
                raise
            if position is not None:
                number, location, item = position
                portable = _portable(item) if isinstance(item, AdapterError) else item
                items.append((number, location, portable))
            if items and (len(items) >= chunk or position is None):
                pending.append(pool.submit(_map_chunk, name, accept_legacy, items))
                items = []
            while pending and (len(pending) >= in_flight or position is None):
                yield from _records(pending.popleft())
            if position is None:
                return
    finally:  # the consumer stopped early, or a worker died: nothing more is mapped
        for future in pending:
            future.cancel()


def _records(future: Future[list[_Result]]) -> Iterator[Record]:
    try:
        results = future.result()
    except BrokenProcessPool as exc:
        _discard_pool()
        raise Unavailable(
            "a worker process mapping the file's records died; the records after those "
            "reported were not read"
        ) from exc
    for number, location, profile, error in results:
        if error is not None:
            message, field, canonical, rule = error
            yield Record(
                number,
                location,
                error=AdapterError(message, field=field, canonical=canonical, rule=rule),
            )
        else:
            assert profile is not None
            yield Record(number, location, profile=CreditProfile.FromString(profile))


def _portable(error: AdapterError) -> _Error:
    return error.message, error.field or "", error.canonical, error.rule


# -- in the worker --------------------------------------------------------------------------------


def _set_up() -> None:
    """A new worker loads the adapters, then settles its heap (gateway._heap): its full
    collections walk only the records in hand, not the modules it loaded."""
    from gateway._heap import settle
    from gateway.mapping.registry import adapters

    adapters()
    settle()


def _map_chunk(
    name: str, accept_legacy: AcceptedLegacy | None, items: Sequence[_Item]
) -> list[_Result]:
    from gateway.mapping.registry import adapter as registered

    adapter = registered(name)
    results: list[_Result] = []
    for number, location, item in items:
        if isinstance(item, tuple):
            results.append((number, location, None, item))
            continue
        record = adapter._record(number, location, item, accept_legacy)
        if record.error is not None:
            results.append((number, location, None, _portable(record.error)))
        else:
            assert record.profile is not None
            results.append((number, location, record.profile.SerializeToString(), None))
    return results


# -- the shared pool ------------------------------------------------------------------------------

_lock = threading.Lock()
_pools: dict[int, ProcessPoolExecutor] = {}


def _shared_pool(workers: int) -> Executor:
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_set_up
            )
            _pools[workers] = pool
        return pool


def _discard_pool() -> None:
    """Forget the pools (one is broken): the next read starts a new one."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)
