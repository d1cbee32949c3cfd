"""`make bench-scale` (bench/scale.py) at a tiny scale: every figure of scale.json is produced, the
targets are computed from the points, and the BENCHMARKS.md section renders them. No timing is
asserted: the numbers come from `make bench-scale` only. Everything lives under tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import PROJECT_ROOT
from bench.scale import ScaleConfig, scale_section, targets

POINT_KEYS = {
    "calls",
    "full_build_seconds",
    "seconds_per_million_calls",
    "full_build_peak_rss_mb",
    "incremental_day_seconds",
    "report_ms",
}


def test_scale_smoke_run_writes_every_figure(tmp_path: Path) -> None:
    results, chart = tmp_path / "scale.json", tmp_path / "scale.png"
    env = {
        **os.environ,
        "BENCH_SCALE_POINTS": "1500,3000",
        "BENCH_SCALE_ORGS": "2",
        "BENCH_SCALE_CALLS_PER_DAY": "60",
        "BENCH_SCALE_WORK_DIR": str(tmp_path / "work"),
        "BENCH_SCALE_RESULTS": str(results),
        "BENCH_SCALE_CHART": str(chart),
        "BENCH_RESULTS": str(tmp_path / "no-latest.json"),  # no latest.json to re-render from
        "BENCH_MARKDOWN": str(tmp_path / "BENCHMARKS.md"),  # never the project's own
        "REFRESH_SLICE_DAYS": "7",
    }
    project_page = (PROJECT_ROOT / "BENCHMARKS.md").read_bytes()
    run = subprocess.run(
        [sys.executable, "-m", "bench", "scale"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert (PROJECT_ROOT / "BENCHMARKS.md").read_bytes() == project_page  # a test run leaves it be

    r = json.loads(results.read_text())
    assert {"points", "machine", "commit", "targets"} <= set(r)
    assert [p["days"] for p in r["points"]] == [13, 25]  # a longer history, not more calls a day
    for point in r["points"]:
        assert set(point) >= POINT_KEYS, point
        assert point["calls"] > 0 and point["full_build_peak_rss_mb"] > 0
        assert point["full_build_slices"] > 1  # the build ran in slices of 7 days
        assert point["calls_in_marts"] > 0.9 * point["calls"]
    assert set(r["targets"]) == {
        "peak_rss_at_5m_mb",
        "peak_rss_largest_over_smallest",
        "seconds_per_million_largest_over_5m",
    }
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    section = scale_section(results, chart)
    assert "make bench-scale" in section
    assert all(f"| {p['calls']:,} | {p['days']} |" in section for p in r["points"])
    assert all(f"| `{name}` |" in section for name in r["targets"])


def test_targets_compare_the_largest_point_with_the_smallest_and_5m() -> None:
    def point(calls: int, seconds: float, rss: float) -> dict[str, float]:
        return {"calls": calls, "seconds_per_million_calls": seconds, "full_build_peak_rss_mb": rss}

    met = targets([point(1_000_000, 10, 1000), point(5_000_000, 10, 1100), point(20_000_000, 14, 1200)])
    assert met["peak_rss_at_5m_mb"] == {"target": "<= 2048", "value": 1100, "met": True}
    assert met["peak_rss_largest_over_smallest"]["met"] is True  # 1.2
    assert met["seconds_per_million_largest_over_5m"]["value"] == 1.4

    missed = targets([point(1_000_000, 10, 1000), point(5_000_000, 10, 2100), point(20_000_000, 16, 1300)])
    assert [t["met"] for t in missed.values()] == [False, False, False]
    alone = targets([point(5_000_000, 10, 1000)])
    assert alone["seconds_per_million_largest_over_5m"]["met"] is None


def test_scale_points_come_from_the_environment(monkeypatch) -> None:  # noqa: ANN001 - pytest fixture
    monkeypatch.setenv("BENCH_SCALE_POINTS", "5_000_000,1000000")
    monkeypatch.setenv("BENCH_SCALE_CALLS_PER_DAY", "685")
    scale = ScaleConfig.from_env()
    assert scale.points == (1_000_000, 5_000_000)
    assert scale.days(5_000_000) == 365
