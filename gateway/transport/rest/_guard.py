"""Admission for every REST route: ``GuardedRoute`` runs the gatekeeper before the handler.

Each route's operation is its OpenAPI ``operation_id`` (or the operation it serves, below); a
route whose operation has no policy is refused to everyone (default deny).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from gateway.audit.entries import Actor, Exchange, acting_as
from gateway.errors import InvalidArgument, Unauthenticated
from gateway.observe import traces
from gateway.service.access import Credentials, Gatekeeper
from gateway.service.audit import AuditLog, sha256_hex
from gateway.service.flood import source_address
from gateway.service.tokens import Caller, TokenService
from gateway.transport.errors import AUDIT_LEAF
from gateway.transport.rest._tls import client_certificate
from gateway.trust.policy import rule_for


class _Segment(Convertor[str]):
    """A path segment without ':', so that ``/things/{id:segment}`` does not also match the
    custom methods ``/things/{id}:action`` (Google AIP-136) of the same resource."""

    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("segment", _Segment())

# REST routes that serve another operation's use case.
SERVES = {
    "LookupProfile": "GetProfile",
    "GetPeerProfile": "GetProfile",
    "ScanScoCodeUpper": "ScanScoCode",
    "ReportPageCheck": "ReportPage",
}
OPERATION = "cxg.operation"
CALLER = "cxg.caller"
_BODY = "cxg.body"
_STREAMED_SHA256 = "cxg.streamed_sha256"
# Operations whose route reads its (large) body itself, as a stream: never buffered here.
_STREAMED = frozenset({"ImportProfiles"})
_AUDITED = "cxg.audited"
_DECIDED = "cxg.decided"  # a rules decision's pack and subjects, for its audit leaf
_SERVED = "cxg.served"  # the resources an answer served (a profile version), for its leaf
_PURPOSE = "cxg.purpose"  # the purpose of a request that states it in its body
# Path parameters that name a resource, and the collection they name it in.
_RESOURCES = {
    "profile_id": "profiles",
    "consent_id": "consents",
    "partner_id": "partners",
    "code_id": "scoCodes",
}


def operation_of(operation_id: str | None) -> str:
    return SERVES.get(operation_id or "", operation_id or "")


class GuardedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        operation = operation_of(self.operation_id)
        via = f"rest {operation}"

        async def guarded(request: Request) -> Response:
            request.scope[OPERATION] = operation
            gate: Gatekeeper = request.app.state.services.gate
            # A source flooding the token endpoint is turned away before its body is even read.
            gate.screen(operation, source_of(request))
            if request.method != "GET" and operation not in _STREAMED:
                request.scope[_BODY] = await request.body()  # for the audit leaf's digest
            with traces.span("admission"):
                caller = await gate.admit(
                    operation, _credentials(request), functools.partial(_identified, request)
                )
            _refuse_nul(request)
            _refuse_repeated(request)
            with traces.span(operation):
                if caller is None:  # a public call may change nothing (no actor to name)
                    response = await handler(request)
                else:
                    with acting_as(Actor.partner(caller.partner.id, via)):
                        response = await handler(request)
            await record_exchange(request, response, "ok")
            offer_nonce(request, response)
            return response

        return guarded


def offer_nonce(request: Request, response: Response) -> None:
    """Every answer to a request with a DPoP proof carries a fresh server nonce (RFC 9449
    section 9) for the client's next proofs; it is valid on every replica sharing the keys."""
    if "dpop" in request.headers:
        services = request.app.state.services
        response.headers["DPoP-Nonce"] = services.tokens.fresh_nonce()


def _identified(request: Request, caller: Caller | None) -> None:
    request.scope[CALLER] = caller


async def record_exchange(request: Request, response: Response, decision: str) -> None:
    """Append the request's audit leaf (when its operation is audited) and name the leaf in a
    response header; returns once the leaf is durable."""
    operation = request.scope.get(OPERATION)
    if operation is None or not rule_for(operation).audited or request.scope.get(_AUDITED):
        return
    request.scope[_AUDITED] = True
    caller = identified_caller(request)
    query = request.query_params
    body = bytes(response.body)
    received = received_line(request) + request.scope.get(_BODY, b"")
    rule_pack, decided = request.scope.get(_DECIDED, ("", ()))
    exchange = Exchange(
        operation=operation,
        transport="rest",
        partner=caller.partner.id if caller else "",
        subject=_subjects(request, body if request.method != "GET" else b"")
        + decided
        + request.scope.get(_SERVED, ()),
        purpose=query.get("purpose", "") or request.scope.get(_PURPOSE, ""),
        consent=query.get("consent", ""),
        request_sha256=request.scope.get(_STREAMED_SHA256) or sha256_hex(received),
        response_sha256=sha256_hex(body),
        decision=decision,
        rule_pack=rule_pack,
    )
    audit: AuditLog = request.app.state.services.audit
    with traces.span("audit commit"):
        leaf = await audit.record_async(exchange)
    response.headers[AUDIT_LEAF] = str(leaf)


def received_line(request: Request) -> bytes:
    """The request line as received, which the audit leaf's request digest starts with."""
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return f"{request.method} {target}\n".encode()


