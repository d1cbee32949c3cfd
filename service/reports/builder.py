"""Mart rows -> the report JSON of the design (the seed's keys), following the mart's YAML.

The KPIs and breakdowns are declared next to the mart (`meta.report_kpis` of
agg_daily_org_metrics, `meta.report_breakdowns` of agg_daily_org_breakdowns); this module only
follows that declaration. Two set-based queries serve any number of organizations x days.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from reports_store import Organization
from service.core.calendar import start_of_day, zone
from service.core.config import Settings

METRICS_MODEL = "agg_daily_org_metrics"
BREAKDOWNS_MODEL = "agg_daily_org_breakdowns"
REPORT_TABLES = (METRICS_MODEL, BREAKDOWNS_MODEL)
# Models whose compiled SQL defines the numbers (the refresh window model only selects days).
DEFINING_MODELS_PREFIXES = ("stg_", "int_calls", "fct_", "agg_")


@dataclass(frozen=True)
class KpiSpec:
    key: str
    numerator: str
    denominator: str | None = None
    multiply_by: float = 1
    divide_by: float = 1
    object_keys: dict[str, str] | None = None


@dataclass(frozen=True)
class ReportSpec:
    kpis: tuple[KpiSpec, ...]
    breakdowns: tuple[str, ...]
    metrics_version: str

    @property
    def metric_columns(self) -> list[str]:
        numerators = {kpi.numerator for kpi in self.kpis}
        return sorted(numerators | {kpi.denominator for kpi in self.kpis if kpi.denominator})


class ReportSpecError(RuntimeError):
    pass


def load_report_spec(settings: Settings) -> ReportSpec:
    """The report declaration from dbt's manifest (written by every dbt invocation)."""
    try:
        manifest = orjson.loads(settings.manifest_path.read_bytes())
    except FileNotFoundError:
        raise ReportSpecError("dbt manifest missing: run `python -m service dbt parse` first") from None
    models = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    try:
        kpis = tuple(KpiSpec(**item) for item in models[METRICS_MODEL]["meta"]["report_kpis"])
        breakdowns = tuple(models[BREAKDOWNS_MODEL]["meta"]["report_breakdowns"])
    except (KeyError, TypeError) as exc:
        raise ReportSpecError(f"Report declaration missing or invalid in the marts' YAML: {exc}") from None
    digest = hashlib.sha256()
    for name in sorted(models):
        if name.startswith(DEFINING_MODELS_PREFIXES):
            node = models[name]
            digest.update(name.encode())
            digest.update((node.get("compiled_code") or node.get("raw_code") or "").encode())
    digest.update(orjson.dumps([kpi.__dict__ for kpi in kpis]))
    digest.update(orjson.dumps(breakdowns))
    return ReportSpec(kpis=kpis, breakdowns=breakdowns, metrics_version=digest.hexdigest()[:16])


# -- reading the marts ------------------------------------------------------------------------


@dataclass
class MartDay:
    """One organization-day of the marts: metric sums and breakdown counts."""

    org_id: str
    report_date: date
    metrics: dict[str, float]
    breakdowns: dict[str, dict[str | None, int]]
    refreshed_at: datetime | None

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
    client: Client, settings: Settings, spec: ReportSpec, org_ids: Sequence[str], start: date, end: date
) -> dict[tuple[str, date], MartDay]:
    """Mart rows of `org_ids` for local dates [start, end]: two queries whatever the size."""
    schema = settings.dbt_schema
    params = {"org_ids": list(org_ids), "start": start, "end": end}
    columns = ", ".join(spec.metric_columns)
    metrics = client.query(
        f"SELECT org_id, report_date, refreshed_at, {columns} FROM {schema}.{METRICS_MODEL} "
        "WHERE org_id IN {org_ids:Array(String)} AND report_date BETWEEN {start:Date} AND {end:Date}",
        parameters=params,
    )
    days: dict[tuple[str, date], MartDay] = {}
    for org_id, report_date, refreshed_at, *values in metrics.result_rows:
        days[(org_id, report_date)] = MartDay(
            org_id, report_date, dict(zip(spec.metric_columns, values, strict=True)), {}, _utc(refreshed_at)
        )
    breakdowns = client.query(
        f"SELECT org_id, report_date, dimension, value, call_count FROM {schema}.{BREAKDOWNS_MODEL} "
        "WHERE org_id IN {org_ids:Array(String)} AND report_date BETWEEN {start:Date} AND {end:Date} "
        "AND dimension IN {dimensions:Array(String)}",
        parameters=params | {"dimensions": list(spec.breakdowns)},
    )
    for org_id, report_date, dimension, value, count in breakdowns.result_rows:
        day = days.get((org_id, report_date))
        if day is not None:
            day.breakdowns.setdefault(dimension, {})[value] = count
    return days


# -- building the report ---------------------------------------------------------------------


def _ratio(numerator: float, denominator: float | None, kpi: KpiSpec) -> float | int | None:
    if kpi.denominator is None:
        if kpi.multiply_by == 1 and kpi.divide_by == 1:
            return int(numerator)
        return round(numerator * kpi.multiply_by / kpi.divide_by, 2)
    if not denominator:
        return None
    return round(numerator * kpi.multiply_by / kpi.divide_by / denominator, 2)


def build_kpis(metrics: dict[str, float], spec: ReportSpec) -> dict[str, Any]:
    kpis: dict[str, Any] = {}
    for kpi in spec.kpis:
        numerator = metrics.get(kpi.numerator, 0) or 0
        denominator = metrics.get(kpi.denominator, 0) if kpi.denominator else None
        if kpi.object_keys:
            percentage = round(100 * numerator / denominator, 2) if denominator else None
            kpis[kpi.key] = {
                kpi.object_keys["count"]: int(numerator),
                kpi.object_keys["denominator"]: int(denominator or 0),
                kpi.object_keys["percentage"]: percentage,
            }
        else:
            kpis[kpi.key] = _ratio(numerator, denominator, kpi)
    return kpis


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
    spec: ReportSpec,
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
        "kpis": build_kpis(metrics, spec),
        "breakdowns": {dim: breakdown_items(breakdowns.get(dim, {}), classified) for dim in spec.breakdowns},
        "metadata": {
            "org_id": org.org_id,
            "org_name": org.name,
            "generated_at": generated.isoformat(),
            "mart_refreshed_at": mart_refreshed,
            "metrics_version": spec.metrics_version,
            "mart_fingerprint": days[0].fingerprint() if len(days) == 1 else None,
            "report_start_date": start.isoformat(),
            "report_end_date": end.isoformat(),
            "days_in_marts": len(days),
        },
    }
