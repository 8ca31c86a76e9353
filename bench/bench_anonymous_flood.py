"""How fast an anonymous flood can grow the audit log and the database, with the flood limits.

    .venv/bin/python bench/bench_anonymous_flood.py              # 5,000 requests per scenario
    .venv/bin/python bench/bench_anonymous_flood.py --quick      # 600: a smoke run

Seeds the demo into a temporary directory (SQLite) and, for each scenario, starts ``cxg serve``
on 127.0.0.1 with the limits of the environment (the defaults unless CXG_ANONYMOUS_* or
CXG_REFUSAL_SUMMARY_SECONDS are set), floods it from this process with requests that carry no
token (--concurrency in flight), and stops it with SIGTERM, which writes the last summary:

    rest, 1 source    GET /v1/profiles:lookup from 127.0.0.1: the per-source limit binds
    grpc, 1 source    GetProfile from 127.0.0.1
    rest, N sources   the same GET spread over --sources addresses 127.0.0.2, 127.0.0.3, ...
                      (on Linux every 127/8 address is local): the global budget binds

For each: the requests and their rate, the answers by status, the leaves added (their own, and
summaries) and their bytes, the bytes added to the database (pages in use after a WAL checkpoint,
with the gateway stopped: leaves, Merkle nodes, refusal rows, indexes), per second of flood. It
checks that every request was refused and that leaves of their own plus summary counts add up
to the requests, and exits non-zero if not. A short flood overstates the steady rate: a burst
(per source, and one second of the global budget) is spent at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import urllib.error
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import grpc
import httpx
from bench_get_profile import (
    DEMO_SCHEME,
    DEMO_VALUE,
    HOST,
    START_TIMEOUT,
    BenchError,
    Children,
    gateway_env,
    http_get,
    launch_gateway,
    seed_demo,
)
from sqlalchemy import func, select

from gateway.config import Settings
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.storage import Database
from gateway.storage.audit import AuditStore
from gateway.storage.tables import refusals

LOOKUP = f"/v1/profiles:lookup?scheme={DEMO_SCHEME}&value={DEMO_VALUE}&purpose=credit_reporting"
GET_PROFILE = "/cxg.v1.ProfileService/GetProfile"
AUDIT_LEAF = "cxg-audit-leaf"


@dataclass
class Flood:
    """What the client saw: answers by status, and how many named a leaf of their own."""

    seconds: float = 0.0
    statuses: Counter[str] | None = None
    own_leaves: int = 0


@dataclass
class Growth:
    leaves: int
    summaries: int
    summarized: int  # refusals counted in the summaries
    leaf_bytes: int
    refusal_rows: int
    db_bytes: int


async def _drive(
    requests: int, concurrency: int, call: Callable[[int], Awaitable[tuple[str, bool]]]
) -> Flood:
    flood = Flood(statuses=Counter())
    assert flood.statuses is not None
    next_index = iter(range(requests))

    async def worker() -> None:
        assert flood.statuses is not None
        for index in next_index:
            status, own = await call(index)
            flood.statuses[status] += 1
            flood.own_leaves += own

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    flood.seconds = time.perf_counter() - began
    return flood


async def flood_rest(port: int, requests: int, concurrency: int, sources: list[str]) -> Flood:
    clients = [
        httpx.AsyncClient(
            base_url=f"http://{HOST}:{port}",
            transport=httpx.AsyncHTTPTransport(local_address=source),
            timeout=30,
            # What a client claims is never its source.
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        for source in sources
    ]

    async def call(index: int) -> tuple[str, bool]:
        answer = await clients[index % len(clients)].get(LOOKUP)
        return str(answer.status_code), AUDIT_LEAF in answer.headers

    try:
        return await _drive(requests, concurrency, call)
    finally:
        for client in clients:
            await client.aclose()


async def flood_grpc(port: int, requests: int, concurrency: int) -> Flood:
    request = pb.GetProfileRequest(
        id={"scheme": DEMO_SCHEME, "value": DEMO_VALUE}, purpose="credit_reporting"
    ).SerializeToString()
    async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
        stub = channel.unary_unary(GET_PROFILE)

        async def call(index: int) -> tuple[str, bool]:
            try:
                await stub(request, timeout=30)
            except grpc.aio.AioRpcError as exc:
                trailers = dict(exc.trailing_metadata() or ())
                return exc.code().name, AUDIT_LEAF in trailers
            return "OK", True

        return await _drive(requests, concurrency, call)


def used_bytes(path: Path) -> int:
    """Bytes of the pages in use, after folding the WAL into the file (the gateway stopped)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def state(url: str) -> tuple[int, int]:
    """The audit log's size and the last refusal row's id."""
    db = Database.from_url(url)
    try:
        last = db.read(select(func.coalesce(func.max(refusals.c.id), 0)))[0][0]
        return AuditStore(db).size(), int(last)
    finally:
        db.dispose()


def growth(url: str, path: Path, before: tuple[int, int], bytes_before: int) -> Growth:
    db = Database.from_url(url)
    try:
        store = AuditStore(db)
        added = store.leaves(before[0], store.size())
        documents = [json.loads(leaf.data) for leaf in added]
        summaries = [d for d in documents if d.get("kind") == "summary"]
        rows = db.read(select(func.count()).where(refusals.c.id > before[1]))[0][0]
    finally:
        db.dispose()
    return Growth(
        leaves=len(added) - len(summaries),
        summaries=len(summaries),
        summarized=sum(c["count"] for d in summaries for c in d["counts"]),
        leaf_bytes=sum(len(leaf.data) for leaf in added),
        refusal_rows=int(rows),
        db_bytes=used_bytes(path) - bytes_before,
    )


