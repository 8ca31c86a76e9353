"""Verification of compact JWS signatures (RFC 7515) with cryptography, on the hot paths: a
partner's signed publication or client assertion, and a DPoP proof, on every call.

PyJWT does the same job, but its decoder checks each base64url character in a Python generator
(PyJWT 2.10 and later): on this machine that was about 0.2 µs per character, more than the
signature check itself for a DPoP proof and several times it for a publication. Here the
segments are checked by ``b64url_decode``, which refuses any segment that does not re-encode to
itself (junk characters, padding, non-canonical trailing bits), and the signature by OpenSSL.
The caller has chosen ``alg`` from what the key is registered for, never from the header.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gateway._json import JsonError, b64url_decode
from gateway.signing._jwk import PublicKey, algorithm_of

_SIGNATURE_BYTES = 64  # Ed25519, and ES256's r || s (RFC 7518 section 3.4)
_COORDINATE_BYTES = 32


class JwsRefused(ValueError):
    """The JWS is malformed, or (``bad_signature``) its signature does not verify."""

    def __init__(self, message: str, *, bad_signature: bool = False) -> None:
        super().__init__(message)
        self.bad_signature = bad_signature


def verify_compact_jws(jws: str, key: PublicKey, alg: str) -> bytes:
    """The payload of ``jws`` once its signature verifies with ``key`` under ``alg`` (which
    must be the key's algorithm). The payload is always read as base64url: callers refuse
    ``crit``, so RFC 7797's unencoded payload (``b64`` false, which must be critical) never
    applies."""
    if algorithm_of(key) != alg:
        raise ValueError(f"a {type(key).__name__} does not verify {alg}")
    parts = jws.split(".")
    if len(parts) != 3:
        raise JwsRefused("not a JWS compact serialization (three base64url parts)")
    header, payload, signature = parts
    try:
        payload_bytes = b64url_decode(payload)
        signature_bytes = b64url_decode(signature)
        b64url_decode(header)
    except JsonError as exc:
        raise JwsRefused(f"a part is not base64url: {exc}") from exc
    if len(signature_bytes) != _SIGNATURE_BYTES:
        raise JwsRefused(f"signature is not {_SIGNATURE_BYTES} bytes")
    signing_input = f"{header}.{payload}".encode("ascii")
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature_bytes, signing_input)
        else:
            r = int.from_bytes(signature_bytes[:32], "big")
            s = int.from_bytes(signature_bytes[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise JwsRefused("signature does not verify", bad_signature=True) from exc
    return payload_bytes


def jwk_public_key(jwk: Mapping[str, Any]) -> PublicKey:
    """The public key of an Ed25519 or P-256 JWK whose members were checked (``KeyError`` for
    a missing member, ``ValueError`` for one that makes no key)."""
    return public_key_of(jwk["kty"], jwk["crv"], jwk["x"], jwk.get("y", ""))


@lru_cache(maxsize=4096)
def public_key_of(kty: str, crv: str, x: str, y: str = "") -> PublicKey:
    """The public key of a JWK's members (base64url coordinates, already checked canonical);
    cached, since the same few keys sign call after call. Raises ``ValueError`` for a point
    that is not on the curve."""
    if (kty, crv) == ("OKP", "Ed25519"):
        return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(x))
    if (kty, crv) == ("EC", "P-256"):
        point = b"\x04" + b64url_decode(x) + b64url_decode(y)
        if len(point) != 1 + 2 * _COORDINATE_BYTES:
            raise ValueError("P-256 coordinates are 32 bytes each")
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    raise ValueError(f"unsupported key type {kty} {crv}")
