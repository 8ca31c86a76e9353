"""Response shapes shared by the REST routers: proto3 JSON bodies and their OpenAPI entries."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from google.protobuf.message import Message

from gateway.errors import GatewayError
from gateway.profiles import canonical_json, parse_json_message
from gateway.signing import SUPPORTED_ALGORITHMS
from gateway.transport.errors import PROBLEM_JSON
from gateway.transport.rest._schemas import ref
from gateway.trust.dpop import NONCE_FIELD
from gateway.trust.policy import Rule

JOSE = "application/jose"
_M = TypeVar("_M", bound=Message)
# What a quoted-string may hold (RFC 9110 section 5.6.4), as a header goes out in latin-1.
_NOT_QUOTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_DESCRIPTION = 300


def message_response(message: Message) -> Response:
    return Response(canonical_json(message), media_type="application/json")


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; `field` names the offending field.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
}
_STATUS_TEXT = {
    400: "Invalid argument or identifier (the problem's `field` names it)",
    401: "Token, signature or key not accepted",
    403: "Partner not allowed",
    404: "Not found",
    408: "The request head or body did not arrive in time; the connection is closed",
    409: "Conflicts with stored state (e.g. replayed publication)",
    413: "Request body too large",
    414: "Request target too long (CXG_MAX_URL_BYTES)",
    429: "Rate limit or daily quota exceeded (see Retry-After)",
    431: "Request head too large or too many header fields (CXG_MAX_HEADER_BYTES, _COUNT)",
    503: "Database or keys unavailable",
}


def responses(
    message: Any, *errors: int, signed: bool = False, stateless: bool = False
) -> dict[int | str, Any]:
    """The answers of an operation: ``message`` as its 200, the refusals its handler and service
    may answer, and 503 unless ``stateless`` (it reads no database). The refusals of admission
    and of the HTTP layer are added to every operation by ``document_refusals``."""
    documented: dict[int | str, Any] = {}
    if message is not None:
        content: dict[str, Any] = {"application/json": {"schema": ref(message)}}
        if signed:
            content[JOSE] = {
                "schema": {"type": "string", "description": "The JWS compact serialization alone."}
            }
        documented[200] = {"description": "OK", "content": content}
    for status in sorted({*errors, *(() if stateless else (503,))}):
        documented[status] = problem_response(status)
    return documented


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or _STATUS_TEXT[status],
        "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    }


def document_refusals(operation: dict[str, Any], method: str, rule: Rule) -> None:
    """Add to an OpenAPI operation the refusals every route of its kind can answer, whatever
    its handler does (an entry the route documents itself is kept):

    - 400: admission refuses a query parameter given twice and text with NUL on every route;
    - 401, 403, 429: a caller's token, standing, roles and quota, where the operation takes a
      caller (every non-public one, and a public one that ``identifies`` a caller with a token);
      429 also where anonymous requests are screened (the token endpoint);
    - 413: the body limit, on every method but GET and HEAD;
    - 408, 414, 431: the HTTP layer's bounds on a request's head and the time to send it
      (gateway/transport/rest/_http.py).
    """
    answers = operation.setdefault("responses", {})
    statuses = {400, 408, 414, 431}
    if not rule.public or rule.identifies:
        statuses |= {401, 403, 429}
    if rule.public and rule.audited:
        statuses.add(429)
    if method.upper() not in ("GET", "HEAD"):
        statuses.add(413)
    for status in sorted(statuses):
        answers.setdefault(str(status), problem_response(status))
    operation["responses"] = dict(sorted(answers.items()))


async def read_message(request: Request, message_type: type[_M]) -> _M:
    """The request body parsed strictly as proto3 JSON of ``message_type``."""
    message = message_type()
    parse_json_message(await request.body(), message, field="body")
    return message


def json_body(message_type: type[Message]) -> dict[str, Any]:
    """``openapi_extra`` documenting a required proto3 JSON request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref(message_type)}},
        }
    }


def challenge(request: Request, refusal: GatewayError) -> str:
    """The ``WWW-Authenticate`` challenge of a 401 (RFC 9110 section 11.6.1): the scheme the
    client used (DPoP, or Bearer for a certificate-bound token), and the error of RFC 6750
    section 3 or RFC 9449 section 7.1; no error when the request carried no credentials at all
    (RFC 6750 section 3.1), as a client that sent none has not yet made one."""
    sent = request.headers.get("authorization", "")
    scheme = "Bearer" if sent.split(" ", 1)[0].lower() == "bearer" else "DPoP"
    field = refusal.field or ""
    error = (
        "use_dpop_nonce"  # RFC 9449 section 9: the answer carries a fresh DPoP-Nonce
        if field == NONCE_FIELD
        else "invalid_dpop_proof"
        if field == "DPoP" or field.startswith("DPoP.")
        else "invalid_token"
        if sent
        else None
    )
    params = []
    if error:
        description = _NOT_QUOTABLE.sub("?", refusal.message)[:_MAX_DESCRIPTION]
        description = description.replace("\\", "\\\\").replace('"', '\\"')
        params += [f'error="{error}"', f'error_description="{description}"']
    if scheme == "DPoP":
        params.append(f'algs="{" ".join(SUPPORTED_ALGORITHMS)}"')
    return f"{scheme} {', '.join(params)}".rstrip()
