"""An anonymous flood (requests without a valid token) against a running gateway, on REST and
gRPC: every request keeps its true answer (401 / UNAUTHENTICATED; only token requests past the
burst get 429 / RESOURCE_EXHAUSTED, before their signature is checked), the audit log grows by
the refusals logged one by one plus a few summary leaves, not by the flood, and every refusal is
accounted for (leaves of its own plus summary counts). Then the limits themselves, on fake clocks:
the global budget, the bounded tables, what is never limited, the source of a peer address."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import pytest

from gateway.config import Settings
from gateway.errors import QuotaExceeded, Unauthenticated
from gateway.schema.cxg.v1 import profile_service_pb2 as profile_pb
from gateway.schema.cxg.v1 import profile_service_pb2_grpc as profile_grpc
from gateway.schema.cxg.v1.admin_service_pb2 import ListRefusalsRequest
from gateway.service import PartnerAdmin, flood
from gateway.service.audit import AuditLog
from gateway.service.flood import FloodGuard, source_address
from gateway.service.refusals import RefusalLog
from gateway.storage import Database
from gateway.storage.audit import AuditStore
from gateway.transport.grpc_server import peer_host
from gateway.transport.serve import Gateway
from tests import audit_load
from tests.clients import RestClient
from tests.support import TestPartner

FLOOD = 300
BURST = 10
RPS = 1.0
PERIOD = 0.5
# Small limits, so that a flood of a few hundred requests runs in about a second.
LIMITS = {
    "anonymous_rps": RPS,
    "anonymous_burst": BURST,
    "anonymous_leaves_per_second": 1000.0,
    "refusal_summary_seconds": PERIOD,
}
PROFILE_PATH = f"/v1/profiles/{'0' * 32}?purpose=credit_reporting"
SPOOFED = "203.0.113.9"  # what a client claims in headers: never the source


@contextmanager
def serving(settings: Settings, **limits: Any) -> Iterator[Gateway]:
    running = Gateway(dataclasses.replace(settings, **{**LIMITS, **limits}))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def documents(store: AuditStore, start: int) -> list[dict[str, Any]]:
    return [json.loads(leaf.data) for leaf in store.leaves(start, store.size())]


def summaries(store: AuditStore, start: int, expected: int) -> list[dict[str, Any]]:
    """The summary leaves since ``start``, once their counts add up to ``expected`` (they are
    written every PERIOD seconds)."""
    deadline = time.monotonic() + 10
    while True:
        found = [d for d in documents(store, start) if d["kind"] == "summary"]
        total = sum(c["count"] for d in found for c in d["counts"])
        if total >= expected or time.monotonic() > deadline:
            assert total == expected, found
            return found
        time.sleep(0.05)


def check_accounting(
    gateway: Gateway, start: int, logged: int, unlogged: int, elapsed: float
) -> Counter[tuple[str, str, str]]:
    """The log grew by the refusals logged one by one plus the summary leaves, whose counts are
    exactly the refusals that got no leaf; the refusal log has the same rows. Returns the
    counts by (source, operation, reason)."""
    store = AuditStore(gateway.db)
    found = summaries(store, start, unlogged)
    assert found and all(sum(c["count"] for c in d["counts"]) > 0 for d in found), found
    assert store.size() - start == logged + len(found)
    exchanges = [d for d in documents(store, start) if d["kind"] == "exchange"]
    assert len(exchanges) == logged
    assert all(d["partner"] == "" and d["decision"] != "ok" for d in exchanges)
    counts: Counter[tuple[str, str, str]] = Counter()
    for summary in found:
        assert summary["since"] <= summary["until"]
        for count in summary["counts"]:
            counts[count["source"], count["operation"], count["reason"]] += count["count"]
    assert logged + sum(counts.values()) == logged + unlogged  # nothing else is lost

    rows = gateway.refusals.list(ListRefusalsRequest(page_size=500)).refusals
    summary_rows = [r for r in rows if r.operation == flood.SUMMARY_OPERATION]
    assert len(rows) - len(summary_rows) == logged
    assert len(summary_rows) == len(found)
    assert all("audit leaf" in r.detail and r.reason == "summary" for r in summary_rows)
    return counts


# -- against a running gateway ----------------------------------------------------------------


def test_rest_flood_from_one_source_is_refused_401_and_summarized(settings: Settings) -> None:
    with serving(settings) as gateway:
        start = AuditStore(gateway.db).size()
        began = time.monotonic()
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway.rest_port}", timeout=10) as http:
            answers = [
                http.get(PROFILE_PATH, headers={"X-Forwarded-For": SPOOFED, "Forwarded": "for=x"})
                for _ in range(FLOOD)
            ]
        elapsed = time.monotonic() - began

        logged = [a for a in answers if "cxg-audit-leaf" in a.headers]
        unlogged = [a for a in answers if "cxg-audit-leaf" not in a.headers]
        assert [a.status_code for a in answers[:BURST]] == [401] * BURST
        assert {a.status_code for a in logged} == {401}
        assert BURST <= len(logged) <= BURST + math.ceil(elapsed * RPS) + 1
        assert unlogged and {a.status_code for a in unlogged} == {401}
        for answer in unlogged:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["type"] == "urn:cxg:problem:unauthenticated"
            assert answer.headers["www-authenticate"].startswith("DPoP")

        counts = check_accounting(gateway, start, len(logged), len(unlogged), elapsed)
        assert counts == {("127.0.0.1", "GetProfile", "unauthenticated"): len(unlogged)}


def test_grpc_flood_from_one_source_is_refused_unauthenticated_and_summarized(
    settings: Settings,
) -> None:
    with serving(settings) as gateway:
        start = AuditStore(gateway.db).size()
        request = profile_pb.GetProfileRequest(
            name=f"profiles/{'0' * 32}", purpose="credit_reporting"
        )
        refused: list[grpc.RpcError] = []
        began = time.monotonic()
        with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
            stub = profile_grpc.ProfileServiceStub(channel)
            for _ in range(FLOOD):
                with pytest.raises(grpc.RpcError) as failed:
                    stub.GetProfile(request, timeout=10, metadata=(("x-forwarded-for", SPOOFED),))
                refused.append(failed.value)
        elapsed = time.monotonic() - began

        def leaf_of(exc: grpc.RpcError) -> str | None:
            return dict(exc.trailing_metadata() or ()).get("cxg-audit-leaf")  # type: ignore[attr-defined]

        logged = [e for e in refused if leaf_of(e) is not None]
        unlogged = [e for e in refused if leaf_of(e) is None]
        assert {e.code() for e in refused[:BURST]} == {grpc.StatusCode.UNAUTHENTICATED}  # type: ignore[attr-defined]
        assert {e.code() for e in logged} == {grpc.StatusCode.UNAUTHENTICATED}  # type: ignore[attr-defined]
        assert BURST <= len(logged) <= BURST + math.ceil(elapsed * RPS) + 1
        assert unlogged
        assert {e.code() for e in unlogged} == {grpc.StatusCode.UNAUTHENTICATED}  # type: ignore[attr-defined]

        counts = check_accounting(gateway, start, len(logged), len(unlogged), elapsed)
        assert counts == {("127.0.0.1", "GetProfile", "unauthenticated"): len(unlogged)}


def test_many_sources_share_one_budget_of_leaves(settings: Settings) -> None:
    """20 addresses (127.0.0.2-21, each within its own limit at first): at most
    anonymous_leaves_per_second refusals a second get a leaf, over all of them."""
    sources = [f"127.0.0.{i}" for i in range(2, 22)]
    per_source, leaves_per_second = 10, 2.0
    with serving(settings, anonymous_burst=5, anonymous_leaves_per_second=leaves_per_second) as gw:
        start = AuditStore(gw.db).size()
        clients = [
            httpx.Client(
                base_url=f"http://127.0.0.1:{gw.rest_port}",
                transport=httpx.HTTPTransport(local_address=source),
                timeout=10,
            )
            for source in sources
        ]
        began = time.monotonic()
        try:
            answers = [
                (source, client.get(PROFILE_PATH, headers={"X-Forwarded-For": SPOOFED}))
                for _ in range(per_source)
                for source, client in zip(sources, clients, strict=True)
            ]
        finally:
            for client in clients:
                client.close()
        elapsed = time.monotonic() - began

        logged = [(s, a) for s, a in answers if "cxg-audit-leaf" in a.headers]
        unlogged = [(s, a) for s, a in answers if "cxg-audit-leaf" not in a.headers]
        assert len(logged) <= leaves_per_second * (1 + elapsed) + 1
        assert {a.status_code for _, a in logged} == {401}
        # Refused for their token, within their source's limit or past it: no leaf either way.
        assert {a.status_code for _, a in unlogged} == {401}

        counts = check_accounting(gw, start, len(logged), len(unlogged), elapsed)
        assert {source for source, _, _ in counts} <= set(sources)  # the peer, never a header
        assert {reason for _, _, reason in counts} == {"unauthenticated"}
        for source in sources:
            left = per_source - sum(1 for s, _ in logged if s == source)
            assert sum(n for (s, _, _), n in counts.items() if s == source) == left


def test_a_partner_and_public_reads_are_served_while_their_address_floods(
    settings: Settings, partners: dict[str, TestPartner]
) -> None:
    with serving(settings) as gateway:
        rest = RestClient(gateway, partners)
        session = rest.sessions.of()
        assert session.token  # taken before the flood
        base = f"http://127.0.0.1:{gateway.rest_port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            answers = [http.get(PROFILE_PATH).status_code for _ in range(3 * BURST)]
            assert set(answers) == {401}

            # The flood spent its source's bucket: a token request is refused before its
            # assertion is even read.
            token = http.post("/oauth2/token", data={"grant_type": "client_credentials"})
            assert token.status_code == 429
            assert token.headers["content-type"] == "application/problem+json"
            assert int(token.headers["retry-after"]) >= 1
            # Public reads that write nothing are never limited.
            for path in ("/healthz", "/.well-known/jwks.json", "/v1/audit/checkpoint"):
                assert http.get(path).status_code == 200, path

        # A request with a valid token is the partner's, on its own quota.
        served = rest.request("GET", "/v1/profiles:search?name_prefix=Q")
        assert served.status_code == 200, served.text
        assert "cxg-audit-leaf" in served.headers
        rest.close()


def test_token_requests_with_bad_assertions_are_bounded(settings: Settings) -> None:
    with serving(settings) as gateway:
        start = AuditStore(gateway.db).size()
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "e30.e30.c2ln",
        }
        began = time.monotonic()
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway.rest_port}", timeout=10) as http:
            answers = [http.post("/oauth2/token", data=form) for _ in range(60)]
        elapsed = time.monotonic() - began
        logged = [a for a in answers if "cxg-audit-leaf" in a.headers]
        unlogged = [a for a in answers if "cxg-audit-leaf" not in a.headers]
        assert {a.json()["error"] for a in logged} == {"invalid_client"}
        assert {a.status_code for a in unlogged} == {429}
        assert BURST <= len(logged) <= BURST + math.ceil(elapsed * RPS) + 1
        counts = check_accounting(gateway, start, len(logged), len(unlogged), elapsed)
        assert counts == {("127.0.0.1", "CreateToken", "quota-exceeded"): len(unlogged)}


def test_the_last_summary_is_written_at_shutdown(settings: Settings) -> None:
    with serving(settings, refusal_summary_seconds=3600) as gateway:
        start = AuditStore(gateway.db).size()
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway.rest_port}", timeout=10) as http:
            answers = [http.get(PROFILE_PATH) for _ in range(60)]
        unlogged = sum(1 for a in answers if "cxg-audit-leaf" not in a.headers)
        assert unlogged >= 60 - BURST - 2
        assert not [d for d in documents(AuditStore(gateway.db), start) if d["kind"] == "summary"]
    db = Database.from_url(settings.database_url)
    try:
        (summary,) = [d for d in documents(AuditStore(db), start) if d["kind"] == "summary"]
        assert sum(c["count"] for c in summary["counts"]) == unlogged
    finally:
        db.dispose()


def test_sigterm_stops_cxg_serve_with_its_last_summary(settings: Settings, tmp_path: Path) -> None:
    """uvicorn raises SIGTERM again once it has stopped serving: the process must still run its
    shutdown, which writes the last summary, rather than die of the signal's default action."""
    env = audit_load.gateway_env(settings.database_url, settings.keys_dir, checkpoint_seconds=10)
    env.update(
        CXG_ANONYMOUS_RPS=str(RPS),
        CXG_ANONYMOUS_BURST=str(BURST),
        CXG_REFUSAL_SUMMARY_SECONDS="3600",
    )
    upgrade = Database.from_url(settings.database_url)  # cxg serve refuses an empty database
    upgrade.upgrade()
    upgrade.dispose()
    with audit_load.gateways(tmp_path) as running:
        served = running.start("served", env)
        with httpx.Client(base_url=served.base, timeout=10) as http:
            answers = [http.get(PROFILE_PATH) for _ in range(60)]
        served.stop()
        assert served.proc.returncode == 0, served.output()[-3000:]
    unlogged = sum(1 for a in answers if "cxg-audit-leaf" not in a.headers)
    assert unlogged >= 60 - BURST - 2
    db = Database.from_url(settings.database_url)
    try:
        (summary,) = [d for d in documents(AuditStore(db), 0) if d["kind"] == "summary"]
        assert sum(c["count"] for c in summary["counts"]) == unlogged
    finally:
        db.dispose()


