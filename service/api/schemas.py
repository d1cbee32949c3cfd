"""Request and response models, so the OpenAPI document describes every field."""

from __future__ import annotations

from datetime import date as LocalDate
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from service.core.config import IDENTIFIER_RE, PHONE_RE


def _identifier(value: str, what: str) -> str:
    if not IDENTIFIER_RE.match(value):
        raise ValueError(f"{what} must be 1-128 characters of letters, digits and . _ : -")
    return value


def _numbers(values: list[str] | None) -> list[str] | None:
    for number in values or []:
        if not PHONE_RE.match(number):
            raise ValueError(f"excluded number {number!r} is not in E.164 form (+ then 2-15 digits)")
    return values


class DateRange(BaseModel):
    tz: str = Field(description="The organization's timezone.")
    start_date: str = Field(description="Start of the first local day, ISO 8601 with offset.")
    end_date: str = Field(description="Start of the local day after the last one, ISO 8601 with offset.")


class BreakdownItem(BaseModel):
    value: str | None = Field(description="The value as the agent wrote it; null for no value.")
    count: int = Field(description="Classified calls with this value.")
    percentage: float | None = Field(description="100 x count / classified calls, 2 decimals.")


class CountShare(BaseModel):
    count: int
    total_calls: int
    percentage: float | None


class CarrierTransferShare(BaseModel):
    carrier_asked_count: int
    total_call_attempts: int
    carrier_asked_percentage: float | None


class SuccessfulTransferShare(BaseModel):
    successfully_transferred_for_booking_count: int
    total_calls: int
    successfully_transferred_for_booking_percentage: float | None


class Kpis(BaseModel):
    model_config = {"extra": "allow"}  # KPIs added in the mart's YAML pass through

    total_calls: int
    classified_calls: int
    total_duration_hours: float
    avg_minutes_per_call: float | None
    success_rate_percent: float | None
    non_convertible_calls_with_carrier_not_qualified: CountShare
    carrier_not_qualified: CountShare
    carrier_transfer_over_total_call_attempts: CarrierTransferShare
    successfully_transferred_for_booking: SuccessfulTransferShare
    non_convertible_calls: CountShare | None = None


class Report(BaseModel):
    model_config = {"extra": "allow"}

    date_range: DateRange
    kpis: Kpis
    breakdowns: dict[str, list[BreakdownItem]]
    metadata: dict[str, Any] = Field(
        description="org_id, org_name, generated_at, mart_refreshed_at, metrics_version and more."
    )
    stale: bool | None = Field(
        default=None, description="Stored reports: the marts for that day changed after it was generated."
    )


class TotalsStats(BaseModel):
    total_calls: int
    classified_calls: int
    total_duration_hours: float
    avg_minutes_per_call: float | None


class ReportSummary(BaseModel):
    org_id: str
    report_date: LocalDate
    created_at: datetime | None = None
    updated_at: datetime | None = None
    total_calls: int | None = None
    classified_calls: int | None = None
    total_duration_hours: float | None = None
    success_rate_percent: float | None = None
    carrier_transfer_percentage: float | None = None
    successfully_transferred_percentage: float | None = None


class OptionalOrgRequest(BaseModel):
    """A request body whose optional org_id must be a valid identifier."""

    @field_validator("org_id", check_fields=False)
    @classmethod
    def _org(cls, value: str | None) -> str | None:
        return value if value is None else _identifier(value, "org_id")


class GenerateRequest(OptionalOrgRequest):
    org_id: str | None = Field(default=None, description="Default: the default organization.")
    date: LocalDate | None = Field(
        default=None, description="Local date; default: yesterday in the org's zone."
    )
    force: bool = False


class DailyRunRequest(OptionalOrgRequest):
    org_id: str | None = Field(default=None, description="Default: every active organization.")
    date: LocalDate | None = Field(default=None, description="Default: yesterday in each org's zone.")
    force: bool = False


class BackfillRequest(OptionalOrgRequest):
    org_id: str | None = Field(default=None, description="Default: every active organization.")
    start_date: LocalDate
    end_date: LocalDate
    force: bool = False


class Job(BaseModel):
    id: int
    kind: str
    org_id: str | None
    start_date: LocalDate | None
    end_date: LocalDate | None
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    progress: float
    counts: dict[str, int]
    error: str | None
    details: dict[str, Any] = Field(default_factory=dict)


class OrganizationIn(BaseModel):
    org_id: str
    name: str = Field(min_length=1, max_length=200)
    node_persistent_id: str
    timezone: str = "UTC"
    excluded_numbers: list[str] = Field(default_factory=list)

    @field_validator("org_id", "node_persistent_id")
    @classmethod
    def _ids(cls, value: str) -> str:
        return _identifier(value, "identifier")

    @field_validator("excluded_numbers")
    @classmethod
    def _excluded(cls, value: list[str]) -> list[str]:
        return _numbers(value) or []


class OrganizationPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    node_persistent_id: str | None = None
    timezone: str | None = None
    excluded_numbers: list[str] | None = None
    is_active: bool | None = None

    @field_validator("node_persistent_id")
    @classmethod
    def _node(cls, value: str | None) -> str | None:
        return value if value is None else _identifier(value, "node_persistent_id")

    @field_validator("excluded_numbers")
    @classmethod
    def _excluded(cls, value: list[str] | None) -> list[str] | None:
        return _numbers(value)


class OrganizationOut(BaseModel):
    org_id: str
    name: str
    node_persistent_id: str
    timezone: str
    excluded_numbers: list[str]
    is_active: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DbtRequest(BaseModel):
    args: list[str] = Field(min_length=1, description="dbt arguments, e.g. ['build', '--select', 'marts'].")


class DbtResult(BaseModel):
    success: bool
    command: str
    failures: list[str]
    error: str | None
