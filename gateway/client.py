"""A small gateway client, as a partner institution would write one (used by ``cxg client``).

REST fetches are verified the way any outside verifier must: with the gateway's published JWKS
only, the key's own ``alg`` deciding the algorithm.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import grpc
import jwt
from google.protobuf import json_format

from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.schema.cxg.v1 import profile_service_pb2_grpc as pb_grpc


class ClientError(Exception):
    """A call failed; the message carries the gateway's own explanation."""


def get_grpc(target: str, scheme: str, value: str) -> dict[str, Any]:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        try:
            signed = stub.GetProfile(
                pb.GetProfileRequest(id={"scheme": scheme, "value": value}), timeout=10
            )
        except grpc.RpcError as exc:
            raise ClientError(f"{exc.code().name}: {exc.details()}") from exc
    return json_format.MessageToDict(signed)


def get_verified_rest(base_url: str, scheme: str, value: str) -> dict[str, Any]:
    """The profile whose gateway signature verified against the gateway's JWKS."""
    query = urllib.parse.urlencode({"scheme": scheme, "value": value})
    signed = _call(f"{base_url}/v1/profiles:lookup?{query}")
    jwks = _call(f"{base_url}/.well-known/jwks.json")
    kid = jwt.get_unverified_header(signed["jws"]).get("kid")
    jwk = next((k for k in jwks["keys"] if k.get("kid") == kid), None)
    if jwk is None:
        raise ClientError(f"the gateway's JWKS has no key {kid!r}")
    key = jwt.PyJWK(jwk)
    try:
        payload = jwt.api_jws.decode(signed["jws"], key.key, algorithms=[jwk["alg"]])
    except jwt.PyJWTError as exc:
        raise ClientError(f"gateway signature does not verify: {exc}") from exc
    profile: dict[str, Any] = json.loads(payload)
    return profile


def publish_grpc(target: str, jws: str) -> dict[str, Any]:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        try:
            receipt = stub.PublishProfile(pb.PublishProfileRequest(jws=jws), timeout=30)
        except grpc.RpcError as exc:
            raise ClientError(f"{exc.code().name}: {exc.details()}") from exc
    return json_format.MessageToDict(receipt)


def publish_rest(base_url: str, jws: str) -> dict[str, Any]:
    receipt: dict[str, Any] = _call(
        f"{base_url}/v1/profiles:publish", json.dumps({"jws": jws}).encode()
    )
    return receipt


def _call(url: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        problem = exc.read().decode("utf-8", "replace")
        raise ClientError(f"HTTP {exc.code}: {problem}") from exc
    except urllib.error.URLError as exc:
        raise ClientError(f"cannot reach {url}: {exc.reason}") from exc
