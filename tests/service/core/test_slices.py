"""Sliced refreshes (service/core/dbt_runner.py): a full build, a backfill or a large window in
slices of local days must give exactly the marts of one invocation, report its progress and
record every rebuilt day's mart version.

Real dbt on the session's embedded warehouse: one source database of demo data (3 organizations x
40 days), built into several dbt schemas (one-shot, sliced) and compared row for row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from reports_store import open_store
from service.core.config import Settings
from service.core.dbt_runner import (
    is_plain_full_refresh,
    plan_slices,
    refresh_env,
    refresh_marts,
    reporting_slices,
    slice_length,
)
from service.core.warehouse import get_client
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


def mart_rows(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    """Every row of a mart, volatile columns left out, floats rounded, in a stable order."""
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
    return sorted((tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows), key=repr)


def assert_same_marts(expected: Settings, actual: Settings) -> None:
    for table in MARTS:
        want, got = mart_rows(expected, table), mart_rows(actual, table)
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
    }
    env = refresh_env(date(2025, 3, 1), date(2025, 3, 7), ["a", "b"], append_only=True)
    assert env["DBT_REFRESH_START_DATE"] == "2025-03-01" and env["DBT_REFRESH_ORG_IDS"] == "a,b"
    assert env["DBT_REFRESH_APPEND_ONLY"] == "1"


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
        assert len(notified) == seen[-1][1]  # after each slice

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
