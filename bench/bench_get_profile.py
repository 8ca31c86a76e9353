"""Signed GetProfile throughput and latency over gRPC and REST: the gateway against bare baselines.

    .venv/bin/python bench/bench_get_profile.py            # 3 rounds, 2 s warm-up + 8 s per run
    .venv/bin/python bench/bench_get_profile.py --quick    # 1 round, 1 s + 2 s: a smoke run

Seeds the demo into a temporary SQLite database, then starts three servers, each in its own
process on 127.0.0.1: the gateway (``cxg serve``, gRPC and REST in one process), a bare grpcio
echo and a bare FastAPI echo, the echoes answering with prebuilt payloads of exactly the
gateway's response sizes. Load comes from yet another process: a grpc.aio client with
--concurrency requests in flight, and ``wrk`` for REST (a Python client when wrk is missing).
Runs alternate baseline and gateway, round after round; the table shows medians and the ratio
gateway/baseline of throughput per transport. It measures and never asserts: the exit status is
non-zero only when something failed (a server did not start, a response was wrong).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
DEMO_SCHEME, DEMO_VALUE = "CN_USCC", "91370200MA3C5QH2X4"
GRPC_METHOD = "/cxg.v1.ProfileService/GetProfile"
BASELINE_REST_PATH = "/v1/profiles:lookup"  # as bench/_baselines.py
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0
# Beyond warm-up plus duration, how long a load generator may take before it is killed.
LOAD_GRACE = 60.0
WRK_INSTALL_HINT = "install it with `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`"

_BASELINE_LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
_GATEWAY_LISTENING = re.compile(rb"gRPC on 127\.0\.0\.1:(\d+), REST on http://127\.0\.0\.1:(\d+)")

# Every child runs through this launcher: it asks Linux to SIGTERM the child should this process
# die without cleaning up (PR_SET_PDEATHSIG survives exec), then execs the real command.
_LAUNCHER = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("bench: parent exited before the child started")
os.execvp(sys.argv[2], sys.argv[2:])
"""


class BenchError(Exception):
    """The benchmark could not measure: a server did not start, a response was wrong."""


# -- subprocesses ------------------------------------------------------------------------------


class Children:
    """Every process this run starts, each in its own session (Ctrl-C reaches only us) with its
    output in ``workdir/NAME.log``; ``close()`` ends whatever is still running."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._running: list[subprocess.Popen[bytes]] = []

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        pipe_stdout: bool = False,
    ) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipe_stdout else log,
                stderr=log,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )
        self._running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if proc in self._running:
            self._running.remove(proc)

    def close(self) -> None:
        for proc in reversed(list(self._running)):
            self.stop(proc)

    def tail(self, name: str, lines: int = 30) -> str:
        try:
            text = self.log(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(f"    | {line}" for line in text.splitlines()[-lines:])


def wait_for_log(
    children: Children, name: str, proc: subprocess.Popen[bytes], pattern: re.Pattern[bytes]
) -> re.Match[bytes]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        match = pattern.search(children.log(name).read_bytes())
        if match:
            return match
        if proc.poll() is not None:
            raise BenchError(f"{name} exited with status {proc.returncode}:\n{children.tail(name)}")
        time.sleep(0.05)
    raise BenchError(f"{name} did not start within {START_TIMEOUT:.0f} s:\n{children.tail(name)}")


def proc_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process, all threads (Linux /proc); None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- servers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One server under load: where to send each transport's requests, and its process."""

    label: str
    pid: int
    grpc_target: str = ""
    rest_url: str = ""


@dataclass(frozen=True)
class Probe:
    """What the gateway answers for the demo company, measured before any load."""

    grpc_request: bytes
    grpc_size: int
    rest_path: str
    rest_size: int
    profile_name: str


def cxg_executable() -> str:
    beside = Path(sys.executable).with_name("cxg")
    found = str(beside) if beside.exists() else shutil.which("cxg")
    if found is None:
        raise BenchError(
            "the `cxg` command is not installed: run `.venv/bin/pip install -e .` first"
        )
    return found


