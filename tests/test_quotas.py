"""Quotas on fake clocks: the token bucket (burst, refill, retry_after), the daily quota shared by
replicas through the database, the UTC day, partner limits over the default, and exact counting
when many threads charge at once."""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gateway.errors import QuotaExceeded
from gateway.service.quotas import Quotas
from gateway.storage import Database
from gateway.storage.tables import quota_usage
from gateway.storage.usage import UsageStore
from gateway.trust.partners import Partner, Quota

NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TODAY = "2026-03-01"
ROOMY = Quota(requests_per_second=1000, burst=1000, daily_requests=1_000_000)


class FakeClock:
    """Both clocks Quotas reads, moved only by the test."""

    def __init__(self, wall: datetime = NOON) -> None:
        self.wall = wall
        self.seconds = 5000.0

    def monotonic(self) -> float:
        return self.seconds

    def utc(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
        self.wall += timedelta(seconds=seconds)


def partner(quota: Quota | None = None, partner_id: str = "kz-bank") -> Partner:
    return Partner(
        id=partner_id, name="Test", country="KZ", roles=frozenset({"bank"}), quota=quota or Quota()
    )


def replica(
    db: Database, clock: FakeClock, default: Quota = ROOMY, usage: UsageStore | None = None
) -> Quotas:
    return Quotas(
        usage or UsageStore(db),
        default=default,
        flush_interval=1.0,
        clock=clock.monotonic,
        wall_clock=clock.utc,
    )


def accepted(quotas: Quotas, caller: Partner, attempts: int) -> int:
    count = 0
    for _ in range(attempts):
        try:
            quotas.charge(caller)
        except QuotaExceeded:
            continue
        count += 1
    return count


def stored(db: Database, day: str = TODAY, partner_id: str = "kz-bank") -> int:
    rows = db.read(
        select(quota_usage.c.requests).where(
            quota_usage.c.partner_id == partner_id, quota_usage.c.day == day
        )
    )
    return int(rows[0].requests) if rows else 0


# -- rate -----------------------------------------------------------------------------------


def test_burst_then_refusal_until_a_token_is_back(db: Database) -> None:
    clock = FakeClock()
    quotas = replica(db, clock)
    slow = partner(dataclasses.replace(ROOMY, requests_per_second=0.25, burst=2))
    quotas.charge(slow)
    quotas.charge(slow)
    with pytest.raises(QuotaExceeded, match=r"rate limit of 0\.25 requests per second") as refused:
        quotas.charge(slow)
    assert refused.value.retry_after == 4  # one token every 4 s

    clock.advance(3)  # three quarters of a token
    with pytest.raises(QuotaExceeded) as refused:
        quotas.charge(slow)
    assert refused.value.retry_after == 1  # 1 s left, and never 0

    clock.advance(1)
    quotas.charge(slow)


def test_retry_after_rounds_up_to_whole_seconds(db: Database) -> None:
    clock = FakeClock()
    quotas = replica(db, clock)
    fast = partner(dataclasses.replace(ROOMY, requests_per_second=200, burst=1))
    quotas.charge(fast)
    with pytest.raises(QuotaExceeded) as refused:
        quotas.charge(fast)
    assert refused.value.retry_after == 1  # 5 ms away


def test_bucket_refills_at_the_rate_up_to_the_burst(db: Database) -> None:
    clock = FakeClock()
    quotas = replica(db, clock)
    caller = partner(dataclasses.replace(ROOMY, requests_per_second=10, burst=5))
    assert accepted(quotas, caller, 10) == 5
    clock.advance(0.3)
    assert accepted(quotas, caller, 10) == 3
    clock.advance(3600)
    assert accepted(quotas, caller, 10) == 5  # an idle hour saves up no more than the burst


def test_partner_limits_override_the_default_and_apply_when_changed(db: Database) -> None:
    clock = FakeClock()
    quotas = replica(db, clock, default=Quota(requests_per_second=1, burst=2, daily_requests=100))
    assert accepted(quotas, partner(Quota(), "ru-bureau"), 10) == 2
    roomier = partner(Quota(burst=6))
    assert accepted(quotas, roomier, 10) == 6

    # A quota set at runtime takes effect on the next request: 6 of 7 are already used today.
    clock.advance(10)
    tighter = dataclasses.replace(roomier, quota=Quota(burst=6, daily_requests=7))
    assert accepted(quotas, tighter, 10) == 1


def test_default_quota_must_set_every_limit(db: Database) -> None:
    with pytest.raises(ValueError, match="every limit"):
        Quotas(UsageStore(db), default=Quota(requests_per_second=1, burst=1))


# -- daily ----------------------------------------------------------------------------------


def test_refused_requests_do_not_count_against_the_day(db: Database) -> None:
    clock = FakeClock()
    quotas = replica(db, clock)
    assert accepted(quotas, partner(dataclasses.replace(ROOMY, burst=3)), 10) == 3
    quotas.flush()
    assert stored(db) == 3


def test_daily_quota_refuses_until_utc_midnight(db: Database) -> None:
    clock = FakeClock(datetime(2026, 3, 1, 23, 59, 50, tzinfo=UTC))
    quotas = replica(db, clock)
    caller = partner(dataclasses.replace(ROOMY, daily_requests=3))
    assert accepted(quotas, caller, 3) == 3
    with pytest.raises(QuotaExceeded, match="daily quota of 3 requests") as refused:
        quotas.charge(caller)
    assert refused.value.retry_after == 10

    clock.advance(9.5)
    with pytest.raises(QuotaExceeded) as refused:
        quotas.charge(caller)
    assert refused.value.retry_after == 1

    clock.advance(0.5)  # 00:00:00 UTC: a new day
    assert accepted(quotas, caller, 5) == 3
    quotas.flush()
    assert (stored(db, "2026-03-01"), stored(db, "2026-03-02")) == (3, 3)


def test_daily_quota_is_shared_by_replicas_within_a_flush_interval(db: Database) -> None:
    clock = FakeClock()
    first, second = replica(db, clock), replica(db, clock)
    caller = partner(dataclasses.replace(ROOMY, daily_requests=10))

    # The first request of a partner flushes at once; the next ones wait for the interval.
    assert accepted(first, caller, 6) == 6
    assert stored(db) == 1
    clock.advance(1.0)
    first.charge(caller)  # flushes the 7 counted so far
    assert stored(db) == 7

    # The second replica learns the 7 on its first request for the partner, and stops at 10.
    assert accepted(second, caller, 5) == 3
    with pytest.raises(QuotaExceeded, match="daily quota"):
        second.charge(caller)

    # The first has not heard of those 3 yet: it may overshoot until its next flush, no longer.
    first.charge(caller)
    clock.advance(1.0)
    second.flush()
    first.charge(caller)  # within the quota as far as the first knew: accepted, then flushed
    assert stored(db) == 12
    with pytest.raises(QuotaExceeded, match="daily quota"):
        first.charge(caller)


def test_flush_sends_every_pending_count(db: Database) -> None:
    clock = FakeClock()
    quotas = replica(db, clock)
    accepted(quotas, partner(partner_id="kz-bank"), 5)
    accepted(quotas, partner(partner_id="ru-bureau"), 2)
    assert (stored(db), stored(db, partner_id="ru-bureau")) == (1, 1)
    quotas.flush()
    assert (stored(db), stored(db, partner_id="ru-bureau")) == (5, 2)
    quotas.flush()  # nothing pending: nothing added twice
    assert stored(db) == 5


class FlakyUsage(UsageStore):
    """Fails the first ``failures`` additions, as a database that is briefly unreachable."""

    def __init__(self, db: Database, failures: int) -> None:
        super().__init__(db)
        self.failures = failures

    def add(self, partner_id: str, day: str, delta: int) -> int:
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT", {}, ConnectionError("connection refused"))
        return super().add(partner_id, day, delta)


def test_counts_survive_a_failed_flush(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    quotas = replica(db, clock, usage=FlakyUsage(db, failures=1))
    caller = partner(dataclasses.replace(ROOMY, daily_requests=4))
    with caplog.at_level(logging.ERROR, logger="cxg.quotas"):
        assert accepted(quotas, caller, 3) == 3  # the request that flushed is still served
    assert "could not record the quota usage of kz-bank" in caplog.text
    assert stored(db) == 0
    assert accepted(quotas, caller, 3) == 1  # still counted here
    quotas.flush()
    assert stored(db) == 4


def test_usage_purge_deletes_earlier_days(db: Database) -> None:
    usage = UsageStore(db)
    assert usage.add("kz-bank", "2026-02-28", 5) == 5
    assert usage.add("kz-bank", "2026-02-28", 2) == 7
    usage.add("kz-bank", TODAY, 1)
    assert usage.purge(TODAY) == 1
    assert (stored(db, "2026-02-28"), stored(db)) == (0, 1)


# -- threads --------------------------------------------------------------------------------


def charge_concurrently(quotas: Quotas, caller: Partner, threads: int, each: int) -> int:
    counts = [0] * threads
    start = threading.Barrier(threads)

    def work(index: int) -> None:
        start.wait()
        counts[index] = accepted(quotas, caller, each)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts)


def test_concurrent_charges_allow_exactly_the_burst(db: Database) -> None:
    quotas = replica(db, FakeClock())  # the clock stands still: no token comes back
    caller = partner(dataclasses.replace(ROOMY, burst=150))
    assert charge_concurrently(quotas, caller, threads=8, each=50) == 150


def test_concurrent_charges_allow_exactly_the_daily_quota(db: Database) -> None:
    quotas = replica(db, FakeClock())
    caller = partner(dataclasses.replace(ROOMY, daily_requests=150))
    assert charge_concurrently(quotas, caller, threads=8, each=50) == 150
    quotas.flush()
    assert stored(db) == 150
