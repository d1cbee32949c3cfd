"""Operator command line: `python -m service <command>`.

Each command builds the application's own request model from its options and calls one method of
`operations()`: in this process, or in the running service that owns the embedded warehouse.
Every failure ends with one readable line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from service.access.tokens import TokenRequest
from service.cli_common import (
    ForceOption,
    OrgOption,
    echo_json,
    fail,
    finish_job,
    open_operations,
    operator_errors,
    parse_day,
    split_numbers,
)
from service.cli_notifications import notifications_app
from service.cli_reports import reports_app
from service.cli_store import store_app
from service.core.config import get_settings
from service.jobs.requests import BackfillRequest, DailyRunRequest, GenerateRequest
from service.organizations.models import NewOrganization, OrganizationChanges

app = typer.Typer(
    help="Call analytics: dbt on ClickHouse/chDB, daily report snapshots and the API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
orgs_app = typer.Typer(
    help="Organizations (the report store is their system of record).", no_args_is_help=True
)
tokens_app = typer.Typer(
    help="Access tokens (readers of some organizations, or admins).", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit trail of admin actions.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(reports_app, name="reports")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(store_app, name="store")
app.add_typer(notifications_app, name="notifications")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def dbt(ctx: typer.Context) -> None:
    """Run any dbt command (build, test, docs generate, ls, parse ...) on the configured warehouse."""
    with open_operations() as ops:
        if ops.where != "in-process":
            typer.echo(f"sending to the running service at {ops.where}", err=True)
        with _slices_bar(ctx.args, ops.where == "in-process"):
            outcome = ops.dbt(ctx.args)
    if ops.where != "in-process":  # in-process dbt printed to this terminal itself
        for line in outcome.output:
            typer.echo(line)
    if not outcome.success:
        if outcome.error:
            raise fail(outcome.error.strip().splitlines()[-1], outcome.exit_code)
        raise typer.Exit(outcome.exit_code)


@contextmanager
def _slices_bar(args: list[str], in_process: bool) -> Iterator[None]:
    """A progress bar of the slices of `dbt run --full-refresh` run in this process."""
    from service.core.dbt_runner import is_plain_full_refresh, reporting_slices

    if not (in_process and is_plain_full_refresh(args)):
        yield
        return
    from tqdm import tqdm

    with tqdm(total=0, unit="slice", desc="full refresh", file=sys.stderr, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        with reporting_slices(progress):
            yield


@app.command("demo-data")
def demo_data(
    orgs: Annotated[int, typer.Option(min=1, max=100, help="Number of organizations.")] = 3,
    days: Annotated[int, typer.Option(min=1, max=3660, help="Local days per organization.")] = 30,
    calls_per_day: Annotated[int, typer.Option(min=0, max=1_000_000, help="Calls per org per day.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same rows.")] = 42,
    end_date: Annotated[
        str | None, typer.Option(help="Last local day (YYYY-MM-DD); default: yesterday.")
    ] = None,
) -> None:
    """Write realistic, messy demo calls into the source tables and register their organizations."""
    from demo_data import generate_demo_data
    from reports_store import open_store
    from service.core.warehouse import get_client
    from service.operations.remote import running_service_url

    last_day = parse_day(end_date)
    settings = get_settings()
    url = running_service_url(settings)
    if url is not None:
        raise fail(f"the service at {url} owns the warehouse: stop it, load the demo data, start it again")
    with operator_errors(), open_store(settings.reports_store_url) as store:
        summary = generate_demo_data(
            get_client(settings),
            store,
            orgs=orgs,
            days=days,
            calls_per_day=calls_per_day,
            seed=seed,
            end_date=last_day,
            database=settings.clickhouse_database,
        )
    typer.echo(f"demo data: {summary}")


# -- report jobs ---------------------------------------------------------------------------------


@app.command("run-daily")
def run_daily(
    day: Annotated[
        str | None, typer.Option("--date", help="Local date (default: yesterday per org).")
    ] = None,
    org: OrgOption = None,
    force: ForceOption = False,
) -> None:
    """Store yesterday's report (in each organization's own timezone) for every active organization."""
    with open_operations() as ops:
        job = ops.run_daily(DailyRunRequest(date=parse_day(day), org_id=org, force=force))
    finish_job(job)


@app.command()
def backfill(
    start: Annotated[str | None, typer.Option(help="First local date, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last local date, YYYY-MM-DD (inclusive).")] = None,
    last_days: Annotated[
        int | None,
        typer.Option(min=1, max=366, help="Instead of --start/--end: the last N days that are over."),
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="One organization (default: all active).")] = None,
    force: ForceOption = False,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Also store days before an organization's first recorded call."),
    ] = False,
) -> None:
    """Store the reports of every day in a range: one dbt run for the window, then all reports."""
    from tqdm import tqdm

    from service.core.dbt_runner import reporting_slices

    with operator_errors():
        request = BackfillRequest(
            start_date=parse_day(start),
            end_date=parse_day(end),
            last_days=last_days,
            org_id=org,
            force=force,
            allow_empty=allow_empty,
        )
    with (
        open_operations() as ops,
        tqdm(total=0, unit="report", desc="backfill", file=sys.stderr, disable=None) as bar,
    ):

        def progress(done: int, total: int, unit: str = "report", desc: str = "backfill") -> None:
            bar.unit, bar.desc = unit, desc
            bar.total, bar.n = total, done
            bar.refresh()

        # A large window's dbt refresh runs in slices first (in this process): the same bar.
        with reporting_slices(lambda done, total: progress(done, total, "slice", "backfill: dbt")):
            job = ops.backfill(request, progress)
    finish_job(job)


@app.command()
def generate(
    org: OrgOption = None,
    day: Annotated[str | None, typer.Option("--date", help="Local date (default: yesterday).")] = None,
    force: ForceOption = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Store a day before the organization's first recorded call.")
    ] = False,
) -> None:
    """Refresh one organization-day, build its report and store it (JSON on stdout)."""
    with operator_errors():
        request = GenerateRequest(org_id=org, date=parse_day(day), force=force, allow_empty=allow_empty)
    with open_operations() as ops:
        result = ops.generate(request)
    metadata = result.report.get("metadata", {})
    where = f"{metadata.get('org_id')} on {metadata.get('report_start_date')}"
    if result.status == "skipped":
        typer.echo(f"skipped: the report of {where} was stored before (--force regenerates it)", err=True)
    else:
        typer.echo(f"generated and stored the report of {where}", err=True)
    echo_json(result.report)


# -- organizations -------------------------------------------------------------------------------


@orgs_app.command("list")
def orgs_list() -> None:
    """All organizations as JSON."""
    with open_operations() as ops:
        echo_json(ops.organizations())


@orgs_app.command("add")
def orgs_add(
    org_id: Annotated[str, typer.Argument(help="Organization id.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    node: Annotated[str, typer.Option("--node", help="Broker node persistent id.")],
    timezone: Annotated[str, typer.Option(help="tz database name, e.g. America/Chicago.")] = "UTC",
    excluded_numbers: Annotated[str | None, typer.Option(help="Comma-separated E.164 numbers.")] = None,
) -> None:
    """Register an organization."""
    with operator_errors():
        new = NewOrganization(
            org_id=org_id,
            name=name,
            node_persistent_id=node,
            timezone=timezone,
            excluded_numbers=split_numbers(excluded_numbers) or [],
        )
    with open_operations() as ops:
        echo_json(ops.create_organization(new))


@orgs_app.command("update")
def orgs_update(
    org_id: Annotated[str, typer.Argument(help="Organization id.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    node: Annotated[str | None, typer.Option("--node", help="Broker node persistent id.")] = None,
    timezone: Annotated[str | None, typer.Option(help="tz database name.")] = None,
    excluded_numbers: Annotated[
        str | None, typer.Option(help="Comma-separated E.164 numbers ('' clears).")
    ] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive", help="Schedule it or not.")] = None,
) -> None:
    """Change an organization; a new timezone, node or excluded numbers rebuilds its marts."""
    with operator_errors():
        given = {
            "name": name,
            "node_persistent_id": node,
            "timezone": timezone,
            "excluded_numbers": split_numbers(excluded_numbers),
            "is_active": active,
        }
        changes = OrganizationChanges(**{k: v for k, v in given.items() if v is not None})
    with open_operations() as ops:
        echo_json(ops.update_organization(org_id, changes))


@orgs_app.command("deactivate")
def orgs_deactivate(org_id: Annotated[str, typer.Argument(help="Organization id.")]) -> None:
    """Stop scheduling an organization's reports (its data and reports stay)."""
    with open_operations() as ops:
        ops.update_organization(org_id, OrganizationChanges(is_active=False))
    typer.echo(f"{org_id} deactivated")