def gateway_env(workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CXG_")}
    env.update(
        CXG_KEYS_DIR=str(workdir / "keys"),
        CXG_DATABASE_URL=f"sqlite:///{workdir / 'cxg.db'}",
        CXG_HOST=HOST,
        CXG_GRPC_PORT="0",
        CXG_REST_PORT="0",
    )
    return env


def seed_demo(workdir: Path, env: dict[str, str]) -> None:
    # `cxg demo` binds both ports even with --no-serve, hence port 0 in the environment.
    done = subprocess.run(
        [cxg_executable(), "demo", "--no-serve"],
        env=env,
        cwd=workdir,
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchError(
            f"cxg demo --no-serve failed ({done.returncode}):\n{done.stderr.decode(errors='replace')}"
        )


def start_gateway(
    children: Children, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], int, int]:
    proc = children.start("gateway", [cxg_executable(), "serve"], env=env)
    match = wait_for_log(children, "gateway", proc, _GATEWAY_LISTENING)
    grpc_port, rest_port = int(match.group(1)), int(match.group(2))
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            http_get(f"http://{HOST}:{rest_port}/healthz")
            break
        except (OSError, BenchError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    f"gateway /healthz never answered 200:\n{children.tail('gateway')}"
                ) from None
            time.sleep(0.1)
    return proc, grpc_port, rest_port


def start_baseline(children: Children, kind: str, size: int) -> tuple[subprocess.Popen[bytes], int]:
    name = f"baseline-{kind}"
    proc = children.start(name, [sys.executable, str(BENCH_DIR / "_baselines.py"), kind, str(size)])
    return proc, int(wait_for_log(children, name, proc, _BASELINE_LISTENING).group(1))


def http_get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise BenchError(f"GET {url}: HTTP {exc.code}: {exc.read()[:300]!r}") from exc
    return body


def grpc_call(target: str, request: bytes) -> bytes:
    import grpc

    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=START_TIMEOUT)
        try:
            response: bytes = channel.unary_unary(GRPC_METHOD)(request, timeout=REQUEST_TIMEOUT)
        except grpc.RpcError as exc:
            raise BenchError(
                f"gRPC {GRPC_METHOD} on {target}: {exc.code().name}: {exc.details()}"
            ) from exc
    return response


def probe_gateway(grpc_port: int, rest_port: int, by: str) -> Probe:
    """One request per transport; checks both carry the same signed profile, and takes sizes."""
    from gateway.schema.cxg.v1 import profile_service_pb2 as pb

    lookup = "/v1/profiles:lookup?" + urllib.parse.urlencode(
        {"scheme": DEMO_SCHEME, "value": DEMO_VALUE}
    )
    document = json.loads(http_get(f"http://{HOST}:{rest_port}{lookup}"))
    if not isinstance(document, dict) or not document.get("jws") or "profile" not in document:
        raise BenchError(f"REST lookup did not answer a SignedProfile: {str(document)[:300]}")
    name = document["profile"]["name"]
    if by == "name":
        rest_path = "/v1/profiles/" + name.removeprefix("profiles/")
        request = pb.GetProfileRequest(name=name)
    else:
        rest_path = lookup
        request = pb.GetProfileRequest(id={"scheme": DEMO_SCHEME, "value": DEMO_VALUE})
    body = http_get(f"http://{HOST}:{rest_port}{rest_path}")
    raw = grpc_call(f"{HOST}:{grpc_port}", request.SerializeToString())
    signed = pb.SignedProfile.FromString(raw)
    if signed.jws != document["jws"] or json.loads(body)["jws"] != document["jws"]:
        raise BenchError("gRPC and REST served different JWS for the demo company")
    return Probe(request.SerializeToString(), len(raw), rest_path, len(body), name)


# -- load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    transport: str
    server: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    timeouts: int
    elapsed_s: float
    server_cpu_s: float | None
    client_cpu_s: float | None
    first_error: str | None = None

    @property
    def server_cpu_us_per_request(self) -> float:
        if self.server_cpu_s is None or not self.requests:
            return math.nan
        return self.server_cpu_s / self.requests * 1e6

    def cpu_share(self, seconds: float | None) -> float:
        """CPU seconds over the window, as a fraction of one core."""
        return seconds / self.elapsed_s if seconds is not None and self.elapsed_s > 0 else math.nan


@dataclass(frozen=True)
class LoadSettings:
    concurrency: int
    warmup: int
    duration: int
    max_requests: int
    wrk: str | None  # None: the Python REST client
    wrk_threads: int


