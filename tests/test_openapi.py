"""The OpenAPI document says what the gateway answers and accepts: every `$ref` resolves, every
operation lists the refusals admission can give it, and the required fields of the request
schemas (gateway/transport/rest/_schemas.py ``bounds``) are the ones the services ask for.
The schemathesis run (tests/test_schemathesis.py) fuzzes the same promises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import descriptor_pool

from gateway.transport.rest._guard import operation_of
from gateway.transport.rest._schemas import bounds
from gateway.transport.serve import Gateway
from gateway.trust.policy import rule_for
from tests.clients import RestClient
from tests.support import TestPartner

# A JSON-body operation, the partner allowed to call it and its request message.
JSON_BODIES = (
    ("/v1/profiles:publish", "cn-customs", "cxg.v1.PublishProfileRequest"),
    ("/v1/aeo:recognize", "cn-customs", "cxg.v1.RecognizeAeoRequest"),
    ("/v1/grades:equivalent", "kz-bank", "cxg.v1.EquivalentGradeRequest"),
    ("/v1/consents", "sme-portal", "cxg.v1.GrantConsentRequest"),
    ("/v1/scoCodes", "cxg-operator", "cxg.v1.IssueScoCodeRequest"),
    ("/v1/scoCodes:verify", "cxg-operator", "cxg.v1.VerifyScoCodeRequest"),
    ("/v1/admin/partners", "cxg-operator", "cxg.v1.RegisterPartnerRequest"),
    ("/v1/admin/partners/kz-bank/keys", "cxg-operator", "cxg.v1.AddPartnerKeyRequest"),
    (
        "/v1/admin/partners/kz-bank/certificates",
        "cxg-operator",
        "cxg.v1.AddPartnerCertificateRequest",
    ),
)


@pytest.fixture
def document(gateway: Gateway) -> dict[str, Any]:
    answer = httpx.get(f"http://127.0.0.1:{gateway.rest_port}/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = document
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{pointer} does not resolve"
        node = node[part]
    return node


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = set(_refs(document))
    assert "#/components/schemas/cxg.v1.ImportSummary" in refs  # the one once left dangling
    for pointer in refs:
        assert isinstance(_resolve(document, pointer), dict)


def test_every_operation_documents_its_refusals(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        rule = rule_for(operation_of(operation["operationId"]))
        documented = set(operation["responses"])
        expected = {"400"}  # a repeated query parameter or NUL, on every route
        if not rule.public or rule.identifies:
            expected |= {"401", "403", "429"}
        if method != "get":
            expected.add("413")
        assert expected <= documented, (path, method, expected - documented)
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert answer.get("content"), (path, method, status)


def test_text_parameters_refuse_nul_in_the_document(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            if schema.get("type") == "string" and "enum" not in schema:
                assert "pattern" in schema or "format" in schema, (path, method, parameter)


def test_bounds_name_real_fields_and_reach_the_document(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    pool = descriptor_pool.Default()
    for name, rules in bounds().items():
        message = pool.FindMessageTypeByName(name)
        assert set(rules.required) | set(rules.fields) <= set(message.fields_by_name), name
        required = [message.fields_by_name[f].json_name for f in rules.required]
        assert schemas[name].get("required", []) == required, name


@pytest.mark.parametrize(("path", "caller", "message"), JSON_BODIES)
def test_an_empty_body_is_refused_for_a_field_the_schema_requires(
    gateway: Gateway, partners: dict[str, TestPartner], path: str, caller: str, message: str
) -> None:
    """`{}` is what a schema without required fields admits: if the service refuses it as
    malformed, the field it names is one the document marks required."""
    client = RestClient(gateway, partners, caller=caller)
    try:
        answer = client.request("POST", path, json={})
    finally:
        client.close()
    if answer.status_code != 400:
        return
    field = answer.json()["field"].split(".")[0]
    assert field in bounds()[message].required, (path, answer.json())


def test_the_reported_body_is_no_longer_admitted(document: dict[str, Any]) -> None:
    """The acceptance test's example: `POST /v1/aeo:recognize {}` was refused, yet admitted."""
    schema = document["components"]["schemas"]["cxg.v1.RecognizeAeoRequest"]
    assert schema["required"] == ["aeoNumber"]
