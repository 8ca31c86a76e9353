"""Bare echo servers that bench_get_profile.py measures the gateway against.

    python bench/_baselines.py grpc SIZE [--port 0] [--tls DIR]   grpcio sync server, bytes handler
    python bench/_baselines.py rest SIZE [--port 0] [--tls DIR]   FastAPI on uvicorn (uvloop, httptools)
    python bench/_baselines.py insert SIZE --database URL [--threads N --warmup S --duration S]

Each answers every GetProfile with a prebuilt payload of SIZE bytes and does nothing else, so
the difference to the gateway is the gateway's own work per request. Both listen on 127.0.0.1
only (port 0 picks a free port), print ``listening on 127.0.0.1:PORT`` once they accept
connections, and stop on SIGTERM or SIGINT.

``insert`` is no server: it is bench_real.py's floor for PublishProfile. ``--threads`` threads
each insert rows of SIZE bytes one after another, each in its own durable transaction through
the gateway's own ``Database`` (SQLite WAL, synchronous=FULL, the same write lock), as the
gateway commits each published version; it prints one JSON line (rows/s, latencies, CPU).

The servers are configured like the gateway's own transports (gateway/transport/): the same thread
pool size and options for gRPC, the same uvicorn loop, parser and logging for REST. With
``--tls DIR`` (a PKI folder as ``cxg pki`` lays it out) they serve mutual TLS exactly as the
gateway does with ``CXG_TLS_DIR``: its server certificate, client certificates required.
"""

from __future__ import annotations

import argparse
import math
import signal
import socket
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
GRPC_SERVICE = "cxg.v1.ProfileService"
REST_PATH = "/v1/profiles:lookup"
# The gateway serves gRPC with grpc.aio; a thread-pool server is the faster bare echo here
# (PERFORMANCE.md), so it is the harder baseline.
GRPC_WORKERS = 32
LISTEN_BACKLOG = 1024


def serve_grpc(size: int, port: int, tls: Path | None) -> None:
    import grpc

    from gateway.transport.serve import grpc_mtls
    from gateway.trust.pki import ServerTlsFiles

    payload = b"x" * size

    def get_profile(request: bytes, context: Any) -> bytes:
        return payload

    # No (de)serializers: the handler receives and returns bytes, as the gateway's handlers do.
    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE, {"GetProfile": grpc.unary_unary_rpc_method_handler(get_profile)}
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS),
        options=[("grpc.so_reuseport", 0)],
    )
    server.add_generic_rpc_handlers((handler,))
    address = f"{HOST}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, grpc_mtls(ServerTlsFiles.in_dir(tls)))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"listening on {HOST}:{bound}", flush=True)
    stop.wait()
    server.stop(grace=1).wait()


def serve_rest(size: int, port: int, tls: Path | None) -> None:
    import uvicorn
    from fastapi import FastAPI, Response

    from gateway.transport.serve import rest_mtls
    from gateway.trust.pki import ServerTlsFiles

    # A JSON body of exactly SIZE bytes, built once; the endpoint hands back the same Response
    # object every time (no pydantic model, no serialization: the fastest FastAPI endpoint).
    prefix, suffix = b'{"pad":"', b'"}'
    if size < len(prefix) + len(suffix):
        raise SystemExit(f"size must be at least {len(prefix) + len(suffix)} bytes")
    body = prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix
    prebuilt = Response(content=body, media_type="application/json")

    app = FastAPI()

    @app.get(REST_PATH)
    async def lookup() -> Response:
        return prebuilt

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(LISTEN_BACKLOG)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            http="httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
            workers=1,
            **(rest_mtls(ServerTlsFiles.in_dir(tls)) if tls else {}),
        )
    )
    # Connections queue in the backlog until uvicorn accepts them, so this is already true.
    print(f"listening on {HOST}:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])  # uvicorn handles SIGTERM/SIGINT itself


def insert_rows(size: int, url: str, threads: int, warmup: float, duration: float) -> None:
    import json
    import time

    from sqlalchemy import Column, Integer, MetaData, Table, Text, insert

    from gateway.storage import Database

    table = Table(
        "published", MetaData(), Column("id", Integer, primary_key=True), Column("jws", Text)
    )
    db = Database.from_url(url)
    table.create(db.engine)
    statement = insert(table).values(jws="x" * size)
    latencies: list[float] = []
    window = [math.inf, math.inf]

    def writer() -> None:
        while (now := time.perf_counter()) < window[1]:
            with db.write() as conn:
                conn.execute(statement)
            done = time.perf_counter()
            if window[0] <= now and done <= window[1]:
                latencies.append(done - now)

    start = time.perf_counter()
    window[:] = [start + warmup, start + warmup + duration]
    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for thread in workers:
        thread.start()
    time.sleep(warmup)
    cpu = time.process_time()
    for thread in workers:
        thread.join()
    cpu = time.process_time() - cpu
    db.dispose()
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, math.ceil(q * len(latencies)) - 1)] * 1e3

    print(
        json.dumps(
            {
                "requests": len(latencies),
                "rps": len(latencies) / duration,
                "p50_ms": percentile(0.5),
                "p99_ms": percentile(0.99),
                "elapsed_s": duration,
                "cpu_s": cpu,
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["grpc", "rest", "insert"])
    parser.add_argument("size", type=int, help="response payload size in bytes")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--tls", type=Path, help="serve mutual TLS with this PKI folder")
    parser.add_argument("--database", help="insert: the database URL")
    parser.add_argument("--threads", type=int, default=64, help="insert: writing threads")
    parser.add_argument("--warmup", type=float, default=2.0, help="insert: seconds")
    parser.add_argument("--duration", type=float, default=8.0, help="insert: seconds")
    args = parser.parse_args()
    if args.kind == "insert":
        if not args.database:
            parser.error("insert needs --database")
        insert_rows(args.size, args.database, args.threads, args.warmup, args.duration)
        return
    (serve_grpc if args.kind == "grpc" else serve_rest)(args.size, args.port, args.tls)


if __name__ == "__main__":
    main()
