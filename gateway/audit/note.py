"""C2SP signed notes with Ed25519 signatures, and transparency-log checkpoints.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> <base64(key id || signature)>`` (c2sp.org/signed-note). A checkpoint is a
note whose text is the log's origin, tree size and root hash (c2sp.org/tlog-checkpoint);
it is what the log signs and what partners verify offline.

Parsing is strict: what a verifier accepts is exactly what the specification allows.
Malformed text raises ``InvalidArgument`` naming the part at fault; a signature that does
not verify, or a note with no signature from a trusted key, raises ``Unauthenticated``.
Signatures from unknown keys are ignored, as the specification requires, so that logs can
rotate keys and witnesses can cosign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.errors import InvalidArgument, Unauthenticated

__all__ = [
    "MAX_SIGNATURES",
    "Checkpoint",
    "Signature",
    "Verifier",
    "add_signature",
    "parse_note",
    "sign_note",
    "verifier_key",
    "verify_note",
]

ED25519 = 0x01  # the signature type byte of c2sp.org/signed-note
MAX_SIGNATURES = 100  # the spec asks for at least 16; golang.org/x/mod/sumdb/note stops at 100
_SIG_PREFIX = "— "  # em dash U+2014, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX8 = re.compile(r"[0-9a-f]{8}")
_MAX_SIZE = 2**64


def _key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


class NoteSigner(Protocol):
    """What signs a note: an ``Ed25519PrivateKey``, or a gateway ``Signer`` with an Ed25519
    key (a file's or an HSM's)."""

    def sign(self, data: bytes, /) -> bytes: ...

    def public_key(self) -> Ed25519PublicKey | EllipticCurvePublicKey: ...


def note_public_key(signer: NoteSigner) -> Ed25519PublicKey:
    """The signer's public key; refused unless Ed25519, the only note signature type."""
    public = signer.public_key()
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("a note signing key must be Ed25519")
    return public


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str, field: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise InvalidArgument(f"key name {name!r} is empty or holds a space or '+'", field=field)


def _b64decode(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidArgument(f"is not standard base64: {exc}", field=field) from exc


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line: key name, 4-byte key id and the raw signature."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_SIG_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class Verifier:
    """A trusted Ed25519 note key; build it with ``from_vkey`` or ``from_public_key``."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> Verifier:
        _check_name(name, "name")
        return cls(name, _key_id(name, _raw(public_key)), public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``<name>+<hex key id>+<base64(0x01 || public key)>``, refusing any mismatch."""
        parts = vkey.split("+", 2)  # the base64 key may itself hold '+'
        if len(parts) != 3:
            raise InvalidArgument("must be <name>+<key id>+<key>", field="vkey")
        name, hex_id, encoded = parts
        _check_name(name, "vkey")
        if not _HEX8.fullmatch(hex_id):
            raise InvalidArgument("key id must be 8 lowercase hex digits", field="vkey")
        key = _b64decode(encoded, "vkey")
        if len(key) != 33 or key[0] != ED25519:
            raise InvalidArgument("key must be 0x01 and a 32-byte Ed25519 key", field="vkey")
        verifier = cls.from_public_key(name, Ed25519PublicKey.from_public_bytes(key[1:]))
        if verifier.key_id.hex() != hex_id:
            raise InvalidArgument("key id does not match the name and key", field="vkey")
        return verifier

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + _raw(self.public_key)).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verifies(self, body: bytes, signature: Signature) -> bool:
        if (signature.name, signature.key_id) != (self.name, self.key_id):
            return False
        try:
            self.public_key.verify(signature.signature, body)
        except InvalidSignature:
            return False
        return True


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key string (vkey) partners configure to trust ``name``'s notes."""
    return Verifier.from_public_key(name, public_key).vkey


def _text(note: str | bytes, field: str) -> str:
    """The note as text, refusing invalid UTF-8 and control characters other than newline."""
    try:
        text = note.decode("utf-8") if isinstance(note, bytes) else note
        text.encode("utf-8")  # a str may still hold lone surrogates
    except UnicodeError as exc:
        raise InvalidArgument("is not valid UTF-8", field=field) from exc
    if _CONTROL.search(text):
        raise InvalidArgument("holds a control character other than newline", field=field)
    return text


def _check_body(body: str | bytes) -> bytes:
    text = _text(body, "body")
    if not text.endswith("\n"):
        raise InvalidArgument("must end in a newline", field="body")
    return text.encode("utf-8")


