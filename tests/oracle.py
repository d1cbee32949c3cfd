"""An independent Python oracle of the metric contract (v1), for checking the marts and reports.

No metric logic runs in SQL: raw rows are read with plain SELECTs and everything (deduplication,
latest-wins, local days, JSON parsing) is done here with `json` and `zoneinfo`, so a bug in the
dbt models cannot hide behind the same bug in the oracle.

Ties on created_at are broken by the highest id as ClickHouse orders UUIDs: by the low 64 bits
first, then the high 64 bits (not Python's 128-bit order); see `clickhouse_uuid_key`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from reports_store.models import Organization

NON_CONVERTIBLE = frozenset(
    {"load_not_available", "equipment_mismatch", "wrong_number", "voicemail", "caller_hung_up"}
)
BREAKDOWN_FIELDS = ("call_stage", "call_classification", "load_status", "pricing_notes", "carrier_end_state")
COUNT_KEYS = (
    "total_calls",
    "classified_calls",
    "success_calls",
    "carrier_not_qualified_calls",
    "non_convertible_calls",
    "non_convertible_or_not_qualified_calls",
    "carrier_asked_transfer_calls",
    "transferred_for_booking_calls",
)
_PATHS = {
    "call_classification": ("result", "call", "call_classification"),
    "call_stage": ("result", "call", "call_stage"),
    "transfer_reason": ("result", "transfer", "transfer_reason"),
    "transfer_success": ("result", "transfer", "transfer_success"),
    "load_status": ("result", "load", "load_status"),
    "carrier_qualification": ("result", "carrier", "carrier_qualification"),
    "carrier_end_state": ("result", "carrier", "carrier_end_state"),
    "pricing_notes": ("result", "pricing", "pricing_notes"),
}
_M64 = (1 << 64) - 1


def clickhouse_uuid_key(value: uuid.UUID) -> tuple[int, int]:
    """Sort key equal to ClickHouse's UUID order (low half first), for "tie: highest id"."""
    return value.int & _M64, value.int >> 64


@dataclass(frozen=True)
class _Session:
    org_id: str
    user_number: str
    duration: float | None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- raw reads ---------------------------------------------------------------------------------


def _runs(
    client: Client, database: str, start: date | None, end: date | None
) -> dict[uuid.UUID, set[datetime]]:
    """Run id -> its timestamps; an optional generous UTC window only trims what is read."""
    query = f"SELECT id, timestamp FROM {database}.public_runs"
    if start is not None or end is not None:
        # Local days lie within UTC-14..UTC+14 of their date: two days of margin either side.
        lo = datetime.combine(start or date(1970, 1, 3), time(), tzinfo=UTC) - timedelta(days=2)
        hi = datetime.combine(end or date(2200, 1, 1), time(), tzinfo=UTC) + timedelta(days=3)
        query += f" WHERE timestamp >= '{lo:%Y-%m-%d %H:%M:%S}' AND timestamp < '{hi:%Y-%m-%d %H:%M:%S}'"
    runs: dict[uuid.UUID, set[datetime]] = {}
    for run_id, ts in client.query(query).result_rows:
        runs.setdefault(_as_uuid(run_id), set()).add(_utc(ts))
    return runs


def _sessions(client: Client, database: str) -> dict[uuid.UUID, _Session]:
    """Run id -> its session: dedupe by id, then latest created_at, tie highest id."""
    best: dict[uuid.UUID, tuple[tuple[Any, ...], _Session]] = {}
    query = f"SELECT id, run_id, org_id, user_number, duration, created_at FROM {database}.public_sessions"
    for sid, run_id, org_id, user, duration, created in client.query(query).result_rows:
        key = (_utc(created), clickhouse_uuid_key(_as_uuid(sid)))
        run = _as_uuid(run_id)
        current = best.get(run)
        if current is None or key > current[0]:
            best[run] = (key, _Session(org_id, user, duration))
    return {run: session for run, (_, session) in best.items()}


