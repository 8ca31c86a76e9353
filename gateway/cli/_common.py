"""What every command group shares: the settings (a ``--config`` file and the environment), the
database, the files people name, and the one error handler.

Every error meant for a person leaves a command as one line on stderr, ``cxg: <what>: <why>
(hint: ...)``, and an exit status (``CxgGroup.invoke``; ``--debug`` or ``CXG_DEBUG=1`` shows the
traceback instead):

    2  a usage error: a bad argument, option or file named on the command line, a bad setting
       (click's usage errors, ``usage()``, ``ConfigError``, ``OSError`` and ``ValueError``)
    1  an operational error: refused by the gateway's logic (every ``GatewayError``), the
       database missing, empty or unavailable, anything unexpected (``_fail()``)

Commands validate everything they were given before their first side effect.
"""

from __future__ import annotations

import getpass
import importlib.util
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup

from gateway.audit.entries import Actor, acting_as
from gateway.config import ConfigError, Settings
from gateway.errors import DatabaseUnavailable, GatewayError

T = TypeVar("T")


class CliError(Exception):
    """An error meant for the person at the command line: one line and an exit status."""

    def __init__(self, message: str, *, hint: str | None = None, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def line(self) -> str:
        return f"cxg: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


def _fail(message: str, *, hint: str | None = None) -> CliError:
    """An operational error (exit status 1), to raise."""
    return CliError(message, hint=hint, code=1)


def verdict(message: str) -> typer.Exit:
    """A check's negative answer (not verified, invalid), not an error of use: the message as
    it is on stderr and exit status 1, to raise."""
    typer.echo(message, err=True)
    return typer.Exit(1)


def usage(message: str, *, hint: str | None = None) -> CliError:
    """A usage error (exit status 2): a bad argument, option or file; to raise."""
    return CliError(message, hint=hint, code=2)


def _run(action: Callable[[], T]) -> T:
    """Run an operator action (its errors are reported by ``CxgGroup``)."""
    return action()


# -- the one error handler ---------------------------------------------------------------------


@dataclass
class _Session:
    """This invocation's global options, and what to name in an error about the database."""

    debug: bool = False
    config: Path | None = None
    database: str | None = None


session = _Session()


def start_session(*, debug: bool, config: Path | None) -> None:
    session.debug, session.config, session.database = debug, config, None


class CxgGroup(TyperGroup):
    """The root command: every exception a subcommand raises becomes one line and an exit
    status (see the module docstring), except under ``--debug``."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:  # the root's own options (cxg --bogus)
            return super().make_context(*args, **kwargs)
        except Exception as exc:
            if not _is_usage_error(exc):
                raise
            self._report(exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if describe(exc) is None or (session.debug and not _is_usage_error(exc)):
                raise
            self._report(exc)

    @staticmethod
    def _report(exc: Exception) -> NoReturn:
        reported = describe(exc)
        assert reported is not None
        code, line = reported
        typer.echo(line, err=True)
        raise typer.Exit(code) from exc


def describe(exc: BaseException) -> tuple[int, str] | None:
    """The exit status and the one line for an exception; None for the command-line library's
    own signals (exit, abort, help), which it reports itself."""
    if _is_usage_error(exc):
        ctx = getattr(exc, "ctx", None)
        words = ctx.command_path.split()[1:] if ctx is not None else []
        where = f"{' '.join(words)}: " if words else ""
        command = " ".join(["cxg", *words])
        return 2, f"cxg: {where}{exc.format_message()} (hint: {command} --help)"  # type: ignore[attr-defined]
    if type(exc).__module__.split(".")[0] in ("click", "typer"):
        return None
    if isinstance(exc, CliError):
        return exc.code, exc.line()
    if isinstance(exc, ConfigError):
        where = f"{session.config} or the environment" if session.config else "the environment"
        return 2, f"cxg: {exc} (hint: correct it in {where}; see cxg serve --help)"
    if isinstance(exc, DatabaseUnavailable):
        database = session.database or "CXG_DATABASE_URL"
        hint = "is it running and reachable? CXG_DATABASE_URL names the database"
        return 1, f"cxg: database {database}: {exc} (hint: {hint})"
    if isinstance(exc, GatewayError):
        return 1, f"cxg: {exc}"
    if isinstance(exc, ModuleNotFoundError) and exc.name == "cxg_client":
        hint = "pip install -e clients/python, the partner SDK, in this environment"
        return 1, f"cxg: the partner SDK (cxg_client) is not installed (hint: {hint})"
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return 2, f"cxg: {exc.filename}: {exc.strerror or exc}"
        return 1, f"cxg: {exc.strerror or exc}"
    if isinstance(exc, ValueError):
        return 2, f"cxg: {exc}"
    return 1, (
        f"cxg: internal error: {type(exc).__name__}: {exc}"
        " (hint: run again with --debug for the traceback)"
    )


def _is_usage_error(exc: BaseException) -> bool:
    """Click's usage errors (a missing or unknown option, a bad value), but not the help shown
    for a group called without a command."""
    return (
        getattr(exc, "exit_code", None) == 2
        and hasattr(exc, "format_message")
        and type(exc).__name__ != "NoArgsIsHelpError"
        and type(exc).__module__.split(".")[0] in ("click", "typer")
    )


# -- settings and database ----------------------------------------------------------------------


def load_settings() -> Settings:
    """The settings: defaults, the ``--config`` file (or CXG_CONFIG), the environment."""
    return Settings.load(session.config)


def shown_database(url: str) -> str:
    """The database as a person should read it: without its password, a SQLite file by its
    absolute path."""
    from sqlalchemy import make_url

    parsed = make_url(url)
    path = _sqlite_file(url)
    if path is not None:
        parsed = parsed.set(database=str(path.absolute()))
    return parsed.render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def open_database(settings: Settings, *, create: bool = False) -> Any:
    """The database CXG_DATABASE_URL names, at the newest schema. A missing SQLite file or a
    database without the gateway's schema is refused unless ``create`` (``cxg demo`` and
    ``cxg db upgrade``): a command run in the wrong folder must not make an empty database."""
    from sqlalchemy import inspect

    from gateway.storage import Database, normalize_url

    url = settings.database_url
    shown = session.database = shown_database(url)
    if sys.stderr.isatty():
        typer.echo(f"cxg: database {shown}", err=True)
    if normalize_url(url).startswith("postgresql+psycopg") and not _has_module("psycopg"):
        raise _fail(
            f"database {shown}: PostgreSQL needs the psycopg driver, which is not installed",
            hint="pip install 'cxg[postgres]'",
        )
    where = "run cxg db upgrade to create it, or set CXG_DATABASE_URL to the gateway's database"
    path = _sqlite_file(url)
    if path is not None and not path.exists() and not create:
        raise _fail(f"database {shown}: no such file", hint=where)
    db = Database.from_url(url, timeout=settings.database_timeout_seconds)
    try:
        if not create:
            db.ping()  # an unreachable database: DatabaseUnavailable, named by the handler
            if not inspect(db.engine).has_table("alembic_version"):
                raise _fail(f"database {shown}: holds no cxg schema", hint=where)
        db.upgrade()
    except BaseException:
        db.dispose()
        raise
    return db


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def operator_actor() -> Actor:
    """Who changes state from this command line, as the audit log names it: the operating
    system user and host, and the command run."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. a bare container)
        user = f"uid{os.getuid()}"
    command = [word for word in sys.argv[1:] if not word.startswith("-")][:2]
    return Actor(f"cli:{user}@{socket.gethostname()}", " ".join(["cli", *command]))


