"""Phase 3: a day of new data arrives, then a plain refresh (the watermark decides what to rebuild).

Before it, `dbt_refresh_nothing_new_seconds`: the scheduler's refresh job (ReportJobs.refresh_job)
while nothing is new, which must not invoke dbt (target <= 0.3 s).

Also stores the reports the API phase reads: every organization over the load dates
(ReportJobs.backfill, not forced, so already stored days are skipped).
"""

from __future__ import annotations

from datetime import timedelta

from bench.common import BenchConfig, Stopwatch, write_phase
from reports_store import open_store
from service.core.dbt_runner import refresh_marts, run_dbt
from service.core.warehouse import get_client
from service.jobs.requests import BackfillRequest
from service.services import Services

# The scheduler's refresh check when nothing is new: no dbt invocation, a few probes.
NOTHING_NEW_TARGET_SECONDS = 0.3


def main() -> None:
    cfg = BenchConfig.from_env()
    settings = cfg.settings()
    client = get_client(settings)
    store = open_store(settings.reports_store_url)
    watch = Stopwatch()
    outcome = run_dbt(["parse"], settings)  # dbt's first invocation in a process is not the refresh
    if not outcome.success:
        raise SystemExit(f"dbt parse failed: {outcome.error or outcome.failures}")
    services = Services.open(settings, store)
    services.refresher.refresh()  # untimed: records the metrics version a scheduled check compares

    # The scheduler's periodic refresh with nothing new: cheap probes, no dbt invocation (what it
    # should be; a probe that still finds "new" rows runs dbt, and the figure and reason say so).
    invocations: list[str] = []

    def observe(command: str, seconds: float, ok: bool) -> None:
        invocations.append(command)

    services.refresher.dbt_observers.append(observe)
    reason = services.refresher.needs_refresh()
    with watch.time("dbt_refresh_nothing_new_seconds"):
        nothing_new = services.jobs.refresh_job()
    services.refresher.dbt_observers.remove(observe)  # the backfill below runs dbt, as it should
    if nothing_new.job.status != "succeeded":
        raise SystemExit(f"the refresh with nothing new failed: {nothing_new.job.error}")
    print(
        f"[bench] refresh with nothing new: {watch.seconds['dbt_refresh_nothing_new_seconds']:.3f}s "
        f"(target <= {NOTHING_NEW_TARGET_SECONDS}), dbt invocations {invocations or 'none'}"
        + (f" because {reason}" if reason else ""),
        flush=True,
    )

    with watch.time("generate_new_day_seconds"):
        summary = cfg.generate(client, store, new_day=True)
    with watch.time("dbt_incremental_day_seconds"):
        outcome = refresh_marts(settings)
    if not outcome.success:
        raise SystemExit(f"incremental refresh failed: {outcome.error or outcome.failures}")

    schema = settings.dbt_schema
    rebuilt = client.query(
        f"SELECT count(), countIf(total_calls > 0), sum(total_calls) FROM {schema}.agg_daily_org_metrics "
        "WHERE report_date = {day:Date}",
        parameters={"day": cfg.new_day},
    ).first_row
    window = client.query(
        f"SELECT count(), min(report_date), max(report_date) FROM {schema}.int_refresh_window"
    ).first_row
    if rebuilt[1] != cfg.orgs:
        raise SystemExit(
            f"the new day {cfg.new_day} is in the marts for {rebuilt[1]} of {cfg.orgs} organizations"
        )

    # Stored reports for the API phase: every organization, the last `load_dates` days.
    last = cfg.new_day
    first = last - timedelta(days=min(cfg.load_dates, cfg.days) - 1)
    with watch.time("backfill_all_orgs_load_dates_seconds"):
        job = services.jobs.backfill(BackfillRequest(start_date=first, end_date=last))
    if job.job.status != "succeeded":
        raise SystemExit(f"backfill for the API phase failed: {job.job.error}")
    services.close()
    write_phase(
        cfg,
        "incremental",
        {
            **watch.seconds,
            "dbt_refresh_nothing_new_invocations": len(invocations),
            "dbt_refresh_nothing_new_reason": reason,
            "dbt_refresh_nothing_new_target_met": watch.seconds["dbt_refresh_nothing_new_seconds"]
            <= NOTHING_NEW_TARGET_SECONDS
            and not invocations,
            "new_day": cfg.new_day.isoformat(),
            "new_day_runs": summary.runs,
            "new_day_calls_in_marts": int(rebuilt[2] or 0),
            "incremental_window_org_days": window[0],
            "incremental_window": [str(window[1]), str(window[2])],
            "load_first_date": first.isoformat(),
            "load_last_date": last.isoformat(),
            "stored_reports_for_load": len(job.generated) + len(job.skipped),
        },
    )


if __name__ == "__main__":
    main()
