"""Security events (issue 17): what the outbox costs a publication, and how many events a gateway
delivers per second.

    .venv/bin/python bench/bench_events.py            # 5 rounds of 300 publishes and 5,000 imported
    .venv/bin/python bench/bench_events.py --quick    # 1 round, small: a smoke run
    (bench/README.md, section bench_events.py, explains the figures)

Two parts, each on fresh SQLite databases in a temporary folder, never asserted:

  outbox    in this process, the same publications with the outbox written (as shipped) and with
            ``gateway.storage.profiles.emit`` replaced by a no-op, alternating round after round:
            single publishes (``ProfileExchange.publish_profile`` of JWS signed beforehand, one
            transaction each, the PublishProfile path) and a bulk import (``import_records`` of a
            GLEIF LEI-CDF file, 500 records a transaction). The ratio with/without is the outbox's
            cost (issue 17: at most 10%).
  delivery  --companies companies, each one version, published while no gateway runs, for one
            push subscription naming them all; then ``cxg serve`` starts and fans them out, signs
            one SET each and POSTs them to bench/_set_sink.py (a 202 receiver in its own process,
            which only counts): events delivered per second, from the gateway's start to the last
            202 (the start-up itself included, measured apart).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _import_work import BATCH, PARTNER, generate, lei
from bench_get_profile import (
    _BASELINE_LISTENING,
    _GATEWAY_LISTENING,
    BENCH_DIR,
    HOST,
    BenchError,
    Children,
    cxg_executable,
    gateway_env,
    http_get,
    run_bench,
    seed_demo,
    wait_for_log,
)

from gateway.audit.entries import Actor, acting_as
from gateway.config import Settings
from gateway.mapping import adapter
from gateway.schema.cxg.v1 import event_service_pb2 as event_pb
from gateway.schema.cxg.v1.profile_service_pb2 import PublishProfileRequest
from gateway.service import PartnerAdmin, ProfileExchange
from gateway.service.events import EventService
from gateway.signing import KeyRing, SigningKey
from gateway.storage import Database, profiles
from gateway.storage.partners import PartnerStore
from gateway.trust import Partner

SUBSCRIBER = "demo-ru-credit-bureau"  # a demo credit bureau: credit_reporting needs no consent
EVENT_SETTINGS = {"CXG_EVENTS_ALLOWED_NETWORKS": "127.0.0.1/32", "CXG_EVENTS_ALLOW_HTTP": "yes"}


# -- part 1: the outbox's cost ----------------------------------------------------------------


class Source:
    """A fresh database with a publishing partner, and its exchange."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        KeyRing.init(folder / "keys" / "gateway")
        self.settings = Settings(
            database_url=f"sqlite:///{folder / 'cxg.db'}", keys_dir=folder / "keys"
        )
        self.db = Database.from_url(self.settings.database_url)
        self.db.upgrade()
        self.key = SigningKey.generate("EdDSA")
        PartnerAdmin(self.db).register(
            Partner(id=PARTNER, name="Bench source", country="CN", roles=frozenset({"customs"})),
            [self.key.public_jwk()],
        )
        directory = PartnerStore(self.db)
        self.exchange = ProfileExchange.from_settings(self.settings, self.db, directory)
        partner = directory.get(PARTNER)
        assert partner is not None
        self.partner = partner

    def close(self) -> None:
        self.db.dispose()


def signed_publications(key: SigningKey, count: int, offset: int) -> list[str]:
    from gateway.service.profiles import PUBLISH_TYP

    documents = []
    for n in range(offset, offset + count):
        body = (
            f'{{"subject":{{"ids":[{{"scheme":"LEI","value":"{lei(n)}"}}],'
            f'"legalName":{{"en":"Bench Co {n}"}},"country":"CN","status":"ENTITY_STATUS_ACTIVE"}}}}'
        )
        documents.append(key.sign_jws(body.encode(), {"typ": PUBLISH_TYP}))
    return documents


def timed_publishes(source: Source, documents: Sequence[str]) -> float:
    started = time.perf_counter()
    for jws in documents:
        source.exchange.publish_profile(PublishProfileRequest(jws=jws), source.partner)
    return len(documents) / (time.perf_counter() - started)


def timed_import(source: Source, file: Path) -> float:
    started = time.perf_counter()
    with file.open("rb") as stream:
        summary = source.exchange.import_records(
            adapter("gleif-lei-cdf"), stream, source.partner, batch=BATCH
        )
    if summary.refused:
        raise BenchError(f"the import refused {summary.refused} records")
    return summary.imported / (time.perf_counter() - started)


