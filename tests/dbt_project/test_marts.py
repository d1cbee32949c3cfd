"""The marts against an independent Python oracle of the metric contract, on messy demo data.

Runs real dbt on the embedded warehouse: every organization and local day (DST days in both
hemispheres included) must equal the oracle exactly; window rebuilds must be idempotent and
local; late outputs and organization changes must land.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from demo_data import generate_demo_data
from reports_store import open_store
from service.core.config import DBT_PROJECT_DIR
from service.core.dbt_runner import refresh_marts, run_dbt
from service.core.warehouse import get_client
from service.core.warehouse_orgs import sync_organizations
from service.reports.catalog import load_catalog
from tests import oracle
from tests.conftest import make_settings
from tests.source_rows import add_output

METRIC_COLUMNS = [key for key in oracle.COUNT_KEYS] + ["total_duration_seconds"]


@pytest.fixture(scope="module")
def env():
    settings = make_settings("marts")
    client = get_client(settings)
    store = open_store(settings.reports_store_url)
    generate_demo_data(
        client, store, orgs=5, days=6, calls_per_day=60, seed=11, database=settings.clickhouse_database
    )
    outcome = refresh_marts(settings, full_refresh=True)
    assert outcome.success, outcome.failures or outcome.error
    yield settings, client, store
    store.close()


def mart_metrics(client, settings) -> dict[tuple[str, date], dict]:
    rows = client.query(
        f"SELECT org_id, report_date, {', '.join(METRIC_COLUMNS)} FROM {settings.dbt_schema}.agg_daily_org_metrics"
    ).named_results()
    return {(r["org_id"], r["report_date"]): {c: r[c] for c in METRIC_COLUMNS} for r in rows}


def mart_breakdowns(client, settings) -> dict[tuple[str, date], dict[str, Counter]]:
    result: dict[tuple[str, date], dict[str, Counter]] = {}
    for org_id, day, dimension, value, count in client.query(
        f"SELECT org_id, report_date, dimension, value, call_count FROM {settings.dbt_schema}.agg_daily_org_breakdowns"
    ).result_rows:
        result.setdefault((org_id, day), {}).setdefault(dimension, Counter())[value] = count
    return result


def assert_marts_equal_oracle(client, settings, store):
    orgs = store.list_organizations()
    expected = oracle.daily_metrics(client, orgs, database=settings.clickhouse_database)
    actual = mart_metrics(client, settings)
    breakdowns = mart_breakdowns(client, settings)
    assert expected, "the oracle found no calls"
    for key, want in expected.items():
        got = actual.get(key)
        assert got is not None, f"mart has no row for {key}"
        for column in oracle.COUNT_KEYS:
            assert got[column] == want[column], (key, column)
        assert got["total_duration_seconds"] == pytest.approx(want["total_duration_seconds"], abs=1e-6), key
        got_breakdowns = breakdowns.get(key, {})
        for dimension in oracle.BREAKDOWN_FIELDS:
            want_counts = {v: c for v, c in want["breakdowns"][dimension].items() if c}
            assert dict(got_breakdowns.get(dimension, {})) == want_counts, (key, dimension)
    # Days the oracle has no call for are rows of zeros in the mart.
    for key, got in actual.items():
        if key not in expected:
            assert got["total_calls"] == 0, key
    return expected


def test_marts_equal_the_oracle_including_dst_days(env):
    settings, client, store = env
    expected = assert_marts_equal_oracle(client, settings, store)
    zones = {org.org_id: org.timezone for org in store.list_organizations()}
    dst_days = {
        (zones[org_id], day)
        for org_id, day in expected
        if len({(datetime.combine(day, datetime.min.time()) + timedelta(hours=h)).utcoffset() for h in (0,)})
        == 1
    }
    assert dst_days  # sanity: the expected set is non-trivial
    lengths = client.query(
        f"SELECT DISTINCT dateDiff('hour', day_start_utc, day_end_utc) FROM {settings.dbt_schema}.agg_daily_org_metrics "
        "WHERE total_calls > 0"
    ).result_rows
    assert {23, 25} <= {row[0] for row in lengths}, "demo data must have calls on 23- and 25-hour days"
    hemispheres = client.query(
        f"SELECT DISTINCT timezone FROM {settings.dbt_schema}.agg_daily_org_metrics "
        "WHERE total_calls > 0 AND dateDiff('hour', day_start_utc, day_end_utc) != 24"
    ).result_rows
    assert {"America/Chicago", "Australia/Sydney"} <= {row[0] for row in hemispheres}


def snapshot(client, settings, table: str) -> list[tuple]:
    columns = [
        name
        for (name,) in client.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "AND name != 'refreshed_at' ORDER BY position",
            parameters={"db": settings.dbt_schema, "t": table},
        ).result_rows
    ]
    return sorted(
        client.query(f"SELECT {', '.join(columns)} FROM {settings.dbt_schema}.{table}").result_rows, key=repr
    )


def refreshed(client, settings) -> dict[tuple[str, date], datetime]:
    return {
        (o, d): r
        for o, d, r in client.query(
            f"SELECT org_id, report_date, refreshed_at FROM {settings.dbt_schema}.agg_daily_org_metrics"
        ).result_rows
    }


def test_rebuilding_a_window_twice_changes_nothing_and_leaves_other_days(env):
    settings, client, store = env
    tables = ("fct_calls", "agg_daily_org_metrics", "agg_daily_org_breakdowns")
    before = {t: snapshot(client, settings, t) for t in tables}
    stamps_before = refreshed(client, settings)
    org = store.list_organizations()[0]
    day = max(d for (o, d), r in stamps_before.items() if o == org.org_id) - timedelta(days=2)
    for _ in range(2):
        outcome = refresh_marts(settings, start=day, end=day, org_ids=[org.org_id])
        assert outcome.success, outcome.failures
        assert {t: snapshot(client, settings, t) for t in tables} == before
    stamps_after = refreshed(client, settings)
    changed = {key for key in stamps_before if stamps_after[key] != stamps_before[key]}
    assert changed == {(org.org_id, day)}


def test_plain_refresh_lands_late_outputs_and_touches_only_their_days(env):
    settings, client, store = env
    org = store.list_organizations()[1]
    db = settings.clickhouse_database
    # A call of two days ago gets a new (latest) output now: its classification changes.
    run_id, started = client.query(
        f"SELECT r.id, r.timestamp FROM {db}.public_runs r INNER JOIN {db}.public_sessions s ON s.run_id = r.id "
        "WHERE s.org_id = {org:String} AND r.timestamp < now() - INTERVAL 30 HOUR "
        "AND s.user_number NOT IN {excluded:Array(String)} ORDER BY r.timestamp DESC LIMIT 1",
        parameters={"org": org.org_id, "excluded": org.excluded_numbers},
    ).first_row
    add_output(settings, run_id, org.node_persistent_id, "late_reclassified", datetime.now(UTC))
    stamps_before = refreshed(client, settings)
    outcome = refresh_marts(settings)
    assert outcome.success, outcome.failures
    window = client.query(
        f"SELECT org_id, report_date FROM {settings.dbt_schema}.int_refresh_window"
    ).result_rows
    assert window, "the late output must select its day"
    assert len(window) <= 4 * len(store.list_organizations()), "a plain refresh rebuilds days, not history"
    expected = assert_marts_equal_oracle(client, settings, store)
    late_days = [
        key for key, m in expected.items() if m["breakdowns"]["call_classification"]["late_reclassified"]
    ]
    assert len(late_days) == 1 and late_days[0][0] == org.org_id
    stamps_after = refreshed(client, settings)
    assert stamps_after[late_days[0]] != stamps_before[late_days[0]]
    old_days = [k for k in stamps_before if k[1] < started.date() - timedelta(days=3)]
    assert old_days and all(stamps_after[k] == stamps_before[k] for k in old_days)


def test_a_plain_refresh_with_nothing_new_rebuilds_no_day(env):
    settings, client, _ = env
    assert refresh_marts(settings).success
    assert client.query(f"SELECT count() FROM {settings.dbt_schema}.int_refresh_window").first_row[0] == 0


def test_excluded_numbers_change_rebuilds_the_organization(env):
    settings, client, store = env
    org = store.list_organizations()[2]
    db = settings.clickhouse_database
    (number,) = client.query(
        f"SELECT user_number FROM {db}.public_sessions WHERE org_id = {{org:String}} AND user_number != '' "
        "GROUP BY user_number ORDER BY count() DESC LIMIT 1",
        parameters={"org": org.org_id},
    ).first_row
    store.upsert_organization(org.model_copy(update={"excluded_numbers": [*org.excluded_numbers, number]}))
    sync_organizations(settings)
    outcome = refresh_marts(settings, org_ids=[org.org_id])
    assert outcome.success, outcome.failures
    assert_marts_equal_oracle(client, settings, store)


def test_dbt_build_passes_every_data_test_and_unit_test(env):
    settings, _, _ = env
    outcome = run_dbt(["build"], settings)
    assert outcome.success, outcome.failures or outcome.error


def test_kpi_baselines_cover_every_rate_kpi_of_the_catalogue_on_every_mart_day(env):
    settings, client, _ = env
    schema = settings.dbt_schema
    rate_kpis = {kpi.key: kpi for kpi in load_catalog(DBT_PROJECT_DIR).kpis if kpi.is_rate}
    mart_days = client.query(f"SELECT count() FROM {schema}.agg_daily_org_metrics").first_row[0]
    counts = dict(
        client.query(
            f"SELECT kpi, count() FROM {schema}.agg_daily_org_kpi_baselines GROUP BY kpi"
        ).result_rows
    )
    assert counts == {key: mart_days for key in rate_kpis}
    # Each row's value is the catalogue's headline value of the mart row (unrounded).
    metrics = {
        (r["org_id"], r["report_date"]): r
        for r in client.query(
            f"SELECT * FROM {schema}.agg_daily_org_metrics WHERE total_calls > 0"
        ).named_results()
    }
    rows = client.query(
        f"SELECT org_id, report_date, kpi, value, calls FROM {schema}.agg_daily_org_kpi_baselines WHERE calls > 0"
    ).result_rows
    assert rows
    for org_id, day, key, value, calls in rows:
        kpi = rate_kpis[key]
        mart = metrics[(org_id, day)]
        assert calls == mart[kpi.denominator]
        assert round(value, 2) == kpi.headline_value(mart), (org_id, day, key)


def test_the_baselines_model_takes_its_kpis_from_the_catalogue(tmp_path):
    """A rate KPI added to meta.report_kpis is in the compiled model, with no second list to edit."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    marts = project / "models/marts/_marts.yml"
    text = marts.read_text()
    anchor = "        - key: success_rate_percent\n"
    new_kpi = (
        "        - key: success_over_all_calls\n"
        "          numerator: success_calls\n"
        "          denominator: total_calls\n"
        "          multiply_by: 100\n"
    )
    marts.write_text(text.replace(anchor, new_kpi + anchor, 1))
    settings = make_settings("baselines_kpis", dbt_project_dir=project, dbt_target_path=tmp_path / "target")
    outcome = run_dbt(["compile", "--select", "agg_daily_org_kpi_baselines"], settings)
    assert outcome.success, outcome.error
    compiled = next((tmp_path / "target" / "compiled").rglob("agg_daily_org_kpi_baselines.sql")).read_text()
    assert "'success_over_all_calls' as kpi" in compiled
    assert "if(total_calls > 0, success_calls * 100 / 1 / total_calls, NULL)" in compiled
    assert "'total_calls' as kpi" not in compiled  # a count has no rate to watch