def load_python(
    children: Children, transport: str, target: Target, probe: Probe, load: LoadSettings
) -> Run:
    kind = "grpc" if transport == "gRPC" else "rest"
    argv = [
        sys.executable,
        str(BENCH_DIR / "_load.py"),
        kind,
        target.grpc_target if kind == "grpc" else target.rest_url,
        "--expect-size",
        str(probe.grpc_size if kind == "grpc" else probe.rest_size),
        "--concurrency",
        str(load.concurrency),
        "--warmup",
        str(load.warmup),
        "--duration",
        str(load.duration),
        "--max-requests",
        str(load.max_requests),
        "--timeout",
        str(REQUEST_TIMEOUT),
    ]
    if kind == "grpc":
        argv += ["--request-hex", probe.grpc_request.hex()]
    name = f"load-{kind}"
    proc = children.start(name, argv, pipe_stdout=True)
    killer = threading.Timer(load.warmup + load.duration + LOAD_GRACE, proc.kill)
    killer.start()
    marks: dict[str, float | None] = {}
    result: dict[str, Any] | None = None
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode().strip()
            if line in ("measure-start", "measure-end"):
                marks[line] = proc_cpu_seconds(target.pid)
            elif line.startswith("{"):
                result = json.loads(line)
        proc.wait()
    finally:
        killer.cancel()
        children.stop(proc)
    if proc.returncode != 0 or result is None:
        raise BenchError(
            f"load generator failed ({proc.returncode}) against {target.label}:\n{children.tail(name)}"
        )
    start, end = marks.get("measure-start"), marks.get("measure-end")
    return Run(
        transport=transport,
        server=target.label,
        rps=result["rps"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        requests=result["requests"],
        errors=result["errors"],
        timeouts=result["timeouts"],
        elapsed_s=result["elapsed_s"],
        server_cpu_s=end - start if start is not None and end is not None else None,
        client_cpu_s=result["client_cpu_s"],
        first_error=result["first_error"],
    )


_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_WRK_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def load_wrk(children: Children, target: Target, load: LoadSettings) -> Run:
    assert load.wrk is not None
    common = [
        load.wrk,
        f"-t{load.wrk_threads}",
        f"-c{load.concurrency}",
        f"--timeout={REQUEST_TIMEOUT:.0f}s",
    ]
    if load.warmup:
        warm = children.start("wrk", [*common, f"-d{load.warmup}s", target.rest_url])
        try:
            warm.wait(load.warmup + LOAD_GRACE)
        finally:
            children.stop(warm)
    # wrk is the only child reaped between these two readings, so RUSAGE_CHILDREN is its CPU time.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = proc_cpu_seconds(target.pid)
    proc = children.start(
        "wrk", [*common, f"-d{load.duration}s", "--latency", target.rest_url], pipe_stdout=True
    )
    try:
        out, _ = proc.communicate(timeout=load.duration + LOAD_GRACE)
    finally:
        children.stop(proc)
    server_after = proc_cpu_seconds(target.pid)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode(errors="replace")
    with children.log("wrk").open("a") as log:
        log.write(text)
    total, rps = _WRK_TOTAL.search(text), _WRK_RPS.search(text)
    percentiles = {
        int(m.group(1)): float(m.group(2)) * _TO_MS[m.group(3)]
        for m in _WRK_PERCENTILE.finditer(text)
    }
    if proc.returncode != 0 or total is None or rps is None or set(percentiles) != {50, 99}:
        raise BenchError(
            f"wrk failed ({proc.returncode}) against {target.label}:\n{text}\n{children.tail('wrk')}"
        )
    non_2xx = _WRK_NON_2XX.search(text)
    socket_errors = _WRK_SOCKET.search(text)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    timeouts = 0
    if socket_errors:
        connect, read, write, timeouts = (int(g) for g in socket_errors.groups())
        errors += connect + read + write
    return Run(
        transport="REST",
        server=target.label,
        rps=float(rps.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        requests=int(total.group(1)),
        errors=errors,
        timeouts=timeouts,
        elapsed_s=float(total.group(2)) * _TO_MS[total.group(3)] / 1e3,
        server_cpu_s=server_after - server_before
        if server_before is not None and server_after is not None
        else None,
        client_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        first_error=f"{errors} non-2xx or socket errors (see wrk.log)" if errors else None,
    )


def measure(
    children: Children, transport: str, target: Target, probe: Probe, load: LoadSettings
) -> Run:
    if transport == "REST" and load.wrk is not None:
        return load_wrk(children, target, load)
    return load_python(children, transport, target, probe, load)


# -- profiling -----------------------------------------------------------------------------------


def profile_gateway(
    children: Children,
    out_dir: Path,
    transport: str,
    gateway: Target,
    probe: Probe,
    load: LoadSettings,
) -> tuple[Run, Path]:
    """One more gateway run with py-spy sampling the thread that holds the GIL (--gil: a Python
    server is bounded by it), written as collapsed stacks; the samples include the warm-up."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise BenchError("py-spy is not installed: `.venv/bin/pip install py-spy`")
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"gateway-{transport.lower()}.txt"
    name = f"py-spy-{transport.lower()}"
    # Started here rather than after the warm-up: children must be started by the main thread
    # (PR_SET_PDEATHSIG fires when the starting thread ends). Stops a second before the load does.
    seconds = max(1, load.warmup + load.duration - 1)
    argv = [
        py_spy,
        "record",
        "--pid",
        str(gateway.pid),
        "--duration",
        str(seconds),
        "--rate",
        "100",
    ]
    argv += ["--gil", "--format", "raw", "--output", str(output)]
    spy = children.start(name, argv)
    try:
        run = measure(children, transport, gateway, probe, load)
        spy.wait(LOAD_GRACE)
    finally:
        children.stop(spy)
    if spy.returncode != 0 or not output.exists():
        raise BenchError(f"py-spy failed ({spy.returncode}):\n{children.tail(name)}")
    return run, output


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def summarize_stacks(path: Path, top: int) -> list[str]:
    """The functions with most samples, inclusive (anywhere on the stack) and self (innermost
    Python frame, so time in C called from it counts there), and self time by package."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = []
        for raw in stack.split(";"):
            match = _FRAME.match(raw)
            frames.append((match.group("function"), match.group("file")) if match else (raw, ""))
        for function, file in set(frames):
            inclusive[f"{function} ({file})"] += samples
        function, file = frames[-1]
        own[f"{function} ({file})"] += samples
        by_package[_package(file)] += samples
    if not total:
        return ["    (no samples)"]
    lines = [f"    {total} samples with the GIL held"]
    for title, counter in (
        ("self, by package", by_package),
        ("self", own),
        ("inclusive", inclusive),
    ):
        lines.append(f"    top {top} {title}:")
        lines += [f"      {n / total:6.1%}  {key}" for key, n in counter.most_common(top)]
    return lines


def _package(file: str) -> str:
    parts = file.split("/")
    if parts[0] == "gateway" and len(parts) > 2:
        return "/".join(parts[:2])
    if len(parts) > 1:
        return parts[0]
    return f"stdlib {file.removesuffix('.py')}" if file.endswith(".py") else file or "?"


# -- report --------------------------------------------------------------------------------------


def _fmt(value: float, spec: str) -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def print_header(
    args: argparse.Namespace, load: LoadSettings, probe: Probe, pids: dict[str, int]
) -> None:
    versions = ", ".join(
        f"{dist} {_version(dist)}"
        for dist in ("grpcio", "fastapi", "starlette", "uvicorn", "uvloop", "httptools")
    )
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"command:     {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"python:      {platform.python_implementation()} {platform.python_version()} ({sys.executable})"
    )
    print(
        f"cpus:        {os.cpu_count()} (usable by this process: {affinity}); {platform.platform()}"
    )
    print(f"packages:    {versions}")
    if load.wrk is not None:
        print(f"REST client: {_wrk_version(load.wrk)}, {load.wrk_threads} threads")
    else:
        print(
            "REST client: httpx.AsyncClient (Python) -- WARNING: the client, not the server, is the bottleneck;"
        )
        print(
            f"             REST figures are far below what the servers can do. For real ones, {WRK_INSTALL_HINT}."
        )
    print("gRPC client: grpc.aio, one channel, bytes in and out (no protobuf work on the client)")
    print(
        f"load:        {load.concurrency} requests in flight; {load.warmup} s warm-up + {load.duration} s measured"
        f" (at most {load.max_requests:,} requests) per run; {args.rounds} round(s)"
    )
    print(
        f"request:     GetProfile by {args.by} for {DEMO_SCHEME} {DEMO_VALUE} ({probe.profile_name})"
    )
    print(
        f"responses:   gRPC SignedProfile {probe.grpc_size} bytes serialized; REST body {probe.rest_size} bytes"
        f" (GET {probe.rest_path}); the baselines answer the same sizes"
    )
    print("processes:   " + ", ".join(f"{name} pid {pid}" for name, pid in pids.items()))
    print()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def _wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "--version"], capture_output=True, timeout=10)
    text = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "wrk"


