"""Runs dbt in-process (dbtRunner) with the chDB driver registered, one invocation at a time."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, Field

from service.core.config import PROJECT_ROOT, Settings, get_settings
from service.core.errors import RefreshStopped
from service.core.warehouse import call_start_span, get_client, run_id_cuts

# dbt keeps global state: one invocation at a time per process.
DBT_LOCK = threading.RLock()

# Commands that read or write models and therefore need the current organizations copy.
_COMMANDS_NEEDING_ORGS = {"build", "run", "test", "seed", "snapshot", "show", "compile", "retry"}
# Commands that (re)build models: afterwards the service records the rebuilt days' versions.
MODEL_COMMANDS = {"run", "build"}
_PRINTED_LEVELS = {"info", "warn", "error"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Inside the service (see service.observability.logs) dbt's events go to this logger instead of
# dbt printing them; the CLI's in-process `dbt` command leaves dbt printing to the terminal.
DBT_LOG = logging.getLogger("dbt")
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
_events_to_logging = False
# Commands without a --target-path option.
_NO_TARGET_PATH_COMMANDS = {"debug", "init", "deps"}
# Commands that never open the warehouse.
_OFFLINE_COMMANDS = {"parse", "ls", "list", "clean", "deps", "init", "help", "--help", "-h", "--version"}


class DbtOutcome(BaseModel):
    """What a dbt invocation did: the API's answer to a delegated dbt command, too."""

    success: bool
    command: str
    exit_code: int = Field(description="dbt's own: 0 success, 1 a node failed, 2 dbt could not run.")
    failures: list[str] = Field(default_factory=list, description="Failing nodes with their error.")
    error: str | None = None
    output: list[str] = Field(default_factory=list, description="What dbt printed (when captured).")