# -- the limits, on fake clocks ---------------------------------------------------------------


class FakeAudit:
    def __init__(self) -> None:
        self.summaries: list[list[dict[str, object]]] = []
        self.fail = False

    def record_summary(
        self, counts: list[dict[str, object]], since: datetime, until: datetime
    ) -> int:
        if self.fail:
            raise RuntimeError("database went away")
        self.summaries.append(counts)
        return len(self.summaries) - 1


class FakeRefusals:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, **row: Any) -> None:
        self.rows.append(row)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, audit: FakeAudit, **limits: Any) -> FloodGuard:
    settings = {"rps": 1.0, "burst": 2, "leaves_per_second": 1000.0, "period": 10.0, **limits}
    return FloodGuard(
        cast(AuditLog, audit),
        cast(RefusalLog, FakeRefusals()),
        clock=clock,
        wall_clock=lambda: datetime(2026, 3, 1, tzinfo=UTC),
        **settings,
    )


UNAUTHENTICATED = Unauthenticated("needs a token")


def refuse(limits: FloodGuard, source: str, operation: str = "GetProfile") -> bool:
    """A refused request as a transport handles it: screened, then refused."""
    try:
        limits.screen(operation, source)
    except QuotaExceeded as exc:
        return limits.refused(operation, source, "quota-exceeded", exc)
    return limits.refused(operation, source, "unauthenticated", UNAUTHENTICATED)


