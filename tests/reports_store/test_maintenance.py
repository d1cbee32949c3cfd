"""Backup, restore and check of report store files on both backends (reports_store.maintenance)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from reports_store import LATEST_VERSION, SEED_DDL_SQLITE, open_store
from reports_store.maintenance import (
    MaintenanceError,
    StoreFile,
    backup_file,
    backup_store,
    check_store,
    restore_store,
    store_file,
)
from tests.reports_store.test_store import BACKENDS, org, report, store_url

DAY = date(2024, 5, 1)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def url(backend: str, tmp_path: Path) -> str:
    return store_url(backend, tmp_path / "store")


def fill(url: str, days: int = 3, orgs: tuple[str, ...] = ("acme",)) -> None:
    with open_store(url) as store:
        for org_id in orgs:
            store.upsert_organization(org(org_id))
            for offset in range(days):
                store.save_report(org_id, DAY + timedelta(days=offset), report(offset))


def snapshot(url: str) -> dict[tuple[str, date], dict]:
    """Every stored report by (org, day)."""
    with open_store(url) as store:
        return {
            (o.org_id, r.report_date): r.report_data
            for o in store.list_organizations()
            for r in store.list_reports(o.org_id, limit=1000)
        }


def only_problem(store: StoreFile) -> str:
    """What a check of a broken file says: its first problem, or the one-line error it raised."""
    try:
        result = check_store(store)
    except MaintenanceError as exc:
        return str(exc)
    assert not result.ok, result
    return result.summary()


@contextmanager
def held_open_elsewhere(url: str) -> Iterator[None]:
    """Another process with the store open (as a running service has it), until the block ends."""
    code = (
        "import sys, time\n"
        "from reports_store import open_store\n"
        "store = open_store(sys.argv[1])\n"
        "store.list_organizations()\n"
        "print('open', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        yield
    finally:
        holder.kill()
        holder.wait(30)


# -- round trips -------------------------------------------------------------------------------------


def test_backup_then_restore_brings_back_the_backed_up_store(url, tmp_path):
    fill(url, days=3)
    store = store_file(url)
    made = backup_store(store, f"{tmp_path}/backups/")  # a folder (made for it): a time-stamped file
    assert made.path.parent == tmp_path / "backups" and made.check.ok
    assert made.check.schema_version == LATEST_VERSION and made.check.rows["daily_reports"] == 3
    backed_up = snapshot(url)

    with open_store(url) as live:  # life goes on after the backup
        live.save_report("acme", DAY, report(99))
        live.delete_report("acme", DAY + timedelta(days=1))
    changed = snapshot(url)
    assert changed != backed_up

    restored = restore_store(store, made.path)
    assert restored.check.ok and restored.previous is not None
    assert snapshot(url) == backed_up
    # Nothing is lost: the replaced store is kept beside it and is itself a sound store.
    assert restored.previous.name.startswith(f"{store.path.name}.before-restore-")
    kept = StoreFile(store.backend, restored.previous)
    assert check_store(kept).ok
    assert snapshot(kept.url) == changed
    # The restored store opens and writes as usual (SQLite back in WAL mode).
    with open_store(url) as again:
        assert again.save_report("acme", DAY + timedelta(days=7), report(7))
    if store.backend == "sqlite":
        with closing(sqlite3.connect(store.path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_restore_into_a_new_deployment_has_no_previous_file(url, tmp_path):
    fill(url)
    made = backup_store(store_file(url), tmp_path / "reports-backup")
    fresh = StoreFile(store_file(url).backend, tmp_path / "new" / "reports")
    restored = restore_store(fresh, made.path)
    assert restored.previous is None and restored.check.rows["daily_reports"] == 3
    assert snapshot(fresh.url) == snapshot(url)


def test_an_older_schema_backup_restores_and_is_upgraded_on_open(tmp_path):
    old = tmp_path / "seed.db"
    with closing(sqlite3.connect(old)) as conn:
        conn.executescript(SEED_DDL_SQLITE)
        conn.execute("INSERT INTO organizations (org_id, name, node_persistent_id) VALUES ('acme', 'A', 'n')")
        conn.commit()
    checked = check_store(backup_file(old))
    assert checked.ok and checked.schema_version == 1
    assert f"upgraded to {LATEST_VERSION}" in checked.summary()
    store = StoreFile("sqlite", tmp_path / "reports.db")
    fill(store.url, days=1, orgs=("other",))
    restore_store(store, old)
    with open_store(store.url) as opened:
        assert opened.schema_version() == LATEST_VERSION
        assert [o.org_id for o in opened.list_organizations()] == ["acme"]


def test_sqlite_backups_taken_while_another_process_writes_are_consistent(tmp_path):
    """The online backup API: one read transaction, so each copy is a whole committed state."""
    url = store_url("sqlite", tmp_path)
    fill(url, days=1)
    writer_code = (
        "import sys\n"
        "from datetime import date, timedelta\n"
        "from reports_store import JobRun, open_store\n"
        "store = open_store(sys.argv[1])\n"
        "for i in range(400):\n"
        "    job = store.create_job(JobRun(kind='backfill', org_id='acme'))\n"
        "    store.save_report('acme', date(2020, 1, 1) + timedelta(days=i), {'n': i, 'pad': 'x' * 4000})\n"
        "    store.update_job(job.id, status='succeeded', counts={'generated': 1})\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", writer_code, url])
    store = store_file(url)
    copies = []
    try:
        deadline = time.monotonic() + 60  # the writer's interpreter takes a moment to start writing
        while writer.poll() is None and time.monotonic() < deadline:
            with closing(sqlite3.connect(store.path)) as conn:
                if conn.execute("SELECT COUNT(*) FROM daily_reports").fetchone()[0] > 1:
                    break
            time.sleep(0.02)
        while writer.poll() is None and len(copies) < 40:
            copies.append(backup_store(store, tmp_path / "copies" / f"copy-{len(copies)}.db"))
            time.sleep(0.01)
    finally:
        assert writer.wait(120) == 0
    assert len(copies) >= 2, "the writer finished before two backups were taken"
    counts = []
    for copy in copies:
        assert copy.check.ok, copy.check.summary()
        with closing(sqlite3.connect(copy.path)) as conn:
            reports = conn.execute("SELECT COUNT(*) FROM daily_reports").fetchone()[0]
            finished = conn.execute("SELECT COUNT(*) FROM job_runs WHERE status = 'succeeded'").fetchone()[0]
            running = conn.execute("SELECT COUNT(*) FROM job_runs WHERE status = 'running'").fetchone()[0]
        # Each report is written between its job's two transactions: never half of one.
        assert reports - 1 in (finished, finished + running), (reports, finished, running)
        counts.append(reports)
    assert counts == sorted(counts) and counts[-1] > counts[0]


# -- checks ----------------------------------------------------------------------------------------


def test_check_reports_the_schema_and_counts(url):
    fill(url, days=2, orgs=("acme", "globex"))
    result = check_store(store_file(url))
    assert result.ok and result.schema_version == LATEST_VERSION
    assert result.rows == {"organizations": 2, "daily_reports": 4, "report_revisions": 4, "job_runs": 0}
    assert result.summary() == (
        f"integrity ok, schema version {LATEST_VERSION}, 2 organizations, 4 reports, "
        "4 report revisions, 0 job runs"
    )


def test_check_finds_a_current_report_missing_from_its_revisions(url):
    fill(url, days=1, orgs=("acme",))
    raw = url.split(":///", 1)[1]
    with closing(sqlite3.connect(raw)) if url.startswith("sqlite") else duckdb.connect(raw) as conn:
        conn.execute("DELETE FROM report_revisions")
        conn.commit()
    result = check_store(store_file(url))
    assert not result.ok and "1 current report(s) missing from report_revisions" in result.summary()


def test_check_finds_a_damaged_sqlite_file(tmp_path):
    url = store_url("sqlite", tmp_path)
    fill(url, days=200)
    store = store_file(url)
    with closing(sqlite3.connect(store.path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    with store.path.open("r+b") as handle:  # scribble over pages in the middle of the file
        handle.seek(page_size * 3)
        handle.write(b"\x5a" * page_size * 2)
    problem = only_problem(store)
    assert "integrity check failed" in problem or "cannot be read" in problem, problem


def test_check_finds_a_damaged_duckdb_file(tmp_path):
    url = store_url("duckdb", tmp_path)
    fill(url, days=200)
    store = store_file(url)
    size = store.path.stat().st_size
    with store.path.open("r+b") as handle:  # everything after the file and database headers
        handle.seek(3 * 4096)
        handle.write(b"\x5a" * (size - 3 * 4096))
    assert only_problem(store)


def test_a_newer_schema_version_is_not_ok_and_never_restored(url, tmp_path):
    fill(url)
    store = store_file(url)
    newer = backup_store(store, tmp_path / "newer").path
    if store.backend == "sqlite":
        with closing(sqlite3.connect(newer)) as conn:
            conn.execute("INSERT INTO schema_version (version) VALUES (99)")
            conn.commit()
    else:
        with closing(duckdb.connect(str(newer))) as conn:
            conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    assert only_problem(backup_file(newer)) == (
        f"schema version 99 is newer than this code knows ({LATEST_VERSION}): upgrade the service"
    )
    before = snapshot(url)
    with pytest.raises(MaintenanceError, match="not a usable backup: schema version 99"):
        restore_store(store, newer)
    assert snapshot(url) == before
    assert not list(store.path.parent.glob("*before-restore*"))


def test_check_of_a_missing_store_says_so(tmp_path):
    with pytest.raises(MaintenanceError, match="no report store at"):
        check_store(StoreFile("sqlite", tmp_path / "nothing.db"))
    assert not (tmp_path / "nothing.db").exists()


# -- refusals -----------------------------------------------------------------------------------------


def test_restore_refuses_files_that_are_not_backups_of_this_store(url, tmp_path):
    fill(url)
    store = store_file(url)
    before = snapshot(url)
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 10)
    empty = tmp_path / "empty.db"
    empty.touch()
    other_db = tmp_path / "other.db"
    with closing(sqlite3.connect(other_db)) as conn:
        conn.execute("CREATE TABLE things (x)")
        conn.commit()
    other_backend = "duckdb" if store.backend == "sqlite" else "sqlite"
    foreign = store_file(store_url(other_backend, tmp_path / "foreign"))
    fill(foreign.url)
    cases = {
        text: "neither a SQLite nor a DuckDB database",
        empty: "is empty",
        tmp_path / "missing.db": "does not exist",
        foreign.path: f"is a {other_backend} database but the store",
        store.path: "is the store itself",
    }
    if store.backend == "sqlite":
        cases[other_db] = "not a report store (it has no organizations table)"
    for backup, phrase in cases.items():
        with pytest.raises(MaintenanceError) as refused:
            restore_store(store, backup)
        assert phrase in str(refused.value), (backup, str(refused.value))
        assert "\n" not in str(refused.value)
    assert snapshot(url) == before
    assert not list(store.path.parent.glob("*before-restore*"))


def test_restore_refuses_while_another_process_has_the_store_open(url, tmp_path):
    fill(url)
    store = store_file(url)
    made = backup_store(store, tmp_path / "backup")
    with open_store(url) as live:
        live.save_report("acme", DAY, report(42))
    changed = snapshot(url)
    with held_open_elsewhere(url), pytest.raises(MaintenanceError, match="open in another process"):
        restore_store(store, made.path)
    assert snapshot(url) == changed
    assert not list(store.path.parent.glob("*before-restore*"))


def test_a_duckdb_store_open_in_another_process_is_not_backed_up(tmp_path):
    url = store_url("duckdb", tmp_path)
    fill(url)
    with (
        held_open_elsewhere(url),
        pytest.raises(MaintenanceError, match="DuckDB allows one process per file"),
    ):
        backup_store(store_file(url), tmp_path / "backup.duckdb")
    assert not (tmp_path / "backup.duckdb").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_sqlite_backup_while_another_process_has_the_store_open(tmp_path):
    url = store_url("sqlite", tmp_path)
    fill(url)
    with held_open_elsewhere(url):
        made = backup_store(store_file(url), tmp_path / "backup.db")
    assert made.check.ok and snapshot(f"sqlite:///{made.path}") == snapshot(url)


def test_backup_never_overwrites_by_accident_nor_leaves_partial_files(url, tmp_path):
    fill(url)
    store = store_file(url)
    target = tmp_path / "backup"
    first = backup_store(store, target)
    stamp = first.path.stat().st_mtime_ns
    with pytest.raises(MaintenanceError, match="already exists"):
        backup_store(store, target)
    assert first.path.stat().st_mtime_ns == stamp
    time.sleep(0.01)
    assert backup_store(store, target, overwrite=True).check.ok
    with pytest.raises(MaintenanceError, match="is the store itself"):
        backup_store(store, store.path, overwrite=True)
    assert not [p for p in tmp_path.rglob("*") if "partial" in p.name]


def test_store_urls_without_a_file_are_refused():
    with pytest.raises(MaintenanceError, match="in-memory"):
        store_file("duckdb:///:memory:")
    with pytest.raises(MaintenanceError, match="Unsupported report store URL scheme 'postgres'"):
        store_file("postgres://user:secret@host/db")


def test_backups_while_reports_are_written_in_this_process(tmp_path):
    """Threads of one process (the service's own pool) writing during a backup."""
    url = store_url("sqlite", tmp_path)
    fill(url, days=1)
    stop = threading.Event()

    def write() -> None:
        with open_store(url) as store:
            day = DAY
            while not stop.is_set():
                day += timedelta(days=1)
                store.save_report("acme", day, report(day.day))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copies = [backup_store(store_file(url), tmp_path / f"b{i}.db") for i in range(5)]
    finally:
        stop.set()
        writer.join(30)
    assert all(copy.check.ok for copy in copies)
