"""An ASGI layer in front of the FastAPI app that answers reads whose body is already rendered.

A dashboard reads the same stored and live reports over and over; once a body is cached, the
framework (middleware stack, dependency solving, a thread-pool hop per sync dependency and
handler, response validation) costs several times the answer itself. For exactly these requests

    GET /api/reports/{report_date}?org_id=   GET /api/reports/latest?org_id=
    GET /daily-report?org_id=&date=

this layer checks the credentials with the dependencies' own code (`deps.authenticate`,
`deps.readable_org`) and answers from the caches (`service.reports.response_cache`) with the bytes
and headers the app sends: its Response headers, the handler's, gzip as its GZipMiddleware
encodes, the request id. Each answer counts in the request metrics, gets its access line and
counts as a use of its token; the answers of each RECORD_EVERY (50 ms) are recorded together
(`observability.http.finish_requests`: one write for their access lines), and those still due when
the app's lifespan ends (`FastPathApp.record_fast_answers`).

Two memos make a repeat cost a few lookups. Credentials, once checked, are kept (`Checked`)
while the store is unchanged (its data version: revocations, organizations, tokens) and until the
token's expiry. An answer is kept for the same raw request (path, query, accepted encodings)
while what it rests on holds (`Answer.holds`): the store's data version, the live cache's
generation. It is sent again to any credentials that read the same organization for that request
(`Principal.readable_org_id`, the check the dependencies make); any other go the fresh way.

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
from service.observability.http import REQUEST_ID_HEADER, FinishedRequest, finish_requests, request_id_for
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
# Answers are recorded together this long after the first of them (their metrics, access lines and
# token uses): one write, flush and token-use pass per batch instead of per event-loop iteration
# (about ten answers under load). A kill -9 loses at most this much of access lines.
RECORD_EVERY = 0.05
MEMO_ENTRIES = 8192  # answers by raw request, checked credentials (each emptied when full)

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_LOCAL_DATE: TypeAdapter[date] = TypeAdapter(LocalDate)
_JSON = (b"content-type", b"application/json")
_VARY = (b"vary", b"Accept-Encoding")
_GZIP = (b"content-encoding", b"gzip")
_REFRESHED = REFRESHED_HEADER.lower().encode()
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


class Doubt(Exception):
    """This request is the app's to answer."""