def print_run(round_no: int, run: Run) -> None:
    problems = f"  errors {run.errors}" if run.errors else ""
    problems += f"  timeouts {run.timeouts}" if run.timeouts else ""
    print(
        f"  round {round_no}  {run.transport:<4}  {run.server:<36} {run.rps:>9,.0f} req/s"
        f"  p50 {_fmt(run.p50_ms, '.2f'):>7} ms  p99 {_fmt(run.p99_ms, '.2f'):>7} ms"
        f"  server {_fmt(run.server_cpu_us_per_request, '.0f'):>5} us CPU/req{problems}",
        flush=True,
    )


def print_summary(runs: list[Run], rounds: int, rest_client_is_python: bool) -> None:
    header = (
        f"{'transport':<9}  {'server':<36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'srv CPU/req':>11} {'srv CPU':>8} {'client CPU':>10} {'errors':>7}"
    )
    print()
    print(f"Medians of {rounds} round(s); CPU is per cent of one core over the measured window.")
    print(header)
    print("-" * len(header))
    medians: dict[tuple[str, str], float] = {}
    for transport in ("gRPC", "REST"):
        for label in _labels(runs, transport):
            group = [r for r in runs if r.transport == transport and r.server == label]
            rps = statistics.median(r.rps for r in group)
            medians[transport, "gateway" if label.startswith("gateway") else "baseline"] = rps
            p50 = statistics.median(r.p50_ms for r in group)
            p99 = statistics.median(r.p99_ms for r in group)
            cpu_req = _median_or_nan(r.server_cpu_us_per_request for r in group)
            srv = _median_or_nan(r.cpu_share(r.server_cpu_s) for r in group)
            cli = _median_or_nan(r.cpu_share(r.client_cpu_s) for r in group)
            errors = sum(r.errors for r in group)
            print(
                f"{transport:<9}  {label:<36} {rps:>9,.0f} {_fmt(p50, '.2f'):>8} {_fmt(p99, '.2f'):>8}"
                f" {_fmt(cpu_req, '.0f') + ' us':>11} {_fmt(srv * 100, '.0f') + '%':>8}"
                f" {_fmt(cli * 100, '.0f') + '%':>10} {errors:>7}"
            )
    print()
    ratios = []
    for transport in ("gRPC", "REST"):
        base, gate = medians.get((transport, "baseline")), medians.get((transport, "gateway"))
        if base and gate is not None:
            ratios.append(f"{transport} {gate / base:.2f}")
    print("throughput ratio gateway/baseline: " + ",  ".join(ratios))
    print()
    print("Notes:")
    print(
        "  - The REST baseline returns a prebuilt Response object: a harder baseline than an endpoint returning"
    )
    print(
        "    a pydantic model (PERFORMANCE.md: ~9,700 vs ~6,500 req/s), so the REST ratio is a conservative one."
    )
    print(
        "  - Client and servers share this machine's CPUs. Where the baseline's client CPU is near 100%, the load"
    )
    print("    generator limits the baseline, and the gateway/baseline ratio is an upper bound.")
    if rest_client_is_python:
        print(
            f"  - WARNING: REST load came from a Python client, which is the bottleneck; {WRK_INSTALL_HINT}."
        )


