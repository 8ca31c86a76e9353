"""What authentication costs signed GetProfile over gRPC: no token, an mTLS-bound token, DPoP.

    .venv/bin/python bench/bench_auth.py            # 3 rounds, 2 s warm-up + 8 s per run
    .venv/bin/python bench/bench_auth.py --quick    # 1 round, 1 s + 2 s: a smoke run
    (bench/README.md, section bench_auth.py, explains the set-up and the figures)

Seeds the demo and a development PKI into a temporary directory, registers the demo credit
bureau's client certificate and lifts its quota, then starts two gateway processes on the same
database, both serving mutual TLS:

    A  bench/_open_gateway.py: the gateway with a gatekeeper that admits every call as the
       bench partner without looking at any credential (the "unauthenticated" reference);
    B  ``cxg serve``, called with a Bearer token bound to the client certificate (RFC 8705);
    C  ``cxg serve``, called with a DPoP-bound token and a fresh proof per call (RFC 9449).

Load comes from bench/_auth_load.py in another process (grpc.aio, one mutual-TLS channel,
--concurrency calls in flight). Runs alternate A, B, C round after round; the table shows medians
and the throughput ratios B/A and C/A. It measures and never asserts: the exit status is
non-zero only when something failed (a server did not start, a call was refused or wrong).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _auth_load import AuthError, PartnerTls, fetch_token, grpc_url, load_partner_key
from bench_get_profile import (
    BENCH_DIR,
    DEMO_SCHEME,
    DEMO_VALUE,
    HOST,
    LOAD_GRACE,
    PARTNER,
    PURPOSE,
    REQUEST_TIMEOUT,
    START_TIMEOUT,
    BenchError,
    Children,
    Run,
    Target,
    _fmt,
    _median,
    _version,
    gateway_env,
    launch_gateway,
    print_run,
    run_bench,
    run_load_generator,
    seed_demo,
)

# bench_get_profile.py owns the process handling, counters and formatting both benchmarks share;
# some of it is private there and imported anyway, to keep one copy. It also launches both
# gateways (launch_gateway: A is its open gateway) and names the partner and the purpose
# (credit_reporting: the full profile, no consent needed).
from gateway.client import DpopKey

GATEWAY_ID = "cxg.qingdao.dev"  # Settings' default, which gateway_env() leaves alone
GRPC_METHOD = "/cxg.v1.ProfileService/GetProfile"
MODES = ("open", "mtls", "dpop")
LABELS = {
    "open": "A unauthenticated (open gate)",
    "mtls": "B mTLS-bound Bearer token",
    "dpop": "C DPoP token, proof per call",
}
# DPoP proofs signed per run: what B just served in the same time, with this much headroom.
# Should C ever outrun that, its window closes early (and says so) rather than run dry.
PROOF_HEADROOM = 1.3
MIN_PROOFS = 2_000


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]
    tls: PartnerTls
    partner_key: Path
    request: bytes


@dataclass(frozen=True)
class Server:
    label: str
    pid: int
    grpc_target: str
    token_url: str


@dataclass(frozen=True)
class AuthRun:
    mode: str
    run: Run
    proofs: int | None  # dpop: proofs signed before the run, and how long that took
    proof_signing_s: float | None
    out_of_proofs: bool


# -- set-up --------------------------------------------------------------------------------------


def prepare(workdir: Path) -> Setup:
    """The demo, a PKI with a server and a partner certificate, the certificate registered and
    the partner's quota out of the way (the default, 200 req/s, would be the bottleneck)."""
    from gateway.audit.entries import Actor, acting_as
    from gateway.schema.cxg.v1 import profile_service_pb2 as pb
    from gateway.service import PartnerAdmin
    from gateway.storage import Database
    from gateway.trust import Quota
    from gateway.trust.pki import init_ca, issue_partner_certificate, issue_server_certificate

    env = gateway_env(workdir)
    seed_demo(workdir, env)
    pki = workdir / "pki"
    init_ca(pki)
    issue_server_certificate(pki)
    issued = issue_partner_certificate(pki, PARTNER)
    env["CXG_TLS_DIR"] = str(pki)
    db = Database.from_url(env["CXG_DATABASE_URL"])
    try:
        admin = PartnerAdmin(db)
        with acting_as(Actor("bench:setup", "bench")):  # whom the change leaves name
            admin.add_certificate(PARTNER, issued.cert_path.read_bytes())
            admin.set_quota(
                PARTNER, Quota(requests_per_second=1e6, burst=1_000_000, daily_requests=10**12)
            )
    finally:
        db.dispose()
    request = pb.GetProfileRequest(
        id={"scheme": DEMO_SCHEME, "value": DEMO_VALUE}, purpose=PURPOSE
    ).SerializeToString()
    return Setup(
        env=env,
        tls=PartnerTls.in_dir(pki, PARTNER),
        partner_key=workdir / "keys" / "private" / f"{PARTNER}.pem",
        request=request,
    )


