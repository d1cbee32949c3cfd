"""The seed's approach, reproduced as the baseline: CTE queries on the raw tables, JSON at query time.

The seed's `generate_daily_report_for_org` runs one query per metric group (call_stage_stats,
call_classification_stats, load_status_stats, carrier_end_state_stats, non_convertible_calls in 3
variants, transfer_stats in 2 variants, total_calls_and_duration) and a backfill is a loop over
days. Each query repeats the seed's CTE chain (recent_runs -> sessions -> aggregation) and extracts
the JSON fields of `flat_data` while it runs.

To compare like with like, the queries carry the metric contract's semantics (the seed's own
queries do not: they count duplicate sessions, every output of a run, UTC days):
- the day window is the organization's local day, as UTC bounds computed with zoneinfo;
- sessions are deduplicated per run (latest created_at, tie: highest id), within the organization
  as the seed's `sessions` CTE scopes by org_id (the primary key prefix). That equals the contract
  when a run's sessions all belong to one organization, as in the demo data, and it keeps the
  baseline as fast as the seed's shape allows;
- the latest output of the organization's broker node wins (even when malformed);
- excluded numbers are removed; field values follow the contract (strings only, '' is no value,
  transfer_success true/"true"/"yes").
The report also lists a pricing_notes breakdown (the seed's report JSON has one), so the baseline
runs that query too: 11 queries per organization-day.

Values are bound as query parameters; only the database name (validated by Settings) is
interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from clickhouse_connect.driver.client import Client

from reports_store import Organization
from service.core.calendar import day_bounds, zone

NON_CONVERTIBLE = ("load_not_available", "equipment_mismatch", "wrong_number", "voicemail", "caller_hung_up")
BREAKDOWN_FIELDS = {
    "call_stage": ("call", "call_stage"),
    "call_classification": ("call", "call_classification"),
    "load_status": ("load", "load_status"),
    "carrier_end_state": ("carrier", "carrier_end_state"),
    "pricing_notes": ("pricing", "pricing_notes"),
}
REPORT_BREAKDOWNS = ("call_stage", "call_classification", "load_status", "pricing_notes", "carrier_end_state")


def _field(section: str, key: str) -> str:
    """A JSON string value of result.<section>.<key>, or NULL (missing, null, non-string, '')."""
    return (
        f"if(JSONType(o.flat_data, 'result', '{section}', '{key}') = 'String', "
        f"nullIf(JSONExtractString(o.flat_data, 'result', '{section}', '{key}'), ''), NULL)"
    )


CLASSIFICATION = _field("call", "call_classification")
QUALIFICATION = _field("carrier", "carrier_qualification")
TRANSFER_REASON = _field("transfer", "transfer_reason")
TRANSFER_SUCCESS = (
    "((JSONType(o.flat_data, 'result', 'transfer', 'transfer_success') = 'Bool' "
    "AND JSONExtractBool(o.flat_data, 'result', 'transfer', 'transfer_success')) "
    "OR ifNull(lower(" + _field("transfer", "transfer_success") + ") IN ('true', 'yes'), false))"
)

# The seed's CTE chain, once per query. {db} (replaced, not formatted) is the validated database name.
_CTES = """
WITH
recent_runs AS (
    -- Runs whose start lies in the organization's local day
    SELECT id AS run_id FROM {db}.public_runs
    WHERE timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}
),
sessions AS (
    -- The organization's sessions of those runs, deduplicated: latest created_at, tie highest id
    SELECT run_id, argMax((user_number, duration), (created_at, id)) AS latest
    FROM {db}.public_sessions
    WHERE org_id = {org_id:String} AND run_id IN (SELECT run_id FROM recent_runs)
    GROUP BY run_id
),
calls AS (
    -- Exclude test numbers
    SELECT run_id, latest.2 AS duration FROM sessions
    WHERE NOT has({excluded:Array(String)}, latest.1)
),
outputs AS (
    -- The latest output of the organization's broker node per call (malformed or not)
    SELECT run_id, argMax(flat_data, (created_at, id)) AS flat_data
    FROM {db}.public_node_outputs
    WHERE node_persistent_id = {node_id:String} AND run_id IN (SELECT run_id FROM calls)
    GROUP BY run_id
)"""

_CLASSIFIED_JOIN = f"""
    FROM calls c
    INNER JOIN outputs o ON o.run_id = c.run_id
    WHERE {CLASSIFICATION} IS NOT NULL"""


def _breakdown_query(section: str, key: str) -> str:
    return (
        _CTES
        + f""",
