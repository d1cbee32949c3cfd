"""A job whose sliced dbt run is under way when the process stops (service/core/dbt_runner.py,
`stop`): the run ends before its next slice, the job ends `interrupted` (not `failed`), and the
run stays remembered as unfinished so that the next refresh rebuilds what it had deleted."""

from __future__ import annotations

from datetime import timedelta

from service.core.calendar import today_in, zone
from service.jobs.requests import BackfillRequest
from service.services import Services
from tests.conftest import load_demo_data, make_settings


def test_a_stop_ends_a_backfills_dbt_run_between_slices_and_the_job_is_interrupted() -> None:
    settings = make_settings("stopping", refresh_slice_days=2)
    load_demo_data(settings, orgs=2, days=8, calls_per_day=10, seed=11)
    services = Services.open(settings)
    try:
        services.refresher.refresh()  # the marts exist before the backfill
        slices_done: list[int] = []

        def stop_after_the_first_slice() -> None:  # a listener runs after each slice lands
            slices_done.append(1)
            services.refresher.stopping.set()

        services.refresher.listeners.append(stop_after_the_first_slice)
        end = min(today_in(zone(org.timezone)) for org in services.store.list_organizations()) - timedelta(
            days=1
        )
        request = BackfillRequest(start_date=end - timedelta(days=5), end_date=end, force=True)
        outcome = services.jobs.backfill(request)  # six days of every organization: three slices

        assert slices_done == [1], "the run went on past the stop"
        job = outcome.job
        assert job.status == "interrupted", job
        assert job.error and "after 1 of 3 slices" in job.error
        assert not outcome.generated  # no report from marts whose window is half rebuilt
        assert services.refresher.needs_refresh() == "the last dbt run here did not finish"
    finally:
        services.close()
