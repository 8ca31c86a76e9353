"""Relayed GetProfile against a direct call to the peer, in the same run.

    .venv/bin/python bench/bench_federation.py             # 3 rounds of 2 x 6 s (~1 min)
    .venv/bin/python bench/bench_federation.py --quick     # 1 round of 2 x 2 s
    .venv/bin/python bench/bench_federation.py --kept      # Qingdao keeps answers (60 s)

Two real ``cxg serve`` processes on 127.0.0.1, each with its own SQLite file and keys: Astana
(KZ) holds a Kazakh company; Qingdao (CN) routes KZ_BIN lookups to Astana. The same partner
(``kz-bank``, registered at both) asks for that company with ``trade_due_diligence``:

- **direct**: at Astana itself;
- **relayed**: at Qingdao, which asks Astana with its own token and a signed on-behalf-of
  claim, checks Astana's JWS with Astana's pinned keys and relays it unchanged. Every call goes
  to Astana, unless ``--kept``: then Qingdao answers from the answer it keeps for the purpose
  (``CXG_FEDERATION_CACHE_SECONDS``, 60 s), as it does when shipped.

Both answers carry the same JWS payload (checked before the load). The load is
``--concurrency`` threads in this process, each with its own DPoP-bound token and a fresh
DPoP proof per call (RFC 9449), over keep-alive connections: the client does the same work
in both modes, so the ratio compares the servers. Rounds alternate direct and relayed. On a
2-core machine the relayed path runs two gateways and the client on the same two cores, while
the direct one runs one: the ratio is a pessimistic bound for gateways on their own machines.
Reported: calls per second, p50 and p99 of each mode, the ratio relayed / direct (goal ≥ 0.7)
and the p50 the relay adds (goal ≤ 2 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.struct_pb2 import Struct

from gateway.audit.entries import Actor, acting_as
from gateway.cli.peers import federation_on
from gateway.client import PartnerClient
from gateway.config import Settings
from gateway.schema.cxg.v1 import federation_service_pb2 as fed_pb
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service import PartnerAdmin, ProfileExchange
from gateway.signing import KeyRing, SigningKey
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from gateway.trust import Partner, Quota

KZ_BIN = "180440001235"
COMPANY = {
    "subject": {
        "ids": [{"scheme": "KZ_BIN", "value": KZ_BIN}],
        "legalName": {"en": "Astana Grain Export LLP", "ru": "ТОО «Астана Грэйн Экспорт»"},
        "country": "KZ",
        "status": "ENTITY_STATUS_ACTIVE",
    },
    "ratings": [{"scheme": "KZ_BANK", "grade": "BB", "asOfDate": "2026-10-01"}],
}
QUERY = {"scheme": "KZ_BIN", "value": KZ_BIN, "purpose": "trade_due_diligence"}
READER = SigningKey.generate("ES256")
UNLIMITED = Quota(requests_per_second=1e6, burst=10**6, daily_requests=10**12)
PUBLISHER = SigningKey.generate("EdDSA")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def node(workdir: Path, city: str, country: str, kept: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXG_")}
    env |= {
        "CXG_DATABASE_URL": f"sqlite:///{workdir / city}.db",
        "CXG_KEYS_DIR": str(workdir / city),
        "CXG_HOST": "127.0.0.1",
        "CXG_REST_PORT": str(free_port()),
        "CXG_GRPC_PORT": str(free_port()),
        "CXG_METRICS_PORT": "0",
        "CXG_GATEWAY_ID": f"cxg.{city}.dev",
        "CXG_COUNTRY": country,
        "CXG_FEDERATION_ALLOW_HTTP": "yes",
        "CXG_FEDERATION_CACHE_SECONDS": "60" if kept else "0",
        "CXG_LOG_LEVEL": "warning",
    }
    settings = Settings.from_env(env)
    KeyRing.init(settings.gateway_keys_dir)
    db = Database.from_url(settings.database_url)
    try:
        db.upgrade()
        with acting_as(Actor("bench", "bench_federation")):
            admin = PartnerAdmin(db)
            reader = Partner("kz-bank", "Bench bank", "KZ", frozenset({"bank"}), quota=UNLIMITED)
            admin.register(reader, [READER.public_jwk()])
            if country == "KZ":
                bureau = Partner("kz-bureau", "Bench bureau", "KZ", frozenset({"credit_bureau"}))
                admin.register(bureau, [PUBLISHER.public_jwk()])
                exchange = ProfileExchange.from_settings(settings, db, PartnerStore(db))
                jws = PUBLISHER.sign_jws(json.dumps(COMPANY).encode(), {"typ": "cxg-publish+jws"})
                exchange.publish_profile(
                    pb.PublishProfileRequest(jws=jws), admin.show("kz-bureau").partner
                )
    finally:
        db.dispose()
    return env


def pin(env: dict[str, str], other: dict[str, str], peer_id: str, local_id: str) -> None:
    settings, remote = Settings.from_env(env), Settings.from_env(other)
    keys = []
    for jwk in KeyRing.from_settings(remote).jwks()["keys"]:
        keys.append(Struct())
        keys[-1].update(jwk)
    db = Database.from_url(settings.database_url)
    try:
        with acting_as(Actor("bench", "bench_federation")), federation_on(settings, db) as fed:
            fed.register_peer(
                fed_pb.RegisterPeerRequest(
                    peer_id=peer_id,
                    gateway=remote.gateway_id,
                    url=f"http://127.0.0.1:{remote.rest_port}",
                    display_name=peer_id,
                    country=remote.country,
                    jwks=keys,
                    local_id=local_id,
                )
            )
            # All of a peer's relayed calls share its quota: the benchmark must not hit it.
            PartnerAdmin(db).set_quota(peer_id, UNLIMITED)
            if settings.country == "CN":
                fed.set_route(fed_pb.SetPeerRouteRequest(scheme="KZ_BIN", peer=peer_id))
    finally:
        db.dispose()


def serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cxg = Path(sys.executable).with_name("cxg")
    with log.open("wb") as out:
        proc = subprocess.Popen([str(cxg), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{env['CXG_REST_PORT']}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"gateway did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)


def refresh(env: dict[str, str]) -> None:
    cxg = Path(sys.executable).with_name("cxg")
    done = subprocess.run(
        [str(cxg), "peers", "refresh"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"cxg peers refresh: {done.stdout}{done.stderr}")


def load(env: dict[str, str], seconds: float, concurrency: int) -> dict[str, float]:
    settings = Settings.from_env(env)
    base = f"http://127.0.0.1:{settings.rest_port}"
    url = f"{base}/v1/profiles:lookup"
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    window: list[float] = []

    def run() -> None:
        client = PartnerClient("kz-bank", READER, gateway_id=settings.gateway_id, rest_url=base)
        token = client.token()
        dpop = client._dpop
        mine: list[float] = []
        with httpx.Client(timeout=30) as http:
            start.wait()
            while time.monotonic() < window[0]:
                headers = {"Authorization": f"DPoP {token}", "DPoP": dpop.proof("GET", url, token)}
                began = time.perf_counter()
                answer = http.get(url, params=QUERY, headers=headers)
                took = time.perf_counter() - began
                if answer.status_code != 200:
                    with lock:
                        failures.append(f"{answer.status_code} {answer.text[:200]}")
                    return
                mine.append(took)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    window.append(time.monotonic() + seconds + 0.5)  # tokens first, then the window
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    if failures:
        raise SystemExit(f"calls failed: {failures[:3]}")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


def same_payload(cn: dict[str, str], kz: dict[str, str]) -> None:
    payloads = []
    for env in (cn, kz):
        settings = Settings.from_env(env)
        base = f"http://127.0.0.1:{settings.rest_port}"
        client = PartnerClient("kz-bank", READER, gateway_id=settings.gateway_id, rest_url=base)
        answer = client._rest_call("GET", "/v1/profiles:lookup", query=QUERY)
        payloads.append(answer["jws"].split(".")[1])
    if payloads[0] != payloads[1]:
        raise SystemExit("the relayed answer is not the peer's: the benchmark would be unfair")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kept", action="store_true", help="Qingdao keeps answers 60 s")
    args = parser.parse_args()
    rounds, seconds = (1, 2.0) if args.quick else (args.rounds, args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        cn, kz = node(workdir, "qingdao", "CN", args.kept), node(workdir, "astana", "KZ")
        pin(cn, kz, "astana", local_id="qingdao")
        pin(kz, cn, "qingdao", local_id="")
        procs = [serve(cn, workdir / "cn.log"), serve(kz, workdir / "kz.log")]
        try:
            refresh(kz)  # Astana accepts Qingdao's document (it checks its co-signatures)
            refresh(cn)
            same_payload(cn, kz)
            results: dict[str, list[dict[str, float]]] = {"direct": [], "relayed": []}
            for number in range(rounds):
                for mode, env in (("direct", kz), ("relayed", cn)):
                    figures = load(env, seconds, args.concurrency)
                    results[mode].append(figures)
                    print(
                        f"round {number + 1} {mode:8s} {figures['rps']:7.0f} calls/s"
                        f"  p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms",
                        flush=True,
                    )
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(20)
    ratios = [
        r["rps"] / d["rps"] for d, r in zip(results["direct"], results["relayed"], strict=True)
    ]
    added = [
        r["p50_ms"] - d["p50_ms"]
        for d, r in zip(results["direct"], results["relayed"], strict=True)
    ]
    summary: dict[str, Any] = {
        "ratio_relayed_to_direct": round(statistics.median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "added_p50_ms": round(statistics.median(added), 2),
        "direct_rps": round(statistics.median(d["rps"] for d in results["direct"])),
        "relayed_rps": round(statistics.median(r["rps"] for r in results["relayed"])),
        "concurrency": args.concurrency,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
