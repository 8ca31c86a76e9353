"""Operator use cases on the partner registry: register, suspend, rotate keys, import files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.errors import InvalidArgument, NotFound
from gateway.storage.database import Database
from gateway.storage.partners import PartnerStore
from gateway.trust import Partner, PartnerKey, parse_partner_file


@dataclass(frozen=True)
class ImportReport:
    partners_added: int
    keys_added: int


class PartnerAdmin:
    def __init__(self, db: Database) -> None:
        self.store = PartnerStore(db)

    def register(self, partner: Partner, jwks: list[dict[str, Any]]) -> None:
        self.store.add(partner, [_key(partner.id, jwk) for jwk in jwks])

    def add_key(
        self,
        partner_id: str,
        jwk: dict[str, Any],
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> PartnerKey:
        """Register another key; with an overlapping validity window this is a rotation without
        downtime: both keys verify until the old one is retired or expires."""
        key = _key(partner_id, jwk, not_before=not_before, not_after=not_after)
        self.store.add_key(key)
        return key

    def retire_key(self, kid: str) -> None:
        self.store.retire_key(kid)

    def suspend(self, partner_id: str) -> None:
        self.store.set_status(partner_id, "suspended")

    def reinstate(self, partner_id: str) -> None:
        self.store.set_status(partner_id, "active")

    def show(self, partner_id: str) -> tuple[Partner, list[PartnerKey]]:
        partner = self.store.get(partner_id)
        if partner is None:
            raise NotFound(f"no partner {partner_id!r}")
        return partner, self.store.keys_of(partner_id)

    def import_files(self, directory: Path) -> ImportReport:
        """Register partners from their files (the file form); keys not yet known are added to
        partners already registered. Nothing is removed or changed: that is what suspend and
        retire-key are for."""
        partners_added = keys_added = 0
        for path in sorted(directory.glob("*.json")):
            try:
                partner, keys = parse_partner_file(json.loads(path.read_text()))
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidArgument(
                    f"partner file {path} is invalid: {exc}", field=str(path)
                ) from exc
            if self.store.get(partner.id) is None:
                self.store.add(partner, keys)
                partners_added, keys_added = partners_added + 1, keys_added + len(keys)
                continue
            known = {k.kid for k in self.store.keys_of(partner.id)}
            for key in keys:
                if key.kid not in known:
                    self.store.add_key(key)
                    keys_added += 1
        return ImportReport(partners_added, keys_added)


def _key(partner_id: str, jwk: dict[str, Any], **window: datetime | None) -> PartnerKey:
    try:
        return PartnerKey.from_jwk(partner_id, jwk, **window)
    except ValueError as exc:
        raise InvalidArgument(str(exc), field="jwk") from exc
