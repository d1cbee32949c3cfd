"""The plain refresh's watermark against rows that never reach a mart and rows stamped ahead of the clock.

A plain refresh selects the days touched by source rows newer than the marts' watermark (the
newest source row behind them). Two kinds of rows must not bend it: another node's outputs (no
mart keeps them, so they would select their day at every refresh) and a row whose created_at is
ahead of the clock (it would lift the watermark above rows that arrive before that time). Nor may
a mart that holds only some calls (the breakdowns) hold it back, and a run whose breakdowns fail
must leave it where it was.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from reports_store import open_store
from service.core.dbt_runner import refresh_marts, run_dbt
from service.core.warehouse import get_client
from tests.conftest import load_demo_data, make_settings
from tests.source_rows import add_call, add_output


@pytest.fixture(scope="module")
def env():
    settings = make_settings("watermark")
    load_demo_data(settings, orgs=2, days=4, calls_per_day=40, seed=23)
    assert refresh_marts(settings, full_refresh=True).success
    with open_store(settings.reports_store_url) as store:
        yield settings, get_client(settings), store


def a_call(client, settings, org, *, older_than_hours: int) -> str:
    """The newest counted call of `org` started more than `older_than_hours` ago."""
    db = settings.clickhouse_database
    return client.query(
        f"SELECT r.id FROM {db}.public_runs r INNER JOIN {db}.public_sessions s ON s.run_id = r.id "
        "WHERE s.org_id = {org:String} AND s.user_number NOT IN {excluded:Array(String)} "
        "AND r.timestamp < now() - toIntervalHour({hours:UInt32}) ORDER BY r.timestamp DESC LIMIT 1",
        parameters={"org": org.org_id, "excluded": org.excluded_numbers, "hours": older_than_hours},
    ).first_row[0]


def window_size(client, settings) -> int:
    return client.query(f"SELECT count() FROM {settings.dbt_schema}.int_refresh_window").first_row[0]


def classified_as(client, settings, value: str) -> int:
    return client.query(
        f"SELECT sum(call_count) FROM {settings.dbt_schema}.agg_daily_org_breakdowns "
        "WHERE dimension = 'call_classification' AND value = {value:String}",
        parameters={"value": value},
    ).first_row[0]


def test_another_nodes_output_selects_no_day(env):
    settings, client, store = env
    org = store.list_organizations()[0]
    assert refresh_marts(settings).success and window_size(client, settings) == 0
    other_node = str(uuid.uuid4())
    add_output(
        settings, a_call(client, settings, org, older_than_hours=2), other_node, "x", datetime.now(UTC)
    )
    for _ in range(2):
        assert refresh_marts(settings).success
        assert window_size(client, settings) == 0


def newest_loaded_at(client, settings, mart: str) -> datetime:
    return client.query(f"SELECT max(loaded_at) FROM {settings.dbt_schema}.{mart}").first_row[0]


def test_a_newest_call_without_an_output_selects_its_day_once(env):
    """The breakdowns hold classified calls only: a newer call without an output (one in progress)
    is not in them, and must not keep its day selected at every refresh (nor make each refresh
    run dbt) by holding the watermark back."""
    settings, client, store = env
    org = store.list_organizations()[0]
    assert refresh_marts(settings).success
    add_call(settings, org.org_id, datetime.now(UTC) - timedelta(seconds=5))
    assert refresh_marts(settings).success and window_size(client, settings) >= 1
    # The premise: the breakdowns' newest row is older than that call.
    assert newest_loaded_at(client, settings, "agg_daily_org_breakdowns") < newest_loaded_at(
        client, settings, "fct_calls"
    )
    assert refresh_marts(settings).success
    assert window_size(client, settings) == 0


def test_a_run_whose_breakdowns_fail_leaves_the_watermark(env):
    """The metrics mart, whose loaded_at is the watermark, is built after the breakdowns: when they
    fail it is skipped, so the next refresh selects the same days and the breakdowns catch up."""
    settings, client, store = env
    org = store.list_organizations()[0]
    assert refresh_marts(settings).success
    call = add_call(settings, org.org_id, datetime.now(UTC) - timedelta(seconds=5))
    add_output(settings, call, org.node_persistent_id, "after-a-failure", datetime.now(UTC))
    broken = run_dbt(["run", "--vars", "{breakdown_dimensions: [no_such_column]}"], settings)
    assert not broken.success
    assert classified_as(client, settings, "after-a-failure") == 0  # the breakdowns failed
    assert refresh_marts(settings).success
    assert classified_as(client, settings, "after-a-failure") == 1


def test_a_row_ahead_of_the_clock_hides_no_later_arrival(env):
    settings, client, store = env
    org = store.list_organizations()[1]
    # A call ten minutes ago whose output a source clock two hours ahead stamped.
    now = datetime.now(UTC)
    recent = add_call(settings, org.org_id, now - timedelta(minutes=10))
    add_output(settings, recent, org.node_persistent_id, "ahead", now + timedelta(hours=2))
    assert refresh_marts(settings).success
    assert classified_as(client, settings, "ahead") == 1
    # Then a late output of a call of an earlier day (outside the days the first row keeps
    # selecting while it is in the future) arrives, stamped by a correct clock before that time.
    late = a_call(client, settings, org, older_than_hours=27)
    add_output(settings, late, org.node_persistent_id, "late", datetime.now(UTC))
    assert refresh_marts(settings).success
    assert classified_as(client, settings, "late") == 1
