"""`python -m service store ...`: back up, restore and check the report store (REPORTS_STORE_URL).

These commands work on the store file itself, never through the running service: a SQLite store is
backed up and checked while the service runs; a DuckDB store (one process per file) only while no
service has it open. A restore refuses while a service or any other process has the store open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reports_store.maintenance import (
    CheckResult,
    backup_file,
    backup_store,
    check_store,
    restore_store,
    store_file,
)
from service.core.config import get_settings

store_app = typer.Typer(
    help="The report store file: backup, restore and integrity check.", no_args_is_help=True
)


def _size(size_bytes: int) -> str:
    return f"{size_bytes / 1_000_000:.1f} MB" if size_bytes >= 100_000 else f"{size_bytes / 1000:.1f} kB"


def _require_ok(check: CheckResult) -> None:
    from service.cli_common import fail

    if not check.ok:
        raise fail(f"{check.store}: {check.summary()}")


@store_app.command("backup")
def backup(
    path: Annotated[
        str,
        typer.Argument(
            help="The backup file, or a folder (existing, or ending in /) for a time-stamped file."
        ),
    ],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing backup file.")] = False,
) -> None:
    """A consistent copy of the report store, also while the service runs (SQLite), checked once written."""
    from service.cli_common import operator_errors

    with operator_errors():
        store = store_file(get_settings().reports_store_url)
        result = backup_store(store, path, overwrite=overwrite)
    typer.echo(f"backed up {store} to {result.path} ({_size(result.size_bytes)}): {result.check.summary()}")


@store_app.command("restore")
def restore(
    path: Annotated[Path, typer.Argument(help="A backup made by `store backup`.")],
) -> None:
    """Replace the report store with a backup (stop the service first); the current file is kept beside it."""
    from service.cli_common import fail, operator_errors
    from service.operations.remote import running_service_url

    with operator_errors():
        settings = get_settings()
        url = running_service_url(settings)
        if url is not None:
            raise fail(
                f"the service at {url} is running and uses the report store: stop it, restore, start it"
            )
        store = store_file(settings.reports_store_url)
        result = restore_store(store, path)
    kept = f"; the previous store is kept as {result.previous}" if result.previous else ""
    typer.echo(f"restored {result.restored_from} into {store}: {result.check.summary()}{kept}")


@store_app.command("check")
def check(
    path: Annotated[
        Path | None, typer.Argument(help="A backup file to check instead of the configured store.")
    ] = None,
) -> None:
    """Integrity and schema version of the report store (or of a backup); exit 1 when not ok."""
    from service.cli_common import operator_errors

    with operator_errors():
        store = backup_file(path) if path is not None else store_file(get_settings().reports_store_url)
        result = check_store(store)
    _require_ok(result)
    typer.echo(f"ok: {result.store}: {result.summary()}")
