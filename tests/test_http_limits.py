"""What an unauthenticated client can make a running gateway hold, from outside over raw sockets:
oversized request heads (431, 414), malformed ones (400), slow or idle connections (408, or
closed), too many connections (503), every answer RFC 9457 problem+json; over TLS too; and gRPC's
bounds on metadata and on a connection that never completes its handshake."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from gateway.config import Settings
from gateway.transport.errors import PROBLEM_JSON
from gateway.transport.rest._http import HttpLimits, bounded_protocol
from gateway.transport.serve import Gateway
from tests.test_mtls import cxg

MIB = 1024 * 1024
HEAD_LIMIT = 16 * 1024
# Short deadlines, so that a slow client is given up on within the test's patience.
TIMEOUT = 1.0
LIMITS: dict[str, Any] = {
    "max_header_bytes": HEAD_LIMIT,
    "max_url_bytes": 8 * 1024,
    "max_header_count": 100,
    "header_timeout_seconds": TIMEOUT,
    "body_idle_timeout_seconds": TIMEOUT,
    "keep_alive_seconds": 1,
}
SLACK = 4.0  # a shared two-core machine may be slow; nothing here is a benchmark


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, Any]:
        assert self.headers["content-type"] == PROBLEM_JSON
        document: dict[str, Any] = json.loads(self.body)
        assert document["status"] == self.status
        assert document["type"].startswith("urn:cxg:problem:")
        assert document["title"] and document["detail"]
        return document


@contextmanager
def serving(settings: Settings, **limits: Any) -> Iterator[Gateway]:
    running = Gateway(dataclasses.replace(settings, **{**LIMITS, **limits}))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Gateway]:
    with serving(settings) as running:
        yield running


def connect(gateway: Gateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.rest_port), timeout=TIMEOUT + SLACK)


def send(sock: socket.socket, data: bytes) -> None:
    """Send what the server still reads: it may answer and close before taking it all."""
    with contextlib.suppress(OSError):  # BrokenPipeError, ConnectionResetError
        sock.sendall(data)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # closed with our bytes unread: its answer came first
            return received
        if not chunk:
            return received
        received += chunk


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(status_line.split()[1]), headers, body)


def exchange(gateway: Gateway, request: bytes) -> Answer:
    """Send ``request`` on a new connection; its answer once the server has closed it."""
    with connect(gateway) as sock:
        send(sock, request)
        return parse(read_all(sock))


def refused_and_closed(answer: Answer, status: int) -> dict[str, Any]:
    assert answer.status == status, answer
    assert answer.headers["connection"] == "close"
    assert int(answer.headers["content-length"]) == len(answer.body)
    return answer.problem()


def send_header_of(sock: socket.socket, size: int) -> int:
    """Stream a header field of ``size`` bytes until the server answers; the bytes sent."""
    chunk = b"a" * 65536
    sent = 0
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: cxg\r\nX-Big: ")
    try:
        while sent < size and not select.select([sock], [], [], 0)[0]:
            sent += sock.send(chunk)
    except OSError:  # closed, with our bytes unread
        pass
    return sent


def test_a_16_mib_header_is_refused_after_the_limit_without_being_read(gateway: Gateway) -> None:
    with connect(gateway) as sock:
        sent = send_header_of(sock, 16 * MIB)
        answer = parse(read_all(sock))
    problem = refused_and_closed(answer, 431)
    assert problem["type"] == "urn:cxg:problem:header-fields-too-large"
    assert problem["detail"] == (
        f"the request line and header fields are larger than {HEAD_LIMIT} bytes"
    )
    # Only the socket buffers took more than the limit: the server stopped reading at it.
    assert sent < 16 * MIB


def test_eight_64_mib_headers_at_once_are_refused(gateway: Gateway) -> None:
    answers: list[tuple[int, int]] = []

    def flood() -> None:
        with connect(gateway) as sock:
            sent = send_header_of(sock, 64 * MIB)
            answers.append((parse(read_all(sock)).status, sent))

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 8
    assert all(status == 431 and sent < 64 * MIB for status, sent in answers), answers
    health = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/healthz", timeout=10)
    assert health.status_code == 200


def test_100000_header_fields_are_refused(gateway: Gateway) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: cxg\r\n" + b"X-N: 1\r\n" * 100_000 + b"\r\n"
    problem = refused_and_closed(exchange(gateway, request), 431)
    assert problem["detail"] == "more than 100 header fields"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: cxg\r\n" + b"X-N: 1\r\n" * 1000 + b"\r\n", 431),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: cxg\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nHost: cxg\r\nContent-Length: x\r\n\r\n", 400),
    ],
    ids=["head-too-large", "target-too-long", "malformed"],
)
def test_an_answer_of_the_http_layer_is_logged_and_counted_as_a_request(
    gateway: Gateway, caplog: pytest.LogCaptureFixture, request_bytes: bytes, status: int
) -> None:
    """Refused before the app has the request, so the app's observation never sees it: the
    line, the metrics and the request id come from the HTTP layer itself."""
    caplog.set_level(logging.INFO, logger="cxg.request")
    labels = {"transport": "rest", "operation": "unmatched", "status": str(status)}
    before = REGISTRY.get_sample_value("cxg_requests_total", labels) or 0.0
    answer = exchange(gateway, request_bytes)
    problem = refused_and_closed(answer, status)
    request_id = answer.headers["x-request-id"]
    [line] = [
        record.fields  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "cxg.request" and record.fields["requestId"] == request_id  # type: ignore[attr-defined]
    ]
    assert (line["operation"], line["status"], line["bytesOut"]) == (
        "unmatched",
        str(status),
        len(answer.body),
    )
    assert "urn:cxg:problem:" + line["problem"] == problem["type"]
    assert REGISTRY.get_sample_value("cxg_requests_total", labels) == before + 1


def test_just_under_the_limits_is_served(gateway: Gateway) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: cxg\r\nConnection: close\r\n"
    fields = b"".join(b"X-%d: 1\r\n" % n for n in range(97))
    padding = HEAD_LIMIT - len(head) - len(fields) - len(b"X-Pad: \r\n\r\n")
    request = head + fields + b"X-Pad: " + b"p" * padding + b"\r\n\r\n"
    assert len(request) == HEAD_LIMIT
    assert exchange(gateway, request).status == 200


@pytest.mark.parametrize("length", [9 * 1024, MIB])
def test_a_long_request_target_is_refused_414(gateway: Gateway, length: int) -> None:
    request = b"GET /healthz?q=" + b"a" * length + b" HTTP/1.1\r\nHost: cxg\r\n\r\n"
    problem = refused_and_closed(exchange(gateway, request), 414)
    assert problem["type"] == "urn:cxg:problem:uri-too-long"
    assert "8192 bytes" in problem["detail"]


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        (b"Content-Length: abc\r\n", "Content-Length"),
        (b"Content-Length: 1\r\nContent-Length: 2\r\n", "Content-Length"),
        (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "Transfer-Encoding"),
        (b"X-Bad: a\x01b\r\n", "header value"),
        (b"X Bad: ab\r\n", "header token"),
    ],
)
def test_a_malformed_request_is_a_problem_naming_the_fault(
    gateway: Gateway, fault: bytes, named: str
) -> None:
    request = b"POST /oauth2/token HTTP/1.1\r\nHost: cxg\r\n" + fault + b"\r\nabc"
    problem = refused_and_closed(exchange(gateway, request), 400)
    assert problem["type"] == "urn:cxg:problem:malformed-request"
    assert named in problem["detail"]


def test_a_head_trickled_a_byte_at_a_time_is_answered_408(gateway: Gateway) -> None:
    started = time.monotonic()
    with connect(gateway) as sock:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: cxg\r\nX-Slow: " + b"s" * 1000:
            if select.select([sock], [], [], 0.2)[0]:
                break
            send(sock, bytes([byte]))
        answer = parse(read_all(sock))
    problem = refused_and_closed(answer, 408)
    assert problem["type"] == "urn:cxg:problem:request-timeout"
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(gateway: Gateway) -> None:
    started = time.monotonic()
    with connect(gateway) as sock:
        assert read_all(sock) == b""
    assert time.monotonic() - started < TIMEOUT + SLACK


def test_an_idle_kept_alive_connection_is_closed(gateway: Gateway) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: cxg\r\n\r\n")
        answer = parse(read_all(sock))  # 200, then closed after the keep-alive timeout
    assert answer.status == 200
    assert answer.headers.get("connection") != "close"


def test_a_body_that_stops_coming_is_answered_408(gateway: Gateway) -> None:
    request = (
        b"POST /oauth2/token HTTP/1.1\r\nHost: cxg\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        b"grant_type="
    )
    problem = refused_and_closed(exchange(gateway, request), 408)
    assert "request body" in problem["detail"]


def test_slow_connections_are_all_closed_while_others_are_served(gateway: Gateway) -> None:
    slow = [connect(gateway) for _ in range(50)]
    try:
        for sock in slow:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: cxg\r\nX-Slow: ")
        health = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/healthz", timeout=TIMEOUT)
        assert health.status_code == 200
        answers = [parse(read_all(sock)) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    assert {answer.status for answer in answers} == {408}


def read_one(sock: socket.socket) -> Answer:
    """One answer on a connection kept alive (its body has a Content-Length)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    answer = parse(received)
    while len(answer.body) < int(answer.headers["content-length"]):
        received += sock.recv(65536)
        answer = parse(received)
    return answer


