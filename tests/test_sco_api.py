"""SCO codes over both transports, on SQLite and PostgreSQL: issue from a profile, check online
(with the current status), change status, the signed trust and status lists (checked with an
independent JOSE library), codes of another country's issuer, and every bad request named."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws as jose_jws
from joserfc.jwk import KeySet

from gateway.schema.cxg.v1 import sco_service_pb2 as pb
from gateway.schema.cxg.v1 import sco_service_pb2_grpc as pb_grpc
from gateway.sco import Names, ScoClaims, StatusList, TrustList, issue, qr_png
from gateway.service import PartnerAdmin
from gateway.signing import SigningKey
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, RestClient
from tests.support import TestPartner, joserfc_registry, profile, publish

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")

AEO = {"scheme": "AEO", "value": "CN3702960123"}


@pytest.fixture
def operator(gateway: Gateway, partners: dict[str, TestPartner]) -> Any:
    publish(gateway.exchange, partners["cn-customs"], profile())
    client = RestClient(gateway, partners, caller="cxg-operator")
    yield client
    client.close()


def issued(client: RestClient, **body: Any) -> dict[str, Any]:
    response = client.request("POST", "/v1/scoCodes", json={"subject": AEO} | body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def check(client: RestClient, code: str) -> dict[str, Any]:
    response = client.http.post("/v1/scoCodes:verify", json={"code": code})  # no credentials
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_an_issued_code_verifies_online_by_text_and_by_scan_url(operator: RestClient) -> None:
    code = issued(operator, languages=["zh", "en"])
    assert code["code"].startswith("SC1:") and code["name"] == f"scoCodes/{code['name'][9:]}"
    assert code["url"] == code["url"].upper() and "/S/SC1:" in code["url"]
    assert code["state"] == "CODE_STATE_VALID" and code["issuedBy"] == "cxg-operator"
    # The QR version reported is the one of the image served, and a phone-scannable size.
    assert code["qrVersion"] == qr_png(code["url"]).version <= 16
    for text in (code["code"], code["url"]):
        answer = check(operator, text)
        assert answer["result"] == "VALID", answer
        claims = answer["claims"]
        assert claims["names"] == {"zh": "青岛海通国际贸易有限公司", "en": "Qingdao Haitong International Trade Co., Ltd."}  # fmt: skip
        assert claims["aeo"] is True and claims["aeoType"] == "CN_ADVANCED"
        assert claims["country"] == "CN" and claims["codeId"] == code["name"].split("/")[1]
    # The issuer reads it back, and gets its QR images.
    again = operator.request("GET", f"/v1/{code['name']}").json()
    assert again["code"] == code["code"]
    png = operator.request("GET", f"/v1/{code['name']}/qr.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = operator.request("GET", f"/v1/{code['name']}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content


def test_status_changes_show_online_and_in_the_signed_status_list(
    gateway: Gateway, operator: RestClient
) -> None:
    code = issued(operator)
    index = int(code.get("statusIndex", 0))  # proto3 JSON leaves out a zero
    jwks = operator.http.get("/.well-known/jwks.json").json()
    for state, result in [
        ("CODE_STATE_SUSPENDED", "SUSPENDED"),
        ("CODE_STATE_UNDER_REVIEW", "UNDER_REVIEW"),
        ("CODE_STATE_REVOKED", "REVOKED"),
        ("CODE_STATE_VALID", "VALID"),
    ]:
        changed = operator.request("POST", f"/v1/{code['name']}:setStatus", json={"state": state})
        assert changed.status_code == 200 and changed.json()["state"] == state
        assert check(operator, code["code"])["result"] == result
        signed = operator.http.get("/v1/sco/statusList").json()["jws"]
        status = StatusList.verify(signed, jwks, datetime.now(UTC))
        assert status.get(index).name == result
    # An independent JOSE library verifies both lists with the published JWKS alone.
    registry = joserfc_registry(["EdDSA", "ES256"])
    for path in ("/v1/sco/trustList", "/v1/sco/statusList"):
        signed = operator.http.get(path).json()["jws"]
        document = jose_jws.deserialize_compact(signed, KeySet.import_key_set(jwks), registry=registry)  # fmt: skip
        assert json.loads(document.payload)


def test_a_partner_issuer_s_own_codes_verify_through_the_trust_list(
    gateway: Gateway, operator: RestClient
) -> None:
    kz_key = SigningKey.generate("ES256")
    kz = TestPartner("kz-issuer", "KZ", ("issuer",), kz_key)
    PartnerAdmin(gateway.db).register(kz.as_partner(), [kz_key.public_jwk()])
    gateway.services.sco._trust = None  # the next list is built now, not within the minute
    now = datetime.now(UTC).replace(microsecond=0)
    claims = ScoClaims(
        code_id="00112233aabbccdd", subject_ids=(("KZ_BIN", "110340001239"),),
        names=Names(ru="ТОО «Акжол»"), country="KZ", grade_bucket="", aeo=False, aeo_type="",
        issued_at=now - timedelta(minutes=1), expires_at=now + timedelta(days=30),
        status_index=0, issuer="kz-issuer",
    )  # fmt: skip
    assert check(operator, issue(claims, kz_key))["result"] == "VALID"
    trust = TrustList.verify(
        operator.http.get("/v1/sco/trustList").json()["jws"],
        operator.http.get("/.well-known/jwks.json").json(),
        datetime.now(UTC),
    )
    assert {k.issuer for k in trust.keys} == {gateway.services.sco.issuer, "kz-issuer"}
    # A key the trust list does not hold, and a trusted key signing for another issuer.
    stranger = SigningKey.generate("EdDSA")
    assert check(operator, issue(claims, stranger))["result"] == "UNKNOWN_ISSUER"
    posing = ScoClaims(**{**claims.__dict__, "issuer": gateway.services.sco.issuer})
    assert check(operator, issue(posing, kz_key))["result"] == "UNKNOWN_ISSUER"


def test_bad_requests_are_refused_naming_the_field(
    gateway: Gateway, partners: dict[str, TestPartner], operator: RestClient
) -> None:
    for body, status, field in [
        ({"subject": {"scheme": "AEO", "value": "CN9999999999"}}, 404, "subject"),
        ({"subject": {"scheme": "NOPE", "value": "1"}}, 400, "subject.scheme"),
        ({"subject": AEO, "validDays": 5000}, 400, "valid_days"),
        ({"subject": AEO, "languages": ["fr"]}, 400, "languages"),
    ]:
        response = operator.request("POST", "/v1/scoCodes", json=body)
        assert (response.status_code, response.json().get("field")) == (status, field), body
    code = issued(operator)
    bad_state = operator.request("POST", f"/v1/{code['name']}:setStatus", json={"state": "CODE_STATE_UNSPECIFIED"})  # fmt: skip
    assert (bad_state.status_code, bad_state.json()["field"]) == (400, "state")
    # Roles: a bank issues nothing and sees no code.
    bank = RestClient(gateway, partners, caller="kz-bank")
    assert bank.request("POST", "/v1/scoCodes", json={"subject": AEO}).status_code == 403
    assert bank.request("GET", f"/v1/{code['name']}").status_code == 403
    bank.close()
    assert operator.request("GET", "/v1/scoCodes/0000000000000000").status_code == 404
    # Hostile codes are results, not errors.
    assert check(operator, "SC1:!!!")["result"] == "MALFORMED"
    assert check(operator, "HC1:" + code["code"][4:])["result"] == "MALFORMED"
    assert check(operator, code["code"][:-20])["result"] == "MALFORMED"
    assert check(operator, "SC1:" + "A" * 5000)["result"] == "OVERSIZE"
    nothing_stored = gateway.services.sco._store.states()[0]
    assert nothing_stored == 1  # only the one good code


def test_issue_and_verify_over_grpc(gateway: Gateway, partners: dict[str, TestPartner]) -> None:
    publish(gateway.exchange, partners["cn-customs"], profile())
    client = GrpcClient(gateway, partners, caller="cxg-operator")
    stub = pb_grpc.ScoServiceStub(client.channel)
    code = client.call(stub.IssueScoCode, pb.IssueScoCodeRequest(subject=AEO))
    assert code.status == "OK", code
    checked = client.call(stub.VerifyScoCode, pb.VerifyScoCodeRequest(code=code.body["url"]))
    assert checked.body["result"] == "VALID"
    lists = client.call(stub.GetStatusList, pb.GetStatusListRequest())
    assert lists.body["jws"].count(".") == 2
    client.close()


def test_concurrent_issues_get_distinct_status_indexes(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    publish(gateway.exchange, partners["cn-customs"], profile())
    operator = partners["cxg-operator"].as_partner()

    def one(_: int) -> int:
        request = pb.IssueScoCodeRequest(subject=AEO)
        return int(gateway.services.sco.issue_code(request, operator).status_index)

    with ThreadPoolExecutor(4) as pool:
        indexes = sorted(pool.map(one, range(12)))
    assert indexes == list(range(12))