def mark_decision(request: Request, rule_pack: str, subjects: tuple[str, ...]) -> None:
    """For a route that answers with a rules decision: the pack that decided and the subjects
    the request named, for the audit leaf."""
    request.scope[_DECIDED] = (rule_pack, subjects)


def mark_caller(request: Request, caller: Caller) -> None:
    """For a public route that authenticates its caller itself (the token endpoint): the caller
    it established, for the audit leaf."""
    request.scope[CALLER] = caller


def mark_served(request: Request, subjects: Sequence[str], *, purpose: str = "") -> None:
    """For a route that serves a resource its path does not name: what it served, and the
    purpose it served it for when the request says so in its body rather than its query."""
    request.scope[_SERVED] = tuple(subjects)
    if purpose:
        request.scope[_PURPOSE] = purpose


def mark_streamed(request: Request, request_sha256: str) -> None:
    """For a route that streams its body itself: the digest of request line and body."""
    request.scope[_STREAMED_SHA256] = request_sha256


def _subjects(request: Request, answer: bytes) -> tuple[str, ...]:
    named = [
        f"{_RESOURCES[key]}/{value}"
        for key, value in request.path_params.items()
        if key in _RESOURCES
    ]
    query = request.query_params
    if "scheme" in query and "value" in query:
        named.append(f"{query['scheme']}:{query['value']}")
    if answer.startswith(b"{"):  # what a creating call made, e.g. the profile a publish stored
        try:
            document = json.loads(answer)
        except ValueError:
            document = {}
        named += [
            value
            for key in ("name", "profileName", "profile")
            if isinstance(value := document.get(key), str) and value
        ]
    return tuple(dict.fromkeys(named))


def source_of(request: Request) -> str:
    """The source the request is limited under when its caller is not established: the
    connection's peer address, never X-Forwarded-For or any header (a client writes those)."""
    client = request.scope.get("client")
    return source_address(client[0] if client else None)


def identified_caller(request: Request) -> Caller | None:
    """The caller admission established: always on a non-public route, on a public one when
    it identifies callers that send a token (policy ``Rule.identifies``)."""
    caller: Caller | None = request.scope.get(CALLER)
    return caller


def caller_of(request: Request) -> Caller:
    """The admitted caller of a non-public route."""
    caller = identified_caller(request)
    if caller is None:
        raise AssertionError("a route with a caller ran without admission")
    return caller


def refusal_context(request: Request) -> tuple[str, Caller | None] | None:
    """(operation, caller) of a request refused by a guarded route; None for other requests."""
    operation = request.scope.get(OPERATION)
    return (operation, request.scope.get(CALLER)) if operation else None


def _refuse_nul(request: Request) -> None:
    """A NUL character in a path or query parameter is refused by name (PostgreSQL text cannot
    hold one); JSON bodies are checked as they are parsed."""
    if b"%00" in request.scope["query_string"].lower() or "\x00" in request.scope["path"]:
        named = {**request.path_params, **dict(request.query_params.multi_items())}
        field = next((k for k, v in named.items() if "\x00" in k + v), "url")
        raise InvalidArgument("NUL characters are not allowed in text", field=field)


def _refuse_repeated(request: Request) -> None:
    """A query parameter given twice is refused by name: no route takes a list, and a reader
    that takes the first (a proxy, a log) and one that takes the last would see two requests."""
    names = [name for name, _ in request.query_params.multi_items()]
    if len(names) != len(set(names)):
        field = next(name for name in names if names.count(name) > 1)
        raise InvalidArgument(f"{field} must not be given more than once", field=field)


def _credentials(request: Request) -> Credentials:
    if b"access_token" in request.scope["query_string"] and "access_token" in request.query_params:
        # Tokens in URLs leak through logs and Referer headers (RFC 6750 section 5.3).
        raise Unauthenticated(
            "send the access token in the Authorization header, never in the URL",
            field="access_token",
        )
    return Credentials(
        authorization=single_header(request, "authorization"),
        dpop=single_header(request, "DPoP"),
        client_certificate=client_certificate(request.scope),
        method=request.method,
        url=request_url(request),
    )


def single_header(request: Request, name: str) -> str | None:
    """The one value of a credential header field, or None; a field sent twice is refused, since
    the two readers it could have (the gateway, a proxy) might each take another one (RFC 9449
    section 4.3: one DPoP field; RFC 9110 section 11.6.2: Authorization is a singleton)."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise Unauthenticated(
            f"send the {name} header field once, not {len(values)} times", field=name
        )
    return values[0] if values else None


def request_url(request: Request) -> str:
    """The URL a request was sent to as the gateway knows it: the gateway's own public origin and
    the path of the request line. Never rebuilt from what the request says about itself (Host,
    X-Forwarded-*, Forwarded), since a DPoP proof's htu is compared with it; the token service
    knows the gateway's other origins (CXG_ALLOWED_ORIGINS) by this one."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(request.scope["path"])
    tokens: TokenService = request.app.state.services.tokens
    return tokens.origins[0] + path
