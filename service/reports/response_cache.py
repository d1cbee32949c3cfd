"""Rendered bodies of stored-report reads, valid while the report store is unchanged, and the
rendered bodies of cached live reports.

The store's `data_version()` changes whenever anything commits to it (this process's pool, the
scheduler, a CLI in another process), so a saved report, a recorded mart version (the `stale`
flag) or a changed organization empties the cache before the next read. A store that cannot say
(None) is read uncached.

Each body keeps its gzip encoding (`Rendered.gzipped`), made exactly as the app's GZipMiddleware
makes it when the body is cached, in the thread that answered the miss: the API's fast path
(`service.api.fast_path`) never compresses on the event loop. The live router and the fast path
share one `LiveBodyCache`, so a live report is rendered once, by whichever answers it first.
The cache keys are built here (`report_key`, `latest_report_key`) for the routers and the fast
path alike.
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import TypeAdapter

from reports_store import Organization, ReportStore
from service.core.calendar import DateWindow

CACHE_ENTRIES = 4096
CACHE_BYTES = 64 * 2**20  # a bound on memory: report lists of up to 366 days are tens of kB each
GZIP_LEVEL = 9  # starlette's GZipMiddleware default, which the app uses
GZIP_MINIMUM_SIZE = 1024  # the app's GZipMiddleware minimum_size (app.py passes it)


def report_key(org_id: str | None, report_date: date) -> Hashable:
    """GET /api/reports/{report_date}: the organization as `readable_org_id` resolved it."""
    return ("date", org_id, report_date)


def latest_report_key(org_id: str | None) -> Hashable:
    """GET /api/reports/latest."""
    return ("latest", org_id)


def render_json(adapter: TypeAdapter, content: Any) -> bytes:
    """What FastAPI sends for a response_model: validated (from attributes), dumped by alias."""
    return adapter.dump_json(adapter.validate_python(content, from_attributes=True), by_alias=True)


def gzip_bytes(body: bytes) -> bytes:
    """`body` gzip-encoded byte for byte as starlette's GZipMiddleware encodes a whole response."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


@dataclass
class Rendered:
    """One rendered JSON body and, once asked for, its gzip encoding."""

    body: bytes
    _gzipped: bytes | None = field(default=None, init=False, repr=False)

    @classmethod
    def of(cls, body: bytes) -> Rendered:
        """A body about to be cached, its gzip copy made now when the app would gzip it: the cache
        is filled where a miss is answered (the thread pool), so the event loop never compresses."""
        rendered = cls(body)
        if len(body) >= GZIP_MINIMUM_SIZE:
            rendered.gzipped()
        return rendered

    def gzipped(self) -> bytes:
        if self._gzipped is None:  # a race renders it twice, both results identical
            self._gzipped = gzip_bytes(self.body)
        return self._gzipped


class StoredResponseCache:
    def __init__(
        self, store: ReportStore, entries: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES
    ) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._bodies: OrderedDict[Hashable, Rendered] = OrderedDict()
        # Bodies count at their plain size: their gzip copies are a fraction of it (JSON).
        self._entries, self._max_bytes, self._bytes = entries, max_bytes, 0
        self._version: int | None = None

    def _current_version(self, version: int | None = None) -> int | None:
        """The store's data version now (`version` if the caller has just read it); empties the
        cache on a change."""
        if version is None:
            version = self._store.data_version()
        with self._lock:
            if version != self._version:
                self._bodies.clear()
                self._bytes = 0
                self._version = version
        return version

    def _lookup(self, key: Hashable) -> Rendered | None:
        with self._lock:
            rendered = self._bodies.get(key)
            if rendered is not None:
                self._bodies.move_to_end(key)
            return rendered

    def get(self, key: Hashable, version: int | None = None) -> Rendered | None:
        """The body of `key` if it is cached and the store has not changed since (never renders).
        `version`: the store's data version, if the caller has just read it."""
        return None if self._current_version(version) is None else self._lookup(key)

    def get_or_render(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """The cached body of `key`, or `render()` kept if the store did not change meanwhile."""
        version = self._current_version()
        rendered = self._lookup(key) if version is not None else None
        if rendered is not None:
            return rendered.body
        body = render()
        if version is not None and self._current_version() == version:
            rendered = Rendered.of(body)
            with self._lock:
                if self._version == version and key not in self._bodies:
                    self._bodies[key] = rendered
                    self._bytes += len(body)
                    while len(self._bodies) > self._entries or self._bytes > self._max_bytes:
                        self._bytes -= len(self._bodies.popitem(last=False)[1].body)
        return body


class LiveBodyCache:
    """Rendered bodies of the live result cache's reports (`LiveReports.cached`).

    An entry holds the report object it was rendered from and is used only while the live cache
    still answers that very object (`is`): a refresh or an eviction there replaces the object, so a
    stale body is never served and nothing here needs invalidating.
    """

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._lock = threading.Lock()
        self._bodies: OrderedDict[Hashable, tuple[object, Rendered]] = OrderedDict()

    def get_or_render(
        self, org: Organization, window: DateWindow, report: object, render: Callable[[], bytes]
    ) -> Rendered:
        """The body of the live report `report` of `org` over `window` (the live cache's object)."""
        key = (org.org_id, org.timezone, window.start, window.end)
        with self._lock:
            entry = self._bodies.get(key)
            if entry is not None and entry[0] is report:
                self._bodies.move_to_end(key)
                return entry[1]
        rendered = Rendered.of(render())
        with self._lock:
            self._bodies[key] = (report, rendered)
            self._bodies.move_to_end(key)
            while len(self._bodies) > self._entries:
                self._bodies.popitem(last=False)
        return rendered
