"""Bulk import over the API (ImportProfiles on gRPC, POST /v1/profiles:import on REST): the file
streams in, spooled, and every record is validated as a single publish; the summary names each
refused record; a wrong format, a caller that may not publish and an oversize file are refused
with nothing stored; the audit log records the import with the digest of what arrived."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from sqlalchemy import func, select

from gateway.config import Settings
from gateway.schema.cxg.v1 import profile_service_pb2 as pb
from gateway.service import PartnerAdmin
from gateway.storage.tables import profile_versions
from gateway.transport.errors import AUDIT_LEAF
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, Outcome, RestClient, grpc_outcome
from tests.support import TestPartner

BULK = (Path(__file__).parents[1] / "adapters/ru_bureau/samples/bulk.ndjson").read_bytes()
PATH = "/v1/profiles:import"


def versions(gateway: Gateway) -> int:
    return int(gateway.db.read(select(func.count()).select_from(profile_versions))[0][0])


def rest_import(client: RestClient, body: bytes, caller: str, **params: str) -> tuple[Outcome, Any]:
    response = client.request(
        "POST", PATH, session=client.sessions.of(caller), content=body, params=params,
        headers={"content-type": "application/x-ndjson"},
    )  # fmt: skip
    return client._outcome(response), response.headers.get(AUDIT_LEAF)


def grpc_import(client: GrpcClient, chunks: list[pb.ImportChunk], caller: str) -> Outcome:
    metadata = client.sessions.of(caller).grpc_metadata("/cxg.v1.ProfileService/ImportProfiles")
    try:
        answer = client.stub.ImportProfiles(iter(chunks), timeout=60, metadata=metadata)
    except grpc.RpcError as exc:
        return grpc_outcome(exc)
    return Outcome(body=json_format.MessageToDict(answer), status="OK")


def chunks_of(data: bytes, format: str = "ru-bureau", size: int = 700) -> list[pb.ImportChunk]:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return [pb.ImportChunk(format=format if i == 0 else "", data=p) for i, p in enumerate(pieces)]


@pytest.fixture
def clients(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> Iterator[tuple[RestClient, GrpcClient]]:
    rest, grpc_client = RestClient(gateway, partners), GrpcClient(gateway, partners)
    yield rest, grpc_client
    rest.close()
    grpc_client.close()


EXPECTED = {
    "records": "5",
    "imported": "3",
    "refused": "2",
}


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_bulk_file_streams_in_and_each_bad_record_is_named(
    clients: tuple[RestClient, GrpcClient],
    gateway: Gateway,
    partners: dict[str, TestPartner],
    transport: str,
) -> None:
    rest, grpc_client = clients
    if transport == "rest":
        outcome, leaf = rest_import(rest, BULK, "ru-bureau", format="ru-bureau")
        summary = {k: str(v) for k, v in outcome.body.items() if k != "refusals"}
        refusals = outcome.body["refusals"]
        assert leaf is not None
        received = f"POST {PATH}?format=ru-bureau\n".encode() + BULK
        caller = partners["ru-bureau"].as_partner()  # a caller sees its own entries' contents
        entry = gateway.audit.entries(pb_entries(int(leaf)), caller).entries[0]
        assert hashlib.sha256(received).hexdigest() in entry.data.decode()
    else:
        outcome = grpc_import(grpc_client, chunks_of(BULK), "ru-bureau")
        summary = {k: str(v) for k, v in outcome.body.items() if k != "refusals"}
        refusals = outcome.body["refusals"]
    assert summary == EXPECTED, outcome
    assert [(r["record"], r["location"], r["problem"]) for r in refusals] == [
        ("2", "line 2", "invalid-record"),
        ("4", "line 4", "invalid-record"),
    ]
    assert refusals[0]["field"] == "line 2: /Статус"
    assert versions(gateway) == 3


def pb_entries(leaf: int) -> Any:
    from gateway.schema.cxg.v1 import audit_service_pb2 as audit_pb

    return audit_pb.ListEntriesRequest(start=leaf, end=leaf + 1)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_wrong_format_or_a_caller_that_may_not_publish_stores_nothing(
    clients: tuple[RestClient, GrpcClient], gateway: Gateway, transport: str
) -> None:
    rest, grpc_client = clients
    if transport == "rest":
        cases = [
            (rest_import(rest, BULK, "ru-bureau")[0], "invalid-argument", "format"),
            (rest_import(rest, BULK, "ru-bureau", format="nope")[0], "invalid-argument", "format"),
            (
                rest_import(rest, BULK, "sme-portal", format="ru-bureau")[0],
                "permission-denied",
                None,
            ),
        ]
    else:
        cases = [
            (grpc_import(grpc_client, chunks_of(BULK, format=""), "ru-bureau"), "invalid-argument", "format"),
            (grpc_import(grpc_client, chunks_of(BULK, format="nope"), "ru-bureau"), "invalid-argument", "format"),
            (grpc_import(grpc_client, [], "ru-bureau"), "invalid-argument", "format"),
            (grpc_import(grpc_client, chunks_of(BULK), "sme-portal"), "permission-denied", None),
        ]  # fmt: skip
    for outcome, problem, field in cases:
        assert (outcome.problem, outcome.field) == (problem, field), outcome
    assert versions(gateway) == 0


def test_a_file_over_the_import_limit_is_refused_on_both_transports(
    settings: Settings, partners: dict[str, TestPartner]
) -> None:
    small = Gateway(dataclasses.replace(settings, max_import_bytes=1000))
    PartnerAdmin(small.db).import_files(settings.partners_dir)
    small.start()
    rest, grpc_client = RestClient(small, partners), GrpcClient(small, partners)
    try:
        too_large, _ = rest_import(rest, BULK, "ru-bureau", format="ru-bureau")
        assert (too_large.status, too_large.field) == (413, "body"), too_large
        streamed = grpc_import(grpc_client, chunks_of(BULK), "ru-bureau")
        assert (streamed.status, streamed.field) == ("RESOURCE_EXHAUSTED", "data"), streamed
        fits, _ = rest_import(rest, BULK[:900], "ru-bureau", format="ru-bureau")
        assert fits.body["imported"] == "1", fits  # int64 in proto3 JSON is a string
    finally:
        rest.close()
        grpc_client.close()
        small.stop()
