"""REST routes of cxg.v1.AdminService (operators only, by policy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from google.protobuf.message import Message

from gateway.errors import InvalidArgument
from gateway.schema.cxg.v1 import admin_service_pb2 as pb
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest._replies import json_body, message_response, read_message, responses
from gateway.transport.rest.deps import CallerDep, ServicesDep
from gateway.transport.services import Services

PartnerId = Annotated[
    str, Path(pattern="^[a-z0-9][a-z0-9-]{1,62}$", description="The partner's id.")
]
Kid = Annotated[str, Path(pattern="^[A-Za-z0-9_.:-]{1,128}$", description="The key id.")]
Thumbprint = Annotated[
    str,
    Path(pattern="^[A-Za-z0-9_-]{43}$", description="base64url SHA-256 of the certificate."),
]

router = APIRouter(route_class=GuardedRoute, prefix="/v1/admin")


async def _run(
    services: Services, call: Callable[..., Message], request: Any, *args: Any
) -> Response:
    return message_response(await services.offload.run(call, request, *args))


async def _with_body(request: Request, message_type: type[Message], partner_id: str) -> Message:
    """A body message whose partner_id comes from the path (a body's own value is refused)."""
    message = await read_message(request, message_type)
    if getattr(message, "partner_id", "") not in ("", partner_id):
        raise InvalidArgument("partner_id in the body differs from the path", field="partner_id")
    message.partner_id = partner_id  # type: ignore[attr-defined]
    return message


@router.get(
    "/partners",
    operation_id="ListPartners",
    summary="Every registered partner",
    responses=responses(pb.ListPartnersResponse),
)
async def list_partners(services: ServicesDep) -> Response:
    return await _run(services, services.admin.list_partners, pb.ListPartnersRequest())


@router.get(
    "/partners/{partner_id:segment}",
    operation_id="GetPartner",
    summary="One partner with its keys, certificates and quota",
    responses=responses(pb.Partner, 400, 404),
)
async def get_partner(partner_id: PartnerId, services: ServicesDep) -> Response:
    return await _run(
        services, services.admin.get_partner, pb.GetPartnerRequest(partner_id=partner_id)
    )


@router.post(
    "/partners",
    operation_id="RegisterPartner",
    summary="Register a partner with its public keys and certificates",
    responses=responses(pb.Partner, 400, 409),
    openapi_extra=json_body(pb.RegisterPartnerRequest),
)
async def register_partner(request: Request, services: ServicesDep) -> Response:
    register = await read_message(request, pb.RegisterPartnerRequest)
    return await _run(services, services.admin.register_partner, register)


@router.post(
    "/partners/{partner_id:segment}:suspend",
    operation_id="SuspendPartner",
    summary="Suspend a partner: refused at once, even with a live token",
    responses=responses(pb.Partner, 400, 404),
)
async def suspend_partner(
    partner_id: PartnerId, services: ServicesDep, caller: CallerDep
) -> Response:
    suspend = pb.PartnerRef(partner_id=partner_id)
    return await _run(services, services.admin.suspend_partner, suspend, caller.partner.id)


@router.post(
    "/partners/{partner_id:segment}:reinstate",
    operation_id="ReinstatePartner",
    summary="Reinstate a suspended partner",
    responses=responses(pb.Partner, 400, 404),
)
async def reinstate_partner(partner_id: PartnerId, services: ServicesDep) -> Response:
    return await _run(
        services, services.admin.reinstate_partner, pb.PartnerRef(partner_id=partner_id)
    )


@router.post(
    "/partners/{partner_id:segment}/keys",
    operation_id="AddPartnerKey",
    summary="Add a public key (rotation: add the new key, then retire the old one)",
    responses=responses(pb.Partner, 400, 404, 409),
    openapi_extra=json_body(pb.AddPartnerKeyRequest),
)
async def add_partner_key(
    partner_id: PartnerId, request: Request, services: ServicesDep
) -> Response:
    add = await _with_body(request, pb.AddPartnerKeyRequest, partner_id)
    return await _run(services, services.admin.add_partner_key, add)


@router.post(
    "/partners/{partner_id:segment}/keys/{kid}:retire",
    operation_id="RetirePartnerKey",
    summary="Retire a key: it and the tokens issued for it stop working at once",
    responses=responses(pb.Partner, 400, 404),
)
async def retire_partner_key(
    partner_id: PartnerId, kid: Kid, services: ServicesDep, caller: CallerDep
) -> Response:
    retire = pb.RetirePartnerKeyRequest(partner_id=partner_id, kid=kid)
    return await _run(services, services.admin.retire_partner_key, retire, caller.partner.id)


@router.post(
    "/partners/{partner_id:segment}/certificates",
    operation_id="AddPartnerCertificate",
    summary="Register an mTLS client certificate for the partner",
    responses=responses(pb.Partner, 400, 404, 409),
    openapi_extra=json_body(pb.AddPartnerCertificateRequest),
)
async def add_partner_certificate(
    partner_id: PartnerId, request: Request, services: ServicesDep
) -> Response:
    add = await _with_body(request, pb.AddPartnerCertificateRequest, partner_id)
    return await _run(services, services.admin.add_partner_certificate, add)


@router.post(
    "/partners/{partner_id:segment}/certificates/{thumbprint}:remove",
    operation_id="RemovePartnerCertificate",
    summary="Remove a registered client certificate",
    responses=responses(pb.Partner, 400, 404),
)
async def remove_partner_certificate(
    partner_id: PartnerId, thumbprint: Thumbprint, services: ServicesDep, caller: CallerDep
) -> Response:
    remove = pb.RemovePartnerCertificateRequest(partner_id=partner_id, thumbprint=thumbprint)
    return await _run(
        services, services.admin.remove_partner_certificate, remove, caller.partner.id
    )


@router.post(
    "/partners/{partner_id:segment}:setQuota",
    operation_id="SetPartnerQuota",
    summary="Set the partner's rate limit and daily quota (0 = the gateway default)",
    responses=responses(pb.Partner, 400, 404),
    openapi_extra=json_body(pb.Quota),
)
async def set_partner_quota(
    partner_id: PartnerId, request: Request, services: ServicesDep, caller: CallerDep
) -> Response:
    quota = await read_message(request, pb.Quota)
    set_quota = pb.SetPartnerQuotaRequest(partner_id=partner_id, quota=quota)
    return await _run(services, services.admin.set_partner_quota, set_quota, caller.partner.id)


@router.get(
    "/refusals",
    operation_id="ListRefusals",
    summary="Refused requests, newest first",
    responses=responses(pb.ListRefusalsResponse, 400),
)
async def list_refusals(
    services: ServicesDep,
    partner_id: Annotated[str, Query(max_length=64, description="Only this partner's.")] = "",
    page_size: Annotated[int, Query(ge=0, le=500, description="0 means 50.")] = 0,
    page_token: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    listing = pb.ListRefusalsRequest(
        partner_id=partner_id, page_size=page_size, page_token=page_token
    )
    return await _run(services, services.refusals.list, listing)
