"""Rendered bodies of stored-report reads, valid while the report store is unchanged.

The store's `data_version()` changes whenever anything commits to it (this process's pool, the
scheduler, a CLI in another process), so a saved report, a recorded mart version (the `stale`
flag) or a changed organization empties the cache before the next read. A store that cannot say
(None) is read uncached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from reports_store import ReportStore

CACHE_ENTRIES = 4096
CACHE_BYTES = 64 * 2**20  # a bound on memory: report lists of up to 366 days are tens of kB each


class StoredResponseCache:
    def __init__(
        self, store: ReportStore, entries: int = CACHE_ENTRIES, max_bytes: int = CACHE_BYTES
    ) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._entries, self._max_bytes, self._bytes = entries, max_bytes, 0
        self._version: int | None = None

    def _current_version(self) -> int | None:
        """The store's data version now; empties the cache on a change."""
        version = self._store.data_version()
        with self._lock:
            if version != self._version:
                self._bodies.clear()
                self._bytes = 0
                self._version = version
        return version

    def get_or_render(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """The cached body of `key`, or `render()` kept if the store did not change meanwhile."""
        version = self._current_version()
        if version is not None:
            with self._lock:
                body = self._bodies.get(key)
                if body is not None:
                    self._bodies.move_to_end(key)
                    return body
        body = render()
        if version is not None and self._current_version() == version:
            with self._lock:
                if self._version == version and key not in self._bodies:
                    self._bodies[key] = body
                    self._bytes += len(body)
                    while len(self._bodies) > self._entries or self._bytes > self._max_bytes:
                        self._bytes -= len(self._bodies.popitem(last=False)[1])
        return body
