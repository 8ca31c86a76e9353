"""REST routes of cxg.v1.FederationService: this gateway's signed federation document and a
peer's checkpoint as this gateway witnessed it (both public); peers (operators, by policy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from gateway.schema.cxg.v1 import federation_service_pb2 as pb
from gateway.service.federation import FEDERATION_PATH
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest._replies import json_body, message_response, read_message, responses
from gateway.transport.rest._schemas import ref
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
PeerId = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="The peer's partner id here.")
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
        **responses(pb.PeerCheckpoint, 400, 404),
        200: {
            "description": "OK",
            "content": {
                "application/json": {"schema": ref(pb.PeerCheckpoint)},
                _NOTE: {"schema": {"type": "string", "description": "The co-signed note alone."}},
            },
        },
    },
)
async def get_peer_checkpoint(request: Request, services: ServicesDep, peer: PeerId) -> Response:
    ask = pb.GetPeerCheckpointRequest(peer=peer)
    checkpoint = await services.offload.run(services.federation.get_peer_checkpoint, ask)
    if "text/plain" in request.headers.get("accept", ""):
        return Response(checkpoint.note, media_type=_NOTE)
    return message_response(checkpoint)


# -- operators ---------------------------------------------------------------------------------


@router.post(
    "/v1/admin/peers",
    operation_id="RegisterPeer",
    summary="Register a peer gateway (and its partner record), pinning its keys",
    responses=responses(pb.Peer, 400, 409),
    openapi_extra=json_body(pb.RegisterPeerRequest),
)
async def register_peer(request: Request, services: ServicesDep) -> Response:
    register = await read_message(request, pb.RegisterPeerRequest)
    return message_response(await services.offload.run(services.federation.register_peer, register))


@router.get(
    "/v1/admin/peers",
    operation_id="ListPeers",
    summary="Every peer: its last accepted document, last checkpoint witnessed, any problem",
    responses=responses(pb.ListPeersResponse),
)
async def list_peers(services: ServicesDep) -> Response:
    listed = await services.offload.run(services.federation.list_peers, pb.ListPeersRequest())
    return message_response(listed)


@router.post(
    "/v1/admin/peers/{peer}:refresh",
    operation_id="RefreshPeer",
    summary="Fetch the peer's document and checkpoint now, as the schedule does",
    responses=responses(pb.PeerRefresh, 400, 404),
)
async def refresh_peer(services: ServicesDep, peer: PeerId) -> Response:
    ask = pb.RefreshPeerRequest(peer=peer)
    return message_response(await services.offload.run(services.federation.refresh_peer, ask))


@router.get(
    "/v1/admin/peerAlarms",
    operation_id="ListPeerAlarms",
    summary="Alarms raised about peers (split views, rollbacks), newest first, with evidence",
    responses=responses(pb.ListPeerAlarmsResponse, 400),
)
async def list_peer_alarms(
    services: ServicesDep,
    peer: Annotated[str, Query(pattern=r"^([a-z0-9][a-z0-9-]{1,62})?$")] = "",
    page_size: Annotated[int, Query(ge=0, le=100, description="0 means 100.")] = 0,
) -> Response:
    ask = pb.ListPeerAlarmsRequest(peer=peer, page_size=page_size)
    return message_response(await services.offload.run(services.federation.list_alarms, ask))


@router.post(
    "/v1/admin/peerRoutes",
    operation_id="SetPeerRoute",
    summary="Route lookups of an identifier scheme (in a country) to a peer; no peer: remove",
    responses=responses(pb.PeerRoute, 400, 404),
    openapi_extra=json_body(pb.SetPeerRouteRequest),
)
async def set_peer_route(request: Request, services: ServicesDep) -> Response:
    route = await read_message(request, pb.SetPeerRouteRequest)
    return message_response(await services.offload.run(services.federation.set_route, route))


@router.get(
    "/v1/admin/peerRoutes",
    operation_id="ListPeerRoutes",
    summary="The routing table: which peer answers lookups of which identifiers",
    responses=responses(pb.ListPeerRoutesResponse),
)
async def list_peer_routes(services: ServicesDep) -> Response:
    ask = pb.ListPeerRoutesRequest()
    return message_response(await services.offload.run(services.federation.list_routes, ask))
