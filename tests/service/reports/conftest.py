"""One warehouse for the comparison and anomaly tests: ten weeks of demo calls around DST changes.

Five organizations (Chicago, Sydney, Kolkata, London, Santiago) over 2025-02-10..2025-04-20: the
window holds Chicago's and London's 23-hour days and Sydney's and Santiago's 25-hour days, every
day before 2025-02-10 is a zero-call mart row, and one Chicago day gets a clear spike (every call
reclassified as voicemail by a late output) so at least one anomaly is certain.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import yaml

from demo_data import generate_demo_data
from reports_store import Organization
from service.core.calendar import day_bounds, zone
from service.core.config import DBT_PROJECT_DIR
from service.core.dbt_runner import refresh_marts
from service.core.warehouse import get_client
from service.services import Services
from tests import oracle
from tests.conftest import make_settings

FIRST_DAY = date(2025, 2, 10)
LAST_DAY = date(2025, 4, 20)
SPIKE_DAY = date(2025, 4, 16)  # a Wednesday with nine Wednesdays of calls before it


@dataclass
class ReportEnv:
    services: Services
    orgs: list[Organization]
    daily: dict[tuple[str, date], dict[str, Any]]  # the oracle's metrics of every day with calls
    vars: dict[str, Any]  # dbt_project.yml vars: the rules the oracle is given

    def org(self, timezone: str) -> Organization:
        return next(org for org in self.orgs if org.timezone == timezone)


def _spike(client, database: str, org: Organization, day: date) -> int:
    """Reclassify every call of the organization's local `day` as voicemail; return how many."""
    start, end = day_bounds(day, zone(org.timezone))
    runs = client.query(
        f"SELECT DISTINCT r.id FROM {database}.public_runs r "
        f"INNER JOIN {database}.public_sessions s ON s.run_id = r.id "
        "WHERE s.org_id = {org:String} AND r.timestamp >= {start:DateTime64(3, 'UTC')} "
        "AND r.timestamp < {end:DateTime64(3, 'UTC')}",
        parameters={"org": org.org_id, "start": start, "end": end},
    ).result_rows
    flat = json.dumps({"result": {"call": {"call_classification": "voicemail"}}})
    now = datetime.now(UTC)
    client.insert(
        "public_node_outputs",
        [[uuid.uuid4(), run_id, uuid.uuid4(), org.node_persistent_id, flat, now] for (run_id,) in runs],
        database=database,
        column_names=["id", "run_id", "node_id", "node_persistent_id", "flat_data", "created_at"],
    )
    return len(runs)


@pytest.fixture(scope="session")
def report_env() -> ReportEnv:
    settings = make_settings("report_extras")
    services = Services.open(settings)
    client = get_client(settings)
    generate_demo_data(
        client,
        services.store,
        orgs=5,
        days=(LAST_DAY - FIRST_DAY).days + 1,
        calls_per_day=30,
        seed=23,
        end_date=LAST_DAY,
        database=settings.clickhouse_database,
    )
    orgs = services.store.list_organizations()
    chicago = next(org for org in orgs if org.timezone == "America/Chicago")
    assert _spike(client, settings.clickhouse_database, chicago, SPIKE_DAY) > 20
    outcome = refresh_marts(settings, full_refresh=True)
    assert outcome.success, outcome.failures or outcome.error
    daily = oracle.daily_metrics(
        client,
        orgs,
        database=settings.clickhouse_database,
        start=FIRST_DAY - timedelta(days=70),
        end=LAST_DAY,
    )
    rules = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    yield ReportEnv(services, orgs, daily, rules)
    services.close()
