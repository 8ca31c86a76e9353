"""Backups of a SQLite database: a consistent copy taken while the gateway writes, and a restore
that puts a backup in place only once it has been checked.

A backup is one SQLite online-backup step, that is one read transaction: in WAL mode the
gateway's writers go on meanwhile, and the copy is the database as it was at one commit. The
copy is switched to a rollback journal, so that a backup is one self-contained file, readable
read-only anywhere. Both directions write under a temporary name beside the destination and
rename it into place, so a crash leaves no half file under the real name; files are created
owner-only (``gateway._private_files``), since they hold profiles and consents.

PostgreSQL is backed up by its own tools; ``pg_dump_command`` is the command line for it.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alembic.script import ScriptDirectory
from sqlalchemy import URL, make_url

from gateway.errors import Conflict, InvalidArgument, NotFound
from gateway.storage.database import alembic_config, normalize_url

__all__ = [
    "SqliteCopy",
    "backup_sqlite",
    "pg_dump_command",
    "pg_restore_command",
    "restore_sqlite",
    "schema_head",
]

T = TypeVar("T")

# Files SQLite keeps beside a database while it is open or was left unclean.
_COMPANIONS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class SqliteCopy:
    """What a backup or restore copied: the file written and the state of its audit log."""

    path: Path
    bytes: int
    revision: str  # the Alembic revision of its schema
    tree_size: int  # leaves in its audit log
    checkpoint_size: int | None  # the size of its latest signed checkpoint, if any


def backup_sqlite(database: Path, target: Path, *, overwrite: bool = False) -> SqliteCopy:
    """Copy the gateway's SQLite ``database`` to ``target`` while it may be in use.

    Refuses a missing database (rather than create an empty one), a file without the gateway's
    schema, and an existing ``target`` unless ``overwrite``."""
    if not database.is_file():
        raise NotFound(f"database {database.absolute()}: no such file")
    _refuse_existing(target, overwrite)
    with closing(_connect(database, "rw")) as source:
        _require_cxg(source, database)
        with _staged(target) as partial:
            with closing(sqlite3.connect(partial)) as copy:
                # One step (pages=-1): one read transaction, so one consistent snapshot; a
                # stepwise copy restarts whenever the gateway commits, and may never end.
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
                copied = _describe(copy, database)
            _place(partial, target, overwrite)
    return _sized(copied, target)


def restore_sqlite(
    backup: Path,
    target: Path,
    *,
    check: Callable[[Path], T],
    overwrite: bool = False,
) -> tuple[SqliteCopy, T]:
    """Put a copy of ``backup`` in place as the database ``target``, once it is checked: a
    SQLite file with the gateway's schema at the newest migration, and ``check(staged)``
    (the caller's, e.g. the audit log verified) returning rather than raising.

    An existing ``target`` is replaced only with ``overwrite``, and only while no one has it
    open: it must be taken out of WAL mode, which SQLite allows a sole connection only."""
    if not backup.is_file():
        raise NotFound(f"backup {backup}: no such file")
    _refuse_existing(target, overwrite)
    with closing(_connect(backup, "ro")) as source:
        _require_cxg(source, backup)
        with _staged(target) as partial:
            with closing(sqlite3.connect(partial)) as copy:
                source.backup(copy)
                copied = _describe(copy, backup)
            head = schema_head()
            if copied.revision != head:
                raise InvalidArgument(
                    f"backup {backup}: its schema is at revision {copied.revision}, not at"
                    f" {head}, the newest this gateway knows"
                )
            result = check(partial)
            with closing(sqlite3.connect(partial, timeout=0)) as copy:
                # The check may have opened it in WAL mode: one file, no companions, to move.
                copy.execute("PRAGMA journal_mode=DELETE")
            if target.exists():
                _quiesce(target)
            _place(partial, target, overwrite)
    return _sized(copied, target), result


def schema_head() -> str:
    """The newest migration's revision."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def pg_dump_command(url: str, file: Path) -> str:
    """The pg_dump command line that backs up the PostgreSQL database ``url`` to ``file``,
    without its password (pg_dump reads PGPASSWORD or ~/.pgpass)."""
    return shlex.join(
        ["pg_dump", "--format=custom", f"--file={file}", f"--dbname={_libpq_url(url)}"]
    )


def pg_restore_command(url: str, file: Path) -> str:
    """The pg_restore command line that restores ``file`` (from pg_dump --format=custom) into
    the empty PostgreSQL database ``url``."""
    return shlex.join(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq_url(url)}", str(file)]
    )


