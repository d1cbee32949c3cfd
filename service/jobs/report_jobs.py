"""Report jobs: generate, backfill, daily run and refresh. The CLI, API and scheduler call these.

Every job is recorded in the store's job runs. A failure for one organization-day is recorded
and does not stop the others; finished days are stored as they complete, so a crashed backfill
resumes by running it again (stored days are skipped unless `force`).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reports_store import JobRun, MartVersion, Organization, ReportStore, StoredReport, open_store
from service.core.calendar import date_range, today_in, zone
from service.core.config import Settings, get_settings
from service.core.dbt_runner import DBT_LOCK, DbtOutcome, refresh_marts
from service.core.warehouse import get_client
from service.reports.builder import REPORT_TABLES, ReportSpec, build_report, load_report_spec, read_mart_days

MAX_RANGE_DAYS = 366
PROGRESS_SAVE_SECONDS = 0.5
ProgressCallback = Callable[[int, int], None]


class JobError(ValueError):
    """Bad input for a job (unknown organization, impossible date...); the message says what to fix."""


class RefreshFailed(RuntimeError):
    """dbt could not refresh the marts; nothing was stored."""


@dataclass
class GenerateResult:
    status: str  # generated | skipped
    report: dict[str, Any]


@dataclass
class JobOutcome:
    job: JobRun
    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def yesterday(org: Organization, now: datetime | None = None) -> date:
    return today_in(zone(org.timezone), now) - timedelta(days=1)


def is_stale(stored: StoredReport, versions: dict[date, MartVersion]) -> bool:
    """A stored report is stale when its org-day's mart numbers changed after it was generated."""
    version = versions.get(stored.report_date)
    fingerprint = stored.report_data.get("metadata", {}).get("mart_fingerprint")
    return bool(version and version.fingerprint and fingerprint and version.fingerprint != fingerprint)