def test_connections_over_the_limit_are_refused_503(settings: Settings) -> None:
    healthz = b"GET /healthz HTTP/1.1\r\nHost: cxg\r\n\r\n"
    healthz_once = b"GET /healthz HTTP/1.1\r\nHost: cxg\r\nConnection: close\r\n\r\n"
    with serving(settings, max_connections=5, keep_alive_seconds=60) as running:
        held = [connect(running) for _ in range(5)]
        try:
            for sock in held:  # served, so surely counted, and kept alive
                sock.sendall(healthz)
                assert read_one(sock).status == 200
            problem = refused_and_closed(exchange(running, healthz_once), 503)
            assert problem["type"] == "urn:cxg:problem:unavailable"
            held.pop().close()
            deadline = time.monotonic() + SLACK
            while (status := exchange(running, healthz_once).status) == 503:
                assert time.monotonic() < deadline, "a closed connection was never released"
                time.sleep(0.05)
            assert status == 200
        finally:
            for sock in held:
                sock.close()


def test_the_limits_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CXG_MAX_HEADER_BYTES": "8192",
            "CXG_MAX_URL_BYTES": "4096",
            "CXG_MAX_HEADER_COUNT": "50",
            "CXG_HEADER_TIMEOUT_SECONDS": "2.5",
            "CXG_BODY_IDLE_TIMEOUT_SECONDS": "7",
            "CXG_KEEP_ALIVE_SECONDS": "3",
            "CXG_MAX_CONNECTIONS": "20",
        }
    )
    assert HttpLimits.from_settings(settings) == HttpLimits(
        max_header_bytes=8192,
        max_url_bytes=4096,
        max_header_count=50,
        header_timeout=2.5,
        body_idle_timeout=7.0,
        max_connections=20,
    )
    assert settings.keep_alive_seconds == 3


