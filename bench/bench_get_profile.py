"""Signed GetProfile over gRPC and REST: the exchange core, admission excluded, against baselines.

    .venv/bin/python bench/bench_get_profile.py            # 3 rounds, 2 s warm-up + 8 s per run
    .venv/bin/python bench/bench_get_profile.py --quick    # 1 round, 1 s + 2 s: a smoke run
    (bench/README.md explains the set-up and every column)

This benchmark EXCLUDES ADMISSION (access token, its binding, policy, quota): the gateway runs as
bench/_open_gateway.py, which admits every call as the demo credit bureau demo-ru-credit-bureau
without reading any credential or charging a quota; every request asks for purpose
credit_reporting (the whole profile, no consent). What admission adds on top is measured by
bench/bench_auth.py; bench/README.md shows how the two combine.

Seeds the demo into a temporary SQLite database, then starts three servers, each in its own
process on 127.0.0.1: the gateway (bench/_open_gateway.py: ``cxg serve`` with admission off,
gRPC and REST in one process), a bare grpcio echo and a bare FastAPI echo, the echoes answering
with prebuilt payloads of exactly the gateway's response sizes. Load comes from yet another
process: a grpc.aio client with --concurrency requests in flight, and ``wrk`` for REST (a Python
client when wrk is missing). Runs alternate baseline and gateway, round after round; the table
shows medians and the ratio gateway/baseline of throughput per transport. It measures and never
asserts: the exit status is non-zero only when something failed (a server did not start, a
response was wrong).
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
DEMO_SCHEME, DEMO_VALUE = "CN_USCC", "91370200MA3C5QH2X4"
# The partner the open gateway admits every call as, and the purpose of every GetProfile: a
# credit bureau may use credit_reporting, which is the whole profile and needs no consent.
PARTNER = "demo-ru-credit-bureau"
PURPOSE = "credit_reporting"
GATEWAY_LABEL = "gateway (admission off)"
GRPC_METHOD = "/cxg.v1.ProfileService/GetProfile"
BASELINE_REST_PATH = "/v1/profiles:lookup"  # as bench/_baselines.py
START_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0
# Beyond warm-up plus duration, how long a load generator may take before it is killed.
LOAD_GRACE = 60.0
WRK_INSTALL_HINT = "install it with `apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`"
PYTHON_CLIENT_WARNING = (
    "WARNING: a Python client is the bottleneck as soon as its CPU nears 100% of a core (it",
    "shares the CPUs with the server); REST figures then understate the server and are not",
    f"comparable with wrk runs. For reference figures, {WRK_INSTALL_HINT}.",
)

_BASELINE_LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
_GATEWAY_LISTENING = re.compile(rb"gRPC on 127\.0\.0\.1:(\d+), REST on https?://127\.0\.0\.1:(\d+)")

# Every child runs through this launcher: it asks Linux to SIGTERM the child should this process
# die without cleaning up (PR_SET_PDEATHSIG survives exec), pins it to the CPUs given (or "-"
# for no pinning), then execs the real command.
_LAUNCHER = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("bench: parent exited before the child started")
if sys.argv[2] != "-":
    os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[2].split(",")})
os.execvp(sys.argv[3], sys.argv[3:])
"""


class BenchError(Exception):
    """The benchmark could not measure: a server did not start, a response was wrong."""


# -- subprocesses ------------------------------------------------------------------------------


