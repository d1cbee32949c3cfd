"""Stored reports (read from the report store only), generate, backfill, job runs and the catalogue.

The stored-report reads answer from rendered bodies while the store is unchanged
(`service.reports.response_cache`); handlers are sync, so store reads never block the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.exceptions import ResponseValidationError
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError

from reports_store import JobRun
from service.api.deps import Admin, AdminOps, OrgIdQuery, ReadableOrgId, Reader, ServicesDep, State
from service.api.schemas import GeneratedReport, Report, ReportDiff, ReportSummary, RevisionSummary
from service.core.calendar import MAX_RANGE_DAYS, DateWindow, LocalDate
from service.core.errors import NotFound
from service.jobs.requests import BackfillRequest, GenerateRequest
from service.reports.catalog import Catalog, load_catalog
from service.reports.export import MEDIA_TYPES, ExportFormat, csv_lines, parquet_bytes
from service.reports.response_cache import latest_report_key, report_key

router = APIRouter(prefix="/api", tags=["stored reports"])

_REPORT = TypeAdapter(Report)
_SUMMARIES = TypeAdapter(list[ReportSummary])
_REVISIONS = TypeAdapter(list[RevisionSummary])
_DIFF = TypeAdapter(ReportDiff)


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

    return _cached(state, latest_report_key(org_id), _REPORT, read)


@router.get(
    "/reports/export",
    response_class=Response,
    dependencies=[Reader],
    summary="Stored reports of a date range as one flat row per day (CSV or Parquet)",
    responses={
        200: {
            "description": "report_date, revision, then each KPI's value, count and denominator.",
            "content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["parquet"]: {}},
        }
    },
)
def export_reports(
    services: ServicesDep,
    org_id: ReadableOrgId,
    start_date: Annotated[LocalDate, Query(description="First local date, inclusive.")],
    end_date: Annotated[LocalDate, Query(description="Last local date, inclusive.")],
    format: Annotated[ExportFormat, Query(description="csv (streamed) or parquet.")] = "csv",
) -> Response:
    org = services.organizations.get(org_id)
    window = DateWindow.of(start_date, end_date)
    columns, rows = services.stored.export(org, window)
    filename = f"{org.org_id}_{window.start}_{window.end}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "parquet":
        return Response(parquet_bytes(columns, rows), media_type=MEDIA_TYPES["parquet"], headers=headers)
    return StreamingResponse(csv_lines(columns, rows), media_type=MEDIA_TYPES["csv"], headers=headers)


@router.get(
    "/reports/{report_date}/revisions",
    response_model=list[RevisionSummary],
    dependencies=[Reader],
    summary="Every revision of a day's stored report, oldest first",
)
def report_revisions(
    state: State,
    report_date: Annotated[LocalDate, Path(description="Local date, YYYY-MM-DD.")],
    org_id: ReadableOrgId,
) -> Response:
    def read() -> Any:
        services = state.services
        return services.stored.revisions(services.organizations.get(org_id), report_date)

    return _cached(state, ("revisions", org_id, report_date), _REVISIONS, read)


@router.get(
    "/reports/{report_date}/diff",
    response_model=ReportDiff,
    dependencies=[Reader],
    summary="What changed between two revisions of a day's report (default: previous -> current)",
)
def report_diff(
    state: State,
    report_date: Annotated[LocalDate, Path(description="Local date, YYYY-MM-DD.")],
    org_id: ReadableOrgId,
    from_revision: Annotated[
        int | None, Query(alias="from", ge=1, le=2**31, description="Default: the revision before `to`.")
    ] = None,
    to_revision: Annotated[
        int | None, Query(alias="to", ge=1, le=2**31, description="Default: the current.")
    ] = None,
) -> Response:
    def read() -> Any:
        services = state.services
        org = services.organizations.get(org_id)
        return services.stored.diff(org, report_date, from_revision, to_revision)

    return _cached(state, ("diff", org_id, report_date, from_revision, to_revision), _DIFF, read)


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
    revision: Annotated[
        int | None,
        Query(ge=1, le=2**31, description="An older revision (see /revisions); default: the current."),
    ] = None,
) -> Response:
    def read() -> Any:
        org = state.services.organizations.get(org_id)
        return state.services.stored.require(org, report_date, revision)

    if revision is not None:
        return _cached(state, ("revision", org_id, report_date, revision), _REPORT, read)

    return _cached(state, report_key(org_id, report_date), _REPORT, read)


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
