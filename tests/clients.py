"""One calling convention over both transports, so each case is written once and run on both.

Clients call as a partner, with the credentials a partner's own software would send: a
DPoP-bound access token from POST /oauth2/token and a fresh DPoP proof per request, both made
with jwcrypto (tests/partner_client.py), not with the gateway's code.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.schema.cxg.v1 import profile_service_pb2_grpc as pb_grpc
from gateway.transport.serve import Gateway
from tests.partner_client import DpopClient, assertion
from tests.support import TestPartner

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The purpose test clients state unless told otherwise: the whole profile, no consent needed.
DEFAULT_PURPOSE = "credit_reporting"
DEFAULT_CALLER = "ru-bureau"


class Session:
    """One partner's DPoP-bound token on one gateway, renewed before it expires."""

    def __init__(self, gateway: Gateway, partner: TestPartner) -> None:
        self.gateway = gateway
        self.partner = partner
        self.dpop = DpopClient()
        self._token = ""
        self._expires = 0.0

    @property
    def token(self) -> str:
        if time.time() > self._expires - 30:
            url = f"http://127.0.0.1:{self.gateway.rest_port}/oauth2/token"
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(self.partner, aud=self.gateway.settings.gateway_id),
            }
            response = httpx.post(url, data=form, headers={"DPoP": self.dpop.proof("POST", url)})
            assert response.status_code == 200, response.text
            body = response.json()
            self._token, self._expires = body["access_token"], time.time() + body["expires_in"]
        return self._token

    def headers(self, method: str, url: str) -> dict[str, str]:
        token = self.token
        return {"Authorization": f"DPoP {token}", "DPoP": self.dpop.proof(method, url, token)}

    def grpc_metadata(self, full_method: str) -> tuple[tuple[str, str], ...]:
        """gRPC carries the same headers as metadata; the proof names the RPC's URL."""
        url = f"https://{self.gateway.settings.gateway_id}{full_method}"
        return tuple((k.lower(), v) for k, v in self.headers("POST", url).items())


class Sessions:
    """A session per partner, made on first use; publishes go as the partner that signed."""

    def __init__(self, gateway: Gateway, partners: dict[str, TestPartner], default: str) -> None:
        self.gateway = gateway
        self.partners = partners
        self.default = default
        self._sessions: dict[str, Session] = {}

    def of(self, partner_id: str | None = None) -> Session:
        partner_id = partner_id or self.default
        if partner_id not in self._sessions:
            self._sessions[partner_id] = Session(self.gateway, self.partners[partner_id])
        return self._sessions[partner_id]

    def signer_of(self, jws: str) -> Session:
        """The session of the partner whose key signed ``jws`` (the default one if none)."""
        try:
            header = json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))
            kid = header.get("kid")
        except (ValueError, AttributeError, RecursionError):  # a forged header: no signer
            kid = None
        found = next((p.id for p in self.partners.values() if p.key.kid == kid), None)
        return self.of(found if found and self.partners[found].status == "active" else None)


@dataclass
class Outcome:
    """A call's result: ``problem`` is the RFC 9457 slug (gRPC: ErrorInfo reason) or None."""

    body: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    field: str | None = None
    detail: str = ""
    status: int | str = 200


