"""The request middleware (request id, log context, metrics, access log) and the app's wiring.

`install_observability(app, settings)` is all `create_app` calls: it creates the app's metrics
(`app.state.metrics`, served by GET /metrics), adds the middleware, and connects the metrics to
the application layer as soon as the lifespan has opened it.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.config import Settings
from service.observability.context import SAFE_VALUE, org_id_var, request_id_var
from service.observability.logs import emit_fields
from service.observability.metrics import UNMATCHED_ROUTE, ServiceMetrics

access_log = logging.getLogger("service.access")
REQUEST_ID_HEADER = "X-Request-ID"
# Probes and scrapes come every few seconds: their access lines are debug, not info.
QUIET_ROUTES = frozenset({"/health", "/livez", "/readyz", "/metrics"})


def route_template(scope: Scope) -> str:
    """The path template of the route that answered (`/api/reports/{report_date}`), never the path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _query_org_id(scope: Scope) -> str | None:
    """The query's `org_id` (the last one, as FastAPI reads it), if there is one."""
    if b"org_id=" not in scope.get("query_string", b""):
        return None
    return dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("org_id")


def _org_id(scope: Scope, query_org_id: str | None) -> str | None:
    """The organization a request names (an `{org_id}` path parameter, or query `org_id`), if safe."""
    value = scope.get("path_params", {}).get("org_id", query_org_id)
    return safe_value(value)


def safe_value(value: object) -> str | None:
    """`value` if it may go into a log line as it is (an identifier), else None."""
    return value if isinstance(value, str) and SAFE_VALUE.match(value) else None


# New request ids: 64 random bits a process, then a count (128 bits like uuid4's, unique without
# a random-number syscall per request).
_ID_PREFIX = os.urandom(8).hex()
_id_count = itertools.count(1)


def request_id_for(given: str | None) -> str:
    """The caller's X-Request-ID when well-formed, else a new one."""
    return given if given and SAFE_VALUE.match(given) else f"{_ID_PREFIX}{next(_id_count):016x}"


def finish_request(
    metrics: ServiceMetrics, method: str, route: str, status: int, seconds: float, path: str
) -> None:
    """The request metrics and the access line of a finished request (in its log context)."""
    metrics.request_finished(method, route, status, seconds)
    level = logging.DEBUG if route in QUIET_ROUTES and status < 500 else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    duration_ms = seconds * 1000
    fields = {
        "method": method,
        "route": route,
        "path": _printable(path),
        "status": status,
        "duration_ms": round(duration_ms, 2),
    }
    emit_fields(access_log, level, f"{method} {route} {status} {duration_ms:.1f}ms", fields)


def _printable(path: str) -> str:
    """A request path as one safe log field: control characters escaped, at most 300 characters."""
    path = path[:300]
    return path if path.isprintable() else path.encode("unicode_escape").decode("ascii")


class ObservabilityMiddleware:
    """Per HTTP request: an X-Request-ID (the caller's when well-formed, else a new one) echoed in
    the response, `request_id`/`org_id` in the log context, the request metrics, one access line.

    Never logs headers (Authorization stays out of every log) nor the query string.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(_header(scope, b"x-request-id"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        query_org_id = _query_org_id(scope)  # parsed once: the access line names it too
        request_token = request_id_var.set(request_id)
        org_token = org_id_var.set(_org_id(scope, query_org_id))
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            org_id_var.set(_org_id(scope, query_org_id))  # a path parameter is known once the route matched
            finish_request(
                self.metrics,
                scope.get("method", ""),
                route_template(scope),
                status,
                seconds,
                scope.get("path", ""),
            )
            org_id_var.reset(org_token)
            request_id_var.reset(request_token)


def install_observability(app: FastAPI, settings: Settings) -> ServiceMetrics:
    """Metrics in `app.state.metrics`, the request middleware, and the wiring to the services."""
    metrics = ServiceMetrics(settings)
    app.state.metrics = metrics
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    opened = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with opened(app_) as state:
            # The app's lifespan opened the application layer (app.state.service): observe it. Jobs
            # and dbt runs are reported when they finish, so the start-up refresh is counted too.
            metrics.attach(app_.state.service.services)
            yield state

    app.router.lifespan_context = lifespan
    return metrics
