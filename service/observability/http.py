"""The request middleware (request id, log context, metrics, access log) and the app's wiring.

`install_observability(app, settings)` is all `create_app` calls: it creates the app's metrics
(`app.state.metrics`, served by GET /metrics), adds the middleware, and connects the metrics to
the application layer as soon as the lifespan has opened it.
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.config import Settings
from service.observability.context import SAFE_VALUE, org_id_var, request_id_var
from service.observability.logs import LineTemplate, emit_fields, emit_lines, json_handler, slot, write_lines
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
    level = _access_level(route, status)
    if access_log.isEnabledFor(level):
        message, fields = _access_line(method, route, status, seconds, path)
        emit_fields(access_log, level, message, fields)


class FinishedRequest(NamedTuple):
    """A request answered outside the middleware (the API's fast path), to be recorded. Its
    `request_id` and `org_id` go into the log as they are: well-formed (`request_id_for`, an
    identifier validated as `SAFE_VALUE` is) or None."""

    at: float  # time.time() when it was answered
    method: str
    route: str
    status: int
    seconds: float
    path: str
    request_id: str
    org_id: str | None  # as the request named it (validated)


def finish_requests(metrics: ServiceMetrics, finished: list[FinishedRequest]) -> None:
    """`finish_request` for many requests at once: their metrics, and their access lines in one
    write, each with its own time, request id and organization."""
    metrics.requests_finished((r.method, r.route, r.status, r.seconds) for r in finished)
    by_level: dict[int, list[FinishedRequest]] = {}
    for request in finished:
        by_level.setdefault(_access_level(request.route, request.status), []).append(request)
    for level, requests in by_level.items():
        handler = json_handler(access_log, level)
        if handler is not None:  # the usual case: each line is its shape's template, filled in
            write_lines(handler, _templated_lines(handler, level, requests))
        elif access_log.isEnabledFor(level):
            emit_lines(access_log, level, [_access_entry(request) for request in requests])


def _access_entry(request: FinishedRequest) -> tuple[float, str, dict[str, Any], dict[str, Any]]:
    message, fields = _access_line(
        request.method, request.route, request.status, request.seconds, request.path
    )
    return request.at, message, _access_context(request.request_id, request.org_id), fields


def _access_context(request_id: str, org_id: str | None) -> dict[str, Any]:
    return {"request_id": request_id} if org_id is None else {"request_id": request_id, "org_id": org_id}


def _templated_lines(handler: logging.StreamHandler, level: int, requests: list[FinishedRequest]) -> str:
    """The access lines of `requests`, as `handler`'s formatter writes them, each ended."""
    templates = _access_templates.get((handler.formatter, level))
    if templates is None or len(templates) >= ACCESS_TEMPLATES:
        templates = _access_templates[(handler.formatter, level)] = {}
    lines = []
    for request in requests:
        shape = _shape(request)
        template = templates.get(shape)
        if template is None:
            template = templates[shape] = _access_template(handler, level, request)
        duration_ms = request.seconds * 1000
        duration = orjson.dumps(round(duration_ms, 2)).decode()  # as the JSON formatter writes it
        lines.append(template.line(request.at, f"{duration_ms:.1f}", request.request_id, duration))
    return handler.terminator.join(lines) + handler.terminator


ACCESS_TEMPLATES = 4096  # kept shapes per handler and level (emptied when full)
# What an access line's template is made of: method, route, status, path, organization.
_shape = operator.itemgetter(1, 2, 3, 5, 7)
# By (formatter, level), then by (method, route, status, path, organization).
_access_templates: dict[tuple[Any, int], dict[tuple[Any, ...], LineTemplate]] = {}


def _access_template(handler: logging.StreamHandler, level: int, request: FinishedRequest) -> LineTemplate:
    """The access line of `request`'s shape: its time, duration and request id are slots."""
    message, fields = _access_line(
        request.method, request.route, request.status, 0.0, request.path, duration_text=slot(1)
    )
    return LineTemplate(
        handler.formatter,  # type: ignore[arg-type]  # json_handler's
        logging.getLevelName(level),
        access_log.name,
        message,
        _access_context(slot(2), request.org_id),
        fields | {"duration_ms": slot(3)},
        raw=(3,),
    )


def _access_level(route: str, status: int) -> int:
    return logging.DEBUG if route in QUIET_ROUTES and status < 500 else logging.INFO


def _access_line(
    method: str, route: str, status: int, seconds: float, path: str, duration_text: str | None = None
) -> tuple[str, dict[str, Any]]:
    """An access line's message and fields (`duration_text`: the message's duration, if not the
    duration's own)."""
    duration_ms = seconds * 1000
    fields = {
        "method": method,
        "route": route,
        "path": _printable(path),
        "status": status,
        "duration_ms": round(duration_ms, 2),
    }
    duration_text = f"{duration_ms:.1f}" if duration_text is None else duration_text
    return f"{method} {route} {status} {duration_text}ms", fields


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
