"""The trust list: which issuer keys may sign SCO codes, published as a signed, versioned JWS.

As the EU DCC trust list, entries are found by the code's 8-byte kid. Several entries may share
one kid (a collision, or a key listed for two issuers); lookup returns every one of them and the
verifier tries each. A list is fresh until ``next_update``, stale (usable, with a warning) for a
grace period after it, and refused after that.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.errors import InvalidArgument, Unauthenticated
from gateway.sco._cose import KID_LENGTH, cose_kid
from gateway.sco._jws import epoch, from_epoch, sign_document, verify_document
from gateway.signing import SUPPORTED_ALGORITHMS, PublicKey, Signer, algorithm_of, public_jwk

TRUST_LIST_TYP = "cxg-sco-trust-list+jws"
GRACE = timedelta(days=7)


class Freshness(enum.StrEnum):
    FRESH = "FRESH"
    STALE = "STALE"  # past next_update, within the grace period: use, and warn
    REFUSED = "REFUSED"  # past next_update + grace: do not use


@dataclass(frozen=True)
class TrustedKey:
    """One issuer key. The public key object is built once here, not per verification."""

    kid: bytes
    issuer: str
    country: str
    alg: str
    jwk: Mapping[str, str]
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    public_key: PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.kid) != KID_LENGTH:
            raise InvalidArgument(f"must be {KID_LENGTH} bytes", field="kid")
        if self.alg not in SUPPORTED_ALGORITHMS:
            raise InvalidArgument(f"must be one of {SUPPORTED_ALGORITHMS}", field="alg")
        try:
            key = _public_key(self.jwk)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"not a usable public JWK: {exc}", field="jwk") from exc
        if algorithm_of(key) != self.alg:
            raise InvalidArgument(f"key type does not match alg {self.alg}", field="alg")
        object.__setattr__(self, "public_key", key)

    @classmethod
    def from_signing_key(
        cls,
        key: Signer,
        *,
        issuer: str,
        country: str,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
    ) -> TrustedKey:
        """The entry for a key that issues codes; its kid is the one ``issue`` puts in codes."""
        public = key.public_key()
        return cls(
            kid=cose_kid(public),
            issuer=issuer,
            country=country,
            alg=key.alg,
            jwk=public_jwk(public),
            valid_from=valid_from,
            valid_to=valid_to,
        )

    @classmethod
    def from_jwk(
        cls,
        jwk: Mapping[str, str],
        *,
        issuer: str,
        country: str,
        valid_from: datetime | None = None,
        valid_to: datetime | None = None,
    ) -> TrustedKey:
        """The entry for a registered public key (a partner that issues with its own key)."""
        public = _public_key(jwk)
        return cls(
            kid=cose_kid(public),
            issuer=issuer,
            country=country,
            alg=algorithm_of(public),
            jwk=public_jwk(public),
            valid_from=valid_from,
            valid_to=valid_to,
        )

    def valid_at(self, moment: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= moment) and (
            self.valid_to is None or moment < self.valid_to
        )

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kid": _b64(self.kid),
            "issuer": self.issuer,
            "country": self.country,
            "alg": self.alg,
            "jwk": dict(self.jwk),
        }
        if self.valid_from is not None:
            entry["valid_from"] = epoch(self.valid_from)
        if self.valid_to is not None:
            entry["valid_to"] = epoch(self.valid_to)
        return entry

    @classmethod
    def from_json(cls, entry: Any, where: str) -> TrustedKey:
        if not isinstance(entry, dict):
            raise InvalidArgument("must be an object", field=where)
        try:
            return cls(
                kid=_unb64(entry["kid"]),
                issuer=_str(entry, "issuer", where),
                country=_str(entry, "country", where),
                alg=_str(entry, "alg", where),
                jwk=entry["jwk"],
                valid_from=from_epoch(entry, "valid_from", where)
                if "valid_from" in entry
                else None,
                valid_to=from_epoch(entry, "valid_to", where) if "valid_to" in entry else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"bad trust list entry: {exc}", field=where) from exc


@dataclass(frozen=True)
class TrustList:
    """A version of the trust list. Build one and ``sign`` it, or ``verify`` a published one."""

    version: int
    issued_at: datetime
    next_update: datetime
    keys: tuple[TrustedKey, ...]
    grace: timedelta = GRACE
    _by_kid: dict[bytes, tuple[TrustedKey, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for key in self.keys:
            self._by_kid[key.kid] = (*self._by_kid.get(key.kid, ()), key)

    def keys_for(self, kid: bytes) -> tuple[TrustedKey, ...]:
        """Every entry with this kid, in list order (the verifier tries each)."""
        return self._by_kid.get(kid, ())

    def freshness(self, now: datetime) -> Freshness:
        if now < self.next_update:
            return Freshness.FRESH
        if now < self.next_update + self.grace:
            return Freshness.STALE
        return Freshness.REFUSED

    def sign(self, key: Signer) -> str:
        document = {
            "version": self.version,
            "iat": epoch(self.issued_at),
            "next_update": epoch(self.next_update),
            "keys": [k.to_json() for k in self.keys],
        }
        return sign_document(key, TRUST_LIST_TYP, document)

    @classmethod
    def verify(
        cls,
        jws: str,
        anchor_jwks: Mapping[str, Any],
        now: datetime,
        *,
        min_version: int = 0,
        grace: timedelta = GRACE,
    ) -> TrustList:
        """The list ``jws`` signs, if an anchor key verifies it and it is not refused.

        A stale list is returned (check ``freshness(now)`` to warn); one past its grace period,
        or older than ``min_version`` (a rollback to a list the caller has seen superseded),
        raises ``Unauthenticated``.
        """
        document = verify_document(jws, anchor_jwks, TRUST_LIST_TYP, "trust_list")
        version = document.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise InvalidArgument("must be an integer >= 0", field="trust_list/version")
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise InvalidArgument("must be a list", field="trust_list/keys")
        trust_list = cls(
            version=version,
            issued_at=from_epoch(document, "iat", "trust_list"),
            next_update=from_epoch(document, "next_update", "trust_list"),
            keys=tuple(
                TrustedKey.from_json(e, f"trust_list/keys/{i}") for i, e in enumerate(entries)
            ),
            grace=grace,
        )
        if version < min_version:
            raise Unauthenticated(
                f"trust list version {version} is older than version {min_version} already seen",
                field="trust_list/version",
                rule="rollback",
            )
        if trust_list.freshness(now) is Freshness.REFUSED:
            raise Unauthenticated(
                f"trust list version {version} was due for update at "
                f"{trust_list.next_update.isoformat()} and is past its {grace.days}-day grace period",
                field="trust_list/next_update",
                rule="stale",
            )
        return trust_list


def _public_key(jwk: Mapping[str, str]) -> PublicKey:
    if jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(_unb64(jwk["x"]))
    if jwk["kty"] == "EC" and jwk["crv"] == "P-256":
        x = int.from_bytes(_unb64(jwk["x"]), "big")
        y = int.from_bytes(_unb64(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raise ValueError(f"unsupported key type {jwk['kty']}/{jwk['crv']}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _str(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidArgument("must be a non-empty string", field=f"{where}/{name}")
    return value
