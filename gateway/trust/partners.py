"""Partner institutions, their registered keys, and verification of what partners sign.

The registry itself lives in the database (``gateway.storage.partners``); this module holds the
model, the rules a key must meet to be used, and signature verification against a
``PartnerDirectory``. Each key is registered for exactly one algorithm (its JWK ``alg``); a
token's own ``alg`` header never chooses how it is verified. A suspended partner or a retired
key stops working at the next request: nothing here is cached.

The file form (one JSON file per partner, as ``cxg demo`` writes and ``cxg partners import``
reads) is::

    {"id": "ru-credit-bureau", "name": "...", "country": "RU", "roles": ["credit_bureau"],
     "status": "active", "purposes": [], "operations": [],
     "quota": {"requests_per_second": 50, "burst": 100, "daily_requests": 100000},
     "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "...",
                        "alg": "EdDSA", "kid": "..."}]}}

``purposes``, ``operations``, ``quota`` and ``certificates`` (PEM client certificates for mutual
TLS) are optional.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography import x509

from gateway._json import JsonError, jws_header
from gateway.errors import InvalidArgument, PermissionDenied, Unauthenticated
from gateway.identifiers import is_country
from gateway.signing._jwk import SUPPORTED_ALGORITHMS, algorithm_of, thumbprint
from gateway.signing._verify import JwsRefused, jwk_public_key, verify_compact_jws
from gateway.trust.pki import PARTNER_ID_PATTERN, certificate_thumbprint

# A witness (a partner gateway or monitor) co-signs audit checkpoints it checked; a gateway is
# a peer (`cxg peers add`), whose keys follow its federation document.
ROLES = frozenset(
    {"credit_bureau", "bank", "customs", "sme_portal", "issuer", "operator", "witness", "gateway"}
)
# Roles whose data the gateway accepts as profile publications.
PUBLISHER_ROLES = frozenset({"credit_bureau", "bank", "customs"})
PARTNER_STATUSES = ("active", "suspended")
# Key ids are data, never paths or SQL; refusing other characters early gives a clear error.
_KID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


@dataclass(frozen=True)
class Quota:
    """A partner's request limits; None in a field means the gateway's default."""

    requests_per_second: float | None = None
    burst: int | None = None
    daily_requests: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_second", "burst", "daily_requests"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"quota {name} must be positive (or unset for the default)")


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    country: str
    roles: frozenset[str]
    status: str = "active"
    # Narrowing of what the roles allow; empty means no narrowing.
    purposes: frozenset[str] = field(default_factory=frozenset)
    operations: frozenset[str] = field(default_factory=frozenset)
    quota: Quota = field(default_factory=Quota)

    def __post_init__(self) -> None:
        if not PARTNER_ID_PATTERN.fullmatch(self.id):
            raise ValueError(
                f"partner id {self.id!r} must be 2-63 lower-case letters, digits or '-'"
            )
        if unknown := self.roles - ROLES:
            raise ValueError(f"unknown roles {sorted(unknown)}; known: {sorted(ROLES)}")
        if not self.roles:
            raise ValueError("a partner needs at least one role")
        if not is_country(self.country):
            raise ValueError(f"country {self.country!r} is not an ISO 3166-1 alpha-2 code")
        if self.status not in PARTNER_STATUSES:
            raise ValueError(f"status must be one of {PARTNER_STATUSES}")
        if not self.name.strip():
            raise ValueError("a partner needs a name")

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class PartnerKey:
    """A partner's public key, registered for one algorithm and a validity window."""

    kid: str
    partner_id: str
    alg: str
    jwk: Mapping[str, Any]
    not_before: datetime | None = None
    not_after: datetime | None = None
    status: str = "active"

    @classmethod
    def from_jwk(
        cls,
        partner_id: str,
        jwk: Mapping[str, Any],
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> PartnerKey:
        """Validate a public JWK for registration: one supported alg, no private members."""
        if private := _PRIVATE_MEMBERS & set(jwk):
            raise ValueError(
                f"the JWK holds private members {sorted(private)}: register the public key only"
            )
        alg = jwk.get("alg")
        if alg not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"JWK alg must be one of {SUPPORTED_ALGORITHMS}, got {alg!r}")
        try:  # the very conversion verification makes (JwsVerifier.verify)
            usable = algorithm_of(jwk_public_key(jwk)) == alg
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"JWK is not a usable {alg} key: {exc!r}") from exc
        if not usable:
            raise ValueError(f"JWK is not a usable {alg} key: its kty and crv are for another alg")
        kid = jwk.get("kid") or thumbprint(dict(jwk))
        if not _KID.fullmatch(kid):
            raise ValueError(f"kid {kid!r} must be 1-128 characters of A-Z a-z 0-9 _ . : -")
        if not_before and not_after and not_after <= not_before:
            raise ValueError("not_after must be later than not_before")
        public = {k: v for k, v in jwk.items() if k not in ("use", "key_ops")} | {"kid": kid}
        return cls(kid, partner_id, alg, public, not_before, not_after)

    def refusal_at(self, now: datetime) -> str | None:
        """Why this key cannot be used at ``now``, or None when it can."""
        if self.status != "active":
            return f"key {self.kid!r} is {self.status}"
        if self.not_before and now < self.not_before:
            return f"key {self.kid!r} is not valid before {self.not_before.isoformat()}"
        if self.not_after and now >= self.not_after:
            return f"key {self.kid!r} expired at {self.not_after.isoformat()}"
        return None


