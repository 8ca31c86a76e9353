"""Offline verification of an SCO code: text in, one ``Result`` out, never an exception.

Order matters: sizes are bounded before any work, the COSE structure is parsed and its
signature checked before a single claim is read, and only signed claims decide validity.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.sco._cose import MalformedError, parse_sign1
from gateway.sco._status import CodeStatus, StatusList
from gateway.sco._token import OversizeError, ScoClaims, decode_claims, text_to_cose
from gateway.sco._trust import Freshness, TrustList


class Result(enum.StrEnum):
    VALID = "VALID"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    UNDER_REVIEW = "UNDER_REVIEW"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    FORGED = "FORGED"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    STALE_TRUST_LIST = "STALE_TRUST_LIST"
    MALFORMED = "MALFORMED"
    OVERSIZE = "OVERSIZE"


_BY_STATUS = {
    CodeStatus.REVOKED: Result.REVOKED,
    CodeStatus.SUSPENDED: Result.SUSPENDED,
    CodeStatus.UNDER_REVIEW: Result.UNDER_REVIEW,
}


@dataclass(frozen=True)
class Verification:
    """The outcome. ``claims`` is set only once the signature verified (then even when the
    result is, say, EXPIRED, so a verifier can show whose code it was)."""

    result: Result
    reasons: tuple[str, ...]
    claims: ScoClaims | None = None
    kid: bytes | None = None

    @property
    def valid(self) -> bool:
        return self.result is Result.VALID


def verify(
    text: object,
    trust_list: TrustList,
    status_list: StatusList | None = None,
    *,
    now: datetime | None = None,
    status_lists: Mapping[str, StatusList] | None = None,
) -> Verification:
    """Verify a code's text against a trust list and, if given, its issuer's status list.

    ``status_lists`` (by issuer) serves a verifier that holds the lists of some issuers only:
    a code of an issuer it has no list for is judged by signature and dates alone. A code that
    names its list's URI (the draft's status claim) is judged only by a list whose ``sub`` is
    that URI.
    """
    now = now or datetime.now(UTC)
    warnings: list[str] = []
    try:
        sign1 = parse_sign1(text_to_cose(text))
    except OversizeError as exc:
        return Verification(Result.OVERSIZE, (f"{exc}.",))
    except MalformedError as exc:
        return Verification(Result.MALFORMED, (f"{exc}.",))

    freshness = trust_list.freshness(now)
    if freshness is Freshness.REFUSED:
        return Verification(
            Result.STALE_TRUST_LIST,
            (f"Trust list version {trust_list.version} is past its update time and grace period.",),
        )
    if freshness is Freshness.STALE:
        warnings.append(f"Trust list version {trust_list.version} is past its update time.")

    candidates = [k for k in trust_list.keys_for(sign1.kid) if k.alg == sign1.alg]
    if not candidates:
        return Verification(
            Result.UNKNOWN_ISSUER,
            (*warnings, f"No trusted {sign1.alg} key has kid {sign1.kid.hex()}."),
            kid=sign1.kid,
        )
    signer = next((k for k in candidates if sign1.verify(k.public_key)), None)
    if signer is None:
        return Verification(
            Result.FORGED,
            (*warnings, f"The signature does not verify with any trusted key {sign1.kid.hex()}."),
            kid=sign1.kid,
        )

    try:
        claims = decode_claims(sign1.payload)
    except MalformedError as exc:
        return Verification(Result.MALFORMED, (*warnings, f"Signed {exc}."), kid=sign1.kid)

    def outcome(result: Result, *reasons: str) -> Verification:
        return Verification(result, (*warnings, *reasons), claims, sign1.kid)

    if claims.issuer != signer.issuer:
        return outcome(
            Result.UNKNOWN_ISSUER,
            f"Key {sign1.kid.hex()} is trusted for issuer {signer.issuer!r}, not {claims.issuer!r}.",
        )
    if not signer.valid_at(claims.issued_at):
        return outcome(
            Result.UNKNOWN_ISSUER, f"Key {sign1.kid.hex()} was not valid when the code was issued."
        )
    if now < claims.issued_at:
        return outcome(Result.NOT_YET_VALID, f"Valid from {claims.issued_at.isoformat()}.")
    if now >= claims.expires_at:
        return outcome(Result.EXPIRED, f"Expired at {claims.expires_at.isoformat()}.")
    if status_lists is not None:
        status_list = status_lists.get(claims.issuer)
    if status_list is None:
        return outcome(Result.VALID)

    # Fail closed: a status the list cannot vouch for is never VALID.
    unknown = _status_unknown(status_list, claims, now)
    if unknown:
        return outcome(Result.UNDER_REVIEW, f"Status unknown: {unknown}.")
    if status_list.issued_at and status_list.ttl and now >= status_list.issued_at + status_list.ttl:
        warnings.append("The status list is past its time-to-live; fetch a new one.")
    status = status_list.get(claims.status_index)
    if status is CodeStatus.VALID:
        return outcome(Result.VALID)
    return outcome(_BY_STATUS[status], f"The issuer's status list marks it {status.name}.")


def _status_unknown(status_list: StatusList, claims: ScoClaims, now: datetime) -> str:
    if status_list.issuer != claims.issuer:
        return f"the status list is issuer {status_list.issuer!r}'s, not {claims.issuer!r}'s"
    if claims.status_uri and status_list.subject != claims.status_uri:
        return f"the status list is {status_list.subject!r}, the code's is {claims.status_uri!r}"
    if status_list.expires_at is not None and now >= status_list.expires_at:
        return "the status list has expired"
    if claims.status_index >= status_list.size:
        return f"index {claims.status_index} is outside the status list"
    return ""
