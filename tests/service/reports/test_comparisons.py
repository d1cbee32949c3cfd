"""Report comparisons: against the previous day (or period) and a week earlier, like the oracle."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest

from reports_store import Organization
from service.core.calendar import DateWindow, day_bounds, zone
from service.core.config import DBT_PROJECT_DIR
from service.core.warehouse import get_client
from service.jobs.requests import BackfillRequest
from service.reports.builder import build_report, comparison_windows, history_start
from service.reports.catalog import load_catalog
from service.reports.marts import MartDay, read_mart_days
from tests import oracle
from tests.service.reports.conftest import FIRST_DAY, LAST_DAY, ReportEnv

ORG_ID = "org-a"


def mart_day(day: date, total: int, classified: int, success: int, seconds: float = 0.0) -> MartDay:
    metrics = {column: 0.0 for column in load_catalog(DBT_PROJECT_DIR).metric_columns}
    metrics |= {
        "total_calls": total,
        "classified_calls": classified,
        "success_calls": success,
        "total_duration_seconds": seconds,
        "carrier_asked_transfer_calls": classified // 2,
    }
    return MartDay(ORG_ID, day, metrics, {}, None)


def report_of(org, start: date, end: date, history: list[MartDay], **catalog_changes):
    catalog = load_catalog(DBT_PROJECT_DIR).model_copy(update=catalog_changes)
    by_key = {(day.org_id, day.report_date): day for day in history}
    days = [by_key[(ORG_ID, d)] for d in DateWindow.of(start, end).days if (ORG_ID, d) in by_key]
    return build_report(org, start, end, days, catalog, history=by_key)


@pytest.fixture
def org() -> Organization:
    return Organization(org_id=ORG_ID, name="A", node_persistent_id="node-a", timezone="America/Chicago")


# --- the rule, on hand-made mart days ---------------------------------------------------------


def test_the_catalogue_reads_comparison_min_calls_from_the_project_vars(report_env: ReportEnv):
    assert load_catalog(DBT_PROJECT_DIR).comparison_min_calls == report_env.vars["comparison_min_calls"]


def test_a_day_compares_with_the_day_before_and_the_same_weekday_a_week_earlier(org):
    day = date(2025, 3, 12)
    history = [
        mart_day(day, total=50, classified=40, success=30, seconds=6000),
        mart_day(day - timedelta(days=1), total=40, classified=40, success=20, seconds=4800),
        mart_day(day - timedelta(days=7), total=25, classified=20, success=0, seconds=1500),
    ]
    comparisons = report_of(org, day, day, history)["comparisons"]
    assert comparisons["total_calls"]["previous_day"] == {"value": 40, "delta": 10, "delta_percent": 25.0}
    assert comparisons["success_rate_percent"] == {
        "previous_day": {"value": 50.0, "delta": 25.0, "delta_percent": 50.0},
        # An earlier value of 0 has no percentage change.
        "previous_week": {"value": 0.0, "delta": 75.0, "delta_percent": None},
    }
    # A nested KPI object compares its percentage (the catalogue's headline value).
    assert comparisons["carrier_transfer_over_total_call_attempts"]["previous_day"] == {
        "value": 50.0,
        "delta": 0.0,
        "delta_percent": 0.0,
    }
    assert comparisons["avg_minutes_per_call"]["previous_week"] == {
        "value": 1.0,
        "delta": 1.0,
        "delta_percent": 100.0,
    }
    assert set(comparisons) == {kpi.key for kpi in load_catalog(DBT_PROJECT_DIR).kpis}


def test_no_mart_row_or_too_few_calls_is_no_comparison(org):
    day = date(2025, 3, 12)
    history = [
        mart_day(day, total=50, classified=40, success=30),
        mart_day(day - timedelta(days=1), total=19, classified=19, success=10),  # under 20 calls
        # no mart row a week earlier
    ]
    report = report_of(org, day, day, history)
    assert all(
        entry == {"previous_day": None, "previous_week": None} for entry in report["comparisons"].values()
    )
    # The guard is the var, at its boundary: 19 calls compare once the minimum is 19.
    lowered = report_of(org, day, day, history, comparison_min_calls=19)["comparisons"]
    assert lowered["total_calls"]["previous_day"] == {"value": 19, "delta": 31, "delta_percent": 163.16}
    assert lowered["total_calls"]["previous_week"] is None


def test_an_undefined_rate_has_no_delta(org):
    day = date(2025, 3, 12)
    history = [
        mart_day(day, total=30, classified=0, success=0),
        mart_day(day - timedelta(days=1), total=30, classified=30, success=15),
    ]
    comparisons = report_of(org, day, day, history)["comparisons"]
    assert comparisons["success_rate_percent"]["previous_day"] == {
        "value": 50.0,
        "delta": None,
        "delta_percent": None,
    }


def test_a_range_compares_with_the_period_before_and_the_same_period_a_week_earlier(org):
    start, end = date(2025, 3, 10), date(2025, 3, 12)
    assert comparison_windows(start, end) == {
        "previous_day": (date(2025, 3, 7), date(2025, 3, 9)),
        "previous_week": (date(2025, 3, 3), date(2025, 3, 5)),
    }
    assert history_start(start, end) == date(2025, 3, 3)
    assert comparison_windows(date(2025, 3, 1), date(2025, 3, 10))["previous_day"] == (
        date(2025, 2, 19),
        date(2025, 2, 28),
    )
    history = [
        mart_day(start - timedelta(days=i), total=10, classified=10, success=i % 2) for i in range(-2, 10)
    ]
    comparisons = report_of(org, start, end, history)["comparisons"]
    # Three days of 10 calls: each period has 30 calls, so both compare, on their sums.
    assert comparisons["total_calls"]["previous_day"] == {"value": 30, "delta": 0, "delta_percent": 0.0}
    missing_day = [day for day in history if day.report_date != date(2025, 3, 4)]
    assert report_of(org, start, end, missing_day)["comparisons"]["total_calls"]["previous_week"] is None


# --- reports on the demo warehouse against the oracle ------------------------------------------


def expected(env: ReportEnv, org_id: str, start: date, end: date) -> dict:
    return oracle.report_comparisons(
        env.daily, org_id, start, end, min_calls=env.vars["comparison_min_calls"]
    )


def dst_days(timezone: str) -> list[date]:
    """The zone's DST-change day in the demo window (23 or 25 hours long)."""
    days = {
        "America/Chicago": [date(2025, 3, 9)],
        "Europe/London": [date(2025, 3, 30)],
        "Australia/Sydney": [date(2025, 4, 6)],
        "America/Santiago": [date(2025, 4, 5)],
    }.get(timezone, [])
    for day in days:
        start, end = day_bounds(day, zone(timezone))
        # In UTC: subtracting two aware datetimes of one zone subtracts wall clocks.
        assert end.astimezone(UTC) - start.astimezone(UTC) != timedelta(hours=24), (timezone, day)
    return days


