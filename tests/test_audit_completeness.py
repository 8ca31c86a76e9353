"""Every change of state is in the audit log, whoever made it and by whatever path: the leaf is
written in the transaction that makes the change, names the actor, the way the change came in
and the records changed. Operator commands, API calls of operators and partners, and bulk
imports (also when the gateway is killed in the middle of one) are checked here from outside:
through the command line, the API of a running gateway, and a `cxg serve` process."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bench._import_work import generate
from gateway.cli import app
from gateway.config import Settings
from gateway.errors import Unavailable
from gateway.service import PartnerAdmin
from gateway.service.audit import AuditLog
from gateway.signing import SigningKey
from gateway.storage import Database
from gateway.storage.audit import AuditStore, ChangeLog
from gateway.storage.tables import profile_versions
from gateway.transport.serve import Gateway
from gateway.trust import Quota
from tests.audit_load import gateway_env, gateways, seed
from tests.clients import RestClient
from tests.support import USCC, TestPartner, profile, publish

runner = CliRunner()


def changes_since(db: Database, start: int) -> list[dict[str, Any]]:
    """The change leaves appended at or after leaf ``start``, decoded."""
    store = AuditStore(db)
    leaves = [json.loads(leaf.data) for leaf in store.leaves(start, store.size())]
    return [leaf for leaf in leaves if leaf.get("kind") == "change"]


def cxg(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def operator_cli(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    """The command line pointed at the test database and keys."""
    monkeypatch.setenv("CXG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(settings.keys_dir))
    yield db


def test_every_operator_command_that_changes_state_leaves_a_leaf(
    operator_cli: Database, settings: Settings, partners: dict[str, TestPartner], tmp_path: Path
) -> None:
    db = operator_cli
    publish(_exchange(settings, db), partners["cn-customs"], profile())
    jwk = tmp_path / "key.json"
    jwk.write_text(json.dumps(SigningKey.generate().public_jwk()))
    next_key = SigningKey.generate()
    next_jwk = tmp_path / "next.json"
    next_jwk.write_text(json.dumps(next_key.public_jwk()))
    signed_pack = tmp_path / "pack.jws"
    cxg("rules", "sign", str(Path(__file__).parents[1] / "rules/grades-agency.toml"),
        "--out", str(signed_pack))  # fmt: skip
    bulk = tmp_path / "aeo.xml"
    generate("customs-aeo-list", 3, bulk)

    def sco_code() -> str:
        issued = cxg("sco", "issue", f"CN_USCC:{USCC}", "--as", "cxg-operator")
        return issued.splitlines()[1].split(":")[0].removeprefix("scoCodes/")

    import_bulk = ["import", str(bulk), "--adapter", "customs-aeo-list", "--as", "cn-customs"]
    add = ["partners", "add", "uz-bank", "--name", "Uzbek Bank", "--country", "UZ"]
    # (command line, the change its leaf names, a subject it must name)
    steps: list[tuple[Callable[[], Any], str, str]] = [
        (lambda: cxg(*add, "--role", "bank", "--jwk", str(jwk)), "partner.register",
         "partners/uz-bank"),
        (lambda: cxg("partners", "add-key", "uz-bank", "--jwk", str(next_jwk)),
         "partner.key.add", f"keys/{next_key.kid}"),
        (lambda: cxg("partners", "retire-key", "--", next_key.kid), "partner.key.retire",
         f"keys/{next_key.kid}"),
        (lambda: cxg("partners", "suspend", "uz-bank"), "partner.status", "partners/uz-bank"),
        (lambda: cxg("partners", "reinstate", "uz-bank"), "partner.status", "partners/uz-bank"),
        (lambda: cxg("partners", "set-quota", "uz-bank", "--rps", "5"), "partner.quota",
         "partners/uz-bank"),
        (lambda: cxg("rules", "activate", str(signed_pack)), "rules.activate", "rulePacks/"),
        (sco_code, "sco.issue", "scoCodes/"),
        (lambda: cxg("keys", "rotate"), "gateway.key.activate", "keys/"),
        (lambda: runner.invoke(app, import_bulk), "profile.versions", "profiles/"),
    ]  # fmt: skip
    for command, change, subject in steps:
        before = AuditStore(db).size()
        command()
        leaves = changes_since(db, before)
        assert [leaf["change"] for leaf in leaves] == [change], (change, leaves)
        leaf = leaves[0]
        assert leaf["actor"].startswith("cli:") and leaf["via"].startswith("cli"), leaf
        assert any(name.startswith(subject) for name in leaf["subject"]), (subject, leaf)
        assert leaf["v"] == 2 and len(leaf["salt"]) == 32

    (issued,) = [leaf for leaf in changes_since(db, 0) if leaf["change"] == "sco.issue"]
    code_id = issued["subject"][0].removeprefix("scoCodes/")
    for verb, state in (("suspend", "suspended"), ("revoke", "revoked")):
        before = AuditStore(db).size()
        cxg("sco", verb, code_id, "--as", "cxg-operator")
        (leaf,) = changes_since(db, before)
        assert (leaf["change"], leaf["detail"], leaf["subject"]) == (
            "sco.status",
            {"state": state},
            [f"scoCodes/{code_id}"],
        )


def _exchange(settings: Settings, db: Database) -> Any:
    from gateway.service import ProfileExchange
    from gateway.storage.partners import PartnerStore

    return ProfileExchange.from_settings(settings, db, PartnerStore(db))


def test_api_changes_name_the_partner_and_the_transport(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    operator = RestClient(gateway, partners, caller="cxg-operator")
    customs = RestClient(gateway, partners, caller="cn-customs")
    try:
        before = AuditStore(gateway.db).size()
        suspended = operator.request("POST", "/v1/admin/partners/kz-bank:suspend")
        assert suspended.status_code == 200, suspended.text
        published = customs.publish(partners["cn-customs"].sign(profile()))
        assert published.status == 200, published
    finally:
        operator.close()
        customs.close()
    suspend, versions = changes_since(gateway.db, before)
    assert (suspend["actor"], suspend["via"], suspend["partner"]) == (
        "partners/cxg-operator",
        "rest SuspendPartner",
        "cxg-operator",
    )
    assert suspend["change"] == "partner.status" and suspend["subject"] == ["partners/kz-bank"]
    assert versions["change"] == "profile.versions" and versions["actor"] == "partners/cn-customs"
    name = published.body["profileName"]
    assert versions["subject"] == [name]
    assert versions["detail"]["versions"][0].startswith(f"{name}/versions/1 request:")


def test_a_change_whose_leaf_cannot_be_written_is_not_made(
    gateway: Gateway, partners: dict[str, TestPartner], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change and its leaf commit together: when the leaf fails, the change rolls back and
    the caller is told, on the API and on the command line alike."""

    def failing(*_: Any, **__: Any) -> int:
        raise Unavailable("the audit log cannot be written")

    monkeypatch.setattr(ChangeLog, "record", failing)
    operator = RestClient(gateway, partners, caller="cxg-operator")
    try:
        refused = operator.request("POST", "/v1/admin/partners/kz-bank:suspend")
    finally:
        operator.close()
    assert refused.status_code == 503, refused.text
    assert PartnerAdmin(gateway.db).show("kz-bank").partner.status == "active"
    with pytest.raises(Unavailable):
        PartnerAdmin(gateway.db).set_quota("kz-bank", Quota(burst=3))
    assert PartnerAdmin(gateway.db).show("kz-bank").partner.quota.burst is None


