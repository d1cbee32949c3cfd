"""Report jobs end to end: demo data -> dbt -> stored reports equal to the oracle."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from demo_data import generate_demo_data
from reports_store import Organization, StoreError
from service.core.calendar import today_in, zone
from service.core.errors import InvalidInput, NotFound, OrganizationNotFound
from service.core.warehouse import get_client
from service.jobs.report_jobs import ReportJobs
from service.jobs.requests import BackfillRequest, GenerateRequest
from service.organizations.models import OrganizationChanges
from service.services import Services
from tests import oracle
from tests.conftest import make_settings
from tests.source_rows import add_call, add_output

DAYS = 4  # the window most tests back-fill: the last DAYS days that are over
HISTORY_DAYS = 16  # demo days: every day a test stores has recorded calls in every organization


@pytest.fixture(scope="module")
def services():
    settings = make_settings("jobs")
    services = Services.open(settings)
    generate_demo_data(
        get_client(settings),
        services.store,
        orgs=3,
        days=HISTORY_DAYS,
        calls_per_day=40,
        seed=5,
        database=settings.clickhouse_database,
    )
    yield services
    services.close()


@pytest.fixture(scope="module")
def jobs(services) -> ReportJobs:
    return services.jobs


def last_days(jobs: ReportJobs, org: Organization | None = None) -> tuple[date, date]:
    """The last DAYS days that are over in `org`'s zone (default: in every organization's zone)."""
    orgs = [org] if org is not None else jobs.store.list_organizations()
    end = min(today_in(zone(o.timezone)) for o in orgs) - timedelta(days=1)
    return end - timedelta(days=DAYS - 1), end


def backfill(jobs: ReportJobs, start: date, end: date, org_id: str | None = None, **options):
    return jobs.backfill(BackfillRequest(start_date=start, end_date=end, org_id=org_id, **options))


def expected_report(jobs: ReportJobs, org_id: str, day: date) -> dict:
    org = jobs.store.get_organization(org_id)
    client = get_client(jobs.settings)
    metrics = oracle.daily_metrics(
        client, [org], database=jobs.settings.clickhouse_database, start=day, end=day
    )
    day_metrics = metrics.get((org_id, day), oracle.empty_metrics())
    return {"kpis": oracle.report_kpis(day_metrics), "breakdowns": oracle.report_breakdowns(day_metrics)}


def assert_report_matches_oracle(jobs: ReportJobs, org_id: str, day: date, report: dict) -> None:
    expected = expected_report(jobs, org_id, day)
    assert report["kpis"] == expected["kpis"], (org_id, day)
    assert report["breakdowns"] == expected["breakdowns"], (org_id, day)
    tz = zone(jobs.store.get_organization(org_id).timezone)
    assert report["date_range"]["start_date"] == datetime.combine(day, datetime.min.time(), tz).isoformat()
    assert set(report["metadata"]) >= {
        "org_id",
        "org_name",
        "generated_at",
        "mart_refreshed_at",
        "metrics_version",
    }


def test_backfill_stores_reports_equal_to_the_oracle_then_skips_then_forces(jobs):
    start, end = last_days(jobs)
    outcome = backfill(jobs, start, end)
    orgs = jobs.store.list_organizations()
    assert outcome.job.status == "succeeded", (outcome.job.error, outcome.failed)
    assert outcome.job.counts == {"generated": DAYS * len(orgs), "skipped": 0, "failed": 0}
    for org in orgs:
        for offset in range(DAYS):
            day = start + timedelta(days=offset)
            assert_report_matches_oracle(
                jobs, org.org_id, day, jobs.store.get_report(org.org_id, day).report_data
            )

    again = backfill(jobs, start, end)
    assert again.job.counts == {"generated": 0, "skipped": DAYS * len(orgs), "failed": 0}

    before = {
        (o.org_id, d): jobs.store.get_report(o.org_id, d).report_data for o in orgs for d in [start, end]
    }
    forced = backfill(jobs, start, end, force=True)
    assert forced.job.counts["generated"] == DAYS * len(orgs)
    for (org_id, day), report in before.items():
        after = jobs.store.get_report(org_id, day).report_data
        assert after["kpis"] == report["kpis"] and after["breakdowns"] == report["breakdowns"]


def test_last_days_backfills_the_days_that_are_over(jobs):
    start, end = last_days(jobs)
    outcome = jobs.backfill(BackfillRequest(last_days=DAYS))
    assert outcome.job.status == "succeeded", outcome.job.error
    assert (outcome.job.start_date, outcome.job.end_date) == (start, end)
    assert outcome.job.counts["generated"] + outcome.job.counts["skipped"] == DAYS * len(
        jobs.store.list_organizations()
    )


def test_bad_input_is_refused_and_writes_nothing(jobs):
    org = jobs.store.list_organizations()[0]
    jobs_before = len(jobs.store.list_jobs(limit=1000))
    today = today_in(zone(org.timezone))
    with pytest.raises(OrganizationNotFound, match="Unknown organization"):
        jobs.generate(GenerateRequest(org_id="no-such-org", date=today - timedelta(days=1)))
    with pytest.raises(InvalidInput, match="not over yet"):
        jobs.generate(GenerateRequest(org_id=org.org_id, date=today))
    with pytest.raises(InvalidInput, match="before start"):
        backfill(jobs, today - timedelta(days=2), today - timedelta(days=5))
    with pytest.raises(InvalidInput, match="more than 366"):
        backfill(jobs, today - timedelta(days=800), today - timedelta(days=2))
    with pytest.raises(InvalidInput, match="not over yet"):
        backfill(jobs, today - timedelta(days=2), today)
    with pytest.raises(InvalidInput, match="not over yet"):
        jobs.start_backfill(BackfillRequest(start_date=today - timedelta(days=2), end_date=today))
    assert len(jobs.store.list_jobs(limit=1000)) == jobs_before


def test_a_day_before_the_first_call_is_refused_unless_allowed_and_can_be_deleted(jobs):
    org = jobs.store.list_organizations()[0]
    first = jobs.first_call_day(org)
    assert first is not None
    before_data = first - timedelta(days=1)
    with pytest.raises(InvalidInput, match=str(first)) as refused:
        jobs.generate(GenerateRequest(org_id=org.org_id, date=before_data))
    assert str(before_data) in str(refused.value)
    assert jobs.store.get_report(org.org_id, before_data) is None

    left_out = backfill(jobs, first - timedelta(days=2), first, org.org_id)
    assert left_out.job.status == "succeeded", left_out.job.error
    assert sum(left_out.job.counts.values()) == 1  # only the first call's day
    assert org.org_id in left_out.job.details["note"]
    assert jobs.store.report_dates(org.org_id, first - timedelta(days=2), first - timedelta(days=1)) == set()

    allowed = jobs.generate(GenerateRequest(org_id=org.org_id, date=before_data, allow_empty=True))
    assert allowed.status == "generated" and allowed.report["kpis"]["total_calls"] == 0
    deleted = jobs.delete_report(org.org_id, before_data)
    assert deleted.job.status == "succeeded" and deleted.job.kind == "delete"
    assert jobs.store.get_report(org.org_id, before_data) is None
    with pytest.raises(NotFound, match="nothing to delete"):
        jobs.delete_report(org.org_id, before_data)


def test_concurrent_generates_store_one_report_and_both_get_it(jobs):
    org = jobs.store.list_organizations()[0]
    day = last_days(jobs)[0] - timedelta(days=1)
    results: list = []
    request = GenerateRequest(org_id=org.org_id, date=day)
    threads = [threading.Thread(target=lambda: results.append(jobs.generate(request))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status for r in results) == ["generated", "skipped"]
    assert results[0].report == results[1].report
    assert jobs.store.report_dates(org.org_id, day, day) == {day}


def test_a_failing_organization_does_not_stop_the_others(jobs, monkeypatch):
    orgs = jobs.store.list_organizations()
    broken = orgs[0].org_id
    day = last_days(jobs)[0] - timedelta(days=2)
    real_save = jobs.store.save_report

    def save(org_id, report_date, data, **options):
        if org_id == broken:
            raise StoreError("disk full")
        return real_save(org_id, report_date, data, **options)

    monkeypatch.setattr(jobs.store, "save_report", save)
    outcome = backfill(jobs, day, day)
    assert outcome.job.status == "partial"
    assert set(outcome.failed) == {f"{broken}/{day}"}
    assert all(jobs.store.get_report(o.org_id, day) for o in orgs[1:])


def test_a_killed_backfill_keeps_finished_days_and_resumes(jobs, monkeypatch):
    org = jobs.store.list_organizations()[1]
    end = last_days(jobs)[0] - timedelta(days=3)
    start = end - timedelta(days=5)
    real_save = jobs.store.save_report
    saved: list[date] = []

    def save_then_die(org_id, report_date, data, **options):
        if len(saved) == 3:
            raise KeyboardInterrupt  # the process is killed mid-backfill
        saved.append(report_date)
        return real_save(org_id, report_date, data, **options)

    monkeypatch.setattr(jobs.store, "save_report", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        backfill(jobs, start, end, org.org_id)
    monkeypatch.setattr(jobs.store, "save_report", real_save)
    assert jobs.store.report_dates(org.org_id, start, end) == set(saved)
    resumed = backfill(jobs, start, end, org.org_id)
    assert resumed.job.counts == {"generated": 3, "skipped": 3, "failed": 0}
    assert len(jobs.store.report_dates(org.org_id, start, end)) == 6


def insert_late_output(jobs: ReportJobs, org, day: date, node: str | None = None) -> None:
    """A late node output that reclassifies the first call of `day` (local) as `late_arrival`.

    From `node` instead of the organization's broker node: an output no mart reads.
    """
    db = jobs.settings.clickhouse_database
    client = get_client(jobs.settings)
    lo = datetime.combine(day, datetime.min.time(), zone(org.timezone)).astimezone(UTC)
    run_id = client.query(
        f"SELECT r.id FROM {db}.public_runs r INNER JOIN {db}.public_sessions s ON s.run_id = r.id "
        "WHERE s.org_id = {org:String} AND r.timestamp >= {lo:DateTime64(3)} "
        "AND s.user_number NOT IN {excluded:Array(String)} ORDER BY r.timestamp LIMIT 1",
        parameters={"org": org.org_id, "lo": lo.replace(tzinfo=None), "excluded": org.excluded_numbers},
    ).first_row[0]
    add_output(jobs.settings, run_id, node or org.node_persistent_id, "late_arrival", datetime.now(UTC))


def test_another_nodes_output_is_no_work(jobs):
    """Only the broker nodes' outputs reach a mart: another node's output runs no dbt."""
    org = jobs.store.list_organizations()[1]
    jobs.refresh_job()  # whatever earlier tests left: refreshed
    insert_late_output(jobs, org, last_days(jobs)[1], node="summary-node-not-a-broker")
    assert jobs.refresher.needs_refresh() is None
    idle = jobs.refresh_job()
    assert idle.job.details["note"] == "nothing new"


def test_rows_no_mart_reads_make_one_refresh_not_one_every_time(jobs):
    """A call from an excluded number never moves the marts' watermark: it is seen once, then nothing new."""
    org = jobs.store.list_organizations()[1]
    assert org.excluded_numbers
    jobs.refresh_job()  # whatever earlier tests left: refreshed
    assert jobs.refresher.needs_refresh() is None
    add_call(jobs.settings, org.org_id, datetime.now(UTC), user_number=org.excluded_numbers[0])
    assert jobs.refresher.needs_refresh() == "source rows arrived after the marts' watermark"
    seen = jobs.refresh_job()
    assert seen.job.status == "succeeded" and "note" not in seen.job.details, seen.job
    assert jobs.refresher.needs_refresh() is None
    idle = jobs.refresh_job()
    assert idle.job.details["note"] == "nothing new"


