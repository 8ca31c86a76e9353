"""What observing every request costs (issue 16): logs, metrics and traces on a signed GetProfile,
against the gateway as it was before it had them.

    .venv/bin/python bench/bench_observe.py              # 6 rounds, 1 s warm-up + 5 s per run
    .venv/bin/python bench/bench_observe.py --quick      # 1 round, 1 s + 2 s: a smoke run
    .venv/bin/python bench/bench_observe.py --before ''  # without the earlier gateway
    (bench/README.md, section bench_observe.py, explains the set-up and the figures)

Five open gateways (bench/_open_gateway.py: admission off, as in bench_get_profile.py), each its
own process on 127.0.0.1, measured in turn under the same load, round after round (each round
begins with the next one):

  before           the gateway at commit --before (default cca6a44, the last before issue 16: no
                   request line, no metrics, no spans), taken with ``git archive`` and run from
                   its own tree on its own database, seeded by its own ``cxg demo``;
  logs off         this gateway with CXG_LOG_LEVEL=warning: metrics, no request line, no tracing;
  logs on          this gateway as deployed by default: one JSON line per request on stderr (a
                   file here), metrics, no tracing;
  traced, all      logs on, and every request traced (OTEL_TRACES_SAMPLER=always_on) and
                   exported over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT) to bench/_otlp_sink.py,
                   which counts what arrives;
  traced, 1 in 10  the same with OTEL_TRACES_SAMPLER=traceidratio, OTEL_TRACES_SAMPLER_ARG=0.1.

Printed: each run, the medians per gateway and transport, and throughput ratios as the median of
the rounds' ratios (logs on / before is issue 16's "within 3% of today, tracing off"); then the
request lines each gateway wrote and the spans the sink received. It measures and never asserts:
the exit status is non-zero only when something could not be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench_get_profile import (
    _BASELINE_LISTENING,
    BENCH_DIR,
    HOST,
    BenchError,
    Children,
    LoadSettings,
    Probe,
    Run,
    Target,
    _fmt,
    _median,
    gateway_env,
    http_get,
    measure,
    print_run,
    probe_gateway,
    resolve_wrk,
    run_bench,
    seed_demo,
    start_open_gateway,
    wait_for_log,
)

BEFORE = "cca6a44"  # the last commit before issue 16's observation
TARGET_RATIO = 0.97  # issue 16: tracing off, GetProfile throughput within 3% of before
REQUEST_LINE = b'"logger":"cxg.request"'
LOGS_OFF, LOGS_ON, TRACED, SAMPLED = "logs off", "logs on", "traced, all", "traced, 1 in 10"


@dataclass
class Gateway:
    """One gateway under test: its settings, and once started, where to reach it."""

    label: str
    env: dict[str, str]
    tree: Path | None = None  # another checkout's code, for "before"
    logs_requests: bool | None = False  # None: not checked (an earlier commit may or may not)
    target: Target | None = None
    probe: Probe | None = None
    log: Path = field(default=Path())


def export_before(workdir: Path, rev: str) -> Path | None:
    """The gateway's files at ``rev`` in a folder of their own, or None (said) when git or that
    commit is not there, as in a shallow clone."""
    tree = workdir / f"tree-{rev}"
    try:
        archive = subprocess.run(
            ["git", "-C", str(BENCH_DIR.parent), "archive", rev],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
        tree.mkdir()
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"NOTE: no 'before' gateway: cannot export commit {rev!r} ({exc})")
        return None
    # Its code must come first, before this checkout's installed one.
    imported = subprocess.run(
        [sys.executable, "-c", "import gateway; print(gateway.__file__)"],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=workdir,  # as the gateway runs: not from this checkout's folder
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    if not imported.startswith(str(tree)):
        raise BenchError(f"the code at {rev} is not what runs: gateway from {imported!r}")
    return tree


def without_otel(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if not key.startswith("OTEL_")}


def plan(args: argparse.Namespace, workdir: Path, sink_port: int) -> list[Gateway]:
    env = without_otel(gateway_env(workdir))
    seed_demo(workdir, env)
    gateways = []
    tree = export_before(workdir, args.before) if args.before else None
    if tree is not None:
        before_dir = workdir / "before"
        before_dir.mkdir()
        before_env = without_otel(gateway_env(before_dir))
        seed_demo(before_dir, before_env, tree=tree)
        before = Gateway(f"before ({args.before})", before_env, tree=tree, logs_requests=None)
        gateways.append(before)
    on = {**env, "CXG_LOG_FORMAT": "json", "CXG_LOG_LEVEL": "info"}
    traced = {**on, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{HOST}:{sink_port}"}
    gateways += [
        Gateway(LOGS_OFF, {**env, "CXG_LOG_LEVEL": "warning"}),
        Gateway(LOGS_ON, on, logs_requests=True),
        Gateway(TRACED, {**traced, "OTEL_TRACES_SAMPLER": "always_on"}, logs_requests=True),
        Gateway(
            SAMPLED,
            {**traced, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
            logs_requests=True,
        ),
    ]
    return gateways


def start(children: Children, gateway: Gateway) -> None:
    name = "gateway-" + "-".join(gateway.label.split(" (")[0].replace(",", "").split())
    proc, grpc_port, rest_port = start_open_gateway(children, name, gateway.env, tree=gateway.tree)
    gateway.log = children.log(name)
    gateway.probe = probe_gateway(grpc_port, rest_port, "id")
    gateway.target = Target(
        gateway.label,
        proc.pid,
        f"{HOST}:{grpc_port}",
        f"http://{HOST}:{rest_port}{gateway.probe.rest_path}",
    )
    logged = request_lines(gateway.log) > 0  # after the probe's calls
    if gateway.logs_requests is not None and logged != gateway.logs_requests:
        raise BenchError(f"{gateway.label}: request lines were {'not ' * gateway.logs_requests}")


def request_lines(log: Path) -> int:
    """The request lines a gateway has written, read in blocks (its log can be large)."""
    count, tail = 0, b""
    with log.open("rb") as lines:
        while block := lines.read(1 << 20):
            block = tail + block
            count += block.count(REQUEST_LINE)
            tail = block[-len(REQUEST_LINE) + 1 :]
    return count


def sink_counts(port: int) -> dict[str, int]:
    counted: dict[str, int] = json.loads(http_get(f"http://{HOST}:{port}/count"))
    return counted


Runs = dict[tuple[int, str, str], Run]  # by round, transport and gateway label


def print_summary(args: argparse.Namespace, gateways: list[Gateway], runs: Runs) -> None:
    header = (
        f"{'transport':<9} {'gateway':<22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'srv CPU/req':>11} {'errors':>6}"
    )
    print()
    print(f"Medians of {args.rounds} round(s); srv = the gateway process over the measured window.")
    print(header)
    print("-" * len(header))
    for transport in args.transports:
        for gateway in gateways:
            group = [
                r for (_, t, label), r in runs.items() if (t, label) == (transport, gateway.label)
            ]
            print(
                f"{transport:<9} {gateway.label:<22} {statistics.median(r.rps for r in group):>7,.0f}"
                f" {_fmt(_median(r.p50_ms for r in group), '.2f'):>7}"
                f" {_fmt(_median(r.p99_ms for r in group), '.2f'):>7}"
                f" {_fmt(_median(r.server_cpu_us_per_request for r in group), '.0f', ' us'):>11}"
                f" {sum(r.errors for r in group):>6}"
            )
    comparisons = [
        (LOGS_ON, LOGS_OFF, "what the request lines cost"),
        (TRACED, LOGS_ON, "what tracing every request costs"),
        (SAMPLED, LOGS_ON, "what tracing one request in ten costs"),
    ]
    if gateways[0].tree is not None:
        before = gateways[0].label
        comparisons[:0] = [
            (LOGS_ON, before, f"issue 16 target >= {TARGET_RATIO}"),
            (LOGS_OFF, before, "metrics only"),
        ]
    print()
    print("throughput ratios, the median of each round's ratio (the two runs minutes apart at")
    print("most, so the machine's drift cancels) and their range; reported, not enforced:")
    for transport in args.transports:
        for upper, lower, meaning in comparisons:
            ratios = sorted(
                runs[n, transport, upper].rps / runs[n, transport, lower].rps
                for n in range(1, args.rounds + 1)
            )
            print(
                f"   {transport:<4} {upper} / {lower}: {statistics.median(ratios):.3f}"
                f" ({ratios[0]:.3f} to {ratios[-1]:.3f})  {meaning}"
            )


def bench(args: argparse.Namespace, workdir: Path) -> int:
    load = LoadSettings(
        concurrency=args.concurrency,
        warmup=args.warmup,
        duration=args.duration,
        max_requests=2_000_000,
        wrk=resolve_wrk(args.rest_client),
        wrk_threads=2,
    )
    children = Children(workdir)
    try:
        sink = children.start("otlp-sink", [sys.executable, str(BENCH_DIR / "_otlp_sink.py")])
        sink_port = int(wait_for_log(children, "otlp-sink", sink, _BASELINE_LISTENING).group(1))
        gateways = plan(args, workdir, sink_port)
        for gateway in gateways:
            start(children, gateway)
        print("== signed GetProfile, open gateway (admission off): what observing requests costs")
        print(
            f"   {load.concurrency} in flight; {load.warmup} s warm-up + {load.duration} s measured"
            f" per run; {args.rounds} round(s), the gateways in turn, each round from the next"
        )
        for gateway in gateways:
            assert gateway.target is not None and gateway.probe is not None
            print(
                f"   {gateway.label:<22} pid {gateway.target.pid}: gRPC answer"
                f" {gateway.probe.grpc_size} bytes, REST {gateway.probe.rest_size} bytes"
            )
        runs: Runs = {}
        for round_no in range(1, args.rounds + 1):
            # Each round starts with the next gateway: none is always first after a pause.
            turn = (round_no - 1) % len(gateways)
            for transport in args.transports:
                for gateway in gateways[turn:] + gateways[:turn]:
                    assert gateway.target is not None and gateway.probe is not None
                    run = measure(children, transport, gateway.target, gateway.probe, load)
                    runs[round_no, transport, gateway.label] = run
                    print_run(round_no, run)
        print_summary(args, gateways, runs)
        print()
        for gateway in gateways:
            print(f"   {gateway.label:<22} request lines written: {request_lines(gateway.log):,}")
        received = sink_counts(sink_port)
        print(
            f"   spans the OTLP sink received: {received['spans']:,} in {received['exports']:,}"
            f" exports, {received['bytes']:,} bytes (the exporter drops spans when its queue of"
            " 2,048 is full)"
        )
        failed = [r for r in runs.values() if r.errors]
        for run in failed:
            print(f"ERROR: {run.transport} {run.label}: {run.errors} failed: {run.first_error}")
        return 1 if failed else 0
    finally:
        children.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s warm-up + 2 s")
    parser.add_argument("--rounds", type=int, help="rounds of all gateways (default 6)")
    parser.add_argument("--duration", type=int, help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds per run (default 1)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument(
        "--before",
        default=BEFORE,
        help=f"commit of the gateway to compare with (default {BEFORE}; '' for none)",
    )
    parser.add_argument("--transports", choices=["both", "grpc", "rest"], default="both")
    parser.add_argument("--rest-client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 6)
    args.duration = args.duration or (2 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else 1
    args.transports = {"both": ["gRPC", "REST"], "grpc": ["gRPC"], "rest": ["REST"]}[
        args.transports
    ]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_bench("bench_observe", bench, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
