"""A partner's client written with jwcrypto, an independent JOSE library (not our code): it makes
the client assertions (RFC 7523) and DPoP proofs (RFC 9449) a partner institution would send."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from jwcrypto import jwk as jc_jwk
from jwcrypto import jwt as jc_jwt

from gateway.signing import SigningKey
from tests.support import TestPartner, b64url


def _jwk(key: SigningKey) -> jc_jwk.JWK:
    return jc_jwk.JWK.from_pem(key.private_pem())


def assertion(partner: TestPartner, *, key: SigningKey | None = None, **overrides: Any) -> str:
    """A client assertion made with jwcrypto, as a partner's own software would make it."""
    now = int(time.time())
    claims = {
        "iss": partner.id,
        "sub": partner.id,
        "aud": "cxg.qingdao.dev",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    signer = key or partner.key
    token = jc_jwt.JWT(header={"alg": signer.alg, "kid": partner.key.kid}, claims=claims)
    token.make_signed_token(_jwk(signer))
    return str(token.serialize())


class DpopClient:
    """A DPoP key pair held by the partner's client (jwcrypto)."""

    def __init__(self) -> None:
        self.key = jc_jwk.JWK.generate(kty="EC", crv="P-256")

    def proof(
        self, method: str, url: str, access_token: str | None = None, **overrides: Any
    ) -> str:
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if access_token:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        claims.update(overrides)
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": json.loads(self.key.export_public())}
        token = jc_jwt.JWT(header=header, claims=claims)
        token.make_signed_token(self.key)
        return str(token.serialize())