def start_server(children: Children, name: str, setup: Setup, *, open_gate: bool) -> Server:
    proc, grpc_port, rest_port = launch_gateway(children, name, setup.env, open_gate=open_gate)
    return Server(name, proc.pid, f"{HOST}:{grpc_port}", f"https://{HOST}:{rest_port}/oauth2/token")


def grpc_get(server: Server, setup: Setup, metadata: tuple[tuple[str, str], ...]) -> bytes:
    import grpc

    with grpc.secure_channel(server.grpc_target, setup.tls.grpc_credentials()) as channel:
        grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
        try:
            response: bytes = channel.unary_unary(GRPC_METHOD)(
                setup.request, timeout=REQUEST_TIMEOUT, metadata=metadata
            )
        except grpc.RpcError as exc:
            raise BenchError(
                f"GetProfile on {server.label}: {exc.code().name}: {exc.details()}"
            ) from exc
    return response


def probe(open_gate: Server, gateway: Server, setup: Setup) -> int:
    """One call per mode before any load; all three must answer the same signed profile.
    Returns its size."""
    key = load_partner_key(setup.partner_key)
    scheme, token = fetch_token(gateway.token_url, setup.tls, PARTNER, key, GATEWAY_ID)
    bearer = grpc_get(gateway, setup, (("authorization", f"{scheme} {token}"),))
    dpop = DpopKey()
    scheme, token = fetch_token(gateway.token_url, setup.tls, PARTNER, key, GATEWAY_ID, dpop)
    proof = dpop.proof("POST", grpc_url(GATEWAY_ID), token)
    with_dpop = grpc_get(gateway, setup, (("authorization", f"{scheme} {token}"), ("dpop", proof)))
    unauthenticated = grpc_get(open_gate, setup, ())
    # And B and C measure the real gatekeeper: without a token, `cxg serve` refuses the call.
    try:
        grpc_get(gateway, setup, ())
    except BenchError as exc:
        if "UNAUTHENTICATED" not in str(exc):
            raise
    else:
        raise BenchError("cxg serve answered GetProfile without a token: admission is off")
    if not bearer == with_dpop == unauthenticated:
        raise BenchError("the three modes answered different bytes for the same GetProfile")
    return len(bearer)


# -- load ----------------------------------------------------------------------------------------


def measure(
    children: Children,
    mode: str,
    server: Server,
    setup: Setup,
    size: int,
    args: argparse.Namespace,
    proofs: int,
) -> AuthRun:
    argv = [
        sys.executable,
        str(BENCH_DIR / "_auth_load.py"),
        mode,
        server.grpc_target,
        "--pki",
        str(setup.tls.ca.parent),
        "--partner",
        PARTNER,
        "--partner-key",
        str(setup.partner_key),
        "--token-url",
        server.token_url,
        "--gateway-id",
        GATEWAY_ID,
        "--request-hex",
        setup.request.hex(),
        "--expect-size",
        str(size),
        "--proofs",
        str(proofs),
        "--concurrency",
        str(args.concurrency),
        "--warmup",
        str(args.warmup),
        "--duration",
        str(args.duration),
        "--max-requests",
        str(args.max_requests),
        "--timeout",
        str(REQUEST_TIMEOUT),
    ]
    # Proof signing comes before the warm-up; the load generator bounds it itself (60 s).
    limit = args.warmup + args.duration + 2 * LOAD_GRACE
    target = Target(label=LABELS[mode], pid=server.pid)
    run, result = run_load_generator(children, f"load-{mode}", argv, target, "gRPC", limit)
    return AuthRun(
        mode=mode,
        run=run,
        proofs=result.get("proofs"),
        proof_signing_s=result.get("proof_signing_s"),
        out_of_proofs=bool(result.get("out_of_proofs")),
    )


