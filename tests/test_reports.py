"""Credit reports over both transports, on SQLite and PostgreSQL (issue 19): a portal's own
report and a bureau's, access as for profiles (purpose, consent), the document recorded with its
digest in the audit log and disclosed to its asker, checked by digest and by upload, the
verification page VALID then SUPERSEDED and REVOKED, and every bad request named with nothing
stored."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import func, select

from gateway.config import Settings
from gateway.schema.cxg.v1 import report_service_pb2 as pb
from gateway.schema.cxg.v1 import report_service_pb2_grpc as pb_grpc
from gateway.service import PartnerAdmin
from gateway.storage.tables import audit_leaves, profile_disclosures, reports
from gateway.transport.serve import Gateway
from tests.browser import ARTIFACTS, Chromium
from tests.clients import RestClient
from tests.support import USCC, TestPartner, profile, publish

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated via RFC 9864")

SUBJECT = {"scheme": "CN_USCC", "value": USCC}
SOURCE = {"retrievedAt": "2026-01-10T00:00:00Z"}  # what absence statements may rest on
PENALTY = {
    "kind": "PUBLIC_RECORD_KIND_PENALTY",
    "authority": {"zh": "青岛海关", "en": "Qingdao Customs"},
    "authorityType": "AUTHORITY_TYPE_CUSTOMS",
    "decisionNumber": "青关缉违字〔2025〕17号",
    "decisionDate": "2025-06-03",
    "summary": {"en": "Late declaration of goods"},
}


@pytest.fixture
def published(gateway: Gateway, partners: dict[str, TestPartner]) -> Gateway:
    publish(
        gateway.exchange, partners["ru-bureau"], profile(publicRecords=[PENALTY], provenance=SOURCE)
    )
    return gateway


@pytest.fixture
def opened() -> Iterator[list[RestClient]]:
    clients: list[RestClient] = []
    yield clients
    for rest in clients:
        rest.close()


@pytest.fixture
def client(
    published: Gateway, partners: dict[str, TestPartner], opened: list[RestClient]
) -> Callable[[str], RestClient]:
    """A REST client of the gateway as ``caller``, closed after the test."""

    def open_as(caller: str) -> RestClient:
        opened.append(RestClient(published, partners, caller=caller))
        return opened[-1]

    return open_as


def create(rest: RestClient, **body: Any) -> Any:
    return rest.request("POST", "/v1/reports", json={"subject": SUBJECT} | body)


def stored_reports(gateway: Gateway) -> int:
    return int(gateway.db.read(select(func.count()).select_from(reports))[0][0])


def test_a_portal_obtains_its_own_report_and_anyone_checks_it(
    client: Callable[[str], RestClient],
) -> None:
    portal = client("sme-portal")
    answer = create(portal, language="en", periodStart="2025-01-01", periodEnd="2025-12-31")
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    pdf = answer.content
    assert pdf.startswith(b"%PDF-") and b"/ByteRange" in pdf  # signed
    report_id = answer.headers["location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", report_id)
    digest = hashlib.sha256(pdf).hexdigest()
    # The asker fetches it again, byte for byte; as JSON too, with its state.
    again = portal.request("GET", f"/v1/reports/{report_id}")
    assert again.status_code == 200 and again.content == pdf
    described = portal.request(
        "GET", f"/v1/reports/{report_id}", headers={"accept": "application/json"}
    ).json()
    assert described["sha256"] == digest and described["state"] == "REPORT_STATE_VALID"
    assert described["purpose"] == "subject_access" and described["requestedBy"] == "sme-portal"
    assert described["verifyUrl"].endswith(f"/r/{report_id}")
    # Anyone checks a copy, by its digest or by the document itself, without credentials.
    by_digest = portal.http.post("/v1/reports:verify", json={"sha256": digest}).json()
    assert by_digest["matches"] is True and by_digest["state"] == "REPORT_STATE_VALID"
    by_upload = portal.http.post(
        "/v1/reports:verify", content=pdf, headers={"content-type": "application/pdf"}
    ).json()
    assert by_upload["matches"] is True and by_upload["report"]["name"] == f"reports/{report_id}"
    tampered = pdf.replace(b"/ByteRange", b"/ByteRangf", 1)
    changed = portal.http.post(
        "/v1/reports:verify", content=tampered, headers={"content-type": "application/pdf"}
    ).json()
    assert "matches" not in changed and "report" not in changed  # false: proto3 JSON omits it
    # Another reader neither sees it nor learns that it exists.
    bank = client("kz-bank")
    hidden = bank.request("GET", f"/v1/reports/{report_id}")
    assert hidden.status_code == 404 and hidden.json()["field"] == "name"


def test_the_page_says_valid_then_superseded_then_revoked(
    published: Gateway, partners: dict[str, TestPartner], client: Callable[[str], RestClient]
) -> None:
    portal = client("sme-portal")
    answer = create(portal, language="zh")
    assert answer.status_code == 201, answer.text
    report_id = answer.headers["location"].rsplit("/", 1)[1]
    digest = hashlib.sha256(answer.content).hexdigest()

    def page(lang: str = "en", **form: Any) -> tuple[int, str]:
        if form:
            shown = portal.http.post(f"/r/{report_id}?lang={lang}", **form)
        else:
            shown = portal.http.get(f"/r/{report_id}?lang={lang}")
        assert "script" not in shown.headers["content-security-policy"]
        return shown.status_code, shown.text

    status, text = page()
    assert status == 200 and 'data-state="VALID"' in text and digest in text
    assert "有效" in page("zh")[1] and "Действителен" in page("ru")[1]
    # A pasted digest and an uploaded copy are checked against this report.
    _, pasted = page(data={"sha256": digest.upper()})
    assert 'data-matches="true"' in pasted
    typed = portal.http.post(f"/r/{report_id.lower()}", data={"sha256": digest})  # off paper
    assert typed.status_code == 200 and 'data-matches="true"' in typed.text
    _, uploaded = page(files={"pdf": ("report.pdf", answer.content, "application/pdf")})
    assert 'data-matches="true"' in uploaded
    _, wrong = page(files={"pdf": ("other.pdf", b"%PDF-1.7 not it", "application/pdf")})
    assert 'data-matches="false"' in wrong
    _, garbage = page(data={"sha256": "<script>alert(1)</script>"})
    assert 'data-matches="false"' in garbage and "<script>alert" not in garbage
    # A newer version of the company's profile supersedes the report.
    publish(published.exchange, partners["ru-bureau"], profile(publicRecords=[]))
    assert 'data-state="SUPERSEDED"' in page()[1]
    # The operator revokes it, once.
    operator = client("cxg-operator")
    refused = operator.request("POST", f"/v1/reports/{report_id}:revoke", json={})
    assert refused.status_code == 400 and refused.json()["field"] == "reason"
    revoked = operator.request(
        "POST", f"/v1/reports/{report_id}:revoke", json={"reason": "issued in error"}
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "REPORT_STATE_REVOKED"
    status, text = page()
    assert 'data-state="REVOKED"' in text and "issued in error" in text
    again = operator.request("POST", f"/v1/reports/{report_id}:revoke", json={"reason": "x"})
    assert again.status_code == 409
    # A portal may not revoke; an unknown id is a page saying so.
    assert portal.request("POST", f"/v1/reports/{report_id}:revoke", json={"reason": "x"}).status_code == 403  # fmt: skip
    unknown = portal.http.get("/r/0000000000AA")
    assert unknown.status_code == 404 and 'data-state="UNKNOWN"' in unknown.text


def test_access_is_as_for_profiles_and_each_report_is_audited_and_disclosed(
    published: Gateway, partners: dict[str, TestPartner]
) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{published.grpc_port}")
    stub = pb_grpc.ReportServiceStub(channel)
    bank = RestClient(published, partners, caller="kz-bank").sessions.of()

    def call(method: Any, request: Any, session: Any = bank) -> Any:
        metadata = session.grpc_metadata(method._method.decode())
        return method(request, timeout=60, metadata=metadata)

    asked = pb.CreateReportRequest(subject=SUBJECT, purpose="credit_assessment", language="ru")
    with pytest.raises(grpc.RpcError) as refused:
        call(stub.CreateReport, asked)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "consent" in str(refused.value.details())
    bureau = RestClient(published, partners, caller="ru-bureau").sessions.of()
    made = call(
        stub.CreateReport,
        pb.CreateReportRequest(subject=SUBJECT, purpose="credit_reporting", language="zh+ru"),
        bureau,
    )
    assert made.pdf.startswith(b"%PDF-") and hashlib.sha256(made.pdf).hexdigest() == made.sha256
    assert made.state == pb.REPORT_STATE_VALID and made.language == "zh+ru"
    listed = call(stub.ListReports, pb.ListReportsRequest(), bureau)
    assert [r.name for r in listed.reports] == [made.name] and not listed.reports[0].pdf
    with pytest.raises(grpc.RpcError) as hidden:
        call(stub.GetReport, pb.GetReportRequest(name=made.name))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as not_yours:
        call(stub.ListReports, pb.ListReportsRequest(subject=SUBJECT))
    assert not_yours.value.code() == grpc.StatusCode.PERMISSION_DENIED
    checked = stub.VerifyReport(pb.VerifyReportRequest(sha256=made.sha256), timeout=30)
    assert checked.matches and checked.report.name == made.name
    channel.close()
    # The log holds the change naming the document's digest, and the exchange naming the
    # version served; the bureau is recorded as having received that version.
    leaves = [json.loads(row.data) for row in published.db.read(select(audit_leaves.c.data))]
    issued = [x for x in leaves if x.get("change") == "report.issue"]
    assert [x["detail"]["sha256"] for x in issued] == [made.sha256]
    exchanged = [
        x for x in leaves if x.get("operation") == "CreateReport" and x["decision"] == "ok"
    ]
    assert len(exchanged) == 1 and made.name in exchanged[0]["subject"]
    assert f"{made.profile}/versions/{made.profile_version}" in exchanged[0]["subject"]
    disclosed = published.db.read(
        select(profile_disclosures.c.partner_id, profile_disclosures.c.purpose)
    )
    assert ("ru-bureau", "credit_reporting") in [tuple(row) for row in disclosed]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"language": "fr"}, 400, "language"),
        ({"periodEnd": "2999-01-01"}, 400, "period_end"),
        ({"periodStart": "2025-02-01", "periodEnd": "2025-01-01"}, 400, "period_start"),
        ({"periodStart": "2001-01-01", "periodEnd": "2025-01-01"}, 400, "period_start"),
        ({"periodStart": "yesterday"}, 400, "period_start"),
        ({"validDays": 400}, 400, "valid_days"),
        ({"subject": {"scheme": "CN_USCC", "value": "91350100M000100Y4X"}}, 400, "subject.value"),
        ({"subject": {"scheme": "LEI", "value": "529900T8BM49AURSDO55"}}, 404, "subject"),
        ({"subject": {"scheme": "NOPE", "value": "1"}}, 400, "subject.scheme"),
        ({"purpose": "gossip"}, 400, "purpose"),
        ({"purpose": "customs_clearance"}, 403, None),
        ({"unknownField": 1}, 400, None),
    ],
)
def test_a_bad_request_is_refused_by_name_and_stores_nothing(
    published: Gateway,
    client: Callable[[str], RestClient],
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    portal = client("sme-portal")
    answer = create(portal, **body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert answer.json()["field"] == field, answer.json()
    assert stored_reports(published) == 0


def test_verification_refuses_what_is_not_a_digest(client: Callable[[str], RestClient]) -> None:
    http = client("sme-portal").http
    for body in ({"sha256": "xyz"}, {"sha256": "a" * 63}, {}):
        answer = http.post("/v1/reports:verify", json=body)
        assert answer.status_code == 400 and answer.json()["field"] == "sha256", answer.text
    unknown = http.post("/v1/reports:verify", json={"sha256": "a" * 64}).json()
    assert unknown == {"sha256": "a" * 64}  # matches: false is proto3's default, left out


def test_the_page_checks_an_uploaded_copy_in_a_browser_without_javascript(
    chromium: Chromium, client: Callable[[str], RestClient], tmp_path: Path
) -> None:
    portal = client("sme-portal")
    answer = create(portal, language="zh+ru")
    assert answer.status_code == 201, answer.text
    url = portal.base + answer.headers["location"].replace("/v1/reports/", "/r/")
    copy, forged = tmp_path / "report.pdf", tmp_path / "forged.pdf"
    copy.write_bytes(answer.content)
    forged.write_bytes(answer.content[:-10] + b"%%EOF\n\n\n\n")
    shots = ARTIFACTS / "report-page"

    def visit(lang: str, upload: Path) -> tuple[str, str]:
        context = chromium.browser.new_context(java_script_enabled=False, locale=lang)
        try:
            page = context.new_page()
            page.goto(f"{url}?lang={lang}")
            state = page.locator("#result").get_attribute("data-state") or ""
            page.set_input_files("#pdf-input", str(upload))
            page.click("button[type=submit]")
            matches = page.locator("#check").get_attribute("data-matches") or ""
            page.screenshot(path=shots / f"{lang}-{upload.stem}.png", full_page=True)
            return state, matches
        finally:
            context.close()

    assert chromium.run(lambda: visit("ru", copy)) == ("VALID", "true")
    assert chromium.run(lambda: visit("zh", forged)) == ("VALID", "false")


def test_a_customs_report_states_customs_records_and_nothing_of_other_authorities(
    client: Callable[[str], RestClient], tmp_path: Path
) -> None:
    customs = client("cn-customs")
    answer = create(customs, purpose="customs_clearance", language="en", periodStart="2025-01-01", periodEnd="2025-12-31")  # fmt: skip
    assert answer.status_code == 201, answer.text
    text = pdf_text(answer.content, tmp_path)
    assert PENALTY["decisionNumber"] in text  # the customs penalty in the period
    assert "No administrative licence by customs authorities is recorded" in text
    assert "No administrative penalty by tax authorities" not in text  # not in this view
    assert "not included for the purpose customs clearance" in text
    # The company's own report shows every authority, and says where none is recorded.
    own = pdf_text(create(client("sme-portal"), language="en").content, tmp_path)
    assert "No administrative penalty by tax authorities is recorded" in own


def pdf_text(pdf: bytes, folder: Path) -> str:
    """The document's text as poppler's pdftotext reads it, lines joined."""
    path = folder / "report.pdf"
    path.write_bytes(pdf)
    shown = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60
    )
    return " ".join(shown.stdout.decode().split())


def test_a_silent_time_stamping_authority_is_named_and_never_taken_for_the_database(
    settings: Settings, partners: dict[str, TestPartner]
) -> None:
    """The document is made outside the database's workers and deadline: a TSA that takes
    longer than the database may (here it never answers) fails the request naming the TSA,
    stores nothing, and leaves the database marked up."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/tsa"
        configured = dataclasses.replace(settings, report_tsa_url=url, database_timeout_seconds=1.0)
        running = Gateway(configured)
        PartnerAdmin(running.db).import_files(configured.partners_dir)
        running.start()
        try:
            publish(running.exchange, partners["ru-bureau"], profile(provenance=SOURCE))
            portal = RestClient(running, partners, caller="sme-portal")
            answer = create(portal, language="en")
            portal.close()
            assert answer.status_code == 503, answer.text
            assert answer.json()["field"] == "CXG_REPORT_TSA_URL"
            assert running.db.health.available  # the database was never in question
            assert stored_reports(running) == 0
        finally:
            running.stop()
    finally:
        silent.close()
