"""Default deny: every RPC and every REST route has an explicit policy; roles decide operations
and purposes decide the fields a caller sees."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from google.protobuf import json_format

from gateway.errors import InvalidArgument, PermissionDenied, Unauthenticated
from gateway.schema.cxg.v1 import (
    admin_service_pb2,
    audit_service_pb2,
    consent_service_pb2,
    correction_service_pb2,
    event_service_pb2,
    federation_service_pb2,
    profile_service_pb2,
    report_service_pb2,
    rules_service_pb2,
    sco_service_pb2,
)
from gateway.schema.cxg.v1.profile_pb2 import CreditProfile
from gateway.transport.grpc_server import service_methods
from gateway.transport.rest._guard import GuardedRoute, operation_of
from gateway.transport.serve import Gateway
from gateway.trust import Partner
from gateway.trust.policy import (
    CUSTOMS,
    FULL,
    OPERATIONS,
    SUMMARY,
    authorize,
    minimize,
    purpose_for,
    rule_for,
)
from tests.support import profile

# The API description, public by policy: FastAPI's document, and the docs pages with the files
# they load (gateway/transport/rest/docs.py).
API_DESCRIPTION_PATHS = {"/openapi.json", "/docs", "/redoc", "/docs/assets/{name}"}


def partner(*roles: str, **fields: object) -> Partner:
    return Partner(id="some-partner", name="Some", country="KZ", roles=frozenset(roles), **fields)  # type: ignore[arg-type]


def test_every_rpc_of_every_service_has_a_policy(gateway: Gateway) -> None:
    declared = {
        f"{service.full_name}/{method.name}"
        for module in (
            profile_service_pb2,
            report_service_pb2,
            consent_service_pb2,
            correction_service_pb2,
            event_service_pb2,
            federation_service_pb2,
            admin_service_pb2,
            audit_service_pb2,
            rules_service_pb2,
            sco_service_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    served = {
        f"{service}/{name}"
        for service, methods in service_methods(gateway.services).items()
        for name in methods
    }
    assert served == declared  # the server serves exactly what the protos declare
    assert {name.rsplit("/", 1)[1] for name in served} <= set(OPERATIONS)


def test_every_rest_route_has_a_policy(gateway: Gateway) -> None:
    routes = list(gateway.rest_app.routes)
    served, others = set(), set()
    while routes:
        route = routes.pop()
        if isinstance(route, APIRoute):
            assert isinstance(route, GuardedRoute), route.path  # admitted by the gatekeeper
            served.add(operation_of(route.operation_id))
        elif hasattr(route, "original_router"):  # an included router
            routes.extend(route.original_router.routes)
        else:
            others.add(route.path)  # type: ignore[attr-defined]
    assert others == API_DESCRIPTION_PATHS
    assert served == set(OPERATIONS) - {"GetApiDescription"}  # and no policy is left unused
    assert rule_for("GetApiDescription").public


def test_an_operation_without_policy_is_refused_to_everyone() -> None:
    with pytest.raises(PermissionDenied, match="no access policy"):
        authorize(partner("operator", "bank", "customs"), "DropAllTables")


@pytest.mark.parametrize(
    ("roles", "operation", "allowed"),
    [
        (("bank",), "GetProfile", True),
        (("bank",), "SuspendPartner", False),
        (("bank",), "ListRefusals", False),
        (("operator",), "SuspendPartner", True),
        (("operator",), "GetProfile", False),
        (("customs",), "PublishProfile", True),
        (("sme_portal",), "PublishProfile", False),
        (("sme_portal",), "GrantConsent", True),
        (("bank",), "GrantConsent", False),
        (("customs",), "RecognizeAeo", True),
        (("bank",), "RecognizeAeo", False),
        (("bank",), "EquivalentGrade", True),
        (("witness",), "EquivalentGrade", False),
    ],
)
def test_roles_decide_operations(roles: tuple[str, ...], operation: str, allowed: bool) -> None:
    caller = partner(*roles)
    if allowed:
        authorize(caller, operation)
    else:
        with pytest.raises(PermissionDenied):
            authorize(caller, operation)


def test_a_partner_registered_for_some_operations_gets_only_those() -> None:
    narrow = partner("bank", operations=frozenset({"SearchProfiles"}))
    authorize(narrow, "SearchProfiles")
    with pytest.raises(PermissionDenied, match="not registered for GetProfile"):
        authorize(narrow, "GetProfile")


def test_purposes_follow_roles_and_registration() -> None:
    assert purpose_for(partner("customs"), "customs_clearance").view == CUSTOMS
    assert purpose_for(partner("bank"), "credit_assessment").needs_consent
    with pytest.raises(PermissionDenied):
        purpose_for(partner("bank"), "customs_clearance")
    with pytest.raises(PermissionDenied):
        purpose_for(
            partner("bank", purposes=frozenset({"trade_due_diligence"})), "credit_assessment"
        )
    with pytest.raises(InvalidArgument) as missing:
        purpose_for(partner("bank"), "")
    assert missing.value.field == "purpose"
    with pytest.raises(InvalidArgument, match="unknown purpose"):
        purpose_for(partner("bank"), "curiosity")


def full_profile() -> CreditProfile:
    document = profile(
        publicRecords=[
            {
                "kind": "PUBLIC_RECORD_KIND_PENALTY",
                "authority": {"en": "Qingdao Customs"},
                "authorityType": "AUTHORITY_TYPE_CUSTOMS",
                "decisionDate": "2025-03-01",
            },
            {
                "kind": "PUBLIC_RECORD_KIND_PENALTY",
                "authority": {"en": "Qingdao Tax Bureau"},
                "authorityType": "AUTHORITY_TYPE_TAX",
                "decisionDate": "2025-04-01",
            },
        ],
        commonGrade={"bucket": "A", "ordinal": 2},
        provenance={"sourceInstitution": "cn-customs", "retrievedAt": "2026-01-10T00:00:00Z"},
    )
    document["subject"]["address"] = {"country": "CN", "locality": "Qingdao"}
    return json_format.ParseDict(document, CreditProfile())


def test_customs_view_keeps_identifiers_aeo_and_customs_records_only() -> None:
    shown = json_format.MessageToDict(minimize(full_profile(), CUSTOMS))
    assert "ratings" not in shown and "commonGrade" not in shown
    assert [r["authorityType"] for r in shown["publicRecords"]] == ["AUTHORITY_TYPE_CUSTOMS"]
    assert shown["aeo"] and shown["subject"]["ids"] and shown["subject"]["address"]
    assert shown["provenance"]["sourceInstitution"] == "cn-customs"


def test_summary_view_has_no_ratings_records_or_address() -> None:
    shown = json_format.MessageToDict(minimize(full_profile(), SUMMARY))
    assert not {"ratings", "publicRecords"} & set(shown)
    assert "address" not in shown["subject"]
    assert shown["commonGrade"]["bucket"] == "A" and shown["aeo"]


def test_full_view_is_the_profile_itself() -> None:
    whole = full_profile()
    assert minimize(whole, FULL) is whole


def test_admission_without_a_caller_is_only_for_public_operations(gateway: Gateway) -> None:
    gate = gateway.services.gate
    gate.authorize("GetJwks", None)
    with pytest.raises(Unauthenticated):
        gate.authorize("GetProfile", None)  # fail closed, whatever a transport passes
