"""``cxg audit`` as an auditor runs it: proofs checked offline (every transparency-dev/merkle
vector and our own gateway's proofs), checkpoints on demand, and a whole log exported and
verified offline, then tampered with in the database and in the file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from typer.testing import CliRunner, Result

from gateway.audit import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    ProofError,
    add_signature,
    load_consistency_json,
    load_inclusion_json,
    parse_note,
    verifier_key,
    verify_note,
)
from gateway.audit._export import FORMAT
from gateway.cli import app
from gateway.schema.cxg.v1 import audit_service_pb2 as pb
from gateway.service.audit import Exchange
from gateway.signing import SigningKey
from gateway.storage.tables import audit_leaves
from gateway.transport.serve import Gateway
from gateway.trust import Partner

runner = CliRunner()
ASSETS = Path(__file__).parent / "assets" / "merkle"
VECTORS = sorted(ASSETS.glob("*/**/*.json"))
WITNESS = "test-witness"


def cxg(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


# --- proofs, offline --------------------------------------------------------------------------


def test_every_vector_is_run() -> None:
    assert len(VECTORS) == 196


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: str(p.relative_to(ASSETS)))
def test_vector(path: Path) -> None:
    inclusion = path.relative_to(ASSETS).parts[0] == "inclusion"
    result = cxg("audit", "verify-inclusion" if inclusion else "verify-consistency", path)
    if not json.loads(path.read_text())["wantErr"]:
        assert (result.exit_code, result.stdout) == (0, "verified\n"), result.output
        return
    assert result.exit_code == 1 and "verified" not in result.stdout
    load = load_inclusion_json if inclusion else load_consistency_json
    with pytest.raises(ProofError) as refused:
        load(path.read_text()).verify()
    assert result.stderr == f"not verified: {refused.value}\n"  # names the field at fault
    assert refused.value.field


@pytest.mark.parametrize(
    ("command", "text", "reason"),
    [
        ("verify-inclusion", "not json", "/: not JSON"),
        ("verify-inclusion", "[]", "/: must be a JSON object"),
        ("verify-inclusion", '{"treeSize": 1}', "/leafIdx: is missing"),
        ("verify-consistency", (ASSETS / "inclusion/1/happy-path.json").read_text(), "/size1"),
        ("verify-inclusion", (ASSETS / "consistency/1/happy-path.json").read_text(), "/leafIdx"),
        (
            "verify-consistency",
            '{"size1": 1, "size2": 2, "root1": "!", "root2": "", "proof": []}',
            "/root1: is not standard base64",
        ),
    ],
)
def test_malformed_proof_is_refused_naming_the_field(
    tmp_path: Path, command: str, text: str, reason: str
) -> None:
    (tmp_path / "proof.json").write_text(text)
    result = cxg("audit", command, tmp_path / "proof.json")
    assert result.exit_code == 1 and reason in result.stderr, result.output


def test_missing_proof_file_is_refused(tmp_path: Path) -> None:
    result = cxg("audit", "verify-inclusion", tmp_path / "none.json")
    assert result.exit_code == 1 and "cannot read" in result.stderr


# --- a real gateway ---------------------------------------------------------------------------


def exchange(i: int) -> Exchange:
    return Exchange(
        operation="GetProfile",
        transport="grpc",
        partner="kz-bank" if i % 3 else "",
        subject=(f"KZ_BIN:{180440001235 + i}",),
        purpose="trade_due_diligence",
        consent="",
        request_sha256=f"{i:064x}",
        response_sha256=f"{i * 7:064x}",
        decision="ok" if i % 5 else "urn:cxg:problem:permission-denied",
    )


def record(gateway: Gateway, first: int, count: int) -> None:
    leaves = [gateway.audit.record(exchange(i)) for i in range(first, first + count)]
    assert leaves == list(range(first, first + count))


@pytest.fixture
def witness(gateway: Gateway) -> Ed25519PrivateKey:
    key = SigningKey.generate("EdDSA")
    partner = Partner(id=WITNESS, name="Test witness", country="KZ", roles=frozenset({"witness"}))
    gateway.partners.register(partner, [key.public_jwk()])
    assert isinstance(key.private_key, Ed25519PrivateKey)
    return key.private_key


def cosign(gateway: Gateway, key: Ed25519PrivateKey, size: int) -> None:
    stored = gateway.audit.checkpoint(size)
    line = add_signature(stored.note, WITNESS, key).splitlines()[-1]
    partner = gateway.partners.store.get(WITNESS)
    assert partner is not None
    gateway.audit.add_cosignature(partner, pb.AddCosignatureRequest(tree_size=size, signature=line))


@pytest.fixture
def audited(
    gateway: Gateway, witness: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """A log of 300 leaves with checkpoints at 100, 250 and 300 (the scheduler may add more),
    two of them co-signed; the CLI pointed at the gateway's database and keys."""
    monkeypatch.setenv("CXG_DATABASE_URL", gateway.settings.database_url)
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    monkeypatch.setenv("CXG_GATEWAY_ID", gateway.settings.gateway_id)
    base = gateway.audit._store.size()  # the registry's change leaves
    for first, count in ((base, 100 - base), (100, 150), (250, 50)):
        record(gateway, first, count)
        assert gateway.audit.sign_checkpoint().size == first + count
    cosign(gateway, witness, 250)
    cosign(gateway, witness, 300)
    return [c.size for c in gateway.audit._store.checkpoints()]


