"""Generating the demo into the warehouse: plans per organization, batched column-oriented inserts.

Idempotent: each run id is drawn from the (seed, org, local date) stream of its day, and only
calls whose run id is not in the warehouse yet are inserted, so a re-run with the same arguments
adds nothing and a longer range adds only the days it does not share with a shorter one.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client

from demo_data.calls import (
    NODE_COLUMNS,
    OUTPUT_COLUMNS,
    RUN_COLUMNS,
    SESSION_COLUMNS,
    CallRows,
    OrgContext,
    generate_day,
    org_context,
)
from demo_data.organizations import demo_organizations
from demo_data.timeline import MS_DAY, day_bounds_ms, local_day_start_ms, recent_dst_days
from reports_store.models import Organization
from service.core.calendar import today_in
from service.core.config import DATABASE_NAME_RE

__all__ = ["DemoSummary", "OrganizationSink", "generate_demo_data"]

BATCH_CALLS = 100_000  # calls per insert batch: large inserts, bounded memory


class OrganizationSink(Protocol):
    """Where the demo organizations are registered: the report store, or a fake in tests."""

    def upsert_organization(self, org: Organization) -> Any: ...


@dataclass
class DemoSummary:
    """What one generation inserted (rows per table) and how many already present runs it skipped."""

    organizations: int = 0
    runs: int = 0
    sessions: int = 0
    outputs: int = 0
    nodes: int = 0
    skipped_existing: int = 0


def _keep_new(columns: list[list[Any]], existing: set[int], run_col: int) -> tuple[list[list[Any]], int]:
    """Columns without the rows of runs already in the warehouse, and how many rows were dropped."""
    if not existing:
        return columns, 0
    keep = [i for i, run in enumerate(columns[run_col]) if run not in existing]
    dropped = len(columns[run_col]) - len(keep)
    return ([[col[i] for i in keep] for col in columns] if dropped else columns), dropped


def _flush(client: Client, database: str, buf: CallRows, existing: set[int], summary: DemoSummary) -> None:
    # Runs go in last: a run id in the warehouse then implies its sessions and outputs are there,
    # so an interrupted generation is completed, not half-skipped, by the next run.
    outputs, _ = _keep_new(buf.outputs, existing, 1)
    sessions, _ = _keep_new(buf.sessions, existing, 1)
    runs, skipped = _keep_new(buf.runs, existing, 0)
    for table, columns, names in (
        ("public_node_outputs", outputs, OUTPUT_COLUMNS),
        ("public_sessions", sessions, SESSION_COLUMNS),
        ("public_runs", runs, RUN_COLUMNS),
    ):
        if columns[0]:
            client.insert(table, columns, column_names=names, database=database, column_oriented=True)
    summary.runs += len(runs[0])
    summary.sessions += len(sessions[0])
    summary.outputs += len(outputs[0])
    summary.skipped_existing += skipped


@dataclass
class _Plan:
    ctx: OrgContext
    days: list[tuple[date, bool]]  # (local date, extra calls for its DST change)
    windows: list[tuple[int, int]]


def _plan(org: Organization, seed: int, days: int, end_date: date | None, dst_days: bool) -> _Plan:
    ctx = org_context(org, seed)
    end = end_date or today_in(ctx.tz) - timedelta(days=1)
    ctx.horizon = local_day_start_ms(end + timedelta(days=1), ctx.tz)
    first = end - timedelta(days=days - 1)
    plan_days = [(first + timedelta(days=i), False) for i in range(days)]
    if dst_days:  # they depend on `end` only, so a longer range re-generates the same ones
        plan_days += [(d, True) for d in recent_dst_days(ctx.tz, end)]
    windows = [day_bounds_ms(d, ctx.tz) for d, _ in plan_days]
    return _Plan(ctx, plan_days, windows)


def _merge(windows: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1] + MS_DAY:  # close windows: one range scan is cheaper
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _existing_runs(client: Client, database: str, windows: list[tuple[int, int]]) -> set[int]:
    """Run ids already in the warehouse within the generated time windows."""
    if not windows:
        return set()
    where = " OR ".join(
        f"timestamp BETWEEN fromUnixTimestamp64Milli(toInt64({lo}), 'UTC') "
        f"AND fromUnixTimestamp64Milli(toInt64({hi}), 'UTC')"
        for lo, hi in _merge(windows)
    )
    result = client.query(f"SELECT id FROM {database}.public_runs WHERE {where}")
    return {row[0].int for row in result.result_rows}


def _insert_nodes(client: Client, database: str, plans: list[_Plan]) -> int:
    org_ids = ", ".join(_sql_string(p.ctx.org.org_id) for p in plans)
    result = client.query(f"SELECT id FROM {database}.public_nodes WHERE org_id IN ({org_ids})")
    present = {row[0].int for row in result.result_rows}
    rows = [row for p in plans for row in p.ctx.node_rows if row[0] not in present]
    if rows:
        client.insert("public_nodes", rows, column_names=NODE_COLUMNS, database=database)
    return len(rows)


def _write_calls(
    client: Client,
    database: str,
    plans: list[_Plan],
    seed: int,
    calls_per_day: int,
    existing: set[int],
    summary: DemoSummary,
) -> None:
    # One writer thread: the engine's share of an insert overlaps the generation of the next batch;
    # at most one batch waits, which bounds memory. The client is only used by one thread at a time.
    buf = CallRows()
    with ThreadPoolExecutor(max_workers=1) as writer:
        inflight: Future[None] | None = None
        for plan in plans:
            for day, extra in plan.days:
                generate_day(plan.ctx, day, seed, calls_per_day, buf, extra)
                if len(buf) >= BATCH_CALLS:
                    if inflight is not None:
                        inflight.result()
                    inflight = writer.submit(_flush, client, database, buf, existing, summary)
                    buf = CallRows()
        if inflight is not None:
            inflight.result()
    _flush(client, database, buf, existing, summary)


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def generate_demo_data(
    client: Client,
    store: OrganizationSink | None,
    *,
    orgs: int,
    days: int,
    calls_per_day: int,
    seed: int,
    end_date: date | None = None,
    database: str = "default",
    dst_days: bool = True,
) -> DemoSummary:
    """Generate demo calls into the source tables of `database` and register the orgs in `store`.

    `days` local days per organization end at `end_date` (default: yesterday in each org's zone).
    With `dst_days`, the two most recent DST-change days up to `end_date` (within a year) get a
    handful of extra calls, inside or outside the range, so DST handling is exercised whatever the
    range. Calls whose run id is already present are skipped, so re-running with the same
    arguments adds nothing.
    """
    if not DATABASE_NAME_RE.match(database):
        raise ValueError(f"{database!r} is not a valid ClickHouse database name")
    organizations = demo_organizations(orgs, seed)
    if store is not None:
        for org in organizations:
            store.upsert_organization(org)
    plans = [_plan(org, seed, days, end_date, dst_days) for org in organizations]
    summary = DemoSummary(organizations=len(organizations))
    summary.nodes = _insert_nodes(client, database, plans) if plans else 0
    existing = _existing_runs(client, database, [w for p in plans for w in p.windows])
    _write_calls(client, database, plans, seed, calls_per_day, existing, summary)
    return summary
