"""The refusal log: every refused request is recorded, off the request path, and listed for
operators.

``record`` only puts the refusal on a bounded queue, since it runs on request threads and on the
asyncio event loop, and a flood of bad requests must not become a flood of transactions: one
background thread writes the queue in batches. While the database is unavailable the writer
keeps what it could not write and tries again every second. When the queue is full a refusal is
dropped and counted rather than slowing down the refusals themselves.
"""

from __future__ import annotations

import builtins
import logging
import queue
import re
import threading
import time
from datetime import UTC, datetime

from gateway.errors import DatabaseUnavailable
from gateway.schema.cxg.v1.admin_service_pb2 import (
    ListRefusalsRequest,
    ListRefusalsResponse,
    Refusal,
)
from gateway.service._paging import decode_token, encode_token, page_size
from gateway.storage.refusals import RefusalRow, RefusalStore

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_DETAIL = 1000
_ROW_ID = re.compile(r"[1-9][0-9]{0,18}")

_log = logging.getLogger("cxg.refusals")

# On the queue: a refusal, a flush waiting to be told everything before it is written, or None
# to stop the writer.
_Item = RefusalRow | threading.Event | None
_RETRY = threading.Event()  # no new item: only what is unwritten is tried again


class RefusalLog:
    def __init__(
        self,
        store: RefusalStore,
        *,
        max_batch: int = 100,
        max_delay: float = 0.05,
        max_queue: int = 10_000,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_queue = max_queue
        # Unbounded so that flush and close never wait for room; record enforces max_queue.
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()  # held only briefly, never while waiting
        self._closed = False
        self._dropped = 0
        self._unwritten: builtins.list[RefusalRow] = []  # kept through a database outage
        self._writer = threading.Thread(target=self._run, name="cxg-refusals", daemon=True)
        self._writer.start()

    def record(
        self,
        *,
        partner_id: str | None,
        operation: str,
        transport: str,
        reason: str,
        detail: str,
        field: str | None,
    ) -> None:
        """Queue one refusal for writing; never waits for the database."""
        row = RefusalRow(
            id=None,
            at=datetime.now(UTC),
            partner_id=partner_id,
            operation=operation,
            transport=transport,
            reason=reason,
            detail=detail[:MAX_DETAIL],
            field=field,
        )
        with self._lock:
            waiting = self._queue.qsize() + len(self._unwritten)
            accepted = not self._closed and waiting < self._max_queue
            if accepted:
                self._queue.put(row)
                return
            self._dropped += 1
            dropped = self._dropped
        # Only at powers of two: an overflow is reported, without a log line per refusal.
        if dropped & (dropped - 1) == 0:
            _log.warning("%d refusals dropped so far: the refusal log is full or closed", dropped)

    @property
    def dropped(self) -> int:
        """Refusals never stored: the queue was full or closed, or the database failed."""
        return self._dropped

    def flush(self) -> None:
        """Wait until every refusal recorded before this call is written (or its failure
        logged)."""
        done = threading.Event()
        with self._lock:
            if self._closed:
                return
            self._queue.put(done)  # before the stop marker, since close has not run
        done.wait()

    def close(self) -> None:
        """Write what is queued and stop the writer; later refusals are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._writer.join()

    def list(self, request: ListRefusalsRequest) -> ListRefusalsResponse:
        """One page of refusals, newest first; includes those recorded just before."""
        size = page_size(request.page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        before = (
            int(decode_token(request.page_token, "r", _ROW_ID)[0]) if request.page_token else None
        )
        self.flush()
        rows = self._store.list(
            partner_id=request.partner_id or None, before_id=before, limit=size + 1
        )
        response = ListRefusalsResponse()
        for row in rows[:size]:
            refusal = Refusal(
                id=row.id,
                partner_id=row.partner_id or "",
                operation=row.operation,
                transport=row.transport,
                reason=row.reason,
                detail=row.detail,
                field=row.field or "",
            )
            refusal.time.FromDatetime(row.at)
            response.refusals.append(refusal)
        if len(rows) > size:
            response.next_page_token = encode_token("r", str(rows[size - 1].id))
        return response

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[RefusalRow] = []
            waiters: list[threading.Event] = []
            try:  # what an outage left unwritten is tried again within a second
                item = self._queue.get(timeout=1.0 if self._unwritten else None)
            except queue.Empty:
                item = _RETRY
            deadline = time.monotonic() + self._max_delay
            while item is not _RETRY:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                elif isinstance(item, RefusalRow):
                    batch.append(item)
                # A flush or close is not kept waiting for more refusals.
                if stop or waiters or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            self._write(batch)
            for waiter in waiters:
                waiter.set()

    def _write(self, batch: builtins.list[RefusalRow]) -> None:
        batch, self._unwritten = self._unwritten + batch, []
        if not batch:
            return
        try:
            self._store.append(batch)
        except DatabaseUnavailable:
            # Logged once by the database's health; kept, unless this is the last write.
            if not self._closed:
                self._unwritten = batch[: self._max_queue]
            lost = len(batch) - len(self._unwritten)
            if lost:
                _log.error("%d refusals not stored: the database is unavailable", lost)
                with self._lock:
                    self._dropped += lost
        except Exception:
            # The writer must outlive any failure; the refusals themselves were served.
            _log.exception("could not store %d refusals", len(batch))
            with self._lock:
                self._dropped += len(batch)