def proofs_for(runs: list[AuthRun], args: argparse.Namespace) -> int:
    """How many DPoP proofs to sign for the next C run: B's latest rate over warm-up plus run,
    with headroom. C pays more per call than B, so it should never need as many."""
    rates = [r.run.rps for r in runs if r.mode == "mtls"]
    rate = rates[-1] if rates else 0.0
    wanted: float = PROOF_HEADROOM * rate * (args.warmup + args.duration) + args.concurrency
    return max(MIN_PROOFS, math.ceil(wanted))


# -- report --------------------------------------------------------------------------------------


def print_header(
    args: argparse.Namespace, size: int, servers: dict[str, Server], children: Children
) -> None:
    dists = ("grpcio", "protobuf", "PyJWT", "cryptography", "SQLAlchemy")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"command:   {shlex.join([sys.executable, *sys.argv])}")
    print(f"python:    {platform.python_implementation()} {platform.python_version()}")
    print(f"cpus:      {os.cpu_count()} (usable here: {affinity}); {platform.platform()}")
    print(f"packages:  {', '.join(f'{d} {_version(d)}' for d in dists)}")
    print(
        f"load:      grpc.aio, one mutual-TLS channel, {args.concurrency} calls in flight;"
        f" {args.warmup} s warm-up + {args.duration} s measured per run; {args.rounds} round(s)"
    )
    print(
        f"request:   GetProfile {DEMO_SCHEME} {DEMO_VALUE} purpose {PURPOSE} as {PARTNER};"
        f" {size} bytes answered"
    )
    print("           (the same bytes from every mode, checked before the load)")
    print(
        "processes: "
        + ", ".join(f"{name} pid {server.pid}" for name, server in servers.items())
        + "; SQLite, one database for both"
    )
    if args.pin:
        server, client = children.cpus("server"), children.cpus("client")
        print(f"pinned:    gateways to CPU {server}, load generator to CPU {client}")
    else:
        print("pinned:    no (--pin puts the gateways and the load generator on separate CPUs)")
    print()


_COLUMNS = (
    ("mode", "<31"),
    ("req/s", ">7"),
    ("p50 ms", ">7"),
    ("p99 ms", ">7"),
    ("srv CPU/req", ">11"),
    ("srv cs/req", ">10"),
    ("srv CPU", ">7"),
    ("client CPU", ">10"),
    ("errors", ">6"),
)


