"""The Prometheus metrics the service and storage layers keep (gateway/observe/metrics.py), each
driven by the real thing happening: a token issued, a quota refusal, leaves committed, a
checkpoint signed and co-signed, a database lost and found, a pool connection checked out, an
SCO code checked, a file imported, a rule decided. And the state changes' log lines, which name
ids only.

The registry is the process's own and other tests move it too, so each test reads a value before
and after what it does and asserts the difference.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, insert, select, text

from adapters.ru_bureau import adapter as ru_bureau
from gateway.audit.note import add_signature
from gateway.config import Settings
from gateway.errors import DatabaseUnavailable, QuotaExceeded, Unauthenticated
from gateway.observe import metrics
from gateway.observe.logs import JsonLines
from gateway.schema.cxg.v1 import audit_service_pb2 as audit_pb
from gateway.schema.cxg.v1 import rules_service_pb2 as rules_pb
from gateway.service import PartnerAdmin
from gateway.service.audit import AuditLog
from gateway.service.profiles import ProfileExchange
from gateway.service.quotas import Quotas
from gateway.service.rules import RuleService
from gateway.service.sco import ScoService
from gateway.service.tokens import TokenService
from gateway.signing import KeyRing, SigningKey
from gateway.storage import Database
from gateway.storage._group import AUDIT_LEAVES, GroupCommitter
from gateway.storage.database import pool_capacity
from gateway.storage.partners import PartnerStore
from gateway.storage.replay import ReplayStore
from gateway.storage.tables import quota_usage
from gateway.storage.usage import UsageStore
from gateway.trust import Partner, PartnerCertificate
from gateway.trust.assertions import CLIENT_ASSERTION_TYPE
from gateway.trust.partners import Quota
from tests.partner_client import DpopClient, assertion
from tests.support import TestPartner
from tests.test_backup import exchange

Partners = dict[str, TestPartner]
TOKEN_URL = "http://127.0.0.1:8080/oauth2/token"
RULES = Path(__file__).resolve().parent.parent / "rules"
BULK = Path(__file__).parents[1] / "adapters" / "ru_bureau" / "samples" / "bulk.ndjson"


def sample(name: str, **labels: str) -> float:
    """A sample's value now (0 for a labelled series never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """How far a sample moved since this was made."""

    def __init__(self, name: str, **labels: str) -> None:
        self.name, self.labels = name, labels
        self.before = sample(name, **labels)

    def __call__(self) -> float:
        return sample(self.name, **self.labels) - self.before


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def register_witness(db: Database) -> tuple[Partner, Ed25519PrivateKey]:
    key = SigningKey.generate("EdDSA")
    witness = Partner(id="test-witness", name="Witness", country="KZ", roles=frozenset({"witness"}))
    PartnerAdmin(db).register(witness, [key.public_jwk()])
    assert isinstance(key.private_key, Ed25519PrivateKey)
    return witness, key.private_key


@pytest.fixture
def audit_log(settings: Settings, db: Database) -> Iterator[AuditLog]:
    log = AuditLog.from_settings(settings, db)
    yield log
    log.close()


# -- 1. tokens -----------------------------------------------------------------------------------


def test_each_token_issued_counts_under_its_binding(
    settings: Settings, db: Database, partners: Partners
) -> None:
    tokens = TokenService(
        KeyRing.from_dir(settings.gateway_keys_dir),
        PartnerStore(db),
        ReplayStore(db).remember,
        gateway_id=settings.gateway_id,
    )
    PartnerStore(db).add_certificate(
        PartnerCertificate(
            thumbprint="cert-A",
            partner_id="cn-customs",
            subject="CN=cn-customs",
            not_after=datetime(2099, 1, 1, tzinfo=UTC),
        )
    )

    def issue(partner: str, dpop: DpopClient | None = None, thumbprint: str | None = None) -> None:
        tokens.issue(
            grant_type="client_credentials",
            client_assertion_type=CLIENT_ASSERTION_TYPE,
            client_assertion=assertion(partners[partner]),
            method="POST",
            url=TOKEN_URL,
            dpop_proof=dpop.proof("POST", TOKEN_URL) if dpop else None,
            client_cert_thumbprint=thumbprint,
        )

    dpop, mtls = (
        Delta("cxg_tokens_issued_total", binding="dpop"),
        Delta("cxg_tokens_issued_total", binding="mtls"),
    )
    issue("kz-bank", DpopClient())
    issue("cn-customs", thumbprint="cert-A")
    with pytest.raises(Unauthenticated):  # no binding: no token, nothing counted
        issue("kz-bank")
    assert (dpop(), mtls()) == (1, 1)


