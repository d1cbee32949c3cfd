"""DuckDB backend: one database connection per process, a cursor per busy thread, writes serialized.

`data_version()` counts the write transactions committed by this process's stores on the file.
"""

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


class _SharedFile:
    """What every store on one DuckDB file in this process shares.

    DuckDB shares one database instance between connections to the same file in a process, and its
    optimistic concurrency makes concurrent writers to the same row fail instead of wait. So all stores
    on one file take the same lock around write transactions. Only this process can write the file,
    so counting its commits (under that lock) is a complete data version.
    """

    def __init__(self) -> None:
        self.write_lock = threading.Lock()
        self.data_version = 0


_shared_files: dict[str, _SharedFile] = {}
_shared_files_guard = threading.Lock()


def _shared_file(database: str) -> _SharedFile:
    if database == ":memory:":
        return _SharedFile()  # every in-memory connection is its own database
    with _shared_files_guard:
        return _shared_files.setdefault(database, _SharedFile())


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
        self._shared = _shared_file(database)
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
        return self._shared.write_lock

    def _committed(self) -> None:
        self._shared.data_version += 1  # under the write lock, after COMMIT: readers never see it early

    def data_version(self) -> int | None:
        if self._closed:
            raise self._closed_error()
        return self._shared.data_version

    def _date_param(self, value: date) -> date:
        return value

    def _ts_param(self, value: datetime) -> datetime:
        # TIMESTAMP columns are naive; an aware value would be shifted or have its offset dropped.
        return to_utc(value).replace(tzinfo=None)

    def _close_backend(self) -> None:
        with suppress(duckdb.Error):  # best effort, as for the cursors
            self._db.close()