class RestClient:
    name = "rest"

    def __init__(
        self,
        gateway: Gateway,
        partners: dict[str, TestPartner],
        *,
        caller: str = DEFAULT_CALLER,
        purpose: str = DEFAULT_PURPOSE,
    ) -> None:
        self.base = f"http://127.0.0.1:{gateway.rest_port}"
        self.http = httpx.Client(base_url=self.base, timeout=30)
        self.sessions = Sessions(gateway, partners, caller)
        self.purpose = purpose

    def request(
        self, method: str, path: str, *, session: Session | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A request with the session's token and a DPoP proof for exactly this URL."""
        request = self.http.build_request(method, path, **kwargs)
        url = str(request.url).split("?")[0]
        request.headers.update((session or self.sessions.of()).headers(method, url))
        return self.http.send(request)

    def close(self) -> None:
        self.http.close()

    def _outcome(self, response: httpx.Response) -> Outcome:
        if response.is_success:
            return Outcome(body=response.json(), status=response.status_code)
        assert response.headers["content-type"] == "application/problem+json", response.text
        problem = response.json()
        assert problem["status"] == response.status_code
        return Outcome(
            body=problem,
            problem=problem["type"].removeprefix("urn:cxg:problem:"),
            field=problem.get("field"),
            detail=problem.get("detail", ""),
            status=response.status_code,
        )

    def publish(self, jws: str, format: str = "") -> Outcome:
        session = self.sessions.signer_of(jws)
        body = {"jws": jws} | ({"format": format} if format else {})
        return self._outcome(
            self.request("POST", "/v1/profiles:publish", session=session, json=body)
        )

    def get(
        self,
        *,
        name: str = "",
        scheme: str = "",
        value: str = "",
        version: int = 0,
        purpose: str | None = None,
        consent: str = "",
        format: str = "",
    ) -> Outcome:
        params: dict[str, Any] = {"purpose": self.purpose if purpose is None else purpose}
        params |= {"version": version} if version else {}
        params |= {"consent": consent} if consent else {}
        params |= {"format": format} if format else {}
        if name:
            return self._outcome(self.request("GET", f"/v1/{name}", params=params))
        params |= {"scheme": scheme, "value": value}
        return self._outcome(self.request("GET", "/v1/profiles:lookup", params=params))

    def list_versions(self, name: str, page_size: int = 0, page_token: str = "") -> Outcome:
        params = {k: v for k, v in {"page_size": page_size, "page_token": page_token}.items() if v}
        return self._outcome(self.request("GET", f"/v1/{name}/versions", params=params))

    def search(self, **params: Any) -> Outcome:
        return self._outcome(self.request("GET", "/v1/profiles:search", params=params))


class GrpcClient:
    name = "grpc"

    def __init__(
        self,
        gateway: Gateway,
        partners: dict[str, TestPartner],
        *,
        caller: str = DEFAULT_CALLER,
        purpose: str = DEFAULT_PURPOSE,
    ) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}")
        self.stub = pb_grpc.ProfileServiceStub(self.channel)
        self.sessions = Sessions(gateway, partners, caller)
        self.purpose = purpose

    def close(self) -> None:
        self.channel.close()

    def call(self, method: Any, request: Any, *, session: Session | None = None) -> Outcome:
        """Call a stub method with the session's token and a proof for this RPC."""
        full_method = method._method.decode()  # e.g. /cxg.v1.ProfileService/GetProfile
        metadata = (session or self.sessions.of()).grpc_metadata(full_method)
        try:
            response = method(request, timeout=30, metadata=metadata)
        except grpc.RpcError as exc:
            return grpc_outcome(exc)
        return Outcome(body=json_format.MessageToDict(response), status="OK")

    def publish(self, jws: str, format: str = "") -> Outcome:
        session = self.sessions.signer_of(jws)
        return self.call(
            self.stub.PublishProfile,
            pb.PublishProfileRequest(jws=jws, format=format),
            session=session,
        )

    def get(
        self,
        *,
        name: str = "",
        scheme: str = "",
        value: str = "",
        version: int = 0,
        purpose: str | None = None,
        consent: str = "",
        format: str = "",
    ) -> Outcome:
        request = pb.GetProfileRequest(
            version=version,
            purpose=self.purpose if purpose is None else purpose,
            consent=consent,
            format=format,
        )
        if name:
            request.name = name
        else:
            request.id.scheme, request.id.value = scheme, value
        return self.call(self.stub.GetProfile, request)

    def list_versions(self, name: str, page_size: int = 0, page_token: str = "") -> Outcome:
        request = pb.ListProfileVersionsRequest(
            name=name, page_size=page_size, page_token=page_token
        )
        return self.call(self.stub.ListProfileVersions, request)

    def search(self, **params: Any) -> Outcome:
        return self.call(self.stub.SearchProfiles, pb.SearchProfilesRequest(**params))


def grpc_outcome(exc: grpc.RpcError) -> Outcome:
    """Decode a gRPC error with its google.rpc details into an Outcome."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    outcome = Outcome(status=exc.code().name, detail=exc.details() or "")  # type: ignore[attr-defined]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            outcome.problem = info.reason.lower().replace("_", "-")
            outcome.body = {"metadata": dict(info.metadata)}
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            outcome.field = bad.field_violations[0].field
    return outcome
