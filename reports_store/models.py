"""Records the report store keeps: organizations, daily reports and their revisions, job runs, mart versions.

An `Organization` checks its identifiers, timezone and excluded numbers wherever it is built
(API body, CLI options, a row read back from the store), by the rules of `reports_store.rules`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from reports_store.rules import Identifier, PhoneNumber, TimezoneName


class Organization(BaseModel):
    model_config = {"validate_assignment": True}

    org_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    node_persistent_id: Identifier
    timezone: TimezoneName = "UTC"
    excluded_numbers: list[PhoneNumber] = Field(default_factory=list, max_length=1000)
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def calendar_settings(self) -> tuple[str, str, list[str]]:
        """What decides which calls fall on which of its days: a change rebuilds its marts."""
        return self.timezone, self.node_persistent_id, sorted(self.excluded_numbers)


class StoredReport(BaseModel):
    org_id: str
    report_date: date
    report_data: dict[str, Any]
    created_at: datetime | None = None
    updated_at: datetime | None = None  # last overwrite; equals created_at until the report is replaced
    revision: int = 1  # the current revision (every earlier one is kept in the revisions table)


# Why a revision was stored: the daily schedule, a person (generate), a backfill, or an automatic
# restatement after late data changed the day's mart numbers.
RevisionReason = Literal["scheduled", "manual", "backfill", "restated"]
REVISION_REASONS: tuple[RevisionReason, ...] = ("scheduled", "manual", "backfill", "restated")


class ReportRevision(BaseModel):
    """One stored version of a day's report; revisions are appended, never changed or deleted."""

    org_id: str
    report_date: date
    revision: int = Field(ge=1)
    generated_at: datetime
    reason: RevisionReason
    metrics_version: str | None = None
    mart_refreshed_at: str | None = None  # the mart build the numbers came from
    input_watermark: str | None = None  # the newest source row behind the day's mart numbers
    report_data: dict[str, Any]


class ReportOverview(BaseModel):
    """One organization's stored reports at a glance (what the metrics endpoint reads per scrape)."""

    org_id: str
    newest_report_date: date
    newest_report_created_at: datetime | None = None  # when the newest day's report was first stored
    stale_reports: int = 0  # since the date asked for


class JobRun(BaseModel):
    id: int | None = None
    kind: str
    org_id: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = "running"  # running | succeeded | failed | partial | interrupted
    progress: float = 0.0
    counts: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class MartVersion(BaseModel):
    """Which warehouse mart build a day's numbers came from; lets the service spot stale reports."""

    org_id: str
    report_date: date
    mart_refreshed_at: str | None = None
    fingerprint: str | None = None


class ApiToken(BaseModel):
    """An access token as stored: never the secret, only its SHA-256 (`secret_hash`)."""

    id: str
    name: str = Field(min_length=1, max_length=200)
    scope: Literal["reader", "admin"]
    org_ids: list[Identifier] = Field(default_factory=list)
    secret_hash: str = Field(exclude=True, repr=False)
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class AuditRecord(BaseModel):
    """One admin action: who (token id and name, or API_KEY), what, on what, and how it ended."""

    id: int | None = None
    recorded_at: datetime
    actor_id: str
    actor_name: str
    action: str
    target: str | None = None
    outcome: str


class NotificationAttempt(BaseModel):
    """One try to deliver a webhook: the receiver's status code or the network error."""

    attempt: int
    attempted_at: datetime
    status_code: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None  # when the next try is due; None when this one was final


class NotificationDelivery(BaseModel):
    """One event sent to one webhook URL: the exact signed body, its state and every attempt."""

    id: int | None = None
    event_id: str
    event_type: str
    url: str
    body: str
    state: Literal["pending", "delivered", "failed"] = "pending"
    attempts: int = 0  # tries since it was created or last resent
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime | None = None
    history: list[NotificationAttempt] = Field(default_factory=list)
