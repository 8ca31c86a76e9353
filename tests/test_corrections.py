"""Disputes and credit repair end to end, on a running gateway over REST and gRPC: a recipient
disputes fields of a version it received, every served view carries the signed mark, the
publisher is told, corrects and answers, and a partner that received the version but never
subscribed polls the answer as a SET it verifies with jwcrypto; a repair withholds a dishonesty
entry from every view of every version and notifies; bad requests are refused naming their
field with nothing stored."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from jwcrypto import jwk as jc_jwk  # type: ignore[import-untyped]
from jwcrypto import jws as jc_jws
from sqlalchemy import select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config import Settings
from gateway.corrections.calendar import WorkingCalendar, parse_days
from gateway.schema.cxg.v1 import correction_service_pb2 as pb
from gateway.schema.cxg.v1 import correction_service_pb2_grpc as pb_grpc
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile
from gateway.storage.tables import audit_leaves, disputes, profile_versions, record_repairs
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, Outcome, RestClient, grpc_outcome
from tests.support import USCC, TestPartner, profile

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")

URI = "urn:cxg:secevent:"
COURT = {
    "kind": "PUBLIC_RECORD_KIND_DISHONESTY_LIST",
    "authority": {"zh": "青岛市中级人民法院", "en": "Qingdao Intermediate People's Court"},
    "authorityType": "AUTHORITY_TYPE_COURT",
    "decisionNumber": "(2026) Lu 02 Zhi 117",
    "decisionDate": "2026-06-01",
    "summary": {"en": "Judgment debtor on the dishonesty list"},
}
CUSTOMS_PENALTY = {
    "kind": "PUBLIC_RECORD_KIND_PENALTY",
    "authority": {"zh": "青岛海关"},
    "authorityType": "AUTHORITY_TYPE_CUSTOMS",
    "decisionNumber": "QG-2026-17",
    "decisionDate": "2026-05-10",
    "summary": {"en": "Inaccurate declaration"},
}
EVIDENCE = "ab" * 32
FAST = {"events_tick_seconds": 0.05}


@pytest.fixture
def running(settings: Settings) -> Iterator[Gateway]:
    from gateway.service import PartnerAdmin

    gateway = Gateway(dataclasses.replace(settings, **FAST))
    PartnerAdmin(gateway.db).import_files(settings.partners_dir)
    gateway.start()
    yield gateway
    gateway.stop()


class Calls:
    """The correction operations over one transport, as named partners."""

    def __init__(self, transport: str, gateway: Gateway, partners: dict[str, TestPartner]):
        self.transport = transport
        self.rest = RestClient(gateway, partners)
        self.grpc = GrpcClient(gateway, partners)
        self.stub = pb_grpc.CorrectionServiceStub(self.grpc.channel)

    def close(self) -> None:
        self.rest.close()
        self.grpc.close()

    def _rest(self, caller: str, method: str, path: str, body: Any = None) -> Outcome:
        session = self.rest.sessions.of(caller)
        answer = self.rest.request(method, path, session=session, json=body)
        return self.rest._outcome(answer)

    def _grpc(self, caller: str, method: Any, request: Any) -> Outcome:
        return self.grpc.call(method, request, session=self.grpc.sessions.of(caller))

    def file(self, caller: str, **body: Any) -> Outcome:
        if self.transport == "rest":
            return self._rest(caller, "POST", "/v1/disputes", body)
        request = json_format.ParseDict(body, pb.FileDisputeRequest())
        return self._grpc(caller, self.stub.FileDispute, request)

    def answer(self, caller: str, name: str, **body: Any) -> Outcome:
        if self.transport == "rest":
            return self._rest(caller, "POST", f"/v1/{name}:answer", body)
        request = json_format.ParseDict(body | {"name": name}, pb.AnswerDisputeRequest())
        return self._grpc(caller, self.stub.AnswerDispute, request)

    def get(self, caller: str, name: str) -> Outcome:
        if self.transport == "rest":
            return self._rest(caller, "GET", f"/v1/{name}")
        return self._grpc(caller, self.stub.GetDispute, pb.GetDisputeRequest(name=name))

    def repair(self, caller: str, profile_name: str, **body: Any) -> Outcome:
        if self.transport == "rest":
            return self._rest(caller, "POST", f"/v1/{profile_name}:repair", body)
        request = json_format.ParseDict(body | {"profile": profile_name}, pb.RecordRepairRequest())
        return self._grpc(caller, self.stub.RecordRepair, request)

    def read(self, caller: str, name: str, purpose: str, version: int = 0) -> dict[str, Any]:
        """GetProfile over REST as ``caller``: the payload of the JWS, verified."""
        params: dict[str, Any] = {"purpose": purpose} | ({"version": version} if version else {})
        answer = self.rest.request(
            "GET", f"/v1/{name}", session=self.rest.sessions.of(caller), params=params
        )
        assert answer.status_code == 200, answer.text
        return verified(self.rest.http, answer.json()["jws"])

    def poll(self, caller: str) -> list[dict[str, Any]]:
        """Every SET waiting for ``caller`` (verified), acknowledged."""
        session = self.rest.sessions.of(caller)
        body: dict[str, Any] = {"returnImmediately": False, "maxEvents": 100}
        answer = self.rest.request("POST", "/v1/events:poll", session=session, json=body)
        assert answer.status_code == 200, answer.text
        sets = answer.json().get("sets", {})
        claims = [verified(self.rest.http, token) for token in sets.values()]
        ack = {"ack": list(sets), "maxEvents": 0}
        assert self.rest.request("POST", "/v1/events:poll", session=session, json=ack).is_success
        return claims


def verified(http: httpx.Client, token: str) -> dict[str, Any]:
    """The payload of a JWS the gateway signed, verified with jwcrypto against its JWKS."""
    keys = jc_jwk.JWKSet.from_json(http.get("/.well-known/jwks.json").text)
    signed = jc_jws.JWS()
    signed.deserialize(token)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    signed.verify(keys.get_key(header["kid"]))
    payload: dict[str, Any] = json.loads(signed.payload)
    return payload


@pytest.fixture(params=["rest", "grpc"])
def calls(
    request: pytest.FixtureRequest, running: Gateway, partners: dict[str, TestPartner]
) -> Iterator[Calls]:
    made = Calls(request.param, running, partners)
    yield made
    made.close()


def published(calls: Calls, partners: dict[str, TestPartner], **overrides: Any) -> str:
    outcome = calls.rest.publish(partners["kz-bank"].sign(profile(**overrides)))
    assert outcome.status == 200, outcome
    name: str = outcome.body["profileName"]
    return name


def disputes_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = payload.get("disputes", [])
    return found


# -- disputes ---------------------------------------------------------------------------------


def test_a_dispute_from_filing_to_correction_reaches_a_recipient_that_never_subscribed(
    calls: Calls, running: Gateway, partners: dict[str, TestPartner]
) -> None:
    name = published(calls, partners, publicRecords=[COURT, CUSTOMS_PENALTY])
    # Customs received version 1 (its view: customs records only) and never subscribes.
    customs_view = calls.read("cn-customs", name, "customs_clearance")
    assert [r["decisionNumber"] for r in customs_view["publicRecords"]] == ["QG-2026-17"]
    full = calls.read("ru-bureau", name, "credit_reporting")
    assert "disputes" not in full

    filed = calls.file(
        "ru-bureau",
        profile=name,
        version=1,
        fields=["/subject/legalName/en", "/publicRecords/1/summary"],
        reason="The penalty was annulled on appeal; the English name is misspelt.",
        evidenceSha256=EVIDENCE,
    )
    assert filed.status in (200, "OK"), filed
    dispute = filed.body
    assert (
        dispute["status"] == "DISPUTE_STATUS_OPEN" and dispute["filer"] == "DISPUTE_FILER_RECIPIENT"
    )
    assert dispute["filedBy"] == "ru-bureau" and dispute["fields"][1] == "/publicRecords/1/summary"
    calendar = WorkingCalendar()
    filed_on = date.fromisoformat(dispute["fileTime"][:10])
    assert dispute["dueDate"] == calendar.due_date(filed_on, 20, "calendar").isoformat()

    # Every served view now carries the signed mark, naming the fields that view shows.
    [mark] = disputes_of(calls.read("ru-bureau", name, "credit_reporting"))
    assert mark["dispute"] == dispute["name"] and mark["dueDate"] == dispute["dueDate"]
    assert mark["fields"] == ["/subject/legalName/en", "/publicRecords/1/summary"]
    customs_view = calls.read("cn-customs", name, "customs_clearance")
    [mark] = disputes_of(customs_view)  # the penalty is the customs view's record 0
    assert mark["fields"] == ["/subject/legalName/en", "/publicRecords/0/summary"]
    assert customs_view["publicRecords"][0]["disputeState"] == "DISPUTE_STATE_DISPUTED"

    # The publisher is told at once, though it never subscribed.
    [told] = calls.poll("kz-bank")
    event = told["events"][URI + "dispute"]
    assert event["dispute"] == dispute["name"] and event["state"] == "open"
    assert told["aud"] == "kz-bank" and event["version"] == f"{name}/versions/1"

    # It corrects (a new version) and answers citing it.
    corrected = profile(publicRecords=[COURT])
    corrected["subject"]["legalName"]["en"] = "Qingdao Haitong International Trading Co., Ltd."
    assert calls.rest.publish(partners["kz-bank"].sign(corrected)).status == 200
    answered = calls.answer(
        "kz-bank", dispute["name"], status="DISPUTE_STATUS_CORRECTED", correctedVersion=2
    )
    assert answered.status in (200, "OK"), answered
    assert answered.body["status"] == "DISPUTE_STATUS_CORRECTED"
    assert answered.body["correctedVersion"] == "2" or answered.body["correctedVersion"] == 2

    # Customs never subscribed, yet receives the answer; so does the filer.
    [notice] = calls.poll("cn-customs")
    assert notice["aud"] == "cn-customs"
    assert notice["events"][URI + "dispute"]["state"] == "corrected"
    assert notice["sub_id"] == {"format": "opaque", "id": name}
    assert [n["events"][URI + "dispute"]["state"] for n in calls.poll("ru-bureau")] == ["corrected"]
    # The mark is gone from every view of version 1.
    assert disputes_of(calls.read("ru-bureau", name, "credit_reporting", version=1)) == []
    assert calls.get("ru-bureau", dispute["name"]).body["status"] == "DISPUTE_STATUS_CORRECTED"
    # Filing and answer are audit leaves.
    with running.db.engine.connect() as conn:
        leaves = [bytes(r.data) for r in conn.execute(select(audit_leaves.c.data))]
    assert any(b"dispute.filed" in leaf for leaf in leaves)
    assert any(b"dispute.answered" in leaf for leaf in leaves)


def test_a_dispute_mark_cannot_be_stripped_from_a_served_view(
    calls: Calls, partners: dict[str, TestPartner]
) -> None:
    """The mark is inside the signed payload: a copy without it no longer verifies."""
    name = published(calls, partners)
    calls.read("ru-bureau", name, "credit_reporting")
    assert calls.file(
        "ru-bureau",
        profile=name,
        version=1,
        fields=["/subject/country"],
        reason="Registered in Kazakhstan",
        evidenceSha256=EVIDENCE,
    ).status in (200, "OK")
    session = calls.rest.sessions.of("ru-bureau")
    answer = calls.rest.request(
        "GET", f"/v1/{name}", session=session, params={"purpose": "credit_reporting"}
    )
    token = answer.json()["jws"]
    header, payload, signature = token.split(".")
    stripped = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert stripped.pop("disputes")
    forged = base64.urlsafe_b64encode(json.dumps(stripped).encode()).rstrip(b"=").decode()
    with pytest.raises(Exception, match=r"[Vv]erif"):
        verified(calls.rest.http, f"{header}.{forged}.{signature}")
    # A view in a partner's format has no place for the mark: it is in the signed header.
    answer = calls.rest.request(
        "GET",
        f"/v1/{name}",
        session=session,
        params={"purpose": "credit_reporting", "format": "cn-public-credit"},
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["jws"]
    verified(calls.rest.http, token)
    protected = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    [mark] = protected["disputes"]
    assert mark["fields"] == ["/subject/country"] and mark["dispute"].startswith("disputes/")


def test_a_subject_dispute_puts_sco_codes_under_review_and_the_scan_page_says_so(
    running: Gateway, partners: dict[str, TestPartner]
) -> None:
    calls = Calls("rest", running, partners)
    try:
        name = published(calls, partners)
        operator = calls.rest.sessions.of("cxg-operator")
        issued = calls.rest.request(
            "POST",
            "/v1/scoCodes",
            session=operator,
            json={"subject": {"scheme": "CN_USCC", "value": USCC}},
        )
        assert issued.status_code == 200, issued.text
        code = issued.json()
        filed = calls.file(
            "sme-portal",
            profile=name,
            version=1,
            fields=["/ratings/0/grade"],
            reason="The tax grade was raised to A in 2026",
            evidenceSha256=EVIDENCE,
        )
        assert filed.body["filer"] == "DISPUTE_FILER_SUBJECT", filed
        state = calls.rest.request("GET", f"/v1/{code['name']}", session=operator).json()
        assert state["state"] == "CODE_STATE_UNDER_REVIEW"
        scan = "/s/" + code["url"].rsplit("/", 1)[1]
        page = calls.rest.http.get(scan, params={"lang": "en"})
        assert page.status_code == 200 and "Under dispute" in page.text
        assert 'data-result="UNDER_REVIEW"' in page.text
        answered = calls.answer(
            "kz-bank", filed.body["name"], status="DISPUTE_STATUS_UPHELD", reasons="Checked: B"
        )
        assert answered.body["status"] == "DISPUTE_STATUS_UPHELD", answered
        state = calls.rest.request("GET", f"/v1/{code['name']}", session=operator).json()
        assert state["state"] == "CODE_STATE_VALID"  # given back
        page = calls.rest.http.get(scan, params={"lang": "en"})
        assert "Under dispute" not in page.text and 'data-result="VALID"' in page.text
    finally:
        calls.close()


def test_a_recipient_dispute_leaves_sco_codes_alone_by_default(
    running: Gateway, partners: dict[str, TestPartner]
) -> None:
    """A competitor that received the profile cannot suspend a company's codes by disputing."""
    calls = Calls("rest", running, partners)
    try:
        name = published(calls, partners)
        operator = calls.rest.sessions.of("cxg-operator")
        code = calls.rest.request(
            "POST",
            "/v1/scoCodes",
            session=operator,
            json={"subject": {"scheme": "CN_USCC", "value": USCC}},
        ).json()
        calls.read("ru-bureau", name, "credit_reporting")
        assert (
            calls.file(
                "ru-bureau",
                profile=name,
                version=1,
                fields=["/ratings/0/grade"],
                reason="Doubtful",
                evidenceSha256=EVIDENCE,
            ).status
            == 200
        )
        state = calls.rest.request("GET", f"/v1/{code['name']}", session=operator).json()
        assert state["state"] == "CODE_STATE_VALID"
    finally:
        calls.close()