# -- access ----------------------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'acme dashboard'.")],
    org: Annotated[
        list[str] | None, typer.Option("--org", help="An organization it may read (repeatable).")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="An admin token: everything.")] = False,
    expires_in_days: Annotated[int | None, typer.Option(help="Days until it stops working.")] = None,
) -> None:
    """Create a token and print it once (only its hash is kept)."""
    with operator_errors():
        request = TokenRequest(name=name, org_ids=org or [], admin=admin, expires_in_days=expires_in_days)
    with open_operations() as ops:
        created = ops.create_token(request)
    typer.echo(created.token)
    typer.echo(
        f"token {created.id} ({created.scope}{': ' + ', '.join(created.org_ids) if created.org_ids else ''}): "
        "shown once, store it now",
        err=True,
    )


@tokens_app.command("list")
def tokens_list() -> None:
    """Every token without its secret (JSON)."""
    with open_operations() as ops:
        echo_json(ops.tokens())


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `tokens list`).")],
) -> None:
    """Revoke a token: it stops working at once."""
    with open_operations() as ops:
        ops.revoke_token(token_id)
    typer.echo(f"token {token_id} revoked")


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Admin actions, newest first (JSON)."""
    with open_operations() as ops:
        echo_json(ops.audit(limit, offset))


@app.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler in the foreground: daily reports per org timezone, catch-up and refreshes."""
    import signal

    from service.jobs.scheduler import Scheduler
    from service.observability.logs import configure_logging
    from service.operations.local import LocalOperations
    from service.operations.remote import running_service_url

    configure_logging(get_settings())  # JSON lines on stdout (LOG_FORMAT), dbt's events included
    settings = get_settings()
    if not settings.scheduler_enabled:
        raise fail("the scheduler is disabled (SCHEDULER_ENABLED=false)")
    url = running_service_url(settings)
    if url is not None:
        raise fail(f"the service at {url} already runs the scheduler")
    with operator_errors():
        local = LocalOperations.open(settings)
    scheduler = Scheduler(local.services.jobs, on_tick=local.services.notifier.check_missed)
    local.services.notifier.start()  # this process sends the webhooks (no service runs)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    typer.echo("scheduler running; Ctrl-C to stop", err=True)
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    local.services.refresher.stopping.set()  # the organization-day or dbt slice in hand finishes, then the job ends
    scheduler.stop()
    local.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: PORT or 8000).")] = None,
) -> None:
    """Serve the API with the scheduler in the same process (the owner of the embedded warehouse)."""
    import uvicorn

    from service.api.app import create_app
    from service.core.warehouse import get_client
    from service.observability.logs import configure_logging

    configure_logging(get_settings())  # JSON lines on stdout (LOG_FORMAT), uvicorn's and dbt's too
    settings = get_settings()
    port = port or settings.port
    with operator_errors():
        get_client(settings)  # take ownership of the embedded warehouse, or explain who has it
    app_ = create_app(settings, url=f"http://{host}:{port}")
    # On SIGTERM: requests still open get 10 s, then the lifespan stops the scheduler and the running job.
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug, not an operator error: still one line, the traceback on request
        if os.environ.get("CALL_ANALYTICS_TRACEBACK"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        typer.secho(
            f"error: unexpected {type(exc).__name__}: {first} (CALL_ANALYTICS_TRACEBACK=1 shows where)",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(2)
