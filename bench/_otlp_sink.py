"""An OTLP/HTTP trace receiver for bench_observe.py: it takes what a traced gateway exports, counts
it, and keeps nothing.

    python bench/_otlp_sink.py [--port 0]

Listens on 127.0.0.1 only, prints ``listening on 127.0.0.1:PORT`` once it accepts connections,
answers every ``POST /v1/traces`` (protobuf, gzip or not) with an empty
``ExportTraceServiceResponse``, and ``GET /count`` with the exports, spans and bytes received so
far as JSON. A real collector does more per span; this one costs the gateway only the export
itself, which is what the benchmark measures.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

HOST = "127.0.0.1"
_EMPTY_ANSWER = ExportTraceServiceResponse().SerializeToString()


class Counts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exports = self.spans = self.bytes = 0

    def add(self, spans: int, size: int) -> None:
        with self._lock:
            self.exports += 1
            self.spans += spans
            self.bytes += size

    def as_json(self) -> bytes:
        with self._lock:
            return json.dumps(
                {"exports": self.exports, "spans": self.spans, "bytes": self.bytes}
            ).encode()


def handler(counts: Counts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the exporter keeps its connection open

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/traces":
                self._answer(404, b"")
                return
            size = len(body)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            counts.add(
                sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans), size
            )
            self._answer(200, _EMPTY_ANSWER, "application/x-protobuf")

        def do_GET(self) -> None:
            if self.path == "/count":
                self._answer(200, counts.as_json(), "application/json")
            else:
                self._answer(404, b"")

        def _answer(self, status: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per export would only fill the benchmark's log

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    server = ThreadingHTTPServer((HOST, port), handler(Counts()))
    print(f"listening on {HOST}:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
