"""Python load generators for bench_get_profile.py, run in their own process.

    python bench/_load.py grpc 127.0.0.1:PORT --request-hex HEX --expect-size N [options]
    python bench/_load.py rest URL --expect-size N [options]

Keeps --concurrency requests in flight for --warmup seconds, then measures for --duration seconds
or until --max-requests responses, whichever comes first. gRPC goes over one grpc.aio channel;
REST over --concurrency keep-alive HTTP/1.1 connections with one request in flight each, as wrk
does, written on bare asyncio streams (uvloop when installed). httpx is not used: its pool
collapses at this concurrency (about 120 req/s at 64 connections, 1,000 at 8, here). Any Python
client competes with the server for the CPUs, so the caller warns when this one stands
in for wrk.

It prints ``measure-start`` and ``measure-end`` as the measured window opens and closes (the
caller reads the server's CPU time and context switches at those moments), then one JSON line
with the results.

Throughput counts the responses that arrived inside the window; latencies are those of the
requests both sent and answered inside it. A response with the wrong status or size counts as
an error; one that took longer than --timeout as a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

# What one request returns: an error description, "timeout", or None when the response is right.
Call = Callable[[], Awaitable[str | None]]
# Makes the call one worker repeats: each may hold its own connection.
CallFactory = Callable[[], Call]


class Window:
    def __init__(self, max_requests: int) -> None:
        self.start = math.inf
        self.end = math.inf
        self.stopping = False
        self.max_requests = max_requests
        self.completed = 0
        self.errors = 0
        self.timeouts = 0
        self.first_error: str | None = None
        self.latencies: list[float] = []
        self.full = asyncio.Event()


async def _worker(call: Call, window: Window) -> None:
    while not window.stopping:
        sent = time.perf_counter()
        outcome = await call()
        done = time.perf_counter()
        if not window.start <= done <= window.end:
            continue
        if outcome is None:
            window.completed += 1
            if sent >= window.start:
                window.latencies.append(done - sent)
            if window.completed >= window.max_requests:
                window.full.set()
        elif outcome == "timeout":
            window.timeouts += 1
        else:
            window.errors += 1
            window.first_error = window.first_error or outcome


async def _clock(window: Window, warmup: float, duration: float) -> float:
    await asyncio.sleep(warmup)
    window.start = time.perf_counter()
    cpu0 = time.process_time()
    print("measure-start", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(window.full.wait(), duration)
    window.end = time.perf_counter()
    cpu = time.process_time() - cpu0
    print("measure-end", flush=True)
    window.stopping = True
    return cpu


async def drive(
    new_call: CallFactory, args: argparse.Namespace, window: Window | None = None
) -> dict[str, Any]:
    """Load with ``args.concurrency`` calls in flight; ``window`` when the caller must be able
    to close it early (bench/_auth_load.py: the DPoP proofs ran out)."""
    window = window or Window(args.max_requests)
    clock = asyncio.ensure_future(_clock(window, args.warmup, args.duration))
    workers = [asyncio.ensure_future(_worker(new_call(), window)) for _ in range(args.concurrency)]
    client_cpu = await clock
    # Requests still in flight finish (bounded by --timeout) but are not counted.
    await asyncio.wait(workers, timeout=args.timeout + 1)
    for task in workers:
        task.cancel()
    elapsed = window.end - window.start
    lat = sorted(window.latencies)
    return {
        "requests": window.completed,
        "errors": window.errors,
        "timeouts": window.timeouts,
        "first_error": window.first_error,
        "elapsed_s": elapsed,
        "rps": window.completed / elapsed if elapsed > 0 else 0.0,
        "p50_ms": _percentile(lat, 0.50) * 1e3,
        "p99_ms": _percentile(lat, 0.99) * 1e3,
        "client_cpu_s": client_cpu,
    }


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN without samples."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def run_grpc(args: argparse.Namespace) -> dict[str, Any]:
    import grpc

    request = bytes.fromhex(args.request_hex)
    async with grpc.aio.insecure_channel(args.target) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        # No (de)serializers: the client sends and receives bytes, so it spends nothing on protobuf.
        method = channel.unary_unary(args.method)

        async def call() -> str | None:
            try:
                response = await method(request, timeout=args.timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return "timeout"
                return f"{exc.code().name}: {exc.details()}"
            if len(response) != args.expect_size:
                return f"response is {len(response)} bytes, expected {args.expect_size}"
            return None

        return await drive(lambda: call, args)


async def run_rest(args: argparse.Namespace) -> dict[str, Any]:
    url = urllib.parse.urlsplit(args.target)
    if url.scheme != "http" or url.hostname is None:
        raise SystemExit(f"only http:// URLs: {args.target}")
    path = url.path + (f"?{url.query}" if url.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: */*\r\n\r\n".encode()

    def new_call() -> Call:
        send = rest_caller(url.hostname or "", url.port or 80, args)
        return lambda: send(request)

    return await drive(new_call, args)


def rest_caller(
    host: str, port: int, args: argparse.Namespace, context: ssl.SSLContext | None = None
) -> Callable[[bytes], Awaitable[str | None]]:
    """Sends whole HTTP/1.1 requests one after another over one keep-alive connection (TLS
    with ``context``), opened on first use and again after a failure; each answer must be
    200 with ``args.expect_size`` bytes (-1: any size)."""
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def drop() -> None:
        if streams:
            streams.pop()[1].close()

    async def send(request: bytes) -> str | None:
        try:
            async with asyncio.timeout(args.timeout):
                if not streams:
                    streams.append(await asyncio.open_connection(host, port, ssl=context))
                reader, writer = streams[0]
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status, headers = _parse_head(head)
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        except TimeoutError:
            drop()
            return "timeout"
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            drop()
            return f"{type(exc).__name__}: {exc}"
        if headers.get(b"connection", b"").lower() == b"close":
            drop()
        if status != 200:
            return f"HTTP {status}: {body[:200]!r}"
        if args.expect_size >= 0 and len(body) != args.expect_size:
            return f"response is {len(body)} bytes, expected {args.expect_size}"
        return None

    return send


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    """Status code and lower-cased headers of an HTTP/1.1 response head."""
    status_line, *lines = head.rstrip(b"\r\n").split(b"\r\n")
    version, code, *_ = status_line.split(b" ", 2)
    if not version.startswith(b"HTTP/1.") or b"transfer-encoding" in head.lower():
        raise ValueError(f"unsupported response: {status_line!r}")
    headers = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(code), headers


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["grpc", "rest"])
    parser.add_argument("target", help="host:port for grpc, a URL for rest")
    parser.add_argument("--expect-size", type=int, required=True, help="response size in bytes")
    parser.add_argument("--request-hex", default="", help="grpc: the serialized request")
    parser.add_argument(
        "--method", default="/cxg.v1.ProfileService/GetProfile", help="grpc: method path"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    args = parser.parse_args()
    if args.kind == "grpc":
        result = asyncio.run(run_grpc(args))  # grpc.aio wants the stock event loop
    else:
        try:
            import uvloop
        except ImportError:
            result = asyncio.run(run_rest(args))
        else:
            result = uvloop.run(run_rest(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