def _libpq_url(url: str) -> str:
    """``url`` as libpq reads it: no SQLAlchemy driver name, no password."""
    parsed = make_url(normalize_url(url))
    # URL.set() keeps a field given None, so the password is dropped by building anew.
    bare = URL.create(
        "postgresql",
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return bare.render_as_string(hide_password=False)


# -- internals ----------------------------------------------------------------------------------


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    """A connection to an existing file (``mode=rw`` or ``ro``); never creates one."""
    try:
        return sqlite3.connect(f"{path.absolute().as_uri()}?mode={mode}", uri=True)
    except sqlite3.Error as exc:
        raise InvalidArgument(f"{path}: cannot open as SQLite: {exc}") from exc


def _require_cxg(conn: sqlite3.Connection, path: Path) -> None:
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise InvalidArgument(f"{path}: not a SQLite database ({exc})") from exc
    if not {"alembic_version", "audit_state", "audit_checkpoints"} <= tables:
        raise InvalidArgument(f"{path}: holds no cxg schema")


def _describe(conn: sqlite3.Connection, path: Path) -> SqliteCopy:
    """The revision and audit log of a copy just made of ``path`` (where it is and its size
    come once it is in place)."""
    (check,) = conn.execute("PRAGMA quick_check").fetchone()
    if check != "ok":
        raise InvalidArgument(f"{path}: the copy fails SQLite's integrity check: {check}")
    (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    (size,) = conn.execute("SELECT size FROM audit_state WHERE id = 1").fetchone()
    (checkpoint,) = conn.execute("SELECT max(size) FROM audit_checkpoints").fetchone()
    return SqliteCopy(path, 0, revision, size, checkpoint)


def _sized(copied: SqliteCopy, path: Path) -> SqliteCopy:
    """``copied`` as the file now in place at ``path``."""
    return SqliteCopy(
        path,
        path.stat().st_size,
        copied.revision,
        copied.tree_size,
        copied.checkpoint_size,
    )


def _refuse_existing(target: Path, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise Conflict(f"{target}: exists; not replaced without --force")


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """An empty owner-only file beside ``target`` (mkstemp makes it 0600), removed with its
    companions unless it was moved into place."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    except OSError as exc:  # named by the file asked for, not by the temporary one
        raise OSError(
            exc.errno, f"cannot create a file in {target.parent}: {exc.strerror}", str(target)
        ) from exc
    os.close(fd)
    partial = Path(name)
    try:
        yield partial
    finally:
        for suffix in ("", *_COMPANIONS):
            Path(name + suffix).unlink(missing_ok=True)


def _quiesce(target: Path) -> None:
    """Take the database about to be replaced out of WAL mode, which folds its -wal file in
    and removes it: a -wal file left beside the new database would be replayed into it. SQLite
    refuses while any other connection is open, which is how a running gateway is noticed."""
    try:
        with closing(_connect(target, "rw")) as conn:
            conn.execute("PRAGMA busy_timeout = 0")
            (mode,) = conn.execute("PRAGMA journal_mode=DELETE").fetchone()
    except sqlite3.DatabaseError as exc:
        raise Conflict(
            f"database {target.absolute()}: in use or not a SQLite database ({exc});"
            " stop the gateway first"
        ) from exc
    left = [target.name + s for s in _COMPANIONS if Path(f"{target}{s}").exists()]
    if mode != "delete" or left:
        raise Conflict(f"database {target.absolute()}: in use ({', '.join(left) or mode})")


def _place(partial: Path, target: Path, overwrite: bool) -> None:
    """Move the finished file into place durably; without ``overwrite`` a file created
    meanwhile under the name wins (a hard link fails rather than replace it)."""
    with open(partial, "rb") as file:
        os.fsync(file.fileno())
    if overwrite:
        os.replace(partial, target)
    else:
        try:
            os.link(partial, target)
        except FileExistsError as exc:
            raise Conflict(f"{target}: exists; not replaced without --force") from exc
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
