"""Phase 1: demo data at the chosen scale in the bench's own warehouse, then a full dbt build.

Measures `dbt run --full-refresh` (service.core.dbt_runner.refresh_marts(full_refresh=True), in slices
of REFRESH_SLICE_DAYS local days as the service runs it) after an untimed `dbt parse`, so the figure is
the build and not dbt's first-invocation start-up; its peak RSS is this process's VmHWM.
"""

from __future__ import annotations

import shutil

from bench.common import BenchConfig, Stopwatch, peak_rss_mb, reset_peak_rss, write_phase


def main() -> None:
    cfg = BenchConfig.from_env()
    for path in (cfg.warehouse, cfg.work_dir / "reports.db", cfg.work_dir / "seed_style_reports.db"):
        if path.is_dir():
            shutil.rmtree(path)
    for leftover in cfg.work_dir.glob("*.db*"):
        leftover.unlink()

    from reports_store import open_store
    from service.core.dbt_runner import refresh_marts, run_dbt
    from service.core.warehouse import get_client

    settings = cfg.settings()
    client = get_client(settings)
    store = open_store(settings.reports_store_url)
    watch = Stopwatch()
    print(
        f"[bench] generating {cfg.orgs} organizations x {cfg.days} days x ~{cfg.calls_per_day} calls "
        f"ending {cfg.end_date}",
        flush=True,
    )
    with watch.time("generate_seconds"):
        summary = cfg.generate(client, store)
    generate_peak = peak_rss_mb()
    outcome = run_dbt(["parse"], settings)
    if not outcome.success:
        raise SystemExit(f"dbt parse failed: {outcome.error or outcome.failures}")
    reset_peak_rss()
    slices: list[tuple[int, int]] = []
    with watch.time("dbt_full_build_seconds"):  # in slices of REFRESH_SLICE_DAYS (bounded memory)
        outcome = refresh_marts(
            settings, full_refresh=True, progress=lambda done, total: slices.append((done, total))
        )
    if not outcome.success:
        raise SystemExit(f"full build failed: {outcome.error or outcome.failures}")
    build_peak = peak_rss_mb()

    counts = {}
    for table in ("public_runs", "public_sessions", "public_node_outputs"):
        counts[table] = client.query(f"SELECT count() FROM {settings.clickhouse_database}.{table}").first_row[
            0
        ]
    for model in ("fct_calls", "agg_daily_org_metrics", "agg_daily_org_breakdowns"):
        counts[model] = client.query(f"SELECT count() FROM {settings.dbt_schema}.{model}").first_row[0]
    calls = client.query(
        f"SELECT sum(total_calls) FROM {settings.dbt_schema}.agg_daily_org_metrics"
    ).first_row[0]
    disk = client.query(
        "SELECT database, sum(bytes_on_disk) FROM system.parts WHERE active GROUP BY database"
    ).result_rows
    engine = client.query("SELECT version()").first_row[0]
    store.close()
    write_phase(
        cfg,
        "build",
        {
            **watch.seconds,
            "generated_runs": summary.runs,
            "generated_sessions": summary.sessions,
            "generated_outputs": summary.outputs,
            "row_counts": counts,
            "counted_calls": int(calls),
            "disk_mb": {database: round(size / 2**20, 1) for database, size in disk},
            "generate_peak_rss_mb": generate_peak,
            "full_build_peak_rss_mb": build_peak,
            "full_build_slices": slices[-1][1] if slices else 1,
            "refresh_slice_days": settings.refresh_slice_days,
            "clickhouse_engine": engine,
        },
    )


if __name__ == "__main__":
    main()
