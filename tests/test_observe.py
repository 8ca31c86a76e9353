"""Operating the gateway: a log line, metrics and a span for every request, on both transports.

In process, the lines are read as records of the ``cxg.request`` logger, the metrics from
prometheus_client's registry (deltas: it is process-wide) and from the metrics port as a
Prometheus server scrapes them, the spans from OpenTelemetry's in-memory exporter. Outside, a
``cxg serve`` process writes JSON lines to stderr: they are parsed, and searched for every token,
proof and consent id the test used.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import Settings
from gateway.observe import logs, traces
from gateway.schema.cxg.v1 import consent_service_pb2 as consent_pb
from gateway.schema.cxg.v1 import consent_service_pb2_grpc as consent_grpc
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service import PartnerAdmin
from gateway.transport.errors import AUDIT_LEAF
from gateway.transport.serve import Gateway
from tests import audit_load
from tests.clients import GrpcClient, RestClient
from tests.support import USCC, TestPartner, profile

Lines = Callable[[], list[dict[str, Any]]]
LOOKUP = {"scheme": "CN_USCC", "value": USCC, "purpose": "credit_reporting"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Lines:
    """The fields of every request line logged so far."""
    caplog.set_level(logging.INFO, logger="cxg.request")
    return lambda: [r.fields for r in caplog.records if r.name == "cxg.request"]  # type: ignore[attr-defined]


def line_of(lines: Lines, request_id: str) -> dict[str, Any]:
    """The line of one request; a REST line is logged just after its answer has been sent."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = [line for line in lines() if line["requestId"] == request_id]
        if found:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no request line with id {request_id}: {lines()}")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


Publisher = Callable[["Gateway | audit_load.ServedGateway"], RestClient]


@pytest.fixture
def published(partners: dict[str, TestPartner]) -> Iterator[Publisher]:
    """A REST client of a gateway on which a profile has been published (closed after)."""
    made: list[RestClient] = []

    def publish_on(gateway: Gateway | audit_load.ServedGateway) -> RestClient:
        rest = RestClient(gateway, partners)
        made.append(rest)
        outcome = rest.publish(partners["kz-bank"].sign(profile()))
        assert outcome.status == 200, outcome
        return rest

    yield publish_on
    for rest in made:
        rest.close()


# -- REST ---------------------------------------------------------------------------------------


def test_a_rest_call_is_one_line_with_its_operation_partner_purpose_status_and_leaf(
    gateway: Gateway, published: Publisher, lines: Lines
) -> None:
    rest = published(gateway)
    before = sample("cxg_requests_total", transport="rest", operation="GetProfile", status="200")
    answer = rest.request(
        "GET", "/v1/profiles:lookup", params=LOOKUP, headers={"X-Request-Id": "desk-42.a:b"}
    )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "desk-42.a:b"
    line = line_of(lines, "desk-42.a:b")
    assert line == {
        "requestId": "desk-42.a:b",
        "transport": "rest",
        "operation": "GetProfile",  # the lookup route serves GetProfile's use case
        "status": "200",
        "latencyMs": line["latencyMs"],
        "partner": "ru-bureau",
        "purpose": "credit_reporting",
        "auditLeaf": int(answer.headers[AUDIT_LEAF]),
        "bytesIn": 0,
        "bytesOut": len(answer.content),
    }
    assert 0 < line["latencyMs"] < 30_000
    after = sample("cxg_requests_total", transport="rest", operation="GetProfile", status="200")
    assert after == before + 1
    assert "problem" not in line and USCC not in json.dumps(line)


def test_a_refusal_names_its_problem_type_in_the_line_and_the_refusal_count(
    gateway: Gateway, lines: Lines
) -> None:
    before = sample("cxg_refusals_total", transport="rest", reason="unauthenticated")
    answer = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/v1/profiles:lookup", params=LOOKUP)
    assert answer.status_code == 401
    line = line_of(lines, answer.headers["x-request-id"])
    assert (line["operation"], line["status"], line["problem"]) == (
        "GetProfile",
        "401",
        "unauthenticated",
    )
    assert "partner" not in line
    assert sample("cxg_refusals_total", transport="rest", reason="unauthenticated") == before + 1


