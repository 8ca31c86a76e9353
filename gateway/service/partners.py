"""Operator use cases on the partner registry: register, suspend, rotate keys and client
certificates, set quotas, import files.

Errors name the field as the admin API (``proto/cxg/v1/admin_service.proto``) calls it, so the
CLI and both transports point at the same thing.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from gateway._json import read_json
from gateway.errors import Conflict, InvalidArgument, NotFound
from gateway.storage.database import Database
from gateway.storage.partners import PartnerStore
from gateway.trust import (
    Partner,
    PartnerCertificate,
    PartnerKey,
    Quota,
    parse_partner_file,
)
from gateway.trust.policy import OPERATIONS, PURPOSES

_log = logging.getLogger("cxg.partners")
_QUOTA_LIMITS = {"burst": 2**31 - 1, "daily_requests": 2**63 - 1}
_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class ImportReport:
    partners_added: int
    keys_added: int
    certificates_added: int = 0


@dataclass(frozen=True)
class PartnerRecord:
    """A partner as registered, with its keys and mTLS client certificates."""

    partner: Partner
    keys: list[PartnerKey]
    certificates: list[PartnerCertificate]


def _mutation(
    method: Callable[Concatenate[PartnerAdmin, _P], _R],
) -> Callable[Concatenate[PartnerAdmin, _P], _R]:
    """Run ``on_change`` after the method, even when it failed: an import or a registration may
    fail after writing part of its changes, and a needless cache reload costs little where a
    stale cache would keep serving a registry that no longer exists."""

    @functools.wraps(method)
    def run(self: PartnerAdmin, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        finally:
            self._on_change()

    return run


class PartnerAdmin:
    def __init__(self, db: Database, *, on_change: Callable[[], None] = lambda: None) -> None:
        """``on_change`` runs after every change, so that a process caching the registry (the
        gateway) applies it at once."""
        self.store = PartnerStore(db)
        self._on_change = on_change

    def show(self, partner_id: str) -> PartnerRecord:
        partner = self._require(partner_id)
        return PartnerRecord(
            partner, self.store.keys_of(partner_id), self.store.certificates_of(partner_id)
        )

    def records(self) -> list[PartnerRecord]:
        """Every registered partner, by id."""
        return [self.show(partner.id) for partner in self.store.all()]

    @_mutation
    def register(
        self,
        partner: Partner,
        jwks: Sequence[Mapping[str, Any]],
        certificate_pems: Sequence[bytes] = (),
    ) -> None:
        """Register a partner with its public keys and client certificates; everything is
        checked before anything is written."""
        _check_registration(partner)
        keys = [_key(partner.id, jwk, f"jwks[{i}]") for i, jwk in enumerate(jwks)]
        certificates = [
            _certificate(partner.id, pem, f"certificate_pems[{i}]")
            for i, pem in enumerate(certificate_pems)
        ]
        self._add(partner, keys, certificates, field="certificate_pems")

    @_mutation
    def add_key(
        self,
        partner_id: str,
        jwk: Mapping[str, Any],
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> PartnerKey:
        """Register another key; with an overlapping validity window this is a rotation without
        downtime: both keys verify until the old one is retired or expires."""
        # PartnerKey refuses this too, but would blame the JWK.
        if not_before and not_after and not_after <= not_before:
            raise InvalidArgument("not_after must be later than not_before", field="not_after")
        self._require(partner_id)
        key = _key(partner_id, jwk, "jwk", not_before=not_before, not_after=not_after)
        self.store.add_key(key)
        _key_added(key)
        return key

    @_mutation
    def retire_key(self, kid: str, *, partner_id: str | None = None) -> None:
        """Retire a key; it stops verifying at once. With ``partner_id`` only that partner's
        key: another partner's kid is as unknown as one never registered."""
        if partner_id is not None:
            found = self.store.key(kid)
            if found is None or found[0].id != partner_id:
                self._require(partner_id)
                raise NotFound(f"partner {partner_id!r} has no key {kid!r}", field="kid")
        self.store.retire_key(kid)
        _log.info("partner key retired", extra={"fields": {"kid": kid}})

    @_mutation
    def suspend(self, partner_id: str) -> None:
        self._require(partner_id)
        self.store.set_status(partner_id, "suspended")

    @_mutation
    def reinstate(self, partner_id: str) -> None:
        self._require(partner_id)
        self.store.set_status(partner_id, "active")

    @_mutation
    def add_certificate(self, partner_id: str, pem: bytes) -> PartnerCertificate:
        """Register an mTLS client certificate; tokens can then be bound to it (RFC 8705)."""
        self._require(partner_id)
        certificate = _certificate(partner_id, pem, "certificate_pem")
        self.store.add_certificate(certificate)
        return certificate

    @_mutation
    def remove_certificate(self, partner_id: str, thumbprint: str) -> None:
        self._require(partner_id)
        try:
            self.store.remove_certificate(partner_id, thumbprint)
        except NotFound as exc:  # the partner exists: the thumbprint is what is unknown
            raise NotFound(exc.message, field="thumbprint") from exc

    @_mutation
    def set_quota(self, partner_id: str, quota: Quota) -> None:
        """Replace the partner's quota; a field left None falls back to the gateway's default."""
        _check_quota(quota, "quota")
        self._require(partner_id)
        self.store.set_quota(partner_id, quota)

    @_mutation
    def import_files(self, directory: Path) -> ImportReport:
        """Register partners from their files (the file form, plus optional ``certificates``: a
        list of PEM strings); keys and certificates not yet known are added to partners already
        registered. Nothing is removed or changed: that is what suspend, retire-key and
        remove-cert are for."""
        partners_added = keys_added = certificates_added = 0
        for path in sorted(directory.glob("*.json")):
            partner, keys, certificates = _read_partner_file(path)
            if self.store.get(partner.id) is None:
                self._add(partner, keys, certificates, field="certificates")
                partners_added += 1
                keys_added += len(keys)
                certificates_added += len(certificates)
                continue
            known_kids = {k.kid for k in self.store.keys_of(partner.id)}
            for key in keys:
                if key.kid not in known_kids:
                    self.store.add_key(key)
                    _key_added(key)
                    keys_added += 1
            known_thumbprints = {c.thumbprint for c in self.store.certificates_of(partner.id)}
            for certificate in certificates:
                if certificate.thumbprint not in known_thumbprints:
                    self.store.add_certificate(certificate)
                    certificates_added += 1
        return ImportReport(partners_added, keys_added, certificates_added)

    def _require(self, partner_id: str) -> Partner:
        partner = self.store.get(partner_id)
        if partner is None:
            raise NotFound(f"no partner {partner_id!r}", field="partner_id")
        return partner

    def _add(
        self,
        partner: Partner,
        keys: list[PartnerKey],
        certificates: list[PartnerCertificate],
        *,
        field: str,
    ) -> None:
        """Add a new partner. Certificates are refused before the partner is written, since a
        conflict after it would leave the partner half registered."""
        seen: set[str] = set()
        for i, certificate in enumerate(certificates):
            if certificate.thumbprint in seen or self.store.certificate_owner(
                certificate.thumbprint
            ):
                raise Conflict(
                    f"certificate {certificate.thumbprint} is already registered",
                    field=f"{field}[{i}]",
                )
            seen.add(certificate.thumbprint)
        self.store.add(partner, keys)
        for key in keys:
            _key_added(key)
        for certificate in certificates:
            self.store.add_certificate(certificate)


