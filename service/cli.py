"""Operator command line: `python -m service <command>`.

Every failure ends with one readable line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer

from service.core.config import IDENTIFIER_RE, PHONE_RE, get_settings

app = typer.Typer(
    help="Call analytics: dbt on ClickHouse/chDB, daily report snapshots and the API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
orgs_app = typer.Typer(
    help="Organizations (the report store is their system of record).", no_args_is_help=True
)
reports_app = typer.Typer(help="Stored daily reports.", no_args_is_help=True)
app.add_typer(orgs_app, name="orgs")
app.add_typer(reports_app, name="reports")

OrgOption = Annotated[str | None, typer.Option("--org", help="Organization id (default: ORG_ID).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Regenerate reports that already exist.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one readable line to stderr and return the exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a valid date: use YYYY-MM-DD") from None


@contextmanager
def operator_errors() -> Iterator[None]:
    """Turn the service's expected failures into one line and exit code 1."""
    from reports_store import StoreError
    from service.core.calendar import UnknownTimezone
    from service.core.warehouse import WarehouseError
    from service.jobs.report_jobs import JobError, RefreshFailed
    from service.operations.remote import RemoteError
    from service.reports.builder import ReportSpecError

    try:
        yield
    except (
        JobError,
        RefreshFailed,
        StoreError,
        WarehouseError,
        ReportSpecError,
        UnknownTimezone,
        RemoteError,
    ) as exc:
        raise fail(str(exc).splitlines()[0]) from None


def remote():
    """The running service that owns the embedded warehouse, if any (CLI work is sent there)."""
    from service.operations.remote import running_service

    return running_service(get_settings())


def open_jobs():
    from service.jobs.report_jobs import Jobs, seed_default_organization

    jobs = Jobs(get_settings())
    seed_default_organization(jobs)
    return jobs


def echo_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def finish(outcome) -> None:
    finish_job(outcome.job.model_dump(mode="json"))


def finish_job(job: dict) -> None:
    """Print a job run's result (in-process or from the running service) and exit 1 if it failed."""
    counts = job.get("counts", {})
    typer.echo(
        f"job {job['id']} {job['status']}: {counts.get('generated', 0)} generated, "
        f"{counts.get('skipped', 0)} skipped, {counts.get('failed', 0)} failed"
    )
    for key, error in list((job.get("details") or {}).get("failed", {}).items())[:20]:
        typer.echo(f"  failed {key}: {error}", err=True)
    if job["status"] == "failed":
        raise fail(job.get("error") or "job failed")


