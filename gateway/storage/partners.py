"""Partner registry repository: partners and their keys, read fresh on every verification so
that a suspension or a retired key takes effect at once, on every replica."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.errors import Conflict, NotFound
from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.tables import partner_certificates, partner_keys, partners
from gateway.trust.partners import Partner, PartnerCertificate, PartnerKey, Quota

_OWNER_COLUMNS = (
    "name",
    "country",
    "roles",
    "purposes",
    "operations",
    "requests_per_second",
    "burst",
    "daily_requests",
)

_key_with_owner = (
    select(
        partner_keys,
        *(partners.c[name] for name in _OWNER_COLUMNS),
        partners.c.status.label("partner_status"),
    )
    .select_from(partner_keys.join(partners, partners.c.id == partner_keys.c.partner_id))
    .where(partner_keys.c.kid == bindparam("kid"))
)


class PartnerStore:
    """Implements ``gateway.trust.PartnerDirectory`` over the database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)

    def key(self, kid: str) -> tuple[Partner, PartnerKey] | None:
        rows = self._db.read(_key_with_owner, {"kid": kid})
        if not rows:
            return None
        row = rows[0]
        return _partner(row, partner_id=row.partner_id, status=row.partner_status), _key(row)

    def get(self, partner_id: str) -> Partner | None:
        rows = self._db.read(select(partners).where(partners.c.id == partner_id))
        return _partner(rows[0]) if rows else None

    def all(self) -> list[Partner]:
        return [_partner(row) for row in self._db.read(select(partners).order_by(partners.c.id))]

    def keys_of(self, partner_id: str) -> list[PartnerKey]:
        query = (
            select(partner_keys)
            .where(partner_keys.c.partner_id == partner_id)
            .order_by(partner_keys.c.created_at)
        )
        return [_key(row) for row in self._db.read(query)]

    def add(self, partner: Partner, keys: list[PartnerKey]) -> None:
        try:
            with self._db.write() as conn:
                self.add_on(conn, partner, keys)
        except IntegrityError as exc:
            raise Conflict(
                f"partner {partner.id!r} or one of its key ids is already registered"
            ) from exc

    def add_on(self, conn: Connection, partner: Partner, keys: list[PartnerKey]) -> None:
        """Register ``partner`` inside ``conn``'s transaction (a peer is registered with it);
        a duplicate id or kid raises IntegrityError, which must end the transaction."""
        now = datetime.now(UTC)
        conn.execute(
            insert(partners).values(
                id=partner.id,
                name=partner.name,
                country=partner.country,
                roles=sorted(partner.roles),
                purposes=sorted(partner.purposes),
                operations=sorted(partner.operations),
                **_quota_values(partner.quota),
                status=partner.status,
                created_at=now,
                updated_at=now,
            )
        )
        for key in keys:
            conn.execute(insert(partner_keys).values(**_key_values(key, now)))
        self._changes.record(
            conn,
            "partner.register",
            [f"partners/{partner.id}"],
            {
                "name": partner.name,
                "country": partner.country,
                "roles": sorted(partner.roles),
                "purposes": sorted(partner.purposes),
                "operations": sorted(partner.operations),
                "status": partner.status,
                "quota": _quota_values(partner.quota),
                "keys": [key.kid for key in keys],
            },
        )

    def add_key(self, key: PartnerKey) -> None:
        if self.get(key.partner_id) is None:
            raise NotFound(f"no partner {key.partner_id!r}")
        try:
            with self._db.write() as conn:
                self.add_key_on(conn, key)
        except IntegrityError as exc:
            raise Conflict(f"key id {key.kid!r} is already registered") from exc

    def add_key_on(self, conn: Connection, key: PartnerKey) -> None:
        conn.execute(insert(partner_keys).values(**_key_values(key, datetime.now(UTC))))
        self._changes.record(
            conn,
            "partner.key.add",
            [f"partners/{key.partner_id}", f"keys/{key.kid}"],
            {"alg": key.alg, "jwk": dict(key.jwk), **_window(key)},
        )

    def set_status(self, partner_id: str, status: str) -> None:
        with self._db.write() as conn:
            changed = conn.execute(
                update(partners)
                .where(partners.c.id == partner_id)
                .values(status=status, updated_at=datetime.now(UTC))
            ).rowcount
            if not changed:
                raise NotFound(f"no partner {partner_id!r}")
            self._changes.record(
                conn, "partner.status", [f"partners/{partner_id}"], {"status": status}
            )

    def retire_key(self, kid: str) -> None:
        with self._db.write() as conn:
            if not self.retire_key_on(conn, kid):
                raise NotFound(f"no key {kid!r}")

    def retire_key_on(self, conn: Connection, kid: str) -> bool:
        """Retire ``kid`` inside ``conn``'s transaction; False if there is no such key."""
        changed = conn.execute(
            update(partner_keys)
            .where(partner_keys.c.kid == kid)
            .values(status="retired", retired_at=datetime.now(UTC))
        ).rowcount
        if changed:
            self._changes.record(conn, "partner.key.retire", [f"keys/{kid}"], {"status": "retired"})
        return bool(changed)

    # -- mTLS client certificates ---------------------------------------------------------------

    def certificate_owner(self, thumbprint: str) -> str | None:
        """The partner a client certificate is registered for."""
        rows = self._db.read(
            select(partner_certificates.c.partner_id).where(
                partner_certificates.c.thumbprint == thumbprint
            )
        )
        return str(rows[0].partner_id) if rows else None

    def certificates_of(self, partner_id: str) -> list[PartnerCertificate]:
        query = (
            select(partner_certificates)
            .where(partner_certificates.c.partner_id == partner_id)
            .order_by(partner_certificates.c.created_at)
        )
        return [
            PartnerCertificate(row.thumbprint, row.partner_id, row.subject, row.not_after)
            for row in self._db.read(query)
        ]

    def add_certificate(self, certificate: PartnerCertificate) -> None:
        if self.get(certificate.partner_id) is None:
            raise NotFound(f"no partner {certificate.partner_id!r}")
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(partner_certificates).values(
                        thumbprint=certificate.thumbprint,
                        partner_id=certificate.partner_id,
                        subject=certificate.subject,
                        not_after=certificate.not_after,
                        created_at=datetime.now(UTC),
                    )
                )
                self._changes.record(
                    conn,
                    "partner.certificate.add",
                    [
                        f"partners/{certificate.partner_id}",
                        f"certificates/{certificate.thumbprint}",
                    ],
                    {
                        "subject": certificate.subject,
                        "not_after": certificate.not_after.isoformat(),
                    },
                )
        except IntegrityError as exc:
            raise Conflict(f"certificate {certificate.thumbprint} is already registered") from exc

    def remove_certificate(self, partner_id: str, thumbprint: str) -> None:
        with self._db.write() as conn:
            removed = conn.execute(
                delete(partner_certificates).where(
                    partner_certificates.c.partner_id == partner_id,
                    partner_certificates.c.thumbprint == thumbprint,
                )
            ).rowcount
            if not removed:
                raise NotFound(f"partner {partner_id!r} has no certificate {thumbprint}")
            self._changes.record(
                conn,
                "partner.certificate.remove",
                [f"partners/{partner_id}", f"certificates/{thumbprint}"],
            )

    def set_quota(self, partner_id: str, quota: Quota) -> None:
        with self._db.write() as conn:
            changed = conn.execute(
                update(partners)
                .where(partners.c.id == partner_id)
                .values(**_quota_values(quota), updated_at=datetime.now(UTC))
            ).rowcount
            if not changed:
                raise NotFound(f"no partner {partner_id!r}")
            self._changes.record(
                conn, "partner.quota", [f"partners/{partner_id}"], _quota_values(quota)
            )


