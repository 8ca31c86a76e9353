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
    400: "Invalid argument or identifier",
    401: "Token, signature or key not accepted",
    403: "Partner not allowed",
    404: "Not found",
    409: "Conflicts with stored state (e.g. replayed publication)",
    413: "Request body too large",
    429: "Rate limit or daily quota exceeded (see Retry-After)",
    503: "Database or keys unavailable",
}


def responses(
    message: Any, *errors: int, signed: bool = False, public: bool = False
) -> dict[int | str, Any]:
    documented: dict[int | str, Any] = {}
    if message is not None:
        content: dict[str, Any] = {"application/json": {"schema": ref(message)}}
        if signed:
            content[JOSE] = {
                "schema": {"type": "string", "description": "The JWS compact serialization alone."}
            }
        documented[200] = {"description": "OK", "content": content}
    # Every non-public operation can be refused for its credentials, its role or its quota.
    for status in sorted({*errors, *(() if public else (401, 403, 429))}):
        documented[status] = {
            "description": _STATUS_TEXT[status],
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
    return documented


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
        "invalid_dpop_proof"
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
