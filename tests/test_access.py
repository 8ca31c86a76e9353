"""Attacks on authentication and authorization, against a real gateway on both transports.

Each test is named after the attack. It asserts the exact refusal (status, problem slug, field)
and that the attack stored nothing and leaked nothing. Credentials are made with jwcrypto, as a
partner's own software or an attacker would make them (tests/attacks.py, tests/partner_client.py).
The token endpoint is REST only, so client-assertion attacks run there; every other attack runs
on REST and gRPC alike.
"""

from __future__ import annotations

import dataclasses
import json
import re
import ssl
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import base45  # type: ignore[import-untyped]
import grpc
import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from gateway.config import Settings
from gateway.errors import NotFound
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.schema.cxg.v1 import sco_service_pb2 as sco_pb
from gateway.service import PartnerAdmin
from gateway.service.tokens import TokenService
from gateway.signing import SigningKey
from gateway.storage.replay import ReplayStore
from gateway.transport.serve import Gateway
from gateway.trust import Quota, pki
from tests.attacks import (
    Call,
    GrpcWire,
    Reply,
    RestWire,
    Token,
    Wire,
    alg_none,
    assert_refused,
    assertion_claims,
    call,
    consent_request,
    deep_json,
    get_consent,
    get_profile,
    grant_consent,
    hs256_with_public_key,
    jws_parts,
    list_consents,
    list_partners,
    list_refusals,
    list_versions,
    obtain_token,
    public_pem,
    publish_profile,
    register_partner,
    request_token,
    revoke_consent,
    search_profiles,
    signed,
    suspend_partner,
    with_bad_signature,
    with_header_bytes,
)
from tests.clients import ASSERTION_TYPE
from tests.partner_client import DpopClient, assertion
from tests.support import KZ_BIN, TestPartner, profile

# jwcrypto flags EdDSA as deprecated (RFC 9864); the partners' keys are Ed25519.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:jwcrypto")

TRANSPORTS = ("rest", "grpc")
Login = Callable[[str], Token]

# Text only the full view of the published profile holds: a tax rating, a tax record, an address.
TAX_RATING, TAX_AUTHORITY, CUSTOMS_AUTHORITY = "CN_TAX", "Qingdao Tax Bureau", "Qingdao Customs"
STREET = "88 Huangdao Leak Road"


def rich_profile() -> dict[str, Any]:
    document = profile(
        publicRecords=[
            {
                "kind": "PUBLIC_RECORD_KIND_PENALTY",
                "authority": {"en": CUSTOMS_AUTHORITY},
                "authorityType": "AUTHORITY_TYPE_CUSTOMS",
                "decisionDate": "2025-03-01",
            },
            {
                "kind": "PUBLIC_RECORD_KIND_PENALTY",
                "authority": {"en": TAX_AUTHORITY},
                "authorityType": "AUTHORITY_TYPE_TAX",
                "decisionDate": "2025-04-01",
            },
        ]
    )
    document["subject"]["address"] = {"country": "CN", "locality": "Qingdao", "street": STREET}
    return document


def other_company() -> dict[str, Any]:
    """A profile of another company than ``rich_profile``'s (no identifier or AEO in common)."""
    document = profile(aeo=[])
    document["subject"] |= {"ids": [{"scheme": "KZ_BIN", "value": KZ_BIN}], "country": "KZ"}
    return document


# -- Fixtures ---------------------------------------------------------------------------------


def plain_wire(transport: str, gateway: Gateway) -> Wire:
    if transport == "rest":
        return RestWire(f"http://127.0.0.1:{gateway.rest_port}")
    return GrpcWire(f"127.0.0.1:{gateway.grpc_port}")


@pytest.fixture
def wires(gateway: Gateway) -> Iterator[dict[str, Wire]]:
    opened = {transport: plain_wire(transport, gateway) for transport in TRANSPORTS}
    yield opened
    for wire in opened.values():
        wire.close()


@pytest.fixture(params=TRANSPORTS)
def wire(request: pytest.FixtureRequest, wires: dict[str, Wire]) -> Wire:
    return wires[request.param]


@pytest.fixture
def rest(wires: dict[str, Wire]) -> RestWire:
    wire = wires["rest"]
    assert isinstance(wire, RestWire)
    return wire


@pytest.fixture
def login(rest: RestWire, partners: dict[str, TestPartner]) -> Login:
    """A DPoP-bound token per partner, obtained once per test by the jwcrypto client."""
    tokens: dict[str, Token] = {}

    def token(partner_id: str) -> Token:
        if partner_id not in tokens:
            tokens[partner_id] = obtain_token(rest.http, partners[partner_id], DpopClient())
        return tokens[partner_id]

    return token


@pytest.fixture
def published(gateway: Gateway, partners: dict[str, TestPartner]) -> str:
    """The name of a profile ru-bureau published, with data only some purposes may see."""
    bureau = partners["ru-bureau"]
    request = pb.PublishProfileRequest(jws=bureau.sign(rich_profile()))
    return gateway.exchange.publish_profile(request, bureau.as_partner()).profile_name


def versions(wire: Wire, login: Login, name: str) -> list[int]:
    reply = call(wire, list_versions(name), login("ru-bureau"))
    assert reply.ok, reply
    return [int(entry["version"]) for entry in reply.body.get("versions", [])]


def reached_nobody(gateway: Gateway, partner_ids: list[str]) -> None:
    """No partner was added or changed by a refused registration."""
    assert [r.partner.id for r in gateway.partners.records()] == sorted(partner_ids)


# -- Client authentication: the token endpoint (REST only) ------------------------------------


def assert_no_token(rest: RestWire, client_assertion: str, field: str) -> None:
    response = request_token(rest.http, client_assertion, DpopClient())
    assert response.status_code == 401, response.text
    body = response.json()
    assert (body["error"], body.get("field")) == ("invalid_client", field), body
    assert "access_token" not in body


def assert_jti_unused(rest: RestWire, partner: TestPartner, jti: str) -> None:
    """The refused assertion's jti was not stored: a genuine assertion may still use it."""
    obtain_token(rest.http, partner, DpopClient(), jti=jti)


