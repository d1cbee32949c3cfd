"""Response models the OpenAPI document describes; request bodies are the application's own models.

KPI names appear nowhere here: a report's `kpis` follow the catalogue (`GET /api/catalog`), and
the live KPI endpoints get models built from it (`kpi_response_model`).
"""

from __future__ import annotations

from datetime import date as LocalDate
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from reports_store import RevisionReason
from service.reports.catalog import Kpi


class DateRange(BaseModel):
    tz: str = Field(description="The organization's timezone.")
    start_date: str = Field(description="Start of the first local day, ISO 8601 with offset.")
    end_date: str = Field(description="Start of the local day after the last one, ISO 8601 with offset.")


class BreakdownItem(BaseModel):
    value: str | None = Field(description="The value as the agent wrote it; null for no value.")
    count: int = Field(description="Classified calls with this value.")
    percentage: float | None = Field(description="100 x count / classified calls, 2 decimals.")


class Report(BaseModel):
    model_config = ConfigDict(extra="allow")

    date_range: DateRange
    kpis: dict[str, Any] = Field(description="Every KPI of the catalogue (GET /api/catalog), by key.")
    breakdowns: dict[str, list[BreakdownItem]]
    metadata: dict[str, Any] = Field(
        description="org_id, org_name, generated_at, mart_refreshed_at, metrics_version and more."
    )
    stale: bool | None = Field(
        default=None, description="Stored reports: the marts for that day changed after it was generated."
    )
    partial: bool | None = Field(
        default=None, description="Live reports: the window includes today, a day that is not over yet."
    )
    revision: int | None = Field(
        default=None, description="Stored reports: which revision this is (1, 2, ...; see /revisions)."
    )
    comparisons: dict[str, Any] | None = Field(
        default=None,
        description="Per KPI: against the previous day and the same weekday a week earlier "
        "({value, delta, delta_percent}, null without enough calls).",
    )
    anomalies: list[dict[str, Any]] | None = Field(
        default=None,
        description="Rate KPIs far from their same-weekday baseline: {kpi, value, baseline_median, z, direction}.",
    )


class GeneratedReport(Report):
    skipped: bool = Field(description="The report existed and was returned as stored (no `force`).")


class ReportSummary(BaseModel):
    """A stored report's dates and each catalogue KPI's `summary_key` value."""

    model_config = ConfigDict(extra="allow")

    org_id: str
    report_date: LocalDate
    created_at: datetime | None = None
    updated_at: datetime | None = None


class RevisionSummary(BaseModel):
    revision: int = Field(description="1 for the first report of the day, then 2, 3, ...")
    generated_at: datetime = Field(description="When this revision was stored.")
    reason: RevisionReason = Field(description="scheduled, manual, backfill or restated.")
    metrics_version: str | None = Field(description="The metric definitions it was computed with.")
    mart_refreshed_at: str | None = Field(default=None, description="The mart build its numbers came from.")
    input_watermark: str | None = Field(default=None, description="The newest source row behind its numbers.")
    stale: bool = Field(description="The day's mart numbers differ from this revision's now.")


class ReportChange(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    path: str = Field(
        description="Dotted path of the value, list items by label: kpis.total_calls, "
        "breakdowns.call_stage[TRANSFER_SUCCEEDED].count."
    )
    from_: Any = Field(alias="from", description="The value in the older revision (null: absent).")
    to: Any = Field(description="The value in the newer revision (null: absent).")


class ReportDiff(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", description="The older revision.")
    to: int = Field(description="The newer revision.")
    changes: list[ReportChange]


class DbtRequest(BaseModel):
    args: list[str] = Field(
        min_length=1, max_length=200, description="dbt arguments, e.g. ['build', '--select', 'marts']."
    )


def _kpi_field(kpi: Kpi) -> tuple[Any, Any]:
    if kpi.object_keys is not None:
        return dict[str, Any], Field(description=kpi.description or kpi.label)
    if kpi.format == "int":
        return int, Field(description=kpi.description or kpi.label)
    return float | None, Field(description=kpi.description or kpi.label)


def kpi_response_model(name: str, kpis: tuple[Kpi, ...]) -> type[BaseModel]:
    """The answer of a live KPI endpoint: one nested KPI's object, or several KPIs by key."""
    if len(kpis) == 1 and kpis[0].object_keys is not None:
        keys = kpis[0].object_keys
        fields: dict[str, Any] = {
            keys.count: (int, Field(description="Calls counted.")),
            keys.denominator: (int, Field(description="Classified calls.")),
            keys.percentage: (float | None, Field(description="100 x count / denominator, 2 decimals.")),
        }
    else:
        fields = {kpi.key: _kpi_field(kpi) for kpi in kpis}
    return create_model(name, **fields)
