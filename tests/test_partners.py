"""The partner registry in the database: registration rules, key rotation without downtime,
validity windows, and suspensions and retirements that take effect at once on both transports."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.errors import Conflict, InvalidArgument, NotFound
from gateway.service import PartnerAdmin
from gateway.signing import SigningKey
from gateway.storage import Database
from gateway.transport.serve import Gateway
from gateway.trust import Partner, pki
from tests.clients import GrpcClient, RestClient
from tests.support import TestPartner, profile, unsigned_jws, write_partners

Partners = dict[str, TestPartner]


Client = RestClient | GrpcClient


@pytest.fixture(params=["rest", "grpc"])
def connect(
    request: pytest.FixtureRequest, gateway: Gateway
) -> Iterator[Callable[[Partners], Client]]:
    """Opens clients on one transport, each calling with the keys of the partners it is given."""
    opened: list[Client] = []

    def open_client(partners: Partners) -> Client:
        kind = RestClient if request.param == "rest" else GrpcClient
        opened.append(kind(gateway, partners))
        return opened[-1]

    yield open_client
    for c in opened:
        c.close()


@pytest.fixture
def client(connect: Callable[[Partners], Client], partners: Partners) -> Client:
    return connect(partners)


def test_rotation_without_downtime_then_retirement(
    connect: Callable[[Partners], Client], gateway: Gateway, partners: Partners
) -> None:
    """Add the new key, switch the partner's software to it, retire the old one."""
    admin = gateway.partners
    old = partners["ru-bureau"]
    before = connect(partners)  # the partner's software on its old key
    assert before.publish(old.sign(profile())).body["publisher"] == old.id
    new_key = SigningKey.generate("ES256")
    admin.add_key(old.id, new_key.public_jwk())
    new = TestPartner(old.id, old.country, old.roles, new_key)
    after = connect(partners | {old.id: new})  # ... and switched to the new one
    # Both keys verify while they overlap.
    assert after.publish(old.sign(profile(ratings=[]))).body["version"] == "2"
    assert after.publish(new.sign(profile(aeo=[]))).body["version"] == "3"
    admin.retire_key(old.key.kid)
    refused = after.publish(old.sign(profile()))
    assert (refused.problem, refused.field) == ("unauthenticated", "jws.header.kid")
    assert "retired" in refused.detail
    # The token issued for the retired key stops working at once as well.
    stale = before.publish(new.sign(profile()))
    assert (stale.problem, stale.field) == ("unauthenticated", "authorization")
    assert after.publish(new.sign(profile(ratings=[], aeo=[]))).body["version"] == "4"


def test_suspension_takes_effect_at_once(
    client: Client, gateway: Gateway, partners: Partners
) -> None:
    admin = gateway.partners
    bank = partners["kz-bank"]
    assert client.publish(bank.sign(profile())).body["version"] == "1"
    admin.suspend(bank.id)
    refused = client.publish(bank.sign(profile(ratings=[])))
    assert refused.problem == "permission-denied" and "suspended" in refused.detail
    admin.reinstate(bank.id)
    assert client.publish(bank.sign(profile(ratings=[]))).body["version"] == "2"


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        ({"not_before": timedelta(hours=1)}, "not valid before"),
        ({"not_before": timedelta(days=-2), "not_after": timedelta(days=-1)}, "expired"),
    ],
    ids=["not-yet-valid", "expired"],
)
def test_keys_outside_their_validity_window_are_refused(
    client: Client,
    gateway: Gateway,
    partners: Partners,
    window: dict[str, timedelta],
    reason: str,
) -> None:
    key = SigningKey.generate()
    now = datetime.now(UTC)
    gateway.partners.add_key(
        "cn-customs", key.public_jwk(), **{k: now + v for k, v in window.items()}
    )
    outcome = client.publish(TestPartner("cn-customs", "CN", ("customs",), key).sign(profile()))
    assert (outcome.problem, outcome.field) == ("unauthenticated", "jws.header.kid")
    assert reason in outcome.detail


@pytest.mark.parametrize(
    "kid",
    ["../../keys/gateway/keyring", "x' OR '1'='1", "a" * 129, "kid with spaces", "ключ"],
    ids=["path", "sql", "long", "spaces", "cyrillic"],
)
def test_hostile_kids_are_refused_before_any_lookup(client: Client, kid: str) -> None:
    outcome = client.publish(unsigned_jws({"alg": "EdDSA", "kid": kid}, b"{}", b"x" * 64))
    assert (outcome.problem, outcome.field) == ("unauthenticated", "jws.header.kid")
    assert "characters" in outcome.detail


def test_registration_rules(db: Database, partners: Partners) -> None:
    admin = PartnerAdmin(db)
    private = partners["ru-bureau"].key.public_jwk() | {"d": "c2VjcmV0"}
    with pytest.raises(InvalidArgument, match="private members"):
        admin.add_key("ru-bureau", private)
    hmac_key = {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}
    with pytest.raises(InvalidArgument, match=r"private members|alg must be one of"):
        admin.add_key("ru-bureau", hmac_key)
    rsa_alg = SigningKey.generate().public_jwk() | {"alg": "RS256"}
    with pytest.raises(InvalidArgument, match="alg must be one of"):
        admin.add_key("ru-bureau", rsa_alg)
    with pytest.raises(Conflict):
        admin.add_key("ru-bureau", partners["ru-bureau"].key.public_jwk())  # already registered
    with pytest.raises(NotFound):
        admin.add_key("nobody", SigningKey.generate().public_jwk())
    with pytest.raises(NotFound):
        admin.retire_key("no-such-kid")
    with pytest.raises(NotFound):
        admin.suspend("nobody")


