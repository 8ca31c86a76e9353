"""Bulk import with the mapping in worker processes (``gateway.mapping.read_in_workers``): the
same records, refusals and stored versions as reading in one process, in file order, with a
bounded number of chunks in flight whatever the file's length, and a dead worker failing the
import with an error instead of hanging it. Nothing here is timed."""

from __future__ import annotations

import gc
import hashlib
import io
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest
from sqlalchemy import select

from adapters.customs_aeo import adapter as aeo
from gateway.errors import Unavailable
from gateway.mapping import AcceptedLegacy, Record, _parallel, read_in_workers
from gateway.storage.tables import profile_versions
from gateway.transport.serve import Gateway
from tests.support import TestPartner

OPENING = b'<aeo:FullList xmlns:aeo="urn:cxg:aeo-exchange:1" sender="CN" listDate="2026-11-27">\n'
BROKEN = {  # record number -> how it is broken
    3: "xsd",  # a lower-case number: the mapping would take it, the schema does not
    11: "nickname",  # an element the schema does not declare
    12: "junk",  # no record at all
    20: "status",  # a status with no canonical code
    29: "xsd",
}


def operator(n: int) -> bytes:
    kind = BROKEN.get(n, "")
    number = f"cn37{n:08d}" if kind == "xsd" else f"CN37{n:08d}"
    if kind == "junk":
        return b"<aeo:Remark>not an operator</aeo:Remark>\n"
    nickname = "<aeo:Nickname>x</aeo:Nickname>" if kind == "nickname" else ""
    status = "dormant" if kind == "status" else "authorised"
    return (
        f"<aeo:Operator><aeo:AuthorisationNumber>{number}</aeo:AuthorisationNumber>"
        f"{nickname}<aeo:Name>Qingdao Export Company No. {n} Co., Ltd.</aeo:Name>"
        "<aeo:Address><aeo:City>Qingdao</aeo:City><aeo:Country>CN</aeo:Country></aeo:Address>"
        "<aeo:Authorisation><aeo:ProgrammeCountry>CN</aeo:ProgrammeCountry>"
        f"<aeo:Type>CN_ADVANCED</aeo:Type><aeo:Status>{status}</aeo:Status>"
        "<aeo:AuthorisedDate>2022-06-15</aeo:AuthorisedDate></aeo:Authorisation></aeo:Operator>\n"
    ).encode()


def full_list(count: int) -> bytes:
    return OPENING + b"".join(operator(n) for n in range(1, count + 1)) + b"</aeo:FullList>\n"


def seen(records: list[Record]) -> list[tuple[Any, ...]]:
    """What a Record says, comparably: number, place, profile bytes or the error's parts."""
    return [
        (r.number, r.location, r.profile.SerializeToString(deterministic=True))
        if r.profile is not None
        else (r.number, r.location, r.error and (r.error.message, r.error.field, r.error.rule))
        for r in records
    ]


def test_workers_read_exactly_what_one_process_reads() -> None:
    data = full_list(40)
    alone = list(aeo.read(io.BytesIO(data)))
    parallel = list(
        read_in_workers(aeo, io.BytesIO(data), workers=2, in_process=5, chunk=4)
    )  # a real spawned pool: records 6.. are mapped in workers
    assert seen(parallel) == seen(alone)
    assert [r.number for r in parallel if r.error] == sorted(BROKEN)
    assert {r.error.rule for r in parallel if r.error} == {"xsd", "xml", "code"}


