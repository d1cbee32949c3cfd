"""Phase 2: the seed's approach against ours, for one organization-day and a 365-day backfill.

- single report: seed-style (11 queries on the raw tables) vs a live report from the current marts
  through service.reports.live.LiveReports with its cache emptied before each call (2 mart queries);
  median over sampled days of the first organization.
- backfill of one organization, day by day the seed's way (check, 11 queries, build, save), vs
  ReportJobs.backfill(force=True) end to end (the dbt rebuild of the window, then the reports), and
  vs the snapshot-only step (the same backfill with a refresher that leaves the current marts as
  they are: read the marts, build and store the reports).
- every report of both sides is compared: date range, KPIs and breakdowns must be identical.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

from bench.common import BenchConfig, Stopwatch, median, write_phase
from bench.seed_style import SeedStyleReports, kpi_differences
from reports_store import ReportStore, open_store
from service.core.calendar import DateWindow, date_range
from service.core.dbt_runner import DbtOutcome
from service.core.warehouse import get_client
from service.jobs.refresh import Refresher
from service.jobs.report_jobs import ReportJobs
from service.jobs.requests import BackfillRequest
from service.reports.live import LiveReports
from service.services import Services


class TimedRefresher(Refresher):
    """A refresher that adds up the time spent in dbt refreshes (backfill_dbt_seconds)."""

    refresh_seconds = 0.0

    def refresh(self, *args, **kwargs) -> DbtOutcome:
        started = time.perf_counter()
        try:
            return super().refresh(*args, **kwargs)
        finally:
            self.refresh_seconds += time.perf_counter() - started


class CurrentMarts(Refresher):
    """A refresher for marts known to be current: no dbt run (the snapshot-only backfill)."""

    def refresh(self, *args, **kwargs) -> DbtOutcome:
        return DbtOutcome(success=True, command="run", exit_code=0)


def report_jobs(services: Services, refresher: Refresher) -> ReportJobs:
    """The application's report jobs, with `refresher` in place of the usual one."""
    return ReportJobs(services.settings, services.store, services.organizations, refresher, services.stored)