def parse_note(note: str | bytes) -> tuple[bytes, list[Signature]]:
    """Split a signed note into its text (the signed bytes) and its signatures, unverified."""
    text = _text(note, "note")
    split = text.rfind("\n\n")
    if split < 0:
        raise InvalidArgument("has no blank line before the signatures", field="note")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise InvalidArgument("must end in a signature line and a newline", field="note")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidArgument(f"has more than {MAX_SIGNATURES} signatures", field="note")
    signatures = []
    for i, line in enumerate(lines):
        field = f"signatures[{i}]"
        if not line.startswith(_SIG_PREFIX):
            raise InvalidArgument("must start with an em dash and a space", field=field)
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        _check_name(name, field)
        raw = _b64decode(encoded, field)
        if len(raw) < 5:
            raise InvalidArgument("must hold a 4-byte key id and a signature", field=field)
        signatures.append(Signature(name, raw[:4], raw[4:]))
    return body.encode("utf-8"), signatures


def verify_note(note: str | bytes, verifiers: Iterable[Verifier | str]) -> list[str]:
    """Names of the trusted keys whose signatures verify; at least one, or it raises.

    ``verifiers`` are ``Verifier`` objects or vkey strings. Every signature from a trusted
    key (same name and key id) must verify, else the whole note is refused with
    ``Unauthenticated``; signatures from other keys are ignored.
    """
    body, signatures = parse_note(note)
    trusted: dict[tuple[str, bytes], list[Verifier]] = {}
    for item in verifiers:
        verifier = Verifier.from_vkey(item) if isinstance(item, str) else item
        trusted.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    verified: list[str] = []
    for signature in signatures:
        candidates = trusted.get((signature.name, signature.key_id), [])
        if not candidates:
            continue
        label = f"{signature.name}+{signature.key_id.hex()}"
        if len({_raw(v.public_key) for v in candidates}) > 1:
            raise InvalidArgument(f"two trusted keys are both {label}", field="verifiers")
        if not candidates[0].verifies(body, signature):
            raise Unauthenticated(f"the signature by {label} does not verify")
        if signature.name not in verified:
            verified.append(signature.name)
    if not verified:
        raise Unauthenticated("the note has no signature from a trusted key")
    return verified


def _signature(body: bytes, name: str, private_key: NoteSigner) -> Signature:
    _check_name(name, "name")
    key_id = _key_id(name, _raw(note_public_key(private_key)))
    return Signature(name, key_id, private_key.sign(body))


def sign_note(body: str | bytes, name: str, private_key: NoteSigner) -> str:
    """The signed note: ``body``, a blank line, and the signature line by ``name``."""
    signed = _check_body(body)
    return signed.decode("utf-8") + "\n" + _signature(signed, name, private_key).line()


def add_signature(note: str | bytes, name: str, private_key: NoteSigner) -> str:
    """``note`` with one more signature; an earlier one by the same key is replaced."""
    body, signatures = parse_note(note)
    new = _signature(body, name, private_key)
    kept = [s for s in signatures if (s.name, s.key_id) != (new.name, new.key_id)]
    if len(kept) >= MAX_SIGNATURES:
        raise InvalidArgument(f"already has {MAX_SIGNATURES} signatures", field="note")
    return body.decode("utf-8") + "\n" + "".join(s.line() for s in [*kept, new])


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's signed statement of its tree: origin, size and RFC 9162 root hash."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for field, line in [("origin", self.origin)] + [
            (f"extensions[{i}]", e) for i, e in enumerate(self.extensions)
        ]:
            if not line or "\n" in line or _CONTROL.search(line):
                raise InvalidArgument("must be one non-empty line", field=field)
        if type(self.size) is not int or not 0 <= self.size < _MAX_SIZE:
            raise InvalidArgument("must be an integer from 0 to 2^64-1", field="size")
        if len(self.root) != 32:
            raise InvalidArgument("must be a 32-byte SHA-256 hash", field="root")

    def body(self) -> bytes:
        """The exact note text a log signs."""
        root = base64.b64encode(self.root).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")

    @classmethod
    def parse(cls, body: str | bytes) -> Checkpoint:
        """The checkpoint in a note text, which must be exactly in canonical form."""
        text = _check_body(body).decode("utf-8")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise InvalidArgument("needs an origin, a size and a root hash line", field="body")
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise InvalidArgument("must be decimal without leading zeros", field="size")
        checkpoint = cls(origin, int(size), _b64decode(root, "root"), tuple(extensions))
        if checkpoint.body() != text.encode("utf-8"):
            raise InvalidArgument("is not canonical base64", field="root")
        return checkpoint

    @classmethod
    def from_note(
        cls, note: str | bytes, verifiers: Iterable[Verifier | str], *, origin: str
    ) -> Checkpoint:
        """Verify ``note`` with ``verifiers`` and return its checkpoint, which must be ``origin``'s."""
        verify_note(note, verifiers)
        checkpoint = cls.parse(parse_note(note)[0])
        if checkpoint.origin != origin:
            raise InvalidArgument(f"is {checkpoint.origin!r}, expected {origin!r}", field="origin")
        return checkpoint
