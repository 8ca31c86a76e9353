"""REST routes of cxg.v1.AuditService: checkpoints, entries, proofs (public), co-signatures
(witnesses)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from gateway.errors import InvalidArgument
from gateway.schema.cxg.v1 import audit_service_pb2 as pb
from gateway.transport.rest._guard import GuardedRoute, identified_caller
from gateway.transport.rest._replies import json_body, message_response, read_message, responses
from gateway.transport.rest.deps import CallerDep, ServicesDep

_NOTE = "text/plain; charset=utf-8"
TreeSize = Annotated[int, Query(ge=1, le=2**62, description="A tree size, at most the log's.")]

router = APIRouter(route_class=GuardedRoute, prefix="/v1/audit")


@router.get(
    "/checkpoint",
    operation_id="GetCheckpoint",
    summary="The latest signed checkpoint (C2SP tlog-checkpoint) with witness co-signatures",
    responses={
        **responses(pb.Checkpoint, 400, 404),
        200: {
            "description": "OK",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/cxg.v1.Checkpoint"}},
                _NOTE: {"schema": {"type": "string", "description": "The signed note alone."}},
            },
        },
    },
)
async def get_checkpoint(
    request: Request,
    services: ServicesDep,
    tree_size: Annotated[int, Query(ge=0, le=2**62, description="0: the latest.")] = 0,
) -> Response:
    checkpoint = await services.offload.run(services.audit.checkpoint, tree_size)
    if "text/plain" in request.headers.get("accept", ""):
        return Response(checkpoint.note, media_type=_NOTE)
    return message_response(checkpoint)


@router.get(
    "/entries",
    operation_id="ListEntries",
    summary="Leaves [start, end): hashes for everyone, contents for the caller's own calls",
    responses=responses(pb.ListEntriesResponse, 400),
)
async def list_entries(
    request: Request,
    services: ServicesDep,
    start: Annotated[int, Query(ge=0, le=2**62)],
    end: Annotated[int, Query(ge=1, le=2**62)],
) -> Response:
    caller = identified_caller(request)
    listing = pb.ListEntriesRequest(start=start, end=end)
    return message_response(
        await services.offload.run(
            services.audit.entries, listing, caller.partner if caller else None
        )
    )


@router.get(
    "/proofs/inclusion",
    operation_id="GetInclusionProof",
    summary="RFC 9162 inclusion proof of a leaf",
    responses=responses(pb.InclusionProof, 400),
)
async def get_inclusion_proof(
    services: ServicesDep,
    leaf_index: Annotated[int, Query(ge=0, le=2**62)],
    tree_size: TreeSize,
) -> Response:
    proof = pb.GetInclusionProofRequest(leaf_index=leaf_index, tree_size=tree_size)
    return message_response(await services.offload.run(services.audit.inclusion, proof))


@router.get(
    "/proofs/consistency",
    operation_id="GetConsistencyProof",
    summary="RFC 9162 consistency proof between two tree sizes",
    responses=responses(pb.ConsistencyProof, 400),
)
async def get_consistency_proof(
    services: ServicesDep, first: TreeSize, second: TreeSize
) -> Response:
    proof = pb.GetConsistencyProofRequest(first=first, second=second)
    return message_response(await services.offload.run(services.audit.consistency, proof))


@router.post(
    "/checkpoints/{tree_size}:cosign",
    operation_id="AddCosignature",
    summary="Add a witness's co-signature to a checkpoint the gateway signed",
    responses=responses(pb.Checkpoint, 400, 404),
    openapi_extra=json_body(pb.AddCosignatureRequest),
)
async def add_cosignature(
    tree_size: Annotated[int, Path(ge=1, le=2**62)],
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
) -> Response:
    cosign = await read_message(request, pb.AddCosignatureRequest)
    if cosign.tree_size not in (0, tree_size):
        raise InvalidArgument("tree_size in the body differs from the path", field="tree_size")
    cosign.tree_size = tree_size
    return message_response(
        await services.offload.run(services.audit.add_cosignature, caller.partner, cosign)
    )
