"""dbt's adapter conformance suite (the `dbt-tests-adapter` package) on the embedded `chdb` target.

The suite's fixtures (`dbt.tests.fixtures.project`) write a dbt project and a profiles.yml per
test class and run dbt in-process. chDB opens one data directory per process and the session
already has one (`tests/conftest.py` sets CHDB_PATH), so every class runs on that warehouse and
is isolated by the unique schema the suite creates for it, which on ClickHouse is a database.

`make test` runs the fast subset; `make conformance` (CONFORMANCE=full) runs every applicable
class and writes a per-module summary (CONFORMANCE_REPORT) to bench/results/conformance.json.
Tests needing what an embedded engine has not (a cluster, Keeper, users, S3) are skipped with
that reason.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

# Import the heavy libraries clickhouse-connect loads lazily now: a first import inside a test
# that freezes time (freezegun, for microbatch) can crash the process.
import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow  # noqa: F401
import pytest
from dbt.tests.fixtures.project import *  # noqa: F403 - the suite's fixtures, scoped to this folder

from service.core import dbt_chdb

dbt_chdb.register()

FULL = os.environ.get("CONFORMANCE", "").lower() == "full"


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance_full: only in `make conformance` (CONFORMANCE=full)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    kept, dropped = [], []
    for item in items:
        inside = here in Path(str(item.fspath)).parents
        if inside:
            # dbt-tests-adapter's base classes declare class-scoped fixtures as methods.
            item.add_marker(pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"))
        (dropped if inside and not FULL and item.get_closest_marker("conformance_full") else kept).append(
            item
        )
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="class")
def dbt_profile_target():
    return {
        "type": "clickhouse",
        "driver": "chdb",
        "host": os.environ["CHDB_PATH"],
        "threads": 1,
        "check_exchange": False,
    }


@pytest.fixture(scope="class")
def logs_dir(prefix):
    # The suite's default is <rootdir>/logs/<prefix>: keep logs with the session warehouse instead.
    path = Path(os.environ["CHDB_PATH"]).parent / "conformance-logs" / prefix
    os.environ["DBT_LOG_PATH"] = str(path)
    yield str(path)
    os.environ.pop("DBT_LOG_PATH", None)


@pytest.fixture(scope="class", autouse=True)
def _dbt_environment():
    """dbt artifacts in each test project's own target/ (the session points DBT_TARGET_PATH elsewhere)."""
    saved = {
        name: os.environ.pop(name)
        for name in ("DBT_TARGET_PATH", "DBT_TARGET", "DBT_SCHEMA")
        if name in os.environ
    }
    yield
    os.environ.update(saved)


# ---- the summary written by `make conformance` -------------------------------------------------

_outcomes: dict[str, dict[str, object]] = defaultdict(
    lambda: {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0, "reasons": {}, "seconds": 0.0}
)
_started = time.monotonic()


def _count_reason(entry: dict, reason: str) -> None:
    reason = reason.removeprefix("Skipped: ").removeprefix("reason: ")
    entry["reasons"][reason] = entry["reasons"].get(reason, 0) + 1


def pytest_runtest_logreport(report):
    module = report.nodeid.split("::", 1)[0]
    entry = _outcomes[module]
    entry["seconds"] += report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail") and report.skipped:
            entry["xfailed"] += 1
            _count_reason(entry, report.wasxfail)
        elif report.passed:
            entry["passed"] += 1
        elif report.skipped:
            entry["skipped"] += 1
            _count_reason(
                entry, report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            )
        else:
            entry["failed"] += 1
    elif report.when == "teardown" and report.failed:
        entry["failed"] += 1


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("CONFORMANCE_REPORT")
    if not target or not _outcomes:
        return
    modules = {
        name: {**entry, "seconds": round(entry["seconds"], 1)} for name, entry in sorted(_outcomes.items())
    }
    totals = {
        key: sum(entry[key] for entry in modules.values())
        for key in ("passed", "failed", "skipped", "xfailed")
    }
    import chdb
    import clickhouse_connect
    from dbt.adapters.clickhouse.__version__ import version as dbt_clickhouse_version
    from dbt.version import __version__ as dbt_core_version

    summary = {
        "target": "chdb",
        "selection": "full" if FULL else "fast",
        "versions": {
            "chdb": getattr(chdb, "__version__", "?"),
            "clickhouse-connect": clickhouse_connect.__version__,
            "dbt-core": dbt_core_version,
            "dbt-clickhouse": dbt_clickhouse_version,
            "python": sys.version.split()[0],
        },
        "wall_seconds": round(time.monotonic() - _started, 1),
        "totals": totals,
        "modules": modules,
    }
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text(json.dumps(summary, indent=2) + "\n")
