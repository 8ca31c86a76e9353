"""Engines and migrations: a SQLite file by default, PostgreSQL through a database URL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Row,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    make_url,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import Pool, QueuePool, SingletonThreadPool, StaticPool
from sqlalchemy.sql import ClauseElement

from gateway._private_files import make_private
from gateway.observe import metrics
from gateway.storage.health import SQLALCHEMY_OUTAGES, DatabaseHealth, is_statement_error

_MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# How long a connection attempt, a lock wait and a wait for a pooled connection may take.
DEFAULT_TIMEOUT = 5.0


class Database:
    """One engine: pooled transactions for writes, and for reads one autocommit connection held
    per thread.

    A held connection skips the pool checkout, BEGIN and ROLLBACK a pooled read pays (measured
    here: ~26 µs per primary-key lookup on SQLite against ~90 µs); in autocommit every statement
    sees the newest committed data, and on PostgreSQL a prepared lookup is one round trip.

    Every failure of the database itself (unreachable, stalled past a timeout, locked) leaves
    this class as ``DatabaseUnavailable`` (``health.outage``), whichever method met it; errors
    of the statement (a constraint, a bug) stay what they are.
    """

    def __init__(self, engine: Engine, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.timeout = timeout
        # How long a request waits for database work before it is answered 503: past the
        # database's own timeouts, for a server that has stopped answering at all.
        self.deadline = 2 * timeout
        self.health = DatabaseHealth(self.ping, timeout=timeout)
        dbapi = engine.dialect.loaded_dbapi
        self._outages: tuple[type[BaseException], ...] = (
            *SQLALCHEMY_OUTAGES,
            dbapi.OperationalError,
            dbapi.InterfaceError,
        )
        self._local = threading.local()
        self._held: list[Connection] = []
        self._held_lock = threading.Lock()
        # Pools an earlier dispose() replaced: a connection another thread had checked out then
        # (a health ping, a background write) is returned to its old pool afterwards, and is
        # closed when the next dispose() disposes that pool again, never left to the garbage
        # collector open.
        self._retired: list[Pool] = []
        self._report_pool()

    def _report_pool(self) -> None:
        """Keep the pool gauges: connections checked out, and how many the pool may open.
        The gauges are per process and add up over its databases (one, when serving)."""
        self._capacity = pool_capacity(self.engine.pool)
        metrics.pool_size.inc(self._capacity)
        # Listening on the engine, the events follow the new pool that dispose() makes.
        event.listen(self.engine, "checkout", lambda *_: metrics.pool_in_use.inc())
        event.listen(self.engine, "checkin", lambda *_: metrics.pool_in_use.dec())

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Turn a failure of the database itself into ``DatabaseUnavailable``."""
        try:
            yield
        except self._outages as exc:
            if is_statement_error(exc):
                raise
            raise self.health.outage(exc) from exc

    def read(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """All rows of one read statement, on this thread's held connection."""
        with self._answering():
            for attempt in (1, 2):
                conn = self._reader()
                try:
                    return conn.execute(statement, params).all()
                except DBAPIError as exc:
                    self._drop_reader(conn)
                    # A connection the server dropped is replaced once.
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
        raise AssertionError("unreachable")

    def prepare(
        self, statement: ClauseElement
    ) -> Callable[[Mapping[str, Any]], list[tuple[Any, ...]]]:
        """A constant read statement compiled once for this database and run on the driver's own
        cursor: for hot lookups whose columns need no type conversion (measured here: ~5 µs per
        primary-key lookup on SQLite against ~25 µs through SQLAlchemy's execution layer)."""
        compiled = self.compile(statement)

        def run(params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
            with self._answering():
                for attempt in (1, 2):
                    conn = self._reader()
                    try:
                        cursor = driver_cursor(conn)
                        try:
                            compiled.execute(cursor, params)
                            return list(cursor.fetchall())
                        finally:
                            cursor.close()
                    except self.engine.dialect.loaded_dbapi.Error:
                        self._drop_reader(conn)  # a dropped connection is replaced once
                        if attempt == 2:
                            raise
            raise AssertionError("unreachable")

        return run

    def bulk_insert(self, table: Table, columns: Sequence[str]) -> BulkInsert:
        """An insert of many rows of ``columns`` into ``table``, to run on a driver cursor."""
        return BulkInsert(self, table, tuple(columns))

    def compile(self, statement: ClauseElement) -> DriverStatement:
        """``statement`` in this database's SQL, to run on a driver cursor (``driver_cursor``)."""
        compiled = statement.compile(dialect=self.engine.dialect)
        # positiontup is set for "?" paramstyles (SQLite); psycopg takes named parameters.
        return DriverStatement(
            str(compiled), getattr(compiled, "positiontup", None), dict(compiled.params)
        )

    def _reader(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._local.conn = conn
            with self._held_lock:
                self._held.append(conn)
        return conn

    def _drop_reader(self, conn: Connection) -> None:
        """Forget this thread's connection after an error; the driver connection is discarded,
        not returned to the pool, since it may be dead."""
        self._local.conn = None
        with self._held_lock:
            self._held.remove(conn)
        conn.invalidate()
        conn.close()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        statement_timeout: float | None = None,
    ) -> Database:
        """``timeout`` bounds connecting, waiting for a lock (SQLite: for the write lock) and
        waiting for a pooled connection; ``statement_timeout`` (PostgreSQL), when given, any
        one statement: a server sets it, so that a runaway statement cannot hold a connection
        and its locks; a command-line tool reading a whole log does not."""
        url = normalize_url(url)
        if url.startswith("sqlite"):
            _make_private(url)
            engine = create_engine(
                url,
                pool_size=32,
                max_overflow=32,
                pool_timeout=timeout,
                connect_args={"check_same_thread": False, "timeout": timeout},
            )
            _configure_sqlite(engine)
        else:
            options = f"-c lock_timeout={round(timeout * 1000)}"
            if statement_timeout is not None:
                options += f" -c statement_timeout={round(statement_timeout * 1000)}"
            # Room for one held reader per serving thread plus pooled writers.
            engine = create_engine(
                url,
                pool_size=24,
                max_overflow=24,
                pool_pre_ping=True,
                pool_timeout=timeout,
                connect_args={
                    "connect_timeout": max(1, round(timeout)),
                    "options": options,
                    # A server that vanished (host down, network cut) is noticed by TCP in
                    # about 20 s rather than the kernel's two hours.
                    "keepalives": 1,
                    "keepalives_idle": 10,
                    "keepalives_interval": 5,
                    "keepalives_count": 2,
                },
            )
        return cls(engine, timeout=timeout)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE) so
        concurrent writers queue instead of failing when they upgrade from a read."""
        with self._answering(), self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(cxg_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def driver_write(self) -> Iterator[Any]:
        """``write`` as a driver cursor on a pooled driver connection, without SQLAlchemy's
        connection, transaction and event layers: for group commits on the hot path."""
        with self._answering(), self._driver_write() as cursor:
            yield cursor

    @contextmanager
    def _driver_write(self) -> Iterator[Any]:
        pooled = self.engine.raw_connection()
        try:
            cursor = pooled.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                if self.is_sqlite:  # in autocommit mode (see _configure_sqlite) until BEGIN
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                pooled.commit()
            except BaseException:
                pooled.rollback()
                raise
            finally:
                cursor.close()
        finally:
            pooled.close()  # back to the pool

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        with self.engine.begin() as conn:
            config = alembic_config(self.engine.url.render_as_string(hide_password=False))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def schema_behind(self) -> str | None:
        """None when the schema is at the newest migration this code knows; else what it is
        at (a gateway checks it once it has upgraded, and answers not ready otherwise)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config(str(self.engine.url)))
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        if current == set(script.get_heads()):
            return None
        return (
            f"at {', '.join(sorted(current)) or 'no revision'}, not {', '.join(script.get_heads())}"
        )

    def ping(self) -> None:
        with self._answering(), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        with self._held_lock:
            held, self._held = self._held, []
        for conn in held:
            conn.close()
        for retired in self._retired:
            retired.dispose()
        self._retired.append(self.engine.pool)
        self.engine.dispose()
        metrics.pool_size.dec(self._capacity)
        self._capacity = 0  # disposed twice, counted out once


