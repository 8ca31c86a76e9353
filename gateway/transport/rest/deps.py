"""FastAPI dependencies, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.service import ProfileExchange
from gateway.storage import Database


# Async on purpose: FastAPI runs a plain-def dependency in a worker thread on every request.
async def _exchange(request: Request) -> ProfileExchange:
    exchange: ProfileExchange = request.app.state.exchange
    return exchange


async def _database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


Exchange = Annotated[ProfileExchange, Depends(_exchange)]
Db = Annotated[Database, Depends(_database)]
