"""An ASGI layer in front of the FastAPI app that answers reads whose body is already rendered.

A dashboard reads the same stored and live reports over and over; once a body is cached, the
framework (middleware stack, dependency solving, a thread-pool hop per sync dependency and
handler, response validation) costs several times the answer itself. For exactly these requests

    GET /api/reports/{report_date}?org_id=   GET /api/reports/latest?org_id=
    GET /daily-report?org_id=&date=

this layer checks the credentials with the dependencies' own code (`deps.authenticate`,
`deps.readable_org`) and answers from the caches (`service.reports.response_cache`) with the bytes
and headers the app sends: its Response headers, the handler's, gzip as its GZipMiddleware
encodes, the request id. Each answer counts in the request metrics and gets its access line,
through the request middleware's own functions (`observability.http.finish_request`).

An answer is then kept (`Memo`) for the same raw request and credentials while everything it
rests on holds: the store's data version (revocations, organizations, reports), the token's
expiry, the live cache's generation. A repeat costs a lookup and those checks.

On any doubt the request goes to the app: another method or path, a query parameter it does not
know or given twice, a value that does not validate, missing or refused credentials, a cache
miss, a cross-origin request when CORS is on, dependency overrides. So the OpenAPI document, the
error answers and the tenant checks all stay the app's.

It runs on the event loop: all it calls is in memory but `data_version()` (a pragma, read at most
once an event-loop iteration for every cache it consults), the token lookup on a token-cache
miss, and the tokens' `last_used_at` write (all tokens together, at most once a minute). Bodies
are rendered and compressed where a miss is answered, never here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from reports_store import Organization, StoreError
from reports_store.rules import Identifier
from service.access.principal import Principal
from service.api.deps import ServiceState, authenticate, readable_org
from service.api.routers.live import REFRESHED_HEADER, refreshed_stamp, rendered_report
from service.core.calendar import LocalDate
from service.core.errors import ServiceError
from service.observability.context import org_id_var, request_id_var
from service.observability.http import REQUEST_ID_HEADER, finish_request, request_id_for, safe_value
from service.reports.live import live_window
from service.reports.response_cache import GZIP_MINIMUM_SIZE, Rendered, latest_report_key, report_key

log = logging.getLogger("service.api")

STORED_PREFIX = "/api/reports/"
LATEST_PATH = "/api/reports/latest"
DATE_PATH = "/api/reports/{report_date}"
LIVE_PATH = "/daily-report"
# The query parameters each route may carry here; any other one goes to the app.
ALLOWED_PARAMS = {
    DATE_PATH: frozenset({"org_id"}),
    LATEST_PATH: frozenset({"org_id"}),
    LIVE_PATH: frozenset({"org_id", "date"}),
}
DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ORG_CACHE_ENTRIES = 4096
MEMO_ENTRIES = 8192  # answers by raw request and credentials (emptied when full)

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_LOCAL_DATE: TypeAdapter[date] = TypeAdapter(LocalDate)
_JSON = (b"content-type", b"application/json")
_VARY = (b"vary", b"Accept-Encoding")
_GZIP = (b"content-encoding", b"gzip")
_REFRESHED = REFRESHED_HEADER.lower().encode()
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


class Doubt(Exception):
    """This request is the app's to answer."""


@dataclass
class Answer:
    route: APIRoute
    org_id: str | None  # as the request named it: the access line's organization
    headers: list[tuple[bytes, bytes]]
    body: bytes


@dataclass(frozen=True)
class Memo:
    """An answer as sent, for the same request with the same credentials while all it rests on
    holds: the store unchanged (its data version: revocations, organizations, stored reports), the
    token not expired and, for a live report, the live cache not emptied since (by a refresh).
    Each reuse still counts as a use of the token (`Tokens.record_use`)."""

    principal: Principal
    route: APIRoute
    org_id: str | None
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    version: int
    live_generation: int | None  # a live report's: the live cache's generation it was made in

    def holds(self, state: ServiceState, version: int | None, now: float) -> bool:
        return (
            version == self.version
            and now < self.principal.check_again_at
            and (self.live_generation is None or self.live_generation == state.services.live.generation)
        )

    def answer(self) -> Answer:
        return Answer(self.route, self.org_id, list(self.headers), self.body)


@dataclass
class RequestHeaders:
    """The request headers the fast path reads, as FastAPI and the middleware read them."""

    authorization: str | None = None
    accept_encoding: str = ""
    request_id: str | None = None
    origin: bool = False


