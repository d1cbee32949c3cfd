"""Where job runs are stored: the `job_runs` table (progress, counts and outcome of each run)."""

from __future__ import annotations

from typing import Any

from reports_store.base import JobRunStore
from reports_store.errors import UnknownJob
from reports_store.models import JobRun
from reports_store.sql.base import SqlStoreBase, as_date, as_utc, cols, dumps, loads, marks, utcnow

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
# "interrupted": its process stopped (shutdown between organization-days, or a crash found at start).
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "partial", "interrupted"})


def _job_from_row(row: tuple[Any, ...]) -> JobRun:
    values = dict(zip(_JOB_COLUMNS, row, strict=True))
    for name in _JOB_DATES:
        values[name] = None if values[name] is None else as_date(values[name])
    for name in _JOB_TIMESTAMPS:
        values[name] = as_utc(values[name])
    for name in _JOB_JSON:
        values[name] = loads(values[name], {})
    return JobRun(**values)


def _fetch_job(conn: Any, job_id: int) -> JobRun | None:
    row = conn.execute(f"SELECT {cols(_JOB_COLUMNS)} FROM job_runs WHERE id = ?", [job_id]).fetchone()
    return None if row is None else _job_from_row(row)


class SqlJobRunStore(SqlStoreBase, JobRunStore):
    def _job_param(self, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in _JOB_DATES:
            return self._date_param(value)
        if name in _JOB_TIMESTAMPS:
            return self._ts_param(value)
        return dumps(value) if name in _JOB_JSON else value

    def create_job(self, job: JobRun) -> JobRun:
        job = job.model_copy(update={"id": None, "started_at": job.started_at or utcnow()})
        names = [name for name in _JOB_COLUMNS if name != "id"]
        values = [self._job_param(name, getattr(job, name)) for name in names]
        sql = f"INSERT INTO job_runs ({cols(names)}) VALUES ({marks(len(names))}) RETURNING id"
        with self._session(write=True) as conn:
            ((job_id,),) = conn.execute(sql, values).fetchall()
            stored = _fetch_job(conn, job_id)  # read back so it equals what get_job returns
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
            job = _fetch_job(conn, job_id)
            if job is None:
                raise UnknownJob(f"no job run with id {job_id}")
        return job

    def get_job(self, job_id: int) -> JobRun | None:
        with self._session() as conn:
            return _fetch_job(conn, job_id)

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
            f"SELECT {cols(_JOB_COLUMNS)} FROM job_runs WHERE {where} "
            "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        with self._session() as conn:
            rows = conn.execute(sql, [*given.values(), limit, offset]).fetchall()
        return [_job_from_row(row) for row in rows]
