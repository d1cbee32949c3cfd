"""A real `python -m service serve` stopped in the middle of a backfill: by `kill -9`, and by SIGTERM.

The report phase of a backfill stores about one organization-day per millisecond, faster than the job's
progress is saved (every 0.5 s), so the tests watch the store file itself (read-only, as any other
process may) to act while the backfill is half way.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from tests.service.operations_ops.conftest import (
    DEMO_DAYS,
    Service,
    one_line_error,
    read_store,
    run_cli,
    service_env,
    store_path,
)

Reports = dict[tuple[str, str], tuple[Any, ...]]


def stored_reports(env: dict[str, str]) -> Reports:
    """Every stored report: (org_id, day) -> (created_at, updated_at, report JSON text)."""
    rows = read_store(
        env, "SELECT org_id, report_date, created_at, updated_at, report_data FROM daily_reports"
    )
    reports = {(org_id, str(day)): (created, updated, data) for org_id, day, created, updated, data in rows}
    assert len(reports) == len(rows), "two reports for one organization-day"
    return reports


def assert_whole(reports: Reports) -> None:
    """Every stored report is a complete report of its own organization-day."""
    for (org_id, day), (_, _, data) in reports.items():
        report = json.loads(data)
        assert report["metadata"]["org_id"] == org_id, report["metadata"]
        assert report["metadata"]["report_start_date"] == day, report["metadata"]
        assert "kpis" in report


def job_row(env: dict[str, str], job_id: int) -> dict[str, Any]:
    columns = ("status", "error", "finished_at", "counts")
    (row,) = read_store(env, f"SELECT {', '.join(columns)} FROM job_runs WHERE id = ?", (job_id,))
    return dict(zip(columns, row, strict=True))


def start_backfill(service: Service) -> int:
    started = service.request("POST", "/api/reports/backfill", json={"last_days": DEMO_DAYS})
    assert started.status_code == 202, started.text
    return started.json()["id"]


def watch_store(env: dict[str, str]) -> sqlite3.Connection:
    return sqlite3.connect(store_path(env), timeout=30, isolation_level=None)


def wait_for_reports(conn: sqlite3.Connection, service: Service, timeout: float = 300) -> int:
    """Poll the store every millisecond until the backfill has stored some days."""
    deadline = time.monotonic() + timeout
    while not (count := conn.execute("SELECT COUNT(*) FROM daily_reports").fetchone()[0]):
        assert service.process.poll() is None, f"the service exited: {service.log()[-3000:]}"
        assert time.monotonic() < deadline, "the backfill stored nothing"
        time.sleep(0.001)
    return count


def test_kill_9_mid_backfill_leaves_whole_reports_and_a_rerun_completes_the_rest(demo_warehouse, tmp_path):
    env = service_env(demo_warehouse, tmp_path)
    log_path = tmp_path / "serve.log"
    service = Service.start(env, log_path)
    try:
        job_id = start_backfill(service)
        conn = watch_store(env)
        try:
            seen = wait_for_reports(conn, service)
            os.kill(service.process.pid, signal.SIGKILL)
        finally:
            conn.close()
        assert service.process.wait(30) == -signal.SIGKILL
    finally:
        service.kill()

    # What the crash left: the job still says `running`, every stored report is whole, the file is sound.
    after_kill = stored_reports(env)
    assert len(after_kill) >= seen
    assert_whole(after_kill)
    assert job_row(env, job_id)["status"] == "running"
    checked = run_cli(env, "store", "check")
    assert checked.returncode == 0 and "integrity ok" in checked.stdout, checked.stdout + checked.stderr

    service = Service.start(env, log_path)
    try:
        # At start-up the abandoned job was marked interrupted, with a one-line error.
        job = service.job(job_id)
        assert job["status"] == "interrupted", job
        assert job["finished_at"] is not None
        assert "stopped before the job finished" in job["error"] and "\n" not in job["error"], job["error"]

        # While the service runs: an online backup works, a restore is refused.
        backup = tmp_path / "online-backup.db"
        made = run_cli(env, "store", "backup", str(backup))
        assert made.returncode == 0 and "integrity ok" in made.stdout, made.stderr
        one_line_error(run_cli(env, "store", "restore", str(backup)), "is running and uses the report store")

        # Running the backfill again stores the missing days only.
        rerun = service.wait_job(start_backfill(service))
        assert rerun["status"] == "succeeded", rerun
        assert rerun["counts"]["skipped"] == len(after_kill)
        assert rerun["counts"]["failed"] == 0
    finally:
        service.assert_clean_exit(service.stop())

    final = stored_reports(env)
    assert len(final) == rerun["counts"]["generated"] + rerun["counts"]["skipped"]
    assert len(after_kill) < len(final), "the kill came after the backfill had finished"
    assert_whole(final)
    # The days stored before the kill are untouched: same JSON, same created_at and updated_at.
    assert {key: final[key] for key in after_kill} == after_kill


def test_sigterm_mid_backfill_finishes_the_day_in_hand_and_records_interrupted(demo_warehouse, tmp_path):
    env = service_env(demo_warehouse, tmp_path, SCHEDULER_ENABLED="true", SCHEDULER_CATCHUP_DAYS="0")
    service = Service.start(env, tmp_path / "serve.log")
    try:
        assert httpx.get(f"{service.url}/health", timeout=10).json()["scheduler"] == "running"
        job_id = start_backfill(service)
        conn = watch_store(env)
        try:
            wait_for_reports(conn, service)
            # Hold the store's write lock: the backfill's next write (its organization-day in hand) waits.
            conn.execute("BEGIN IMMEDIATE")
            (stored_at_signal,) = conn.execute("SELECT COUNT(*) FROM daily_reports").fetchone()
            signalled = time.monotonic()
            service.process.send_signal(signal.SIGTERM)
            while "Waiting for application shutdown" not in service.log():
                assert time.monotonic() - signalled < 15, service.log()[-3000:]
                time.sleep(0.05)
            time.sleep(1)
            assert service.process.poll() is None, "the service exited without finishing the day in hand"
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        code = service.process.wait(30)
        stopped_in = time.monotonic() - signalled
    finally:
        service.kill()
    service.assert_clean_exit(code)
    assert stopped_in < 30

    job = job_row(env, job_id)
    counts = json.loads(job["counts"])
    stored = stored_reports(env)
    assert job["status"] == "interrupted", job
    assert job["finished_at"] is not None
    assert "the service stopped after" in job["error"] and "\n" not in job["error"], job["error"]
    # The write that waited for the lock was finished, not dropped, and then the job stopped.
    assert len(stored) in (stored_at_signal, stored_at_signal + 1)
    assert counts["generated"] == len(stored) and counts["failed"] == 0, counts
    progress = job["error"].split("stopped after ")[1].split(" organization-days")[0]
    done, total = (int(n) for n in progress.split(" of "))
    assert done == len(stored) < total
    assert_whole(stored)
    checked = run_cli(env, "store", "check")
    assert checked.returncode == 0, checked.stderr
    assert not (Path(env["CHDB_PATH"]) / "service.json").exists()
