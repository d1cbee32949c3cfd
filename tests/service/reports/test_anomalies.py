"""Anomaly flags: the baselines model and the reports' `anomalies` against the oracle."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from service.core.calendar import DateWindow
from service.core.warehouse import get_client
from service.jobs.requests import BackfillRequest
from service.reports.catalog import load_catalog
from tests import oracle
from tests.service.reports.conftest import FIRST_DAY, LAST_DAY, SPIKE_DAY, ReportEnv

# From here on every weekday has at least four earlier weeks of calls.
JUDGED_FROM = FIRST_DAY + timedelta(weeks=4)


def rules(env: ReportEnv) -> dict:
    v = env.vars
    return {
        "weeks": v["anomaly_baseline_weeks"],
        "min_calls": v["anomaly_min_calls"],
        "min_baseline_days": v["anomaly_min_baseline_days"],
        "threshold": v["anomaly_z_threshold"],
        "min_change_percent": v["anomaly_min_change_percent"],
    }


def expected(env: ReportEnv, org_id: str, day: date) -> list[dict]:
    return oracle.anomaly_flags(env.daily, org_id, day, **rules(env))


def rounded(flag: dict) -> dict:
    """A flag as the report shows it (2 decimals)."""
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in flag.items()}


def assert_same_flags(got: list[dict], want: list[dict], where: object) -> None:
    assert [(g["kpi"], g["direction"]) for g in got] == [(w["kpi"], w["direction"]) for w in want], where
    for g, w in zip(got, want, strict=True):
        w = rounded(w)
        assert g["value"] == pytest.approx(w["value"], abs=0.011), where
        assert g["baseline_median"] == pytest.approx(w["baseline_median"], abs=0.011), where
        assert (g["z"] is None) == (w["z"] is None), where
        if w["z"] is not None:
            assert g["z"] == pytest.approx(w["z"], abs=0.011), where


def test_the_baselines_model_equals_the_oracle_on_every_day(report_env: ReportEnv):
    settings = report_env.services.settings
    catalog = load_catalog(settings.dbt_project_dir)
    rows = (
        get_client(settings)
        .query(
            f"SELECT org_id, report_date, kpi, is_anomaly, value, baseline_median, z, direction, calls "
            f"FROM {settings.dbt_schema}.agg_daily_org_kpi_baselines "
            "WHERE report_date BETWEEN {start:Date} AND {end:Date}",
            parameters={"start": FIRST_DAY, "end": LAST_DAY},
        )
        .result_rows
    )
    rate_kpis = [kpi.key for kpi in catalog.kpis if kpi.is_rate]
    assert {row[2] for row in rows} == set(rate_kpis) == set(oracle.RATE_KPIS)  # one catalogue
    flagged: dict[tuple[str, date], list[dict]] = {}
    for org_id, day, kpi, is_anomaly, value, median, z, direction, calls in rows:
        assert calls >= rules(report_env)["min_calls"] or not is_anomaly
        if is_anomaly:
            flag = {"kpi": kpi, "value": value, "baseline_median": median, "z": z, "direction": direction}
            flagged.setdefault((org_id, day), []).append(flag)
    days = [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
    total = 0
    for org in report_env.orgs:
        for day in days:
            want = expected(report_env, org.org_id, day)
            got = sorted(flagged.get((org.org_id, day), []), key=lambda f: rate_kpis.index(f["kpi"]))
            assert_same_flags(got, want, (org.timezone, day))
            total += len(want)
    assert total >= 1  # the spike at least (non-convertible calls up)


def test_a_spike_is_flagged_in_the_live_and_the_stored_report(report_env: ReportEnv):
    services = report_env.services
    org = report_env.org("America/Chicago")
    live, _ = services.live.report(org, DateWindow.of(SPIKE_DAY, SPIKE_DAY))
    flags = {flag["kpi"]: flag for flag in live["anomalies"]}
    # Every call a voicemail: non-convertible calls from about a third to all. (The success rate's
    # fall to 0 % on some 25 calls is within 3.5 sampling errors of its baseline: not flagged.)
    assert flags["non_convertible_calls"]["direction"] == "up"
    assert flags["non_convertible_calls"]["value"] == live["kpis"]["non_convertible_calls"]["percentage"]
    assert all(
        set(flag) == {"kpi", "value", "baseline_median", "z", "direction"} for flag in live["anomalies"]
    )
    assert_same_flags(live["anomalies"], expected(report_env, org.org_id, SPIKE_DAY), SPIKE_DAY)

    outcome = services.jobs.backfill(
        BackfillRequest(start_date=SPIKE_DAY, end_date=SPIKE_DAY, org_id=org.org_id)
    )
    assert outcome.job.status == "succeeded", (outcome.job.error, outcome.failed)
    stored = services.store.get_report(org.org_id, SPIKE_DAY).report_data
    assert stored["anomalies"] == live["anomalies"]


def test_range_reports_list_each_days_flags_with_its_date(report_env: ReportEnv):
    live = report_env.services.live
    for org in report_env.orgs:
        # Five weeks with DST changes in them (Chicago's is before: its baselines span it).
        start, end = LAST_DAY - timedelta(weeks=5) + timedelta(days=1), LAST_DAY
        report, _ = live.report(org, DateWindow.of(start, end))
        want = []
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            want += [{"date": day.isoformat(), **flag} for flag in expected(report_env, org.org_id, day)]
        got = report["anomalies"]
        assert [g["date"] for g in got] == [w["date"] for w in want], org.timezone
        assert_same_flags(got, want, org.timezone)
        assert all(list(g)[0] == "date" for g in got)


def test_early_days_without_enough_baseline_are_never_flagged(report_env: ReportEnv):
    live = report_env.services.live
    for org in report_env.orgs:
        report, _ = live.report(org, DateWindow.of(FIRST_DAY, JUDGED_FROM - timedelta(days=1)))
        assert report["anomalies"] == [], org.timezone


def baseline_rows(env: ReportEnv) -> list[tuple]:
    """Every row of the baselines table, floats rounded: a day's sums add its calls in the order
    of their parts, which a rebuild changes (a full build writes a day's calls in several ranges of
    run ids, a window refresh in one), so the last bits of a mean may differ."""
    settings = env.services.settings
    rows = (
        get_client(settings)
        .query(f"SELECT * FROM {settings.dbt_schema}.agg_daily_org_kpi_baselines ORDER BY ALL")
        .result_rows
    )
    return [tuple(round(value, 9) if isinstance(value, float) else value for value in row) for row in rows]


def test_a_window_refresh_rebuilds_its_baselines_and_leaves_the_rest(report_env: ReportEnv):
    """A backfill's run rebuilds its organization's baselines from the window's first day to
    anomaly_baseline_weeks after its last, and every row of a plain run: both leave the table as a
    full build makes it (each row once, the oracle's flags)."""
    refresher = report_env.services.refresher
    before = baseline_rows(report_env)
    org = report_env.org("America/Chicago")
    outcome = refresher.refresh(SPIKE_DAY - timedelta(days=3), SPIKE_DAY, [org.org_id])
    assert outcome.success, outcome.failures or outcome.error
    assert baseline_rows(report_env) == before
    outcome = refresher.refresh(FIRST_DAY, FIRST_DAY + timedelta(days=1))  # every organization
    assert outcome.success, outcome.failures or outcome.error
    assert baseline_rows(report_env) == before
    test_the_baselines_model_equals_the_oracle_on_every_day(report_env)
