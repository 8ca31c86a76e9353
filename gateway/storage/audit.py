"""Audit log repository: leaves, perfect-subtree hashes, the log's size, checkpoints and
co-signatures.

Appends run in one transaction per group of leaves: lock the size row (PostgreSQL ``FOR UPDATE``;
SQLite's write lock is taken up front), read the O(log n) subtree hashes the new leaves complete,
insert leaves and the newly completed subtrees, move the size. Several gateway processes on one
database therefore append in turn to one log. A root or proof at any size reads O(log n) stored
hashes in one query per table; nothing ever scans the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.audit import merkle
from gateway.storage.database import Database
from gateway.storage.tables import (
    audit_checkpoints,
    audit_cosignatures,
    audit_leaves,
    audit_nodes,
    audit_state,
)

Node = tuple[int, int]  # (level, index): the perfect subtree of leaves [i*2^l, (i+1)*2^l)


@dataclass(frozen=True)
class StoredLeaf:
    index: int
    leaf_hash: bytes
    data: bytes
    partner_id: str | None


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    cosignatures: tuple[tuple[str, str], ...]  # (witness, signature line)


class AuditStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- appending ---------------------------------------------------------------------------

    def append(self, leaves: list[tuple[bytes, str | None]]) -> int:
        """Append ``(data, partner_id)`` leaves in order, durably; the index of the first."""
        with self._db.write() as conn:
            locked = select(audit_state.c.size).where(audit_state.c.id == 1)
            if not self._db.is_sqlite:
                locked = locked.with_for_update()  # one sequencer at a time, across processes
            first = int(conn.execute(locked).scalar_one())
            hashes = [merkle.leaf_hash(data) for data, _ in leaves]
            known = _nodes(conn.execute, merkle.completion_nodes(first, len(leaves)))
            created = [
                {"level": level, "idx": index, "hash": digest}
                for level, index, digest in merkle.completed_nodes_batch(first, hashes, known)
            ]
            conn.execute(
                insert(audit_leaves),
                [
                    {"idx": first + i, "leaf_hash": h, "data": data, "partner_id": partner}
                    for i, (h, (data, partner)) in enumerate(zip(hashes, leaves, strict=True))
                ],
            )
            if created:
                conn.execute(insert(audit_nodes), created)
            conn.execute(
                update(audit_state).where(audit_state.c.id == 1).values(size=first + len(leaves))
            )
        return first

    # -- reading -----------------------------------------------------------------------------

    def size(self) -> int:
        return int(self._db.read(select(audit_state.c.size).where(audit_state.c.id == 1))[0][0])

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """The stored hashes of ``wanted`` (those that exist), in at most two queries."""
        return _nodes(self._db.read, list(wanted))

    def leaves(self, start: int, end: int) -> list[StoredLeaf]:
        rows = self._db.read(
            select(audit_leaves)
            .where(audit_leaves.c.idx >= start, audit_leaves.c.idx < end)
            .order_by(audit_leaves.c.idx)
        )
        return [StoredLeaf(r.idx, bytes(r.leaf_hash), bytes(r.data), r.partner_id) for r in rows]

    # -- checkpoints -------------------------------------------------------------------------

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        rows = self._db.read(
            select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1)
        )
        return self._checkpoint(rows[0]) if rows else None

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        rows = self._db.read(select(audit_checkpoints).where(audit_checkpoints.c.size == size))
        return self._checkpoint(rows[0]) if rows else None

    def checkpoints(self) -> list[StoredCheckpoint]:
        rows = self._db.read(select(audit_checkpoints).order_by(audit_checkpoints.c.size))
        return [self._checkpoint(row) for row in rows]

    def add_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Store a signed checkpoint; if one of that size exists (another replica signed it),
        that one is returned and this one dropped."""
        try:
            with self._db.write() as conn:
                conn.execute(
                    insert(audit_checkpoints).values(
                        size=size, root=root, note=note, signed_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            pass
        stored = self.checkpoint(size)
        assert stored is not None
        return stored

    def add_cosignature(self, size: int, witness: str, signature: str) -> None:
        """Keep a witness's co-signature (its latest one for that checkpoint)."""
        with self._db.write() as conn:
            conn.execute(
                audit_cosignatures.delete().where(
                    audit_cosignatures.c.size == size, audit_cosignatures.c.witness == witness
                )
            )
            conn.execute(
                insert(audit_cosignatures).values(
                    size=size, witness=witness, signature=signature, added_at=datetime.now(UTC)
                )
            )

    def _checkpoint(self, row: Any) -> StoredCheckpoint:
        cosigned = self._db.read(
            select(audit_cosignatures.c.witness, audit_cosignatures.c.signature)
            .where(audit_cosignatures.c.size == row.size)
            .order_by(audit_cosignatures.c.witness)
        )
        return StoredCheckpoint(
            row.size, bytes(row.root), row.note, tuple((r.witness, r.signature) for r in cosigned)
        )


def _nodes(run: Callable[[Any], Iterable[Any]], wanted: list[Node]) -> dict[Node, bytes]:
    found: dict[Node, bytes] = {}
    leaves = [index for level, index in wanted if level == 0]
    if leaves:
        query = select(audit_leaves.c.idx, audit_leaves.c.leaf_hash).where(
            audit_leaves.c.idx.in_(leaves)
        )
        found.update({(0, idx): bytes(h) for idx, h in run(query)})
    inner = [(level, index) for level, index in wanted if level > 0]
    if inner:
        query = select(audit_nodes.c.level, audit_nodes.c.idx, audit_nodes.c.hash).where(
            or_(*(and_(audit_nodes.c.level == lv, audit_nodes.c.idx == ix) for lv, ix in inner))
        )
        found.update({(lv, ix): bytes(h) for lv, ix, h in run(query)})
    return found
