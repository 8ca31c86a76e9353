"""The real path, end to end (issue 20): ``cxg serve`` exactly as shipped, called the way a
partner calls it, against bare servers doing nothing but answer the same bytes.

    .venv/bin/python bench/bench_real.py             # every part, 3 rounds (~12 min)
    .venv/bin/python bench/bench_real.py --quick     # 1 round of 1 s + 2 s runs: a smoke run
    .venv/bin/python bench/bench_real.py --parts calls,workers,publish,import
    (bench/README.md, section bench_real.py, explains the set-up and every figure)

Parts, each a ratio measured side by side in one run:

    calls    signed GetProfile over gRPC and REST, mutual TLS, with an mTLS-bound token and with
             DPoP (a fresh proof per call), against bare echo servers over the same mutual TLS;
    workers  server CPU per answered call of ``cxg serve --workers 2`` against one worker;
    publish  durable PublishProfile over gRPC and REST against a bare durable insert of the same
             JWS bytes, one transaction each, as the gateway commits a version;
    import   bench_import.py: a bulk import against its minimum pipeline (lxml, Ed25519,
             executemany) in the same run.

and, only when asked (``--parts costs``), what each part of a GetProfile costs:

    costs    the gateway as shipped side by side with gateways that each have one part of the
             call switched off (bench/_knockout/sitecustomize.py: the audit commit, the audit
             leaf, the worker-thread hand-off, the request line), then all of them; server CPU
             per call and throughput of each, mTLS-bound token.

It measures and never asserts: the exit status is non-zero only when it could not measure (a
server did not start, a call was refused or answered other bytes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _auth_load import AuthError, PartnerTls, fetch_token, grpc_url, load_partner_key
from _import_work import lei
from bench_auth import GATEWAY_ID, Setup, prepare
from bench_get_profile import (
    _BASELINE_LISTENING,
    BENCH_DIR,
    HOST,
    LOAD_GRACE,
    PARTNER,
    REQUEST_TIMEOUT,
    START_TIMEOUT,
    BenchError,
    Children,
    Run,
    Target,
    _fmt,
    _median,
    _version,
    launch_gateway,
    lookup_query,
    print_run,
    run_bench,
    run_load_generator,
    summarize_stacks,
    wait_for_log,
)

# bench_get_profile.py owns process handling, counters and formatting; bench_auth.py the demo,
# PKI and partner set-up and _auth_load.py the partner's side (tokens, proofs, the load itself).
# Some of it is private there and imported anyway, to keep one copy.
from gateway.client import DpopKey

PARTS = ("calls", "workers", "publish", "import")
EXTRA_PARTS = ("costs",)  # run only when named
KNOCKOUT_DIR = BENCH_DIR / "_knockout"
KNOCKOUTS = ("audit-commit", "audit", "offload", "request-line")
TRANSPORTS = ("gRPC", "REST")
REST_PATH = "/v1/profiles:lookup?" + lookup_query()
PUBLISH_METHOD = "/cxg.v1.ProfileService/PublishProfile"
# DPoP proofs and publications made per run: the fastest rate seen so far on that transport
# (or a guess before any) over warm-up plus run, with headroom; a run that outruns them closes
# its window early and says so.
HEADROOM = 1.5
FIRST_GUESS_RPS = 3_000
MIN_PREPARED = 2_000
GOALS = {  # issue 20
    "mtls/echo gRPC": 0.6,
    "mtls/echo REST": 0.5,
    "dpop/mtls": 0.7,
    "p99/echo p99": 3.0,  # at most
    "cpu 2w/1w": 1.10,  # at most
    "import/minimum": 0.5,
}


@dataclass
class Servers:
    """What runs: the gateway(s) and the baselines, by role."""

    targets: dict[str, Target] = field(default_factory=dict)
    token_urls: dict[str, str] = field(default_factory=dict)  # per gateway role
    rest_urls: dict[str, str] = field(default_factory=dict)  # base URL, per role


@dataclass(frozen=True)
class Probe:
    grpc_size: int
    rest_size: int


@dataclass
class Result:
    part: str
    transport: str
    mode: str  # echo, mtls, dpop, w1, w2, insert, publish; costs: the gateway role
    run: Run
    out_of_prepared: bool = False


# -- servers -------------------------------------------------------------------------------------


def start_gateway(
    children: Children,
    servers: Servers,
    role: str,
    setup: Setup,
    workers: int,
    knockout: str = "",
) -> None:
    """``knockout``: the parts of a call to switch off (bench/_knockout/sitecustomize.py)."""
    env = {**setup.env, "CXG_WORKERS": str(workers)}
    if knockout:
        env["BENCH_KNOCKOUT"] = knockout
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, (str(KNOCKOUT_DIR), env.get("PYTHONPATH")))
        )
    proc, grpc_port, rest_port = launch_gateway(children, role, env, open_gate=False)
    label = "cxg serve" if workers == 1 else f"cxg serve --workers {workers}"
    if knockout:
        label += f" without {knockout.replace(',', ', ')}"
    servers.targets[role] = Target(
        label, proc.pid, f"{HOST}:{grpc_port}", f"https://{HOST}:{rest_port}"
    )
    servers.rest_urls[role] = f"https://{HOST}:{rest_port}"
    servers.token_urls[role] = f"https://{HOST}:{rest_port}/oauth2/token"


def start_echo(children: Children, servers: Servers, kind: str, size: int, setup: Setup) -> None:
    name = f"echo-{kind}"
    argv = [sys.executable, str(BENCH_DIR / "_baselines.py"), kind, str(size)]
    proc = children.start(name, [*argv, "--tls", str(setup.tls.ca.parent)], role="server")
    port = int(wait_for_log(children, name, proc, _BASELINE_LISTENING).group(1))
    label = f"bare echo ({'grpcio' if kind == 'grpc' else 'FastAPI'}, mTLS)"
    servers.targets[name] = Target(label, proc.pid, f"{HOST}:{port}", f"https://{HOST}:{port}")
    servers.rest_urls[name] = f"https://{HOST}:{port}"


def probe(servers: Servers, setup: Setup, role: str) -> Probe:
    """One GetProfile per transport and credential, before any load: gRPC and REST, with an
    mTLS-bound token and with DPoP, must all carry the same signed profile."""
    import grpc

    from gateway.schema.cxg.v1 import profile_service_pb2 as pb

    key = load_partner_key(setup.partner_key)
    token_url, target = servers.token_urls[role], servers.targets[role]
    jws: set[str] = set()
    sizes: dict[str, int] = {}
    dpop = DpopKey()
    credentials = {
        "mtls": (fetch_token(token_url, setup.tls, PARTNER, key, GATEWAY_ID), None),
        "dpop": (fetch_token(token_url, setup.tls, PARTNER, key, GATEWAY_ID, dpop), dpop),
    }
    for mode, ((scheme, token), proof_key) in credentials.items():
        headers = {"authorization": f"{scheme} {token}"}
        if proof_key is not None:
            headers["dpop"] = proof_key.proof("POST", grpc_url(GATEWAY_ID), token)
        with grpc.secure_channel(target.grpc_target, setup.tls.grpc_credentials()) as channel:
            grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
            try:
                raw = channel.unary_unary("/cxg.v1.ProfileService/GetProfile")(
                    setup.request, timeout=REQUEST_TIMEOUT, metadata=tuple(headers.items())
                )
            except grpc.RpcError as exc:
                raise BenchError(
                    f"gRPC GetProfile ({mode}): {exc.code().name}: {exc.details()}"
                ) from exc
        jws.add(pb.SignedProfile.FromString(raw).jws)
        sizes["gRPC"] = len(raw)
        url = servers.rest_urls[role] + REST_PATH
        if proof_key is not None:
            headers["dpop"] = proof_key.proof("GET", url.partition("?")[0], token)
        body = https(url, setup.tls, headers | {"accept": "application/json"})
        jws.add(json.loads(body)["jws"])
        sizes["REST"] = len(body)
    if len(jws) != 1:
        raise BenchError("gRPC and REST, mTLS and DPoP did not all serve the same signed profile")
    return Probe(sizes["gRPC"], sizes["REST"])


def https(url: str, tls: PartnerTls, headers: dict[str, str], body: bytes | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(
            request, timeout=REQUEST_TIMEOUT, context=tls.ssl_context()
        ) as response:
            answer: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise BenchError(f"{url}: HTTP {exc.code}: {exc.read()[:300]!r}") from exc
    return answer


# -- load ----------------------------------------------------------------------------------------


def load(
    children: Children,
    servers: Servers,
    setup: Setup,
    args: argparse.Namespace,
    *,
    transport: str,
    role: str,
    mode: str,
    expect_size: int,
    prepared: int = 0,
    publications: Path | None = None,
) -> tuple[Run, bool]:
    """One run of _auth_load.py against ``role``; its Run, and whether it ran out of proofs or
    publications before the end of its window."""
    target = servers.targets[role]
    argv = [
        sys.executable,
        str(BENCH_DIR / "_auth_load.py"),
        mode,
        target.grpc_target if transport == "gRPC" else target.rest_url,
        "--transport",
        transport.lower(),
        "--pki",
        str(setup.tls.ca.parent),
        "--partner",
        PARTNER,
        "--partner-key",
        str(setup.partner_key),
        "--token-url",
        servers.token_urls.get(role, ""),
        "--gateway-id",
        GATEWAY_ID,
        "--request-hex",
        setup.request.hex(),
        "--rest-path",
        REST_PATH,
        "--expect-size",
        str(expect_size),
        "--proofs",
        str(max(prepared, 1)),
        "--concurrency",
        str(args.concurrency),
        "--warmup",
        str(args.warmup),
        "--duration",
        str(args.duration),
        "--timeout",
        str(REQUEST_TIMEOUT),
    ]
    if publications is not None:
        argv += ["--operation", "publish", "--publications", str(publications)]
    limit = args.warmup + args.duration + 2 * LOAD_GRACE
    run, result = run_load_generator(
        children, f"load-{role}-{mode}", argv, target, transport, limit
    )
    return run, bool(result.get("out_of_proofs"))


def prepared_for(results: list[Result], transport: str, args: argparse.Namespace) -> int:
    """Proofs (or publications) to prepare for a run: enough for the fastest rate seen yet on
    this transport, with headroom."""
    rates = [r.run.rps for r in results if r.transport == transport and r.mode != "echo"]
    rate = max(rates, default=FIRST_GUESS_RPS)
    return max(MIN_PREPARED, math.ceil(HEADROOM * rate * (args.warmup + args.duration)))


def part_calls(
    children: Children, servers: Servers, setup: Setup, sizes: Probe, args: argparse.Namespace
) -> list[Result]:
    results: list[Result] = []
    for round_no in range(1, args.rounds + 1):
        for transport in args.transports:
            size = sizes.grpc_size if transport == "gRPC" else sizes.rest_size
            echo = "echo-grpc" if transport == "gRPC" else "echo-rest"
            for role, mode in ((echo, "open"), ("gateway", "mtls"), ("gateway", "dpop")):
                proofs = prepared_for(results, transport, args) if mode == "dpop" else 0
                run, short = load(
                    children,
                    servers,
                    setup,
                    args,
                    transport=transport,
                    role=role,
                    mode=mode,
                    expect_size=size,
                    prepared=proofs,
                )
                run = _labelled(
                    run, servers.targets[role].label + ("" if mode == "open" else f", {mode}")
                )
                results.append(
                    Result("calls", transport, "echo" if mode == "open" else mode, run, short)
                )
                print_run(round_no, run)
    return results


def part_workers(
    children: Children, servers: Servers, setup: Setup, sizes: Probe, args: argparse.Namespace
) -> list[Result]:
    return mtls_rounds(
        "workers", (("gateway", "w1"), ("gateway-2", "w2")), children, servers, setup, sizes, args
    )


def mtls_rounds(
    part: str,
    roles: Sequence[tuple[str, str]],
    children: Children,
    servers: Servers,
    setup: Setup,
    sizes: Probe,
    args: argparse.Namespace,
) -> list[Result]:
    """GetProfile with an mTLS-bound token on each ``(role, mode)`` gateway, side by side in
    every round and transport."""
    results: list[Result] = []
    for round_no in range(1, args.rounds + 1):
        for transport in args.transports:
            size = sizes.grpc_size if transport == "gRPC" else sizes.rest_size
            for role, mode in roles:
                run, _ = load(
                    children,
                    servers,
                    setup,
                    args,
                    transport=transport,
                    role=role,
                    mode="mtls",
                    expect_size=size,
                )
                run = _labelled(run, servers.targets[role].label + ", mtls")
                results.append(Result(part, transport, mode, run))
                print_run(round_no, run)
    return results


def start_knockouts(children: Children, servers: Servers, setup: Setup, sizes: Probe) -> None:
    """A gateway per part switched off, and one with all of them off."""
    for knockout in (*KNOCKOUTS, ",".join(KNOCKOUTS)):
        role = f"without {knockout}"
        start_gateway(children, servers, role, setup, workers=1, knockout=knockout)
        if probe(servers, setup, role) != sizes:
            raise BenchError(f"the gateway {role} answered other bytes")


def part_costs(
    children: Children, servers: Servers, setup: Setup, sizes: Probe, args: argparse.Namespace
) -> list[Result]:
    """The gateway as shipped and each knockout, side by side in every round."""
    roles = ["gateway", *(role for role in servers.targets if role.startswith("without "))]
    return mtls_rounds(
        "costs", [(role, role) for role in roles], children, servers, setup, sizes, args
    )


def print_costs(results: list[Result]) -> None:
    """Per transport: what switching each part off saves of the server's CPU per call."""
    costs = [r for r in results if r.part == "costs"]
    if not costs:
        return
    print("\n== what each part of a GetProfile costs (mTLS-bound token; medians of the rounds)")
    print(f"{'gateway':<58} {'req/s':>8} {'CPU/call':>9} {'saves':>14}")
    for transport in TRANSPORTS:
        runs = [r for r in costs if r.transport == transport]
        roles = list(dict.fromkeys(r.mode for r in runs))
        cpu = {
            role: _median(r.run.server_cpu_us_per_request for r in runs if r.mode == role)
            for role in roles
        }
        for role in roles:
            rps = _median(r.run.rps for r in runs if r.mode == role)
            saved = cpu["gateway"] - cpu[role]
            share = saved / cpu["gateway"] if cpu["gateway"] else math.nan
            label = f"{transport}: " + ("as shipped" if role == "gateway" else role)
            saves = "" if role == "gateway" else f"{saved:,.0f} us {share:>4.0%}"
            print(f"{label:<58} {rps:>8,.0f} {cpu[role]:>6,.0f} us {saves:>14}")


