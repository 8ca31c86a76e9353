"""REST transport (FastAPI): the ProfileService operations with proto3 JSON bodies.

Request and response bodies are the cxg.v1 messages in proto3 JSON, parsed and written by
protobuf itself, so REST and gRPC cannot drift apart; the OpenAPI document takes its schemas
from the same descriptors. Reads call the service directly on the event loop (a lookup is tens
of microseconds; a thread hop would cost more); publishes, which verify a signature and wait for
a durable commit, run in the thread pool.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from google.protobuf.message import Message
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import __version__
from gateway.errors import GatewayError, InvalidArgument, PayloadTooLarge
from gateway.identifiers import SCHEMES
from gateway.profiles import canonical_json, parse_json_message
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service import ProfileExchange
from gateway.service.tokens import TokenService
from gateway.storage import Database
from gateway.transport.errors import PROBLEM_JSON, problem, unexpected
from gateway.transport.rest import oauth
from gateway.transport.rest._schemas import component_schemas, ref
from gateway.transport.rest.deps import Db, Exchange

JOSE = "application/jose"


def create_app(
    exchange: ProfileExchange, tokens: TokenService, db: Database, *, max_request_bytes: int
) -> FastAPI:
    app = FastAPI(
        title="Credit Exchange Gateway",
        version=__version__,
        description="Signed, standardized company credit profiles between China and SCO partner institutions. "
        "Every operation is also served over gRPC (cxg.v1.ProfileService) with the same field names.",
    )
    app.state.exchange = exchange
    app.state.tokens = tokens
    app.state.db = db
    app.add_middleware(_BodyLimit, max_bytes=max_request_bytes)
    _install_error_handlers(app)
    app.include_router(_routes())
    app.include_router(oauth.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


_MAX_VERSION = 2**31 - 1
_PROFILE_ID = re.compile("[0-9a-f]{32}")
_PROFILE_ID_PARAM = {
    "name": "profile_id",
    "in": "path",
    "required": True,
    "description": "Profile id: the last segment of profiles/{profile_id}.",
    "schema": {"type": "string", "pattern": f"^{_PROFILE_ID.pattern}$"},
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


def _routes() -> APIRouter:
    router = APIRouter()

    # The two GetProfile routes are the hot path: they read their few parameters by hand, since
    # FastAPI's parameter machinery costs more per request than the lookup itself (bench/README.md).
    @router.get(
        "/v1/profiles:lookup",
        operation_id="LookupProfile",
        summary="Get a profile by any identifier of its subject",
        responses=_responses(pb.SignedProfile, 400, 404, signed=True),
        openapi_extra={"parameters": [_SCHEME_PARAM, _VALUE_PARAM, _VERSION_PARAM]},
    )
    async def lookup_profile(request: Request) -> Response:
        query = request.query_params
        target = pb.GetProfileRequest(
            id={"scheme": _text(query, "scheme", 16), "value": _text(query, "value", 64)},
            version=_version(query),
        )
        return _signed_response(request, request.app.state.exchange.get_profile(target))

    @router.get(
        "/v1/profiles:search",
        operation_id="SearchProfiles",
        summary="Find profiles by legal-name prefix and/or country",
        responses=_responses(pb.SearchProfilesResponse, 400),
    )
    async def search_profiles(
        exchange: Exchange,
        name_prefix: Annotated[
            str, Query(max_length=200, description="Prefix of the legal name.")
        ] = "",
        country: Annotated[
            str, Query(pattern="^([A-Za-z]{2})?$", description="ISO 3166-1 alpha-2 country.")
        ] = "",
        page_size: PageSize = 0,
        page_token: PageToken = "",
    ) -> Response:
        request = pb.SearchProfilesRequest(
            name_prefix=name_prefix, country=country, page_size=page_size, page_token=page_token
        )
        return _message_response(exchange.search_profiles(request))

    @router.post(
        "/v1/profiles:publish",
        operation_id="PublishProfile",
        summary="Publish a new profile version signed by a registered partner",
        responses=_responses(pb.PublishReceipt, 400, 401, 403, 409, 413),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(pb.PublishProfileRequest)}},
            }
        },
    )
    async def publish_profile(request: Request, exchange: Exchange) -> Response:
        body = await request.body()
        publish = pb.PublishProfileRequest()
        parse_json_message(body, publish, field="body")
        return _message_response(await run_in_threadpool(exchange.publish_profile, publish))

    @router.get(
        "/v1/profiles/{profile_id}",
        operation_id="GetProfile",
        summary="Get a profile (latest or a given version), signed by the gateway",
        responses=_responses(pb.SignedProfile, 400, 404, signed=True),
        openapi_extra={"parameters": [_PROFILE_ID_PARAM, _VERSION_PARAM]},
    )
    async def get_profile(request: Request) -> Response:
        profile_id = request.path_params["profile_id"]
        if not _PROFILE_ID.fullmatch(profile_id):
            raise InvalidArgument("profile_id must be 32 lower-case hex digits", field="profile_id")
        target = pb.GetProfileRequest(
            name=f"profiles/{profile_id}", version=_version(request.query_params)
        )
        return _signed_response(request, request.app.state.exchange.get_profile(target))

    @router.get(
        "/v1/profiles/{profile_id}/versions",
        operation_id="ListProfileVersions",
        summary="List the versions of a profile, newest first",
        responses=_responses(pb.ListProfileVersionsResponse, 400, 404),
    )
    async def list_versions(
        exchange: Exchange,
        profile_id: ProfileIdPath,
        page_size: PageSize = 0,
        page_token: PageToken = "",
    ) -> Response:
        request = pb.ListProfileVersionsRequest(
            name=f"profiles/{profile_id}", page_size=page_size, page_token=page_token
        )
        return _message_response(exchange.list_versions(request))

    @router.get(
        "/.well-known/jwks.json",
        operation_id="GetJwks",
        summary="The gateway's public signing keys (RFC 7517 JWK Set)",
        responses={200: {"content": {"application/json": {"schema": _JWKS_SCHEMA}}}},
    )
    async def jwks(exchange: Exchange) -> Response:
        return JSONResponse(exchange.jwks(), headers={"Cache-Control": "public, max-age=300"})

    @router.get(
        "/healthz",
        operation_id="Health",
        summary="Ready when the database answers and a signing key is loaded",
        responses={
            200: {"content": {"application/json": {"schema": _HEALTH_SCHEMA}}},
            **_responses(None, 503),
        },
    )
    async def healthz(exchange: Exchange, db: Db) -> Response:
        await run_in_threadpool(db.ping)
        return JSONResponse({"status": "ok", "signingKey": exchange.keyring.active.kid})

    return router


def _signed_response(request: Request, signed: Any) -> Response:
    # A JOSE client may ask for the bare JWS; everyone else gets cxg.v1.SignedProfile as JSON.
    if JOSE in request.headers.get("accept", ""):
        return Response(signed.jws, media_type=JOSE)
    return Response(signed.as_json, media_type="application/json")


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


def _message_response(message: Message) -> Response:
    return Response(canonical_json(message), media_type="application/json")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> Response:
        return _problem_response(*problem(exc))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> Response:
        return _problem_response(*problem(unexpected(exc)))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0])
        return _problem_response(*problem(InvalidArgument(first["msg"], field=field)))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        body = {
            "type": f"urn:cxg:problem:http-{exc.status_code}",
            "title": str(exc.detail),
            "status": exc.status_code,
        }
        return _problem_response(exc.status_code, body, headers=exc.headers)


def _problem_response(status: int, body: dict[str, Any], headers: Any = None) -> Response:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class _BodyLimit:
    """Refuse request bodies over the limit before they reach a handler (413 problem)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD"):  # no route reads a GET body; don't tax the hot path
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _problem_response(*problem(self._too_large()))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise self._too_large()  # handled by the GatewayError handler inside the app
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body is larger than {self.max_bytes} bytes", field="body")


