"""The OAuth 2.0 token endpoint (client credentials with ``private_key_jwt``, RFC 7523; DPoP-bound
tokens, RFC 9449). Errors follow RFC 6749 section 5.2, as OAuth client libraries expect.

Every answer to a request with a ``DPoP`` proof carries a fresh server nonce (``DPoP-Nonce``,
RFC 9449 section 8); a proof refused for its nonce alone is answered ``400 use_dpop_nonce``."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from gateway.errors import (
    DatabaseUnavailable,
    GatewayError,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from gateway.service.access import client_thumbprint
from gateway.service.tokens import GRANT_TYPE
from gateway.transport.errors import PROBLEM_JSON, mapping_for
from gateway.transport.rest._guard import (
    GuardedRoute,
    mark_caller,
    record_exchange,
    request_url,
    single_header,
    source_of,
)
from gateway.transport.rest._replies import PROBLEM_SCHEMA, challenge
from gateway.transport.rest._schemas import JWS
from gateway.transport.rest._tls import client_certificate
from gateway.transport.services import Services
from gateway.trust.assertions import CLIENT_ASSERTION_TYPE
from gateway.trust.dpop import NONCE_FIELD

TOKEN_PATH = "/oauth2/token"
_FORM = "application/x-www-form-urlencoded"
DPOP_NONCE = "DPoP-Nonce"
_NONCE_HEADER = {
    DPOP_NONCE: {
        "description": "A server nonce for the client's next DPoP proofs (RFC 9449 section 8); "
        "sent with every answer to a request with a DPoP proof.",
        "schema": {"type": "string"},
    }
}
_FIELDS = ("grant_type", "client_assertion_type", "client_assertion")
# RFC 6749 section 5.2 error codes, by error class.
_OAUTH_ERRORS: tuple[tuple[type[GatewayError], str, int], ...] = (
    (Unauthenticated, "invalid_client", 401),
    (PermissionDenied, "unauthorized_client", 400),
    (InvalidArgument, "invalid_request", 400),
    # RFC 6749 names it for the authorization endpoint; clients know it as "retry later".
    (DatabaseUnavailable, "temporarily_unavailable", 503),
)
_TOKEN_SCHEMA = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {
            "type": "string",
            "description": "JWT (typ at+jwt) signed by the gateway.",
        },
        "token_type": {"type": "string", "enum": ["DPoP", "Bearer"]},
        "expires_in": {"type": "integer"},
    },
}
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
        "field": {"type": "string"},
    },
}

router = APIRouter(route_class=GuardedRoute)


@router.post(
    TOKEN_PATH,
    operation_id="CreateToken",
    summary="Exchange a private_key_jwt client assertion and a DPoP proof for an access token",
    responses={
        200: {
            "description": "A sender-constrained access token",
            "headers": _NONCE_HEADER,
            "content": {"application/json": {"schema": _TOKEN_SCHEMA}},
        },
        400: {
            "description": "Malformed request; or use_dpop_nonce: the DPoP proof needs the "
            "server nonce sent in DPoP-Nonce (RFC 9449 section 8), send the request again with "
            "a new proof carrying it",
            "headers": _NONCE_HEADER,
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
        401: {
            "description": "Client authentication failed",
            "headers": _NONCE_HEADER,
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
        500: {
            "description": "The token could not be issued (an unexpected failure)",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
        503: {
            "description": "temporarily_unavailable: the database is unavailable (see "
            "Retry-After); nothing was issued",
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        },
        429: {
            "description": "Too many token requests or refusals from this address (see "
            "Retry-After); answered before the assertion is checked",
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        },
    },
    openapi_extra={
        "parameters": [
            {
                "name": "DPoP",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "DPoP proof (RFC 9449) for this request.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {
                    "schema": {
                        "type": "object",
                        "required": list(_FIELDS),
                        "properties": {
                            "grant_type": {"type": "string", "enum": [GRANT_TYPE]},
                            "client_assertion_type": {
                                "type": "string",
                                "enum": [CLIENT_ASSERTION_TYPE],
                            },
                            "client_assertion": {
                                "type": "string",
                                "pattern": JWS,
                                "description": "JWT (RFC 7523) signed with the partner's key.",
                            },
                            "client_id": {
                                "type": "string",
                                "description": "Optional; if sent, the partner id the client "
                                "assertion authenticates (its sub).",
                            },
                        },
                    }
                }
            },
        },
    },
)
async def create_token(request: Request) -> Response:
    services: Services = request.app.state.services
    tokens = services.tokens
    try:
        form = _form(request.headers.get("content-type", ""), await request.body())
        dpop_proof = single_header(request, "DPoP")
        issued = await services.offload.run(
            lambda: tokens.issue(
                grant_type=form["grant_type"],
                client_assertion_type=form["client_assertion_type"],
                client_assertion=form["client_assertion"],
                dpop_proof=dpop_proof,
                client_cert_thumbprint=_thumbprint(request),
                method=request.method,
                url=request_url(request),
                client_id=form.get("client_id"),
            )
        )
    except GatewayError as exc:
        slug = mapping_for(exc).slug
        logged = services.gate.refused(
            "CreateToken", "rest", None, exc, slug, source=source_of(request)
        )
        refused = oauth_error(exc, request) or _server_error(exc)
        # Without a database there is no leaf to write: the refusal row waits for it instead.
        if logged and not isinstance(exc, DatabaseUnavailable):
            try:
                await record_exchange(request, refused, slug)
            except DatabaseUnavailable as unavailable:  # never an answer without its leaf
                return oauth_error(unavailable, request) or _server_error(unavailable)
        return refused
    mark_caller(request, issued.caller)  # the audit leaf names the partner that authenticated
    body = {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
    }
    headers = {"Cache-Control": "no-store"}
    if dpop_proof is not None:
        headers[DPOP_NONCE] = tokens.fresh_nonce()
    return JSONResponse(body, headers=headers)


def _thumbprint(request: Request) -> str | None:
    pem = client_certificate(request.scope)
    return client_thumbprint(pem) if pem else None


def _form(content_type: str, body: bytes) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != _FORM:
        raise InvalidArgument(f"the token request must be {_FORM}", field="content-type")
    try:
        fields = parse_qs(
            body.decode("ascii"),
            keep_blank_values=True,  # "client_id=" is a client_id, not an absent one
            strict_parsing=bool(body),
            max_num_fields=16,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument(f"the form cannot be parsed: {exc}", field="body") from exc
    # RFC 6749 section 3.2: no parameter more than once, named or not (a reader that takes the
    # first and one that takes the last would see two different requests).
    for name, values in fields.items():
        if len(values) > 1:
            raise InvalidArgument(f"{name} must not be given more than once", field=name)
    form = {name: values[0] for name, values in fields.items()}
    for name in _FIELDS:
        if name not in form:
            raise InvalidArgument(f"{name} must be given exactly once", field=name)
    return form


def oauth_error(exc: GatewayError, request: Request) -> Response | None:
    """The RFC 6749 section 5.2 error answering ``exc``, or None when that section has none for
    it; a 401 carries a ``WWW-Authenticate`` challenge, as every 401 of the gateway does."""
    found = next(((c, s) for cls, c, s in _OAUTH_ERRORS if isinstance(exc, cls)), None)
    if found is None:
        return None
    code, status = found
    if isinstance(exc, Unauthenticated) and exc.field == NONCE_FIELD:
        code, status = "use_dpop_nonce", 400  # RFC 9449 section 8
    body: dict[str, Any] = {"error": code, "error_description": exc.message}
    if exc.field:
        body["field"] = exc.field
    headers = {"Cache-Control": "no-store"}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if "dpop" in request.headers:
        services: Services = request.app.state.services
        headers[DPOP_NONCE] = services.tokens.fresh_nonce()
    if status == 401:
        headers["WWW-Authenticate"] = challenge(request, exc)
    return JSONResponse(body, status_code=status, headers=headers)


def _server_error(exc: GatewayError) -> Response:
    body = {"error": "server_error", "error_description": exc.message}
    return JSONResponse(body, status_code=500, headers={"Cache-Control": "no-store"})
