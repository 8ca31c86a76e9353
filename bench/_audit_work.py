"""The in-process audit log measurements of bench_audit.py, each run in a process of its own.

    python bench/_audit_work.py appends DATABASE_URL --threads N --duration S [--warmup S]
    python bench/_audit_work.py fill DATABASE_URL --entries N [--batch B]
    python bench/_audit_work.py proofs DATABASE_URL [--samples N] [--seed S]

Each prints one JSON line with its results (and nothing else on stdout).

- ``appends``: N threads each loop ``AuditLog.record(exchange)`` (the gateway's own
  group commit, acknowledged only once durable) on the database given, which should be empty;
  after --warmup seconds, counts the appends acknowledged within --duration seconds, every
  ``record`` latency of the window, and the commits (``AuditStore.append`` calls) in it, from
  which the mean group size. At the end checks the log holds exactly what was acknowledged.
- ``fill``: appends --entries leaves through ``AuditStore.append`` in batches of --batch (one
  transaction each), as fast as it goes; times the appends apart from making the leaves.
- ``proofs``: on a filled database, times ``AuditLog.inclusion`` for random leaves against the
  whole log, for random leaves against random earlier sizes, and ``AuditLog.consistency`` from
  random earlier sizes to the whole log; every proof is then checked with the verifier in
  ``gateway.audit.merkle`` (outside the timing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.audit import merkle
from gateway.schema.cxg.v1 import audit_service_pb2 as pb
from gateway.service.audit import AuditLog, Exchange, sha256_hex
from gateway.storage import Database
from gateway.storage.audit import AuditStore, Disclosure

PARTNER = "demo-ru-credit-bureau"
ORIGIN = "bench.cxg/audit"


class CountingStore(AuditStore):
    """The product's store, counting its appends: one call is one committed group."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.commits = 0
        self.appended = 0  # not "leaves": that is AuditStore's reading method

    def append(
        self,
        leaves: list[tuple[bytes, str | None]],
        disclosures: Sequence[tuple[int, Disclosure]] = (),
    ) -> int:
        first = super().append(leaves, disclosures)
        self.commits += 1  # only the writer thread appends
        self.appended += len(leaves)
        return first


def exchange(n: int) -> Exchange:
    """A GetProfile exchange as the gateway records it, distinct per ``n``."""
    return Exchange(
        operation="GetProfile",
        transport="grpc",
        partner=PARTNER,
        subject=("profiles/bench", "CN_USCC:91370200MA3C5QH2X4"),
        purpose="credit_reporting",
        consent="",
        request_sha256=sha256_hex(n.to_bytes(8, "big")),
        response_sha256=sha256_hex(b"response" + n.to_bytes(8, "big")),
        decision="ok",
    )


def open_log(db: Database, store: AuditStore) -> AuditLog:
    return AuditLog(store, ed25519.Ed25519PrivateKey.generate(), lambda _: [], origin=ORIGIN)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- appends -------------------------------------------------------------------------------------


def appends(url: str, threads: int, duration: float, warmup: float) -> dict[str, Any]:
    db = Database.from_url(url)
    db.upgrade()
    store = CountingStore(db)
    log = open_log(db, store)
    if store.size() != 0:
        raise SystemExit(f"_audit_work appends: the log at {url} is not empty")
    stop = threading.Event()
    window = {"start": float("inf"), "end": float("inf")}
    latencies: list[list[float]] = [[] for _ in range(threads)]
    counts = [0] * threads  # acknowledged in the window, per thread
    submitted = [0] * threads
    failures: list[BaseException] = []

    def worker(k: int) -> None:
        n = k
        mine = latencies[k]
        try:
            while not stop.is_set():
                sent = time.perf_counter()
                log.record(exchange(n))
                done = time.perf_counter()
                submitted[k] += 1
                n += threads
                if window["start"] <= sent and done <= window["end"]:
                    mine.append(done - sent)
                if window["start"] <= done <= window["end"]:
                    counts[k] += 1
        except BaseException as exc:  # reported, and the run fails
            failures.append(exc)

    pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    for thread in pool:
        thread.start()
    time.sleep(warmup)
    marks0 = (store.commits, store.appended, time.process_time())
    window["start"] = time.perf_counter()
    time.sleep(duration)
    window["end"] = time.perf_counter()
    marks1 = (store.commits, store.appended, time.process_time())
    stop.set()
    for thread in pool:
        thread.join()
    log.close()
    size = store.size()
    db.dispose()
    if failures:
        raise SystemExit(f"_audit_work appends: {failures[0]!r}")
    if size != sum(submitted):
        raise SystemExit(f"_audit_work appends: {sum(submitted)} acknowledged, log holds {size}")
    elapsed = window["end"] - window["start"]
    acknowledged = sum(counts)
    commits, leaves = marks1[0] - marks0[0], marks1[1] - marks0[1]
    every = [x for per in latencies for x in per]
    return {
        "threads": threads,
        "appends_per_s": acknowledged / elapsed,
        "acknowledged": acknowledged,
        "elapsed_s": elapsed,
        "commits": commits,
        "commits_per_s": commits / elapsed,
        "mean_group": leaves / commits if commits else float("nan"),
        "p50_ms": percentile(every, 0.50) * 1e3,
        "p99_ms": percentile(every, 0.99) * 1e3,
        "cpu_us_per_append": (marks1[2] - marks0[2]) / acknowledged * 1e6
        if acknowledged
        else float("nan"),
        "log_size": size,
    }