class Jobs:
    """Report jobs against one warehouse and one report store."""

    def __init__(self, settings: Settings | None = None, store: ReportStore | None = None) -> None:
        self.settings = settings or get_settings()
        self.store = store or open_store(self.settings.reports_store_url)
        # Same org-day generated concurrently: one builds and stores, the other waits and reads it.
        self._day_locks: defaultdict[tuple[str, date], threading.Lock] = defaultdict(threading.Lock)
        self._day_locks_guard = threading.Lock()
        # Called after every successful mart refresh (the API's live cache listens here).
        self.refresh_listeners: list[Callable[[], None]] = []

    # -- validation ------------------------------------------------------------------------------
    def organization(self, org_id: str | None) -> Organization:
        org_id = org_id or self.settings.org_id
        if not org_id:
            raise JobError("No organization given and no default organization (ORG_ID) configured")
        org = self.store.get_organization(org_id)
        if org is None:
            raise JobError(f"Unknown organization {org_id!r}: register it first (orgs add)")
        return org

    def check_reportable(self, org: Organization, day: date, now: datetime | None = None) -> None:
        today = today_in(zone(org.timezone), now)
        if day >= today:
            raise JobError(
                f"{day} is not over yet in {org.timezone} (today there is {today}): "
                "only past days get a stored report"
            )

    @staticmethod
    def check_range(start: date, end: date) -> None:
        if end < start:
            raise JobError(f"end date {end} is before start date {start}")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise JobError(f"range {start}..{end} spans more than {MAX_RANGE_DAYS} days: split it")

    # -- building blocks ---------------------------------------------------------------------
    def refresh(
        self,
        start: date | None = None,
        end: date | None = None,
        org_ids: Sequence[str] | None = None,
        *,
        full_refresh: bool = False,
    ) -> DbtOutcome:
        """Refresh the marts (a window, or the watermark's days) and record the rebuilt days' versions."""
        with DBT_LOCK:
            outcome = refresh_marts(
                self.settings, start=start, end=end, org_ids=org_ids, full_refresh=full_refresh
            )
            if not outcome.success:
                detail = outcome.error or "; ".join(outcome.failures) or "see the dbt log"
                raise RefreshFailed(f"dbt refresh failed: {detail.splitlines()[0]}")
            self.after_refresh()
        return outcome

    def after_refresh(self) -> None:
        """Record the rebuilt days' mart versions (stale detection) and notify listeners."""
        self._record_window_versions(load_report_spec(self.settings))
        for listener in self.refresh_listeners:
            listener()

    def _record_window_versions(self, spec: ReportSpec) -> None:
        if not self._marts_exist():
            return
        client = get_client(self.settings)
        rows = client.query(
            f"SELECT org_id, min(report_date), max(report_date) FROM {self.settings.dbt_schema}.int_refresh_window "
            "GROUP BY org_id"
        ).result_rows
        for org_id, first, last in rows:
            days = read_mart_days(client, self.settings, spec, [org_id], first, last)
            self.store.record_mart_versions(
                MartVersion(
                    org_id=org_id,
                    report_date=day.report_date,
                    mart_refreshed_at=day.refreshed_at.isoformat() if day.refreshed_at else None,
                    fingerprint=day.fingerprint(),
                )
                for day in days.values()
            )

    def _day_lock(self, org_id: str, day: date) -> threading.Lock:
        with self._day_locks_guard:
            return self._day_locks[(org_id, day)]

    def _store_reports(
        self,
        orgs: Iterable[Organization],
        days_by_org: dict[str, list[date]],
        *,
        force: bool,
        outcome: JobOutcome,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Build and store the reports of already refreshed marts: two mart queries in all."""
        orgs = [org for org in orgs if days_by_org.get(org.org_id)]
        if not orgs:
            return
        spec = load_report_spec(self.settings)
        every_day = [day for org in orgs for day in days_by_org[org.org_id]]
        mart_days = read_mart_days(
            get_client(self.settings),
            self.settings,
            spec,
            [o.org_id for o in orgs],
            min(every_day),
            max(every_day),
        )
        total, done, last_saved = len(every_day), 0, 0.0
        for org in orgs:
            for day in days_by_org[org.org_id]:
                key = f"{org.org_id}/{day}"
                try:
                    mart_day = mart_days.get((org.org_id, day))
                    if mart_day is None:
                        raise RefreshFailed(f"no mart row for {key}: the calendar does not cover that day")
                    report = build_report(org, day, day, [mart_day], spec)
                    with self._day_lock(org.org_id, day):
                        written = self.store.save_report(org.org_id, day, report, overwrite=force)
                    (outcome.generated if written else outcome.skipped).append(key)
                except Exception as exc:  # one organization-day's failure must not stop the others
                    outcome.failed[key] = _one_line(exc)
                done += 1
                if progress:
                    progress(done, total)
                if time.monotonic() - last_saved > PROGRESS_SAVE_SECONDS:  # not a store write per report
                    self._update_progress(outcome, done, total)
                    last_saved = time.monotonic()

    def _update_progress(self, outcome: JobOutcome, done: int, total: int) -> None:
        outcome.job = self.store.update_job(
            outcome.job.id,
            progress=round(done / total, 4) if total else 1.0,
            counts=_counts(outcome),
        )

    def _start_job(self, kind: str, org_id: str | None, start: date | None, end: date | None) -> JobOutcome:
        job = self.store.create_job(JobRun(kind=kind, org_id=org_id, start_date=start, end_date=end))
        return JobOutcome(job=job)

    def _finish_job(self, outcome: JobOutcome, error: str | None = None) -> JobOutcome:
        if error:
            status = "failed"
        elif outcome.failed:
            status = "partial" if outcome.generated or outcome.skipped else "failed"
        else:
            status = "succeeded"
        outcome.job = self.store.update_job(
            outcome.job.id,
            status=status,
            finished_at=datetime.now(UTC),
            progress=outcome.job.progress if error else 1.0,
            counts=_counts(outcome),
            error=error or (next(iter(outcome.failed.values())) if outcome.failed else None),
            details={
                "failed": outcome.failed,
                "generated": outcome.generated[:1000],
                "skipped": outcome.skipped[:1000],
            },
        )
        return outcome

    def _run_job(
        self,
        kind: str,
        orgs: list[Organization],
        days_by_org: dict[str, list[date]],
        *,
        force: bool,
        org_id: str | None,
        start: date,
        end: date,
        progress: ProgressCallback | None = None,
        job: JobOutcome | None = None,
    ) -> JobOutcome:
        """Skip stored days (unless force), one dbt refresh over the needed window, then store reports."""
        outcome = job or self._start_job(kind, org_id, start, end)
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
                self.refresh(min(needed), max(needed), [o for o, days in todo.items() if days])
                self._store_reports(orgs, todo, force=force, outcome=outcome, progress=progress)
        except Exception as exc:
            return self._finish_job(outcome, error=_one_line(exc))
        return self._finish_job(outcome)

    # -- the jobs --------------------------------------------------------------------------------
    def generate(
        self, org_id: str | None = None, day: date | None = None, *, force: bool = False
    ) -> GenerateResult:
        """Refresh the mart for one organization-day, build its report and store it."""
        org = self.organization(org_id)
        day = day or yesterday(org)
        self.check_reportable(org, day)
        with self._day_lock(org.org_id, day):
            existing = None if force else self.store.get_report(org.org_id, day)
            if existing is not None:
                self.store.create_job(
                    JobRun(
                        kind="generate",
                        org_id=org.org_id,
                        start_date=day,
                        end_date=day,
                        status="succeeded",
                        progress=1.0,
                        finished_at=datetime.now(UTC),
                        counts={"generated": 0, "skipped": 1, "failed": 0},
                    )
                )
                return GenerateResult("skipped", self.stored_report(org.org_id, day) or existing.report_data)
        outcome = self._run_job(
            "generate", [org], {org.org_id: [day]}, force=force, org_id=org.org_id, start=day, end=day
        )
        if outcome.job.status == "failed":
            raise RefreshFailed(outcome.job.error or "report generation failed")
        stored = self.stored_report(org.org_id, day)
        if stored is None:
            raise RefreshFailed(f"the report of {org.org_id} on {day} was not stored: {outcome.job.error}")
        return GenerateResult("generated" if outcome.generated else "skipped", stored)

    def backfill(
        self,
        start: date,
        end: date,
        org_id: str | None = None,
        *,
        force: bool = False,
        progress: ProgressCallback | None = None,
        job: JobOutcome | None = None,
    ) -> JobOutcome:
        """Reports for every day of [start, end] of one organization (or every active one)."""
        orgs = self._backfill_organizations(start, end, org_id)
        days = list(date_range(start, end))
        return self._run_job(
            "backfill",
            orgs,
            {org.org_id: days for org in orgs},
            force=force,
            org_id=org_id,
            start=start,
            end=end,
            progress=progress,
            job=job,
        )

    def start_backfill(self, start: date, end: date, org_id: str | None = None) -> JobOutcome:
        """Validate and record a backfill job without running it (the API runs it in the background)."""
        self._backfill_organizations(start, end, org_id)
        return self._start_job("backfill", org_id, start, end)

    def _backfill_organizations(self, start: date, end: date, org_id: str | None) -> list[Organization]:
        """The organizations a backfill of [start, end] covers, once the range is known to be valid."""
        self.check_range(start, end)
        orgs = [self.organization(org_id)] if org_id else self.store.list_organizations(active_only=True)
        for org in orgs:
            self.check_reportable(org, end)
        return orgs

    def run_daily(
        self,
        day: date | None = None,
        org_id: str | None = None,
        *,
        force: bool = False,
        now: datetime | None = None,
    ) -> JobOutcome:
        """Each active organization's yesterday (in its own timezone), or `day` when given."""
        orgs = [self.organization(org_id)] if org_id else self.store.list_organizations(active_only=True)
        days_by_org = {}
        for org in orgs:
            org_day = day or yesterday(org, now)
            self.check_reportable(org, org_day, now)
            days_by_org[org.org_id] = [org_day]
        all_days = [d for days in days_by_org.values() for d in days] or [day or datetime.now(UTC).date()]
        return self._run_job(
            "daily", orgs, days_by_org, force=force, org_id=org_id, start=min(all_days), end=max(all_days)
        )

    def refresh_job(self) -> JobOutcome:
        """The frequent incremental refresh (watermark), recorded as a job run."""
        outcome = self._start_job("refresh", None, None, None)
        try:
            self.refresh()
        except Exception as exc:
            return self._finish_job(outcome, error=_one_line(exc))
        return self._finish_job(outcome)

    # -- organizations -------------------------------------------------------------------------
    def save_organization(self, org: Organization) -> Organization:
        """Create or update an organization; a changed timezone, node or excluded numbers rebuilds its marts."""
        zone(org.timezone)
        previous = self.store.get_organization(org.org_id)
        saved = self.store.upsert_organization(org)
        changed = previous is not None and (
            previous.timezone,
            previous.node_persistent_id,
            sorted(previous.excluded_numbers),
        ) != (saved.timezone, saved.node_persistent_id, sorted(saved.excluded_numbers))
        if changed and self._marts_exist():
            self.refresh(org_ids=[saved.org_id])
        return saved

    def _marts_exist(self) -> bool:
        """Whether the marts and the refresh window have been built in this warehouse."""
        client = get_client(self.settings)
        found = client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}",
            parameters={"db": self.settings.dbt_schema, "names": [*REPORT_TABLES, "int_refresh_window"]},
        ).first_row[0]
        return found == len(REPORT_TABLES) + 1

    def stored_report(self, org_id: str | None, day: date) -> dict[str, Any] | None:
        """A stored report with its `stale` flag, read from the store only."""
        org = self.organization(org_id)
        stored = self.store.get_report(org.org_id, day)
        if stored is None:
            return None
        return with_stale_flag(stored, self.store.get_mart_versions(org.org_id, [day]))


def with_stale_flag(stored: StoredReport, versions: dict[date, MartVersion]) -> dict[str, Any]:
    report = dict(stored.report_data)
    report["stale"] = is_stale(stored, versions)
    return report


def _counts(outcome: JobOutcome) -> dict[str, int]:
    return {
        "generated": len(outcome.generated),
        "skipped": len(outcome.skipped),
        "failed": len(outcome.failed),
    }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def seed_default_organization(jobs: Jobs) -> Organization | None:
    """Register the organization of ORG_ID / BROKER_NODE_PERSISTENT_ID / ... when configured."""
    settings = jobs.settings
    if not settings.org_id:
        return None
    if not settings.broker_node_persistent_id:
        raise JobError("ORG_ID is set but BROKER_NODE_PERSISTENT_ID is not: set both")
    existing = jobs.store.get_organization(settings.org_id)
    org = Organization(
        org_id=settings.org_id,
        name=settings.client_name or (existing.name if existing else settings.org_id),
        node_persistent_id=settings.broker_node_persistent_id,
        timezone=settings.default_timezone,
        excluded_numbers=settings.excluded_numbers,
        is_active=existing.is_active if existing else True,
    )
    return jobs.save_organization(org)
