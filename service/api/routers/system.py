"""Health, scheduler status, debug endpoints and the admin door for CLI jobs and dbt commands."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.api.deps import Admin, OrgDep, ServiceState, State
from service.api.schemas import DailyRunRequest, DbtRequest, DbtResult, Job
from service.core.dbt_runner import DBT_LOCK, MODEL_COMMANDS, DbtOutcome, run_dbt
from service.core.warehouse import get_client

router = APIRouter(tags=["system"])


HEALTH_CHECK_TTL_SECONDS = 1.0


def _check_warehouse(state: ServiceState) -> str:
    """Ping the warehouse, at most once a second: load balancers may poll /health hard."""
    if time.monotonic() - state.warehouse_ok_at < HEALTH_CHECK_TTL_SECONDS:
        return "ok"
    state.live._client().query("SELECT 1")
    state.warehouse_ok_at = time.monotonic()
    return "ok"


@router.get("/health", summary="200 when warehouse, store and scheduler are fine; 503 otherwise")
async def health(state: State) -> JSONResponse:
    checks: dict[str, Any] = {}
    healthy = state.ready
    try:
        checks["warehouse"] = await run_in_threadpool(_check_warehouse, state)
    except Exception as exc:
        checks["warehouse"] = f"unavailable: {type(exc).__name__}"
        healthy = False
    try:
        state.jobs.store.schema_version()
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"unavailable: {type(exc).__name__}"
        healthy = False
    if not state.settings.scheduler_enabled:
        checks["scheduler"] = "disabled"
    elif state.scheduler.running:
        checks["scheduler"] = "running"
    else:
        checks["scheduler"] = "stopped"
        healthy = False
    if not state.ready:
        checks["models"] = state.startup_error or "building"
    body = {"status": "healthy" if healthy else "unhealthy", **checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get(
    "/api/scheduler/status", summary="Scheduler: enabled, running, next run per organization, last runs"
)
def scheduler_status(state: State) -> dict[str, Any]:
    return state.scheduler.status()


@router.get("/debug-config", dependencies=[Admin], summary="Runtime configuration, secrets masked")
def debug_config(state: State) -> dict[str, Any]:
    return state.settings.public_view()


@router.get("/debug-node-count", dependencies=[Admin], summary="Outputs of the organization's broker node")
def debug_node_count(state: State, org: OrgDep) -> dict[str, Any]:
    client = get_client(state.settings)
    count, latest = client.query(
        f"SELECT count(), max(created_at) FROM {state.settings.clickhouse_database}.public_node_outputs "
        "WHERE node_persistent_id = {node:String}",
        parameters={"node": org.node_persistent_id},
    ).first_row
    return {
        "org_id": org.org_id,
        "node_persistent_id": org.node_persistent_id,
        "output_count": count,
        "latest_output_at": latest.isoformat() if count else None,
    }


@router.post(
    "/api/admin/dbt", response_model=DbtResult, dependencies=[Admin], summary="Run a dbt command here"
)
async def admin_dbt(state: State, request: DbtRequest) -> dict[str, Any]:
    """For `python -m service dbt ...` while this service owns the embedded warehouse."""

    def run() -> DbtOutcome:
        with DBT_LOCK:
            outcome = run_dbt(request.args, state.settings)
            if outcome.success and request.args[0] in MODEL_COMMANDS:
                state.jobs.after_refresh()
        return outcome

    return (await run_in_threadpool(run)).__dict__


@router.post(
    "/api/admin/run-daily", response_model=Job, dependencies=[Admin], summary="Run the daily job now"
)
async def admin_run_daily(state: State, request: DailyRunRequest) -> dict[str, Any]:
    """Each active organization's yesterday (or `date`), as `python -m service run-daily` does."""
    outcome = await run_in_threadpool(state.jobs.run_daily, request.date, request.org_id, force=request.force)
    return outcome.job.model_dump() | {"details": outcome.job.details}