_PROBLEM_SCHEMA = {
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
_JWKS_SCHEMA = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid", "alg"]}}
    },
}
_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "signingKey"],
    "properties": {"status": {"type": "string", "enum": ["ok"]}, "signingKey": {"type": "string"}},
}
_STATUS_TEXT = {
    400: "Invalid argument or identifier",
    401: "Signature or key not accepted",
    403: "Partner not allowed",
    404: "Not found",
    409: "Conflicts with stored state (e.g. replayed publication)",
    413: "Request body too large",
    503: "Database or keys unavailable",
}


def _responses(message: Any, *errors: int, signed: bool = False) -> dict[int | str, Any]:
    responses: dict[int | str, Any] = {}
    if message is not None:
        content: dict[str, Any] = {"application/json": {"schema": ref(message)}}
        if signed:
            content[JOSE] = {
                "schema": {"type": "string", "description": "The JWS compact serialization alone."}
            }
        responses[200] = {"description": "OK", "content": content}
    for status in errors:
        responses[status] = {
            "description": _STATUS_TEXT[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        }
    return responses


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(
            component_schemas(
                pb.SignedProfile,
                pb.PublishProfileRequest,
                pb.PublishReceipt,
                pb.ListProfileVersionsResponse,
                pb.SearchProfilesResponse,
            )
        )
        # What a JSON Schema can say beyond the proto field types.
        jws = {"minLength": 5, "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$"}
        request_schema = schemas["cxg.v1.PublishProfileRequest"]
        request_schema["required"] = ["jws"]
        request_schema["properties"]["jws"].update(jws)
        # FastAPI's own validation-error schemas describe 422s this app never sends.
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for path in document["paths"].values():
            for operation in path.values():
                operation["responses"].pop("422", None)
        app.openapi_schema = document
    return app.openapi_schema
