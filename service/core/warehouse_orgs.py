"""Copies the organizations (system of record: the report store) into the warehouse for dbt.

Before each dbt run the warehouse's `organizations` and `organization_days` (the UTC bounds of
each organization's local days) in DBT_SCHEMA are brought up to date: rewritten when they differ
from the store's, left alone when not. The models read them as the `service` source.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from clickhouse_connect.driver.client import Client

from reports_store.models import Organization
from service.core.calendar import local_days, today_in, zone
from service.core.config import Settings, get_settings
from service.core.warehouse import call_start_span, get_client

# Days of calendar kept before the oldest call and after today (local), so windows and late
# data always find their day.
CALENDAR_MIN_HISTORY_DAYS = 400
CALENDAR_FUTURE_DAYS = 2

ORGANIZATIONS_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.organizations
(
    org_id             String,
    name               String,
    node_persistent_id String,
    timezone           String,
    excluded_numbers   Array(String),
    is_active          Bool,
    synced_at          DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY org_id
"""

ORGANIZATION_DAYS_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.organization_days
(
    org_id        String,
    report_date   Date,
    day_start_utc DateTime64(3, 'UTC'),
    day_end_utc   DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (org_id, day_start_utc)
"""


def calendar_first_day(client: Client, settings: Settings, since: date | None) -> date:
    """Earliest calendar day needed: before the oldest call, a year back, or the requested start."""
    calls = call_start_span(client, settings.clickhouse_database)
    candidates = [datetime.now(UTC).date() - timedelta(days=CALENDAR_MIN_HISTORY_DAYS)]
    if calls is not None:
        candidates.append(calls[0].date())
    if since is not None:
        candidates.append(since)
    return min(candidates) - timedelta(days=1)


def sync_organizations(settings: Settings | None = None, *, since: date | None = None) -> list[Organization]:
    """Copy the store's organizations and their calendars into the warehouse; return the orgs."""
    settings = settings or get_settings()
    from reports_store import open_store

    store = open_store(settings.reports_store_url)
    try:
        orgs = store.list_organizations()
    finally:
        store.close()
    write_organizations(get_client(settings), settings, orgs, since=since)
    return orgs


def write_organizations(
    client: Client, settings: Settings, orgs: list[Organization], *, since: date | None = None
) -> None:
    """Replace the warehouse copy of `orgs` and their local-day calendars (unless it is current)."""
    schema = settings.dbt_schema
    client.command(f"CREATE DATABASE IF NOT EXISTS {schema}")
    client.command(ORGANIZATIONS_DDL.format(schema=schema))
    client.command(ORGANIZATION_DAYS_DDL.format(schema=schema))
    first = calendar_first_day(client, settings, since)
    now = datetime.now(UTC)
    org_rows = [
        [org.org_id, org.name, org.node_persistent_id, org.timezone, org.excluded_numbers, org.is_active]
        for org in orgs
    ]
    calendars = {
        org.org_id: _calendar(
            org.timezone, first, today_in(zone(org.timezone), now) + timedelta(days=CALENDAR_FUTURE_DAYS)
        )
        for org in orgs
    }
    if _copy_is_current(client, schema, org_rows, calendars):
        return  # every dbt run syncs first: rewriting an unchanged copy cost each one 0.1-0.3 s
    client.command(f"TRUNCATE TABLE {schema}.organizations")
    client.command(f"TRUNCATE TABLE {schema}.organization_days")
    if org_rows:
        client.insert(
            "organizations",
            [row + [now] for row in org_rows],
            database=schema,
            column_names=[*_ORGANIZATION_COLUMNS, "synced_at"],
        )
        client.insert(
            "organization_days",
            [[org_id, *day] for org_id, calendar in calendars.items() for day in calendar.days],
            database=schema,
            column_names=["org_id", "report_date", "day_start_utc", "day_end_utc"],
        )


_ORGANIZATION_COLUMNS = ["org_id", "name", "node_persistent_id", "timezone", "excluded_numbers", "is_active"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class _Calendar:
    days: tuple[tuple[date, datetime, datetime], ...]  # (local date, UTC start, UTC end)
    summary: tuple[date, date, int, int, int]  # first, last, days, sums of the bounds (epoch ms)


@functools.lru_cache(maxsize=1024)
def _calendar(timezone: str, first: date, last: date) -> _Calendar:
    """An organization's calendar rows (the same for every run of a day: computed once)."""
    days = tuple(local_days(timezone, first, last))
    millis = timedelta(milliseconds=1)
    return _Calendar(
        days=days,
        summary=(
            first,
            last,
            len(days),
            sum((start - _EPOCH) // millis for _, start, _ in days),
            sum((end - _EPOCH) // millis for _, _, end in days),
        ),
    )


def _copy_is_current(
    client: Client, schema: str, org_rows: list[list], calendars: dict[str, _Calendar]
) -> bool:
    """Whether the warehouse already holds exactly these organizations and calendars: the
    organizations row for row, each calendar by its first and last day, its day count and the
    sums of its UTC bounds (a changed zone rule moves a bound, and so a sum)."""
    held_orgs = client.query(
        f"SELECT {', '.join(_ORGANIZATION_COLUMNS)} FROM {schema}.organizations ORDER BY org_id"
    ).result_rows
    if [list(row) for row in held_orgs] != sorted(org_rows, key=lambda row: row[0]):
        return False
    held_days = client.query(
        "SELECT org_id, min(report_date), max(report_date), count(),"
        " sum(toUnixTimestamp64Milli(day_start_utc)), sum(toUnixTimestamp64Milli(day_end_utc))"
        f" FROM {schema}.organization_days GROUP BY org_id ORDER BY org_id"
    ).result_rows
    expected = [(org_id, *calendars[org_id].summary) for org_id in sorted(calendars)]
    return [tuple(row) for row in held_days] == expected
