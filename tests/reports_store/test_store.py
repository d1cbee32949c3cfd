"""The report store on both backends: CRUD, upserts, migrations from the seed schema, concurrency."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from reports_store import (
    LATEST_VERSION,
    SEED_DDL_DUCKDB,
    SEED_DDL_SQLITE,
    ApiToken,
    AuditRecord,
    AuditStore,
    JobRun,
    JobRunStore,
    MartVersion,
    MartVersionStore,
    NotificationStore,
    Organization,
    OrganizationStore,
    ReportSnapshotStore,
    ReportStore,
    SchemaVersionError,
    StoreBusy,
    StoreError,
    TokenStore,
    UnknownJob,
    UnknownOrganization,
    open_store,
)

BACKENDS = ("sqlite", "duckdb")
DAY = date(2024, 5, 1)
ROOT = Path(__file__).resolve().parents[2]


def store_url(backend: str, directory: Path, name: str = "reports") -> str:
    suffix = "db" if backend == "sqlite" else "duckdb"
    return f"{backend}:///{directory / f'{name}.{suffix}'}"  # absolute path: four slashes


def org(org_id: str = "acme", **changes: Any) -> Organization:
    return Organization(org_id=org_id, name=f"{org_id} Inc", node_persistent_id=f"node-{org_id}", **changes)


def report(total_calls: int) -> dict[str, Any]:
    return {
        "kpis": {
            "total_calls": total_calls,
            "classified_calls": total_calls - 1,
            "total_duration_hours": 1.5,
            "success_rate_percent": 80.0,
            "carrier_transfer_over_total_call_attempts": {"carrier_asked_percentage": 12.5},
            "successfully_transferred_for_booking": {"successfully_transferred_for_booking_percentage": 40.0},
        },
        "breakdowns": {"by_hour": [1, 2, 3]},
    }


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def url(backend: str, tmp_path: Path) -> str:
    return store_url(backend, tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[ReportStore]:
    with open_store(url) as opened:
        opened.upsert_organization(org())
        yield opened


def assert_utc(moment: datetime | None) -> None:
    assert moment is not None and moment.utcoffset() == timedelta(0)


# -- organizations -----------------------------------------------------------------------------


def test_organization_crud(store: ReportStore) -> None:
    first = store.get_organization("acme")
    assert first is not None and first.excluded_numbers == [] and first.is_active
    assert_utc(first.created_at)

    updated = store.upsert_organization(org(timezone="Europe/Paris", excluded_numbers=["+15550001111"]))
    assert updated.timezone == "Europe/Paris"
    assert updated.excluded_numbers == ["+15550001111"]
    assert updated.created_at == first.created_at  # kept from the first insert
    assert updated.updated_at is not None and first.updated_at is not None
    assert updated.updated_at >= first.updated_at

    store.upsert_organization(org("beta"))
    assert [o.org_id for o in store.list_organizations()] == ["acme", "beta"]
    store.deactivate_organization("beta")
    assert [o.org_id for o in store.list_organizations(active_only=True)] == ["acme"]
    beta = store.get_organization("beta")
    assert beta is not None and not beta.is_active
    assert store.get_organization("nope") is None
    with pytest.raises(UnknownOrganization):
        store.deactivate_organization("nope")


# -- reports -----------------------------------------------------------------------------------


def test_save_and_read_reports(store: ReportStore) -> None:
    for offset in range(3):
        assert store.save_report("acme", DAY + timedelta(days=offset), report(10 + offset))

    stored = store.get_report("acme", DAY)
    assert stored is not None and stored.report_data == report(10) and stored.report_date == DAY
    assert_utc(stored.created_at)
    latest = store.get_latest_report("acme")
    assert latest is not None and latest.report_date == DAY + timedelta(days=2)
    assert [r.report_date for r in store.get_recent_reports("acme", 2)] == [
        DAY + timedelta(days=2),
        DAY + timedelta(days=1),
    ]
    assert store.count_reports("acme") == 3
    assert store.report_dates("acme", DAY + timedelta(days=1), DAY + timedelta(days=9)) == {
        DAY + timedelta(days=1),
        DAY + timedelta(days=2),
    }
    assert store.get_report("acme", DAY - timedelta(days=1)) is None
    assert store.get_latest_report("other") is None


def test_overwrite_replaces_and_keeps_created_at(store: ReportStore) -> None:
    store.save_report("acme", DAY, report(1))
    before = store.get_report("acme", DAY)
    assert store.save_report("acme", DAY, report(2), overwrite=True)
    after = store.get_report("acme", DAY)
    assert before is not None and after is not None
    assert after.report_data == report(2)
    assert after.created_at == before.created_at
    assert after.updated_at is not None and before.updated_at is not None
    assert after.updated_at >= before.updated_at


def test_overwrite_false_inserts_only_if_absent(store: ReportStore) -> None:
    assert store.save_report("acme", DAY, report(1), overwrite=False) is True
    assert store.save_report("acme", DAY, report(2), overwrite=False) is False
    kept = store.get_report("acme", DAY)
    assert kept is not None and kept.report_data == report(1)
    assert store.count_reports("acme") == 1


def test_save_report_needs_registered_org(store: ReportStore) -> None:
    with pytest.raises(UnknownOrganization):
        store.save_report("ghost", DAY, report(1))


def test_list_reports_newest_first_with_pagination(store: ReportStore) -> None:
    for offset in range(5):
        store.save_report("acme", DAY + timedelta(days=offset), report(100 + offset))

    page = store.list_reports("acme", limit=2, offset=1)
    assert [r.report_date for r in page] == [DAY + timedelta(days=3), DAY + timedelta(days=2)]
    assert page[0].org_id == "acme" and page[0].report_data == report(103)
    assert_utc(page[0].created_at)
    assert len(store.list_reports("acme")) == 5
    assert store.list_reports("acme", limit=10, offset=5) == []
    assert store.list_reports("other") == []


def test_every_save_is_a_revision_and_none_is_ever_changed(store: ReportStore) -> None:
    assert store.save_report(
        "acme", DAY, report(1) | {"metadata": {"metrics_version": "v1"}}, reason="scheduled"
    )
    assert not store.save_report("acme", DAY, report(9), overwrite=False)  # kept: no revision either
    assert store.save_report("acme", DAY, report(2), reason="restated", input_watermark="2024-05-02T01:00:00")
    current = store.get_report("acme", DAY)
    assert current is not None and current.revision == 2 and current.report_data == report(2)
    revisions = store.list_revisions("acme", DAY)
    assert [(r.revision, r.reason) for r in revisions] == [(1, "scheduled"), (2, "restated")]
    assert revisions[0].report_data["kpis"]["total_calls"] == 1 and revisions[0].metrics_version == "v1"
    assert revisions[1].input_watermark == "2024-05-02T01:00:00"
    assert store.get_revision("acme", DAY, 1) == revisions[0]
    assert store.get_revision("acme", DAY, 3) is None
    assert store.list_revisions("acme", DAY + timedelta(days=1)) == []

    # Deleting the report keeps its history; the next report of the day continues the numbering.
    assert store.delete_report("acme", DAY)
    assert len(store.list_revisions("acme", DAY)) == 2
    assert store.save_report("acme", DAY, report(3), reason="manual")
    assert store.get_report("acme", DAY).revision == 3  # type: ignore[union-attr]


def test_changed_reports_are_those_whose_mart_fingerprint_moved(store: ReportStore) -> None:
    days = [DAY + timedelta(days=n) for n in range(3)]
    for day, fingerprint in zip(days, ("a", "b", "c"), strict=True):
        store.save_report("acme", day, report(1) | {"metadata": {"mart_fingerprint": fingerprint}})
    store.record_mart_versions(
        [
            MartVersion(org_id="acme", report_date=days[0], fingerprint="a"),  # unchanged
            MartVersion(org_id="acme", report_date=days[1], fingerprint="B"),  # changed
            MartVersion(org_id="acme", report_date=days[2], fingerprint="C"),  # changed
        ]
    )
    assert store.changed_reports(days[0]) == [("acme", days[1]), ("acme", days[2])]
    assert store.changed_reports(days[2]) == [("acme", days[2])]
    assert [r.report_date for r in store.reports_between("acme", days[0], days[1])] == days[:2]


def test_delete_report(store: ReportStore) -> None:
    store.save_report("acme", DAY, report(1))
    store.save_report("acme", DAY + timedelta(days=1), report(2))

    assert store.delete_report("acme", DAY) is True
    assert store.get_report("acme", DAY) is None
    assert store.delete_report("acme", DAY) is False  # already gone
    assert store.delete_report("ghost", DAY) is False
    assert [r.report_date for r in store.list_reports("acme")] == [DAY + timedelta(days=1)]
    assert store.save_report("acme", DAY, report(3), overwrite=False)  # the day can be generated again


# -- job runs ----------------------------------------------------------------------------------


def test_job_runs(store: ReportStore) -> None:
    job = store.create_job(JobRun(kind="backfill", org_id="acme", start_date=DAY, end_date=DAY))
    assert job.id is not None and job.status == "running"
    assert_utc(job.started_at)

    done = store.update_job(
        job.id, progress=1.0, status="succeeded", counts={"saved": 3}, details={"note": "x"}
    )
    assert done.status == "succeeded" and done.counts == {"saved": 3} and done.details == {"note": "x"}
    assert_utc(done.finished_at)  # stamped because the status is terminal
    assert store.get_job(job.id) == done

    # A naive datetime from a caller is taken as UTC, like the store's own naive values.
    second = store.create_job(JobRun(kind="daily", started_at=datetime(2030, 1, 1, 8, 0)))
    assert second.started_at == datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    assert store.get_job(second.id or 0) == second
    assert [j.id for j in store.list_jobs()] == [second.id, job.id]
    assert [j.id for j in store.list_jobs(limit=1, offset=1)] == [job.id]
    assert [j.id for j in store.list_jobs(kind="daily")] == [second.id]
    assert store.get_job(9999) is None
    with pytest.raises(UnknownJob):
        store.update_job(9999, status="failed")
    with pytest.raises(ValueError, match="unknown JobRun fields"):
        store.update_job(job.id, colour="red")


# -- mart versions -----------------------------------------------------------------------------


def test_mart_versions(store: ReportStore) -> None:
    rows = [
        MartVersion(org_id="acme", report_date=DAY + timedelta(days=i), fingerprint=f"f{i}") for i in range(3)
    ]
    assert store.record_mart_versions(rows) == 3
    store.record_mart_versions(
        [{"org_id": "acme", "report_date": DAY, "fingerprint": "new", "mart_refreshed_at": "t"}]
    )

    found = store.get_mart_versions("acme", [DAY, DAY + timedelta(days=2), DAY + timedelta(days=9)])
    assert set(found) == {DAY, DAY + timedelta(days=2)}
    assert found[DAY].fingerprint == "new" and found[DAY].mart_refreshed_at == "t"
    assert len(store.get_mart_versions("acme")) == 3
    assert store.get_mart_versions("acme", []) == {}


# -- data version ------------------------------------------------------------------------------

WRITES: dict[str, Callable[[ReportStore], Any]] = {
    "upsert_organization": lambda s: s.upsert_organization(org("beta")),
    "save_report": lambda s: s.save_report("acme", DAY, report(1)),
    "delete_report": lambda s: s.delete_report("acme", DAY),
    "create_job": lambda s: s.create_job(JobRun(kind="daily")),
    "update_job": lambda s: s.update_job(1, progress=0.5),
    "record_mart_versions": lambda s: s.record_mart_versions(
        [MartVersion(org_id="acme", report_date=DAY, fingerprint="f")]
    ),
    "deactivate_organization": lambda s: s.deactivate_organization("beta"),
}


def read_everything(store: ReportStore) -> None:
    store.get_organization("acme")
    store.list_organizations()
    store.get_report("acme", DAY)
    store.get_latest_report("acme")
    store.get_recent_reports("acme")
    store.list_reports("acme")
    store.count_reports("acme")
    store.report_dates("acme", DAY, DAY + timedelta(days=7))
    store.get_job(1)
    store.list_jobs()
    store.get_mart_versions("acme")
    store.schema_version()


def test_data_version_changes_after_every_write(store: ReportStore) -> None:
    for name, write in WRITES.items():
        before = store.data_version()
        write(store)
        after = store.data_version()
        assert before is not None and after is not None and after != before, name


def test_data_version_unchanged_by_reads_and_failed_writes(store: ReportStore) -> None:
    store.save_report("acme", DAY, report(1))
    store.create_job(JobRun(kind="daily"))
    before = store.data_version()
    assert before is not None

    read_everything(store)
    with pytest.raises(UnknownOrganization):
        store.save_report("ghost", DAY, report(1))  # rolled back
    assert store.data_version() == before


def test_a_tokens_last_use_is_written_but_not_counted_by_data_version(store: ReportStore, url: str) -> None:
    """No cache rests on a last use: counted, the once-a-minute write of the uses would drop every
    answer the caches keep (every stored report re-rendered each minute under load)."""
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    store.create_token(
        ApiToken(
            id="tok_1", name="d", scope="reader", org_ids=["acme"], secret_hash="ab" * 32, created_at=now
        )
    )
    before = store.data_version()
    store.touch_tokens({"tok_1": now + timedelta(minutes=1)})
    assert store.data_version() == before
    assert store.get_token("tok_1").last_used_at == now + timedelta(minutes=1)
    with open_store(url) as other:  # written for every reader, not only this store's
        assert other.get_token("tok_1").last_used_at == now + timedelta(minutes=1)
    store.revoke_token("tok_1", now + timedelta(hours=1))  # every other write still counts
    assert store.data_version() != before
    store.touch_tokens({"tok_1": now + timedelta(minutes=2)})  # and the store still reads after it
    assert store.get_token("tok_1").revoked_at == now + timedelta(hours=1)


def test_data_version_sees_another_store_on_the_same_file(store: ReportStore, url: str) -> None:
    with open_store(url) as other:
        mine = store.data_version()
        other.save_report("acme", DAY, report(1))
        assert store.data_version() != mine
        theirs = other.data_version()
        store.delete_report("acme", DAY)
        assert other.data_version() != theirs


SAVE_REPORT_SNIPPET = """
import sys
from datetime import date
from reports_store import open_store

