"""Smoke run of the benchmark harness (`make bench`) at a tiny scale.

Every figure of bench/results/latest.json must be produced and the seed-style queries must give
the same KPIs as the marts. No timing is asserted: the numbers come from `make bench` only. The
harness runs in subprocesses with a warehouse and outputs of its own under tmp_path, so neither
this session's warehouse nor the committed results are touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import PROJECT_ROOT

REQUIRED_KEYS = (
    "scale_calls",
    "report_speedup_vs_seed",
    "backfill_speedup_vs_seed",
    "backfill_snapshot_speedup_vs_seed",
    "backfill_dbt_seconds",
    "incremental_over_full_ratio",
    "stored_report_rps",
    "stored_report_p50_ms",
    "stored_report_p99_ms",
    "reports_list_rps",
    "reports_list_p50_ms",
    "reports_list_p99_ms",
    "live_report_rps",
    "live_report_p50_ms",
    "live_report_p99_ms",
    "health_rps",
    "health_p50_ms",
    "health_p99_ms",
    "floor_rps",
    "floor_p50_ms",
    "floor_p99_ms",
    "dbt_refresh_nothing_new_seconds",
    "full_build_peak_rss_mb",
    "peak_rss_mb",
    "kpis_match_seed_style",
    "machine",
    "versions",
)


def test_bench_smoke_run_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {
        **os.environ,
        "BENCH_CALLS": "3000",
        "BENCH_ORGS": "2",
        "BENCH_DAYS": "8",
        "BENCH_REQUESTS": "64",
        "BENCH_RATIO_REQUESTS": "96",
        "BENCH_SAMPLE_DAYS": "3",
        "BENCH_LOAD_DATES": "5",
        "BENCH_WORK_DIR": str(tmp_path / "work"),
        "BENCH_RESULTS": str(out / "latest.json"),
        "BENCH_MARKDOWN": str(out / "BENCHMARKS.md"),
        "BENCH_CHART": str(out / "latency.png"),
    }
    env.pop("BENCH_PHASES", None)
    run = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    results = json.loads((out / "latest.json").read_text())
    missing = [key for key in REQUIRED_KEYS if results.get(key) is None]
    assert not missing, f"figures not produced: {missing}"
    assert results["kpis_match_seed_style"] is True, results["details"]["compare"]["kpi_mismatches"]
    assert results["api_errors"] == 0, results["details"]["api"]
    assert results["scale_calls"] > 2000
    assert results["details"]["compare"]["backfill_days"] == 8
    assert results["details"]["api"]["refresh_in_service_ok"] is True
    assert results["details"]["api"]["live_cache_invalidated_by_refresh"] is True
    assert {"cores", "memory_gib", "cpu_model"} <= set(results["machine"])
    assert {"chdb-core", "dbt-core", "clickhouse_engine"} <= set(results["versions"])
    assert all({"target", "value", "met"} <= set(t) for t in results["targets"].values())
    # An idle scheduled refresh runs no dbt (the figure's time is not asserted: machines are noisy).
    assert results["dbt_refresh_nothing_new_invocations"] == 0, results["details"]["incremental"]

    assert (out / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "BENCHMARKS.md").read_text()
    assert "| `report_speedup_vs_seed` |" in markdown
    assert "make bench" in markdown
