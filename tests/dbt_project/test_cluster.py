"""Scale-out on paper: with CLICKHOUSE_CLUSTER the `clickhouse` target renders ON CLUSTER DDL and
replicated engines, checked by dbt itself without a server (README, "Scale-out").

`dbt compile --inline` parses the project (writing the manifest) and renders dbt-clickhouse's own
`on_cluster_clause` for a mart's relation; no query reaches a server (the profile points at a
closed port, and a connection attempt would fail the command).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.core.config import DBT_PROJECT_DIR, PROJECT_ROOT
from service.core.dbt_runner import dbt_environment
from tests.conftest import make_settings

MART = "agg_daily_org_metrics"
# The ON CLUSTER clause dbt-clickhouse adds to a mart's DDL (the `ref` outside the `if` tells dbt
# the dependency at parse time, when `execute` is false).
INLINE = (
    f"-- depends_on: {{{{ ref('{MART}') }}}}\n"
    f"{{% if execute %}}create table {{{{ ref('{MART}') }}}} {{{{ on_cluster_clause(ref('{MART}')) }}}}"
    "{% endif %}"
)


def compile_inline(tmp_path: Path, cluster: str | None) -> tuple[str, dict]:
    """`dbt compile --inline` on the clickhouse target; its output and the manifest it wrote."""
    settings = make_settings("cluster", clickhouse_url="http://127.0.0.1:9", clickhouse_cluster=cluster)
    target = tmp_path / ("cluster" if cluster else "single")
    env = (
        os.environ | dbt_environment(settings) | {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    )
    args = ["compile", "--target", "clickhouse", "--no-populate-cache", "--quiet", "--inline", INLINE]
    command = [sys.executable, "-m", "dbt.cli.main", *args]
    command += ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(PROJECT_ROOT)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout, json.loads((target / "manifest.json").read_text())


def stored_models(manifest: dict) -> dict[str, str | None]:
    """Engine of every model stored as a table (views have none)."""
    return {
        node["name"]: node["config"].get("engine")
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] in ("table", "incremental")
    }


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt-cluster")


def test_a_cluster_gets_on_cluster_ddl_and_replicated_engines(tmp_dir):
    output, manifest = compile_inline(tmp_dir, "analytics_cluster")
    engines = stored_models(manifest)
    assert {"int_refresh_window", "fct_calls", MART, "agg_daily_org_breakdowns"} <= set(engines)
    assert set(engines.values()) == {"ReplicatedMergeTree()"}, engines
    assert 'ON CLUSTER "analytics_cluster"' in output
    assert MART in output


def test_without_a_cluster_nothing_changes(tmp_dir):
    output, manifest = compile_inline(tmp_dir, None)
    assert set(stored_models(manifest).values()) == {"MergeTree()"}
    assert "ON CLUSTER" not in output and MART in output
