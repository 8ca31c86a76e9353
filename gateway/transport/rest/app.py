"""REST transport (FastAPI): the ProfileService operations with proto3 JSON bodies.

Request and response bodies are the cxg.v1 messages in proto3 JSON, parsed and written by
protobuf itself, so REST and gRPC cannot drift apart; the OpenAPI document takes its schemas
from the same descriptors. Every call that may wait for the database runs in a worker thread
with a deadline (``services.offload``), never on the event loop, which keeps serving what needs
no database while the database stalls.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, cast

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__, mapping
from gateway.errors import (
    DatabaseUnavailable,
    GatewayError,
    InvalidArgument,
    PayloadTooLarge,
    Unavailable,
)
from gateway.identifiers import SCHEMES
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service.audit import subjects
from gateway.service.relays import ON_BEHALF_OF_HEADER
from gateway.transport._imports import Upload, summary_message
from gateway.transport.errors import PROBLEM_JSON, mapping_for, problem, unexpected
from gateway.transport.rest import (
    admin,
    audit,
    consents,
    corrections,
    docs,
    events,
    federation,
    metadata,
    oauth,
    reports,
    rules,
    sco,
)
from gateway.transport.rest._guard import (
    GuardedRoute,
    caller_of,
    mark_decision,
    mark_served,
    mark_streamed,
    offer_nonce,
    operation_of,
    received_line,
    record_exchange,
    refusal_context,
    source_of,
)
from gateway.transport.rest._replies import (
    JOSE,
    PROBLEM_SCHEMA,
    challenge,
    document_refusals,
    json_body,
    message_response,
    read_message,
    responses,
)
from gateway.transport.rest._schemas import TEXT, component_schemas, referenced
from gateway.transport.rest.deps import CallerDep, ServicesDep
from gateway.transport.services import Services
from gateway.trust.pki import PARTNER_ID_PATTERN
from gateway.trust.policy import PURPOSES, rule_for


def create_app(
    services: Services, *, max_request_bytes: int, max_import_bytes: int = 256 * 1024 * 1024
) -> FastAPI:
    app = FastAPI(
        title="Credit Exchange Gateway",
        version=__version__,
        description="Signed, standardized company credit profiles between China and SCO partner institutions. "
        "Every operation is also served over gRPC (cxg.v1.ProfileService) with the same field names.",
        docs_url=None,  # served from the gateway's own files instead: docs.router
        redoc_url=None,
    )
    if not services.tokens.origins:  # a DPoP proof's htu is compared with these, never the Host
        raise ValueError("the REST app needs the origins it is reached at (TokenService origins)")
    app.state.services = services
    app.state.max_import_bytes = max_import_bytes
    app.add_middleware(
        _BodyLimit, max_bytes=max_request_bytes, larger={IMPORT_PATH: max_import_bytes}
    )
    _install_error_handlers(app)
    app.include_router(_routes())
    app.include_router(consents.router)
    app.include_router(events.router)
    app.include_router(corrections.router)
    app.include_router(rules.router)
    app.include_router(sco.router)
    app.include_router(reports.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(oauth.router)
    app.include_router(metadata.router)
    app.include_router(federation.router)
    app.include_router(docs.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


IMPORT_PATH = "/v1/profiles:import"
_MAX_VERSION = 2**31 - 1
_PROFILE_ID = re.compile("[0-9a-f]{32}")
_PROFILE_ID_PARAM = {
    "name": "profile_id",
    "in": "path",
    "required": True,
    "description": "Profile id: the last segment of profiles/{profile_id}.",
    "schema": {"type": "string", "pattern": f"^{_PROFILE_ID.pattern}$"},
}
_PEER_PARAM = {
    "name": "peer",
    "in": "path",
    "required": True,
    "description": "The peer gateway's partner id here.",
    "schema": {"type": "string", "pattern": f"^{PARTNER_ID_PATTERN.pattern}$"},
}
_SCHEME_PARAM = {
    "name": "scheme",
    "in": "query",
    "required": True,
    "description": "Identifier scheme (case-insensitive), e.g. CN_USCC.",
    "schema": {"type": "string", "enum": sorted(SCHEMES)},
}
_VALUE_PARAM = {
    "name": "value",
    "in": "query",
    "required": True,
    "description": "Identifier value; spaces, hyphens and case are normalized.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
}
_PURPOSE_PARAM = {
    "name": "purpose",
    "in": "query",
    "required": True,
    "description": "Why the caller asks; it decides the fields returned. "
    + "; ".join(f"{p.name}: {p.description}" for p in PURPOSES.values()),
    "schema": {"type": "string", "enum": sorted(PURPOSES)},
}
_CONSENT_PARAM = {
    "name": "consent",
    "in": "query",
    "required": False,
    "description": "consents/{consent_id}, when the purpose needs the subject's consent.",
    "schema": {"type": "string", "maxLength": 64},
}


def _format_param() -> dict[str, Any]:
    return {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "Answer in a partner's format (an installed adapter): the JWS payload is "
        "then the record in that format. Omitted: the canonical proto3 JSON.",
        "schema": {"type": "string", "enum": ["", *mapping.adapters()]},
    }


_VERSION_PARAM = {
    "name": "version",
    "in": "query",
    "required": False,
    "description": "Version; 0 means the latest.",
    "schema": {"type": "integer", "minimum": 0, "maximum": _MAX_VERSION, "default": 0},
}

ProfileIdPath = Annotated[
    str,
    Path(
        pattern="^[0-9a-f]{32}$",
        description="Profile id: the last segment of profiles/{profile_id}.",
    ),
]
PageSize = Annotated[int, Query(ge=0, le=100, description="At most this many items; 0 means 20.")]
PageToken = Annotated[
    str, Query(max_length=200, description="next_page_token of the previous page.")
]


_RELAY_NOTE = (
    "A gateway relaying for one of its partners (role `gateway`) sends the signed on-behalf-of "
    "claim (`GetProfileRequest.on_behalf_of`) in the `Cxg-On-Behalf-Of` header; no one else "
    "sends it. An identifier the routing table sends to a peer gateway is answered by the "
    "peer: its own signed JWS, relayed unchanged."
)


def _routes() -> APIRouter:
    router = APIRouter(route_class=GuardedRoute)

    # The two GetProfile routes are the hot path: they read their few parameters by hand, since
    # FastAPI's parameter machinery costs more per request than the lookup itself (bench/README.md).
    @router.get(
        "/v1/profiles:lookup",
        operation_id="LookupProfile",
        summary="Get a profile by any identifier of its subject",
        description=_RELAY_NOTE,
        responses=responses(pb.SignedProfile, 400, 404, signed=True),
        openapi_extra={
            "parameters": [
                _SCHEME_PARAM,
                _VALUE_PARAM,
                _VERSION_PARAM,
                _PURPOSE_PARAM,
                _CONSENT_PARAM,
                _format_param(),
            ]
        },
    )
    async def lookup_profile(request: Request) -> Response:
        query = request.query_params
        target = pb.GetProfileRequest(
            id={"scheme": _text(query, "scheme", 16), "value": _text(query, "value", 64)},
            version=_version(query),
            purpose=query.get("purpose", "")[:64],
            consent=query.get("consent", "")[:64],
            format=query.get("format", "")[:64],
            on_behalf_of=_on_behalf_of(request),
        )
        return await _get_profile(request, target)

    @router.get(
        "/v1/profiles:search",
        operation_id="SearchProfiles",
        summary="Find profiles by legal-name prefix and/or country",
        description=(
            "A gateway relaying for one of its partners (role `gateway`) sends the signed "
            "on-behalf-of claim (`SearchProfilesRequest.on_behalf_of`) in the "
            "`Cxg-On-Behalf-Of` header. A country a peer gateway serves is searched at the peer."
        ),
        responses=responses(pb.SearchProfilesResponse, 400),
    )
    async def search_profiles(
        request: Request,
        services: ServicesDep,
        caller: CallerDep,
        name_prefix: Annotated[
            str, Query(max_length=200, description="Prefix of the legal name.")
        ] = "",
        country: Annotated[
            str, Query(pattern="^([A-Za-z]{2})?$", description="ISO 3166-1 alpha-2 country.")
        ] = "",
        page_size: PageSize = 0,
        page_token: PageToken = "",
    ) -> Response:
        question = pb.SearchProfilesRequest(
            name_prefix=name_prefix,
            country=country,
            page_size=page_size,
            page_token=page_token,
            on_behalf_of=_on_behalf_of(request),
        )
        found = await services.offload.run(
            services.exchange.search_profiles, question, caller.partner
        )
        mark_served(request, subjects(found))  # a relay's, when the search crossed a border
        return message_response(found)

    @router.post(
        "/v1/profiles:publish",
        operation_id="PublishProfile",
        summary="Publish a new profile version signed by a registered partner",
        responses=responses(pb.PublishReceipt, 400, 401, 403, 409, 413),
        openapi_extra=json_body(pb.PublishProfileRequest),
    )
    async def publish_profile(
        request: Request, services: ServicesDep, caller: CallerDep
    ) -> Response:
        publish = await read_message(request, pb.PublishProfileRequest)
        receipt = await services.offload.run(
            services.exchange.publish_profile, publish, caller.partner
        )
        mark_decision(request, receipt.rule_pack_sha256, ())  # the common grade's pack
        return message_response(receipt)

    @router.post(
        IMPORT_PATH,
        operation_id="ImportProfiles",
        summary="Publish every record of a bulk file in a partner's format",
        description="The body is the file as the partner's format has it (NDJSON for JSON formats, "
        "an XML document holding the records, or CSV with a header). Each record is validated as a "
        "single publish; the answer lists what was imported and the records refused.",
        responses=responses(pb.ImportSummary, 400, 401, 403, 413),
        openapi_extra={
            "parameters": [
                {
                    **_format_param(),
                    "required": True,
                    "description": "The file's format.",
                    "schema": {"type": "string", "enum": sorted(mapping.adapters())},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in ("application/x-ndjson", "application/xml", "text/csv")
                },
            },
        },
    )
    async def import_profiles(
        request: Request, services: ServicesDep, caller: CallerDep
    ) -> Response:
        format_name = _text(request.query_params, "format", 64)
        upload = Upload(
            max_bytes=request.app.state.max_import_bytes,
            field="body",
            prefix=received_line(request),
        )
        try:
            async for chunk in request.stream():
                upload.write(chunk)
            mark_streamed(request, upload.sha256)
            # As long as the file needs: each of its database statements has its own timeouts.
            summary = await services.offload.run_unbounded(
                services.exchange.import_file, format_name, upload.rewind().file, caller.partner
            )
        finally:
            upload.close()
        return message_response(summary_message(summary))

    @router.get(
        "/v1/profiles/{profile_id:segment}",
        operation_id="GetProfile",
        summary="Get a profile (latest or a given version), signed by the gateway",
        description=_RELAY_NOTE,
        responses=responses(pb.SignedProfile, 400, 404, signed=True),
        openapi_extra={
            "parameters": [
                _PROFILE_ID_PARAM,
                _VERSION_PARAM,
                _PURPOSE_PARAM,
                _CONSENT_PARAM,
                _format_param(),
            ]
        },
    )
    async def get_profile(request: Request) -> Response:
        profile_id = request.path_params["profile_id"]
        if not _PROFILE_ID.fullmatch(profile_id):
            raise InvalidArgument("profile_id must be 32 lower-case hex digits", field="profile_id")
        query = request.query_params
        target = pb.GetProfileRequest(
            name=f"profiles/{profile_id}",
            version=_version(query),
            purpose=query.get("purpose", "")[:64],
            consent=query.get("consent", "")[:64],
            format=query.get("format", "")[:64],
            on_behalf_of=_on_behalf_of(request),
        )
        return await _get_profile(request, target)

    @router.get(
        "/v1/peers/{peer:segment}/profiles/{peer_profile_id:segment}",
        operation_id="GetPeerProfile",
        summary="Get a profile a peer gateway holds, as its search named it (relayed)",
        description=(
            "Asked of the peer with the caller's purpose and consent and a signed on-behalf-of "
            "claim; the answer is the peer's own signed JWS, unchanged."
        ),
        responses=responses(pb.SignedProfile, 400, 404, 503, signed=True),
        openapi_extra={
            "parameters": [
                _PEER_PARAM,
                _PROFILE_ID_PARAM | {"name": "peer_profile_id"},
                _VERSION_PARAM,
                _PURPOSE_PARAM,
                _CONSENT_PARAM,
            ]
        },
    )
    async def get_peer_profile(request: Request) -> Response:
        # Not "profile_id": the leaf names the peer's version served, not a profile here.
        peer, profile_id = request.path_params["peer"], request.path_params["peer_profile_id"]
        if not PARTNER_ID_PATTERN.fullmatch(peer):
            raise InvalidArgument("peer is a partner id of a peer gateway", field="peer")
        if not _PROFILE_ID.fullmatch(profile_id):
            raise InvalidArgument("must be 32 lower-case hex digits", field="peer_profile_id")
        query = request.query_params
        target = pb.GetProfileRequest(
            name=f"peers/{peer}/profiles/{profile_id}",
            version=_version(query),
            purpose=query.get("purpose", "")[:64],
            consent=query.get("consent", "")[:64],
        )
        return await _get_profile(request, target)

    @router.get(
        "/v1/profiles/{profile_id:segment}/versions",
        operation_id="ListProfileVersions",
        summary="List the versions of a profile, newest first",
        responses=responses(pb.ListProfileVersionsResponse, 400, 404),
    )
    async def list_versions(
        services: ServicesDep,
        profile_id: ProfileIdPath,
        page_size: PageSize = 0,
        page_token: PageToken = "",
    ) -> Response:
        request = pb.ListProfileVersionsRequest(
            name=f"profiles/{profile_id}", page_size=page_size, page_token=page_token
        )
        return message_response(
            await services.offload.run(services.exchange.list_versions, request)
        )

    @router.get(
        "/.well-known/jwks.json",
        operation_id="GetJwks",
        summary="The gateway's public signing keys (RFC 7517 JWK Set)",
        responses={200: {"content": {"application/json": {"schema": _JWKS_SCHEMA}}}},
    )
    async def jwks(services: ServicesDep) -> Response:
        return JSONResponse(
            services.exchange.jwks(), headers={"Cache-Control": "public, max-age=300"}
        )

    @router.get(
        "/healthz",
        operation_id="Health",
        summary="Ready when the database answers and a signing key is loaded",
        responses={
            200: {"content": {"application/json": {"schema": _HEALTH_SCHEMA}}},
            **responses(None, 503),
        },
    )
    async def healthz(services: ServicesDep) -> Response:
        if not services.db.health.available:  # known down: answered without waiting
            raise services.db.health.outage("it has not answered since it went down")
        await services.offload.run(services.db.ping)
        return JSONResponse({"status": "ok", "signingKey": services.exchange.keyring.active.kid})

    @router.get(
        "/livez",
        operation_id="Liveness",
        summary="Alive: the process answers (never touches the database)",
        responses={200: {"content": {"application/json": {"schema": _LIVE_SCHEMA}}}},
    )
    async def livez() -> Response:
        return JSONResponse({"status": "alive"})

    @router.get(
        "/readyz",
        operation_id="Readiness",
        summary="Ready for traffic: database, schema, keys, rule packs, audit writer, not stopping",
        responses={
            200: {"content": {"application/json": {"schema": _READY_SCHEMA}}},
            503: {
                "description": "Not ready: `checks` names each failing check and why",
                "content": {PROBLEM_JSON: {"schema": _NOT_READY_SCHEMA}},
            },
        },
    )
    async def readyz(services: ServicesDep) -> Response:
        # State kept by the watchers, read without waiting for the database.
        failing = services.readiness.update()
        if failing:
            raise Unavailable(
                "not ready: " + ", ".join(sorted(failing)), checks=dict(sorted(failing.items()))
            )
        return JSONResponse({"status": "ready"})

    return router


async def _get_profile(request: Request, target: pb.GetProfileRequest) -> Response:
    services: Services = request.app.state.services
    signed = await services.offload.run(
        services.exchange.get_profile, target, caller_of(request).partner
    )
    mark_served(request, signed.audit_subjects)
    # A JOSE client may ask for the bare JWS; everyone else gets cxg.v1.SignedProfile as JSON.
    if JOSE in request.headers.get("accept", ""):
        return Response(signed.jws, media_type=JOSE)
    return Response(signed.as_json, media_type="application/json")


def _on_behalf_of(request: Request) -> str:
    value = request.headers.get(ON_BEHALF_OF_HEADER, "")
    if len(value) > 4096:
        raise InvalidArgument("at most 4096 characters", field=ON_BEHALF_OF_HEADER)
    return value


def _text(query: QueryParams, name: str, max_length: int) -> str:
    value = query.get(name, "")
    if not value or len(value) > max_length:
        raise InvalidArgument(f"{name} is required, at most {max_length} characters", field=name)
    return value


def _version(query: QueryParams) -> int:
    text = query.get("version", "0")
    if not text.isdigit() or int(text) > _MAX_VERSION:
        raise InvalidArgument(
            f"version must be an integer from 0 to {_MAX_VERSION}", field="version"
        )
    return int(text)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return await _refusal(request, exc)

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> Response:
        return _problem_response(*problem(unexpected(exc)))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0])
        return await _refusal(request, InvalidArgument(first["msg"], field=field))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        body = {
            "type": f"urn:cxg:problem:http-{exc.status_code}",
            "title": str(exc.detail),
            "status": exc.status_code,
        }
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette names only the first route whose path matched; RFC 9110 wants them all.
            headers = {"Allow": ", ".join(_allowed_methods(request))}
        return _problem_response(exc.status_code, body, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    routes = request.app.router.routes
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


async def _refusal(request: Request, exc: GatewayError) -> Response:
    """The problem response for a refused request; when it reached a route, the refusal is
    recorded and is a leaf of the audit log (or, for a caller without a valid token over the
    flood limits, counted into a summary leaf)."""
    status, body = problem(exc)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    response = _problem_response(status, body, headers=headers)
    if status == 401:
        response.headers["WWW-Authenticate"] = challenge(request, exc)
    if refused := refusal_context(request):
        operation, caller = refused
        if operation == "CreateToken":  # refused before its handler ran: still an OAuth error
            response = oauth.oauth_error(exc, request) or response
        services: Services = request.app.state.services
        slug = mapping_for(exc).slug
        logged = services.gate.refused(
            operation, "rest", caller, exc, slug, source=source_of(request)
        )
        # Without a database there is no leaf to write: the refusal row waits for it instead.
        if logged and not isinstance(exc, DatabaseUnavailable):
            try:
                await record_exchange(request, response, slug)
            except DatabaseUnavailable as unavailable:  # an answer is never sent without its leaf
                return await _refusal(request, unavailable)
    offer_nonce(request, response)
    return response


def _problem_response(status: int, body: dict[str, Any], headers: Any = None) -> Response:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class _BodyLimit:
    """Refuse request bodies over the limit before they reach a handler (413 problem); the
    paths in ``larger`` (bulk files, spooled to disk) have limits of their own."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int]) -> None:
        self.app = app
        self.default_max = max_bytes
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):  # no route reads a GET body; don't tax the hot path
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.default_max)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _problem_response(*problem(_too_large(limit)))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)  # handled by the GatewayError handler inside the app
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {limit} bytes", field="body")