def test_import_adds_only_what_is_missing(db: Database, partners: Partners, tmp_path: Path) -> None:
    admin = PartnerAdmin(db)
    directory = tmp_path / "more"
    extra = TestPartner("by-bank", "BY", ("bank",), SigningKey.generate())
    write_partners(directory, {**partners, extra.id: extra})
    report = admin.import_files(directory)
    assert (report.partners_added, report.keys_added) == (1, 1)
    assert admin.import_files(directory).keys_added == 0
    (directory / "broken.json").write_text(
        json.dumps(
            {"id": "../evil", "name": "x", "country": "CN", "roles": ["bank"], "jwks": {"keys": []}}
        )
    )
    with pytest.raises(InvalidArgument, match=r"broken\.json"):
        admin.import_files(directory)


def test_operator_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXG_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    first, second = SigningKey.generate(), SigningKey.generate("ES256")
    (tmp_path / "first.json").write_text(json.dumps({"keys": [first.public_jwk()]}))
    (tmp_path / "second.json").write_text(json.dumps(second.public_jwk()))

    def cxg(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    cxg("db", "upgrade")  # the one command besides demo that creates a database
    cxg(
        "partners",
        "add",
        "uz-bank",
        "--name",
        "Demo Uzbek Bank",
        "--country",
        "uz",
        "--role",
        "bank",
        "--jwk",
        str(tmp_path / "first.json"),
    )
    cxg(
        "partners",
        "add-key",
        "uz-bank",
        "--jwk",
        str(tmp_path / "second.json"),
        "--not-before",
        "2026-01-01T00:00:00",
    )
    cxg("partners", "retire-key", "--", first.kid)
    cxg("partners", "suspend", "uz-bank")
    assert cxg("partners", "list").split() == ["uz-bank", "UZ", "bank", "suspended"]
    shown = cxg("partners", "show", "uz-bank")
    assert (
        f"key {first.kid}  EdDSA  retired" in shown
        and f"key {second.kid}  ES256  active  valid 2026-01-01T00:00:00+00:00" in shown
    )
    refused = runner.invoke(
        app,
        [
            "partners",
            "add",
            "Bad Id",
            "--name",
            "x",
            "--country",
            "UZ",
            "--role",
            "bank",
            "--jwk",
            str(tmp_path / "first.json"),
        ],
    )
    # A bad argument is a usage error (2); a refusal by the registry is an operational one (1).
    assert refused.exit_code == 2 and "partner id" in refused.output
    missing = runner.invoke(app, ["partners", "suspend", "nobody"])
    assert missing.exit_code == 1 and "no partner 'nobody'" in missing.output


def test_registration_checks_operations_and_purposes(db: Database) -> None:
    admin = PartnerAdmin(db)
    jwks = [SigningKey.generate().public_jwk()]

    def bank(*, operations: set[str], purposes: set[str]) -> Partner:
        return Partner(
            "uz-bank",
            "Demo Uzbek Bank",
            "UZ",
            frozenset({"bank"}),
            operations=frozenset(operations),
            purposes=frozenset(purposes),
        )

    for partner, field in (
        (bank(operations={"GetProfile", "Teleport"}, purposes=set()), "partner.operations"),
        (bank(operations=set(), purposes={"curiosity"}), "partner.purposes"),
    ):
        with pytest.raises(InvalidArgument) as caught:
            admin.register(partner, jwks)
        assert caught.value.field == field
    narrowed = bank(operations={"GetProfile"}, purposes={"credit_assessment"})
    admin.register(narrowed, jwks)
    assert admin.show("uz-bank").partner == narrowed


def test_import_registers_certificates_too(
    db: Database, partners: Partners, tmp_path: Path
) -> None:
    pki.init_ca(tmp_path / "pki")
    pems = {
        partner_id: pki.issue_partner_certificate(
            tmp_path / "pki", partner_id
        ).cert_path.read_text()
        for partner_id in ("kz-bank", "by-bank")
    }
    directory = tmp_path / "more"
    extra = TestPartner("by-bank", "BY", ("bank",), SigningKey.generate())
    write_partners(directory, {"kz-bank": partners["kz-bank"], extra.id: extra})
    for partner_id, pem in pems.items():
        path = directory / f"{partner_id}.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"certificates": [pem]}))
    changes: list[None] = []
    admin = PartnerAdmin(db, on_change=lambda: changes.append(None))
    report = admin.import_files(directory)
    assert (report.partners_added, report.keys_added, report.certificates_added) == (1, 1, 2)
    assert changes
    for partner_id, pem in pems.items():
        [registered] = admin.show(partner_id).certificates
        assert registered.thumbprint == pki.certificate_thumbprint(pem.encode())
    assert admin.import_files(directory).certificates_added == 0
    (directory / "by-bank.json").write_text(
        json.dumps(extra.record() | {"certificates": "-----BEGIN CERTIFICATE-----"})
    )
    with pytest.raises(InvalidArgument, match=r"by-bank\.json.*list of PEM strings"):
        admin.import_files(directory)
