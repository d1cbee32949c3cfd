"""Backup, restore and integrity checks of a report store file (SQLite or DuckDB).

    store = store_file("sqlite:///reports.db")
    backup_store(store, Path("/backups"))          # a consistent copy, also while the service writes
    check_store(store)                             # integrity + schema version -> CheckResult
    restore_store(store, Path("/backups/reports-20250601T020000Z.db"))

SQLite backups use SQLite's online backup API: one read transaction, so the copy is one consistent
snapshot while the service keeps writing (WAL readers never block writers). DuckDB allows one
process per file, so a DuckDB store is backed up (CHECKPOINT, then a copy of the file while this
process holds it) only while no service has it open; otherwise the backup is refused.

A restore first checks the backup (integrity, a schema version this code knows, same backend),
makes sure no other process has the store open, keeps the current file as
`<store>.before-restore-<UTC time>`, then copies the backup in: for SQLite through the backup API in
one transaction, for DuckDB by an atomic rename. Every failure is a `MaintenanceError` whose message
is one line saying what to do.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from reports_store.errors import StoreError
from reports_store.factory import _path_of
from reports_store.schema import LATEST_VERSION, migrations

Backend = Literal["sqlite", "duckdb"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "duckdb")
SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8, after the header checksum
BUSY_TIMEOUT_S = 30.0
# Tables whose row counts a check reports, by the names an operator knows them by.
_COUNTED = {
    "organizations": "organizations",
    "daily_reports": "reports",
    "report_revisions": "report revisions",
    "job_runs": "job runs",
}
# Current reports whose revision is missing from the append-only history (none in a sound store).
_UNRECORDED_REVISIONS = (
    "SELECT COUNT(*) FROM daily_reports r LEFT JOIN report_revisions v ON v.org_id = r.org_id "
    "AND v.report_date = r.report_date AND v.revision = r.revision WHERE v.revision IS NULL"
)
_CREATE_TABLE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)


class MaintenanceError(StoreError):
    """A backup, restore or check could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class StoreFile:
    """A report store file and its backend."""

    backend: Backend
    path: Path

    @property
    def url(self) -> str:
        return f"{self.backend}:///{self.path}"

    def __str__(self) -> str:
        return self.url


def store_file(url: str) -> StoreFile:
    """The file behind a report store URL (sqlite:///path.db or duckdb:///path.duckdb)."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in BACKENDS:
        shown = scheme if separator else "(none)"  # never echo the rest: it may hold a password
        raise MaintenanceError(f"Unsupported report store URL scheme {shown!r}: use sqlite:/// or duckdb:///")
    path = _path_of(scheme, rest)
    if path == ":memory:":
        raise MaintenanceError("an in-memory report store has no file to back up, check or restore")
    return StoreFile(scheme, Path(path).expanduser().resolve())  # type: ignore[arg-type]


def file_backend(path: Path) -> Backend:
    """Which database a file is, from its header."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise MaintenanceError(f"{path} does not exist") from None
    except OSError as exc:
        raise MaintenanceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head[8:12] == DUCKDB_MAGIC:
        return "duckdb"
    if not head:
        raise MaintenanceError(f"{path} is empty, not a report store")
    raise MaintenanceError(f"{path} is neither a SQLite nor a DuckDB database, not a report store")


