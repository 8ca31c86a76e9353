"""Profile repository: append-only versions, lookup by any identifier, prefix search.

Reads are single Core statements on a pooled connection (the hot path of GetProfile); a publish
is one transaction that either stores the whole version or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from gateway.audit.entries import Actor, current_actor
from gateway.errors import Conflict, GatewayError, PermissionDenied
from gateway.storage._group import GroupCommitter
from gateway.storage.audit import ChangeLog
from gateway.storage.database import Database
from gateway.storage.events import VERSION_PUBLISHED, OutboxEvent, emit
from gateway.storage.tables import profile_identifiers, profile_names, profile_versions, profiles

# Concurrent first publications of one company collide on its identifiers; the loser retries
# and then finds the winner's profile.
_WRITE_ATTEMPTS = 4


@dataclass(frozen=True)
class VersionRef:
    """Which stored version answers a lookup: enough to find it in a cache."""

    row_id: int
    profile_id: str
    version: int
    marks: int = 0  # the profile's marks generation (storage/corrections.py)


@dataclass(frozen=True)
class StoredVersion:
    row_id: int
    profile_id: str
    version: int
    publisher: str
    published_at: datetime
    payload_sha256: str
    jws: str
    profile_pb: bytes


@dataclass(frozen=True)
class Rendered:
    """What the service signs for a new version once its profile id and version are known."""

    jws: str
    payload_sha256: str
    profile_pb: bytes


@dataclass(frozen=True)
class NewVersion:
    identifiers: Sequence[tuple[str, str]]
    country: str
    names: Sequence[str]
    publisher: str
    request_sha256: str
    source_jws: str
    published_at: datetime
    render: Callable[[str, int], Rendered]


# A version reference, and every profile joined to its latest version.
_ref_columns = (
    profile_versions.c.id,
    profile_versions.c.profile_id,
    profile_versions.c.version,
    profiles.c.marks,
)
_with_latest = profiles.join(
    profile_versions,
    and_(
        profile_versions.c.profile_id == profiles.c.id,
        profile_versions.c.version == profiles.c.latest_version,
    ),
)

_by_identifier = (
    select(*_ref_columns)
    .select_from(
        profile_identifiers.join(_with_latest, profiles.c.id == profile_identifiers.c.profile_id)
    )
    .where(
        profile_identifiers.c.scheme == bindparam("scheme"),
        profile_identifiers.c.value == bindparam("value"),
    )
)
_latest_of_profile = (
    select(*_ref_columns).select_from(_with_latest).where(profiles.c.id == bindparam("profile_id"))
)
_given_version = (
    select(*_ref_columns)
    .select_from(profile_versions.join(profiles, profiles.c.id == profile_versions.c.profile_id))
    .where(
        profile_versions.c.profile_id == bindparam("profile_id"),
        profile_versions.c.version == bindparam("version"),
    )
)

_stored_columns = (
    profile_versions.c.id,
    profile_versions.c.profile_id,
    profile_versions.c.version,
    profile_versions.c.publisher,
    profile_versions.c.published_at,
    profile_versions.c.payload_sha256,
    profile_versions.c.jws,
    profile_versions.c.profile_pb,
)

_stored_by_id = select(*_stored_columns).where(profile_versions.c.id == bindparam("row_id"))


class ProfileStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._changes = ChangeLog(db)
        self._by_identifier = db.prepare(_by_identifier)
        self._latest_of_profile = db.prepare(_latest_of_profile)
        self._given_version = db.prepare(_given_version)
        # PostgreSQL locks the profiles a batch moves: publishers of one profile take turns.
        self._heads = _heads if db.is_sqlite else _heads.with_for_update(of=profiles)
        # Single publishes from concurrent callers commit together, each as its own actor's
        # change: a batch costs a fixed number of statements and one durable commit.
        self._publishes: GroupCommitter[tuple[Actor, NewVersion], StoredVersion | GatewayError]
        self._publishes = GroupCommitter(self._append_grouped)

    # -- reads ---------------------------------------------------------------------------------

    def find_by_identifier(self, scheme: str, value: str, version: int = 0) -> VersionRef | None:
        if version:
            ref = self.find_by_identifier(scheme, value)
            return ref and self.find(ref.profile_id, version)
        return _first_ref(self._by_identifier({"scheme": scheme, "value": value}))

    def find(self, profile_id: str, version: int = 0) -> VersionRef | None:
        if version:
            return _first_ref(self._given_version({"profile_id": profile_id, "version": version}))
        return _first_ref(self._latest_of_profile({"profile_id": profile_id}))

    def load(self, row_id: int) -> StoredVersion:
        (row,) = self._db.read(_stored_by_id, {"row_id": row_id})
        return _stored(row)

    def list_versions(
        self, profile_id: str, *, below: int | None, limit: int
    ) -> list[StoredVersion]:
        """Versions newest first, those numbered below ``below`` when it is given."""
        query = select(*_stored_columns).where(profile_versions.c.profile_id == profile_id)
        if below is not None:
            query = query.where(profile_versions.c.version < below)
        rows = self._db.read(query.order_by(profile_versions.c.version.desc()).limit(limit))
        return [_stored(row) for row in rows]

    def profile_exists(self, profile_id: str) -> bool:
        return bool(self._db.read(select(exists().where(profiles.c.id == profile_id)))[0][0])

    def search(self, *, name_prefix: str, country: str, after: str, limit: int) -> list[VersionRef]:
        """Latest versions of profiles whose folded legal name starts with ``name_prefix`` and
        whose country is ``country`` (an empty criterion matches all), ordered by profile id,
        after the id ``after``."""
        query = (
            select(*_ref_columns)
            .select_from(_with_latest)
            .where(profiles.c.id > after)
            .order_by(profiles.c.id)
            .limit(limit)
        )
        if country:
            query = query.where(profiles.c.country == country)
        if name_prefix:
            pattern = _escape_like(name_prefix.casefold()) + "%"
            query = query.where(
                exists().where(
                    profile_names.c.profile_id == profiles.c.id,
                    profile_names.c.name_folded.like(pattern, escape="\\"),
                )
            )
        return [
            VersionRef(row.id, row.profile_id, row.version, row.marks)
            for row in self._db.read(query)
        ]

    def publisher_of(self, profile_id: str) -> str | None:
        """The partner that published the profile first: the only one that may change it."""
        rows = self._db.read(
            select(profile_versions.c.publisher).where(
                profile_versions.c.profile_id == profile_id, profile_versions.c.version == 1
            )
        )
        return rows[0][0] if rows else None

    # -- writes --------------------------------------------------------------------------------

    def append(self, new: NewVersion) -> StoredVersion:
        """Store a new version of the profile the identifiers belong to (a new profile if none).

        Raises Conflict when the same partner JWS was stored before (a replay) or when the
        identifiers belong to two different profiles, and PermissionDenied when the profile
        was first published by another partner.
        """
        result = self._publishes.run((current_actor(), new))
        if isinstance(result, GatewayError):
            raise result
        return result

    def append_with(
        self, new: NewVersion, also: Callable[[Connection, StoredVersion], None]
    ) -> StoredVersion:
        """``append`` a version of an existing profile, with ``also``'s writes in the same
        transaction (a repair's record, events and leaf)."""
        with self._db.write() as conn:
            (result,) = self._append_batch(conn, [(current_actor(), new)])
            if isinstance(result, GatewayError):
                raise result
            also(conn, result)
        return result

    def append_many(self, news: Sequence[NewVersion]) -> list[StoredVersion | GatewayError]:
        """Store many versions in one transaction, in order, each as ``append`` stores it; a
        version ``append`` would refuse is returned in its place and the others are stored.

        A batch costs a fixed number of statements whatever its size. A concurrent first
        publication of the same identifiers fails an insert; the batch is then decided again
        against what the other writer stored.
        """
        actor = current_actor()
        return self._append_grouped([(actor, new) for new in news])

    def _append_grouped(
        self, items: Sequence[tuple[Actor, NewVersion]]
    ) -> list[StoredVersion | GatewayError]:
        """``append_many`` of versions each stored as its own actor's change."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    return self._append_batch(conn, items)
            except IntegrityError:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _append_batch(
        self, conn: Connection, items: Sequence[tuple[Actor, NewVersion]]
    ) -> list[StoredVersion | GatewayError]:
        """Decide and store each (actor, version) in ``conn``'s transaction, each version
        recorded as its actor's change."""
        news = [new for _, new in items]
        # What the database knows, read set-wise, then kept up to date as the batch is decided.
        stored_as = {  # partner JWS digest -> (profile id, version)
            row.request_sha256: (row.profile_id, row.version)
            for digests in _chunks({new.request_sha256 for new in news})
            for row in conn.execute(_replays, {"digests": digests})
        }
        owner_of = {  # identifier -> profile id
            (row.scheme, row.value): row.profile_id
            for keys in _chunks({key for new in news for key in new.identifiers})
            for row in conn.execute(_owners, {"keys": keys})
        }
        heads = {
            row.id: _Head(row.latest_version, row.publisher, row.country)
            for ids in _chunks(set(owner_of.values()))
            for row in conn.execute(self._heads, {"ids": ids})
        }
        created: set[str] = set()
        names: dict[str, list[str]] = {}
        identifier_rows: list[dict[str, Any]] = []
        version_rows: list[dict[str, Any]] = []
        decided: list[tuple[dict[str, Any], Rendered] | GatewayError] = []
        by_actor: dict[Actor, list[dict[str, Any]]] = {}  # the version rows of each actor
        for actor, new in items:
            try:
                profile_id = _owning_profile(new, stored_as, owner_of, heads)
            except (Conflict, PermissionDenied) as refused:
                decided.append(refused)
                continue
            if profile_id is None:
                profile_id = uuid.uuid4().hex
                heads[profile_id] = _Head(0, new.publisher, new.country, new.published_at)
                created.add(profile_id)
            head = heads[profile_id]
            head.latest_version += 1
            head.country = new.country
            stored_as[new.request_sha256] = (profile_id, head.latest_version)
            for key in new.identifiers:
                if key not in owner_of:
                    owner_of[key] = profile_id
                    identifier_rows.append({"scheme": key[0], "value": key[1], "profile_id": profile_id})  # fmt: skip
            names[profile_id] = sorted({name.casefold()[:512] for name in new.names})
            rendered = new.render(profile_id, head.latest_version)
            row = {
                "profile_id": profile_id,
                "version": head.latest_version,
                "publisher": new.publisher,
                "published_at": new.published_at,
                "payload_sha256": rendered.payload_sha256,
                "request_sha256": new.request_sha256,
                "jws": rendered.jws,
                "profile_pb": rendered.profile_pb,
                "source_jws": new.source_jws,
            }
            version_rows.append(row)
            by_actor.setdefault(actor, []).append(row)
            decided.append((row, rendered))

        # Parents before children, as the foreign keys want them.
        if created:
            conn.execute(insert(profiles), [heads[pid].created_row(pid) for pid in created])
        updated = [pid for pid in names if pid not in created]
        if updated:
            conn.execute(_move_head, [heads[pid].moved_row(pid) for pid in updated])
            for ids in _chunks(set(updated)):
                conn.execute(_forget_names, {"ids": ids})
        name_rows = [
            {"profile_id": pid, "name_folded": name} for pid, folded in names.items() for name in folded
        ]  # fmt: skip
        for table, rows in ((profile_identifiers, identifier_rows), (profile_names, name_rows)):
            if rows:
                conn.execute(insert(table), rows)
        row_ids = (
            conn.execute(_insert_versions, version_rows).scalars().all() if version_rows else []
        )
        emit(  # each version's event, committed with it (storage/events.py)
            conn,
            [
                OutboxEvent(
                    0,
                    VERSION_PUBLISHED,
                    row["profile_id"],
                    row["version"],
                    {"publisher": row["publisher"]},
                    row["published_at"],
                )
                for row in version_rows
            ],
        )
        for actor, rows in by_actor.items():
            # One leaf per actor in the batch, naming each version stored with the digests of
            # the record it came from and of what the gateway signed (about 140 bytes a version).
            self._changes.record(
                conn,
                "profile.versions",
                list(dict.fromkeys(f"profiles/{row['profile_id']}" for row in rows)),
                {
                    "versions": [
                        f"profiles/{row['profile_id']}/versions/{row['version']}"
                        f" request:{row['request_sha256']} payload:{row['payload_sha256']}"
                        for row in rows
                    ]
                },
                actor=actor,
            )
        stored = iter(row_ids)
        return [
            outcome
            if isinstance(outcome, GatewayError)
            else StoredVersion(
                row_id=next(stored),
                profile_id=outcome[0]["profile_id"],
                version=outcome[0]["version"],
                publisher=outcome[0]["publisher"],
                published_at=outcome[0]["published_at"],
                payload_sha256=outcome[1].payload_sha256,
                jws=outcome[1].jws,
                profile_pb=outcome[1].profile_pb,
            )
            for outcome in decided
        ]


@dataclass
class _Head:
    """A profile's latest version as a batch moves it, its first publisher and its country."""

    latest_version: int
    publisher: str
    country: str
    created_at: datetime | None = None  # set when the batch creates the profile

    def created_row(self, profile_id: str) -> dict[str, Any]:
        return {"id": profile_id, "country": self.country, "latest_version": self.latest_version,
                "created_at": self.created_at}  # fmt: skip

    def moved_row(self, profile_id: str) -> dict[str, Any]:
        return {"pid": profile_id, "latest": self.latest_version, "new_country": self.country}


def _owning_profile(
    new: NewVersion,
    stored_as: dict[str, tuple[str, int]],
    owner_of: dict[tuple[str, str], str],
    heads: dict[str, _Head],
) -> str | None:
    """The profile ``new`` is a version of (None for a new one), or why it cannot be stored."""
    if new.request_sha256 in stored_as:
        profile_id, version = stored_as[new.request_sha256]
        raise Conflict(
            f"this JWS was already published as profiles/{profile_id} version {version}",
            field="jws",
            profile_name=f"profiles/{profile_id}",
            version=version,
        )
    owners = {owner_of[key]: key for key in new.identifiers if key in owner_of}
    if len(owners) > 1:
        clashes = ", ".join(f"{s}:{v} -> profiles/{p}" for p, (s, v) in sorted(owners.items()))
        raise Conflict(
            f"the identifiers belong to different profiles ({clashes})", field="/subject/ids"
        )
    if not owners:
        return None
    (profile_id,) = owners
    # A partner changes only what it published: the first version's publisher owns it.
    if heads[profile_id].publisher != new.publisher:
        raise PermissionDenied(
            f"profiles/{profile_id} was published by another partner; only its publisher may publish new versions",
            field="/subject/ids",
        )
    return profile_id


# Lookups of a batch take at most this many values each: well under SQLite's and PostgreSQL's
# bound-parameter limits, with an identifier counting twice.
_CHUNK = 1000
_Key = TypeVar("_Key", str, tuple[str, str])


def _chunks(values: Iterable[_Key]) -> Iterator[list[_Key]]:
    ordered = sorted(values)  # a set in a stable order
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


_replays = select(
    profile_versions.c.request_sha256, profile_versions.c.profile_id, profile_versions.c.version
).where(profile_versions.c.request_sha256.in_(bindparam("digests", expanding=True)))
_owners = select(profile_identifiers).where(
    tuple_(profile_identifiers.c.scheme, profile_identifiers.c.value).in_(
        bindparam("keys", expanding=True)
    )
)
_first_version = profile_versions.alias("first_version")
_heads = (
    select(profiles.c.id, profiles.c.latest_version, profiles.c.country, _first_version.c.publisher)
    .select_from(
        profiles.join(
            _first_version,
            and_(_first_version.c.profile_id == profiles.c.id, _first_version.c.version == 1),
        )
    )
    .where(profiles.c.id.in_(bindparam("ids", expanding=True)))
)
_move_head = (
    update(profiles)
    .where(profiles.c.id == bindparam("pid"))
    .values(latest_version=bindparam("latest"), country=bindparam("new_country"))
)
_forget_names = delete(profile_names).where(
    profile_names.c.profile_id.in_(bindparam("ids", expanding=True))
)
_insert_versions = insert(profile_versions).returning(
    profile_versions.c.id, sort_by_parameter_order=True
)


def _first_ref(rows: list[tuple[Any, ...]]) -> VersionRef | None:
    return VersionRef(*rows[0]) if rows else None


def _stored(row: Any) -> StoredVersion:
    return StoredVersion(
        row_id=row.id,
        profile_id=row.profile_id,
        version=row.version,
        publisher=row.publisher,
        published_at=row.published_at,
        payload_sha256=row.payload_sha256,
        jws=row.jws,
        profile_pb=row.profile_pb,
    )


def _escape_like(text: str) -> str:
    # The prefix is data, never a pattern: a caller's '%' or '_' matches only itself.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
