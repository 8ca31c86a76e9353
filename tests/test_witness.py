"""A witness checks each checkpoint against the last one it saw before co-signing; a log that
shows two histories (a shrinking tree, two roots for one size, a root no consistency proof
reaches) raises the split-view alarm. The log here is a real gateway; its "lies" are notes
signed with its own checkpoint key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from gateway.audit import note
from gateway.audit.witness import Seen, SplitView, witness
from gateway.cli import app
from gateway.errors import Unauthenticated
from gateway.service.audit import NOTE_KEY_FILE, Exchange, load_note_key
from gateway.signing import SigningKey
from gateway.transport.serve import Gateway
from tests.support import TestPartner

WITNESS_KEY = SigningKey.generate("EdDSA")


def grow(gateway: Gateway, leaves: int) -> str:
    """Append audited exchanges and sign a checkpoint; its note."""
    for n in range(leaves):
        exchange = Exchange(
            "SearchProfiles", "rest", "ru-bureau", (), "", "", f"{n:064x}", "", "ok"
        )
        gateway.audit.record(exchange)
    return gateway.audit.sign_checkpoint().note


def check(gateway: Gateway, offered: str, last: Seen | None) -> tuple[Seen, str]:
    base = f"http://127.0.0.1:{gateway.rest_port}/v1/audit/proofs/consistency"

    def consistency(first: int, second: int) -> list[bytes]:
        proof = httpx.get(base, params={"first": first, "second": second}).json()
        return [base64.b64decode(h) for h in proof.get("hashes", [])]

    return witness(
        offered,
        log_key=gateway.audit.verifier_key,
        origin=gateway.audit.origin,
        last=last,
        consistency=consistency,
        name="eu-witness",
        key=WITNESS_KEY.private_key,  # type: ignore[arg-type]
    )


def lie(gateway: Gateway, size: int, root: bytes) -> str:
    """A checkpoint the gateway's own key signs but its log does not back."""
    key = load_note_key(gateway.settings.gateway_keys_dir / NOTE_KEY_FILE)
    body = note.Checkpoint(gateway.audit.origin, size, root).body()
    return note.sign_note(body, gateway.audit.origin, key)


def test_a_witness_follows_a_growing_log_and_cosigns(gateway: Gateway) -> None:
    start = gateway.audit.sign_checkpoint().size  # the registry's own leaves
    first, line = check(gateway, grow(gateway, 5), None)
    second, line = check(gateway, grow(gateway, 7), first)
    assert (first.size, second.size) == (start + 5, start + 12)
    cosigned = second.note.rstrip("\n") + "\n" + line + "\n"
    witness_vkey = note.verifier_key("eu-witness", WITNESS_KEY.private_key.public_key())  # type: ignore[arg-type]
    assert "eu-witness" in note.verify_note(cosigned, [witness_vkey])
    again, _ = check(gateway, second.note, second)  # the same checkpoint again is fine
    assert again == second


@pytest.mark.parametrize("lie_kind", ["shrinks", "same-size-other-root", "unreachable-root"])
def test_a_split_view_raises_the_alarm(gateway: Gateway, lie_kind: str) -> None:
    seen, _ = check(gateway, grow(gateway, 6), None)
    grow(gateway, 3)
    offered = {
        "shrinks": lambda: lie(gateway, 4, gateway.audit.root(4)),
        "same-size-other-root": lambda: lie(gateway, seen.size, os.urandom(32)),
        "unreachable-root": lambda: lie(gateway, 9, os.urandom(32)),
    }[lie_kind]()
    with pytest.raises(SplitView) as alarm:
        check(gateway, offered, seen)
    assert (alarm.value.seen, alarm.value.offered) == (seen.note, offered)  # the evidence


def test_a_note_the_log_did_not_sign_is_refused(gateway: Gateway) -> None:
    body = note.Checkpoint(gateway.audit.origin, 1, os.urandom(32)).body()
    forged = note.sign_note(body, gateway.audit.origin, SigningKey.generate("EdDSA").private_key)  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated):
        check(gateway, forged, None)


def test_the_witness_command_cosigns_and_raises_the_alarm(
    gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness_partner = TestPartner("eu-witness", "BE", ("witness",), WITNESS_KEY)
    gateway.partners.register(witness_partner.as_partner(), [WITNESS_KEY.public_jwk()])
    pem = tmp_path / "eu-witness.pem"
    pem.write_bytes(WITNESS_KEY.private_pem())
    monkeypatch.setenv("CXG_KEYS_DIR", str(gateway.settings.keys_dir))
    state = tmp_path / "state.json"
    command = [
        "audit", "witness", "--as", "eu-witness", "--key", str(pem),
        "--log-key", gateway.audit.verifier_key, "--state", str(state),
        "--rest", f"http://127.0.0.1:{gateway.rest_port}",
    ]  # fmt: skip
    size = int(grow(gateway, 4).splitlines()[1])  # the registry's own leaves come first
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    assert f"co-signed tree size {size}; cosigners: eu-witness" in first.output
    grow(gateway, 2)  # (the witness's own calls are leaves too)
    size = gateway.audit.checkpoint().tree_size
    assert CliRunner().invoke(app, command).exit_code == 0
    assert json.loads(state.read_text())["size"] == size
    assert gateway.audit.checkpoint(size).cosigners == ["eu-witness"]
    # Had the log shown this witness a larger tree before, today's is a split view.
    saved = json.loads(state.read_text())
    state.write_text(json.dumps({**saved, "size": size + 3}))
    alarm = CliRunner().invoke(app, command)
    assert alarm.exit_code == 2
    assert f"SPLIT VIEW: the log shrank from {size + 3} to {size} leaves" in alarm.output
