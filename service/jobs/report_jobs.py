"""Report jobs: generate, backfill, daily run and refresh. The API, the CLI and the scheduler call these.

Every job is recorded in the store's job runs. A failure for one organization-day is recorded
and does not stop the others; finished days are stored as they complete, so a crashed backfill
resumes by running it again (stored days are skipped unless `force`).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reports_store import JobRun, Organization, ReportStore, RevisionReason
from service.core.calendar import DateWindow, today_in, zone
from service.core.config import Settings
from service.core.errors import InvalidInput, NotFound, RefreshFailed, RefreshStopped
from service.core.warehouse import get_client
from service.jobs.recorder import JobInterrupted, JobOutcome, JobRecorder, ProgressCallback, one_line
from service.jobs.refresh import Refresher
from service.jobs.requests import BackfillRequest, DailyRunRequest, GenerateRequest
from service.jobs.restatement import Restater
from service.organizations.service import Organizations
from service.reports.builder import build_report, read_report_days
from service.reports.catalog import Catalog, load_catalog
from service.reports.marts import MartDay
from service.reports.stored import StoredReports

log = logging.getLogger(__name__)


@dataclass
class GenerateResult:
    status: str  # generated | skipped
    report: dict[str, Any]


@dataclass
class StoredDay:
    """A report a job just stored (what `ReportJobs.stored_observers` are told)."""

    org_id: str
    report_date: date
    reason: RevisionReason
    report: dict[str, Any]


# The revision reason of each job kind's reports.
REVISION_REASON: dict[str, RevisionReason] = {
    "generate": "manual",
    "backfill": "backfill",
    "daily": "scheduled",
}


def yesterday(org: Organization, now: datetime | None = None) -> date:
    """The organization's last complete local day."""
    return today_in(zone(org.timezone), now) - timedelta(days=1)


def check_reportable(org: Organization, day: date, now: datetime | None = None) -> None:
    """Only past local days get a stored report: a partial day would be skipped forever after."""
    today = today_in(zone(org.timezone), now)
    if day >= today:
        raise InvalidInput(
            f"{day} is not over yet in {org.timezone} (today there is {today}): only past days get a stored report"
        )


