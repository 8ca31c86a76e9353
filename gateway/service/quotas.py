"""Request quotas: a per-second rate with a burst, and a daily request count, per partner.

The rate limit is a token bucket in this process's memory, as checking it runs on every request
and must cost microseconds (about 1.5 µs here); it protects one replica, so behind a load balancer
over N replicas a partner may reach N times its rate.

The daily quota is shared, approximately, by every replica on one database. Each replica counts
locally and, at most once per flush interval (inline, on a request of that partner: there is no
background thread), adds its count to ``quota_usage`` and reads back the total of all replicas.
What a replica does not know yet is at most what the others accepted in about two flush intervals
(counted since their last flush, or flushed since its own), and so is how far a partner can
overshoot its daily quota. Days are UTC days.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from gateway.errors import DatabaseUnavailable, QuotaExceeded
from gateway.observe import metrics
from gateway.storage.usage import UsageStore
from gateway.trust.partners import Partner, Quota

DEFAULT_QUOTA = Quota(requests_per_second=200, burst=400, daily_requests=1_000_000)

_log = logging.getLogger("cxg.quotas")


@dataclass(slots=True)
class _Usage:
    """One partner's bucket and daily counts; read and changed only under ``Quotas._lock``."""

    tokens: float
    refilled_at: float
    day: str
    shared: int = 0  # the day's total over every replica, as of this replica's last flush
    # Counted here and not yet in ``shared``, per day (yesterday's can still be unsent at
    # midnight): waiting for the next flush, and in a flush under way.
    pending: dict[str, int] = field(default_factory=dict)
    sending: dict[str, int] = field(default_factory=dict)
    flush_at: float = -math.inf  # the first request flushes at once, to learn the shared total

    def used(self) -> int:
        return self.shared + self.pending.get(self.day, 0) + self.sending.get(self.day, 0)


class Quotas:
    def __init__(
        self,
        usage: UsageStore,
        *,
        default: Quota = DEFAULT_QUOTA,
        flush_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if (
            default.requests_per_second is None
            or default.burst is None
            or default.daily_requests is None
        ):
            raise ValueError("the default quota must set every limit")
        self._usage = usage
        self._rate, self._burst, self._daily = (
            default.requests_per_second,
            default.burst,
            default.daily_requests,
        )
        self._flush_interval = flush_interval
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._partners: dict[str, _Usage] = {}
        self._day = ""
        self._day_ends = datetime.min.replace(tzinfo=UTC)

    def charge(self, partner: Partner) -> None:
        """Count one request of ``partner``, or raise ``QuotaExceeded`` (nothing is counted then).

        The limits are read from ``partner`` on every call, so a changed quota applies at once.
        """
        quota = partner.quota
        rate = quota.requests_per_second or self._rate
        burst = quota.burst or self._burst
        daily = quota.daily_requests or self._daily
        now, wall = self._clock(), self._wall_clock()
        with self._lock:
            if wall >= self._day_ends:
                start = wall.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                self._day, self._day_ends = start.date().isoformat(), start + timedelta(days=1)
            usage = self._partners.get(partner.id)
            if usage is None:
                usage = self._partners[partner.id] = _Usage(burst, now, self._day)
            elif usage.day != self._day:
                # A new day: flush at once to learn its total; the old day's counts still go out.
                usage.day, usage.shared, usage.flush_at = self._day, 0, -math.inf

            if usage.used() >= daily:
                metrics.quota_rejections.inc()
                raise QuotaExceeded(
                    f"daily quota of {daily} requests is used up until 00:00 UTC",
                    retry_after=max(1, math.ceil((self._day_ends - wall).total_seconds())),
                )
            tokens = min(float(burst), usage.tokens + (now - usage.refilled_at) * rate)
            usage.tokens, usage.refilled_at = tokens, now
            if tokens < 1:
                metrics.quota_rejections.inc()
                raise QuotaExceeded(
                    f"rate limit of {rate:g} requests per second (burst {burst}) exceeded",
                    retry_after=max(1, math.ceil((1 - tokens) / rate)),
                )
            usage.tokens = tokens - 1
            usage.pending[usage.day] = usage.pending.get(usage.day, 0) + 1

            if now < usage.flush_at:
                return
            usage.flush_at = now + self._flush_interval
            batch = _take(usage)
        self._send(partner.id, usage, batch)

    def flush(self) -> None:
        """Send every pending count to the database (at shutdown, so none is lost)."""
        with self._lock:
            batches = [(pid, usage, _take(usage)) for pid, usage in self._partners.items()]
        for partner_id, usage, batch in batches:
            if batch:
                self._send(partner_id, usage, batch)

    def _send(self, partner_id: str, usage: _Usage, batch: dict[str, int]) -> None:
        """Add the counts taken from ``usage`` to the database and learn today's total; what
        fails to be sent goes back to pending for the next flush."""
        totals: dict[str, int] = {}
        try:
            for day, delta in batch.items():
                totals[day] = self._usage.add(partner_id, day, delta)
        except DatabaseUnavailable:
            pass  # logged once by the database's health; sent with the next flush
        except SQLAlchemyError:
            # The daily quota is then enforced on what this replica knows until a flush succeeds.
            _log.exception("could not record the quota usage of %s", partner_id)
        finally:
            with self._lock:
                for day, delta in batch.items():
                    _subtract(usage.sending, day, delta)
                    if day not in totals:
                        usage.pending[day] = usage.pending.get(day, 0) + delta
                # Totals only grow in a day; a slower flush must not replace a newer total.
                if usage.day in totals:
                    usage.shared = max(usage.shared, totals[usage.day])


def _take(usage: _Usage) -> dict[str, int]:
    """Move the pending counts to ``sending``; called under the lock."""
    batch, usage.pending = usage.pending, {}
    for day, delta in batch.items():
        usage.sending[day] = usage.sending.get(day, 0) + delta
    return batch


def _subtract(counts: dict[str, int], day: str, delta: int) -> None:
    left = counts[day] - delta
    if left:
        counts[day] = left
    else:
        del counts[day]
