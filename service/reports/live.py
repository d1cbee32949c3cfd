"""Live analytics from the marts: range reports with a result cache a mart refresh invalidates."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from reports_store import Organization
from service.core.calendar import date_range
from service.core.config import Settings
from service.core.dbt_runner import DBT_LOCK
from service.core.warehouse import get_client
from service.reports.builder import ReportSpec, build_report, load_report_spec, read_mart_days

CACHE_SIZE = 4096


class LiveReports:
    """Builds reports for any organization and range of local dates from the marts.

    Results are cached until the next mart refresh (`invalidate`), so repeated dashboard reads
    cost no warehouse query. A read that meets a running dbt job waits for it (DBT_LOCK).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: OrderedDict[tuple[str, str, date, date], tuple[dict[str, Any], datetime | None]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()
        self._local = threading.local()
        self.generation = 0
        # The report declaration, parsed once per manifest version (parsing it costs milliseconds).
        self._spec: tuple[tuple[int, int], ReportSpec] | None = None

    def _report_spec(self) -> ReportSpec:
        """load_report_spec, reused while the manifest file is unchanged (same mtime and size)."""
        path = self.settings.manifest_path
        try:
            stat = path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            return load_report_spec(self.settings)  # the missing manifest's error comes from there
        cached = self._spec
        if cached is not None and cached[0] == version:
            return cached[1]
        spec = load_report_spec(self.settings)
        self._spec = (version, spec)
        return spec

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = get_client(self.settings)
        return client

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
            self.generation += 1

    def cached(
        self, org: Organization, start: date, end: date
    ) -> tuple[dict[str, Any], datetime | None] | None:
        """The cached report of [start, end], or None; never waits (callable from the event loop)."""
        key = (org.org_id, org.timezone, start, end)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
            return cached

    def report(self, org: Organization, start: date, end: date) -> tuple[dict[str, Any], datetime | None]:
        """The report of [start, end] and when its mart rows were last refreshed."""
        hit = self.cached(org, start, end)
        if hit is not None:
            return hit
        key = (org.org_id, org.timezone, start, end)
        with self._lock:
            generation = self.generation
        with DBT_LOCK:
            spec = self._report_spec()
            days = read_mart_days(self._client(), self.settings, spec, [org.org_id], start, end)
        mart_days = [days[(org.org_id, d)] for d in date_range(start, end) if (org.org_id, d) in days]
        report = build_report(org, start, end, mart_days, spec)
        refreshed = max((d.refreshed_at for d in mart_days if d.refreshed_at), default=None)
        with self._lock:
            if generation == self.generation:
                self._cache[key] = (report, refreshed)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return report, refreshed
