"""`make bench-scale` (`python -m bench scale` or `python -m bench.scale`): the full build as history grows.

At each point (BENCH_SCALE_POINTS calls, default 1,000,000, 5,000,000 and 20,000,000) a warehouse of
its own gets demo calls at a fixed daily rate (BENCH_SCALE_CALLS_PER_DAY per organization, default
685: the 5 M / 20 organizations / 365 days of `make bench`), so more calls means a longer history, the
case the sliced build is for: a new deployment against years of calls. Per point, in child processes
(chDB: one per warehouse directory): `generate`, then `measure`: an untimed `dbt parse`, the full build
(`refresh_marts(full_refresh=True)`, sliced by REFRESH_SLICE_DAYS), its peak RSS (the child's VmHWM),
one more day of calls and the plain refresh that lands it, and one live report's latency.

Writes bench/results/scale.json (BENCH_SCALE_RESULTS) and bench/results/scale.png, and re-renders
BENCHMARKS.md with the section `scale_section` renders (bench/results.py includes it whenever
scale.json exists); BENCH_SCALE_MERGE=1 adds the points run to those already in scale.json. Targets,
shown and never asserted by a test: peak RSS <= 2048 MiB at 5 M; at the
largest point at most 1.25x the smallest point's; seconds per million calls at the largest point
within 1.5x of the 5 M point's.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, PROJECT_ROOT, BenchConfig, machine, median, peak_rss_mb

DEFAULT_POINTS = (1_000_000, 5_000_000, 20_000_000)
PEAK_RSS_TARGET_MB = 2048
RSS_GROWTH_TARGET = 1.25
SECONDS_PER_MILLION_GROWTH_TARGET = 1.5
REPORT_SAMPLES = 9
SECTION_TITLE = "## Scale: the full build as history grows (`make bench-scale`)"


@dataclass(frozen=True)
class ScaleConfig:
    points: tuple[int, ...]
    orgs: int
    calls_per_day: int
    work_dir: Path
    results: Path
    chart: Path

    @classmethod
    def from_env(cls) -> ScaleConfig:
        raw = os.environ.get("BENCH_SCALE_POINTS", "").replace("_", "").strip()
        points = tuple(int(p) for p in raw.split(",") if p.strip()) if raw else DEFAULT_POINTS
        if not points or min(points) <= 0:
            raise SystemExit(f"BENCH_SCALE_POINTS must be positive call counts, got {raw!r}")
        return cls(
            points=tuple(sorted(points)),
            orgs=int(os.environ.get("BENCH_SCALE_ORGS", "20")),
            calls_per_day=int(os.environ.get("BENCH_SCALE_CALLS_PER_DAY", "685")),
            work_dir=Path(os.environ.get("BENCH_SCALE_WORK_DIR", BENCH_DIR / "work" / "scale")).resolve(),
            results=Path(
                os.environ.get("BENCH_SCALE_RESULTS", BENCH_DIR / "results" / "scale.json")
            ).resolve(),
            chart=Path(os.environ.get("BENCH_SCALE_CHART", BENCH_DIR / "results" / "scale.png")).resolve(),
        )

    def days(self, calls: int) -> int:
        """Days of history holding `calls` at the fixed daily rate (every organization)."""
        return max(2, math.ceil(calls / (self.orgs * self.calls_per_day)))

    def bench_env(self, calls: int) -> dict[str, str]:
        """The environment of a point's child processes: `make bench`'s settings on its own directory."""
        return {
            **os.environ,
            "BENCH_WORK_DIR": str(self.work_dir / f"calls_{calls}"),
            "BENCH_CALLS": str(self.orgs * self.calls_per_day * self.days(calls)),
            "BENCH_ORGS": str(self.orgs),
            "BENCH_DAYS": str(self.days(calls)),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }


# -- child processes --------------------------------------------------------------------------------


def generate() -> None:
    """Child: a fresh warehouse and store for the point, filled with demo calls."""
    import shutil

    cfg = BenchConfig.from_env()
    if cfg.work_dir.exists():
        shutil.rmtree(cfg.work_dir)
    cfg.work_dir.mkdir(parents=True)
    from reports_store import open_store
    from service.core.warehouse import get_client

    settings = cfg.settings()
    started = time.perf_counter()
    with open_store(settings.reports_store_url) as store:
        summary = cfg.generate(get_client(settings), store)
    _write(
        cfg, "generate", {"runs": summary.runs, "generate_seconds": round(time.perf_counter() - started, 2)}
    )


def measure() -> None:
    """Child: the full build (its peak is this process's VmHWM), one new day, one report."""
    cfg = BenchConfig.from_env()
    from reports_store import open_store
    from service.core.calendar import DateWindow
    from service.core.dbt_runner import refresh_marts, run_dbt
    from service.core.warehouse import get_client
    from service.reports.live import LiveReports

    settings = cfg.settings()
    client = get_client(settings)
    if not run_dbt(["parse"], settings).success:  # dbt's first-invocation start-up is not the build
        raise SystemExit("dbt parse failed")
    slices: list[int] = []
    started = time.perf_counter()
    outcome = refresh_marts(settings, full_refresh=True, progress=lambda done, total: slices.append(total))
    full_build = time.perf_counter() - started
    if not outcome.success:
        raise SystemExit(f"full build failed: {outcome.error or outcome.failures}")
    peak = peak_rss_mb()  # before anything else runs in this process
    calls = client.query(
        f"SELECT sum(total_calls) FROM {settings.dbt_schema}.agg_daily_org_metrics"
    ).first_row[0]
    print(f"[bench] full build {full_build:.1f}s in {slices[-1] if slices else 1} slices, peak {peak} MiB")

    with open_store(settings.reports_store_url) as store:
        cfg.generate(client, store, new_day=True)
        started = time.perf_counter()
        if not refresh_marts(settings).success:
            raise SystemExit("incremental refresh failed")
        incremental = time.perf_counter() - started
        org = store.list_organizations()[0]
    live, day = LiveReports(settings), cfg.end_date
    live.report(org, DateWindow.of(day, day))  # warm-up
    times = []
    for _ in range(REPORT_SAMPLES):
        live.invalidate()  # every call reads the marts
        started = time.perf_counter()
        live.report(org, DateWindow.of(day, day))
        times.append(time.perf_counter() - started)
    _write(
        cfg,
        "measure",
        {
            "full_build_seconds": round(full_build, 2),
            "full_build_slices": slices[-1] if slices else 1,
            "full_build_peak_rss_mb": peak,
            "calls_in_marts": int(calls or 0),
            "incremental_day_seconds": round(incremental, 3),
            "report_ms": round(median(times) * 1000, 2),
        },
    )


def _write(cfg: BenchConfig, name: str, values: dict[str, Any]) -> None:
    cfg.phase_output(f"scale_{name}").write_text(json.dumps(values, indent=2))


def _child(scale: ScaleConfig, calls: int, step: str) -> dict[str, Any]:
    env = scale.bench_env(calls)
    work = Path(env["BENCH_WORK_DIR"])
    log = scale.work_dir / f"calls_{calls}_{step}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        run = subprocess.run(
            [sys.executable, "-m", "bench.scale", step],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if run.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise SystemExit(f"scale point {calls:,} {step} failed (exit {run.returncode}); {log}:\n{tail}")
    return json.loads((work / f"phase_scale_{step}.json").read_text())


# -- the driver -------------------------------------------------------------------------------------


def run_point(scale: ScaleConfig, calls: int) -> dict[str, Any]:
    load = round(os.getloadavg()[0], 2)
    print(
        f"[bench] scale {calls:,} calls: {scale.orgs} orgs x {scale.days(calls)} days (load {load})",
        flush=True,
    )
    generated = _child(scale, calls, "generate")
    measured = _child(scale, calls, "measure")
    point = {
        "calls": generated["runs"],
        "days": scale.days(calls),
        "generate_seconds": generated["generate_seconds"],
        **measured,
        "seconds_per_million_calls": round(measured["full_build_seconds"] / (generated["runs"] / 1e6), 2),
        "load_average_1m_before": load,
    }
    print(f"[bench]   {json.dumps(point)}", flush=True)
    return point


def targets(points: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The scale targets over the measured points (a target whose points were not run is None)."""
    by_calls = sorted(points, key=lambda p: p["calls"])
    near_5m = min(by_calls, key=lambda p: abs(math.log(p["calls"] / 5e6)))
    smallest, largest = by_calls[0], by_calls[-1]
    rss_growth = largest["full_build_peak_rss_mb"] / smallest["full_build_peak_rss_mb"]
    spm_growth = largest["seconds_per_million_calls"] / near_5m["seconds_per_million_calls"]
    several = len(by_calls) > 1
    return {
        "peak_rss_at_5m_mb": {
            "target": f"<= {PEAK_RSS_TARGET_MB}",
            "value": near_5m["full_build_peak_rss_mb"],
            "met": near_5m["full_build_peak_rss_mb"] <= PEAK_RSS_TARGET_MB,
        },
        "peak_rss_largest_over_smallest": {
            "target": f"<= {RSS_GROWTH_TARGET}",
            "value": round(rss_growth, 2),
            "met": rss_growth <= RSS_GROWTH_TARGET if several else None,
        },
        "seconds_per_million_largest_over_5m": {
            "target": f"<= {SECONDS_PER_MILLION_GROWTH_TARGET}",
            "value": round(spm_growth, 2),
            "met": spm_growth <= SECONDS_PER_MILLION_GROWTH_TARGET if largest is not near_5m else None,
        },
    }


def _commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    scale = ScaleConfig.from_env()
    started = time.perf_counter()
    points = [run_point(scale, calls) for calls in scale.points]
    if os.environ.get("BENCH_SCALE_MERGE") == "1" and scale.results.exists():
        # Add points to an earlier run's (a long point measured on its own); same days: the new one.
        new_days = {p["days"] for p in points}
        earlier = json.loads(scale.results.read_text())["points"]
        points = sorted([p for p in earlier if p["days"] not in new_days] + points, key=lambda p: p["calls"])
    results = {
        "points": points,
        "targets": targets(points),
        "slice_days": int(os.environ.get("REFRESH_SLICE_DAYS", "31")),
        "orgs": scale.orgs,
        "calls_per_org_day": scale.calls_per_day,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "machine": machine(),
        "commit": _commit(),
    }
    scale.results.parent.mkdir(parents=True, exist_ok=True)
    scale.results.write_text(json.dumps(results, indent=2) + "\n")
    draw_chart(results, scale.chart)
    _rerender_benchmarks()
    for name, target in results["targets"].items():
        print(
            f"[bench] {name}: {target['value']} (target {target['target']}, met: {target['met']})", flush=True
        )
    print(f"[bench] wrote {scale.results} and {scale.chart}", flush=True)


def _rerender_benchmarks() -> None:
    """BENCHMARKS.md from the latest `make bench` results, now with the scale section; when those
    results cannot be rendered (an older format), the scale section of the file is replaced."""
    from bench.results import write_outputs

    cfg = BenchConfig.from_env()
    if cfg.results.exists():
        try:
            return write_outputs(cfg, json.loads(cfg.results.read_text()))
        except (KeyError, ValueError) as exc:  # a latest.json of an older format: `make bench` renews it
            print(
                f"[bench] {cfg.results} lacks {exc}: only the scale section of BENCHMARKS.md is new",
                flush=True,
            )
    if cfg.markdown.exists():
        text = cfg.markdown.read_text().split(SECTION_TITLE)[0].rstrip("\n")
        cfg.markdown.write_text(text + "\n" + scale_section())


# -- rendering ----------------------------------------------------------------------------------------


def draw_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(results["points"], key=lambda p: p["calls"])
    millions = [p["calls"] / 1e6 for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(millions, [p["full_build_peak_rss_mb"] for p in points], marker="o")
    left.axhline(PEAK_RSS_TARGET_MB, color="grey", linestyle="--", linewidth=1, label="2 GiB")
    left.set(xlabel="calls (millions)", ylabel="MiB", title="full build peak RSS", ylim=(0, None))
    left.legend()
    right.plot(millions, [p["seconds_per_million_calls"] for p in points], marker="o", color="tab:orange")
    right.set(
        xlabel="calls (millions)",
        ylabel="seconds",
        title="full build seconds per million calls",
        ylim=(0, None),
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def scale_section(results_path: Path | None = None, chart: Path | None = None) -> str:
    """The BENCHMARKS.md section of bench/results/scale.json ("" when it does not exist)."""
    scale = ScaleConfig.from_env()
    path, chart = results_path or scale.results, chart or scale.chart
    if not path.exists():
        return ""
    r = json.loads(path.read_text())
    m = r["machine"]
    lines = [
        "",
        SECTION_TITLE,
        "",
        f"From `{_shown(path)}`, measured {r['generated_at']} (commit {r['commit']}) on {m['cores']} cores, "
        f"{m['memory_gib']} GiB; {r['orgs']} organizations at {r['calls_per_org_day']} calls a day each, so "
        "more calls is a longer history; the full build (`dbt run --full-refresh` through "
        f"`refresh_marts`) runs in slices: `fct_calls` in ranges of run ids holding at most the calls of "
        f"{r['slice_days']} local days of every organization, then the other marts in ranges of "
        f"{r['slice_days']} days (`slices` counts both); its peak RSS is its child process's VmHWM. The 1-minute load average before each point is in the table "
        "(other work on the machine slows the figures).",
        "",
        "| calls | days | full build s | s per million | slices | peak RSS MiB | incremental day s | one report ms | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(r["points"], key=lambda p: p["calls"]):
        lines.append(
            f"| {p['calls']:,} | {p['days']} | {p['full_build_seconds']} | {p['seconds_per_million_calls']} | "
            f"{p['full_build_slices']} | {p['full_build_peak_rss_mb']} | {p['incremental_day_seconds']} | "
            f"{p['report_ms']} | {p['load_average_1m_before']} |"
        )
    lines += ["", "| target | measured | target | met |", "|---|---:|---|:---:|"]
    for name, t in r["targets"].items():
        met = {True: "yes", False: "**no**", None: "n/a (point not run)"}[t["met"]]
        lines.append(f"| `{name}` | {t['value']} | {t['target']} | {met} |")
    if chart.exists():
        lines += ["", f"![full build peak RSS and seconds per million calls]({_shown(chart)})"]
    return "\n".join(lines) + "\n"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else "run"
    {"generate": generate, "measure": measure, "run": main}.get(step, main)()
