"""Runs dbt in-process (dbtRunner) with the chDB driver registered, one invocation at a time."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from service.core.config import PROJECT_ROOT, Settings, get_settings
from service.core.warehouse import get_client

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
) -> DbtOutcome:
    """Invoke dbt with `args` (as on the dbt command line) and summarize the outcome.

    `calendar_since`: the organizations' calendars must reach back to this local date.
    `capture_output`: keep the lines dbt prints at a terminal (info and above) in `output`.
    """
    from dbt.cli.main import dbtRunner

    from service.core import dbt_chdb

    settings = settings or get_settings()
    command = args[0] if args else "help"
    dbt_chdb.register()
    with DBT_LOCK, _environment(dbt_environment(settings)):
        if command not in _OFFLINE_COMMANDS:
            # Open the warehouse first, so a busy embedded warehouse is one clear error line.
            get_client(settings)
        if sync_orgs and command in _COMMANDS_NEEDING_ORGS:
            from service.core.warehouse_orgs import sync_organizations

            sync_organizations(settings, since=calendar_since)
        output: list[str] = []
        callbacks = [_line_collector(output)] if capture_output else []
        if _events_to_logging:
            callbacks.append(_event_logger(contextvars.copy_context()))
        result = dbtRunner(callbacks=callbacks).invoke(_with_project_flags(args, settings))
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


def refresh_marts(
    settings: Settings | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    org_ids: Sequence[str] | None = None,
    full_refresh: bool = False,
) -> DbtOutcome:
    """Run the models for a window of local dates (or, with no window, what the watermark says).

    Models only: the data tests scan whole tables, so they belong to `dbt build`, not to the
    frequent refresh whose cost must follow the window.
    """
    args = ["run", "--vars", json.dumps(refresh_vars(start, end, org_ids))]
    if full_refresh:
        args.append("--full-refresh")
    return run_dbt(args, settings, calendar_since=start)
