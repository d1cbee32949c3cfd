"""The store logic both backends share: one SQL dialect, a connection pool, transactions, migrations.

Backends only say how to connect, how to begin a write transaction and how to bind dates and
timestamps; every query below runs unchanged on SQLite and DuckDB (`?` parameters, ON CONFLICT,
RETURNING).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar

import orjson

from reports_store.base import ReportStore
from reports_store.errors import SchemaVersionError, StoreError, UnknownJob, UnknownOrganization
from reports_store.models import JobRun, MartVersion, Organization, StoredReport
from reports_store.schema import LATEST_VERSION, SCHEMA_VERSION_DDL, Dialect, migrations
from reports_store.summary import summarize_report

_ORG_COLUMNS = (
    "org_id",
    "name",
    "node_persistent_id",
    "timezone",
    "excluded_numbers",
    "is_active",
    "created_at",
    "updated_at",
)
_REPORT_COLUMNS = ("org_id", "report_date", "report_data", "created_at", "updated_at")
_JOB_COLUMNS = (
    "id",
    "kind",
    "org_id",
    "start_date",
    "end_date",
    "started_at",
    "finished_at",
    "status",
    "progress",
    "counts",
    "error",
    "details",
)
_JOB_DATES = {"start_date", "end_date"}
_JOB_TIMESTAMPS = {"started_at", "finished_at"}
_JOB_JSON = {"counts", "details"}
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "partial"})
_IN_CHUNK = 500  # dates per IN (...) list, well under SQLite's bound-parameter limit


def utcnow() -> datetime:
    return datetime.now(UTC)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(text: str | None, default: Any) -> Any:
    return default if text is None else orjson.loads(text)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def to_utc(moment: datetime) -> datetime:
    """Aware UTC; naive values (DuckDB's, legacy CURRENT_TIMESTAMP text, callers') are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_utc(value: Any) -> datetime | None:
    """Read a stored timestamp (text in SQLite, datetime in DuckDB)."""
    if value is None:
        return None
    return to_utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


