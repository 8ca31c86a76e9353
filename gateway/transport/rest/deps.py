"""FastAPI dependencies, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.service import ProfileExchange
from gateway.storage import Database


def _exchange(request: Request) -> ProfileExchange:
    exchange: ProfileExchange = request.app.state.exchange
    return exchange


def _database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


Exchange = Annotated[ProfileExchange, Depends(_exchange)]
Db = Annotated[Database, Depends(_database)]
