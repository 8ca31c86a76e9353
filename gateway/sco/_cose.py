"""COSE_Sign1 (RFC 9052 section 4.2) for SCO codes, signed by a gateway ``Signer``
(a key file or an HSM) and checked with ``cryptography``.

Only what a code needs: protected header ``{1: alg, 4: kid}``, an empty unprotected header,
an attached payload, tag 18. Parsing is strict (one CBOR item, nothing trailing, only the two header
parameters); issuers encode deterministically (RFC 8949 section 4.2).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)

from gateway.signing import PublicKey, Signer

COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_KID = 4
KID_LENGTH = 8
# COSE algorithm ids (IANA "COSE Algorithms") for the two JWS algorithms the gateway signs with.
COSE_ALGORITHMS = {"EdDSA": -8, "ES256": -7}
JWS_ALGORITHMS = {v: k for k, v in COSE_ALGORITHMS.items()}
_SIGNATURE_LENGTH = 64  # Ed25519, and ES256 as raw r || s (RFC 9053 section 2.1)


class MalformedError(ValueError):
    """Bytes that are not the structure expected; the verifier turns it into MALFORMED."""


def cose_kid(public_key: PublicKey) -> bytes:
    """The code's key id: the first 8 bytes of SHA-256 over the SubjectPublicKeyInfo DER (as EU
    DCC). Short enough for a QR code; collisions are possible, so verifiers try every match."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()[:KID_LENGTH]


def cbor_encode(value: Any) -> bytes:
    return cbor2.dumps(value, canonical=True)


def cbor_decode(data: bytes) -> Any:
    """Decode one CBOR item that must be all of ``data``: definite lengths, no duplicate keys,
    nothing trailing. Any decoder failure is translated here, once.

    Over-long heads are not refused: the signature covers the protected header and payload as
    exact bytes, so another encoding of the envelope changes nothing a verifier relies on.
    """
    stream = io.BytesIO(data)
    try:
        decoder = cbor2.CBORDecoder(
            stream, max_depth=8, allow_indefinite=False, allow_duplicate_keys=False
        )
        value = decoder.decode()
    except Exception as exc:  # hostile bytes reach cbor2; whatever it raises is "malformed"
        raise MalformedError(f"not valid CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise MalformedError("bytes after the CBOR item")
    return value


@dataclass(frozen=True)
class Sign1:
    """A parsed, not yet verified COSE_Sign1 message."""

    protected: bytes
    alg: str
    kid: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return _sig_structure(self.protected, self.payload)

    def verify(self, public_key: PublicKey) -> bool:
        """True if ``public_key`` made this signature (the key's type must match ``alg``)."""
        tbs = self.to_be_signed()
        try:
            if self.alg == "EdDSA" and isinstance(public_key, ed25519.Ed25519PublicKey):
                public_key.verify(self.signature, tbs)
                return True
            if self.alg == "ES256" and isinstance(public_key, ec.EllipticCurvePublicKey):
                r = int.from_bytes(self.signature[:32], "big")
                s = int.from_bytes(self.signature[32:], "big")
                public_key.verify(encode_dss_signature(r, s), tbs, ec.ECDSA(hashes.SHA256()))
                return True
        except InvalidSignature:
            return False
        return False


def sign1(payload: bytes, key: Signer) -> bytes:
    """A tagged COSE_Sign1 over ``payload``; alg from the key, kid from its public key."""
    protected = cbor_encode(
        {HEADER_ALG: COSE_ALGORITHMS[key.alg], HEADER_KID: cose_kid(key.public_key())}
    )
    # The key's raw form is COSE's too: Ed25519, or ES256 as r || s (RFC 9053 section 2.1).
    signature = key.sign(_sig_structure(protected, payload))
    return cbor_encode(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def parse_sign1(data: bytes) -> Sign1:
    """The COSE_Sign1 structure of ``data``; reads no claim, checks no signature."""
    message = cbor_decode(data)
    if not isinstance(message, cbor2.CBORTag) or message.tag != COSE_SIGN1_TAG:
        raise MalformedError("not a tagged COSE_Sign1 message")
    body = message.value  # cbor2 decodes a tag's content immutably: a tuple, not a list
    if not isinstance(body, list | tuple) or len(body) != 4:
        raise MalformedError("COSE_Sign1 must be an array of four items")
    protected, unprotected, payload, signature = body
    if not isinstance(protected, bytes) or not isinstance(payload, bytes):
        raise MalformedError("COSE_Sign1 protected header and payload must be byte strings")
    if not isinstance(unprotected, Mapping) or unprotected:
        raise MalformedError("COSE_Sign1 unprotected header must be empty")
    if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_LENGTH:
        raise MalformedError(f"COSE signature must be {_SIGNATURE_LENGTH} bytes")
    header = cbor_decode(protected)
    if not isinstance(header, dict) or set(header) != {HEADER_ALG, HEADER_KID}:
        raise MalformedError("protected header must hold exactly alg (1) and kid (4)")
    alg = JWS_ALGORITHMS.get(header[HEADER_ALG]) if isinstance(header[HEADER_ALG], int) else None
    if alg is None:
        raise MalformedError(f"unsupported COSE algorithm {header[HEADER_ALG]!r}")
    kid = header[HEADER_KID]
    if not isinstance(kid, bytes) or len(kid) != KID_LENGTH:
        raise MalformedError(f"kid must be {KID_LENGTH} bytes")
    return Sign1(protected=protected, alg=alg, kid=kid, payload=payload, signature=signature)


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    # RFC 9052 section 4.4: no external AAD.
    return cbor_encode(["Signature1", protected, b"", payload])
