"""The report store interface the service codes against; backends live in their own modules."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import date
from types import TracebackType
from typing import Any, Self

from reports_store.models import JobRun, MartVersion, Organization, StoredReport


class ReportStore(ABC):
    """Organizations, their daily report snapshots, job runs and mart versions.

    Implementations are safe to share between threads; methods raise `StoreError` subclasses.
    """

    url: str

    # -- organizations -------------------------------------------------------------------------
    @abstractmethod
    def upsert_organization(self, org: Organization) -> Organization:
        """Create or update an organization (keyed by org_id) and return it as stored."""

    @abstractmethod
    def get_organization(self, org_id: str) -> Organization | None:
        """The organization, or None when unknown."""

    @abstractmethod
    def list_organizations(self, active_only: bool = False) -> list[Organization]:
        """All organizations ordered by org_id."""

    @abstractmethod
    def deactivate_organization(self, org_id: str) -> None:
        """Mark an organization inactive; raises UnknownOrganization."""

    # -- reports -------------------------------------------------------------------------------
    @abstractmethod
    def save_report(
        self, org_id: str, report_date: date, report_data: Mapping[str, Any], *, overwrite: bool = True
    ) -> bool:
        """Store a day's report atomically; with overwrite=False keep an existing one.

        Returns whether the report was written. Raises UnknownOrganization.
        """

    @abstractmethod
    def get_report(self, org_id: str, report_date: date) -> StoredReport | None:
        """One day's report, or None."""

    @abstractmethod
    def get_latest_report(self, org_id: str) -> StoredReport | None:
        """The report with the latest report_date, or None."""

    @abstractmethod
    def get_recent_reports(self, org_id: str, limit: int = 30) -> list[StoredReport]:
        """Up to `limit` reports, newest report_date first."""

    @abstractmethod
    def list_report_summaries(self, org_id: str, limit: int = 30, offset: int = 0) -> list[dict[str, Any]]:
        """Headline KPIs of reports, newest report_date first (see `summarize_report`)."""

    @abstractmethod
    def count_reports(self, org_id: str) -> int:
        """How many reports the organization has."""

    @abstractmethod
    def report_dates(self, org_id: str, start: date, end: date) -> set[date]:
        """Dates in [start, end] that have a stored report."""

    # -- job runs ------------------------------------------------------------------------------
    @abstractmethod
    def create_job(self, job: JobRun) -> JobRun:
        """Insert a job run; returns it with id and started_at assigned."""

    @abstractmethod
    def update_job(self, job_id: int, **fields: Any) -> JobRun:
        """Change some fields of a job run and return it; raises UnknownJob."""

    @abstractmethod
    def get_job(self, job_id: int) -> JobRun | None:
        """The job run, or None."""

    @abstractmethod
    def list_jobs(
        self,
        limit: int = 50,
        offset: int = 0,
        *,
        org_id: str | None = None,
        kind: str | None = None,
        status: str | None = None,
    ) -> list[JobRun]:
        """Job runs, newest first, optionally filtered."""

    # -- mart versions -------------------------------------------------------------------------
    @abstractmethod
    def record_mart_versions(self, rows: Iterable[MartVersion | Mapping[str, Any]]) -> int:
        """Upsert mart versions per (org_id, report_date); returns how many rows were given."""

    @abstractmethod
    def get_mart_versions(self, org_id: str, dates: Iterable[date] | None = None) -> dict[date, MartVersion]:
        """Recorded mart versions of an organization by date (all dates when `dates` is None)."""

    # -- lifecycle -----------------------------------------------------------------------------
    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the open store (LATEST_VERSION once opened)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
