"""What every gateway signing key does, wherever its private half lives.

A ``Signer`` has a kid, an alg, a public key and ``sign(data) -> bytes`` giving the raw signature
JWS and COSE carry (Ed25519: 64 bytes; ES256: r || s, 64 bytes). Everything built on a
signature (JWS, JWT, COSE_Sign1, signed notes) is written once, here or by its format's module,
over that one method. Two backends implement it: ``SigningKey`` (a key file, ``keyring.py``) and
``Pkcs11Key`` (a key that never leaves a PKCS#11 token, ``pkcs11.py``).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from gateway.signing._jwk import PublicKey, b64url, public_jwk


class Signer(ABC):
    """A private signing key the gateway can use but need not hold."""

    kid: str  # RFC 7638 thumbprint of the public JWK
    alg: str  # "EdDSA" or "ES256"

    @abstractmethod
    def public_key(self) -> PublicKey:
        """The public half, as ``cryptography`` verifies with."""

    @abstractmethod
    def sign(self, data: bytes) -> bytes:
        """The raw signature of exactly ``data`` (Ed25519, or ES256 as r || s)."""

    @abstractmethod
    def derive_secret(self, info: bytes) -> bytes:
        """32 bytes that only a holder of this private key can compute, the same each time and
        on every replica, and different for each ``info`` (DPoP nonce MACs use it)."""

    def public_jwk(self) -> dict[str, str]:
        """The public JWK as published: key members plus kid, alg and use."""
        return {**public_jwk(self.public_key()), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign_jws(self, payload: bytes, headers: dict[str, Any]) -> str:
        """A JWS compact serialization of exactly ``payload``, with alg and kid set from this key.
        The header is written as PyJWT writes it (typ JWT unless given, keys sorted, compact)."""
        header = {"typ": "JWT", **headers, "alg": self.alg, "kid": self.kid}
        if not header["typ"]:
            del header["typ"]
        encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
        signing_input = f"{b64url(encoded)}.{b64url(payload)}"
        return f"{signing_input}.{b64url(self.sign(signing_input.encode('ascii')))}"

    def sign_jwt(self, claims: dict[str, Any], headers: dict[str, Any]) -> str:
        """A JWT (RFC 7519) of ``claims``, serialized as PyJWT serializes them."""
        return self.sign_jws(json.dumps(claims, separators=(",", ":")).encode("utf-8"), headers)
