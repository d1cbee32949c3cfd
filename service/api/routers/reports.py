"""Stored reports (read from the report store only), generate, backfill and job runs.

The three stored-report reads answer from a cache of rendered responses while the report store is
unchanged. SQLite's `PRAGMA data_version`, read on a connection of the cache's own that never
writes, changes whenever any other connection commits (this process's pool, the scheduler, a CLI
in another process), so a saved report, a recorded mart version (the `stale` flag) or a changed
organization empties the cache before the next read. Other stores (DuckDB) are read uncached.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import ResponseValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from reports_store import ReportStore
from service.api.deps import Admin, JobsDep, ServiceState, State, StoreDep, resolve_org
from service.api.schemas import BackfillRequest, GenerateRequest, Job, Report, ReportSummary
from service.jobs.report_jobs import with_stale_flag

router = APIRouter(prefix="/api", tags=["stored reports"])

CACHE_ENTRIES = 4096
CACHE_BYTES = 64 * 2**20  # a bound on memory: report lists of up to 366 days are tens of kB each
_REPORT = TypeAdapter(Report)
_SUMMARIES = TypeAdapter(list[ReportSummary])
OrgIdQuery = Annotated[str | None, Query(description="Default: the default organization.")]


class StoredResponseCache:
    """Rendered JSON bodies of stored-report reads, valid while the SQLite store is unchanged."""

    def __init__(self, path: FilePath, entries: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES) -> None:
        # A short timeout: on any doubt the read goes uncached rather than waiting.
        self._conn = sqlite3.connect(path, timeout=0.05, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._entries, self._max_bytes, self._bytes = entries, max_bytes, 0
        self._version: int | None = None

    def version(self) -> int | None:
        """The store's data version now (None: unknown, do not cache); empties the cache on a change."""
        with self._lock:
            try:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                version = None
            if version != self._version:
                self._bodies.clear()
                self._bytes = 0
                self._version = version
            return version

    def get(self, key: Hashable) -> tuple[bytes | None, int | None]:
        version = self.version()
        with self._lock:
            body = self._bodies.get(key) if version is not None else None
            if body is not None:
                self._bodies.move_to_end(key)
        return body, version

    def put(self, key: Hashable, body: bytes, version: int | None) -> None:
        """Keep `body` if the store did not change since `version` was read (before building it)."""
        if version is None or self.version() != version:
            return
        with self._lock:
            if self._version == version and key not in self._bodies:
                self._bodies[key] = body
                self._bytes += len(body)
                while len(self._bodies) > self._entries or self._bytes > self._max_bytes:
                    self._bytes -= len(self._bodies.popitem(last=False)[1])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _cache_of(app: FastAPI, store: ReportStore) -> StoredResponseCache | None:
    """The app's cache for its store (created on first use); None for stores other than SQLite."""
    from reports_store.sqlite_backend import SQLiteReportStore

    cache = getattr(app.state, "stored_response_cache", None)
    if cache is None or cache[0] is not store:
        if cache is not None and cache[1] is not None:
            cache[1].close()
        path = store.path if isinstance(store, SQLiteReportStore) else None
        cache = (store, StoredResponseCache(path) if path is not None else None)
        app.state.stored_response_cache = cache
    return cache[1]


def _render(adapter: TypeAdapter, content: Any) -> bytes:
    """What FastAPI sends for a response_model: validated, then dumped to JSON by pydantic."""
    try:
        value = adapter.validate_python(content, from_attributes=True)
    except ValidationError as exc:
        raise ResponseValidationError(errors=exc.errors(include_url=False), body=content) from exc
    return adapter.dump_json(value, by_alias=True)


async def _cached_read(
    request: Request, key: Hashable, adapter: TypeAdapter, read: Callable[[ServiceState], Any]
) -> Response:
    """The cached body for `key`, or `read(state)` in the thread pool, rendered and cached on success."""
    state: ServiceState = request.app.state.service
    cache = _cache_of(request.app, state.jobs.store)
    body, version = cache.get(key) if cache is not None else (None, None)
    if body is None:
        body = await run_in_threadpool(lambda: _render(adapter, read(state)))
        if cache is not None:
            cache.put(key, body, version)
    return Response(content=body, media_type="application/json")


@router.get(
    "/reports", response_model=list[ReportSummary], summary="Stored reports with summary KPIs, newest first"
)
async def list_reports(
    request: Request,
    org_id: OrgIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=366)] = 30,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    def read(state: ServiceState) -> Any:
        org = resolve_org(state, org_id)
        return state.jobs.store.list_report_summaries(org.org_id, limit, offset)

    return await _cached_read(request, ("list", org_id, limit, offset), _SUMMARIES, read)


@router.get("/reports/latest", response_model=Report, summary="The most recent stored report")
async def latest_report(request: Request, org_id: OrgIdQuery = None) -> Response:
    def read(state: ServiceState) -> Any:
        org = resolve_org(state, org_id)
        store = state.jobs.store
        stored = store.get_latest_report(org.org_id)
        if stored is None:
            raise HTTPException(404, f"No stored report for {org.org_id} yet: generate or backfill one")
        return with_stale_flag(stored, store.get_mart_versions(org.org_id, [stored.report_date]))

    return await _cached_read(request, ("latest", org_id), _REPORT, read)


@router.get("/reports/{report_date}", response_model=Report, summary="The stored report of a local date")
async def report_by_date(
    request: Request,
    report_date: Annotated[date, Path(description="Local date, YYYY-MM-DD.")],
    org_id: OrgIdQuery = None,
) -> Response:
    def read(state: ServiceState) -> Any:
        org = resolve_org(state, org_id)
        store = state.jobs.store
        stored = store.get_report(org.org_id, report_date)
        if stored is None:
            raise HTTPException(404, f"No stored report for {org.org_id} on {report_date}: generate it first")
        return with_stale_flag(stored, store.get_mart_versions(org.org_id, [report_date]))

    return await _cached_read(request, ("date", org_id, report_date), _REPORT, read)


@router.post(
    "/reports/generate", response_model=Report, dependencies=[Admin], summary="Generate and store a day"
)
async def generate(jobs: JobsDep, request: GenerateRequest) -> dict[str, Any]:
    result = await run_in_threadpool(jobs.generate, request.org_id, request.date, force=request.force)
    return result.report


@router.post(
    "/reports/backfill",
    response_model=Job,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Admin],
    summary="Start a backfill job (poll /api/jobs/{id})",
)
def backfill(state: State, request: BackfillRequest) -> dict[str, Any]:
    jobs = state.jobs
    outcome = jobs.start_backfill(request.start_date, request.end_date, request.org_id)
    state.submit(
        jobs.backfill, request.start_date, request.end_date, request.org_id, force=request.force, job=outcome
    )
    return outcome.job.model_dump()


@router.get("/jobs", response_model=list[Job], summary="Job runs, newest first")
def list_jobs(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[dict[str, Any]]:
    return [job.model_dump() for job in store.list_jobs(limit, offset)]


@router.get("/jobs/{job_id}", response_model=Job, summary="One job run with its progress")
def get_job(store: StoreDep, job_id: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
    job = store.get_job(job_id)
    if job is None:
        raise HTTPException(404, f"No job {job_id}")
    return job.model_dump()
