"""The replay store under concurrency: identifiers committed in groups, each caller answered only
after its group is durable, exactly one winner per identifier across replicas."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gateway.storage import Database
from gateway.storage.replay import ReplayStore
from gateway.storage.tables import seen_jtis


@pytest.fixture
def replicas(db: Database) -> tuple[ReplayStore, ReplayStore]:
    return ReplayStore(db), ReplayStore(db)  # two replicas on one database


def stored(db: Database) -> int:
    return int(db.read(select(func.count()).select_from(seen_jtis))[0][0])


def test_one_winner_per_identifier_under_concurrent_replicas(
    db: Database, replicas: tuple[ReplayStore, ReplayStore]
) -> None:
    keys = [f"jkt:{n % 50}" for n in range(400)]  # each identifier presented 8 times
    start = threading.Barrier(16)

    def present(index: int) -> bool:
        if index < 16:
            start.wait()
        return replicas[index % 2].remember(keys[index], time.time() + 60)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(present, range(len(keys))))
    winners = [key for key, new in zip(keys, answers, strict=True) if new]
    assert sorted(winners) == sorted(set(keys))  # each identifier accepted exactly once
    assert stored(db) == 50


def test_a_group_with_the_same_identifier_twice_accepts_it_once(
    db: Database, replicas: tuple[ReplayStore, ReplayStore]
) -> None:
    store = replicas[0]
    group = [("same", time.time() + 60), ("same", time.time() + 60), ("other", time.time() + 60)]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda item: store.remember(*item), group))
    assert sorted(answers) == [False, True, True]
    assert stored(db) == 2


def test_a_large_group_is_answered_key_by_key_across_its_chunks(
    db: Database, replicas: tuple[ReplayStore, ReplayStore]
) -> None:
    """A group of 103 (chunks of 64, 32, 4, 2 and 1 keys), with keys already stored, expired,
    and twice in the group: each caller's answer is its own key's."""
    first, other = replicas
    now = datetime.now(UTC)
    assert other.remember("k7", now.timestamp() + 60) is True  # stored, still blocks
    assert other.remember("k8", now.timestamp() - 1) is True  # expired: no longer blocks
    group = [(f"k{n}", now + timedelta(seconds=60)) for n in range(100)]
    group += [("k3", now + timedelta(seconds=60)), ("k99", now), ("k100", now)]
    answers = first._commit(group)
    expected = [n not in (7,) for n in range(100)] + [False, False, True]
    assert answers == expected
    assert stored(db) == 101


def test_expired_identifiers_no_longer_block_and_restart_keeps_the_rest(
    db: Database, replicas: tuple[ReplayStore, ReplayStore]
) -> None:
    first, _ = replicas
    assert first.remember("old", time.time() - 1) is True
    assert first.remember("kept", time.time() + 60) is True
    restarted = ReplayStore(db)  # a restart: a new store, the same database
    assert restarted.remember("old", time.time() + 60) is True
    assert restarted.remember("kept", time.time() + 60) is False


def test_an_acknowledged_identifier_is_already_stored(
    db: Database, replicas: tuple[ReplayStore, ReplayStore]
) -> None:
    assert replicas[0].remember("durable", time.time() + 60) is True
    assert db.read(select(seen_jtis.c.key).where(seen_jtis.c.key == "durable"))


def test_overlong_identifiers_are_refused_before_queueing(
    replicas: tuple[ReplayStore, ReplayStore],
) -> None:
    with pytest.raises(ValueError, match="longer than"):
        replicas[0].remember("x" * 401, time.time() + 60)
