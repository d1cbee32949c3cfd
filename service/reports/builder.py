"""Mart days -> the report JSON of the design (the seed's keys), following the KPI catalogue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reports_store import Organization
from service.core.calendar import start_of_day, zone
from service.reports.catalog import Catalog
from service.reports.marts import MartDay


def breakdown_items(counts: dict[str | None, int], classified_calls: int) -> list[dict[str, Any]]:
    """Items sorted by count descending, then value ascending with no value last."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))
    return [
        {
            "value": value,
            "count": count,
            "percentage": round(100 * count / classified_calls, 2) if classified_calls else None,
        }
        for value, count in ordered
    ]


def combine_days(days: Iterable[MartDay]) -> tuple[dict[str, float], dict[str, dict[str | None, int]]]:
    """Sum metrics and breakdown counts over several days (a range report)."""
    metrics: dict[str, float] = defaultdict(float)
    breakdowns: dict[str, dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
    for day in days:
        for column, value in day.metrics.items():
            metrics[column] += value or 0
        for dimension, counts in day.breakdowns.items():
            for value, count in counts.items():
                breakdowns[dimension][value] += count
    return dict(metrics), {d: dict(c) for d, c in breakdowns.items()}


def build_report(
    org: Organization,
    start: date,
    end: date,
    days: Sequence[MartDay],
    catalog: Catalog,
    *,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report of `org` for local dates [start, end] from its mart days."""
    tz = zone(org.timezone)
    metrics, breakdowns = combine_days(days)
    classified = int(metrics.get("classified_calls", 0))
    refreshed = [day.refreshed_at for day in days if day.refreshed_at]
    generated = (generated_at or datetime.now(UTC)).astimezone(tz).replace(microsecond=0)
    mart_refreshed = max(refreshed).astimezone(tz).replace(microsecond=0).isoformat() if refreshed else None
    return {
        "date_range": {
            "tz": org.timezone,
            "start_date": start_of_day(start, tz).isoformat(),
            "end_date": start_of_day(end + timedelta(days=1), tz).isoformat(),
        },
        "kpis": catalog.kpi_values(metrics),
        "breakdowns": {
            key: breakdown_items(breakdowns.get(key, {}), classified) for key in catalog.breakdown_keys
        },
        "metadata": {
            "org_id": org.org_id,
            "org_name": org.name,
            "generated_at": generated.isoformat(),
            "mart_refreshed_at": mart_refreshed,
            "metrics_version": catalog.metrics_version,
            "mart_fingerprint": days[0].fingerprint() if len(days) == 1 else None,
            "report_start_date": start.isoformat(),
            "report_end_date": end.isoformat(),
            "days_in_marts": len(days),
        },
    }
