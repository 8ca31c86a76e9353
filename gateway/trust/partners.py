"""The partner registry (file form) and verification of what partners sign.

One JSON file per partner institution under ``keys/partners/``::

    {"id": "ru-credit-bureau", "name": "...", "country": "RU", "roles": ["credit_bureau"],
     "status": "active", "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "...",
                                             "alg": "EdDSA", "kid": "..."}]}}

Each key is registered for exactly one algorithm (its JWK ``alg``); a token's own ``alg``
header never chooses how it is verified.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from gateway.errors import InvalidArgument, PermissionDenied, Unauthenticated, Unavailable
from gateway.identifiers import is_country
from gateway.signing._jwk import SUPPORTED_ALGORITHMS, thumbprint

ROLES = frozenset({"credit_bureau", "bank", "customs", "sme_portal", "issuer", "operator"})
# Roles whose data the gateway accepts as profile publications.
PUBLISHER_ROLES = frozenset({"credit_bureau", "bank", "customs"})


@dataclass(frozen=True)
class PartnerKey:
    kid: str
    alg: str
    jwk: jwt.PyJWK


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    country: str
    roles: frozenset[str]
    status: str
    keys: tuple[PartnerKey, ...]

    @property
    def active(self) -> bool:
        return self.status == "active"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Partner:
        roles = frozenset(data["roles"])
        if unknown := roles - ROLES:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        if not is_country(data["country"]):
            raise ValueError(f"country {data['country']!r} is not an ISO 3166-1 alpha-2 code")
        if data.get("status", "active") not in ("active", "suspended"):
            raise ValueError("status must be 'active' or 'suspended'")
        return cls(
            id=data["id"],
            name=data["name"],
            country=data["country"],
            roles=roles,
            status=data.get("status", "active"),
            keys=tuple(_partner_key(jwk) for jwk in data["jwks"]["keys"]),
        )


def _partner_key(jwk: dict[str, Any]) -> PartnerKey:
    alg = jwk.get("alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"key alg must be one of {SUPPORTED_ALGORITHMS}, got {alg!r}")
    parsed = jwt.PyJWK(jwk, algorithm=alg)
    return PartnerKey(kid=jwk.get("kid") or thumbprint(jwk), alg=alg, jwk=parsed)


@dataclass(frozen=True)
class VerifiedJws:
    """A partner JWS whose signature checked out against that partner's registered key."""

    partner: Partner
    kid: str
    header: dict[str, Any]
    payload: bytes


class PartnerRegistry:
    """Registered partner institutions and their keys, indexed by key id."""

    def __init__(self, partners: Iterable[Partner]) -> None:
        self._partners: dict[str, Partner] = {}
        self._keys: dict[str, tuple[Partner, PartnerKey]] = {}
        for partner in partners:
            if partner.id in self._partners:
                raise ValueError(f"duplicate partner id {partner.id!r}")
            self._partners[partner.id] = partner
            for key in partner.keys:
                if key.kid in self._keys:
                    raise ValueError(f"key id {key.kid!r} is registered twice")
                self._keys[key.kid] = (partner, key)

    @classmethod
    def from_dir(cls, directory: Path) -> PartnerRegistry:
        partners = []
        for path in sorted(directory.glob("*.json")):
            try:
                partners.append(Partner.from_dict(json.loads(path.read_text())))
            except (ValueError, KeyError, TypeError, jwt.PyJWKError) as exc:
                raise Unavailable(f"partner file {path} is invalid: {exc}") from exc
        return cls(partners)

    def __iter__(self) -> Any:
        return iter(self._partners.values())

    def get(self, partner_id: str) -> Partner | None:
        return self._partners.get(partner_id)

    def verify(self, token: str, *, field: str = "jws") -> VerifiedJws:
        """Verify a partner's compact JWS; the registered key alone decides the algorithm."""
        header = _protected_header(token, field)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("JWS header has no kid", field=f"{field}.header.kid")
        found = self._keys.get(kid)
        if found is None:
            raise Unauthenticated(
                f"no registered partner key has kid {kid!r}", field=f"{field}.header.kid"
            )
        partner, key = found
        if header.get("alg") != key.alg:
            raise Unauthenticated(
                f"JWS alg {header.get('alg')!r} is not the algorithm registered for key {kid!r} ({key.alg})",
                field=f"{field}.header.alg",
            )
        if header.get("crit") is not None:
            raise Unauthenticated(
                "JWS crit header parameters are not supported", field=f"{field}.header.crit"
            )
        try:
            decoded = jwt.api_jws.decode_complete(token, key.jwk.key, algorithms=[key.alg])
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("JWS signature does not verify", field=field) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"JWS rejected: {exc}", field=field) from exc
        if not partner.active:
            raise PermissionDenied(f"partner {partner.id!r} is {partner.status}")
        return VerifiedJws(partner=partner, kid=kid, header=header, payload=decoded["payload"])


def _protected_header(token: str, field: str) -> dict[str, Any]:
    """The decoded protected header of a compact JWS, read before any key is chosen."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidArgument(
            "not a JWS compact serialization (three base64url parts)", field=field
        )
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unauthenticated(
            f"JWS protected header is not base64url JSON: {exc}", field=f"{field}.header"
        ) from exc
    if not isinstance(header, dict):
        raise Unauthenticated("JWS protected header is not a JSON object", field=f"{field}.header")
    return header
