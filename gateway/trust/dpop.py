"""Verification of OAuth 2.0 DPoP proofs (RFC 9449): the rules of section 4.3, and ``ath``.

A DPoP proof is a compact JWS whose protected header carries the public key it is signed
with; the proof shows that whoever sends the request holds the matching private key. This
module only checks a proof against the request it came with (method, URL, access token,
time) and against a replay store supplied by the caller; reading the ``DPoP`` header and
keeping the ``jti`` store are the transport's and storage's business.

Server-provided nonces (RFC 9449 sections 8 and 9) are ``DpopNonces``: a time slot with a MAC
under a key derived from the gateway's signing keys, so that every replica holding the same keys
issues and checks the same nonces with no shared state.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gateway._json import b64url_decode, read_json_object
from gateway.errors import InvalidArgument, Unauthenticated
from gateway.signing import Signer, SigningKey
from gateway.signing._jwk import SUPPORTED_ALGORITHMS, PrivateKey, b64url, thumbprint
from gateway.signing._verify import JwsRefused, jwk_public_key, verify_compact_jws

# A proof is a few hundred bytes; the cap bounds the work an unauthenticated caller can ask for.
MAX_PROOF_LENGTH = 8 * 1024
MAX_JTI_LENGTH = 256
DPOP_TYP = "dpop+jwt"
# A proof is accepted this long after its iat (and up to MAX_FUTURE_SKEW before it).
MAX_PROOF_AGE = 60
MAX_FUTURE_SKEW = 10
# The field of every refusal about a proof's nonce: the token endpoint answers it with
# use_dpop_nonce and a fresh DPoP-Nonce (RFC 9449 section 8).
NONCE_FIELD = "DPoP.claims.nonce"
# A nonce names the NONCE_WINDOW-second slot it was issued in; it is accepted in that slot and the
# next, so it lives between one and two windows (plus the replicas' clock skew).
NONCE_WINDOW = 300
_NONCE_MAC_BYTES = 16
_NONCE_INFO = b"cxg dpop-nonce v1"

# The one key type each accepted algorithm may be used with: (kty, crv, coordinate members).
_KEY_TYPES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "EdDSA": ("OKP", "Ed25519", ("x",)),
    "ES256": ("EC", "P-256", ("x", "y")),
}
# Ed25519 public keys and P-256 coordinates are both 32 bytes.
_COORDINATE_BYTES = 32
# Private or symmetric JWK members (RFC 7518 sections 6.2.2, 6.3.2, 6.4; RFC 8037 section 2):
# a proof that ships its private key proves nothing about who holds it.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# The signature may be empty only so that alg "none" is refused by name, not as bad syntax.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_PERCENT_ENCODED = re.compile(r"%([0-9A-Fa-f]{2})")

__all__ = [
    "DPOP_TYP",
    "MAX_PROOF_LENGTH",
    "NONCE_FIELD",
    "DpopNonces",
    "DpopProof",
    "check_dpop_proof",
    "dpop_ath",
    "refuse_replayed",
    "verify_dpop_proof",
]


@dataclass(frozen=True)
class DpopProof:
    """A DPoP proof that passed every check of RFC 9449 section 4.3."""

    jkt: str  # RFC 7638 SHA-256 thumbprint (base64url) of the proof's public JWK
    jti: str
    htm: str
    htu: str
    iat: int
    nonce: str | None = None  # the server nonce it carried, which was valid
    # Until when its jti must be remembered (Unix seconds): derived, not part of the proof.
    replay_until: int = field(default=0, compare=False)

    @property
    def replay_key(self) -> str:
        # Scoped by thumbprint (base64url, no ':'), so one client cannot burn another's jti.
        return f"{self.jkt}:{self.jti}"


class DpopNonces:
    """Server-provided DPoP nonces (RFC 9449 section 8) that need no shared state.

    A nonce is base64url(slot || MAC(slot)), where slot is the number of the NONCE_WINDOW-second
    period it was issued in and the MAC is HMAC-SHA-256 (truncated to 128 bits) under a secret
    derived (HKDF) from a gateway signing key and the gateway id. Every replica that holds the
    same keys directory issues the same nonce in a slot and accepts the others'; a gateway with
    other keys accepts none of them. The newest key issues; every key of the keyring is tried
    when checking, so a rotation does not refuse the nonces issued just before it.
    """

    def __init__(self, secrets: Sequence[bytes], *, window: int = NONCE_WINDOW) -> None:
        if not secrets or any(len(secret) < 32 for secret in secrets):
            raise ValueError("DPoP nonces need at least one secret of 32 bytes or more")
        if window <= MAX_FUTURE_SKEW:
            raise ValueError(f"the nonce window must be longer than {MAX_FUTURE_SKEW} s")
        self._secrets = tuple(secrets)
        self.window = window
        self._issued = (-1, "")  # the current slot's nonce, made once per window

    @classmethod
    def from_keys(
        cls,
        active: Signer | PrivateKey,
        others: Sequence[Signer | PrivateKey] = (),
        *,
        gateway_id: str,
    ) -> DpopNonces:
        """Nonces keyed by the gateway's signing keys (``Signer``s, or bare private keys),
        ``active`` first (it issues)."""
        return cls([_nonce_secret(key, gateway_id) for key in (active, *others)])

    def issue(self, now: float) -> str:
        slot = int(now // self.window)
        issued_slot, nonce = self._issued
        if slot != issued_slot:
            nonce = b64url(self._mac(self._secrets[0], slot))
            self._issued = (slot, nonce)
        return nonce

    def expires_at(self, nonce: object, now: float) -> int:
        """When a nonce this gateway issued stops being accepted; refuses (``NONCE_FIELD``) a
        nonce it did not issue or that is no longer (or not yet) valid at ``now``."""
        try:
            raw = b64url_decode(nonce) if isinstance(nonce, str) and len(nonce) < 64 else b""
        except ValueError:
            raw = b""
        if len(raw) != 8 + _NONCE_MAC_BYTES:
            raise Unauthenticated(
                "claim nonce is not a nonce this gateway issued: use the DPoP-Nonce it sent",
                field=NONCE_FIELD,
            )
        slot = int.from_bytes(raw[:8], "big")
        if not any(hmac.compare_digest(self._mac(s, slot), raw) for s in self._secrets):
            raise Unauthenticated(
                "claim nonce is not a nonce this gateway issued: use the DPoP-Nonce it sent",
                field=NONCE_FIELD,
            )
        starts, ends = slot * self.window, (slot + 2) * self.window
        if not starts - MAX_FUTURE_SKEW <= now < ends:
            raise Unauthenticated(
                "claim nonce has expired: use the DPoP-Nonce sent with this answer",
                field=NONCE_FIELD,
            )
        return ends

    def _mac(self, secret: bytes, slot: int) -> bytes:
        packed = slot.to_bytes(8, "big")
        return packed + hmac.digest(secret, packed, "sha256")[:_NONCE_MAC_BYTES]


def _nonce_secret(key: Signer | PrivateKey, gateway_id: str) -> bytes:
    """A secret for nonces only, derived from a signing key (HKDF-SHA-256, with its own info
    string: knowing a nonce secret tells nothing about the signing key). A key file's secret is
    derived from its private bytes, an HSM key's inside the token (``Signer.derive_secret``)."""
    signer = key if isinstance(key, Signer) else SigningKey.from_private_key(key)
    return signer.derive_secret(_NONCE_INFO + b"\x00" + gateway_id.encode())