class FastPathApp(FastAPI):
    """FastAPI with the fast path in front of all of it (its telemetry hook and middleware stack),
    once `enable_fast_path` is called."""

    _fast_path: FastPath | None = None

    def enable_fast_path(self, *, cors: bool) -> None:
        self._fast_path = FastPath(self, self._framework, cors=cors)

    async def _framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._fast_path is None:
            await super().__call__(scope, receive, send)
        else:
            await self._fast_path(scope, receive, send)


class FastPath:
    """Answers the cached reads above of `fastapi_app`; everything else goes to `app` untouched."""

    def __init__(
        self, fastapi_app: FastAPI, app: ASGIApp, *, cors: bool, gzip_minimum_size: int = GZIP_MINIMUM_SIZE
    ) -> None:
        self.fastapi_app = fastapi_app
        self.app = app
        self.cors = cors
        self.gzip_minimum_size = gzip_minimum_size
        self._routes: dict[str, APIRoute] | None = None
        # Organizations by org_id while the store is unchanged (only the event loop uses them).
        self._orgs: dict[str | None, Organization] = {}
        self._orgs_version: int | None = None
        self._version: int | None = None
        self._version_read = False
        self._memos: dict[tuple[str | None, str, bytes, str], Memo] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not _candidate(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _request_headers(scope["headers"])
        try:
            answer = self._answer(scope, headers)
        except Doubt:
            answer = None
        except Exception:  # a fault here must not cost the request: the app answers it
            log.exception("fast path: passing the request to the app")
            answer = None
        if answer is None:
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(headers.request_id)
        answer.headers.append((_REQUEST_ID, request_id.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body})
        request_token = request_id_var.set(request_id)
        org_token = org_id_var.set(safe_value(answer.org_id))
        try:
            metrics = self.fastapi_app.state.metrics
            finish_request(
                metrics, "GET", answer.route.path, 200, time.perf_counter() - started, scope["path"]
            )
        finally:
            org_id_var.reset(org_token)
            request_id_var.reset(request_token)

    # -- matching ----------------------------------------------------------------------------------
    def _answer(self, scope: Scope, headers: RequestHeaders) -> Answer | None:
        app = self.fastapi_app
        state: ServiceState | None = getattr(app.state, "service", None)
        if (
            state is None
            or scope.get("root_path")
            or app.root_path
            or app.dependency_overrides
            or (self.cors and headers.origin)
        ):
            return None
        version = self._store_version(state)  # every cache below keys on it
        # The raw request (credentials included; kept in memory only) names its earlier answer.
        memo_key = (headers.authorization, scope["path"], scope["query_string"], headers.accept_encoding)
        memo = self._memos.get(memo_key)
        if memo is not None and memo.holds(state, version, time.time()):
            state.services.tokens.record_use(memo.principal, datetime.now(UTC))
            return memo.answer()
        answer, memo = self._fresh_answer(state, scope, headers, version)
        if memo is not None:
            if len(self._memos) >= MEMO_ENTRIES:
                self._memos.clear()
            self._memos[memo_key] = memo
        return answer

    def _store_version(self, state: ServiceState) -> int | None:
        """The store's data version, read at most once an event-loop iteration (a pragma costs a few
        system calls). Every request answered in an iteration arrived before the read that serves
        it: its task was created by an earlier iteration's I/O callbacks, and the forgetting below,
        queued by the read, runs at the start of the next iteration, before the tasks those I/O
        callbacks created. So the version is as fresh for each request as a read of its own."""
        if not self._version_read:
            self._version = state.services.store.data_version()
            self._version_read = True
            asyncio.get_running_loop().call_soon(self._forget_version)
        return self._version

    def _forget_version(self) -> None:
        self._version_read = False

    def _fresh_answer(
        self, state: ServiceState, scope: Scope, headers: RequestHeaders, version: int | None
    ) -> tuple[Answer | None, Memo | None]:
        """The answer from the caches after every check, and how long it holds (a Memo)."""
        path: str = scope["path"]
        template, report_date = (
            (path, None)
            if path in (LIVE_PATH, LATEST_PATH)
            else (DATE_PATH, _valid(_LOCAL_DATE, path[len(STORED_PREFIX) :]))
        )
        params = _query(scope["query_string"], ALLOWED_PARAMS[template])
        asked = _valid(_IDENTIFIER, params["org_id"]) if "org_id" in params else None
        live_generation: int | None = None
        try:
            principal = authenticate(state, headers.authorization, version)
            org_id = readable_org(state, principal, asked)
            if template == LIVE_PATH:
                day = _valid(_LOCAL_DATE, params["date"]) if "date" in params else None
                rendered, extra, live_generation = self._live(state, org_id, day, version)
            else:
                key = latest_report_key(org_id) if report_date is None else report_key(org_id, report_date)
                rendered, extra = state.response_cache.get(key, version), []
        except (ServiceError, StoreError) as exc:  # the app answers with its own error
            raise Doubt from exc
        if rendered is None:
            return None, None
        answer = Answer(
            self._route(template), asked, *self._encoded(rendered, extra, headers.accept_encoding)
        )
        # Without a date a live report is "yesterday", which moves: answered afresh each time.
        if version is None or (template == LIVE_PATH and "date" not in params):
            return answer, None
        return answer, Memo(
            principal, answer.route, asked, tuple(answer.headers), answer.body, version, live_generation
        )

    def _route(self, template: str) -> APIRoute:
        """The app's route of `template`: the metrics and the access line name it."""
        app = self.fastapi_app
        if self._routes is None:
            routes = (context.original_route for context in iter_route_contexts(app.router.routes))
            self._routes = {
                route.path: route
                for route in routes
                if isinstance(route, APIRoute) and route.path in ALLOWED_PARAMS and "GET" in route.methods
            }
        route = self._routes.get(template)
        if route is None:  # not served by this app: leave it to the app
            raise Doubt(template)
        return route

    # -- answers -----------------------------------------------------------------------------------
    def _live(
        self, state: ServiceState, org_id: str | None, day: date | None, version: int | None
    ) -> tuple[Rendered | None, list[tuple[bytes, bytes]], int | None]:
        """The cached live report of `day` (default yesterday), as `routers.live.daily_report`."""
        org = self._organization(state, org_id, version)
        window = live_window(org, day, None, None)
        generation = state.services.live.generation  # before the read: a refresh meanwhile ends it
        cached = state.services.live.cached(org, window)
        if cached is None:
            return None, [], None
        report, refreshed = cached
        try:
            rendered = rendered_report(state, org, window, report)
        except ValidationError as exc:  # the app answers it (a response validation error)
            raise Doubt from exc
        stamp = (_REFRESHED, refreshed_stamp(refreshed).encode("latin-1"))
        return rendered, [stamp], generation

    def _organization(self, state: ServiceState, org_id: str | None, version: int | None) -> Organization:
        """`services.organizations.get(org_id)`, kept while the store's data version holds."""
        if version is None or version != self._orgs_version:
            self._orgs.clear()
            self._orgs_version = version
        org = self._orgs.get(org_id)
        if org is None:
            org = state.services.organizations.get(org_id)
            if version is not None and len(self._orgs) < ORG_CACHE_ENTRIES:
                self._orgs[org_id] = org
        return org

    def _encoded(
        self, rendered: Rendered, extra: list[tuple[bytes, bytes]], accept_encoding: str
    ) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """Headers in the app's order: Response's, the handler's, then what GZipMiddleware adds
        (Vary on a body of its minimum size or more, gzip when accepted)."""
        body = rendered.body
        if len(body) < self.gzip_minimum_size:
            return [(b"content-length", b"%d" % len(body)), _JSON, *extra], body
        if "gzip" not in accept_encoding:
            return [(b"content-length", b"%d" % len(body)), _JSON, *extra, _VARY], body
        body = rendered.gzipped()
        return [(b"content-length", b"%d" % len(body)), _JSON, *extra, _VARY, _GZIP], body


def _candidate(path: str) -> bool:
    """A path the fast path may answer (its date still to be validated)."""
    if path in (LIVE_PATH, LATEST_PATH):
        return True
    return path.startswith(STORED_PREFIX) and DATE_TEXT.fullmatch(path, len(STORED_PREFIX)) is not None


def _valid(adapter: TypeAdapter[Any], value: str) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise Doubt from exc


def _query(query_string: bytes, allowed: frozenset[str]) -> dict[str, str]:
    """The query parameters, when each is one this path knows and given at most once (read as
    Starlette reads them; a plain string, the usual case, without parse_qsl's cost)."""
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:
        pairs = [piece.partition("=")[::2] for piece in text.split("&") if piece]
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed or name in params:
            raise Doubt(name)
        params[name] = value
    return params


def _request_headers(raw: list[tuple[bytes, bytes]]) -> RequestHeaders:
    """One pass over the headers; the first of each, as FastAPI's Header() and GZip read them."""
    found = RequestHeaders()
    authorizations = 0
    for name, value in raw:
        if name == b"authorization":
            authorizations += 1
            found.authorization = found.authorization or value.decode("latin-1")
        elif name == b"accept-encoding" and not found.accept_encoding:
            found.accept_encoding = value.decode("latin-1")
        elif name == b"x-request-id" and found.request_id is None:
            found.request_id = value.decode("latin-1")
        elif name == b"origin":
            found.origin = True
    if authorizations > 1:
        found.authorization = None  # two credentials: no answer here (no header: the app's 401)
    return found
