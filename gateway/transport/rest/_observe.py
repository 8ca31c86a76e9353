"""Every REST request's log line, metrics and span (gateway/observe/requests.py), taken around
the whole application so that no answer escapes it: a routed call, a 404, a body refused for its
size, an unexpected error.

It reads only what the answer already says: the status, the audit leaf header, the problem
type of a problem+json body. The operation and the caller are those the route's guard put in
the scope; an unrouted request is "unmatched", whatever its path (no path in a metric label).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observe.requests import REQUEST_ID_HEADER, UNMATCHED, Served
from gateway.transport.errors import AUDIT_LEAF, PROBLEM_JSON
from gateway.transport.rest._guard import CALLER, OPERATION, operation_of
from gateway.trust.policy import PURPOSES

_PROBLEM_PREFIX = "urn:cxg:problem:"
_PROBLEM_BYTES = 16 * 1024  # problem documents are small; more is never kept
_PROBLEM_TYPE = PROBLEM_JSON.encode()
_LEAF_HEADER = AUDIT_LEAF.encode()
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.encode()
_PURPOSE = re.compile(rb"(?:^|&)purpose=([^&]*)")


class Observed:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        served = Served("rest", headers.get(b"traceparent"), headers.get(b"x-request-id"))
        answer = _Answer()
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = answer.started(message, served)
            elif message["type"] == "http.response.body":
                answer.body(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counted_receive, observed_send)
        finally:
            caller = scope.get(CALLER)
            served.finish(
                operation=_operation(scope),
                status=str(answer.status or 500),
                problem=answer.problem() if answer.status != 0 else "internal",
                partner=caller.partner.id if caller is not None else None,
                purpose=_purpose(scope),
                leaf=answer.leaf,
                bytes_in=received,
                bytes_out=answer.sent,
            )


class _Answer:
    __slots__ = ("_problem_body", "leaf", "sent", "status")

    def __init__(self) -> None:
        self.status = 0
        self.leaf: int | None = None
        self.sent = 0
        self._problem_body: bytearray | None = None

    def started(self, message: Message, served: Served) -> Message:
        self.status = message["status"]
        headers = list(message.get("headers", ()))
        for name, value in headers:
            if name == _LEAF_HEADER and value.isdigit():
                self.leaf = int(value)
            elif name == b"content-type" and value.startswith(_PROBLEM_TYPE):
                self._problem_body = bytearray()
        headers.append((_REQUEST_ID_HEADER, served.request_id.encode()))
        if served.traceparent is not None:
            headers.append((b"traceparent", served.traceparent.encode()))
        return {**message, "headers": headers}

    def body(self, chunk: bytes) -> None:
        self.sent += len(chunk)
        kept = self._problem_body
        if kept is not None and len(kept) < _PROBLEM_BYTES:
            kept += chunk[: _PROBLEM_BYTES - len(kept)]

    def problem(self) -> str | None:
        """The problem type's slug ("unknown" for a problem document without ours)."""
        if self._problem_body is None:
            return None
        try:
            kind = json.loads(self._problem_body).get("type", "")
        except (ValueError, AttributeError):
            kind = ""
        return kind.removeprefix(_PROBLEM_PREFIX) if kind.startswith(_PROBLEM_PREFIX) else "unknown"


def _headers(scope: Scope) -> dict[bytes, str]:
    wanted = (b"traceparent", b"x-request-id")
    return {name: value.decode("latin-1") for name, value in scope["headers"] if name in wanted}


def _operation(scope: Scope) -> str:
    operation: str | None = scope.get(OPERATION)
    if operation:
        return operation
    route: Any = scope.get("route")
    if route is None:
        return UNMATCHED
    return operation_of(getattr(route, "operation_id", None)) or route.name


def _purpose(scope: Scope) -> str | None:
    """The query's one ``purpose`` when it is one of the policy's names (a regular expression:
    parsing the whole query for it would cost more than the rest of this line)."""
    found = _PURPOSE.findall(scope.get("query_string", b""))
    if len(found) != 1:
        return None
    value = unquote_plus(found[0].decode("latin-1"))
    return value if value in PURPOSES else None