def test_forged_client_assertion_bad_signature(
    rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
    assert_no_token(rest, with_bad_signature(assertion(bureau, jti=jti)), "client_assertion")
    assert_jti_unused(rest, bureau, jti)


def test_assertion_signed_with_another_partners_key(
    rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    # Both keys are Ed25519, so only the signature can tell them apart.
    bureau, portal, jti = partners["ru-bureau"], partners["sme-portal"], uuid.uuid4().hex
    assert_no_token(rest, assertion(bureau, key=portal.key, jti=jti), "client_assertion")
    assert_jti_unused(rest, bureau, jti)


def test_replayed_assertion_jti(rest: RestWire, partners: dict[str, TestPartner]) -> None:
    replayed = assertion(partners["ru-bureau"])
    assert request_token(rest.http, replayed, DpopClient()).status_code == 200
    assert_no_token(rest, replayed, "client_assertion.jti")


Claims = Callable[[int], dict[str, Any]]


@pytest.mark.parametrize(
    ("claims", "field"),
    [
        # Times are taken when the test runs, not when it is collected (a long run would
        # otherwise move "61 s in the future" into the past).
        (lambda now: {"exp": now - 1}, "client_assertion.exp"),
        (lambda now: {"iat": now + 61}, "client_assertion.iat"),
        (lambda now: {"aud": "cxg.almaty.dev"}, "client_assertion.aud"),
    ],
    ids=["expired-assertion", "iat-61s-in-the-future", "aud-of-another-gateway"],
)
def test_assertion_with_bad_claims(
    rest: RestWire, partners: dict[str, TestPartner], claims: Claims, field: str
) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
    claims = claims(int(time.time()))
    if "iat" in claims:
        claims = claims | {"exp": claims["iat"] + 60}
    assert_no_token(rest, assertion(bureau, jti=jti, **claims), field)
    assert_jti_unused(rest, bureau, jti)


def test_assertion_alg_none(rest: RestWire, partners: dict[str, TestPartner]) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
    forged = alg_none({"kid": bureau.key.kid}, assertion_claims(bureau.id, jti=jti))
    assert_no_token(rest, forged, "client_assertion.header.alg")
    assert_jti_unused(rest, bureau, jti)


def test_assertion_hs256_keyed_with_the_public_key(
    rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
    forged = hs256_with_public_key(
        {"kid": bureau.key.kid},
        assertion_claims(bureau.id, jti=jti),
        public_pem(bureau.key.public_jwk()),
    )
    assert_no_token(rest, forged, "client_assertion.header.alg")
    assert_jti_unused(rest, bureau, jti)


@pytest.mark.parametrize("kid", ["../../etc/passwd", "' OR 1=1 --"], ids=["path", "sql"])
def test_assertion_kid_injection(
    gateway: Gateway, rest: RestWire, partners: dict[str, TestPartner], kid: str
) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
    forged = signed(
        {"alg": bureau.key.alg, "kid": kid}, assertion_claims(bureau.id, jti=jti), bureau.key
    )
    assert_no_token(rest, forged, "client_assertion.header.kid")
    assert_jti_unused(rest, bureau, jti)
    reached_nobody(gateway, list(partners))


def test_assertion_of_an_unknown_partner(
    gateway: Gateway, rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    stranger = SigningKey.generate("EdDSA")
    forged = signed(
        {"alg": stranger.alg, "kid": stranger.kid}, assertion_claims("nobody-bank"), stranger
    )
    assert_no_token(rest, forged, "client_assertion.header.kid")
    reached_nobody(gateway, list(partners))


# -- Access tokens ----------------------------------------------------------------------------


def test_expired_access_token(
    gateway: Gateway, wire: Wire, partners: dict[str, TestPartner]
) -> None:
    # Issued by the gateway's own keys an hour ago (a TokenService with a clock set back).
    then = int(time.time()) - 3600
    issuer = TokenService(
        gateway.exchange.keyring,
        gateway.trust,
        ReplayStore(gateway.db).remember,
        gateway_id=gateway.settings.gateway_id,
        clock=lambda: then,
    )
    dpop, url = DpopClient(), f"http://127.0.0.1:{gateway.rest_port}/oauth2/token"
    issued = issuer.issue(
        grant_type="client_credentials",
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=assertion(partners["kz-bank"], iat=then, exp=then + 60),
        method="POST",
        url=url,
        dpop_proof=dpop.proof("POST", url, iat=then),
    )
    reply = call(wire, search_profiles(), Token(issued.access_token, dpop))
    assert_refused(reply, "unauthenticated", "authorization")
    assert "expired" in reply.detail


@pytest.mark.parametrize("forge", ["alg-none", "hs256-keyed-with-the-public-key"])
def test_forged_access_token(
    gateway: Gateway, wire: Wire, rest: RestWire, login: Login, forge: str
) -> None:
    """A real token's claims under a forged signature that claims the gateway's own kid."""
    genuine = login("kz-bank")
    header, claims = jws_parts(genuine.value)
    jwks = rest.http.get("/.well-known/jwks.json").json()["keys"]
    forged = (
        alg_none(header, claims)
        if forge == "alg-none"
        else hs256_with_public_key(header, claims, public_pem(jwks[0]))
    )
    reply = call(wire, search_profiles(), Token(forged, genuine.dpop))
    assert_refused(reply, "unauthenticated", "authorization")


def test_suspended_partner_with_a_live_token(
    gateway: Gateway, wires: dict[str, Wire], login: Login
) -> None:
    bank = login("kz-bank")
    assert all(call(wire, search_profiles(), bank).ok for wire in wires.values())
    gateway.partners.suspend("kz-bank")
    for wire in wires.values():
        assert_refused(call(wire, search_profiles(), bank), "permission-denied")


def test_retired_key_ends_its_tokens(
    gateway: Gateway, wires: dict[str, Wire], login: Login, partners: dict[str, TestPartner]
) -> None:
    bank = login("kz-bank")
    assert all(call(wire, search_profiles(), bank).ok for wire in wires.values())
    gateway.partners.retire_key(partners["kz-bank"].key.kid)
    for wire in wires.values():
        reply = call(wire, search_profiles(), bank)
        assert_refused(reply, "unauthenticated", "authorization")
        assert "retired" in reply.detail


def test_token_in_a_query_string(rest: RestWire, login: Login, published: str) -> None:
    token = login("ru-bureau").value
    reply = rest.send(
        get_profile(published, "credit_reporting"), {}, params={"access_token": token}
    )
    assert_refused(reply, "unauthenticated", "access_token")
    assert token not in reply.raw.decode()


# -- DPoP proofs ------------------------------------------------------------------------------


def test_token_without_its_dpop_proof(wire: Wire, login: Login) -> None:
    headers = login("kz-bank").headers(wire, search_profiles())
    del headers["DPoP"]
    assert_refused(wire.send(search_profiles(), headers), "unauthenticated", "DPoP")


def test_dpop_proof_replayed(wire: Wire, login: Login) -> None:
    headers = login("kz-bank").headers(wire, search_profiles())
    assert wire.send(search_profiles(), headers).ok
    assert_refused(wire.send(search_profiles(), headers), "unauthenticated", "DPoP.claims.jti")


@pytest.mark.parametrize(
    ("other", "field"),
    [("method", "DPoP.claims.htm"), ("url", "DPoP.claims.htu")],
    ids=["another-method", "another-url-or-rpc"],
)
def test_dpop_proof_made_for_another_request(
    wire: Wire, login: Login, published: str, other: str, field: str
) -> None:
    # For gRPC, "another URL" is another RPC of the same service.
    proof = {"htm": "DELETE"} if other == "method" else {"htu": wire.target(search_profiles())[1]}
    reply = call(wire, get_profile(published, "credit_reporting"), login("ru-bureau"), **proof)
    assert_refused(reply, "unauthenticated", field)
    assert "profile" not in reply.body


def test_dpop_proof_iat_61s_in_the_future(wire: Wire, login: Login) -> None:
    reply = call(wire, search_profiles(), login("kz-bank"), iat=int(time.time()) + 61)
    assert_refused(reply, "unauthenticated", "DPoP.claims.iat")


@pytest.mark.parametrize("forge", ["alg-none", "hs256-keyed-with-the-public-key"])
def test_dpop_proof_forged_algorithm(wire: Wire, login: Login, forge: str) -> None:
    token = login("kz-bank")
    assert token.dpop is not None
    genuine = token.headers(wire, search_profiles())
    header, claims = jws_parts(genuine["DPoP"])
    proof = (
        alg_none(header, claims)
        if forge == "alg-none"
        else hs256_with_public_key(header, claims, public_pem(header["jwk"]))
    )
    reply = wire.send(search_profiles(), genuine | {"DPoP": proof})
    assert_refused(reply, "unauthenticated", "DPoP.header.alg")


# -- Sender constraint over mutual TLS --------------------------------------------------------

MTLS_PARTNERS = ("kz-bank", "ru-bureau")


@dataclasses.dataclass(frozen=True)
class MtlsGateway:
    gateway: Gateway
    pki_dir: Path

    def wire(self, transport: str, partner_id: str) -> Wire:
        """A connection presenting ``partner_id``'s client certificate."""
        ca = self.pki_dir / "ca.pem"
        cert = self.pki_dir / "partners" / f"{partner_id}.pem"
        key = self.pki_dir / "partners" / f"{partner_id}-key.pem"
        if transport == "rest":
            context = ssl.create_default_context(cafile=str(ca))
            context.load_cert_chain(cert, key)
            return RestWire(f"https://127.0.0.1:{self.gateway.rest_port}", verify=context)
        credentials = grpc.ssl_channel_credentials(
            ca.read_bytes(), key.read_bytes(), cert.read_bytes()
        )
        return GrpcWire(f"127.0.0.1:{self.gateway.grpc_port}", credentials)


@pytest.fixture
def mtls(settings: Settings, tmp_path: Path) -> Iterator[MtlsGateway]:
    """A gateway serving mutual TLS only, with a registered certificate for each MTLS_PARTNERS."""
    pki_dir = tmp_path / "pki"
    pki.init_ca(pki_dir)
    pki.issue_server_certificate(pki_dir)
    issued = {pid: pki.issue_partner_certificate(pki_dir, pid) for pid in MTLS_PARTNERS}
    running = Gateway(dataclasses.replace(settings, tls_dir=pki_dir))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    for partner_id, certificate in issued.items():
        running.partners.add_certificate(partner_id, certificate.cert_path.read_bytes())
    running.start()
    yield MtlsGateway(running, pki_dir)
    running.stop()


@pytest.mark.parametrize(
    ("binding", "field"),
    [("certificate", "authorization"), ("dpop", "client_certificate")],
    ids=["certificate-bound", "dpop-bound"],
)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_token_over_another_partners_certificate(
    mtls: MtlsGateway,
    partners: dict[str, TestPartner],
    transport: str,
    binding: str,
    field: str,
) -> None:
    token_wire = mtls.wire("rest", "kz-bank")
    own, other = (mtls.wire(transport, pid) for pid in MTLS_PARTNERS)
    try:
        assert isinstance(token_wire, RestWire)
        dpop = DpopClient() if binding == "dpop" else None
        token = obtain_token(token_wire.http, partners["kz-bank"], dpop)
        assert call(own, search_profiles(), token).ok
        assert_refused(call(other, search_profiles(), token), "unauthenticated", field)
    finally:
        for wire in (token_wire, own, other):
            wire.close()


# -- Roles and purposes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation", [list_partners(), suspend_partner("ru-bureau")], ids=lambda c: c.operation
)
def test_bank_calls_an_admin_operation(
    gateway: Gateway, wire: Wire, login: Login, operation: Call
) -> None:
    assert_refused(call(wire, operation, login("kz-bank")), "permission-denied")
    assert gateway.partners.show("ru-bureau").partner.active


def test_sme_portal_publishes_a_profile(
    gateway: Gateway, wire: Wire, login: Login, partners: dict[str, TestPartner]
) -> None:
    portal = partners["sme-portal"]
    reply = call(wire, publish_profile(portal.sign(other_company())), login(portal.id))
    assert_refused(reply, "permission-denied")
    lookup = pb.GetProfileRequest(purpose="credit_reporting")
    lookup.id.scheme, lookup.id.value = "KZ_BIN", KZ_BIN
    with pytest.raises(NotFound):
        gateway.exchange.get_profile(lookup, partners["ru-bureau"].as_partner())


@pytest.mark.parametrize(
    ("purpose", "caller", "view", "leaks"),
    [
        ("customs_clearance", "cn-customs", "customs", (TAX_RATING, TAX_AUTHORITY)),
        (
            "trade_due_diligence",
            "kz-bank",
            "summary",
            (TAX_RATING, TAX_AUTHORITY, CUSTOMS_AUTHORITY, STREET),
        ),
    ],
)
def test_field_outside_the_purpose_never_appears(
    wire: Wire,
    rest: RestWire,
    login: Login,
    published: str,
    purpose: str,
    caller: str,
    view: str,
    leaks: tuple[str, ...],
) -> None:
    reply = call(wire, get_profile(published, purpose), login(caller))
    assert reply.ok, reply
    shown, jws = reply.body["profile"], reply.body["jws"]
    # The gateway signed the minimized profile itself: verify it as a partner would.
    keys = jc_jwk.JWKSet.from_json(rest.http.get("/.well-known/jwks.json").text)
    verified = jc_jws.JWS()
    verified.deserialize(jws)
    verified.verify(keys)
    header, payload = jws_parts(jws)
    assert header["view"] == view
    assert payload == shown
    for document in (shown, payload):
        assert "ratings" not in document
        if view == "customs":
            assert {r["authorityType"] for r in document["publicRecords"]} == {
                "AUTHORITY_TYPE_CUSTOMS"
            }
            assert document["subject"]["address"]["street"] == STREET
        else:
            assert "publicRecords" not in document and "address" not in document["subject"]
    for secret in leaks:
        assert secret.encode() not in reply.raw


# -- Consent ----------------------------------------------------------------------------------


def test_access_without_consent(wire: Wire, login: Login, published: str) -> None:
    reply = call(wire, get_profile(published, "credit_assessment"), login("kz-bank"))
    assert_refused(reply, "permission-denied", "consent")
    assert TAX_AUTHORITY.encode() not in reply.raw


def test_access_after_consent_was_revoked(wire: Wire, login: Login, published: str) -> None:
    portal, bank = login("sme-portal"), login("kz-bank")
    granted = call(wire, grant_consent(consent_request()), portal)
    assert granted.ok, granted
    consent = granted.body["name"]
    assert granted.body["grantedBy"] == "sme-portal"
    read = get_profile(published, "credit_assessment", consent)
    allowed = call(wire, read, bank)
    assert allowed.ok and allowed.body["profile"]["ratings"], allowed
    assert call(wire, revoke_consent(consent), portal).ok
    assert_refused(call(wire, read, bank), "permission-denied", "consent")


# -- Other partners' object ids ---------------------------------------------------------------


@pytest.fixture
def other_portal(gateway: Gateway) -> TestPartner:
    portal = TestPartner("other-portal", "KZ", ("sme_portal",), SigningKey.generate("EdDSA"))
    gateway.partners.register(portal.as_partner(), [portal.key.public_jwk()])
    return portal


@pytest.mark.parametrize("probe", [get_consent, revoke_consent], ids=["get", "revoke"])
def test_probing_another_partners_consent_id(
    wire: Wire,
    rest: RestWire,
    login: Login,
    published: str,
    other_portal: TestPartner,
    probe: Callable[[str], Call],
) -> None:
    owner = login("sme-portal")
    consent = call(wire, grant_consent(consent_request()), owner).body["name"]
    prober = obtain_token(rest.http, other_portal, DpopClient())

    def answer(reply: Reply) -> tuple[Any, ...]:
        return reply.status, reply.problem, reply.field, reply.detail

    theirs = call(wire, probe(consent), prober)
    assert_refused(theirs, "not-found")
    assert answer(theirs) == answer(call(wire, probe(f"consents/{uuid.uuid4().hex}"), prober))
    unchanged = call(wire, get_consent(consent), owner)
    assert unchanged.body["state"] == "CONSENT_STATE_ACTIVE" and "revokeTime" not in unchanged.body


# -- Mass assignment --------------------------------------------------------------------------


def test_publish_setting_name_and_version_is_ignored(
    wire: Wire, login: Login, partners: dict[str, TestPartner], published: str
) -> None:
    """The gateway assigns name and version: a payload naming another profile makes a new one."""
    bank = partners["kz-bank"]
    document = other_company() | {"name": published, "version": 7}
    receipt = call(wire, publish_profile(bank.sign(document)), login(bank.id))
    assert receipt.ok, receipt
    assert receipt.body["profileName"] != published and int(receipt.body["version"]) == 1
    assert versions(wire, login, published) == [1]


def test_publish_naming_another_source_institution(
    wire: Wire, login: Login, partners: dict[str, TestPartner]
) -> None:
    bank = partners["kz-bank"]
    document = other_company() | {"provenance": {"sourceInstitution": "ru-bureau"}}
    reply = call(wire, publish_profile(bank.sign(document)), login(bank.id))
    assert_refused(reply, "invalid-argument", "/provenance/sourceInstitution")
    assert call(wire, search_profiles(), login(bank.id)).body.get("results") is None


@pytest.mark.parametrize("member", ["grantedBy", "granted_by"])
def test_consent_grant_setting_granted_by(
    rest: RestWire, login: Login, published: str, member: str
) -> None:
    # REST only: a gRPC request message has no such field to set.
    request = consent_request()
    body = dict(grant_consent(request).body or {})
    reply = call(rest, grant_consent(request, body | {member: "kz-bank"}), login("sme-portal"))
    assert_refused(reply, "invalid-argument", "body")
    assert member in reply.detail
    listing = call(rest, list_consents(), login("sme-portal"))
    assert listing.body.get("consents") is None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"status": "suspended"}, "partner.status"),
        ({"keys": [{"kid": "smuggled", "alg": "EdDSA", "status": "active"}]}, "partner.keys"),
    ],
    ids=["status", "keys"],
)
def test_register_partner_setting_status_or_keys(
    gateway: Gateway,
    wire: Wire,
    login: Login,
    partners: dict[str, TestPartner],
    extra: dict[str, Any],
    field: str,
) -> None:
    newcomer = SigningKey.generate("EdDSA")
    partner = {"id": "new-bank", "displayName": "New bank", "country": "KZ", "roles": ["bank"]}
    body = {"partner": partner | extra, "jwks": [newcomer.public_jwk()]}
    reply = call(wire, register_partner(body), login("cxg-operator"))
    assert_refused(reply, "invalid-argument", field)
    reached_nobody(gateway, list(partners))


