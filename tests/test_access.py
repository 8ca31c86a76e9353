"""Attacks on authentication and authorization, against a real gateway on both transports.

Each test is named after the attack. It asserts the exact refusal (status, problem slug, field)
and that the attack stored nothing and leaked nothing. Credentials are made with jwcrypto, as a
partner's own software or an attacker would make them (tests/attacks.py, tests/partner_client.py).
The token endpoint is REST only, so client-assertion attacks run there; every other attack runs
on REST and gRPC alike.
"""

from __future__ import annotations

import dataclasses
import ssl
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from gateway.config import Settings
from gateway.errors import NotFound
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
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


@pytest.mark.parametrize(
    ("claims", "field"),
    [
        ({"exp": int(time.time()) - 1}, "client_assertion.exp"),
        ({"iat": int(time.time()) + 61}, "client_assertion.iat"),
        ({"aud": "cxg.almaty.dev"}, "client_assertion.aud"),
    ],
    ids=["expired-assertion", "iat-61s-in-the-future", "aud-of-another-gateway"],
)
def test_assertion_with_bad_claims(
    rest: RestWire, partners: dict[str, TestPartner], claims: dict[str, Any], field: str
) -> None:
    bureau, jti = partners["ru-bureau"], uuid.uuid4().hex
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
