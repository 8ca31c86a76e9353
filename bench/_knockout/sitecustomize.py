"""Bench only: switch parts of a gateway's call off, to measure what each costs
(``bench_real.py --parts costs``). Python imports this file at start-up in a gateway that
bench_real.py starts with this folder on PYTHONPATH and ``BENCH_KNOCKOUT`` naming the parts; it
is never on the product's path. The answers stay the same bytes (bench_real.py checks them).

    audit-commit  every leaf is made and handed to the group commit, which writes nothing
    audit         no leaf at all: a call does not wait for the log
    offload       database work runs on the event loop instead of a worker thread
    request-line  no request log line and no request metrics
"""

from __future__ import annotations

import itertools
import os
from typing import Any

PARTS = ("audit-commit", "audit", "offload", "request-line")


def _switch_off(parts: set[str]) -> None:
    if unknown := parts - set(PARTS):
        raise SystemExit(f"BENCH_KNOCKOUT: unknown parts {sorted(unknown)}")
    from gateway.observe.requests import Served
    from gateway.service.audit import AuditLog
    from gateway.service.offload import Offload

    indices = itertools.count()
    if "audit-commit" in parts:

        def commit(self: AuditLog, items: list[Any]) -> list[int]:
            return [next(indices) for _ in items]

        AuditLog._commit = commit  # type: ignore[method-assign]
    if "audit" in parts:

        async def record_async(self: AuditLog, exchange: Any) -> int:
            return next(indices)

        AuditLog.record_async = record_async  # type: ignore[method-assign]
    if "offload" in parts:

        async def run(self: Offload, call: Any, /, *args: Any, **kwargs: Any) -> Any:
            return call(*args, **kwargs)

        Offload.run = run  # type: ignore[method-assign]
    if "request-line" in parts:
        Served.finish = lambda self, **fields: None  # type: ignore[method-assign]


if os.environ.get("BENCH_KNOCKOUT"):
    _switch_off({part for part in os.environ["BENCH_KNOCKOUT"].split(",") if part})
