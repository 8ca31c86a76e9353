"""Security events from outside: real ``cxg serve`` processes, killed with SIGKILL in the middle
of a delivery, or two of them on one database; a real receiver (tests/set_receiver.py) verifying
every SET with jwcrypto. Nothing acknowledged may be lost: each version published reaches the
subscriber, in order, duplicates only as at-least-once allows, and detectable by ``jti``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.audit_load import ServedGateway, gateway_env, gateways, seed
from tests.clients import RestClient
from tests.set_receiver import SetReceiver
from tests.support import USCC, TestPartner, profile

VERSION = "urn:cxg:secevent:profile-version"
FAST_EVENTS = {
    "CXG_EVENTS_ALLOWED_NETWORKS": "127.0.0.1/32",
    "CXG_EVENTS_ALLOW_HTTP": "yes",
    "CXG_EVENTS_TICK_SECONDS": "0.05",
    "CXG_EVENTS_RETRY_BASE_SECONDS": "0.05",
    "CXG_EVENTS_RETRY_MAX_SECONDS": "0.2",
    "CXG_EVENTS_PUSH_TIMEOUT_SECONDS": "2",  # a claim is leased for 2 * 2 + 5 = 9 s
}


def events_env(
    database_url: str, tmp_path: Path, partners: dict[str, TestPartner]
) -> dict[str, str]:
    env = gateway_env(database_url, tmp_path / "keys", checkpoint_seconds=60) | FAST_EVENTS
    seed(env, partners)
    return env


def receiver_of(gateway: ServedGateway) -> SetReceiver:
    keys = httpx.get(f"{gateway.base}/.well-known/jwks.json", timeout=10).json()
    return SetReceiver(keys, issuer=gateway.settings.gateway_id, audience="ru-bureau")


def subscribe_push(rest: RestClient, endpoint: str) -> None:
    answer = rest.request(
        "POST",
        "/v1/subscriptions",
        json={
            "scope": "SUBSCRIPTION_SCOPE_NAMED",
            "ids": [{"scheme": "CN_USCC", "value": USCC}],
            "purpose": "credit_reporting",
            "eventTypes": ["profile-version"],
            "delivery": "EVENT_DELIVERY_PUSH",
            "endpoint": endpoint,
        },
    )
    assert answer.status_code == 200, answer.text


def version_of(n: int) -> dict[str, Any]:
    """The company's n-th version (each a different document, so each a new version)."""
    return profile(ratings=[{"scheme": "CN_TAX", "grade": "A", "asOfDate": f"2026-01-{n:02d}"}])


def test_a_gateway_killed_mid_delivery_leaves_the_event_to_the_next(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner]
) -> None:
    env = events_env(database_url, tmp_path, partners)
    with gateways(tmp_path) as running:
        first = running.start("first", env)
        rest = RestClient(first, partners)  # type: ignore[arg-type]
        with receiver_of(first) as receiver:
            receiver.mode, receiver.slow_seconds = "slow", 60.0  # the POST hangs in flight
            subscribe_push(rest, receiver.url)
            assert rest.publish(partners["kz-bank"].sign(version_of(1))).status == 200
            deadline = time.monotonic() + 20
            while receiver.attempts == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert receiver.attempts == 1, first.output()[-2000:]
            first.crash()  # SIGKILL with the delivery claimed and its POST unanswered
            rest.close()
            receiver.mode = "accept"
            second = running.start("second", env)
            rest = RestClient(second, partners)  # type: ignore[arg-type]
            assert rest.publish(partners["kz-bank"].sign(version_of(2))).status == 200
            first_set, second_set = receiver.wait_for(2, timeout=40)
            rest.close()
    versions = [
        s.claims["events"][VERSION]["version"].rsplit("/", 1)[1] for s in (first_set, second_set)
    ]
    assert versions == ["1", "2"]  # the killed one first: the company's order held
    assert not receiver.invalid and not receiver.errors


def test_two_gateways_on_one_database_lose_no_event(
    tmp_path: Path, database_url: str, partners: dict[str, TestPartner]
) -> None:
    env = events_env(database_url, tmp_path, partners)
    count = 16
    with gateways(tmp_path) as running:
        pair = [running.start("a", env), running.start("b", env)]
        clients = [RestClient(g, partners) for g in pair]  # type: ignore[arg-type]
        with receiver_of(pair[0]) as receiver:
            subscribe_push(clients[0], receiver.url)
            receiver.mode = "fail"  # both gateways retry while versions arrive
            for n in range(1, count + 1):
                outcome = clients[n % 2].publish(partners["kz-bank"].sign(version_of(n)))
                assert outcome.status == 200, outcome
            time.sleep(0.5)
            receiver.mode = "accept"
            receiver.wait_for(count, timeout=60)
            time.sleep(0.5)  # a late duplicate, if any, shows too
            received = list(receiver.received)
        for client in clients:
            client.close()
    distinct: dict[str, int] = {}
    for got in received:
        distinct.setdefault(
            got.jti, int(got.claims["events"][VERSION]["version"].rsplit("/", 1)[1])
        )
    assert sorted(distinct.values()) == list(range(1, count + 1))  # every version, none lost
    first_arrivals = list(dict.fromkeys(got.jti for got in received))
    assert [distinct[jti] for jti in first_arrivals] == list(range(1, count + 1))  # in order
    assert len(received) - len(distinct) == sum(n - 1 for n in receiver.duplicates().values())
    assert not receiver.invalid and not receiver.errors
