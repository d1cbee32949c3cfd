"""DuckDB backend: one database connection per process, a cursor per busy thread, writes serialized."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar

import duckdb

from reports_store.errors import StoreBusy
from reports_store.schema import Dialect
from reports_store.sql import SqlReportStore, to_utc

# DuckDB shares one database instance between connections to the same file in a process, and its
# optimistic concurrency makes concurrent writers to the same row fail instead of wait. So all stores
# on one file in this process take the same lock around write transactions.
_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock_for(database: str) -> threading.Lock:
    if database == ":memory:":
        return threading.Lock()  # every in-memory connection is its own database
    with _write_locks_guard:
        return _write_locks.setdefault(database, threading.Lock())


class DuckDBReportStore(SqlReportStore):
    """A report store in one DuckDB file, which only one process at a time may open."""

    dialect: ClassVar[Dialect] = "duckdb"
    begin_sql: ClassVar[str] = "BEGIN TRANSACTION"
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (duckdb.Error,)

    def __init__(self, path: str | Path, *, url: str | None = None) -> None:
        memory = str(path) == ":memory:"
        self.path = None if memory else Path(path).expanduser().resolve()
        database = ":memory:" if self.path is None else str(self.path)
        super().__init__(url or f"duckdb:///{database}")
        if self.path is not None:
            self._make_parent(self.path)
        self._write_lock = _write_lock_for(database)
        try:
            self._db = duckdb.connect(database)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreBusy(
                    f"report store {self.url} is open in another process (DuckDB allows one); "
                    "stop it or use the SQLite store for multi-process access"
                ) from exc
            raise self._translate(exc) from exc
        except duckdb.Error as exc:
            raise self._translate(exc) from exc
        self._open()

    def _connect(self) -> Any:
        return self._db.cursor()  # a cursor is a connection of its own to the shared database

    def _write_guard(self) -> AbstractContextManager[Any]:
        return self._write_lock

    def _date_param(self, value: date) -> date:
        return value

    def _ts_param(self, value: datetime) -> datetime:
        # TIMESTAMP columns are naive; an aware value would be shifted or have its offset dropped.
        return to_utc(value).replace(tzinfo=None)

    def _close_backend(self) -> None:
        with suppress(duckdb.Error):  # best effort, as for the cursors
            self._db.close()
