"""Test doubles for the attack tests (tests/test_access.py).

``Call`` is one request of an operation as REST and gRPC each spell it; a wire (``RestWire``,
``GrpcWire``) sends it with whatever credentials a test hands it, forged or not, and answers a
``Reply`` that reads the same on both transports. ``Token`` is what a partner's client holds
after POST /oauth2/token. The JOSE helpers make, with jwcrypto, the objects an attacker would
send and the partner client in tests/partner_client.py never makes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import grpc
import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from jwcrypto import jwk as jc_jwk
from jwcrypto import jws as jc_jws

from gateway.schema.cxg.v1 import admin_service_pb2 as admin_pb
from gateway.schema.cxg.v1 import consent_service_pb2 as consent_pb
from gateway.schema.cxg.v1 import profile_service_pb2 as profile_pb
from gateway.schema.cxg.v1.profile_pb2 import EntityId
from gateway.signing import SigningKey
from tests.clients import ASSERTION_TYPE, grpc_outcome
from tests.partner_client import DpopClient, assertion
from tests.support import USCC, TestPartner, b64url, unsigned_jws

GATEWAY_ID = "cxg.qingdao.dev"  # Settings().gateway_id, as partners configure it
# Header fields as a wire sends them: a mapping, or (name, value) pairs when a name repeats.
Headers = Mapping[str, str] | Sequence[tuple[str, str]]
# What every 401 over REST says in WWW-Authenticate (RFC 6750 section 3, RFC 9449 section 7.1).
CHALLENGE_SCHEMES = ("DPoP ", "Bearer")

# How each transport answers a refusal, by problem slug. Written out here rather than read from
# gateway.transport.errors, so that a change to that table shows up as a failing test.
REFUSALS = {
    "invalid-argument": (400, "INVALID_ARGUMENT"),
    "unauthenticated": (401, "UNAUTHENTICATED"),
    "permission-denied": (403, "PERMISSION_DENIED"),
    "not-found": (404, "NOT_FOUND"),
    "quota-exceeded": (429, "RESOURCE_EXHAUSTED"),
}
# An RFC 9457 problem document carries these members (retry_after: the quota's extension) and
# nothing else: no data of the request.
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "field", "retry_after"})


# -- Calls ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of ``operation``: its REST route and its gRPC request message."""

    operation: str
    service: str  # gRPC service in cxg.v1
    http_method: str
    path: str
    request: Message
    response_type: type[Message]
    params: Mapping[str, Any] = field(default_factory=dict)
    # REST body, for routes that read one: JSON of a mapping, or bytes as they are
    body: Mapping[str, Any] | bytes | None = None

    @property
    def grpc_method(self) -> str:
        return f"/cxg.v1.{self.service}/{self.operation}"


def get_profile(name: str, purpose: str, consent: str = "") -> Call:
    params = {"purpose": purpose} | ({"consent": consent} if consent else {})
    request = profile_pb.GetProfileRequest(name=name, purpose=purpose, consent=consent)
    return Call(
        "GetProfile",
        "ProfileService",
        "GET",
        f"/v1/{name}",
        request,
        profile_pb.SignedProfile,
        params,
    )


def search_profiles() -> Call:
    return Call(
        "SearchProfiles",
        "ProfileService",
        "GET",
        "/v1/profiles:search",
        profile_pb.SearchProfilesRequest(),
        profile_pb.SearchProfilesResponse,
    )


def list_versions(name: str) -> Call:
    return Call(
        "ListProfileVersions",
        "ProfileService",
        "GET",
        f"/v1/{name}/versions",
        profile_pb.ListProfileVersionsRequest(name=name),
        profile_pb.ListProfileVersionsResponse,
    )


def publish_profile(jws: str) -> Call:
    return Call(
        "PublishProfile",
        "ProfileService",
        "POST",
        "/v1/profiles:publish",
        profile_pb.PublishProfileRequest(jws=jws),
        profile_pb.PublishReceipt,
        body={"jws": jws},
    )


def consent_request(grantee: str = "kz-bank", purpose: str = "credit_assessment") -> Message:
    request = consent_pb.GrantConsentRequest(
        subject=EntityId(scheme="CN_USCC", value=USCC), grantee=grantee, purpose=purpose
    )
    request.expire_time.FromDatetime(datetime.now(UTC) + timedelta(days=30))
    return request


def grant_consent(request: Message, body: Mapping[str, Any] | None = None) -> Call:
    """GrantConsent; ``body`` replaces the REST body the request message would make."""
    return Call(
        "GrantConsent",
        "ConsentService",
        "POST",
        "/v1/consents",
        request,
        consent_pb.Consent,
        body=json_format.MessageToDict(request) if body is None else body,
    )


def revoke_consent(name: str) -> Call:
    return Call(
        "RevokeConsent",
        "ConsentService",
        "POST",
        f"/v1/{name}:revoke",
        consent_pb.RevokeConsentRequest(name=name),
        consent_pb.Consent,
    )


def get_consent(name: str) -> Call:
    return Call(
        "GetConsent",
        "ConsentService",
        "GET",
        f"/v1/{name}",
        consent_pb.GetConsentRequest(name=name),
        consent_pb.Consent,
    )