def _cols(columns: Iterable[str]) -> str:
    return ", ".join(columns)


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class SqlReportStore(ReportStore):
    """A ReportStore over a DB-API-like driver whose connections each serve one thread at a time."""

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

    def _translate(self, exc: Exception) -> StoreError:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return StoreError(f"report store {self.url}: {type(exc).__name__}: {first_line}")

    def _close_backend(self) -> None:
        """Release anything beyond the pooled connections."""

    # -- connections and transactions ----------------------------------------------------------
    def _acquire(self) -> Any:
        with self._pool_lock:
            if self._closed:
                raise StoreError(f"report store {self.url} is closed")
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
    def _session(self, *, write: bool = False) -> Iterator[Any]:
        """A pooled connection; with write=True, inside one transaction committed on success."""
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

    # -- organizations -------------------------------------------------------------------------
    def _org_from_row(self, row: tuple[Any, ...]) -> Organization:
        values = dict(zip(_ORG_COLUMNS, row, strict=True))
        values["timezone"] = values["timezone"] or "UTC"
        values["excluded_numbers"] = _loads(values["excluded_numbers"], [])
        values["is_active"] = values["is_active"] is None or bool(values["is_active"])
        values["created_at"] = _as_utc(values["created_at"])
        values["updated_at"] = _as_utc(values["updated_at"])
        return Organization(**values)

    def _fetch_org(self, conn: Any, org_id: str) -> Organization | None:
        row = conn.execute(
            f"SELECT {_cols(_ORG_COLUMNS)} FROM organizations WHERE org_id = ?", [org_id]
        ).fetchone()
        return None if row is None else self._org_from_row(row)

    def _require_org(self, conn: Any, org_id: str) -> None:
        if conn.execute("SELECT 1 FROM organizations WHERE org_id = ?", [org_id]).fetchone() is None:
            raise UnknownOrganization(f"organization {org_id!r} is not registered in the report store")

    def upsert_organization(self, org: Organization) -> Organization:
        now = utcnow()
        values = [
            org.org_id,
            org.name,
            org.node_persistent_id,
            org.timezone,
            _dumps(org.excluded_numbers),
            org.is_active,
            self._ts_param(org.created_at or now),
            self._ts_param(now),
        ]
        # created_at keeps its first value; COALESCE fills it for seed rows that had none.
        sql = (
            f"INSERT INTO organizations ({_cols(_ORG_COLUMNS)}) VALUES ({_marks(len(values))}) "
            "ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, "
            "node_persistent_id = excluded.node_persistent_id, timezone = excluded.timezone, "
            "excluded_numbers = excluded.excluded_numbers, is_active = excluded.is_active, "
            "created_at = COALESCE(organizations.created_at, excluded.created_at), "
            "updated_at = excluded.updated_at"
        )
        with self._session(write=True) as conn:
            conn.execute(sql, values)
            stored = self._fetch_org(conn, org.org_id)
        assert stored is not None  # just written in this transaction
        return stored

    def get_organization(self, org_id: str) -> Organization | None:
        with self._session() as conn:
            return self._fetch_org(conn, org_id)

    def list_organizations(self, active_only: bool = False) -> list[Organization]:
        where = "WHERE COALESCE(is_active, TRUE)" if active_only else ""
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {_cols(_ORG_COLUMNS)} FROM organizations {where} ORDER BY org_id"
            ).fetchall()
        return [self._org_from_row(row) for row in rows]

    def deactivate_organization(self, org_id: str) -> None:
        with self._session(write=True) as conn:
            updated = conn.execute(
                "UPDATE organizations SET is_active = ?, updated_at = ? WHERE org_id = ? RETURNING 1",
                [False, self._ts_param(utcnow()), org_id],
            ).fetchall()
            if not updated:
                raise UnknownOrganization(f"organization {org_id!r} is not registered in the report store")

    # -- reports -------------------------------------------------------------------------------
    def _report_from_row(self, row: tuple[Any, ...]) -> StoredReport:
        org_id, report_date, report_data, created_at, updated_at = row
        created = _as_utc(created_at)
        return StoredReport(
            org_id=org_id,
            report_date=_as_date(report_date),
            report_data=orjson.loads(report_data),
            created_at=created,
            updated_at=_as_utc(updated_at) or created,
        )

    def save_report(
        self, org_id: str, report_date: date, report_data: Mapping[str, Any], *, overwrite: bool = True
    ) -> bool:
        payload = _dumps(dict(report_data))
        now = self._ts_param(utcnow())
        on_conflict = (
            "DO UPDATE SET report_data = excluded.report_data, updated_at = excluded.updated_at"
            if overwrite
            else "DO NOTHING"
        )
        # RETURNING yields a row only when something was written, so it tells whether we won the race.
        sql = (
            f"INSERT INTO daily_reports ({_cols(_REPORT_COLUMNS)}) VALUES (?, ?, ?, ?, ?) "
            f"ON CONFLICT (org_id, report_date) {on_conflict} RETURNING 1"
        )
        with self._session(write=True) as conn:
            self._require_org(conn, org_id)
            written = conn.execute(sql, [org_id, self._date_param(report_date), payload, now, now]).fetchall()
        return bool(written)

    def _select_reports(self, where: str, params: list[Any], tail: str = "") -> list[StoredReport]:
        sql = f"SELECT {_cols(_REPORT_COLUMNS)} FROM daily_reports WHERE {where} {tail}"
        with self._session() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [self._report_from_row(row) for row in rows]

    def get_report(self, org_id: str, report_date: date) -> StoredReport | None:
        params = [org_id, self._date_param(report_date)]
        found = self._select_reports("org_id = ? AND report_date = ?", params)
        return found[0] if found else None

    def get_latest_report(self, org_id: str) -> StoredReport | None:
        found = self.get_recent_reports(org_id, limit=1)
        return found[0] if found else None

    def get_recent_reports(self, org_id: str, limit: int = 30) -> list[StoredReport]:
        return self._select_reports("org_id = ?", [org_id, limit], "ORDER BY report_date DESC LIMIT ?")

    def list_report_summaries(self, org_id: str, limit: int = 30, offset: int = 0) -> list[dict[str, Any]]:
        reports = self._select_reports(
            "org_id = ?", [org_id, limit, offset], "ORDER BY report_date DESC LIMIT ? OFFSET ?"
        )
        return [
            {
                "org_id": report.org_id,
                "report_date": report.report_date,
                "created_at": report.created_at,
                "updated_at": report.updated_at,
                **summarize_report(report.report_data),
            }
            for report in reports
        ]

    def count_reports(self, org_id: str) -> int:
        with self._session() as conn:
            row = conn.execute("SELECT COUNT(*) FROM daily_reports WHERE org_id = ?", [org_id]).fetchone()
        return int(row[0])

    def report_dates(self, org_id: str, start: date, end: date) -> set[date]:
        with self._session() as conn:
            rows = conn.execute(
                "SELECT report_date FROM daily_reports WHERE org_id = ? AND report_date BETWEEN ? AND ?",
                [org_id, self._date_param(start), self._date_param(end)],
            ).fetchall()
        return {_as_date(row[0]) for row in rows}

    # -- job runs ------------------------------------------------------------------------------
    def _job_param(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in _JOB_DATES:
            return self._date_param(value)
        if name in _JOB_TIMESTAMPS:
            return self._ts_param(value)
        return _dumps(value) if name in _JOB_JSON else value

    def _job_from_row(self, row: tuple[Any, ...]) -> JobRun:
        values = dict(zip(_JOB_COLUMNS, row, strict=True))
        for name in _JOB_DATES:
            values[name] = None if values[name] is None else _as_date(values[name])
        for name in _JOB_TIMESTAMPS:
            values[name] = _as_utc(values[name])
        for name in _JOB_JSON:
            values[name] = _loads(values[name], {})
        return JobRun(**values)

    def _fetch_job(self, conn: Any, job_id: int) -> JobRun | None:
        row = conn.execute(f"SELECT {_cols(_JOB_COLUMNS)} FROM job_runs WHERE id = ?", [job_id]).fetchone()
        return None if row is None else self._job_from_row(row)

    def create_job(self, job: JobRun) -> JobRun:
        job = job.model_copy(update={"id": None, "started_at": job.started_at or utcnow()})
        names = [name for name in _JOB_COLUMNS if name != "id"]
        values = [self._job_param(name, getattr(job, name)) for name in names]
        sql = f"INSERT INTO job_runs ({_cols(names)}) VALUES ({_marks(len(names))}) RETURNING id"
        with self._session(write=True) as conn:
            ((job_id,),) = conn.execute(sql, values).fetchall()
            stored = self._fetch_job(conn, job_id)  # read back so it equals what get_job returns
        assert stored is not None  # just inserted in this transaction
        return stored

    def update_job(self, job_id: int, **fields: Any) -> JobRun:
        unknown = set(fields) - set(_JOB_COLUMNS[1:])
        if unknown:
            raise ValueError(f"update_job: unknown JobRun fields {sorted(unknown)}")
        checked = JobRun.model_validate({"kind": "-", **fields})  # coerce and validate only what was given
        assignments = [f"{name} = ?" for name in fields]
        params = [self._job_param(name, getattr(checked, name)) for name in fields]
        if fields.get("status") in TERMINAL_JOB_STATUSES and "finished_at" not in fields:
            # Finishing a job stamps finished_at unless the caller gave one or it is already set.
            assignments.append("finished_at = COALESCE(finished_at, ?)")
            params.append(self._ts_param(utcnow()))
        with self._session(write=True) as conn:
            if assignments:
                conn.execute(f"UPDATE job_runs SET {', '.join(assignments)} WHERE id = ?", [*params, job_id])
            job = self._fetch_job(conn, job_id)
            if job is None:
                raise UnknownJob(f"no job run with id {job_id}")
        return job

    def get_job(self, job_id: int) -> JobRun | None:
        with self._session() as conn:
            return self._fetch_job(conn, job_id)

    def list_jobs(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        org_id: str | None = None,
        kind: str | None = None,
        status: str | None = None,
    ) -> list[JobRun]:
        filters = {"org_id": org_id, "kind": kind, "status": status}
        given = {name: value for name, value in filters.items() if value is not None}
        where = " AND ".join(f"{name} = ?" for name in given) or "1 = 1"
        sql = (
            f"SELECT {_cols(_JOB_COLUMNS)} FROM job_runs WHERE {where} "
            "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        with self._session() as conn:
            rows = conn.execute(sql, [*given.values(), limit, offset]).fetchall()
        return [self._job_from_row(row) for row in rows]

    # -- mart versions -------------------------------------------------------------------------
    def record_mart_versions(self, rows: Iterable[MartVersion | Mapping[str, Any]]) -> int:
        versions = [row if isinstance(row, MartVersion) else MartVersion.model_validate(row) for row in rows]
        # One row per key (last wins): an upsert statement must not touch the same row twice.
        latest = {(v.org_id, v.report_date): v for v in versions}
        params = [
            [v.org_id, self._date_param(v.report_date), v.mart_refreshed_at, v.fingerprint]
            for v in latest.values()
        ]
        if params:
            with self._session(write=True) as conn:
                conn.executemany(
                    "INSERT INTO mart_versions (org_id, report_date, mart_refreshed_at, fingerprint) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (org_id, report_date) DO UPDATE SET "
                    "mart_refreshed_at = excluded.mart_refreshed_at, fingerprint = excluded.fingerprint",
                    params,
                )
        return len(versions)

    def get_mart_versions(self, org_id: str, dates: Iterable[date] | None = None) -> dict[date, MartVersion]:
        select = (
            "SELECT org_id, report_date, mart_refreshed_at, fingerprint FROM mart_versions WHERE org_id = ?"
        )
        if dates is None:
            queries = [(select, [org_id])]
        else:
            wanted = [self._date_param(day) for day in sorted(set(dates))]
            chunks = [wanted[i : i + _IN_CHUNK] for i in range(0, len(wanted), _IN_CHUNK)]
            queries = [
                (f"{select} AND report_date IN ({_marks(len(chunk))})", [org_id, *chunk]) for chunk in chunks
            ]
        found: dict[date, MartVersion] = {}
        with self._session() as conn:
            for sql, params in queries:
                for org, day, refreshed_at, fingerprint in conn.execute(sql, params).fetchall():
                    found[_as_date(day)] = MartVersion(
                        org_id=org, report_date=day, mart_refreshed_at=refreshed_at, fingerprint=fingerprint
                    )
        return found
