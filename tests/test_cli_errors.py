"""The command line as people misuse it: every mistake is one line on stderr naming the argument,
file or database, with a hint, and exit status 2 (usage) or 1 (refused, database); nothing is
changed before every input is checked; only ``demo`` and ``db upgrade`` create a database."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import _common, app
from gateway.signing import SigningKey

runner = CliRunner()


def refused(*args: str, status: int) -> str:
    """The one line on stderr of a command refused with ``status``."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == status, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cxg: ") and "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A command line on a database file that does not exist yet, in a folder of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CXG_DATABASE_URL", raising=False)
    monkeypatch.setenv("CXG_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path / "cxg.db"


@pytest.fixture
def migrated(fresh: Path) -> Path:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return fresh


ADD = ["partners", "add", "uz-bank", "--name", "Uz Bank", "--country", "UZ", "--role", "bank"]


def test_a_command_in_another_folder_names_the_database_and_creates_none(fresh: Path) -> None:
    line = refused("partners", "list", status=1)
    assert f"database sqlite:///{fresh}: no such file" in line and "cxg db upgrade" in line
    assert not fresh.exists()


def test_an_empty_database_is_refused_not_migrated(fresh: Path) -> None:
    fresh.touch()
    line = refused("sco", "status-list", status=1)
    assert f"database sqlite:///{fresh}: holds no cxg schema" in line and "cxg db upgrade" in line
    with sqlite3.connect(fresh) as conn:  # opened to look, and left without tables
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_db_upgrade_creates_the_database_and_shows_where(fresh: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and f"sqlite:///{fresh}" in result.output
    assert runner.invoke(app, ["partners", "list"]).exit_code == 0


def test_no_operator_names_the_database(migrated: Path) -> None:
    line = refused("sco", "issue", "AEO:CN3702960123", status=1)
    assert f"database sqlite:///{migrated}: no active operator partner" in line


def test_a_readme_as_jwk(fresh: Path) -> None:
    (fresh.parent / "README.md").write_text("# A gateway\n")
    line = refused(*ADD, "--jwk", "README.md", status=2)
    # Checked before the database is opened: nothing is created or changed.
    assert line.startswith("cxg: --jwk README.md: not JSON") and "hint:" in line
    assert not fresh.exists()


def test_a_pem_as_jwk(migrated: Path, tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_bytes(SigningKey.generate().private_pem())
    line = refused(*ADD, "--jwk", str(pem), status=2)
    assert f"--jwk {pem}: a PEM file, not a JWK" in line and "cxg partners keygen" in line
    line = refused("partners", "add-key", "uz-bank", "--jwk", str(pem), status=2)
    assert "a PEM file, not a JWK" in line


def test_a_missing_jwk_file(migrated: Path) -> None:
    line = refused(*ADD, "--jwk", "nowhere.json", status=2)
    assert line == "cxg: --jwk nowhere.json: No such file or directory"


def test_a_private_jwk_or_a_set_of_two(migrated: Path, tmp_path: Path) -> None:
    key = SigningKey.generate()
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"keys": [key.public_jwk(), key.public_jwk()]}))
    assert "exactly one public JWK" in refused(*ADD, "--jwk", str(two), status=2)


def test_partners_import_of_a_missing_or_empty_folder(migrated: Path, tmp_path: Path) -> None:
    line = refused("partners", "import", "nosuchdir", status=2)
    assert line.startswith("cxg: partner folder nosuchdir: no such folder")
    (tmp_path / "empty").mkdir()
    line = refused("partners", "import", str(tmp_path / "empty"), status=2)
    assert f"partner folder {tmp_path / 'empty'}: no partner files" in line


def test_usage_errors_are_one_line_with_exit_status_2(migrated: Path) -> None:
    line = refused("partners", "add", "uz-bank", status=2)
    assert "partners add: Missing option" in line and "(hint: cxg partners add --help)" in line
    assert "No such command 'nosuch'" in refused("nosuch", status=2)
    assert "No such option: --bogus" in refused("--bogus", status=2)
    assert "--country" in refused(*ADD[:-2], "--role", "bank", "--jwk", "x", "--country", status=2)


