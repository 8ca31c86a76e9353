"""The partner registry in the database: registration rules, key rotation without downtime,
validity windows, and suspensions and retirements that take effect at once on both transports."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
from tests.clients import GrpcClient, RestClient
from tests.support import TestPartner, profile, unsigned_jws, write_partners

Partners = dict[str, TestPartner]


@pytest.fixture(params=["rest", "grpc"])
def client(request: pytest.FixtureRequest, gateway: Gateway) -> Iterator[RestClient | GrpcClient]:
    c = RestClient(gateway) if request.param == "rest" else GrpcClient(gateway)
    yield c
    c.close()


def test_rotation_without_downtime_then_retirement(
    client: RestClient | GrpcClient, gateway: Gateway, partners: Partners
) -> None:
    admin = PartnerAdmin(gateway.db)
    old = partners["ru-bureau"]
    new_key = SigningKey.generate("ES256")
    admin.add_key(old.id, new_key.public_jwk())
    new = TestPartner(old.id, old.country, old.roles, new_key)
    # Both keys verify while they overlap.
    assert client.publish(old.sign(profile())).body["publisher"] == old.id
    assert client.publish(new.sign(profile(ratings=[]))).body["version"] == "2"
    admin.retire_key(old.key.kid)
    refused = client.publish(old.sign(profile(aeo=[])))
    assert (refused.problem, refused.field) == ("unauthenticated", "jws.header.kid")
    assert "retired" in refused.detail
    assert client.publish(new.sign(profile(aeo=[]))).body["version"] == "3"


def test_suspension_takes_effect_at_once(
    client: RestClient | GrpcClient, gateway: Gateway, partners: Partners
) -> None:
    admin = PartnerAdmin(gateway.db)
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
    client: RestClient | GrpcClient,
    gateway: Gateway,
    partners: Partners,
    window: dict[str, timedelta],
    reason: str,
) -> None:
    key = SigningKey.generate()
    now = datetime.now(UTC)
    PartnerAdmin(gateway.db).add_key(
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
def test_hostile_kids_are_refused_before_any_lookup(
    client: RestClient | GrpcClient, kid: str
) -> None:
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
    cxg("partners", "retire-key", first.kid)
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
    assert refused.exit_code == 1 and "partner id" in refused.output
    missing = runner.invoke(app, ["partners", "suspend", "nobody"])
    assert missing.exit_code == 1 and "no partner 'nobody'" in missing.output