def list_consents() -> Call:
    return Call(
        "ListConsents",
        "ConsentService",
        "GET",
        "/v1/consents",
        consent_pb.ListConsentsRequest(),
        consent_pb.ListConsentsResponse,
    )


def list_partners() -> Call:
    return Call(
        "ListPartners",
        "AdminService",
        "GET",
        "/v1/admin/partners",
        admin_pb.ListPartnersRequest(),
        admin_pb.ListPartnersResponse,
    )


def suspend_partner(partner_id: str) -> Call:
    return Call(
        "SuspendPartner",
        "AdminService",
        "POST",
        f"/v1/admin/partners/{partner_id}:suspend",
        admin_pb.PartnerRef(partner_id=partner_id),
        admin_pb.Partner,
    )


def register_partner(body: Mapping[str, Any]) -> Call:
    request = json_format.ParseDict(dict(body), admin_pb.RegisterPartnerRequest())
    return Call(
        "RegisterPartner",
        "AdminService",
        "POST",
        "/v1/admin/partners",
        request,
        admin_pb.Partner,
        body=body,
    )


def list_refusals() -> Call:
    return Call(
        "ListRefusals",
        "AdminService",
        "GET",
        "/v1/admin/refusals",
        admin_pb.ListRefusalsRequest(page_size=500),
        admin_pb.ListRefusalsResponse,
        params={"page_size": 500},
    )


# -- Replies ----------------------------------------------------------------------------------


@dataclass
class Reply:
    """A call's answer on either transport. ``status`` is the HTTP status or the gRPC code name;
    ``body`` the response message as proto3 JSON (REST: the problem document of a refusal)."""

    status: int | str
    body: dict[str, Any]
    raw: bytes = b""  # the response bytes as received, to search for leaked data
    problem: str | None = None
    field: str | None = None
    detail: str = ""
    retry_after: int | None = None  # REST Retry-After, gRPC RetryInfo
    challenge: str | None = None  # REST WWW-Authenticate

    @property
    def ok(self) -> bool:
        return self.problem is None


def assert_refused(reply: Reply, problem: str, field: str | None = None) -> None:
    """The exact refusal: status, problem slug and field (None: no field named), and no data."""
    http_status, grpc_code = REFUSALS[problem]
    expected_status = http_status if isinstance(reply.status, int) else grpc_code
    assert (reply.status, reply.problem, reply.field) == (expected_status, problem, field), reply
    if isinstance(reply.status, int):
        assert set(reply.body) <= PROBLEM_MEMBERS, reply.body
        if reply.status == 401:  # every 401 says how to authenticate
            assert (reply.challenge or "").startswith(CHALLENGE_SCHEMES), reply


def _rest_reply(response: httpx.Response) -> Reply:
    if response.is_success:
        return Reply(response.status_code, response.json(), response.content)
    assert response.headers["content-type"] == "application/problem+json", response.text
    problem = response.json()
    retry_after = response.headers.get("retry-after")
    return Reply(
        response.status_code,
        problem,
        response.content,
        problem=problem["type"].removeprefix("urn:cxg:problem:"),
        field=problem.get("field"),
        detail=problem.get("detail", ""),
        retry_after=int(retry_after) if retry_after is not None else None,
        challenge=response.headers.get("www-authenticate"),
    )


def _grpc_reply(exc: grpc.RpcError) -> Reply:
    outcome = grpc_outcome(exc)
    retry_after = None
    status = rpc_status.from_call(exc)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            retry_after = info.retry_delay.seconds
    return Reply(
        outcome.status,
        outcome.body,
        outcome.detail.encode(),
        problem=outcome.problem,
        field=outcome.field,
        detail=outcome.detail,
        retry_after=retry_after,
    )


# -- Wires ------------------------------------------------------------------------------------


class Wire(Protocol):
    name: str

    def target(self, call: Call) -> tuple[str, str]:
        """(method, URL) a DPoP proof for ``call`` names in htm and htu."""
        ...

    def send(self, call: Call, headers: Headers) -> Reply: ...

    def close(self) -> None: ...


class RestWire:
    name = "rest"

    def __init__(self, base_url: str, **options: Any) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, **options)

    def target(self, call: Call) -> tuple[str, str]:
        return call.http_method, str(self._request(call, {}).url).split("?")[0]

    def send(
        self, call: Call, headers: Headers, *, params: Mapping[str, Any] | None = None
    ) -> Reply:
        return _rest_reply(self.http.send(self._request(call, headers, params)))

    def _request(
        self, call: Call, headers: Headers, params: Mapping[str, Any] | None = None
    ) -> httpx.Request:
        return self.http.build_request(
            call.http_method,
            call.path,
            params={**call.params, **(params or {})},
            json=None if isinstance(call.body, bytes) else call.body,
            content=call.body if isinstance(call.body, bytes) else None,
            headers=[*_pairs(headers), *self._content_type(call)],
        )

    def close(self) -> None:
        self.http.close()

    @staticmethod
    def _content_type(call: Call) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json")] if isinstance(call.body, bytes) else []