def _outcomes(client: Client, database: str, node_ids: set[str]) -> dict[tuple[uuid.UUID, str], str]:
    """(run id, node_persistent_id) -> flat_data of the latest output (tie: highest id)."""
    best: dict[tuple[uuid.UUID, str], tuple[tuple[Any, ...], str]] = {}
    query = (
        f"SELECT id, run_id, node_persistent_id, flat_data, created_at FROM {database}.public_node_outputs"
    )
    for oid, run_id, node, flat, created in client.query(query).result_rows:
        if node not in node_ids:
            continue
        key = (_utc(created), clickhouse_uuid_key(_as_uuid(oid)))
        slot = (_as_uuid(run_id), node)
        current = best.get(slot)
        if current is None or key > current[0]:
            best[slot] = (key, flat)
    return {slot: flat for slot, (_, flat) in best.items()}


# --- field values ------------------------------------------------------------------------------


def parse_outcome(flat_data: str | None) -> dict[str, Any]:
    """Field values of an outcome: a non-empty JSON string, or None for "no value".

    `transfer_success` becomes a bool. Malformed JSON (or no output) gives no value anywhere.
    """
    try:
        document = json.loads(flat_data) if flat_data is not None else None
    except ValueError:
        document = None
    values: dict[str, Any] = {}
    for name, path in _PATHS.items():
        node: Any = document
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if name == "transfer_success":
            values[name] = node is True or (isinstance(node, str) and node.lower() in ("true", "yes"))
        else:
            values[name] = node if isinstance(node, str) and node != "" else None
    return values


# --- metrics -----------------------------------------------------------------------------------


def empty_metrics() -> dict[str, Any]:
    metrics: dict[str, Any] = {key: 0 for key in COUNT_KEYS}
    metrics["total_duration_seconds"] = 0.0
    metrics["breakdowns"] = {name: Counter() for name in BREAKDOWN_FIELDS}
    return metrics


def _add_call(
    metrics: dict[str, Any], duration: float | None, v: dict[str, Any], non_convertible: frozenset[str]
) -> None:
    metrics["total_calls"] += 1
    metrics["total_duration_seconds"] += duration or 0.0
    cls = v["call_classification"]
    if cls is None:
        return
    not_qualified = v["carrier_qualification"] == "NOT_QUALIFIED"
    metrics["classified_calls"] += 1
    metrics["success_calls"] += cls == "success"
    metrics["carrier_not_qualified_calls"] += not_qualified
    metrics["non_convertible_calls"] += cls in non_convertible and not not_qualified
    metrics["non_convertible_or_not_qualified_calls"] += cls in non_convertible or not_qualified
    metrics["carrier_asked_transfer_calls"] += v["transfer_reason"] == "CARRIER_ASKED_FOR_TRANSFER"
    metrics["transferred_for_booking_calls"] += v["transfer_success"]
    for name in BREAKDOWN_FIELDS:
        metrics["breakdowns"][name][v[name]] += 1


def daily_metrics(
    client: Client,
    orgs: list[Organization],
    *,
    database: str = "default",
    start: date | None = None,
    end: date | None = None,
    non_convertible: Iterable[str] = NON_CONVERTIBLE,
) -> dict[tuple[str, date], dict[str, Any]]:
    """(org_id, local date) -> the day's counts and breakdown Counters, for days with calls."""
    non_convertible = frozenset(non_convertible)
    by_org = {org.org_id: org for org in orgs}
    zones = {org.org_id: ZoneInfo(org.timezone) for org in orgs}
    sessions = _sessions(client, database)
    outcomes = _outcomes(client, database, {org.node_persistent_id for org in orgs})
    result: dict[tuple[str, date], dict[str, Any]] = {}
    for run_id, stamps in _runs(client, database, start, end).items():
        session = sessions.get(run_id)
        org = by_org.get(session.org_id) if session else None
        if session is None or org is None or session.user_number in org.excluded_numbers:
            continue
        # A distinct run counts once per local day (duplicate run rows with one timestamp are one).
        for day in {ts.astimezone(zones[org.org_id]).date() for ts in stamps}:
            if (start and day < start) or (end and day > end):
                continue
            values = parse_outcome(outcomes.get((run_id, org.node_persistent_id)))
            metrics = result.setdefault((org.org_id, day), empty_metrics())
            _add_call(metrics, session.duration, values, non_convertible)
    return result


