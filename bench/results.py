"""The phases' figures -> bench/results/latest.json, BENCHMARKS.md and the latency chart."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from typing import Any

from bench.common import PROJECT_ROOT, BenchConfig, _relative, machine, package_versions, read_phase
from bench.scale import scale_section

API_ENDPOINTS = {
    "floor": "floor: bare ASGI app sending a stored report's bytes",
    "health": "/health",
    "stored_report": "/api/reports/{date}?org_id=",
    "reports_list": "/api/reports?org_id=",
    "live_report": "/daily-report?org_id=&date= (cache warm)",
    "live_report_cold": "/daily-report?org_id=&date= (first read of each org-date)",
}


def _ratio(numerator: float | None, denominator: float | None, digits: int = 1) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def _commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain")),
    }


def _targets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def target(text: str, value: Any, met: bool | None) -> dict[str, Any]:
        return {"target": text, "value": value, "met": bool(met)}

    def ge(value: float | None, bound: float) -> bool:
        return value is not None and value >= bound

    def le(value: float | None, bound: float) -> bool:
        return value is not None and value <= bound

    # The API figures are ratios to the floor measured in the same run (a bare ASGI app sending the
    # same bytes with the same server): the machine, the server and the load client cancel out.
    floor_rps, floor_p50, floor_p99 = r["floor_rps"], r["floor_p50_ms"], r["floor_p99_ms"]
    stored_share = _ratio(r["stored_report_rps"], floor_rps, 2)
    live_share = _ratio(r["live_report_rps"], floor_rps, 2)
    stored_p99 = _ratio(r["stored_report_p99_ms"], floor_p99, 2)
    live_p50 = _ratio(r["live_report_p50_ms"], floor_p50, 2)
    return {
        "report_speedup_vs_seed": target(
            ">= 20", r["report_speedup_vs_seed"], ge(r["report_speedup_vs_seed"], 20)
        ),
        "backfill_speedup_vs_seed": target(
            ">= 100", r["backfill_speedup_vs_seed"], ge(r["backfill_speedup_vs_seed"], 100)
        ),
        "backfill_snapshot_speedup_vs_seed": target(
            ">= 500", r["backfill_snapshot_speedup_vs_seed"], ge(r["backfill_snapshot_speedup_vs_seed"], 500)
        ),
        "incremental_over_full_ratio": target(
            "<= 0.1", r["incremental_over_full_ratio"], le(r["incremental_over_full_ratio"], 0.1)
        ),
        "stored_report_rps_over_floor": target(">= 0.8", stored_share, ge(stored_share, 0.8)),
        "stored_report_p99_over_floor_p99": target("<= 2", stored_p99, le(stored_p99, 2)),
        "live_report_rps_over_floor": target(">= 0.6", live_share, ge(live_share, 0.6)),
        "live_report_p50_over_floor_p50": target("<= 3", live_p50, le(live_p50, 3)),
        "dbt_refresh_nothing_new_seconds": target(
            "<= 0.3, no dbt invocation",
            r["dbt_refresh_nothing_new_seconds"],
            le(r["dbt_refresh_nothing_new_seconds"], 0.3) and r["dbt_refresh_nothing_new_invocations"] == 0,
        ),
        "full_build_peak_rss_mb": target(
            "<= 2048 at 5,000,000 calls",
            r["full_build_peak_rss_mb"],
            r["scale_calls_requested"] < 5_000_000 or le(r["full_build_peak_rss_mb"], 2048),
        ),
        "peak_rss_mb": target(
            "< 2048 MiB", r["peak_rss_mb"], r["peak_rss_mb"] is not None and r["peak_rss_mb"] < 2048
        ),
        "kpis_match_seed_style": target(
            "true", r["kpis_match_seed_style"], r["kpis_match_seed_style"] is True
        ),
        "bench_minutes": target(
            "<= 30 at 5,000,000 calls",
            r["bench_minutes"],
            r["scale_calls_requested"] < 5_000_000 or le(r["bench_minutes"], 30),
        ),
    }


def assemble(cfg: BenchConfig, phase_seconds: dict[str, float], total_seconds: float) -> dict[str, Any]:
    build, compare = read_phase(cfg, "build"), read_phase(cfg, "compare")
    incremental, api = read_phase(cfg, "incremental"), read_phase(cfg, "api")
    r: dict[str, Any] = {
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "scale_calls": build["generated_runs"],
        "scale_calls_requested": cfg.calls,
        "calls_counted_in_marts": build["counted_calls"],
        "organizations": cfg.orgs,
        "days": cfg.days,
        # one organization-day report
        "report_seed_ms": round(compare["report_seed_seconds"] * 1000, 2),
        "report_ours_ms": round(compare["report_ours_seconds"] * 1000, 2),
        "report_speedup_vs_seed": _ratio(compare["report_seed_seconds"], compare["report_ours_seconds"]),
        # 365-day backfill of one organization
        "backfill_days": compare["backfill_days"],
        "backfill_seed_seconds": compare["backfill_seed_seconds"],
        "backfill_seconds": compare["backfill_seconds"],
        "backfill_dbt_seconds": compare["backfill_dbt_seconds"],
        "backfill_snapshot_seconds": compare["backfill_snapshot_seconds"],
        "backfill_speedup_vs_seed": _ratio(compare["backfill_seed_seconds"], compare["backfill_seconds"]),
        "backfill_snapshot_speedup_vs_seed": _ratio(
            compare["backfill_seed_seconds"], compare["backfill_snapshot_seconds"]
        ),
        "kpis_match_seed_style": compare["kpis_match_seed_style"],
        # dbt
        "dbt_full_build_seconds": build["dbt_full_build_seconds"],
        "dbt_incremental_day_seconds": incremental["dbt_incremental_day_seconds"],
        "dbt_refresh_nothing_new_seconds": incremental["dbt_refresh_nothing_new_seconds"],
        "dbt_refresh_nothing_new_invocations": incremental["dbt_refresh_nothing_new_invocations"],
        "incremental_over_full_ratio": _ratio(
            incremental["dbt_incremental_day_seconds"], build["dbt_full_build_seconds"], 3
        ),
    }
    for kind in ("floor", "health", "stored_report", "reports_list", "live_report", "live_report_cold"):
        for figure in ("rps", "p50_ms", "p99_ms"):
            r[f"{kind}_{figure}"] = api[kind][figure]
    r["api_errors"] = sum(api[kind]["errors"] for kind in API_ENDPOINTS)  # the floor's included
    r["peak_rss_mb"] = api["peak_rss_mb"]
    r["full_build_peak_rss_mb"] = build["full_build_peak_rss_mb"]
    r["bench_minutes"] = round(total_seconds / 60, 1)
    r["targets"] = _targets(r)
    r["machine"] = machine()
    r["versions"] = package_versions() | {"clickhouse_engine": build.get("clickhouse_engine")}
    r["source"] = _commit()
    r["config"] = cfg.describe()
    r["phase_seconds"] = phase_seconds
    r["details"] = {"build": build, "compare": compare, "incremental": incremental, "api": api}
    return r


def write_outputs(cfg: BenchConfig, results: dict[str, Any]) -> None:
    cfg.results.parent.mkdir(parents=True, exist_ok=True)
    cfg.results.write_text(json.dumps(results, indent=2) + "\n")
    draw_chart(results, cfg)
    cfg.markdown.parent.mkdir(parents=True, exist_ok=True)
    cfg.markdown.write_text(markdown(results, cfg) + scale_section())  # "" without bench/results/scale.json


# -- chart ------------------------------------------------------------------------------------------


def draw_chart(r: dict[str, Any], cfg: BenchConfig) -> None:
    """Latency by endpoint (p50 and p99, log scale) with requests/s above each group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = {
        "floor": "floor\n(bare ASGI)",
        "health": "/health",
        "stored_report": "stored report",
        "reports_list": "reports list",
        "live_report": "live report\n(cache warm)",
        "live_report_cold": "live report\n(cold)",
    }
    kinds = [kind for kind in named if f"{kind}_p50_ms" in r]  # results before the floor have none
    labels = [named[kind] for kind in kinds]
    p50 = [r[f"{k}_p50_ms"] for k in kinds]
    p99 = [r[f"{k}_p99_ms"] for k in kinds]
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=110)
    xs = range(len(kinds))
    width = 0.38
    ax.bar([x - width / 2 for x in xs], p50, width, label="p50", color="#4C72B0")
    ax.bar([x + width / 2 for x in xs], p99, width, label="p99", color="#DD8452")
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_xticks(list(xs), labels)
    top = max(p99) * 1.25
    for x, kind in zip(xs, kinds, strict=True):
        ax.annotate(
            f"{r[f'{kind}_rps']:,.0f} req/s",
            (x, r[f"{kind}_p99_ms"]),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    ax.set_ylim(top=top * 3)
    ax.legend(loc="upper left")
    ax.set_title(
        f"API latency by endpoint: {r['scale_calls']:,} calls, concurrency {cfg.concurrency}, "
        f"{r['machine']['cores']} cores",
        fontsize=10,
    )
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    cfg.chart.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(cfg.chart, metadata={"Software": None})
    plt.close(fig)


# -- BENCHMARKS.md ----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(r: dict[str, Any], cfg: BenchConfig) -> str:
    m, v, d = r["machine"], r["versions"], r["details"]
    api_kinds = [kind for kind in API_ENDPOINTS if kind in d["api"]]  # older results have no floor
    chart = _relative(cfg.chart)
    if cfg.markdown.parent != PROJECT_ROOT:
        chart = str(cfg.chart)
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`) from `bench/results/latest.json`; do not edit by hand.",
        "",
        f"**{r['scale_calls']:,} calls** ({r['organizations']} organizations x {r['days']} days of demo data), "
        f"measured {r['generated_at']} on {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu_model']} "
        f"(chDB {v.get('chdb-core')}, ClickHouse engine {v.get('clickhouse_engine')}, dbt-core {v.get('dbt-core')}, "
        f"Python {v['python']}). Source commit {r['source']['commit']}"
        f"{' with local changes' if r['source']['dirty'] else ''}. The whole run took {r['bench_minutes']} minutes; "
        "1-minute load average before each phase (other work on the machine skews the figures): "
        + ", ".join(f"{phase} {load}" for phase, load in m.get("load_average_1m_before_phase", {}).items())
        + ".",
        "",
        "## Targets",
        "",
        "| figure | measured | target | met |",
        "|---|---:|---|:---:|",
    ]
    for name, target in r["targets"].items():
        lines.append(
            f"| `{name}` | {_fmt(target['value'])} | {target['target']} | {'yes' if target['met'] else '**no**'} |"
        )
    missed = [name for name, target in r["targets"].items() if not target["met"]]
    lines += [
        "",
        (f"Missed here: {', '.join(f'`{name}`' for name in missed)}. " if missed else "")
        + "What limited the targets (profiled), the changes made for them and the one proposed next, "
        "each measured, are in `bench/NOTES.md`.",
    ]
    lines += [
        "",
        "## Seed-style queries vs the marts",
        "",
        "| what | seed-style | ours | speed-up |",
        "|---|---:|---:|---:|",
        f"| one organization-day report | {_fmt(r['report_seed_ms'])} ms | {_fmt(r['report_ours_ms'])} ms | "
        f"{_fmt(r['report_speedup_vs_seed'])}x |",
        f"| {r['backfill_days']}-day backfill of one organization, end to end (dbt rebuild of the window + "
        f"reports) | {_fmt(r['backfill_seed_seconds'])} s | {_fmt(r['backfill_seconds'])} s (dbt "
        f"{_fmt(r['backfill_dbt_seconds'])} s) | {_fmt(r['backfill_speedup_vs_seed'])}x |",
        f"| same backfill, snapshot only (current marts -> stored reports) | {_fmt(r['backfill_seed_seconds'])} s | "
        f"{_fmt(r['backfill_snapshot_seconds'])} s | {_fmt(r['backfill_snapshot_speedup_vs_seed'])}x |",
        "",
        f"KPIs, breakdowns and date ranges identical on every compared report: "
        f"**{_fmt(r['kpis_match_seed_style'])}** ({d['compare']['kpis_compared_reports']} report comparisons; "
        f"{d['compare'].get('kpi_rounding_ties', 0)} exact half-way duration sums rounded one cent apart, as "
        "two float sums in another order may). "
        f"The single report is the median of {d['compare']['report_sample_days']} days of the organization "
        f"({d['compare']['org_timezone']}); the seed-style side runs "
        f"{d['compare']['seed_queries_per_report']} queries per report.",
        "",
        "## dbt",
        "",
        "| run | seconds |",
        "|---|---:|",
        f"| full build (`dbt run --full-refresh`) | {_fmt(r['dbt_full_build_seconds'])} |",
        f"| incremental refresh after one new day of data ({_fmt(d['incremental']['new_day_runs'])} calls, "
        f"{d['incremental']['incremental_window_org_days']} organization-days rebuilt) | "
        f"{_fmt(r['dbt_incremental_day_seconds'])} |",
        f"| refresh with nothing new | {_fmt(r['dbt_refresh_nothing_new_seconds'])} |",
        "",
        f"`incremental_over_full_ratio` = {_fmt(r['incremental_over_full_ratio'])}. Peak memory of the process "
        f"running the full build: {_fmt(r['full_build_peak_rss_mb'])} MiB.",
        "",
        "## API under load",
        "",
        f"`python -m service serve` in its own process on loopback; an asyncio HTTP/1.1 client keeps "
        f"{cfg.concurrency} keep-alive connections busy, {_fmt(d['api']['requests_per_endpoint'])} requests per "
        f"endpoint spread over every organization and {min(cfg.load_dates, cfg.days)} dates "
        f"({_fmt(d['api']['load_keys'])} keys), after a warm-up that reads every stored report once (a "
        "dashboard's first look; the live report has its measured cold pass). "
        + (
            "Each connection reads as a tenant's dashboard does, with a reader token of its own (token "
            "verification included in every figure). "
            if d["api"].get("reader_tokens")
            else ""
        )
        + "The client shares the machine with the server; "
        "it is a stdlib client because httpx's async client costs 1-3 ms of CPU per request here, which would "
        "cap the figures at a few hundred requests/s (httpx still checks the responses and drives the admin "
        f"calls). Client CPU during the runs: at most {max(d['api'][k]['client_cpu_share'] for k in api_kinds):.0%} "
        "of one core.",
        "",
        "**The floor** is `bench/floor_app.py`: a bare ASGI app, started as the service is (its own process, "
        "the same host and uvicorn settings), that answers every request with the status, headers and "
        "(gzip-encoded) bytes the service sent for a stored report; it gets the same stored-report requests "
        "from the same client in the same run, in six slices alternating with the stored and the warm "
        f"live report ({_fmt(d['api'].get('ratio_requests_per_endpoint', d['api']['requests_per_endpoint']))} "
        "requests each in all; each round starts with another of the three). It is what this machine, server and client allow, so the "
        "API targets are ratios to it: stored report req/s >= 0.8 x the floor's and p99 <= 2 x the "
        "floor's, cached live report req/s >= 0.6 x the floor's. `/health` (a FastAPI route) is shown "
        "for information. Stored and cached live reports are answered by the API's fast path "
        "(`service/api/fast_path.py`) once their body is rendered.",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in api_kinds:
        f, path = d["api"][kind], API_ENDPOINTS[kind]
        lines.append(
            f"| `{path}` | {_fmt(f['rps'])} | {_fmt(f['p50_ms'])} | {_fmt(f['p99_ms'])} | {f['errors']} |"
        )
    lines += [
        "",
        f"![Latency by endpoint]({chart})",
        "",
        f"Serving process peak RSS (VmHWM) over the whole phase: **{_fmt(r['peak_rss_mb'])} MiB**, including its "
        f"start-up refresh and one mart refresh of every organization's last {min(cfg.load_dates, cfg.days)} days "
        f"through `POST /api/admin/dbt` ({_fmt(d['api']['refresh_in_service_seconds'])} s); that refresh "
        f"invalidated the live result cache: {_fmt(d['api']['live_cache_invalidated_by_refresh'])}.",
        "",
        "## How to reproduce",
        "",
        "```bash",
        "make bench                      # 5,000,000 calls, 20 organizations, 365 days",
        "BENCH_CALLS=500000 make bench   # a smaller run",
        "```",
        "",
        "Everything runs in `bench/work/` (its own chDB warehouse and report stores, gitignored); nothing is "
        "downloaded. Settings (environment): `BENCH_CALLS`, `BENCH_ORGS`, `BENCH_DAYS`, `BENCH_SEED`, "
        "`BENCH_REQUESTS` (per endpoint), `BENCH_RATIO_REQUESTS` (the floor, stored and live report), `BENCH_CONCURRENCY`, `BENCH_LOAD_DATES`, `BENCH_SAMPLE_DAYS`, "
        "`BENCH_DATA_END` (default: UTC today - 3), `BENCH_WORK_DIR`, `BENCH_RESULTS`, `BENCH_MARKDOWN`, "
        "`BENCH_CHART`. chDB allows one process per data directory, so each phase runs in its own process, "
        "one after the other: `build` (demo data, full build), `compare`, `incremental`, `api` (the served "
        "API in a separate `python -m service serve`).",
        "",
        "## What is compared",
        "",
        "- **Seed-style** (`bench/seed_style.py`): the seed's report-generation flow, one query per metric "
        "group (call_stage, call_classification, load_status, carrier_end_state, pricing_notes, "
        "non_convertible_calls x 3, transfer_stats x 2, total_calls_and_duration), each a CTE chain on the raw "
        "tables (runs of the day -> the organization's sessions -> the broker node's outputs) extracting the "
        "JSON at query time, with bound parameters; a backfill loops over days (skip-if-stored check, queries, "
        "build, save to its own SQLite store). It carries the metric contract's semantics so both sides "
        "compute the same numbers: local-day UTC bounds, session dedupe (latest, within the organization as "
        "the seed's sessions CTE is scoped), latest broker-node output, excluded numbers, contract field values.",
        "- **Ours, one report**: `service.reports.live.LiveReports.report` with its result cache emptied before each "
        "call: two primary-key reads of the marts and the report built from the mart's YAML declaration.",
        "- **Ours, backfill end to end**: `ReportJobs.backfill` of the organization's window with `force` "
        "(and `allow_empty`: every day, as the seed's loop stores them): one dbt run over the window "
        "(`backfill_dbt_seconds`), then the reports built and stored.",
        "- **Ours, backfill snapshot only**: the same backfill on current marts without the dbt run: "
        "read, build, store.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # re-render BENCHMARKS.md and the chart from an existing latest.json
    config = BenchConfig.from_env()
    write_outputs(config, json.loads(config.results.read_text()))
