"""Stored reports as readers see them: the snapshot plus its `stale` flag, and listing summaries.

Reads touch the report store only, never the warehouse. A report is stale when its day's mart
numbers (a fingerprint recorded after every refresh) changed after it was generated.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from reports_store import MartVersion, Organization, ReportStore, StoredReport
from service.core.config import Settings
from service.core.errors import NotFound
from service.reports.catalog import load_catalog


def is_stale(stored: StoredReport, versions: dict[date, MartVersion]) -> bool:
    version = versions.get(stored.report_date)
    fingerprint = stored.report_data.get("metadata", {}).get("mart_fingerprint")
    return bool(version and version.fingerprint and fingerprint and version.fingerprint != fingerprint)


class StoredReports:
    def __init__(self, settings: Settings, store: ReportStore) -> None:
        self.settings = settings
        self.store = store

    def _with_stale_flag(self, stored: StoredReport) -> dict[str, Any]:
        versions = self.store.get_mart_versions(stored.org_id, [stored.report_date])
        return dict(stored.report_data) | {"stale": is_stale(stored, versions)}

    def get(self, org: Organization, day: date) -> dict[str, Any] | None:
        stored = self.store.get_report(org.org_id, day)
        return None if stored is None else self._with_stale_flag(stored)

    def latest(self, org: Organization) -> dict[str, Any] | None:
        stored = self.store.get_latest_report(org.org_id)
        return None if stored is None else self._with_stale_flag(stored)

    def require(self, org: Organization, day: date | None) -> dict[str, Any]:
        """The report of `day` (None: the latest), or NotFound saying how to get one."""
        if day is None:
            report = self.latest(org)
            if report is None:
                raise NotFound(f"No stored report for {org.org_id} yet: generate or backfill one")
            return report
        report = self.get(org, day)
        if report is None:
            raise NotFound(f"No stored report for {org.org_id} on {day}: generate it first")
        return report

    def summaries(self, org: Organization, limit: int = 30, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first: the dates and each catalogue KPI's summary value."""
        catalog = load_catalog(self.settings.dbt_project_dir)
        return [
            {
                "org_id": report.org_id,
                "report_date": report.report_date,
                "created_at": report.created_at,
                "updated_at": report.updated_at,
                **catalog.summarize(report.report_data),
            }
            for report in self.store.list_reports(org.org_id, limit, offset)
        ]