_JWKS_SCHEMA = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid", "alg"]}}
    },
}
_LIVE_SCHEMA = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["alive"]}},
}
_READY_SCHEMA = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ready"]}},
}
_NOT_READY_SCHEMA = {
    **PROBLEM_SCHEMA,
    "required": [*cast(list[str], PROBLEM_SCHEMA["required"]), "checks"],
    "properties": {
        **cast(dict[str, Any], PROBLEM_SCHEMA["properties"]),
        "checks": {
            "type": "object",
            "description": "Each failing check (database, migrations, signingKeys, rulePacks,"
            " auditWriter, shutdown) and why it fails",
            "additionalProperties": {"type": "string"},
        },
    },
}
_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "signingKey"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}, "signingKey": {"type": "string"}},
}

_SECURITY_SCHEMES = {
    "DPoP": {
        "type": "http",
        "scheme": "DPoP",
        "description": "Access token from POST /oauth2/token bound to a DPoP key (RFC 9449); "
        "send `Authorization: DPoP <token>` and a fresh `DPoP` proof with every request.",
    },
    "mtlsBoundBearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Access token bound to the partner's registered client certificate "
        "(RFC 8705); send it over the same mutual-TLS connection certificate.",
    },
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        # FastAPI's own validation-error schemas describe 422s this app never sends.
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for path in document["paths"].values():
            for method, operation in path.items():
                operation["responses"].pop("422", None)
                rule = rule_for(operation_of(operation["operationId"]))
                document_refusals(operation, method, rule)
                for parameter in operation.get("parameters", []):
                    _text_parameter(parameter["schema"])
                if not rule.public:
                    operation["security"] = [{"DPoP": []}, {"mtlsBoundBearer": []}]
        # Every message an operation names, and those they contain: none is left dangling.
        schemas.update(component_schemas(referenced(document["paths"]) - set(schemas)))
        document["components"]["securitySchemes"] = _SECURITY_SCHEMES
        app.openapi_schema = document
    return app.openapi_schema


def _text_parameter(schema: dict[str, Any]) -> None:
    """A text parameter without a pattern or enumeration of its own still refuses NUL."""
    if schema.get("type") == "string" and not {"pattern", "enum", "format"} & schema.keys():
        schema["pattern"] = TEXT
