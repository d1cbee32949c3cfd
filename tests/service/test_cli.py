"""The operator CLI as an operator runs it: separate processes, one readable line on failure,
and, while a service owns the embedded warehouse, work sent to that service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from service.core.config import PROJECT_ROOT
from tests.service.api.conftest import free_port


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "API_KEY", "ORG_ID"))}
    env.update(
        CHDB_PATH=str(tmp / "warehouse"),
        REPORTS_STORE_URL=f"sqlite:///{tmp / 'reports.db'}",
        SCHEDULER_ENABLED="false",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["generate", "--org", "nobody", "--date", "2025-01-01"], "Unknown organization"),
        (["generate", "--org", "x", "--date", "2025-02-30"], "not a valid date"),
        (["generate", "--org", "x", "--date", "0011-03-28"], "1970-01-01"),
        (["backfill", "--start", "2025-03-10", "--end", "2025-03-01"], "before start"),
        (["backfill", "--last-days", "3", "--start", "2025-03-01"], "not both"),
        (
            ["orgs", "add", "acme", "--name", "Acme", "--node", "n1", "--timezone", "Mars/Base"],
            "Unknown timezone",
        ),
        (["orgs", "add", "acme", "--name", "Acme", "--node", "n1", "--excluded-numbers", "555"], "E.164"),
        (["orgs", "add", "bad id", "--name", "Acme", "--node", "n1"], "org_id: 'bad id' must be"),
        (["reports", "show", "2025-01-01", "--org", "nobody"], "Unknown organization"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(workdir, args, phrase):
    env = cli_env(workdir)
    result = run_cli(env, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    listed = run_cli(env, "orgs", "list")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"


def test_while_a_service_runs_cli_work_is_sent_to_it(tmp_path):
    port = free_port()
    env = cli_env(tmp_path, API_KEY="cli-key")
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (
                f"the service did not become healthy: {log_path.read_text()[-3000:]}"
            )
            time.sleep(0.3)
        added = run_cli(
            env, "orgs", "add", "fwd-org", "--name", "Forwarded", "--node", "n-1", "--timezone", "UTC"
        )
        assert added.returncode == 0, added.stderr
        daily = run_cli(env, "run-daily", "--org", "fwd-org", "--date", "2025-06-01")
        assert daily.returncode == 0, daily.stderr
        assert "1 generated" in daily.stdout
        shown = run_cli(env, "reports", "show", "2025-06-01", "--org", "fwd-org")
        assert shown.returncode == 0 and '"total_calls": 0' in shown.stdout
        listed = run_cli(env, "reports", "list", "--org", "fwd-org")
        assert listed.returncode == 0 and '"report_date": "2025-06-01"' in listed.stdout, listed.stderr
        again = run_cli(env, "generate", "--org", "fwd-org", "--date", "2025-06-01", "--allow-empty")
        assert again.returncode == 0 and again.stderr.startswith("skipped"), again.stderr
        assert '"total_calls": 0' in again.stdout and '"skipped"' not in again.stdout
        forced = run_cli(
            env, "generate", "--org", "fwd-org", "--date", "2025-06-01", "--allow-empty", "--force"
        )
        assert forced.returncode == 0 and '"revision": 2' in forced.stdout, forced.stderr
        revisions = run_cli(env, "reports", "revisions", "2025-06-01", "--org", "fwd-org")
        assert revisions.returncode == 0, revisions.stderr
        assert [r["reason"] for r in json.loads(revisions.stdout)] == ["scheduled", "manual"]
        diff = run_cli(env, "reports", "diff", "2025-06-01", "--org", "fwd-org", "--from", "1", "--to", "2")
        assert diff.returncode == 0 and json.loads(diff.stdout) == {"from": 1, "to": 2, "changes": []}
        older = run_cli(env, "reports", "show", "2025-06-01", "--org", "fwd-org", "--revision", "1")
        assert older.returncode == 0 and json.loads(older.stdout)["revision"] == 1
        no_such = run_cli(env, "reports", "diff", "2025-06-01", "--org", "fwd-org", "--to", "5")
        assert no_such.returncode == 1 and "no revision 5" in no_such.stderr
        export = tmp_path / "fwd.parquet"
        exported = run_cli(
            env,
            "reports",
            "export",
            "--org",
            "fwd-org",
            "--start",
            "2025-06-01",
            "--end",
            "2025-06-02",
            "--format",
            "parquet",
            "--output",
            str(export),
        )
        assert exported.returncode == 0, exported.stderr
        assert pq.read_table(export).to_pylist()[0]["revision"] == 2
        deleted = run_cli(env, "reports", "delete", "2025-06-01", "--org", "fwd-org")
        assert deleted.returncode == 0 and "deleted the report of fwd-org on 2025-06-01" in deleted.stdout
        gone = run_cli(env, "reports", "show", "2025-06-01", "--org", "fwd-org")
        assert gone.returncode == 1 and "No stored report" in gone.stderr
        dbt = run_cli(env, "dbt", "run", "--select", "stg_platform__runs")
        assert dbt.returncode == 0 and "running service" in dbt.stderr
        refused = run_cli({**env, "API_KEY": "wrong"}, "run-daily", "--org", "fwd-org")
        assert refused.returncode == 1 and "admin key" in refused.stderr
        demo = run_cli(env, "demo-data", "--orgs", "1", "--days", "1")
        assert demo.returncode == 1 and "stop it" in demo.stderr
    finally:
        server.terminate()
        server.wait(60)
        log.close()
    assert not (tmp_path / "warehouse" / "service.json").exists()

    # With no service running, the same commands work in this process.
    listed = run_cli(env, "reports", "revisions", "2025-06-01", "--org", "fwd-org")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 2  # kept after the delete
    csv_file = tmp_path / "fwd.csv"
    exported = run_cli(
        env,
        "reports",
        "export",
        "--org",
        "fwd-org",
        "--start",
        "2025-05-30",
        "--end",
        "2025-06-01",
        "--output",
        str(csv_file),
    )
    assert exported.returncode == 0 and csv_file.read_text().startswith("report_date,revision,"), (
        exported.stderr
    )
    assert len(csv_file.read_text().splitlines()) == 1  # the header only: the report was deleted
    unwritable = run_cli(
        env,
        "reports",
        "export",
        "--org",
        "fwd-org",
        "--start",
        "2025-05-30",
        "--end",
        "2025-06-01",
        "--output",
        str(tmp_path / "missing" / "x.csv"),
    )
    assert (
        unwritable.returncode == 1
        and "cannot write" in unwritable.stderr
        and "Traceback" not in unwritable.stderr
    )