def test_new_version_of_a_profile_another_partner_published(
    wire: Wire, login: Login, partners: dict[str, TestPartner], published: str
) -> None:
    bank = partners["kz-bank"]
    reply = call(wire, publish_profile(bank.sign(rich_profile())), login(bank.id))
    assert_refused(reply, "permission-denied", "/subject/ids")
    assert versions(wire, login, published) == [1]


# -- Quotas -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quota", "reason"),
    [
        (Quota(requests_per_second=1, burst=2), "rate limit"),
        (Quota(daily_requests=2), "daily quota"),
    ],
    ids=["rate", "daily"],
)
def test_quota_exceeded(
    gateway: Gateway, wire: Wire, login: Login, quota: Quota, reason: str
) -> None:
    bank = login("kz-bank")  # the token endpoint is not charged
    gateway.partners.set_quota("kz-bank", quota)
    assert [call(wire, search_profiles(), bank).ok for _ in range(2)] == [True, True]
    refused = call(wire, search_profiles(), bank)
    assert_refused(refused, "quota-exceeded")
    assert reason in refused.detail
    assert refused.retry_after is not None and refused.retry_after >= 1


# -- The refusal log --------------------------------------------------------------------------


def refusals_seen_by_the_operator(
    gateway: Gateway, wires: dict[str, Wire], login: Login
) -> set[tuple[str, str, str, str]]:
    """(partner, operation, reason, transport) of every refusal, as listed on both transports;
    the two listings must agree."""
    gateway.refusals.flush()
    operator = login("cxg-operator")
    listings = [call(wire, list_refusals(), operator) for wire in wires.values()]
    seen = [
        {
            (r.get("partnerId", ""), r["operation"], r["reason"], r["transport"])
            for r in listing.body["refusals"]
        }
        for listing in listings
    ]
    assert seen[0] == seen[1]
    return seen[0]


