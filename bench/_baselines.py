"""Bare echo servers that bench_get_profile.py measures the gateway against.

    python bench/_baselines.py grpc SIZE [--port 0]   grpcio sync server, generic bytes handler
    python bench/_baselines.py rest SIZE [--port 0]   FastAPI on uvicorn (uvloop, httptools)

Each answers every GetProfile with a prebuilt payload of SIZE bytes and does nothing else, so
the difference to the gateway is the gateway's own work per request. Both listen on 127.0.0.1
only (port 0 picks a free port), print ``listening on 127.0.0.1:PORT`` once they accept
connections, and stop on SIGTERM or SIGINT.

They are configured like the gateway's own transports (gateway/transport/): the same thread
pool size and options for gRPC, the same uvicorn loop, parser and logging for REST.
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
from concurrent import futures
from typing import Any

HOST = "127.0.0.1"
GRPC_SERVICE = "cxg.v1.ProfileService"
REST_PATH = "/v1/profiles:lookup"
# The gateway serves gRPC with grpc.aio; a thread-pool server is the faster bare echo here
# (PERFORMANCE.md), so it is the harder baseline.
GRPC_WORKERS = 32
LISTEN_BACKLOG = 1024


def serve_grpc(size: int, port: int) -> None:
    import grpc

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
    bound = server.add_insecure_port(f"{HOST}:{port}")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"listening on {HOST}:{bound}", flush=True)
    stop.wait()
    server.stop(grace=1).wait()


def serve_rest(size: int, port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, Response

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
        )
    )
    # Connections queue in the backlog until uvicorn accepts them, so this is already true.
    print(f"listening on {HOST}:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])  # uvicorn handles SIGTERM/SIGINT itself


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["grpc", "rest"])
    parser.add_argument("size", type=int, help="response payload size in bytes")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    args = parser.parse_args()
    (serve_grpc if args.kind == "grpc" else serve_rest)(args.size, args.port)


if __name__ == "__main__":
    main()