def part_outbox(args: argparse.Namespace, workdir: Path) -> None:
    file = workdir / "companies.xml"
    generate("gleif-lei-cdf", args.records, file)
    shipped = profiles.emit
    rates: dict[tuple[str, bool], list[float]] = {}
    print(
        f"== outbox: {args.publishes} publishes and an import of {args.records:,} records per run"
    )
    for round_no in range(1, args.rounds + 1):
        for outbox in (True, False) if round_no % 2 else (False, True):
            profiles.emit = shipped if outbox else _no_outbox  # type: ignore[assignment]
            try:
                with acting_as(Actor("bench", "bench")):
                    source = Source(workdir / f"outbox-{round_no}-{outbox}")
                    try:
                        documents = signed_publications(source.key, args.publishes, 10_000_000)
                        publish = timed_publishes(source, documents)
                        imported = timed_import(source, file)
                    finally:
                        source.close()
            finally:
                profiles.emit = shipped  # type: ignore[assignment]
            rates.setdefault(("publish", outbox), []).append(publish)
            rates.setdefault(("import", outbox), []).append(imported)
            label = "with outbox   " if outbox else "without outbox"
            print(
                f"  round {round_no}  {label}  publish {publish:7,.0f}/s"
                f"  import {imported:8,.0f} records/s",
                flush=True,
            )
    print()
    for kind in ("publish", "import"):
        on, off = (statistics.median(rates[kind, flag]) for flag in (True, False))
        print(
            f"   {kind:<8} median {on:8,.0f}/s with the outbox, {off:8,.0f}/s without:"
            f" ratio {on / off:.3f} (issue 17 goal: >= 0.90)"
        )
    print()


def _no_outbox(conn: Any, events: Any) -> None:
    """``emit`` that writes nothing: the reference run."""


# -- part 2: delivery rate --------------------------------------------------------------------


def part_delivery(args: argparse.Namespace, workdir: Path, children: Children) -> None:
    folder = workdir / "delivery"
    folder.mkdir()
    env = gateway_env(folder) | EVENT_SETTINGS
    seed_demo(folder, env)
    sink = children.start("set-sink", [sys.executable, str(BENCH_DIR / "_set_sink.py")])
    sink_port = int(wait_for_log(children, "set-sink", sink, _BASELINE_LISTENING).group(1))
    settings = Settings.from_env(env)
    db = Database.from_url(settings.database_url)
    try:
        directory = PartnerStore(db)
        subscriber = directory.get(SUBSCRIBER)
        assert subscriber is not None
        with acting_as(Actor("bench", "bench")):
            PartnerAdmin(db).register(
                Partner(
                    id=PARTNER, name="Bench source", country="CN", roles=frozenset({"customs"})
                ),
                [SigningKey.generate("EdDSA").public_jwk()],
            )
            publisher = directory.get(PARTNER)
            assert publisher is not None
            events = EventService.from_settings(settings, db, KeyRing.from_settings(settings))
            request = event_pb.CreateSubscriptionRequest(
                scope=event_pb.SUBSCRIPTION_SCOPE_NAMED,
                purpose="credit_reporting",
                delivery=event_pb.EVENT_DELIVERY_PUSH,
                endpoint=f"http://{HOST}:{sink_port}/events",
                event_types=["profile-version"],
            )
            for n in range(args.companies):
                request.ids.add(scheme="LEI", value=lei(n))
            events.create_subscription(subscriber, request)
            file = folder / "companies.xml"
            generate("gleif-lei-cdf", args.companies, file)
            exchange = ProfileExchange.from_settings(settings, db, directory)
            with file.open("rb") as stream:
                exchange.import_records(adapter("gleif-lei-cdf"), stream, publisher, batch=BATCH)
    finally:
        db.dispose()
    started = time.perf_counter()
    gateway = children.start("gateway", [cxg_executable(), "serve"], env=env, role="server")
    wait_for_log(children, "gateway", gateway, _GATEWAY_LISTENING)
    ready = time.perf_counter() - started
    deadline = time.monotonic() + args.companies / 5 + 60
    delivered = 0
    while delivered < args.companies:
        if time.monotonic() > deadline or gateway.poll() is not None:
            raise BenchError(
                f"{delivered} of {args.companies} delivered:\n{children.tail('gateway')}"
            )
        time.sleep(0.05)
        delivered = int(http_get(f"http://{HOST}:{sink_port}/count"))
    elapsed = time.perf_counter() - started
    print(f"== delivery: {args.companies:,} companies, one version each, one push subscription")
    print(f"   gateway start-up (to its listening line): {ready:.2f} s")
    print(
        f"   all {delivered:,} SETs answered 202 after {elapsed:.2f} s:"
        f" {delivered / (elapsed - ready):,.0f} events/s after start-up"
        f" (fan-out, one signature each, POST)"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round, small")
    parser.add_argument("--rounds", type=int, help="outbox rounds (default 5)")
    parser.add_argument("--publishes", type=int, help="single publishes per run (default 300)")
    parser.add_argument("--records", type=int, help="records of the import (default 5,000)")
    parser.add_argument("--companies", type=int, help="delivery: companies (default 1,000)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else small if args.quick else full

    args.rounds = pick(args.rounds, 5, 1)
    args.publishes = pick(args.publishes, 300, 30)
    args.records = pick(args.records, 5_000, 500)
    args.companies = pick(args.companies, 1_000, 100)
    return args


def bench(args: argparse.Namespace, workdir: Path) -> int:
    children = Children(workdir)
    try:
        part_outbox(args, workdir)
        part_delivery(args, workdir, children)
        return 0
    finally:
        children.close()


def main(argv: Sequence[str] | None = None) -> int:
    return run_bench("bench_events", bench, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
