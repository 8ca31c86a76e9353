"""SCO codes over both transports, on SQLite and PostgreSQL: issue from a profile, check online
(with the current status), change status (every transition of the state machine, and a race),
a new code valid at once (also through another replica), the signed trust and status lists
(checked with an independent JOSE library, the status list token against the draft), codes of
another country's issuer, and every bad request named."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import base45  # type: ignore[import-untyped]
import cbor2
import httpx
import pytest
from joserfc import jws as jose_jws
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from gateway.errors import Conflict
from gateway.schema.cxg.v1 import sco_service_pb2 as pb
from gateway.schema.cxg.v1 import sco_service_pb2_grpc as pb_grpc
from gateway.sco import Names, ScoClaims, StatusList, TrustList, issue, qr_png
from gateway.service import PartnerAdmin
from gateway.signing import SigningKey
from gateway.storage.audit import AuditStore
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, RestClient
from tests.support import (
    TestPartner,
    acting_pool,
    joserfc_registry,
    profile,
    publish,
    with_subject,
)

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
    assert code["url"] == code["url"].upper() and "/S/SC1-" in code["url"]
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
    for state, result in [
        ("CODE_STATE_SUSPENDED", "SUSPENDED"),
        ("CODE_STATE_UNDER_REVIEW", "UNDER_REVIEW"),
        ("CODE_STATE_VALID", "VALID"),
        ("CODE_STATE_REVOKED", "REVOKED"),
    ]:
        changed = operator.request("POST", f"/v1/{code['name']}:setStatus", json={"state": state})
        assert changed.status_code == 200 and changed.json()["state"] == state
        assert check(operator, code["code"])["result"] == result
        assert listed(operator, index) == result
    # An independent JOSE library verifies both lists with the published JWKS alone.
    jwks = operator.http.get("/.well-known/jwks.json").json()
    registry = joserfc_registry(["EdDSA", "ES256"])
    for path in ("/v1/sco/trustList", "/v1/sco/statusList"):
        signed = operator.http.get(path).json()["jws"]
        document = jose_jws.deserialize_compact(signed, KeySet.import_key_set(jwks), registry=registry)  # fmt: skip
        assert json.loads(document.payload)


def listed(client: RestClient, index: int) -> str:
    """The status the gateway's signed status list, fetched now, gives ``index``."""
    jwks = client.http.get("/.well-known/jwks.json").json()
    signed = client.http.get("/v1/sco/statusList").json()["jws"]
    return StatusList.verify(signed, jwks, datetime.now(UTC)).get(index).name


def status_leaves(gateway: Gateway) -> list[dict[str, Any]]:
    """The audit log's leaves of SCO code status changes, decoded."""
    store = AuditStore(gateway.db)
    leaves = [json.loads(leaf.data) for leaf in store.leaves(0, store.size())]
    return [leaf for leaf in leaves if leaf.get("change") == "sco.status"]


