"""Partner registry repository: partners and their keys, read fresh on every verification so
that a suspension or a retired key takes effect at once, on every replica."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.errors import Conflict, NotFound
from gateway.storage.database import Database
from gateway.storage.tables import partner_keys, partners
from gateway.trust.partners import Partner, PartnerKey

_key_with_owner = (
    select(partner_keys, partners.c.name, partners.c.country, partners.c.roles, partners.c.purposes)
    .add_columns(partners.c.status.label("partner_status"))
    .select_from(partner_keys.join(partners, partners.c.id == partner_keys.c.partner_id))
    .where(partner_keys.c.kid == bindparam("kid"))
)


class PartnerStore:
    """Implements ``gateway.trust.PartnerDirectory`` over the database."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
        now = datetime.now(UTC)
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(partners).values(
                        id=partner.id,
                        name=partner.name,
                        country=partner.country,
                        roles=sorted(partner.roles),
                        purposes=sorted(partner.purposes),
                        status=partner.status,
                        created_at=now,
                        updated_at=now,
                    )
                )
                for key in keys:
                    conn.execute(insert(partner_keys).values(**_key_values(key, now)))
        except IntegrityError as exc:
            raise Conflict(
                f"partner {partner.id!r} or one of its key ids is already registered"
            ) from exc

    def add_key(self, key: PartnerKey) -> None:
        if self.get(key.partner_id) is None:
            raise NotFound(f"no partner {key.partner_id!r}")
        try:
            with self._db.write() as conn:
                conn.execute(insert(partner_keys).values(**_key_values(key, datetime.now(UTC))))
        except IntegrityError as exc:
            raise Conflict(f"key id {key.kid!r} is already registered") from exc

    def set_status(self, partner_id: str, status: str) -> None:
        with self._db.write() as conn:
            changed = conn.execute(
                update(partners)
                .where(partners.c.id == partner_id)
                .values(status=status, updated_at=datetime.now(UTC))
            ).rowcount
        if not changed:
            raise NotFound(f"no partner {partner_id!r}")

    def retire_key(self, kid: str) -> None:
        now = datetime.now(UTC)
        with self._db.write() as conn:
            changed = conn.execute(
                update(partner_keys)
                .where(partner_keys.c.kid == kid)
                .values(status="retired", retired_at=now)
            ).rowcount
        if not changed:
            raise NotFound(f"no key {kid!r}")


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
