"""Persistence: SQLAlchemy Core tables, migrations and repositories."""

from gateway.storage.database import Database, normalize_url
from gateway.storage.profiles import NewVersion, ProfileStore, Rendered, StoredVersion, VersionRef

__all__ = [
    "Database",
    "NewVersion",
    "ProfileStore",
    "Rendered",
    "StoredVersion",
    "VersionRef",
    "normalize_url",
]