class GrpcWire:
    name = "grpc"

    def __init__(
        self,
        target: str,
        credentials: grpc.ChannelCredentials | None = None,
        *,
        authority: str | None = None,
    ) -> None:
        """``authority``: the :authority the calls name (gRPC's Host), when not the target's."""
        options = [("grpc.default_authority", authority)] if authority else []
        self.channel = (
            grpc.secure_channel(target, credentials, options)
            if credentials
            else grpc.insecure_channel(target, options)
        )

    def target(self, call: Call) -> tuple[str, str]:
        return "POST", f"https://{GATEWAY_ID}{call.grpc_method}"

    def send(self, call: Call, headers: Headers) -> Reply:
        rpc = self.channel.unary_unary(
            call.grpc_method, request_serializer=lambda m: m.SerializeToString()
        )  # no response deserializer: the bytes as sent
        metadata = tuple((name.lower(), value) for name, value in _pairs(headers))
        try:
            raw = rpc(call.request, timeout=30, metadata=metadata)
        except grpc.RpcError as exc:
            return _grpc_reply(exc)
        body = json_format.MessageToDict(call.response_type.FromString(raw))
        return Reply("OK", body, raw)

    def close(self) -> None:
        self.channel.close()


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    return list(headers.items() if isinstance(headers, Mapping) else headers)


# -- Tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """An access token as the partner's client holds it: DPoP-bound to ``dpop``'s key, or
    bound to the client certificate of its connection when ``dpop`` is None."""

    value: str
    dpop: DpopClient | None

    def headers(self, wire: Wire, call: Call, **proof: Any) -> dict[str, str]:
        """The token and a fresh proof for exactly this call; ``proof`` overrides its claims."""
        if self.dpop is None:
            return {"Authorization": f"Bearer {self.value}"}
        method, url = wire.target(call)
        return {
            "Authorization": f"DPoP {self.value}",
            "DPoP": self.dpop.proof(method, url, self.value, **proof),
        }


def call(wire: Wire, request: Call, token: Token, **proof: Any) -> Reply:
    """``request`` as the token's holder sends it."""
    return wire.send(request, token.headers(wire, request, **proof))


def request_token(
    http: httpx.Client, client_assertion: str, dpop: DpopClient | None
) -> httpx.Response:
    """POST /oauth2/token on ``http``'s gateway, with a DPoP proof when ``dpop`` is given."""
    url = f"{http.base_url}".rstrip("/") + "/oauth2/token"
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
    }
    headers = {"DPoP": dpop.proof("POST", url)} if dpop else {}
    return http.post("/oauth2/token", data=form, headers=headers)


def obtain_token(
    http: httpx.Client, partner: TestPartner, dpop: DpopClient | None = None, **claims: Any
) -> Token:
    response = request_token(http, assertion(partner, **claims), dpop)
    assert response.status_code == 200, response.text
    return Token(response.json()["access_token"], dpop)


# -- Forged JOSE objects ----------------------------------------------------------------------


def assertion_claims(partner_id: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": partner_id,
        "sub": partner_id,
        "aud": GATEWAY_ID,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    return claims | overrides


def signed(header: dict[str, Any], claims: dict[str, Any] | bytes, key: SigningKey) -> str:
    """A compact JWS with exactly ``header`` as protected header, signed by jwcrypto; ``claims``
    as bytes are the payload as is (e.g. JSON no library would write)."""
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    token = jc_jws.JWS(payload)
    token.add_signature(
        jc_jwk.JWK.from_pem(key.private_pem()), alg=header["alg"], protected=json.dumps(header)
    )
    return str(token.serialize(compact=True))


def alg_none(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return unsigned_jws(header | {"alg": "none"}, json.dumps(claims).encode())


def hs256_with_public_key(header: dict[str, Any], claims: dict[str, Any], public_pem: bytes) -> str:
    """The algorithm-confusion forgery: HMAC-SHA256 keyed with the verifier's public key."""
    header = header | {"alg": "HS256"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def public_pem(jwk: Mapping[str, Any]) -> bytes:
    return bytes(jc_jwk.JWK(**jwk).export_to_pem())


def with_bad_signature(jws: str) -> str:
    header, payload, signature = jws.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def jws_parts(jws: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(protected header, payload) of a compact JWS, unverified."""
    header, payload = (
        json.loads(base64.urlsafe_b64decode(part + "==")) for part in jws.split(".")[:2]
    )
    return header, payload


def deep_json(depth: int, *, closed: bool = True) -> bytes:
    """A JSON object whose member ``a`` nests arrays ``depth`` deep (unclosed: the way an attacker
    saves bytes where a length is capped; a parser recurses just as deep before it notices)."""
    return b'{"a":' + b"[" * depth + (b"]" * depth + b"}" if closed else b"")


def with_header_bytes(header: bytes, jws: str) -> str:
    """``jws`` with its protected header replaced by exactly ``header`` (the signature no longer
    verifies; the header is refused before that is checked)."""
    _, payload, signature = jws.split(".")
    return f"{b64url(header)}.{payload}.{signature}"