aggregation AS (
    SELECT {_field(section, key)} AS value, countDistinct(c.run_id) AS count{_CLASSIFIED_JOIN}
    GROUP BY value
)
SELECT value, count FROM aggregation"""
    )


def _share_query(condition: str) -> str:
    return (
        _CTES
        + f""",
aggregation AS (
    SELECT countDistinctIf(c.run_id, {condition}) AS count, countDistinct(c.run_id) AS total_calls
    {_CLASSIFIED_JOIN}
)
SELECT count, total_calls FROM aggregation"""
    )


_NOT_QUALIFIED = f"ifNull({QUALIFICATION} = 'NOT_QUALIFIED', false)"
_NON_CONVERTIBLE_CLASS = f"has({{non_convertible:Array(String)}}, {CLASSIFICATION})"

# The seed's report-generation flow, in its order (plus pricing_notes, which its report lists).
QUERIES: dict[str, str] = {
    "call_stage_stats": _breakdown_query("call", "call_stage"),
    "call_classification_stats": _breakdown_query("call", "call_classification"),
    "load_status_stats": _breakdown_query("load", "load_status"),
    "carrier_end_state_stats": _breakdown_query("carrier", "carrier_end_state"),
    "pricing_notes_stats": _breakdown_query("pricing", "pricing_notes"),
    "non_convertible_calls": _share_query(f"{_NON_CONVERTIBLE_CLASS} AND NOT {_NOT_QUALIFIED}"),
    "non_convertible_calls_carrier_not_qualified": _share_query(_NOT_QUALIFIED),
    "non_convertible_calls_with_carrier_not_qualified": _share_query(
        f"{_NON_CONVERTIBLE_CLASS} OR {_NOT_QUALIFIED}"
    ),
    "carrier_transfer_stats": _share_query(
        f"ifNull({TRANSFER_REASON} = 'CARRIER_ASKED_FOR_TRANSFER', false)"
    ),
    "successful_transfer_stats": _share_query(TRANSFER_SUCCESS),
    "total_calls_and_duration": _CTES
    + """,
aggregation AS (
    SELECT count() AS total_calls, sum(ifNull(duration, 0)) AS total_duration_seconds FROM calls
)
SELECT total_calls, total_duration_seconds FROM aggregation""",
}
_BREAKDOWN_QUERY_OF = {
    "call_stage": "call_stage_stats",
    "call_classification": "call_classification_stats",
    "load_status": "load_status_stats",
    "carrier_end_state": "carrier_end_state_stats",
    "pricing_notes": "pricing_notes_stats",
}


@dataclass
class SeedStyleReports:
    """Builds one organization-day report the seed's way: 11 queries on the raw tables."""

    client: Client
    database: str
    non_convertible: Sequence[str] = NON_CONVERTIBLE

    def __post_init__(self) -> None:
        self._sql = {name: sql.replace("{db}", self.database) for name, sql in QUERIES.items()}

    def fetch(self, org: Organization, day: date) -> dict[str, list[tuple[Any, ...]]]:
        """Every metric group of one local day, one query each."""
        start, end = day_bounds(day, zone(org.timezone))
        params = {
            "start": start,
            "end": end,
            "org_id": org.org_id,
            "node_id": org.node_persistent_id,
            "excluded": list(org.excluded_numbers),
            "non_convertible": list(self.non_convertible),
        }
        return {
            name: self.client.query(sql, parameters=params).result_rows for name, sql in self._sql.items()
        }

    def report(self, org: Organization, day: date) -> dict[str, Any]:
        rows = self.fetch(org, day)
        return assemble_report(org, day, rows)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _share(count: int, total: int, keys: tuple[str, str, str]) -> dict[str, Any]:
    return {keys[0]: int(count), keys[1]: int(total), keys[2]: _round(100 * count / total) if total else None}