def _key_added(key: PartnerKey) -> None:
    # Ids only: the key itself is in the audit log, and public.
    _log.info(
        "partner key added",
        extra={"fields": {"partner": key.partner_id, "kid": key.kid, "alg": key.alg}},
    )


def _check_registration(partner: Partner) -> None:
    """What ``Partner`` cannot know by itself: the gateway's operations and purposes."""
    if unknown := partner.operations - OPERATIONS.keys():
        raise InvalidArgument(
            f"unknown operations {sorted(unknown)}; known: {', '.join(OPERATIONS)}",
            field="partner.operations",
        )
    if unknown := partner.purposes - PURPOSES.keys():
        raise InvalidArgument(
            f"unknown purposes {sorted(unknown)}; known: {', '.join(PURPOSES)}",
            field="partner.purposes",
        )
    _check_quota(partner.quota, "partner.quota")


def _check_quota(quota: Quota, field: str) -> None:
    """What ``Quota`` lets through: NaN (it compares false with every bound) and integers
    beyond the admin API's int32 burst and int64 daily_requests, which it could not show."""
    rate = quota.requests_per_second
    if rate is not None and not math.isfinite(rate):
        raise InvalidArgument(
            "quota requests_per_second must be a finite number",
            field=f"{field}.requests_per_second",
        )
    for name, limit in _QUOTA_LIMITS.items():
        value = getattr(quota, name)
        if value is not None and value > limit:
            raise InvalidArgument(f"quota {name} must be at most {limit}", field=f"{field}.{name}")


def _key(
    partner_id: str, jwk: Mapping[str, Any], field: str, **window: datetime | None
) -> PartnerKey:
    try:
        return PartnerKey.from_jwk(partner_id, jwk, **window)
    except ValueError as exc:
        raise InvalidArgument(str(exc), field=field) from exc


def _certificate(partner_id: str, pem: bytes, field: str) -> PartnerCertificate:
    # Only the thumbprint is kept, but a private key sent along has already been exposed.
    if b"PRIVATE KEY-----" in pem:
        raise InvalidArgument(
            "the PEM holds a private key: register the certificate only", field=field
        )
    try:
        return PartnerCertificate.from_pem(partner_id, pem)
    except ValueError as exc:
        raise InvalidArgument(str(exc), field=field) from exc


def _read_partner_file(
    path: Path,
) -> tuple[Partner, list[PartnerKey], list[PartnerCertificate]]:
    try:
        data = read_json(path.read_bytes())  # a file from outside, bounded as any other
        partner, keys = parse_partner_file(data)
        _check_registration(partner)
        pems = data.get("certificates", [])
        if not isinstance(pems, list) or not all(isinstance(pem, str) for pem in pems):
            raise ValueError("certificates must be a list of PEM strings")
        certificates = [
            _certificate(partner.id, pem.encode(), f"certificates[{i}]")
            for i, pem in enumerate(pems)
        ]
    except (ValueError, KeyError, TypeError, InvalidArgument) as exc:
        raise InvalidArgument(f"partner file {path} is invalid: {exc}", field=str(path)) from exc
    return partner, keys, certificates
