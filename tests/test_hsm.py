"""Gateway keys in a PKCS#11 token: a fresh SoftHSM2 token per test session signs profiles, SCO
codes and checkpoints, rotates, refuses to give its private keys out, and serves through a
real ``cxg serve``. Signatures are checked with what a partner has: jwcrypto and the published
JWKS, pycose for COSE."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509 import load_pem_x509_certificate
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws
from pycose.keys.ec2 import EC2Key
from pycose.keys.okp import OKPKey
from typer.testing import CliRunner

from gateway.audit import note
from gateway.cli import app
from gateway.config import Settings
from gateway.errors import Unavailable
from gateway.reports import ReportFonts
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.sco import issue
from gateway.service import ProfileExchange
from gateway.service.audit import AuditLog
from gateway.service.tokens import TokenService
from gateway.signing import KeyRing, Signer
from gateway.storage import Database
from gateway.storage.partners import PartnerStore
from tests.audit_load import gateways
from tests.clients import RestClient
from tests.support import USCC, TestPartner, profile, publish, read
from tests.test_sco_codes import claims, cose_of, pycose_decode

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "cxg-test"
PIN = "246810"
pytestmark = pytest.mark.skipif(
    not SOFTHSM.exists(), reason=f"SoftHSM2 is not installed ({SOFTHSM} is absent)"
)


@dataclasses.dataclass(frozen=True)
class Hsm:
    """The session's token: where its configuration and PIN file are, for child processes."""

    conf: Path
    pin_file: Path

    def settings(self, base: Settings, *labels: str) -> Settings:
        return dataclasses.replace(
            base,
            pkcs11_module=SOFTHSM,
            pkcs11_token_label=TOKEN,
            pkcs11_key_label=labels,
            pkcs11_pin_file=self.pin_file,
        )

    def env(self, settings: Settings) -> dict[str, str]:
        return {
            **os.environ,
            "SOFTHSM2_CONF": str(self.conf),
            "CXG_DATABASE_URL": settings.database_url,
            "CXG_KEYS_DIR": str(settings.keys_dir),
            "CXG_PKCS11_MODULE": str(SOFTHSM),
            "CXG_PKCS11_TOKEN_LABEL": TOKEN,
            "CXG_PKCS11_KEY_LABEL": ",".join(settings.pkcs11_key_label),
            "CXG_PKCS11_PIN_FILE": str(self.pin_file),
            "CXG_GRPC_PORT": "0",
            "CXG_REST_PORT": "0",
        }


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hsm]:
    """A fresh token with the keys most tests use: ``ed`` (Ed25519), ``es`` (P-256) and the
    checkpoint key, all made by ``cxg hsm init``'s code."""
    from gateway.signing.pkcs11 import Pkcs11Token

    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    pin_file = root / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        made = subprocess.run(
            [
                *("softhsm2-util", "--init-token", "--free", "--label", TOKEN),
                *("--pin", PIN, "--so-pin", "13579"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        token = Pkcs11Token.open(SOFTHSM, TOKEN, PIN)
        token.generate("ed", "EdDSA")
        token.generate("es", "ES256")
        token.generate("cxg-checkpoint", "EdDSA")
        yield Hsm(conf, pin_file)


def jwks_verify(jws: str, jwks: Mapping[str, Any]) -> bytes:
    """The payload, verified with jwcrypto against the key the JWKS has under the JWS's kid,
    after checking that kid is the key's RFC 7638 thumbprint."""
    keys = jc_jwk.JWKSet.from_json(json.dumps(jwks))
    header = json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))
    key = keys.get_key(header["kid"])
    assert key is not None and key.thumbprint() == header["kid"]
    token = jc_jws.JWS()
    token.deserialize(jws)
    token.verify(key, alg=header["alg"])
    payload: bytes = token.payload
    return payload


@pytest.mark.parametrize("label", ["ed", "es"])
def test_a_profile_signed_in_the_token_verifies_with_the_published_jwks(
    hsm: Hsm, settings: Settings, db: Database, partners: dict[str, TestPartner], label: str
) -> None:
    configured = hsm.settings(settings, label)
    exchange = ProfileExchange.from_settings(configured, db, PartnerStore(db))
    publish(exchange, partners["cn-customs"], profile())
    request = pb.GetProfileRequest()
    request.id.scheme, request.id.value = "CN_USCC", USCC
    shown = read(exchange, partners["ru-bureau"], request)
    payload = json.loads(jwks_verify(shown.jws, exchange.jwks()))
    assert payload["subject"]["ids"][0]["value"] == USCC
    assert exchange.keyring.active.alg == {"ed": "EdDSA", "es": "ES256"}[label]


@pytest.mark.parametrize("label", ["ed", "es"])
def test_an_sco_code_signed_in_the_token_verifies_with_pycose(
    hsm: Hsm, settings: Settings, label: str
) -> None:
    key = KeyRing.from_settings(hsm.settings(settings, label)).active
    message = pycose_decode(cose_of(issue(claims(), key)))
    jwk = key.public_jwk()
    raw = {m: base64.urlsafe_b64decode(jwk[m] + "==") for m in ("x", "y") if m in jwk}
    message.key = (
        OKPKey(crv="Ed25519", x=raw["x"])
        if key.alg == "EdDSA"
        else EC2Key(crv="P_256", x=raw["x"], y=raw["y"])
    )
    assert message.verify_signature()


def test_a_checkpoint_is_signed_by_the_token_key(
    hsm: Hsm, settings: Settings, db: Database
) -> None:
    from gateway.signing.pkcs11 import Pkcs11Token

    configured = hsm.settings(settings, "ed")
    log = AuditLog.from_settings(configured, db)
    checkpoint = log.sign_checkpoint()
    token_key = Pkcs11Token.from_settings(configured).key("cxg-checkpoint")
    public = token_key.public_key()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    assert log.verifier_key == note.verifier_key(log.origin, public)
    assert note.verify_note(checkpoint.note, [log.verifier_key]) == [log.origin]
    assert not (configured.gateway_keys_dir / "checkpoint-ed25519.pem").exists()


def test_rotation_keeps_old_keys_published_and_the_new_one_signs(
    hsm: Hsm, settings: Settings, db: Database
) -> None:
    # The token outlives the test (it is session-wide) and this test runs once per database.
    old, new = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("rot-old", "rot-new"))
    env = hsm.env(hsm.settings(settings, old))
    runner = CliRunner()
    made = runner.invoke(app, ["hsm", "init", "--label", old], env=env)
    assert made.exit_code == 0, made.output
    before = KeyRing.from_settings(hsm.settings(settings, old))
    old_jws = before.active.sign_jws(b'{"n":1}', {"typ": "test"})

    rotated = runner.invoke(app, ["hsm", "rotate", "--label", new, "--alg", "ES256"], env=env)
    assert rotated.exit_code == 0, rotated.output
    assert f"CXG_PKCS11_KEY_LABEL={new},{old}" in rotated.output
    after = KeyRing.from_settings(hsm.settings(settings, new, old))
    assert after.active.alg == "ES256" and after.active.kid != before.active.kid
    assert [k["kid"] for k in after.jwks()["keys"]] == [after.active.kid, before.active.kid]
    new_jws = after.active.sign_jws(b'{"n":2}', {"typ": "test"})
    assert jwks_verify(old_jws, after.jwks()) == b'{"n":1}'
    assert jwks_verify(new_jws, after.jwks()) == b'{"n":2}'

    published = runner.invoke(
        app, ["keys", "jwks"], env={**env, "CXG_PKCS11_KEY_LABEL": f"{new},{old}"}
    )
    assert json.loads(published.output) == after.jwks()
    with db.engine.connect() as conn:  # both key changes are in the audit log
        leaves = [bytes(row[0]) for row in conn.exec_driver_sql("SELECT data FROM audit_leaves")]
    changes = [json.loads(leaf) for leaf in leaves if b"gateway.key.activate" in leaf]
    assert [c["subject"] for c in changes] == [
        [f"keys/{before.active.kid}"],
        [f"keys/{after.active.kid}"],
    ]