def pool_capacity(pool: Pool) -> int:
    """How many connections ``pool`` may have open at once (0: no bound it can tell)."""
    if isinstance(pool, QueuePool):  # PostgreSQL, and SQLite files
        return pool.size() + max(pool._max_overflow, 0)
    if isinstance(pool, SingletonThreadPool):  # SQLite in memory: one per thread, this many kept
        return pool.size
    if isinstance(pool, StaticPool):
        return 1
    return 0


def _make_private(url: str) -> None:
    """The database file holds full profiles and consents: owner-only, before SQLite opens it
    (its -wal and -shm files take the database file's mode)."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        make_private(Path(database))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see "begin" below).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives power loss
        cursor.execute("PRAGMA foreign_keys=ON")
        # The wait for the write lock: the sqlite3 module's timeout (Database.from_url).
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql(options.get("cxg_begin", "BEGIN"))


@dataclass(frozen=True)
class DriverStatement:
    """A compiled statement run on the driver's own cursor, skipping SQLAlchemy's execution
    layer: for hot paths whose parameters and columns need no type conversion."""

    sql: str
    order: tuple[str, ...] | None
    constants: Mapping[str, Any]  # values the statement itself fixed (e.g. ``id = 1``)

    def execute(self, cursor: Any, params: Mapping[str, Any]) -> None:
        cursor.execute(self.sql, self._args(params))

    def executemany(self, cursor: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        cursor.executemany(self.sql, [self._args(row) for row in rows])

    def _args(self, params: Mapping[str, Any]) -> Any:
        given = {**self.constants, **params}
        return tuple(given[name] for name in self.order) if self.order is not None else given


class BulkInsert:
    """Many rows in a few multi-row INSERTs, in chunks of power-of-two sizes (compiled once
    each): n rows cost popcount(n) statements instead of n. Each statement is one driver call,
    and on SQLite each driver call gives up the GIL and must win it back, which under load
    costs far more than the insert itself (bench/README.md, bench_audit.py)."""

    _MAX_CHUNK = 256  # rows per statement; keeps SQLite under its 32,766 parameters

    def __init__(self, db: Database, table: Table, columns: tuple[str, ...]) -> None:
        self._db = db
        self._table = table
        self._columns = columns
        self._chunks: dict[int, DriverStatement] = {}

    def execute(self, cursor: Any, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows``, each a sequence of values in ``columns`` order."""
        start = 0
        while start < len(rows):
            size = min(1 << ((len(rows) - start).bit_length() - 1), self._MAX_CHUNK)
            chunk = rows[start : start + size]
            self._chunk(size).execute(
                cursor,
                {
                    f"{name}_{i}": value
                    for i, row in enumerate(chunk)
                    for name, value in zip(self._columns, row, strict=True)
                },
            )
            start += size

    def _chunk(self, size: int) -> DriverStatement:
        statement = self._chunks.get(size)
        if statement is None:
            statement = self._db.compile(
                insert(self._table).values(
                    [
                        {name: bindparam(f"{name}_{i}") for name in self._columns}
                        for i in range(size)
                    ]
                )
            )
            self._chunks[size] = statement
        return statement


def driver_cursor(conn: Connection) -> Any:
    """A cursor of the driver connection under ``conn`` (inside its transaction, if any)."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
