"""The scheduler with a controlled clock: 06:00 local per organization, DST, catch-up, no doubles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reports_store import Organization
from service.core.errors import RefreshFailed
from service.jobs.report_jobs import ReportJobs
from service.jobs.requests import DailyRunRequest
from service.jobs.scheduler import Scheduler, last_fire, next_fire
from service.services import Services
from tests.conftest import make_settings
from tests.source_rows import add_call

ORGS = [
    Organization(org_id="sch-chi", name="Chicago", node_persistent_id="n-chi", timezone="America/Chicago"),
    Organization(org_id="sch-syd", name="Sydney", node_persistent_id="n-syd", timezone="Australia/Sydney"),
    Organization(org_id="sch-kol", name="Kolkata", node_persistent_id="n-kol", timezone="Asia/Kolkata"),
]
# Before every simulated day: catch-up back-fills, and a backfill leaves out the days before an
# organization's first recorded call.
FIRST_CALL_AT = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def record_first_call(settings, org: Organization, at: datetime) -> None:
    """One completed call of `org` at `at` in the source tables."""
    add_call(settings, org.org_id, at)


@pytest.fixture(scope="module")
def services():
    services = Services.open(make_settings("scheduler", scheduler_enabled=True, scheduler_catchup_days=2))
    for org in ORGS:
        services.store.upsert_organization(org)
        record_first_call(services.settings, org, FIRST_CALL_AT)
    yield services
    services.close()


@pytest.fixture(scope="module")
def jobs(services) -> ReportJobs:
    return services.jobs


def spy_daily(jobs: ReportJobs, monkeypatch) -> list[tuple[str, date, datetime]]:
    """Record (org, day, clock) of each daily run while still running the real job."""
    calls: list[tuple[str, date, datetime]] = []
    real = jobs.run_daily

    def recording(request: DailyRunRequest, *, now=None):
        calls.append((request.org_id, request.date, now))
        return real(request, now=now)

    monkeypatch.setattr(jobs, "run_daily", recording)
    return calls


def test_next_fire_is_six_local_across_dst():
    chi = ORGS[0]
    before_change = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    first = next_fire(chi, 6, 0, before_change)
    second = next_fire(chi, 6, 0, first)
    assert first.isoformat() == "2026-11-01T06:00:00-06:00"  # clocks went back at 02:00 that day
    assert second.isoformat() == "2026-11-02T06:00:00-06:00"
    assert second - first == timedelta(hours=24)
    assert (
        next_fire(chi, 6, 0, datetime(2026, 3, 7, 12, tzinfo=UTC)).isoformat() == "2026-03-08T06:00:00-05:00"
    )
    assert last_fire(chi, 6, 0, second) == second
    assert last_fire(chi, 6, 0, second - timedelta(seconds=1)) == first


def test_each_org_runs_its_yesterday_once_a_day_at_six_local(jobs, monkeypatch):
    calls = spy_daily(jobs, monkeypatch)
    clock = Clock(datetime(2026, 10, 30, 0, 0, tzinfo=UTC))
    scheduler = Scheduler(jobs, clock=clock)
    while clock.now < datetime(2026, 11, 3, 0, 0, tzinfo=UTC):  # Chicago leaves DST on Nov 1
        scheduler.tick()
        clock.now += timedelta(minutes=10)

    by_org: dict[str, list[tuple[date, datetime]]] = {}
    for org_id, day, now in calls:
        by_org.setdefault(org_id, []).append((day, now))
    for org in ORGS:
        runs = by_org[org.org_id]
        days = [day for day, _ in runs]
        assert len(days) == len(set(days)), f"{org.org_id} ran a day twice"
        for day, fired in runs:
            local = fired.astimezone(ZoneInfo(org.timezone))
            assert local.date() - timedelta(days=1) == day
            assert (local.hour, local.minute) >= (6, 0) and local - local.replace(
                hour=6, minute=0
            ) < timedelta(minutes=10)
    chicago_days = [day for day, _ in by_org["sch-chi"]]
    assert chicago_days == [date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)]
    for org in ORGS:
        assert jobs.store.report_dates(org.org_id, date(2026, 10, 1), date(2026, 11, 30)) >= set(
            day for day, _ in by_org[org.org_id]
        )
    status = scheduler.status()
    assert {o["org_id"] for o in status["organizations"]} == {o.org_id for o in ORGS}
    assert all(o["last_result"] == "succeeded" for o in status["organizations"]), status


def test_catch_up_generates_missed_days_once(jobs):
    clock = Clock(datetime(2026, 11, 10, 13, 0, tzinfo=UTC))  # 07:00 in Chicago, 00:00 next day in Sydney
    scheduler = Scheduler(jobs, clock=clock)
    scheduler.catch_up()
    chicago = jobs.store.report_dates("sch-chi", date(2026, 11, 5), date(2026, 11, 10))
    assert chicago == {date(2026, 11, 8), date(2026, 11, 9)}
    sydney = jobs.store.report_dates("sch-syd", date(2026, 11, 5), date(2026, 11, 11))
    assert sydney == {date(2026, 11, 8), date(2026, 11, 9)}  # Nov 11 06:00 Sydney is not reached yet
    before = jobs.store.count_reports("sch-chi")
    scheduler.catch_up()
    assert jobs.store.count_reports("sch-chi") == before
    assert all(job.status == "succeeded" for job in jobs.store.list_jobs(kind="backfill"))
    status = {o["org_id"]: o for o in scheduler.status()["organizations"]}
    assert status["sch-chi"]["last_report_date"] == "2026-11-08..2026-11-09"


def test_the_frequent_refresh_is_recorded_in_the_status(jobs):
    scheduler = Scheduler(jobs, clock=Clock(datetime(2026, 11, 10, 13, 0, tzinfo=UTC)))
    assert scheduler.status()["last_refresh"] is None
    scheduler.refresh()
    last = scheduler.status()["last_refresh"]
    assert last["result"] == "succeeded" and last["error"] is None, last
    assert last["at"] == "2026-11-10T13:00:00+00:00"


def test_a_failed_daily_run_is_retried_with_backoff_for_the_same_day(jobs, monkeypatch):
    """A warehouse outage fails the day's job; the next ticks retry that day after 1, then 2 minutes."""
    calls = spy_daily(jobs, monkeypatch)
    real_refresh, outages = jobs.refresher.refresh, [2]

    def refresh(*args, **kwargs):
        if outages[0]:
            outages[0] -= 1
            raise RefreshFailed("dbt refresh failed: Cannot reach ClickHouse at 127.0.0.1:9")
        return real_refresh(*args, **kwargs)

    monkeypatch.setattr(jobs.refresher, "refresh", refresh)
    kolkata = ZoneInfo("Asia/Kolkata")
    clock = Clock(datetime(2026, 11, 20, 6, 0, tzinfo=kolkata).astimezone(UTC) - timedelta(minutes=1))
    scheduler = Scheduler(jobs, clock=clock)
    scheduler.tick()  # schedules 06:00 local
    for _ in range(12):  # 06:00 .. 06:11 local, a tick a minute
        clock.now += timedelta(minutes=1)
        scheduler.tick()
    runs = [(day, now.astimezone(kolkata).strftime("%H:%M")) for org, day, now in calls if org == "sch-kol"]
    assert runs == [
        (date(2026, 11, 19), "06:00"),
        (date(2026, 11, 19), "06:01"),
        (date(2026, 11, 19), "06:03"),
    ]
    kol = next(o for o in scheduler.status()["organizations"] if o["org_id"] == "sch-kol")
    assert kol["last_result"] == "succeeded"
    assert kol["next_run"].startswith("2026-11-21T06:00")
    jobs_of_day = [
        j for j in jobs.store.list_jobs(50, org_id="sch-kol") if j.start_date == date(2026, 11, 19)
    ]
    assert [j.status for j in jobs_of_day] == ["succeeded", "failed", "failed"]
    assert all(len(j.error.splitlines()) == 1 for j in jobs_of_day if j.error)
