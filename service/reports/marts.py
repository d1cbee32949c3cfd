"""Reading the marts: one MartDay per organization and local date, three queries for any size.

A report read also takes the earlier days its comparisons need (metrics only, in the same metrics
query: the date range is widened) and its days' anomaly flags (one query of the baselines model).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import orjson
from clickhouse_connect.driver.client import Client

from service.core.calendar import FIRST_DATE
from service.reports.catalog import BREAKDOWNS_MODEL, METRICS_MODEL, Catalog

REPORT_TABLES = (METRICS_MODEL, BREAKDOWNS_MODEL)
# Rebuilt whole from the metrics mart by any `dbt run`, so it is not part of "the marts exist"
# (which turns a missing mart into a full rebuild).
BASELINES_MODEL = "agg_daily_org_kpi_baselines"


@dataclass(frozen=True)
class Anomaly:
    """A rate KPI flagged on a day by agg_daily_org_kpi_baselines (unrounded numbers)."""

    kpi: str
    value: float
    baseline_median: float
    z: float | None  # None: unbounded (the baseline is flat and the day differs)
    direction: str


@dataclass
class MartDay:
    """One organization-day of the marts: metric sums and breakdown counts."""

    org_id: str
    report_date: date
    metrics: dict[str, float]
    breakdowns: dict[str, dict[str | None, int]]
    refreshed_at: datetime | None
    anomalies: list[Anomaly] = field(default_factory=list)
    loaded_at: datetime | None = None  # the newest source row behind the day (input watermark)

    def fingerprint(self) -> str:
        """A hash of the numbers only, so rebuilding a day with the same data keeps it."""
        counts = sorted((d, sorted(v.items(), key=str)) for d, v in self.breakdowns.items())
        payload = [sorted(self.metrics.items()), counts]
        return hashlib.sha256(orjson.dumps(payload, default=str)).hexdigest()[:16]


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.year <= 1970:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def read_mart_days(
    client: Client,
    schema: str,
    catalog: Catalog,
    org_ids: Sequence[str],
    start: date,
    end: date,
    *,
    history_from: date | None = None,
    anomalies: bool = False,
) -> dict[tuple[str, date], MartDay]:
    """Mart rows of `org_ids` for local dates [start, end] in database `schema`.

    `history_from` (before `start`) widens the metrics query to the earlier days comparisons
    need: those days carry metrics only (no breakdowns, no anomalies). `anomalies` adds the
    flags of [start, end] from the baselines model (one more query).
    """
    params = {"org_ids": list(org_ids), "start": start, "end": end}
    columns = catalog.metric_columns
    # Never before ClickHouse's first Date: a report of 1970-01-01 just has no earlier days.
    first = max(min(history_from, start), FIRST_DATE) if history_from else start
    metrics = client.query(
        f"SELECT org_id, report_date, refreshed_at, loaded_at, {', '.join(columns)} FROM {schema}.{METRICS_MODEL} "
        "WHERE org_id IN {org_ids:Array(String)} AND report_date BETWEEN {first:Date} AND {end:Date}",
        parameters=params | {"first": first},
    )
    days: dict[tuple[str, date], MartDay] = {}
    for org_id, report_date, refreshed_at, loaded_at, *values in metrics.result_rows:
        days[(org_id, report_date)] = MartDay(
            org_id,
            report_date,
            dict(zip(columns, values, strict=True)),
            {},
            _utc(refreshed_at),
            loaded_at=_utc(loaded_at),
        )
    breakdowns = client.query(
        f"SELECT org_id, report_date, dimension, value, call_count FROM {schema}.{BREAKDOWNS_MODEL} "
        "WHERE org_id IN {org_ids:Array(String)} AND report_date BETWEEN {start:Date} AND {end:Date} "
        "AND dimension IN {dimensions:Array(String)}",
        parameters=params | {"dimensions": list(catalog.breakdown_keys)},
    )
    for org_id, report_date, dimension, value, count in breakdowns.result_rows:
        day = days.get((org_id, report_date))
        if day is not None:
            day.breakdowns.setdefault(dimension, {})[value] = count
    if anomalies:
        _attach_anomalies(client, schema, params, days)
    return days


def _attach_anomalies(
    client: Client, schema: str, params: dict[str, object], days: dict[tuple[str, date], MartDay]
) -> None:
    """The flagged KPIs of each day in [start, end], from the baselines model (one query)."""
    rows = client.query(
        f"SELECT org_id, report_date, kpi, value, baseline_median, z, direction FROM {schema}.{BASELINES_MODEL} "
        "WHERE org_id IN {org_ids:Array(String)} AND report_date BETWEEN {start:Date} AND {end:Date} "
        "AND is_anomaly",
        parameters=params,
    )
    for org_id, report_date, kpi, value, median, z, direction in rows.result_rows:
        day = days.get((org_id, report_date))
        if day is not None:
            day.anomalies.append(Anomaly(kpi, value, median, z, direction))


def marts_exist(client: Client, schema: str) -> bool:
    """Whether the report marts and the refresh window have been built in `schema`."""
    names = [*REPORT_TABLES, "int_refresh_window"]
    found = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}",
        parameters={"db": schema, "names": names},
    ).first_row[0]
    return found == len(names)
