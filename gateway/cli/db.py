"""``cxg db backup`` and ``cxg db restore``: a SQLite database copied while the gateway runs, and
put back only once its schema and its audit log check out (gateway/storage/backup.py).

A PostgreSQL database is backed up with pg_dump and restored with pg_restore, PostgreSQL's own
tools: these commands refuse it and print the exact command line, rather than run a pg_dump
whose version, authentication and options they would have to guess.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway._private_files import open_private
from gateway.cli import _common
from gateway.cli._common import _fail, _sqlite_file, check_output, load_settings, usage
from gateway.config import Settings
from gateway.errors import InvalidArgument, Unauthenticated

if TYPE_CHECKING:
    from gateway.audit._export import LogReport

Force = Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")]


def db_backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (created 0600).")],
    force: Force = False,
) -> None:
    """Copy the SQLite database (CXG_DATABASE_URL) to FILE, consistently, while the gateway
    may be writing. For PostgreSQL it prints the pg_dump command to run instead (exit 1)."""
    from gateway.storage.backup import backup_sqlite, pg_dump_command

    settings = load_settings()
    database = _sqlite_database(settings)
    if database is None:
        raise _fail(
            "db backup: a PostgreSQL database is backed up with pg_dump, not by cxg",
            hint=f"run {pg_dump_command(settings.database_url, file)}; it reads the password"
            " from PGPASSWORD or ~/.pgpass",
        )
    _check_target(file, force)
    if not database.is_file():
        raise _fail(
            f"database {_common.session.database}: no such file",
            hint="CXG_DATABASE_URL names the database to back up",
        )
    if file.resolve() == database.resolve():
        raise usage(f"backup file {file}: is the database itself", hint="name another file")
    copied = backup_sqlite(database, file, overwrite=force)
    checkpoint = (
        f"latest checkpoint at size {copied.checkpoint_size}"
        if copied.checkpoint_size is not None
        else "no checkpoint signed yet"
    )
    typer.echo(
        f"backed up {_common.session.database} to {copied.path} ({copied.bytes} bytes):"
        f" audit log of {copied.tree_size} leaves, {checkpoint}"
    )


def db_restore(
    file: Annotated[Path, typer.Argument(help="A backup written by cxg db backup.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing database (stop the gateway first)."),
    ] = False,
) -> None:
    """Put a backup in place as the SQLite database (CXG_DATABASE_URL), once checked: the
    gateway's schema at the newest migration, and its audit log rebuilt from its leaves to the
    root of every checkpoint, signed with this gateway's checkpoint key. For PostgreSQL it
    prints the pg_restore command to run instead (exit 1)."""
    from gateway.storage.backup import pg_restore_command, restore_sqlite

    settings = load_settings()
    database = _sqlite_database(settings)
    if database is None:
        raise _fail(
            "db restore: a PostgreSQL database is restored with pg_restore, not by cxg",
            hint="into an empty database (createdb), as"
            f" {pg_restore_command(settings.database_url, file)}",
        )
    if not file.is_file():
        raise usage(f"backup {file}: no such file")
    if database.exists() and not force:
        raise _fail(
            f"database {_common.session.database}: exists; not replaced",
            hint="stop the gateway, back the database up, then pass --force to replace it",
        )
    if not database.parent.is_dir():
        raise _fail(f"database {_common.session.database}: no folder {database.parent}")

    def check(staged: Path) -> LogReport:
        try:
            return verify_audit_log(settings, staged)
        except (InvalidArgument, Unauthenticated) as exc:  # ProofError is an InvalidArgument
            raise _fail(
                f"backup {file}: its audit log does not verify, so it was not restored: {exc}",
                hint="restore an earlier backup",
            ) from exc

    copied, report = restore_sqlite(file, database, overwrite=force, check=check)
    checkpoint = (
        f"latest checkpoint at size {copied.checkpoint_size}"
        if copied.checkpoint_size is not None
        else "no checkpoint signed yet"
    )
    typer.echo(
        f"restored {file} to {_common.session.database}: audit log of {copied.tree_size}"
        f" leaves verified against {report.checkpoints} checkpoints, {checkpoint}"
    )


def verify_audit_log(settings: Settings, path: Path) -> LogReport:
    """Check the audit log of the SQLite database at ``path`` as an auditor would: export it,
    rebuild the tree from every leaf and check each checkpoint's root and the gateway's
    signature with this gateway's key; and check that the stored subtree hashes, which proofs
    are made of, give the latest checkpoint's root. Raises the error of the first failure."""
    from gateway.audit import merkle
    from gateway.audit._export import verify_export
    from gateway.audit.note import verifier_key
    from gateway.errors import ProofError
    from gateway.service.audit import NOTE_KEY_FILE, load_note_key, origin_of
    from gateway.service.audit_export import AuditExporter
    from gateway.storage import Database
    from gateway.storage.audit import AuditStore

    db = Database.from_url(f"sqlite:///{path}", timeout=settings.database_timeout_seconds)
    try:
        exporter = AuditExporter.from_settings(settings, db)  # refuses without the key
        key = verifier_key(
            origin_of(settings),
            load_note_key(settings.gateway_keys_dir / NOTE_KEY_FILE).public_key(),
        )
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".cxg-restore-") as folder:
            export = Path(folder) / "audit.jsonl"
            with open_private(export) as out:  # the leaves name who asked about whom
                exporter.export(out)
            report = verify_export(export, key=key)
        store = AuditStore(db)
        latest = store.latest_checkpoint()
        if latest is not None:
            nodes = store.nodes(merkle.root_nodes(latest.size))
            if merkle.root(latest.size, nodes) != latest.root:
                raise ProofError(
                    f"the stored hashes do not give the root signed at size {latest.size}"
                )
        return report
    finally:
        db.dispose()


def _sqlite_database(settings: Settings) -> Path | None:
    """The SQLite file CXG_DATABASE_URL names, or None for PostgreSQL; anything else (an
    in-memory database) is refused."""
    from sqlalchemy import make_url

    from gateway.storage import normalize_url

    url = settings.database_url
    _common.session.database = _common.shown_database(url)
    path = _sqlite_file(url)
    if path is None and make_url(normalize_url(url)).get_backend_name() != "postgresql":
        raise _fail(f"database {_common.session.database}: not a SQLite file or PostgreSQL")
    return path


def _check_target(file: Path, force: bool) -> None:
    """Refuse, before any work, a backup file that exists (without --force) or cannot be
    written."""
    if file.exists() and not file.is_dir() and not force:
        raise usage(f"backup file {file}: exists", hint="pass --force to replace it")
    check_output(file, "backup file")