def print_summary(runs: list[AuthRun], args: argparse.Namespace) -> None:
    header = " ".join(format(title, spec) for title, spec in _COLUMNS)
    print()
    print(f"Medians of {args.rounds} round(s), gRPC over mutual TLS. srv = the gateway process")
    print("over the measured window: CPU time and context switches per answered call, CPU busy")
    print("as a share of one core; client likewise.")
    print(header)
    print("-" * len(header))
    medians: dict[str, float] = {}
    for mode in MODES:
        group = [r.run for r in runs if r.mode == mode]
        medians[mode] = statistics.median(r.rps for r in group)
        cells = (
            LABELS[mode],
            f"{medians[mode]:,.0f}",
            _fmt(_median(r.p50_ms for r in group), ".2f"),
            _fmt(_median(r.p99_ms for r in group), ".2f"),
            _fmt(_median(r.server_cpu_us_per_request for r in group), ".0f", " us"),
            _fmt(_median(r.server_switches_per_request for r in group), ".1f"),
            _fmt(_median(r.cpu_share(r.server.cpu_s if r.server else None) for r in group), ".0%"),
            _fmt(_median(r.cpu_share(r.client_cpu_s) for r in group), ".0%"),
            str(sum(r.errors for r in group)),
        )
        print(" ".join(format(cell, spec) for cell, (_, spec) in zip(cells, _COLUMNS, strict=True)))
    print()
    for mode, name in (("mtls", "B/A"), ("dpop", "C/A")):
        line = f"throughput {name} ({LABELS[mode][2:]} / unauthenticated):"
        line += (
            f" {medians[mode] / medians['open']:.2f} of the medians" if medians["open"] else " n/a"
        )
        # Each round ran A then B then C: its own ratio shows the noise between rounds.
        per_round = [
            b.run.rps / a.run.rps
            for a, b in zip(
                [r for r in runs if r.mode == "open"],
                [r for r in runs if r.mode == mode],
                strict=True,
            )
            if a.run.rps
        ]
        if len(per_round) > 1:
            line += f" (rounds {min(per_round):.2f} to {max(per_round):.2f})"
        print(line)
    if medians["open"]:
        ratio = medians["mtls"] / medians["open"]
        verdict = "met" if ratio >= 0.85 else "NOT met"
        print(
            f"issue 3 target, B/A >= 0.85: {verdict} in this run ({ratio:.2f}; measured, not asserted)"
        )
    signed = [r for r in runs if r.mode == "dpop" and r.proofs]
    if signed:
        print(
            "DPoP proofs signed before each C run (not timed): "
            + ", ".join(f"{r.proofs:,} in {r.proof_signing_s:.1f} s" for r in signed)
        )
    print()
    print("Notes:")
    print("  - A skips all of admission (token, binding, policy, quota), so B/A and C/A are what")
    print("    admission costs as a whole, not the token check alone.")
    print("  - C pays per call one ES256 proof verification and one durable SQLite write (its jti")
    print("    in the replay store); B's token signature is verified once and cached.")
    print("  - Load generator and gateways share this machine's CPUs; where client CPU nears 100%")
    print("    the client limits what A can show, and the ratios flatter B and C.")


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 1 s warm-up + 2 s per run"
    )
    parser.add_argument("--rounds", type=int, help="rounds of (A, B, C) (default 3)")
    parser.add_argument("--duration", type=int, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds before each run (default 2)")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    parser.add_argument(
        "--max-requests", type=int, default=2_000_000, help="cap on measured calls per run"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the gateways to the first usable CPU and the load generator to the others",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (database, PKI, logs)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    args.duration = args.duration if args.duration is not None else (2 if quick else 8)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.max_requests < 1:
        parser.error("--rounds and --duration must be at least 1, --warmup at least 0")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    # Every proof of a C run is signed before it starts and must still be fresh at its end.
    if args.warmup + args.duration > 40:
        parser.error("--warmup plus --duration must stay within 40 s (DPoP proofs expire at 60 s)")
    return args


def bench(args: argparse.Namespace, workdir: Path) -> int:
    children = Children(workdir, pin=args.pin)
    try:
        setup = prepare(workdir)
        # One after the other: each upgrades the shared database schema on start.
        open_gate = start_server(children, "gateway-open", setup, open_gate=True)
        gateway = start_server(children, "gateway", setup, open_gate=False)
        size = probe(open_gate, gateway, setup)
        print_header(
            args, size, {"open gateway (A)": open_gate, "cxg serve (B, C)": gateway}, children
        )
        targets = {"open": open_gate, "mtls": gateway, "dpop": gateway}
        runs: list[AuthRun] = []
        for round_no in range(1, args.rounds + 1):
            for mode in MODES:
                proofs = proofs_for(runs, args) if mode == "dpop" else 0
                done = measure(children, mode, targets[mode], setup, size, args, proofs)
                runs.append(done)
                print_run(round_no, done.run)
                if done.out_of_proofs:
                    print(
                        f"           ran out of its {done.proofs:,} DPoP proofs:"
                        f" measured for {done.run.elapsed_s:.1f} s instead of {args.duration} s"
                    )
        print_summary(runs, args)

        failed = [r.run for r in runs if r.run.errors or r.run.timeouts or not r.run.requests]
        for run in failed:
            print(
                f"ERROR: {run.label}: {run.requests} answered, {run.errors} failed,"
                f" {run.timeouts} timed out; first error: {run.first_error}"
            )
        return 1 if failed else 0
    finally:
        children.close()


def main(argv: Sequence[str] | None = None) -> int:
    return run_bench("bench_auth", bench, parse_args(argv), (AuthError, subprocess.SubprocessError))


if __name__ == "__main__":
    sys.exit(main())