class ReportJobs:
    """Report jobs against one warehouse and one report store."""

    def __init__(
        self,
        settings: Settings,
        store: ReportStore,
        organizations: Organizations,
        refresher: Refresher,
        stored: StoredReports,
    ) -> None:
        self.settings = settings
        self.store = store
        self.organizations = organizations
        self.refresher = refresher
        self.stored = stored
        self.recorder = JobRecorder(store)
        # Same org-day generated concurrently: one builds and stores, the other waits and reads it.
        self._day_locks: defaultdict[tuple[str, date], threading.Lock] = defaultdict(threading.Lock)
        self._day_locks_guard = threading.Lock()
        # Told of every report a job stores (the `kpi.anomaly` event of scheduled reports).
        self.stored_observers: list[Callable[[StoredDay], None]] = []
        # Restates recent changed reports after every mart refresh (a listener of the refresher).
        self.restater = Restater(store, settings.restate_within_days, self.build_reports)

    def _day_lock(self, org_id: str, day: date) -> threading.Lock:
        with self._day_locks_guard:
            return self._day_locks[(org_id, day)]

    # -- the jobs --------------------------------------------------------------------------------
    def generate(self, request: GenerateRequest) -> GenerateResult:
        """Refresh the mart for one organization-day, build its report and store it."""
        org = self.organizations.get(request.org_id)
        day = request.date or yesterday(org)
        check_reportable(org, day)
        if not request.allow_empty:
            first = self.first_call_day(org)
            if first is None or day < first:
                since = f"begin on {first}" if first else "have not begun yet"
                raise InvalidInput(
                    f"{org.org_id}'s recorded calls {since}: no report for {day} "
                    "(allow_empty stores an all-zero report anyway)"
                )
        outcome = self._run("generate", [org], {org.org_id: [day]}, force=request.force, org_id=org.org_id)
        if outcome.job.status == "failed":
            raise RefreshFailed(outcome.job.error or "report generation failed")
        report = self.stored.get(org, day)
        if report is None:
            raise RefreshFailed(f"the report of {org.org_id} on {day} was not stored: {outcome.job.error}")
        return GenerateResult("generated" if outcome.generated else "skipped", report)

    def backfill(
        self,
        request: BackfillRequest,
        *,
        progress: ProgressCallback | None = None,
        job: JobOutcome | None = None,
    ) -> JobOutcome:
        """Reports for every day of the window of one organization (or every active one)."""
        orgs, window = self._backfill_scope(request)
        days_by_org = {org.org_id: window.days for org in orgs}
        left_out = []
        if not request.allow_empty:
            for org in orgs:
                first = self.first_call_day(org)
                kept = [d for d in window.days if first is not None and d >= first]
                if len(kept) < len(window.days):
                    left_out.append(f"{org.org_id} before {first or 'its first call'}")
                days_by_org[org.org_id] = kept
        note = f"days without recorded calls yet left out: {', '.join(left_out)}" if left_out else None
        return self._run(
            "backfill",
            orgs,
            days_by_org,
            force=request.force,
            org_id=request.org_id,
            progress=progress,
            job=job,
            note=note,
        )

    def first_call_day(self, org: Organization) -> date | None:
        """The local day of the organization's first recorded call (None: no call yet).

        Read from its sessions, ordered by (org_id, created_at), so the query reads a few granules.
        """
        first = (
            get_client(self.settings)
            .query(
                f"SELECT minOrNull(created_at) FROM {self.settings.clickhouse_database}.public_sessions "
                "WHERE org_id = {org_id:String}",
                parameters={"org_id": org.org_id},
            )
            .first_row[0]
        )
        if first is None:
            return None
        return (first if first.tzinfo else first.replace(tzinfo=UTC)).astimezone(zone(org.timezone)).date()

    def delete_report(self, org_id: str | None, day: date) -> JobOutcome:
        """Remove one stored report (a typo'd day, a day before the data began), as a recorded job."""
        org = self.organizations.get(org_id)
        outcome = self.recorder.start("delete", org.org_id, day, day)
        with self._day_lock(org.org_id, day):
            deleted = self.store.delete_report(org.org_id, day)
        if not deleted:
            self.recorder.finish(outcome, error=f"no stored report for {org.org_id} on {day}")
            raise NotFound(f"No stored report for {org.org_id} on {day}: nothing to delete")
        return self.recorder.finish(outcome, note=f"deleted the report of {org.org_id} on {day}")

    def start_backfill(self, request: BackfillRequest) -> JobOutcome:
        """Validate and record a backfill job without running it (the API runs it in the background)."""
        _, window = self._backfill_scope(request)
        return self.recorder.start("backfill", request.org_id, window.start, window.end, run_here=False)

    def _backfill_scope(self, request: BackfillRequest) -> tuple[list[Organization], DateWindow]:
        orgs = self.organizations.chosen_or_active(request.org_id)
        if request.last_days is not None:
            if not orgs:
                raise InvalidInput("no active organization: add one with `orgs add` or generate demo data")
            last = min(yesterday(org) for org in orgs)
            window = DateWindow.of(last - timedelta(days=request.last_days - 1), last)
        else:
            assert request.start_date is not None and request.end_date is not None  # the model's rule
            window = DateWindow.of(request.start_date, request.end_date)
        for org in orgs:
            check_reportable(org, window.end)
        return orgs, window

    def run_daily(self, request: DailyRunRequest, *, now: datetime | None = None) -> JobOutcome:
        """Each active organization's yesterday (in its own timezone), or `date` when given."""
        orgs = self.organizations.chosen_or_active(request.org_id)
        days_by_org = {}
        for org in orgs:
            org_day = request.date or yesterday(org, now)
            check_reportable(org, org_day, now)
            days_by_org[org.org_id] = [org_day]
        return self._run("daily", orgs, days_by_org, force=request.force, org_id=request.org_id)

    def refresh_job(self) -> JobOutcome:
        """The frequent incremental refresh (watermark), recorded as a job run."""
        outcome = self.recorder.start("refresh", None, None, None)
        try:
            reason = self.refresher.needs_refresh()
            if reason is None:
                return self.recorder.finish(outcome, note="nothing new")
            self.refresher.refresh()
        except RefreshStopped as exc:
            return self.recorder.finish(outcome, error=str(exc), interrupted=True)
        except Exception as exc:
            return self.recorder.finish(outcome, error=one_line(exc))
        return self.recorder.finish(outcome)

    # -- building blocks ---------------------------------------------------------------------
    def _tell_stored(self, stored: StoredDay) -> None:
        for observer in self.stored_observers:
            try:
                observer(stored)
            except Exception:  # an observer never fails the job
                log.exception("stored-report observer %r failed", observer)

    def _read_marts(
        self, orgs: list[Organization], days_by_org: dict[str, list[date]], catalog: Catalog
    ) -> dict[tuple[str, date], MartDay]:
        """The mart days these reports need, their comparisons' earlier days and anomalies included
        (one read of the marts however many days)."""
        every_day = [day for org in orgs for day in days_by_org[org.org_id]]
        return read_report_days(
            get_client(self.settings),
            self.settings.dbt_schema,
            catalog,
            [o.org_id for o in orgs],
            min(every_day),
            max(every_day),
            report_days=1,
        )

    def build_reports(
        self, orgs: list[Organization], days_by_org: dict[str, list[date]]
    ) -> dict[tuple[str, date], dict[str, Any]]:
        """The reports of these organization-days from the current marts (days without a mart row are
        left out); what the restater stores."""
        orgs = [org for org in orgs if days_by_org.get(org.org_id)]
        if not orgs:
            return {}
        catalog = load_catalog(self.settings.dbt_project_dir)
        mart_days = self._read_marts(orgs, days_by_org, catalog)
        return {
            (org.org_id, day): build_report(
                org, day, day, [mart_days[(org.org_id, day)]], catalog, history=mart_days
            )
            for org in orgs
            for day in days_by_org[org.org_id]
            if (org.org_id, day) in mart_days
        }

    def _run(
        self,
        kind: str,
        orgs: list[Organization],
        days_by_org: dict[str, list[date]],
        *,
        force: bool,
        org_id: str | None,
        progress: ProgressCallback | None = None,
        job: JobOutcome | None = None,
        note: str | None = None,
    ) -> JobOutcome:
        """Skip stored days (unless force), one dbt refresh over the needed window, then store reports."""
        every_day = [d for days in days_by_org.values() for d in days] or [datetime.now(UTC).date()]
        if job is not None:
            self.recorder.bind(job)  # recorded elsewhere (the API's 202), run in this thread
        outcome = job or self.recorder.start(kind, org_id, min(every_day), max(every_day))
        try:
            todo: dict[str, list[date]] = {}
            for org in orgs:
                days = days_by_org.get(org.org_id, [])
                stored = (
                    set() if force or not days else self.store.report_dates(org.org_id, min(days), max(days))
                )
                outcome.skipped.extend(f"{org.org_id}/{d}" for d in days if d in stored)
                todo[org.org_id] = [d for d in days if d not in stored]
            needed = [d for days in todo.values() for d in days]
            if needed:
                # Days this job overwrites are not restated by its own refresh: it stores them next.
                overwritten = [(o, d) for o, days in todo.items() for d in days] if force else []
                with self.restater.excluding(overwritten):
                    self.refresher.refresh(min(needed), max(needed), [o for o, days in todo.items() if days])
                self._store_reports(
                    orgs, todo, force=force, outcome=outcome, progress=progress, reason=REVISION_REASON[kind]
                )
        except (JobInterrupted, RefreshStopped) as exc:
            return self.recorder.finish(outcome, error=str(exc), note=note, interrupted=True)
        except Exception as exc:
            return self.recorder.finish(outcome, error=one_line(exc), note=note)
        except BaseException:  # interrupted (Ctrl-C): the job stays running until marked interrupted
            self.recorder.unbind(outcome)
            raise
        return self.recorder.finish(outcome, note=note)

    def _store_reports(
        self,
        orgs: Iterable[Organization],
        days_by_org: dict[str, list[date]],
        *,
        force: bool,
        outcome: JobOutcome,
        progress: ProgressCallback | None = None,
        reason: RevisionReason = "manual",
    ) -> None:
        """Build and store the reports of already refreshed marts (one read of the marts)."""
        orgs = [org for org in orgs if days_by_org.get(org.org_id)]
        if not orgs:
            return
        catalog = load_catalog(self.settings.dbt_project_dir)
        mart_days = self._read_marts(orgs, days_by_org, catalog)
        total, done = sum(len(days_by_org[org.org_id]) for org in orgs), 0
        for org in orgs:
            for day in days_by_org[org.org_id]:
                if self.refresher.stopping.is_set():  # the service stops
                    raise JobInterrupted(done, total)
                key = f"{org.org_id}/{day}"
                try:
                    mart_day = mart_days.get((org.org_id, day))
                    if mart_day is None:
                        raise RefreshFailed(f"no mart row for {key}: the calendar does not cover that day")
                    report = build_report(org, day, day, [mart_day], catalog, history=mart_days)
                    with self._day_lock(org.org_id, day):
                        written = self.store.save_report(
                            org.org_id, day, report, overwrite=force, reason=reason
                        )
                    (outcome.generated if written else outcome.skipped).append(key)
                    if written:
                        self._tell_stored(StoredDay(org.org_id, day, reason, report))
                except Exception as exc:  # one organization-day's failure must not stop the others
                    outcome.failed[key] = one_line(exc)
                done += 1
                if progress:
                    progress(done, total)
                self.recorder.progress(outcome, done, total)


__all__ = ["GenerateResult", "JobOutcome", "JobRun", "ReportJobs", "check_reportable", "yesterday"]