def window_rows(jobs, org_id: str, first: date, last: date) -> dict[str, int]:
    """Rows of each mart for an organization's days."""
    client, schema = get_client(jobs.settings), jobs.settings.dbt_schema
    return {
        mart: client.query(
            f"SELECT count() FROM {schema}.{mart} WHERE org_id = {{org:String}} "
            "AND report_date BETWEEN {first:Date} AND {last:Date}",
            parameters={"org": org_id, "first": first, "last": last},
        ).first_row[0]
        for mart in ("fct_calls", "agg_daily_org_metrics", "agg_daily_org_breakdowns")
    }


def test_a_dbt_run_that_died_half_way_is_redone_by_the_next_refresh(jobs):
    """A backfill's dbt run killed between its DELETE and its INSERT leaves the window's rows
    missing, and no source row was added: the next scheduled refresh must still run and rebuild
    that window first. (The kill: a listener raising once dbt is done, then the rows deleted as
    the DELETE had.)"""
    org = jobs.store.list_organizations()[0]
    first = last_days(jobs)[1] - timedelta(days=9)
    last = first + timedelta(days=2)
    assert jobs.refresher.refresh(first, last, [org.org_id]).success  # the window is in the marts
    jobs.refresh_job()
    assert jobs.refresher.needs_refresh() is None
    before = window_rows(jobs, org.org_id, first, last)
    assert all(before.values()), before

    def die() -> None:
        raise SystemExit("killed half way")

    jobs.refresher.listeners.append(die)
    try:
        with pytest.raises(SystemExit):
            jobs.refresher.refresh(first, last, [org.org_id])
    finally:
        jobs.refresher.listeners.remove(die)
    client, schema = get_client(jobs.settings), jobs.settings.dbt_schema
    for mart in before:
        client.command(
            f"DELETE FROM {schema}.{mart} WHERE org_id = {{org:String}} "
            "AND report_date BETWEEN {first:Date} AND {last:Date}",
            parameters={"org": org.org_id, "first": first, "last": last},
        )
    assert not any(window_rows(jobs, org.org_id, first, last).values())

    assert jobs.refresher.needs_refresh() == "the last dbt run here did not finish"
    again = jobs.refresh_job()
    assert again.job.status == "succeeded" and "note" not in again.job.details, again.job
    assert window_rows(jobs, org.org_id, first, last) == before
    assert jobs.refresher.needs_refresh() is None


