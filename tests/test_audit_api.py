"""The audit log through the API, on both transports: every answer names its leaf, the leaf is
in a signed checkpoint's tree, proofs verify with code that is not the log's own, entry contents
follow the caller's rights, witnesses co-sign, and the gateway refuses to sign over a rewritten
history (rewritten leaf data is for `cxg audit verify-log`, which rebuilds the tree from it)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format
from sqlalchemy import update

from gateway.audit import merkle, note
from gateway.audit._export import verify_export
from gateway.config import Settings
from gateway.errors import Conflict
from gateway.schema.cxg.v1 import audit_service_pb2 as pb
from gateway.schema.cxg.v1 import audit_service_pb2_grpc as pb_grpc
from gateway.schema.cxg.v1 import profile_service_pb2 as profile_pb
from gateway.service.audit import AuditLog, Exchange
from gateway.service.audit_export import AuditExporter
from gateway.signing import SigningKey
from gateway.storage import Database
from gateway.storage.audit import AuditStore
from gateway.storage.tables import audit_nodes
from gateway.transport.serve import Gateway
from tests.clients import GrpcClient, RestClient
from tests.support import TestPartner, profile, publish

WITNESS = TestPartner("eu-witness", "BE", ("witness",), SigningKey.generate("EdDSA"))


@pytest.fixture
def clients(
    gateway: Gateway, partners: dict[str, TestPartner]
) -> Iterator[tuple[RestClient, GrpcClient]]:
    publish(gateway.exchange, partners["cn-customs"], profile())
    rest, grpc_client = RestClient(gateway, partners), GrpcClient(gateway, partners)
    yield rest, grpc_client
    rest.close()
    grpc_client.close()


def rest_leaf(client: RestClient, path: str) -> tuple[int, httpx.Response]:
    response = client.request("GET", path)
    return int(response.headers["cxg-audit-leaf"]), response


def grpc_leaf(client: GrpcClient, request: profile_pb.SearchProfilesRequest) -> int:
    metadata = client.sessions.of().grpc_metadata("/cxg.v1.ProfileService/SearchProfiles")
    _, call = client.stub.SearchProfiles.with_call(request, metadata=metadata, timeout=30)
    trailers = dict(call.trailing_metadata())
    return int(trailers["cxg-audit-leaf"])


def test_every_answer_names_a_leaf_that_a_signed_checkpoint_proves(
    gateway: Gateway, clients: tuple[RestClient, GrpcClient]
) -> None:
    rest, grpc_client = clients
    leaves = [rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")[0] for _ in range(3)]
    leaves += [grpc_leaf(grpc_client, profile_pb.SearchProfilesRequest(country="CN"))]
    refused = rest.request("GET", "/v1/profiles:search?country=China")
    assert refused.status_code == 400
    leaves.append(int(refused.headers["cxg-audit-leaf"]))  # a refusal is a leaf too
    assert len(set(leaves)) == len(leaves)

    gateway.audit.sign_checkpoint()
    base = f"http://127.0.0.1:{gateway.rest_port}"
    checkpoint = httpx.get(f"{base}/v1/audit/checkpoint").json()  # public: no token
    size = int(checkpoint["treeSize"])
    assert max(leaves) < size
    # The note verifies with the gateway's verifier key, and says what the JSON says.
    assert note.verify_note(checkpoint["note"], [checkpoint["verifierKey"]]) == [
        checkpoint["origin"]
    ]
    body = note.parse_note(checkpoint["note"])[0]
    parsed = note.Checkpoint.parse(body)
    assert (parsed.size, parsed.root) == (size, base64.b64decode(checkpoint["rootHash"]))
    bare = httpx.get(f"{base}/v1/audit/checkpoint", headers={"Accept": "text/plain"})
    assert bare.text == checkpoint["note"]

    for leaf in leaves:
        proof = httpx.get(
            f"{base}/v1/audit/proofs/inclusion",
            params={"leaf_index": leaf, "tree_size": size},
        ).json()
        merkle.verify_inclusion(
            leaf,
            size,
            base64.b64decode(proof["leafHash"]),
            [base64.b64decode(h) for h in proof.get("hashes", [])],
            parsed.root,
        )


def test_entry_contents_follow_the_callers_rights(
    gateway: Gateway, clients: tuple[RestClient, GrpcClient], partners: dict[str, TestPartner]
) -> None:
    rest, _ = clients
    leaf, answer = rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")
    span = {"start": leaf, "end": leaf + 1}
    base = f"http://127.0.0.1:{gateway.rest_port}"
    anonymous = httpx.get(f"{base}/v1/audit/entries", params=span).json()["entries"][0]
    assert "data" not in anonymous and anonymous["leafHash"]
    own = rest.request("GET", "/v1/audit/entries", params=span).json()["entries"][0]
    data = base64.b64decode(own["data"])
    assert hashlib.sha256(b"\x00" + data).digest() == base64.b64decode(anonymous["leafHash"])
    entry = json.loads(data)
    assert entry["v"] == 2 and entry["kind"] == "exchange" and entry["partner"] == "ru-bureau"
    assert len(bytes.fromhex(entry["salt"])) == 16
    assert (entry["operation"], entry["transport"], entry["decision"]) == (
        "SearchProfiles",
        "rest",
        "ok",
    )
    assert entry["response_sha256"] == hashlib.sha256(answer.content).hexdigest()
    assert (
        data
        == json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    other = RestClient(gateway, partners, caller="kz-bank")
    hidden = other.request("GET", "/v1/audit/entries", params=span).json()["entries"][0]
    other.close()
    assert "data" not in hidden  # another partner's call: its hash only


def test_consistency_between_checkpoints_over_grpc(
    gateway: Gateway, clients: tuple[RestClient, GrpcClient]
) -> None:
    rest, _ = clients
    rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")
    first = gateway.audit.sign_checkpoint()
    for _ in range(5):
        rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")
    second = gateway.audit.sign_checkpoint()
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        stub = pb_grpc.AuditServiceStub(channel)
        proof = stub.GetConsistencyProof(
            pb.GetConsistencyProofRequest(first=first.size, second=second.size)
        )
        latest = stub.GetCheckpoint(pb.GetCheckpointRequest())
    merkle.verify_consistency(first.size, second.size, first.root, second.root, list(proof.hashes))
    assert latest.tree_size == second.size and latest.root_hash == second.root


def test_a_witness_cosigns_and_forgeries_are_refused(
    gateway: Gateway, clients: tuple[RestClient, GrpcClient], partners: dict[str, TestPartner]
) -> None:
    gateway.partners.register(WITNESS.as_partner(), [WITNESS.key.public_jwk()])
    rest, _ = clients
    rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")
    signed = gateway.audit.sign_checkpoint()
    body = note.parse_note(signed.note)[0]
    cosigned = note.add_signature(signed.note, WITNESS.id, WITNESS.key.private_key)
    line = cosigned.rstrip("\n").rsplit("\n", 1)[1]
    witness = RestClient(gateway, {**partners, WITNESS.id: WITNESS}, caller=WITNESS.id)
    path = f"/v1/audit/checkpoints/{signed.size}:cosign"
    forged = note.sign_note(body + b"tampered\n", WITNESS.id, WITNESS.key.private_key)
    bad = witness.request("POST", path, json={"signature": forged.rstrip("\n").rsplit("\n", 1)[1]})
    assert bad.status_code == 403 and bad.json()["field"] == "signature"
    accepted = witness.request("POST", path, json={"signature": line})
    witness.close()
    assert accepted.status_code == 200, accepted.text
    checkpoint = json_format.ParseDict(accepted.json(), pb.Checkpoint())
    assert list(checkpoint.cosigners) == [WITNESS.id]
    witness_key = note.verifier_key(WITNESS.id, WITNESS.key.private_key.public_key())
    assert sorted(
        note.verify_note(checkpoint.note, [gateway.audit.verifier_key, witness_key])
    ) == sorted([gateway.audit.origin, WITNESS.id])
    not_a_witness = rest.request("POST", path, json={"signature": line})
    assert not_a_witness.status_code == 403


def test_the_gateway_refuses_to_sign_over_a_rewritten_history(
    gateway: Gateway, clients: tuple[RestClient, GrpcClient]
) -> None:
    rest, _ = clients
    for _ in range(4):
        rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")
    signed = gateway.audit.sign_checkpoint()
    # An insider rewrites the largest subtree the signed root is made of.
    level, index = merkle.root_nodes(signed.size)[0]
    with gateway.db.write() as conn:  # a node's key is index << 6 | level
        conn.execute(
            update(audit_nodes)
            .where(audit_nodes.c.key == index << 6 | level)
            .values(hash=b"\x00" * 32)
        )
    rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")
    with pytest.raises(Conflict, match="refusing to sign"):
        gateway.audit.sign_checkpoint()


def test_proof_requests_outside_the_log_name_their_field(
    gateway: Gateway, clients: tuple[RestClient, GrpcClient]
) -> None:
    rest, _ = clients
    rest_leaf(rest, "/v1/profiles:search?name_prefix=Qing")
    base = f"http://127.0.0.1:{gateway.rest_port}/v1/audit"
    size = gateway.audit.checkpoint().tree_size
    cases = [
        ("/proofs/inclusion", {"leaf_index": size, "tree_size": size}, "leaf_index"),
        ("/proofs/inclusion", {"leaf_index": 0, "tree_size": size + 100}, "tree_size"),
        ("/proofs/consistency", {"first": size + 1, "second": size}, "first"),
        ("/entries", {"start": 0, "end": size + 5}, "end"),
    ]
    for path, params, field in cases:
        response = httpx.get(base + path, params=params)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == field


def test_a_leaf_is_canonical_json_of_every_exchange_field() -> None:
    """Entry format v2, byte for byte: keys sorted, no spaces, UTF-8, time in UTC with
    microseconds, a 128-bit salt. Any field added to Exchange must appear in the leaf."""
    exchange = Exchange(
        operation="GetProfile",
        transport="rest",
        partner="ru-bureau",
        subject=("profiles/p1", "CN_USCC:91370200MA3C5QH2X4", 'Ойл "ООО"'),
        purpose="credit_reporting",
        consent="",
        request_sha256="a" * 64,
        response_sha256="b" * 64,
        decision="ok",
    )
    at = datetime(2026, 11, 27, 16, 5, 1, 2003, tzinfo=UTC)
    moscow = datetime(2026, 11, 27, 19, 5, 1, tzinfo=timezone(timedelta(hours=3)))
    salt = "0123456789abcdef" * 2
    assert exchange.leaf(at, salt).decode() == GOLDEN_LEAF
    assert exchange.leaf(moscow, salt).decode() == GOLDEN_LEAF.replace("01.002003Z", "01.000000Z")
    document = json.loads(exchange.leaf(at))
    assert set(document) == {field.name for field in fields(Exchange)} | {
        "v",
        "time",
        "kind",
        "salt",
    }
    canonical = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert canonical.encode() == exchange.leaf(at, document["salt"])


def test_a_leaf_hash_hides_guessable_contents() -> None:
    """The attack that found the defect: a competitor knows (or can enumerate) every field of a
    call, down to the microsecond, and compares candidate leaves with the public hash. With a
    fresh 128-bit salt per leaf no candidate without the salt matches, and two identical calls
    at the same instant have different leaf hashes; the owner, shown the contents, can still
    check them against the hash."""
    exchange = Exchange("GetProfile", "rest", "ru-bureau", ("profiles/p1",), "credit_reporting",
                        "", "a" * 64, "b" * 64, "ok")  # fmt: skip
    at = datetime(2026, 11, 27, 16, 5, 1, 2003, tzinfo=UTC)
    first, second = exchange.leaf(at), exchange.leaf(at)
    assert merkle.leaf_hash(first) != merkle.leaf_hash(second)
    public = merkle.leaf_hash(first)
    contents = json.loads(first)
    # Everything but the salt guessed right: no candidate salt a brute force could try matches.
    guesses = [exchange.leaf(at, f"{n:032x}") for n in range(10_000)]
    assert public not in {merkle.leaf_hash(guess) for guess in guesses}
    assert merkle.leaf_hash(exchange.leaf(at, contents["salt"])) == public  # the owner's check


def test_version_1_leaves_keep_verifying(settings: Settings, db: Database, tmp_path: Path) -> None:
    """A log written before the salt (v1 leaves) and grown with v2 leaves is still one log:
    checkpoints sign over it and its export verifies offline, leaf by leaf."""
    v1 = GOLDEN_LEAF_V1.encode()
    v2 = Exchange("GetProfile", "rest", "", (), "", "", "", "", "ok").leaf(datetime.now(UTC))
    AuditStore(db).append([(v1, "ru-bureau"), (v2, None), (v1, None)])
    log = AuditLog.from_settings(settings, db)
    checkpoint = log.sign_checkpoint()
    exported = tmp_path / "log.jsonl"
    with exported.open("w") as out:
        AuditExporter.from_settings(settings, db).export(out)
    report = verify_export(exported)
    assert report.leaves == checkpoint.size == AuditStore(db).size()
    assert report.unsigned_leaves == 0


GOLDEN_LEAF = (
    '{"consent":"","decision":"ok","kind":"exchange","operation":"GetProfile","partner":"ru-bure'
    'au","purpose":"credit_reporting","request_sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    'aaaaaaaaaaaaaaaaaaaaaaaa","response_sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
    'bbbbbbbbbbbbbbbbbb","rule_pack":"","salt":"0123456789abcdef0123456789abcdef","subject":["p'
    'rofiles/p1","CN_USCC:91370200MA3C5QH2X4","Ойл \\"ООО\\""],"time":"2026-11-27T16:05:01.0020'
    '03Z","transport":"rest","v":2}'
)
# A leaf as version 1 wrote it (no kind, no salt).
GOLDEN_LEAF_V1 = (
    '{"consent":"","decision":"ok","operation":"GetProfile","partner":"ru-bureau","pu'
    'rpose":"credit_reporting","request_sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaa","response_sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
    'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","rule_pack":"","subject":["profiles/p1","CN_U'
    'SCC:91370200MA3C5QH2X4","Ойл \\"ООО\\""],"time":"2026-11-27T16:05:01.002003Z","tra'
    'nsport":"rest","v":1}'
)
