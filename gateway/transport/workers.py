"""``cxg serve --workers N``: N gateway processes sharing both ports (SO_REUSEPORT) and one
database, under a supervisor that serves nothing itself.

The supervisor picks the ports when the settings say 0: it binds a SO_REUSEPORT socket to learn a
free one and keeps it, never listening (the kernel hands connections only to listening sockets),
until every worker listens. It brings the schema to the newest migration once, starts the workers
as fresh processes (``python -m gateway.cli serve --worker``, the ports in their environment),
prints the one "listening" line, forwards SIGTERM and SIGINT to them, and exits 0 once every
worker has exited 0 (each runs the single process's graceful shutdown), 1 otherwise.

A worker that exits on its own (a crash, a port it could not bind) is logged, and the supervisor
then stops the others and exits 1: it never restarts a worker silently, nor goes on at reduced
strength unnoticed. Restarting is the process manager's job (systemd, Kubernetes).

Metrics: the workers keep theirs in files under a fresh directory (``PROMETHEUS_MULTIPROC_DIR``
in their environment only); the supervisor serves the sum on ``CXG_METRICS_PORT``, forgets a
worker's live gauges when it exits, and removes the directory at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO

from gateway.config import Settings
from gateway.observe import metrics
from gateway.storage import Database
from gateway.transport.serve import listening_line

WORKER_FLAG = "--worker"  # the hidden option of `cxg serve` a worker is started with
START_TIMEOUT = 120.0  # seconds for every worker to listen
_LISTENING = "cxg: gRPC on "
_log = logging.getLogger("cxg.workers")


class Supervisor:
    def __init__(
        self, settings: Settings, workers: int, *, config: Path | None = None, debug: bool = False
    ) -> None:
        if workers < 2:
            raise ValueError("a supervisor needs at least 2 workers; 1 is a single process")
        self.settings = settings
        self.count = workers
        self._global = [
            *(["--debug"] if debug else []),
            *(["--config", str(config)] if config else []),
        ]
        self._workers: list[subprocess.Popen[bytes]] = []
        self._stopping: int | None = None  # the signal forwarded, once one came

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (or a worker's exit); the exit status."""
        previous = {
            sig: signal.signal(sig, self._forward) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        directory = Path(tempfile.mkdtemp(prefix="cxg-metrics-"))
        listener = None
        held: list[socket.socket] = []
        try:
            grpc_port, rest_port = self.settings.grpc_port, self.settings.rest_port
            if grpc_port == 0:
                held.append(_reserve(self.settings.host))
                grpc_port = held[-1].getsockname()[1]
            if rest_port == 0:
                held.append(_reserve(self.settings.host))
                rest_port = held[-1].getsockname()[1]
            upgrade = Database.from_url(self.settings.database_url)
            try:  # once, not N processes racing to the same migration
                upgrade.upgrade()
            finally:
                upgrade.dispose()
            if self.settings.metrics_port:
                listener = metrics.serve_aggregated(
                    self.settings.metrics_host, self.settings.metrics_port, directory
                )
            env = {
                **os.environ,
                "CXG_GRPC_PORT": str(grpc_port),
                "CXG_REST_PORT": str(rest_port),
                "CXG_WORKERS": "1",
                "PROMETHEUS_MULTIPROC_DIR": str(directory),
            }
            started = self._start(env)
            for sock in held:  # every worker listens: the ports are theirs now
                sock.close()
            held.clear()
            if started:
                pids = " ".join(str(w.pid) for w in self._workers)
                line = listening_line(self.settings, grpc_port, rest_port)
                print(f"{line} ({self.count} workers: {pids})", flush=True)
            return self._wait(directory, failed=not started)
        finally:
            for sock in held:
                sock.close()
            self._stop_all(signal.SIGTERM)
            for worker in self._workers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(self.settings.shutdown_grace_seconds + 30)
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            if listener is not None:
                listener.close()
            shutil.rmtree(directory, ignore_errors=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, env: dict[str, str]) -> bool:
        """Start the workers; True once all of them listen."""
        command = [sys.executable, "-m", "gateway.cli", *self._global, "serve", WORKER_FLAG]
        listening: list[threading.Event] = []
        for _ in range(self.count):
            if self._stopping is not None:
                return False
            worker = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,  # its "listening" line; the rest is passed on
                # Its own process group: a Ctrl-C at the terminal reaches the supervisor alone,
                # which forwards it once (a second SIGINT would make uvicorn quit at once).
                process_group=0,
            )
            self._workers.append(worker)
            assert worker.stdout is not None
            ready = threading.Event()
            listening.append(ready)
            threading.Thread(
                target=_relay, args=(worker.stdout, ready), name="cxg-worker-out", daemon=True
            ).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not all(ready.is_set() for ready in listening):
            exited = [w for w in self._workers if w.poll() is not None]
            if exited or self._stopping is not None or time.monotonic() > deadline:
                for worker in exited:
                    _log.error(
                        "worker %d exited with status %d before it listened",
                        worker.pid,
                        worker.returncode,
                    )
                return False
            time.sleep(0.05)
        return True

    def _wait(self, directory: Path, *, failed: bool) -> int:
        """Until every worker has exited; stops them all once one exits unasked."""
        if failed:
            self._stop_all(signal.SIGTERM)
        running = list(self._workers)
        while running:
            for worker in list(running):
                status = worker.poll()
                if status is None:
                    continue
                running.remove(worker)
                metrics.process_exited(worker.pid, directory)
                if status != 0:
                    failed = True
                if self._stopping is None:
                    _log.error(
                        "worker %d exited with status %d unasked: stopping the other workers",
                        worker.pid,
                        status,
                    )
                    print(
                        f"cxg: worker {worker.pid} exited with status {status}; stopping the"
                        " others",
                        file=sys.stderr,
                        flush=True,
                    )
                    failed = True
                    self._stop_all(signal.SIGTERM)
            time.sleep(0.05)
        return 1 if failed else 0

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self._stop_all(signum)

    def _stop_all(self, signum: int) -> None:
        """Send ``signum`` to each worker still running, once."""
        if self._stopping is not None:
            return
        self._stopping = signum
        for worker in self._workers:
            if worker.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signum)


def become_worker() -> None:
    """In a worker: ask Linux for SIGTERM (a graceful shutdown) should the supervisor die
    without stopping it."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _reserve(host: str) -> socket.socket:
    """A free port, held (bound, not listening) until the workers bind it with SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock


def _relay(out: IO[bytes], listening: threading.Event) -> None:
    """Pass a worker's output on, except its own "listening" line (the supervisor prints one for
    all), which tells that it listens."""
    for raw in out:
        line = raw.decode(errors="replace")
        if line.startswith(_LISTENING) and not listening.is_set():
            listening.set()
            continue
        sys.stdout.write(line)
        sys.stdout.flush()