# -- 2. quotas -----------------------------------------------------------------------------------


def test_calls_refused_for_quota_are_counted(db: Database) -> None:
    now = [1000.0]
    quotas = Quotas(
        UsageStore(db),
        clock=lambda: now[0],
        wall_clock=lambda: datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    partner = Partner(
        id="kz-bank",
        name="Test",
        country="KZ",
        roles=frozenset({"bank"}),
        quota=Quota(requests_per_second=1, burst=1, daily_requests=2),
    )
    refused = Delta("cxg_quota_rejections_total")
    quotas.charge(partner)
    with pytest.raises(QuotaExceeded, match="rate limit"):
        quotas.charge(partner)
    assert refused() == 1
    now[0] += 1  # the bucket refills; the day's second request is the last
    quotas.charge(partner)
    now[0] += 1
    with pytest.raises(QuotaExceeded, match="daily quota"):
        quotas.charge(partner)
    assert refused() == 2


# -- 3. the audit log's size and checkpoints -----------------------------------------------------


def test_the_tree_size_follows_committed_leaves(audit_log: AuditLog, db: Database) -> None:
    audit_log.record(exchange(1))
    assert sample("cxg_audit_tree_size") == audit_log._store.size()
    metrics.audit_tree_size.set(0)
    audit_log.record(exchange(2))
    assert sample("cxg_audit_tree_size") == audit_log._store.size() > 0


def test_signing_a_checkpoint_sets_its_time_and_logs_one_line(
    audit_log: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(3):
        audit_log.record(exchange(i))
    metrics.checkpoint_timestamp.set(0)
    with caplog.at_level(logging.INFO, logger="cxg.audit"):
        signed = audit_log.sign_checkpoint()
        assert sample("cxg_audit_checkpoint_timestamp_seconds") == signed.signed_at.timestamp()
        again = audit_log.sign_checkpoint()  # the latest covers the log: nothing new signed
    assert again == signed
    assert abs(signed.signed_at.timestamp() - time.time()) < 60
    lines = [r for r in caplog.records if r.name == "cxg.audit"]
    assert [(r.levelno, r.getMessage()) for r in lines] == [(logging.INFO, "checkpoint signed")]
    assert lines[0].fields == {"treeSize": signed.size}  # type: ignore[attr-defined]


def cosign(audit_log: AuditLog, witness: Any, key: Any, size: int) -> None:
    """``witness`` co-signs the checkpoint of ``size``, as AddCosignature does."""
    line = add_signature(audit_log.checkpoint(size).note, witness.id, key).splitlines()[-1]
    request = audit_pb.AddCosignatureRequest(tree_size=size, signature=line)
    audit_log.add_cosignature(witness, request)


def test_a_cosignature_sets_the_time_of_the_newest_cosigned_checkpoint(
    settings: Settings, db: Database, audit_log: AuditLog
) -> None:
    witness, key = register_witness(db)
    audit_log.record(exchange(1))
    first = audit_log.sign_checkpoint()
    audit_log.record(exchange(2))
    second = audit_log.sign_checkpoint()

    metrics.cosigned_timestamp.set(0)
    cosign(audit_log, witness, key, second.size)
    assert sample("cxg_audit_cosigned_timestamp_seconds") == second.signed_at.timestamp()
    cosign(
        audit_log, witness, key, first.size
    )  # an older checkpoint co-signed late: the newest co-signed stays
    assert sample("cxg_audit_cosigned_timestamp_seconds") == second.signed_at.timestamp()


def test_a_log_opened_reports_its_stored_state(
    settings: Settings, db: Database, audit_log: AuditLog
) -> None:
    """A restarted gateway reports its log's size and its checkpoints' times at once."""
    witness, key = register_witness(db)
    audit_log.record(exchange(1))
    cosigned = audit_log.sign_checkpoint()
    cosign(audit_log, witness, key, cosigned.size)
    audit_log.record(exchange(2))
    latest = audit_log.sign_checkpoint()
    audit_log.record(exchange(3))
    size = audit_log._store.size()
    for gauge in (metrics.audit_tree_size, metrics.checkpoint_timestamp):
        gauge.set(0)
    metrics.cosigned_timestamp.set(0)

    reopened = AuditLog.from_settings(settings, db)
    reopened.close()
    assert sample("cxg_audit_tree_size") == size
    assert sample("cxg_audit_checkpoint_timestamp_seconds") == latest.signed_at.timestamp()
    assert sample("cxg_audit_cosigned_timestamp_seconds") == cosigned.signed_at.timestamp()


# -- 4. group commit -----------------------------------------------------------------------------


def test_each_group_commit_of_audit_leaves_is_measured(audit_log: AuditLog, db: Database) -> None:
    groups = Delta("cxg_audit_group_commit_size_count")
    leaves = Delta("cxg_audit_group_commit_size_sum")
    timed = Delta("cxg_audit_group_commit_seconds_count")
    audit_log.record(exchange(1))
    audit_log.record(exchange(2))
    assert (groups(), leaves(), timed()) == (2, 2, 2)
    ReplayStore(db).remember("jti-1", time.time() + 60)  # another group commit: not audit leaves
    assert (groups(), leaves(), timed()) == (2, 2, 2)


def test_leaves_waiting_for_their_commit_are_counted() -> None:
    """Items queued behind a commit under way wait; once committed, they no longer do."""
    started, release = threading.Event(), threading.Event()

    def commit(items: list[int]) -> list[int]:
        started.set()
        release.wait(10)
        return items

    committer: GroupCommitter[int, int] = GroupCommitter(commit, metrics=AUDIT_LEAVES)
    waiting = Delta("cxg_audit_appends_waiting")
    sizes = Delta("cxg_audit_group_commit_size_sum")
    threads = [threading.Thread(target=committer.run, args=(i,)) for i in range(3)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    eventually(lambda: waiting() == 3)
    release.set()
    for thread in threads:
        thread.join(5)
    assert waiting() == 0
    assert sizes() == 3  # the first alone, then the two that queued meanwhile


# -- 5. database health --------------------------------------------------------------------------


def test_a_locked_sqlite_database_is_a_timeout_and_down_until_a_ping(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path / 'locked.db'}", timeout=0.2)
    db.upgrade()
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    timeouts = Delta("cxg_database_errors_total", kind="timeout")
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseUnavailable), db.write() as conn:
            conn.execute(insert(quota_usage).values(partner_id="p", day="2026-03-01", requests=1))
        assert timeouts() == 1
        assert sample("cxg_database_up") == 0
        holder.execute("ROLLBACK")
        db.health.watch(every=0.05)
        eventually(lambda: sample("cxg_database_up") == 1)
    finally:
        holder.close()
        db.health.close()
        db.dispose()
    assert timeouts() == 1  # the watcher's pings are not requests' errors


def test_an_unreachable_database_is_unavailable() -> None:
    db = Database.from_url("postgresql://cxg@127.0.0.1:1/nothing", timeout=1)
    unavailable = Delta("cxg_database_errors_total", kind="unavailable")
    try:
        with pytest.raises(DatabaseUnavailable):
            db.read(select(quota_usage.c.requests))
        with pytest.raises(DatabaseUnavailable):
            db.read(select(quota_usage.c.requests))
        assert unavailable() == 2  # each request that meets the outage
    finally:
        db.dispose()


# -- 6. the connection pool ----------------------------------------------------------------------


def test_pool_gauges_follow_checkouts_and_the_pools_size(settings: Settings) -> None:
    size, in_use = Delta("cxg_database_pool_size"), Delta("cxg_database_pool_in_use")
    db = Database.from_url(settings.database_url)
    assert size() == pool_capacity(db.engine.pool) == (64 if db.is_sqlite else 48)
    try:
        with db.write(), db.engine.connect():
            assert in_use() == 2
        with db.driver_write():  # the group commit's raw driver connection
            assert in_use() == 1
        assert in_use() == 0
        db.read(text("SELECT 1"))  # this thread's reader is held
        assert in_use() == 1
    finally:
        db.dispose()
    assert (size(), in_use()) == (0, 0)


def test_an_in_memory_sqlite_pool_is_counted_too() -> None:
    size, in_use = Delta("cxg_database_pool_size"), Delta("cxg_database_pool_in_use")
    db = Database(create_engine("sqlite://"))
    assert size() == 5  # SingletonThreadPool: a connection per thread, five kept
    with db.engine.connect():
        assert in_use() == 1
    db.dispose()
    assert (size(), in_use()) == (0, 0)


# -- 7. SCO codes --------------------------------------------------------------------------------


def test_each_sco_code_checked_counts_under_its_result(settings: Settings, db: Database) -> None:
    sco = ScoService.from_settings(settings, db)
    malformed = Delta("cxg_sco_verifications_total", result="malformed")
    assert sco.check("not a code").result.value == "MALFORMED"
    assert malformed() == 1


# -- 8. imports ----------------------------------------------------------------------------------


def test_imported_records_count_by_outcome(
    settings: Settings, db: Database, partners: Partners
) -> None:
    exchange = ProfileExchange.from_settings(settings, db, PartnerStore(db))
    counts = {
        o: Delta("cxg_import_records_total", outcome=o)
        for o in ("imported", "unchanged", "refused")
    }

    def run() -> dict[str, float]:
        with BULK.open("rb") as stream:
            exchange.import_records(ru_bureau, stream, partners["ru-bureau"].as_partner())
        return {outcome: delta() for outcome, delta in counts.items()}

    assert run() == {"imported": 3, "unchanged": 0, "refused": 2}
    assert run() == {"imported": 3, "unchanged": 3, "refused": 4}


def test_records_stored_before_an_import_failed_are_counted(
    settings: Settings, db: Database, partners: Partners
) -> None:
    exchange = ProfileExchange.from_settings(settings, db, PartnerStore(db))
    imported = Delta("cxg_import_records_total", outcome="imported")

    def stop_at_the_second(record: Any) -> None:  # an import cut short (e.g. by shutdown)
        if record.number == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), BULK.open("rb") as stream:
        exchange.import_records(
            ru_bureau,
            stream,
            partners["ru-bureau"].as_partner(),
            batch=1,
            on_record=stop_at_the_second,
        )
    assert imported() == 1


# -- 9. rule decisions ---------------------------------------------------------------------------


def test_each_decision_counts_under_its_outcome(
    settings: Settings, db: Database, partners: Partners
) -> None:
    rules = RuleService.from_settings(settings, db)
    open_, refused = (
        Delta("cxg_rule_decisions_total", outcome="open"),
        Delta("cxg_rule_decisions_total", outcome="not_recognized"),
    )
    grade = rules.equivalent_grade(rules_pb.EquivalentGradeRequest(scheme="NO_SUCH", grade="A"))
    assert grade.decision.outcome == rules_pb.OUTCOME_OPEN
    aeo = rules.recognize_aeo(
        rules_pb.RecognizeAeoRequest(aeo_number="CN3702960517", importing_country="KZ"),
        partners["kz-bank"].as_partner(),
    )
    assert aeo.decision.outcome == rules_pb.OUTCOME_NOT_RECOGNIZED  # no pack is active
    assert (open_(), refused()) == (1, 1)


# -- 10. state changes in the log ----------------------------------------------------------------


def test_state_changes_are_logged_with_ids_and_no_secret(
    settings: Settings, db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    admin = PartnerAdmin(db)
    rules = RuleService.from_settings(settings, db)
    new_key = SigningKey.generate("ES256")
    with caplog.at_level(logging.INFO, logger="cxg"):
        pack = rules.activate(rules.sign((RULES / "grades-agency.toml").read_bytes()))
        admin.add_key("kz-bank", new_key.public_jwk())
        admin.retire_key(new_key.kid)
        ring = KeyRing.rotate(tmp_path / "gateway-keys")
    changes = [r for r in caplog.records if r.name.startswith("cxg.")]
    logged = {r.getMessage(): r.fields for r in changes}  # type: ignore[attr-defined]
    assert logged == {
        "rule pack activated": {"pack": pack.id, "version": pack.version, "sha256": pack.sha256},
        "partner key added": {"partner": "kz-bank", "kid": new_key.kid, "alg": "ES256"},
        "partner key retired": {"kid": new_key.kid},
        "gateway key activated": {"kid": ring.active.kid, "alg": ring.active.alg, "keys": 1},
    }
    assert all(r.levelno == logging.INFO for r in changes)
    text = "\n".join(JsonLines().format(r) for r in changes)
    for secret in ("eyJ", "PRIVATE KEY", '"d"', '"x"'):
        assert secret not in text
    assert all(json.loads(line)["logger"].startswith("cxg.") for line in text.splitlines())


def test_partner_keys_registered_with_a_partner_are_logged(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    key = SigningKey.generate("EdDSA")
    partner = Partner(id="new-bank", name="New bank", country="KZ", roles=frozenset({"bank"}))
    with caplog.at_level(logging.INFO, logger="cxg.partners"):
        PartnerAdmin(db).register(partner, [key.public_jwk()])
    added = [r.fields for r in caplog.records if r.getMessage() == "partner key added"]  # type: ignore[attr-defined]
    assert added == [{"partner": "new-bank", "kid": key.kid, "alg": "EdDSA"}]
