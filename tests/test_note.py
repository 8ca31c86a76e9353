"""C2SP signed notes and checkpoints: golang.org/x/mod/sumdb/note and C2SP vectors, and refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gateway.audit import (
    Checkpoint,
    Signature,
    Verifier,
    add_signature,
    parse_note,
    sign_note,
    verifier_key,
    verify_note,
)
from gateway.audit.note import MAX_SIGNATURES
from gateway.errors import InvalidArgument, Unauthenticated

VECTORS = json.loads((Path(__file__).parent / "assets" / "note" / "vectors.json").read_text())
GO = VECTORS["golang_mod"]
C2SP = VECTORS["c2sp"]
TEXT: str = GO["text"]
PETER_SIG: str = GO["peter_sig"]
ENOCH_SIG: str = GO["enoch_sig"]
PETER = Verifier.from_vkey(GO["peter_vkey"])
ENOCH = Verifier.from_vkey(GO["enoch_vkey"])


def peter_private_key() -> Ed25519PrivateKey:
    """Decode x/mod's ``PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)``."""
    *_, name, key_id, encoded = GO["peter_skey"].split("+", 4)
    raw = base64.b64decode(encoded)
    assert (name, key_id, raw[0]) == ("PeterNeumann", "c74f20a3", 1)
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


# --- verifier keys --------------------------------------------------------------------------


def test_vkey_round_trips_and_key_id() -> None:
    assert verifier_key("PeterNeumann", PETER.public_key) == GO["peter_vkey"]
    assert verify_note(TEXT + "\n" + PETER_SIG, [GO["peter_vkey"]]) == ["PeterNeumann"]
    assert PETER.name == "PeterNeumann"
    assert PETER.key_id == bytes.fromhex("c74f20a3")
    assert PETER.vkey == GO["peter_vkey"]
    assert Verifier.from_public_key("PeterNeumann", PETER.public_key) == PETER


@given(st.binary(min_size=32, max_size=32))
def test_vkey_round_trip_for_any_key(seed: bytes) -> None:
    # Keys whose base64 holds '+' (most of them) must survive the '+'-separated format.
    public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    verifier = Verifier.from_public_key("cxg.example/audit", public_key)
    assert Verifier.from_vkey(verifier.vkey) == verifier


def _manglings(vkey: str) -> set[str]:
    """What x/mod's TestNewVerifier tries: every proper substring, every byte incremented."""
    raw = vkey.encode()
    out = {raw[i:j] for i in range(len(raw) + 1) for j in range(i + 1, len(raw) + 1)}
    out |= {raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :] for i in range(len(raw))}
    return {m.decode() for m in out} - {vkey}


def test_every_mangled_vkey_is_refused() -> None:
    for bad in sorted(_manglings(GO["peter_vkey"])) + GO["bad_vkeys"]:
        with pytest.raises(InvalidArgument):
            Verifier.from_vkey(bad)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # hex is lowercase
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    ],
)
def test_malformed_vkeys(vkey: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Verifier.from_vkey(vkey)
    assert caught.value.field == "vkey"


# --- signing ------------------------------------------------------------------------------------


def test_sign_matches_x_mod_byte_for_byte() -> None:
    # Ed25519 is deterministic, so the note x/mod's TestSign expects is reproducible.
    assert sign_note(TEXT, "PeterNeumann", peter_private_key()) == TEXT + "\n" + PETER_SIG
    assert sign_note(TEXT.encode(), "PeterNeumann", peter_private_key()) == TEXT + "\n" + PETER_SIG


def test_add_signature_replaces_the_same_key_and_keeps_others() -> None:
    bad = Signature("PeterNeumann", PETER.key_id, b"not a signature")
    stale = TEXT + "\n" + bad.line() + ENOCH_SIG
    assert add_signature(stale, "PeterNeumann", peter_private_key()) == (
        TEXT + "\n" + ENOCH_SIG + PETER_SIG
    )
    full = TEXT + "\n" + ENOCH_SIG * MAX_SIGNATURES
    with pytest.raises(InvalidArgument):
        add_signature(full, "PeterNeumann", peter_private_key())


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ("abc", "PeterNeumann"),  # x/mod: "Sign with short text"
        ("", "PeterNeumann"),
        ("a\tb\n", "PeterNeumann"),
        (TEXT, "a+b"),  # x/mod: "Sign with bad name"
        (TEXT, "bad name"),  # x/mod: badSigner
        (TEXT, ""),
    ],
)
def test_sign_refuses_malformed_input(body: str, name: str) -> None:
    with pytest.raises(InvalidArgument):
        sign_note(body, name, peter_private_key())