def _refused(outcome: Outcome, status: int | str, field: str, says: str = "") -> None:
    assert outcome.status == status, outcome
    assert outcome.field == field and says in outcome.detail, outcome


@pytest.mark.parametrize(
    ("caller", "changes", "status", "field", "says"),
    [
        ("cn-customs", {}, "PERMISSION_DENIED", "version", "has not received"),
        ("kz-bank", {}, "PERMISSION_DENIED", "profile", "publishing a new version"),
        ("ru-bureau", {"fields": ["/nothing/here"]}, "INVALID_ARGUMENT", "fields[0]", "no field"),
        ("ru-bureau", {"fields": ["subject"]}, "INVALID_ARGUMENT", "fields[0]", "JSON pointer"),
        ("ru-bureau", {"fields": []}, "INVALID_ARGUMENT", "fields", "1 to 50"),
        ("ru-bureau", {"fields": ["/subject/country"] * 51}, "INVALID_ARGUMENT", "fields", ""),
        ("ru-bureau", {"evidenceSha256": "00"}, "INVALID_ARGUMENT", "evidence_sha256", ""),
        ("ru-bureau", {"reason": "  "}, "INVALID_ARGUMENT", "reason", "required"),
        ("ru-bureau", {"reason": "x" * 2001}, "INVALID_ARGUMENT", "reason", "2000"),
        ("ru-bureau", {"version": 7}, "NOT_FOUND", "version", "no version 7"),
        ("ru-bureau", {"version": 0}, "INVALID_ARGUMENT", "version", ""),
        ("ru-bureau", {"version": 2**40}, "INVALID_ARGUMENT", "version", ""),
        ("ru-bureau", {"profile": "profiles/x"}, "INVALID_ARGUMENT", "profile", ""),
    ],
)
def test_a_bad_dispute_is_refused_naming_its_field_and_nothing_is_stored(
    running: Gateway,
    partners: dict[str, TestPartner],
    caller: str,
    changes: dict[str, Any],
    status: str,
    field: str,
    says: str,
) -> None:
    calls = Calls("grpc", running, partners)
    try:
        name = published(calls, partners)
        calls.read("ru-bureau", name, "credit_reporting")
        body = {
            "profile": name,
            "version": 1,
            "fields": ["/subject/country"],
            "reason": "Wrong",
            "evidenceSha256": EVIDENCE,
        } | changes
        _refused(calls.file(caller, **body), status, field, says)
        with running.db.engine.connect() as conn:
            assert conn.execute(select(disputes.c.id)).all() == []
    finally:
        calls.close()


