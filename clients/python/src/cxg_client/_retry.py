"""Retries: exponential backoff with full jitter, a bounded number of attempts, and the server's
``Retry-After`` / ``RetryInfo`` honoured when it names a longer wait."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` calls at most (1: never retry); the n-th retry waits a uniformly random time
    up to ``min(cap, base * 2**n)`` (full jitter), or what the server asked if longer, but never
    more than ``max_wait``."""

    attempts: int = 4
    base: float = 0.2
    cap: float = 5.0
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    @classmethod
    def none(cls) -> RetryPolicy:
        return cls(attempts=1)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        jittered = random.uniform(0, min(self.cap, self.base * 2**retry))
        return min(self.max_wait, max(jittered, retry_after or 0.0))
