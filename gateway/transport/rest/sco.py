"""REST routes of cxg.v1.ScoService, the QR images of a code, and the scan-to-check page that a
code's QR points at: server-rendered, mobile-first, in zh, en and ru, with no JavaScript."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Literal

import jinja2
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from gateway.names import AEO_TYPES, GRADES, SCHEMES, country_name, named
from gateway.schema.cxg.v1 import sco_service_pb2 as pb
from gateway.sco import Result
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest._replies import (
    json_body,
    message_response,
    problem_response,
    read_message,
    responses,
)
from gateway.transport.rest._scan_text import TEXT
from gateway.transport.rest._schemas import ref
from gateway.transport.rest.deps import CallerDep, ServicesDep

CodeId = Annotated[
    str, Path(pattern="^[0-9a-f]{16}$", description="The last segment of scoCodes/{code_id}.")
]
LANGUAGES = (("zh", "中文"), ("en", "English"), ("ru", "Русский"))
STATUS_LIST_TOKEN = "application/statuslist+jwt"
_TONES = {Result.VALID: "ok", Result.UNDER_REVIEW: "warn", Result.SUSPENDED: "warn"}
_PAGE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FilePath(__file__).parent / "templates"),
    autoescape=True,  # every value on the page came from a scanned, untrusted code
    undefined=jinja2.StrictUndefined,
).get_template("sco.html")

router = APIRouter(route_class=GuardedRoute)


@router.post(
    "/v1/scoCodes",
    operation_id="IssueScoCode",
    summary="Issue an SCO code for a company with a profile (issuers)",
    responses=responses(pb.ScoCode, 400, 404),
    openapi_extra=json_body(pb.IssueScoCodeRequest),
)
async def issue_code(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    issue = await read_message(request, pb.IssueScoCodeRequest)
    return message_response(
        await services.offload.run(services.sco.issue_code, issue, caller.partner)
    )


@router.get(
    "/v1/scoCodes/{code_id:segment}",
    operation_id="GetScoCode",
    summary="One SCO code this gateway issued (its issuer, operators)",
    responses=responses(pb.ScoCode, 400, 404),
)
async def get_code(code_id: CodeId, services: ServicesDep, caller: CallerDep) -> Response:
    get = pb.GetScoCodeRequest(name=f"scoCodes/{code_id}")
    return message_response(await services.offload.run(services.sco.get_code, get, caller.partner))


@router.get(
    "/v1/scoCodes/{code_id:segment}/qr.{image}",
    operation_id="GetScoCodeQr",
    summary="The code's QR image (PNG or SVG, error correction M), holding its scan URL",
    responses={
        **responses(None, 400, 404),
        200: {"description": "OK", "content": {"image/png": {}, "image/svg+xml": {}}},
    },
)
async def get_qr(
    code_id: CodeId, image: Literal["png", "svg"], services: ServicesDep, caller: CallerDep
) -> Response:
    get = pb.GetScoCodeRequest(name=f"scoCodes/{code_id}")
    data = await services.offload.run(services.sco.qr, get, caller.partner, image)
    return Response(data, media_type="image/png" if image == "png" else "image/svg+xml")


@router.post(
    "/v1/scoCodes/{code_id:segment}:setStatus",
    operation_id="SetScoCodeStatus",
    summary="Revoke, suspend, put under review or reinstate a code (its issuer, operators)",
    description="Revocation is final; any other state may change to any other. A refused change "
    "(a revoked code, or the state the code is in) answers 409 naming `state` and the code's "
    "`current_state`, and changes nothing.",
    responses=responses(pb.ScoCode, 400, 404, 409),
    openapi_extra=json_body(pb.SetScoCodeStatusRequest),
)
async def set_status(
    code_id: CodeId, request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    change = await read_message(request, pb.SetScoCodeStatusRequest)
    change.name = f"scoCodes/{code_id}"
    return message_response(
        await services.offload.run(services.sco.set_status, change, caller.partner)
    )


@router.post(
    "/v1/scoCodes:verify",
    operation_id="VerifyScoCode",
    summary="Check a code (or its scan URL) with the current trust and status lists",
    responses=responses(pb.ScoVerification, 400),
    openapi_extra=json_body(pb.VerifyScoCodeRequest),
)
async def verify_code(request: Request, services: ServicesDep) -> Response:
    question = await read_message(request, pb.VerifyScoCodeRequest)
    return message_response(await services.offload.run(services.sco.verify_code, question))


@router.get(
    "/v1/sco/trustList",
    operation_id="GetTrustList",
    summary="The trust list of SCO issuer keys, signed by the gateway",
    responses=responses(pb.SignedList),
)
async def trust_list(services: ServicesDep) -> Response:
    _, jws = await services.offload.run(services.sco.trust_list)
    return message_response(pb.SignedList(jws=jws))


@router.get(
    "/v1/sco/statusList",
    operation_id="GetStatusList",
    summary="The status list of this gateway's SCO codes, signed by the gateway",
    description="The URI in every code's status claim and the token's `sub`. With `Accept: "
    f"{STATUS_LIST_TOKEN}` the answer is the Status List Token itself "
    '(draft-ietf-oauth-status-list, "Status List Request").',
    responses={
        **responses(pb.SignedList),
        200: {
            "description": "OK",
            "content": {
                "application/json": {"schema": ref(pb.SignedList)},
                STATUS_LIST_TOKEN: {
                    "schema": {"type": "string", "description": "The JWS compact serialization."}
                },
            },
        },
    },
)
async def status_list(request: Request, services: ServicesDep) -> Response:
    _, jws = await services.offload.run(services.sco.status_list)
    if STATUS_LIST_TOKEN in request.headers.get("accept", ""):
        # The draft's SHOULD: browser-based verifiers may fetch it (it is public and signed).
        headers = {"Access-Control-Allow-Origin": "*", "Vary": "Accept"}
        return Response(jws, media_type=STATUS_LIST_TOKEN, headers=headers)
    return message_response(pb.SignedList(jws=jws))


@router.get(
    "/S/{code:path}",
    operation_id="ScanScoCodeUpper",  # the same page (SERVES): QR codes hold upper-case URLs
    include_in_schema=False,
)
@router.get(
    "/s/{code:path}",
    operation_id="ScanScoCode",
    summary="The scan-to-check page a code's QR points at (HTML, zh/en/ru)",
    response_class=HTMLResponse,
    responses={
        **responses(None),
        200: {"description": "The page", "content": {"text/html": {}}},
        # Any code gets the page (MALFORMED when it is not one), but a path with a line break
        # matches no route.
        404: problem_response(404, "No such page: the code holds a line break"),
    },
)
async def scan_page(
    code: Annotated[
        str,
        # A path segment may hold any character but NUL (refused, 400) and a line break (no
        # route matches one: 404); a code is Base45 or base 36, so neither is ever in one.
        Path(pattern=r"^[^\x00\n]*$", description="The code's text, as its QR code holds it."),
    ],
    request: Request,
    services: ServicesDep,
    lang: Annotated[str, Query(description="zh, en or ru; anything else is ignored.")] = "",
) -> Response:
    language = lang if lang in TEXT_COLUMNS else negotiate(request.headers.get("accept-language"))
    checked = await services.offload.run(services.sco.check, code)
    claims = checked.claims
    disputed = claims is not None and await services.offload.run(services.sco.under_dispute, claims)
    column = TEXT_COLUMNS[language]
    # The company's name in the reader's language first, then the others the code carries.
    preference = [language] + [x for x, _ in LANGUAGES if x != language]
    ordered = [n for x in preference if claims and (n := getattr(claims.names, x))]
    page = _PAGE.render(
        lang=language,
        languages=LANGUAGES,
        t={key: words[column] for key, words in TEXT.items()},
        result=checked.result.value,
        tone=_TONES.get(checked.result, "bad"),
        disputed=disputed,
        claims=claims,
        company=ordered[0] if ordered else "",
        other_names=ordered[1:],
        # Values the code holds as codes, named in the reader's language.
        country=country_name(claims.country, language) if claims else "",
        identifiers=[(named(SCHEMES, s, column), v) for s, v in claims.subject_ids]
        if claims
        else [],
        grade=named(GRADES, claims.grade_bucket, column) if claims else "",
        aeo_type=named(AEO_TYPES, claims.aeo_type, column) if claims else "",
        issued=claims.issued_at.date().isoformat() if claims else "",
        expires=claims.expires_at.date().isoformat() if claims else "",
        checked=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return HTMLResponse(
        page,
        headers={
            "Content-Language": language,
            "Vary": "Accept-Language",
            "Cache-Control": "no-store",  # the status may change at any time
            "Content-Security-Policy": _CSP,
            "Referrer-Policy": "no-referrer",
        },
    )


TEXT_COLUMNS = {code: n for n, (code, _) in enumerate(LANGUAGES)}
# Nothing loads, runs or submits: the page is text and inline style only.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"


def negotiate(header: str | None) -> str:
    """The first of zh, en, ru the Accept-Language header asks for, by weight; else en."""
    wanted = []
    for part in (header or "").split(","):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in TEXT_COLUMNS and weight > 0:
            wanted.append((weight, primary))
    return max(wanted, key=lambda w: w[0])[1] if wanted else "en"
