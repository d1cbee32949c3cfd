"""Stored reports (read from the report store only), generate, backfill, job runs and the catalogue.

The stored-report reads answer from rendered bodies while the store is unchanged
(`service.reports.response_cache`); handlers are sync, so store reads never block the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.exceptions import ResponseValidationError
from pydantic import TypeAdapter, ValidationError

from reports_store import JobRun
from service.api.deps import Admin, AdminOps, OrgIdQuery, ReadableOrgId, Reader, ServicesDep, State
from service.api.schemas import GeneratedReport, Report, ReportSummary
from service.core.calendar import MAX_RANGE_DAYS, LocalDate
from service.core.errors import NotFound
from service.jobs.requests import BackfillRequest, GenerateRequest
from service.reports.catalog import Catalog, load_catalog

router = APIRouter(prefix="/api", tags=["stored reports"])

_REPORT = TypeAdapter(Report)
_SUMMARIES = TypeAdapter(list[ReportSummary])


def _render(adapter: TypeAdapter, content: Any) -> bytes:
    """What FastAPI sends for a response_model: validated, then dumped to JSON by pydantic."""
    try:
        value = adapter.validate_python(content, from_attributes=True)
    except ValidationError as exc:
        raise ResponseValidationError(errors=exc.errors(include_url=False), body=content) from exc
    return adapter.dump_json(value, by_alias=True)


def _cached(state: State, key: Hashable, adapter: TypeAdapter, read: Callable[[], Any]) -> Response:
    body = state.response_cache.get_or_render(key, lambda: _render(adapter, read()))
    return Response(content=body, media_type="application/json")


@router.get(
    "/catalog",
    response_model=Catalog,
    dependencies=[Reader],
    summary="Every KPI and breakdown the reports carry",
)
def catalog(services: ServicesDep) -> Catalog:
    return load_catalog(services.settings.dbt_project_dir)


@router.get(
    "/reports",
    response_model=list[ReportSummary],
    dependencies=[Reader],
    summary="Stored reports with summary KPIs, newest first",
)
def list_reports(
    state: State,
    org_id: ReadableOrgId,
    limit: Annotated[int, Query(ge=1, le=MAX_RANGE_DAYS)] = 30,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    def read() -> Any:
        services = state.services
        return services.stored.summaries(services.organizations.get(org_id), limit, offset)

    return _cached(state, ("list", org_id, limit, offset), _SUMMARIES, read)


@router.get(
    "/reports/latest", response_model=Report, dependencies=[Reader], summary="The most recent stored report"
)
def latest_report(state: State, org_id: ReadableOrgId) -> Response:
    def read() -> Any:
        return state.services.stored.require(state.services.organizations.get(org_id), None)

    return _cached(state, ("latest", org_id), _REPORT, read)


@router.get(
    "/reports/{report_date}",
    response_model=Report,
    dependencies=[Reader],
    summary="The stored report of a local date",
)
def report_by_date(
    state: State,
    report_date: Annotated[LocalDate, Path(description="Local date, YYYY-MM-DD.")],
    org_id: ReadableOrgId,
) -> Response:
    def read() -> Any:
        return state.services.stored.require(state.services.organizations.get(org_id), report_date)

    return _cached(state, ("date", org_id, report_date), _REPORT, read)


@router.delete(
    "/reports/{report_date}",
    response_model=JobRun,
    dependencies=[Admin],
    summary="Delete a stored report (recorded as a job run)",
)
def delete_report(
    ops: AdminOps,
    report_date: Annotated[LocalDate, Path(description="Local date, YYYY-MM-DD.")],
    org_id: OrgIdQuery = None,
) -> JobRun:
    return ops.delete_report(org_id, report_date)


@router.post(
    "/reports/generate",
    response_model=GeneratedReport,
    dependencies=[Admin],
    summary="Generate and store a day",
)
def generate(ops: AdminOps, request: GenerateRequest) -> dict[str, Any]:
    result = ops.generate(request)
    return result.report | {"skipped": result.status == "skipped"}


@router.post(
    "/reports/backfill",
    response_model=JobRun,
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Admin],
    summary="Start a backfill job (poll /api/jobs/{id})",
)
def backfill(state: State, ops: AdminOps, request: BackfillRequest) -> JobRun:
    outcome = ops.start_backfill(request)
    assert state.submit is not None  # set by the app's lifespan
    state.submit(state.services.jobs.backfill, request, job=outcome)
    return outcome.job


@router.get("/jobs", response_model=list[JobRun], dependencies=[Admin], summary="Job runs, newest first")
def list_jobs(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[JobRun]:
    return services.store.list_jobs(limit, offset)


@router.get(
    "/jobs/{job_id}", response_model=JobRun, dependencies=[Admin], summary="One job run with its progress"
)
def get_job(services: ServicesDep, job_id: Annotated[int, Path(ge=1, le=2**62)]) -> JobRun:
    job = services.store.get_job(job_id)
    if job is None:
        raise NotFound(f"No job {job_id}")
    return job
