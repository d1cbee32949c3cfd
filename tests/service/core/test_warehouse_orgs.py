"""The warehouse copy of the organizations (service/core/warehouse_orgs.py): every dbt run syncs it
first, and an unchanged copy is left as it is while any change (an organization, its zone, its
excluded numbers, the calendar's first day) rewrites it.

Real chDB: the session's embedded warehouse, a dbt schema of this module's own.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from reports_store.models import Organization
from service.core.warehouse import get_client
from service.core.warehouse_orgs import write_organizations
from tests.conftest import make_settings

SETTINGS = make_settings("warehouse_orgs")


def org(org_id: str, timezone: str = "America/Chicago", **changes: Any) -> Organization:
    return Organization(
        org_id=org_id, name=org_id.title(), node_persistent_id=f"node-{org_id}", timezone=timezone, **changes
    )


def warehouse_copy() -> tuple[list[tuple], list[tuple]]:
    client = get_client(SETTINGS)
    schema = SETTINGS.dbt_schema
    orgs = client.query(
        f"SELECT org_id, timezone, excluded_numbers, synced_at FROM {schema}.organizations ORDER BY org_id"
    ).result_rows
    days = client.query(
        f"SELECT org_id, report_date, day_start_utc, day_end_utc FROM {schema}.organization_days "
        "ORDER BY org_id, report_date"
    ).result_rows
    return orgs, days


def test_an_unchanged_copy_is_kept_and_every_change_rewrites_it() -> None:
    client = get_client(SETTINGS)
    orgs = [org("acme"), org("globex", "Europe/Berlin")]
    write_organizations(client, SETTINGS, orgs, since=date(2024, 1, 1))
    first_orgs, first_days = warehouse_copy()
    assert [row[0] for row in first_orgs] == ["acme", "globex"]

    write_organizations(client, SETTINGS, list(reversed(orgs)), since=date(2024, 1, 1))
    assert warehouse_copy() == (first_orgs, first_days), "same organizations: not rewritten (same synced_at)"

    changes = [
        [org("acme", "America/New_York"), orgs[1]],  # a zone moves every day's bounds
        [org("acme", excluded_numbers=["+15550100"]), orgs[1]],
        [orgs[0]],  # an organization removed
    ]
    for changed in changes:
        write_organizations(client, SETTINGS, changed, since=date(2024, 1, 1))
        held_orgs, held_days = warehouse_copy()
        assert [(row[0], row[1], row[2]) for row in held_orgs] == [
            (o.org_id, o.timezone, o.excluded_numbers) for o in sorted(changed, key=lambda o: o.org_id)
        ]
        assert {row[0] for row in held_days} == {o.org_id for o in changed}

    write_organizations(client, SETTINGS, [orgs[0]], since=date(2023, 6, 1))  # an older window
    _, held_days = warehouse_copy()
    assert held_days[0][1] == date(2023, 5, 31), "the calendar reaches back to the day before the window"


def test_bounds_of_a_day_that_differ_are_rewritten() -> None:
    """A changed bound (as a new zone rule would give) is noticed although the days are the same."""
    client = get_client(SETTINGS)
    orgs = [org("acme")]
    write_organizations(client, SETTINGS, orgs, since=date(2024, 1, 1))
    schema = SETTINGS.dbt_schema
    client.command(
        f"ALTER TABLE {schema}.organization_days UPDATE day_end_utc = day_end_utc - INTERVAL 1 HOUR "
        "WHERE report_date = '2024-03-10' SETTINGS mutations_sync = 1"
    )
    write_organizations(client, SETTINGS, orgs, since=date(2024, 1, 1))
    start, end = client.query(
        f"SELECT day_start_utc, day_end_utc FROM {schema}.organization_days WHERE report_date = '2024-03-10'"
    ).first_row
    assert (end - start).total_seconds() == 23 * 3600, "the DST day is back to its 23 hours"
