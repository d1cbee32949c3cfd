"""The machinery every SQL aggregate shares: a connection pool, transactions, errors, migrations.

Backends only say how to connect, how to begin a write transaction and how to bind dates and
timestamps; every query in this package runs unchanged on SQLite and DuckDB (`?` parameters,
ON CONFLICT, RETURNING).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from reports_store.errors import SchemaVersionError, StoreError
from reports_store.schema import LATEST_VERSION, SCHEMA_VERSION_DDL, Dialect, migrations


def utcnow() -> datetime:
    return datetime.now(UTC)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | None, default: Any) -> Any:
    return default if text is None else orjson.loads(text)


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def to_utc(moment: datetime) -> datetime:
    """Aware UTC; naive values (DuckDB's, legacy CURRENT_TIMESTAMP text, callers') are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def as_utc(value: Any) -> datetime | None:
    """Read a stored timestamp (text in SQLite, datetime in DuckDB)."""
    if value is None:
        return None
    return to_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def cols(columns: Iterable[str]) -> str:
    return ", ".join(columns)


def marks(count: int) -> str:
    return ", ".join("?" * count)


class SqlStoreBase(ABC):
    """Pooled connections of a DB-API-like driver, each serving one thread at a time."""

    url: str
    dialect: ClassVar[Dialect]
    begin_sql: ClassVar[str]
    driver_errors: ClassVar[tuple[type[Exception], ...]]

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: list[Any] = []
        self._every: list[Any] = []
        self._pool_lock = threading.Lock()
        self._closed = False

    def _make_parent(self, path: Path) -> None:
        """Create the store file's folder, with a one-line error when that is impossible."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"report store {self.url}: cannot create {path.parent}: {exc}") from exc

    def _open(self) -> None:
        """Bring the schema to the latest version; a store that cannot open releases its connections."""
        try:
            with self._translated_errors():
                self._migrate()
        except BaseException:
            self.close()
            raise

    # -- backend hooks -------------------------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new connection (called under the pool lock)."""

    @abstractmethod
    def _date_param(self, value: date) -> Any:
        """How to bind a date."""

    @abstractmethod
    def _ts_param(self, value: datetime) -> Any:
        """How to bind an aware timestamp."""

    def _write_guard(self) -> AbstractContextManager[Any]:
        """Held around every write transaction; the database's own locking is enough by default."""
        return nullcontext()

    def _committed(self) -> None:  # noqa: B027 (an optional hook)
        """Called after each committed write transaction, still inside the write guard."""

    def _translate(self, exc: Exception) -> StoreError:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return StoreError(f"report store {self.url}: {type(exc).__name__}: {first_line}")

    def _close_backend(self) -> None:  # noqa: B027 (an optional hook)
        """Release anything beyond the pooled connections."""

    # -- connections and transactions ----------------------------------------------------------
    def _closed_error(self) -> StoreError:
        return StoreError(f"report store {self.url} is closed")

    def _acquire(self) -> Any:
        with self._pool_lock:
            if self._closed:
                raise self._closed_error()
            if self._idle:
                return self._idle.pop()
            conn = self._connect()
            self._every.append(conn)
            return conn

    def _release(self, conn: Any, healthy: bool) -> None:
        with self._pool_lock:
            if self._closed:
                return  # close() already closed every connection, this one included
            if healthy:
                self._idle.append(conn)
                return
            self._every.remove(conn)
        with suppress(self.driver_errors):
            conn.close()

    def _rollback(self, conn: Any) -> bool:
        try:
            conn.execute("ROLLBACK")
        except self.driver_errors:
            return False  # connection state unknown: the caller drops it from the pool
        return True

    @contextmanager
    def _translated_errors(self) -> Iterator[None]:
        try:
            yield
        except self.driver_errors as exc:
            raise self._translate(exc) from exc

    @contextmanager
    def _uncounted_write(self) -> Iterator[Any]:
        """A write transaction that `data_version()` does not count: only for what no cache rests
        on (tokens' last uses). Counted, each would drop every answer the caches keep."""
        with self._session(write=True, counted=False) as conn:
            yield conn

    @contextmanager
    def _session(self, *, write: bool = False, counted: bool = True) -> Iterator[Any]:
        """A pooled connection; with write=True, inside one transaction committed on success (and
        counted by `data_version()` unless counted=False: see `_uncounted_write`)."""
        with self._write_guard() if write else nullcontext(), self._translated_errors():
            conn = self._acquire()
            healthy = True
            try:
                if write:
                    conn.execute(self.begin_sql)
                    try:
                        yield conn
                        conn.execute("COMMIT")
                    except BaseException:
                        healthy = self._rollback(conn)
                        raise
                    if counted:
                        self._committed()
                else:
                    yield conn
            finally:
                self._release(conn, healthy)

    def close(self) -> None:
        with self._pool_lock:
            self._closed = True
            connections, self._every, self._idle = self._every, [], []
        for conn in connections:
            with suppress(self.driver_errors):  # best effort; the process may be exiting
                conn.close()
        self._close_backend()

    # -- schema --------------------------------------------------------------------------------
    def _table_exists(self, conn: Any, name: str) -> bool:
        # Both SQLite and DuckDB expose sqlite_master.
        row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone()
        return row is not None

    def _schema_version(self, conn: Any) -> int:
        if self._table_exists(conn, "schema_version"):
            (version,) = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if version is not None:
                return int(version)
        # Files made by the seed DDL have the tables but no version table.
        return 1 if self._table_exists(conn, "organizations") else 0

    def _migrate(self) -> None:
        """Bring the file up to LATEST_VERSION in one transaction (concurrent openers wait for it)."""
        with self._session(write=True) as conn:
            current = self._schema_version(conn)
            if current > LATEST_VERSION:
                raise SchemaVersionError(
                    f"report store {self.url} is at schema version {current} but this code knows "
                    f"only up to {LATEST_VERSION}; upgrade the service"
                )
            conn.execute(SCHEMA_VERSION_DDL)
            for version, statements in migrations(self.dialect):
                if version > current:
                    for statement in statements:
                        conn.execute(statement)
                if version >= current:
                    # Also records a detected seed file (current == 1) that had no version table yet.
                    conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES (?, ?) "
                        "ON CONFLICT (version) DO NOTHING",
                        [version, self._ts_param(utcnow())],
                    )

    def schema_version(self) -> int:
        with self._session() as conn:
            return self._schema_version(conn)