def dpop_ath(access_token: str) -> str:
    """The ``ath`` claim for an access token: base64url(SHA-256(ASCII token)), unpadded."""
    try:
        raw = access_token.encode("ascii")
    except UnicodeEncodeError as exc:
        # RFC 6750 b64token syntax is ASCII; hashing some other encoding would never match.
        raise InvalidArgument("access token is not ASCII", field="access_token") from exc
    return b64url(hashlib.sha256(raw).digest())


def verify_dpop_proof(
    proof: str,
    *,
    method: str,
    url: str | Sequence[str],
    now: float,
    remember_jti: Callable[[str, float], bool],
    access_token: str | None = None,
    expected_jkt: str | None = None,
    nonces: DpopNonces | None = None,
    require_nonce: bool = False,
    max_age: int = MAX_PROOF_AGE,
    max_future_skew: int = MAX_FUTURE_SKEW,
) -> DpopProof:
    """Verify a DPoP proof for the request ``method url`` received at ``now`` (Unix seconds):
    ``check_dpop_proof``, then its ``jti`` is remembered.

    ``remember_jti(key, expires_at)`` must atomically store ``key`` until ``expires_at`` and
    return True, or return False if ``key`` is already stored.
    """
    checked = check_dpop_proof(
        proof,
        method=method,
        url=url,
        now=now,
        access_token=access_token,
        expected_jkt=expected_jkt,
        nonces=nonces,
        require_nonce=require_nonce,
        max_age=max_age,
        max_future_skew=max_future_skew,
    )
    refuse_replayed(checked, remember_jti)
    return checked


