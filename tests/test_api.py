"""Reads over both transports, REST-specific and gRPC-specific behaviour (health, reflection,
problem documents, query validation)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.storage.audit import AuditStore
from gateway.transport.errors import AUDIT_LEAF
from gateway.transport.serve import Gateway
from tests.clients import DEFAULT_CALLER, GrpcClient, RestClient
from tests.support import USCC, USCC_2, TestPartner, profile, publish


@pytest.fixture(params=["rest", "grpc"])
def client(
    request: pytest.FixtureRequest, gateway: Gateway, partners: dict[str, TestPartner]
) -> Iterator[RestClient | GrpcClient]:
    c = (RestClient if request.param == "rest" else GrpcClient)(gateway, partners)
    yield c
    c.close()


@pytest.fixture
def published(gateway: Gateway, partners: dict[str, TestPartner]) -> pb.PublishReceipt:
    return publish(gateway.exchange, partners["cn-customs"], profile())


def test_same_answer_on_both_transports(
    gateway: Gateway, partners: dict[str, TestPartner], published: pb.PublishReceipt
) -> None:
    rest, grpc_client = RestClient(gateway, partners), GrpcClient(gateway, partners)
    by_name = rest.get(name=published.profile_name).body
    assert by_name == grpc_client.get(name=published.profile_name).body
    assert by_name == rest.get(scheme="cn_uscc", value=USCC.lower()).body
    assert by_name == grpc_client.get(scheme="CN_USCC", value=f" {USCC[:6]}-{USCC[6:]} ").body
    rest.close(), grpc_client.close()


def test_grpc_bytes_that_are_no_message_are_refused_only_after_admission(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    """A call is admitted before its bytes are parsed (both in one worker thread): without a
    token, bytes that are no message are UNAUTHENTICATED and a stranger learns nothing about
    the message; with one, INVALID_ARGUMENT naming the message type, in a leaf naming the
    caller."""
    client = GrpcClient(gateway, partners)
    method = "/cxg.v1.ProfileService/GetProfile"
    raw = client.channel.unary_unary(method)  # bytes in, bytes out
    garbage = b"\xff\xff\xff"
    try:
        with pytest.raises(grpc.RpcError) as anonymous:
            raw(garbage, timeout=30)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        assert "GetProfileRequest" not in anonymous.value.details()  # type: ignore[attr-defined]
        metadata = client.sessions.of().grpc_metadata(method)
        with pytest.raises(grpc.RpcError) as admitted:
            raw(garbage, timeout=30, metadata=metadata)
    finally:
        client.close()
    refused: Any = admitted.value
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid cxg.v1.GetProfileRequest message" in refused.details()
    leaf = int(dict(refused.trailing_metadata())[AUDIT_LEAF])
    (stored,) = AuditStore(gateway.db).leaves(leaf, leaf + 1)
    entry = json.loads(stored.data)
    assert (entry["partner"], entry["decision"]) == (DEFAULT_CALLER, "invalid-argument")
    assert entry["request_sha256"] == hashlib.sha256(garbage).hexdigest()


@pytest.mark.parametrize(
    ("query", "status", "problem", "field"),
    [
        ({"scheme": "CN_USCC", "value": USCC_2}, (404, "NOT_FOUND"), "not-found", None),
        (
            {"scheme": "CN_USCC", "value": USCC[:-1] + "5"},
            (400, "INVALID_ARGUMENT"),
            "invalid-identifier",
            "id.value",
        ),
        (
            {"scheme": "XX_ID", "value": "1"},
            (400, "INVALID_ARGUMENT"),
            "invalid-identifier",
            "id.scheme",
        ),
        ({"name": "profiles/" + "a" * 32}, (404, "NOT_FOUND"), "not-found", None),
        ({"name": "profiles/" + "a" * 32, "version": 3}, (404, "NOT_FOUND"), "not-found", None),
    ],
    ids=[
        "unknown-company",
        "bad-check-digit",
        "unknown-scheme",
        "unknown-profile",
        "unknown-version",
    ],
)
def test_failed_lookups(
    client: RestClient | GrpcClient, query: dict, status: tuple, problem: str, field: str | None
) -> None:  # type: ignore[type-arg]
    outcome = client.get(**query)
    assert outcome.status == status[0 if client.name == "rest" else 1]
    assert outcome.problem == problem
    if field:
        assert outcome.field == field


def test_search_over_both_transports(
    client: RestClient | GrpcClient, published: pb.PublishReceipt
) -> None:
    results = client.search(name_prefix="Qingdao Hai").body["results"]
    assert [r["name"] for r in results] == [published.profile_name]
    assert results[0]["ids"][0] == {"scheme": "CN_USCC", "value": USCC}
    bad = client.search(country="China")
    assert bad.problem == "invalid-argument" and bad.field == "country"


def test_nul_characters_are_refused_by_field(
    client: RestClient | GrpcClient, published: pb.PublishReceipt
) -> None:
    # PostgreSQL text cannot hold NUL: without this check the search was a 500 there.
    outcome = client.search(name_prefix="Qingdao\x00Hai")
    assert (outcome.problem, outcome.field) == ("invalid-argument", "name_prefix")
    assert client.search(name_prefix="Qingdao Hai").body["results"]


def test_nul_in_a_json_body_is_refused_by_pointer(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> None:
    client = RestClient(gateway, partners, caller="sme-portal")
    response = client.request(
        "POST", "/v1/consents", json={"grantee": "kz-bank\x00", "purpose": "credit_assessment"}
    )
    client.close()
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "/grantee"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/profiles:search?name_prefix=a&page_size=1000", "page_size"),
        ("/v1/profiles:search?name_prefix=a&page_size=ten", "page_size"),
        ("/v1/profiles/not-hex", "profile_id"),
        ("/v1/profiles:lookup?scheme=CN_USCC", "value"),
        ("/v1/profiles/" + "a" * 32 + "?version=-1", "version"),
    ],
)
def test_rest_query_validation_is_a_problem_naming_the_field(
    gateway: Gateway, partners: dict[str, TestPartner], path: str, field: str
) -> None:
    client = RestClient(gateway, partners)
    response = client.request("GET", path)
    client.close()
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    # Without credentials the request is refused before its parameters are looked at.
    anonymous = httpx.get(f"http://127.0.0.1:{gateway.rest_port}{path}")
    assert anonymous.status_code == 401
    assert anonymous.json()["type"] == "urn:cxg:problem:unauthenticated"


def test_rest_unknown_route_and_method_are_problems(gateway: Gateway) -> None:
    base = f"http://127.0.0.1:{gateway.rest_port}"
    missing = httpx.get(f"{base}/v1/nothing")
    assert (missing.status_code, missing.headers["content-type"]) == (
        404,
        "application/problem+json",
    )
    wrong = httpx.delete(f"{base}/v1/profiles:publish")
    assert wrong.status_code == 405 and wrong.json()["status"] == 405


def test_healthz_and_jwks(gateway: Gateway) -> None:
    base = f"http://127.0.0.1:{gateway.rest_port}"
    health = httpx.get(f"{base}/healthz").json()
    assert health == {"status": "ok", "signingKey": gateway.exchange.keyring.active.kid}
    keys = httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == [gateway.exchange.keyring.active.kid]
    assert all("d" not in k for k in keys)  # never a private member


def test_healthz_reports_a_dead_database(gateway: Gateway) -> None:
    dbapi = gateway.db.engine.dialect.loaded_dbapi

    def refuse() -> None:
        raise dbapi.OperationalError(
            "connection refused"
        )  # what the driver raises when the server is gone

    gateway.db.dispose()  # closes the held readers too
    gateway.db.engine.pool._creator = refuse  # type: ignore[attr-defined]
    response = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/healthz")
    assert response.status_code == 503
    assert response.json()["type"] == "urn:cxg:problem:database-unavailable"
    assert int(response.headers["retry-after"]) >= 1


def test_grpc_health_and_reflection(gateway: Gateway) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "cxg.v1.ProfileService"):
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
            assert status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        response = next(iter(reflection.ServerReflectionInfo(iter([request]), timeout=5)))
        services = {s.name for s in response.list_services_response.service}
        assert "cxg.v1.ProfileService" in services and "grpc.health.v1.Health" in services


def test_openapi_documents_real_schemas(gateway: Gateway) -> None:
    document = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/openapi.json").json()
    schemas = document["components"]["schemas"]
    profile_schema = schemas["cxg.v1.CreditProfile"]
    assert profile_schema["properties"]["subject"] == {
        "$ref": "#/components/schemas/cxg.v1.Subject",
        "description": "The company. Required.",
    }
    assert "proto3 JSON" in schemas["cxg.v1.SignedProfile"]["properties"]["jws"]["description"]
    publish = document["paths"]["/v1/profiles:publish"]["post"]
    assert publish["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "PublishProfileRequest"
    )
    assert {"400", "401", "409", "413"} <= set(publish["responses"])
    assert "422" not in str(document["paths"])


def test_a_bug_is_an_internal_error_that_leaks_nothing(
    gateway: Gateway,
    partners: dict[str, TestPartner],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("secret table name")

    monkeypatch.setattr(gateway.exchange._store, "find", broken)  # under both transports
    rest_client = RestClient(gateway, partners)
    rest = rest_client.request(
        "GET", f"/v1/profiles/{'a' * 32}", params={"purpose": "credit_reporting"}
    )
    rest_client.close()
    assert rest.status_code == 500 and rest.headers["content-type"] == "application/problem+json"
    assert "secret" not in rest.text and rest.json()["reference"] in rest.json()["detail"]
    client = GrpcClient(gateway, partners)
    outcome = client.get(name="profiles/" + "a" * 32)
    client.close()
    assert outcome.status == "INTERNAL" and "secret" not in outcome.detail
    assert "secret table name" in caplog.text  # the operator still sees it in the log
