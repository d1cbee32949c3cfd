"""`python -m service reports ...`: stored reports, their revisions and diffs, and exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli_common import OrgOption, echo_json, fail, open_operations, parse_day
from service.reports.export import ExportFormat

reports_app = typer.Typer(help="Stored daily reports, their revisions and exports.", no_args_is_help=True)


@reports_app.command("list")
def reports_list(
    org: OrgOption = None,
    limit: Annotated[int, typer.Option(min=1, max=366)] = 30,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Stored reports with their headline KPIs, newest first (JSON)."""
    with open_operations() as ops:
        echo_json(ops.report_summaries(org, limit, offset))


@reports_app.command("show")
def reports_show(
    day: Annotated[str, typer.Argument(help="Local date YYYY-MM-DD, or 'latest'.")],
    org: OrgOption = None,
    revision: Annotated[int | None, typer.Option(min=1, help="An older revision (see `revisions`).")] = None,
) -> None:
    """One stored report as JSON, with its `stale` flag and revision number."""
    report_day = None if day == "latest" else parse_day(day)
    if revision is not None and report_day is None:
        raise fail("--revision needs a date, not 'latest'")
    with open_operations() as ops:
        echo_json(ops.report(org, report_day, revision))


@reports_app.command("delete")
def reports_delete(
    day: Annotated[str, typer.Argument(help="Local date YYYY-MM-DD.")],
    org: OrgOption = None,
) -> None:
    """Delete one stored report (a typo'd day, a day before the data began); recorded as a job run."""
    report_day = parse_day(day)
    assert report_day is not None
    with open_operations() as ops:
        job = ops.delete_report(org, report_day)
    typer.echo(f"job {job.id}: deleted the report of {job.org_id} on {report_day}")


@reports_app.command("revisions")
def reports_revisions(
    day: Annotated[str, typer.Argument(help="Local date YYYY-MM-DD.")],
    org: OrgOption = None,
) -> None:
    """Every revision of a day's report, oldest first: number, when, why, metrics version, stale (JSON)."""
    report_day = parse_day(day)
    assert report_day is not None
    with open_operations() as ops:
        echo_json(ops.report_revisions(org, report_day))


@reports_app.command("diff")
def reports_diff(
    day: Annotated[str, typer.Argument(help="Local date YYYY-MM-DD.")],
    org: OrgOption = None,
    from_revision: Annotated[
        int | None, typer.Option("--from", min=1, help="Older revision (default: the one before --to).")
    ] = None,
    to_revision: Annotated[
        int | None, typer.Option("--to", min=1, help="Newer revision (default: current).")
    ] = None,
) -> None:
    """What changed between two revisions of a day's report: one line per changed value (JSON)."""
    report_day = parse_day(day)
    assert report_day is not None
    with open_operations() as ops:
        echo_json(ops.report_diff(org, report_day, from_revision, to_revision))


@reports_app.command("export")
def reports_export(
    start: Annotated[str, typer.Option("--start", help="First local date YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last local date YYYY-MM-DD.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (replaced whole).")],
    org: OrgOption = None,
    format: Annotated[ExportFormat, typer.Option("--format", help="csv or parquet.")] = "csv",
) -> None:
    """Stored reports of a date range as one flat row per day (date, revision, every KPI's value,
    count and denominator), written to a file."""
    start_day, end_day = parse_day(start), parse_day(end)
    assert start_day is not None and end_day is not None
    with open_operations() as ops:
        data = ops.export_reports(org, start_day, end_day, format)
    partial = output.with_name(f".{output.name}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(output)  # never a half-written file under the asked name
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output} ({len(data):,} bytes, {format})")
