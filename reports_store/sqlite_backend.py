"""SQLite backend: WAL mode and a busy timeout, so writers in other threads and processes wait their turn.

`data_version()` is SQLite's own `PRAGMA data_version`, read on a connection of the store's that never
writes: it changes whenever another connection (a pooled one, another store, another process) commits.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar

from reports_store.errors import StoreBusy, StoreError
from reports_store.schema import Dialect
from reports_store.sql import SqlReportStore, to_utc

DEFAULT_BUSY_TIMEOUT_S = 30.0
# A cache check should not wait out a long lock: None ("unknown") just means that read goes uncached.
VERSION_TIMEOUT_S = 1.0


class SQLiteReportStore(SqlReportStore):
    """A report store in one SQLite file; connections are pooled, one per concurrently busy thread."""

    dialect: ClassVar[Dialect] = "sqlite"
    # IMMEDIATE takes the write lock up front: a deferred transaction that later upgrades from read
    # to write can fail with SQLITE_BUSY without waiting out the busy timeout.
    begin_sql: ClassVar[str] = "BEGIN IMMEDIATE"
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(
        self, path: str | Path, *, url: str | None = None, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S
    ) -> None:
        self.path = Path(path).expanduser()
        super().__init__(url or f"sqlite:///{self.path}")
        self.busy_timeout_s = busy_timeout_s
        self._version_lock = threading.Lock()
        self._version_conn: sqlite3.Connection | None = None
        self._make_parent(self.path)
        self._open()
        self._open_version_conn()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the driver never opens transactions behind our back; we BEGIN ourselves.
        # check_same_thread=False: pooled connections move between threads (one thread at a time).
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")  # persistent in the file; a no-op once set
            conn.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, much faster commits
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_version_conn(self) -> None:
        """The connection data_version() reads on. Its own commits do not count, so it writes only
        what no cache rests on (`_uncounted_write`), and is read-only otherwise."""
        try:
            with self._translated_errors():
                self._version_conn = sqlite3.connect(
                    self.path, timeout=VERSION_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                self._version_conn.execute("PRAGMA query_only = ON")
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _uncounted_write(self) -> Iterator[sqlite3.Connection]:
        """On the connection data_version() reads on: SQLite's data_version counts the commits of
        the other connections only (its wait for the write lock is VERSION_TIMEOUT_S)."""
        with self._version_lock, self._translated_errors():
            conn = self._version_conn
            if conn is None:
                raise self._closed_error()
            conn.execute("PRAGMA query_only = OFF")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
            finally:
                conn.execute("PRAGMA query_only = ON")

    def data_version(self) -> int | None:
        with self._version_lock:
            if self._version_conn is None:
                raise self._closed_error()
            try:
                (version,) = self._version_conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return None
        return int(version)

    def _close_backend(self) -> None:
        with self._version_lock:
            conn, self._version_conn = self._version_conn, None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()

    def _date_param(self, value: date) -> str:
        return value.isoformat()

    def _ts_param(self, value: datetime) -> str:
        # One fixed-width ISO format, so text ordering is time ordering.
        return to_utc(value).isoformat(timespec="microseconds")

    def _translate(self, exc: Exception) -> StoreError:
        message = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message):
            return StoreBusy(
                f"report store {self.url} stayed locked by another writer for over {self.busy_timeout_s:g}s"
            )
        return super()._translate(exc)
