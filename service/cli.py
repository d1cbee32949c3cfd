"""Operator command line: `python -m service <command>`."""

from __future__ import annotations

import sys
from datetime import date
from typing import Annotated

import typer

from service.config import get_settings

app = typer.Typer(
    help="Call analytics: dbt on ClickHouse/chDB, daily report snapshots and the API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one readable line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def dbt(ctx: typer.Context) -> None:
    """Run any dbt command (build, test, docs generate, ls, parse ...) on the configured warehouse."""
    from service.dbt_runner import run_dbt
    from service.warehouse import WarehouseError

    try:
        outcome = run_dbt(ctx.args)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    if not outcome.success:
        raise typer.Exit(1)


@app.command("demo-data")
def demo_data(
    orgs: Annotated[int, typer.Option(min=1, max=100, help="Number of organizations.")] = 3,
    days: Annotated[int, typer.Option(min=1, max=3660, help="Local days per organization.")] = 30,
    calls_per_day: Annotated[int, typer.Option(min=0, max=1_000_000, help="Calls per org per day.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same rows.")] = 42,
    end_date: Annotated[
        str | None, typer.Option(help="Last local day (YYYY-MM-DD); default: yesterday per org.")
    ] = None,
) -> None:
    """Write realistic, messy demo calls into the source tables and register their organizations."""
    from reports_store import open_store
    from service.demo_data import generate_demo_data
    from service.warehouse import WarehouseError, get_client

    try:
        last_day = date.fromisoformat(end_date) if end_date else None
    except ValueError:
        raise fail(f"--end-date {end_date!r} is not a date in YYYY-MM-DD form") from None
    settings = get_settings()
    try:
        client = get_client(settings)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    store = open_store(settings.reports_store_url)
    try:
        summary = generate_demo_data(
            client,
            store,
            orgs=orgs,
            days=days,
            calls_per_day=calls_per_day,
            seed=seed,
            end_date=last_day,
            database=settings.clickhouse_database,
        )
    finally:
        store.close()
    typer.echo(f"demo data: {summary}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
