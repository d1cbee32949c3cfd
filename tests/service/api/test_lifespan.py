"""The app's lifespan: a stop while the start-up refresh runs waits for the dbt invocation in
hand, ends the refresh between two slices and starts nothing afterwards (no scheduler, no thread
left running dbt next to the next test or process)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from fastapi.testclient import TestClient

from reports_store import open_store
from service.api import fast_path
from service.api.app import create_app
from service.core.calendar import today_in, zone
from service.jobs.refresh import Refresher
from service.jobs.requests import BackfillRequest
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


def test_fast_answers_still_due_when_the_lifespan_ends_are_recorded(monkeypatch, caplog) -> None:
    """The fast path records its answers together, RECORD_EVERY after the first: those still due
    when the lifespan ends are recorded then (metrics, access line), not lost with the event loop."""
    monkeypatch.setattr(fast_path, "RECORD_EVERY", 3600.0)  # here only the lifespan's end records
    settings = make_settings("lifespan_records")
    load_demo_data(settings, orgs=1, days=3, calls_per_day=5, seed=4)
    app = create_app(settings)
    labels = {"method": "GET", "route": "/api/reports/{report_date}", "status": "200"}

    def recorded() -> float:
        return app.state.metrics.registry.get_sample_value("call_analytics_http_requests_total", labels) or 0

    with caplog.at_level(logging.INFO, logger="service.access"), TestClient(app) as client:
        services = app.state.service.services
        org = services.store.list_organizations()[0]
        day = today_in(zone(org.timezone)) - timedelta(days=1)
        services.jobs.backfill(BackfillRequest(start_date=day, end_date=day, org_id=org.org_id))
        path = f"/api/reports/{day}?org_id={org.org_id}"
        assert client.get(path).status_code == 200  # the app answers it and caches the body
        answered = client.get(path, headers={"X-Request-ID": "due-at-the-end"})
        assert answered.status_code == 200 and answered.headers["X-Request-ID"] == "due-at-the-end"
        assert app._fast_path is not None and len(app._fast_path._finished) == 1  # the fast path's
        assert recorded() == 1
    assert recorded() == 2
    assert [r.route for r in caplog.records if getattr(r, "request_id", None) == "due-at-the-end"] == [
        labels["route"]
    ]