def _labels(runs: list[Run], transport: str) -> list[str]:
    return list(dict.fromkeys(r.server for r in runs if r.transport == transport))


def _median_or_nan(values: Iterable[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return statistics.median(present) if present else math.nan


# -- main ----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round of 1 s warm-up + 2 s per run"
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of (baseline, gateway) per transport (default 3)"
    )
    parser.add_argument("--duration", type=int, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup", type=int, help="warm-up seconds before each run (default 2)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="requests in flight / connections, 32 to 64 (default 64)",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=2_000_000,
        help="cap on measured requests per Python-client run",
    )
    parser.add_argument("--transports", choices=["both", "grpc", "rest"], default="both")
    parser.add_argument(
        "--by",
        choices=["id", "name"],
        default="id",
        help="GetProfile by identifier (REST /v1/profiles:lookup) or by name (/v1/profiles/{id})",
    )
    parser.add_argument(
        "--rest-client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="REST load generator: wrk when on PATH (auto), or the Python client",
    )
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="afterwards, profile the gateway under the same load with py-spy (collapsed stacks into DIR)",
    )
    parser.add_argument(
        "--py-spy-top", type=int, default=15, help="functions listed per py-spy summary"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (database, logs)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    args.duration = args.duration if args.duration is not None else (2 if quick else 8)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
    if not 32 <= args.concurrency <= 64:
        parser.error("--concurrency must be between 32 and 64")
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.max_requests < 1:
        parser.error("--rounds and --duration must be at least 1, --warmup at least 0")
    if not 1 <= args.wrk_threads <= args.concurrency:
        parser.error("--wrk-threads must be between 1 and --concurrency")
    return args


def resolve_wrk(choice: str) -> str | None:
    wrk = shutil.which("wrk")
    if choice == "python":
        return None
    if wrk is None:
        if choice == "wrk":
            raise BenchError(f"wrk is not on PATH: {WRK_INSTALL_HINT}")
        print(
            "WARNING: wrk is not on PATH, so REST load comes from a Python client (httpx), which is the"
        )
        print(
            f"         bottleneck: REST figures will be far below the servers' capacity. {WRK_INSTALL_HINT}."
        )
        print()
    return wrk


@contextmanager
def _terminate_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every child is stopped on the way out."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def bench(args: argparse.Namespace, workdir: Path) -> int:
    load = LoadSettings(
        concurrency=args.concurrency,
        warmup=args.warmup,
        duration=args.duration,
        max_requests=args.max_requests,
        wrk=resolve_wrk(args.rest_client),
        wrk_threads=args.wrk_threads,
    )
    transports = {"both": ["gRPC", "REST"], "grpc": ["gRPC"], "rest": ["REST"]}[args.transports]
    children = Children(workdir)
    try:
        env = gateway_env(workdir)
        seed_demo(workdir, env)
        gateway_proc, grpc_port, rest_port = start_gateway(children, env)
        probe = probe_gateway(grpc_port, rest_port, args.by)
        grpc_base_proc, grpc_base_port = start_baseline(children, "grpc", probe.grpc_size)
        rest_base_proc, rest_base_port = start_baseline(children, "rest", probe.rest_size)

        gateway = Target(
            "gateway (cxg serve)",
            gateway_proc.pid,
            f"{HOST}:{grpc_port}",
            f"http://{HOST}:{rest_port}{probe.rest_path}",
        )
        baselines = {
            "gRPC": Target(
                "baseline: grpcio sync echo",
                grpc_base_proc.pid,
                grpc_target=f"{HOST}:{grpc_base_port}",
            ),
            "REST": Target(
                "baseline: FastAPI prebuilt Response",
                rest_base_proc.pid,
                rest_url=f"http://{HOST}:{rest_base_port}{BASELINE_REST_PATH}?"
                + urllib.parse.urlencode({"scheme": DEMO_SCHEME, "value": DEMO_VALUE}),
            ),
        }
        # The baselines must answer exactly the gateway's sizes, or the comparison is off.
        if len(grpc_call(baselines["gRPC"].grpc_target, probe.grpc_request)) != probe.grpc_size:
            raise BenchError("the gRPC baseline answers a different size than the gateway")
        if len(http_get(baselines["REST"].rest_url)) != probe.rest_size:
            raise BenchError("the REST baseline answers a different size than the gateway")

        print_header(
            args,
            load,
            probe,
            {
                "gateway": gateway.pid,
                "gRPC baseline": grpc_base_proc.pid,
                "REST baseline": rest_base_proc.pid,
            },
        )
        runs: list[Run] = []
        for round_no in range(1, args.rounds + 1):
            for transport in transports:
                for target in (baselines[transport], gateway):
                    run = measure(children, transport, target, probe, load)
                    runs.append(run)
                    print_run(round_no, run)
        print_summary(
            runs, args.rounds, rest_client_is_python=load.wrk is None and "REST" in transports
        )

        if args.py_spy is not None:
            print()
            print(
                f"py-spy: one more gateway run per transport, sampling the GIL holder at 100 Hz ({args.py_spy}/)"
            )
            for transport in transports:
                run, stacks = profile_gateway(
                    children, args.py_spy, transport, gateway, probe, load
                )
                print(
                    f"  {transport}: {run.rps:,.0f} req/s while sampled (py-spy slows the process); {stacks}"
                )
                print("\n".join(summarize_stacks(stacks, args.py_spy_top)))

        failed = [r for r in runs if r.errors]
        for run in failed:
            print(
                f"ERROR: {run.transport} {run.server}: {run.errors} failed requests, first: {run.first_error}"
            )
        return 1 if failed else 0
    finally:
        children.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="cxg-bench-"))
    try:
        with _terminate_on_signals():
            return bench(args, workdir)
    except BenchError as exc:
        print(f"bench_get_profile: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_get_profile: interrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
