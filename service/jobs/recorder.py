"""The job-run lifecycle: every job is recorded in the store from start to finish.

A job ends `interrupted` when its process stops: between organization-days when the service shuts
down (`JobInterrupted`), or, after a crash or `kill -9`, at the next service start
(`interrupt_abandoned`: each job records the process that runs it, so a job whose process is gone
is told from one another process still runs).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from reports_store import JobRun, ReportStore
from service.core.processes import pid_alive
from service.observability.context import JobBinding, bind_job, unbind_job

log = logging.getLogger(__name__)
PROGRESS_SAVE_SECONDS = 0.5
ProgressCallback = Callable[[int, int], None]
# Told of every finished job run (the API's metrics count them here).
JobObserver = Callable[[JobRun], None]
INTERRUPTED = "interrupted"
# This run of this process: a job's owner with the same pid but another instance is a previous process
# (containers often restart the service under the same pid).
_INSTANCE = uuid.uuid4().hex


class JobInterrupted(Exception):
    """Raised by a job between organization-days when the service stops; the run ends `interrupted`."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(
            f"the service stopped after {done} of {total} organization-days; "
            "run the job again to complete the rest"
        )


def job_owner() -> dict[str, Any]:
    """This process, as recorded in `details.owner` of the jobs it starts."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "instance": _INSTANCE}


def owner_gone(job: JobRun) -> bool:
    """Whether the process that runs a `running` job has stopped, so the job will never finish."""
    owner = job.details.get("owner")
    if not isinstance(owner, dict):
        return True  # recorded before jobs named their process
    if owner.get("instance") == _INSTANCE:
        return False
    if owner.get("host") != socket.gethostname():
        return True  # a report store is only shared on one host (SQLite's WAL, DuckDB's one process)
    pid = owner.get("pid")
    return not isinstance(pid, int) or pid == os.getpid() or not pid_alive(pid)


@dataclass
class JobOutcome:
    """A job run and what it did, item by item (`org_id/date` keys)."""

    job: JobRun
    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    _progress_saved_at: float = 0.0
    _log_context: JobBinding | None = None

    def counts(self) -> dict[str, int]:
        return {"generated": len(self.generated), "skipped": len(self.skipped), "failed": len(self.failed)}

    def status(self, error: str | None) -> str:
        if error:
            return "failed"
        if self.failed:
            return "partial" if self.generated or self.skipped else "failed"
        return "succeeded"


def one_line(exc: BaseException) -> str:
    """An exception as the one line a job record keeps."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


class JobRecorder:
    def __init__(self, store: ReportStore) -> None:
        self.store = store
        self.observers: list[JobObserver] = []

    def start(
        self, kind: str, org_id: str | None, start: date | None, end: date | None, *, run_here: bool = True
    ) -> JobOutcome:
        """Record a job; with run_here, this thread's log lines name it until it finishes (a job only
        recorded here and run in another thread is bound there, with `bind`)."""
        outcome = JobOutcome(
            self.store.create_job(
                JobRun(
                    kind=kind, org_id=org_id, start_date=start, end_date=end, details={"owner": job_owner()}
                )
            )
        )
        if run_here:
            self.bind(outcome)
        return outcome

    def unbind(self, outcome: JobOutcome) -> None:
        """This thread's log lines stop naming the job (it ends elsewhere, or not at all)."""
        unbind_job(outcome._log_context)
        outcome._log_context = None

    def bind(self, outcome: JobOutcome) -> None:
        """This thread's log lines name the job (and its organization) until it finishes."""
        outcome._log_context = bind_job(outcome.job.id, outcome.job.org_id)

    def progress(self, outcome: JobOutcome, done: int, total: int, *, force: bool = False) -> None:
        """Save progress at most every PROGRESS_SAVE_SECONDS (not a store write per report)."""
        if not force and time.monotonic() - outcome._progress_saved_at < PROGRESS_SAVE_SECONDS:
            return
        outcome.job = self.store.update_job(
            outcome.job.id, progress=round(done / total, 4) if total else 1.0, counts=outcome.counts()
        )
        outcome._progress_saved_at = time.monotonic()

    def finish(
        self,
        outcome: JobOutcome,
        error: str | None = None,
        *,
        note: str | None = None,
        interrupted: bool = False,
    ) -> JobOutcome:
        """Record the end of a job: `interrupted` (with `error` saying so) when its process is stopping."""
        outcome.job = self.store.update_job(
            outcome.job.id,
            status=INTERRUPTED if interrupted else outcome.status(error),
            finished_at=datetime.now(UTC),
            progress=outcome.job.progress if error else 1.0,
            counts=outcome.counts(),
            error=error or (next(iter(outcome.failed.values())) if outcome.failed else None),
            details={
                "failed": outcome.failed,
                "generated": outcome.generated[:1000],
                "skipped": outcome.skipped[:1000],
            }
            | ({"note": note} if note else {}),
        )
        job = outcome.job
        log.log(
            logging.WARNING if job.status != "succeeded" else logging.INFO,
            "job %s %s %s: %s",
            job.id,
            job.kind,
            job.status,
            job.error or note or "done",
            extra={"job_id": job.id, "kind": job.kind, "status": job.status, "counts": job.counts},
        )
        unbind_job(outcome._log_context)
        for observer in self.observers:
            try:
                observer(job)
            except Exception:  # an observer never fails the job
                log.exception("job observer %r failed", observer)
        return outcome

    def _running_jobs(self) -> list[JobRun]:
        running: list[JobRun] = []
        while page := self.store.list_jobs(500, len(running), status="running"):
            running.extend(page)
        return running

    def interrupt_abandoned(self) -> list[JobRun]:
        """Mark `interrupted` every job left `running` by a process that is gone (a crash, `kill -9`).

        The service calls this as it starts; jobs of processes still running (a command-line backfill
        on the same SQLite store) are left alone.
        """
        marked = []
        for job in self._running_jobs():
            if not owner_gone(job):
                continue
            owner = job.details.get("owner") or {}
            who = f"its process (pid {owner['pid']})" if "pid" in owner else "its process"
            error = f"{who} stopped before the job finished; run the job again to complete it"
            marked.append(self.store.update_job(job.id, status=INTERRUPTED, error=error))
            log.warning(
                "job %s %s was left running by a stopped process: marked interrupted", job.id, job.kind
            )
        return marked

    def interrupt_own(self, reason: str) -> list[JobRun]:
        """Mark `interrupted` this process's jobs still `running` (queued when the service stopped)."""
        marked = []
        for job in self._running_jobs():
            if (job.details.get("owner") or {}).get("instance") == _INSTANCE:
                marked.append(self.store.update_job(job.id, status=INTERRUPTED, error=reason))
                log.warning("job %s %s never finished: marked interrupted (%s)", job.id, job.kind, reason)
        return marked
