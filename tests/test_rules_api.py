"""Mutual-recognition decisions over both transports, on SQLite and PostgreSQL: activation
refuses what it must, decisions are signed (checked by an independent JOSE library), audited
with the pack's hash, and re-derivable from the audit entry and the pack it names."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date
from typing import Any

import pytest
from joserfc import jws as jose_jws
from joserfc.jwk import KeySet

from gateway.errors import RulePackError
from gateway.rules import RulePack
from gateway.schema.cxg.v1 import audit_service_pb2 as audit_pb
from gateway.schema.cxg.v1 import rules_service_pb2 as pb
from gateway.schema.cxg.v1 import rules_service_pb2_grpc as pb_grpc
from gateway.schema.cxg.v1.profile_service_pb2 import GetProfileRequest
from gateway.transport.errors import AUDIT_LEAF
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, RestClient
from tests.support import TestPartner, acting_pool, joserfc_registry, profile, publish, read

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")

REASON = 'reason = { zh = "原因", en = "because", ru = "потому что" }'
DESCRIPTION = '[description]\nzh = "测试"\nen = "test"\nru = "тест"\n'


def aeo_pack(version: str = "1.0.0", *, suspended_outcome: str = "NOT_RECOGNIZED") -> bytes:
    return f'''
id = "test-aeo-cn-de"
version = "{version}"
type = "aeo-recognition"
engine = "cel/1"
valid_from = 2015-01-01
max_age_days = 7
{DESCRIPTION}
[parties]
a = ["CN"]
b = ["DE"]
[[rules]]
id = "not-yet-applied"
when = 'date < "2015-11-01"'
outcome = "NOT_RECOGNIZED"
{REASON}
[[rules]]
id = "suspended"
when = 'aeo.status == "suspended"'
outcome = "{suspended_outcome}"
{REASON}
[[rules]]
id = "authorised"
when = 'aeo.status == "authorised" && aeo.type in ["CN_ADVANCED", "AEOC", "AEOS"]'
outcome = "RECOGNIZED"
benefits = ["fewer-controls", "priority-treatment"]
{REASON}
[[tests]]
name = "authorised"
date = 2026-01-01
facts = {{ aeo = {{ status = "authorised", type = "CN_ADVANCED" }}, data_date = 2026-01-01 }}
expect = "RECOGNIZED"
rule = "authorised"
'''.encode()


GRADE_PACK = f"""
id = "test-grades-cn-tax"
version = "1.0.0"
type = "grade-equivalence"
engine = "cel/1"
valid_from = 2020-01-01
max_age_days = 550
schemes = ["CN_TAX"]
{DESCRIPTION}
[[rules]]
id = "new-taxpayer"
when = 'rating.grade == "M"'
outcome = "OPEN"
{REASON}
[[grades]]
scheme = "CN_TAX"
grade = "A"
ordinal = 7
bucket = "LOWER_MEDIUM"
[[grades]]
scheme = "CN_TAX"
grade = "B"
ordinal = 6
bucket = "SPECULATIVE"
[[tests]]
name = "A"
date = 2026-06-01
facts = {{ rating = {{ scheme = "CN_TAX", grade = "A", as_of_date = 2026-04-30 }} }}
expect = "RECOGNIZED"
""".encode()


@pytest.fixture
def rest(gateway: Gateway, partners: dict[str, TestPartner]) -> Any:
    client = RestClient(gateway, partners, caller="cn-customs")
    yield client
    client.close()


def activate(gateway: Gateway, pack: bytes) -> RulePack:
    return gateway.rules.activate(gateway.rules.sign(pack))


def recognize(rest: RestClient, **body: str) -> Any:
    return rest.request("POST", "/v1/aeo:recognize", json=body)


# -- activation -------------------------------------------------------------------------------


def test_activation_refuses_unsigned_tampered_failing_expired_and_overlapping(
    gateway: Gateway,
) -> None:
    rules = gateway.rules
    with pytest.raises(RulePackError, match="not a signed pack"):
        rules.activate(aeo_pack().decode())
    signed = rules.sign(aeo_pack())
    header, _, signature = signed.split(".")
    forged = base64.urlsafe_b64encode(aeo_pack().replace(b"DE", b"FR")).rstrip(b"=").decode()
    with pytest.raises(RulePackError, match="tampered"):
        rules.activate(f"{header}.{forged}.{signature}")
    with pytest.raises(RulePackError, match="tests fail") as failing:
        rules.activate(rules.sign(aeo_pack(suspended_outcome="OPEN").replace(
            b'expect = "RECOGNIZED"', b'expect = "OPEN"')))  # fmt: skip
    assert failing.value.field == "/tests"
    expired = aeo_pack().replace(b"valid_from = 2015-01-01", b"valid_from = 2015-01-01\nvalid_to = 2016-01-01")  # fmt: skip
    with pytest.raises(RulePackError, match="expired"):
        rules.activate(rules.sign(expired))
    assert gateway.rules.list_packs().packs == []  # nothing was stored

    first = rules.activate(signed)
    other_id = aeo_pack().replace(b'id = "test-aeo-cn-de"', b'id = "another-cn-de"')
    with pytest.raises(RulePackError, match="both decide"):
        rules.activate(rules.sign(other_id))
    second = activate(gateway, aeo_pack("1.1.0"))  # a new version replaces the old
    listed = gateway.rules.list_packs().packs
    assert [(p.id, p.version, p.active) for p in listed] == [("test-aeo-cn-de", "1.1.0", True)]
    # The replaced version is still served by its hash.
    old = gateway.rules.get_pack(pb.GetRulePackRequest(name=f"rulePacks/{first.sha256}"))
    assert (old.info.version, old.info.active) == ("1.0.0", False)
    assert second.sha256 != first.sha256


# -- decisions --------------------------------------------------------------------------------


def test_a_customs_decision_is_signed_audited_and_re_derivable(
    gateway: Gateway, partners: dict[str, TestPartner], rest: RestClient
) -> None:
    pack = activate(gateway, aeo_pack())
    publish(gateway.exchange, partners["cn-customs"], profile())  # CN3702960123, authorised
    response = recognize(rest, aeoNumber="CN3702960123", importingCountry="DE")
    assert response.status_code == 200, response.text
    answer = response.json()
    decision = answer["decision"]
    assert decision["outcome"] == "OUTCOME_RECOGNIZED"
    assert (decision["rule"], decision["benefits"]) == ("authorised", ["fewer-controls", "priority-treatment"])  # fmt: skip
    assert decision["rulePackSha256"] == pack.sha256
    assert set(decision["reason"]) == {"zh", "en", "ru"}

    # The gateway's signature, checked by joserfc with the published JWKS only.
    jwks = KeySet.import_key_set(rest.http.get("/.well-known/jwks.json").json())
    verified = jose_jws.deserialize_compact(answer["jws"], jwks, registry=joserfc_registry(["EdDSA", "ES256"]))  # fmt: skip
    assert json.loads(verified.payload)["outcome"] == "OUTCOME_RECOGNIZED"

    # The audit entry names the pack; with the pack it names, the decision is derived again.
    index = int(response.headers[AUDIT_LEAF])
    operator = RestClient(gateway, partners, caller="cxg-operator")
    entries = operator.request(
        "GET", "/v1/audit/entries", params={"start": index, "end": index + 1}
    )
    operator.close()
    leaf = json.loads(base64.b64decode(entries.json()["entries"][0]["data"]))
    assert leaf["operation"] == "RecognizeAeo"
    assert leaf["rule_pack"] == pack.sha256
    assert "AEO:CN3702960123" in leaf["subject"]
    assert leaf["response_sha256"] == hashlib.sha256(response.content).hexdigest()
    served = rest.http.get(f"/v1/rulePacks/{leaf['rule_pack']}").json()
    payload = base64.urlsafe_b64decode(served["jws"].split(".")[1] + "==")
    assert hashlib.sha256(payload).hexdigest() == leaf["rule_pack"]
    again = RulePack.from_bytes(payload).decide(
        json.loads(decision["factsJson"]), date.fromisoformat(decision["asOfDate"])
    )
    assert (again.outcome.value, again.reason.rule) == ("RECOGNIZED", decision["rule"])


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_each_case_gets_its_own_outcome_on_both_transports(
    gateway: Gateway, partners: dict[str, TestPartner], transport: str
) -> None:
    activate(gateway, aeo_pack())
    suspended = profile()
    suspended["aeo"][0]["status"] = "AEO_STATE_SUSPENDED"
    publish(gateway.exchange, partners["cn-customs"], suspended)

    def ask(**fields: str) -> tuple[str, str]:
        if transport == "rest":
            client = RestClient(gateway, partners, caller="cn-customs")
            got = client.request("POST", "/v1/aeo:recognize", json=fields).json()["decision"]
            client.close()
            return got["outcome"].removeprefix("OUTCOME_"), got.get("rule", "")
        client = GrpcClient(gateway, partners, caller="cn-customs")
        stub = pb_grpc.RulesServiceStub(client.channel)
        snake = {"aeoNumber": "aeo_number", "asOfDate": "as_of_date", "importingCountry": "importing_country"}  # fmt: skip
        request = pb.RecognizeAeoRequest(**{snake[k]: v for k, v in fields.items()})
        outcome = client.call(stub.RecognizeAeo, request)
        client.close()
        assert outcome.status == "OK", outcome
        return outcome.body["decision"]["outcome"].removeprefix("OUTCOME_"), outcome.body["decision"].get("rule", "")  # fmt: skip

    today = date.today().isoformat()
    number = "CN3702960123"
    assert ask(aeoNumber=number, importingCountry="DE", asOfDate=today) == ("NOT_RECOGNIZED", "suspended")  # fmt: skip
    # Today's data says nothing of a day before it was published.
    assert ask(aeoNumber=number, importingCountry="DE", asOfDate="2015-10-31") == ("OPEN", "data-after-date")  # fmt: skip
    assert ask(aeoNumber=number, importingCountry="IN", asOfDate=today) == ("NOT_RECOGNIZED", "no-arrangement")  # fmt: skip
    assert ask(aeoNumber=number, importingCountry="DE", asOfDate="2014-06-01") == ("OPEN", "validity")  # fmt: skip
    assert ask(aeoNumber="CN9999999999", importingCountry="DE", asOfDate=today) == ("OPEN", "data-missing")  # fmt: skip
    # Data published long before the decision date is stale.
    assert ask(aeoNumber=number, importingCountry="DE", asOfDate="2099-01-01") == ("OPEN", "freshness")  # fmt: skip


def test_bad_questions_are_refused_naming_the_field(
    gateway: Gateway, partners: dict[str, TestPartner], rest: RestClient
) -> None:
    activate(gateway, aeo_pack())
    for body, field in [
        ({"aeoNumber": "12-34"}, "aeo_number"),
        ({"aeoNumber": "CN3702960123", "asOfDate": "27.11.2026"}, "as_of_date"),
        ({"aeoNumber": "CN3702960123", "importingCountry": "Germany"}, "importing_country"),
    ]:
        response = recognize(rest, **body)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field
    bank = RestClient(gateway, partners, caller="kz-bank")
    assert bank.request("POST", "/v1/aeo:recognize", json={"aeoNumber": "CN3702960123"}).status_code == 403  # fmt: skip
    grade = bank.request("POST", "/v1/grades:equivalent", json={"scheme": "CN_TAX"})
    assert grade.status_code == 400 and grade.json()["field"] == "grade"
    bank.close()
    assert rest.http.get(f"/v1/rulePacks/{'0' * 64}").status_code == 404


def test_profiles_carry_the_common_grade_of_the_active_packs(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    pack = activate(gateway, GRADE_PACK)
    receipt = publish(gateway.exchange, partners["cn-customs"], profile())  # CN_TAX A, 2026-04-30
    assert receipt.rule_pack_sha256 == pack.sha256  # the receipt, and the publish's leaf, name it
    stored = read(gateway.exchange, partners["ru-bureau"], GetProfileRequest(name=receipt.profile_name))  # fmt: skip
    grade = json.loads(stored.as_json)["profile"]["commonGrade"]
    assert grade == {
        "bucket": "LOWER_MEDIUM",
        "ordinal": 7,
        "sourceScheme": "CN_TAX",
        "rulePack": f"test-grades-cn-tax@1.0.0#{pack.sha256}",
    }
    bank = RestClient(gateway, partners, caller="kz-bank")
    new = bank.request("POST", "/v1/grades:equivalent", json={"scheme": "CN_TAX", "grade": "M", "ratingDate": "2026-05-01"}).json()  # fmt: skip
    assert (new["decision"]["outcome"], new["decision"]["rule"]) == ("OUTCOME_OPEN", "new-taxpayer")
    unknown = bank.request("POST", "/v1/grades:equivalent", json={"scheme": "XX_SCALE", "grade": "A"}).json()  # fmt: skip
    assert (unknown["decision"]["outcome"], unknown["decision"]["rule"]) == (
        "OUTCOME_OPEN",
        "no-pack",
    )
    bank.close()


def test_the_audit_leaf_of_a_grpc_decision_names_the_pack(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    pack = activate(gateway, GRADE_PACK)
    client = GrpcClient(gateway, partners, caller="kz-bank")
    stub = pb_grpc.RulesServiceStub(client.channel)
    outcome = client.call(stub.EquivalentGrade, pb.EquivalentGradeRequest(scheme="CN_TAX", grade="B", rating_date="2026-05-01"))  # fmt: skip
    client.close()
    assert outcome.body["decision"]["ordinal"] == 6
    entries = gateway.audit.entries(audit_pb.ListEntriesRequest(start=0, end=_log_size(gateway)), None)  # fmt: skip
    assert entries.entries  # the decision was recorded
    operator = partners["cxg-operator"].as_partner()
    seen = gateway.audit.entries(audit_pb.ListEntriesRequest(start=0, end=_log_size(gateway)), operator)  # fmt: skip
    leaves = [leaf for e in seen.entries if (leaf := json.loads(e.data))["kind"] == "exchange"]
    assert [leaf["rule_pack"] for leaf in leaves if leaf["operation"] == "EquivalentGrade"] == [pack.sha256]  # fmt: skip


def _log_size(gateway: Gateway) -> int:
    return int(gateway.audit.sign_checkpoint().size)


def test_of_two_overlapping_packs_activated_at_once_one_is_refused(gateway: Gateway) -> None:
    signed = [
        gateway.rules.sign(aeo_pack().replace(b'id = "test-aeo-cn-de"', f'id = "rival-{n}"'.encode()))
        for n in range(2)
    ]  # fmt: skip

    def attempt(jws: str) -> bool:
        try:
            gateway.rules.activate(jws)
        except RulePackError:
            return False
        return True

    with acting_pool(2) as pool:
        assert sorted(pool.map(attempt, signed)) == [False, True]
    assert len(gateway.rules.list_packs().packs) == 1


def test_a_publish_over_rest_names_its_common_grade_pack_in_the_audit_leaf(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    pack = activate(gateway, GRADE_PACK)
    client = RestClient(gateway, partners)
    outcome = client.publish(partners["cn-customs"].sign(profile()))
    client.close()
    assert outcome.body["rulePackSha256"] == pack.sha256
    operator = partners["cxg-operator"].as_partner()
    seen = gateway.audit.entries(audit_pb.ListEntriesRequest(start=0, end=_log_size(gateway)), operator)  # fmt: skip
    leaves = [leaf for e in seen.entries if (leaf := json.loads(e.data))["kind"] == "exchange"]
    assert [leaf["rule_pack"] for leaf in leaves if leaf["operation"] == "PublishProfile"] == [pack.sha256]  # fmt: skip
