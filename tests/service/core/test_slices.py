"""Sliced refreshes (service/core/dbt_runner.py): a full build, a backfill or a large window in
slices of local days must give exactly the marts of one invocation, report its progress and
record every rebuilt day's mart version.

Real dbt on the session's embedded warehouse: one source database of demo data (3 organizations x
40 days), built into several dbt schemas (one-shot, sliced) and compared row for row.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from reports_store import open_store
from service.core import dbt_runner
from service.core.config import Settings
from service.core.dbt_runner import (
    DbtOutcome,
    is_plain_full_refresh,
    plan_slices,
    refresh_env,
    refresh_marts,
    reporting_slices,
    run_dbt,
    slice_length,
)
from service.core.warehouse import get_client, run_id_cuts
from service.jobs.refresh import Refresher
from tests.conftest import SESSION_DIR, load_demo_data, make_settings

MARTS = ("fct_calls", "agg_daily_org_metrics", "agg_daily_org_breakdowns")
# Set by each run itself, never part of a comparison.
VOLATILE_COLUMNS = {"refreshed_at"}
END = date(2025, 3, 31)  # the demo history: 40 local days ending here (a DST change inside)


def settings_for(schema: str, slice_days: int) -> Settings:
    """The shared source database and store, a dbt schema of its own, `slice_days` per slice."""
    return make_settings(
        "slices",
        dbt_schema=f"an_slices_{schema}",
        reports_store_url=f"sqlite:///{SESSION_DIR / 'slices'}.db",
        refresh_slice_days=slice_days,
    )


@pytest.fixture(scope="module")
def one_shot() -> Iterator[Settings]:
    settings = settings_for("one_shot", 3660)
    load_demo_data(settings, orgs=3, days=40, calls_per_day=40, seed=5, end_date=END)
    outcome = refresh_marts(settings, full_refresh=True)
    assert outcome.success, outcome.failures or outcome.error
    yield settings


def mart_rows(settings: Settings, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """A mart's columns and every row, volatile columns left out, floats rounded, in a stable order."""
    client = get_client(settings)
    columns = [
        name
        for (name,) in client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "ORDER BY position",
            parameters={"db": settings.dbt_schema, "t": table},
        ).result_rows
        if name not in VOLATILE_COLUMNS
    ]
    assert columns, f"{settings.dbt_schema}.{table} does not exist"
    rows = client.query(f"SELECT {', '.join(columns)} FROM {settings.dbt_schema}.{table}").result_rows
    rounded = (tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows)
    return columns, sorted(rounded, key=repr)


