"""The app's lifespan: a stop while the start-up refresh runs waits for the dbt invocation in
hand, ends the refresh between two slices and starts nothing afterwards (no scheduler, no thread
left running dbt next to the next test or process)."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from reports_store import open_store
from service.api.app import create_app
from service.jobs.refresh import Refresher
from tests.conftest import load_demo_data, make_settings


def test_a_stop_during_the_start_up_refresh_ends_it_between_slices_and_starts_nothing() -> None:
    settings = make_settings("lifespan", refresh_slice_days=3, scheduler_enabled=True)
    load_demo_data(settings, orgs=2, days=12, calls_per_day=10, seed=3)
    app = create_app(settings)
    with TestClient(app):
        state = app.state.service
        deadline = time.monotonic() + 120
        while not state.services.refresher.marts_exist() and time.monotonic() < deadline:
            time.sleep(0.05)  # the sliced full build is under way: its first slice made the marts
        assert state.starting, "the start-up refresh ended before the stop: nothing was tested"
    # The lifespan has ended: the refresh stopped after the slice in hand, nothing runs on.
    assert not any(thread.name == "prepare" for thread in threading.enumerate())
    assert not state.scheduler.running and not state.ready
    assert state.startup_error is None  # a stop is not a failure
    with open_store(settings.reports_store_url) as store:
        assert Refresher(settings, store).needs_refresh() == "the last dbt run here did not finish"
