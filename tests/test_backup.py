"""Backups as an operator takes them: ``cxg db backup`` of a SQLite file while the audit log is
being appended to, ``cxg db restore`` into a fresh place, and pg_dump / pg_restore for
PostgreSQL. Whatever the route, the restored log must still verify against the last checkpoint
signed before the backup: its root at that size is the signed root, and a consistency proof
from there to the restored size holds (checked offline by ``cxg audit verify-consistency``).
Then the refusals, each one line naming the file or database."""

from __future__ import annotations

import dataclasses
import os
import shlex
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner, Result

from gateway.audit import Checkpoint, ConsistencyProof, verifier_key
from gateway.audit.entries import Exchange
from gateway.cli import app
from gateway.config import Settings
from gateway.schema.cxg.v1 import audit_service_pb2 as pb
from gateway.service.audit import NOTE_KEY_FILE, AuditLog, load_note_key
from gateway.storage import Database, normalize_url
from gateway.storage.backup import pg_dump_command, pg_restore_command
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.pg_cluster import binaries

runner = CliRunner()


def cxg(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def refused(*args: str | Path, status: int) -> str:
    """The one line on stderr of a command refused with ``status``."""
    result = cxg(*args)
    assert result.exit_code == status, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cxg: "), result.stderr
    return lines[0]


def exchange(i: int) -> Exchange:
    return Exchange(
        operation="GetProfile",
        transport="grpc",
        partner="kz-bank",
        subject=(f"KZ_BIN:{180440001235 + i}",),
        purpose="trade_due_diligence",
        consent="",
        request_sha256=f"{i:064x}",
        response_sha256=f"{i * 7:064x}",
        decision="ok",
    )


@dataclasses.dataclass
class Audited:
    """A gateway's database with an audit log, and the checkpoint signed last."""

    settings: Settings
    db: Database
    log: AuditLog
    note: str  # the signed checkpoint note, as partners hold it

    @property
    def vkey(self) -> str:
        """The gateway's verifier key, from its public key (not from the database)."""
        key = load_note_key(self.settings.gateway_keys_dir / NOTE_KEY_FILE)
        return verifier_key(self.log.origin, key.public_key())


def audited(settings: Settings, leaves: int = 150) -> Audited:
    db = Database.from_url(settings.database_url)
    db.upgrade()
    log = AuditLog.from_settings(settings, db)
    for i in range(leaves):
        log.record(exchange(i))
    size = log.sign_checkpoint().size
    return Audited(settings, db, log, log.checkpoint(size).note)


@contextmanager
def appending(log: AuditLog) -> Iterator[list[int]]:
    """A thread appending leaves (and signing a checkpoint now and then) until the block ends;
    yields the indices appended so far."""
    stop = threading.Event()
    appended: list[int] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            while not stop.is_set():
                appended.append(log.record(exchange(10_000 + len(appended))))
                if len(appended) % 25 == 0:
                    log.sign_checkpoint()
        except BaseException as exc:  # reported by the test, not lost in the thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        while len(appended) < 5 and not failed:  # writing before the backup starts
            stop.wait(0.01)
        yield appended
    finally:
        stop.set()
        thread.join()
    assert not failed, failed


def assert_verifies_against_checkpoint(restored: Database, source: Audited, tmp_path: Path) -> int:
    """The restored log verifies against the checkpoint signed before the backup; its size."""
    signed = Checkpoint.from_note(source.note, [source.vkey], origin=source.log.origin)
    log = AuditLog.from_settings(source.settings, restored)
    try:
        size = log._store.size()
        assert size > signed.size  # the backup caught leaves appended after the checkpoint
        assert log.root(signed.size) == signed.root
        made = log.consistency(pb.GetConsistencyProofRequest(first=signed.size, second=size))
        proof = ConsistencyProof(
            signed.size, size, signed.root, made.second_root_hash, tuple(made.hashes)
        )
        proof.verify()
        (tmp_path / "consistency.json").write_text(proof.to_json())
        result = cxg("audit", "verify-consistency", tmp_path / "consistency.json")
        assert (result.exit_code, result.stdout) == (0, "verified\n"), result.output
        # The source went on appending; the restored log is a prefix of it.
        assert source.log.root(size) == log.root(size)
        return size
    finally:
        log.close()


# -- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A gateway on a SQLite file; the CLI pointed at it and its keys."""
    (tmp_path / "live").mkdir()
    settings = dataclasses.replace(
        Settings(),
        database_url=f"sqlite:///{tmp_path / 'live' / 'cxg.db'}",
        keys_dir=tmp_path / "keys",
    )
    monkeypatch.setenv("CXG_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("CXG_GATEWAY_ID", settings.gateway_id)
    return settings


@pytest.fixture
def live(sqlite_settings: Settings) -> Iterator[Audited]:
    source = audited(sqlite_settings)
    yield source
    source.log.close()
    source.db.dispose()


def test_backup_while_writing_restores_a_log_that_verifies(
    live: Audited, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = tmp_path / "backups" / "cxg-backup.db"
    backup.parent.mkdir()
    with appending(live.log) as appended:
        before = len(appended)
        result = cxg("db", "backup", backup)
        during = len(appended)
    assert result.exit_code == 0, result.output
    assert during > before  # the gateway went on writing across the backup
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sorted(p.name for p in backup.parent.iterdir()) == ["cxg-backup.db"]  # no temp file
    assert "audit log of " in result.stdout and "latest checkpoint at size " in result.stdout
    # A backup is one self-contained file: a rollback journal, no -wal to go with it.
    with sqlite3.connect(f"{backup.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        (backed_up,) = conn.execute("SELECT size FROM audit_state").fetchone()
    assert f"audit log of {backed_up} leaves" in result.stdout

    restored_file = tmp_path / "restored" / "cxg.db"
    restored_file.parent.mkdir()
    monkeypatch.setenv("CXG_DATABASE_URL", f"sqlite:///{restored_file}")
    result = cxg("db", "restore", backup)
    assert result.exit_code == 0, result.output
    assert f"audit log of {backed_up} leaves verified" in result.stdout
    assert stat.S_IMODE(restored_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in restored_file.parent.iterdir()) == ["cxg.db"]

    restored = Database.from_url(f"sqlite:///{restored_file}")
    try:
        assert assert_verifies_against_checkpoint(restored, live, tmp_path) == backed_up
    finally:
        restored.dispose()


def test_backup_refuses_an_existing_file_without_force(live: Audited, tmp_path: Path) -> None:
    backup = tmp_path / "backup.db"
    backup.write_text("keep me")
    line = refused("db", "backup", backup, status=2)
    assert f"{backup}: exists" in line and "--force" in line
    assert backup.read_text() == "keep me"
    assert cxg("db", "backup", "--force", backup).exit_code == 0
    assert sqlite3.connect(backup).execute("SELECT size FROM audit_state").fetchone() == (150,)


def test_backup_refuses_an_unwritable_folder(live: Audited, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through any mode bits; /proc takes no new files
        folder = Path("/proc")
    else:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o500)
    line = refused("db", "backup", folder / "backup.db", status=2)
    assert f"{folder / 'backup.db'}" in line
    assert not (folder / "backup.db").exists()


def test_backup_refuses_the_database_itself(live: Audited, sqlite_settings: Settings) -> None:
    database = make_url(sqlite_settings.database_url).database
    assert database is not None
    line = refused("db", "backup", "--force", database, status=2)
    assert "is the database itself" in line


def test_backup_of_a_missing_sqlite_file_names_it_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere.db"
    monkeypatch.setenv("CXG_DATABASE_URL", f"sqlite:///{missing}")
    line = refused("db", "backup", tmp_path / "backup.db", status=1)
    assert f"database sqlite:///{missing}: no such file" in line
    assert sorted(tmp_path.iterdir()) == []


def test_postgres_is_pointed_at_pg_dump_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://cxg:s3cret@db.example:5433/cxg?sslmode=require"
    monkeypatch.setenv("CXG_DATABASE_URL", url)
    backup = tmp_path / "cxg.dump"
    line = refused("db", "backup", backup, status=1)
    assert "backed up with pg_dump" in line and "s3cret" not in line
    assert pg_dump_command(url, backup) in line
    assert pg_dump_command(url, backup) == shlex.join(
        [
            "pg_dump",
            "--format=custom",
            f"--file={backup}",
            "--dbname=postgresql://cxg@db.example:5433/cxg?sslmode=require",
        ]
    )
    line = refused("db", "restore", backup, status=1)
    assert "pg_restore" in line and "s3cret" not in line
    assert not backup.exists()


# -- restore refusals ---------------------------------------------------------------------------


@pytest.fixture
def backup(live: Audited, tmp_path: Path) -> Path:
    path = tmp_path / "backup.db"
    assert cxg("db", "backup", path).exit_code == 0
    return path


def test_restore_refuses_an_existing_database_without_force(
    backup: Path, sqlite_settings: Settings
) -> None:
    line = refused("db", "restore", backup, status=1)
    assert "exists; not replaced" in line and "--force" in line


def test_restore_refuses_a_database_in_use(live: Audited, backup: Path) -> None:
    live.log.record(exchange(999))  # the gateway holds connections to its database
    line = refused("db", "restore", "--force", backup, status=1)
    assert "in use" in line and "stop the gateway" in line
    assert live.log._store.size() == 151  # untouched


def test_restore_replaces_a_stopped_database(
    live: Audited, backup: Path, sqlite_settings: Settings
) -> None:
    live.log.record(exchange(999))
    live.log.close()
    live.db.dispose()
    assert cxg("db", "restore", "--force", backup).exit_code == 0
    db = Database.from_url(sqlite_settings.database_url)
    try:
        assert AuditLog.from_settings(sqlite_settings, db)._store.size() == 150
    finally:
        db.dispose()


def test_restore_refuses_a_tampered_log_and_leaves_nothing(
    backup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(backup) as conn:
        conn.execute("UPDATE audit_leaves SET data = x'7b7d' WHERE idx = 7")
    conn.close()
    target = tmp_path / "restored"
    target.mkdir()
    monkeypatch.setenv("CXG_DATABASE_URL", f"sqlite:///{target / 'cxg.db'}")
    line = refused("db", "restore", backup, status=1)
    assert f"backup {backup}: its audit log does not verify" in line
    assert "does not match the signed root" in line
    assert list(target.iterdir()) == []


def test_restore_refuses_a_file_that_is_not_a_cxg_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXG_DATABASE_URL", f"sqlite:///{tmp_path / 'cxg.db'}")
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    assert "holds no cxg schema" in refused("db", "restore", other, status=1)
    other.write_text("not a database")
    assert f"{other}" in refused("db", "restore", other, status=1)
    assert "no such file" in refused("db", "restore", tmp_path / "none.db", status=2)
    assert not (tmp_path / "cxg.db").exists()


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="CXG_TEST_POSTGRES_URL is not set")
def test_pg_dump_while_writing_restores_a_log_that_verifies(tmp_path: Path) -> None:
    assert POSTGRES_URL is not None
    bindir = binaries()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql")
    reset_postgres(POSTGRES_URL)
    settings = dataclasses.replace(
        Settings(), database_url=POSTGRES_URL, keys_dir=tmp_path / "keys"
    )
    source = audited(settings)
    url = make_url(normalize_url(POSTGRES_URL))
    restore_url = url.set(database=f"{url.database}_restore")
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{restore_url.database}"'))
        conn.execute(text(f'CREATE DATABASE "{restore_url.database}"'))
    dump = tmp_path / "cxg.dump"
    try:
        # The command lines cxg prints, run with the binaries of the server's version.
        with appending(source.log) as appended:
            before = len(appended)
            _run(bindir, pg_dump_command(POSTGRES_URL, dump))
            during = len(appended)
        assert during > before
        restored_url = restore_url.render_as_string(hide_password=False)
        _run(bindir, pg_restore_command(restored_url, dump))
        restored = Database.from_url(restored_url)
        try:
            assert_verifies_against_checkpoint(restored, source, tmp_path)
        finally:
            restored.dispose()
    finally:
        source.log.close()
        source.db.dispose()
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restore_url.database}"'))
        server.dispose()


def _run(bindir: Path, command: str) -> None:
    program, *args = shlex.split(command)
    done = subprocess.run(
        [str(bindir / program), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
