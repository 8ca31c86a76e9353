"""The benchmarks still run end to end (servers, load, report). They measure, so nothing here
asserts a ratio: performance figures come from full runs, in the closing notes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_run(script: str, *args: str) -> str:
    """``bench/SCRIPT --quick`` (or ``args``); asserts it exits 0 and returns its report."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *(args or ("--quick",))],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _row(report: str, prefix: str) -> str:
    """The summary table's row starting with ``prefix``, which must show no errors."""
    line = next((line for line in report.splitlines() if line.startswith(prefix)), None)
    assert line is not None, f"no table row {prefix!r} in:\n{report[-3000:]}"
    assert line.split()[-1] == "0", f"answered with errors: {line}"
    return line


def test_get_profile_benchmark_quick_run_reports_both_transports() -> None:
    report = _quick_run("bench_get_profile.py")
    assert "admission:   EXCLUDED" in report
    assert "purpose=credit_reporting" in report
    for transport in ("gRPC", "REST"):
        _row(report, f"{transport:<9} baseline: ")
        _row(report, f"{transport:<9} gateway (admission off)")
    assert "throughput ratio gateway/baseline, of the medians: gRPC " in report
    assert ",  REST " in report


def test_auth_benchmark_quick_run_reports_every_mode() -> None:
    report = _quick_run("bench_auth.py")
    for mode in (
        "A unauthenticated (open gate)",
        "B mTLS-bound Bearer token",
        "C DPoP token, proof per call",
    ):
        _row(report, mode)
    assert "throughput B/A" in report
    assert "throughput C/A" in report


def test_audit_benchmark_quick_run_reports_every_part() -> None:
    report = _quick_run("bench_audit.py")
    assert "== appends: N threads each calling AuditLog.record" in report
    for threads in (1, 16):
        assert any(line.startswith(f"sqlite     {threads:>7} ") for line in report.splitlines())
    assert "fill: 20,000 leaves in" in report
    assert "inclusion, random leaf, tree_size 20,000" in report
    assert "consistency, random first -> 20,000" in report
    assert "checked: the probe's 3 calls added 3 leaves with the audit on, 0 with it off" in report
    for transport in ("gRPC", "REST"):
        _row(report, f"{transport:<9} gateway, audit on ")
        _row(report, f"{transport:<9} gateway, audit off (--no-audit)")
        assert f"   {transport} " in report.split("throughput ratio audit on/off")[1]


def test_import_rules_and_sco_benchmarks_quick_runs_report_their_figures() -> None:
    report = _quick_run("bench_import.py", "--records", "200")
    assert "imported 200" in report and "gateway/minimum" in report and "gateway/bare" in report
    report = _quick_run("bench_rules.py", "--seconds", "0.1")
    assert "aeo pack (7th of 8 rules decides)" in report
    assert "RecognizeAeo answer (lookup, decide, sign)" in report
    report = _quick_run("bench_sco.py")
    assert "typical code:" in report and "verify() + status list" in report


def test_anonymous_flood_benchmark_quick_run_accounts_for_every_refusal() -> None:
    report = _quick_run("bench_anonymous_flood.py")
    for scenario in ("rest, 1 source", "grpc, 1 source", "rest, 250 sources"):
        assert f"== {scenario}: 600 requests" in report
    assert report.count("checked: all accounted for") == 3


def test_observe_benchmark_quick_run_compares_every_gateway() -> None:
    report = _quick_run("bench_observe.py", "--quick", "--transports", "grpc")
    # "before" is the gateway at an earlier commit: absent from a clone without that history.
    before = "NOTE: no 'before' gateway" not in report
    labels = ["logs off", "logs on", "traced, all", "traced, 1 in 10"]
    for label in ["before (cca6a44)"] * before + labels:
        _row(report, f"gRPC      {label} ")
    assert ("gRPC logs on / before (cca6a44): " in report) == before
    assert "gRPC logs on / logs off: " in report
    written = {}
    for line in report.splitlines():
        label, found, count = line.partition(" request lines written: ")
        if found:
            written[label.strip()] = int(count.replace(",", ""))
    assert written["logs off"] == 0 and written["logs on"] > 0
    assert written.get("before (cca6a44)", 0) == 0
    spans = report.split("spans the OTLP sink received: ")[1].split()[0]
    assert int(spans.replace(",", "")) > 0


def test_events_benchmark_quick_run_reports_the_outbox_and_the_delivery_rate() -> None:
    report = _quick_run("bench_events.py")
    for kind in ("publish", "import"):
        assert f"   {kind:<8} median " in report and "without: ratio " in report
    assert "all 100 SETs answered 202 after" in report


def test_real_path_benchmark_quick_run_reports_every_figure() -> None:
    # One transport keeps it short; the import part is bench_import.py, run above.
    report = _quick_run(
        "bench_real.py",
        "--quick",
        "--parts",
        "calls,workers,publish,costs",
        "--transports",
        "gRPC",
    )
    table, costs = report.split("== issue 20: ")[1].split("== what each part")
    for figure in (
        "GetProfile gRPC, mTLS-bound token / bare echo",
        "GetProfile gRPC, DPoP / mTLS-bound token",
        "p99 gRPC mtls / bare echo p99",
        "server CPU per call gRPC, 2 workers / 1",
        "PublishProfile gRPC / bare durable insert",
    ):
        assert figure in table, f"no figure {figure!r} in:\n{table}"
    # Every knockout gateway answered the same bytes (checked before the load) and was measured.
    for gateway in (
        "gRPC: as shipped",
        "gRPC: without audit-commit ",
        "gRPC: without audit ",
        "gRPC: without offload ",
        "gRPC: without request-line ",
        "gRPC: without audit-commit,audit,offload,request-line ",
    ):
        assert gateway in costs, f"no line {gateway!r} in:\n{costs}"
    assert "ERROR" not in report
