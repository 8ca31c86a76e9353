"""Every RPC of the gateway and its REST route, in one table: the SDK calls any of them over
either transport with the same request (proto3 JSON field names) and gets the same answer.

A REST path names request fields in braces: ``{name}`` is the field's value as is (a resource
name such as ``profiles/abc`` stays whole), ``{field}`` inside a segment its value escaped.
A GET sends the other fields as query parameters; a POST sends them as the JSON body, or only
the one field ``body`` names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from google.protobuf import json_format
from google.protobuf.message import Message

from cxg_client._schema.cxg.v1 import (
    admin_service_pb2,
    audit_service_pb2,
    consent_service_pb2,
    profile_service_pb2,
    report_service_pb2,
    rules_service_pb2,
    sco_service_pb2,
)

_MODULES = (
    profile_service_pb2,
    consent_service_pb2,
    audit_service_pb2,
    rules_service_pb2,
    sco_service_pb2,
    report_service_pb2,
    admin_service_pb2,
)
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    name: str
    http_method: str
    path: str
    idempotent: bool
    body: str | None = None  # POST: the field sent as the body ("*" or None: all the others)
    signed: tuple[tuple[str, str], ...] = ()  # (answer field holding a JWS, its typ)

    @property
    def service(self) -> str:
        return str(_SERVICE_OF[self.name])

    @property
    def grpc_method(self) -> str:
        return f"/{self.service}/{self.name}"

    def request_type(self) -> type[Message]:
        return _METHODS[self.name].input_type._concrete_class  # type: ignore[no-any-return]

    def response_type(self) -> type[Message]:
        return _METHODS[self.name].output_type._concrete_class  # type: ignore[no-any-return]

    def rest_request(self, request: Message) -> tuple[str, dict[str, str], dict[str, Any] | None]:
        """The path, the query and the JSON body (None for a GET) of ``request``."""
        fields = json_format.MessageToDict(request, preserving_proto_field_name=True)
        used: set[str] = set()

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            used.add(name)
            value = str(fields.get(name, ""))
            if not value:
                raise ValueError(f"{self.name}: {name} is required")
            # A resource name keeps its slash; anything else is one path segment.
            return quote(value, safe="/" if name == "name" else "")

        path = _FIELD.sub(fill, self.path)
        rest = {k: v for k, v in fields.items() if k not in used}
        if self.http_method == "GET":
            return path, dict(_query(rest)), None
        if self.body and self.body != "*":
            return path, {}, rest.get(self.body, {})
        camel = json_format.MessageToDict(request)
        body = {k: v for k, v in camel.items() if _snake(k) not in used}
        return path, {}, body


def _query(fields: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Query parameters of a GET's fields; a message field's own fields as ``field.name``."""
    for name, value in fields.items():
        if isinstance(value, dict):
            yield from _query(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", _query_value(value)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


_METHODS = {
    method.name: method
    for module in _MODULES
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
}
_SERVICE_OF = {name: method.containing_service.full_name for name, method in _METHODS.items()}

_PROFILE = (("jws", "cxg-profile+jws"),)
_DECISION = (("jws", "cxg-decision+jws"),)

OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        # cxg.v1.ProfileService (GetProfile by identifier: /v1/profiles:lookup, see the client)
        Operation("GetProfile", "GET", "/v1/{name}", True, signed=_PROFILE),
        Operation(
            "PublishProfile",
            "POST",
            "/v1/profiles:publish",
            True,  # idempotent by construction: the same JWS again answers the same receipt
            signed=(("receipt_jws", "cxg-receipt+jws"),),
        ),
        Operation("ListProfileVersions", "GET", "/v1/{name}/versions", True),
        Operation("SearchProfiles", "GET", "/v1/profiles:search", True),
        Operation("ImportProfiles", "POST", "/v1/profiles:import", False),
        # cxg.v1.ConsentService
        Operation("GrantConsent", "POST", "/v1/consents", False),
        Operation("RevokeConsent", "POST", "/v1/{name}:revoke", False),
        Operation("GetConsent", "GET", "/v1/{name}", True),
        Operation("ListConsents", "GET", "/v1/consents", True),
        # cxg.v1.AuditService
        Operation("GetCheckpoint", "GET", "/v1/audit/checkpoint", True),
        Operation("ListEntries", "GET", "/v1/audit/entries", True),
        Operation("GetInclusionProof", "GET", "/v1/audit/proofs/inclusion", True),
        Operation("GetConsistencyProof", "GET", "/v1/audit/proofs/consistency", True),
        Operation("AddCosignature", "POST", "/v1/audit/checkpoints/{tree_size}:cosign", False),
        # cxg.v1.RulesService (decisions are computed, not stored: safe to repeat)
        Operation("RecognizeAeo", "POST", "/v1/aeo:recognize", True, signed=_DECISION),
        Operation("EquivalentGrade", "POST", "/v1/grades:equivalent", True, signed=_DECISION),
        Operation("ListRulePacks", "GET", "/v1/rulePacks", True),
        Operation("GetRulePack", "GET", "/v1/{name}", True, signed=(("jws", "cxg-rule-pack+jws"),)),
        # cxg.v1.ScoService
        Operation("IssueScoCode", "POST", "/v1/scoCodes", False),
        Operation("GetScoCode", "GET", "/v1/{name}", True),
        Operation("SetScoCodeStatus", "POST", "/v1/{name}:setStatus", False),
        Operation("VerifyScoCode", "POST", "/v1/scoCodes:verify", True),
        Operation("GetTrustList", "GET", "/v1/sco/trustList", True),
        Operation("GetStatusList", "GET", "/v1/sco/statusList", True),
        # cxg.v1.ReportService (a report is recorded when made: never repeated blindly)
        Operation("CreateReport", "POST", "/v1/reports", False),
        Operation("GetReport", "GET", "/v1/{name}", True),
        Operation("ListReports", "GET", "/v1/reports", True),
        Operation("VerifyReport", "POST", "/v1/reports:verify", True),
        Operation("RevokeReport", "POST", "/v1/{name}:revoke", False),
        # cxg.v1.AdminService (operators)
        Operation("ListPartners", "GET", "/v1/admin/partners", True),
        Operation("GetPartner", "GET", "/v1/admin/partners/{partner_id}", True),
        Operation("RegisterPartner", "POST", "/v1/admin/partners", False),
        Operation("SuspendPartner", "POST", "/v1/admin/partners/{partner_id}:suspend", False),
        Operation("ReinstatePartner", "POST", "/v1/admin/partners/{partner_id}:reinstate", False),
        Operation("AddPartnerKey", "POST", "/v1/admin/partners/{partner_id}/keys", False),
        Operation(
            "RetirePartnerKey", "POST", "/v1/admin/partners/{partner_id}/keys/{kid}:retire", False
        ),
        Operation(
            "AddPartnerCertificate", "POST", "/v1/admin/partners/{partner_id}/certificates", False
        ),
        Operation(
            "RemovePartnerCertificate",
            "POST",
            "/v1/admin/partners/{partner_id}/certificates/{thumbprint}:remove",
            False,
        ),
        Operation(
            "SetPartnerQuota",
            "POST",
            "/v1/admin/partners/{partner_id}:setQuota",
            False,
            body="quota",
        ),
        Operation("ListRefusals", "GET", "/v1/admin/refusals", True),
    )
}