@given(
    st.lists(
        st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=0, max_size=20),
        min_size=1,
        max_size=5,
    )
)
def test_sign_parse_verify_round_trip(lines: list[str]) -> None:
    body = "".join(line + "\n" for line in lines)
    note = sign_note(body, "PeterNeumann", peter_private_key())
    assert parse_note(note)[0] == body.encode()
    assert verify_note(note, [PETER]) == ["PeterNeumann"]


# --- opening (x/mod TestOpen) --------------------------------------------------------------------


def test_one_signature_verified_one_unknown() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    body, sigs = parse_note(note)
    assert body == TEXT.encode()
    assert [(s.name, s.key_id.hex()) for s in sigs] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]
    assert verify_note(note, [PETER]) == ["PeterNeumann"]
    assert verify_note(note, [PETER, ENOCH]) == ["PeterNeumann", "EnochRoot"]


def test_no_trusted_signature_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_same_name_other_key_is_ignored_not_trusted() -> None:
    impostor = Verifier.from_public_key("PeterNeumann", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(Unauthenticated):
        verify_note(TEXT + "\n" + PETER_SIG, [impostor])


def test_ambiguous_trusted_keys_are_refused() -> None:
    clash = Verifier("EnochRoot", ENOCH.key_id, PETER.public_key)
    with pytest.raises(InvalidArgument):
        verify_note(TEXT + "\n" + ENOCH_SIG, [ENOCH, PETER, clash])
    assert verify_note(TEXT + "\n" + PETER_SIG, [ENOCH, PETER, clash]) == ["PeterNeumann"]
    assert verify_note(TEXT + "\n" + ENOCH_SIG, [ENOCH, ENOCH]) == ["EnochRoot"]


def test_bad_signature_from_a_trusted_key_refuses_the_note() -> None:
    tampered = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]  # x/mod: "Invalid signature"
    with pytest.raises(Unauthenticated):
        verify_note(TEXT + "\n" + tampered, [PETER])
    with pytest.raises(Unauthenticated):
        verify_note(TEXT + "\n" + PETER_SIG + tampered, [PETER])
    with pytest.raises(Unauthenticated):
        verify_note(TEXT.replace("problem", "Problem") + "\n" + PETER_SIG, [PETER])


def test_duplicate_and_unknown_bad_signatures() -> None:
    enoch_tampered = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_tampered
    assert verify_note(note, [PETER]) == ["PeterNeumann"]


def test_signature_limit() -> None:
    assert verify_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [PETER]) == ["PeterNeumann"]
    for verifiers in ([PETER], []):
        with pytest.raises(InvalidArgument):
            verify_note(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), verifiers)


MALFORMED = {
    "no signatures": TEXT,
    "blank line only": TEXT + "\n",
    "last line unterminated": TEXT + "\n" + PETER_SIG[:-1],
    "control character": "\x01" + TEXT + "\n" + PETER_SIG,
    "carriage return": TEXT.replace("\n", "\r\n", 1) + "\n" + PETER_SIG,
    "bad name": TEXT + "\n" + "— Bad Name " + PETER_SIG.split(" ")[2],
    "trailing line": TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    "hyphen not em dash": TEXT + "\n" + PETER_SIG.replace("—", "-"),
    "bad base64": TEXT + "\n" + PETER_SIG.replace("x08g", "x08!"),
    "signature too short": TEXT + "\n" + "— PeterNeumann x08gow==\n",
    "no signature": TEXT + "\n" + "— PeterNeumann \n",
    "plus in name": TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
    "missing blank line": TEXT[:-1] + "\n" + PETER_SIG.replace("\n", "") + "\n",
}


