"""REST routes of cxg.v1.ConsentService."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from google.protobuf.timestamp_pb2 import Timestamp

from gateway._json import JsonError, read_json
from gateway.errors import InvalidArgument
from gateway.schema.cxg.v1 import consent_service_pb2 as pb
from gateway.service.consents import TIMESTAMP_FORM
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest._replies import json_body, message_response, read_message, responses
from gateway.transport.rest.deps import CallerDep, ServicesDep

ConsentId = Annotated[
    str, Path(pattern="^[0-9a-f]{32}$", description="The last segment of consents/{consent_id}.")
]

router = APIRouter(route_class=GuardedRoute)


@router.post(
    "/v1/consents",
    operation_id="GrantConsent",
    summary="Record a company's consent (SME portals, acting for the company)",
    responses=responses(pb.Consent, 400, 404),
    openapi_extra=json_body(pb.GrantConsentRequest),
)
async def grant_consent(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    try:
        grant = await read_message(request, pb.GrantConsentRequest)
    except InvalidArgument as exc:
        named = _bad_expire_time(await request.body())
        if named is None:
            raise
        raise named from exc
    return message_response(
        await services.offload.run(services.consents.grant, caller.partner, grant)
    )


@router.post(
    "/v1/consents/{consent_id:segment}:revoke",
    operation_id="RevokeConsent",
    summary="Revoke a consent at once (the portal that granted it)",
    responses=responses(pb.Consent, 400, 404),
)
async def revoke_consent(
    consent_id: ConsentId, services: ServicesDep, caller: CallerDep
) -> Response:
    revoke = pb.RevokeConsentRequest(name=consent_id)  # the service reads the bare id too
    return message_response(
        await services.offload.run(services.consents.revoke, caller.partner, revoke)
    )


@router.get(
    "/v1/consents/{consent_id:segment}",
    operation_id="GetConsent",
    summary="One consent (its portal and its grantee only)",
    responses=responses(pb.Consent, 400, 404),
)
async def get_consent(consent_id: ConsentId, services: ServicesDep, caller: CallerDep) -> Response:
    get = pb.GetConsentRequest(name=consent_id)
    return message_response(await services.offload.run(services.consents.get, caller.partner, get))


@router.get(
    "/v1/consents",
    operation_id="ListConsents",
    summary="Consents the caller granted or received, newest first",
    responses=responses(pb.ListConsentsResponse, 400),
)
async def list_consents(
    services: ServicesDep,
    caller: CallerDep,
    page_size: Annotated[int, Query(ge=0, le=100, description="0 means 20.")] = 0,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    listing = pb.ListConsentsRequest(page_size=page_size, page_token=page_token)
    return message_response(
        await services.offload.run(services.consents.list, caller.partner, listing)
    )


def _bad_expire_time(body: bytes) -> InvalidArgument | None:
    """The refusal naming ``/expireTime`` when that member is what protobuf could not parse (a
    date, a number, a time without a zone): its own message names neither the member nor the
    form expected. Only read on the error path, so a good body is parsed once."""
    try:
        document = read_json(body)
    except JsonError:
        return None
    if not isinstance(document, dict):
        return None
    for member in ("expireTime", "expire_time"):  # proto3 JSON accepts both spellings
        if member in document:
            value = document[member]
            try:
                Timestamp().FromJsonString(value)
            except (TypeError, ValueError, AttributeError):
                return InvalidArgument(f"must be {TIMESTAMP_FORM}", field=f"/{member}")
    return None
