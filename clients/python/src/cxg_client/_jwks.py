"""The gateway's published keys (``/.well-known/jwks.json``), cached, and the verification of
what the gateway signs with them. The key's own ``alg`` decides the algorithm, never the token's
header; an unknown ``kid`` (a rotated key) fetches the set again, at most once per
``min_refetch_seconds``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from cxg_client._errors import VerificationError


@dataclass(frozen=True)
class Verified:
    """A JWS whose signature verified: its protected header and its payload, byte for byte."""

    header: dict[str, Any]
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


class JwksCache:
    def __init__(
        self,
        fetch: Callable[[], dict[str, Any]],
        *,
        issuer: str | None = None,
        ttl_seconds: float = 300.0,
        min_refetch_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._issuer = issuer
        self._ttl = ttl_seconds
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self.fetches = 0

    def _refresh(self) -> None:
        jwks = self._fetch()
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            raise VerificationError("the gateway's JWKS has no keys list")
        self._keys = {k["kid"]: k for k in keys if isinstance(k, dict) and "kid" in k}
        self._fetched_at = self._clock()
        self.fetches += 1

    def key(self, kid: str) -> dict[str, Any]:
        """The JWK with this ``kid``: from the cache while it is fresh; else, or when the kid is
        unknown and the last fetch is old enough, from the gateway."""
        with self._lock:
            now = self._clock()
            age = None if self._fetched_at is None else now - self._fetched_at
            if (
                age is None
                or age > self._ttl
                or (kid not in self._keys and age > self._min_refetch)
            ):
                self._refresh()
            jwk = self._keys.get(kid)
        if jwk is None:
            raise VerificationError(f"the gateway's JWKS has no key {kid!r}")
        return jwk

    def verify(self, jws: str, *, typ: str | None = None) -> Verified:
        """Verify a compact JWS the gateway signed; ``typ``, when given, must match."""
        try:
            header = jwt.get_unverified_header(jws)
        except jwt.PyJWTError as exc:
            raise VerificationError(f"not a JWS: {exc}") from exc
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise VerificationError("the JWS names no kid")
        jwk = self.key(kid)
        alg = jwk.get("alg")
        if not isinstance(alg, str) or header.get("alg") != alg:
            raise VerificationError(f"the JWS's alg is not its key's ({alg!r})")
        if typ is not None and str(header.get("typ", "")).lower() != typ:
            raise VerificationError(f"the JWS is typed {header.get('typ')!r}, not {typ!r}")
        if self._issuer is not None and "iss" in header and header["iss"] != self._issuer:
            raise VerificationError(f"the JWS is issued by {header['iss']!r}, not {self._issuer!r}")
        try:
            payload = jwt.api_jws.decode(jws, jwt.PyJWK(jwk).key, algorithms=[alg])
        except jwt.PyJWTError as exc:
            raise VerificationError(f"the gateway's signature does not verify: {exc}") from exc
        return Verified(header, payload)
