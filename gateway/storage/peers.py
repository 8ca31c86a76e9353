"""Peers in the database: the other gateways this one pins, follows and witnesses.

A peer is a partner too (role ``gateway``), registered in the same transaction: its keys,
status and suspension are the partner registry's, and a new federation document changes the
peer's registered keys in the transaction that accepts it, each change an audit leaf. Two
processes refreshing one peer at once cannot move it backwards: acceptance and witnessing are
compare-and-set on the issue time and the tree size already stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.errors import Conflict
from gateway.federation import FederationDocument
from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.partners import PartnerStore
from gateway.storage.tables import partner_keys, peer_alarms, peer_routes, peers
from gateway.trust import Partner, PartnerKey

SPLIT_VIEW = "split-view"  # and ROLLBACK (gateway.federation): the kinds of alarm


@dataclass(frozen=True)
class PeerRow:
    id: str
    gateway: str
    url: str
    pinned: tuple[Mapping[str, Any], ...]
    created_at: datetime
    local_id: str | None = None  # the partner id the peer registered this gateway under
    document: str | None = None
    issued_at: datetime | None = None
    refreshed_at: datetime | None = None
    problem: str | None = None
    seen_size: int | None = None
    seen_note: str | None = None
    cosignature: str | None = None
    status_list: str | None = None


@dataclass(frozen=True)
class AlarmRow:
    id: int
    peer: str
    kind: str
    message: str
    seen: str
    offered: str
    detected_at: datetime


class PeerStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._partners = PartnerStore(db)
        self._changes = ChangeLog(db)

    def add(self, peer: PeerRow, partner: Partner, keys: list[PartnerKey]) -> None:
        """Register the peer and its partner record, in one transaction."""
        try:
            with self._db.write() as conn:
                self._partners.add_on(conn, partner, keys)
                conn.execute(
                    insert(peers).values(
                        id=peer.id,
                        gateway=peer.gateway,
                        url=peer.url,
                        local_id=peer.local_id,
                        pinned=[dict(key) for key in peer.pinned],
                        created_at=peer.created_at,
                    )
                )
                self._changes.record(
                    conn,
                    "peer.register",
                    [f"peers/{peer.id}", f"partners/{peer.id}"],
                    {"gateway": peer.gateway, "url": peer.url, "pinned": _kids(peer.pinned)},
                )
        except IntegrityError as exc:
            raise Conflict(
                f"partner {partner.id!r} or one of its key ids is already registered"
            ) from exc

    def get(self, peer_id: str) -> PeerRow | None:
        rows = self._db.read(select(peers).where(peers.c.id == peer_id))
        return _peer(rows[0]) if rows else None

    def checkpoint_key(self, peer_id: str) -> str | None:
        """The checkpoint key of the peer's last accepted document (verified when accepted)."""
        peer = self.get(peer_id)
        if peer is None or peer.document is None:
            return None
        return FederationDocument.accepted(peer.document).checkpoint_key

    def all(self) -> list[PeerRow]:
        return [_peer(row) for row in self._db.read(select(peers).order_by(peers.c.id))]

    def accept(
        self, peer: PeerRow, text: str, issued_at: datetime, keys: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Keep a verified document: it becomes what the peer is trusted by, its keys the ones
        pinned and the peer's registered keys. False (nothing written) when another process
        accepted a newer one meanwhile."""
        now = datetime.now(UTC)
        try:
            return self._accept(peer, text, issued_at, keys, now)
        except IntegrityError as exc:  # a listed kid is registered to another partner already
            raise Conflict(
                f"peer {peer.id!r} lists a key registered here to another partner", field="keys"
            ) from exc

    def _accept(
        self,
        peer: PeerRow,
        text: str,
        issued_at: datetime,
        keys: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> bool:
        with self._db.write() as conn:
            changed = conn.execute(
                update(peers)
                .where(peers.c.id == peer.id)
                .where(or_(peers.c.issued_at.is_(None), peers.c.issued_at <= issued_at))
                .values(
                    document=text,
                    issued_at=issued_at,
                    pinned=[dict(key) for key in keys],
                    refreshed_at=now,
                    problem=None,
                )
            ).rowcount
            if not changed:
                return False
            if _kids(keys) != _kids(peer.pinned):
                self._follow_keys(conn, peer.id, keys)
                self._changes.record(
                    conn, "peer.keys", [f"peers/{peer.id}"], {"pinned": _kids(keys)}
                )
        return True

    def _follow_keys(
        self, conn: Connection, peer_id: str, keys: Sequence[Mapping[str, Any]]
    ) -> None:
        """The peer's registered keys become exactly the document's (each change a leaf)."""
        listed = {str(key["kid"]): key for key in keys}
        registered = {
            row.kid: row.status
            for row in conn.execute(
                select(partner_keys.c.kid, partner_keys.c.status).where(
                    partner_keys.c.partner_id == peer_id
                )
            )
        }
        for kid, status in registered.items():
            if kid not in listed and status == "active":
                self._partners.retire_key_on(conn, kid)
        for kid, jwk in listed.items():
            if kid not in registered:
                self._partners.add_key_on(conn, PartnerKey.from_jwk(peer_id, dict(jwk)))

    def witnessed(self, peer_id: str, before: int | None, size: int, note: str, line: str) -> bool:
        """Record the checkpoint of size ``size`` as the last one witnessed, with this
        gateway's co-signature; False when another process moved it from ``before`` first."""
        seen = peers.c.seen_size.is_(None) if before is None else peers.c.seen_size == before
        with self._db.write() as conn:
            changed = conn.execute(
                update(peers)
                .where(peers.c.id == peer_id, seen)
                .values(seen_size=size, seen_note=note, cosignature=line, problem=None)
            ).rowcount
        return bool(changed)

    def keep_status_list(self, peer_id: str, jws: str) -> None:
        """The peer's SCO status list, verified, for checking its codes here."""
        with self._db.write() as conn:
            conn.execute(update(peers).where(peers.c.id == peer_id).values(status_list=jws))

    def trouble(self, peer_id: str, problem: str) -> None:
        """Why the last refresh or witnessing of the peer failed (shown to operators)."""
        with self._db.write() as conn:
            conn.execute(update(peers).where(peers.c.id == peer_id).values(problem=problem[:2000]))

    def alarm(self, peer_id: str, kind: str, message: str, *, seen: str, offered: str) -> None:
        """Keep the evidence of an alarm (both signed texts) and its audit leaf."""
        now = datetime.now(UTC)
        with self._db.write() as conn:
            conn.execute(
                insert(peer_alarms).values(
                    peer=peer_id,
                    kind=kind,
                    message=message,
                    seen=seen,
                    offered=offered,
                    detected_at=now,
                )
            )
            self._changes.record(
                conn,
                "peer.alarm",
                [f"peers/{peer_id}"],
                {
                    "kind": kind,
                    "message": message,
                    "seen_sha256": hashlib.sha256(seen.encode()).hexdigest(),
                    "offered_sha256": hashlib.sha256(offered.encode()).hexdigest(),
                },
            )

    def set_route(self, scheme: str, country: str, peer_id: str | None) -> None:
        """Route lookups of ``scheme`` (in ``country``, "" for any) to ``peer_id``; None
        removes the route. An audited change."""
        key = (peer_routes.c.scheme == scheme) & (peer_routes.c.country == country)
        with self._db.write() as conn:
            conn.execute(delete(peer_routes).where(key))
            if peer_id is not None:
                conn.execute(
                    insert(peer_routes).values(scheme=scheme, country=country, peer=peer_id)
                )
            self._changes.record(
                conn,
                "peer.route",
                [f"routes/{scheme}/{country or '*'}"],
                {"peer": peer_id or ""},
            )

    def routes(self) -> dict[tuple[str, str], str]:
        """The routing table: (scheme, country) to peer id."""
        rows = self._db.read(select(peer_routes))
        return {(row.scheme, row.country): row.peer for row in rows}

    def alarms(self, peer_id: str | None = None, limit: int = 100) -> list[AlarmRow]:
        query = select(peer_alarms).order_by(peer_alarms.c.id.desc()).limit(limit)
        if peer_id is not None:
            query = query.where(peer_alarms.c.peer == peer_id)
        return [
            AlarmRow(
                row.id, row.peer, row.kind, row.message, row.seen, row.offered, row.detected_at
            )
            for row in self._db.read(query)
        ]


def _kids(keys: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted(str(key["kid"]) for key in keys)


def _peer(row: Any) -> PeerRow:
    return PeerRow(
        id=row.id,
        gateway=row.gateway,
        url=row.url,
        pinned=tuple(row.pinned),
        created_at=row.created_at,
        local_id=row.local_id,
        document=row.document,
        issued_at=row.issued_at,
        refreshed_at=row.refreshed_at,
        problem=row.problem,
        seen_size=row.seen_size,
        seen_note=row.seen_note,
        cosignature=row.cosignature,
        status_list=row.status_list,
    )
