"""The cxg command as an operator runs it: identifier validation, keys, the demo gateway."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import Settings
from gateway.service import PartnerAdmin
from gateway.signing import SigningKey
from gateway.storage import Database
from gateway.transport.serve import Gateway
from gateway.trust import pki

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
    assert "5 companies from 5 partners" in seeded.stdout
    again = subprocess.run(
        [*cxg, "demo", "--no-serve"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0  # re-running the demo neither duplicates nor fails
    listed = subprocess.run(
        [*cxg, "partners", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) == [
        "demo-cn-qingdao-customs",
        "demo-cn-sme-portal",
        "demo-kz-bank",
        "demo-operator",
        "demo-ru-credit-bureau",
    ]
    assert not any(
        (tmp_path / "keys" / "partners").glob("*.pem")
    )  # only public keys in the registry
    settings = dataclasses.replace(
        Settings.from_env(env), grpc_port=0, rest_port=0, trust_cache_seconds=0
    )
    gateway = Gateway(settings).start()
    try:
        rest = f"http://127.0.0.1:{gateway.rest_port}"
        as_bank = ["--as", "demo-kz-bank", "--purpose", "trade_due_diligence", "--rest", rest]
        summary = runner.invoke(app, ["client", "get", "KZ_BIN", "180440001235", *as_bank], env=env)
        assert summary.exit_code == 0, summary.output
        shown = json.loads(summary.output)
        assert shown["subject"]["ids"] and "ratings" not in shown  # the purpose's view
        as_bureau = ["--as", "demo-ru-credit-bureau", "--purpose", "credit_reporting"]
        full = runner.invoke(
            app,
            [
                "client",
                "get",
                "KZ_BIN",
                "180440001235",
                *as_bureau,
                "--rest",
                rest,
                "--grpc",
                f"127.0.0.1:{gateway.grpc_port}",
            ],
            env=env,
        )
        assert full.exit_code == 0, full.output
        assert json.loads(full.output)["profile"]["ratings"]
        refused = runner.invoke(
            app,
            [
                "client",
                "get",
                "KZ_BIN",
                "180440001235",
                "--as",
                "demo-kz-bank",
                "--purpose",
                "credit_reporting",
                "--rest",
                rest,
            ],
            env=env,
        )
        assert refused.exit_code == 1 and "403" in refused.output
    finally:
        gateway.stop()


def _cxg(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    return result.output


@pytest.fixture
def operator_db(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The test partners' database, as the CLI finds it (CXG_DATABASE_URL)."""
    monkeypatch.setenv("CXG_DATABASE_URL", settings.database_url)
    return db


def test_pki_issue_partner_registers_the_certificate(operator_db: Database, tmp_path: Path) -> None:
    pki_dir = str(tmp_path / "pki")
    _cxg("pki", "init", "--dir", pki_dir)
    issued = _cxg("pki", "issue-partner", "kz-bank", "--dir", pki_dir)
    thumbprint = issued.split("x5t#S256 ")[1].split()[0]
    assert "registered the certificate for kz-bank" in issued
    assert f"cert {thumbprint}  O=cxg partner,CN=kz-bank" in _cxg("partners", "show", "kz-bank")
    unregistered = _cxg("pki", "issue-partner", "uz-bank", "--dir", pki_dir)
    assert "uz-bank is not a registered partner" in unregistered
    assert "cxg partners add-cert uz-bank" in unregistered
    quiet = _cxg("pki", "issue-partner", "ru-bureau", "--dir", pki_dir, "--no-register")
    assert "registered" not in quiet
    assert PartnerAdmin(operator_db).show("ru-bureau").certificates == []


def test_partners_add_cert_and_remove_cert(operator_db: Database, tmp_path: Path) -> None:
    pki.init_ca(tmp_path)
    pem = pki.issue_partner_certificate(tmp_path, "kz-bank")
    added = _cxg("partners", "add-cert", "kz-bank", str(pem.cert_path))
    assert added.split() == ["added", "certificate", pem.thumbprint, "to", "kz-bank"]
    assert "already registered" in _refused("partners", "add-cert", "ru-bureau", str(pem.cert_path))
    assert "certificate_pem: " in _refused("partners", "add-cert", "kz-bank", str(pem.key_path))
    assert "no partner 'nobody'" in _refused("partners", "add-cert", "nobody", str(pem.cert_path))
    # After --: a thumbprint is base64url and may start with '-'.
    removed = _cxg("partners", "remove-cert", "kz-bank", "--", pem.thumbprint)
    assert removed.strip() == f"removed certificate {pem.thumbprint} from kz-bank"
    assert "cert " not in _cxg("partners", "show", "kz-bank")
    gone = _refused("partners", "remove-cert", "kz-bank", "--", pem.thumbprint)
    assert f"thumbprint: partner 'kz-bank' has no certificate {pem.thumbprint}" in gone


def test_partners_set_quota(operator_db: Database) -> None:
    assert "quota rps=default  burst=default  daily=default" in _cxg("partners", "show", "kz-bank")
    set_ = _cxg("partners", "set-quota", "kz-bank", "--rps", "2.5", "--burst", "5")
    assert set_.strip() == "quota of kz-bank: rps=2.5  burst=5  daily=default"
    assert "quota rps=2.5  burst=5  daily=default" in _cxg("partners", "show", "kz-bank")
    _cxg("partners", "set-quota", "kz-bank", "--daily", "1000")  # replaces the whole quota
    assert "quota rps=default  burst=default  daily=1000" in _cxg("partners", "show", "kz-bank")
    assert "must be positive" in _refused("partners", "set-quota", "kz-bank", "--burst", "0")
    assert "finite" in _refused("partners", "set-quota", "kz-bank", "--rps", "nan")
    too_many = _refused("partners", "set-quota", "kz-bank", "--burst", str(2**31))
    assert "quota.burst: quota burst must be at most 2147483647" in too_many
    assert "no partner 'nobody'" in _refused("partners", "set-quota", "nobody", "--burst", "1")


def test_partners_add_with_purposes_and_operations(operator_db: Database, tmp_path: Path) -> None:
    jwk = tmp_path / "key.json"
    jwk.write_text(json.dumps(SigningKey.generate().public_jwk()))
    add = ["partners", "add", "uz-bank", "--name", "Demo Uzbek Bank", "--country", "uz"]
    add += ["--role", "bank", "--jwk", str(jwk)]
    narrowing = ["--purpose", "credit_assessment", "--operation", "GetProfile"]
    refused = _refused(*add, *narrowing, "--operation", "Teleport")
    assert "partner.operations: unknown operations ['Teleport']" in refused
    _cxg(*add, *narrowing, "--operation", "GetConsent")
    shown = _cxg("partners", "show", "uz-bank")
    assert "operations GetConsent,GetProfile" in shown and "purposes credit_assessment" in shown
    assert "operations (all its roles allow)" in _cxg("partners", "show", "kz-bank")
