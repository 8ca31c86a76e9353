"""Exchange in a partner's format, on both transports: a partner publishes its own record
(signed by it) and the gateway maps and validates it as a canonical publish; a caller asks for
a profile in a partner format and gets that record, signed by the gateway and verifiable with an
independent JOSE library. Bad records are refused by partner path and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws
from sqlalchemy import func, select

from adapters.ru_bureau import adapter as ru_bureau
from gateway.storage.tables import profile_versions
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, RestClient
from tests.support import USCC, TestPartner, profile, publish

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")

SAMPLE = (Path(__file__).parents[1] / "adapters/ru_bureau/samples/romashka.json").read_bytes()


@pytest.fixture(params=["rest", "grpc"])
def client(
    request: pytest.FixtureRequest, gateway: Gateway, partners: dict[str, TestPartner]
) -> Iterator[RestClient | GrpcClient]:
    c = (RestClient if request.param == "rest" else GrpcClient)(gateway, partners)
    yield c
    c.close()


def versions(gateway: Gateway) -> int:
    return int(gateway.db.read(select(func.count()).select_from(profile_versions))[0][0])


def verified_payload(gateway: Gateway, jws: str) -> tuple[dict[str, object], bytes]:
    """Header and payload of a gateway JWS, checked by jwcrypto against the JWKS alone."""
    keys = jc_jwk.JWKSet.from_json(json.dumps(gateway.exchange.keyring.jwks()))
    token = jc_jws.JWS()
    token.deserialize(jws)
    key = keys.get_key(token.jose_header["kid"])
    token.allowed_algs = [key.get("alg")]
    token.verify(key)
    return token.jose_header, token.payload


def test_a_partner_publishes_its_own_format_and_reads_it_back_signed_by_the_gateway(
    client: RestClient | GrpcClient, gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    receipt = client.publish(partners["ru-bureau"].sign(SAMPLE), format="ru-bureau")
    assert receipt.status in (200, "OK"), receipt
    canonical = client.get(scheme="RU_INN", value="7708123450")
    subject = canonical.body["profile"]["subject"]
    assert subject["legalName"]["ru"] == "Общество с ограниченной ответственностью «Ромашка»"
    assert subject["registrationDate"] == "2004-03-12"
    assert canonical.body["profile"]["provenance"]["sourceInstitution"] == "ru-bureau"

    answer = client.get(scheme="RU_INN", value="7708123450", format="ru-bureau")
    header, payload = verified_payload(gateway, answer.body["jws"])
    assert (header["format"], header["cty"]) == ("ru-bureau", "application/json")
    record = json.loads(payload)
    assert record["ИНН"] == "7708123450" and record["ДатаРегистрации"] == "12.03.2004"
    assert answer.body["profile"] == canonical.body["profile"]  # the canonical profile still
    mapped = ru_bureau.decode(payload)
    assert mapped.subject.legal_name.ru == subject["legalName"]["ru"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (SAMPLE.replace(b"7708123450", b"7708123451"), "/ИНН"),
        (SAMPLE.replace("Действует".encode(), "Закрыто".encode()), "/Статус"),
        (SAMPLE.replace(b"12.03.2004", b"2004-03-12"), "/ДатаРегистрации"),
        (b"{", "/"),
    ],
    ids=["inn-check-digit", "unknown-status", "date-format", "malformed"],
)
def test_a_bad_partner_record_is_refused_by_its_path_and_nothing_is_stored(
    client: RestClient | GrpcClient,
    gateway: Gateway,
    partners: dict[str, TestPartner],
    record: bytes,
    field: str,
) -> None:
    before = versions(gateway)
    refused = client.publish(partners["ru-bureau"].sign(record), format="ru-bureau")
    assert refused.problem == "invalid-record" and refused.field == field, refused
    assert "ru-bureau 1.1.0" in refused.detail
    assert versions(gateway) == before


@pytest.mark.parametrize(
    ("cty", "problem"), [("application/json", None), ("xml", "invalid-argument")]
)
def test_a_format_publication_names_the_formats_media_type_or_none(
    client: RestClient | GrpcClient,
    gateway: Gateway,
    partners: dict[str, TestPartner],
    cty: str,
    problem: str | None,
) -> None:
    """Typed as any publication, with the media type of the record as its cty when it has one."""
    outcome = client.publish(partners["ru-bureau"].sign(SAMPLE, cty=cty), format="ru-bureau")
    assert (outcome.problem, outcome.field) == (problem, problem and "jws.header.cty"), outcome
    assert versions(gateway) == (0 if problem else 1)


def test_an_unknown_format_is_refused_by_name_on_publish_and_get(
    client: RestClient | GrpcClient, gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    refused = client.publish(partners["ru-bureau"].sign(SAMPLE), format="ru-bureau-v9")
    assert (refused.problem, refused.field) == ("invalid-argument", "format"), refused
    assert "known: " in refused.detail and "ru-bureau" in refused.detail
    publish(gateway.exchange, partners["cn-customs"], profile())
    refused = client.get(scheme="CN_USCC", value=USCC, format="nope")
    assert (refused.problem, refused.field) == ("invalid-argument", "format"), refused


def test_a_profile_a_format_cannot_carry_is_refused_not_truncated(
    client: RestClient | GrpcClient, gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    publish(gateway.exchange, partners["cn-customs"], profile())  # a Chinese company
    refused = client.get(scheme="CN_USCC", value=USCC, format="ru-bureau")
    assert refused.problem == "invalid-record", refused
    assert "carries only 'RU'" in refused.detail


def test_a_minimized_view_goes_out_minimized_in_the_partner_format(
    client: RestClient | GrpcClient, gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    client.publish(partners["ru-bureau"].sign(SAMPLE), format="ru-bureau")
    answer = client.get(
        scheme="RU_INN", value="7708123450", purpose="credit_reporting", format="ru-bureau"
    )
    full = json.loads(verified_payload(gateway, answer.body["jws"])[1])
    assert "Рейтинги" in full
    summary = client.get(
        scheme="RU_INN", value="7708123450", purpose="trade_due_diligence", format="ru-bureau"
    )
    header, payload = verified_payload(gateway, summary.body["jws"])
    assert header["view"] == "summary"
    assert "Рейтинги" not in json.loads(payload)
