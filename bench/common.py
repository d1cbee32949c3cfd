"""Benchmark configuration, the bench's own warehouse and store, and small measuring helpers.

chDB opens one data directory per process for the life of the process, so the driver
(`python -m bench`) never opens the warehouse: each phase that needs it runs in a subprocess
(`python -m bench.phase_<name>`), one at a time, and the API phase serves it from
`python -m service serve`. Phases hand their figures back as JSON files in the work directory.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip().replace("_", "")
    return int(value) if value else default


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).resolve() if value else default


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and where; every field has an environment variable (see BENCHMARKS.md)."""

    calls: int = 5_000_000  # BENCH_CALLS
    orgs: int = 20  # BENCH_ORGS
    days: int = 365  # BENCH_DAYS
    seed: int = 7  # BENCH_SEED
    requests: int = 4000  # BENCH_REQUESTS: per endpoint under load
    # BENCH_RATIO_REQUESTS: per endpoint for the floor and the reports read as ratios to it (each
    # a few seconds of load: with fewer, one run's ratio spread by +-0.1 on this 2-core machine)
    ratio_requests: int = 20_000
    concurrency: int = 32  # BENCH_CONCURRENCY
    load_dates: int = 30  # BENCH_LOAD_DATES: dates the load spreads over (with every org)
    sample_days: int = 20  # BENCH_SAMPLE_DAYS: days timed for the single-report comparison
    work_dir: Path = BENCH_DIR / "work"  # BENCH_WORK_DIR: warehouse, store, logs (gitignored)
    results: Path = BENCH_DIR / "results" / "latest.json"  # BENCH_RESULTS
    markdown: Path = PROJECT_ROOT / "BENCHMARKS.md"  # BENCH_MARKDOWN
    chart: Path = BENCH_DIR / "results" / "latency.png"  # BENCH_CHART
    data_end: str = ""  # BENCH_DATA_END: last local date of the data (default: UTC today - 3)

    @classmethod
    def from_env(cls) -> BenchConfig:
        d = cls()
        return cls(
            calls=_env_int("BENCH_CALLS", d.calls),
            orgs=_env_int("BENCH_ORGS", d.orgs),
            days=_env_int("BENCH_DAYS", d.days),
            seed=_env_int("BENCH_SEED", d.seed),
            requests=_env_int("BENCH_REQUESTS", d.requests),
            ratio_requests=_env_int("BENCH_RATIO_REQUESTS", d.ratio_requests),
            concurrency=_env_int("BENCH_CONCURRENCY", d.concurrency),
            load_dates=_env_int("BENCH_LOAD_DATES", d.load_dates),
            sample_days=_env_int("BENCH_SAMPLE_DAYS", d.sample_days),
            work_dir=_env_path("BENCH_WORK_DIR", d.work_dir),
            results=_env_path("BENCH_RESULTS", d.results),
            markdown=_env_path("BENCH_MARKDOWN", d.markdown),
            chart=_env_path("BENCH_CHART", d.chart),
            data_end=os.environ.get("BENCH_DATA_END", "").strip()
            or (datetime.now(UTC).date() - timedelta(days=3)).isoformat(),
        )

    @property
    def calls_per_day(self) -> int:
        return max(1, round(self.calls / (self.orgs * self.days)))

    @property
    def end_date(self) -> date:
        """Last local date of the generated history (every organization)."""
        return date.fromisoformat(self.data_end)

    @property
    def new_day(self) -> date:
        """The day of new data the incremental phase adds (still in the past in every zone)."""
        return self.end_date + timedelta(days=1)

    @property
    def backfill_days(self) -> int:
        return min(365, self.days)

    # -- the bench's own warehouse and report store ---------------------------------------------
    @property
    def warehouse(self) -> Path:
        return self.work_dir / "warehouse"

    @property
    def dbt_target(self) -> Path:
        """dbt's target folder (manifest...) of the bench's processes, apart from everyone else's."""
        return self.work_dir / "dbt-target"

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.work_dir / 'reports.db'}"

    @property
    def seed_store_url(self) -> str:
        return f"sqlite:///{self.work_dir / 'seed_style_reports.db'}"

    def phase_output(self, name: str) -> Path:
        return self.work_dir / f"phase_{name}.json"

    def log(self, name: str) -> Path:
        return self.work_dir / "logs" / f"{name}.log"

    def environment(self, **extra: str) -> dict[str, str]:
        """Environment of a phase or of the served API: the bench warehouse and store, no scheduler."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"CLICKHOUSE_URL", "ORG_ID", "API_KEY", "BROKER_NODE_PERSISTENT_ID"}
        }
        env.update(
            CHDB_PATH=str(self.warehouse),
            REPORTS_STORE_URL=self.store_url,
            SCHEDULER_ENABLED="false",
            CLICKHOUSE_DATABASE="default",
            DBT_SCHEMA="analytics",
            DBT_TARGET_PATH=str(self.dbt_target),
            BENCH_DATA_END=self.data_end,
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def settings(self):  # -> service.core.config.Settings (imported lazily: the driver stays light)
        from service.core.config import Settings

        return Settings(
            chdb_path=self.warehouse,
            reports_store_url=self.store_url,
            scheduler_enabled=False,
            clickhouse_database="default",
            dbt_schema="analytics",
            dbt_target_path=self.dbt_target,
            org_id=None,
            api_key=None,
        )

    def generate(self, client: Any, store: Any, *, new_day: bool = False) -> Any:
        """Demo data of this run: the whole history, or (`new_day`) one more day after it.
        Returns demo_data's summary (imported lazily, like the settings)."""
        from demo_data import generate_demo_data

        options = (
            {"days": 1, "end_date": self.new_day, "dst_days": False}
            if new_day
            else {"days": self.days, "end_date": self.end_date}
        )
        return generate_demo_data(
            client, store, orgs=self.orgs, calls_per_day=self.calls_per_day, seed=self.seed, **options
        )

    def describe(self) -> dict[str, Any]:
        values = asdict(self)
        for key in ("work_dir", "results", "markdown", "chart"):
            values[key] = _relative(values[key])
        return values


def _relative(path: Path) -> str:
    try:
        return str(Path(path).relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


# -- measuring -----------------------------------------------------------------------------------


class Stopwatch:
    """Named wall-clock durations of one phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 4)
            print(f"[bench] {name}: {self.seconds[name]:.3f}s", flush=True)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """Memory lines of /proc/<pid>/status in kB (VmRSS, VmHWM...)."""
    values: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        match = re.match(r"^(Vm\w+):\s+(\d+) kB", line)
        if match:
            values[match.group(1)] = int(match.group(2))
    return values


def peak_rss_mb(pid: int | str = "self") -> float | None:
    hwm = proc_status(pid).get("VmHWM")
    return round(hwm / 1024, 1) if hwm is not None else None


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux: write 5 to clear_refs), so a later peak is one step's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- phases' hand-over ---------------------------------------------------------------------------


def write_phase(cfg: BenchConfig, name: str, values: dict[str, Any]) -> None:
    path = cfg.phase_output(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2, default=str))


def read_phase(cfg: BenchConfig, name: str) -> dict[str, Any]:
    return json.loads(cfg.phase_output(name).read_text())


def machine() -> dict[str, Any]:
    cpu_model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "cpu_model": cpu_model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = (
        "chdb-core",
        "clickhouse-connect",
        "dbt-core",
        "dbt-clickhouse",
        "fastapi",
        "uvicorn",
        "starlette",
        "pydantic",
        "httpx",
        "orjson",
        "matplotlib",
    )
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    import sqlite3

    versions["sqlite"] = sqlite3.sqlite_version
    return versions