def backup_file(path: Path) -> StoreFile:
    """A store file given by its path (a backup), its backend read from the file."""
    path = Path(path).expanduser().resolve()
    return StoreFile(file_backend(path), path)


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# -- the check -----------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """What a check found: the schema version, row counts, and problems (none means ok)."""

    store: StoreFile
    schema_version: int | None = None
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line (without the store's name): what the store holds, or its first problem."""
        if not self.ok:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return f"{self.problems[0]}{more}"
        counted = ", ".join(
            f"{self.rows[table]} {label}" for table, label in _COUNTED.items() if table in self.rows
        )
        version = f"schema version {self.schema_version}"
        if self.schema_version is not None and self.schema_version < LATEST_VERSION:
            version += f" (upgraded to {LATEST_VERSION} when the service opens it)"
        return f"integrity ok, {version}, {counted}"


def expected_tables(backend: Backend, version: int) -> set[str]:
    """The tables a store at `version` has."""
    names = set()
    for number, statements in migrations(backend):
        if number <= version:
            for statement in statements:
                names.update(_CREATE_TABLE.findall(statement))
    return names


def _check_schema(result: CheckResult, tables: set[str], version: int | None) -> bool:
    """Record schema problems; True when the tables can be read as a report store."""
    if version is None:
        result.problems.append("not a report store (it has no organizations table)")
        return False
    result.schema_version = version
    if version > LATEST_VERSION:
        result.problems.append(
            f"schema version {version} is newer than this code knows ({LATEST_VERSION}): upgrade the service"
        )
        return False
    missing = sorted(expected_tables(result.store.backend, version) - tables)
    if missing:
        result.problems.append(f"schema version {version} but tables missing: {', '.join(missing)}")
    return True


def _check_revisions(result: CheckResult, conn: Any, tables: set[str]) -> None:
    if {"daily_reports", "report_revisions"} <= tables:
        (unrecorded,) = conn.execute(_UNRECORDED_REVISIONS).fetchone()
        if unrecorded:
            result.problems.append(f"{unrecorded} current report(s) missing from report_revisions")


def _version_of(conn: Any, tables: set[str]) -> int | None:
    if "schema_version" in tables:
        (version,) = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        if version is not None:
            return int(version)
    return 1 if "organizations" in tables else None  # the seed schema had no version table


def _sqlite_uri(path: Path, mode: str) -> str:
    return f"{path.as_uri()}?mode={mode}"


@contextmanager
def _sqlite_readonly(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection (it never creates the file nor takes a write lock)."""
    conn = sqlite3.connect(_sqlite_uri(path, "ro"), uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _check_sqlite(result: CheckResult) -> None:
    try:
        with _sqlite_readonly(result.store.path) as conn:
            findings = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
            if findings != ["ok"]:
                result.problems.append(f"integrity check failed: {'; '.join(findings[:3])}")
                return
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            }
            if _check_schema(result, tables, _version_of(conn, tables)):
                for table in sorted(tables & set(_COUNTED)):
                    (result.rows[table],) = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
                _check_revisions(result, conn, tables)
    except sqlite3.Error as exc:
        result.problems.append(f"cannot be read: {type(exc).__name__}: {_first_line(exc)}")


@contextmanager
def _duckdb_connection(store: StoreFile, *, read_only: bool) -> Iterator[Any]:
    """A DuckDB connection, or a one-line refusal when another process has the file open."""
    import duckdb

    try:
        conn = duckdb.connect(str(store.path), read_only=read_only)
    except duckdb.ConnectionException:
        if not read_only:
            raise
        # This process already has the file open read-write (DuckDB shares one instance per process).
        conn = duckdb.connect(str(store.path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise MaintenanceError(
                f"{store} is open in another process (DuckDB allows one process per file): "
                "stop the service first (a SQLite store is backed up and checked while it runs)"
            ) from None
        raise MaintenanceError(f"{store}: cannot be opened: {_first_line(exc)}") from None
    except duckdb.Error as exc:
        raise MaintenanceError(
            f"{store}: cannot be opened: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    try:
        yield conn
    finally:
        with suppress(duckdb.Error):
            conn.close()


def _check_duckdb(result: CheckResult) -> None:
    import duckdb

    with _duckdb_connection(result.store, read_only=True) as conn:
        try:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
                ).fetchall()
            }
            if not _check_schema(result, tables, _version_of(conn, tables)):
                return
            for table in sorted(tables):
                # Reading every row reads every block, and DuckDB verifies each block's checksum.
                cursor = conn.execute(f'SELECT * FROM "{table}"')
                count = 0
                while rows := cursor.fetchmany(10_000):
                    count += len(rows)
                if table in _COUNTED:
                    result.rows[table] = count
            _check_revisions(result, conn, tables)
        except duckdb.Error as exc:
            result.problems.append(f"cannot be read: {type(exc).__name__}: {_first_line(exc)}")


def check_store(store: StoreFile) -> CheckResult:
    """Integrity (SQLite: PRAGMA integrity_check; DuckDB: every table read) and the schema version.

    Never writes the store (a read-only SQLite connection may leave its -wal/-shm files beside it). Raises MaintenanceError when the file is missing or cannot be opened at all.
    """
    if not store.path.is_file():
        raise MaintenanceError(f"no report store at {store.path}")
    actual = file_backend(store.path)
    result = CheckResult(store)
    if actual != store.backend:
        result.problems.append(f"the file is a {actual} database, not {store.backend}")
    elif store.backend == "sqlite":
        _check_sqlite(result)
    else:
        _check_duckdb(result)
    return result


# -- backup --------------------------------------------------------------------------------------


@dataclass
class BackupResult:
    path: Path
    size_bytes: int
    check: CheckResult


def _fsync(path: Path) -> None:
    """Flush a file (or a directory entry) to disk; best effort where the platform cannot."""
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _backup_target(store: StoreFile, dest: str | Path, overwrite: bool) -> Path:
    folder = str(dest).endswith(("/", os.sep))  # "backups/" names a folder, even one not made yet
    dest = Path(dest).expanduser().resolve()
    if folder or dest.is_dir():
        suffix = store.path.suffix or (".db" if store.backend == "sqlite" else ".duckdb")
        dest = dest / f"{store.path.stem}-{_utc_stamp()}{suffix}"
    if dest == store.path:
        raise MaintenanceError(f"{dest} is the store itself: choose another path for the backup")
    if dest.exists() and not overwrite:
        raise MaintenanceError(f"{dest} already exists: choose a new name, or overwrite it (--overwrite)")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MaintenanceError(f"cannot create {dest.parent}: {exc.strerror or exc}") from None
    if dest.is_dir():
        raise MaintenanceError(
            f"{dest} is a folder: give a file name, or the folder alone for a time-stamped file"
        )
    return dest


def _copy_sqlite(source: sqlite3.Connection, target: Path) -> None:
    """The whole database in one step (one read transaction: a consistent snapshot), as a single file."""
    with closing(sqlite3.connect(target, isolation_level=None)) as copy:
        source.backup(copy)
        copy.execute("PRAGMA journal_mode = DELETE")  # the backup is one self-contained file


def _copy_duckdb(store: StoreFile, target: Path) -> None:
    with _duckdb_connection(store, read_only=False) as conn:
        conn.execute("CHECKPOINT")  # everything into the main file; the WAL is empty afterwards
        # Nobody else can write while this process holds the file, and this connection writes nothing.
        shutil.copyfile(store.path, target)


def backup_store(store: StoreFile, dest: str | Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the store to `dest` (a file; an existing folder or a path ending in "/" gets a time-stamped
    file in it) and check the copy.

    The copy is written beside `dest` and renamed into place once checked: `dest` is never half written.
    """
    if not store.path.is_file():
        raise MaintenanceError(f"no report store at {store.path}")
    target = _backup_target(store, dest, overwrite)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        if store.backend == "sqlite":
            with _sqlite_readonly(store.path) as source:
                _copy_sqlite(source, partial)
        else:
            _copy_duckdb(store, partial)
        _fsync(partial)
        check = check_store(StoreFile(store.backend, partial))
        if not check.ok:
            raise MaintenanceError(
                f"the copy of {store} failed its check ({check.summary()}): the store itself may be "
                "damaged, run `store check`"
            )
        os.replace(partial, target)
        _fsync(target.parent)
    except sqlite3.Error as exc:
        raise MaintenanceError(
            f"backup of {store} failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    except OSError as exc:
        raise MaintenanceError(f"backup of {store} to {target} failed: {exc.strerror or exc}") from None
    finally:
        with suppress(OSError):
            partial.unlink()
    check.store = StoreFile(store.backend, target)
    return BackupResult(target, target.stat().st_size, check)


# -- restore -------------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    restored_from: Path
    previous: Path | None  # where the replaced store was kept (None: there was none)
    check: CheckResult


def validate_backup(store: StoreFile, backup: Path) -> CheckResult:
    """The backup must be a sound report store of the store's backend, at a schema version we know."""
    source = backup_file(backup)
    if source.path == store.path:
        raise MaintenanceError(f"{source.path} is the store itself: give the path of a backup")
    if source.backend != store.backend:
        raise MaintenanceError(
            f"{source.path} is a {source.backend} database but the store {store} is {store.backend}"
        )
    check = check_store(source)
    if not check.ok:
        raise MaintenanceError(f"{source.path} is not a usable backup: {check.summary()}")
    return check


def _previous_path(store: StoreFile) -> Path:
    return store.path.with_name(f"{store.path.name}.before-restore-{_utc_stamp()}")


def _in_use(store: StoreFile) -> MaintenanceError:
    return MaintenanceError(
        f"{store} is open in another process (a running service or command): stop it, then restore"
    )


def _restore_sqlite(store: StoreFile, backup: Path) -> Path | None:
    previous = None
    existed = store.path.is_file()
    with closing(sqlite3.connect(store.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as target:
        if existed:
            # Leaving WAL mode needs the only connection to the file: proof no other process has it open
            # (the service keeps its connections open while it runs).
            try:
                mode = target.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise _in_use(store) from None
                raise
            if str(mode).lower() != "delete":
                raise _in_use(store)
            previous = _previous_path(store)
            _copy_sqlite(target, previous)
            _fsync(previous)
        with _sqlite_readonly(backup) as source:
            source.backup(target)  # one write transaction on the store: all of the backup, or nothing
        target.execute("PRAGMA journal_mode = WAL")  # as the service opens it
    return previous


def _restore_duckdb(store: StoreFile, backup: Path) -> Path | None:
    previous = None
    if store.path.is_file():
        previous = _previous_path(store)
        _copy_duckdb(store, previous)  # refuses while another process has the store open
        _fsync(previous)
    partial = store.path.with_name(f".{store.path.name}.partial-{os.getpid()}")
    try:
        shutil.copyfile(backup, partial)
        _fsync(partial)
        # The store was checkpointed and closed: a WAL left beside it would be replayed onto the backup.
        with suppress(FileNotFoundError):
            Path(f"{store.path}.wal").unlink()
        os.replace(partial, store.path)
        _fsync(store.path.parent)
    finally:
        with suppress(OSError):
            partial.unlink()
    return previous


def restore_store(store: StoreFile, backup: Path) -> RestoreResult:
    """Replace the store's content with a checked backup, keeping the current file beside it.

    The caller makes sure no service runs (a DuckDB store, or a SQLite store another process has open,
    is refused here too).
    """
    source = validate_backup(store, backup).store
    try:
        store.path.parent.mkdir(parents=True, exist_ok=True)
        if store.backend == "sqlite":
            previous = _restore_sqlite(store, source.path)
        else:
            previous = _restore_duckdb(store, source.path)
    except sqlite3.Error as exc:
        raise MaintenanceError(
            f"restore into {store} failed: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    except OSError as exc:
        raise MaintenanceError(f"restore into {store} failed: {exc.strerror or exc}") from None
    check = check_store(store)
    if not check.ok:
        kept = f"; the previous store is {previous}" if previous else ""
        raise MaintenanceError(f"the restored store failed its check: {check.summary()}{kept}")
    return RestoreResult(source.path, previous, check)


__all__ = [
    "BackupResult",
    "CheckResult",
    "MaintenanceError",
    "RestoreResult",
    "StoreFile",
    "backup_file",
    "backup_store",
    "check_store",
    "file_backend",
    "restore_store",
    "store_file",
    "validate_backup",
]
