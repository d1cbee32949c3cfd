"""Live analytics from the marts: range reports with a result cache a mart refresh invalidates."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from reports_store import Organization
from service.core.calendar import DateWindow, today_in, zone
from service.core.config import Settings
from service.core.dbt_runner import DBT_LOCK
from service.core.errors import InvalidInput
from service.core.warehouse import get_client
from service.reports.builder import build_report, read_report_days
from service.reports.catalog import load_catalog

CACHE_SIZE = 4096
HISTORY_DAYS = 3660  # the marts keep ten years


def live_window(
    org: Organization, day: date | None, start: date | None, end: date | None, now: datetime | None = None
) -> DateWindow:
    """`day`, or `start`..`end` (one of them alone is a one-day window); default: the last complete
    local day (yesterday in the organization's zone). Today may be asked for: the report says partial."""
    if day is not None and (start or end):
        raise InvalidInput("Give either date or start_date/end_date, not both")
    today = today_in(zone(org.timezone), now)
    yesterday = today - timedelta(days=1)
    window = DateWindow.of(day or start or end or yesterday, day or end or start or yesterday)
    if window.end > today:
        raise InvalidInput(f"{window.end} is in the future in {org.timezone} (today there is {today})")
    if window.start < today - timedelta(days=HISTORY_DAYS):
        raise InvalidInput("Dates more than ten years back are not kept in the marts")
    return window


class LiveReports:
    """Builds reports for any organization and window of local dates from the marts.

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

    def client(self) -> Client:
        """This thread's warehouse client (clients are not shared between threads)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = get_client(self.settings)
        return client

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
            self.generation += 1

    def cached(self, org: Organization, window: DateWindow) -> tuple[dict[str, Any], datetime | None] | None:
        """The cached report of the window, or None (never touches the warehouse)."""
        key = (org.org_id, org.timezone, window.start, window.end)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
            return cached

    def report(self, org: Organization, window: DateWindow) -> tuple[dict[str, Any], datetime | None]:
        """The report of the window and when its mart rows were last refreshed."""
        cached = self.cached(org, window)
        if cached is not None:
            return cached
        key = (org.org_id, org.timezone, window.start, window.end)
        with self._lock:
            generation = self.generation
        catalog = load_catalog(self.settings.dbt_project_dir)
        with DBT_LOCK:
            # Earlier days for the comparisons and the anomaly flags come in the same pass.
            days = read_report_days(
                self.client(), self.settings.dbt_schema, catalog, [org.org_id], window.start, window.end
            )
        mart_days = [days[(org.org_id, d)] for d in window.days if (org.org_id, d) in days]
        report = build_report(org, window.start, window.end, mart_days, catalog, history=days)
        # A window reaching today holds a day that is not over: its numbers will still grow.
        report["partial"] = window.end >= today_in(zone(org.timezone))
        refreshed = max((d.refreshed_at for d in mart_days if d.refreshed_at), default=None)
        with self._lock:
            if generation == self.generation:
                self._cache[key] = (report, refreshed)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return report, refreshed