def main() -> None:
    cfg = BenchConfig.from_env()
    settings = cfg.settings()
    client = get_client(settings)
    store = open_store(settings.reports_store_url)
    for leftover in cfg.work_dir.glob("seed_style_reports.db*"):  # the seed's loop starts empty
        leftover.unlink()
    seed_store = open_store(cfg.seed_store_url)
    org = store.list_organizations()[0]
    seed_store.upsert_organization(org)
    seed = SeedStyleReports(client, settings.clickhouse_database)
    live = LiveReports(settings)
    watch = Stopwatch()
    mismatches: list[str] = []
    ties: list[str] = []

    end = cfg.end_date
    start = end - timedelta(days=cfg.backfill_days - 1)
    days = list(date_range(start, end))

    # -- one organization-day --------------------------------------------------------------------
    step = max(1, len(days) // cfg.sample_days)
    sample = days[::step][: cfg.sample_days]
    seed.report(org, sample[0])  # warm-up, both sides
    live.report(org, DateWindow.of(sample[0], sample[0]))
    seed_times, our_times = [], []
    for day in sample:
        t0 = time.perf_counter()
        seed_report = seed.report(org, day)
        t1 = time.perf_counter()
        live.invalidate()  # result cache off: every call reads the marts
        our_report, _ = live.report(org, DateWindow.of(day, day))
        t2 = time.perf_counter()
        seed_times.append(t1 - t0)
        our_times.append(t2 - t1)
        _collect(f"{org.org_id}/{day}", kpi_differences(seed_report, our_report), mismatches, ties)
    report_seed, report_ours = median(seed_times), median(our_times)
    print(f"[bench] one report: seed-style {report_seed * 1000:.1f} ms, ours {report_ours * 1000:.2f} ms")

    # -- 365-day backfill, the seed's way: a loop over days ----------------------------------------
    seed_reports = {}
    with watch.time("backfill_seed_seconds"):
        for day in days:
            if seed_store.get_report(org.org_id, day) is not None:  # "skip if it exists"
                continue
            report = seed.report(org, day)
            seed_store.save_report(org.org_id, day, report)
            seed_reports[day] = report

    # -- ours: ReportJobs.backfill end to end (dbt rebuild of the window + reports) ---------------
    # Every day of the window, as the seed's loop stores it (allow_empty: days before a first call too).
    request = BackfillRequest(start_date=start, end_date=end, org_id=org.org_id, force=True, allow_empty=True)
    services = Services.open(settings, store)
    timed = TimedRefresher(settings, store)
    jobs = report_jobs(services, timed)
    # A served process has parsed the project and run refreshes long before anyone asks for a
    # backfill: dbt's first run in a process also compiles its materialization macros (0.5-1 s at
    # the first models). One refresh of another organization's last day pays both here.
    other_org = store.list_organizations()[-1].org_id  # (the same one in a one-organization run)
    warm_up = Refresher(settings, store).refresh(start=end, end=end, org_ids=[other_org])
    if not warm_up.success:
        raise SystemExit(f"dbt warm-up refresh failed: {warm_up.error or warm_up.failures}")
    with watch.time("backfill_seconds"):
        outcome = jobs.backfill(request)
    if outcome.job.status != "succeeded" or len(outcome.generated) != len(days):
        raise SystemExit(f"backfill stored {len(outcome.generated)} of {len(days)}: {outcome.job.error}")
    _compare_stored(store, org.org_id, seed_reports, mismatches, ties)

    # -- ours: snapshot only (marts are current: read, build and store, no dbt) -------------------
    with watch.time("backfill_snapshot_seconds"):
        snapshot = report_jobs(services, CurrentMarts(settings, store)).backfill(request)
    if snapshot.failed or len(snapshot.generated) != len(days):
        raise SystemExit(
            f"snapshot backfill stored {len(snapshot.generated)} of {len(days)}: {snapshot.failed}"
        )
    _compare_stored(store, org.org_id, seed_reports, mismatches, ties)

    calls_in_backfill = sum(r["kpis"]["total_calls"] for r in seed_reports.values())
    services.close()
    seed_store.close()
    for line in mismatches[:20]:
        print(f"[bench] KPI MISMATCH {line}", flush=True)
    write_phase(
        cfg,
        "compare",
        {
            **watch.seconds,
            "org_id": org.org_id,
            "org_timezone": org.timezone,
            "backfill_start": start.isoformat(),
            "backfill_end": end.isoformat(),
            "backfill_days": len(days),
            "backfill_calls": calls_in_backfill,
            "seed_queries_per_report": len(seed._sql),
            "report_sample_days": len(sample),
            "report_seed_seconds": round(report_seed, 5),
            "report_ours_seconds": round(report_ours, 5),
            "report_seed_seconds_all": [round(t, 5) for t in seed_times],
            "report_ours_seconds_all": [round(t, 5) for t in our_times],
            "backfill_dbt_seconds": round(timed.refresh_seconds, 4),
            "kpis_compared_reports": len(sample) + 2 * len(seed_reports),
            "kpi_mismatches": mismatches[:50],
            "kpi_rounding_ties": len(ties),
            "kpi_rounding_tie_examples": ties[:5],
            "kpis_match_seed_style": not mismatches and len(seed_reports) == len(days),
        },
    )


def _collect(where: str, found: tuple[list[str], list[str]], mismatches: list[str], ties: list[str]) -> None:
    mismatches += [f"{where}: {p}" for p in found[0]]
    ties += [f"{where}: {t}" for t in found[1]]


def _compare_stored(
    store: ReportStore, org_id: str, seed_reports: dict[date, dict], mismatches: list[str], ties: list[str]
) -> None:
    for day, seed_report in seed_reports.items():
        stored = store.get_report(org_id, day)
        if stored is None:
            mismatches.append(f"{org_id}/{day}: no stored report")
            continue
        _collect(f"{org_id}/{day}", kpi_differences(seed_report, stored.report_data), mismatches, ties)


if __name__ == "__main__":
    main()
