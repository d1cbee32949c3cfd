"""Per-token limits on expensive work: uncached live queries cost warehouse time."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from service.core.errors import TooManyRequests


class ConcurrencyLimiter:
    """At most `per_key` concurrent holders per key; one more is refused at once (never queued)."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._lock = threading.Lock()
        self._running: defaultdict[str, int] = defaultdict(int)

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        with self._lock:
            if self._running[key] >= self.per_key:
                raise TooManyRequests(
                    f"This token already runs {self.per_key} uncached live queries: retry in a moment"
                )
            self._running[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[key] -= 1
                if not self._running[key]:
                    del self._running[key]