def test_screen_refuses_past_the_burst_until_a_token_is_back() -> None:
    clock, audit = Clock(), FakeAudit()
    limits = guard(clock, audit, rps=0.25)
    assert [refuse(limits, "10.0.0.1") for _ in range(4)] == [True, True, False, False]
    with pytest.raises(QuotaExceeded) as refused:
        limits.screen("CreateToken", "10.0.0.1")
    assert refused.value.retry_after == 4
    # Never screened: another source, public reads that write nothing, any other operation
    # (its refusal, 401, past the limit is counted: below).
    assert refuse(limits, "10.0.0.2")
    limits.screen("GetCheckpoint", "10.0.0.1")
    limits.screen("GetProfile", "10.0.0.1")
    # A token request over the limit, and a token that fails: counted, no leaf.
    assert not limits.refused("CreateToken", "10.0.0.1", "quota-exceeded", refused.value)
    assert not limits.refused("GetProfile", "10.0.0.1", "unauthenticated", UNAUTHENTICATED)
    clock.now += 4
    assert refuse(limits, "10.0.0.1")

    limits.flush()
    (counts,) = audit.summaries
    assert counts == [
        {"source": "10.0.0.1", "operation": "GetProfile", "reason": "unauthenticated", "count": 3},
        {"source": "10.0.0.1", "operation": "CreateToken", "reason": "quota-exceeded", "count": 1},
    ]
    limits.flush()  # nothing new counted: no summary
    assert len(audit.summaries) == 1