class Children:
    """Every process this run starts, each in its own session (Ctrl-C reaches only us) with its
    output in ``workdir/NAME.log``; ``close()`` ends whatever is still running.

    With ``pin``, servers run on the first usable CPU and load generators on the others."""

    def __init__(self, workdir: Path, *, pin: bool = False) -> None:
        self.workdir = workdir
        self._running: list[subprocess.Popen[bytes]] = []
        self._cpus = {"server": "-", "client": "-"}
        if pin:
            usable = sorted(os.sched_getaffinity(0))
            if len(usable) < 2:
                raise BenchError("--pin needs at least two usable CPUs")
            self._cpus = {"server": str(usable[0]), "client": ",".join(map(str, usable[1:]))}

    def cpus(self, role: str) -> str:
        return self._cpus[role]

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        pipe_stdout: bool = False,
        role: str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv``; ``role`` ("server" or "client") decides its CPUs when pinning."""
        cpus = self._cpus[role] if role else "-"
        with self.log(name).open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid()), cpus, *argv],
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


@dataclass(frozen=True)
class Counters:
    """CPU time (user + system) and context switches of a process and its descendants (the
    workers of ``cxg serve --workers N``), summed over their threads."""

    cpu_s: float
    switches: int

    @classmethod
    def read(cls, pid: int) -> Counters | None:
        """From Linux /proc; None elsewhere or once the process is gone."""
        try:
            own = cls._read_one(pid)
        except OSError:
            return None
        cpu_s, switches = own
        for child in _descendants(pid):
            with contextlib.suppress(OSError):  # a child that just ended
                child_cpu, child_switches = cls._read_one(child)
                cpu_s, switches = cpu_s + child_cpu, switches + child_switches
        return cls(cpu_s, switches)

    @staticmethod
    def _read_one(pid: int) -> tuple[float, int]:
        stat = Path(f"/proc/{pid}/stat").read_text()
        switches = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                for line in (task / "status").read_text().splitlines():
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        switches += int(line.split()[1])
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), switches

    @staticmethod
    def delta(before: Counters | None, after: Counters | None) -> Counters | None:
        if before is None or after is None:
            return None
        return Counters(after.cpu_s - before.cpu_s, after.switches - before.switches)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux's /proc/PID/task/TID/children)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    found += [int(child), *_descendants(int(child))]
    return found


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


def seed_demo(workdir: Path, env: dict[str, str], *, tree: Path | None = None) -> None:
    """``cxg demo --no-serve`` into ``env``'s database and keys; ``tree``: another checkout's."""
    if tree is None:
        argv = [cxg_executable(), "demo", "--no-serve"]
    else:
        argv = [sys.executable, "-m", "gateway.cli", "demo", "--no-serve"]
        env = {**env, "PYTHONPATH": str(tree)}
    # Port 0 in the environment: older `cxg demo --no-serve` bound both ports while seeding.
    done = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(
            f"cxg demo --no-serve failed ({done.returncode}):\n"
            + done.stderr.decode(errors="replace")
        )


def launch_gateway(
    children: Children, name: str, env: dict[str, str], *options: str, open_gate: bool
) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start a gateway process and wait for its listening line; returns it and its gRPC and REST
    ports. ``open_gate``: bench/_open_gateway.py, admitting every call as PARTNER without any
    credential, policy check or quota charge; otherwise ``cxg serve``, admission and all.
    Both benchmarks start their gateways here."""
    if open_gate:
        argv = [sys.executable, str(BENCH_DIR / "_open_gateway.py"), PARTNER, *options]
    else:
        argv = [cxg_executable(), "serve"]
    proc = children.start(name, argv, env=env, role="server")
    match = wait_for_log(children, name, proc, _GATEWAY_LISTENING)
    return proc, int(match.group(1)), int(match.group(2))


