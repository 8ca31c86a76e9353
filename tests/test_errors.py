"""Every GatewayError subclass has a row in the transport table; the public surfaces stay deliberate."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from gateway import errors
from gateway.transport.errors import TABLE, grpc_status, problem


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_class_is_mapped_once() -> None:
    everything = {errors.GatewayError} | _subclasses(errors.GatewayError)
    assert everything == set(TABLE), "add a row to gateway.transport.errors.TABLE"
    slugs = [row.slug for row in TABLE.values()]
    assert len(slugs) == len(set(slugs))


def test_errors_module_exports_exactly_the_tree() -> None:
    assert sorted(errors.__all__) == sorted(
        c.__name__ for c in {errors.GatewayError} | _subclasses(errors.GatewayError)
    )


def test_problem_document_and_grpc_status_carry_the_field() -> None:
    exc = errors.InvalidIdentifier(
        "bad check digit", scheme="LEI", rule="check_digit", field="/subject/ids/0/value"
    )
    status, body = problem(exc)
    assert status == 400
    assert body == {
        "type": "urn:cxg:problem:invalid-identifier",
        "title": "Invalid identifier",
        "status": 400,
        "detail": "bad check digit",
        "field": "/subject/ids/0/value",
        "scheme": "LEI",
        "rule": "check_digit",
    }
    converted = grpc_status(exc)
    assert converted.code == grpc.StatusCode.INVALID_ARGUMENT
    details = rpc_status.status_pb2.Status.FromString(
        dict(converted.trailing_metadata)["grpc-status-details-bin"]
    )
    bad_request = error_details_pb2.BadRequest()
    assert details.details[1].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "/subject/ids/0/value"


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "gateway.identifiers",
            {
                "CHECK_DIGIT_MISMATCH",
                "COUNTRIES",
                "SCHEMES",
                "Scheme",
                "Validated",
                "is_country",
                "make_sco_id",
                "normalize_scheme",
                "register",
                "validate",
            },
        ),
        (
            "gateway.signing",
            {
                "SUPPORTED_ALGORITHMS",
                "KeyRing",
                "PrivateKey",
                "PublicKey",
                "SigningKey",
                "Signer",
                "algorithm_of",
                "public_jwk",
                "thumbprint",
            },
        ),
        (
            "gateway.service",
            {
                "AdminApi",
                "ConsentService",
                "ImportReport",
                "PartnerAdmin",
                "PartnerRecord",
                "ProfileExchange",
                "SignedVersion",
            },
        ),
        (
            "gateway.trust",
            {
                "PARTNER_STATUSES",
                "PUBLISHER_ROLES",
                "ROLES",
                "Partner",
                "PartnerCertificate",
                "PartnerDirectory",
                "PartnerKey",
                "PartnerRegistry",
                "Quota",
                "VerifiedJws",
                "parse_partner_file",
            },
        ),
        (
            "gateway.rules",
            {
                "ENGINE",
                "Decision",
                "Failure",
                "Outcome",
                "Reason",
                "RuleBook",
                "RulePack",
                "rating_facts",
            },
        ),
        (
            "gateway.sco",
            {
                "CodeStatus",
                "Freshness",
                "Names",
                "QrImage",
                "Result",
                "ScoClaims",
                "StatusList",
                "TrustList",
                "TrustedKey",
                "Verification",
                "cose_kid",
                "issue",
                "qr_png",
                "qr_svg",
                "qr_version",
                "verify",
            },
        ),
        (
            "gateway.storage",
            {
                "Database",
                "NewVersion",
                "ProfileStore",
                "Rendered",
                "StoredVersion",
                "VersionRef",
                "normalize_url",
            },
        ),
    ],
)
def test_public_surface_changes_only_on_purpose(module: str, names: set[str]) -> None:
    imported = __import__(module, fromlist=["__all__"])
    assert set(imported.__all__) == names
    assert len(imported.__all__) == len(names)  # no duplicates