# -- fill ----------------------------------------------------------------------------------------


def fill(url: str, entries: int, batch: int) -> dict[str, Any]:
    db = Database.from_url(url)
    db.upgrade()
    store = AuditStore(db)
    start_size = store.size()
    at = time.time()
    making = appending = 0.0
    written = 0
    # One leaf as the gateway writes it, made distinct per index by its request digest: cheaper
    # than a json.dumps per leaf, which would double the fill time without being the thing timed.
    template = exchange(0).leaf(datetime.now(UTC))
    head, _, tail = template.partition(exchange(0).request_sha256.encode())
    while written < entries:
        count = min(batch, entries - written)
        t0 = time.perf_counter()
        leaves: list[tuple[bytes, str | None]] = [
            (head + _digest(start_size + written + i) + tail, PARTNER) for i in range(count)
        ]
        t1 = time.perf_counter()
        store.append(leaves)
        appending += time.perf_counter() - t1
        making += t1 - t0
        written += count
    wall = time.time() - at
    size = store.size()
    db.dispose()
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    db_bytes = None
    if path is not None:
        db_bytes = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    return {
        "entries": written,
        "batch": batch,
        "log_size": size,
        "wall_s": wall,
        "append_s": appending,
        "make_leaves_s": making,
        "appends_per_s": written / appending if appending else float("nan"),
        "db_bytes": db_bytes,
    }


def _digest(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest().encode()


# -- proofs --------------------------------------------------------------------------------------


def proofs(url: str, samples: int, seed: int) -> dict[str, Any]:
    db = Database.from_url(url)
    store = AuditStore(db)
    log = open_log(db, store)
    size = store.size()
    if size < 2:
        raise SystemExit(f"_audit_work proofs: the log at {url} has {size} entries")
    rng = random.Random(seed)
    root = log.root(size)
    results: dict[str, Any] = {"log_size": size, "samples": samples}

    first_call = time.perf_counter()
    log.inclusion(pb.GetInclusionProofRequest(leaf_index=rng.randrange(size), tree_size=size))
    results["first_inclusion_ms"] = (time.perf_counter() - first_call) * 1e3

    def timed(kind: str, make: Any, call: Any, check: Any) -> None:
        requests = [make() for _ in range(samples)]
        for request in requests[: min(200, samples)]:  # warm-up: held connection, caches
            call(request)
        answers = []
        times = []
        for request in requests:
            t0 = time.perf_counter()
            answers.append(call(request))
            times.append(time.perf_counter() - t0)
        for answer in answers:
            check(answer)
        results[kind] = {
            "p50_ms": statistics.median(times) * 1e3,
            "p99_ms": percentile(times, 0.99) * 1e3,
            "mean_ms": statistics.fmean(times) * 1e3,
            "max_ms": max(times) * 1e3,
            "hashes": statistics.fmean(len(a.hashes) for a in answers),
        }

    def check_inclusion(answer: pb.InclusionProof) -> None:
        merkle.verify_inclusion(
            answer.leaf_index,
            answer.tree_size,
            answer.leaf_hash,
            list(answer.hashes),
            answer.root_hash,
        )
        if answer.tree_size == size and answer.root_hash != root:
            raise SystemExit("_audit_work proofs: an inclusion proof names another root")

    def check_consistency(answer: pb.ConsistencyProof) -> None:
        merkle.verify_consistency(
            answer.first,
            answer.second,
            answer.first_root_hash,
            answer.second_root_hash,
            list(answer.hashes),
        )
        if answer.second_root_hash != root:
            raise SystemExit("_audit_work proofs: a consistency proof names another root")

    def random_size() -> int:
        return rng.randrange(1, size)

    timed(
        "inclusion_full",
        lambda: pb.GetInclusionProofRequest(leaf_index=rng.randrange(size), tree_size=size),
        log.inclusion,
        check_inclusion,
    )

    def earlier() -> pb.GetInclusionProofRequest:
        tree = rng.randrange(2, size + 1)
        return pb.GetInclusionProofRequest(leaf_index=rng.randrange(tree), tree_size=tree)

    timed("inclusion_random_size", earlier, log.inclusion, check_inclusion)
    timed(
        "consistency_to_full",
        lambda: pb.GetConsistencyProofRequest(first=random_size(), second=size),
        log.consistency,
        check_consistency,
    )
    log.close()
    db.dispose()
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("appends")
    a.add_argument("url")
    a.add_argument("--threads", type=int, required=True)
    a.add_argument("--duration", type=float, required=True)
    a.add_argument("--warmup", type=float, default=0.5)
    f = sub.add_parser("fill")
    f.add_argument("url")
    f.add_argument("--entries", type=int, required=True)
    f.add_argument("--batch", type=int, default=10_000)
    p = sub.add_parser("proofs")
    p.add_argument("url")
    p.add_argument("--samples", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=9162)
    args = parser.parse_args(argv)
    if args.command == "appends":
        result = appends(args.url, args.threads, args.duration, args.warmup)
    elif args.command == "fill":
        result = fill(args.url, args.entries, args.batch)
    else:
        result = proofs(args.url, args.samples, args.seed)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