def test_an_unrouted_path_is_counted_as_unmatched_and_never_named(
    gateway: Gateway, lines: Lines
) -> None:
    path = f"/v1/{secrets.token_hex(8)}"
    before = sample("cxg_requests_total", transport="rest", operation="unmatched", status="404")
    answer = httpx.get(f"http://127.0.0.1:{gateway.rest_port}{path}")
    assert answer.status_code == 404
    line = line_of(lines, answer.headers["x-request-id"])
    assert (line["operation"], line["problem"]) == ("unmatched", "http-404")
    assert path not in json.dumps(line)
    after = sample("cxg_requests_total", transport="rest", operation="unmatched", status="404")
    assert after == before + 1
    exported = REGISTRY.get_sample_value  # no metric label holds the path
    assert not any(
        path in str(s.labels) for family in REGISTRY.collect() for s in family.samples
    ), exported


def test_a_body_refused_for_its_size_before_routing_is_still_logged(
    gateway: Gateway, lines: Lines
) -> None:
    limit = gateway.settings.max_request_bytes
    answer = httpx.post(
        f"http://127.0.0.1:{gateway.rest_port}/v1/profiles:publish",
        content=b"{" + b" " * limit + b"}",
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413
    line = line_of(lines, answer.headers["x-request-id"])
    assert (line["status"], line["problem"]) == ("413", "payload-too-large")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"X-Request-Id": "x" * 65}, False),  # too long
        ({"X-Request-Id": "a b"}, False),  # not a plain token
        ({"X-Request-Id": "ok-1"}, True),
    ],
)
def test_a_request_id_is_taken_only_when_it_is_a_short_plain_token(
    gateway: Gateway, sent: dict[str, str], kept: bool
) -> None:
    answer = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/livez", headers=sent)
    request_id = answer.headers["x-request-id"]
    if kept:
        assert request_id == sent["X-Request-Id"]
    else:
        assert re.fullmatch("[0-9a-f]{32}", request_id)


def test_a_traceparent_gives_the_request_its_trace_id(gateway: Gateway, lines: Lines) -> None:
    answer = httpx.get(
        f"http://127.0.0.1:{gateway.rest_port}/livez",
        headers={"traceparent": PARENT, "X-Request-Id": "ignored"},
    )
    assert answer.headers["x-request-id"] == TRACE_ID
    assert "traceparent" not in answer.headers  # no span of its own: tracing is off
    assert line_of(lines, TRACE_ID)["operation"] == "Liveness"
    forged = httpx.get(
        f"http://127.0.0.1:{gateway.rest_port}/livez", headers={"traceparent": "00-zz-11-01"}
    )
    assert re.fullmatch("[0-9a-f]{32}", forged.headers["x-request-id"])


# -- gRPC ---------------------------------------------------------------------------------------


def test_a_grpc_call_is_one_line_and_its_trailers_carry_the_request_id_and_leaf(
    gateway: Gateway, partners: dict[str, TestPartner], published: Publisher, lines: Lines
) -> None:
    published(gateway)
    client = GrpcClient(gateway, partners)
    metadata = (
        *client.sessions.of().grpc_metadata("/cxg.v1.ProfileService/GetProfile"),
        ("x-request-id", "grpc-desk-7"),
    )
    request = pb.GetProfileRequest(purpose="credit_reporting")
    request.id.scheme, request.id.value = "CN_USCC", USCC
    before = sample("cxg_requests_total", transport="grpc", operation="GetProfile", status="OK")
    answer, call = client.stub.GetProfile.with_call(request, metadata=metadata, timeout=30)
    trailers = dict(call.trailing_metadata())
    assert trailers["x-request-id"] == "grpc-desk-7"
    line = line_of(lines, "grpc-desk-7")
    assert {k: line[k] for k in ("transport", "operation", "status", "partner", "purpose")} == {
        "transport": "grpc",
        "operation": "GetProfile",
        "status": "OK",
        "partner": "ru-bureau",
        "purpose": "credit_reporting",
    }
    assert line["auditLeaf"] == int(trailers[AUDIT_LEAF])
    assert line["bytesIn"] == request.ByteSize() and line["bytesOut"] == answer.ByteSize()
    after = sample("cxg_requests_total", transport="grpc", operation="GetProfile", status="OK")
    assert after == before + 1
    client.close()