def refuse_replayed(proof: DpopProof, remember_jti: Callable[[str, float], bool]) -> None:
    """Remember a checked proof's ``jti``; refuse it when it was seen before."""
    if not remember_jti(proof.replay_key, proof.replay_until):
        raise Unauthenticated(
            "replayed proof: this jti was already used with this key", field="DPoP.claims.jti"
        )


def check_dpop_proof(
    proof: str,
    *,
    method: str,
    url: str | Sequence[str],
    now: float,
    access_token: str | None = None,
    expected_jkt: str | None = None,
    nonces: DpopNonces | None = None,
    require_nonce: bool = False,
    max_age: int = MAX_PROOF_AGE,
    max_future_skew: int = MAX_FUTURE_SKEW,
) -> DpopProof:
    """Every check of a DPoP proof but the replay check (``refuse_replayed``), which a caller
    makes last, so that only proofs which passed every other check take room in the store.

    ``url`` is the URL the request was sent to as the server knows it, never as the request
    describes itself (Host, Forwarded); a server reached at several origins passes the URL under
    each of them, and ``htu`` must name one.

    When ``access_token`` is given the proof must carry its ``ath``; ``expected_jkt`` is the
    ``cnf.jkt`` the token is bound to. A ``nonce`` claim must be one ``nonces`` issued and still
    valid; ``require_nonce``: a proof without one is refused too. The nonce is checked after
    everything else, so that a refusal naming ``NONCE_FIELD`` means only the nonce is wrong.
    Every refusal is an ``Unauthenticated`` whose ``field`` names the part of the proof.
    """
    if max_age < 0 or max_future_skew < 0:
        raise ValueError("max_age and max_future_skew must not be negative")

    header = _protected_header(proof)
    alg = _check_header(header)
    jwk = _public_jwk(header, alg)
    claims = _verified_claims(proof, jwk, alg)
    jkt = thumbprint(jwk)

    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= MAX_JTI_LENGTH:
        raise Unauthenticated(
            f"claim jti must be a string of 1 to {MAX_JTI_LENGTH} characters",
            field="DPoP.claims.jti",
        )

    htm = claims.get("htm")
    if not isinstance(htm, str):
        raise Unauthenticated("claim htm is missing or not a string", field="DPoP.claims.htm")
    # HTTP methods are case-sensitive (RFC 9110 section 9.1): "get" is not "GET".
    if htm != method:
        raise Unauthenticated(
            f"claim htm {htm!r} is not the request method {method!r}", field="DPoP.claims.htm"
        )

    htu = _checked_htu(claims.get("htu"), url)
    iat = _checked_iat(claims.get("iat"), now, max_age, max_future_skew)
    _check_validity(claims, now, max_future_skew)
    if access_token is not None:
        _check_ath(claims.get("ath"), access_token)

    if expected_jkt is not None and jkt != expected_jkt:
        raise Unauthenticated(
            "the proof's key is not the key the access token is bound to (cnf.jkt)",
            field="DPoP.header.jwk",
        )

    nonce = claims.get("nonce")
    if nonce is None:
        if require_nonce:
            raise Unauthenticated(
                "this gateway requires a server nonce in DPoP proofs: use the DPoP-Nonce it sent",
                field=NONCE_FIELD,
            )
    elif nonces is None:
        raise Unauthenticated("claim nonce: this server issues no nonces", field=NONCE_FIELD)
    else:
        nonces.expires_at(nonce, now)

    # A proof is refused as too old after iat + max_age anyway, so its jti need not outlive it.
    return DpopProof(
        jkt=jkt,
        jti=jti,
        htm=htm,
        htu=htu,
        iat=iat,
        nonce=nonce if isinstance(nonce, str) else None,
        replay_until=iat + max_age,
    )