@dataclass(frozen=True)
class PartnerCertificate:
    """An mTLS client certificate registered for a partner, known by its RFC 8705 thumbprint."""

    thumbprint: str
    partner_id: str
    subject: str
    not_after: datetime

    @classmethod
    def from_pem(cls, partner_id: str, pem: bytes) -> PartnerCertificate:
        """ValueError when ``pem`` is not exactly one certificate."""
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate: {exc}") from exc
        return cls(
            thumbprint=certificate_thumbprint(pem),
            partner_id=partner_id,
            subject=cert.subject.rfc4514_string(),
            not_after=cert.not_valid_after_utc,
        )


def parse_partner_file(data: Mapping[str, Any]) -> tuple[Partner, list[PartnerKey]]:
    """A partner and its keys from the file form; ValueError or KeyError when malformed."""
    partner = Partner(
        id=data["id"],
        name=data["name"],
        country=data["country"],
        roles=frozenset(data["roles"]),
        status=data.get("status", "active"),
        purposes=frozenset(data.get("purposes", ())),
        operations=frozenset(data.get("operations", ())),
        quota=Quota(**data.get("quota", {})),
    )
    return partner, [PartnerKey.from_jwk(partner.id, jwk) for jwk in data["jwks"]["keys"]]


class PartnerDirectory(Protocol):
    """Where the registry finds a key and its owner (the database, in the gateway)."""

    def key(self, kid: str) -> tuple[Partner, PartnerKey] | None: ...

    def certificate_owner(self, thumbprint: str) -> str | None: ...


@dataclass(frozen=True)
class VerifiedJws:
    """A partner JWS whose signature checked out against that partner's registered key."""

    partner: Partner
    kid: str
    header: dict[str, Any]
    payload: bytes


class PartnerRegistry:
    """Verifies partner signatures against the keys registered in a directory."""

    def __init__(
        self,
        directory: PartnerDirectory,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._directory = directory
        self._clock = clock

    def verify(
        self, token: str, *, typ: str | tuple[str | None, ...], field: str = "jws"
    ) -> VerifiedJws:
        """Verify a partner's compact JWS; the registered key alone decides the algorithm.

        ``typ`` is the header ``typ`` of the one kind of object the caller expects (or the
        kinds; None: no ``typ``), so that a partner's signature on one kind of object is never
        taken for another (RFC 8725 section 3.11). Values compare as RFC 7515 section 4.1.9
        says: without case, and with or without ``application/``.
        """
        header = _protected_header(token, field)
        accepted = {_media_type(t) for t in ((typ,) if isinstance(typ, str) else typ)}
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("JWS header has no kid", field=f"{field}.header.kid")
        if not _KID.fullmatch(kid):
            raise Unauthenticated(
                "JWS kid has characters no registered key id has", field=f"{field}.header.kid"
            )
        found = self._directory.key(kid)
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
        if refusal := key.refusal_at(self._clock()):
            raise Unauthenticated(refusal, field=f"{field}.header.kid")
        stated = header.get("typ")
        if not (stated is None or isinstance(stated, str)) or _media_type(stated) not in accepted:
            expected = ", ".join(sorted("no typ" if t is None else repr(t) for t in accepted))
            raise Unauthenticated(
                f"JWS typ {stated!r} is not the typ of this kind of object ({expected})",
                field=f"{field}.header.typ",
            )
        try:
            payload = verify_compact_jws(token, jwk_public_key(key.jwk), key.alg)
        except JwsRefused as exc:
            if exc.bad_signature:
                raise Unauthenticated("JWS signature does not verify", field=field) from exc
            raise Unauthenticated(f"JWS rejected: {exc}", field=field) from exc
        if not partner.active:
            raise PermissionDenied(f"partner {partner.id!r} is {partner.status}")
        return VerifiedJws(partner=partner, kid=kid, header=header, payload=payload)


def _protected_header(token: str, field: str) -> dict[str, Any]:
    """The decoded protected header of a compact JWS, read before any key is chosen."""
    if token.count(".") != 2:
        raise InvalidArgument(
            "not a JWS compact serialization (three base64url parts)", field=field
        )
    try:
        return jws_header(token)
    except JsonError as exc:
        raise Unauthenticated(
            f"JWS protected header is not a base64url JSON object: {exc}", field=f"{field}.header"
        ) from exc


def _media_type(typ: str | None) -> str | None:
    """A ``typ`` as RFC 7515 section 4.1.9 compares it: case-insensitive, ``application/``
    optional."""
    return None if typ is None else typ.lower().removeprefix("application/")
