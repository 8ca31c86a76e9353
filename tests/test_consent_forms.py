"""Two consent defects of issue 15, on REST and gRPC against a real gateway.

- A consent is cited as ``consents/{id}`` or by its bare id, alike in GetConsent, RevokeConsent
  and a GetProfile ``consent`` (``gateway.service.consents.consent_id`` reads both, as `cxg sco
  revoke` reads a code's id); anything else is still refused like an unknown consent.
- An ``expireTime`` that is not an RFC 3339 timestamp (a date, a number, a time without a zone)
  is refused naming the field (REST: the JSON pointer ``/expireTime``; gRPC: ``expire_time``)
  and the form expected, with an example.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.schema.cxg.v1 import consent_service_pb2 as consent_pb
from gateway.service.consents import consent_id
from gateway.transport.serve import Gateway
from tests.attacks import (
    Call,
    GrpcWire,
    RestWire,
    Token,
    Wire,
    assert_refused,
    call,
    consent_request,
    get_profile,
    grant_consent,
    obtain_token,
)
from tests.partner_client import DpopClient
from tests.support import TestPartner, profile, publish

TRANSPORTS = ("rest", "grpc")
EXAMPLE = "2027-01-31T00:00:00Z"


@pytest.fixture
def wires(gateway: Gateway) -> Iterator[dict[str, Wire]]:
    opened: dict[str, Wire] = {
        "rest": RestWire(f"http://127.0.0.1:{gateway.rest_port}"),
        "grpc": GrpcWire(f"127.0.0.1:{gateway.grpc_port}"),
    }
    yield opened
    for wire in opened.values():
        wire.close()


@pytest.fixture(params=TRANSPORTS)
def wire(request: pytest.FixtureRequest, wires: dict[str, Wire]) -> Wire:
    return wires[request.param]


@pytest.fixture
def tokens(wires: dict[str, Wire], partners: dict[str, TestPartner]) -> dict[str, Token]:
    rest = wires["rest"]
    assert isinstance(rest, RestWire)
    return {
        partner_id: obtain_token(rest.http, partners[partner_id], DpopClient())
        for partner_id in ("sme-portal", "kz-bank")
    }


@pytest.fixture
def profile_name(gateway: Gateway, partners: dict[str, TestPartner]) -> str:
    return publish(gateway.exchange, partners["ru-bureau"], profile()).profile_name


def by_reference(wire: Wire, operation: str, reference: str) -> Call:
    """GetConsent or RevokeConsent naming the consent by ``reference``: over gRPC in ``name``
    as given; over REST in the path, which holds the bare id (its segment cannot hold a '/')."""
    request: Any = (
        consent_pb.GetConsentRequest(name=reference)
        if operation == "GetConsent"
        else consent_pb.RevokeConsentRequest(name=reference)
    )
    path = f"/v1/consents/{reference.removeprefix('consents/')}"
    return Call(
        operation,
        "ConsentService",
        "GET" if operation == "GetConsent" else "POST",
        path + (":revoke" if operation == "RevokeConsent" else ""),
        request,
        consent_pb.Consent,
    )


# -- One reading of a consent reference -------------------------------------------------------


def test_consent_id_reads_both_forms_and_nothing_else() -> None:
    bare = uuid.uuid4().hex
    assert consent_id(bare) == consent_id(f"consents/{bare}") == bare
    for other in (
        "",
        "consents/",
        f"profiles/{bare}",
        f"consents/consents/{bare}",
        bare.upper(),
        f"{bare}\n",
        f" {bare}",
        bare[:-1],
        f"consents/{bare}/",
    ):
        assert consent_id(other) is None, other


@pytest.mark.parametrize("form", ["full", "bare"])
def test_a_consent_is_cited_by_its_name_or_its_id(
    wire: Wire, tokens: dict[str, Token], profile_name: str, form: str
) -> None:
    portal, bank = tokens["sme-portal"], tokens["kz-bank"]
    granted = call(wire, grant_consent(consent_request()), portal)
    assert granted.ok, granted
    name = granted.body["name"]
    reference = name if form == "full" else name.removeprefix("consents/")

    read = call(wire, by_reference(wire, "GetConsent", reference), bank)
    assert read.ok and read.body["name"] == name, read
    allowed = call(wire, get_profile(profile_name, "credit_assessment", reference), bank)
    assert allowed.ok and allowed.body["profile"]["ratings"], allowed

    revoked = call(wire, by_reference(wire, "RevokeConsent", reference), portal)
    assert revoked.ok and revoked.body["state"] == "CONSENT_STATE_REVOKED", revoked
    refused = call(wire, get_profile(profile_name, "credit_assessment", reference), bank)
    assert_refused(refused, "permission-denied", "consent")


def test_other_references_are_refused_like_an_unknown_consent(
    wires: dict[str, Wire], tokens: dict[str, Token], profile_name: str
) -> None:
    grpc = wires["grpc"]
    portal = tokens["sme-portal"]
    name = call(grpc, grant_consent(consent_request()), portal).body["name"]
    unknown = call(grpc, by_reference(grpc, "GetConsent", uuid.uuid4().hex), portal)
    assert_refused(unknown, "not-found")
    for other in (f"profiles/{name[9:]}", name.upper(), f"{name}/", "consents/x"):
        reply = call(grpc, by_reference(grpc, "GetConsent", other), portal)
        assert (reply.status, reply.problem, reply.detail) == (
            unknown.status,
            unknown.problem,
            unknown.detail,
        ), other


# -- expireTime ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["2027-01", "2027-01-31", "2027-01-31T00:00:00", 1801872000, "tomorrow", ""],
    ids=["year-month", "date", "no-zone", "number", "word", "empty"],
)
def test_rest_names_a_bad_expire_time_and_the_form(
    wires: dict[str, Wire], tokens: dict[str, Token], value: Any
) -> None:
    body = {"subject": {"scheme": "CN_USCC", "value": "x"}, "grantee": "kz-bank"}
    body |= {"purpose": "credit_assessment", "expireTime": value}
    reply = call(wires["rest"], grant_consent(consent_request(), body), tokens["sme-portal"])
    assert_refused(reply, "invalid-argument", "/expireTime")
    assert "RFC 3339" in reply.detail and EXAMPLE in reply.detail, reply.detail
    assert "body" not in reply.detail


def test_rest_still_names_other_body_faults(
    wires: dict[str, Wire], tokens: dict[str, Token]
) -> None:
    """A good expireTime beside another fault: the other fault is what is named."""
    body = {"grantee": "kz-bank", "expireTime": EXAMPLE, "color": "blue"}
    reply = call(wires["rest"], grant_consent(consent_request(), body), tokens["sme-portal"])
    assert_refused(reply, "invalid-argument", "body")


@pytest.mark.parametrize("seconds", [2**62, -(2**62)], ids=["too-late", "too-early"])
def test_grpc_names_a_bad_expire_time_and_the_form(
    wires: dict[str, Wire], tokens: dict[str, Token], profile_name: str, seconds: int
) -> None:
    request = consent_request()
    request.expire_time.CopyFrom(Timestamp(seconds=seconds))
    # (no REST body: JSON cannot hold such a time)
    reply = call(wires["grpc"], grant_consent(request, {}), tokens["sme-portal"])
    assert_refused(reply, "invalid-argument", "expire_time")
    assert "RFC 3339" in reply.detail and EXAMPLE in reply.detail, reply.detail


def test_a_missing_expire_time_says_the_form_on_both(
    wires: dict[str, Wire], tokens: dict[str, Token], profile_name: str
) -> None:
    request = consent_request()
    request.ClearField("expire_time")
    for wire in wires.values():
        reply = call(wire, grant_consent(request), tokens["sme-portal"])
        assert_refused(reply, "invalid-argument", "expire_time")
        assert EXAMPLE in reply.detail, reply.detail
