"""REST routes of cxg.v1.CorrectionService: disputes and credit repairs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from gateway.schema.cxg.v1 import correction_service_pb2 as pb
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest._replies import json_body, message_response, read_message, responses
from gateway.transport.rest.deps import CallerDep, ServicesDep

DisputeId = Annotated[
    str,
    Path(pattern="^[0-9a-f]{32}$", description="The last segment of disputes/{dispute_id}."),
]
ProfileId = Annotated[
    str,
    Path(pattern="^[0-9a-f]{32}$", description="The last segment of profiles/{profile_id}."),
]

router = APIRouter(route_class=GuardedRoute)


@router.post(
    "/v1/disputes",
    operation_id="FileDispute",
    summary="Dispute fields of a profile version (the subject's portal, or a recipient)",
    responses=responses(pb.Dispute, 400, 404, 409),
    openapi_extra=json_body(pb.FileDisputeRequest),
)
async def file_dispute(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    filed = await read_message(request, pb.FileDisputeRequest)
    return message_response(
        await services.offload.run(services.corrections.file, caller.partner, filed)
    )


@router.post(
    "/v1/disputes/{dispute_id:segment}:answer",
    operation_id="AnswerDispute",
    summary="The publisher's answer: CORRECTED, UPHELD or REJECTED",
    responses=responses(pb.Dispute, 400, 404, 409),
    openapi_extra=json_body(pb.AnswerDisputeRequest),
)
async def answer_dispute(
    dispute_id: DisputeId, request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    answer = await read_message(request, pb.AnswerDisputeRequest)
    answer.name = f"disputes/{dispute_id}"
    return message_response(
        await services.offload.run(services.corrections.answer, caller.partner, answer)
    )


@router.get(
    "/v1/disputes/{dispute_id:segment}",
    operation_id="GetDispute",
    summary="One dispute (its filer, the publisher, operators)",
    responses=responses(pb.Dispute, 400, 404),
)
async def get_dispute(dispute_id: DisputeId, services: ServicesDep, caller: CallerDep) -> Response:
    get = pb.GetDisputeRequest(name=f"disputes/{dispute_id}")
    return message_response(
        await services.offload.run(services.corrections.get, caller.partner, get)
    )


@router.get(
    "/v1/disputes",
    operation_id="ListDisputes",
    summary="Disputes the caller filed or must answer (operators: all), newest first",
    responses=responses(pb.ListDisputesResponse, 400),
)
async def list_disputes(
    services: ServicesDep,
    caller: CallerDep,
    profile: Annotated[
        str, Query(max_length=41, description="Only this profile: profiles/{profile_id}.")
    ] = "",
    overdue_only: Annotated[bool, Query(description="Only open disputes past due.")] = False,
    open_only: Annotated[bool, Query(description="Only open disputes.")] = False,
    page_size: Annotated[int, Query(ge=0, le=100, description="0 means 20.")] = 0,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    listing = pb.ListDisputesRequest(
        profile=profile,
        overdue_only=overdue_only,
        open_only=open_only,
        page_size=page_size,
        page_token=page_token,
    )
    return message_response(
        await services.offload.run(services.corrections.list, caller.partner, listing)
    )


@router.post(
    "/v1/profiles/{profile_id:segment}:repair",
    operation_id="RecordRepair",
    summary="The publisher records the credit repair of a negative record",
    responses=responses(pb.RepairReceipt, 400, 404, 409),
    openapi_extra=json_body(pb.RecordRepairRequest),
)
async def record_repair(
    profile_id: ProfileId, request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    repair = await read_message(request, pb.RecordRepairRequest)
    repair.profile = f"profiles/{profile_id}"
    return message_response(
        await services.offload.run(services.corrections.record_repair, caller.partner, repair)
    )
