"""A database that freezes, dies or stays locked, met by a running ``cxg serve`` from outside.

What needs no database (the JWKS, gRPC health) keeps being answered at once; what needs it is
answered 503 with Retry-After / UNAVAILABLE within the request deadline (twice the database
timeout), never 500; gRPC health says NOT_SERVING while the database is unavailable; the log
has one line per change of state and no traceback; and the gateway recovers by itself.

PostgreSQL runs as a private cluster of the test's own (tests/pg_cluster.py), frozen with
SIGSTOP, stopped and restarted; SQLite is locked by another process holding its write lock.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.schema.cxg.v1 import profile_service_pb2 as profile_pb
from gateway.schema.cxg.v1 import profile_service_pb2_grpc as profile_grpc
from tests import audit_load, pg_cluster
from tests.clients import RestClient
from tests.support import TestPartner

TIMEOUT = 1.0  # CXG_DATABASE_TIMEOUT_SECONDS: a request waits at most twice as long
DEADLINE = 2 * TIMEOUT
SLACK = 3.0  # a shared 2-core machine
SEARCH = "/v1/profiles:search?name_prefix=Q"
ANONYMOUS = f"/v1/profiles/{'0' * 32}?purpose=credit_reporting"  # a 401 that needs its leaf
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

needs_postgres = pytest.mark.skipif(
    pg_cluster.binaries() is None, reason="no PostgreSQL binaries to run a private cluster"
)


@pytest.fixture
def cluster() -> Iterator[pg_cluster.Cluster]:
    with pg_cluster.cluster() as running:
        yield running


def start(
    running: audit_load.Gateways,
    database_url: str,
    workdir: Path,
    partners: dict[str, TestPartner],
) -> audit_load.ServedGateway:
    env = audit_load.gateway_env(database_url, workdir / "keys", checkpoint_seconds=1)
    env["CXG_DATABASE_TIMEOUT_SECONDS"] = str(TIMEOUT)
    audit_load.seed(env, partners)
    return running.start("gateway", env)


def health(gateway: audit_load.ServedGateway) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=1
        )
        return int(answer.status)


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def assert_served_at_once(gateway: audit_load.ServedGateway) -> None:
    """What needs no database: answered within a fraction of the database timeout."""
    began = time.monotonic()
    keys = httpx.get(f"{gateway.base}/.well-known/jwks.json", timeout=5)
    assert keys.status_code == 200 and keys.json()["keys"]
    health(gateway)  # answers (SERVING or NOT_SERVING), within its 1 s timeout
    assert time.monotonic() - began < TIMEOUT


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:cxg:problem:database-unavailable"
    assert int(answer.headers["retry-after"]) >= 1
    assert "cxg-audit-leaf" not in answer.headers  # never acknowledged


def grpc_search(gateway: audit_load.ServedGateway, rest: RestClient) -> grpc.StatusCode:
    """A partner's gRPC call, with the token of its REST session (mTLS is off here)."""
    session = rest.sessions.of()
    url = f"https://{gateway.settings.gateway_id}/cxg.v1.ProfileService/SearchProfiles"
    metadata = tuple((k.lower(), v) for k, v in session.headers("POST", url).items())
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        try:
            profile_grpc.ProfileServiceStub(channel).SearchProfiles(
                profile_pb.SearchProfilesRequest(name_prefix="Q"), metadata=metadata, timeout=10
            )
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


def check_log(gateway: audit_load.ServedGateway, outages: int) -> None:
    # Log lines are written in batches, a fraction of a second after they happen.
    with contextlib.suppress(AssertionError):
        eventually(lambda: gateway.output().count("database available again") >= outages, 2.0)
    log = gateway.output()
    assert log.count("database unavailable (") == outages, log[-3000:]
    assert log.count("database available again") == outages, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@needs_postgres
def test_a_frozen_postgresql_stalls_only_what_needs_it(
    cluster: pg_cluster.Cluster, tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    with audit_load.gateways(tmp_path) as running:
        gateway = start(running, cluster.url, tmp_path, partners)
        rest = RestClient(gateway, partners)  # type: ignore[arg-type]
        assert rest.request("GET", SEARCH).status_code == 200  # its token taken before
        assert health(gateway) == SERVING

        with cluster.frozen(), ThreadPoolExecutor(4) as pool:
            began = time.monotonic()
            waiting = [
                pool.submit(rest.request, "GET", SEARCH),
                pool.submit(httpx.get, gateway.base + ANONYMOUS, timeout=30),
            ]
            while not all(answer.done() for answer in waiting):
                assert_served_at_once(gateway)  # the loop is never blocked by the stall
                assert time.monotonic() - began < DEADLINE + SLACK
                time.sleep(0.1)
            for answer in waiting:
                assert_unavailable(answer.result())
            eventually(lambda: health(gateway) == NOT_SERVING)
            assert grpc_search(gateway, rest) == grpc.StatusCode.UNAVAILABLE
            assert_served_at_once(gateway)

        # Continued: serving again without a restart.
        eventually(lambda: health(gateway) == SERVING)
        eventually(lambda: rest.request("GET", SEARCH).status_code == 200)
        assert grpc_search(gateway, rest) == grpc.StatusCode.OK
        rest.close()
        check_log(gateway, outages=1)


@needs_postgres
def test_a_stopped_postgresql_is_503_until_it_is_back(
    cluster: pg_cluster.Cluster, tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    with audit_load.gateways(tmp_path) as running:
        gateway = start(running, cluster.url, tmp_path, partners)
        rest = RestClient(gateway, partners)  # type: ignore[arg-type]
        assert rest.request("GET", SEARCH).status_code == 200

        cluster.stop()
        for _ in range(5):  # one log line for all of them, not one per request
            assert_unavailable(rest.request("GET", SEARCH))
        assert_unavailable(httpx.get(gateway.base + ANONYMOUS))
        assert_unavailable(httpx.get(f"{gateway.base}/healthz"))
        assert grpc_search(gateway, rest) == grpc.StatusCode.UNAVAILABLE
        eventually(lambda: health(gateway) == NOT_SERVING)
        assert_served_at_once(gateway)

        cluster.start()
        eventually(lambda: health(gateway) == SERVING)
        eventually(lambda: rest.request("GET", SEARCH).status_code == 200)
        assert httpx.get(f"{gateway.base}/healthz").status_code == 200
        rest.close()
        check_log(gateway, outages=1)


def test_a_sqlite_write_lock_held_elsewhere_stalls_only_what_needs_it(
    tmp_path: Path, partners: dict[str, TestPartner]
) -> None:
    """Another process (``cxg import``, a backup) holds the write lock longer than the
    database timeout: reads and the JWKS go on; what must write (an audit leaf) is 503."""
    path = tmp_path / "cxg.db"
    with audit_load.gateways(tmp_path) as running:
        gateway = start(running, f"sqlite:///{path}", tmp_path, partners)
        rest = RestClient(gateway, partners)  # type: ignore[arg-type]
        assert rest.request("GET", SEARCH).status_code == 200

        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            began = time.monotonic()
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(rest.request, "GET", SEARCH)  # its leaf needs the lock
                while not waiting.done():
                    assert_served_at_once(gateway)
                    assert time.monotonic() - began < DEADLINE + SLACK
                    time.sleep(0.1)
                assert_unavailable(waiting.result())
        finally:
            holder.rollback()
            holder.close()
        eventually(lambda: rest.request("GET", SEARCH).status_code == 200)
        eventually(lambda: health(gateway) == SERVING)
        rest.close()
        check_log(gateway, outages=1)