def test_global_budget_bounds_leaves_over_every_source() -> None:
    clock, audit = Clock(), FakeAudit()
    limits = guard(clock, audit, burst=100, leaves_per_second=3.0)
    logged = [refuse(limits, f"10.0.{i}.1") for i in range(10)]
    assert logged == [True] * 3 + [False] * 7
    clock.now += 1
    assert sum(refuse(limits, f"10.1.{i}.1") for i in range(10)) == 3


def test_tables_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flood, "MAX_SOURCES", 2)
    monkeypatch.setattr(flood, "MAX_COUNTS", 2)
    clock, audit = Clock(), FakeAudit()
    limits = guard(clock, audit)
    for source in ("10.0.0.1", "10.0.0.2"):
        assert [refuse(limits, source) for _ in range(3)] == [True, True, False]
    assert not refuse(limits, "10.0.0.1")  # now the most recently used
    assert refuse(limits, "10.0.0.3")  # drops the bucket of 10.0.0.2, the least recently used
    assert not refuse(limits, "10.0.0.1")
    assert refuse(limits, "10.0.0.2")  # back with a full bucket (the global budget still holds)
    for _ in range(3):
        refuse(limits, "10.0.0.4")  # a third key to count: folded into "other"
    limits.flush()
    (counts,) = audit.summaries
    assert [(c["source"], c["operation"], c["count"]) for c in counts] == [
        ("10.0.0.1", "GetProfile", 3),
        ("10.0.0.2", "GetProfile", 1),
        (flood.OTHER, flood.OTHER, 1),
    ]


