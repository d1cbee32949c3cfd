"""The application layer, wired once: what the API's routers and the CLI's operations call."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from reports_store import ReportStore, StoreError, open_store
from service.access.audit import Audit
from service.access.tokens import Tokens
from service.core.config import Settings
from service.jobs.refresh import Refresher
from service.jobs.report_jobs import ReportJobs
from service.notifications import Notifier
from service.organizations.service import Organizations
from service.reports.live import LiveReports
from service.reports.stored import StoredReports


@dataclass
class Services:
    settings: Settings
    store: ReportStore
    refresher: Refresher
    organizations: Organizations
    stored: StoredReports
    jobs: ReportJobs
    live: LiveReports
    tokens: Tokens
    audit: Audit
    notifier: Notifier  # its worker runs in the service only (started by the API's lifespan)

    @classmethod
    def open(cls, settings: Settings, store: ReportStore | None = None) -> Services:
        store = store or open_store(settings.reports_store_url)
        refresher = Refresher(settings, store)
        organizations = Organizations(settings, store, refresher)
        stored = StoredReports(settings, store)
        live = LiveReports(settings)
        refresher.listeners.append(live.invalidate)
        jobs = ReportJobs(settings, store, organizations, refresher, stored)
        refresher.listeners.append(jobs.restater.restate_changed)  # after every refresh
        notifier = Notifier(settings, store)
        jobs.recorder.observers.append(notifier.job_finished)  # job.succeeded / job.failed
        jobs.restater.observers.append(notifier.report_restated)  # report.restated
        jobs.stored_observers.append(notifier.report_stored)  # kpi.anomaly of scheduled reports
        return cls(
            settings,
            store,
            refresher,
            organizations,
            stored,
            jobs,
            live,
            Tokens(settings, store),
            Audit(store),
            notifier,
        )

    def close(self) -> None:
        self.notifier.close()
        try:
            with suppress(StoreError):  # an unavailable store loses a minute of last-used hints
                self.tokens.write_uses()
        finally:
            self.store.close()
