"""Which unfinished dbt runs a refresh remembers (service/jobs/refresh.py, UnfinishedRun): a run
that succeeds forgets only what it has rebuilt, and while it runs the refresher remembers one run
that covers both it and any earlier unfinished one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from reports_store import open_store
from service.jobs.refresh import Refresher, UnfinishedRun
from tests.conftest import make_settings

PLAIN = UnfinishedRun()
FULL = UnfinishedRun(full_build=True)


def window(first: str | None, last: str | None, *org_ids: str) -> UnfinishedRun:
    return UnfinishedRun(
        start=date.fromisoformat(first) if first else None,
        end=date.fromisoformat(last) if last else None,
        org_ids=list(org_ids),
    )


def test_a_full_build_covers_everything_and_only_a_full_build_covers_it() -> None:
    for run in (PLAIN, window("2025-03-01", "2025-03-31"), window(None, None, "a"), FULL):
        assert FULL.covers(run)
    for run in (PLAIN, window("2025-01-01", "2025-12-31"), window(None, None, "a", "b")):
        assert not run.covers(FULL)
    assert UnfinishedRun.of(None, None, None, full_refresh=True) == FULL
    assert not UnfinishedRun.of(date(2025, 3, 1), None, None, full_refresh=True).full_build


def test_a_window_covers_the_windows_inside_it() -> None:
    march_a = window("2025-03-01", "2025-03-31", "a")
    assert window("2025-02-01", "2025-04-30", "a", "b").covers(march_a)
    assert window("2025-03-01", "2025-03-31").covers(march_a)  # every organization
    assert window(None, None, "a").covers(march_a)  # every day of a
    assert not window("2025-03-02", "2025-03-31", "a").covers(march_a)
    assert not window("2025-03-01", "2025-03-31", "b").covers(march_a)
    assert not march_a.covers(window("2025-03-01", "2025-03-31"))
    assert window("2025-03-05", None, "a").covers(window("2025-03-05", "2025-03-05", "a"))  # one day


def test_the_watermarks_days_are_redone_by_a_plain_run_only() -> None:
    assert PLAIN.covers(PLAIN)
    assert not window("2025-03-01", "2025-03-31").covers(PLAIN)
    assert not PLAIN.covers(window("2025-03-01", "2025-03-31"))


def redone_by_the_refresh_it_triggers(remembered: UnfinishedRun, run: UnfinishedRun) -> bool:
    """Any remembered run makes the next plain refresh run (redoing the remembered window first):
    that refresh redoes the watermark's days of a plain run as well."""
    return remembered.covers(run) or run == PLAIN


def test_merged_runs_cover_both() -> None:
    cases = [
        (window("2025-03-01", "2025-03-10", "a"), window("2025-03-20", "2025-03-31", "b")),
        (window("2025-03-01", "2025-03-10", "a"), PLAIN),
        (window("2025-03-01", "2025-03-10", "a"), FULL),
        (window(None, None, "a"), window("2025-03-01", "2025-03-10")),
        (PLAIN, PLAIN),
    ]
    for one, other in cases:
        merged = one.merged(other)
        assert redone_by_the_refresh_it_triggers(merged, one), (one, other, merged)
        assert redone_by_the_refresh_it_triggers(merged, other), (one, other, merged)
    assert window("2025-03-01", "2025-03-10", "a").merged(window("2025-03-20", "2025-03-31", "b")) == window(
        "2025-03-01", "2025-03-31", "a", "b"
    )
    # Every day of one organization and some days of all: every day of every organization.
    assert window(None, None, "a").merged(window("2025-03-01", "2025-03-10")) == FULL


def test_marts_sharing_a_dbt_target_folder_keep_their_own_unfinished_runs(tmp_path: Path) -> None:
    """Two schemas (or warehouses) refreshed from one checkout: one's run cut short is neither
    redone nor forgotten by the other's refreshes."""
    target = tmp_path / "dbt-target"
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        first = Refresher(make_settings("unfinished_a", dbt_target_path=target), store)
        other_schema = Refresher(make_settings("unfinished_b", dbt_target_path=target), store)
        other_warehouse = Refresher(
            make_settings("unfinished_a", dbt_target_path=target, chdb_path=tmp_path / "other"), store
        )
        first._remember(rebuild_unfinished=FULL.model_dump(mode="json"))
        assert first._unfinished() == FULL
        assert other_schema._unfinished() is None and other_warehouse._unfinished() is None
        other_schema._remember(rebuild_unfinished=None)
        assert first._unfinished() == FULL