def test_a_failed_summary_keeps_its_counts() -> None:
    clock, audit = Clock(), FakeAudit()
    limits = guard(clock, audit, burst=1)
    for _ in range(5):
        refuse(limits, "10.0.0.1")
    audit.fail = True
    limits.flush()
    audit.fail = False
    refuse(limits, "10.0.0.1")
    limits.flush()
    (counts,) = audit.summaries
    assert sum(int(str(c["count"])) for c in counts) == 5


def test_limits_cannot_be_switched_off() -> None:
    for limits in ({"rps": 0}, {"burst": 0}, {"leaves_per_second": 0}, {"period": 0}):
        with pytest.raises(ValueError, match="must be positive"):
            guard(Clock(), FakeAudit(), **limits)


@pytest.mark.parametrize(
    ("peer", "source"),
    [
        ("ipv4:192.0.2.7:50123", "192.0.2.7"),
        ("ipv6:%5B2001:db8:1:2:3:4:5:6%5D:443", "2001:db8:1:2::/64"),
        ("ipv6:[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"),
        ("ipv6:%5B::ffff:192.0.2.7%5D:443", "192.0.2.7"),
        ("unix:/run/cxg.sock", "unknown"),
        ("", "unknown"),
    ],
)
def test_the_source_of_a_peer(peer: str, source: str) -> None:
    assert source_address(peer_host(peer)) == source
