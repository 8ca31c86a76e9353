"""The benchmark still runs end to end (servers, load, report). It measures, so nothing here
asserts a ratio: performance figures come from full runs, in the closing notes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_quick_run_reports_both_transports() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_get_profile.py"),
            "--quick",
            "--warmup",
            "1",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = result.stdout
    assert "throughput ratio gateway/baseline" in report
    for row in ("gRPC      gateway (cxg serve)", "REST      gateway (cxg serve)"):
        line = next(line for line in report.splitlines() if line.startswith(row))
        assert line.split()[-1] == "0", f"the gateway answered with errors: {line}"
