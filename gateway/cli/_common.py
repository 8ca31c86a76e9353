"""What every command group shares: settings from the environment, the database, and
GatewayErrors turned into a message and exit status 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer

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


def _with_database(action: Callable[[Settings, Any], T]) -> T:
    """Run ``action(settings, db)`` on CXG_DATABASE_URL (see ``_run`` for errors)."""
    from gateway.storage import Database

    settings = Settings.from_env()
    db = Database.from_url(settings.database_url)
    try:
        db.upgrade()
        return _run(lambda: action(settings, db))
    finally:
        db.dispose()