def start_open_gateway(
    children: Children, name: str, env: dict[str, str], *options: str, tree: Path | None = None
) -> tuple[subprocess.Popen[bytes], int, int]:
    """The open gateway (``_open_gateway.py PARTNER [options]``, admission off) over plaintext,
    ready once /healthz answers; returns it and its gRPC and REST ports. ``tree``: another
    checkout of the gateway, whose own ``_open_gateway.py`` and code run instead of these."""
    if tree is None:
        proc, grpc_port, rest_port = launch_gateway(children, name, env, *options, open_gate=True)
    else:
        argv = [sys.executable, str(tree / "bench" / "_open_gateway.py"), PARTNER, *options]
        env = {**env, "PYTHONPATH": str(tree)}  # its code before this checkout's installed one
        proc = children.start(name, argv, env=env, role="server")
        match = wait_for_log(children, name, proc, _GATEWAY_LISTENING)
        grpc_port, rest_port = int(match.group(1)), int(match.group(2))
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            http_get(f"http://{HOST}:{rest_port}/healthz")
            return proc, grpc_port, rest_port
        except (OSError, BenchError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(
                    f"{name} /healthz never answered 200:\n{children.tail(name)}"
                ) from None
            time.sleep(0.1)


def start_baseline(children: Children, kind: str, size: int) -> tuple[subprocess.Popen[bytes], int]:
    name = f"baseline-{kind}"
    argv = [sys.executable, str(BENCH_DIR / "_baselines.py"), kind, str(size)]
    proc = children.start(name, argv, role="server")
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

    lookup = "/v1/profiles:lookup?" + lookup_query()
    document = json.loads(http_get(f"http://{HOST}:{rest_port}{lookup}"))
    if not isinstance(document, dict) or not document.get("jws") or "profile" not in document:
        raise BenchError(f"REST lookup did not answer a SignedProfile: {str(document)[:300]}")
    name = document["profile"]["name"]
    if by == "name":
        rest_path = "/v1/profiles/" + name.removeprefix("profiles/")
        rest_path += "?" + urllib.parse.urlencode({"purpose": PURPOSE})
        request = pb.GetProfileRequest(name=name, purpose=PURPOSE)
    else:
        rest_path = lookup
        request = pb.GetProfileRequest(
            id={"scheme": DEMO_SCHEME, "value": DEMO_VALUE}, purpose=PURPOSE
        )
    body = http_get(f"http://{HOST}:{rest_port}{rest_path}")
    raw = grpc_call(f"{HOST}:{grpc_port}", request.SerializeToString())
    signed = pb.SignedProfile.FromString(raw)
    if signed.jws != document["jws"] or json.loads(body)["jws"] != document["jws"]:
        raise BenchError("gRPC and REST served different JWS for the demo company")
    return Probe(request.SerializeToString(), len(raw), rest_path, len(body), name)


def lookup_query() -> str:
    """The query of GET /v1/profiles:lookup, for the gateway and the REST baseline alike."""
    return urllib.parse.urlencode({"scheme": DEMO_SCHEME, "value": DEMO_VALUE, "purpose": PURPOSE})


# -- load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    transport: str
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    timeouts: int
    elapsed_s: float
    server: Counters | None  # over the measured window
    client_cpu_s: float | None
    first_error: str | None = None

    @property
    def server_cpu_us_per_request(self) -> float:
        if self.server is None or not self.requests:
            return math.nan
        return self.server.cpu_s / self.requests * 1e6

    @property
    def server_switches_per_request(self) -> float:
        if self.server is None or not self.requests:
            return math.nan
        return self.server.switches / self.requests

    def cpu_share(self, seconds: float | None) -> float:
        """CPU seconds over the window, as a fraction of one core."""
        if seconds is None or self.elapsed_s <= 0:
            return math.nan
        return seconds / self.elapsed_s


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
    limit = load.warmup + load.duration + LOAD_GRACE
    return run_load_generator(children, f"load-{kind}", argv, target, transport, limit)[0]


def run_load_generator(
    children: Children,
    name: str,
    argv: list[str],
    target: Target,
    transport: str,
    limit_s: float,
) -> tuple[Run, dict[str, Any]]:
    """Run a Python load generator (_load.py's protocol: "measure-start"/"measure-end" lines,
    then one JSON result line) against ``target``; its Run, and the raw result."""
    proc = children.start(name, argv, pipe_stdout=True, role="client")
    killer = threading.Timer(limit_s, proc.kill)
    killer.start()
    marks: dict[str, Counters | None] = {}
    result: dict[str, Any] | None = None
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode().strip()
            if line in ("measure-start", "measure-end"):
                marks[line] = Counters.read(target.pid)
            elif line.startswith("{"):
                result = json.loads(line)
        proc.wait()
    finally:
        killer.cancel()
        children.stop(proc)
    if proc.returncode != 0 or result is None:
        raise BenchError(
            f"load generator failed ({proc.returncode}) against {target.label}:\n"
            + children.tail(name)
        )
    run = Run(
        transport=transport,
        label=target.label,
        rps=result["rps"],
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
        requests=result["requests"],
        errors=result["errors"],
        timeouts=result["timeouts"],
        elapsed_s=result["elapsed_s"],
        server=Counters.delta(marks.get("measure-start"), marks.get("measure-end")),
        client_cpu_s=result["client_cpu_s"],
        first_error=result["first_error"],
    )
    return run, result


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
        warm_argv = [*common, f"-d{load.warmup}s", target.rest_url]
        warm = children.start("wrk", warm_argv, role="client")
        try:
            warm.wait(load.warmup + LOAD_GRACE)
        finally:
            children.stop(warm)
    # wrk is the only child reaped between these two readings, so RUSAGE_CHILDREN is its CPU time.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = Counters.read(target.pid)
    argv = [*common, f"-d{load.duration}s", "--latency", target.rest_url]
    proc = children.start("wrk", argv, pipe_stdout=True, role="client")
    try:
        out, _ = proc.communicate(timeout=load.duration + LOAD_GRACE)
    finally:
        children.stop(proc)
    server_after = Counters.read(target.pid)
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
            f"wrk failed ({proc.returncode}) against {target.label}:\n{text}\n"
            + children.tail("wrk")
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
        label=target.label,
        rps=float(rps.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        requests=int(total.group(1)),
        errors=errors,
        timeouts=timeouts,
        elapsed_s=float(total.group(2)) * _TO_MS[total.group(3)] / 1e3,
        server=Counters.delta(server_before, server_after),
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
    """One more gateway run with py-spy sampling the thread that holds the GIL, written as
    collapsed stacks. The samples include the warm-up."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise BenchError("py-spy is not installed: `.venv/bin/pip install py-spy`")
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"gateway-{transport.lower()}.txt"
    name = f"py-spy-{transport.lower()}"
    # Started now rather than after the warm-up because only the main thread may start children
    # (PR_SET_PDEATHSIG fires when the starting thread ends). Ends a second before the load.
    seconds = max(1, load.warmup + load.duration - 1)
    argv = [py_spy, "record", "--pid", str(gateway.pid), "--duration", str(seconds)]
    argv += ["--rate", "100", "--gil", "--format", "raw", "--output", str(output)]
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
    """Self time (innermost Python frame, so C code called from it counts there) by package and
    by function, and inclusive time (anywhere on the stack) by function, from collapsed stacks.
    Frames on 90% of the stacks or more (thread bootstrap, the CLI, the server loop, middleware
    every request passes) are left out of the inclusive list: they say nothing."""
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
    telling = Counter({key: n for key, n in inclusive.items() if n < 0.9 * total})
    lines = [f"    {total} samples with the GIL held"]
    for title, counter in (("self, by package", by_package), ("self", own), ("inclusive", telling)):
        lines.append(f"    top {top}, {title}:")
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


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, spec) + suffix


def print_header(
    args: argparse.Namespace,
    load: LoadSettings,
    probe: Probe,
    pids: dict[str, int],
    children: Children,
) -> None:
    dists = ("grpcio", "protobuf", "fastapi", "starlette", "uvicorn", "uvloop", "httptools")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"command:     {shlex.join([sys.executable, *sys.argv])}")
    print(f"python:      {python} ({sys.executable})")
    print(f"cpus:        {os.cpu_count()} (usable here: {affinity}); {platform.platform()}")
    print(f"packages:    {', '.join(f'{d} {_version(d)}' for d in dists)}")
    if load.wrk is not None:
        print(f"REST client: {_wrk_version(load.wrk)}, {load.wrk_threads} threads")
    else:
        print("REST client: the Python fallback (bench/_load.py: asyncio streams, keep-alive)")
        for line in PYTHON_CLIENT_WARNING:
            print(f"             {line}")
    print("gRPC client: grpc.aio, one channel, bytes in and out (no protobuf work in the client)")
    print(
        f"load:        {load.concurrency} in flight; {load.warmup} s warm-up + {load.duration} s"
        f" measured per run (Python clients: at most {load.max_requests:,} requests);"
        f" {args.rounds} round(s)"
    )
    print("admission:   EXCLUDED. The gateway runs as bench/_open_gateway.py and admits every call")
    print(f"             as {PARTNER}: no token, binding, policy or quota. bench/bench_auth.py")
    print("             measures what admission adds (bench/README.md: how the two combine)")
    print(
        f"request:     GetProfile by {args.by}, {DEMO_SCHEME} {DEMO_VALUE} ({probe.profile_name}),"
        f" purpose {PURPOSE}"
    )
    print(f"             REST: GET {probe.rest_path}")
    print(
        f"responses:   gRPC SignedProfile {probe.grpc_size} bytes serialized, REST body"
        f" {probe.rest_size} bytes; the baselines answer exactly as many"
    )
    print("processes:   " + ", ".join(f"{name} pid {pid}" for name, pid in pids.items()))
    if args.pin:
        server, client = children.cpus("server"), children.cpus("client")
        print(f"pinned:      servers to CPU {server}, load generators to CPU {client}")
    else:
        print("pinned:      no (--pin puts servers and load generators on separate CPUs)")
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
        f"  round {round_no}  {run.transport:<4}  {run.label:<36} {run.rps:>7,.0f} req/s"
        f"  p50 {_fmt(run.p50_ms, '.2f'):>6} ms  p99 {_fmt(run.p99_ms, '.2f'):>7} ms"
        f"  server {_fmt(run.server_cpu_us_per_request, '.0f'):>4} us CPU/req{problems}",
        flush=True,
    )


_COLUMNS = (
    ("transport", "<9"),
    ("server", "<36"),
    ("req/s", ">7"),
    ("p50 ms", ">7"),
    ("p99 ms", ">7"),
    ("srv CPU/req", ">11"),
    ("srv cs/req", ">10"),
    ("srv CPU", ">7"),
    ("client CPU", ">10"),
    ("errors", ">6"),
)


def print_summary(runs: list[Run], rounds: int, rest_client_is_python: bool) -> None:
    header = " ".join(format(title, spec) for title, spec in _COLUMNS)
    print()
    print(f"Medians of {rounds} round(s). srv = server process over the measured window: CPU time")
    print("and context switches per request, CPU busy as a share of one core; client likewise.")
    print(header)
    print("-" * len(header))
    medians: dict[tuple[str, bool], float] = {}
    for transport in ("gRPC", "REST"):
        for label in dict.fromkeys(r.label for r in runs if r.transport == transport):
            group = [r for r in runs if r.transport == transport and r.label == label]
            rps = statistics.median(r.rps for r in group)
            medians[transport, label.startswith("gateway")] = rps
            cells = (
                transport,
                label,
                f"{rps:,.0f}",
                _fmt(_median(r.p50_ms for r in group), ".2f"),
                _fmt(_median(r.p99_ms for r in group), ".2f"),
                _fmt(_median(r.server_cpu_us_per_request for r in group), ".0f", " us"),
                _fmt(_median(r.server_switches_per_request for r in group), ".1f"),
                _fmt(
                    _median(r.cpu_share(r.server.cpu_s if r.server else None) for r in group), ".0%"
                ),
                _fmt(_median(r.cpu_share(r.client_cpu_s) for r in group), ".0%"),
                str(sum(r.errors for r in group)),
            )
            print(
                " ".join(
                    format(cell, spec) for cell, (_, spec) in zip(cells, _COLUMNS, strict=True)
                )
            )
    print()
    ratios = []
    for transport in ("gRPC", "REST"):
        if not medians.get((transport, False)) or (transport, True) not in medians:
            continue
        ratio = f"{transport} {medians[transport, True] / medians[transport, False]:.2f}"
        # Runs alternate baseline, gateway: each pair is one round's ratio, a view of the noise.
        pairs = [r for r in runs if r.transport == transport]
        per_round = [g.rps / b.rps for b, g in zip(pairs[::2], pairs[1::2], strict=True) if b.rps]
        if len(per_round) > 1:
            ratio += f" (rounds {min(per_round):.2f} to {max(per_round):.2f})"
        ratios.append(ratio)
    print("throughput ratio gateway/baseline, of the medians: " + ",  ".join(ratios))
    print()
    print("Notes:")
    print("  - Admission is excluded: the gateway admits every call without a token, policy check")
    print("    or quota charge. bench/bench_auth.py measures what admission costs on top.")
    print("  - The REST baseline returns a prebuilt Response object, a harder baseline than an")
    print("    endpoint returning a pydantic model (PERFORMANCE.md: ~9,700 against ~6,500 req/s).")
    print(
        "  - Load generators and servers share this machine's CPUs. Where a baseline's client CPU"
    )
    print("    is near 100%, the client limits the baseline and the ratio flatters the gateway.")
    if rest_client_is_python:
        print("  - WARNING: REST load came from the Python fallback client, not wrk. It can be the")
        print("    bottleneck (see its client CPU) and its figures are not comparable with wrk's.")


def _median(values: Iterable[float]) -> float:
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
        help="afterwards, profile the gateway under load with py-spy (collapsed stacks into DIR)",
    )
    parser.add_argument(
        "--py-spy-top", type=int, default=15, help="functions listed per py-spy summary"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the servers to the first usable CPU and the load generators to the others",
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
        print("WARNING: wrk is not on PATH, so REST load comes from a Python client instead.")
        for line in PYTHON_CLIENT_WARNING:
            print(f"         {line}")
        print()
    return wrk


@contextmanager
def _terminate_on_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP unwind as KeyboardInterrupt, so every child is stopped on the
    way out (SIGINT too: a shell starts background jobs with it ignored)."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, interrupt) for s in signals}
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
    children = Children(workdir, pin=args.pin)
    try:
        env = gateway_env(workdir)
        seed_demo(workdir, env)
        gateway_proc, grpc_port, rest_port = start_open_gateway(children, "gateway", env)
        probe = probe_gateway(grpc_port, rest_port, args.by)
        grpc_base_proc, grpc_base_port = start_baseline(children, "grpc", probe.grpc_size)
        rest_base_proc, rest_base_port = start_baseline(children, "rest", probe.rest_size)

        gateway = Target(
            GATEWAY_LABEL,
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
                rest_url=f"http://{HOST}:{rest_base_port}{BASELINE_REST_PATH}?{lookup_query()}",
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
            children,
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
            print("py-spy: one more gateway run per transport, the GIL holder sampled at 100 Hz.")
            print("Only Python code holding the GIL shows: thread hand-offs, gRPC's C core and the")
            print("kernel do not (the srv CPU/req and cs/req columns above count them).")
            for transport in transports:
                run, stacks = profile_gateway(
                    children, args.py_spy, transport, gateway, probe, load
                )
                print(f"  {transport}: {run.rps:,.0f} req/s while sampled; stacks in {stacks}")
                print("\n".join(summarize_stacks(stacks, args.py_spy_top)))

        failed = [r for r in runs if r.errors]
        for run in failed:
            print(
                f"ERROR: {run.transport} {run.label}: {run.errors} failed requests,"
                f" first: {run.first_error}"
            )
        return 1 if failed else 0
    finally:
        children.close()


def run_bench(
    name: str,
    bench: Callable[[argparse.Namespace, Path], int],
    args: argparse.Namespace,
    failures: tuple[type[Exception], ...] = (),
) -> int:
    """Run a benchmark in a fresh work folder (removed unless --keep): exit 1 when it could not
    measure, 130 when interrupted; every child process is stopped either way."""
    workdir = Path(tempfile.mkdtemp(prefix=f"cxg-{name}-"))
    try:
        with _terminate_on_signals():
            return bench(args, workdir)
    except (BenchError, *failures) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; children stopped", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    return run_bench("bench_get_profile", bench, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
