"""What every CLI command module shares: option types, one-line failures, the operations, output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from reports_store import JobRun, StoreError
from reports_store.rules import UnknownTimezone
from service.core.config import get_settings
from service.core.errors import ServiceError, describe_validation_error
from service.operations import Operations, operations

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization id (default: ORG_ID).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Regenerate reports that already exist.")]
DateOption = Annotated[str | None, typer.Option("--date", help="Local date, YYYY-MM-DD.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one readable line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def operator_errors() -> Iterator[None]:
    """Turn the service's expected failures and invalid options into one line and exit code 1."""
    try:
        yield
    except ValidationError as exc:
        raise fail(describe_validation_error(exc)) from None
    except (ServiceError, StoreError, UnknownTimezone) as exc:
        raise fail((str(exc).splitlines() or [type(exc).__name__])[0]) from None


@contextmanager
def open_operations() -> Iterator[Operations]:
    with operator_errors():
        ops = operations(get_settings())
        try:
            yield ops
        finally:
            ops.close()


def echo_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
    # Dates and times as the API writes them (ISO 8601), whatever the operations returned.
    typer.echo(json.dumps(value, indent=2, default=lambda item: to_jsonable_python(item, fallback=str)))


def finish_job(job: JobRun) -> None:
    """Print a job run's result and exit 1 if it failed."""
    counts = job.counts
    typer.echo(
        f"job {job.id} {job.status}: {counts.get('generated', 0)} generated, "
        f"{counts.get('skipped', 0)} skipped, {counts.get('failed', 0)} failed"
    )
    for key, error in list(job.details.get("failed", {}).items())[:20]:
        typer.echo(f"  failed {key}: {error}", err=True)
    if job.details.get("note"):
        typer.echo(f"  {job.details['note']}", err=True)
    if job.status in ("failed", "interrupted"):
        raise fail(job.error or f"job {job.status}")


def parse_day(value: str | None) -> date | None:
    """A YYYY-MM-DD option; the request models check its range."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{value!r} is not a valid date: use YYYY-MM-DD") from None


def split_numbers(value: str | None) -> list[str] | None:
    return None if value is None else [n.strip() for n in value.split(",") if n.strip()]


# -- dbt and demo data --------------------------------------------------------------------------
