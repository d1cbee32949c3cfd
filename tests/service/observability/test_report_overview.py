"""`ReportStore.report_overview`, what /metrics reads per scrape, on both backends: the newest report
per organization and stale counts that follow the rule readers see (`service.reports.stored.is_stale`)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from reports_store import MartVersion, Organization, open_store
from service.reports.stored import is_stale

DAY = date(2024, 5, 1)


@pytest.fixture(params=("sqlite", "duckdb"))
def store(request, tmp_path: Path):
    suffix = "db" if request.param == "sqlite" else "duckdb"
    with open_store(f"{request.param}:///{tmp_path / f'reports.{suffix}'}") as opened:
        for org_id in ("acme", "beta", "idle"):
            opened.upsert_organization(Organization(org_id=org_id, name=org_id, node_persistent_id="n-1"))
        yield opened


def report(fingerprint: str | None) -> dict:
    metadata = {} if fingerprint is None else {"mart_fingerprint": fingerprint}
    return {"metadata": metadata, "kpis": {"total_calls": 3}}


def test_newest_report_and_when_it_was_first_stored(store):
    store.save_report("acme", DAY, report("a"))
    before = datetime.now(UTC)
    time.sleep(0.01)
    store.save_report("acme", DAY + timedelta(days=2), report("b"))
    store.save_report("acme", DAY - timedelta(days=30), report("c"))  # an old day backfilled later
    time.sleep(0.01)
    store.save_report("acme", DAY + timedelta(days=2), report("b2"))  # regenerated: still first stored
    store.save_report("beta", DAY, report("x"))
    overview = {row.org_id: row for row in store.report_overview(DAY - timedelta(days=365))}
    assert set(overview) == {"acme", "beta"}  # no row for an organization without reports
    acme = overview["acme"]
    assert acme.newest_report_date == DAY + timedelta(days=2)
    assert before < acme.newest_report_created_at < datetime.now(UTC)
    stored = store.get_report("acme", DAY + timedelta(days=2))
    assert acme.newest_report_created_at == stored.created_at < stored.updated_at


def test_stale_counts_follow_is_stale_within_the_window(store):
    cases = {  # day offset: (report's fingerprint, recorded mart fingerprint)
        0: ("f0", "f0"),  # unchanged
        1: ("f1", "f1-new"),  # stale
        2: ("f2", None),  # no version recorded
        3: (None, "f3"),  # an old report without a fingerprint: never stale
        4: ("", "f4"),
        5: ("f5", ""),
        6: ("f6", "f6-new"),  # stale
        -10: ("old", "old-new"),  # stale, but before the window
    }
    versions = []
    for offset, (reported, recorded) in cases.items():
        day = DAY + timedelta(days=offset)
        store.save_report("acme", day, report(reported))
        if recorded is not None:
            versions.append(MartVersion(org_id="acme", report_date=day, fingerprint=recorded))
    store.save_report("beta", DAY, report("same"))
    versions.append(MartVersion(org_id="beta", report_date=DAY, fingerprint="same"))
    store.record_mart_versions(versions)

    overview = {row.org_id: row.stale_reports for row in store.report_overview(DAY)}
    assert overview == {"acme": 2, "beta": 0}
    recorded = store.get_mart_versions("acme")
    expected = sum(
        is_stale(stored, recorded)
        for stored in store.list_reports("acme", limit=100)
        if stored.report_date >= DAY
    )
    assert expected == 2  # the same answer as the rule the API applies, report by report
    assert {row.org_id: row.stale_reports for row in store.report_overview(DAY - timedelta(days=10))} == {
        "acme": 3,
        "beta": 0,
    }