def test_the_private_keys_never_leave_the_token(hsm: Hsm) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    from gateway.signing.pkcs11 import Pkcs11Token

    token = Pkcs11Token.open(SOFTHSM, TOKEN, PIN)
    for label in ("ed", "es", "cxg-checkpoint"):
        private = token._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(AttributeSensitive):
            private[Attribute.VALUE]
        with pytest.raises(pkcs11.PKCS11Error):  # nor wrapped under a key we would hold
            secret = token._session.generate_key(pkcs11.KeyType.AES, 256)
            secret.wrap_key(private)


def test_a_signing_key_derives_the_same_secret_each_time_and_one_per_purpose(
    hsm: Hsm, settings: Settings
) -> None:
    keys = KeyRing.from_settings(hsm.settings(settings, "ed", "es")).keys
    for key in keys:
        assert key.derive_secret(b"a") == key.derive_secret(b"a") != key.derive_secret(b"b")
        assert len(key.derive_secret(b"a")) == 32
    ring = KeyRing(active=keys[1], keys=keys)  # DPoP nonces from an HSM key, ES256 active
    tokens = TokenService(ring, None, lambda jti, exp: True, gateway_id="g")  # type: ignore[arg-type]
    nonce = tokens.nonces.issue(1_750_000_000.0)
    assert tokens.nonces.expires_at(nonce, 1_750_000_000.0)