def part_publish(
    children: Children, servers: Servers, setup: Setup, workdir: Path, args: argparse.Namespace
) -> list[Result]:
    key = load_partner_key(setup.partner_key)
    results: list[Result] = []
    first = 0
    for round_no in range(1, args.rounds + 1):
        baseline = insert_baseline(children, setup, workdir, args)
        results.append(Result("publish", "-", "insert", baseline))
        print_run(round_no, baseline)
        for transport in args.transports:
            count = prepared_for([r for r in results if r.mode == "publish"], transport, args)
            file = workdir / f"publications-{round_no}-{transport}.txt"
            file.write_text("".join(jws + "\n" for jws in publications(key, first, count)))
            first += count
            run, short = load(
                children,
                servers,
                setup,
                args,
                transport=transport,
                role="gateway",
                mode="mtls",
                expect_size=-1,
                publications=file,
            )
            run = _labelled(run, "cxg serve PublishProfile, mtls")
            results.append(Result("publish", transport, "publish", run, short))
            print_run(round_no, run)
    return results


def publications(key: object, first: int, count: int) -> list[str]:
    """Signed profiles of ``count`` new companies, each a new profile (first version)."""
    from gateway.service.profiles import PUBLISH_TYP

    documents = []
    for n in range(first, first + count):
        body = (
            f'{{"subject":{{"ids":[{{"scheme":"LEI","value":"{lei(n)}"}}],'
            f'"legalName":{{"en":"Bench Publish Co {n}"}},"country":"RU",'
            f'"status":"ENTITY_STATUS_ACTIVE"}}}}'
        )
        documents.append(key.sign_jws(body.encode(), {"typ": PUBLISH_TYP}))  # type: ignore[attr-defined]
    return documents