def test_answers_are_the_publishers_alone_once_and_with_what_they_need(
    running: Gateway, partners: dict[str, TestPartner]
) -> None:
    calls = Calls("rest", running, partners)
    try:
        name = published(calls, partners)
        calls.read("ru-bureau", name, "credit_reporting")
        body = {
            "profile": name,
            "version": 1,
            "fields": ["/subject/country"],
            "reason": "Wrong",
            "evidenceSha256": EVIDENCE,
        }
        dispute = calls.file("ru-bureau", **body).body["name"]
        _refused(calls.file("ru-bureau", **body), 409, "version", "still open")
        # Only the publisher answers; to others the dispute does not exist.
        _refused(
            calls.answer("ru-bureau", dispute, status="DISPUTE_STATUS_REJECTED", reasons="x"),
            404,
            "name",
        )
        _refused(
            calls.answer("kz-bank", dispute, status="DISPUTE_STATUS_UPHELD"),
            400,
            "reasons",
            "required",
        )
        _refused(calls.answer("kz-bank", dispute, status="DISPUTE_STATUS_OPEN"), 400, "status")
        _refused(
            calls.answer("kz-bank", dispute, status="DISPUTE_STATUS_CORRECTED", correctedVersion=1),
            400,
            "corrected_version",
            "publish the correction first",
        )
        assert calls.get("cn-customs", dispute).status == 404
        ok = calls.answer("kz-bank", dispute, status="DISPUTE_STATUS_REJECTED", reasons="Verified")
        assert (
            ok.body["status"] == "DISPUTE_STATUS_REJECTED"
            and ok.body["answerReasons"] == "Verified"
        )
        _refused(
            calls.answer("kz-bank", dispute, status="DISPUTE_STATUS_UPHELD", reasons="y"),
            409,
            "name",
            "already answered",
        )
        operator = calls.get("cxg-operator", dispute)
        assert operator.status == 200 and operator.body["status"] == "DISPUTE_STATUS_REJECTED"
    finally:
        calls.close()


