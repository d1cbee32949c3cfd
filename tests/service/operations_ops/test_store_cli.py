"""`python -m service store backup|restore|check` as an operator runs them: separate processes, a line
of result on success, one readable line on stderr and exit 1 on every failure."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from reports_store import LATEST_VERSION, open_store
from tests.reports_store.test_maintenance import fill, held_open_elsewhere, snapshot
from tests.service.operations_ops.conftest import cli_env, one_line_error, run_cli


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
def test_backup_check_and_restore_drill(backend, tmp_path):
    suffix = "db" if backend == "sqlite" else "duckdb"
    url = f"{backend}:///{tmp_path / f'reports.{suffix}'}"
    env = cli_env(tmp_path, REPORTS_STORE_URL=url)
    fill(url, days=4, orgs=("acme", "globex"))

    checked = run_cli(env, "store", "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == (
        f"ok: {url}: integrity ok, schema version {LATEST_VERSION}, 2 organizations, 8 reports, "
        "8 report revisions, 0 job runs"
    )

    made = run_cli(env, "store", "backup", f"{tmp_path}/backups/")
    assert made.returncode == 0, made.stderr
    match = re.search(r" to (\S+) \(", made.stdout)
    assert match, made.stdout
    backup = Path(match.group(1))
    assert backup.parent == tmp_path / "backups" and backup.name.startswith("reports-")
    assert "integrity ok" in made.stdout
    assert run_cli(env, "store", "check", str(backup)).returncode == 0

    backed_up = snapshot(url)
    with open_store(url) as store:  # a bad day after the backup
        store.delete_report("acme", min(day for _, day in backed_up))
    restored = run_cli(env, "store", "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "the previous store is kept as" in restored.stdout
    assert snapshot(url) == backed_up
    kept = Path(restored.stdout.strip().rsplit(" ", 1)[1])
    assert kept.exists() and kept.name.startswith(f"reports.{suffix}.before-restore-")


def test_failures_are_one_line_and_exit_1(tmp_path):
    env = cli_env(tmp_path)
    one_line_error(run_cli(env, "store", "check"), "no report store at")
    one_line_error(run_cli(env, "store", "backup", str(tmp_path / "b.db")), "no report store at")

    url = env["REPORTS_STORE_URL"]
    fill(url)
    made = run_cli(env, "store", "backup", str(tmp_path / "b.db"))
    assert made.returncode == 0, made.stderr
    one_line_error(run_cli(env, "store", "backup", str(tmp_path / "b.db")), "already exists")
    assert run_cli(env, "store", "backup", str(tmp_path / "b.db"), "--overwrite").returncode == 0

    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    one_line_error(run_cli(env, "store", "restore", str(notes)), "neither a SQLite nor a DuckDB database")
    one_line_error(run_cli(env, "store", "restore", str(tmp_path / "nope.db")), "does not exist")
    one_line_error(run_cli(env, "store", "check", str(notes)), "neither a SQLite nor a DuckDB database")

    newer = tmp_path / "newer.db"
    assert run_cli(env, "store", "backup", str(newer)).returncode == 0
    with closing(sqlite3.connect(newer)) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
        conn.commit()
    one_line_error(
        run_cli(env, "store", "check", str(newer)), "schema version 99 is newer than this code knows"
    )
    one_line_error(run_cli(env, "store", "restore", str(newer)), "not a usable backup")

    one_line_error(
        run_cli({**env, "REPORTS_STORE_URL": "postgres://u:secret@db/x"}, "store", "check"), "'postgres'"
    )
    assert not list(tmp_path.glob("*before-restore*"))


def test_a_damaged_store_fails_its_check(tmp_path):
    env = cli_env(tmp_path)
    fill(env["REPORTS_STORE_URL"], days=200)
    path = tmp_path / "reports.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as handle:
        handle.seek(4096 * 3)
        handle.write(b"\x5a" * 8192)
    result = run_cli(env, "store", "check")
    one_line_error(result, "reports.db: ")
    assert "integrity check failed" in result.stderr or "cannot be read" in result.stderr


def test_restore_refuses_while_the_store_is_in_use(tmp_path):
    env = cli_env(tmp_path)
    url = env["REPORTS_STORE_URL"]
    fill(url)
    assert run_cli(env, "store", "backup", str(tmp_path / "b.db")).returncode == 0
    # A process with the store open (as `serve` with an external ClickHouse would have it).
    with held_open_elsewhere(url):
        one_line_error(run_cli(env, "store", "restore", str(tmp_path / "b.db")), "open in another process")
    # The service that owns the embedded warehouse, as `running_service_url` finds it.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        marker = tmp_path / "warehouse" / "service.json"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"pid": sleeper.pid, "url": "http://127.0.0.1:9"}))
        one_line_error(
            run_cli(env, "store", "restore", str(tmp_path / "b.db")),
            "the service at http://127.0.0.1:9 is running and uses the report store",
        )
    finally:
        sleeper.kill()
        sleeper.wait(30)
    assert not list(tmp_path.glob("*before-restore*"))
