"""Bounds on what callers without an established identity (no valid access token) can cost.

A refusal of such a caller is a row of the refusal log and, when its operation is audited, a leaf
of the audit log: durable writes that an unauthenticated flood could otherwise grow without
bound, in a log that is never pruned. Three limits apply:

- **per source**: each source address has a token bucket (``rps`` a second, up to ``burst``).
  Every refusal of an anonymous caller takes a token, and so does every call of a public audited
  operation (the token endpoint, whose caller is never established beforehand and which checks a
  signature), on arrival. A token request from a source with an empty bucket is answered 429 /
  RESOURCE_EXHAUSTED at once, before its signature is checked. Any other request keeps its true
  answer (401 without a valid token: refusing it costs no signature, and a client is told what
  is wrong, not to come back later); past the limit its refusal is only counted. So a partner
  sharing an address with a flood keeps working.
- **over every source**: at most ``leaves_per_second`` anonymous refusals a second are logged one
  by one (a bucket holding one second's worth), against an attacker with many addresses.
- **the rest is counted**: a refusal over either limit gets no leaf and no row of its own. It is
  counted by (source, operation, reason), and every ``period`` seconds, and at shutdown, the
  counts become one summary leaf of the audit log (``AuditLog.record_summary``) and one summary
  row of the refusal log naming that leaf, so operators listing refusals see the flood too.

A source is the connection's peer address, never a header (any client can write those): an IPv4
address as is, an IPv6 address as its /64 (the least a host is given, so one host cannot take a
fresh bucket per address). Successful public reads that are not audited (keys, health, the scan
page, checkpoints and proofs) are never limited here: they write nothing.

Memory is bounded: at most ``MAX_SOURCES`` buckets (the least recently used is dropped first; it
was idle longest, so its bucket was most likely full anyway) and at most ``MAX_COUNTS`` distinct
counts per period, beyond which counts are folded into one ``other`` count.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from gateway.audit.entries import timestamp
from gateway.config import Settings
from gateway.errors import DatabaseUnavailable, GatewayError, QuotaExceeded
from gateway.service.audit import AuditLog
from gateway.service.refusals import RefusalLog
from gateway.trust.policy import OPERATIONS, rule_for

MAX_SOURCES = 10_000
MAX_COUNTS = 1_000
OTHER = "other"  # the source, operation and reason of the count the overflow is folded into
UNKNOWN_SOURCE = "unknown"  # a connection without an IP peer address (a Unix socket)
# The summary row of the refusal log: it stands for refusals of any operation, on any transport.
SUMMARY_OPERATION = "*"
SUMMARY_TRANSPORT = "*"
SUMMARY_REASON = "summary"

_log = logging.getLogger("cxg.flood")

_Key = tuple[str, str, str]  # source, operation, reason


@dataclass(slots=True)
class _Bucket:
    tokens: float
    refilled_at: float


class FloodGuard:
    def __init__(
        self,
        audit: AuditLog,
        refusals: RefusalLog,
        *,
        rps: float,
        burst: int,
        leaves_per_second: float,
        period: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Fail closed: there is no setting that switches the limits off.
        if not (rps > 0 and burst >= 1 and leaves_per_second > 0 and period > 0):
            raise ValueError("anonymous limits must be positive (rps, burst >= 1, leaves, period)")
        self._audit = audit
        self._refusals = refusals
        self._rps, self._burst = rps, float(burst)
        self._leaves_per_second = leaves_per_second
        self._period = period
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()  # held for microseconds, never while writing
        self._sources: OrderedDict[str, _Bucket] = OrderedDict()  # least recently used first
        self._budget = _Bucket(leaves_per_second, clock())
        self._counts: dict[_Key, int] = {}
        self._since: datetime | None = None  # when the first refusal counted was refused
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings, audit: AuditLog, refusals: RefusalLog) -> FloodGuard:
        return cls(
            audit,
            refusals,
            rps=settings.anonymous_rps,
            burst=settings.anonymous_burst,
            leaves_per_second=settings.anonymous_leaves_per_second,
            period=settings.refusal_summary_seconds,
        )

    # -- on the request path -----------------------------------------------------------------

    def screen(self, operation: str, source: str) -> None:
        """Raise ``QuotaExceeded`` for a token request from a source over its limit, and take
        its token otherwise. Runs before authentication; every other operation passes."""
        rule = rule_for(operation)
        if not (rule.public and rule.audited):  # the token endpoint
            return
        with self._lock:
            bucket = self._bucket(source)
            if bucket.tokens < 1:
                raise QuotaExceeded(
                    f"too many token requests from {source}: at most {self._rps:g} a second "
                    f"(burst {self._burst:g}) while its requests keep failing",
                    retry_after=max(1, math.ceil((1 - bucket.tokens) / self._rps)),
                )
            bucket.tokens -= 1

    def refused(self, operation: str, source: str, reason: str, error: GatewayError) -> bool:
        """Whether a refusal of a caller without a valid token is logged on its own (a refusal
        row, and an audit leaf when its operation is audited); if not, it is counted for the
        next summary."""
        with self._lock:
            # An anonymous caller is refused a quota only by ``screen``: already over the limit.
            if not isinstance(error, QuotaExceeded):
                bucket = self._bucket(source)
                rule = OPERATIONS.get(operation)
                if rule is not None and rule.public and rule.audited:
                    within = True  # its token was taken on arrival, by ``screen``
                else:
                    within = bucket.tokens >= 1
                    if within:
                        bucket.tokens -= 1
                if within and self._take_budget():
                    return True
            self._count((source, operation, reason))
            return False

    def _bucket(self, source: str) -> _Bucket:
        """The source's bucket, refilled to now; under the lock."""
        now = self._clock()
        bucket = self._sources.get(source)
        if bucket is None:
            if len(self._sources) >= MAX_SOURCES:
                self._sources.popitem(last=False)
            bucket = self._sources[source] = _Bucket(self._burst, now)
        else:
            self._sources.move_to_end(source)
            elapsed = now - bucket.refilled_at
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rps)
            bucket.refilled_at = now
        return bucket

    def _take_budget(self) -> bool:
        """One refusal logged on its own, over every source; under the lock."""
        now = self._clock()
        budget = self._budget
        budget.tokens = min(
            self._leaves_per_second,
            budget.tokens + (now - budget.refilled_at) * self._leaves_per_second,
        )
        budget.refilled_at = now
        if budget.tokens < 1:
            return False
        budget.tokens -= 1
        return True

    def _count(self, key: _Key, count: int = 1) -> None:
        """Under the lock."""
        if key not in self._counts and len(self._counts) >= MAX_COUNTS:
            key = (OTHER, OTHER, OTHER)
        self._counts[key] = self._counts.get(key, 0) + count
        if self._since is None:
            self._since = self._wall_clock()

    # -- summaries ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Write what was counted since the last summary: one audit leaf, then one refusal row
        naming it. If the leaf cannot be written, the counts are kept for the next period."""
        with self._lock:
            counts, since = self._counts, self._since
            self._counts, self._since = {}, None
        if not counts or since is None:
            return
        until = self._wall_clock()
        listed: list[dict[str, object]] = [
            {"source": source, "operation": operation, "reason": reason, "count": count}
            for (source, operation, reason), count in sorted(
                counts.items(), key=lambda item: (-item[1], item[0])
            )
        ]
        try:
            leaf = self._audit.record_summary(listed, since, until)
        except Exception as exc:
            # The writer must outlive a database outage (logged once by the database's
            # health), and shutdown must go on.
            if not isinstance(exc, DatabaseUnavailable):
                _log.exception("could not write the summary of %d refusals", sum(counts.values()))
            with self._lock:
                for key, count in counts.items():
                    self._count(key, count)
                self._since = min(since, self._since or since)
            return
        self._refusals.record(
            partner_id=None,
            operation=SUMMARY_OPERATION,
            transport=SUMMARY_TRANSPORT,
            reason=SUMMARY_REASON,
            detail=f"{sum(counts.values())} refusals of callers without a valid token from "
            f"{timestamp(since)} to {timestamp(until)} were over the flood limits and not "
            f"logged one by one; audit leaf {leaf} counts them by source, operation and reason",
            field=None,
        )

    def start(self) -> None:
        """Write a summary every period while there are counts."""
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(self._period):
                self.flush()

        self._writer = threading.Thread(target=run, name="cxg-refusal-summary", daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Stop the schedule and write the last summary, so a clean stop loses no count. Call it
        once both transports have stopped, before the audit and refusal logs close."""
        self._stop.set()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self.flush()


@lru_cache(maxsize=4096)
def source_address(host: str | None) -> str:
    """The source a peer address is limited under: IPv4 as is, IPv6 as its /64, an IPv4-mapped
    IPv6 address as the IPv4 one; ``unknown`` without an IP address."""
    if not host:
        return UNKNOWN_SOURCE
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return UNKNOWN_SOURCE
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
