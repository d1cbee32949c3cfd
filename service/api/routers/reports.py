"""Stored reports (read from the report store only), generate, backfill and job runs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from starlette.concurrency import run_in_threadpool

from service.api.deps import Admin, JobsDep, OrgDep, State, StoreDep
from service.api.schemas import BackfillRequest, GenerateRequest, Job, Report, ReportSummary
from service.jobs import with_stale_flag

router = APIRouter(prefix="/api", tags=["stored reports"])


@router.get(
    "/reports", response_model=list[ReportSummary], summary="Stored reports with summary KPIs, newest first"
)
def list_reports(
    store: StoreDep,
    org: OrgDep,
    limit: Annotated[int, Query(ge=1, le=366)] = 30,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> list[dict[str, Any]]:
    return store.list_report_summaries(org.org_id, limit, offset)


@router.get("/reports/latest", response_model=Report, summary="The most recent stored report")
def latest_report(store: StoreDep, org: OrgDep) -> dict[str, Any]:
    stored = store.get_latest_report(org.org_id)
    if stored is None:
        raise HTTPException(404, f"No stored report for {org.org_id} yet: generate or backfill one")
    return with_stale_flag(stored, store.get_mart_versions(org.org_id, [stored.report_date]))


@router.get("/reports/{report_date}", response_model=Report, summary="The stored report of a local date")
def report_by_date(
    store: StoreDep, org: OrgDep, report_date: Annotated[date, Path(description="Local date, YYYY-MM-DD.")]
) -> dict[str, Any]:
    stored = store.get_report(org.org_id, report_date)
    if stored is None:
        raise HTTPException(404, f"No stored report for {org.org_id} on {report_date}: generate it first")
    return with_stale_flag(stored, store.get_mart_versions(org.org_id, [report_date]))


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
