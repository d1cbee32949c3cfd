"""The FastAPI application: `create_app()`; `python -m service serve` runs it with uvicorn."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse

from reports_store import StoreError, UnknownOrganization
from service.api.deps import ServiceState
from service.api.routers import dashboard, live, orgs, reports, system
from service.core.calendar import UnknownTimezone
from service.core.config import Settings, get_settings
from service.core.warehouse import WarehouseError
from service.jobs.report_jobs import JobError, Jobs, RefreshFailed, seed_default_organization
from service.jobs.scheduler import Scheduler
from service.operations.remote import service_file
from service.reports.builder import ReportSpecError
from service.reports.live import LiveReports

log = logging.getLogger("service.api")


def _prepare(state: ServiceState) -> None:
    """Build missing models (or refresh them) before /health says healthy."""
    try:
        seed_default_organization(state.jobs)
        state.jobs.refresh()
        state.ready = True
        state.scheduler.start()
    except Exception as exc:  # reported by /health, the service keeps answering
        state.startup_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.error("start-up failed: %s", state.startup_error)


def create_app(settings: Settings | None = None, *, url: str | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs = Jobs(settings)
        live_reports = LiveReports(settings)
        jobs.refresh_listeners.append(live_reports.invalidate)
        state = ServiceState(settings=settings, jobs=jobs, live=live_reports, scheduler=Scheduler(jobs))
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")
        state.submit = executor.submit
        app.state.service = state
        if not settings.api_key or not settings.api_key.get_secret_value():
            log.warning(
                "API_KEY is not set: mutating and debug endpoints are open to anyone who can reach this port"
            )
        marker = service_file(settings) if settings.embedded else None
        if marker is not None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"pid": os.getpid(), "url": url}))
        threading.Thread(target=_prepare, args=(state,), name="prepare", daemon=True).start()
        try:
            yield
        finally:
            state.scheduler.stop()
            executor.shutdown(wait=True, cancel_futures=True)
            if marker is not None and marker.exists():
                marker.unlink()
            jobs.store.close()

    app = FastAPI(
        title="Call analytics",
        version="1.0",
        description="Per-organization daily call metrics from dbt marts, stored daily reports, organizations.",
        lifespan=lifespan,
    )
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    for router in (live.router, reports.router, orgs.router, system.router):
        app.include_router(router)
    app.include_router(dashboard.router)
    install_error_handlers(app)
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Clear messages for bad input, 503 for an unavailable warehouse, never a stack trace."""

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(
                str(part) for part in error.get("loc", ()) if part not in ("query", "body", "path")
            )
            problems.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
        return _error(422, "; ".join(problems))

    @app.exception_handler(UnknownOrganization)
    async def unknown_org(_: Request, exc: UnknownOrganization) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(JobError)
    async def job_error(_: Request, exc: JobError) -> JSONResponse:
        return _error(404 if str(exc).startswith("Unknown organization") else 400, str(exc))

    @app.exception_handler(UnknownTimezone)
    async def bad_timezone(_: Request, exc: UnknownTimezone) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(WarehouseError)
    @app.exception_handler(RefreshFailed)
    @app.exception_handler(ReportSpecError)
    async def warehouse_down(_: Request, exc: Exception) -> JSONResponse:
        return _error(503, f"The warehouse is unavailable, nothing was changed: {str(exc).splitlines()[0]}")

    @app.exception_handler(StoreError)
    async def store_down(_: Request, exc: StoreError) -> JSONResponse:
        return _error(503, f"The report store is unavailable: {str(exc).splitlines()[0]}")

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        name = type(exc).__name__
        if "clickhouse" in type(exc).__module__ or "chdb" in type(exc).__module__:
            return _error(503, f"The warehouse could not answer ({name}); try again shortly")
        return _error(500, f"Internal error ({name}); the service log has the details")