@dataclass(frozen=True)
class Checked:
    """Credentials as `deps.authenticate` found them, while the store is unchanged (its data version)
    and the token is not due for a look (its expiry)."""

    principal: Principal
    version: int

    def holds(self, version: int | None, now: float) -> bool:
        return version == self.version and now < self.principal.check_again_at


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer as sent but for its request id, about `org_id` (which the request named as
    `asked`). It holds for the same raw request while all it rests on does: the store unchanged
    (its data version: organizations, stored reports) and, for a live report, the live cache not
    emptied since (by a refresh). Without a version it is for its request only."""

    route: APIRoute
    asked: str | None  # the org_id the request named: the access line's organization
    org_id: str | None  # the organization it was answered for (`readable_org` of `asked`)
    headers: tuple[tuple[bytes, bytes], ...]
    body: dict[str, Any]  # the http.response.body message, sent as it is each time
    version: int | None
    live_generation: int | None  # a live report's: the live cache's generation it was made in

    def holds(self, state: ServiceState, version: int | None) -> bool:
        return (
            version is not None
            and version == self.version
            and (self.live_generation is None or self.live_generation == state.services.live.generation)
        )


@dataclass(slots=True)
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

    def record_fast_answers(self) -> None:
        """Record the fast path's answers still due now (the lifespan's end: the event loop may
        stop before their timer)."""
        if self._fast_path is not None:
            self._fast_path.record_answered()

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
        # The state and the store's version, read once an event-loop iteration (`_read_state`).
        self._state: ServiceState | None = None
        self._version: int | None = None
        self._read_this_iteration = False
        self._checked: dict[str | None, Checked] = {}  # by Authorization header
        self._answers: dict[tuple[str, bytes, str], Answer] = {}  # by path, query, Accept-Encoding
        # Answered and not yet recorded (`record_answered`, due RECORD_EVERY after the first).
        self._finished: list[FinishedRequest] = []
        self._users: dict[str, Principal] = {}  # by actor_id
        self._record_due: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not _candidate(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _request_headers(scope["headers"])
        try:
            answered = self._answer(scope, headers)
        except Doubt:
            answered = None
        except Exception:  # a fault here must not cost the request: the app answers it
            log.exception("fast path: passing the request to the app")
            answered = None
        if answered is None:
            await self.app(scope, receive, send)
            return
        principal, answer = answered
        request_id = request_id_for(headers.request_id)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*answer.headers, (_REQUEST_ID, request_id.encode())],
            }
        )
        await send(answer.body)
        if self._record_due is None:
            self._record_due = asyncio.get_running_loop().call_later(RECORD_EVERY, self.record_answered)
        seconds = time.perf_counter() - started
        self._finished.append(
            FinishedRequest(
                time.time(), "GET", answer.route.path, 200, seconds, scope["path"], request_id, answer.asked
            )
        )
        self._users[principal.actor_id] = principal

    def record_answered(self) -> None:
        """The request metrics and access lines of the answers not yet recorded, their tokens' uses."""
        if self._record_due is not None:
            self._record_due.cancel()  # a no-op when it is the timer that calls
            self._record_due = None
        finished, self._finished = self._finished, []
        users, self._users = self._users, {}
        try:
            finish_requests(self.fastapi_app.state.metrics, finished)
            state: ServiceState | None = getattr(self.fastapi_app.state, "service", None)
            if state is not None:  # last: a store fault on its write costs no access line
                now = datetime.now(UTC)
                for principal in users.values():
                    state.services.tokens.record_use(principal, now)
        except Exception:  # never into the event loop: it would only log it less clearly
            log.exception("fast path: recording %d answered requests", len(finished))

    # -- matching ----------------------------------------------------------------------------------
    def _answer(self, scope: Scope, headers: RequestHeaders) -> tuple[Principal, Answer] | None:
        if not self._read_this_iteration:
            self._read_state()
        state, version = self._state, self._version  # every cache below keys on the version
        if state is None or scope.get("root_path") or (self.cors and headers.origin):
            return None
        principal = self._principal(state, headers.authorization, version)
        key = (scope["path"], scope["query_string"], headers.accept_encoding)
        kept = self._answers.get(key)
        if (
            kept is not None
            and kept.holds(state, version)
            and _reads(state, principal, kept.asked) == kept.org_id
        ):
            return principal, kept
        answer = self._fresh_answer(state, scope, headers, principal, version)
        if answer is None:
            return None
        if answer.version is not None:
            _keep(self._answers, key, answer)
        return principal, answer

    def _principal(self, state: ServiceState, authorization: str | None, version: int | None) -> Principal:
        """Who is asking, as `deps.authenticate` says, checked afresh when the store or the token's
        expiry says so."""
        checked = self._checked.get(authorization)
        if checked is not None and checked.holds(version, time.time()):
            return checked.principal
        principal = self._check_credentials(state, authorization, version)
        if version is not None:
            _keep(self._checked, authorization, Checked(principal, version))
        return principal

    def _check_credentials(
        self, state: ServiceState, authorization: str | None, version: int | None
    ) -> Principal:
        try:
            return authenticate(state, authorization, version)
        except (ServiceError, StoreError) as exc:  # the app answers with its own 401
            raise Doubt from exc

    def _read_state(self) -> None:
        """The service's state, if the fast path may answer for it, and the store's data version,
        read at most once an event-loop iteration (the version's pragma costs a few system calls).
        Every request answered in an iteration arrived before the read that serves it: its task
        was created by an earlier iteration's I/O callbacks, and the forgetting below, queued by
        the read, runs at the start of the next iteration, before the tasks those I/O callbacks
        created. So the version is as fresh for each request as a read of its own."""
        app = self.fastapi_app
        state: ServiceState | None = getattr(app.state, "service", None)
        if state is None or app.root_path or app.dependency_overrides:
            self._state, self._version = None, None
        else:
            self._state, self._version = state, state.services.store.data_version()
        self._read_this_iteration = True
        asyncio.get_running_loop().call_soon(self._forget_state)

    def _forget_state(self) -> None:
        self._read_this_iteration = False

    def _fresh_answer(
        self,
        state: ServiceState,
        scope: Scope,
        headers: RequestHeaders,
        principal: Principal,
        version: int | None,
    ) -> Answer | None:
        """The answer from the caches after every check."""
        path: str = scope["path"]
        template, report_date = (
            (path, None)
            if path in (LIVE_PATH, LATEST_PATH)
            else (DATE_PATH, _valid(_LOCAL_DATE, path[len(STORED_PREFIX) :]))
        )
        params = _query(scope["query_string"], ALLOWED_PARAMS[template])
        asked = _valid(_IDENTIFIER, params["org_id"]) if "org_id" in params else None
        org_id = _reads(state, principal, asked)
        live_generation: int | None = None
        try:
            if template == LIVE_PATH:
                day = _valid(_LOCAL_DATE, params["date"]) if "date" in params else None
                rendered, extra, live_generation = self._live(state, org_id, day, version)
            else:
                key = latest_report_key(org_id) if report_date is None else report_key(org_id, report_date)
                rendered, extra = state.response_cache.get(key, version), []
        except (ServiceError, StoreError) as exc:  # the app answers with its own error
            raise Doubt from exc
        if rendered is None:
            return None
        headers_sent, body = self._encoded(rendered, extra, headers.accept_encoding)
        # Without a date a live report is "yesterday", which moves: answered afresh each time.
        kept = version is not None and not (template == LIVE_PATH and "date" not in params)
        return Answer(
            self._route(template),
            asked,
            org_id,
            tuple(headers_sent),
            {"type": "http.response.body", "body": body},
            version if kept else None,
            live_generation,
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


def _reads(state: ServiceState, principal: Principal, asked: str | None) -> str | None:
    """The organization `principal` reads when a request names `asked` (`deps.readable_org`)."""
    try:
        return readable_org(state, principal, asked)
    except ServiceError as exc:  # the app answers with its own 400 or 403
        raise Doubt from exc


def _keep(memo: dict[Any, Any], key: Any, value: Any) -> None:
    """Remember `value`, emptying the memo first when it is full (it refills with what is asked)."""
    if len(memo) >= MEMO_ENTRIES:
        memo.clear()
    memo[key] = value


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