def _quota_values(quota: Quota) -> dict[str, Any]:
    return {
        "requests_per_second": quota.requests_per_second,
        "burst": quota.burst,
        "daily_requests": quota.daily_requests,
    }


def _window(key: PartnerKey) -> dict[str, str | None]:
    return {
        name: moment.isoformat() if moment else None
        for name, moment in (("not_before", key.not_before), ("not_after", key.not_after))
    }


def _key_values(key: PartnerKey, now: datetime) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "partner_id": key.partner_id,
        "alg": key.alg,
        "jwk": dict(key.jwk),
        "not_before": key.not_before,
        "not_after": key.not_after,
        "status": key.status,
        "created_at": now,
    }


def _partner(row: Any, *, partner_id: str | None = None, status: str | None = None) -> Partner:
    """A partner from a ``partners`` row, or from a key row joined with its owner (whose id and
    status columns are named differently there)."""
    return Partner(
        id=partner_id or row.id,
        name=row.name,
        country=row.country,
        roles=frozenset(row.roles),
        status=status or row.status,
        purposes=frozenset(row.purposes),
        operations=frozenset(row.operations),
        quota=Quota(row.requests_per_second, row.burst, row.daily_requests),
    )


def _key(row: Any) -> PartnerKey:
    return PartnerKey(
        kid=row.kid,
        partner_id=row.partner_id,
        alg=row.alg,
        jwk=row.jwk,
        not_before=row.not_before,
        not_after=row.not_after,
        status=row.status,
    )