def through_common_days(
    columns: list[str], want: list[tuple[Any, ...]], got: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Both builds' rows up to each organization's last day in both. A daily mart has a row for
    every calendar day up to the organization's local today + 2, so a build run after a local
    midnight has one more (call-less) day than one run before it; any other difference counts."""
    if "report_date" not in columns:
        return want, got
    org, day = columns.index("org_id"), columns.index("report_date")

    def last_days(rows: list[tuple[Any, ...]]) -> dict[str, date]:
        last: dict[str, date] = {}
        for row in rows:
            last[row[org]] = max(row[day], last.get(row[org], row[day]))
        return last

    want_last, got_last = last_days(want), last_days(got)
    assert want_last.keys() == got_last.keys()
    common = {key: min(want_last[key], got_last[key]) for key in want_last}
    assert all(abs(want_last[key] - got_last[key]) <= timedelta(days=1) for key in common)
    return (
        [row for row in want if row[day] <= common[row[org]]],
        [row for row in got if row[day] <= common[row[org]]],
    )


def assert_same_marts(expected: Settings, actual: Settings) -> None:
    for table in MARTS:
        columns, want = mart_rows(expected, table)
        got_columns, got = mart_rows(actual, table)
        assert got_columns == columns, table
        want, got = through_common_days(columns, want, got)
        assert want, f"{table} is empty"
        assert len(got) == len(want), (table, len(got), len(want))
        assert got == want, table


# -- planning ---------------------------------------------------------------------------------------


def test_plan_slices_covers_the_range_in_consecutive_bounded_slices() -> None:
    first, last = date(2025, 1, 30), date(2025, 3, 5)
    slices = plan_slices(first, last, 7)
    assert slices[0][0] == first and slices[-1][1] == last
    assert all((end - start).days + 1 <= 7 for start, end in slices)
    assert all(nxt[0] == prev[1] + timedelta(days=1) for prev, nxt in zip(slices, slices[1:], strict=False))
    assert len(slices) == 5
    assert plan_slices(first, first, 31) == [(first, first)]


def test_slice_length_is_a_budget_of_days_of_every_organization() -> None:
    assert slice_length(31, 20, 20) == 31
    assert slice_length(31, 1, 20) == 620  # a one-organization backfill of a year: one invocation
    assert slice_length(31, 3, 2) == 31  # never fewer days than the setting
    assert slice_length(7, 0, 0) == 7


def test_only_a_bare_full_refresh_command_is_sliced() -> None:
    assert is_plain_full_refresh(["run", "--full-refresh"])
    assert not is_plain_full_refresh(["run"])
    assert not is_plain_full_refresh(["run", "--full-refresh", "--select", "fct_calls"])
    assert not is_plain_full_refresh(["build", "--full-refresh"])


def test_refresh_env_always_sets_every_window_variable() -> None:
    assert refresh_env() == {
        "DBT_REFRESH_START_DATE": "",
        "DBT_REFRESH_END_DATE": "",
        "DBT_REFRESH_ORG_IDS": "",
        "DBT_REFRESH_APPEND_ONLY": "0",
        "DBT_REFRESH_RUN_ID_FROM": "",
        "DBT_REFRESH_RUN_ID_BEFORE": "",
    }
    env = refresh_env(date(2025, 3, 1), date(2025, 3, 7), ["a", "b"], append_only=True)
    assert env["DBT_REFRESH_START_DATE"] == "2025-03-01" and env["DBT_REFRESH_ORG_IDS"] == "a,b"
    assert env["DBT_REFRESH_APPEND_ONLY"] == "1"
    env = refresh_env(run_ids=(None, "0e2a1f4c-59d4-4b8e-9b53-3c5e2a7d8f10"))
    assert env["DBT_REFRESH_RUN_ID_FROM"] == "" and env["DBT_REFRESH_RUN_ID_BEFORE"].startswith("0e2a")


# -- against one invocation ------------------------------------------------------------------------


def test_sliced_full_build_equals_the_one_shot_build(one_shot: Settings) -> None:
    sliced = settings_for("sliced", 7)
    seen: list[tuple[int, int]] = []
    outcome = refresh_marts(
        sliced, full_refresh=True, progress=lambda done, total: seen.append((done, total))
    )
    assert outcome.success, outcome.failures or outcome.error

    total = seen[-1][1]
    assert total >= 5, seen  # 40 days of calls, 7 at a time: several slices, not one
    assert seen == [(done, total) for done in range(total + 1)]
    assert_same_marts(one_shot, sliced)


def test_sliced_window_refresh_over_built_marts_equals_the_one_shot_build(one_shot: Settings) -> None:
    """A large window (a backfill of every organization) on existing marts: deletes, then appends."""
    sliced = settings_for("window", 7)
    assert refresh_marts(sliced, full_refresh=True).success
    seen: list[tuple[int, int]] = []
    with reporting_slices(lambda done, total: seen.append((done, total))):  # the CLI's bar
        outcome = refresh_marts(sliced, start=END - timedelta(days=29), end=END)
    assert outcome.success, outcome.failures or outcome.error
    assert seen[-1] == (5, 5)  # 30 days of every organization, 7 at a time
    assert_same_marts(one_shot, sliced)


def test_refresher_full_refresh_is_sliced_and_records_every_day(one_shot: Settings) -> None:
    settings = settings_for("refresher", 10)
    store = open_store(settings.reports_store_url)
    try:
        refresher = Refresher(settings, store)
        notified: list[int] = []
        refresher.listeners.append(lambda: notified.append(1))
        seen: list[tuple[int, int]] = []
        refresher.refresh(full_refresh=True, progress=lambda done, total: seen.append((done, total)))
        assert seen[-1][0] == seen[-1][1] > 1
        # After each range of days (not after a range of run ids: their days are not in every mart).
        assert 1 < len(notified) < seen[-1][1]

        # Every built day's version is recorded, not only the last slice's.
        client = get_client(settings)
        built = client.query(
            f"SELECT org_id, count() FROM {settings.dbt_schema}.agg_daily_org_metrics GROUP BY org_id"
        ).result_rows
        for org_id, days in built:
            assert len(store.get_mart_versions(org_id)) == days, org_id
    finally:
        store.close()
    assert_same_marts(one_shot, settings)


def test_admin_full_refresh_command_goes_through_the_slices(one_shot: Settings) -> None:
    settings = settings_for("command", 14)
    store = open_store(settings.reports_store_url)
    try:
        seen: list[tuple[int, int]] = []
        with reporting_slices(lambda done, total: seen.append((done, total))):
            outcome = Refresher(settings, store).run_dbt_command(
                ["run", "--full-refresh"], capture_output=True
            )
        assert outcome.success, outcome.failures or outcome.error
        assert seen and seen[-1][0] == seen[-1][1] > 1
        assert any("Completed successfully" in line for line in outcome.output)
    finally:
        store.close()
    assert_same_marts(one_shot, settings)


def _range_counts(client: Any, database: str, cuts: list[str]) -> list[int]:
    counts = []
    for low, high in zip([None, *cuts], [*cuts, None], strict=True):
        condition = " AND ".join(
            [f"id >= toUUID('{low}')"] * (low is not None) + [f"id < toUUID('{high}')"] * (high is not None)
        )
        counts.append(
            client.query(f"SELECT count() FROM {database}.public_runs WHERE {condition}").first_row[0]
        )
    return counts


def test_run_id_cuts_split_the_runs_in_clickhouses_order_of_uuids(one_shot: Settings) -> None:
    """ClickHouse compares a UUID's second half first: cuts sorted as text would leave ranges
    that overlap or hold nothing. Each range must hold some runs and together exactly all."""
    client, database = get_client(one_shot), one_shot.clickhouse_database
    total = client.query(f"SELECT count() FROM {database}.public_runs").first_row[0]
    cuts = run_id_cuts(client, database, math.ceil(total / 6))
    assert len(cuts) == 5
    assert run_id_cuts(client, database, total) == []
    counts = _range_counts(client, database, cuts)
    assert sum(counts) == total
    assert min(counts) > total / 6 / 2, counts  # about equal, from a sample


def test_every_range_of_run_ids_but_the_last_holds_the_budget(one_shot: Settings) -> None:
    """A range's size is the budget whatever the history (its memory): not the runs split evenly
    in as many ranges, which would make the ranges of a shorter history smaller."""
    client, database = get_client(one_shot), one_shot.clickhouse_database
    total = client.query(f"SELECT count() FROM {database}.public_runs").first_row[0]
    budget = math.ceil(total * 0.4)
    counts = _range_counts(client, database, run_id_cuts(client, database, budget))
    assert len(counts) == 3 and sum(counts) == total
    for count in counts[:2]:
        assert abs(count - budget) < budget * 0.15, (counts, budget)  # from a sample
    assert counts[2] < total * 0.35, (counts, budget)


def test_a_range_of_run_ids_never_deletes_a_window(one_shot: Settings) -> None:
    """A range of run ids holds some calls of every day: on built marts without append-only it
    would delete every day and insert only its calls. dbt refuses it before deleting anything."""
    client = get_client(one_shot)
    count = f"SELECT count() FROM {one_shot.dbt_schema}.fct_calls"
    before = client.query(count).first_row[0]
    total = client.query(f"SELECT count() FROM {one_shot.clickhouse_database}.public_runs").first_row[0]
    cut = run_id_cuts(client, one_shot.clickhouse_database, math.ceil(total / 2))[0]
    outcome = run_dbt(
        ["run", "--select", "fct_calls"],
        one_shot,
        capture_output=True,
        env=refresh_env(run_ids=(None, cut)),
    )
    assert not outcome.success
    assert "only appends to a full build" in " ".join(
        outcome.output + outcome.failures + [outcome.error or ""]
    )
    assert client.query(count).first_row[0] == before


def test_a_full_build_cut_short_is_built_again_by_the_next_refresh(
    one_shot: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its first range of run ids, a full build leaves the per-call mart with some
    calls of every day: the marts' watermark cannot tell which are missing, so the next plain
    refresh must build everything again (not the watermark's days), also after a backfill."""
    settings = settings_for("cut_short", 10)
    store = open_store(settings.reports_store_url)
    try:
        refresher = Refresher(settings, store)
        refresher.refresh(full_refresh=True)
        invocations = 0
        real_run_dbt = dbt_runner.run_dbt

        def killed_at_the_second(*args: Any, **kwargs: Any) -> DbtOutcome:
            nonlocal invocations
            invocations += 1
            if invocations == 2:
                raise SystemExit("killed")
            return real_run_dbt(*args, **kwargs)

        monkeypatch.setattr(dbt_runner, "run_dbt", killed_at_the_second)
        with pytest.raises(SystemExit):
            refresher.refresh(full_refresh=True)
        monkeypatch.setattr(dbt_runner, "run_dbt", real_run_dbt)
        assert refresher.needs_refresh() == "the last dbt run here did not finish"
        # A backfill in between (an operator's) succeeds, and does not make it forgotten.
        org_id = store.list_organizations()[0].org_id
        refresher.refresh(END - timedelta(days=2), END, [org_id])
        assert refresher.needs_refresh() == "the last dbt run here did not finish"

        refresher.refresh()
        assert refresher.needs_refresh() is None
    finally:
        store.close()
    assert_same_marts(one_shot, settings)
