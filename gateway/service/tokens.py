"""Access tokens (FAPI 2.0 style): issued for a ``private_key_jwt`` client assertion, always
sender-constrained, and checked on every request.

A token is a JWT (RFC 9068, ``typ`` ``at+jwt``) signed by the gateway, bound either to a DPoP
key (``cnf.jkt``, RFC 9449) or to the partner's mTLS client certificate (``cnf.x5t#S256``,
RFC 8705); a token without a binding is never issued. It names the partner key the client
authenticated with, so suspending the partner or retiring that key ends the token at once.

DPoP proofs may carry (``dpop_nonce="required"``: must carry) a server nonce (RFC 9449 section 8)
that any replica holding the same gateway keys issues and checks. The ``jti`` of a proof without
one is remembered in the shared replay store; with one, there too, or (``dpop_nonce_replay=
"local"``) in this process only.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import jwt

from gateway._json import JsonError, jws_header
from gateway.errors import InvalidArgument, Unauthenticated
from gateway.observe import metrics
from gateway.signing import KeyRing
from gateway.storage.replay import LocalReplayStore
from gateway.trust import Partner, PartnerDirectory, PartnerRegistry
from gateway.trust.assertions import CLIENT_ASSERTION_TYPE, verify_client_assertion
from gateway.trust.dpop import DpopNonces, DpopProof, check_dpop_proof, refuse_replayed

ACCESS_TOKEN_TYP = "at+jwt"
TOKEN_LIFETIME = 300
GRANT_TYPE = "client_credentials"
_MAX_TOKEN_LENGTH = 8 * 1024
# RFC 9110 section 11.4: credentials = auth-scheme 1*SP token68. The scheme is a token compared
# without case; the spaces before the token68 may be several.
_CREDENTIALS = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+) +([0-9A-Za-z._~+/-]+=*)")
_SCHEMES = {"dpop": "DPoP", "bearer": "Bearer"}
NONCE_MODES = ("optional", "required")
NONCE_REPLAY_MODES = ("shared", "local")


@dataclass(frozen=True)
class Caller:
    """Who is calling, established from a valid, correctly bound access token."""

    partner: Partner
    token_id: str


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    token_type: str  # "DPoP" or "Bearer" (mTLS-bound)
    expires_in: int
    caller: Caller  # the partner that authenticated, and the new token's id


class TokenService:
    def __init__(
        self,
        keyring: KeyRing,
        directory: PartnerDirectory,
        remember_jti: Callable[[str, float], bool],
        *,
        gateway_id: str,
        origins: Sequence[str] = (),
        dpop_nonce: str = "optional",
        dpop_nonce_replay: str = "shared",
        mtls: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``origins`` are the base URLs the REST port is reached at (scheme, host, port and any
        path prefix a proxy strips), its public one first. A request URL under one of them is
        the same request under each: a DPoP proof's ``htu`` may name any. ``mtls``: clients
        connect with certificates (tokens may then be certificate-bound)."""
        if dpop_nonce not in NONCE_MODES or dpop_nonce_replay not in NONCE_REPLAY_MODES:
            raise ValueError(f"unknown DPoP nonce mode {dpop_nonce!r} / {dpop_nonce_replay!r}")
        self._keyring = keyring
        self._directory = directory
        self._registry = PartnerRegistry(directory)
        self._remember = remember_jti
        self._gateway_id = gateway_id
        self.origins = tuple(origin.rstrip("/") for origin in origins)
        self.mtls = mtls
        self.nonce_required = dpop_nonce == "required"
        self.nonces = DpopNonces.from_keys(
            keyring.active,
            [key for key in keyring.keys if key.kid != keyring.active.kid],
            gateway_id=gateway_id,
        )
        self._remember_nonced = (
            LocalReplayStore().remember if dpop_nonce_replay == "local" else remember_jti
        )
        self._clock = clock
        # A token's signature is checked once; every use re-checks expiry, binding and the
        # partner's standing. Failures are not cached (lru_cache does not keep exceptions).
        self._claims_of = lru_cache(maxsize=8192)(self._verified_claims)

    @property
    def issuer(self) -> str:
        """The issuer identifier: every token's ``iss`` and ``aud``, and the one ``aud`` a
        client assertion may have."""
        return self._gateway_id

    def fresh_nonce(self) -> str:
        """A DPoP nonce (RFC 9449 section 8) for a client to put in its next proofs."""
        return self.nonces.issue(self._clock())

    def issue(
        self,
        *,
        grant_type: str,
        client_assertion_type: str,
        client_assertion: str,
        method: str,
        url: str,
        dpop_proof: str | None = None,
        client_cert_thumbprint: str | None = None,
        client_id: str | None = None,
    ) -> IssuedToken:
        """A token for the partner ``client_assertion`` authenticates; ``client_id`` is the
        request's parameter of that name, if it sent one."""
        if grant_type != GRANT_TYPE:
            raise InvalidArgument(f"grant_type must be {GRANT_TYPE}", field="grant_type")
        if client_assertion_type != CLIENT_ASSERTION_TYPE:
            raise InvalidArgument(
                f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}",
                field="client_assertion_type",
            )
        now = self._clock()
        # The proof first, without remembering its jti: a proof refused for its nonce alone
        # (use_dpop_nonce) leaves the assertion unused, so the client can send it again.
        proof = None if dpop_proof is None else self._checked_proof(dpop_proof, method, url, now)
        client = verify_client_assertion(
            client_assertion,
            registry=self._registry,
            audience=self._gateway_id,
            now=now,
            remember_jti=self._remember,
            client_id=client_id,
        )
        self._check_certificate(client_cert_thumbprint, client.partner)
        if proof is not None:
            self._refuse_replayed(proof)
            cnf, token_type, binding = {"jkt": proof.jkt}, "DPoP", "dpop"
        elif client_cert_thumbprint is not None:
            cnf, token_type, binding = {"x5t#S256": client_cert_thumbprint}, "Bearer", "mtls"
        else:
            raise Unauthenticated(
                "a token must be sender-constrained: send a DPoP proof or use a registered client certificate",
                field="DPoP",
            )
        token_id = uuid.uuid4().hex
        claims = {
            "iss": self._gateway_id,
            "sub": client.partner.id,
            "aud": self._gateway_id,
            "client_id": client.partner.id,
            "iat": int(now),
            "exp": int(now) + TOKEN_LIFETIME,
            "jti": token_id,
            "cxg_kid": client.kid,
            "cnf": cnf,
        }
        token = self._keyring.active.sign_jwt(claims, {"typ": ACCESS_TOKEN_TYP})
        metrics.tokens_issued.labels(binding).inc()
        return IssuedToken(token, token_type, TOKEN_LIFETIME, Caller(client.partner, token_id))

    def authenticate(
        self,
        *,
        authorization: str | None,
        method: str,
        url: str,
        dpop_proof: str | None = None,
        client_cert_thumbprint: str | None = None,
    ) -> Caller:
        """The caller behind an ``Authorization`` header, after every check of its binding."""
        credentials = _CREDENTIALS.fullmatch((authorization or "").strip(" \t"))
        scheme = _SCHEMES.get(credentials.group(1).lower()) if credentials else None
        if credentials is None or scheme is None or len(credentials.group(2)) > _MAX_TOKEN_LENGTH:
            raise Unauthenticated(
                "send an access token as 'Authorization: DPoP <token>'", field="authorization"
            )
        token = credentials.group(2)
        now = self._clock()
        claims = self._claims_of(token)
        if not isinstance(claims["exp"], int) or claims["exp"] <= now:
            raise Unauthenticated("the access token has expired", field="authorization")
        binding = claims.get("cnf")
        if not isinstance(binding, dict) or not binding:
            raise Unauthenticated("the token is not sender-constrained", field="authorization")
        if "jkt" in binding:
            if scheme != "DPoP":
                raise Unauthenticated(
                    "a DPoP-bound token must be sent with the DPoP scheme", field="authorization"
                )
            if dpop_proof is None:
                raise Unauthenticated(
                    "a DPoP-bound token needs a DPoP proof with each request", field="DPoP"
                )
            proof = self._checked_proof(
                dpop_proof, method, url, now, access_token=token, expected_jkt=binding["jkt"]
            )
            self._refuse_replayed(proof)
        elif binding.get("x5t#S256") != client_cert_thumbprint or client_cert_thumbprint is None:
            raise Unauthenticated(
                "the token is bound to another client certificate than this connection's",
                field="authorization",
            )
        found = self._directory.key(str(claims.get("cxg_kid")))
        if found is None or found[0].id != claims["sub"]:
            raise Unauthenticated(
                "the key this token was issued for is no longer registered", field="authorization"
            )
        partner, key = found
        if refusal := key.refusal_at(datetime.fromtimestamp(now, UTC)):
            raise Unauthenticated(f"token no longer valid: {refusal}", field="authorization")
        self._check_certificate(client_cert_thumbprint, partner)
        return Caller(partner=partner, token_id=str(claims["jti"]))

    def _checked_proof(
        self,
        dpop_proof: str,
        method: str,
        url: str,
        now: float,
        *,
        access_token: str | None = None,
        expected_jkt: object = None,
    ) -> DpopProof:
        return check_dpop_proof(
            dpop_proof,
            method=method,
            url=self._known_as(url),
            now=now,
            access_token=access_token,
            expected_jkt=None if expected_jkt is None else str(expected_jkt),
            nonces=self.nonces,
            require_nonce=self.nonce_required,
        )

    def _refuse_replayed(self, proof: DpopProof) -> None:
        refuse_replayed(proof, self._remember_nonced if proof.nonce else self._remember)

    def _known_as(self, url: str) -> str | tuple[str, ...]:
        """``url`` under each of the gateway's origins, when it is under one of them."""
        for origin in self.origins:
            if url.startswith(origin + "/"):
                path = url[len(origin) :]
                return tuple(other + path for other in self.origins)
        return url

    def _check_certificate(self, thumbprint: str | None, partner: Partner) -> None:
        """A mutual-TLS connection must use a certificate registered for the partner it
        authenticates as, whatever the token is bound to."""
        if thumbprint is not None and self._directory.certificate_owner(thumbprint) != partner.id:
            raise Unauthenticated(
                f"this connection's client certificate is not registered for partner {partner.id!r}",
                field="client_certificate",
            )

    def _verified_claims(self, token: str) -> dict[str, object]:
        try:
            header = jws_header(token)
        except JsonError as exc:
            raise Unauthenticated(f"not an access token: {exc}", field="authorization") from exc
        if header.get("typ") != ACCESS_TOKEN_TYP:
            raise Unauthenticated(f"token typ must be {ACCESS_TOKEN_TYP}", field="authorization")
        key = next((k for k in self._keyring.keys if k.kid == header.get("kid")), None)
        if key is None:
            raise Unauthenticated("the token was not issued by this gateway", field="authorization")
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                key.public_key(),
                algorithms=[key.alg],  # the key's algorithm, never the token's
                audience=self._gateway_id,
                issuer=self._gateway_id,
                options={"require": ["exp", "iat", "jti", "sub", "cnf"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the access token has expired", field="authorization") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"access token rejected: {exc}", field="authorization") from exc
        return claims
