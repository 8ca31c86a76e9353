"""What every command group shares: settings from the environment, the database, and
GatewayErrors turned into a message and exit status 1."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from gateway.audit.entries import Actor, acting_as
from gateway.config import Settings
from gateway.errors import GatewayError

T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def _run(action: Callable[[], T]) -> T:
    """Run an operator action; a GatewayError becomes its message on stderr and exit status 1."""
    try:
        return action()
    except GatewayError as exc:
        raise _fail(str(exc)) from exc


def operator_actor() -> Actor:
    """Who changes state from this command line, as the audit log names it: the operating
    system user and host, and the command run."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (e.g. a bare container)
        user = f"uid{os.getuid()}"
    command = [word for word in sys.argv[1:] if not word.startswith("-")][:2]
    return Actor(f"cli:{user}@{socket.gethostname()}", " ".join(["cli", *command]))


def _with_database(action: Callable[[Settings, Any], T]) -> T:
    """Run ``action(settings, db)`` on CXG_DATABASE_URL as the operator at this command line
    (see ``_run`` for errors)."""
    from gateway.storage import Database

    settings = Settings.from_env()
    db = Database.from_url(settings.database_url)
    try:
        db.upgrade()
        with acting_as(operator_actor()):
            return _run(lambda: action(settings, db))
    finally:
        db.dispose()
