"""The report store interface the service codes against; backends live in their own modules.

One ABC per aggregate (organizations, daily report snapshots, job runs, mart versions), so each
stays small as aggregates are added; `ReportStore` composes them with the store's lifecycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self

from reports_store.models import (
    ApiToken,
    AuditRecord,
    JobRun,
    MartVersion,
    NotificationAttempt,
    NotificationDelivery,
    Organization,
    ReportOverview,
    ReportRevision,
    RevisionReason,
    StoredReport,
)


class OrganizationStore(ABC):
    """The organizations whose calls are reported on."""

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


class ReportSnapshotStore(ABC):
    """Each organization's daily report snapshots: the current one per (org_id, report_date), and
    every revision ever stored (appended, never changed or deleted)."""

    @abstractmethod
    def save_report(
        self,
        org_id: str,
        report_date: date,
        report_data: Mapping[str, Any],
        *,
        overwrite: bool = True,
        reason: RevisionReason = "manual",
        input_watermark: str | None = None,
    ) -> bool:
        """Store a day's report as its next revision, atomically; with overwrite=False keep an
        existing one. Returns whether the report was written. Raises UnknownOrganization.
        """

    @abstractmethod
    def list_revisions(self, org_id: str, report_date: date) -> list[ReportRevision]:
        """Every revision of a day's report, oldest first (kept after the report is deleted)."""

    @abstractmethod
    def get_revision(self, org_id: str, report_date: date, revision: int) -> ReportRevision | None:
        """One revision of a day's report, or None."""

    @abstractmethod
    def changed_reports(self, since: date) -> list[tuple[str, date]]:
        """(org_id, report_date) of the current reports dated `since` or later whose day's recorded
        mart fingerprint differs from the report's (the `stale` rule), oldest first; one query."""

    @abstractmethod
    def reports_between(self, org_id: str, start: date, end: date) -> list[StoredReport]:
        """The current reports of [start, end], oldest first."""

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
    def list_reports(self, org_id: str, limit: int = 30, offset: int = 0) -> list[StoredReport]:
        """A page of reports, newest report_date first."""

    @abstractmethod
    def count_reports(self, org_id: str) -> int:
        """How many reports the organization has."""

    @abstractmethod
    def report_dates(self, org_id: str, start: date, end: date) -> set[date]:
        """Dates in [start, end] that have a stored report."""

    @abstractmethod
    def delete_report(self, org_id: str, report_date: date) -> bool:
        """Remove one day's report; True when there was one to remove."""

    @abstractmethod
    def report_overview(self, stale_since: date) -> list[ReportOverview]:
        """Each organization that has reports: its newest report (date, first stored at) and how
        many of its reports dated `stale_since` or later are stale (the day's recorded mart
        fingerprint differs from the report's, the rule of `service.reports.stored.is_stale`).

        Read-only and cheap (two queries, no report bodies read back), for every metrics scrape.
        """


class JobRunStore(ABC):
    """Runs of background jobs (daily generation, backfills...) with their progress and outcome."""

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


class MartVersionStore(ABC):
    """Which warehouse mart build each stored day was computed from."""

    @abstractmethod
    def record_mart_versions(self, rows: Iterable[MartVersion | Mapping[str, Any]]) -> int:
        """Upsert mart versions per (org_id, report_date); returns how many rows were given."""

    @abstractmethod
    def get_mart_versions(self, org_id: str, dates: Iterable[date] | None = None) -> dict[date, MartVersion]:
        """Recorded mart versions of an organization by date (all dates when `dates` is None)."""


class TokenStore(ABC):
    """Access tokens: a hash of each secret, its scope, expiry and revocation."""

    @abstractmethod
    def create_token(self, token: ApiToken) -> ApiToken:
        """Insert a token (its id is chosen by the caller)."""

    @abstractmethod
    def get_token(self, token_id: str) -> ApiToken | None:
        """The token, or None."""

    @abstractmethod
    def list_tokens(self) -> list[ApiToken]:
        """Every token, newest first."""

    @abstractmethod
    def revoke_token(self, token_id: str, at: datetime) -> ApiToken | None:
        """Mark a token revoked (kept for the audit trail); None when unknown."""

    @abstractmethod
    def touch_tokens(self, uses: Mapping[str, datetime]) -> None:
        """Record when tokens were last used (token id -> time), in one transaction."""


class AuditStore(ABC):
    """The append-only trail of admin actions."""

    @abstractmethod
    def record_audit(self, record: AuditRecord) -> AuditRecord:
        """Append one record; returns it with its id."""

    @abstractmethod
    def list_audit(self, limit: int = 50, offset: int = 0) -> list[AuditRecord]:
        """Records, newest first."""


class NotificationStore(ABC):
    """Webhook deliveries (one per event and URL) with every attempt, and keys of events sent once."""

    @abstractmethod
    def create_delivery(self, delivery: NotificationDelivery) -> NotificationDelivery:
        """Insert a delivery; returns it with its id."""

    @abstractmethod
    def record_attempt(
        self, delivery_id: int, attempt: NotificationAttempt, state: str
    ) -> NotificationDelivery:
        """Append an attempt and set the delivery's state, attempt count and next attempt time."""

    @abstractmethod
    def get_delivery(self, delivery_id: int) -> NotificationDelivery | None:
        """The delivery with its attempts, or None."""

    @abstractmethod
    def list_deliveries(self, limit: int = 50, offset: int = 0) -> list[NotificationDelivery]:
        """Deliveries with their attempts, newest first."""

    @abstractmethod
    def due_deliveries(self, now: datetime, limit: int = 100) -> list[NotificationDelivery]:
        """Pending deliveries whose next attempt is due at `now`, oldest due first (no attempts)."""

    @abstractmethod
    def next_pending_at(self) -> datetime | None:
        """The earliest next attempt time of a pending delivery, or None."""

    @abstractmethod
    def resend_delivery(self, delivery_id: int, at: datetime) -> NotificationDelivery | None:
        """Make a delivery pending again with a fresh attempt budget, due `at`; None when unknown."""

    @abstractmethod
    def remember_key(self, key: str, at: datetime) -> bool:
        """Record an event key; True the first time, False when it was already recorded."""


class ReportStore(
    OrganizationStore,
    ReportSnapshotStore,
    JobRunStore,
    MartVersionStore,
    TokenStore,
    AuditStore,
    NotificationStore,
):
    """Every aggregate in one store file, plus the store's lifecycle.

    Implementations are safe to share between threads; methods raise `StoreError` subclasses.
    """

    url: str

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version of the open store (LATEST_VERSION once opened)."""

    @abstractmethod
    def data_version(self) -> int | None:
        """A number that changes whenever a write is committed to the store file.

        Commits from any connection, thread or store object count (and, for SQLite, from other
        processes), so caches can compare it without knowing the backend: equal values mean nothing
        changed in between. None means "unknown": do not cache.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