with open_store(sys.argv[1]) as store:
    store.save_report("acme", date.fromisoformat(sys.argv[2]), {"kpis": {"total_calls": 1}})
"""


def test_sqlite_data_version_sees_another_process(tmp_path: Path) -> None:
    url = store_url("sqlite", tmp_path)
    with open_store(url) as store:
        store.upsert_organization(org())
        before = store.data_version()
        read_everything(store)
        assert store.data_version() == before

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-c", SAVE_REPORT_SNIPPET, url, DAY.isoformat()]
        subprocess.run(command, check=True, cwd=ROOT, env=env, timeout=60)

        assert store.data_version() != before
        assert store.get_report("acme", DAY) is not None


def test_interface_is_the_aggregates_plus_lifecycle() -> None:
    aggregates = (
        OrganizationStore,
        ReportSnapshotStore,
        JobRunStore,
        MartVersionStore,
        TokenStore,
        AuditStore,
        NotificationStore,
    )
    methods = [name for aggregate in aggregates for name in aggregate.__abstractmethods__]
    assert len(methods) == len(set(methods))  # every method belongs to exactly one aggregate
    assert ReportStore.__abstractmethods__ == {*methods, "schema_version", "data_version", "close"}


# -- tokens and audit --------------------------------------------------------------------------


def test_tokens_keep_only_a_hash_and_revocation_is_kept(store: ReportStore) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    token = ApiToken(
        id="tok_1",
        name="acme dashboard",
        scope="reader",
        org_ids=["acme"],
        secret_hash="ab" * 32,
        created_at=now,
    )
    stored = store.create_token(token)
    assert stored.secret_hash == "ab" * 32 and stored.org_ids == ["acme"] and stored.created_at == now
    assert "secret_hash" not in stored.model_dump()  # never serialized
    store.touch_tokens({"tok_1": now + timedelta(minutes=1), "unknown": now})
    assert store.get_token("tok_1").last_used_at == now + timedelta(minutes=1)
    revoked = store.revoke_token("tok_1", now + timedelta(hours=1))
    assert revoked is not None and revoked.revoked_at == now + timedelta(hours=1)
    assert store.revoke_token("tok_1", now + timedelta(hours=2)).revoked_at == now + timedelta(hours=1)
    assert store.revoke_token("nope", now) is None
    assert [t.id for t in store.list_tokens()] == ["tok_1"]


def test_audit_records_append_and_list_newest_first(store: ReportStore) -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    for n in range(3):
        store.record_audit(
            AuditRecord(
                recorded_at=now, actor_id="API_KEY", actor_name="API_KEY", action=f"a{n}", outcome="succeeded"
            )
        )
    records = store.list_audit(limit=2)
    assert [r.action for r in records] == ["a2", "a1"] and records[0].id is not None
    assert [r.action for r in store.list_audit(limit=2, offset=2)] == ["a0"]


# -- schema ------------------------------------------------------------------------------------


def make_seed_file(backend: str, path: Path) -> None:
    """A version-1 file exactly as the seed DDL creates it, with one organization and one report."""
    orgs = "INSERT INTO organizations (org_id, name, node_persistent_id, created_at) VALUES (?, ?, ?, ?)"
    reports = "INSERT INTO daily_reports (org_id, report_date, report_data, created_at) VALUES (?, ?, ?, ?)"
    if backend == "sqlite":
        conn = sqlite3.connect(path)
        conn.executescript(SEED_DDL_SQLITE)
        conn.execute(orgs, ["acme", "Acme", "node-1", "2024-01-02 03:04:05"])
        conn.execute(
            reports, ["acme", DAY.isoformat(), '{"kpis": {"total_calls": 5}}', "2024-05-02 00:00:00"]
        )
        conn.commit()
    else:
        conn = duckdb.connect(str(path))
        conn.execute(SEED_DDL_DUCKDB)
        conn.execute(orgs, ["acme", "Acme", "node-1", datetime(2024, 1, 2, 3, 4, 5)])
        conn.execute(reports, ["acme", DAY, '{"kpis": {"total_calls": 5}}', datetime(2024, 5, 2)])
    conn.close()


def column_names(backend: str, path: Path, table: str) -> set[str]:
    if backend == "sqlite":
        with sqlite3.connect(path) as conn:
            return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    with duckdb.connect(str(path)) as conn:
        return {row[0] for row in conn.execute(f"DESCRIBE {table}").fetchall()}


def test_seed_file_is_upgraded_in_place(backend: str, tmp_path: Path) -> None:
    path = Path(store_url(backend, tmp_path).split(":///", 1)[1])
    make_seed_file(backend, path)

    with open_store(store_url(backend, tmp_path)) as store:
        assert store.schema_version() == LATEST_VERSION
        acme = store.get_organization("acme")
        assert acme is not None and acme.excluded_numbers == [] and acme.is_active
        assert acme.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        kept = store.get_report("acme", DAY)
        assert kept is not None and kept.report_data == {"kpis": {"total_calls": 5}}
        assert kept.updated_at == kept.created_at == datetime(2024, 5, 2, tzinfo=UTC)
        # A report stored before revisions existed is revision 1 of its day.
        assert kept.revision == 1
        (first,) = store.list_revisions("acme", DAY)
        assert first.revision == 1 and first.reason == "manual" and first.report_data == kept.report_data
        assert first.generated_at == datetime(2024, 5, 2, tzinfo=UTC)
        # Rows inserted after the upgrade still get ids from the seed tables.
        assert store.save_report("acme", DAY + timedelta(days=1), report(1))
        assert store.upsert_organization(org("beta")).org_id == "beta"
        assert store.create_job(JobRun(kind="daily")).id == 1

    assert {"excluded_numbers", "updated_at"} <= column_names(backend, path, "organizations")
    assert "updated_at" in column_names(backend, path, "daily_reports")
    assert "fingerprint" in column_names(backend, path, "mart_versions")


def raw_execute(url: str, sql: str) -> None:
    """Run SQL on the store file with the bare driver (in-process DuckDB shares the open instance)."""
    path = url.split(":///", 1)[1]
    with closing(sqlite3.connect(path)) if url.startswith("sqlite") else duckdb.connect(path) as conn:
        conn.execute(sql)
        conn.commit()


def test_reopen_keeps_version_and_rejects_newer_files(url: str) -> None:
    open_store(url).close()
    with open_store(url) as store:
        assert store.schema_version() == LATEST_VERSION
    raw_execute(url, "INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(SchemaVersionError, match="99"):
        open_store(url)


@pytest.mark.parametrize(
    "bad_url",
    [
        "postgres://user:secret@db/reports",
        "reports.db",
        "sqlite://reports.db",
        "sqlite:///:memory:",
        "duckdb:///",
    ],
)
def test_bad_url_is_a_one_line_store_error(bad_url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(bad_url)
    message = str(caught.value)
    assert "\n" not in message and "secret" not in message and "sqlite:///" in message


def test_closed_store_refuses_work(url: str) -> None:
    store = open_store(url)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count_reports("acme")
    with pytest.raises(StoreError, match="closed"):
        store.data_version()


def test_driver_errors_become_store_errors(url: str) -> None:
    with open_store(url) as store:
        raw_execute(url, "DROP TABLE job_runs")  # behind the store's back
        with pytest.raises(StoreError, match="job_runs"):
            store.get_job(1)


# -- concurrency -------------------------------------------------------------------------------


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..count-1) at once (a barrier lines them up) and return the results."""
    barrier = threading.Barrier(count)

    def start(index: int) -> Any:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def test_concurrent_threads(store: ReportStore) -> None:
    threads, days_each = 8, 10

    def work(index: int) -> tuple[bool, int]:
        for day in range(days_each):  # distinct keys
            store.save_report("acme", DAY + timedelta(days=index * days_each + day), report(day))
        won = store.save_report("acme", DAY - timedelta(days=1), report(index), overwrite=False)  # one key
        store.save_report("acme", DAY - timedelta(days=2), report(index))  # one key, last writer wins
        job = store.create_job(JobRun(kind="daily"))
        store.update_job(job.id or 0, progress=0.5)
        return won, store.count_reports("acme")

    before = store.data_version()
    results = run_threads(threads, work)
    assert store.data_version() != before
    assert sum(won for won, _ in results) == 1
    assert store.count_reports("acme") == threads * days_each + 2
    assert len(store.list_jobs(limit=100)) == threads


