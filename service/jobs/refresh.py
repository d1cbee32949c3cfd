"""Mart refreshes: dbt runs over a window (or the watermark's days), then the rebuilt days' versions.

After every successful model run the rebuilt days' mart fingerprints are recorded in the store
(a stored report whose day changed reads as `stale`) and listeners (the live cache) are told.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reports_store import MartVersion, ReportStore
from service.core.config import Settings
from service.core.dbt_runner import (
    DBT_LOCK,
    MODEL_COMMANDS,
    DbtOutcome,
    SliceProgress,
    is_plain_full_refresh,
    refresh_marts,
    run_dbt,
)
from service.core.errors import RefreshFailed, RefreshStopped
from service.core.warehouse import get_client
from service.reports.catalog import load_catalog
from service.reports.marts import marts_exist, read_mart_days

log = logging.getLogger(__name__)
# Told of every dbt invocation: its command, seconds taken, and whether it succeeded (the metrics).
DbtObserver = Callable[[str, float, bool], None]

# What a plain refresh compares: the marts' newest source row (the marts that hold every call, as
# the refresh window macro's mart_relations, which says why not the breakdowns), and the sources'
# own newest rows (table, stamp, which rows may reach a mart: as in that macro, only the
# organizations' broker nodes' outputs; `{schema}` is the dbt schema).
MART_TABLES = ("fct_calls", "agg_daily_org_metrics")
NEWEST_SOURCE_COLUMNS = (
    ("public_runs", "timestamp", "true"),
    ("public_sessions", "created_at", "true"),
    (
        "public_node_outputs",
        "created_at",
        "node_persistent_id IN (SELECT node_persistent_id FROM {schema}.organizations)",
    ),
)


# Organization-days read at once when recording mart versions: few queries, bounded memory.
VERSION_BATCH_DAYS = 4000


def _batches(windows: dict[str, tuple[date, date]], max_days: int) -> Iterator[dict[str, tuple[date, date]]]:
    """`windows` (org -> first, last day) in groups whose union windows span at most `max_days`
    organization-days (an organization alone may span more)."""
    batch: dict[str, tuple[date, date]] = {}
    for org_id, (first, last) in sorted(windows.items(), key=lambda item: item[1]):
        grown = batch | {org_id: (first, last)}
        span = (max(w[1] for w in grown.values()) - min(w[0] for w in grown.values())).days + 1
        if batch and span * len(grown) > max_days:
            yield batch
            grown = {org_id: (first, last)}
        batch = grown
    if batch:
        yield batch


class UnfinishedRun(BaseModel):
    """What a dbt run that has not finished (yet) was rebuilding: a window, a full build, or
    (neither) the watermark's days or a command's selection, which a plain refresh redoes."""

    start: date | None = None
    end: date | None = None
    org_ids: list[str] = []
    # A full build cut short holds some ranges of run ids of every day in the per-call mart: the
    # watermark cannot tell which calls are missing, so the next plain refresh is a full build.
    full_build: bool = False

    @classmethod
    def of(
        cls, start: date | None, end: date | None, org_ids: Sequence[str] | None, full_refresh: bool = False
    ) -> UnfinishedRun:
        run = cls(start=start, end=end, org_ids=list(org_ids or []))
        return run.model_copy(update={"full_build": full_refresh and not run.is_window})

    @classmethod
    def remembered(cls, value: object) -> UnfinishedRun | None:
        """The run in the refresh state (None: none; a value it cannot read: a plain one)."""
        if value is None:
            return None
        try:
            return cls.model_validate(value)
        except ValidationError:
            return cls()

    @property
    def is_window(self) -> bool:
        return self.start is not None or self.end is not None or bool(self.org_ids)

    def _days(self) -> tuple[date, date] | None:
        """The window's local days as dbt reads them (one date alone is that one day; None: all)."""
        first, last = self.start or self.end, self.end or self.start
        return None if first is None or last is None else (first, last)

    def covers(self, other: UnfinishedRun) -> bool:
        """Whether this run, once it has succeeded, has rebuilt all that `other` left unfinished."""
        if self.full_build:
            return True
        if other.full_build:
            return False
        if not other.is_window:  # the watermark's days (or a command's): a plain run redoes them
            return not self.is_window
        if not self.is_window:
            return False
        days, other_days = self._days(), other._days()
        same_days = days is None or (
            other_days is not None and days[0] <= other_days[0] and other_days[1] <= days[1]
        )
        return same_days and (not self.org_ids or set(other.org_ids or ["*"]) <= set(self.org_ids))

    def merged(self, other: UnfinishedRun) -> UnfinishedRun:
        """One run that covers both: what to remember while this one runs with `other` unfinished."""
        if self.covers(other):
            return self
        if other.covers(self):
            return other
        windows = [run for run in (self, other) if run.is_window]  # a window redoes a plain run's too
        if len(windows) == 1:
            return windows[0]
        spans = [run._days() for run in windows]
        start = None if None in spans else min(span[0] for span in spans if span)
        end = None if None in spans else max(span[1] for span in spans if span)
        org_ids = [] if not all(run.org_ids for run in windows) else sorted({*self.org_ids, *other.org_ids})
        if start is None and end is None and not org_ids:  # every day of every organization
            return UnfinishedRun(full_build=True)
        return UnfinishedRun(start=start, end=end, org_ids=org_ids)