def test_every_version_a_killed_bulk_import_committed_has_its_leaf(
    database_url: str, partners: dict[str, TestPartner], tmp_path: Path
) -> None:
    """SIGKILL in the middle of an API bulk import: what was committed before the kill is in
    the log, batch by batch; nothing stored is missing from it."""
    env = gateway_env(database_url, tmp_path / "keys", checkpoint_seconds=60)
    settings = seed(env, partners)
    bulk = tmp_path / "aeo.xml"
    generate("customs-aeo-list", 6000, bulk)
    db = Database.from_url(settings.database_url)
    try:
        with gateways(tmp_path) as running:
            served = running.start("g1", env)
            client = RestClient(served, partners, caller="cn-customs")  # type: ignore[arg-type]

            def upload() -> None:
                with contextlib.suppress(httpx.HTTPError):  # the connection dies with the gateway
                    client.request(
                        "POST", "/v1/profiles:import", params={"format": "customs-aeo-list"},
                        content=bulk.read_bytes(), headers={"content-type": "application/xml"},
                    )  # fmt: skip

            uploader = threading.Thread(target=upload)
            uploader.start()
            deadline = time.monotonic() + 60
            while _stored(db) < 1000 and time.monotonic() < deadline:
                time.sleep(0.02)
            served.crash()
            uploader.join(30)
            client.close()
        stored = _stored(db)
        assert 1000 <= stored < 6000, stored  # killed in the middle, after some batches
        named = {
            version.split(" ")[0]
            for leaf in changes_since(db, 0)
            if leaf["change"] == "profile.versions"
            for version in leaf["detail"]["versions"]
        }
        rows = db.read(select(profile_versions.c.profile_id, profile_versions.c.version))
        assert {f"profiles/{r.profile_id}/versions/{r.version}" for r in rows} == named
    finally:
        db.dispose()


def _stored(db: Database) -> int:
    return int(db.read(select(func.count()).select_from(profile_versions))[0][0])


def test_the_database_and_audit_exports_are_private(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files holding profiles, consents or the log's contents are created 0600, and a database
    file found readable by others is tightened when the gateway opens it (always on a SQLite
    file: PostgreSQL keeps its own files)."""
    settings = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'private.db'}")
    monkeypatch.setenv("CXG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(settings.keys_dir))
    database = Database.from_url(settings.database_url)
    database.upgrade()
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    os.chmod(path, 0o644)
    Database.from_url(settings.database_url).dispose()
    assert os.stat(path).st_mode & 0o777 == 0o600
    for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if sidecar.exists():
            assert os.stat(sidecar).st_mode & 0o077 == 0, sidecar
    AuditStore(database).append([(b"leaf", None)])
    AuditLog.from_settings(settings, database).sign_checkpoint()  # an export needs one
    database.dispose()
    out = tmp_path / "export.jsonl"
    out.write_text("")
    os.chmod(out, 0o644)  # a file that was there before keeps no looser mode either
    cxg("audit", "export", "--out", str(out))
    assert os.stat(out).st_mode & 0o777 == 0o600
    fresh = tmp_path / "fresh.jsonl"
    cxg("audit", "export", "--out", str(fresh))
    assert os.stat(fresh).st_mode & 0o777 == 0o600