def export(tmp_path: Path, name: str = "log.jsonl") -> Path:
    out = tmp_path / name
    result = cxg("audit", "export", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_gateway_proofs_verify_offline(
    gateway: Gateway, audited: list[int], tmp_path: Path
) -> None:
    log = gateway.audit
    proof = tmp_path / "proof.json"
    for index, size in ((0, 1), (0, 300), (99, 100), (137, 250), (299, 300), (255, 256)):
        made = log.inclusion(pb.GetInclusionProofRequest(leaf_index=index, tree_size=size))
        proof.write_text(
            InclusionProof(
                index, size, made.root_hash, made.leaf_hash, tuple(made.hashes)
            ).to_json()
        )
        assert cxg("audit", "verify-inclusion", proof).stdout == "verified\n"
        wrong = InclusionProof(
            index + 1, size + 1, made.root_hash, made.leaf_hash, tuple(made.hashes)
        )
        proof.write_text(wrong.to_json())
        assert cxg("audit", "verify-inclusion", proof).exit_code == 1
    for first, second in ((1, 300), (100, 250), (250, 300), (7, 13), (300, 300)):
        made_c = log.consistency(pb.GetConsistencyProofRequest(first=first, second=second))
        proof.write_text(
            ConsistencyProof(
                first, second, made_c.first_root_hash, made_c.second_root_hash, tuple(made_c.hashes)
            ).to_json()
        )
        assert cxg("audit", "verify-consistency", proof).stdout == "verified\n"


def test_checkpoint_on_demand(gateway: Gateway, audited: list[int]) -> None:
    record(gateway, 300, 5)
    result = cxg("audit", "checkpoint")
    assert result.exit_code == 0, result.output
    signed = Checkpoint.from_note(
        result.stdout, [gateway.audit.verifier_key], origin=gateway.audit.origin
    )
    assert signed.size == 305 and signed.root == gateway.audit.root(305)
    again = cxg("audit", "checkpoint")  # nothing new: the same checkpoint, not a second one
    assert again.stdout == result.stdout


def test_export_then_verify_log(gateway: Gateway, audited: list[int], tmp_path: Path) -> None:
    out = export(tmp_path)
    header = json.loads(out.read_text().splitlines()[0])
    assert header["format"] == FORMAT and header["origin"] == gateway.audit.origin
    assert header["verifier_key"] == gateway.audit.verifier_key
    assert list(header["witness_keys"]) == [WITNESS]
    assert (header["size"], header["checkpoints"]) == (300, len(audited))
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 300 + len(audited)
    assert (
        base64.b64decode(json.loads(lines[1])["data"]) == gateway.audit._store.leaves(0, 1)[0].data
    )

    result = cxg("audit", "verify-log", out, "--key", gateway.audit.verifier_key)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"300 leaves, {len(audited)} checkpoints, 2 co-signatures verified\n"
    assert result.stderr == ""
    for line in lines[301:]:  # every checkpoint's note, co-signatures included, verifies
        doc = json.loads(line)
        signers = verify_note(
            doc["note"], [gateway.audit.verifier_key, *header["witness_keys"].values()]
        )
        assert signers == [gateway.audit.origin] + ([WITNESS] if doc["size"] in (250, 300) else [])


def test_export_to_standard_output_is_the_same(audited: list[int], tmp_path: Path) -> None:
    result = cxg("audit", "export")
    assert result.exit_code == 0
    assert result.stdout == export(tmp_path).read_text()


def test_verify_log_without_key_says_whose_key_it_trusted(
    gateway: Gateway, audited: list[int], tmp_path: Path
) -> None:
    record(gateway, 300, 3)  # not yet checkpointed
    result = cxg("audit", "verify-log", export(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("303 leaves")
    assert f"no --key given, so the export's own key {gateway.audit.verifier_key}" in result.stderr
    assert "the last 3 leaves come after the last checkpoint" in result.stderr


def test_a_byte_changed_in_the_database_is_caught_at_the_next_checkpoint(
    gateway: Gateway, audited: list[int], tmp_path: Path
) -> None:
    tampered = 137
    data = gateway.audit._store.leaves(tampered, tampered + 1)[0].data
    with gateway.db.write() as conn:
        conn.execute(
            update(audit_leaves)
            .where(audit_leaves.c.idx == tampered)
            .values(data=data.replace(b"trade", b"trale"))
        )
    result = cxg("audit", "verify-log", export(tmp_path), "--key", gateway.audit.verifier_key)
    assert result.exit_code == 1
    before = max(s for s in audited if s <= tampered)
    after = min(s for s in audited if s > tampered)
    assert (
        f"checkpoint {after}: the root rebuilt from leaves 0..{after - 1} does not match the"
        f" signed root; one of leaves {before}..{after - 1} differs from what was signed"
        f" (checkpoint {before} still matched)"
    ) in result.stderr, result.output


def edit(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    assert old in lines[line]
    lines[line] = lines[line].replace(old, new, 1)
    path.write_text("".join(lines))


def test_a_byte_changed_in_the_export_is_caught(
    gateway: Gateway, audited: list[int], tmp_path: Path
) -> None:
    key = gateway.audit.verifier_key
    out = export(tmp_path)
    leaf = json.loads(out.read_text().splitlines()[1 + 42])
    middle = leaf["data"][40]
    edit(
        out,
        1 + 42,
        f'"data":"{leaf["data"]}"',
        f'"data":"{leaf["data"][:40]}{"B" if middle != "B" else "C"}{leaf["data"][41:]}"',
    )
    result = cxg("audit", "verify-log", out, "--key", key)
    first = min(audited)
    assert result.exit_code == 1
    assert f"line {1 + 300 + 1}: checkpoint {first}: the root rebuilt" in result.stderr, (
        result.output
    )

    out = export(tmp_path)  # a byte of a witness's co-signature
    last = 1 + 300 + len(audited) - 1
    signature = json.loads(out.read_text().splitlines()[last])["note"].split()[-1]  # base64
    flipped = signature[:-3] + ("A" if signature[-3] != "A" else "B") + signature[-2:]
    edit(out, last, signature, flipped)
    result = cxg("audit", "verify-log", out, "--key", key)
    assert result.exit_code == 1
    assert (
        f"checkpoint 300: the co-signature by witness '{WITNESS}' does not verify" in result.stderr
    )

    out = export(tmp_path)  # a byte of the root in a checkpoint line
    doc = json.loads(out.read_text().splitlines()[last])
    edit(out, last, doc["root"], ("A" if doc["root"][0] != "A" else "B") + doc["root"][1:])
    result = cxg("audit", "verify-log", out, "--key", key)
    assert "checkpoint 300: the signed note's root is not the line's /root" in result.stderr


def test_wrong_key_is_refused(gateway: Gateway, audited: list[int], tmp_path: Path) -> None:
    out = export(tmp_path)
    impostor = verifier_key(gateway.audit.origin, Ed25519PrivateKey.generate().public_key())
    result = cxg("audit", "verify-log", out, "--key", impostor)
    assert result.exit_code == 1 and f"not by the key given ({impostor})" in result.stderr
    garbage = cxg("audit", "verify-log", out, "--key", "not-a-key")
    assert garbage.exit_code == 1 and "--key: must be <name>+<key id>+<key>" in garbage.stderr
    # A header that names the impostor's key does not help: its signatures are not there.
    edit(out, 0, gateway.audit.verifier_key, impostor)
    forged = cxg("audit", "verify-log", out, "--key", impostor)
    assert forged.exit_code == 1 and "no signature from a trusted key" in forged.stderr


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda text: text[: len(text) // 2], "truncated"),  # mid-leaf
        (lambda text: text[:-1], "truncated"),  # only the last newline
        (lambda text: "".join(text.splitlines(keepends=True)[:-1]), "truncated"),
        (lambda text: "".join(text.splitlines(keepends=True)[:150]), "truncated"),
        (lambda text: text.splitlines(keepends=True)[0], "truncated"),
        (lambda text: "", "the file is empty"),
        (lambda text: text + text.splitlines(keepends=True)[-1], "lines after the"),
    ],
    ids=["half", "last-newline", "last-checkpoint", "leaves", "header-only", "empty", "extra"],
)
def test_truncated_export_is_refused(
    audited: list[int], tmp_path: Path, cut: object, reason: str
) -> None:
    out = export(tmp_path)
    out.write_text(cut(out.read_text()))  # type: ignore[operator]
    result = cxg("audit", "verify-log", out)
    assert result.exit_code == 1 and reason in result.stderr, result.output


def test_checkpoints_out_of_order_or_beyond_the_log_are_refused(
    audited: list[int], tmp_path: Path
) -> None:
    out = export(tmp_path)
    lines = out.read_text().splitlines(keepends=True)
    lines[-1], lines[-2] = lines[-2], lines[-1]
    out.write_text("".join(lines))
    result = cxg("audit", "verify-log", out)
    assert result.exit_code == 1 and "comes after checkpoint 300" in result.stderr, result.output

    out = export(tmp_path)
    text = out.read_text().splitlines(keepends=True)
    header = json.loads(text[0])
    header["size"] = 250  # and drop the last 50 leaves, so the file is otherwise whole
    out.write_text(json.dumps(header) + "\n" + "".join(text[1:251]) + "".join(text[301:]))
    result = cxg("audit", "verify-log", out)
    assert (
        result.exit_code == 1 and "checkpoint 300 is beyond the log's 250 leaves" in result.stderr
    )


def test_an_unknown_cosigner_is_refused(
    gateway: Gateway, audited: list[int], tmp_path: Path
) -> None:
    out = export(tmp_path)
    last = len(out.read_text().splitlines()) - 1
    doc = json.loads(out.read_text().splitlines()[last])
    stranger = add_signature(doc["note"], "stranger", Ed25519PrivateKey.generate())
    assert parse_note(stranger)[1][-1].name == "stranger"
    edit(out, last, json.dumps(doc["note"])[1:-1], json.dumps(stranger)[1:-1])
    result = cxg("audit", "verify-log", out)
    assert result.exit_code == 1
    assert "co-signature by 'stranger', which has no key in /witness_keys" in result.stderr
