"""The hooks the metrics hang on: job recorder observers and the log context, timed dbt invocations."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports_store import open_store
from service.core.dbt_runner import DbtOutcome
from service.jobs.recorder import JobRecorder
from service.jobs.refresh import Refresher
from service.observability import context
from tests.conftest import make_settings


@pytest.fixture
def store(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path / 'reports.db'}") as opened:
        yield opened


def test_a_job_binds_the_log_context_and_tells_observers_once_finished(store):
    recorder = JobRecorder(store)
    seen = []
    recorder.observers += [lambda job: 1 / 0, seen.append]  # a failing observer does not fail the job
    outcome = recorder.start("refresh", None, None, None)
    assert context.current() == {"job_id": outcome.job.id}
    assert not seen
    recorder.finish(outcome, error="RefreshFailed: dbt refresh failed")
    assert context.current() == {}
    assert [(job.id, job.kind, job.status) for job in seen] == [(outcome.job.id, "refresh", "failed")]
    assert store.get_job(outcome.job.id).status == "failed"


def test_dbt_invocations_are_timed_even_when_they_raise(store):
    refresher = Refresher(make_settings("observability_hooks"), store)
    seen = []
    refresher.dbt_observers += [lambda *_: 1 / 0, lambda *args: seen.append(args)]
    ok = refresher._timed("build", lambda: DbtOutcome(success=True, command="build", exit_code=0))
    assert ok.success

    def unreachable() -> DbtOutcome:
        raise ConnectionError("warehouse gone")

    with pytest.raises(ConnectionError):
        refresher._timed("run", unreachable)
    assert [(command, success) for command, _, success in seen] == [("build", True), ("run", False)]
    assert all(seconds >= 0 for _, seconds, _ in seen)
