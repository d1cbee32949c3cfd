"""The KPI catalogue: one source (the mart YAML) for the report, the summaries, the endpoints and the page."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.core.config import DBT_PROJECT_DIR
from service.core.errors import CatalogError
from service.jobs.report_jobs import yesterday
from service.jobs.requests import GenerateRequest
from service.reports.catalog import MARTS_YAML, load_catalog, read_catalog
from service.services import Services
from tests.conftest import load_demo_data, make_settings

NEW_KPI_YAML = """
        - key: transferred_success_calls
          numerator: transferred_success_calls
          denominator: classified_calls
          object_keys: {count: count, denominator: total_calls, percentage: percentage}
          label: Successful and transferred
          summary_key: transferred_success_percentage
          trend: Transfer rate
          endpoint: /transferred-success-stats
"""


def copy_project(tmp_path: Path) -> Path:
    target = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, target, ignore=shutil.ignore_patterns("target", "logs"))
    return target


def add_kpi(project: Path) -> None:
    """What an analytics engineer writes for a new KPI: one SQL column and one YAML entry."""
    sql = project / "models/marts/agg_daily_org_metrics.sql"
    text = sql.read_text()
    text = text.replace(
        "        max(loaded_at) as loaded_at\n",
        "        countIf(is_success and is_transferred_for_booking) as transferred_success_calls,\n"
        "        max(loaded_at) as loaded_at\n",
    )
    text = text.replace(
        "        daily.loaded_at as loaded_at,\n",
        "        ifNull(daily.transferred_success_calls, 0) as transferred_success_calls,\n"
        "        daily.loaded_at as loaded_at,\n",
    )
    sql.write_text(text)
    marts = project / MARTS_YAML
    text = marts.read_text()
    anchor = "\n    columns:\n      - name: org_id\n        data_tests:\n          - not_null\n          - relationships:"
    first = text.index("      report_kpis:")
    at = text.index(anchor, first)
    marts.write_text(text[:at] + NEW_KPI_YAML.rstrip("\n") + text[at:])


def test_the_catalogue_declares_every_kpi_with_a_label_and_the_seed_endpoints():
    catalog = load_catalog(DBT_PROJECT_DIR)
    keys = [kpi.key for kpi in catalog.kpis]
    assert keys[:2] == ["total_calls", "classified_calls"]
    assert all(kpi.label and kpi.format for kpi in catalog.kpis)
    endpoints = set(catalog.endpoint_kpis()) | {b.endpoint for b in catalog.breakdowns}
    assert {
        "/non-convertible-calls",
        "/non-convertible-calls-carrier-not-qualified",
        "/non-convertible-calls-with-carrier-not-qualified",
        "/carrier-transfer-stats",
        "/successful-transfer-stats",
        "/pricing-notes-stats",
        "/call-stage-stats",
        "/total-calls-and-total-duration-stats",
    } <= endpoints


def test_metrics_version_follows_definitions_not_refresh_windows(tmp_path):
    project = copy_project(tmp_path)
    before = read_catalog(project).metrics_version
    assert read_catalog(project).metrics_version == before  # stable across reads
    config = project / "dbt_project.yml"
    config.write_text(
        config.read_text().replace("refresh_start_date: null", "refresh_start_date: '2025-01-01'")
    )
    assert read_catalog(project).metrics_version == before  # a window is not a definition
    config.write_text(
        config.read_text().replace("max_output_lateness_hours: 48", "max_output_lateness_hours: 24")
    )
    changed_rule = read_catalog(project).metrics_version
    assert changed_rule != before
    marts = project / MARTS_YAML
    marts.write_text(marts.read_text().replace("label: Success rate", "label: Win rate", 1))
    assert read_catalog(project).metrics_version != changed_rule


def test_an_invalid_declaration_is_one_clear_error(tmp_path):
    project = copy_project(tmp_path)
    marts = project / MARTS_YAML
    marts.write_text(marts.read_text().replace("- key: success_rate_percent", "- key: Success Rate", 1))
    with pytest.raises(CatalogError, match="report_kpis"):
        read_catalog(project)


def test_a_kpi_added_with_sql_and_yaml_reaches_report_summary_catalogue_and_endpoint(tmp_path):
    project = copy_project(tmp_path)
    add_kpi(project)
    settings = make_settings("catalog_kpi", dbt_project_dir=project, dbt_target_path=tmp_path / "target")
    load_demo_data(settings, orgs=1, days=3, calls_per_day=30, seed=4)
    services = Services.open(settings)
    try:
        org = services.organizations.list()[0]
        day = yesterday(org) - timedelta(days=1)
        report = services.jobs.generate(GenerateRequest(org_id=org.org_id, date=day)).report
        new = report["kpis"]["transferred_success_calls"]
        assert set(new) == {"count", "total_calls", "percentage"}
        assert new["total_calls"] == report["kpis"]["classified_calls"]
        assert (
            0
            <= new["count"]
            <= report["kpis"]["successfully_transferred_for_booking"][
                "successfully_transferred_for_booking_count"
            ]
        )
        summary = services.stored.summaries(org)[0]
        assert summary["transferred_success_percentage"] == new["percentage"]
    finally:
        services.close()
    app = create_app(settings)
    assert "/transferred-success-stats" in app.openapi()["paths"]
    with TestClient(app) as client:
        catalog = client.get("/api/catalog").json()
        assert catalog["kpis"][-1]["key"] == "transferred_success_calls"
        assert catalog["kpis"][-1]["label"] == "Successful and transferred"
        assert catalog["metrics_version"] == report["metadata"]["metrics_version"]