def test_a_publisher_cannot_publish_dispute_marks(
    running: Gateway, partners: dict[str, TestPartner]
) -> None:
    calls = Calls("rest", running, partners)
    try:
        forged = profile(disputes=[{"dispute": "disputes/" + "a" * 32, "fields": []}])
        outcome = calls.rest.publish(partners["kz-bank"].sign(forged))
        _refused(outcome, 400, "/disputes", "set by the gateway")
    finally:
        calls.close()


def test_overdue_disputes_are_listed_for_operators_over_the_api_and_the_cli(
    running: Gateway, partners: dict[str, TestPartner], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.service.corrections import CorrectionService
    from gateway.storage.partners import PartnerStore
    from gateway.trust import Partner

    calls = Calls("rest", running, partners)
    try:
        name = published(calls, partners)
        calls.read("ru-bureau", name, "credit_reporting")
        # Filed 40 days ago through the same use case (its clock set back).
        past = CorrectionService.from_settings(running.settings, running.db, running.exchange)
        past._clock = lambda: running.services.corrections._clock() - timedelta(days=40)  # type: ignore[method-assign]
        caller = PartnerStore(running.db).get("ru-bureau")
        assert isinstance(caller, Partner)
        old = past.file(
            caller,
            pb.FileDisputeRequest(
                profile=name,
                version=1,
                fields=["/subject/country"],
                reason="Old",
                evidence_sha256=EVIDENCE,
            ),
        )
        operator = calls.rest.sessions.of("cxg-operator")
        listed = calls.rest.request(
            "GET", "/v1/disputes", session=operator, params={"overdue_only": True}
        )
        assert [d["name"] for d in listed.json()["disputes"]] == [old.name]
        assert listed.json()["disputes"][0]["overdue"] is True
        # The publisher sees it among its own; another partner sees none.
        mine = calls.rest.request("GET", "/v1/disputes", session=calls.rest.sessions.of("kz-bank"))
        assert [d["name"] for d in mine.json()["disputes"]] == [old.name]
        theirs = calls.rest.request(
            "GET", "/v1/disputes", session=calls.rest.sessions.of("cn-customs")
        )
        assert theirs.json().get("disputes", []) == []
        monkeypatch.setenv("CXG_DATABASE_URL", running.settings.database_url)
        monkeypatch.setenv("CXG_KEYS_DIR", str(running.settings.keys_dir))
        shown = CliRunner().invoke(app, ["disputes", "list", "--overdue"])
        assert shown.exit_code == 0, shown.output
        assert old.name in shown.output and "OVERDUE" in shown.output
    finally:
        calls.close()


# -- credit repair ------------------------------------------------------------------------------


def test_a_repair_removes_a_dishonesty_entry_from_every_view_and_notifies(
    calls: Calls, running: Gateway, partners: dict[str, TestPartner]
) -> None:
    name = published(calls, partners, publicRecords=[COURT, CUSTOMS_PENALTY])
    assert len(calls.read("ru-bureau", name, "credit_reporting")["publicRecords"]) == 2
    calls.read("cn-customs", name, "customs_clearance")
    receipt = calls.repair(
        "kz-bank",
        name,
        kind="PUBLIC_RECORD_KIND_DISHONESTY_LIST",
        decisionNumber=COURT["decisionNumber"],
        decisionDate=COURT["decisionDate"],
        repairDate="2026-11-30",
        repairAuthority="Qingdao Intermediate People's Court",
        repairDecisionNumber="(2026) Lu 02 Zhi Xiu 9",
    )
    assert receipt.status in (200, "OK"), receipt
    assert int(receipt.body["version"]) == 2
    # No partner view of any version shows the entry any more; the customs record stays.
    for version in (0, 1, 2):
        shown = calls.read("ru-bureau", name, "credit_reporting", version=version)
        assert [r["decisionNumber"] for r in shown["publicRecords"]] == ["QG-2026-17"], version
    shown = calls.read("cn-customs", name, "customs_clearance", version=1)
    assert [r["decisionNumber"] for r in shown["publicRecords"]] == ["QG-2026-17"]
    # The bureau, which saw the entry, is told though it never subscribed; customs, whose view
    # never showed it, is told nothing.
    [notice] = calls.poll("ru-bureau")
    repaired = notice["events"][URI + "credit-repair"]
    assert repaired["record"] == {
        "kind": "PUBLIC_RECORD_KIND_DISHONESTY_LIST",
        "decisionNumber": COURT["decisionNumber"],
        "decisionDate": COURT["decisionDate"],
    }
    assert repaired["version"] == f"{name}/versions/2" and repaired["repairDate"] == "2026-11-30"
    assert calls.poll("cn-customs") == []
    # History is kept for operators and the audit log: version 1 as stored still has it.
    with running.db.engine.connect() as conn:
        stored = conn.execute(
            select(profile_versions.c.profile_pb).where(profile_versions.c.version == 1)
        ).scalar_one()
        assert len(CreditProfile.FromString(stored).public_records) == 2
        assert conn.execute(select(record_repairs.c.version)).scalars().all() == [2]
        leaves = [bytes(r.data) for r in conn.execute(select(audit_leaves.c.data))]
    assert any(b"record.repaired" in leaf for leaf in leaves)
    # The same repair again is refused, nothing stored.
    again = calls.repair(
        "kz-bank",
        name,
        kind="PUBLIC_RECORD_KIND_DISHONESTY_LIST",
        decisionNumber=COURT["decisionNumber"],
        decisionDate=COURT["decisionDate"],
        repairDate="2026-11-30",
        repairAuthority="Court",
    )
    assert again.status in (409, "ALREADY_EXISTS", "ABORTED"), again
    assert again.field == "decision_number"


@pytest.mark.parametrize(
    ("caller", "changes", "status", "field"),
    [
        ("ru-bureau", {}, 404, "profile"),  # not its profile: as if none
        ("kz-bank", {"kind": "PUBLIC_RECORD_KIND_LICENCE"}, 400, "kind"),
        ("kz-bank", {"decisionNumber": "nope"}, 404, "decision_number"),
        ("kz-bank", {"decisionDate": "2026-13-01"}, 400, "decision_date"),
        ("kz-bank", {"repairDate": "2999-01-01"}, 400, "repair_date"),
        ("kz-bank", {"repairAuthority": ""}, 400, "repair_authority"),
        ("sme-portal", {}, 403, None),
    ],
)
def test_a_bad_repair_is_refused_naming_its_field_and_nothing_is_stored(
    running: Gateway,
    partners: dict[str, TestPartner],
    caller: str,
    changes: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    calls = Calls("rest", running, partners)
    try:
        name = published(calls, partners, publicRecords=[COURT])
        body = {
            "kind": "PUBLIC_RECORD_KIND_DISHONESTY_LIST",
            "decisionNumber": COURT["decisionNumber"],
            "decisionDate": COURT["decisionDate"],
            "repairDate": "2026-11-30",
            "repairAuthority": "Court",
        } | changes
        outcome = calls.repair(caller, name, **body)
        assert outcome.status == status, outcome
        if field:
            assert outcome.field == field, outcome
        with running.db.engine.connect() as conn:
            assert conn.execute(select(record_repairs.c.id)).all() == []
            assert conn.execute(select(profile_versions.c.version)).scalars().all() == [1]
    finally:
        calls.close()


def test_notice_subscriptions_cannot_be_deleted(
    calls: Calls, partners: dict[str, TestPartner]
) -> None:
    name = published(calls, partners)
    calls.read("ru-bureau", name, "credit_reporting")
    calls.file(
        "ru-bureau",
        profile=name,
        version=1,
        fields=["/subject/country"],
        reason="x",
        evidenceSha256=EVIDENCE,
    )
    calls.poll("kz-bank")
    session = calls.rest.sessions.of("kz-bank")
    [notices] = calls.rest.request("GET", "/v1/subscriptions", session=session).json()[
        "subscriptions"
    ]
    assert notices["scope"] == "SUBSCRIPTION_SCOPE_NOTICES" and notices["purpose"] == "party"
    refused = calls.rest.request("DELETE", f"/v1/{notices['name']}", session=session)
    assert refused.status_code == 403 and refused.json()["field"] == "name"


# -- the calendar -------------------------------------------------------------------------------


def test_working_days_skip_weekends_and_holidays_and_count_adjusted_working_days() -> None:
    # 2026-09-30 is a Wednesday; 1-7 October a holiday; Saturday 10 October worked instead.
    calendar = WorkingCalendar(
        parse_days("2026-10-01..2026-10-07", "holidays"), parse_days("2026-10-10", "adjusted")
    )
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    assert calendar.add_working_days(date(2026, 9, 30), 4) == date(2026, 10, 12)
    # Calendar days: a period ending on a rest day ends on the next working day.
    assert calendar.due_date(date(2026, 9, 14), 20, "calendar") == date(2026, 10, 8)
    assert calendar.due_date(date(2026, 9, 14), 19, "calendar") == date(2026, 10, 8)
    assert calendar.due_date(date(2026, 9, 1), 20, "calendar") == date(2026, 9, 21)


@pytest.mark.parametrize(
    "text", ["2026-02-30", "2026-10-07..2026-10-01", "2026-01-01..2028-01-01", "x"]
)
def test_a_bad_holiday_list_is_refused_naming_its_setting(text: str) -> None:
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="CXG_CALENDAR_HOLIDAYS"):
        Settings.from_env({"CXG_CALENDAR_HOLIDAYS": text})


def test_grpc_names_the_service(running: Gateway) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    try:
        stub = pb_grpc.CorrectionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListDisputes(pb.ListDisputesRequest(), timeout=10)
        assert grpc_outcome(raised.value).status == "UNAUTHENTICATED"
    finally:
        channel.close()