# Every (from, to) pair of the four states. Revocation is final (the status list draft's
# INVALID); a "change" to the state a code is already in is no change; all else is allowed.
TRANSITIONS = [
    ("VALID", "VALID", False),
    ("VALID", "SUSPENDED", True),
    ("VALID", "UNDER_REVIEW", True),
    ("VALID", "REVOKED", True),
    ("SUSPENDED", "VALID", True),
    ("SUSPENDED", "SUSPENDED", False),
    ("SUSPENDED", "UNDER_REVIEW", True),
    ("SUSPENDED", "REVOKED", True),
    ("UNDER_REVIEW", "VALID", True),
    ("UNDER_REVIEW", "SUSPENDED", True),
    ("UNDER_REVIEW", "UNDER_REVIEW", False),
    ("UNDER_REVIEW", "REVOKED", True),
    ("REVOKED", "VALID", False),
    ("REVOKED", "SUSPENDED", False),
    ("REVOKED", "UNDER_REVIEW", False),
    ("REVOKED", "REVOKED", False),
]


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_every_state_change_is_allowed_or_refused_as_the_table_says(
    gateway: Gateway, partners: dict[str, TestPartner], operator: RestClient, transport: str
) -> None:
    """Issue 14, item 9: a revoked code came back to VALID with `reinstate`. Over REST and
    gRPC, from each state to each: an allowed change shows in the code, online verification
    and the next status list, with one audit leaf; a refused one answers 409 / ALREADY_EXISTS
    naming the field `state` and the code's state, and changes and records nothing."""
    grpc_client = GrpcClient(gateway, partners, caller="cxg-operator")
    stub = pb_grpc.ScoServiceStub(grpc_client.channel)

    def change(name: str, state: str) -> tuple[bool, Any]:
        if transport == "rest":
            answer = operator.request("POST", f"/v1/{name}:setStatus", json={"state": state})
            if answer.status_code == 200:
                return True, answer.json()["state"]
            problem = answer.json()
            assert (answer.status_code, problem["type"]) == (409, "urn:cxg:problem:conflict")
            return False, (problem["field"], problem["current_state"], problem["detail"])
        called = grpc_client.call(stub.SetScoCodeStatus, pb.SetScoCodeStatusRequest(name=name, state=state))  # fmt: skip
        if called.status == "OK":
            return True, called.body["state"]
        assert (called.status, called.problem) == ("ALREADY_EXISTS", "conflict"), called
        return False, (called.field, called.body["metadata"]["current_state"], called.detail)

    try:
        for start, end, allowed in TRANSITIONS:
            code = issued(operator)
            name, index = code["name"], int(code.get("statusIndex", 0))
            if start != "VALID":
                assert change(name, f"CODE_STATE_{start}") == (True, f"CODE_STATE_{start}")
            leaves = len(status_leaves(gateway))
            changed, answer = change(name, f"CODE_STATE_{end}")
            after = end if allowed else start
            assert changed is allowed, (start, end, answer)
            if allowed:
                assert answer == f"CODE_STATE_{end}"
                (leaf,) = status_leaves(gateway)[leaves:]
                assert leaf["subject"] == [name] and leaf["detail"] == {"state": end.lower()}
            else:
                field, current, detail = answer
                assert (field, current) == ("state", f"CODE_STATE_{start}"), answer
                why = "revocation is final" if start == "REVOKED" else f"already {end.lower()}"
                assert why in detail, detail
                assert status_leaves(gateway)[leaves:] == []
            stored = operator.request("GET", f"/v1/{name}").json()
            assert stored["state"] == f"CODE_STATE_{after}", (start, end)
            assert check(operator, code["code"])["result"] == after
            assert listed(operator, index) == after
    finally:
        grpc_client.close()


