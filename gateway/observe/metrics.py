"""Prometheus metrics: every metric the gateway exports, declared once here, and the listener
that serves them on a port of their own (``CXG_METRICS_PORT``), never a partner-facing one.

Several worker processes (``cxg serve --workers N``) keep their values in files under
``PROMETHEUS_MULTIPROC_DIR``, which prometheus_client reads when it is first imported: the
supervisor sets it before it starts the workers and serves the sum (``serve_aggregated``).
Gauges say how they combine across processes: a size or a timestamp takes the largest live
value, "up" and "ready" the smallest (one worker that lost its database makes it 0), counts of
things in flight the sum.

The metric names are an interface: deploy/prometheus/alerts.yml and the Grafana dashboard use
them, and tests/test_deploy.py checks that they name only metrics declared here.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

from gateway import __version__

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ

# Latency buckets from 1 ms (a cached profile) to 10 s (a database at its deadline).
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

build_info = Gauge(
    "cxg_build_info", "The gateway's version", ["version"], multiprocess_mode="livemax"
)
requests = Counter(
    "cxg_requests",
    "Requests answered, by status: the HTTP status code (REST), the gRPC code name (gRPC)",
    ["transport", "operation", "status"],
)
request_seconds = Histogram(
    "cxg_request_duration_seconds",
    "Time from a request's arrival to its answer",
    ["transport", "operation"],
    buckets=_LATENCY,
)
refusals = Counter("cxg_refusals", "Requests refused, by problem type", ["transport", "reason"])
tokens_issued = Counter("cxg_tokens_issued", "Access tokens issued, by binding", ["binding"])
quota_rejections = Counter("cxg_quota_rejections", "Calls refused for a partner's quota")
audit_tree_size = Gauge(
    "cxg_audit_tree_size", "Leaves in the audit log", multiprocess_mode="livemax"
)
checkpoint_timestamp = Gauge(
    "cxg_audit_checkpoint_timestamp_seconds",
    "Unix time of the latest signed checkpoint",
    multiprocess_mode="livemax",
)
cosigned_timestamp = Gauge(
    "cxg_audit_cosigned_timestamp_seconds",
    "Unix time of the latest checkpoint that carries a witness co-signature",
    multiprocess_mode="livemax",
)
group_commit_size = Histogram(
    "cxg_audit_group_commit_size",
    "Audit leaves committed together in one transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
group_commit_seconds = Histogram(
    "cxg_audit_group_commit_seconds", "Time one group commit of audit leaves took", buckets=_LATENCY
)
appends_waiting = Gauge(
    "cxg_audit_appends_waiting",
    "Audit leaves waiting for their group commit",
    multiprocess_mode="livesum",
)
database_up = Gauge(
    "cxg_database_up",
    "1 while the database answers, 0 during an outage",
    multiprocess_mode="livemin",
)
database_errors = Counter(
    "cxg_database_errors", "Database failures met by requests, by kind", ["kind"]
)
pool_in_use = Gauge(
    "cxg_database_pool_in_use", "Database connections checked out", multiprocess_mode="livesum"
)
pool_size = Gauge(
    "cxg_database_pool_size", "Database connections the pool may open", multiprocess_mode="livesum"
)
sco_verifications = Counter("cxg_sco_verifications", "SCO codes verified, by result", ["result"])
import_records = Counter("cxg_import_records", "Records of imported files, by outcome", ["outcome"])
event_deliveries = Counter(
    "cxg_event_deliveries",
    "Push deliveries of security events, by outcome: delivered, retried, dead",
    ["outcome"],
)
peer_alarms = Counter(
    "cxg_peer_alarms",
    "Alarms about peers' logs and documents: split views, rollbacks (`cxg peers alarms`)",
    ["peer", "kind"],
)
peer_refreshes = Counter(
    "cxg_peer_refreshes", "Refreshes of peers' documents and checkpoints, by outcome", ["outcome"]
)
rule_decisions = Counter(
    "cxg_rule_decisions", "Mutual-recognition decisions, by outcome", ["outcome"]
)
ready = Gauge(
    "cxg_ready", "1 while the gateway is ready for traffic (/readyz)", multiprocess_mode="livemin"
)

build_info.labels(__version__).set(1)
database_up.set(1)


class Listener:
    """The metrics endpoint (``/metrics``) on its own port; ``close()`` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server, self._thread = server, thread
        self.port: int = server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(host: str, port: int) -> Listener:
    """This process's metrics, on ``host:port`` (0 picks a free port)."""
    server, thread = prometheus_client.start_http_server(port, addr=host)
    return Listener(server, thread)


def serve_aggregated(host: str, port: int, directory: Path) -> Listener:
    """The sum of every worker's metrics kept under ``directory`` (the supervisor's listener)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    server, thread = prometheus_client.start_http_server(port, addr=host, registry=registry)
    return Listener(server, thread)


def process_exited(pid: int, directory: Path) -> None:
    """Forget a dead worker's live gauges (its counters stay in the sums)."""
    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