def test_a_refused_grpc_call_names_its_problem_and_still_carries_the_request_id(
    gateway: Gateway, lines: Lines
) -> None:
    before = sample("cxg_refusals_total", transport="grpc", reason="unauthenticated")
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = consent_grpc.ConsentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListConsents(
                consent_pb.ListConsentsRequest(), metadata=(("traceparent", PARENT),), timeout=10
            )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    trailers = dict(refused.value.trailing_metadata())
    assert trailers["x-request-id"] == TRACE_ID
    line = line_of(lines, TRACE_ID)
    assert (line["operation"], line["status"], line["problem"]) == (
        "ListConsents",
        "UNAUTHENTICATED",
        "unauthenticated",
    )
    assert sample("cxg_refusals_total", transport="grpc", reason="unauthenticated") == before + 1


# -- the metrics port -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_metrics_are_served_on_their_own_port_and_never_on_the_partner_facing_one(
    settings: Settings,
) -> None:
    port = free_port()
    gateway = Gateway(dataclasses.replace(settings, metrics_port=port))
    gateway.start()
    try:
        base = f"http://127.0.0.1:{gateway.rest_port}"
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
        ready = [
            s
            for s in families["cxg_requests"].samples
            if s.name == "cxg_requests_total" and s.labels["operation"] == "Readiness"
        ]
        assert ready and ready[0].labels["status"] == "200" and ready[0].value >= 1
        assert families["cxg_ready"].samples[0].value == 1
        assert "cxg_request_duration_seconds" in families
    finally:
        gateway.stop()
    with pytest.raises(httpx.ConnectError):  # the listener is closed with the gateway
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


# -- traces -------------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    traces.use(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        traces.stop()


@pytest.fixture
def traced(spans: InMemorySpanExporter, settings: Settings) -> Iterator[Gateway]:
    """A gateway made while tracing is on (its database statements are traced too)."""
    running = Gateway(settings)
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


