"""Records the report store keeps: organizations, daily reports and job runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class Organization(BaseModel):
    org_id: str
    name: str
    node_persistent_id: str
    timezone: str = "UTC"
    excluded_numbers: list[str] = Field(default_factory=list)
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None


class StoredReport(BaseModel):
    org_id: str
    report_date: date
    report_data: dict[str, Any]
    created_at: datetime | None = None
    updated_at: datetime | None = None  # last overwrite; equals created_at until the report is replaced


class JobRun(BaseModel):
    id: int | None = None
    kind: str
    org_id: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str = "running"  # running | succeeded | failed | partial
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
