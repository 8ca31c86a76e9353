"""``cxg report`` as an operator runs it: issue a report as a registered partner (the same use
case as the APIs: its access check, its stored document and audit leaf), show it, check a copy,
revoke it; and the refusals, named, with nothing stored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.storage.tables import audit_leaves, reports
from gateway.transport.serve import Gateway
from tests.support import USCC, TestPartner, profile, publish

runner = CliRunner()
SUBJECT = f"CN_USCC:{USCC}"


@pytest.fixture
def cli(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, partners: dict[str, TestPartner]
) -> Gateway:
    """The CLI on the gateway's database and keys, with a company to report on."""
    monkeypatch.setenv("CXG_DATABASE_URL", gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    publish(gateway.exchange, partners["ru-bureau"], profile())
    return gateway


def cxg(*args: str, status: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == status, result.output
    return result.output


def test_create_show_check_revoke(cli: Gateway, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    made = cxg(
        "report", "create", SUBJECT, "--as", "sme-portal", "-o", str(out), "--language", "ru"
    )
    name, digest = made.split("\t")[:2]
    assert out.read_bytes().startswith(b"%PDF-")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert "verify at http" in made and name.removeprefix("reports/") in made.splitlines()[1]
    shown = cxg("report", "show", name)
    assert shown.split("\t")[:2] == [name, "VALID"] and "subject_access" in shown
    assert cxg("report", "check", str(out)).split("\t")[:2] == [name, "VALID"]
    cxg("report", "revoke", name, "--reason", "issued in error")
    assert cxg("report", "check", str(out)).split("\t")[1] == "REVOKED"
    # The command line's changes are in the audit log, naming it.
    changes = [json.loads(row.data) for row in cli.db.read(select(audit_leaves.c.data))]
    made_by = {
        x["change"]: x["actor"] for x in changes if x.get("change", "").startswith("report.")
    }
    assert set(made_by) == {"report.issue", "report.revoke"}
    assert all(actor.startswith("cli:") for actor in made_by.values())


def test_refusals_are_named_and_store_nothing(cli: Gateway, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    refused = cxg("report", "create", SUBJECT, "--as", "kz-bank", "-o", str(out), "--purpose", "credit_assessment", status=1)  # fmt: skip
    assert "consent" in refused and not out.exists()
    unknown = cxg("report", "create", SUBJECT, "--as", "nobody", "-o", str(out), status=1)
    assert "no active partner 'nobody'" in unknown
    customs_only = cxg("report", "create", SUBJECT, "--as", "cxg-operator", "-o", str(out), status=1)  # fmt: skip
    assert "may not call CreateReport" in customs_only
    assert cxg("report", "create", "CN_USCC", "--as", "sme-portal", "-o", str(out), status=2)
    assert cli.db.read(select(func.count()).select_from(reports))[0][0] == 0
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF-1.7 not a report")
    assert "not a report of this gateway" in cxg("report", "check", str(other), status=1)
