"""In-process micro-benchmarks: one core, calls per second."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def pin_to_one_core() -> None:
    """Measure on one core, where the OS allows it: figures then compare across machines."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def rate(call: Callable[[], object], seconds: float, batch: int = 100) -> float:
    """Calls per second of ``call`` over about ``seconds``, after a warm-up of one batch."""
    for _ in range(batch):
        call()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            call()
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)
