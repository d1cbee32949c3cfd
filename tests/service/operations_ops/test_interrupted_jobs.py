"""Which `running` job runs a start-up marks `interrupted`: those whose process is gone, and only those."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from reports_store import JobRun, open_store
from reports_store.sql.job_runs import TERMINAL_JOB_STATUSES
from service.jobs.recorder import INTERRUPTED, JobInterrupted, JobRecorder, job_owner


def test_only_jobs_of_stopped_processes_are_marked_interrupted(tmp_path: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(30)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    host = socket.gethostname()
    try:
        with open_store(f"sqlite:///{tmp_path / 'reports.db'}") as store:
            recorder = JobRecorder(store)
            ours = store.create_job(JobRun(kind="backfill", details={"owner": job_owner()}))  # running here
            owners = {
                "dead pid": {"pid": dead.pid, "host": host, "instance": "a"},
                "same pid, earlier run": {"pid": os.getpid(), "host": host, "instance": "b"},
                "no owner recorded": None,
                "other host": {"pid": alive.pid, "host": f"{host}-elsewhere", "instance": "c"},
                "live process": {"pid": alive.pid, "host": host, "instance": "d"},
            }
            jobs = {
                name: store.create_job(JobRun(kind="backfill", details={"owner": owner} if owner else {}))
                for name, owner in owners.items()
            }
            finished = store.create_job(
                JobRun(kind="daily", status="succeeded", details={"owner": owners["dead pid"]})
            )

            marked = recorder.interrupt_abandoned()

            assert {job.id for job in marked} == {
                jobs[name].id
                for name in ("dead pid", "same pid, earlier run", "no owner recorded", "other host")
            }
            for job in marked:
                assert job.status == INTERRUPTED and job.finished_at is not None
                assert "stopped before the job finished; run the job again" in job.error
                assert "\n" not in job.error
            assert f"pid {dead.pid}" in store.get_job(jobs["dead pid"].id).error
            assert store.get_job(jobs["live process"].id).status == "running"
            assert store.get_job(ours.id).status == "running"
            assert store.get_job(finished.id).status == "succeeded"
            assert recorder.interrupt_abandoned() == []  # nothing left to mark

            # At shutdown the service marks its own unfinished jobs (queued ones never ran).
            (own,) = recorder.interrupt_own("the service stopped before the job finished")
            assert own.id == ours.id and own.status == INTERRUPTED
            assert store.get_job(jobs["live process"].id).status == "running"
    finally:
        alive.kill()
        alive.wait(30)


def test_an_interrupted_finish_keeps_the_progress_and_says_why(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path / 'reports.db'}") as store:
        recorder = JobRecorder(store)
        outcome = recorder.start("backfill", "acme", None, None)
        assert outcome.job.details["owner"] == job_owner()
        outcome.generated.extend(["acme/2025-01-01", "acme/2025-01-02"])
        recorder.progress(outcome, 2, 10, force=True)
        done = recorder.finish(outcome, error=str(JobInterrupted(2, 10)), interrupted=True).job
    assert done.status == "interrupted" and INTERRUPTED in TERMINAL_JOB_STATUSES
    assert done.progress == 0.2 and done.counts == {"generated": 2, "skipped": 0, "failed": 0}
    assert done.error == (
        "the service stopped after 2 of 10 organization-days; run the job again to complete the rest"
    )
    assert done.finished_at is not None
