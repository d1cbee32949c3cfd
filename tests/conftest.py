"""Shared test set-up.

chDB opens one data directory per process, for the life of the process, so the whole test
session shares one embedded warehouse. Test modules isolate themselves with their own source
database, dbt schema and report store (see `make_settings`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

SESSION_DIR = Path(tempfile.mkdtemp(prefix="call-analytics-tests-"))
os.environ["CHDB_PATH"] = str(SESSION_DIR / "warehouse")
os.environ["REPORTS_STORE_URL"] = f"sqlite:///{SESSION_DIR / 'reports.db'}"
os.environ["SCHEDULER_ENABLED"] = "false"
# dbt's target folder is per process: parallel runs must not share a manifest.
os.environ["DBT_TARGET_PATH"] = str(SESSION_DIR / "dbt-target")
for name in ("CLICKHOUSE_URL", "API_KEY", "ORG_ID"):
    os.environ.pop(name, None)

from service.core.config import Settings  # noqa: E402 - after the environment is set


def make_settings(name: str, **overrides: object) -> Settings:
    """Settings on the session warehouse with a source database, schema and store of their own."""
    values: dict[str, object] = {
        "chdb_path": SESSION_DIR / "warehouse",
        "clickhouse_database": f"src_{name}",
        "dbt_schema": f"an_{name}",
        "reports_store_url": f"sqlite:///{SESSION_DIR / name}.db",
        "scheduler_enabled": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return SESSION_DIR


def load_demo_data(settings: Settings, **options: int) -> None:
    """Demo calls into the settings' source database, organizations into its report store."""
    from demo_data import generate_demo_data
    from reports_store import open_store
    from service.core.warehouse import get_client

    with open_store(settings.reports_store_url) as store:
        generate_demo_data(get_client(settings), store, database=settings.clickhouse_database, **options)