def dbt_environment(settings: Settings) -> dict[str, str]:
    """Environment variables profiles.yml reads, derived from the settings."""
    env = {
        "DBT_SCHEMA": settings.dbt_schema,
        "CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "CHDB_PATH": str(settings.chdb_dir),
        "DBT_TARGET": "chdb" if settings.embedded else "clickhouse",
        "CLICKHOUSE_QUERY_TIMEOUT_S": str(settings.clickhouse_query_timeout_s),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        # Colour codes only for a person at a terminal, never in a service's or CI's log.
        "DBT_USE_COLORS": "true" if sys.stdout.isatty() and not _events_to_logging else "false",
    }
    if _events_to_logging:  # dbt prints nothing itself; its file log (dbt.log) stays as it was
        env |= {"DBT_LOG_LEVEL": "none", "DBT_LOG_LEVEL_FILE": "debug"}
    if not settings.embedded:
        host, port, secure = settings.server_endpoint()
        env |= {
            "CLICKHOUSE_HOST": host,
            "CLICKHOUSE_PORT": str(port),
            "CLICKHOUSE_SECURE": str(secure),  # as_bool in profiles.yml wants True or False
            "CLICKHOUSE_USERNAME": settings.clickhouse_username,
            "CLICKHOUSE_PASSWORD": settings.clickhouse_password.get_secret_value(),
            "CLICKHOUSE_CLUSTER": settings.clickhouse_cluster or "",
        }
    return env


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for one dbt invocation only (profiles.yml reads them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _with_project_flags(args: Sequence[str], settings: Settings) -> list[str]:
    args = list(args)
    defaults = {
        "--project-dir": str(settings.dbt_project_dir),
        "--profiles-dir": str(PROJECT_ROOT),
        "--target-path": str(settings.dbt_target_path),
    }
    if not args or args[0] in ("--help", "-h", "--version"):
        return args
    if args[0] in _NO_TARGET_PATH_COMMANDS:
        defaults.pop("--target-path")
    for flag, value in defaults.items():
        if flag not in args:
            args += [flag, value]
    return args


def run_dbt(
    args: Sequence[str],
    settings: Settings | None = None,
    *,
    sync_orgs: bool = True,
    calendar_since: date | None = None,
    capture_output: bool = False,
    env: dict[str, str] | None = None,
    reuse_manifest: bool = False,
) -> DbtOutcome:
    """Invoke dbt with `args` (as on the dbt command line) and summarize the outcome.

    `calendar_since`: the organizations' calendars must reach back to this local date.
    `capture_output`: keep the lines dbt prints at a terminal (info and above) in `output`.
    `env`: more environment variables for this invocation (the refresh window, see refresh_env).
    `reuse_manifest`: run on this process's parsed manifest (parsed once per project state; only
    for invocations whose parse does not depend on their flags: no --vars, no selection).
    """
    from dbt.cli.main import dbtRunner

    from service.core import dbt_chdb

    settings = settings or get_settings()
    command = args[0] if args else "help"
    dbt_chdb.register()
    with DBT_LOCK, _environment(dbt_environment(settings) | (env or {})):
        if command not in _OFFLINE_COMMANDS:
            # Open the warehouse first, so a busy embedded warehouse is one clear error line.
            client = _warehouse(settings)
            if sync_orgs and command in _COMMANDS_NEEDING_ORGS:
                _sync_organizations(client, settings, calendar_since)
        output: list[str] = []
        callbacks = [_line_collector(output)] if capture_output else []
        if _events_to_logging:
            callbacks.append(_event_logger(contextvars.copy_context()))
        manifest = _parsed_manifest(settings) if reuse_manifest else None
        key = _manifest_key(settings) if list(args) == ["parse"] else None
        result = dbtRunner(manifest=manifest, callbacks=callbacks).invoke(_with_project_flags(args, settings))
        if key and result.success and result.result is not None:  # a plain parse primes the refreshes
            _MANIFESTS.clear()
            _MANIFESTS[key] = result.result
    failures = []
    if result.result is not None and hasattr(result.result, "results"):
        for node_result in result.result.results:
            status = str(getattr(node_result, "status", ""))
            if status in {"error", "fail", "runtime error"}:
                failures.append(f"{node_result.node.name}: {status}: {node_result.message}")
    error = str(result.exception) if result.exception else None
    exit_code = 0 if result.success else (2 if result.exception else 1)
    return DbtOutcome(
        success=result.success,
        command=command,
        exit_code=exit_code,
        failures=failures,
        error=error,
        output=output,
    )


# dbt parses the project on every invocation (partial parsing still reads and hashes every file,
# and re-renders the files whose environment variables changed); the service's refreshes reuse one
# parsed manifest instead, until a project file or the target changes. The window is read at run
# time (env_var() in the macros), so a manifest does not depend on it.
_MANIFESTS: dict[tuple[str, ...], Any] = {}
_PROJECT_SKIPPED_DIRS = {"target", "logs", "dbt_packages", "dbt_modules"}


def project_fingerprint(project_dir: Path) -> str:
    """Every project file's path, size and modification time (what a re-parse would read)."""
    entries = [str(PROJECT_ROOT / "profiles.yml")]
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(d for d in dirs if d not in _PROJECT_SKIPPED_DIRS and not d.startswith("."))
        entries += [os.path.join(root, name) for name in sorted(files)]
    parts = []
    for entry in entries:
        with contextlib.suppress(OSError):
            stat = os.stat(entry)
            parts.append(f"{entry}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _manifest_key(settings: Settings) -> tuple[str, ...]:
    """What a parsed manifest depends on: the project's files, the target and its environment."""
    return (
        str(settings.dbt_project_dir),
        str(settings.dbt_target_path),
        project_fingerprint(settings.dbt_project_dir),
        *(f"{name}={value}" for name, value in sorted(dbt_environment(settings).items())),
    )


def _parsed_manifest(settings: Settings) -> Any:
    """This process's parsed manifest for the settings' target (parsed now when stale or absent)."""
    from dbt.cli.main import dbtRunner

    key = _manifest_key(settings)
    if key not in _MANIFESTS:
        result = dbtRunner().invoke(_with_project_flags(["parse"], settings))
        if not result.success or result.result is None:
            return None  # the invocation parses by itself and reports the error
        _MANIFESTS.clear()  # one project state at a time
        _MANIFESTS[key] = result.result
    return _MANIFESTS[key]


# The runner's own queries (organizations copy, calendars) reuse one client per warehouse: opening
# an embedded client costs 0.1-0.3 s. Used under DBT_LOCK only.
_CLIENTS: dict[tuple[str, str, str], Client] = {}


def _warehouse(settings: Settings) -> Client:
    if not settings.embedded:
        return get_client(settings)
    key = (str(settings.chdb_dir), settings.clickhouse_database, settings.dbt_schema)
    with DBT_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = get_client(settings)
        return _CLIENTS[key]


def _sync_organizations(client: Client, settings: Settings, since: date | None) -> None:
    """Copy the store's organizations and calendars into the warehouse (as sync_organizations)."""
    from reports_store import open_store
    from service.core.warehouse_orgs import write_organizations

    store = open_store(settings.reports_store_url)
    try:
        orgs = store.list_organizations()
    finally:
        store.close()
    write_organizations(client, settings, orgs, since=since)


def _line_collector(lines: list[str]) -> Callable[[Any], None]:
    """A dbt event callback keeping what dbt prints to a terminal (info level and above)."""

    def collect(event: Any) -> None:
        if event.info.level in _PRINTED_LEVELS and event.info.msg:
            lines.append(_ANSI.sub("", str(event.info.msg)))

    return collect


def log_events_through_logging(enabled: bool = True) -> None:
    """Send dbt's events to the `dbt` logger (the service's log format) and stop dbt printing."""
    global _events_to_logging
    _events_to_logging = enabled


def _event_logger(invocation: contextvars.Context) -> Callable[[Any], None]:
    """A dbt event callback logging each event in the invoking context (the log context of the
    request or job that ran dbt), also when one of dbt's own threads fires it."""

    def log_event(event: Any) -> None:
        level = _LOG_LEVELS.get(event.info.level, logging.INFO)
        if event.info.msg and DBT_LOG.isEnabledFor(level):
            invocation.copy().run(DBT_LOG.log, level, "%s", _ANSI.sub("", str(event.info.msg)))

    return log_event


def refresh_vars(
    start: date | None = None, end: date | None = None, org_ids: Sequence[str] | None = None
) -> dict[str, object]:
    """dbt vars selecting a refresh window (see dbt_project/macros/refresh_window.sql)."""
    return {
        "refresh_start_date": start.isoformat() if start else None,
        "refresh_end_date": end.isoformat() if end else None,
        "refresh_org_ids": list(org_ids or []),
    }


def refresh_env(
    start: date | None = None,
    end: date | None = None,
    org_ids: Sequence[str] | None = None,
    *,
    append_only: bool = False,
    run_ids: RunIdRange | None = None,
) -> dict[str, str]:
    """The refresh window as environment variables (the macros read them with env_var()).

    Not --vars: a change of vars makes dbt re-parse the whole project on every refresh, a changed
    environment variable only the files that read it. Every variable is always set, so a window
    never leaks from the process environment into an invocation.
    """
    run_from, run_before = run_ids or (None, None)
    return {
        "DBT_REFRESH_START_DATE": start.isoformat() if start else "",
        "DBT_REFRESH_END_DATE": end.isoformat() if end else "",
        "DBT_REFRESH_ORG_IDS": ",".join(org_ids or []),
        "DBT_REFRESH_APPEND_ONLY": "1" if append_only else "0",
        "DBT_REFRESH_RUN_ID_FROM": run_from or "",
        "DBT_REFRESH_RUN_ID_BEFORE": run_before or "",
    }


# -- sliced refreshes ------------------------------------------------------------------------------
# A full refresh, a backfill or any large window runs in slices, one dbt invocation each, so a
# build's peak memory follows the slice and not the history. A window runs as consecutive ranges of
# local days: every model reads only its window (int_calls' scans are bounded by the window's UTC
# bounds, and the staging views' GROUP BYs get the window's run ids pushed down). A full build
# first fills the per-call mart (tag per_call, with what it reads) in ranges of run ids over every
# day, then builds the other marts from it in ranges of days: a range of days has its runs spread
# over the whole of the broker outputs (ordered by node, run id), so each such slice would read all
# of their JSON and a full build's cost would grow with the square of the history; a range of run
# ids reads only its own part.

CALLS_SELECTOR = "tag:per_call"  # dbt_project/models/marts/_marts.yml
RunIdRange = tuple[str | None, str | None]  # [from, before) in ClickHouse's order; None: open

SliceProgress = Callable[[int, int], None]
_ambient_progress: contextvars.ContextVar[SliceProgress | None] = contextvars.ContextVar(
    "dbt_slice_progress", default=None
)


@contextmanager
def reporting_slices(progress: SliceProgress) -> Iterator[None]:
    """Report (slices done, total) of every sliced refresh run in this block and thread (the CLI's
    progress bar around a `dbt run --full-refresh` that goes through the operations layer)."""
    token = _ambient_progress.set(progress)
    try:
        yield
    finally:
        _ambient_progress.reset(token)


@dataclass(frozen=True)
class WindowCalendar:
    """The local days a window covers in the organizations' calendars (organization_days)."""

    first: date | None  # the first day (None: no day at all)
    last_started: date | None  # the last day already started somewhere (what a refresh builds)
    last: date | None  # the calendar's last day (future days included)
    orgs_in_window: int
    orgs_total: int


def window_calendar(
    client: Client, settings: Settings, start: date | None, end: date | None, org_ids: Sequence[str] | None
) -> WindowCalendar:
    """Read the window's days from organization_days (after sync_organizations wrote them)."""
    conditions, parameters = ["1"], {}
    if org_ids:
        conditions.append("org_id IN {org_ids:Array(String)}")
        parameters["org_ids"] = list(org_ids)
    if start or end:
        conditions.append("report_date BETWEEN {start:Date} AND {end:Date}")
        parameters |= {"start": start or end, "end": end or start}
    where = " AND ".join(conditions)
    schema = settings.dbt_schema
    row = (
        get_client(settings)
        .query(
            f"SELECT minIf(report_date, day_start_utc <= now64(3)), maxIf(report_date, day_start_utc <= now64(3)),"
            f" max(report_date), countIf(day_start_utc <= now64(3)), uniqExact(org_id),"
            f" (SELECT uniqExact(org_id) FROM {schema}.organization_days)"
            f" FROM {schema}.organization_days WHERE {where}",
            parameters=parameters,
        )
        .first_row
    )
    started = row[3] > 0
    return WindowCalendar(
        first=row[0] if started else None,
        last_started=row[1] if started else None,
        last=row[2] if started else None,
        orgs_in_window=int(row[4]),
        orgs_total=int(row[5]),
    )


def slice_length(slice_days: int, orgs_in_window: int, orgs_total: int) -> int:
    """Local days per slice: `slice_days` of every organization is the memory budget, so a window
    of fewer organizations (a one-organization backfill) takes proportionally more days at once."""
    return max(slice_days, slice_days * orgs_total // max(orgs_in_window, 1))


def plan_slices(first: date, last: date, days: int) -> list[tuple[date, date]]:
    """Consecutive inclusive ranges of at most `days` local dates covering first..last, oldest first."""
    slices, current = [], first
    while current <= last:
        slice_end = min(last, current + timedelta(days=days - 1))
        slices.append((current, slice_end))
        current = slice_end + timedelta(days=1)
    return slices


def is_plain_full_refresh(args: Sequence[str]) -> bool:
    """`run --full-refresh` with nothing else: the command the service runs as a sliced refresh."""
    return len(args) == 2 and args[0] == "run" and args[1] == "--full-refresh"


def refresh_marts(
    settings: Settings | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    org_ids: Sequence[str] | None = None,
    full_refresh: bool = False,
    progress: SliceProgress | None = None,
    on_slice: Callable[[], None] | None = None,
    capture_output: bool = False,
    stop: threading.Event | None = None,
) -> DbtOutcome:
    """Run the models for a window of local dates (or, with no window, what the watermark says).

    Models only: the data tests scan whole tables, so they belong to `dbt build`, not to the
    frequent refresh whose cost must follow the window. A full refresh or a window of more than
    `refresh_slice_days` days of every organization runs in slices, oldest first, one dbt
    invocation each; the result is the same as one invocation. `progress(done, total)` follows
    the slices; `on_slice()` runs after each successful one that completed days in every mart
    (int_refresh_window then holds that slice's days). A failed slice stops the refresh: the
    slices before it stay built. `stop` set ends a sliced run before its next slice
    (RefreshStopped): a stopping process waits for one dbt invocation, not for the whole history.
    """
    settings = settings or get_settings()
    progress = progress or _ambient_progress.get()
    every_day = start is None and end is None and not org_ids
    if every_day and not full_refresh:  # the watermark's few days
        return _run_slices(settings, [Slice()], progress, on_slice, capture_output, stop, sync=True)
    with DBT_LOCK:  # the organizations' calendars stay as read until the last slice
        days = _window_slices(settings, start, end, org_ids)
        if days is None:
            slices = [Slice(start, end, tuple(org_ids or ()), full_refresh=full_refresh)]
        elif full_refresh and every_day:
            slices = _full_build_slices(settings, days)
        else:
            slices = [
                Slice(
                    first,
                    last,
                    tuple(org_ids or ()),
                    full_refresh=full_refresh and number == 0,
                    append_only=full_refresh and number > 0,
                )
                for number, (first, last) in enumerate(days)
            ]
        return _run_slices(settings, slices, progress, on_slice, capture_output, stop, sync=False)


@dataclass(frozen=True)
class Slice:
    """One dbt invocation of a refresh: its local days (None: open), organizations, range of run
    ids, the models it runs and how it writes them."""

    first: date | None = None
    last: date | None = None
    org_ids: tuple[str, ...] = ()
    run_ids: RunIdRange | None = None
    selection: tuple[str, ...] = ()  # --select / --exclude
    full_refresh: bool = False  # recreates the models it runs
    append_only: bool = False  # adds rows the models cannot hold yet (no delete first)
    completes_days: bool = True  # after it, its days are in every mart (on_slice runs)

    def args(self) -> list[str]:
        # No manifest.json / run_results.json per refresh (0.2-0.8 s of JSON): the parse that
        # _parsed_manifest runs once writes the manifest, and dbt.log keeps every run's results.
        return ["run", "--no-write-json", *(["--full-refresh"] if self.full_refresh else []), *self.selection]

    def env(self) -> dict[str, str]:
        return refresh_env(
            self.first, self.last, self.org_ids, append_only=self.append_only, run_ids=self.run_ids
        )

    def describe(self) -> str:
        if self.run_ids is not None:
            return f"run ids {self.run_ids[0] or 'first'}..{self.run_ids[1] or 'last'}"
        return f"{self.first}..{self.last}"


def _full_build_slices(settings: Settings, days: Sequence[tuple[date | None, date | None]]) -> list[Slice]:
    """A full build: the per-call mart over every day in ranges of run ids, then every other mart
    from it in the ranges of days `days`."""
    per_call = [
        Slice(
            run_ids=run_ids,
            selection=("--select", f"+{CALLS_SELECTOR}"),
            full_refresh=number == 0,
            append_only=number > 0,
            completes_days=False,
        )
        for number, run_ids in enumerate(_run_id_ranges(_warehouse(settings), settings, days))
    ]
    from_calls = [
        Slice(
            first,
            last,
            selection=("--exclude", CALLS_SELECTOR),
            full_refresh=number == 0,
            append_only=number > 0,
        )
        for number, (first, last) in enumerate(days)
    ]
    return per_call + from_calls


def _run_id_ranges(
    client: Client, settings: Settings, days: Sequence[tuple[date | None, date | None]]
) -> list[RunIdRange]:
    """Ranges of run ids that each hold as many calls as the fullest range of days (the memory
    budget a range of days has, counted by the runs' UTC dates), the last one the rest."""
    runs_per_day = client.query(
        f"SELECT toDate(timestamp) AS day, count() FROM {settings.clickhouse_database}.public_runs GROUP BY day"
    ).result_rows
    fullest = max(
        (
            sum(
                runs
                for day, runs in runs_per_day
                if (first is None or day >= first) and (last is None or day <= last)
            )
            for first, last in days
        ),
        default=0,
    )
    bounds = run_id_cuts(client, settings.clickhouse_database, fullest) if fullest else []
    return list(zip([None, *bounds], [*bounds, None], strict=True))


def _window_slices(
    settings: Settings,
    start: date | None,
    end: date | None,
    org_ids: Sequence[str] | None,
) -> list[tuple[date | None, date | None]] | None:
    """The window's slices, or None when it fits in one invocation (then run as given)."""
    client = _warehouse(settings)  # a busy embedded warehouse is one clear error, as in run_dbt
    _sync_organizations(client, settings, start)  # once, not before every slice
    calendar = window_calendar(client, settings, start, end, org_ids)
    if calendar.first is None or calendar.last_started is None or calendar.last is None:
        return None
    calls = _calls_span(client, settings)
    if calls is None:
        return None
    # Memory follows the calls: only days that can hold one are cut in slices; the empty calendar
    # days around them (a year of it at least, see warehouse_orgs) join the first and last slice.
    first, last = max(calendar.first, calls[0]), min(calendar.last_started, calls[1])
    days = slice_length(settings.refresh_slice_days, calendar.orgs_in_window, calendar.orgs_total)
    slices: list[tuple[date | None, date | None]] = list(plan_slices(first, last, days))
    if len(slices) < 2:
        return None
    slices[0] = (calendar.first, slices[0][1])
    # The last slice reaches the calendar's end, as the one-shot window does (a day that starts
    # while the slices run is still built; days not started yet never are).
    slices[-1] = (slices[-1][0], calendar.last if end is None else calendar.last_started)
    return slices


def _calls_span(client: Client, settings: Settings) -> tuple[date, date] | None:
    """The local dates that can hold a call (every zone is within a day of UTC), None: no calls."""
    calls = call_start_span(client, settings.clickhouse_database)
    if calls is None:
        return None
    return calls[0].date() - timedelta(days=1), calls[1].date() + timedelta(days=1)


def _run_slices(
    settings: Settings,
    slices: Sequence[Slice],
    progress: SliceProgress | None,
    on_slice: Callable[[], None] | None,
    capture_output: bool,
    stop: threading.Event | None,
    *,
    sync: bool,
) -> DbtOutcome:
    output: list[str] = []
    if progress and len(slices) > 1:
        progress(0, len(slices))
    outcome = DbtOutcome(success=True, command="run", exit_code=0)
    for number, piece in enumerate(slices):
        if number and stop is not None and stop.is_set():
            raise RefreshStopped(number, len(slices))
        outcome = run_dbt(
            piece.args(),
            settings,
            sync_orgs=sync,
            calendar_since=piece.first,
            capture_output=capture_output,
            env=piece.env(),
            reuse_manifest=True,
        )
        output += outcome.output
        if not outcome.success:
            if len(slices) > 1:
                where = f"slice {number + 1}/{len(slices)} ({piece.describe()})"
                outcome.error = f"{where}: {outcome.error}" if outcome.error else None
                outcome.failures = [f"{where}: {failure}" for failure in outcome.failures]
            break
        if on_slice and piece.completes_days:
            on_slice()
        if progress and len(slices) > 1:
            progress(number + 1, len(slices))
    if outcome.success and len(slices) > 1:
        _compact_marts(settings)
    return outcome.model_copy(update={"output": output})


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _compact_marts(settings: Settings) -> None:
    """Merge the incremental marts' parts after a sliced run (each slice added parts and delete
    masks): every later refresh deletes its window with a lightweight DELETE, whose cost follows
    the number of parts and masked rows (3 s instead of 1 s for a one-day refresh at 1 M calls)."""
    manifest = next(iter(_MANIFESTS.values()), None)
    if manifest is None:
        return
    client = _warehouse(settings)
    for node in manifest.nodes.values():
        name = getattr(node, "alias", None) or getattr(node, "name", "")
        if (
            node.resource_type == "model"
            and node.config.materialized == "incremental"
            and _IDENTIFIER.match(name)
        ):
            client.command(f"OPTIMIZE TABLE `{settings.dbt_schema}`.`{name}` FINAL")
