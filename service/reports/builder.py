"""Mart days -> the report JSON of the design (the seed's keys), following the KPI catalogue.

Beyond the seed's keys every report has `comparisons` and `anomalies`:

- `comparisons[kpi][previous_day | previous_week]` compares the KPI's headline value with an
  earlier period: `{"value": earlier, "delta": this - earlier, "delta_percent": delta / earlier *
  100}` (rounded to 2 places, from the values as the report shows them; delta_percent is None when
  the earlier value is 0, delta None when either value is None). A one-day report compares with
  the day before and the same weekday a week earlier; a range of n days with the n days just
  before it and the same n days a week earlier. The entry is None when a day of the earlier period
  has no mart row or the period has fewer calls than the var comparison_min_calls.
- `anomalies` lists the rate KPIs the baselines model flags on the report's day(s), in catalogue
  order: `{"kpi", "value", "baseline_median", "z", "direction"}`, with `"date"` first in range
  reports (days in date order). z is None when unbounded (a flat baseline the day differs from).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from reports_store import Organization
from service.core.calendar import start_of_day, zone
from service.reports.catalog import CALLS_COLUMN, Catalog
from service.reports.marts import MartDay, read_mart_days

COMPARISONS = ("previous_day", "previous_week")
History = Mapping[tuple[str, date], MartDay]


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


def comparison_windows(start: date, end: date) -> dict[str, tuple[date, date]]:
    """The earlier periods a report of [start, end] is compared with (see the module docstring)."""
    length = end - start + timedelta(days=1)
    week = timedelta(days=7)
    return {"previous_day": (start - length, end - length), "previous_week": (start - week, end - week)}


def history_start(start: date, end: date) -> date:
    """The first day a report of [start, end] reads for its comparisons."""
    return min(first for first, _ in comparison_windows(start, end).values())


def read_report_days(
    client: Client,
    schema: str,
    catalog: Catalog,
    org_ids: Sequence[str],
    start: date,
    end: date,
    *,
    report_days: int | None = None,
) -> dict[tuple[str, date], MartDay]:
    """Everything reports of `org_ids` within [start, end] are built from, in one read of the
    marts: the days with their anomaly flags, and the earlier days their comparisons need.
    `report_days`: reports of that many days each (the stored daily reports: 1); default one
    report of the whole window (a live report)."""
    first_report_end = end if report_days is None else start + timedelta(days=report_days - 1)
    return read_mart_days(
        client,
        schema,
        catalog,
        org_ids,
        start,
        end,
        history_from=history_start(start, first_report_end),
        anomalies=True,
    )


def _period_metrics(
    org_id: str, first: date, last: date, history: History, min_calls: int
) -> dict[str, float] | None:
    """Summed metrics of an earlier period, or None when a day is missing or calls are too few."""
    days = [history.get((org_id, first + timedelta(days=i))) for i in range((last - first).days + 1)]
    if any(day is None for day in days):
        return None
    metrics, _ = combine_days(day for day in days if day is not None)
    return metrics if metrics.get(CALLS_COLUMN, 0) >= min_calls else None


def comparison(current: float | None, earlier: float | None) -> dict[str, Any]:
    """One comparison entry from the headline values as the report shows them."""
    delta = round(current - earlier, 2) if current is not None and earlier is not None else None
    percent = round(delta / earlier * 100, 2) if delta is not None and earlier else None
    return {"value": earlier, "delta": delta, "delta_percent": percent}


def build_comparisons(
    org_id: str, start: date, end: date, metrics: dict[str, float], history: History, catalog: Catalog
) -> dict[str, dict[str, dict[str, Any] | None]]:
    """Every KPI against the earlier periods of [start, end] (None: no comparable period)."""
    current = catalog.headline_values(metrics)
    result: dict[str, dict[str, dict[str, Any] | None]] = {key: {} for key in current}
    for name, (first, last) in comparison_windows(start, end).items():
        earlier_metrics = _period_metrics(org_id, first, last, history, catalog.comparison_min_calls)
        earlier = catalog.headline_values(earlier_metrics) if earlier_metrics is not None else None
        for key, value in current.items():
            result[key][name] = comparison(value, earlier[key]) if earlier is not None else None
    return result


def report_anomalies(days: Sequence[MartDay], catalog: Catalog, *, dated: bool) -> list[dict[str, Any]]:
    """The flagged KPIs of the report's days, by date then catalogue order (KPIs it lacks are left out)."""
    order = catalog.kpi_order
    items: list[dict[str, Any]] = []
    for day in sorted(days, key=lambda d: d.report_date):
        for anomaly in sorted(day.anomalies, key=lambda a: order.get(a.kpi, len(order))):
            if anomaly.kpi not in order:
                continue
            item = {"date": day.report_date.isoformat()} if dated else {}
            item |= {
                "kpi": anomaly.kpi,
                "value": round(anomaly.value, 2),
                "baseline_median": round(anomaly.baseline_median, 2),
                "z": round(anomaly.z, 2) if anomaly.z is not None else None,
                "direction": anomaly.direction,
            }
            items.append(item)
    return items


def _latest(tz: Any, moments: Iterable[datetime | None]) -> str | None:
    """The latest of `moments` in the organization's time, to the second (None: none known)."""
    known = [moment for moment in moments if moment]
    return max(known).astimezone(tz).replace(microsecond=0).isoformat() if known else None


def build_report(
    org: Organization,
    start: date,
    end: date,
    days: Sequence[MartDay],
    catalog: Catalog,
    *,
    history: History | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """The report of `org` for local dates [start, end] from its mart days.

    `history` holds the mart days (by organization and date) its comparisons read, from
    `history_start(start, end)` on; without it no earlier period is known.
    """
    tz = zone(org.timezone)
    metrics, breakdowns = combine_days(days)
    classified = int(metrics.get("classified_calls", 0))
    generated = (generated_at or datetime.now(UTC)).astimezone(tz).replace(microsecond=0)
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
            "mart_refreshed_at": _latest(tz, [day.refreshed_at for day in days]),
            # The newest source row behind these numbers: what a later revision saw more of.
            "input_watermark": _latest(tz, [day.loaded_at for day in days]),
            "metrics_version": catalog.metrics_version,
            "mart_fingerprint": days[0].fingerprint() if len(days) == 1 else None,
            "report_start_date": start.isoformat(),
            "report_end_date": end.isoformat(),
            "days_in_marts": len(days),
            # The unrounded mart sums behind the KPIs (exports carry each KPI's count and denominator).
            "mart_sums": {column: metrics.get(column, 0) for column in catalog.metric_columns},
        },
        "comparisons": build_comparisons(org.org_id, start, end, metrics, history or {}, catalog),
        "anomalies": report_anomalies(days, catalog, dated=start != end),
    }