def test_every_refusal_is_recorded(
    gateway: Gateway, wires: dict[str, Wire], rest: RestWire, login: Login, published: str
) -> None:
    expected = set()
    for transport, wire in wires.items():
        call(wire, search_profiles(), Token("forged", None))
        call(wire, get_profile(published, "credit_assessment"), login("kz-bank"))
        expected |= {
            ("", "SearchProfiles", "unauthenticated", transport),
            ("kz-bank", "GetProfile", "permission-denied", transport),
        }
    request_token(rest.http, "not.a.jws", DpopClient())
    expected.add(("", "CreateToken", "unauthenticated", "rest"))
    assert expected <= refusals_seen_by_the_operator(gateway, wires, login)


def test_refusal_at_admission_names_its_caller(
    gateway: Gateway, wires: dict[str, Wire], login: Login
) -> None:
    bureau = login("ru-bureau")  # a live token, then the suspension
    gateway.partners.suspend("ru-bureau")
    for wire in wires.values():
        call(wire, list_partners(), login("kz-bank"))
        call(wire, search_profiles(), bureau)
    seen = refusals_seen_by_the_operator(gateway, wires, login)
    assert {
        (caller, operation, "permission-denied", transport)
        for caller, operation in (("kz-bank", "ListPartners"), ("ru-bureau", "SearchProfiles"))
        for transport in TRANSPORTS
    } <= seen


