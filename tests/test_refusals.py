"""The refusal log: recording never waits for the database, rows are written in batches, a full
queue drops and warns, a failing database does not stop the writer, and operators list refusals
newest first, by partner, page by page."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.errors import InvalidArgument
from gateway.schema.cxg.v1.admin_service_pb2 import ListRefusalsRequest
from gateway.service.refusals import RefusalLog
from gateway.storage import Database
from gateway.storage.refusals import RefusalRow, RefusalStore

# Long enough never to end a batch in a test: batches end at max_batch, or at a flush or close.
NEVER = 60.0


class GatedStore(RefusalStore):
    """A store that records each batch's size and, while ``gate`` is closed, holds the writer
    inside ``append``, like a database that is slow to commit."""

    def __init__(self, db: Database, *, fail: int = 0) -> None:
        super().__init__(db)
        self.batches: list[int] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail

    def append(self, rows: list[RefusalRow]) -> None:
        self.entered.set()
        self.gate.wait()
        self.batches.append(len(rows))
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database went away")
        super().append(rows)


@pytest.fixture
def store(db: Database) -> GatedStore:
    return GatedStore(db)


@pytest.fixture
def log(store: GatedStore) -> Iterator[RefusalLog]:
    refusals = RefusalLog(store, max_batch=100, max_delay=NEVER)
    yield refusals
    store.gate.set()
    refusals.close()


def record(log: RefusalLog, n: int = 1, *, partner_id: str | None = "kz-bank") -> None:
    for i in range(n):
        log.record(
            partner_id=partner_id,
            operation="GetProfile",
            transport="grpc",
            reason="permission-denied",
            detail=f"refusal {i}",
            field=None,
        )


def listing(log: RefusalLog, **request: Any) -> tuple[list[str], str]:
    response = log.list(ListRefusalsRequest(**request))
    return [r.detail for r in response.refusals], response.next_page_token


# -- writing --------------------------------------------------------------------------------


def test_refusals_are_written_in_batches(log: RefusalLog, store: GatedStore) -> None:
    record(log, 250)
    log.flush()
    assert store.batches == [100, 100, 50]  # the flush wrote the last, partial batch at once
    assert len(log.list(ListRefusalsRequest(page_size=500)).refusals) == 250


def test_record_does_not_wait_for_the_database(log: RefusalLog, store: GatedStore) -> None:
    store.gate.clear()
    record(log, 100)  # the writer takes these and is held in the database
    assert store.entered.wait(timeout=30)
    record(log, 500)  # every call returned while the database was still busy
    assert store.batches == []
    store.gate.set()
    log.flush()
    assert sum(store.batches) == 600
    assert log.dropped == 0


def test_a_full_queue_drops_and_warns(
    db: Database, store: GatedStore, caplog: pytest.LogCaptureFixture
) -> None:
    refusals = RefusalLog(store, max_batch=1, max_delay=NEVER, max_queue=5)
    try:
        store.gate.clear()
        record(refusals)
        assert store.entered.wait(timeout=30)  # the writer holds that one; the queue is empty
        with caplog.at_level(logging.WARNING, logger="cxg.refusals"):
            record(refusals, 5 + 3)
        assert refusals.dropped == 3
        # Warned at the 1st and 2nd drop, next at the 4th: not a line per dropped refusal.
        assert [r.getMessage() for r in caplog.records] == [
            "1 refusals dropped so far: the refusal log is full or closed",
            "2 refusals dropped so far: the refusal log is full or closed",
        ]
        store.gate.set()
        refusals.flush()
        assert sum(store.batches) == 6
    finally:
        store.gate.set()
        refusals.close()


def test_a_database_failure_does_not_stop_the_writer(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    store = GatedStore(db, fail=1)
    refusals = RefusalLog(store, max_delay=NEVER)
    try:
        with caplog.at_level(logging.ERROR, logger="cxg.refusals"):
            record(refusals, 2)
            refusals.flush()  # returns although the write failed
        assert "could not store 2 refusals" in caplog.text
        assert refusals.dropped == 2
        record(refusals, 1)
        assert listing(refusals) == (["refusal 0"], "")
    finally:
        refusals.close()


def test_close_writes_what_is_queued_and_later_refusals_are_dropped(
    log: RefusalLog, store: GatedStore
) -> None:
    record(log, 3)
    log.close()
    log.close()  # idempotent
    assert store.batches == [3]
    record(log)
    assert log.dropped == 1
    log.flush()  # no writer left to wait for: returns at once


def test_detail_is_truncated(log: RefusalLog) -> None:
    log.record(
        partner_id=None,
        operation="Token",
        transport="rest",
        reason="unauthenticated",
        detail="x" * 5000,
        field="client_assertion",
    )
    (refusal,) = log.list(ListRefusalsRequest()).refusals
    assert len(refusal.detail) == 1000
    assert (refusal.partner_id, refusal.field) == ("", "client_assertion")


# -- listing --------------------------------------------------------------------------------


def test_list_shows_what_was_just_recorded(log: RefusalLog) -> None:
    log.record(
        partner_id="kz-bank",
        operation="GetProfile",
        transport="grpc",
        reason="permission-denied",
        detail="kz-bank may not call GetProfile",
        field=None,
    )
    (refusal,) = log.list(ListRefusalsRequest()).refusals  # no waiting for max_delay
    assert refusal.id > 0
    assert refusal.time.seconds > 0
    assert (refusal.partner_id, refusal.operation, refusal.transport, refusal.reason) == (
        "kz-bank",
        "GetProfile",
        "grpc",
        "permission-denied",
    )
    assert (refusal.detail, refusal.field) == ("kz-bank may not call GetProfile", "")


def test_list_pages_newest_first(log: RefusalLog) -> None:
    record(log, 7)
    details, token = listing(log, page_size=3)
    assert details == ["refusal 6", "refusal 5", "refusal 4"]
    details, token = listing(log, page_size=3, page_token=token)
    assert details == ["refusal 3", "refusal 2", "refusal 1"]
    details, token = listing(log, page_size=3, page_token=token)
    assert (details, token) == (["refusal 0"], "")


def test_list_default_page_is_50(log: RefusalLog) -> None:
    record(log, 51)
    details, token = listing(log)
    assert len(details) == 50
    assert listing(log, page_token=token) == (["refusal 0"], "")


def test_list_filters_by_partner(log: RefusalLog) -> None:
    record(log, 2, partner_id="kz-bank")
    record(log, 3, partner_id="ru-bureau")
    record(log, 1, partner_id=None)
    assert listing(log, partner_id="kz-bank") == (["refusal 1", "refusal 0"], "")
    details, token = listing(log, partner_id="ru-bureau", page_size=2)
    assert details == ["refusal 2", "refusal 1"]
    assert listing(log, partner_id="ru-bureau", page_token=token) == (["refusal 0"], "")
    assert len(listing(log)[0]) == 6


@pytest.mark.parametrize("page_size", [-1, 501])
def test_list_refuses_a_bad_page_size(log: RefusalLog, page_size: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        log.list(ListRefusalsRequest(page_size=page_size))
    assert refused.value.field == "page_size"


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "MTI",  # base64 of "12" without its padding
        base64.urlsafe_b64encode(b"v:12").decode(),  # another listing's token
        base64.urlsafe_b64encode(b"0").decode(),
        base64.urlsafe_b64encode(b"-5").decode(),
        base64.urlsafe_b64encode(b"9" * 30).decode(),
        base64.urlsafe_b64encode("١٢".encode()).decode(),  # Arabic-Indic digits
    ],
)
def test_list_refuses_a_malformed_page_token(log: RefusalLog, token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        log.list(ListRefusalsRequest(page_token=token))
    assert refused.value.field == "page_token"
