"""What the audit leaf of a bulk import costs (issue 13): a write transaction storing nothing
else, on a fresh SQLite file (WAL, synchronous=FULL), with one change leaf naming 500 profile
versions (what the gateway writes per import batch), with a leaf per version, and with none.

    .venv/bin/python bench/bench_change_leaves.py [--rounds 3] [--batches 40]

Prints milliseconds per 500-record transaction and microseconds per record, medians of the
rounds. Compare with the import's own cost per record (bench_import.py). Measures; never asserts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from gateway.audit.entries import Actor, acting_as
from gateway.storage import Database
from gateway.storage.audit import ChangeLog

BATCH = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxg-bench-leaves-") as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'cxg.db'}")
        db.upgrade()
        log = ChangeLog(db)
        versions = [
            f"profiles/{uuid.uuid4().hex}/versions/1 request:{'a' * 64} payload:{'b' * 64}"
            for _ in range(BATCH)
        ]

        def batch_leaf(conn: object) -> None:
            names = [version.split(" ")[0] for version in versions]
            log.record(conn, "profile.versions", names, {"versions": versions})  # type: ignore[arg-type]

        def leaf_per_record(conn: object) -> None:
            for version in versions:
                log.record(
                    conn, "profile.versions", [version.split(" ")[0]], {"versions": [version]}
                )  # type: ignore[arg-type]

        modes = {"one leaf per batch": batch_leaf, "a leaf per record": leaf_per_record,
                 "no leaf": lambda conn: None}  # fmt: skip
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        with acting_as(Actor("bench:leaves", "bench")):
            for _ in range(args.rounds):
                for mode, write in modes.items():
                    started = time.perf_counter()
                    for _ in range(args.batches):
                        with db.write() as conn:
                            write(conn)
                    seconds[mode].append((time.perf_counter() - started) / args.batches)
        db.dispose()
    for mode, runs in seconds.items():
        median = statistics.median(runs)
        print(f"{mode:20s} {median * 1e3:8.2f} ms per {BATCH}-record transaction"
              f"  {median / BATCH * 1e6:7.1f} µs per record")  # fmt: skip


if __name__ == "__main__":
    main()