# -- The way in -------------------------------------------------------------------------------


def test_partner_client_calls_both_transports(
    wire: Wire, login: Login, partners: dict[str, TestPartner], published: str
) -> None:
    """The jwcrypto client gets a token and is served, as a reader and as an operator."""
    read = call(wire, get_profile(published, "credit_reporting"), login("ru-bureau"))
    assert read.ok and read.body["profile"]["name"] == published, read
    listing = call(wire, list_partners(), login("cxg-operator"))
    assert listing.ok, listing
    assert {p["id"] for p in listing.body["partners"]} == set(partners)


# -- Where a request was sent: the gateway's own origins, never the request's word -------------

EVIL = "evil.example"
# The ways a request can describe the URL it was sent to; each is a lie in these tests.
SPOOFS = {
    "host": ("http", {"Host": EVIL}),
    "x-forwarded": ("https", {"X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "https"}),
    "forwarded": ("https", {"Forwarded": f"host={EVIL};proto=https"}),
}
PROXY = "https://cxg.example.org"  # an origin the operator allows (CXG_ALLOWED_ORIGINS)


def token_form(client_assertion: str, **fields: Any) -> dict[str, Any]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
    } | fields


def assert_oauth_refusal(response: Any, status: int, error: str, field: str) -> None:
    """An RFC 6749 section 5.2 error naming ``field``, with a challenge when it is a 401."""
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error"], body.get("field")) == (error, field), body
    assert "access_token" not in body
    if status == 401:
        assert response.headers["www-authenticate"].startswith("DPoP "), response.headers


@pytest.mark.parametrize("spoof", list(SPOOFS))
def test_dpop_proof_for_the_host_the_request_names(
    rest: RestWire, login: Login, spoof: str
) -> None:
    scheme, headers = SPOOFS[spoof]
    request = search_profiles()
    forged = login("kz-bank").headers(rest, request, htu=f"{scheme}://{EVIL}{request.path}")
    assert_refused(rest.send(request, forged | headers), "unauthenticated", "DPoP.claims.htu")


@pytest.mark.parametrize("spoof", list(SPOOFS))
def test_token_request_proof_for_the_host_the_request_names(
    rest: RestWire, partners: dict[str, TestPartner], spoof: str
) -> None:
    scheme, headers = SPOOFS[spoof]
    proof = DpopClient().proof("POST", f"{scheme}://{EVIL}/oauth2/token")
    response = rest.http.post(
        "/oauth2/token",
        data=token_form(assertion(partners["ru-bureau"])),
        headers={"DPoP": proof} | headers,
    )
    assert_oauth_refusal(response, 401, "invalid_client", "DPoP.claims.htu")
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]


