"""The admin API's partner registry use cases (``cxg.v1.AdminService`` except ListRefusals),
proto in and proto out, over ``PartnerAdmin``. Each call answers with the partner as it now
stands; each error names the request's field path.

The transport checks that the caller is an operator; this layer checks what the request asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.errors import InvalidArgument, PermissionDenied
from gateway.schema.cxg.v1 import admin_service_pb2 as pb
from gateway.service.partners import PartnerAdmin, PartnerRecord
from gateway.trust import Partner, Quota

_T = TypeVar("_T")

# Partner attribute -> its field in cxg.v1.Partner, in the order Partner checks them.
_PARTNER_FIELDS = {"id": "id", "name": "display_name", "country": "country", "roles": "roles"}
_VALID_PARTNER: Mapping[str, Any] = {
    "id": "probe",
    "name": "probe",
    "country": "CN",
    "roles": frozenset({"bank"}),
}
_QUOTA_FIELDS = ("requests_per_second", "burst", "daily_requests")


def _not_on_itself(partner_id: str, caller_id: str, action: str) -> None:
    """An operator does not lock itself out (or raise its own limits) through the API it is
    using; another operator, or the CLI on the gateway's host, can."""
    if partner_id == caller_id:
        raise PermissionDenied(
            f"an operator may not {action} itself over the admin API; ask another operator or use the CLI",
            field="partner_id",
        )


class AdminApi:
    """One method per AdminService RPC, named after it. Methods that could lock the calling
    operator out take its partner id."""

    def __init__(self, partners: PartnerAdmin) -> None:
        self._partners = partners

    def list_partners(self, request: pb.ListPartnersRequest) -> pb.ListPartnersResponse:
        return pb.ListPartnersResponse(
            partners=[_partner_message(record) for record in self._partners.records()]
        )

    def get_partner(self, request: pb.GetPartnerRequest) -> pb.Partner:
        return self._show(request.partner_id)

    def register_partner(self, request: pb.RegisterPartnerRequest) -> pb.Partner:
        if not request.HasField("partner"):
            raise InvalidArgument("the partner to register is required", field="partner")
        partner = _partner(request.partner)
        self._partners.register(
            partner,
            [json_format.MessageToDict(jwk) for jwk in request.jwks],
            [pem.encode() for pem in request.certificate_pems],
        )
        return self._show(partner.id)

    def suspend_partner(self, request: pb.PartnerRef, caller_id: str) -> pb.Partner:
        partner_id = _required(request.partner_id, "partner_id")
        _not_on_itself(partner_id, caller_id, "suspend")
        self._partners.suspend(partner_id)
        return self._show(partner_id)

    def reinstate_partner(self, request: pb.PartnerRef) -> pb.Partner:
        self._partners.reinstate(_required(request.partner_id, "partner_id"))
        return self._show(request.partner_id)

    def add_partner_key(self, request: pb.AddPartnerKeyRequest) -> pb.Partner:
        partner_id = _required(request.partner_id, "partner_id")
        if not request.HasField("jwk"):
            raise InvalidArgument("the public JWK is required", field="jwk")
        self._partners.add_key(
            partner_id,
            json_format.MessageToDict(request.jwk),
            not_before=(
                _datetime(request.not_before, "not_before")
                if request.HasField("not_before")
                else None
            ),
            not_after=(
                _datetime(request.not_after, "not_after") if request.HasField("not_after") else None
            ),
        )
        return self._show(partner_id)

    def retire_partner_key(self, request: pb.RetirePartnerKeyRequest, caller_id: str) -> pb.Partner:
        partner_id = _required(request.partner_id, "partner_id")
        kid = _required(request.kid, "kid")
        if partner_id == caller_id:
            others = [
                k
                for k in self._partners.show(partner_id).keys
                if k.kid != kid and k.status == "active"
            ]
            if not others:
                _not_on_itself(partner_id, caller_id, "retire the last active key of")
        self._partners.retire_key(kid, partner_id=partner_id)
        return self._show(partner_id)

    def add_partner_certificate(self, request: pb.AddPartnerCertificateRequest) -> pb.Partner:
        partner_id = _required(request.partner_id, "partner_id")
        pem = _required(request.certificate_pem, "certificate_pem")
        self._partners.add_certificate(partner_id, pem.encode())
        return self._show(partner_id)

    def remove_partner_certificate(
        self, request: pb.RemovePartnerCertificateRequest, caller_id: str
    ) -> pb.Partner:
        partner_id = _required(request.partner_id, "partner_id")
        _not_on_itself(partner_id, caller_id, "remove a certificate of")
        self._partners.remove_certificate(partner_id, _required(request.thumbprint, "thumbprint"))
        return self._show(partner_id)

    def set_partner_quota(self, request: pb.SetPartnerQuotaRequest, caller_id: str) -> pb.Partner:
        partner_id = _required(request.partner_id, "partner_id")
        _not_on_itself(partner_id, caller_id, "change the quota of")
        self._partners.set_quota(partner_id, _quota(request.quota, "quota"))
        return self._show(partner_id)

    def _show(self, partner_id: str) -> pb.Partner:
        return _partner_message(self._partners.show(_required(partner_id, "partner_id")))


