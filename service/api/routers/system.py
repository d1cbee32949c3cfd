"""Health, scheduler status, debug endpoints and the admin doors for CLI jobs and dbt commands."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from reports_store import JobRun
from service.api.deps import Admin, AdminOps, OrgDep, Public, ServiceState, State
from service.api.schemas import DbtRequest
from service.core.dbt_runner import DbtOutcome
from service.jobs.requests import DailyRunRequest

router = APIRouter(tags=["system"])

HEALTH_CHECK_TTL_SECONDS = 1.0


def _check_warehouse(state: ServiceState) -> str:
    """Ping the warehouse, at most once a second: load balancers may poll /health hard."""
    if time.monotonic() - state.warehouse_ok_at < HEALTH_CHECK_TTL_SECONDS:
        return "ok"
    state.services.live.client().query("SELECT 1")
    state.warehouse_ok_at = time.monotonic()
    return "ok"


def _scheduler_state(state: ServiceState) -> str:
    if not state.settings.scheduler_enabled:
        return "disabled"
    if state.scheduler.running:
        return "running"
    return "starting" if state.starting else "stopped"


def _dependencies(state: ServiceState) -> tuple[dict[str, Any], bool]:
    """The warehouse and the store, each "ok" or why not."""
    checks: dict[str, Any] = {}
    healthy = True
    try:
        checks["warehouse"] = _check_warehouse(state)
    except Exception as exc:
        checks["warehouse"] = f"unavailable: {type(exc).__name__}"
        healthy = False
    try:
        state.services.store.schema_version()
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unavailable: {type(exc).__name__}"
        healthy = False
    return checks, healthy


@router.get(
    "/health",
    dependencies=[Public],
    summary="200 when warehouse, store and scheduler are fine; 503 otherwise",
)
def health(state: State) -> JSONResponse:
    checks, healthy = _dependencies(state)
    healthy = healthy and state.ready
    checks["scheduler"] = _scheduler_state(state)
    if checks["scheduler"] not in ("running", "disabled"):
        healthy = False
    if not state.ready:
        checks["models"] = state.startup_error or "building"
    status = "healthy" if healthy else ("starting" if state.starting else "unhealthy")
    return JSONResponse({"status": status, **checks}, status_code=200 if healthy else 503)


@router.get("/livez", dependencies=[Public], summary="200 while the process answers")
def livez() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz", dependencies=[Public], summary="200 once start-up finished and warehouse and store answer"
)
def readyz(state: State) -> JSONResponse:
    checks, healthy = _dependencies(state)
    if not state.ready:
        checks["startup"] = state.startup_error or "in progress"
    ready = healthy and state.ready
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    dependencies=[Admin],
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "The exposition."}},
)
def metrics(request: Request) -> Response:
    """Requests, job runs, dbt durations, the last mart refresh, and, read from the report store at
    scrape time, each organization's newest daily report and its stale reports."""
    body, content_type = request.app.state.metrics.render(request.headers.get("accept"))
    return Response(body, media_type=content_type)


@router.get(
    "/api/scheduler/status",
    dependencies=[Admin],
    summary="Scheduler: enabled, running, next run per organization, last runs",
)
def scheduler_status(state: State) -> dict[str, Any]:
    return state.scheduler.status()


@router.get("/debug-config", dependencies=[Admin], summary="Runtime configuration, secrets masked")
def debug_config(state: State) -> dict[str, Any]:
    return state.settings.public_view()


@router.get("/debug-node-count", dependencies=[Admin], summary="Outputs of the organization's broker node")
def debug_node_count(state: State, org: OrgDep) -> dict[str, Any]:
    count, latest = (
        state.services.live.client()
        .query(
            f"SELECT count(), max(created_at) FROM {state.settings.clickhouse_database}.public_node_outputs "
            "WHERE node_persistent_id = {node:String}",
            parameters={"node": org.node_persistent_id},
        )
        .first_row
    )
    return {
        "org_id": org.org_id,
        "node_persistent_id": org.node_persistent_id,
        "output_count": count,
        "latest_output_at": latest.isoformat() if count else None,
    }


@router.post(
    "/api/admin/dbt", response_model=DbtOutcome, dependencies=[Admin], summary="Run a dbt command here"
)
def admin_dbt(ops: AdminOps, request: DbtRequest) -> DbtOutcome:
    """For `python -m service dbt ...` while this service owns the embedded warehouse: dbt's output
    comes back in `output`, its exit code in `exit_code`."""
    return ops.dbt(request.args, capture_output=True)


@router.post(
    "/api/admin/run-daily", response_model=JobRun, dependencies=[Admin], summary="Run the daily job now"
)
def admin_run_daily(ops: AdminOps, request: DailyRunRequest) -> JobRun:
    """Each active organization's yesterday (or `date`), as `python -m service run-daily` does."""
    return ops.run_daily(request)
