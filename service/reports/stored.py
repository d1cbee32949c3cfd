"""Stored reports as readers see them: the snapshot plus its `stale` flag and revision number,
each day's revisions and the diff between two, listing summaries and flat export rows.

Reads touch the report store only, never the warehouse. A report is stale when its day's mart
numbers (a fingerprint recorded after every refresh) changed after it was generated.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from reports_store import MartVersion, Organization, ReportRevision, ReportStore, StoredReport
from service.core.calendar import DateWindow
from service.core.config import Settings
from service.core.errors import NotFound
from service.reports.catalog import load_catalog
from service.reports.diff import diff_reports
from service.reports.export import export_columns, export_row

# A revision's summary: the stored revision without what names it or its body.
_NOT_SUMMARIZED = {"org_id", "report_date", "report_data"}


def is_stale(stored: StoredReport | ReportRevision, versions: dict[date, MartVersion]) -> bool:
    version = versions.get(stored.report_date)
    fingerprint = stored.report_data.get("metadata", {}).get("mart_fingerprint")
    return bool(version and version.fingerprint and fingerprint and version.fingerprint != fingerprint)


class StoredReports:
    def __init__(self, settings: Settings, store: ReportStore) -> None:
        self.settings = settings
        self.store = store

    def _with_stale_flag(self, stored: StoredReport | ReportRevision) -> dict[str, Any]:
        versions = self.store.get_mart_versions(stored.org_id, [stored.report_date])
        return dict(stored.report_data) | {"stale": is_stale(stored, versions), "revision": stored.revision}

    def get(self, org: Organization, day: date, revision: int | None = None) -> dict[str, Any] | None:
        """The current report of `day`, or its revision `revision`."""
        if revision is not None:
            found = self.store.get_revision(org.org_id, day, revision)
            return None if found is None else self._with_stale_flag(found)
        stored = self.store.get_report(org.org_id, day)
        return None if stored is None else self._with_stale_flag(stored)

    def latest(self, org: Organization) -> dict[str, Any] | None:
        stored = self.store.get_latest_report(org.org_id)
        return None if stored is None else self._with_stale_flag(stored)

    def require(self, org: Organization, day: date | None, revision: int | None = None) -> dict[str, Any]:
        """The report of `day` (None: the latest; `revision`: an older one), or NotFound saying why."""
        if day is None:
            report = self.latest(org)
            if report is None:
                raise NotFound(f"No stored report for {org.org_id} yet: generate or backfill one")
            return report
        report = self.get(org, day, revision)
        if report is None and revision is not None:
            raise NotFound(f"{org.org_id} on {day} has no revision {revision}: see its /revisions")
        if report is None:
            raise NotFound(f"No stored report for {org.org_id} on {day}: generate it first")
        return report

    def _require_revisions(self, org: Organization, day: date) -> list[ReportRevision]:
        revisions = self.store.list_revisions(org.org_id, day)
        if not revisions:
            raise NotFound(f"No stored report for {org.org_id} on {day}: generate it first")
        return revisions

    def revisions(self, org: Organization, day: date) -> list[dict[str, Any]]:
        """Every revision of the day's report, oldest first, with its `stale` flag (no bodies)."""
        revisions = self._require_revisions(org, day)
        versions = self.store.get_mart_versions(org.org_id, [day])
        return [
            found.model_dump(exclude=_NOT_SUMMARIZED) | {"stale": is_stale(found, versions)}
            for found in revisions
        ]

    def diff(
        self, org: Organization, day: date, from_revision: int | None = None, to_revision: int | None = None
    ) -> dict[str, Any]:
        """The changes from revision `from_revision` (default: the one before `to`) to `to_revision`
        (default: the newest)."""
        revisions = {found.revision: found for found in self._require_revisions(org, day)}
        to = max(revisions) if to_revision is None else to_revision
        start = (to - 1 if to > 1 else to) if from_revision is None else from_revision
        for number in (to, start):
            if number not in revisions:
                raise NotFound(
                    f"{org.org_id} on {day} has no revision {number} (it has 1 to {max(revisions)})"
                )
        changes = diff_reports(revisions[start].report_data, revisions[to].report_data)
        return {"from": start, "to": to, "changes": changes}

    def export(self, org: Organization, window: DateWindow) -> tuple[list[str], list[dict[str, Any]]]:
        """The columns and one flat row per stored day of the window, oldest first
        (`service.reports.export`: date, revision, every KPI's value, count and denominator)."""
        catalog = load_catalog(self.settings.dbt_project_dir)
        rows = [
            export_row(catalog, report.report_date, report.revision, report.report_data)
            for report in self.store.reports_between(org.org_id, window.start, window.end)
        ]
        return export_columns(catalog), rows

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