def _checked_htu(htu: object, url: str | Sequence[str]) -> str:
    if not isinstance(htu, str):
        raise Unauthenticated("claim htu is missing or not a string", field="DPoP.claims.htu")
    urls = (url,) if isinstance(url, str) else tuple(url)
    if not urls:
        raise ValueError("no request URL to compare htu with")
    try:
        request_targets = {_normalized_target(u) for u in urls}
    except ValueError as exc:
        # The URL is the request's path under the server's own origins: a path that makes no
        # URL is a bad request, not a bad proof.
        raise InvalidArgument(f"request URL cannot be compared: {exc}", field="url") from exc
    try:
        proof_target = _normalized_target(htu)
    except ValueError as exc:
        raise Unauthenticated(
            f"claim htu is not an absolute http(s) URI: {exc}", field="DPoP.claims.htu"
        ) from exc
    if proof_target not in request_targets:
        raise Unauthenticated(
            f"claim htu {htu!r} is not the request URI {urls[0]!r}"
            + (f" or the same path under another of {len(urls) - 1} origins" if urls[1:] else "")
            + " (query and fragment ignored)",
            field="DPoP.claims.htu",
        )
    return htu


def _checked_iat(iat: object, now: float, max_age: int, max_future_skew: int) -> int:
    # bool is an int in Python; a JSON true is not a time.
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise Unauthenticated("claim iat is missing or not an integer", field="DPoP.claims.iat")
    if iat > now + max_future_skew:
        raise Unauthenticated(
            f"claim iat is more than {max_future_skew} s in the future", field="DPoP.claims.iat"
        )
    if iat < now - max_age:
        raise Unauthenticated(
            f"claim iat is more than {max_age} s in the past: the proof is too old",
            field="DPoP.claims.iat",
        )
    return iat


