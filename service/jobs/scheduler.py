"""The daily report schedule and the frequent mart refresh, on a `schedule` ticking loop.

`schedule` only ticks; each organization's next due instant (SCHEDULER_HOUR:SCHEDULER_MINUTE in
its own timezone) is computed with zoneinfo, because schedule's own timezone support has DST
bugs. At a due instant the organization's yesterday (as of that instant) is generated. On start,
days missed while the service was down are caught up. One job runs at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import schedule

from reports_store import Organization
from service.core.calendar import first_instant_at, zone
from service.jobs.report_jobs import ReportJobs
from service.jobs.requests import BackfillRequest, DailyRunRequest

log = logging.getLogger(__name__)
TICK_SECONDS = 20
# A failed daily run is retried after 1, 2, 4 ... minutes, at most an hour apart.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)


def next_fire(org: Organization, hour: int, minute: int, after: datetime) -> datetime:
    """The first instant strictly after `after` when the local clock of `org` shows hour:minute."""
    tz = zone(org.timezone)
    local_day = after.astimezone(tz).date()
    for offset in range(3):
        wall = datetime.combine(local_day + timedelta(days=offset), time(hour, minute))
        candidate = first_instant_at(wall, tz)
        if candidate > after:
            return candidate
    raise AssertionError("a local time of day always recurs within two days")


def last_fire(org: Organization, hour: int, minute: int, now: datetime) -> datetime:
    """The latest instant at or before `now` when the local clock of `org` showed hour:minute."""
    tz = zone(org.timezone)
    local_day = now.astimezone(tz).date()
    for offset in range(3):
        candidate = first_instant_at(
            datetime.combine(local_day - timedelta(days=offset), time(hour, minute)), tz
        )
        if candidate <= now:
            return candidate
    raise AssertionError("a local time of day always recurs within two days")


@dataclass
class OrgSchedule:
    next_run: datetime
    last_run_at: datetime | None = None
    last_report_date: str | None = None
    last_result: str | None = None
    retry_day: date | None = None  # a failed daily run's day, retried until it succeeds
    failures: int = 0


class Scheduler:
    """Runs daily reports per organization, catch-up and refreshes; `tick` is the whole logic."""

    def __init__(
        self,
        jobs: ReportJobs,
        clock: Callable[[], datetime] | None = None,
        on_tick: Callable[[datetime], object] | None = None,
    ) -> None:
        self.jobs = jobs
        self.on_tick = on_tick  # after each tick, e.g. the webhooks' daily.missed check
        self.settings = jobs.settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.orgs: dict[str, OrgSchedule] = {}
        self.last_refresh: dict[str, Any] | None = None
        self._job_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._schedule = schedule.Scheduler()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the logic ---------------------------------------------------------------------------
    def catch_up(self) -> None:
        """Generate each active organization's missed days (up to SCHEDULER_CATCHUP_DAYS)."""
        now = self.clock()
        days = self.settings.scheduler_catchup_days
        for org in self.jobs.store.list_organizations(active_only=True):
            if self._stop.is_set():
                return  # stopping: the remaining organizations catch up at the next start
            last_due = last_fire(org, self.settings.scheduler_hour, self.settings.scheduler_minute, now)
            end = last_due.date() - timedelta(days=1)
            if days == 0:
                continue
            start = end - timedelta(days=days - 1)
            with self._job_lock:
                outcome = self.jobs.backfill(
                    BackfillRequest(start_date=start, end_date=end, org_id=org.org_id)
                )
            state = self._state(org, now)
            state.last_run_at, state.last_report_date = now, f"{start}..{end}"
            state.last_result = outcome.job.status
            log.info("catch-up %s %s..%s: %s", org.org_id, start, end, outcome.job.status)

    def tick(self) -> None:
        """Run every organization whose due instant has passed, then schedule its next one."""
        now = self.clock()
        for org in self.jobs.store.list_organizations(active_only=True):
            if self._stop.is_set():
                return
            state = self._state(org, now)
            if now < state.next_run:
                continue
            report_day = state.retry_day or state.next_run.astimezone(zone(org.timezone)).date() - timedelta(
                days=1
            )
            with self._job_lock:
                try:
                    outcome = self.jobs.run_daily(
                        DailyRunRequest(date=report_day, org_id=org.org_id), now=now
                    )
                    state.last_result = outcome.job.status
                except Exception as exc:  # recorded, and the loop goes on
                    state.last_result = f"failed: {exc}"
            state.last_run_at, state.last_report_date = now, report_day.isoformat()
            if state.last_result.startswith(("failed", "interrupted")):
                # A warehouse or dbt outage: retry the same day soon, backing off, not tomorrow.
                state.failures += 1
                state.retry_day = report_day
                state.next_run = now + min(RETRY_FIRST * 2 ** (state.failures - 1), RETRY_MAX)
            else:
                state.failures, state.retry_day = 0, None
                state.next_run = next_fire(
                    org, self.settings.scheduler_hour, self.settings.scheduler_minute, now
                )
            log.info("daily %s %s: %s", org.org_id, report_day, state.last_result)
        if self.on_tick is not None:
            self.on_tick(now)

    def refresh(self) -> None:
        """The frequent incremental mart refresh (late outputs land, live queries stay fresh)."""
        with self._job_lock:
            outcome = self.jobs.refresh_job()
        self.last_refresh = {
            "at": self.clock().isoformat(),
            "result": outcome.job.status,
            "error": outcome.job.error,
        }

    def _state(self, org: Organization, now: datetime) -> OrgSchedule:
        state = self.orgs.get(org.org_id)
        if state is None:
            state = OrgSchedule(
                next_fire(org, self.settings.scheduler_hour, self.settings.scheduler_minute, now)
            )
            self.orgs[org.org_id] = state
        return state

    # -- the loop ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop in a background thread (catch-up first, inside the thread)."""
        if not self.settings.scheduler_enabled or self.running:
            return
        self._stop.clear()
        self._schedule.clear()
        self._schedule.every(TICK_SECONDS).seconds.do(self._guarded, self.tick)
        self._schedule.every(self.settings.scheduler_refresh_minutes).minutes.do(self._guarded, self.refresh)
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        self._guarded(self.catch_up)
        self._guarded(self.tick)
        while not self._stop.wait(1):
            self._schedule.run_pending()

    def _guarded(self, step: Callable[[], None]) -> None:
        if self._stop.is_set():
            return
        try:
            step()
        except Exception:
            log.exception("scheduler step %s failed", getattr(step, "__name__", step))

    def stop(self, timeout: float = 60) -> None:
        """Stop after the job in progress (if any) finishes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._schedule.clear()

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.settings.scheduler_enabled,
            "running": self.running,
            "daily_at": f"{self.settings.scheduler_hour:02d}:{self.settings.scheduler_minute:02d}",
            "refresh_interval_minutes": self.settings.scheduler_refresh_minutes,
            "catchup_days": self.settings.scheduler_catchup_days,
            "organizations": [
                {
                    "org_id": org_id,
                    "next_run": state.next_run.isoformat(),
                    "last_run_at": state.last_run_at.isoformat() if state.last_run_at else None,
                    "last_report_date": state.last_report_date,
                    "last_result": state.last_result,
                }
                for org_id, state in sorted(self.orgs.items())
            ],
            "last_refresh": self.last_refresh,
        }
