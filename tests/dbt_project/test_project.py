"""The dbt project itself: it parses for a ClickHouse server, stays portable, documents itself."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from service.core.config import DBT_PROJECT_DIR, PROJECT_ROOT
from service.core.dbt_runner import dbt_environment, run_dbt
from service.core.warehouse import get_client
from tests.conftest import make_settings

# Things only chDB (or only a local engine) has: table functions reading the local machine or
# Python, and the setting that makes per-row timezones silently wrong.
CHDB_ONLY = re.compile(
    r"\b(python|file|chdb|Python|arrowstream|dataframe)\s*\(|allow_nonconst_timezone_arguments|\bchdb\b",
    re.IGNORECASE,
)


def project_sql_files() -> list[Path]:
    return sorted(
        p for folder in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / folder).rglob("*.sql")
    )


def test_models_use_nothing_chdb_only():
    offenders = [str(p) for p in project_sql_files() if CHDB_ONLY.search(p.read_text())]
    assert project_sql_files(), "no SQL found"
    assert offenders == []


def test_parse_for_a_clickhouse_server_needs_no_server():
    settings = make_settings("parse", clickhouse_url="https://ch.example.invalid:8443")
    assert dbt_environment(settings)["DBT_TARGET"] == "clickhouse"
    outcome = run_dbt(["parse", "--target", "clickhouse"], settings)
    assert outcome.success, outcome.error


def test_captured_output_and_dbt_exit_codes():
    settings = make_settings("parse")
    listed = run_dbt(["ls", "--select", "agg_daily_org_metrics"], settings, capture_output=True)
    assert listed.success and listed.exit_code == 0, listed.error
    assert any(line.endswith("agg_daily_org_metrics") for line in listed.output), listed.output
    assert not any("\x1b[" in line for line in listed.output)
    unknown = run_dbt(["ls", "--no-such-flag"], settings, capture_output=True)
    assert not unknown.success and unknown.exit_code == 2 and unknown.error


def test_server_settings_reach_the_profile_and_secrets_stay_out_of_repr():
    settings = make_settings("env", clickhouse_url="https://ch.example.invalid", clickhouse_password="s3cret")
    env = dbt_environment(settings)
    assert (env["CLICKHOUSE_HOST"], env["CLICKHOUSE_PORT"], env["CLICKHOUSE_SECURE"]) == (
        "ch.example.invalid",
        "8443",
        "True",
    )
    assert env["CLICKHOUSE_PASSWORD"] == "s3cret"
    assert "s3cret" not in repr(settings)


def test_docs_generate_on_the_embedded_warehouse():
    settings = make_settings("docs")
    get_client(settings)
    outcome = run_dbt(["docs", "generate"], settings)
    assert outcome.success, outcome.error
    assert (settings.dbt_target_path / "catalog.json").exists()


def test_a_second_process_gets_one_clear_line(session_dir):
    get_client(make_settings("busy"))  # this process now owns the session warehouse
    env = dict(os.environ, CHDB_PATH=str(session_dir / "warehouse"))
    result = subprocess.run(
        [sys.executable, "-m", "service", "dbt", "run", "--select", "stg_platform__runs"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "in use by another process" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
