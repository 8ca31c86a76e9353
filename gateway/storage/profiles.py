"""Profile repository: append-only versions, lookup by any identifier, prefix search.

Reads are single Core statements on a pooled connection (the hot path of GetProfile); a publish
is one transaction that either stores the whole version or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from gateway.errors import Conflict, GatewayError, PermissionDenied
from gateway.storage.database import Database
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
_ref_columns = (profile_versions.c.id, profile_versions.c.profile_id, profile_versions.c.version)
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
_given_version = select(*_ref_columns).where(
    profile_versions.c.profile_id == bindparam("profile_id"),
    profile_versions.c.version == bindparam("version"),
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
        self._by_identifier = db.prepare(_by_identifier)
        self._latest_of_profile = db.prepare(_latest_of_profile)
        self._given_version = db.prepare(_given_version)

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
        return [VersionRef(row.id, row.profile_id, row.version) for row in self._db.read(query)]

    # -- writes --------------------------------------------------------------------------------

    def append(self, new: NewVersion) -> StoredVersion:
        """Store a new version of the profile the identifiers belong to (a new profile if none).

        Raises Conflict when the same partner JWS was stored before (a replay) or when the
        identifiers belong to two different profiles.
        """
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    return self._append(conn, new)
            except IntegrityError:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def append_many(self, news: Sequence[NewVersion]) -> list[StoredVersion | GatewayError]:
        """Store many versions in one transaction (one durable commit), each in a savepoint: a
        version refused as ``append`` refuses it (a replay, identifiers of two profiles,
        another publisher's profile) is returned in its place and the others are stored."""
        results: list[StoredVersion | GatewayError] = []
        with self._db.write() as conn:
            for new in news:
                try:
                    with conn.begin_nested():
                        results.append(self._append(conn, new))
                except (Conflict, PermissionDenied) as exc:
                    results.append(exc)
                except IntegrityError:  # another writer stored the same identifiers meanwhile
                    results.append(
                        Conflict("stored concurrently by another writer; import it again")
                    )
        return results

    def _append(self, conn: Connection, new: NewVersion) -> StoredVersion:
        replayed = conn.execute(
            select(profile_versions.c.profile_id, profile_versions.c.version).where(
                profile_versions.c.request_sha256 == new.request_sha256
            )
        ).first()
        if replayed is not None:
            raise Conflict(
                f"this JWS was already published as profiles/{replayed.profile_id} version {replayed.version}",
                field="jws",
                profile_name=f"profiles/{replayed.profile_id}",
                version=replayed.version,
            )
        owners = {
            row.profile_id: (row.scheme, row.value)
            for row in conn.execute(
                select(profile_identifiers).where(
                    _identifier_in(new.identifiers),
                )
            )
        }
        if len(owners) > 1:
            clashes = ", ".join(f"{s}:{v} -> profiles/{p}" for p, (s, v) in sorted(owners.items()))
            raise Conflict(
                f"the identifiers belong to different profiles ({clashes})", field="/subject/ids"
            )
        if owners:
            (profile_id,) = owners
            # A partner changes only what it published: the first version's publisher owns it.
            owner = conn.execute(
                select(profile_versions.c.publisher).where(
                    profile_versions.c.profile_id == profile_id, profile_versions.c.version == 1
                )
            ).scalar_one()
            if owner != new.publisher:
                raise PermissionDenied(
                    f"profiles/{profile_id} was published by another partner; only its publisher may publish new versions",
                    field="/subject/ids",
                )
            locked = select(profiles.c.latest_version).where(profiles.c.id == profile_id)
            if not self._db.is_sqlite:
                locked = locked.with_for_update()  # serializes publishers of one profile
            version = conn.execute(locked).scalar_one() + 1
            conn.execute(
                update(profiles)
                .where(profiles.c.id == profile_id)
                .values(latest_version=version, country=new.country)
            )
            conn.execute(delete(profile_names).where(profile_names.c.profile_id == profile_id))
        else:
            profile_id, version = uuid.uuid4().hex, 1
            conn.execute(
                insert(profiles).values(
                    id=profile_id,
                    country=new.country,
                    latest_version=1,
                    created_at=new.published_at,
                )
            )
        known = {
            (row.scheme, row.value)
            for row in conn.execute(
                select(profile_identifiers).where(profile_identifiers.c.profile_id == profile_id)
            )
        }
        fresh = [
            {"scheme": s, "value": v, "profile_id": profile_id}
            for s, v in new.identifiers
            if (s, v) not in known
        ]
        if fresh:
            conn.execute(insert(profile_identifiers), fresh)
        names = sorted({n.casefold()[:512] for n in new.names})
        if names:
            conn.execute(
                insert(profile_names), [{"profile_id": profile_id, "name_folded": n} for n in names]
            )
        rendered = new.render(profile_id, version)
        row_id = conn.execute(
            insert(profile_versions)
            .values(
                profile_id=profile_id,
                version=version,
                publisher=new.publisher,
                published_at=new.published_at,
                payload_sha256=rendered.payload_sha256,
                request_sha256=new.request_sha256,
                jws=rendered.jws,
                profile_pb=rendered.profile_pb,
                source_jws=new.source_jws,
            )
            .returning(profile_versions.c.id)
        ).scalar_one()
        return StoredVersion(
            row_id=row_id,
            profile_id=profile_id,
            version=version,
            publisher=new.publisher,
            published_at=new.published_at,
            payload_sha256=rendered.payload_sha256,
            jws=rendered.jws,
            profile_pb=rendered.profile_pb,
        )


def _first_ref(rows: list[tuple[Any, ...]]) -> VersionRef | None:
    return VersionRef(*rows[0]) if rows else None


def _identifier_in(identifiers: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    return or_(
        *(
            and_(profile_identifiers.c.scheme == s, profile_identifiers.c.value == v)
            for s, v in identifiers
        )
    )


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