def _partner(message: pb.Partner) -> Partner:
    """The partner to register. Its status, keys and certificates are not the caller's to set
    here (mass assignment): a partner starts active, and keys and certificates have their own
    request fields, where they are validated."""
    if message.status not in ("", "active"):
        raise InvalidArgument(
            "a partner is registered active; suspend it afterwards", field="partner.status"
        )
    if message.keys:
        raise InvalidArgument("send the partner's keys in jwks", field="partner.keys")
    if message.certificates:
        raise InvalidArgument(
            "send the partner's certificates in certificate_pems", field="partner.certificates"
        )
    values: dict[str, Any] = {
        "id": message.id,
        "name": message.display_name,
        "country": message.country,
        "roles": frozenset(message.roles),
    }
    _construct(Partner, values, _PARTNER_FIELDS, _VALID_PARTNER, "partner")
    return Partner(
        **values,
        purposes=frozenset(message.purposes),
        operations=frozenset(message.operations),
        quota=_quota(message.quota, "partner.quota"),
    )


def _quota(message: pb.Quota, field: str) -> Quota:
    """0 means the gateway's default, which ``Quota`` spells None."""
    values = {name: getattr(message, name) or None for name in _QUOTA_FIELDS}
    return _construct(Quota, values, {name: name for name in _QUOTA_FIELDS}, {}, field)


def _construct(
    build: Callable[..., _T],
    values: Mapping[str, Any],
    fields: Mapping[str, str],
    valid: Mapping[str, Any],
    message: str,
) -> _T:
    """``build(**values)``, or InvalidArgument naming the field at fault. The model keeps its
    rules to itself; building with each value alone beside ``valid`` ones finds which broke
    them."""
    try:
        return build(**values)
    except ValueError as exc:
        for name, proto_name in fields.items():
            try:
                build(**{**valid, name: values[name]})
            except ValueError as alone:
                raise InvalidArgument(str(alone), field=f"{message}.{proto_name}") from exc
        raise InvalidArgument(str(exc), field=message) from exc


def _partner_message(record: PartnerRecord) -> pb.Partner:
    partner, quota = record.partner, record.partner.quota
    message = pb.Partner(
        id=partner.id,
        display_name=partner.name,
        country=partner.country,
        roles=sorted(partner.roles),
        purposes=sorted(partner.purposes),
        operations=sorted(partner.operations),
        status=partner.status,
        quota=pb.Quota(
            requests_per_second=quota.requests_per_second or 0,
            burst=quota.burst or 0,
            daily_requests=quota.daily_requests or 0,
        ),
    )
    for key in record.keys:
        entry = message.keys.add(kid=key.kid, alg=key.alg, status=key.status)
        entry.jwk.update(dict(key.jwk))
        if key.not_before is not None:
            entry.not_before.FromDatetime(key.not_before)
        if key.not_after is not None:
            entry.not_after.FromDatetime(key.not_after)
    for certificate in record.certificates:
        cert = message.certificates.add(
            thumbprint=certificate.thumbprint, subject=certificate.subject
        )
        cert.not_after.FromDatetime(certificate.not_after)
    return message


def _datetime(timestamp: Timestamp, field: str) -> datetime:
    try:
        return timestamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:  # gRPC carries any int64 of seconds
        raise InvalidArgument(f"not a valid timestamp: {exc}", field=field) from exc


def _required(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required", field=field)
    return value