def combine_metrics(days: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of a date range: the same definitions over the union of its days."""
    total = empty_metrics()
    for metrics in days:
        for key in (*COUNT_KEYS, "total_duration_seconds"):
            total[key] += metrics[key]
        for name in BREAKDOWN_FIELDS:
            total["breakdowns"][name].update(metrics["breakdowns"][name])
    return total


# --- KPIs --------------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float, scale: float = 100.0) -> float | None:
    """Rounded once, on the final value; a zero denominator has no ratio."""
    return None if not denominator else round(scale * numerator / denominator, 2)


def _share(count: int, classified: int, names: tuple[str, str, str]) -> dict[str, Any]:
    return {names[0]: count, names[1]: classified, names[2]: _ratio(count, classified)}


def report_kpis(metrics: dict[str, Any]) -> dict[str, Any]:
    """The report's `kpis` object, with the seed's key names, from one day's or a range's metrics."""
    total, classified = metrics["total_calls"], metrics["classified_calls"]
    seconds = metrics["total_duration_seconds"]
    plain = ("count", "total_calls", "percentage")
    return {
        "total_calls": total,
        "classified_calls": classified,
        "total_duration_hours": round(seconds / 3600, 2),
        "avg_minutes_per_call": _ratio(seconds / 60, total, scale=1.0),
        "success_rate_percent": _ratio(metrics["success_calls"], classified),
        "non_convertible_calls_with_carrier_not_qualified": _share(
            metrics["non_convertible_or_not_qualified_calls"], classified, plain
        ),
        "carrier_not_qualified": _share(metrics["carrier_not_qualified_calls"], classified, plain),
        "carrier_transfer_over_total_call_attempts": _share(
            metrics["carrier_asked_transfer_calls"],
            classified,
            ("carrier_asked_count", "total_call_attempts", "carrier_asked_percentage"),
        ),
        "successfully_transferred_for_booking": _share(
            metrics["transferred_for_booking_calls"],
            classified,
            (
                "successfully_transferred_for_booking_count",
                "total_calls",
                "successfully_transferred_for_booking_percentage",
            ),
        ),
        "non_convertible_calls": _share(metrics["non_convertible_calls"], classified, plain),
    }


def breakdown_items(counter: Counter[str | None], classified_calls: int) -> list[dict[str, Any]]:
    """Breakdown items sorted by count descending, then value ascending with no value last."""
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0] is None, item[0] or ""))
    return [
        {"value": value, "count": count, "percentage": _ratio(count, classified_calls)}
        for value, count in ordered
        if count
    ]


def report_breakdowns(metrics: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The report's `breakdowns` object."""
    return {
        name: breakdown_items(metrics["breakdowns"][name], metrics["classified_calls"])
        for name in BREAKDOWN_FIELDS
    }


# --- comparisons and anomaly flags ---------------------------------------------------------------

# The percentage inside each nested KPI object: a nested KPI's headline number.
_PERCENT_KEYS = {
    "non_convertible_calls_with_carrier_not_qualified": "percentage",
    "carrier_not_qualified": "percentage",
    "non_convertible_calls": "percentage",
    "carrier_transfer_over_total_call_attempts": "carrier_asked_percentage",
    "successfully_transferred_for_booking": "successfully_transferred_for_booking_percentage",
}
# Rate KPIs: (numerator, denominator, scale) of the unrounded headline value.
RATE_KPIS: dict[str, tuple[str, str, float]] = {
    "avg_minutes_per_call": ("total_duration_seconds", "total_calls", 1 / 60),
    "success_rate_percent": ("success_calls", "classified_calls", 100.0),
    "non_convertible_calls_with_carrier_not_qualified": (
        "non_convertible_or_not_qualified_calls",
        "classified_calls",
        100.0,
    ),
    "non_convertible_calls": ("non_convertible_calls", "classified_calls", 100.0),
    "carrier_not_qualified": ("carrier_not_qualified_calls", "classified_calls", 100.0),
    "carrier_transfer_over_total_call_attempts": ("carrier_asked_transfer_calls", "classified_calls", 100.0),
    "successfully_transferred_for_booking": ("transferred_for_booking_calls", "classified_calls", 100.0),
}


def headline_values(kpis: dict[str, Any]) -> dict[str, Any]:
    """Each KPI's headline number from a report's `kpis`: the value, or a nested object's percentage."""
    return {key: value[_PERCENT_KEYS[key]] if key in _PERCENT_KEYS else value for key, value in kpis.items()}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def report_comparisons(
    daily: dict[tuple[str, date], dict[str, Any]],
    org_id: str,
    start: date,
    end: date,
    *,
    min_calls: int,
    first_mart_day: date | None = None,
) -> dict[str, dict[str, dict[str, Any] | None]]:
    """The report's `comparisons`: the n days before and the same n days a week earlier.

    `daily` is `daily_metrics` (days without calls absent); a period reaching before
    `first_mart_day` (no mart row) or with fewer than `min_calls` calls is not compared.
    """

    def period(first: date, last: date) -> dict[str, Any]:
        return combine_metrics(daily.get((org_id, d), empty_metrics()) for d in _days(first, last))

    length = (end - start).days + 1
    current = headline_values(report_kpis(period(start, end)))
    result: dict[str, dict[str, dict[str, Any] | None]] = {key: {} for key in current}
    for name, shift in (("previous_day", length), ("previous_week", 7)):
        first, last = start - timedelta(days=shift), end - timedelta(days=shift)
        metrics = period(first, last)
        comparable = (first_mart_day is None or first >= first_mart_day) and metrics[
            "total_calls"
        ] >= min_calls
        earlier = headline_values(report_kpis(metrics)) if comparable else None
        for key, value in current.items():
            if earlier is None:
                result[key][name] = None
                continue
            before = earlier[key]
            delta = None if value is None or before is None else round(value - before, 2)
            percent = None if delta is None or not before else round(delta / before * 100, 2)
            result[key][name] = {"value": before, "delta": delta, "delta_percent": percent}
    return result


def _rate(metrics: dict[str, Any] | None, kpi: str) -> tuple[float | None, int]:
    """(unrounded headline value or None, denominator) of a rate KPI on a day."""
    if metrics is None:
        return None, 0
    numerator, denominator, scale = RATE_KPIS[kpi]
    calls = metrics[denominator]
    if not calls:
        return None, 0
    if scale == 100.0:
        return 100 * metrics[numerator] / calls, calls
    return metrics[numerator] * 1 / 60 / calls, calls


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def anomaly_flags(
    daily: dict[tuple[str, date], dict[str, Any]],
    org_id: str,
    day: date,
    *,
    weeks: int,
    min_calls: int,
    min_baseline_days: int,
    threshold: float,
    min_change_percent: float,
) -> list[dict[str, Any]]:
    """The rate KPIs flagged on `day` (unrounded), in RATE_KPIS order.

    Baseline: the same weekday of the `weeks` weeks before, days whose denominator is at least
    `min_calls`. Spread: 1.4826 * MAD, or 1.253314 * the mean absolute deviation when MAD is 0;
    a share's scale is at least its binomial standard error 100 * sqrt(p (1 - p) / calls), p the
    median as a fraction kept within [1/calls, 1 - 1/calls]. z = |x - median| / scale, unbounded
    (None) when the scale is 0. Flagged: z above `threshold` (or None) and a change of at least
    `min_change_percent` % of the median.
    """
    flags = []
    for kpi in RATE_KPIS:
        value, calls = _rate(daily.get((org_id, day)), kpi)
        baseline = []
        for week in range(1, weeks + 1):
            earlier, earlier_calls = _rate(daily.get((org_id, day - timedelta(days=7 * week))), kpi)
            if earlier is not None and earlier_calls >= min_calls:
                baseline.append(earlier)
        if value is None or calls < min_calls or len(baseline) < min_baseline_days:
            continue
        median = _median(baseline)
        change = abs(value - median)
        if value == median or change < min_change_percent / 100 * abs(median):
            continue
        deviations = [abs(v - median) for v in baseline]
        mad, mean_deviation = _median(deviations), sum(deviations) / len(deviations)
        spread = 1.4826 * mad if mad > 0 else 1.253314 * mean_deviation
        sampling_error = 0.0
        if RATE_KPIS[kpi][2] == 100.0:  # a share of the day's calls
            p = min(max(median / 100, 1 / calls), 1 - 1 / calls)
            sampling_error = 100 * math.sqrt(max(p * (1 - p), 0) / calls)
        scale = max(spread, sampling_error)
        z = change / scale if scale > 0 else None
        if z is None or z > threshold:
            direction = "up" if value > median else "down"
            flags.append(
                {"kpi": kpi, "value": value, "baseline_median": median, "z": z, "direction": direction}
            )
    return flags