def test_an_unfinished_window_that_cannot_be_rebuilt_is_tried_once(jobs, caplog):
    """A remembered window whose rebuild fails (here an organization id dbt refuses) is logged
    and forgotten: the plain refresh still succeeds, and the next check does not ask for dbt again
    because of it."""
    jobs.refresh_job()
    assert jobs.refresher.needs_refresh() is None
    jobs.refresher._remember(rebuild_unfinished={"org_ids": ["not an id!"]})
    assert jobs.refresher.needs_refresh() == "the last dbt run here did not finish"

    again = jobs.refresh_job()
    assert again.job.status == "succeeded", again.job
    assert "rebuilding the unfinished window failed" in caplog.text
    assert jobs.refresher.needs_refresh() is None


def leaf(report: dict, path: str):
    """The value at a diff path, found independently of the diff code (None: absent)."""
    node = report
    for part in re.findall(r"[^.\[\]]+|\[[^\]]*\]", path):
        if part.startswith("["):
            label = part[1:-1]
            node = next(
                (i for i in node if ("null" if i["value"] is None else str(i["value"])) == label), None
            )
        else:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
    return node


def test_late_data_restates_recent_reports_and_leaves_older_ones_stale(services, jobs):
    org = jobs.store.list_organizations()[2]
    # The organization's own yesterday, whose calls all started within the last 48 hours: the plain
    # refresh finds late data by the watermark, which looks back max_output_lateness_hours (48).
    # `last_days` for every organization ends on the yesterday of the zone furthest behind (Chicago);
    # in Sydney that day began more than 48 hours ago from about 13:00 to 06:00 UTC.
    start, end = last_days(jobs, org)
    old = end - timedelta(days=jobs.settings.restate_within_days + 2)  # before the restatement window
    backfill(jobs, old, old, org.org_id)
    backfill(jobs, start, end, org.org_id)
    first = {day: jobs.store.get_report(org.org_id, day) for day in (old, end)}
    insert_late_output(jobs, org, old)  # first: the plain refresh below must leave nothing newer
    insert_late_output(jobs, org, end)
    assert jobs.refresher.needs_refresh() is not None

    told: list = []  # what the `report.restated` webhook is built from
    jobs.restater.observers.append(told.append)
    try:
        refreshed = jobs.refresh_job()  # the scheduler's frequent refresh: the watermark's recent days
    finally:
        jobs.restater.observers.remove(told.append)
    assert refreshed.job.status == "succeeded" and "note" not in refreshed.job.details, refreshed.job
    jobs.refresher.refresh(old, old, [org.org_id])  # late data that far back is rebuilt by a window

    # The recent day: a new `restated` revision equal to the oracle; the one before it unchanged.
    n = first[end].revision  # earlier tests of this module may have stored the day already
    revisions = jobs.store.list_revisions(org.org_id, end)
    assert [(r.revision, r.reason) for r in revisions[-2:]] == [(n, "backfill"), (n + 1, "restated")]
    before, after = revisions[-2:]
    assert before.report_data == first[end].report_data
    # Each revision records the newest source row it saw: the late output moved it on.
    assert before.input_watermark and after.input_watermark
    assert datetime.fromisoformat(after.input_watermark) > datetime.fromisoformat(before.input_watermark)
    assert after.input_watermark == after.report_data["metadata"]["input_watermark"]
    current = services.stored.get(org, end)
    assert current["revision"] == n + 1 and current["stale"] is False
    assert_report_matches_oracle(jobs, org.org_id, end, current)
    assert services.stored.get(org, end, revision=n)["stale"] is True
    diff = services.stored.diff(org, end)
    assert (diff["from"], diff["to"]) == (n, n + 1)
    paths = [change["path"] for change in diff["changes"]]
    assert "breakdowns.call_classification[late_arrival].count" in paths
    assert not any(path.startswith("metadata") for path in paths)
    for change in diff["changes"]:  # exactly what differs, leaf by leaf
        assert change["from"] == leaf(before.report_data, change["path"]), change
        assert change["to"] == leaf(after.report_data, change["path"]), change
        assert change["from"] != change["to"]
    assert [(t.org_id, t.report_date, t.from_revision, t.revision) for t in told] == [
        (org.org_id, end, n, n + 1)
    ]
    assert told[0].changes == diff["changes"]
    summary = services.stored.revisions(org, end)
    assert [(r["revision"], r["reason"], r["stale"]) for r in summary[-2:]] == [
        (n, "backfill", True),
        (n + 1, "restated", False),
    ]

    # The older day: still its first revision, flagged stale, until an operator regenerates it.
    assert jobs.store.get_report(org.org_id, old).revision == first[old].revision
    assert services.stored.get(org, old)["stale"] is True

    # Nothing new since: the next refresh runs no dbt and adds no revision.
    assert jobs.refresher.needs_refresh() is None
    idle = jobs.refresh_job()
    assert idle.job.status == "succeeded" and idle.job.details["note"] == "nothing new"
    jobs.refresher.refresh(end, end, [org.org_id])  # a refresh that rebuilds the day, same numbers
    assert len(jobs.store.list_revisions(org.org_id, end)) == n + 1

    result = jobs.generate(GenerateRequest(org_id=org.org_id, date=old, force=True))
    assert result.status == "generated" and result.report["revision"] == first[old].revision + 1
    assert [r.reason for r in jobs.store.list_revisions(org.org_id, old)][-2:] == ["backfill", "manual"]
    assert services.stored.get(org, old)["stale"] is False
    assert_report_matches_oracle(jobs, org.org_id, old, result.report)
    assert any(item["value"] == "late_arrival" for item in result.report["breakdowns"]["call_classification"])


def test_timezone_change_rebuilds_the_organization(services, jobs):
    org = jobs.store.list_organizations()[0]
    start, end = last_days(jobs)
    services.organizations.update(org.org_id, OrganizationChanges(timezone="Pacific/Auckland"))
    client = get_client(jobs.settings)
    zones = client.query(
        f"SELECT DISTINCT timezone FROM {jobs.settings.dbt_schema}.agg_daily_org_metrics WHERE org_id = {{o:String}}",
        parameters={"o": org.org_id},
    ).result_rows
    assert zones == [("Pacific/Auckland",)]
    result = jobs.generate(GenerateRequest(org_id=org.org_id, date=end - timedelta(days=1), force=True))
    assert result.report["date_range"]["tz"] == "Pacific/Auckland"
    assert_report_matches_oracle(jobs, org.org_id, end - timedelta(days=1), result.report)
    services.organizations.save(org)
