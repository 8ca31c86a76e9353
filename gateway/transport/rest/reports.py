"""REST routes of cxg.v1.ReportService, and the verification page every report's QR code points
at: server-rendered, in zh, en and ru, with no JavaScript; a copy of a report is checked by
pasting its SHA-256 or uploading the PDF (a plain form)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated

import jinja2
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from gateway.errors import InvalidArgument
from gateway.names import PURPOSES, SCHEMES, named
from gateway.schema.cxg.v1 import report_service_pb2 as pb
from gateway.schema.cxg.v1.profile_pb2 import EntityId
from gateway.service.audit import subjects
from gateway.service.reports import StoredReport
from gateway.transport.errors import PROBLEM_JSON
from gateway.transport.rest._guard import GuardedRoute, mark_served
from gateway.transport.rest._replies import (
    PROBLEM_SCHEMA,
    json_body,
    message_response,
    problem_response,
    read_message,
    responses,
)
from gateway.transport.rest._report_text import TEXT
from gateway.transport.rest.deps import CallerDep, ServicesDep
from gateway.transport.rest.sco import LANGUAGES, TEXT_COLUMNS, negotiate

PDF = "application/pdf"
ReportId = Annotated[
    str,
    Path(
        pattern="^[0-9A-HJKMNP-TV-Z]{12}$",
        description="The last segment of reports/{report_id}: 12 characters of Crockford's base 32.",
    ),
]
_STATES = {
    pb.REPORT_STATE_VALID: ("VALID", "ok"),
    pb.REPORT_STATE_SUPERSEDED: ("SUPERSEDED", "warn"),
    pb.REPORT_STATE_EXPIRED: ("EXPIRED", "bad"),
    pb.REPORT_STATE_REVOKED: ("REVOKED", "bad"),
}
_PAGE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FilePath(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
).get_template("report.html")
# Nothing loads or runs; the one form posts back to the page itself.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
_PDF_ANSWER = {
    "description": "The signed PDF (application/pdf; with Accept: application/json, the Report)",
    "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
}

router = APIRouter(route_class=GuardedRoute)


@router.post(
    "/v1/reports",
    operation_id="CreateReport",
    summary="Build, sign and record a credit report on a company (PDF/A-3b, PAdES)",
    description="Access as GetProfile: the purpose decides what the report shows; a purpose "
    "that needs consent needs it cited. An SME portal obtains the company's own report with no "
    "purpose. Answers the PDF, or the `Report` with the PDF in `pdf` when the request accepts "
    "only `application/json`.",
    responses={**responses(pb.Report, 400, 403, 404), 201: _PDF_ANSWER},
    status_code=201,
    openapi_extra=json_body(pb.CreateReportRequest),
)
async def create_report(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    asked = await read_message(request, pb.CreateReportRequest)
    report = await services.reports.create_waiting(services.offload, asked, caller.partner)
    mark_served(request, subjects(report), purpose=report.purpose)
    if _wants_json(request.headers.get("accept", "")):
        return Response(
            message_response(report).body, status_code=201, media_type="application/json"
        )
    return _pdf(report.pdf, report.name.removeprefix("reports/"), status=201)


@router.get(
    "/v1/reports/{report_id:segment}",
    operation_id="GetReport",
    summary="A report's signed PDF (whoever asked for it, SME portals, operators)",
    responses={**responses(pb.Report, 400, 404), 200: _PDF_ANSWER},
)
async def get_report(
    report_id: ReportId, request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    get = pb.GetReportRequest(name=f"reports/{report_id}")
    report = await services.offload.run(services.reports.get, get, caller.partner)
    return await _document(request, services, report, status=200)


async def _document(
    request: Request, services: ServicesDep, report: StoredReport, *, status: int
) -> Response:
    if _wants_json(request.headers.get("accept", "")):
        message = await services.offload.run(services.reports.message, report, with_pdf=True)
        return Response(
            message_response(message).body, status_code=status, media_type="application/json"
        )
    return _pdf(report.pdf, report.id, status=status)


def _pdf(pdf: bytes, report_id: str, *, status: int) -> Response:
    return Response(
        pdf,
        status_code=status,
        media_type=PDF,
        headers={
            "Content-Disposition": f'attachment; filename="cxg-report-{report_id}.pdf"',
            "Location": f"/v1/reports/{report_id}",
            "Cache-Control": "no-store",
        },
    )


def _wants_json(accept: str) -> bool:
    """JSON only when asked for and a PDF is not also acceptable."""
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return "application/json" in kinds and not kinds & {PDF, "application/*", "*/*"}


@router.get(
    "/v1/reports",
    operation_id="ListReports",
    summary="Reports about a company (SME portals, operators), or those the caller asked for",
    responses=responses(pb.ListReportsResponse, 400, 403, 404),
)
async def list_reports(
    services: ServicesDep,
    caller: CallerDep,
    scheme: Annotated[str, Query(alias="subject.scheme")] = "",
    value: Annotated[str, Query(alias="subject.value")] = "",
    page_size: Annotated[int, Query(ge=0, le=100, description="0 means 50.")] = 0,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    asked = pb.ListReportsRequest(page_size=page_size, page_token=page_token)
    if scheme or value:
        asked.subject.CopyFrom(EntityId(scheme=scheme, value=value))
    return message_response(
        await services.offload.run(services.reports.list_message, asked, caller.partner)
    )


@router.post(
    "/v1/reports:verify",
    operation_id="VerifyReport",
    summary="Whether a document is a report this gateway issued, and its state now (anyone)",
    description="The body is a `VerifyReportRequest` (a SHA-256, or the PDF as base64 in "
    "`pdf`), or the PDF itself with `Content-Type: application/pdf`.",
    responses=responses(pb.ReportVerification, 400),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": json_body(pb.VerifyReportRequest)["requestBody"]["content"][
                    "application/json"
                ],
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def verify_report(request: Request, services: ServicesDep) -> Response:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == PDF:
        asked = pb.VerifyReportRequest(pdf=await request.body())
    else:
        asked = await read_message(request, pb.VerifyReportRequest)
    return message_response(await services.offload.run(services.reports.verification, asked))


@router.post(
    "/v1/reports/{report_id:segment}:revoke",
    operation_id="RevokeReport",
    summary="Revoke a report at once (operators)",
    responses=responses(pb.Report, 400, 404, 409),
    openapi_extra=json_body(pb.RevokeReportRequest),
)
async def revoke_report(
    report_id: ReportId, request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    asked = await read_message(request, pb.RevokeReportRequest)
    asked.name = f"reports/{report_id}"
    report = await services.offload.run(services.reports.revoke, asked, caller.partner)
    return message_response(await services.offload.run(services.reports.message, report))


# -- the verification page -------------------------------------------------------------------

_PAGE_RESPONSES = {
    **responses(None),
    200: {"description": "The page", "content": {"text/html": {}}},
    # The page saying no such report exists; a path that is no report id at all (a "/" in it)
    # matches no route and gets the problem document.
    404: {
        "description": "No such report",
        "content": {"text/html": {}, PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    },
}


@router.get(
    "/r/{report_id}",
    operation_id="ReportPage",
    summary="The verification page a report's QR code points at (HTML, zh/en/ru)",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
)
async def report_page(
    report_id: Annotated[str, Path(max_length=64, pattern=r"^[^\x00\n]*$")],
    request: Request,
    services: ServicesDep,
    lang: Annotated[str, Query(description="zh, en or ru; anything else is ignored.")] = "",
) -> Response:
    return await _page(request, services, report_id, lang, checked=None)


@router.post(
    "/r/{report_id}",
    operation_id="ReportPageCheck",  # the same page (SERVES), with a copy checked
    summary="The verification page with a copy checked: a pasted digest or the uploaded PDF",
    response_class=HTMLResponse,
    responses={**_PAGE_RESPONSES, 400: problem_response(400, "Neither a digest nor a PDF")},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "sha256": {"type": "string", "description": "The copy's SHA-256."},
                            "pdf": {"type": "string", "format": "binary"},
                        },
                    }
                }
            },
        }
    },
)
async def report_page_check(
    report_id: Annotated[str, Path(max_length=64, pattern=r"^[^\x00\n]*$")],
    request: Request,
    services: ServicesDep,
    lang: Annotated[str, Query()] = "",
) -> Response:
    # A pasted digest (form field sha256) or an uploaded copy (field pdf); the body is already
    # bounded by CXG_MAX_REQUEST_BYTES, and an upload is spooled, never held whole twice.
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("pdf")
        if isinstance(upload, UploadFile) and upload.filename:
            asked = pb.VerifyReportRequest(pdf=await upload.read())
        elif isinstance(pasted := form.get("sha256"), str) and pasted.strip():
            asked = pb.VerifyReportRequest(sha256=pasted)
        else:
            raise InvalidArgument("paste the report's SHA-256 or choose its PDF", field="sha256")
    asked.name = report_id
    try:
        verification = await services.offload.run(services.reports.verification, asked)
    except InvalidArgument:
        verification = None  # not a digest: the page says the copy does not match
    return await _page(request, services, report_id, lang, checked=verification)


async def _page(
    request: Request,
    services: ServicesDep,
    report_id: str,
    lang: str,
    *,
    checked: pb.ReportVerification | None,
) -> Response:
    language = lang if lang in TEXT_COLUMNS else negotiate(request.headers.get("accept-language"))
    column = TEXT_COLUMNS[language]
    report = await services.offload.run(services.reports.find, report_id)
    state, tone = "UNKNOWN", "bad"
    if report is not None:
        state, tone = _STATES[await services.offload.run(services.reports.state, report)]
    page = _PAGE.render(
        lang=language,
        languages=LANGUAGES,
        t={key: words[column] for key, words in TEXT.items()},
        state=state,
        tone=tone,
        report=report,
        scheme=named(SCHEMES, report.subject_scheme, column) if report else "",
        purpose=named(PURPOSES, report.purpose, column) if report else "",
        issued=_time(report.issued_at) if report else "",
        expires=_time(report.expires_at) if report else "",
        revoked=_time(report.revoked_at) if report and report.revoked_at else "",
        posted=checked is not None or request.method == "POST",
        matches=bool(checked and checked.matches),
        checked_digest=checked.sha256 if checked else "",
        now=_time(datetime.now(UTC)),
    )
    return HTMLResponse(
        page,
        status_code=200 if report is not None else 404,
        headers={
            "Content-Language": language,
            "Vary": "Accept-Language",
            "Cache-Control": "no-store",  # the state may change at any time
            "Content-Security-Policy": _CSP,
            "Referrer-Policy": "no-referrer",
        },
    )


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
