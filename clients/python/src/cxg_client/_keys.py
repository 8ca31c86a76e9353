"""Keys a partner holds: its registered signing key (client assertions, publications) and the
DPoP key pair its access tokens are bound to (RFC 9449)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PUBLISH_TYP = "cxg-publish+jws"
DPOP_TYP = "dpop+jwt"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_jwk(key: PrivateKey) -> tuple[str, dict[str, str]]:
    """The algorithm and the public JWK (required members only) of a private key."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return "EdDSA", {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        numbers = key.public_key().public_numbers()
        return "ES256", {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }
    raise ValueError("only Ed25519 (EdDSA) and P-256 (ES256) keys are supported")


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of a public JWK's required members."""
    required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def _load_pem(pem: bytes, password: bytes | None = None) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password)
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("only Ed25519 (EdDSA) and P-256 (ES256) keys are supported")
    return key


def _pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class PartnerKey:
    """A partner's signing key as registered at the gateway: ``kid`` is its RFC 7638
    thumbprint, the algorithm follows from the key (EdDSA for Ed25519, ES256 for P-256)."""

    def __init__(self, partner_id: str, private_key: PrivateKey) -> None:
        self.partner_id = partner_id
        self.private_key = private_key
        self.alg, self.public_jwk = _public_jwk(private_key)
        self.kid = thumbprint(self.public_jwk)

    @classmethod
    def from_pem(cls, partner_id: str, pem: bytes, password: bytes | None = None) -> PartnerKey:
        return cls(partner_id, _load_pem(pem, password))

    @classmethod
    def from_file(
        cls, partner_id: str, path: str | os.PathLike[str], password: bytes | None = None
    ) -> PartnerKey:
        return cls.from_pem(partner_id, Path(path).read_bytes(), password)

    def client_assertion(self, audience: str, *, lifetime: int = 60) -> str:
        """A ``private_key_jwt`` client assertion (RFC 7523) for the token endpoint."""
        now = int(time.time())
        claims = {
            "iss": self.partner_id,
            "sub": self.partner_id,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid})

    def sign_publication(self, payload: bytes, **headers: Any) -> str:
        """A publication: exactly ``payload`` (a CreditProfile's proto3 JSON, or a record in a
        partner format) as a compact JWS typed ``cxg-publish+jws``."""
        return jwt.api_jws.encode(
            payload,
            self.private_key,
            algorithm=self.alg,
            headers={"typ": PUBLISH_TYP, **headers, "kid": self.kid},
        )


def htu(url: str) -> str:
    """A DPoP proof's ``htu``: the request URL without query and fragment (RFC 9449 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def access_token_hash(token: str) -> str:
    """``ath``: base64url SHA-256 of the access token (RFC 9449 4.2)."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


class DpopKey:
    """A DPoP key pair (ES256): the token is bound to its thumbprint (``cnf.jkt``) and every
    request carries a fresh proof signed with it. Keep it as secret as the token."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        alg, self.public_jwk = _public_jwk(self.private_key)
        if alg != "ES256":
            raise ValueError("a DPoP key is a P-256 key")
        self.jkt = thumbprint(self.public_jwk)
        self._headers = {"typ": DPOP_TYP, "jwk": self.public_jwk}

    @classmethod
    def from_pem(cls, pem: bytes) -> DpopKey:
        key = _load_pem(pem)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("a DPoP key is a P-256 key")
        return cls(key)

    def to_pem(self) -> bytes:
        return _pkcs8(self.private_key)

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """A proof for one request: a new ``jti``, the method and URL, and, with a token, its
        hash (``ath``); ``nonce`` when the server asked for one (``use_dpop_nonce``)."""
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method.upper(),
            "htu": htu(url),
            "iat": int(time.time()),
        }
        if access_token:
            claims["ath"] = access_token_hash(access_token)
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers=self._headers)
