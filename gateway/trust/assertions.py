"""Client authentication by ``private_key_jwt`` (RFC 7523 section 3, as FAPI 2.0 profiles it).

A partner proves who it is with a short-lived JWT signed by one of its registered keys:
``iss`` = ``sub`` = its partner id, ``aud`` = this gateway's issuer identifier (one string, never
a list or the token endpoint's URL), ``exp`` at most five minutes ahead,
and a ``jti`` never used before. The registered key alone decides the algorithm. Its ``typ``, if
any, is ``JWT``: RFC 7523 asks for none, and any other names another kind of signed object (an
access token, a DPoP proof, a profile publication) that must not pass for an assertion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway._json import JsonError, read_json_object
from gateway.errors import Unauthenticated
from gateway.trust.partners import Partner, PartnerRegistry

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = 300  # seconds from now to exp
MAX_FUTURE_SKEW = 10  # an iat further ahead than this is refused
MAX_JTI_LENGTH = 256
MAX_CLAIMS_BYTES = 16 * 1024
# The typ values an assertion may carry; None: no typ (RFC 7519 section 5.1: "JWT" when present).
ASSERTION_TYPS = (None, "JWT")


@dataclass(frozen=True)
class AuthenticatedClient:
    partner: Partner
    kid: str
    jti: str
    expires_at: int


def verify_client_assertion(
    assertion: str,
    *,
    registry: PartnerRegistry,
    audience: str,
    now: float,
    remember_jti: Callable[[str, float], bool],
    client_id: str | None = None,
) -> AuthenticatedClient:
    """Check signature, claims and freshness; remember the jti last, so forgeries store nothing.

    ``client_id`` is the request's own ``client_id`` parameter, when it has one: it must name the
    partner the assertion authenticates (RFC 7521 section 4.2), never another.
    """
    field = "client_assertion"
    verified = registry.verify(assertion, typ=ASSERTION_TYPS, field=field)
    claims = _claims(verified.payload, field)
    partner = verified.partner
    for name in ("iss", "sub"):
        if claims.get(name) != partner.id:
            raise Unauthenticated(
                f"{name} must be the partner id of the signing key ({partner.id!r}), got {claims.get(name)!r}",
                field=f"{field}.{name}",
            )
    if client_id is not None and client_id != partner.id:
        raise Unauthenticated(
            f"client_id {client_id!r} is not the partner the assertion authenticates ({partner.id!r})",
            field="client_id",
        )
    # One string, the issuer identifier itself: not a list that also names it, nor the token
    # endpoint's URL (the 2025 private_key_jwt audience-injection advisory;
    # draft-ietf-oauth-rfc7523bis: a single aud equal to the authorization server's issuer).
    if claims.get("aud") != audience:
        raise Unauthenticated(
            f"aud must be exactly this gateway's issuer identifier {audience!r} (a single"
            f" string, not a list or a URL), got {repr(claims.get('aud'))[:120]}",
            field=f"{field}.aud",
        )
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Unauthenticated("exp is required, an integer", field=f"{field}.exp")
    if exp <= now:
        raise Unauthenticated("the assertion has expired", field=f"{field}.exp")
    if exp > now + MAX_LIFETIME:
        raise Unauthenticated(f"exp is more than {MAX_LIFETIME} s ahead", field=f"{field}.exp")
    for name in ("iat", "nbf"):  # optional; when present, not (much) later than now
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise Unauthenticated(f"{name} must be an integer", field=f"{field}.{name}")
        if value > now + MAX_FUTURE_SKEW:
            raise Unauthenticated(
                f"{name} is more than {MAX_FUTURE_SKEW} s in the future", field=f"{field}.{name}"
            )
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise Unauthenticated(
            f"jti is required, 1-{MAX_JTI_LENGTH} characters", field=f"{field}.jti"
        )
    if not remember_jti(f"assertion:{partner.id}:{jti}", exp):
        raise Unauthenticated(
            "this assertion was already used (replayed jti)", field=f"{field}.jti"
        )
    return AuthenticatedClient(partner=partner, kid=verified.kid, jti=jti, expires_at=exp)


def _claims(payload: bytes, field: str) -> dict[str, Any]:
    try:
        return read_json_object(payload, max_bytes=MAX_CLAIMS_BYTES)
    except JsonError as exc:
        raise Unauthenticated(
            f"assertion claims are not a bounded JSON object: {exc}", field=f"{field}.claims"
        ) from exc