def insert_baseline(
    children: Children, setup: Setup, workdir: Path, args: argparse.Namespace
) -> Run:
    """_baselines.py insert: --concurrency threads inserting the size of a publication durably,
    one transaction each, into a fresh SQLite database set up as the gateway's."""
    database = workdir / "insert-baseline.db"
    for stale in workdir.glob("insert-baseline.db*"):
        stale.unlink()
    sample = publications(load_partner_key(setup.partner_key), 10**9, 1)[0]
    argv = [
        sys.executable,
        str(BENCH_DIR / "_baselines.py"),
        "insert",
        str(len(sample)),
        "--database",
        f"sqlite:///{database}",
        "--threads",
        str(args.concurrency),
        "--warmup",
        str(args.warmup),
        "--duration",
        str(args.duration),
    ]
    proc = children.start("insert-baseline", argv, pipe_stdout=True, role="server")
    out, _ = proc.communicate(timeout=args.warmup + args.duration + LOAD_GRACE)
    if proc.returncode != 0:
        raise BenchError(
            f"insert baseline failed ({proc.returncode}):\n{children.tail('insert-baseline')}"
        )
    done = json.loads(out.decode().strip().splitlines()[-1])
    return Run(
        transport="-",
        label="bare durable insert (SQLite)",
        rps=done["rps"],
        p50_ms=done["p50_ms"],
        p99_ms=done["p99_ms"],
        requests=done["requests"],
        errors=0,
        timeouts=0,
        elapsed_s=done["elapsed_s"],
        server=None,
        client_cpu_s=done["cpu_s"],
    )


