"""Response shapes shared by the REST routers: proto3 JSON bodies and their OpenAPI entries."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from google.protobuf.message import Message

from gateway.profiles import canonical_json, parse_json_message
from gateway.transport.errors import PROBLEM_JSON
from gateway.transport.rest._schemas import ref

JOSE = "application/jose"
_M = TypeVar("_M", bound=Message)


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