def _items(rows: list[tuple[Any, ...]], classified: int) -> list[dict[str, Any]]:
    ordered = sorted(rows, key=lambda row: (-row[1], row[0] is None, row[0] or ""))
    return [
        {
            "value": value,
            "count": int(count),
            "percentage": _round(100 * count / classified) if classified else None,
        }
        for value, count in ordered
    ]


def assemble_report(org: Organization, day: date, rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    """The report JSON (the seed's keys) from the metric groups' rows."""
    start, end = day_bounds(day, zone(org.timezone))
    total_calls, duration = rows["total_calls_and_duration"][0]
    duration = duration or 0.0
    classes = rows["call_classification_stats"]
    classified = sum(count for _, count in classes)
    success = sum(count for value, count in classes if value == "success")

    def share(name: str, keys: tuple[str, str, str]) -> dict[str, Any]:
        count, total = rows[name][0]
        return _share(count, total, keys)

    plain = ("count", "total_calls", "percentage")
    return {
        "date_range": {"tz": org.timezone, "start_date": start.isoformat(), "end_date": end.isoformat()},
        "kpis": {
            "total_calls": int(total_calls),
            "classified_calls": int(classified),
            "total_duration_hours": _round(duration / 3600),
            "avg_minutes_per_call": _round(duration / 60 / total_calls) if total_calls else None,
            "success_rate_percent": _round(success * 100 / classified) if classified else None,
            "non_convertible_calls_with_carrier_not_qualified": share(
                "non_convertible_calls_with_carrier_not_qualified", plain
            ),
            "carrier_not_qualified": share("non_convertible_calls_carrier_not_qualified", plain),
            "carrier_transfer_over_total_call_attempts": share(
                "carrier_transfer_stats",
                ("carrier_asked_count", "total_call_attempts", "carrier_asked_percentage"),
            ),
            "successfully_transferred_for_booking": share(
                "successful_transfer_stats",
                (
                    "successfully_transferred_for_booking_count",
                    "total_calls",
                    "successfully_transferred_for_booking_percentage",
                ),
            ),
            "non_convertible_calls": share("non_convertible_calls", plain),
        },
        "breakdowns": {dim: _items(rows[_BREAKDOWN_QUERY_OF[dim]], classified) for dim in REPORT_BREAKDOWNS},
        "metadata": {"org_id": org.org_id, "org_name": org.name},
    }


# KPIs computed from a sum of Float64 durations: the two sides add the same values in another order,
# so on an exact half-way value (durations are tenths of seconds: 15462.0 s is 4.295 h) the last bit
# can round the 2-decimal result either way. They may differ by one unit of the second decimal.
FLOAT_SUM_KPIS = ("total_duration_hours", "avg_minutes_per_call")


def kpi_differences(seed: dict[str, Any], ours: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Where two reports disagree on date range, KPIs or breakdowns, and the rounding ties.

    Counts, percentages and breakdowns must be identical; FLOAT_SUM_KPIS may differ by 0.01 (a
    tie, listed apart). No problem means the reports give the same numbers.
    """
    problems, ties = [], []
    for part in ("date_range", "kpis", "breakdowns"):
        left, right = seed.get(part, {}), ours.get(part, {})
        for key in sorted(set(left) | set(right)):
            a, b = left.get(key), right.get(key)
            if a == b:
                continue
            text = f"{part}.{key}: seed-style {a!r} != ours {b!r}"
            if (
                part == "kpis"
                and key in FLOAT_SUM_KPIS
                and a is not None
                and b is not None
                and abs(a - b) <= 0.0100001
            ):
                ties.append(text)
            else:
                problems.append(text)
    return problems, ties
