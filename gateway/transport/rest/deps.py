"""FastAPI dependencies, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.service.tokens import Caller
from gateway.transport.rest._guard import caller_of
from gateway.transport.services import Services


# Async on purpose: FastAPI runs a plain-def dependency in a worker thread on every request.
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _caller(request: Request) -> Caller:
    return caller_of(request)


ServicesDep = Annotated[Services, Depends(_services)]
CallerDep = Annotated[Caller, Depends(_caller)]