def part_import(args: argparse.Namespace) -> list[dict[str, float]]:
    """bench_import.py --json: per format and file size, the gateway's and the minimum
    pipeline's records per second and peak memory, measured one after the other."""
    argv = [sys.executable, str(BENCH_DIR / "bench_import.py"), "--json"]
    argv += ["--records", str(args.import_records)]
    done = subprocess.run(argv, capture_output=True, timeout=3600, cwd=BENCH_DIR)
    if done.returncode != 0:
        raise BenchError(f"bench_import.py failed ({done.returncode}):\n{done.stderr.decode()}")
    print(done.stdout.decode().rstrip())
    figures: list[dict[str, float]] = json.loads(done.stdout.decode().splitlines()[-1])["figures"]
    return figures


def part_profile(
    children: Children, servers: Servers, setup: Setup, sizes: Probe, args: argparse.Namespace
) -> None:
    """One more run per transport and credential with py-spy sampling the gateway's GIL
    holder (100 Hz, collapsed stacks into --profile), summarized as bench_get_profile.py does."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise BenchError("py-spy is not installed: `.venv/bin/pip install py-spy`")
    args.profile.mkdir(parents=True, exist_ok=True)
    gateway = servers.targets["gateway"]
    for transport in args.transports:
        for mode in ("mtls", "dpop"):
            output = args.profile / f"{transport.lower()}-{mode}.txt"
            argv = [py_spy, "record", "--pid", str(gateway.pid), "--gil", "--rate", "100"]
            argv += ["--duration", str(max(1, args.warmup + args.duration - 1))]
            argv += ["--format", "raw", "--output", str(output)]
            spy = children.start(f"py-spy-{transport}-{mode}", argv)
            run, _ = load(
                children,
                servers,
                setup,
                args,
                transport=transport,
                role="gateway",
                mode=mode,
                expect_size=sizes.grpc_size if transport == "gRPC" else sizes.rest_size,
                prepared=math.ceil(HEADROOM * FIRST_GUESS_RPS * (args.warmup + args.duration)),
            )
            spy.wait(LOAD_GRACE)
            print(f"\n== py-spy, {transport} {mode} ({run.rps:,.0f} /s while sampled): {output}")
            print("\n".join(summarize_stacks(output, args.profile_top)))


def _labelled(run: Run, label: str) -> Run:
    from dataclasses import replace

    return replace(run, label=label)


# -- report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    figure: str
    measured: str
    reference: str
    ratio: float
    spread: str  # the per-round ratios' range
    goal: str
    met: bool | None  # None: no goal


def ratio_row(
    figure: str,
    results: list[Result],
    transport: str,
    mode: str,
    reference_mode: str,
    *,
    value: str = "rps",
    goal: float | None = None,
    at_most: bool = False,
) -> Row | None:
    """Medians of ``mode`` and ``reference_mode`` on ``transport`` and their ratio, with the
    range of the per-round ratios (round n of one against round n of the other)."""
    ours = [r.run for r in results if r.mode == mode and r.transport == transport]
    theirs = [
        r.run for r in results if r.mode == reference_mode and r.transport in (transport, "-")
    ]
    if not ours or not theirs:
        return None
    pick = {
        "rps": lambda run: run.rps,
        "p99": lambda run: run.p99_ms,
        "cpu": lambda run: run.server_cpu_us_per_request,
    }[value]
    unit = {"rps": " /s", "p99": " ms", "cpu": " us"}[value]
    a, b = _median(pick(r) for r in ours), _median(pick(r) for r in theirs)
    ratio = a / b if b else math.nan
    rounds = [pick(x) / pick(y) for x, y in zip(ours, theirs, strict=False) if pick(y)]
    spread = f"{min(rounds):.2f}-{max(rounds):.2f}" if len(rounds) > 1 else ""
    met = None if goal is None else (ratio <= goal if at_most else ratio >= goal)
    goal_text = "" if goal is None else f"{'<=' if at_most else '>='} {goal:g}"
    spec = ",.0f" if value != "p99" else ".1f"
    return Row(figure, _fmt(a, spec, unit), _fmt(b, spec, unit), ratio, spread, goal_text, met)


def summary_rows(results: list[Result], imports: list[dict[str, float]]) -> list[Row]:
    rows: list[Row | None] = []
    for transport in TRANSPORTS:
        rows.append(
            ratio_row(
                f"GetProfile {transport}, mTLS-bound token / bare echo",
                results,
                transport,
                "mtls",
                "echo",
                goal=GOALS[f"mtls/echo {transport}"],
            )
        )
    for transport in TRANSPORTS:
        rows.append(
            ratio_row(
                f"GetProfile {transport}, DPoP / mTLS-bound token",
                results,
                transport,
                "dpop",
                "mtls",
                goal=GOALS["dpop/mtls"],
            )
        )
    for transport in TRANSPORTS:
        for mode in ("mtls", "dpop"):
            rows.append(
                ratio_row(
                    f"p99 {transport} {mode} / bare echo p99",
                    results,
                    transport,
                    mode,
                    "echo",
                    value="p99",
                    goal=GOALS["p99/echo p99"],
                    at_most=True,
                )
            )
    for transport in TRANSPORTS:
        rows.append(
            ratio_row(
                f"server CPU per call {transport}, 2 workers / 1",
                results,
                transport,
                "w2",
                "w1",
                value="cpu",
                goal=GOALS["cpu 2w/1w"],
                at_most=True,
            )
        )
    for transport in TRANSPORTS:
        rows.append(
            ratio_row(
                f"PublishProfile {transport} / bare durable insert",
                results,
                transport,
                "publish",
                "insert",
            )
        )
    largest = max((figure["records"] for figure in imports), default=0)
    for figure in (f for f in imports if f["records"] == largest):
        ratio = figure["ratio"]
        rows.append(
            Row(
                f"import {figure['format']} ({figure['records']:,.0f}) / minimum pipeline",
                _fmt(figure["gateway_per_second"], ",.0f", " /s"),
                _fmt(figure["minimum_per_second"], ",.0f", " /s"),
                ratio,
                "",
                f">= {GOALS['import/minimum']:g}",
                ratio >= GOALS["import/minimum"],
            )
        )
    for name in sorted({figure["format"] for figure in imports}):
        peaks = {f["records"]: f["gateway_peak_mib"] for f in imports if f["format"] == name}
        small, large = min(peaks), max(peaks)
        rows.append(
            Row(
                f"import {name} peak memory, {large:,.0f} / {small:,.0f} records",
                _fmt(peaks[large], ".0f", " MiB"),
                _fmt(peaks[small], ".0f", " MiB"),
                peaks[large] / peaks[small],
                "",
                "flat",
                None,
            )
        )
    return [row for row in rows if row is not None]


_TABLE = (
    ("figure", "<52"),
    ("measured", ">12"),
    ("reference", ">12"),
    ("ratio", ">6"),
    ("rounds", ">10"),
    ("goal", ">8"),
    ("", "<7"),
)


def print_summary(
    results: list[Result], imports: list[dict[str, float]], args: argparse.Namespace
) -> None:
    rows = summary_rows(results, imports)
    header = " ".join(format(title, spec) for title, spec in _TABLE)
    print()
    print(
        f"== issue 20: medians of {args.rounds} round(s); every ratio from runs side by side in this run"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        verdict = "" if row.met is None else ("met" if row.met else "NOT met")
        cells = (
            row.figure,
            row.measured,
            row.reference,
            _fmt(row.ratio, ".2f"),
            row.spread,
            row.goal,
            verdict,
        )
        print(" ".join(format(cell, spec) for cell, (_, spec) in zip(cells, _TABLE, strict=True)))
    print()
    echo_client = [r.run for r in results if r.mode == "echo"]
    for transport in TRANSPORTS:
        runs = [r for r in echo_client if r.transport == transport]
        if runs:
            share = _median(r.cpu_share(r.client_cpu_s) for r in runs)
            print(
                f"load generator, {transport}: {_fmt(share, '.0%')} of a core while driving the bare"
                f" echo at {_median(r.rps for r in runs):,.0f} /s, more than any gateway run above"
                " asked of it: it is not what limits the gateway."
            )
    short = [r for r in results if r.out_of_prepared]
    for result in short:
        print(
            f"note: {result.run.label} ({result.transport}) ran out of prepared proofs or"
            f" publications: measured for {result.run.elapsed_s:.1f} s instead of {args.duration} s"
        )


def print_header(args: argparse.Namespace, sizes: Probe | None, servers: Servers) -> None:
    dists = ("grpcio", "uvicorn", "PyJWT", "cryptography", "SQLAlchemy")
    print(f"command:   {shlex.join([sys.executable, *sys.argv])}")
    print(f"python:    {platform.python_implementation()} {platform.python_version()}")
    print(f"cpus:      {os.cpu_count()}; {platform.platform()}")
    print(f"packages:  {', '.join(f'{d} {_version(d)}' for d in dists)}")
    print(
        f"load:      bench/_auth_load.py in its own process, mutual TLS with the partner's"
        f" certificate, {args.concurrency} calls in flight; {args.warmup} s warm-up +"
        f" {args.duration} s measured per run; {args.rounds} round(s)"
    )
    if sizes is not None:
        print(
            f"answers:   GetProfile gRPC {sizes.grpc_size} bytes, REST {sizes.rest_size} bytes:"
            " the same signed profile over both transports and both credentials, checked first;"
            " the bare echoes answer as many bytes"
        )
    print("processes: " + ", ".join(f"{t.label} pid {t.pid}" for t in servers.targets.values()))
    print()


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s warm-up + 2 s runs")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS + EXTRA_PARTS)}"
    )
    parser.add_argument("--transports", default="gRPC,REST", help="gRPC, REST or both")
    parser.add_argument("--rounds", type=int, help="rounds (default 3)")
    parser.add_argument("--duration", type=int, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds before each run (default 2)")
    parser.add_argument("--concurrency", type=int, default=64, help="calls in flight (default 64)")
    parser.add_argument(
        "--import-records", type=int, help="records per import file (default 20,000; quick 2,000)"
    )
    parser.add_argument(
        "--profile", type=Path, help="then profile the gateway with py-spy (stacks into DIR)"
    )
    parser.add_argument("--profile-top", type=int, default=20, help="functions per py-spy list")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    args.duration = args.duration if args.duration is not None else (2 if quick else 8)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
    if args.import_records is None:
        args.import_records = 2_000 if quick else 20_000
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    args.transports = [name for name in TRANSPORTS if name.lower() in args.transports.lower()]
    if unknown := set(args.parts) - set(PARTS + EXTRA_PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--rounds, --duration and --concurrency must be at least 1")
    if args.warmup + args.duration > 40:  # DPoP proofs are signed first and expire at 60 s
        parser.error("--warmup plus --duration must stay within 40 s")
    return args


def bench(args: argparse.Namespace, workdir: Path) -> int:
    children = Children(workdir)
    servers = Servers()
    results: list[Result] = []
    imports: list[dict[str, float]] = []
    try:
        served = {"calls", "workers", "publish", "costs"} & set(args.parts) or args.profile
        sizes = None
        if served:
            setup = prepare(workdir)
            start_gateway(children, servers, "gateway", setup, workers=1)
            sizes = probe(servers, setup, "gateway")
            if "calls" in args.parts:
                start_echo(children, servers, "grpc", sizes.grpc_size, setup)
                start_echo(children, servers, "rest", sizes.rest_size, setup)
            if "workers" in args.parts:
                start_gateway(children, servers, "gateway-2", setup, workers=2)
                if probe(servers, setup, "gateway-2") != sizes:
                    raise BenchError("the two-worker gateway answered other bytes")
            if "costs" in args.parts:
                start_knockouts(children, servers, setup, sizes)
        print_header(args, sizes, servers)
        if "calls" in args.parts:
            results += part_calls(children, servers, setup, sizes, args)
        if "workers" in args.parts:
            results += part_workers(children, servers, setup, sizes, args)
        if "publish" in args.parts:
            results += part_publish(children, servers, setup, workdir, args)
        if "import" in args.parts:
            imports = part_import(args)
        if "costs" in args.parts:
            results += part_costs(children, servers, setup, sizes, args)
        print_summary(results, imports, args)
        print_costs(results)
        if args.profile:
            part_profile(children, servers, setup, sizes, args)
        failed = [r.run for r in results if r.run.errors or r.run.timeouts or not r.run.requests]
        for run in failed:
            print(
                f"ERROR: {run.label} ({run.transport}): {run.requests} answered, {run.errors} failed,"
                f" {run.timeouts} timed out; first error: {run.first_error}"
            )
        return 1 if failed else 0
    finally:
        children.close()


def main(argv: Sequence[str] | None = None) -> int:
    return run_bench("bench_real", bench, parse_args(argv), (AuthError, subprocess.SubprocessError))


if __name__ == "__main__":
    sys.exit(main())
