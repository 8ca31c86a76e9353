"""The cxg command as an operator runs it: identifier validation, keys, the demo gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("scheme", "value", "normalized"),
    [
        ("CN_USCC", "91370200ma3c5qh2x4", "91370200MA3C5QH2X4"),
        ("lei", "3003 00C5RZ2QH1KX1M86", "300300C5RZ2QH1KX1M86"),
        ("RU_INN", "7708123450", "7708123450"),
        ("RU_OGRN", "1027700123450", "1027700123450"),
        ("KZ_BIN", "180440001235", "180440001235"),
        ("BY_UNP", "100582333", "100582333"),
        ("IN_GSTIN", "27AAPFU0939F1ZV", "27AAPFU0939F1ZV"),
        ("AEO", "cn3702960123", "CN3702960123"),
    ],
)
def test_id_validate_accepts_valid_identifiers(scheme: str, value: str, normalized: str) -> None:
    result = runner.invoke(app, ["id", "validate", scheme, value])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [scheme.upper(), normalized]


@pytest.mark.parametrize(
    ("scheme", "value", "reason"),
    [
        ("CN_USCC", "91370200MA3C5QH2X5", "check_digit"),
        ("LEI", "300300C5RZ2QH1KX1M87", "check_digit"),
        ("RU_INN", "7708123451", "check_digit"),
        ("RU_OGRN", "1027700123451", "check_digit"),
        ("KZ_BIN", "180440001236", "check_digit"),
        ("BY_UNP", "100582334", "check_digit"),
        ("IN_GSTIN", "27AAPFU0939F1ZA", "check_digit"),
        ("SCO", "CN0000000000000", "check_digit"),
        ("KZ_BIN", "18044000123", "length"),
        ("NOPE", "1", "unknown_scheme"),
    ],
)
def test_id_validate_refuses_invalid_identifiers(scheme: str, value: str, reason: str) -> None:
    result = runner.invoke(app, ["id", "validate", scheme, value])
    assert result.exit_code == 1
    assert f"({reason})" in result.output


def test_id_validate_can_accept_a_legacy_check_digit() -> None:
    legacy = "91350100M0001TGQXM"
    assert runner.invoke(app, ["id", "validate", "CN_USCC", legacy]).exit_code == 1
    accepted = runner.invoke(app, ["id", "validate", "CN_USCC", legacy, "--accept-check-mismatch"])
    assert accepted.exit_code == 0 and "flagged: check_digit_mismatch" in accepted.output


def test_keys_init_rotate_and_jwks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXG_KEYS_DIR", str(tmp_path))
    first = runner.invoke(app, ["keys", "init"]).output.split()[3]
    assert runner.invoke(app, ["keys", "init"]).output.split()[3] == first
    runner.invoke(app, ["keys", "rotate", "--alg", "ES256"])
    jwks = json.loads(runner.invoke(app, ["keys", "jwks"]).output)
    assert [k["alg"] for k in jwks["keys"]] == ["EdDSA", "ES256"] and jwks["keys"][0][
        "kid"
    ] == first


def test_demo_seeds_and_the_printed_client_command_works(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CXG_KEYS_DIR": str(tmp_path / "keys"),
        "CXG_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
    }
    cxg = [sys.executable, "-m", "gateway.cli"]
    seeded = subprocess.run(
        [*cxg, "demo", "--no-serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr
    assert "5 companies from 3 partners" in seeded.stdout
    again = subprocess.run(
        [*cxg, "demo", "--no-serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0  # re-running the demo neither duplicates nor fails
    listed = subprocess.run(
        [*cxg, "partners", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == [
        "demo-cn-qingdao-customs",
        "demo-kz-bank",
        "demo-ru-credit-bureau",
    ]
    assert not any(
        (tmp_path / "keys" / "partners").glob("*.pem")
    )  # only public keys in the registry