def test_an_upgrade_request_is_served_as_http_and_ends_the_connection(gateway: Gateway) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: cxg\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    answer = exchange(gateway, request + b"GET /healthz HTTP/1.1\r\nHost: cxg\r\n\r\n")
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    assert answer.body.count(b"HTTP/1.1") == 0  # the request after it is not read


@contextmanager
def serving_app(app: Any) -> Iterator[int]:
    """``app`` served by the gateway's HTTP protocol alone; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    limits = HttpLimits(
        max_header_bytes=HEAD_LIMIT,
        max_url_bytes=8 * 1024,
        max_header_count=100,
        header_timeout=TIMEOUT,
        body_idle_timeout=TIMEOUT,
        max_connections=10,
    )
    config = uvicorn.Config(
        app, http=bounded_protocol(limits), ws="none", lifespan="off", log_level="critical"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[listener]),))
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.mark.parametrize("fault", ["raises", "returns without answering"])
def test_an_app_failing_before_it_answers_gets_a_500_problem(fault: str) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        if fault == "raises":
            raise RuntimeError("a bug")

    with serving_app(failing) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: cxg\r\n\r\n")
        answer = parse(read_all(sock))
    assert answer.status == 500
    assert answer.problem()["type"] == "urn:cxg:problem:internal"


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    cxg("pki", "init", "--dir", str(tmp_path / "pki"))
    cxg("pki", "issue-partner", "kz-bank", "--dir", str(tmp_path / "pki"))
    return tmp_path / "pki"


def test_over_tls_the_same_limits_apply(settings: Settings, pki_dir: Path) -> None:
    tls = ssl.create_default_context(cafile=str(pki_dir / "ca.pem"))
    partner = pki_dir / "partners"
    tls.load_cert_chain(partner / "kz-bank.pem", partner / "kz-bank-key.pem")

    def over_tls(running: Gateway, request: bytes) -> Answer:
        with tls.wrap_socket(connect(running), server_hostname="127.0.0.1") as sock:
            send(sock, request)
            return parse(read_all(sock))

    with serving(settings, tls_dir=pki_dir) as running:
        too_large = over_tls(running, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * MIB)
        assert refused_and_closed(too_large, 431)
        malformed = over_tls(running, b"GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        assert "Content-Length" in refused_and_closed(malformed, 400)["detail"]
        slow = over_tls(running, b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        assert refused_and_closed(slow, 408)


def test_grpc_metadata_over_the_limit_is_refused_and_the_server_stays_up(
    gateway: Gateway,
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        # Under the limit, always served: no soft limit refusing at random.
        for _ in range(20):
            health.Check(request, metadata=(("x-fill", "a" * (12 * 1024)),), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            health.Check(request, metadata=(("x-fill", "a" * (64 * 1024)),), timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        answer = health.Check(request, timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_grpc_closes_a_connection_that_never_completes_its_handshake(gateway: Gateway) -> None:
    started = time.monotonic()
    with socket.create_connection(
        ("127.0.0.1", gateway.grpc_port), timeout=TIMEOUT + SLACK
    ) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n")  # part of the preface, then nothing
        read_all(sock)  # grpc says why (a GOAWAY frame), then closes
    assert time.monotonic() - started < TIMEOUT + SLACK