def test_live_reports_compare_like_the_oracle_on_dst_and_zero_call_days(report_env: ReportEnv):
    live = report_env.services.live
    checked = {"null": 0, "compared": 0}
    for org in report_env.orgs:
        days = [FIRST_DAY, FIRST_DAY + timedelta(days=3), FIRST_DAY + timedelta(days=8), LAST_DAY]
        for dst in dst_days(org.timezone):  # the DST day, the day after it and a week after it
            days += [dst, dst + timedelta(days=1), dst + timedelta(days=7)]
        for day in days:
            report, _ = live.report(org, DateWindow.of(day, day))
            want = expected(report_env, org.org_id, day, day)
            assert report["comparisons"] == want, (org.timezone, day)
            for entry in report["comparisons"]["total_calls"].values():
                checked["null" if entry is None else "compared"] += 1
        # The first demo day's day before has a mart row without calls: nothing to compare.
        first, _ = live.report(org, DateWindow.of(FIRST_DAY, FIRST_DAY))
        assert first["comparisons"]["success_rate_percent"] == {"previous_day": None, "previous_week": None}
    assert checked["null"] and checked["compared"]


def test_live_range_reports_over_a_dst_week_compare_like_the_oracle(report_env: ReportEnv):
    live = report_env.services.live
    for org in report_env.orgs:
        for dst in dst_days(org.timezone) or [date(2025, 3, 20)]:
            for start, end in [
                (dst - timedelta(days=3), dst + timedelta(days=3)),
                (dst, dst + timedelta(days=1)),
            ]:
                report, _ = live.report(org, DateWindow.of(start, end))
                assert report["comparisons"] == expected(report_env, org.org_id, start, end), (
                    org.timezone,
                    start,
                )
    # A range starting on the first demo day: the period before it has no calls.
    org = report_env.orgs[0]
    report, _ = live.report(org, DateWindow.of(FIRST_DAY, FIRST_DAY + timedelta(days=2)))
    assert report["comparisons"]["total_calls"] == {"previous_day": None, "previous_week": None}


def test_stored_reports_compare_like_the_oracle(report_env: ReportEnv):
    services = report_env.services
    org = report_env.org("America/Santiago")
    start, end = date(2025, 4, 4), date(2025, 4, 7)  # around Santiago's 25-hour day
    outcome = services.jobs.backfill(BackfillRequest(start_date=start, end_date=end, org_id=org.org_id))
    assert outcome.job.status == "succeeded", (outcome.job.error, outcome.failed)
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        stored = services.store.get_report(org.org_id, day).report_data
        assert stored["comparisons"] == expected(report_env, org.org_id, day, day), day
        assert stored["comparisons"]["total_calls"]["previous_week"] is not None, day


def test_reads_take_the_earlier_days_in_the_same_metrics_query(report_env: ReportEnv):
    settings = report_env.services.settings
    catalog = load_catalog(settings.dbt_project_dir)
    org = report_env.orgs[1]
    day = date(2025, 3, 20)
    queries: list[str] = []
    client = get_client(settings)

    class Recording:
        def query(self, sql, **kwargs):
            queries.append(sql)
            return client.query(sql, **kwargs)

    days = read_mart_days(
        Recording(),
        settings.dbt_schema,
        catalog,
        [org.org_id],
        day,
        day,
        history_from=day - timedelta(days=7),
    )
    assert len(queries) == 2  # metrics (widened) and breakdowns: no query per KPI or per day
    assert {d for _, d in days} == {day - timedelta(days=i) for i in range(8)}
    assert days[(org.org_id, day)].breakdowns and not days[(org.org_id, day - timedelta(days=1))].breakdowns
    read_mart_days(Recording(), settings.dbt_schema, catalog, [org.org_id], day, LAST_DAY, anomalies=True)
    assert len(queries) == 5  # one more for the anomaly flags
