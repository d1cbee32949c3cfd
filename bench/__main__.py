"""`python -m bench` (make bench): every phase in its own process, then latest.json, BENCHMARKS.md, chart.

Phases, one process each and one at a time (chDB: one process per warehouse directory):
  build        demo data at BENCH_CALLS in bench/work/warehouse, full dbt build
  compare      seed-style queries vs the marts: one report, 365-day backfill (3 ways), KPI check
  incremental  one more day of data, plain refresh; stored reports for the API phase
  api          `python -m service serve` on loopback under load, peak memory, a refresh inside it
BENCH_PHASES=compare,api reruns some phases on the data of an earlier run (development only).
`python -m bench scale` (make bench-scale) is the separate full-build-at-scale benchmark (bench/scale.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import BenchConfig
from bench.results import assemble, write_outputs

PHASES = ("build", "compare", "incremental", "api")


def run_phase(cfg: BenchConfig, name: str) -> float:
    log = cfg.log(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    cfg.phase_output(name).unlink(missing_ok=True)
    print(f"[bench] phase {name} (log: {log})", flush=True)
    started = time.perf_counter()
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", f"bench.phase_{name}"],
            env=cfg.environment(),
            cwd=cfg.work_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            log_file.write(line)
            if line.startswith("[bench]"):
                print(f"  {line.rstrip()}", flush=True)
        process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0 or not cfg.phase_output(name).exists():
        tail = log.read_text().splitlines()[-30:]
        sys.exit(f"phase {name} failed (exit {process.returncode}); last lines of {log}:\n" + "\n".join(tail))
    print(f"[bench] phase {name} done in {seconds:.1f}s", flush=True)
    return seconds


def main() -> None:
    if sys.argv[1:] == ["scale"]:  # `python -m bench scale` (make bench-scale): bench/scale.py
        from bench.scale import main as scale

        return scale()
    cfg = BenchConfig.from_env()
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    wanted = [p.strip() for p in os.environ.get("BENCH_PHASES", ",".join(PHASES)).split(",") if p.strip()]
    unknown = set(wanted) - set(PHASES)
    if unknown:
        sys.exit(f"unknown phases {sorted(unknown)}; choose from {', '.join(PHASES)}")
    print(
        f"[bench] {cfg.calls:,} calls, {cfg.orgs} organizations, {cfg.days} days; work dir {cfg.work_dir}",
        flush=True,
    )
    started = time.perf_counter()
    phase_seconds, load_before = {}, {}
    for name in PHASES:
        if name in wanted:
            # Other work on the machine skews every figure: the load average says how quiet it was.
            load_before[name] = round(os.getloadavg()[0], 2)
            phase_seconds[name] = round(run_phase(cfg, name), 1)
    results = assemble(cfg, phase_seconds, total_seconds=round(time.perf_counter() - started, 1))
    results["machine"]["load_average_1m_before_phase"] = load_before
    write_outputs(cfg, results)
    print(f"[bench] wrote {cfg.results}, {cfg.markdown} and {cfg.chart}", flush=True)
    missed = [name for name, target in results["targets"].items() if not target["met"]]
    print(
        f"[bench] targets met: {len(results['targets']) - len(missed)}/{len(results['targets'])}", flush=True
    )
    for name in missed:
        target = results["targets"][name]
        print(f"[bench]   missed {name}: {target['value']} (target {target['target']})", flush=True)
    if not results["kpis_match_seed_style"]:
        sys.exit(
            "KPIs differ between the seed-style queries and the marts: see kpi_mismatches in the results"
        )


if __name__ == "__main__":
    main()
