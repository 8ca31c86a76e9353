"""One calling convention over both transports, so each case is written once and run on both."""

from __future__ import annotations

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

    def __init__(self, gateway: Gateway) -> None:
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{gateway.rest_port}", timeout=30)

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

    def publish(self, jws: str) -> Outcome:
        return self._outcome(self.http.post("/v1/profiles:publish", json={"jws": jws}))

    def get(
        self, *, name: str = "", scheme: str = "", value: str = "", version: int = 0
    ) -> Outcome:
        if name:
            params = {"version": version} if version else {}
            return self._outcome(self.http.get(f"/v1/{name}", params=params))
        params = {"scheme": scheme, "value": value, **({"version": version} if version else {})}
        return self._outcome(self.http.get("/v1/profiles:lookup", params=params))

    def list_versions(self, name: str, page_size: int = 0, page_token: str = "") -> Outcome:
        params = {k: v for k, v in {"page_size": page_size, "page_token": page_token}.items() if v}
        return self._outcome(self.http.get(f"/v1/{name}/versions", params=params))

    def search(self, **params: Any) -> Outcome:
        return self._outcome(self.http.get("/v1/profiles:search", params=params))


class GrpcClient:
    name = "grpc"

    def __init__(self, gateway: Gateway) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}")
        self.stub = pb_grpc.ProfileServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: Any, request: Any) -> Outcome:
        try:
            response = method(request, timeout=30)
        except grpc.RpcError as exc:
            return grpc_outcome(exc)
        return Outcome(body=json_format.MessageToDict(response), status="OK")

    def publish(self, jws: str) -> Outcome:
        return self._call(self.stub.PublishProfile, pb.PublishProfileRequest(jws=jws))

    def get(
        self, *, name: str = "", scheme: str = "", value: str = "", version: int = 0
    ) -> Outcome:
        if name:
            request = pb.GetProfileRequest(name=name, version=version)
        else:
            request = pb.GetProfileRequest(id={"scheme": scheme, "value": value}, version=version)
        return self._call(self.stub.GetProfile, request)

    def list_versions(self, name: str, page_size: int = 0, page_token: str = "") -> Outcome:
        request = pb.ListProfileVersionsRequest(
            name=name, page_size=page_size, page_token=page_token
        )
        return self._call(self.stub.ListProfileVersions, request)

    def search(self, **params: Any) -> Outcome:
        return self._call(self.stub.SearchProfiles, pb.SearchProfilesRequest(**params))


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