def test_an_import_in_workers_stores_what_one_in_one_process_stores(
    gateway: Gateway, partners: dict[str, TestPartner], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, partner = full_list(60), partners["cn-customs"].as_partner()
    monkeypatch.setattr(_parallel, "IN_PROCESS", 7)
    monkeypatch.setattr(_parallel, "CHUNK", 5)
    gateway.exchange._import_workers = 2
    parallel = gateway.exchange.import_records(aeo, io.BytesIO(data), partner, batch=16)
    gateway.exchange._import_workers = 0
    alone = gateway.exchange.import_records(aeo, io.BytesIO(data), partner, batch=16)

    good = 60 - len(BROKEN)
    assert (parallel.records, parallel.imported, parallel.unchanged, parallel.refused) == (
        60, good, 0, len(BROKEN),
    )  # fmt: skip
    # Read again in one process, every record is one stored before (same content) or refused
    # the same way, by number and place.
    assert (alone.records, alone.imported, alone.unchanged, alone.refused) == (
        60, 0, good, len(BROKEN),
    )  # fmt: skip
    refusals = [(n, where, e.message) for n, where, e in parallel.errors]
    assert refusals == [(n, where, e.message) for n, where, e in alone.errors]
    assert [n for n, _, _ in refusals] == sorted(BROKEN)
    # Each good record stored once, as its content read in one process.
    digests = sorted(
        hashlib.sha256(
            partner.id.encode() + b"\n" + r.profile.SerializeToString(deterministic=True)
        ).hexdigest()
        for r in aeo.read(io.BytesIO(data))
        if r.profile is not None
    )
    stored = gateway.db.read(select(profile_versions.c.request_sha256, profile_versions.c.version))
    assert sorted(row.request_sha256 for row in stored) == digests
    assert {row.version for row in stored} == {1}


class _Lazy(Executor):
    """An executor whose work runs only when its result is asked for, counting the chunks
    submitted and not yet taken: what the reader holds beyond the record it gives."""

    def __init__(self, fail: bool = False) -> None:
        self.out = 0
        self.most = 0
        self.fail = fail

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.out += 1
        self.most = max(self.most, self.out)
        executor = self

        class Deferred(Future[Any]):
            def result(self, timeout: float | None = None) -> Any:
                executor.out -= 1
                if executor.fail:
                    raise BrokenProcessPool("a worker died")
                return fn(*args, **kwargs)

        return Deferred()


@pytest.mark.parametrize("count", [50, 400])
def test_chunks_in_flight_are_bounded_whatever_the_file_s_length(count: int) -> None:
    lazy = _Lazy()
    records = read_in_workers(
        aeo, io.BytesIO(full_list(count)), workers=2, in_process=3, chunk=4,
        executor=lambda workers: lazy,
    )  # fmt: skip
    assert [r.number for r in records] == list(range(1, count + 1))
    assert lazy.most == 4  # 2 chunks a worker, on a file of 50 as of 400
    assert lazy.out == 0


def test_a_worker_freezes_what_it_loaded_before_its_first_chunk() -> None:
    """A worker's full collections walk only the records in hand (gateway._heap), not the
    adapters and modules it loaded at start."""
    read = read_in_workers(aeo, io.BytesIO(full_list(12)), workers=2, in_process=1, chunk=4)
    assert len(list(read)) == 12  # the shared pool of 2 has started, as an import starts it
    frozen = _parallel._shared_pool(2).submit(gc.get_freeze_count).result(timeout=60)
    assert frozen > 10_000


def test_a_dead_worker_fails_the_read_with_an_error() -> None:
    records = read_in_workers(
        aeo, io.BytesIO(full_list(30)), workers=2, in_process=3, chunk=4,
        executor=lambda workers: _Lazy(fail=True),
    )  # fmt: skip
    with pytest.raises(Unavailable, match=r"worker process .* died"):
        list(records)


def test_a_small_file_or_an_unregistered_adapter_is_read_in_the_calling_process() -> None:
    from gateway.mapping import Adapter

    def no_pool(workers: int) -> Executor:
        raise AssertionError("no pool for this read")

    small = read_in_workers(aeo, io.BytesIO(full_list(30)), workers=2, executor=no_pool)
    assert len(list(small)) == 30  # under IN_PROCESS records
    other = Adapter(aeo.spec)  # not the registered instance: a worker could not find it
    unregistered = read_in_workers(
        other, io.BytesIO(full_list(30)), workers=2, in_process=1, executor=no_pool
    )
    assert len(list(unregistered)) == 30


def test_legacy_identifiers_accepted_go_to_the_workers() -> None:
    accepted = AcceptedLegacy(frozenset({"RU_INN:7707083893"}))
    assert accepted("RU_INN", "7707083893") and not accepted("RU_INN", "7707083894")
    assert _parallel._map_chunk(
        "customs-aeo-list", accepted, [(1, "/x", ("m", "f", "", "xml"))]
    ) == [(1, "/x", None, ("m", "f", "", "xml"))]
