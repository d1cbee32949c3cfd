"""The job-run lifecycle: every job is recorded in the store from start to finish."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from reports_store import JobRun, ReportStore

PROGRESS_SAVE_SECONDS = 0.5
ProgressCallback = Callable[[int, int], None]


@dataclass
class JobOutcome:
    """A job run and what it did, item by item (`org_id/date` keys)."""

    job: JobRun
    generated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    _progress_saved_at: float = 0.0

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

    def start(self, kind: str, org_id: str | None, start: date | None, end: date | None) -> JobOutcome:
        return JobOutcome(
            self.store.create_job(JobRun(kind=kind, org_id=org_id, start_date=start, end_date=end))
        )

    def progress(self, outcome: JobOutcome, done: int, total: int, *, force: bool = False) -> None:
        """Save progress at most every PROGRESS_SAVE_SECONDS (not a store write per report)."""
        if not force and time.monotonic() - outcome._progress_saved_at < PROGRESS_SAVE_SECONDS:
            return
        outcome.job = self.store.update_job(
            outcome.job.id, progress=round(done / total, 4) if total else 1.0, counts=outcome.counts()
        )
        outcome._progress_saved_at = time.monotonic()

    def finish(self, outcome: JobOutcome, error: str | None = None, *, note: str | None = None) -> JobOutcome:
        outcome.job = self.store.update_job(
            outcome.job.id,
            status=outcome.status(error),
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
        return outcome
