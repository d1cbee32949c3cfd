"""Prometheus metrics of one app, in a registry of its own (several apps in one process never collide).

Counted as things happen: HTTP requests (by route template), finished job runs (the job
recorder's observers), dbt invocations (the refresher's dbt observers), the last mart refresh.
Computed at scrape time from the report store, cached while the store is unchanged: each active
organization's newest stored report and its stale reports of the last METRICS_STALE_REPORT_DAYS.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from reports_store import JobRun, ReportOverview
from service.core.config import Settings

log = logging.getLogger(__name__)

PREFIX = "call_analytics"
UNMATCHED_ROUTE = "unmatched"  # a path no route answers: never the raw path (unbounded labels)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DBT_COMMANDS = frozenset(
    {"build", "run", "test", "seed", "snapshot", "compile", "show", "docs", "ls", "list", "parse"}
    | {"debug", "deps", "clean", "source", "run-operation", "retry", "clone", "init", "help"}
)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DBT_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class ServiceMetrics:
    """The app's metrics; `attach(services)` connects them to the application layer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = RequestMetrics()
        registry.register(self.requests)
        self.job_runs = Counter(
            f"{PREFIX}_job_runs",
            "Finished job runs (generate, backfill, daily, refresh, delete) by kind and final status.",
            ["kind", "status"],
            registry=registry,
        )
        self.dbt_duration = Histogram(
            f"{PREFIX}_dbt_run_duration_seconds",
            "Time of each dbt invocation (mart refreshes and delegated dbt commands).",
            ["command", "status"],
            buckets=DBT_BUCKETS,
            registry=registry,
        )
        self.mart_refreshed = Gauge(
            f"{PREFIX}_mart_refreshed_timestamp_seconds",
            "When the marts were last known up to date: a successful dbt refresh, or a scheduled "
            "refresh check that found no new source rows (Unix time).",
            registry=registry,
        )
        self._mart_refreshed_at = 0.0
        self.store_gauges = StoreGauges(settings)
        registry.register(self.store_gauges)

    # -- wiring ---------------------------------------------------------------------------------
    def attach(self, services: Any) -> None:
        """Observe an application layer (`service.services.Services`): its jobs, dbt runs, refreshes."""
        services.jobs.recorder.observers.append(self.job_finished)
        services.refresher.dbt_observers.append(self.dbt_finished)
        services.refresher.listeners.append(self.marts_refreshed)
        last = services.refresher.last_refreshed_at()
        if last is not None and last > self._mart_refreshed_at:
            self._set_mart_refreshed(last)
        self.store_gauges.services = services

    # -- observations -----------------------------------------------------------------------------
    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests_finished([(method, route, status, seconds)])

    def requests_finished(self, requests: Iterable[tuple[str, str, int, float]]) -> None:
        """Each (method, route template, status, seconds) of finished requests."""
        self.requests.observe_many(
            (method if method in HTTP_METHODS else "OTHER", route, status, seconds)
            for method, route, status, seconds in requests
        )

    def job_finished(self, job: JobRun) -> None:
        self.job_runs.labels(job.kind, job.status).inc()
        if job.kind == "refresh" and job.status == "succeeded":  # refreshed, or nothing new to refresh
            self.marts_refreshed()

    def dbt_finished(self, command: str, seconds: float, success: bool) -> None:
        command = command if command in DBT_COMMANDS else "other"
        self.dbt_duration.labels(command, "succeeded" if success else "failed").observe(seconds)

    def marts_refreshed(self) -> None:
        self._set_mart_refreshed(time.time())

    def _set_mart_refreshed(self, at: float) -> None:
        self._mart_refreshed_at = at
        self.mart_refreshed.set(at)

    # -- exposition --------------------------------------------------------------------------------
    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (Prometheus text format unless `accept` asks for OpenMetrics), content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class RequestMetrics:
    """The HTTP request counter (by method, route template, status) and duration histogram (by
    method, route template), exposed exactly as prometheus_client's Counter and Histogram would
    expose them (a test compares both formats).

    Counted here rather than by those: a labelled Counter.inc() and Histogram.observe() cost
    several microseconds a request in checks and locks, about a fifth of a cached report's whole
    answer in the API's fast path. Label values are bounded: known methods, route templates,
    status codes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], list[float]] = {}  # [count, created]
        # per (method, route): a count per bucket (HTTP_BUCKETS, then +Inf), the sum, created
        self._durations: dict[tuple[str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.observe_many([(method, route, status, seconds)])

    def observe_many(self, requests: Iterable[tuple[str, str, int, float]]) -> None:
        """Each (method, route, status, seconds), under one hold of the lock."""
        counts, durations = self._counts, self._durations
        with self._lock:
            for method, route, status, seconds in requests:
                count = counts.get((method, route, status))
                if count is None:
                    count = counts[(method, route, status)] = [0, time.time()]
                count[0] += 1
                duration = durations.get((method, route))
                if duration is None:
                    duration = durations[(method, route)] = [0] * (len(HTTP_BUCKETS) + 2) + [time.time()]
                duration[bisect_left(HTTP_BUCKETS, seconds)] += 1  # the first bucket with seconds <= le
                duration[-2] += seconds

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = [(key, list(value)) for key, value in self._counts.items()]
            durations = [(key, list(value)) for key, value in self._durations.items()]
        requests = CounterMetricFamily(
            f"{PREFIX}_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), (count, created) in counts:
            requests.add_metric([method, route, str(status)], count, created=created)
        yield requests
        histogram = HistogramMetricFamily(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            labels=["method", "route"],
        )
        bounds = [floatToGoString(bound) for bound in HTTP_BUCKETS] + ["+Inf"]
        for (method, route), values in durations:
            buckets, total, created = values[:-2], values[-2], values[-1]
            histogram.add_metric([method, route], list(zip(bounds, accumulate(buckets), strict=True)), total)
            histogram.add_sample(
                f"{PREFIX}_http_request_duration_seconds_created", {"method": method, "route": route}, created
            )
        yield histogram


class StoreGauges:
    """Gauges read from the report store at scrape time, cached while the store is unchanged.

    Only active organizations are reported: a deactivated one stops getting daily reports on
    purpose. An organization without any stored report has no `last_daily_report` sample (a new
    organization is not an alert); alert on it once its first report exists.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Any = None
        self._lock = threading.Lock()
        self._cached: tuple[object, list[str], list[ReportOverview]] | None = None

    def describe(self) -> list[Metric]:
        return []  # nothing to register up front: the families are built per scrape

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_store_up", "1 when the report store answered this scrape.")
        services = self.services
        if services is None:  # the app has not started yet
            return
        try:
            active, overview = self._read(services.store)
        except Exception as exc:  # the scrape still answers, and says the store did not
            log.warning("metrics: the report store did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        last = GaugeMetricFamily(
            f"{PREFIX}_last_daily_report_timestamp_seconds",
            "When the organization's newest stored daily report was first stored (Unix time).",
            labels=["org_id"],
        )
        stale = GaugeMetricFamily(
            f"{PREFIX}_stale_reports",
            f"Stored reports of the last {self.settings.metrics_stale_report_days} days whose mart "
            "numbers changed after they were generated (regenerate them with force).",
            labels=["org_id"],
        )
        by_org = {row.org_id: row for row in overview}
        for org_id in active:
            row = by_org.get(org_id)
            if row is not None and row.newest_report_created_at is not None:
                last.add_metric([org_id], row.newest_report_created_at.timestamp())
            stale.add_metric([org_id], row.stale_reports if row is not None else 0)
        yield last
        yield stale

    def _read(self, store: Any) -> tuple[list[str], list[ReportOverview]]:
        since = datetime.now(UTC).date() - timedelta(days=self.settings.metrics_stale_report_days)
        version = store.data_version()
        key = (version, since)
        with self._lock:
            if version is not None and self._cached is not None and self._cached[0] == key:
                return self._cached[1], self._cached[2]
        active = [org.org_id for org in store.list_organizations(active_only=True)]
        overview = store.report_overview(since)
        with self._lock:
            self._cached = (key, active, overview)
        return active, overview