# -- dbt and demo data --------------------------------------------------------------------------


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def dbt(ctx: typer.Context) -> None:
    """Run any dbt command (build, test, docs generate, ls, parse ...) on the configured warehouse."""
    from service.core.dbt_runner import MODEL_COMMANDS, run_dbt

    with operator_errors():
        service = remote()
        if service is not None:
            typer.echo(f"sending to the running service at {service.url}", err=True)
            result = service.request("POST", "/api/admin/dbt", json={"args": ctx.args})
            for failure in result["failures"]:
                typer.echo(failure, err=True)
            if not result["success"]:
                raise fail(result.get("error") or f"dbt {result['command']} failed")
            typer.echo(f"dbt {result['command']}: success")
            return
        outcome = run_dbt(ctx.args)
        if outcome.success and ctx.args and ctx.args[0] in MODEL_COMMANDS:
            open_jobs().after_refresh()  # stored reports of rebuilt days may now read as stale
    if not outcome.success:
        if outcome.error:
            raise fail(outcome.error.strip().splitlines()[-1])
        raise typer.Exit(1)


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
    from reports_store import open_store
    from service.core.warehouse import get_client
    from service.demo_data import generate_demo_data

    last_day = parse_date(end_date, "--end-date")
    settings = get_settings()
    service = remote()
    if service is not None:
        raise fail(
            f"the service at {service.url} owns the warehouse: stop it, load the demo data, start it again"
        )
    with operator_errors():
        client = get_client(settings)
        with open_store(settings.reports_store_url) as store:
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
    report_day = parse_date(day, "--date")
    with operator_errors():
        service = remote()
        if service is not None:
            body = {"date": report_day.isoformat() if report_day else None, "org_id": org, "force": force}
            finish_job(service.request("POST", "/api/admin/run-daily", json=body))
            return
        outcome = open_jobs().run_daily(report_day, org, force=force)
    finish(outcome)


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
) -> None:
    """Store the reports of every day in a range: one dbt run for the window, then all reports."""
    from datetime import timedelta

    from tqdm import tqdm

    from service.jobs.report_jobs import yesterday

    if (start is None or end is None) and last_days is None:
        raise fail("give --start and --end, or --last-days N")
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    with operator_errors():
        service = remote()
        if service is not None:
            if last_days is not None:
                raise fail("with a running service give --start and --end")
            finish_job(_remote_backfill(service, first, last, org, force))
            return
        jobs = open_jobs()
        if last_days is not None:
            orgs = [jobs.organization(org)] if org else jobs.store.list_organizations(active_only=True)
            if not orgs:
                raise fail("no active organization: add one with `orgs add` or generate demo data")
            last = min(yesterday(o) for o in orgs)
            first = last - timedelta(days=last_days - 1)
        with tqdm(total=0, unit="report", desc="backfill", file=sys.stderr, disable=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            outcome = jobs.backfill(first, last, org, force=force, progress=progress)
    finish(outcome)


def _remote_backfill(service, first: date, last: date, org: str | None, force: bool) -> dict:
    """Start the backfill in the running service and follow its progress."""
    import time

    from tqdm import tqdm

    body = {"start_date": first.isoformat(), "end_date": last.isoformat(), "org_id": org, "force": force}
    job = service.request("POST", "/api/reports/backfill", json=body)
    typer.echo(f"job {job['id']} started in the running service at {service.url}", err=True)
    with tqdm(total=100, unit="%", desc="backfill", file=sys.stderr, disable=None) as bar:
        while job["status"] == "running":
            time.sleep(0.5)
            job = service.request("GET", f"/api/jobs/{job['id']}")
            bar.n = round(100 * job["progress"])
            bar.refresh()
    return job


@app.command()
def generate(
    org: OrgOption = None,
    day: Annotated[str | None, typer.Option("--date", help="Local date (default: yesterday).")] = None,
    force: ForceOption = False,
) -> None:
    """Refresh one organization-day, build its report and store it (JSON on stdout)."""
    report_day = parse_date(day, "--date")
    with operator_errors():
        service = remote()
        if service is not None:
            body = {"org_id": org, "date": report_day.isoformat() if report_day else None, "force": force}
            echo_json(service.request("POST", "/api/reports/generate", json=body))
            return
        result = open_jobs().generate(org, report_day, force=force)
    typer.echo(f"{result.status}", err=True)
    echo_json(result.report)


# -- organizations -------------------------------------------------------------------------------


def _check_identifier(value: str, what: str) -> str:
    if not IDENTIFIER_RE.match(value):
        raise fail(f"{what} {value!r} must be 1-128 characters of letters, digits and . _ : -")
    return value


def _parse_numbers(value: str | None) -> list[str] | None:
    if value is None:
        return None
    numbers = [n.strip() for n in value.split(",") if n.strip()]
    for number in numbers:
        if not PHONE_RE.match(number):
            raise fail(f"excluded number {number!r} is not in E.164 form (+ then 2-15 digits)")
    return numbers


@orgs_app.command("list")
def orgs_list() -> None:
    """All organizations as JSON."""
    with operator_errors():
        service = remote()
        if service is not None:
            echo_json(service.request("GET", "/api/orgs"))
            return
        orgs = open_jobs().store.list_organizations()
    echo_json([org.model_dump(mode="json") for org in orgs])


@orgs_app.command("add")
def orgs_add(
    org_id: Annotated[str, typer.Argument(help="Organization id.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    node: Annotated[str, typer.Option("--node", help="Broker node persistent id.")],
    timezone: Annotated[str, typer.Option(help="tz database name, e.g. America/Chicago.")] = "UTC",
    excluded_numbers: Annotated[str | None, typer.Option(help="Comma-separated E.164 numbers.")] = None,
) -> None:
    """Register an organization."""
    from reports_store import Organization
    from service.core.calendar import zone

    _check_identifier(org_id, "org id")
    _check_identifier(node, "node id")
    numbers = _parse_numbers(excluded_numbers) or []
    with operator_errors():
        zone(timezone)
        service = remote()
        if service is not None:
            body = {
                "org_id": org_id,
                "name": name,
                "node_persistent_id": node,
                "timezone": timezone,
                "excluded_numbers": numbers,
            }
            echo_json(service.request("POST", "/api/orgs", json=body))
            return
        jobs = open_jobs()
        if jobs.store.get_organization(org_id):
            raise fail(f"organization {org_id!r} exists: use `orgs update`")
        org = jobs.save_organization(
            Organization(
                org_id=org_id, name=name, node_persistent_id=node, timezone=timezone, excluded_numbers=numbers
            )
        )
    echo_json(org.model_dump(mode="json"))


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
    from service.core.calendar import zone

    if node is not None:
        _check_identifier(node, "node id")
    numbers = _parse_numbers(excluded_numbers)
    with operator_errors():
        if timezone is not None:
            zone(timezone)
        changes = {
            "name": name,
            "node_persistent_id": node,
            "timezone": timezone,
            "excluded_numbers": numbers,
            "is_active": active,
        }
        service = remote()
        if service is not None:
            body = {k: v for k, v in changes.items() if v is not None}
            echo_json(service.request("PATCH", f"/api/orgs/{org_id}", json=body))
            return
        jobs = open_jobs()
        org = jobs.organization(org_id)
        org = jobs.save_organization(
            org.model_copy(update={k: v for k, v in changes.items() if v is not None})
        )
    echo_json(org.model_dump(mode="json"))


@orgs_app.command("deactivate")
def orgs_deactivate(org_id: Annotated[str, typer.Argument(help="Organization id.")]) -> None:
    """Stop scheduling an organization's reports (its data and reports stay)."""
    with operator_errors():
        service = remote()
        if service is not None:
            service.request("PATCH", f"/api/orgs/{org_id}", json={"is_active": False})
        else:
            jobs = open_jobs()
            jobs.organization(org_id)
            jobs.store.deactivate_organization(org_id)
    typer.echo(f"{org_id} deactivated")


# -- stored reports --------------------------------------------------------------------------------


@reports_app.command("list")
def reports_list(
    org: OrgOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 30,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Stored reports with their headline KPIs, newest first (JSON)."""
    with operator_errors():
        service = remote()
        if service is not None:
            params = {"limit": limit, "offset": offset} | ({"org_id": org} if org else {})
            echo_json(service.request("GET", "/api/reports", params=params))
            return
        jobs = open_jobs()
        summaries = jobs.store.list_report_summaries(jobs.organization(org).org_id, limit, offset)
    echo_json(summaries)


@reports_app.command("show")
def reports_show(
    day: Annotated[str, typer.Argument(help="Local date YYYY-MM-DD, or 'latest'.")],
    org: OrgOption = None,
) -> None:
    """One stored report as JSON, with its `stale` flag."""
    with operator_errors():
        service = remote()
        if service is not None:
            path = "/api/reports/latest" if day == "latest" else f"/api/reports/{parse_date(day, 'date')}"
            echo_json(service.request("GET", path, params={"org_id": org} if org else {}))
            return
        jobs = open_jobs()
        org_id = jobs.organization(org).org_id
        if day == "latest":
            latest = jobs.store.get_latest_report(org_id)
            report_day = latest.report_date if latest else None
        else:
            report_day = parse_date(day, "date")
        report = jobs.stored_report(org_id, report_day) if report_day else None
    if report is None:
        raise fail(f"no stored report for {org_id} on {day}: generate it first")
    echo_json(report)


@app.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler in the foreground: daily reports per org timezone, catch-up and refreshes."""
    import logging
    import signal

    from service.jobs.scheduler import Scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    if not settings.scheduler_enabled:
        raise fail("the scheduler is disabled (SCHEDULER_ENABLED=false)")
    service = remote()
    if service is not None:
        raise fail(f"the service at {service.url} already runs the scheduler")
    with operator_errors():
        scheduler = Scheduler(open_jobs())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    typer.echo("scheduler running; Ctrl-C to stop", err=True)
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    scheduler.stop()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: PORT or 8000).")] = None,
) -> None:
    """Serve the API with the scheduler in the same process (the owner of the embedded warehouse)."""
    import logging

    import uvicorn

    from service.api.app import create_app
    from service.core.warehouse import get_client

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    port = port or settings.port
    with operator_errors():
        get_client(settings)  # take ownership of the embedded warehouse, or explain who has it
    app_ = create_app(settings, url=f"http://{host}:{port}")
    uvicorn.run(app_, host=host, port=port, log_level="info", access_log=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