@pytest.mark.parametrize(
    ("change", "setting", "said"),
    [
        ({"pkcs11_token_label": "no-such-token"}, "CXG_PKCS11_TOKEN_LABEL", "no token labelled"),
        ({"pkcs11_key_label": ("no-such-key",)}, "CXG_PKCS11_KEY_LABEL", "no key pair labelled"),
        ({"pkcs11_key_label": ()}, "CXG_PKCS11_KEY_LABEL", "is unset"),
        ({"pkcs11_pin_file": Path("/nonexistent/pin")}, "CXG_PKCS11_PIN_FILE", "cannot read"),
    ],
)
def test_a_misconfigured_token_is_named_in_one_line(
    hsm: Hsm, settings: Settings, change: dict[str, Any], setting: str, said: str
) -> None:
    with pytest.raises(Unavailable) as refused:
        KeyRing.from_settings(dataclasses.replace(hsm.settings(settings, "ed"), **change))
    assert refused.value.field == setting
    assert str(refused.value).startswith(f"{setting}: ") and said in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_wrong_pin_is_refused_by_the_token_and_never_shown(
    hsm: Hsm, settings: Settings, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("999999")
    wrong.chmod(0o600)
    env = {**hsm.env(hsm.settings(settings, "ed")), "CXG_PKCS11_PIN_FILE": str(wrong)}
    # A process of its own: this one is logged in already, and a token checks a PIN at login.
    cxg = Path(sys.executable).with_name("cxg")
    shown = subprocess.run(
        [cxg, "keys", "jwks"], env=env, capture_output=True, text=True, check=False
    )
    assert shown.returncode == 1
    assert shown.stderr.strip().splitlines() == [
        f"cxg: CXG_PKCS11_PIN_FILE: token {TOKEN!r} refused the PIN"
    ]
    assert "999999" not in shown.stderr + shown.stdout
    with pytest.raises(Unavailable, match="CXG_PKCS11_PIN_FILE"):  # and in this process too
        KeyRing.from_settings(
            dataclasses.replace(hsm.settings(settings, "ed"), pkcs11_pin_file=wrong)
        )


def test_a_served_gateway_signs_with_the_token_and_publishes_its_key(
    hsm: Hsm, settings: Settings, db: Database, partners: dict[str, TestPartner], tmp_path: Path
) -> None:
    configured = hsm.settings(settings, "ed")
    publish(
        ProfileExchange.from_settings(configured, db, PartnerStore(db)),
        partners["cn-customs"],
        profile(),
    )
    with gateways(tmp_path) as running:
        served = running.start("hsm", hsm.env(configured))
        import httpx

        jwks = httpx.get(f"{served.base}/.well-known/jwks.json").json()
        client = RestClient(served, partners)  # type: ignore[arg-type]
        try:
            got = client.get(scheme="CN_USCC", value=USCC)
        finally:
            client.close()
        assert got.status == 200, got.body
        payload = json.loads(jwks_verify(got.body["jws"], jwks))
        assert payload["subject"]["ids"][0]["value"] == USCC
        token_key = KeyRing.from_settings(configured).active
        assert jwks == {"keys": [token_key.public_jwk()]}
        assert isinstance(token_key, Signer) and type(token_key).__name__ == "Pkcs11Key"
        assert not (settings.gateway_keys_dir / "checkpoint-ed25519.pem").exists()


def test_a_credit_report_is_signed_by_a_p256_key_in_the_token(
    hsm: Hsm, settings: Settings, tmp_path: Path
) -> None:
    """CXG_PKCS11_REPORT_KEY_LABEL with CXG_REPORT_CERT: the token signs the report's PAdES
    signature, pyHanko's validator trusts it through the CA; an Ed25519 key is refused."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from gateway.reports import render_report, sign_report
    from gateway.service.reports import report_signer
    from gateway.signing.pkcs11 import Pkcs11Token
    from gateway.trust import pki
    from tests.test_report_document import company, facts

    configured = hsm.settings(settings, "ed")
    token = Pkcs11Token.from_settings(configured)
    public_key = token.key("es").public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    issued = pki.issue_document_signer(tmp_path / "pki", public_key=public_key)
    assert not (tmp_path / "pki" / "report-signer-key.pem").exists()  # the key stays in the token
    signer = report_signer(
        dataclasses.replace(configured, pkcs11_report_key_label="es", report_cert=issued.cert_path)
    )
    signed = sign_report(render_report(facts(company()), ReportFonts.find()), signer)
    ca = load_pem_x509_certificate((tmp_path / "pki" / "ca.pem").read_bytes())
    roots = [asn1_x509.Certificate.load(ca.public_bytes(serialization.Encoding.DER))]
    reader = PdfFileReader(io.BytesIO(signed))
    status = validate_pdf_signature(
        reader.embedded_signatures[0], ValidationContext(trust_roots=roots)
    )
    assert status.intact and status.valid and status.trusted
    with pytest.raises(Unavailable) as refused:
        report_signer(
            dataclasses.replace(
                configured, pkcs11_report_key_label="ed", report_cert=issued.cert_path
            )
        )
    assert "P-256" in refused.value.message