def trace_of(spans: InMemorySpanExporter, name: str) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The server span called ``name`` and every span of its trace."""
    deadline = time.monotonic() + 5
    while not any(s.name == name for s in spans.get_finished_spans()):
        assert time.monotonic() < deadline, [s.name for s in spans.get_finished_spans()]
        time.sleep(0.01)
    server = next(s for s in spans.get_finished_spans() if s.name == name)
    assert server.context is not None
    same = [
        s
        for s in spans.get_finished_spans()
        if s.context is not None and s.context.trace_id == server.context.trace_id
    ]
    return server, same


def test_both_transports_continue_the_callers_trace_with_their_steps_and_statements(
    traced: Gateway,
    spans: InMemorySpanExporter,
    partners: dict[str, TestPartner],
    published: Publisher,
) -> None:
    rest = published(traced)
    answer = rest.request(
        "GET", "/v1/profiles:lookup", params=LOOKUP, headers={"traceparent": PARENT}
    )
    assert answer.status_code == 200
    server, trace = trace_of(spans, "rest GetProfile")
    assert server.context is not None and server.parent is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert server.parent.span_id == int(PARENT.split("-")[2], 16)
    assert answer.headers["traceparent"] == f"00-{TRACE_ID}-{server.context.span_id:016x}-01"
    assert answer.headers["x-request-id"] == TRACE_ID
    names = {s.name for s in trace}
    assert {"admission", "GetProfile", "audit commit"} <= names
    assert any(s.name.startswith("db ") for s in trace), names
    statements = [s.attributes["db.statement"] for s in trace if s.name.startswith("db ")]
    assert not any(USCC in str(text) for text in statements)  # placeholders, never values
    assert server.attributes is not None and server.attributes["cxg.status"] == "200"
    signed = [s for s in spans.get_finished_spans() if s.name == "signing"]  # the publication's
    assert signed and signed[0].attributes is not None and signed[0].attributes["cxg.key"] == "file"

    # A caller that does not sample its trace: the gateway continues it unrecorded.
    unsampled = f"00-{'ef' * 16}-{'12' * 8}-00"
    answer = rest.request(
        "GET", "/v1/profiles:lookup", params=LOOKUP, headers={"traceparent": unsampled}
    )
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "ef" * 16
    assert answer.headers["traceparent"].startswith(f"00-{'ef' * 16}-")
    assert answer.headers["traceparent"].endswith("-00")
    exported = spans.get_finished_spans()
    assert not [s for s in exported if s.context and s.context.trace_id == int("ef" * 16, 16)]

    grpc_client = GrpcClient(traced, partners)
    request = pb.GetProfileRequest(purpose="credit_reporting")
    request.id.scheme, request.id.value = "CN_USCC", USCC
    metadata = (
        *grpc_client.sessions.of().grpc_metadata("/cxg.v1.ProfileService/GetProfile"),
        ("traceparent", f"00-{'ab' * 16}-{'cd' * 8}-01"),
    )
    _, call = grpc_client.stub.GetProfile.with_call(request, metadata=metadata, timeout=30)
    grpc_server, grpc_trace = trace_of(spans, "grpc GetProfile")
    assert grpc_server.context is not None and f"{grpc_server.context.trace_id:032x}" == "ab" * 16
    assert dict(call.trailing_metadata())["traceparent"].startswith(f"00-{'ab' * 16}-")
    assert {"admission", "GetProfile", "audit commit"} <= {s.name for s in grpc_trace}
    grpc_client.close()


# -- a served process, from outside ---------------------------------------------------------------


def test_cxg_serve_writes_json_lines_that_hold_no_token_proof_or_consent_id(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner], published: Publisher
) -> None:
    env = audit_load.gateway_env(database_url, tmp_path / "keys", checkpoint_seconds=0.5)
    env.update(CXG_LOG_FORMAT="json", CXG_DATABASE_URL=database_url)
    settings = audit_load.seed(env, partners)
    with audit_load.gateways(tmp_path) as running:
        served = running.start("observed", env)
        rest = published(served)
        portal = rest.sessions.of("sme-portal")
        url = f"{served.base}/v1/consents"
        headers = portal.headers("POST", url)
        expires = datetime.now(UTC) + timedelta(days=30)
        granted = httpx.post(
            url,
            headers=headers,
            json={
                "subject": {"scheme": "CN_USCC", "value": USCC},
                "grantee": "kz-bank",
                "purpose": "credit_assessment",
                "expireTime": expires.isoformat().replace("+00:00", "Z"),
            },
        )
        assert granted.status_code == 200, granted.text
        consent = granted.json()["name"]
        read = rest.request(
            "GET",
            "/v1/profiles:lookup",
            session=rest.sessions.of("kz-bank"),
            params={**LOOKUP, "purpose": "credit_assessment", "consent": consent},
        )
        assert read.status_code == 200, read.text
        used = [headers["Authorization"].split()[1], headers["DPoP"], consent.split("/")[1]]
        used += [rest.sessions.of("kz-bank").token, rest.sessions.of("ru-bureau").token]
        time.sleep(0.5)
        served.stop()
        output = served.output()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    started = next(r for r in records if r["message"] == "gateway started")
    assert started["restPort"] == served.rest_port and started["grpcPort"] == served.grpc_port
    assert started["settings"]["database_url"] == settings.database_url.replace(":@", "@")
    assert started["signingKid"] in started["publishedKids"]
    # Start-up's objects (every module loaded) are out of the cyclic collector's reach, so a
    # full collection under load does not walk them all with the GIL held.
    assert started["startupObjectsFrozen"] > 100_000
    requests = [r for r in records if r["logger"] == "cxg.request"]
    assert {r["operation"] for r in requests} >= {"CreateToken", "PublishProfile", "GetProfile"}
    assert all(r["level"] == "info" and r["time"].endswith("Z") for r in requests)
    assert {"GrantConsent", "GetProfile"} <= {r["operation"] for r in requests}
    for secret in used:
        assert secret not in output
    assert "eyJ" not in output and "PRIVATE KEY" not in output


# -- the log writer -------------------------------------------------------------------------------


@pytest.fixture
def configured() -> Iterator[None]:
    """``logs.configure`` replaces the root logger's handlers: pytest's are put back after."""
    root, gateway = logging.getLogger(), logging.getLogger("cxg")
    handlers, levels = list(root.handlers), (root.level, gateway.level)
    yield
    logs.stop()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(levels[0])
    gateway.setLevel(levels[1])


def written(stream: io.StringIO) -> list[str]:
    logs.stop()  # writes what is queued
    return stream.getvalue().splitlines()


def test_json_lines_carry_time_level_logger_message_and_fields(configured: None) -> None:
    stream = io.StringIO()
    logs.configure("auto", "info", stream)  # not a terminal: JSON
    logging.getLogger("cxg.request").info("request", extra={"fields": {"status": "200"}})
    logging.getLogger("cxg.request").debug("not at info")
    logging.getLogger("some.library").info("a library's info is below its warning level")
    [line] = written(stream)
    record = json.loads(line)
    assert record["time"].endswith("Z") and record["level"] == "info"
    assert (record["logger"], record["message"], record["status"]) == (
        "cxg.request",
        "request",
        "200",
    )


def test_text_lines_stay_on_one_line_whatever_a_message_holds(configured: None) -> None:
    stream = io.StringIO()
    logs.configure("text", "info", stream)
    logging.getLogger("cxg.x").warning("two\nlines", extra={"fields": {"why": "a b", "n": 3}})
    [line] = written(stream)
    assert line.endswith('warning cxg.x two\\nlines why="a b" n=3')


class _Stalled(io.StringIO):
    """A stream whose writes wait until released, like a stderr nobody reads."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        self.stalled = threading.Event()  # the writer is inside a write, waiting

    def write(self, text: str) -> int:
        self.stalled.set()
        self.released.wait(10)
        return super().write(text)


def test_a_stalled_stream_never_blocks_a_caller_and_lost_lines_are_counted(
    configured: None,
) -> None:
    stream = _Stalled()
    logs.configure("json", "info", stream)
    log = logging.getLogger("cxg.request")
    log.info("request", extra={"fields": {"n": 0}})
    # The writer is stuck in the stream before the rest come: on a machine of any speed, more
    # lines then arrive than the buffer behind it holds.
    assert stream.stalled.wait(5)
    started = time.monotonic()
    for n in range(1, 30_000):
        log.info("request", extra={"fields": {"n": n}})
    assert time.monotonic() - started < 5  # no caller waited for the stream
    stream.released.set()
    lines = [json.loads(line) for line in written(stream)]
    dropped = [line for line in lines if line["logger"] == "cxg.log"]
    assert dropped and "log lines dropped" in dropped[-1]["message"]
    kept = len(lines) - len(dropped)
    assert kept + int(dropped[-1]["message"].split()[0]) == 30_000