def process_writer(url: str, fresh_url: str, index: int, days_each: int) -> dict[str, Any]:
    """Runs in a spawned process: open stores, write own and shared keys, report what it won."""
    with open_store(fresh_url) as fresh:  # every process races to create and migrate this file
        version = fresh.schema_version()
    with open_store(url) as store:
        for day in range(days_each):
            store.save_report("acme", DAY + timedelta(days=index * days_each + day), report(day))
        wins = [
            store.save_report("acme", DAY - timedelta(days=d), report(index), overwrite=False)
            for d in (1, 2, 3)
        ]
        store.save_report("acme", DAY - timedelta(days=4), report(index))
        store.create_job(JobRun(kind=f"proc-{index}"))
    return {"version": version, "wins": wins}


def test_sqlite_concurrent_processes(tmp_path: Path) -> None:
    url, fresh_url = store_url("sqlite", tmp_path), store_url("sqlite", tmp_path, "fresh")
    with open_store(url) as store:
        store.upsert_organization(org())
    processes, days_each = 4, 15

    # spawn: children must not inherit this process's open SQLite handles or pytest's threads.
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(process_writer, [(url, fresh_url, i, days_each) for i in range(processes)])

    assert all(result["version"] == LATEST_VERSION for result in results)
    for key in range(3):
        assert sum(result["wins"][key] for result in results) == 1
    with open_store(url) as store:
        assert store.count_reports("acme") == processes * days_each + 4
        assert len(store.list_jobs(limit=100)) == processes


def try_open(url: str) -> str:
    try:
        open_store(url).close()
    except StoreError as exc:
        return type(exc).__name__
    return "opened"


def test_duckdb_file_held_by_another_process_is_busy(tmp_path: Path) -> None:
    url = store_url("duckdb", tmp_path)
    with open_store(url), multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(try_open, (url,)) == StoreBusy.__name__
