"""Admission of every request: who is calling (token and its binding), may it call this operation
(policy), is it within its quota; and a record of every refusal, bounded for callers without a
valid token (``gateway.service.flood``).

Both transports call ``Gatekeeper.admit`` (``authenticate`` then ``authorize``) before any
handler runs, with the credentials as they read them off the wire, so the two cannot enforce
different rules.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from gateway.errors import GatewayError, Unauthenticated
from gateway.service.flood import FloodGuard
from gateway.service.offload import Offload
from gateway.service.quotas import Quotas
from gateway.service.refusals import RefusalLog
from gateway.service.tokens import Caller, TokenService
from gateway.storage.partners import PartnerStore
from gateway.trust import Partner, PartnerKey
from gateway.trust.pki import certificate_thumbprint
from gateway.trust.policy import authorize, rule_for

_T = TypeVar("_T")


@dataclass(frozen=True)
class Credentials:
    """What a request presents, as its transport read it."""

    authorization: str | None
    dpop: str | None
    client_certificate: str | bytes | None  # PEM of the connection's client certificate
    method: str  # the HTTP method; gRPC calls are POST
    url: str  # the request URL; gRPC: https://{gateway_id}/{service}/{method}


class Gatekeeper:
    def __init__(
        self,
        tokens: TokenService,
        quotas: Quotas,
        refusals: RefusalLog,
        flood: FloodGuard,
        offload: Offload,
    ) -> None:
        self._offload = offload
        self._tokens = tokens
        self._quotas = quotas
        self._refusals = refusals
        self._flood = flood

    def screen(self, operation: str, source: str) -> None:
        """Before anything else: refuse (``QuotaExceeded``) a token request from a source over
        its limit for callers without a valid token. ``source`` is the connection's peer address
        (``flood.source_address``), never a header."""
        self._flood.screen(operation, source)

    def authenticate(self, operation: str, credentials: Credentials) -> Caller | None:
        """The caller behind the credentials; None for a public operation. Raises the refusal."""
        rule = rule_for(operation)
        if rule.public and not (rule.identifies and credentials.authorization):
            return None
        certificate = credentials.client_certificate
        return self._tokens.authenticate(
            authorization=credentials.authorization,
            method=credentials.method,
            url=credentials.url,
            dpop_proof=credentials.dpop,
            client_cert_thumbprint=client_thumbprint(certificate) if certificate else None,
        )

    async def admit(
        self,
        operation: str,
        credentials: Credentials,
        identified: Callable[[Caller | None], None],
    ) -> Caller | None:
        """``authenticate`` then ``authorize``, from the event loop both transports are served
        on: in a worker thread (a token's partner may be read from the database, a DPoP proof
        writes to the replay cache, a quota flush adds up usage), unless the operation is public
        and no token is to be checked. ``identified`` hears the caller before ``authorize`` may
        refuse it, so that the refusal is recorded with the caller it refused."""
        rule = rule_for(operation)
        if rule.public and not (rule.identifies and credentials.authorization):
            identified(None)
            return None
        return await self._offload.run(self.admit_here, operation, credentials, identified)

    def admit_here(
        self,
        operation: str,
        credentials: Credentials,
        identified: Callable[[Caller | None], None],
    ) -> Caller | None:
        """``admit`` in the calling thread (never the event loop's): for a transport that runs
        admission and the use case in one worker thread."""
        caller = self.authenticate(operation, credentials)
        identified(caller)
        self.authorize(operation, caller)
        return caller

    def authorize(self, operation: str, caller: Caller | None) -> None:
        """Refuse unless the caller's standing, roles and quota allow the call. Separate from
        ``authenticate`` so that a refusal here is recorded with the caller it refused."""
        rule = rule_for(operation)
        if caller is None:
            if not rule.public:  # fail closed, whatever a transport passes
                raise Unauthenticated(f"{operation} needs an access token", field="authorization")
            return
        authorize(caller.partner, operation)
        self._quotas.charge(caller.partner)

    def refused(
        self,
        operation: str,
        transport: str,
        caller: Caller | None,
        error: GatewayError,
        slug: str,
        *,
        source: str,
    ) -> bool:
        """Record a refusal. Returns whether it is recorded on its own, as a refusal row (and the
        transport then appends its audit leaf, when the operation is audited); a refusal of a
        caller without a valid token over the flood limits is only counted, into a summary."""
        if caller is None and not self._flood.refused(operation, source, slug, error):
            return False
        self._refusals.record(
            partner_id=caller.partner.id if caller else None,
            operation=operation,
            transport=transport,
            reason=slug,
            detail=error.message,
            field=error.field,
        )
        return True


@lru_cache(maxsize=1024)
def client_thumbprint(certificate: str | bytes) -> str:
    """RFC 8705 thumbprint of a connection's certificate; cached, as a connection sends many
    requests and parsing a certificate costs more than the rest of the check."""
    try:
        return certificate_thumbprint(
            certificate.encode("ascii") if isinstance(certificate, str) else certificate
        )
    except ValueError as exc:
        raise Unauthenticated(
            f"the client certificate cannot be read: {exc}", field="client_certificate"
        ) from exc


class TrustCache:
    """The partner registry as requests see it: read from the database, kept ``ttl`` seconds.

    Every request checks its partner and key, so reading them fresh each time would cost a
    database round trip per request. Changes made through this process (the admin API) call
    ``invalidate`` and take effect at once; changes made elsewhere (another replica, the CLI)
    within ``ttl`` seconds. ``ttl`` 0 reads through on every request.
    """

    def __init__(
        self, store: PartnerStore, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[float, tuple[Partner, PartnerKey] | None]] = {}
        self._certificates: dict[str, tuple[float, str | None]] = {}

    def key(self, kid: str) -> tuple[Partner, PartnerKey] | None:
        return self._cached(self._keys, kid, self._store.key)

    def certificate_owner(self, thumbprint: str) -> str | None:
        return self._cached(self._certificates, thumbprint, self._store.certificate_owner)

    def invalidate(self) -> None:
        with self._lock:
            self._keys.clear()
            self._certificates.clear()

    def _cached(
        self, entries: dict[str, tuple[float, _T]], name: str, load: Callable[[str], _T]
    ) -> _T:
        now = self._clock()
        found = entries.get(name)
        if found is not None and now < found[0]:
            return found[1]
        value = load(name)
        if self._ttl > 0:
            with self._lock:
                if len(entries) >= 10_000:  # unknown names are cached too; keep it bounded
                    entries.clear()
                entries[name] = (now + self._ttl, value)
        return value
