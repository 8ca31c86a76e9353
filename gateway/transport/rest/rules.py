"""REST routes of cxg.v1.RulesService: AEO recognition and grade equivalence decisions, and the
rule packs by their SHA-256 (public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from gateway.schema.cxg.v1 import rules_service_pb2 as pb
from gateway.service.audit import rule_pack_of, subjects
from gateway.transport.rest._guard import GuardedRoute, mark_decision
from gateway.transport.rest._replies import json_body, message_response, read_message, responses
from gateway.transport.rest.deps import CallerDep, ServicesDep

PackHash = Annotated[
    str, Path(pattern="^[0-9a-f]{64}$", description="The pack file's SHA-256, lower-case hex.")
]

router = APIRouter(route_class=GuardedRoute)


@router.post(
    "/v1/aeo:recognize",
    operation_id="RecognizeAeo",
    summary="Whether the importing country's customs recognizes an AEO authorisation on a date",
    responses=responses(pb.SignedDecision, 400),
    openapi_extra=json_body(pb.RecognizeAeoRequest),
)
async def recognize_aeo(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    question = await read_message(request, pb.RecognizeAeoRequest)
    answer = await services.offload.run(services.rules.recognize_aeo, question, caller.partner)
    mark_decision(request, rule_pack_of(answer), subjects(question, answer))
    return message_response(answer)


@router.post(
    "/v1/grades:equivalent",
    operation_id="EquivalentGrade",
    summary="A grade of any rating scale on the common ordinal scale",
    responses=responses(pb.SignedDecision, 400),
    openapi_extra=json_body(pb.EquivalentGradeRequest),
)
async def equivalent_grade(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    question = await read_message(request, pb.EquivalentGradeRequest)
    answer = await services.offload.run(services.rules.equivalent_grade, question)
    mark_decision(request, answer.decision.rule_pack_sha256, ())
    return message_response(answer)


@router.get(
    "/v1/rulePacks",
    operation_id="ListRulePacks",
    summary="The active rule packs",
    responses=responses(pb.ListRulePacksResponse),
)
async def list_rule_packs(services: ServicesDep) -> Response:
    return message_response(await services.offload.run(services.rules.list_packs))


@router.get(
    "/v1/rulePacks/{sha256:segment}",
    operation_id="GetRulePack",
    summary="One rule pack by its SHA-256: the operator-signed file",
    responses=responses(pb.SignedRulePack, 400, 404),
)
async def get_rule_pack(sha256: PackHash, services: ServicesDep) -> Response:
    get = pb.GetRulePackRequest(name=f"rulePacks/{sha256}")
    return message_response(await services.offload.run(services.rules.get_pack, get))
