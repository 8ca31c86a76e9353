"""REST routes of federation: this gateway's signed federation document, and a peer's checkpoint
as this gateway witnessed it (both public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from gateway.service.federation import FEDERATION_PATH
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest._replies import responses
from gateway.transport.rest.deps import ServicesDep

JOSE_JSON = "application/jose+json"
_NOTE = "text/plain; charset=utf-8"
_B64URL = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}
_DOCUMENT_SCHEMA = {
    "type": "object",
    "description": "A JWS in the general JSON serialization (RFC 7515 section 7.2.1), typ "
    "cxg-federation+jws, one signature per key of the gateway. The payload is canonical JSON: "
    "gateway, country, rest, origin, checkpointKey, keys (public JWKs), scoIssuers (as on the "
    "SCO trust list), issuedAt and nextUpdate (epoch seconds).",
    "required": ["payload", "signatures"],
    "properties": {
        "payload": _B64URL,
        "signatures": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["protected", "signature"],
                "properties": {"protected": _B64URL, "signature": _B64URL},
            },
        },
    },
}
_CHECKPOINT_SCHEMA = {
    "type": "object",
    "required": ["peer", "note"],
    "properties": {
        "peer": {"type": "string"},
        "note": {
            "type": "string",
            "description": "The peer's signed checkpoint (C2SP tlog-checkpoint) with this "
            "gateway's co-signature line, named by this gateway's log origin.",
        },
    },
}
PeerId = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="The peer's partner id.")
]

router = APIRouter(route_class=GuardedRoute)


@router.get(
    FEDERATION_PATH,
    operation_id="GetFederationDocument",
    summary="This gateway's federation document: its keys, log and SCO issuers, signed",
    responses={
        **responses(None),
        200: {"description": "OK", "content": {JOSE_JSON: {"schema": _DOCUMENT_SCHEMA}}},
    },
)
async def get_federation_document(services: ServicesDep) -> Response:
    document = await services.offload.run(services.federation.document)
    return Response(document, media_type=JOSE_JSON, headers={"Cache-Control": "public, max-age=60"})


@router.get(
    "/v1/peers/{peer}/checkpoint",
    operation_id="GetPeerCheckpoint",
    summary="A peer's latest checkpoint this gateway witnessed, with its co-signature",
    responses={
        **responses(None, 400, 404),
        200: {
            "description": "OK",
            "content": {
                "application/json": {"schema": _CHECKPOINT_SCHEMA},
                _NOTE: {"schema": {"type": "string", "description": "The co-signed note alone."}},
            },
        },
    },
)
async def get_peer_checkpoint(request: Request, services: ServicesDep, peer: PeerId) -> Response:
    note = await services.offload.run(services.federation.peer_checkpoint, peer)
    if "text/plain" in request.headers.get("accept", ""):
        return Response(note, media_type=_NOTE)
    return JSONResponse({"peer": peer, "note": note})