def test_a_bad_setting_names_the_variable(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXG_GRPC_PORT", "eighty")
    assert "CXG_GRPC_PORT: 'eighty' is not a whole number" in refused("keys", "jwks", status=2)


def test_postgresql_without_its_driver(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXG_DATABASE_URL", "postgresql://cxg@127.0.0.1:1/cxg")
    monkeypatch.setattr(_common, "_has_module", lambda name: name != "psycopg")
    line = refused("partners", "list", status=1)
    assert "psycopg driver, which is not installed" in line and "cxg[postgres]" in line


def test_an_unreachable_database(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXG_DATABASE_URL", "postgresql://cxg@127.0.0.1:1/cxg")
    monkeypatch.setenv("CXG_DATABASE_TIMEOUT_SECONDS", "1")
    line = refused("partners", "list", status=1)
    assert line.startswith("cxg: database postgresql://cxg@127.0.0.1:1/cxg: ")
    assert "unavailable" in line


def test_rules_sign_checks_its_output_before_signing(migrated: Path, tmp_path: Path) -> None:
    pack = next(Path(__file__).resolve().parents[1].joinpath("rules").glob("*.toml"))
    line = refused("rules", "sign", str(pack), "--out", str(tmp_path / "no" / "x.jws"), status=2)
    assert f"--out {tmp_path / 'no' / 'x.jws'}: no folder" in line


def test_an_unexpected_error_is_one_line_pointing_at_debug() -> None:
    described = _common.describe(RuntimeError("boom"))
    assert described == (
        1,
        "cxg: internal error: RuntimeError: boom (hint: run again with --debug for the traceback)",
    )


@pytest.mark.parametrize("debug", [["--debug"], ["CXG_DEBUG=1"]])
def test_debug_shows_the_traceback(fresh: Path, debug: list[str]) -> None:
    env = {**os.environ, "TYPER_STANDARD_TRACEBACK": "1"}
    args = [sys.executable, "-m", "gateway.cli", "partners", "import", "nosuchdir"]
    if debug == ["CXG_DEBUG=1"]:
        env["CXG_DEBUG"] = "1"
    else:
        args.insert(3, "--debug")
    plain = subprocess.run(args[:3] + args[-3:], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    shown = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert shown.returncode == 1 and "Traceback" in shown.stderr
    assert "partner folder nosuchdir: no such folder" in shown.stderr


def test_keygen_writes_a_pair_and_the_command_that_registers_it(
    migrated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "uz"
    result = runner.invoke(
        app,
        ["partners", "keygen", "uz-bank", "--out", str(out), "--alg", "ES256",
         "--name", "Uz Bank", "--country", "UZ", "--role", "bank"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    private, public = out / "uz-bank.pem", out / "uz-bank.jwk.json"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    jwk = json.loads(public.read_text())
    assert jwk["alg"] == "ES256" and "d" not in jwk
    assert f"public JWK {public}" in result.output
    command = result.output.split("register it with: ")[1].strip()
    assert command == (
        f"cxg partners add uz-bank --name 'Uz Bank' --country UZ --role bank --jwk {public}"
    )
    registered = runner.invoke(app, command.split("cxg ", 1)[1].replace("'Uz Bank'", "Uz").split())
    assert registered.exit_code == 0, registered.output
    assert jwk["kid"] in runner.invoke(app, ["partners", "show", "uz-bank"]).output
    line = refused("partners", "keygen", "uz-bank", "--out", str(out), status=2)
    assert f"{private}: exists" in line
    assert "partner id 'Uz_Bank'" in refused("partners", "keygen", "Uz_Bank", status=2)


def test_shell_completion_is_offered() -> None:
    shown = runner.invoke(app, ["--help"])
    assert "--install-completion" in shown.output and "--show-completion" in shown.output