def _check_validity(claims: dict[str, Any], now: float, max_future_skew: int) -> None:
    """``exp`` and ``nbf`` are not part of a proof (RFC 9449 section 4.2), but a JWT that states
    them must not be accepted outside them (RFC 7519 sections 4.1.4 and 4.1.5)."""
    for name in ("exp", "nbf"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise Unauthenticated(f"claim {name} is not an integer", field=f"DPoP.claims.{name}")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if exp is not None and exp <= now:
        raise Unauthenticated(
            "claim exp has passed: the proof has expired", field="DPoP.claims.exp"
        )
    if nbf is not None and nbf > now + max_future_skew:
        raise Unauthenticated(
            f"claim nbf is more than {max_future_skew} s in the future", field="DPoP.claims.nbf"
        )


def _check_ath(ath: object, access_token: str) -> None:
    if ath is None:
        raise Unauthenticated(
            "claim ath is missing but the request carries an access token",
            field="DPoP.claims.ath",
        )
    if ath != dpop_ath(access_token):
        raise Unauthenticated(
            "claim ath is not the hash of the access token", field="DPoP.claims.ath"
        )


def _protected_header(proof: object) -> dict[str, Any]:
    """The protected header of a compact JWS, read before any key is trusted."""
    if not isinstance(proof, str):
        raise Unauthenticated("proof is not a string", field="DPoP")
    if len(proof) > MAX_PROOF_LENGTH:
        raise Unauthenticated(f"proof is longer than {MAX_PROOF_LENGTH} characters", field="DPoP")
    # fullmatch also refuses several proofs joined by ',' (repeated DPoP header fields)
    # and the JWS JSON serialization: exactly one compact JWS is allowed.
    if not _COMPACT_JWS.fullmatch(proof):
        raise Unauthenticated(
            "proof is not exactly one compact JWS (three base64url parts)", field="DPoP"
        )
    try:
        return read_json_object(b64url_decode(proof.split(".")[0]))
    except ValueError as exc:
        raise Unauthenticated(
            f"protected header is not a base64url JSON object: {exc}", field="DPoP.header"
        ) from exc


def _check_header(header: dict[str, Any]) -> str:
    """The proof's algorithm, once typ, alg and crit are acceptable."""
    typ = header.get("typ")
    if typ != DPOP_TYP:
        raise Unauthenticated(
            f"header typ must be {DPOP_TYP!r}, got {typ!r}", field="DPoP.header.typ"
        )
    alg = header.get("alg")
    # none and the HMAC algorithms would "verify" with a key anyone can read from the header.
    if alg not in SUPPORTED_ALGORITHMS:
        raise Unauthenticated(
            f"header alg {alg!r} is not allowed; use one of {SUPPORTED_ALGORITHMS}",
            field="DPoP.header.alg",
        )
    if "crit" in header:
        raise Unauthenticated("header crit parameters are not supported", field="DPoP.header.crit")
    return str(alg)


def _public_jwk(header: dict[str, Any], alg: str) -> dict[str, Any]:
    """The header's ``jwk``, checked to be a public key of the one type ``alg`` is used with."""
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise Unauthenticated("header jwk is missing or not an object", field="DPoP.header.jwk")
    if private := sorted(_PRIVATE_MEMBERS & jwk.keys()):
        raise Unauthenticated(
            f"header jwk is not a public key: it has private members {private}",
            field="DPoP.header.jwk",
        )
    kty, crv, coordinates = _KEY_TYPES[alg]
    if jwk.get("kty") != kty or jwk.get("crv") != crv:
        raise Unauthenticated(
            f"header jwk ({jwk.get('kty')!r}, {jwk.get('crv')!r}) does not match alg {alg!r},"
            f" which needs kty {kty!r} with crv {crv!r}",
            field="DPoP.header.jwk",
        )
    if "alg" in jwk and jwk["alg"] != alg:
        raise Unauthenticated(
            f"header jwk is for alg {jwk['alg']!r}, not {alg!r}", field="DPoP.header.jwk"
        )
    if "use" in jwk and jwk["use"] != "sig":
        raise Unauthenticated(
            f"header jwk use {jwk['use']!r} is not 'sig'", field="DPoP.header.jwk"
        )
    for member in coordinates:
        value = jwk.get(member)
        # Canonical encoding only, so that one key has one thumbprint (and one jkt).
        try:
            ok = isinstance(value, str) and len(b64url_decode(value)) == _COORDINATE_BYTES
        except ValueError:
            ok = False
        if not ok:
            raise Unauthenticated(
                f"header jwk member {member!r} is not {_COORDINATE_BYTES} base64url bytes",
                field="DPoP.header.jwk",
            )
    return jwk


def _verified_claims(proof: str, jwk: dict[str, Any], alg: str) -> dict[str, Any]:
    """The claims of a proof whose signature verifies with its own header jwk."""
    try:
        key = jwk_public_key(jwk)
    except ValueError as exc:
        raise Unauthenticated(
            f"header jwk is not a usable {alg} key: {exc}", field="DPoP.header.jwk"
        ) from exc
    try:
        # The algorithm was chosen above from our own list and the key checked to match it.
        payload = verify_compact_jws(proof, key, alg)
    except JwsRefused as exc:
        if exc.bad_signature:
            raise Unauthenticated(
                "signature does not verify with the header jwk", field="DPoP"
            ) from exc
        raise Unauthenticated(f"proof rejected: {exc}", field="DPoP") from exc
    try:
        return read_json_object(payload)
    except ValueError as exc:
        raise Unauthenticated(f"payload is not a JSON object: {exc}", field="DPoP.claims") from exc


def _normalized_target(uri: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) after RFC 3986 syntax- and scheme-based normalization, as
    RFC 9449 section 4.3 recommends; query and fragment are not part of the comparison."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"scheme {parts.scheme!r} is not http or https")
    if "@" in parts.netloc:
        # RFC 9110 section 4.2.4: userinfo in http(s) URIs is deprecated and a phishing aid.
        raise ValueError("userinfo is not allowed")
    host = parts.hostname  # lower-cased by urlsplit
    if not host:
        raise ValueError("no host")
    port = parts.port  # ValueError when not a number in 0..65535
    path = _normalized_path(parts.path)
    return scheme, host, _DEFAULT_PORTS[scheme] if port is None else port, path


def _normalized_path(path: str) -> str:
    def percent(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    path = _PERCENT_ENCODED.sub(percent, path)
    # RFC 3986 section 5.2.4, on whole segments (the path here is absolute or empty).
    segments: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    trailing = path.endswith(("/.", "/.."))
    return "/" + "/".join(segments) + ("/" if trailing and segments else "")