@pytest.mark.parametrize("note", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_note(note)
    with pytest.raises(InvalidArgument):
        verify_note(note, [PETER])


def test_non_utf8_is_refused() -> None:
    for note in (b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), TEXT + "\ud800\n\n" + PETER_SIG):
        with pytest.raises(InvalidArgument) as caught:
            parse_note(note)
        assert caught.value.field == "note"


def test_body_may_hold_blank_lines() -> None:
    body = "first\n\nsecond\n\n"
    note = sign_note(body, "PeterNeumann", peter_private_key())
    assert parse_note(note)[0] == body.encode()
    assert verify_note(note, [PETER]) == ["PeterNeumann"]


def test_signature_line_format() -> None:
    sig = Signature("example.com/log", b"\x01\x02\x03\x04", b"\x05")
    assert sig.line() == "— example.com/log AQIDBAU=\n"


# --- C2SP examples and checkpoints -------------------------------------------------------------


def test_c2sp_signed_note_example() -> None:
    verifier = Verifier.from_vkey(C2SP["vkey"])
    assert verify_note(C2SP["note"], [verifier]) == ["example.com/foo"]
    assert parse_note(C2SP["note"])[0] == b"This is an example message.\n"


def test_c2sp_checkpoint_example_parses_exactly() -> None:
    body, sigs = parse_note(C2SP["checkpoint_note"])
    checkpoint = Checkpoint.parse(body)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.extensions == ()
    assert checkpoint.body() == body
    assert sigs[0].name == checkpoint.origin


def test_checkpoint_body_sign_and_open() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = Checkpoint("cxg.example/audit", 0, bytes(32), ("ext one",))
    assert checkpoint.body() == (
        b"cxg.example/audit\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next one\n"
    )
    note = sign_note(checkpoint.body(), "cxg.example/audit", key)
    verifier = Verifier.from_public_key("cxg.example/audit", key.public_key())
    assert Checkpoint.from_note(note, [verifier], origin="cxg.example/audit") == checkpoint
    with pytest.raises(InvalidArgument) as caught:
        Checkpoint.from_note(note, [verifier], origin="other.example/log")
    assert caught.value.field == "origin"
    with pytest.raises(Unauthenticated):
        Checkpoint.from_note(note, [PETER], origin="cxg.example/audit")


ROOT = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (f"log\n1\n{ROOT}", "body"),  # no final newline
        ("log\n1\n", "body"),
        (f"\n1\n{ROOT}\n", "origin"),
        (f"log\n01\n{ROOT}\n", "size"),
        (f"log\n+1\n{ROOT}\n", "size"),
        (f"log\n1_0\n{ROOT}\n", "size"),
        (f"log\n١\n{ROOT}\n", "size"),  # Arabic-Indic digit: int() would take it
        (f"log\n{2**64}\n{ROOT}\n", "size"),
        ("log\n1\nAAAA\n", "root"),
        (f"log\n1\n{ROOT[:-2]}B=\n", "root"),  # non-canonical padding bits
        (f"log\n1\n{ROOT}\n\n", "extensions[0]"),
        (f"log\n1\n{ROOT}\r\n", "body"),
    ],
)
def test_malformed_checkpoints(body: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        Checkpoint.parse(body)
    assert caught.value.field == field


def test_checkpoint_constructor_validates() -> None:
    with pytest.raises(InvalidArgument):
        Checkpoint("log", -1, bytes(32))
    with pytest.raises(InvalidArgument):
        Checkpoint("log", 1, bytes(31))
    with pytest.raises(InvalidArgument):
        Checkpoint("two\nlines", 1, bytes(32))


@given(
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=20),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1), max_size=3),
)
def test_checkpoint_round_trip(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(ext))
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