class Refresher:
    def __init__(self, settings: Settings, store: ReportStore) -> None:
        self.settings = settings
        self.store = store
        # Called after every successful mart refresh (the API's live cache listens here).
        self.listeners: list[Callable[[], None]] = []
        self.dbt_observers: list[DbtObserver] = []
        # Set when the process stops: a sliced run ends before its next slice (RefreshStopped).
        self.stopping = threading.Event()

    def refresh(
        self,
        start: date | None = None,
        end: date | None = None,
        org_ids: Sequence[str] | None = None,
        *,
        full_refresh: bool = False,
        progress: SliceProgress | None = None,
    ) -> DbtOutcome:
        """Refresh the marts (a window, or the watermark's days) and record the rebuilt days' versions.

        Large windows and full refreshes run in slices (`progress(done, total)`); each slice's days
        are recorded as it lands. With the marts missing or a full build here cut short, a plain
        refresh is a (sliced) full build.
        """
        with DBT_LOCK:
            plain = start is None and end is None and not org_ids
            if plain and (not self.marts_exist() or self._unfinished_full_build()):
                full_refresh = True
            elif plain and not full_refresh:  # a full refresh rebuilds any window anyway
                self._redo_unfinished_window()
            outcome = self._sliced_run(
                plain, start=start, end=end, org_ids=org_ids, full_refresh=full_refresh, progress=progress
            )
            if not outcome.success:
                detail = outcome.error or "; ".join(outcome.failures) or "see the dbt log"
                raise RefreshFailed(f"dbt refresh failed: {detail.splitlines()[0]}")
        return outcome

    def run_dbt_command(self, args: Sequence[str], *, capture_output: bool = False) -> DbtOutcome:
        """Any dbt command; one that rebuilt models is followed by `after_refresh`."""
        with DBT_LOCK:
            if is_plain_full_refresh(args):  # in slices, each recorded as it lands
                return self._sliced_run(True, full_refresh=True, capture_output=capture_output)
            command = args[0] if args else "help"

            def invoke() -> DbtOutcome:
                return run_dbt(args, self.settings, capture_output=capture_output)

            if command not in MODEL_COMMANDS:
                return self._timed(command, invoke)
            outcome = self._rebuild(command, invoke, UnfinishedRun())
            if outcome.success:
                self.after_refresh()
        return outcome

    def _sliced_run(self, plain: bool, **options: Any) -> DbtOutcome:
        """`refresh_marts(**options)`, each slice recorded as it lands. A `plain` refresh (every
        organization, the watermark's days or everything) remembers the sources' insert counters
        read before dbt reads the sources, which `needs_refresh` compares with."""
        inserts = self._source_inserts() if plain else None
        unfinished = UnfinishedRun.of(
            options.get("start"),
            options.get("end"),
            options.get("org_ids"),
            options.get("full_refresh", False),
        )
        outcome = self._rebuild(
            "run",
            lambda: refresh_marts(self.settings, on_slice=self.after_refresh, stop=self.stopping, **options),
            unfinished,
        )
        if plain and outcome.success:
            self._remember(source_inserts=inserts)
        return outcome

    def _rebuild(self, command: str, invoke: Callable[[], DbtOutcome], run: UnfinishedRun) -> DbtOutcome:
        """A dbt run that rebuilds marts, remembered as unfinished until it succeeds. The marts
        delete a window's rows before inserting them again (the baselines all of theirs on a plain
        run): a run that dies half way (kill -9, a failed model) leaves rows missing, so the next
        plain refresh runs whatever the sources say (`needs_refresh`) and first redoes the window
        (`_redo_unfinished_window`). A plain run's own days come back by the watermark, which
        falls back with the rows deleted. An unfinished run that this one does not cover (a
        full build cut short, then a backfill) stays remembered after this one succeeds."""
        pending = self._unfinished()
        running = run if pending is None else run.merged(pending)
        self._remember(rebuild_unfinished=running.model_dump(mode="json"))
        outcome = self._timed(command, invoke)
        if outcome.success:  # an earlier unfinished run this one did not redo stays remembered
            left = None if pending is None or run.covers(pending) else pending.model_dump(mode="json")
            self._remember(rebuild_unfinished=left)
        return outcome

    def _unfinished(self) -> UnfinishedRun | None:
        """The dbt run remembered as not finished here (None: none)."""
        return UnfinishedRun.remembered(self._state().get("rebuild_unfinished"))

    def _unfinished_full_build(self) -> bool:
        unfinished = self._unfinished()
        if unfinished is None or not unfinished.full_build:
            return False
        log.warning("a full build did not finish here: this refresh is a full build")
        return True

    def _redo_unfinished_window(self) -> None:
        """Rebuild the window of a run that did not finish here (before a plain refresh). A window
        that cannot be rebuilt (an organization since deleted...) is logged and forgotten: the
        plain refresh must still run, and the next ones must not run dbt for it again."""
        unfinished = self._unfinished()
        if unfinished is None or not unfinished.is_window:
            return
        log.warning(
            "a dbt run of %s..%s for %s did not finish here: rebuilding that window first",
            unfinished.start or "the first day",
            unfinished.end or "the last day",
            ", ".join(unfinished.org_ids) or "every organization",
        )
        try:
            outcome = self._sliced_run(
                False, start=unfinished.start, end=unfinished.end, org_ids=unfinished.org_ids
            )
        except RefreshStopped:  # still unfinished: the next start redoes it
            raise
        except Exception as exc:  # as a failed run: the plain refresh goes on
            outcome = DbtOutcome(success=False, command="run", exit_code=2, error=str(exc))
        if not outcome.success:  # left to the operator: not retried by every refresh from now on
            log.error("rebuilding the unfinished window failed (%s): run that backfill again", outcome.error)
            self._remember(rebuild_unfinished=None)

    def _timed(self, command: str, invoke: Callable[[], DbtOutcome]) -> DbtOutcome:
        """One dbt invocation, timed for `dbt_observers` (one that raised counts as failed)."""
        started, outcome = time.monotonic(), None
        try:
            outcome = invoke()
            return outcome
        finally:
            seconds, success = time.monotonic() - started, bool(outcome and outcome.success)
            for observer in self.dbt_observers:
                try:
                    observer(command, seconds, success)
                except Exception:  # an observer never fails the refresh
                    log.exception("dbt observer %r failed", observer)

    def needs_refresh(self) -> str | None:
        """Why a plain refresh has work to do (None: it would rebuild nothing), from cheap queries.

        The marts missing, a dbt run here that did not finish (rows deleted, not yet inserted again),
        definitions changed since the last refresh here, or, when rows were
        added to a source since the last plain refresh began, one newer than the marts' watermark
        (the same watermark the refresh window macro uses). The first check matters: rows no mart
        keeps a trace of (a call from an excluded number) never move the watermark, yet were seen.
        """
        if not self.marts_exist():
            return "the marts are not built yet"
        state = self._state()
        if UnfinishedRun.remembered(state.get("rebuild_unfinished")) is not None:
            return "the last dbt run here did not finish"
        if state.get("metrics_version") != load_catalog(self.settings.dbt_project_dir).metrics_version:
            return "the metric definitions changed since the last refresh here"
        inserts = state.get("source_inserts")
        if inserts is not None and inserts == self._source_inserts():
            return None  # not a row added to the sources since the last plain refresh began
        if self._newest_source_rows_after_watermark():
            return "source rows arrived after the marts' watermark"
        return None

    def _newest_source_rows_after_watermark(self) -> bool:
        schema, source = self.settings.dbt_schema, self.settings.clickhouse_database
        marts = ", ".join(f"(SELECT max(loaded_at) FROM {schema}.{name})" for name in MART_TABLES)
        probes = " + ".join(
            f"(SELECT count() FROM (SELECT 1 FROM {source}.{table} "
            f"WHERE {reaches_a_mart.format(schema=schema)} AND {column} > watermark LIMIT 1))"
            for table, column, reaches_a_mart in NEWEST_SOURCE_COLUMNS
        )
        query = f"WITH (SELECT least({marts}, now64(3))) AS watermark SELECT {probes}"
        return bool(get_client(self.settings).query(query).first_row[0])

    def _source_inserts(self) -> str | None:
        """A token that changes with every insert into a source table (None: cannot tell).

        MergeTree numbers each insert's block; merges and deletes keep the highest number, so
        the per-partition maxima of the active parts change only when rows are added. A source
        that is not a local MergeTree (a Distributed table) has no parts here, and on a cluster
        each server has its own: None (the watermark probe alone decides).
        """
        if self.settings.clickhouse_cluster:  # parts are per server: one node cannot tell
            return None
        tables = sorted({table for table, _, _ in NEWEST_SOURCE_COLUMNS})
        try:
            rows = (
                get_client(self.settings)
                .query(
                    "SELECT table, partition_id, max(max_block_number) FROM system.parts "
                    "WHERE active AND database = {db:String} AND table IN {tables:Array(String)} "
                    "GROUP BY table, partition_id ORDER BY table, partition_id",
                    parameters={"db": self.settings.clickhouse_database, "tables": tables},
                )
                .result_rows
            )
        except Exception as exc:  # e.g. a user without access to system.parts: the probe decides
            log.debug("source insert counters not readable: %s", exc)
            return None
        if sorted({row[0] for row in rows}) != tables:
            return None
        return hashlib.sha256(json.dumps([self.settings.clickhouse_database, rows]).encode()).hexdigest()

    def _state_file(self) -> Path:
        """One file per set of marts (warehouse, source database, dbt schema): processes that share a
        dbt target folder but not their marts must not redo, or forget, each other's runs."""
        settings = self.settings
        warehouse = [str(settings.chdb_dir)] if settings.embedded else list(settings.server_endpoint()[:2])
        marts = json.dumps([*warehouse, settings.clickhouse_database, settings.dbt_schema])
        return (
            settings.dbt_target_path / f"refresh_state-{hashlib.sha256(marts.encode()).hexdigest()[:16]}.json"
        )

    def _state(self) -> dict[str, object]:
        """What the last refreshes here recorded (empty: not known). Without it a refresh runs
        dbt once more than needed; only a run cut short while the file was lost goes unnoticed."""
        try:
            state = json.loads(self._state_file().read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _remember(self, **facts: object) -> None:
        with contextlib.suppress(OSError):  # only an optimisation: without it the next check refreshes
            self._state_file().parent.mkdir(parents=True, exist_ok=True)
            self._state_file().write_text(json.dumps(self._state() | facts))

    def last_refreshed_at(self) -> float | None:
        """When a refresh here last succeeded (epoch seconds; None: not known), for the metrics."""
        try:
            return self._state_file().stat().st_mtime
        except OSError:
            return None

    def _remember_version(self) -> None:
        self._remember(metrics_version=load_catalog(self.settings.dbt_project_dir).metrics_version)

    def marts_exist(self) -> bool:
        return marts_exist(get_client(self.settings), self.settings.dbt_schema)

    def after_refresh(self) -> None:
        """Record the rebuilt days' mart versions (stale detection) and notify listeners."""
        self._record_window_versions()
        self._remember_version()
        for listener in self.listeners:
            listener()

    def _record_window_versions(self) -> None:
        if not self.marts_exist():
            return
        client = get_client(self.settings)
        catalog = load_catalog(self.settings.dbt_project_dir)
        schema = self.settings.dbt_schema
        windows = {
            org_id: (first, last)
            for org_id, first, last in client.query(
                f"SELECT org_id, min(report_date), max(report_date) FROM {schema}.int_refresh_window GROUP BY org_id"
            ).result_rows
        }
        for batch in _batches(windows, VERSION_BATCH_DAYS):
            # One read of a batch's windows (their union; each organization's own days kept).
            days = read_mart_days(
                client,
                schema,
                catalog,
                list(batch),
                min(first for first, _ in batch.values()),
                max(last for _, last in batch.values()),
            )
            self.store.record_mart_versions(
                MartVersion(
                    org_id=day.org_id,
                    report_date=day.report_date,
                    mart_refreshed_at=day.refreshed_at.isoformat() if day.refreshed_at else None,
                    fingerprint=day.fingerprint(),
                )
                for day in days.values()
                if batch[day.org_id][0] <= day.report_date <= batch[day.org_id][1]
            )
