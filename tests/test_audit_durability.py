"""The audit log under crashes and replicas, with real `cxg serve` processes.

An acknowledged call (a 200 naming its leaf in ``cxg-audit-leaf``) is durable: after SIGKILL and
restart its leaf is in the log, recording that very call; checkpoints signed before the crash
still hold; and the checkpoints signed after it extend them (RFC 9162 consistency proofs, checked
here with our verifier). Two gateway processes on one PostgreSQL database append to one log.

Each test is bounded in calls and time (under a minute on two cores); the kill delays come from
a seeded random generator, and what is asserted holds whatever the interleaving.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.audit import merkle
from gateway.schema.cxg.v1 import audit_service_pb2 as apb
from gateway.service.audit import NOTE_KEY_FILE, load_note_key
from gateway.storage.audit import StoredCheckpoint
from tests.audit_load import (
    Ack,
    Auditor,
    Load,
    Offline,
    ServedGateway,
    SignedCheckpoint,
    ack_of,
    gateway_env,
    gateways,
    seed,
    verified_checkpoint,
)
from tests.clients import RestClient
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.support import TestPartner, profile

CRASHES = 3
LOAD_THREADS = 8
CHECKPOINT_SECONDS = 0.5
SEED = 9162
INCLUSION_SAMPLE = 40


def _publish(gateway: ServedGateway, partners: dict[str, TestPartner]) -> Ack:
    """The demo company, published by a customs authority, so GetProfile finds it."""
    client = RestClient(gateway, partners, caller="cn-customs")  # type: ignore[arg-type]
    try:
        response = client.request(
            "POST",
            "/v1/profiles:publish",
            json={"jws": partners["cn-customs"].sign(profile())},
        )
    finally:
        client.close()
    return ack_of(response, "cn-customs", "PublishProfile", gateway.name)


def _signed(stored: list[StoredCheckpoint], auditor: Auditor) -> list[SignedCheckpoint]:
    return [verified_checkpoint(c.note, auditor.verifier, auditor.origin) for c in stored]


def _check_chain(auditor: Auditor, checkpoints: list[SignedCheckpoint]) -> None:
    """Each checkpoint extends the one before it, as the gateway proves."""
    ordered = sorted(checkpoints, key=lambda c: c.size)
    for older, newer in itertools.pairwise(ordered):
        auditor.check_consistent(older, newer)


def test_acknowledged_leaves_and_checkpoints_survive_sigkill(
    database_url: str, partners: dict[str, TestPartner], tmp_path: Path
) -> None:
    rng = random.Random(SEED)  # the kill delays
    sampler = random.Random(SEED + 1)  # the leaves whose inclusion proofs are checked
    env = gateway_env(database_url, tmp_path / "keys", checkpoint_seconds=CHECKPOINT_SECONDS)
    settings = seed(env, partners)
    acks: list[Ack] = []
    signed_roots: dict[int, bytes] = {}  # every checkpoint ever seen stored: size -> root
    with gateways(tmp_path) as running:
        gateway = running.start("gateway-0", env)
        acks.append(_publish(gateway, partners))
        for crash in range(CRASHES):
            auditor = Auditor(gateway, partners)
            try:  # a signed checkpoint before the load, so one precedes every crash
                auditor.wait_for_checkpoint(max(a.leaf for a in acks) + 1)
            finally:
                auditor.close()

            load = Load([gateway], partners, threads=LOAD_THREADS, per_thread=3000, seconds=15)
            load.wait_running()
            time.sleep(rng.uniform(0.5, 2.0))
            gateway.crash()
            result = load.join()
            assert not result.unexpected, result.unexpected[:5]
            assert len(result.acks) >= LOAD_THREADS, result.statuses
            acks += result.acks

            # Down: the database alone holds every acknowledged leaf and every signed root.
            offline = Offline(settings)
            try:
                size, stored = offline.check(acks)
            finally:
                offline.close()
            now = {c.size: c.root for c in stored}
            assert {s: now.get(s) for s in signed_roots} == signed_roots
            signed_roots |= now
            last_before = stored[-1]

            gateway = running.start(f"gateway-{crash + 1}", env)
            auditor = Auditor(gateway, partners)
            try:
                included = auditor.entries(acks, size)  # each partner reads its own leaves
                more = Load([gateway], partners, threads=4, per_thread=3, seconds=10).join()
                assert not more.unexpected and len(more.acks) == 12, more.statuses
                acks += more.acks
                newest = auditor.wait_for_checkpoint(max(a.leaf for a in acks) + 1)

                beside = Offline(settings)
                try:
                    checkpoints = _signed(beside.store.checkpoints(), auditor)
                finally:
                    beside.close()
                assert {c.size: c.root for c in checkpoints if c.size in signed_roots} == (
                    signed_roots
                )
                before = next(c for c in checkpoints if c.size == last_before.size)
                first_after = next(c for c in checkpoints if c.size > last_before.size)
                auditor.check_consistent(before, first_after)  # the next one signed after
                _check_chain(auditor, checkpoints)
                for leaf in sampler.sample(sorted(included), min(INCLUSION_SAMPLE, len(included))):
                    auditor.check_included(leaf, included[leaf], newest)
            finally:
                auditor.close()

        gateway.stop()
        # Stopped cleanly; a checkpoint signed in-process on the same database extends the
        # scheduled ones.
        offline = Offline(settings)
        try:
            _, stored = offline.check(acks)
            latest = stored[-1]
            final = offline.log.sign_checkpoint()
            assert final.size >= latest.size
            if final.size > latest.size:
                proof = offline.log.consistency(
                    apb.GetConsistencyProofRequest(first=latest.size, second=final.size)
                )
                merkle.verify_consistency(
                    latest.size, final.size, latest.root, final.root, proof.hashes
                )
        finally:
            offline.close()


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="CXG_TEST_POSTGRES_URL is not set")
def test_two_gateway_processes_append_to_one_log(
    partners: dict[str, TestPartner], tmp_path: Path
) -> None:
    assert POSTGRES_URL is not None
    reset_postgres(POSTGRES_URL)
    env = gateway_env(POSTGRES_URL, tmp_path / "keys", checkpoint_seconds=0.3)
    settings = seed(env, partners)
    with gateways(tmp_path) as running:
        first = running.start("gateway-a", env)
        second = running.start("gateway-b", env)
        auditors = [Auditor(first, partners), Auditor(second, partners)]
        try:
            published = _publish(first, partners)

            # While both take load, a monitor keeps every checkpoint either one serves.
            seen: dict[int, SignedCheckpoint] = {}
            forks: list[str] = []
            done = threading.Event()

            def watch(auditor: Auditor) -> None:
                while not done.wait(0.1):
                    checkpoint = auditor.latest()
                    if seen.setdefault(checkpoint.size, checkpoint).root != checkpoint.root:
                        forks.append(f"two roots at size {checkpoint.size}")

            watchers = [threading.Thread(target=watch, args=(a,), daemon=True) for a in auditors]
            for watcher in watchers:
                watcher.start()
            result = Load(
                [first, second], partners, threads=LOAD_THREADS, per_thread=60, seconds=25
            ).join()
            done.set()
            for watcher in watchers:
                watcher.join(10)
            assert not forks, forks
            assert not result.unexpected, result.unexpected[:5]
            assert sum(result.statuses.values()) == LOAD_THREADS * 60, result.statuses

            acks = [published, *result.acks]
            leaves = {
                served.name: {a.leaf for a in acks if a.gateway == served.name}
                for served in (first, second)
            }
            assert leaves[first.name] and leaves[second.name]
            assert not leaves[first.name] & leaves[second.name], "one leaf acknowledged twice"
            assert len({a.leaf for a in acks}) == len(acks)

            final = auditors[0].wait_for_checkpoint(max(a.leaf for a in acks) + 1)
            assert auditors[1].wait_for_checkpoint(final.size).size >= final.size
            # Entries as their partners see them, each read from the other process.
            included = {
                **auditors[1].entries([a for a in acks if a.gateway == first.name], final.size),
                **auditors[0].entries([a for a in acks if a.gateway == second.name], final.size),
            }
            # One tree: every leaf's inclusion proof, from either process, verifies against
            # one signed root.
            for turn, leaf in enumerate(sorted(included)):
                auditors[turn % 2].check_included(leaf, included[leaf], final)

            offline = Offline(settings)
            try:
                _, stored = offline.check(acks)
            finally:
                offline.close()
            for checkpoint in _signed(stored, auditors[0]):
                assert seen.setdefault(checkpoint.size, checkpoint).root == checkpoint.root
            seen.setdefault(final.size, final)
            seen.pop(0, None)  # the empty tree's checkpoint: nothing is consistent with it
            ordered = sorted(seen.values(), key=lambda c: c.size)
            assert len(ordered) >= 3, "the schedulers signed too few checkpoints to compare"
            for turn, (older, newer) in enumerate(itertools.pairwise(ordered)):
                auditors[turn % 2].check_consistent(older, newer)
                auditors[(turn + 1) % 2].check_consistent(older, ordered[-1])
        finally:
            for auditor in auditors:
                auditor.close()


def test_gateways_started_together_share_one_checkpoint_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two gateways on one fresh key folder, the second starting while the first writes the
    checkpoint key: both sign with the one key. The first's write is slowed down to hold open
    the window (some 10% of four processes started together fail without it)."""
    path = tmp_path / "keys" / "gateway" / NOTE_KEY_FILE
    opened = threading.Event()
    real_fdopen = os.fdopen

    def slow_fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        opened.set()
        time.sleep(0.3)
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", slow_fdopen)
    first: list[Ed25519PrivateKey] = []
    writer = threading.Thread(target=lambda: first.append(load_note_key(path)))
    writer.start()
    try:
        assert opened.wait(10)
        second = load_note_key(path)
    finally:
        writer.join(10)
    assert first and _raw_public(first[0]) == _raw_public(second)


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