def test_grpc_proof_for_the_authority_the_call_names(gateway: Gateway, login: Login) -> None:
    """gRPC's Host is :authority; the htu of a call stays the gateway id's, whatever it says."""
    wire = GrpcWire(f"127.0.0.1:{gateway.grpc_port}", authority=EVIL)
    try:
        request, token = search_profiles(), login("kz-bank")
        forged = call(wire, request, token, htu=f"https://{EVIL}{request.grpc_method}")
        assert_refused(forged, "unauthenticated", "DPoP.claims.htu")
        assert call(wire, request, token).ok
    finally:
        wire.close()


@pytest.mark.parametrize("spoof", list(SPOOFS))
def test_a_proof_for_the_gateways_own_origin_is_accepted_whatever_the_request_says(
    rest: RestWire, login: Login, partners: dict[str, TestPartner], spoof: str
) -> None:
    """The origin match alone decides: a lie in Host or Forwarded neither helps nor hurts."""
    _, headers = SPOOFS[spoof]
    reply = rest.send(
        search_profiles(), login("kz-bank").headers(rest, search_profiles()) | headers
    )
    assert reply.ok, reply
    url = f"{rest.http.base_url}".rstrip("/") + "/oauth2/token"
    response = rest.http.post(
        "/oauth2/token",
        data=token_form(assertion(partners["ru-bureau"])),
        headers={"DPoP": DpopClient().proof("POST", url)} | headers,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def proxied(settings: Settings) -> Iterator[Gateway]:
    """A gateway reached directly and through a proxy at PROXY."""
    running = Gateway(dataclasses.replace(settings, allowed_origins=(PROXY,)))
    PartnerAdmin(running.db).import_files(settings.partners_dir)
    running.start()
    yield running
    running.stop()


def test_allowed_origins_are_accepted_and_no_other(
    proxied: Gateway, partners: dict[str, TestPartner]
) -> None:
    rest = RestWire(f"http://127.0.0.1:{proxied.rest_port}")
    grpc_wire = GrpcWire(f"127.0.0.1:{proxied.grpc_port}")
    try:
        dpop = DpopClient()
        token_proof = dpop.proof("POST", f"{PROXY}/oauth2/token")
        response = rest.http.post(
            "/oauth2/token",
            data=token_form(assertion(partners["kz-bank"])),
            headers={"DPoP": token_proof, "Host": "cxg.example.org"},
        )
        assert response.status_code == 200, response.text
        token = Token(response.json()["access_token"], dpop)
        request = search_profiles()
        for origin in (PROXY, f"http://localhost:{proxied.rest_port}"):
            assert call(rest, request, token, htu=origin + request.path).ok
        for origin in (f"{PROXY}.{EVIL}", "http://cxg.example.org", f"{PROXY}:8443"):
            reply = call(rest, request, token, htu=origin + request.path)
            assert_refused(reply, "unauthenticated", "DPoP.claims.htu")
        # A gRPC call still names the gateway id, not a REST origin.
        reply = call(grpc_wire, request, token, htu=PROXY + request.grpc_method)
        assert_refused(reply, "unauthenticated", "DPoP.claims.htu")
    finally:
        rest.close()
        grpc_wire.close()


# -- One credential of each kind per request --------------------------------------------------


@pytest.mark.parametrize(("name", "field"), [("DPoP", "DPoP"), ("Authorization", "authorization")])
def test_credential_header_sent_twice(wire: Wire, login: Login, name: str, field: str) -> None:
    token, request = login("kz-bank"), search_profiles()
    first, second = token.headers(wire, request), token.headers(wire, request)
    pairs = [*first.items(), (name, second[name])]
    assert_refused(wire.send(request, pairs), "unauthenticated", field)
    assert wire.send(request, first).ok  # refused before any proof was used up


def test_token_request_with_two_dpop_proofs(
    rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    url = f"{rest.http.base_url}".rstrip("/") + "/oauth2/token"
    proofs = [("DPoP", DpopClient().proof("POST", url)) for _ in range(2)]
    response = rest.http.post(
        "/oauth2/token", data=token_form(assertion(partners["ru-bureau"])), headers=proofs
    )
    assert_oauth_refusal(response, 401, "invalid_client", "DPoP")


# -- Times a JWT states ------------------------------------------------------------------------


# Claims by the time the request is made: a case list is built long before some cases run.


@pytest.mark.parametrize(
    ("claims", "field"),
    [
        (lambda now: {"nbf": now + 61}, "client_assertion.nbf"),
        (lambda now: {"nbf": str(now)}, "client_assertion.nbf"),
        (lambda now: {"nbf": True}, "client_assertion.nbf"),
    ],
    ids=["nbf-61s-in-the-future", "nbf-a-string", "nbf-a-boolean"],
)
def test_assertion_not_yet_valid(
    rest: RestWire, partners: dict[str, TestPartner], claims: Claims, field: str
) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
    assert_no_token(rest, assertion(bureau, jti=jti, **claims(int(time.time()))), field)
    assert_jti_unused(rest, bureau, jti)


@pytest.mark.parametrize(
    ("claims", "field"),
    [
        (lambda now: {"nbf": now + 61}, "DPoP.claims.nbf"),
        (lambda now: {"exp": now - 1}, "DPoP.claims.exp"),
    ],
    ids=["nbf-61s-in-the-future", "expired"],
)
def test_dpop_proof_outside_the_times_it_states(
    wire: Wire, login: Login, claims: Claims, field: str
) -> None:
    proof = claims(int(time.time()))
    assert_refused(
        call(wire, search_profiles(), login("kz-bank"), **proof), "unauthenticated", field
    )


# -- client_id at the token endpoint -----------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "status", "error"),
    [
        ("kz-bank", 401, "invalid_client"),
        ("", 401, "invalid_client"),
        (["ru-bureau", "ru-bureau"], 400, "invalid_request"),
        (["ru-bureau", "kz-bank"], 400, "invalid_request"),
    ],
    ids=["another-partner", "empty", "twice-the-same", "twice-different"],
)
def test_client_id_that_is_not_the_assertions_subject(
    rest: RestWire,
    partners: dict[str, TestPartner],
    client_id: str | list[str],
    status: int,
    error: str,
) -> None:
    url = f"{rest.http.base_url}".rstrip("/") + "/oauth2/token"
    response = rest.http.post(
        "/oauth2/token",
        data=token_form(assertion(partners["ru-bureau"]), client_id=client_id),
        headers={"DPoP": DpopClient().proof("POST", url)},
    )
    assert_oauth_refusal(response, status, error, "client_id")


def test_client_id_of_the_assertions_subject_is_accepted(
    rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    url = f"{rest.http.base_url}".rstrip("/") + "/oauth2/token"
    response = rest.http.post(
        "/oauth2/token",
        data=token_form(assertion(partners["ru-bureau"]), client_id="ru-bureau"),
        headers={"DPoP": DpopClient().proof("POST", url)},
    )
    assert response.status_code == 200, response.text


def test_any_token_parameter_sent_twice(rest: RestWire, partners: dict[str, TestPartner]) -> None:
    url = f"{rest.http.base_url}".rstrip("/") + "/oauth2/token"
    response = rest.http.post(
        "/oauth2/token",
        data=token_form(assertion(partners["ru-bureau"]), scope=["a", "b"]),
        headers={"DPoP": DpopClient().proof("POST", url)},
    )
    assert_oauth_refusal(response, 400, "invalid_request", "scope")


def test_a_query_parameter_sent_twice(rest: RestWire, login: Login, published: str) -> None:
    """The purpose decides what is shown: a second one is refused, not silently preferred."""
    once = get_profile(published, "credit_reporting")
    query = "?purpose=credit_reporting&purpose=trade_due_diligence"
    twice = dataclasses.replace(once, path=once.path + query, params={})
    token = login("ru-bureau")
    assert rest.send(once, token.headers(rest, once)).ok
    assert_refused(rest.send(twice, token.headers(rest, twice)), "invalid-argument", "purpose")


# -- Challenges and schemes --------------------------------------------------------------------

CHALLENGE = re.compile(r"(?P<scheme>[A-Za-z]+)(?: (?P<params>.*))?")
PARAM = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def challenge_of(reply: Reply) -> tuple[str, dict[str, str]]:
    match = CHALLENGE.fullmatch(reply.challenge or "")
    assert match, reply
    return match["scheme"], dict(PARAM.findall(match["params"] or ""))


def test_every_401_says_how_to_authenticate(rest: RestWire, login: Login) -> None:
    """RFC 6750 section 3 and RFC 9449 section 7.1: WWW-Authenticate, with the error once the
    request carried credentials, and the algorithms a DPoP proof may use."""
    request, algs = search_profiles(), "EdDSA ES256"
    assert challenge_of(rest.send(request, {})) == ("DPoP", {"algs": algs})
    scheme, params = challenge_of(rest.send(request, {"Authorization": "DPoP forged"}))
    assert (scheme, params["error"], params["algs"]) == ("DPoP", "invalid_token", algs)
    assert params["error_description"]
    bearer = challenge_of(call(rest, request, Token("forged", None)))
    assert bearer[0] == "Bearer" and bearer[1]["error"] == "invalid_token"
    token = login("kz-bank")
    stale = token.headers(rest, request, iat=int(time.time()) - 3600)
    scheme, params = challenge_of(rest.send(request, stale))
    assert (scheme, params["error"]) == ("DPoP", "invalid_dpop_proof")
    assert "in the past" in params["error_description"]


@pytest.mark.parametrize("scheme", ["dpop", "DPOP", "DPoP  "], ids=["lower", "upper", "spaces"])
def test_auth_scheme_is_case_insensitive(wire: Wire, login: Login, scheme: str) -> None:
    token, request = login("kz-bank"), search_profiles()
    headers = token.headers(wire, request) | {"Authorization": f"{scheme} {token.value}"}
    reply = wire.send(request, headers)
    assert reply.ok, reply


# -- Explicit typing: one kind of signed object never passes for another -----------------------


@pytest.mark.parametrize(
    "typ", ["at+jwt", "dpop+jwt", "cxg-publish+jws", "cxg-profile+jws", "JOSE"]
)
def test_assertion_of_another_type(
    rest: RestWire, partners: dict[str, TestPartner], typ: str
) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
    header = {"alg": bureau.key.alg, "kid": bureau.key.kid, "typ": typ}
    forged = signed(header, assertion_claims(bureau.id, jti=jti), bureau.key)
    assert_no_token(rest, forged, "client_assertion.header.typ")
    assert_jti_unused(rest, bureau, jti)


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt"])
def test_assertion_typed_jwt_is_accepted(
    rest: RestWire, partners: dict[str, TestPartner], typ: str
) -> None:
    bureau = partners["ru-bureau"]
    header = {"alg": bureau.key.alg, "kid": bureau.key.kid, "typ": typ}
    typed = signed(header, assertion_claims(bureau.id), bureau.key)
    assert request_token(rest.http, typed, DpopClient()).status_code == 200


def test_a_publication_replayed_as_a_client_assertion(
    rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    bureau = partners["ru-bureau"]
    publication = bureau.sign(json.dumps(assertion_claims(bureau.id)).encode())
    assert_no_token(rest, publication, "client_assertion.header.typ")


def test_a_client_assertion_replayed_as_a_publication(
    gateway: Gateway, wire: Wire, login: Login, partners: dict[str, TestPartner]
) -> None:
    bank = partners["kz-bank"]
    reply = call(wire, publish_profile(assertion(bank)), login(bank.id))
    assert_refused(reply, "unauthenticated", "jws.header.typ")


# -- Nesting bombs: JSON from outside is bounded, and refused by the field it came in -----------

DEEP = 5_000  # past Python's recursion limit (1,000), and within every length cap
BOMB = deep_json(DEEP, closed=False)  # for headers, capped at 8 KiB


def test_deep_assertion_header(rest: RestWire, partners: dict[str, TestPartner]) -> None:
    forged = with_header_bytes(BOMB, assertion(partners["ru-bureau"]))
    assert_no_token(rest, forged, "client_assertion.header")


def test_deep_assertion_claims(rest: RestWire, partners: dict[str, TestPartner]) -> None:
    bureau = partners["ru-bureau"]
    forged = signed({"alg": bureau.key.alg, "kid": bureau.key.kid}, deep_json(DEEP), bureau.key)
    assert_no_token(rest, forged, "client_assertion.claims")


def test_deep_dpop_proof_header(wire: Wire, login: Login) -> None:
    headers = login("kz-bank").headers(wire, search_profiles())
    headers["DPoP"] = with_header_bytes(BOMB, headers["DPoP"])
    assert_refused(wire.send(search_profiles(), headers), "unauthenticated", "DPoP.header")


def test_deep_dpop_proof_header_at_the_token_endpoint(
    rest: RestWire, partners: dict[str, TestPartner]
) -> None:
    url = f"{rest.http.base_url}".rstrip("/") + "/oauth2/token"
    proof = with_header_bytes(BOMB, DpopClient().proof("POST", url))
    response = rest.http.post(
        "/oauth2/token", data=token_form(assertion(partners["ru-bureau"])), headers={"DPoP": proof}
    )
    assert_oauth_refusal(response, 401, "invalid_client", "DPoP.header")


def test_deep_access_token_header(wire: Wire, login: Login) -> None:
    genuine = login("kz-bank")
    forged = Token(with_header_bytes(BOMB, genuine.value), genuine.dpop)
    assert_refused(call(wire, search_profiles(), forged), "unauthenticated", "authorization")


@pytest.mark.parametrize(
    ("part", "problem", "field"),
    [("header", "unauthenticated", "jws.header"), ("payload", "invalid-argument", "jws.payload")],
)
def test_deep_publication(
    wire: Wire,
    login: Login,
    partners: dict[str, TestPartner],
    part: str,
    problem: str,
    field: str,
) -> None:
    bank = partners["kz-bank"]
    jws = (
        with_header_bytes(BOMB, bank.sign(other_company()))
        if part == "header"
        else bank.sign(deep_json(10_000))
    )
    assert_refused(call(wire, publish_profile(jws), login(bank.id)), problem, field)


@pytest.mark.parametrize(
    ("request_", "caller"),
    [
        (publish_profile("x"), "kz-bank"),
        (grant_consent(consent_request()), "sme-portal"),
        (
            Call(
                "VerifyScoCode",
                "ScoService",
                "POST",
                "/v1/scoCodes:verify",
                sco_pb.VerifyScoCodeRequest(),
                sco_pb.ScoVerification,
            ),
            None,
        ),
    ],
    ids=["publish", "grant-consent", "verify-sco-code-anonymously"],
)
def test_deep_json_body(rest: RestWire, login: Login, request_: Call, caller: str | None) -> None:
    bomb = dataclasses.replace(request_, body=deep_json(10_000))
    reply = call(rest, bomb, login(caller)) if caller else rest.send(bomb, {})
    assert_refused(reply, "invalid-argument", "body")
    assert "nested too deeply" in reply.detail


def test_nesting_bombs_are_recorded_as_refusals(
    gateway: Gateway,
    wires: dict[str, Wire],
    rest: RestWire,
    login: Login,
    partners: dict[str, TestPartner],
) -> None:
    bank = partners["kz-bank"]
    for wire in wires.values():
        call(wire, publish_profile(bank.sign(deep_json(10_000))), login(bank.id))
    assert_no_token(rest, with_header_bytes(BOMB, assertion(bank)), "client_assertion.header")
    gateway.refusals.flush()
    listing = call(rest, list_refusals(), login("cxg-operator"))
    seen = {
        (r.get("partnerId", ""), r["operation"], r["reason"], r.get("field"), r["transport"])
        for r in listing.body["refusals"]
    }
    assert {
        ("kz-bank", "PublishProfile", "invalid-argument", "jws.payload", "rest"),
        ("kz-bank", "PublishProfile", "invalid-argument", "jws.payload", "grpc"),
        ("", "CreateToken", "unauthenticated", "client_assertion.header", "rest"),
    } <= seen


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_deep_cbor_in_an_sco_code_is_malformed(wires: dict[str, Wire], transport: str) -> None:
    code = "SC1:" + base45.b45encode(zlib.compress(b"\x81" * 4_000 + b"\x00")).decode()
    request = sco_pb.VerifyScoCodeRequest(code=code)
    verify = Call(
        "VerifyScoCode",
        "ScoService",
        "POST",
        "/v1/scoCodes:verify",
        request,
        sco_pb.ScoVerification,
        body={"code": code},
    )
    reply = wires[transport].send(verify, {})
    assert reply.ok, reply
    assert reply.body["result"] == "MALFORMED"
    assert "nesting depth" in " ".join(reply.body["reasons"])
