"""What the audit log costs and how it scales (issue 4): durable appends, proofs at 1M, GetProfile.

    .venv/bin/python bench/bench_audit.py            # full (~6 min with PostgreSQL)
    .venv/bin/python bench/bench_audit.py --quick    # every part, small: a smoke run (< 60 s)
    CXG_BENCH_POSTGRES_URL=postgresql://... .venv/bin/python bench/bench_audit.py
    (bench/README.md, section bench_audit.py, explains the set-up and the figures)

Three parts, each measured in processes of their own, never asserted:

  appends  N threads each calling ``AuditLog.record(exchange)`` on a fresh database
           (SQLite; PostgreSQL when CXG_BENCH_POSTGRES_URL is set, in a fresh schema per run):
           durable appends per second, record() latency, commits per second, mean group size.
  proofs   a SQLite log filled with --entries leaves (``AuditStore.append``, --batch per call;
           the fill is timed), then ``AuditLog.inclusion`` for random leaves against the whole
           log (median, p99; the issue's target is a median under 1 ms at 1,000,000 entries),
           against random earlier sizes, and ``AuditLog.consistency`` to the whole log.
  gateway  signed GetProfile under load, the open gateway (bench/_open_gateway.py: admission
           off) with the audit log on and with it off (``--no-audit``), two processes on one
           database, runs alternating on/off round after round over gRPC and REST (wrk);
           the ratio on/off of the median throughputs (issue 4: the audit log may cost at most
           25%, i.e. on/off >= 0.75, printed but not enforced).

Exit status: 0 whatever the figures; 1 when something could not be measured; 130 when
interrupted. Every process it starts is stopped on exit, as in bench_get_profile.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_get_profile import (
    BENCH_DIR,
    HOST,
    LOAD_GRACE,
    BenchError,
    Children,
    LoadSettings,
    Run,
    Target,
    _fmt,
    _median,
    _version,
    _wrk_version,
    gateway_env,
    measure,
    print_run,
    probe_gateway,
    resolve_wrk,
    run_bench,
    seed_demo,
    start_open_gateway,
)

# bench_get_profile.py owns the process handling, load generators and formatting the benchmarks
# share (some private there, imported anyway to keep one copy), and the partner the open
# gateway admits every call as.

POSTGRES_ENV = "CXG_BENCH_POSTGRES_URL"
PARTS = ("appends", "proofs", "gateway")
TARGET_PROOF_MS = 1.0  # issue 4: median inclusion proof at 1M entries
TARGET_RATIO = 0.75  # issue 4: the audit log costs at most 25% of GetProfile throughput
LABELS = {True: "gateway, audit on", False: "gateway, audit off (--no-audit)"}


# -- children ------------------------------------------------------------------------------------


def run_work(children: Children, name: str, argv: list[str], limit_s: float) -> dict[str, Any]:
    """Run ``bench/_audit_work.py ARGV`` as a child; its one JSON line."""
    proc = children.start(
        name, [sys.executable, str(BENCH_DIR / "_audit_work.py"), *argv], pipe_stdout=True
    )
    try:
        out, _ = proc.communicate(timeout=limit_s)
    except BaseException:
        children.stop(proc)
        raise
    children.stop(proc)
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise BenchError(f"{name} failed ({proc.returncode}):\n{children.tail(name)}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- databases -----------------------------------------------------------------------------------


class Databases:
    """Fresh databases: a new SQLite file each, or a new schema in the PostgreSQL database given
    (dropped again on close), reached through ``options=-csearch_path=...`` in the URL."""

    def __init__(self, workdir: Path, postgres_url: str | None) -> None:
        self.workdir = workdir
        self.postgres_url = postgres_url
        self._schemas: list[str] = []
        self._count = 0

    def fresh(self, backend: str) -> str:
        self._count += 1
        if backend == "sqlite":
            return f"sqlite:///{self.workdir / f'audit-{self._count}.db'}"
        assert self.postgres_url is not None
        schema = f"cxg_bench_audit_{os.getpid()}_{self._count}"
        self._execute(f'CREATE SCHEMA "{schema}"')
        self._schemas.append(schema)
        separator = "&" if "?" in self.postgres_url else "?"
        options = urllib.parse.quote(f"-csearch_path={schema}")
        return f"{self.postgres_url}{separator}options={options}"

    def release(self, backend: str, url: str) -> None:
        """Drop what ``fresh`` made once measured: a 100k-leaf SQLite file is tens of MB."""
        if backend == "sqlite":
            path = url.removeprefix("sqlite:///")
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)
        elif self._schemas:
            self._execute(f'DROP SCHEMA "{self._schemas.pop()}" CASCADE')

    def server_version(self) -> str:
        import psycopg

        with psycopg.connect(self._plain_url(), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def close(self) -> None:
        while self._schemas:
            self._execute(f'DROP SCHEMA IF EXISTS "{self._schemas.pop()}" CASCADE')

    def _plain_url(self) -> str:
        assert self.postgres_url is not None
        url = self.postgres_url
        for prefix in ("postgresql+psycopg://", "postgres://"):
            url = url.replace(prefix, "postgresql://")
        return url

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self._plain_url(), autocommit=True) as conn:
            conn.execute(sql.encode())  # identifiers made here, not input


# -- part 1: appends -----------------------------------------------------------------------------


def part_appends(
    args: argparse.Namespace, children: Children, dbs: Databases
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    backends = ["sqlite"] + (["postgresql"] if dbs.postgres_url else [])
    print("== appends: N threads each calling AuditLog.record(exchange), fresh database")
    print(
        f"   {args.append_seconds:g} s measured after {args.append_warmup:g} s per run,"
        f" {args.rounds} round(s), threads {', '.join(map(str, args.threads))}"
    )
    if not dbs.postgres_url:
        print(f"   PostgreSQL: SKIPPED ({POSTGRES_ENV} is not set; nothing was started)")
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for round_no in range(1, args.rounds + 1):
        for threads in args.threads:
            for backend in backends:
                url = dbs.fresh(backend)
                argv = ["appends", url, "--threads", str(threads)]
                argv += ["--duration", str(args.append_seconds)]
                argv += ["--warmup", str(args.append_warmup)]
                limit = args.append_seconds + args.append_warmup + LOAD_GRACE
                result = run_work(children, f"appends-{backend}-{threads}", argv, limit)
                dbs.release(backend, url)
                results.setdefault((backend, threads), []).append(result)
                print(
                    f"  round {round_no}  {backend:<10} {threads:>3} threads"
                    f"  {result['appends_per_s']:>8,.0f} appends/s"
                    f"  group {result['mean_group']:>6.1f}"
                    f"  p50 {result['p50_ms']:>6.2f} ms  p99 {result['p99_ms']:>7.2f} ms",
                    flush=True,
                )
    header = (
        f"{'backend':<10} {'threads':>7} {'appends/s':>10} {'commits/s':>10} {'mean group':>10}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'CPU/append':>10}"
    )
    print()
    print(f"Medians of {args.rounds} round(s); record() latency from call to durable leaf index;")
    print("CPU/append: the whole process (threads, writer, driver) per acknowledged append.")
    print(header)
    print("-" * len(header))
    for (backend, threads), runs in results.items():
        print(
            f"{backend:<10} {threads:>7}"
            f" {_med(runs, 'appends_per_s'):>10,.0f} {_med(runs, 'commits_per_s'):>10,.0f}"
            f" {_med(runs, 'mean_group'):>10.1f} {_med(runs, 'p50_ms'):>7.2f}"
            f" {_med(runs, 'p99_ms'):>7.2f} {_med(runs, 'cpu_us_per_append'):>7.0f} us"
        )
    print()
    return results


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return _median(float(run[key]) for run in runs)


# -- part 2: proofs at scale ---------------------------------------------------------------------


def part_proofs(args: argparse.Namespace, children: Children, dbs: Databases) -> dict[str, Any]:
    print(f"== proofs: a SQLite log of {args.entries:,} leaves, then proofs against it")
    url = dbs.fresh("sqlite")
    limit = max(600.0, args.entries / 1000)
    argv = ["fill", url, "--entries", str(args.entries), "--batch", str(args.batch)]
    filled = run_work(children, "fill", argv, limit)
    size_mb = f"{filled['db_bytes'] / 1e6:,.0f} MB" if filled["db_bytes"] else "?"
    print(
        f"   fill: {filled['entries']:,} leaves in {filled['wall_s']:.1f} s"
        f" ({filled['append_s']:.1f} s in AuditStore.append, batches of {filled['batch']:,}:"
        f" {filled['appends_per_s']:,.0f} leaves/s; database {size_mb})"
    )
    proofs = run_work(children, "proofs", ["proofs", url, "--samples", str(args.samples)], limit)
    print(
        f"   {proofs['samples']:,} random requests per kind, after 200 untimed; every proof"
        " verified afterwards"
    )
    print(f"   first inclusion proof of the process: {proofs['first_inclusion_ms']:.2f} ms")
    header = f"{'proof':<42} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>7} {'max ms':>7} {'hashes':>6}"
    print(header)
    print("-" * len(header))
    titles = {
        "inclusion_full": f"inclusion, random leaf, tree_size {proofs['log_size']:,}",
        "inclusion_random_size": "inclusion, random leaf and earlier size",
        "consistency_to_full": f"consistency, random first -> {proofs['log_size']:,}",
    }
    for key, title in titles.items():
        row = proofs[key]
        print(
            f"{title:<42} {row['p50_ms']:>7.3f} {row['p99_ms']:>7.3f} {row['mean_ms']:>7.3f}"
            f" {row['max_ms']:>7.2f} {row['hashes']:>6.1f}"
        )
    median = proofs["inclusion_full"]["p50_ms"]
    verdict = "met" if median < TARGET_PROOF_MS else "NOT met"
    note = "" if args.entries == 1_000_000 else " (the target is for 1,000,000 entries)"
    print(
        f"   target: inclusion median under {TARGET_PROOF_MS:g} ms at {args.entries:,} entries:"
        f" {verdict} in this run ({median:.3f} ms){note}"
    )
    print()
    if not args.keep:
        dbs.release("sqlite", url)
    return {"fill": filled, "proofs": proofs}


# -- part 3: GetProfile, audit on and off --------------------------------------------------------


def audit_size(env: dict[str, str]) -> int:
    from gateway.storage import Database
    from gateway.storage.audit import AuditStore

    db = Database.from_url(env["CXG_DATABASE_URL"])
    try:
        return AuditStore(db).size()
    finally:
        db.dispose()


def part_gateway(args: argparse.Namespace, children: Children, workdir: Path) -> list[Run]:
    load = LoadSettings(
        concurrency=args.concurrency,
        warmup=args.warmup,
        duration=args.duration,
        max_requests=2_000_000,
        wrk=resolve_wrk(args.rest_client),
        wrk_threads=2,
    )
    env = gateway_env(workdir)
    seed_demo(workdir, env)
    targets: dict[bool, Target] = {}
    probes = {}
    for audit in (True, False):
        before = audit_size(env)
        name = "gateway-audit-" + ("on" if audit else "off")
        options = () if audit else ("--no-audit",)
        proc, grpc_port, rest_port = start_open_gateway(children, name, env, *options)
        probe = probe_gateway(grpc_port, rest_port, "id")  # two REST calls and one gRPC call
        grown = audit_size(env) - before
        if grown != (3 if audit else 0):
            raise BenchError(
                f"{LABELS[audit]}: the probe's 3 calls added {grown} audit leaves,"
                f" expected {3 if audit else 0}"
            )
        probes[audit] = probe
        targets[audit] = Target(
            LABELS[audit],
            proc.pid,
            f"{HOST}:{grpc_port}",
            f"http://{HOST}:{rest_port}{probe.rest_path}",
        )
    if probes[True] != probes[False]:
        raise BenchError("the two gateways answer different bytes")
    probe = probes[True]
    transports = {"both": ["gRPC", "REST"], "grpc": ["gRPC"], "rest": ["REST"]}[args.transports]
    rest_client = _wrk_version(load.wrk) if load.wrk else "the Python fallback (bench/_load.py)"
    print("== gateway: signed GetProfile, open gateway (admission off), audit on vs off")
    print(
        f"   {load.concurrency} in flight; {load.warmup} s warm-up + {load.duration} s measured"
        f" per run; {args.rounds} round(s) of (on, off) per transport"
    )
    print(f"   gRPC: grpc.aio client (bench/_load.py); REST: {rest_client}")
    print(
        f"   request: GetProfile by id, purpose credit_reporting; gRPC answer {probe.grpc_size}"
        f" bytes, REST {probe.rest_size} bytes (both gateways answer the same bytes)"
    )
    print(
        "   processes: "
        + ", ".join(f"{target.label} pid {target.pid}" for target in targets.values())
    )
    print(
        "   checked: the probe's 3 calls added 3 leaves with the audit on, 0 with it off;"
        " both on one SQLite database (synchronous=FULL)"
    )
    runs: list[Run] = []
    size_before = audit_size(env)
    for round_no in range(1, args.rounds + 1):
        for transport in transports:
            for audit in (True, False):
                run = measure(children, transport, targets[audit], probe, load)
                runs.append(run)
                print_run(round_no, run)
    appended = audit_size(env) - size_before
    print()
    header = (
        f"{'transport':<9} {'gateway':<32} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'srv CPU/req':>11} {'srv cs/req':>10} {'srv CPU':>7} {'errors':>6}"
    )
    print(f"Medians of {args.rounds} round(s); srv = the gateway process over the measured window.")
    print(header)
    print("-" * len(header))
    ratios = []
    for transport in transports:
        rps = {}
        for audit in (True, False):
            group = [r for r in runs if r.transport == transport and r.label == LABELS[audit]]
            rps[audit] = statistics.median(r.rps for r in group)
            print(
                f"{transport:<9} {LABELS[audit]:<32} {rps[audit]:>7,.0f}"
                f" {_fmt(_median(r.p50_ms for r in group), '.2f'):>7}"
                f" {_fmt(_median(r.p99_ms for r in group), '.2f'):>7}"
                f" {_fmt(_median(r.server_cpu_us_per_request for r in group), '.0f', ' us'):>11}"
                f" {_fmt(_median(r.server_switches_per_request for r in group), '.1f'):>10}"
                f" {_fmt(_median(r.cpu_share(r.server.cpu_s if r.server else None) for r in group), '.0%'):>7}"
                f" {sum(r.errors for r in group):>6}"
            )
        ratio = rps[True] / rps[False] if rps[False] else float("nan")
        pairs = [r for r in runs if r.transport == transport]
        per_round = [
            on.rps / off.rps for on, off in zip(pairs[::2], pairs[1::2], strict=True) if off.rps
        ]
        spread = (
            f" (rounds {min(per_round):.2f} to {max(per_round):.2f})" if len(per_round) > 1 else ""
        )
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        ratios.append(f"{transport} {ratio:.2f}{spread}, cost {1 - ratio:.0%}: target {verdict}")
    print()
    print("throughput ratio audit on/off, of the medians (issue 4 target: >= 0.75, i.e. the audit")
    print("log costs at most 25%; reported, not enforced):")
    for line in ratios:
        print(f"   {line}")
    print(
        f"   leaves the audited gateway appended during the runs (warm-ups included): {appended:,}"
    )
    print()
    failed = [r for r in runs if r.errors]
    for run in failed:
        print(f"ERROR: {run.transport} {run.label}: {run.errors} failed, first: {run.first_error}")
    if failed:
        raise BenchError("some requests failed under load")
    return runs


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="every part, small (< 60 s)")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument("--rounds", type=int, help="rounds for appends and gateway (default 3)")
    parser.add_argument(
        "--threads", help="appending thread counts, comma-separated (default 1,4,16,64)"
    )
    parser.add_argument("--append-seconds", type=float, help="measured s per append run (5)")
    parser.add_argument("--append-warmup", type=float, help="warm-up s per append run (1)")
    parser.add_argument("--entries", type=int, help="leaves in the proofs log (1,000,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="leaves per fill append")
    parser.add_argument("--samples", type=int, help="timed proofs per kind (5,000)")
    parser.add_argument("--duration", type=int, help="measured s per gateway run (8)")
    parser.add_argument("--warmup", type=int, help="warm-up s per gateway run (2)")
    parser.add_argument("--concurrency", type=int, default=64, help="gateway load, in flight")
    parser.add_argument("--transports", choices=["both", "grpc", "rest"], default="both")
    parser.add_argument("--rest-client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_ENV) or None,
        help=f"PostgreSQL for the appends part (default ${POSTGRES_ENV}; unset: skipped)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    args.rounds = pick(args.rounds, 3, 1)
    args.threads = [int(t) for t in pick(args.threads, "1,4,16,64", "1,16").split(",")]
    args.append_seconds = pick(args.append_seconds, 5.0, 1.0)
    args.append_warmup = pick(args.append_warmup, 1.0, 0.3)
    args.entries = pick(args.entries, 1_000_000, 20_000)
    args.samples = pick(args.samples, 5_000, 300)
    args.duration = pick(args.duration, 8, 2)
    args.warmup = pick(args.warmup, 2, 1)
    args.parts = [p for p in args.parts.split(",") if p]
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.rounds < 1 or min(args.threads) < 1 or args.entries < 2 or args.batch < 1:
        parser.error("--rounds, --threads and --batch must be at least 1, --entries at least 2")
    return args


def print_header(args: argparse.Namespace, dbs: Databases) -> None:
    dists = ("sqlalchemy", "psycopg", "grpcio", "fastapi", "uvicorn")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"command:     {shlex.join([sys.executable, *sys.argv])}")
    print(f"python:      {platform.python_implementation()} {platform.python_version()}")
    print(f"cpus:        {os.cpu_count()} (usable here: {affinity}); {platform.platform()}")
    print(f"packages:    {', '.join(f'{d} {_version(d)}' for d in dists)}")
    print(f"sqlite:      {sqlite3.sqlite_version}, WAL, synchronous=FULL (gateway/storage)")
    if dbs.postgres_url:
        redacted = urllib.parse.urlsplit(dbs.postgres_url)
        where = f"{redacted.hostname}:{redacted.port}{redacted.path}"
        print(f"postgresql:  {dbs.server_version()} at {where}, a fresh schema per append run")
    else:
        print(f"postgresql:  skipped ({POSTGRES_ENV} not set)")
    print(f"parts:       {', '.join(args.parts)}{' (quick)' if args.quick else ''}")
    print()


def bench(args: argparse.Namespace, workdir: Path) -> int:
    children = Children(workdir)
    dbs = Databases(workdir, args.postgres_url)
    try:
        print_header(args, dbs)
        started = time.monotonic()
        if "appends" in args.parts:
            part_appends(args, children, dbs)
        if "proofs" in args.parts:
            part_proofs(args, children, dbs)
        if "gateway" in args.parts:
            part_gateway(args, children, workdir)
        print(f"total: {time.monotonic() - started:.0f} s")
        return 0
    finally:
        children.close()
        dbs.close()


def main(argv: Sequence[str] | None = None) -> int:
    return run_bench("bench_audit", bench, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
