"""The FastAPI application: `create_app()`; `python -m service serve` runs it with uvicorn."""

from __future__ import annotations

import contextvars
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

from reports_store import StoreError
from reports_store import UnknownOrganization as StoreUnknownOrganization
from reports_store.rules import UnknownTimezone
from service.api.deps import ServiceState
from service.api.fast_path import FastPathApp
from service.api.limits import ConcurrencyLimiter
from service.api.routers import access, dashboard, docs, live, notifications, orgs, reports, system
from service.core.config import Settings, get_settings
from service.core.errors import RefreshStopped, ServiceError, describe_validation_error
from service.jobs.scheduler import Scheduler
from service.observability.http import install_observability
from service.operations.remote import service_file
from service.reports.catalog import load_catalog
from service.reports.response_cache import GZIP_MINIMUM_SIZE, StoredResponseCache
from service.services import Services

log = logging.getLogger("service.api")


def _prepare(state: ServiceState) -> None:
    """Mark jobs a stopped process left running, build missing models (or refresh them) before /health
    says healthy. A stop (the lifespan's end) ends it between two slices of a sliced refresh; the
    next start builds what is missing ("the last dbt run here did not finish")."""
    stopping = state.services.refresher.stopping
    try:
        state.services.jobs.recorder.interrupt_abandoned()  # a crash or kill -9 left them `running`
    except Exception as exc:  # they stay `running` until the next start; the service still starts
        log.error("start-up: could not mark abandoned job runs interrupted: %s", exc)
    try:
        state.services.organizations.seed_default()
        reason = state.services.refresher.needs_refresh()
        if reason is None:
            log.info("start-up: the marts are up to date, no dbt run needed")
        else:
            log.info("start-up: refreshing the marts (%s)", reason)
            state.services.refresher.refresh()
        if stopping.is_set():
            return  # never a scheduler started after the lifespan stopped it
        state.ready = True
        state.scheduler.start()
    except RefreshStopped as exc:  # the lifespan ended: not a start-up failure
        log.info("start-up: the marts' refresh ended: %s", exc)
    except Exception as exc:  # reported by /health, the service keeps answering
        state.startup_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.error("start-up failed: %s", state.startup_error)
    finally:
        state.starting = False


def create_app(settings: Settings | None = None, *, url: str | None = None) -> FastPathApp:
    settings = settings or get_settings()
    catalog = load_catalog(settings.dbt_project_dir)  # the live endpoints follow it

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.open(settings)
        state = ServiceState(
            settings=settings,
            services=services,
            scheduler=Scheduler(services.jobs, on_tick=services.notifier.check_missed),
            response_cache=StoredResponseCache(services.store),
            live_limiter=ConcurrencyLimiter(settings.live_query_concurrency_per_token),
        )
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="job")
        # Background jobs keep the request's log context (request_id) in their thread.
        state.submit = lambda fn, *args, **kwargs: executor.submit(
            contextvars.copy_context().run, fn, *args, **kwargs
        )
        app.state.service = state
        if not settings.api_key or not settings.api_key.get_secret_value():
            log.warning(
                "API_KEY is not set: mutating and debug endpoints are open to anyone who can reach this port"
            )
        marker = service_file(settings) if settings.embedded else None
        if marker is not None:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"pid": os.getpid(), "url": url}))
        prepare = threading.Thread(target=_prepare, args=(state,), name="prepare", daemon=True)
        prepare.start()
        services.notifier.start()  # webhooks, including those a previous process left pending
        try:
            yield
        finally:
            if isinstance(app, FastPathApp):  # its answers still due: recorded while the store is open
                app.record_fast_answers()
            # A running job ends `interrupted` after its organization-day or dbt slice in hand, and
            # the start-up refresh after its slice.
            services.refresher.stopping.set()
            prepare.join()  # the start-up refresh's dbt invocation in hand, before the store closes
            state.scheduler.stop()
            executor.shutdown(wait=True, cancel_futures=True)
            try:  # jobs queued behind it never ran
                services.jobs.recorder.interrupt_own("the service stopped before the job finished")
            except Exception as exc:
                log.error("shutdown: could not mark unfinished job runs interrupted: %s", exc)
            if marker is not None and marker.exists():
                marker.unlink()
            services.close()

    app = FastPathApp(
        title="Call analytics",
        version="1.0",
        description="Per-organization daily call metrics from dbt marts, stored daily reports, organizations.",
        lifespan=lifespan,
        docs_url=None,  # served by routers/docs.py from local files
        redoc_url=None,
    )
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_SIZE)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"]
        )
    install_observability(app, settings)  # outermost: request ids, metrics and access lines see it all
    # In front of all of it: cached stored and live reports answered without the framework.
    app.enable_fast_path(cors=bool(settings.cors_origins))
    for router in (
        live.build_router(catalog),
        reports.router,
        orgs.router,
        access.router,
        access.whoami_router,
        notifications.router,
        system.router,
        dashboard.router,
        docs.router,
    ):
        app.include_router(router)
    install_error_handlers(app)
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Each failure by its type: clear messages for bad input, 503 for an unavailable dependency,
    never a stack trace."""

    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, describe_validation_error(exc))

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if exc.status_code == 503:
            message = f"The warehouse is unavailable, nothing was changed: {message}"
        return JSONResponse({"detail": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StoreUnknownOrganization)
    async def unknown_org(_: Request, exc: StoreUnknownOrganization) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(UnknownTimezone)
    async def bad_timezone(_: Request, exc: UnknownTimezone) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(StoreError)
    async def store_down(_: Request, exc: StoreError) -> JSONResponse:
        log.warning("report store unavailable: %s", str(exc).splitlines()[0])
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
