"""The gateway's own minimal partner client, kept for ``cxg audit witness`` (co-signing needs
the gateway's note and witness code) and the benchmarks' DPoP proofs. Partners, and ``cxg client``,
use the partner SDK instead (clients/python, ``cxg_client``).

It authenticates the way every partner must: a ``private_key_jwt`` client assertion signed with
the partner's registered key buys a DPoP-bound access token at ``/oauth2/token``; each call then
carries the token and a fresh DPoP proof from a key pair that lives only in this client. REST
profiles are verified the way any outside verifier must: with the gateway's published JWKS only,
the key's own ``alg`` deciding the algorithm.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import grpc
import jwt
from google.protobuf import json_format
from google.protobuf.message import Message

from gateway.audit import note
from gateway.audit.witness import Seen, witness
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.schema.cxg.v1 import profile_service_pb2_grpc as pb_grpc
from gateway.schema.cxg.v1.audit_service_pb2 import Checkpoint
from gateway.signing import SigningKey

_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientError(Exception):
    """A call failed; the message carries the gateway's own explanation."""


class DpopKey:
    """A client's DPoP key pair (ES256), which lives only in the client, and the proofs it signs
    (RFC 9449: a new ``jti`` each, the request's method and URL, ``ath`` binding the token)."""

    def __init__(self) -> None:
        self._key = SigningKey.generate("ES256")
        public = self._key.public_jwk()
        self._headers = {
            "typ": "dpop+jwt",
            "jwk": {k: v for k, v in public.items() if k in ("kty", "crv", "x", "y")},
        }

    def proof(self, method: str, url: str, token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if token:
            digest = hashlib.sha256(token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return jwt.encode(claims, self._key.private_key, algorithm="ES256", headers=self._headers)


class PartnerClient:
    """Calls one gateway as one partner, over REST or gRPC."""

    def __init__(self, partner_id: str, key: SigningKey, *, gateway_id: str, rest_url: str) -> None:
        self.partner_id = partner_id
        self._key = key
        self._gateway_id = gateway_id
        self._rest = rest_url.rstrip("/")
        self._dpop = DpopKey()
        self._token = ""
        self._expires = 0.0

    def sign_profile(self, profile_json: bytes) -> str:
        """A profile publication: the proto3 JSON signed with the partner's key, typed as a
        publication (``cxg-publish+jws``; what the gateway serves is ``cxg-profile+jws``)."""
        return self._key.sign_jws(profile_json, {"typ": "cxg-publish+jws"})

    # -- calls -----------------------------------------------------------------------------------

    def get_verified_rest(
        self, scheme: str, value: str, *, purpose: str, consent: str = ""
    ) -> dict[str, Any]:
        """The profile whose gateway signature verified against the gateway's JWKS."""
        query = {"scheme": scheme, "value": value, "purpose": purpose}
        query |= {"consent": consent} if consent else {}
        signed = self._rest_call("GET", "/v1/profiles:lookup", query=query)
        jwks = _http("GET", f"{self._rest}/.well-known/jwks.json")
        kid = jwt.get_unverified_header(signed["jws"]).get("kid")
        jwk = next((k for k in jwks["keys"] if k.get("kid") == kid), None)
        if jwk is None:
            raise ClientError(f"the gateway's JWKS has no key {kid!r}")
        try:
            payload = jwt.api_jws.decode(signed["jws"], jwt.PyJWK(jwk).key, algorithms=[jwk["alg"]])
        except jwt.PyJWTError as exc:
            raise ClientError(f"gateway signature does not verify: {exc}") from exc
        profile: dict[str, Any] = json.loads(payload)
        return profile

    def publish_rest(self, jws: str) -> dict[str, Any]:
        receipt: dict[str, Any] = self._rest_call("POST", "/v1/profiles:publish", body={"jws": jws})
        return receipt

    def witness(self, log_key: str, last: Seen | None) -> tuple[Seen, Checkpoint]:
        """As a witness: check the latest checkpoint against ``last`` (the one this witness saw
        before), co-sign it and hand the co-signature in. Raises ``SplitView`` (the alarm)."""
        origin = note.Verifier.from_vkey(log_key).name
        latest = _http("GET", f"{self._rest}/v1/audit/checkpoint")

        def consistency(first: int, second: int) -> list[bytes]:
            query = urllib.parse.urlencode({"first": first, "second": second})
            proof = _http("GET", f"{self._rest}/v1/audit/proofs/consistency?{query}")
            return [base64.b64decode(h) for h in proof.get("hashes", [])]

        seen, line = witness(
            latest["note"],
            log_key=log_key,
            origin=origin,
            last=last,
            consistency=consistency,
            name=self.partner_id,
            key=self._key.private_key,  # type: ignore[arg-type]
        )
        path = f"/v1/audit/checkpoints/{seen.size}:cosign"
        answer = self._rest_call("POST", path, body={"signature": line})
        return seen, json_format.ParseDict(answer, Checkpoint())

    def get_grpc(
        self, target: str, scheme: str, value: str, *, purpose: str, consent: str = ""
    ) -> dict[str, Any]:
        request = pb.GetProfileRequest(
            id={"scheme": scheme, "value": value}, purpose=purpose, consent=consent
        )
        return self._grpc_call(target, "GetProfile", request)

    def publish_grpc(self, target: str, jws: str) -> dict[str, Any]:
        return self._grpc_call(target, "PublishProfile", pb.PublishProfileRequest(jws=jws))

    # -- credentials -----------------------------------------------------------------------------

    def token(self) -> str:
        """A DPoP-bound access token, renewed shortly before it expires."""
        if time.time() < self._expires - 30:
            return self._token
        url = f"{self._rest}/oauth2/token"
        now = int(time.time())
        claims = {
            "iss": self.partner_id,
            "sub": self.partner_id,
            "aud": self._gateway_id,
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        }
        assertion = jwt.encode(
            claims, self._key.private_key, algorithm=self._key.alg, headers={"kid": self._key.kid}
        )
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion_type": _ASSERTION_TYPE,
                "client_assertion": assertion,
            }
        ).encode()
        answer = _http(
            "POST",
            url,
            form,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "DPoP": self._dpop.proof("POST", url),
            },
        )
        self._token, self._expires = answer["access_token"], time.time() + answer["expires_in"]
        return self._token

    def _rest_call(
        self, method: str, path: str, *, query: dict[str, str] | None = None, body: Any = None
    ) -> Any:
        url = f"{self._rest}{path}"
        token = self.token()
        headers = {"Authorization": f"DPoP {token}", "DPoP": self._dpop.proof(method, url, token)}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        return _http(
            method, url + ("?" + urllib.parse.urlencode(query) if query else ""), data, headers
        )

    def _grpc_call(self, target: str, method: str, request: Message) -> dict[str, Any]:
        full_method = f"/cxg.v1.ProfileService/{method}"
        token = self.token()
        proof = self._dpop.proof("POST", f"https://{self._gateway_id}{full_method}", token)
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.ProfileServiceStub(channel)
            try:
                answer = getattr(stub, method)(
                    request,
                    timeout=30,
                    metadata=(("authorization", f"DPoP {token}"), ("dpop", proof)),
                )
            except grpc.RpcError as exc:
                raise ClientError(f"{exc.code().name}: {exc.details()}") from exc
        return json_format.MessageToDict(answer)


def _http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Any:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        problem = exc.read().decode("utf-8", "replace")
        raise ClientError(f"HTTP {exc.code}: {problem}") from exc
    except urllib.error.URLError as exc:
        raise ClientError(f"cannot reach {url}: {exc.reason}") from exc
