"""Audit log repository: leaves, perfect-subtree hashes, the log's size, checkpoints and
co-signatures.

Appends run in one transaction per group of leaves: move the size (which locks its row until
commit), read the O(log n) subtree hashes the new leaves complete, insert the leaves and every
new subtree hash. Several gateway processes on one database therefore append in turn to one log.
A root or proof at any size reads its O(log n) stored hashes in one prepared query; nothing
ever scans the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.audit import merkle
from gateway.audit.entries import Actor, change_leaf, current_actor
from gateway.observe import metrics
from gateway.storage.database import Database, driver_cursor
from gateway.storage.tables import (
    audit_checkpoints,
    audit_cosignatures,
    audit_leaves,
    audit_nodes,
    audit_state,
    peer_disclosures,
    profile_disclosures,
)

Node = tuple[int, int]  # (level, index): the perfect subtree of leaves [i*2^l, (i+1)*2^l)


@dataclass(frozen=True)
class StoredLeaf:
    index: int
    leaf_hash: bytes
    data: bytes
    partner_id: str | None


@dataclass(frozen=True)
class Disclosure:
    """A profile version answered to a partner, recorded with the leaf of that answer."""

    profile_id: str
    version: int
    partner_id: str
    purpose: str
    at: datetime
    peer: str = ""  # the peer gateway that holds the version, when this gateway relayed it


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    cosignatures: tuple[tuple[str, str], ...]  # (witness, signature line)
    signed_at: datetime


class ChangeLog:
    """The leaf of each change of state, appended in the transaction that makes the change, so
    a change and its leaf are durable together or not at all (``gateway.audit.entries``)."""

    def __init__(
        self, db: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._audit = AuditStore(db)
        self._clock = clock

    def record(
        self,
        conn: Connection,
        change: str,
        subject: Sequence[str],
        detail: Mapping[str, Any] | None = None,
        *,
        actor: Actor | None = None,
    ) -> None:
        """Append the leaf of ``change`` to ``subject`` by ``actor`` (default: the current
        actor), inside ``conn``'s transaction (call it once the change is written)."""
        actor = actor or current_actor()
        data = change_leaf(actor, change, subject, detail or {}, self._clock())
        cursor = driver_cursor(conn)
        try:
            self._audit.append_on(cursor, [(data, actor.partner_id)])
        finally:
            cursor.close()


class AuditStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # One lookup of up to _LOOKUP node keys, compiled once (unused slots hold -1): reads on
        # the driver's cursor for proofs, and the same SQL inside append's transaction.
        lookup = select(audit_nodes.c.key, audit_nodes.c.hash).where(
            audit_nodes.c.key.in_([bindparam(f"k{i}") for i in range(_LOOKUP)])
        )
        self._read_nodes = db.prepare(lookup)
        # Appends run on the driver's cursor too: through SQLAlchemy's execution layer a group
        # of 8 leaves took about 2.5 times as long (bench/README.md, bench_audit.py).
        self._lookup = db.compile(lookup)
        self._grow = db.compile(
            update(audit_state)
            .where(audit_state.c.id == 1)
            .values(size=audit_state.c.size + bindparam("count"))
            .returning(audit_state.c.size)
        )
        self._insert_leaves = db.bulk_insert(audit_leaves, ("idx", "data", "partner_id"))
        self._insert_nodes = db.bulk_insert(audit_nodes, ("key", "hash"))
        self._insert_disclosures = db.bulk_insert(
            profile_disclosures,
            ("profile_id", "version", "partner_id", "purpose", "leaf_index", "disclosed_at"),
        )
        self._insert_peer_disclosures = db.bulk_insert(
            peer_disclosures,
            (
                "peer",
                "profile_id",
                "version",
                "partner_id",
                "purpose",
                "leaf_index",
                "disclosed_at",
            ),
        )
        # The driver cursor takes a time as the table's column type would store it.
        stored_time = profile_disclosures.c.disclosed_at.type.bind_processor(db.engine.dialect)
        self._stored_time: Callable[[datetime], Any] = stored_time or (lambda at: at)

    # -- appending ---------------------------------------------------------------------------

    def append(
        self,
        leaves: list[tuple[bytes, str | None]],
        disclosures: Sequence[tuple[int, Disclosure]] = (),
    ) -> int:
        """Append ``(data, partner_id)`` leaves in order, durably; the index of the first.
        ``disclosures`` are the profile versions some of them answered, by position in
        ``leaves``: they commit with their leaves.

        The size row's update both reserves the indices and holds the row lock (PostgreSQL;
        SQLite's write lock is taken up front) until commit, so processes append in turn."""
        with self.db.driver_write() as cursor:
            first = self.append_on(cursor, leaves)
            rows = [
                (
                    d.peer,
                    d.profile_id,
                    d.version,
                    d.partner_id,
                    d.purpose,
                    first + i,
                    self._stored_time(d.at),
                )
                for i, d in disclosures
            ]
            if local := [row[1:] for row in rows if not row[0]]:
                self._insert_disclosures.execute(cursor, local)
            if relayed := [row for row in rows if row[0]]:
                self._insert_peer_disclosures.execute(cursor, relayed)
        metrics.audit_tree_size.set(first + len(leaves))
        return first

    def append_on(self, cursor: Any, leaves: list[tuple[bytes, str | None]]) -> int:
        """``append`` inside a write transaction the caller holds (``cursor`` is a driver
        cursor of it): the leaves commit or roll back with whatever else it wrote. Call it
        last in the transaction, so the size row stays locked as briefly as possible."""
        self._grow.execute(cursor, {"count": len(leaves)})
        first = int(cursor.fetchone()[0]) - len(leaves)
        hashes = [merkle.leaf_hash(data) for data, _ in leaves]

        def lookup(params: dict[str, int]) -> list[Any]:
            self._lookup.execute(cursor, params)
            return list(cursor.fetchall())

        known = _nodes(lookup, merkle.completion_nodes(first, len(leaves)))
        created = merkle.completed_nodes_batch(first, hashes, known)
        self._insert_leaves.execute(
            cursor,
            [(first + i, data, partner) for i, (data, partner) in enumerate(leaves)],
        )
        self._insert_nodes.execute(
            cursor,
            [(_key(0, first + i), h) for i, h in enumerate(hashes)]
            + [(_key(level, index), h) for level, index, h in created],
        )
        return first

    # -- reading -----------------------------------------------------------------------------

    def size(self) -> int:
        return int(self.db.read(select(audit_state.c.size).where(audit_state.c.id == 1))[0][0])

    def nodes(self, wanted: Iterable[Node]) -> dict[Node, bytes]:
        """The stored hashes of ``wanted`` (those that exist): one prepared query per 128."""
        return _nodes(self._read_nodes, list(wanted))

    def leaves(self, start: int, end: int) -> list[StoredLeaf]:
        rows = self.db.read(
            select(audit_leaves)
            .where(audit_leaves.c.idx >= start, audit_leaves.c.idx < end)
            .order_by(audit_leaves.c.idx)
        )
        return [
            StoredLeaf(r.idx, merkle.leaf_hash(bytes(r.data)), bytes(r.data), r.partner_id)
            for r in rows
        ]

    # -- checkpoints -------------------------------------------------------------------------

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        latest = self._checkpoints(
            select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1)
        )
        return latest[0] if latest else None

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        found = self._checkpoints(select(audit_checkpoints).where(audit_checkpoints.c.size == size))
        return found[0] if found else None

    def latest_cosigned_at(self) -> datetime | None:
        """When the newest checkpoint that carries a witness co-signature was signed."""
        query = select(func.max(audit_checkpoints.c.signed_at)).where(
            audit_checkpoints.c.size.in_(select(audit_cosignatures.c.size))
        )
        signed_at: datetime | None = self.db.read(query)[0][0]
        return signed_at

    def checkpoints(self) -> list[StoredCheckpoint]:
        return self._checkpoints(select(audit_checkpoints).order_by(audit_checkpoints.c.size))

    def add_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Store a signed checkpoint; if one of that size exists (another replica signed it),
        that one is returned and this one dropped."""
        try:
            with self.db.write() as conn:
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
        with self.db.write() as conn:
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

    def _checkpoints(self, query: Any) -> list[StoredCheckpoint]:
        """The checkpoints ``query`` selects, with their co-signatures: two queries in all."""
        rows = self.db.read(query)
        if not rows:
            return []
        sizes = [row.size for row in rows]
        cosigned: dict[int, list[tuple[str, str]]] = {size: [] for size in sizes}
        rows_cosigned = self.db.read(
            select(
                audit_cosignatures.c.size,
                audit_cosignatures.c.witness,
                audit_cosignatures.c.signature,
            )
            .where(audit_cosignatures.c.size.between(min(sizes), max(sizes)))
            .order_by(audit_cosignatures.c.witness)
        )
        for line in rows_cosigned:
            if line.size in cosigned:
                cosigned[line.size].append((line.witness, line.signature))
        return [
            StoredCheckpoint(
                row.size, bytes(row.root), row.note, tuple(cosigned[row.size]), row.signed_at
            )
            for row in rows
        ]


_LOOKUP = 128  # more than the 2*log2(n)+1 nodes any root or proof needs for n < 2**60


def _key(level: int, index: int) -> int:
    return index << 6 | level


def _nodes(run: Callable[[dict[str, int]], Iterable[Any]], wanted: list[Node]) -> dict[Node, bytes]:
    found: dict[Node, bytes] = {}
    for start in range(0, len(wanted), _LOOKUP):
        keys = [_key(level, index) for level, index in wanted[start : start + _LOOKUP]]
        params = {f"k{i}": keys[i] if i < len(keys) else -1 for i in range(_LOOKUP)}
        found.update({(key & 63, key >> 6): bytes(digest) for key, digest in run(params)})
    return found