def _with_database(action: Callable[[Settings, Any], T], *, create: bool = False) -> T:
    """Run ``action(settings, db)`` on CXG_DATABASE_URL as the operator at this command line
    (see ``open_database``; errors are reported by ``CxgGroup``)."""
    settings = load_settings()
    # A server logs an outage once for all its requests; a command reports it as its error.
    quiet = logging.getLogger("cxg.database")
    level = quiet.level
    quiet.setLevel(logging.DEBUG if session.debug else logging.CRITICAL)
    try:
        return on_database(settings, action, create=create)
    finally:
        quiet.setLevel(level)


def on_database(
    settings: Settings, action: Callable[[Settings, Any], T], *, create: bool = False
) -> T:
    """``action(settings, db)`` on the database ``settings`` name, as the operator at this
    command line."""
    db = open_database(settings, create=create)
    try:
        with acting_as(operator_actor()):
            return action(settings, db)
    finally:
        db.dispose()


# -- files people name --------------------------------------------------------------------------


def read_input(path: Path, option: str) -> bytes:
    """The bytes of a file named by ``option``; a missing or unreadable one is a usage error."""
    try:
        return path.read_bytes()
    except IsADirectoryError as exc:
        raise usage(f"{option} {path}: is a folder, not a file") from exc
    except OSError as exc:
        raise usage(f"{option} {path}: {exc.strerror or exc}") from exc


def check_output(path: Path, option: str) -> Path:
    """Refuse, before any work, an output file that cannot be written: its folder missing or
    not writable, or a folder in its place."""
    folder = path.parent
    if path.is_dir():
        raise usage(f"{option} {path}: is a folder", hint="name a file")
    if not folder.is_dir():
        raise usage(f"{option} {path}: no folder {folder}", hint="create it first")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise usage(f"{option} {path}: not writable")
    return path


def read_public_jwk(path: Path, option: str = "--jwk") -> dict[str, Any]:
    """One public JWK from a file holding it or a JWK Set with exactly one key; every way of
    getting that wrong is a usage error naming the file."""
    data = read_input(path, option)
    keygen = "cxg partners keygen ID writes a key pair and its public JWK"
    if b"-----BEGIN" in data:
        raise usage(
            f"{option} {path}: a PEM file, not a JWK",
            hint=f"give the public key as JSON (a JWK); {keygen}",
        )
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise usage(f"{option} {path}: not JSON, so not a JWK", hint=keygen) from exc
    keys = document.get("keys", [document]) if isinstance(document, dict) else None
    if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], dict):
        raise usage(f"{option} {path}: must hold exactly one public JWK (or a JWK Set of one)")
    jwk: dict[str, Any] = keys[0]
    if "kty" not in jwk:
        raise usage(f"{option} {path}: not a JWK (no kty)", hint=keygen)
    if "d" in jwk:
        raise usage(
            f"{option} {path}: a private JWK", hint="give the public key only: drop its d member"
        )
    return jwk