def serve(children: Children, name: str, env: dict[str, str]) -> tuple[Popen[bytes], int, int]:
    """``cxg serve``, its output in NAME.log (a fresh log: its listening line gives the ports)."""
    proc, grpc_port, rest_port = launch_gateway(children, name, env, open_gate=False)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            http_get(f"http://{HOST}:{rest_port}/healthz")
            return proc, grpc_port, rest_port
        except (OSError, BenchError, urllib.error.URLError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    f"gateway never answered /healthz:\n{children.tail(name)}"
                ) from None
            time.sleep(0.1)


def report(name: str, requests: int, flood: Flood, grown: Growth) -> bool:
    assert flood.statuses is not None
    seconds = flood.seconds
    refused = sum(n for status, n in flood.statuses.items() if status not in ("200", "OK"))
    unlogged = requests - flood.own_leaves
    statuses = ", ".join(f"{status} x{n:,}" for status, n in sorted(flood.statuses.items()))
    throttled = sum(n for s, n in flood.statuses.items() if s in ("429", "RESOURCE_EXHAUSTED"))
    print(f"== {name}: {requests:,} requests in {seconds:.2f} s ({requests / seconds:,.0f}/s)")
    print(
        f"   answers: {statuses}; 429s: {throttled / seconds:,.0f}/s ({throttled / requests:.1%})"
    )
    print(
        f"   leaves:  {grown.leaves:,} of their own ({grown.leaves / seconds:,.1f}/s) + "
        f"{grown.summaries} summary counting {grown.summarized:,} refusals; "
        f"{grown.leaf_bytes:,} leaf bytes ({grown.leaf_bytes / seconds:,.0f} B/s)"
    )
    print(
        f"   database: +{grown.db_bytes:,} bytes in use ({grown.db_bytes / seconds:,.0f} B/s, "
        f"{grown.db_bytes / max(1, grown.leaves + grown.summaries):,.0f} per leaf); "
        f"+{grown.refusal_rows:,} refusal rows"
    )
    checks = {
        "every request refused": refused == requests,
        "own leaves as answered": grown.leaves == flood.own_leaves,
        "own leaves + summary counts == requests": grown.leaves + grown.summarized == requests,
        "refusal rows == own leaves + summaries": grown.refusal_rows
        == grown.leaves + grown.summaries,
        "refusals without a leaf were all summarized": grown.summarized == unlogged,
    }
    failed = [check for check, ok in checks.items() if not ok]
    print("   checked: " + ("all accounted for" if not failed else "FAILED " + "; ".join(failed)))
    return not failed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000, help="per scenario (default 5000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sources", type=int, default=250, help="addresses of the last scenario")
    parser.add_argument("--quick", action="store_true", help="600 requests per scenario")
    args = parser.parse_args()
    requests = 600 if args.quick else args.requests
    if not 1 <= args.sources <= 250:
        parser.error("--sources must be within 1..250 (127.0.0.2-251)")

    with tempfile.TemporaryDirectory(prefix="cxg-flood-") as directory:
        workdir = Path(directory)
        env = gateway_env(workdir)
        limits = Settings.from_env(env)
        print(
            f"limits: per source {limits.anonymous_rps:g}/s burst {limits.anonymous_burst}; "
            f"{limits.anonymous_leaves_per_second:g} own leaves/s over all sources; a summary "
            f"every {limits.refusal_summary_seconds:g} s; SQLite; concurrency {args.concurrency}"
        )
        seed_demo(workdir, env)
        url, path = env["CXG_DATABASE_URL"], workdir / "cxg.db"
        scenarios: list[tuple[str, Callable[[int, int], Coroutine[Any, Any, Flood]]]] = [
            ("rest, 1 source", lambda g, r: flood_rest(r, requests, args.concurrency, [HOST])),
            ("grpc, 1 source", lambda g, r: flood_grpc(g, requests, args.concurrency)),
            (
                f"rest, {args.sources} sources",
                lambda g, r: flood_rest(
                    r,
                    requests,
                    args.concurrency,
                    [f"127.0.0.{i}" for i in range(2, 2 + args.sources)],
                ),
            ),
        ]
        children = Children(workdir)
        ok = True
        try:
            for number, (name, scenario) in enumerate(scenarios, 1):
                before, bytes_before = state(url), used_bytes(path)
                log = f"gateway-{number}"
                proc, grpc_port, rest_port = serve(children, log, env)
                flood = asyncio.run(scenario(grpc_port, rest_port))
                children.stop(proc, grace=30)  # SIGTERM: a clean stop writes the last summary
                if proc.returncode != 0:
                    raise BenchError(f"the gateway did not stop cleanly:\n{children.tail(log)}")
                ok = report(name, requests, flood, growth(url, path, before, bytes_before)) and ok
        except BenchError as exc:
            print(f"bench_anonymous_flood: {exc}", file=sys.stderr)
            return 1
        finally:
            children.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