def test_a_concurrent_revoke_and_reinstate_never_both_pass_in_that_order(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    """The check is a compare-and-set in the store's UPDATE: of a revoke and a reinstate of a
    suspended code sent at once, the reinstate passes only if it came first; a revoke that
    passed is never undone, and every change that passed has its one audit leaf."""
    publish(gateway.exchange, partners["cn-customs"], profile())
    operator = partners["cxg-operator"].as_partner()
    sco = gateway.services.sco
    barrier = threading.Barrier(2)

    def change(name: str, state: int) -> bool:
        barrier.wait()
        try:
            sco.set_status(pb.SetScoCodeStatusRequest(name=name, state=state), operator)
        except Conflict:
            return False
        return True

    rounds = 12
    with acting_pool(2) as pool:
        for _ in range(rounds):
            name = sco.issue_code(pb.IssueScoCodeRequest(subject=AEO), operator).name
            suspend = pb.SetScoCodeStatusRequest(name=name, state=pb.CODE_STATE_SUSPENDED)
            sco.set_status(suspend, operator)
            leaves = len(status_leaves(gateway))
            revoke = pool.submit(change, name, pb.CODE_STATE_REVOKED)
            reinstate = pool.submit(change, name, pb.CODE_STATE_VALID)
            revoked, reinstated = revoke.result(), reinstate.result()
            final = sco.get_code(pb.GetScoCodeRequest(name=name), operator).state
            assert revoked  # from suspended or, after the reinstate, from valid: allowed
            assert final == pb.CODE_STATE_REVOKED
            changes = [leaf["detail"]["state"] for leaf in status_leaves(gateway)[leaves:]]
            assert changes == (["valid", "revoked"] if reinstated else ["revoked"])


def test_a_new_code_is_valid_at_once_on_every_path(
    gateway: Gateway, partners: dict[str, TestPartner], operator: RestClient
) -> None:
    """Issue 14, item 10: once a status list was signed, a code issued next answered
    UNDER_REVIEW ("index outside the status list") for up to a minute. Each code here is
    issued right after a status list was fetched, and checked at once over REST, gRPC and the
    scan page, and found in the status list fetched at once."""
    grpc_client = GrpcClient(gateway, partners, caller="cxg-operator")
    stub = pb_grpc.ScoServiceStub(grpc_client.channel)
    try:
        for _ in range(9):  # past a whole byte of the list (four codes): beyond its old size
            operator.http.get("/v1/sco/statusList").raise_for_status()
            code = issued(operator)
            index = int(code.get("statusIndex", 0))
            assert check(operator, code["code"])["result"] == "VALID", index
            assert check(operator, code["url"])["result"] == "VALID", index
            by_grpc = grpc_client.call(stub.VerifyScoCode, pb.VerifyScoCodeRequest(code=code["code"]))  # fmt: skip
            assert by_grpc.body["result"] == "VALID", (index, by_grpc)
            page = httpx.get(code["url"])
            assert 'data-result="VALID"' in page.text, index
            assert listed(operator, index) == "VALID"
    finally:
        grpc_client.close()


def test_a_code_issued_through_another_replica_is_valid_at_once(
    gateway: Gateway, partners: dict[str, TestPartner], operator: RestClient
) -> None:
    """Two gateways on one database: a code issued through one verifies VALID through the other
    at once, although that one signed its status list before the code existed."""
    replica = Gateway(gateway.settings)
    # Replicas behind one public URL (CXG_PUBLIC_URL): their codes name one status list URI.
    replica.services.sco.public_url = gateway.services.sco.public_url
    replica.start()
    other = RestClient(replica, partners, caller="cxg-operator")
    try:
        issued(other)  # index 0, inside any list
        assert check(other, issued(operator)["code"])["result"] == "VALID"
        for _ in range(5):
            other.http.get("/v1/sco/statusList").raise_for_status()  # cached there
            code = issued(operator)
            assert check(other, code["code"])["result"] == "VALID", code.get("statusIndex")
            scan_path = urllib.parse.urlsplit(code["url"]).path  # the scan page, on the replica
            assert 'data-result="VALID"' in other.http.get(scan_path).text
    finally:
        other.close()
        replica.stop()


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")
def test_the_status_list_token_is_served_as_the_draft_says(
    gateway: Gateway, operator: RestClient
) -> None:
    """Issue 14, item 11: the Status List Token had no `sub`. A code's status claim (CWT key
    65535, read here with cbor2 alone) names the list's URI and the code's index; a GET of that
    URI asking for application/statuslist+jwt answers the token itself, whose `sub` is that URI
    and which has iat, exp, a positive ttl and the status list (checked with joserfc)."""
    code = issued(operator)
    cwt = cbor2.loads(cbor2.loads(zlib.decompress(base45.b45decode(code["code"][4:]))).value[2])
    reference = cwt[65535]["status_list"]
    assert reference["idx"] == int(code.get("statusIndex", 0))
    uri = reference["uri"]
    assert uri == f"http://127.0.0.1:{gateway.rest_port}/v1/sco/statusList"
    answer = httpx.get(uri, headers={"Accept": "application/statuslist+jwt"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/statuslist+jwt"
    assert answer.headers["access-control-allow-origin"] == "*"
    jwks = operator.http.get("/.well-known/jwks.json").json()
    token = jose_jwt.decode(
        answer.text, KeySet.import_key_set(jwks), registry=joserfc_registry(["EdDSA", "ES256"])
    )
    assert token.header["typ"] == "statuslist+jwt"
    JWTClaimsRegistry(
        sub={"essential": True, "value": uri}, iat={"essential": True}, exp={"essential": True}
    ).validate(token.claims)
    assert isinstance(token.claims["ttl"], int) and token.claims["ttl"] > 0
    assert token.claims["status_list"]["bits"] == 2
    lst = token.claims["status_list"]["lst"]
    bits = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    assert len(bits) * 4 > reference["idx"] and (bits[reference["idx"] // 4] >> 2 * (reference["idx"] % 4)) & 3 == 0  # fmt: skip
    # Without that Accept: the API's JSON, holding the same token.
    assert httpx.get(uri).json() == {"jws": answer.text}


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
    assert check(operator, "http://[::1/s/" + code["code"])["result"] == "MALFORMED"
    assert check(operator, "SC1-" + "Z" * 3000)["result"] == "OVERSIZE"
    assert check(operator, "SC1-NOT_BASE36")["result"] == "MALFORMED"
    nothing_stored = gateway.services.sco._store.states()[0]
    assert nothing_stored == 1  # only the one good code
    # A company whose names would make a code longer than any verifier reads (OVERSIZE) gets
    # none, until it asks for fewer languages.
    long_names = {"zh": ideographs(300), "en": "Qingdao Trading Co."}
    publish(gateway.exchange, partners["cn-customs"], with_subject(legalName=long_names))
    too_long = operator.request("POST", "/v1/scoCodes", json={"subject": AEO})
    assert (too_long.status_code, too_long.json()["field"]) == (400, "languages"), too_long.text
    assert "over the 1000 a verifier reads" in too_long.json()["detail"]
    assert gateway.services.sco._store.states()[0] == 1
    assert check(operator, issued(operator, languages=["en"])["code"])["result"] == "VALID"


def ideographs(count: int) -> str:
    """``count`` distinct CJK ideographs: a name zlib cannot shrink."""
    return "".join(chr(0x4E00 + i * 61 % 20000) for i in range(count))


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

    with acting_pool(4) as pool:
        indexes = sorted(pool.map(one, range(12)))
    assert indexes == list(range(12))
