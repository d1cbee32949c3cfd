"""Where daily report snapshots are stored: `daily_reports` (the current report per org and day)
and `report_revisions` (every report ever stored for the day, appended in the same transaction)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson

from reports_store.base import ReportSnapshotStore
from reports_store.models import ReportOverview, ReportRevision, RevisionReason, StoredReport
from reports_store.sql.base import SqlStoreBase, as_date, as_utc, cols, dumps, marks, utcnow
from reports_store.sql.organizations import require_organization

_REPORT_COLUMNS = ("org_id", "report_date", "report_data", "created_at", "updated_at", "revision")
_REVISION_COLUMNS = (
    "org_id",
    "report_date",
    "revision",
    "generated_at",
    "reason",
    "metrics_version",
    "mart_refreshed_at",
    "input_watermark",
    "report_data",
)
_NEWEST_REPORTS = (
    "SELECT r.org_id, r.report_date, r.created_at FROM daily_reports r JOIN "
    "(SELECT org_id, MAX(report_date) AS newest FROM daily_reports GROUP BY org_id) n "
    "ON r.org_id = n.org_id AND r.report_date = n.newest"
)
# `->>` extracts a JSON value as text on both SQLite (3.38+) and DuckDB; as in `is_stale`, a
# missing or empty fingerprint on either side is not stale.
_STALE_REPORTS = (
    "FROM daily_reports r JOIN mart_versions v "
    "ON v.org_id = r.org_id AND v.report_date = r.report_date "
    "WHERE r.report_date >= ? AND v.fingerprint IS NOT NULL AND v.fingerprint <> '' "
    "AND COALESCE(r.report_data ->> '$.metadata.mart_fingerprint', '') NOT IN ('', v.fingerprint)"
)
_STALE_COUNTS = f"SELECT r.org_id, COUNT(*) {_STALE_REPORTS} GROUP BY r.org_id"
_STALE_KEYS = f"SELECT r.org_id, r.report_date {_STALE_REPORTS} ORDER BY r.report_date, r.org_id"
_NEXT_REVISION = (
    "SELECT COALESCE(MAX(revision), 0) + 1 FROM report_revisions WHERE org_id = ? AND report_date = ?"
)


def _report_from_row(row: tuple[Any, ...]) -> StoredReport:
    org_id, report_date, report_data, created_at, updated_at, revision = row
    created = as_utc(created_at)
    return StoredReport(
        org_id=org_id,
        report_date=as_date(report_date),
        report_data=orjson.loads(report_data),
        created_at=created,
        updated_at=as_utc(updated_at) or created,
        revision=revision or 1,
    )


def _revision_from_row(row: tuple[Any, ...]) -> ReportRevision:
    org_id, report_date, revision, generated_at, reason, metrics_version, refreshed, watermark, data = row
    return ReportRevision(
        org_id=org_id,
        report_date=as_date(report_date),
        revision=revision,
        generated_at=as_utc(generated_at),
        reason=reason,
        metrics_version=metrics_version,
        mart_refreshed_at=refreshed,
        input_watermark=watermark,
        report_data=orjson.loads(data),
    )


class SqlReportSnapshotStore(SqlStoreBase, ReportSnapshotStore):
    def save_report(
        self,
        org_id: str,
        report_date: date,
        report_data: Mapping[str, Any],
        *,
        overwrite: bool = True,
        reason: RevisionReason = "manual",
        input_watermark: str | None = None,
    ) -> bool:
        payload = dumps(dict(report_data))
        now = self._ts_param(utcnow())
        day = self._date_param(report_date)
        on_conflict = (
            "DO UPDATE SET report_data = excluded.report_data, updated_at = excluded.updated_at, "
            "revision = excluded.revision"
            if overwrite
            else "DO NOTHING"
        )
        # RETURNING yields a row only when something was written, so it tells whether we won the race.
        sql = (
            f"INSERT INTO daily_reports ({cols(_REPORT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (org_id, report_date) {on_conflict} RETURNING 1"
        )
        metadata = report_data.get("metadata") or {}
        with self._session(write=True) as conn:
            require_organization(conn, org_id)
            (revision,) = conn.execute(_NEXT_REVISION, [org_id, day]).fetchone()
            written = conn.execute(sql, [org_id, day, payload, now, now, revision]).fetchall()
            if written:
                conn.execute(
                    f"INSERT INTO report_revisions ({cols(_REVISION_COLUMNS)}) "
                    f"VALUES ({marks(len(_REVISION_COLUMNS))})",
                    [
                        org_id,
                        day,
                        revision,
                        now,
                        reason,
                        metadata.get("metrics_version"),
                        metadata.get("mart_refreshed_at"),
                        input_watermark or metadata.get("input_watermark"),
                        payload,
                    ],
                )
        return bool(written)

    def _select_revisions(self, where: str, params: list[Any]) -> list[ReportRevision]:
        sql = f"SELECT {cols(_REVISION_COLUMNS)} FROM report_revisions WHERE {where} ORDER BY revision"
        with self._session() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_revision_from_row(row) for row in rows]

    def list_revisions(self, org_id: str, report_date: date) -> list[ReportRevision]:
        return self._select_revisions(
            "org_id = ? AND report_date = ?", [org_id, self._date_param(report_date)]
        )

    def get_revision(self, org_id: str, report_date: date, revision: int) -> ReportRevision | None:
        found = self._select_revisions(
            "org_id = ? AND report_date = ? AND revision = ?",
            [org_id, self._date_param(report_date), revision],
        )
        return found[0] if found else None

    def changed_reports(self, since: date) -> list[tuple[str, date]]:
        with self._session() as conn:
            rows = conn.execute(_STALE_KEYS, [self._date_param(since)]).fetchall()
        return [(org_id, as_date(day)) for org_id, day in rows]

    def reports_between(self, org_id: str, start: date, end: date) -> list[StoredReport]:
        return self._select_reports(
            "org_id = ? AND report_date BETWEEN ? AND ?",
            [org_id, self._date_param(start), self._date_param(end)],
            "ORDER BY report_date",
        )

    def _select_reports(self, where: str, params: list[Any], tail: str = "") -> list[StoredReport]:
        sql = f"SELECT {cols(_REPORT_COLUMNS)} FROM daily_reports WHERE {where} {tail}"
        with self._session() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_report_from_row(row) for row in rows]

    def get_report(self, org_id: str, report_date: date) -> StoredReport | None:
        params = [org_id, self._date_param(report_date)]
        found = self._select_reports("org_id = ? AND report_date = ?", params)
        return found[0] if found else None

    def get_latest_report(self, org_id: str) -> StoredReport | None:
        found = self.list_reports(org_id, limit=1)
        return found[0] if found else None

    def get_recent_reports(self, org_id: str, limit: int = 30) -> list[StoredReport]:
        return self.list_reports(org_id, limit)

    def list_reports(self, org_id: str, limit: int = 30, offset: int = 0) -> list[StoredReport]:
        return self._select_reports(
            "org_id = ?", [org_id, limit, offset], "ORDER BY report_date DESC LIMIT ? OFFSET ?"
        )

    def count_reports(self, org_id: str) -> int:
        with self._session() as conn:
            row = conn.execute("SELECT COUNT(*) FROM daily_reports WHERE org_id = ?", [org_id]).fetchone()
        return int(row[0])

    def report_dates(self, org_id: str, start: date, end: date) -> set[date]:
        with self._session() as conn:
            rows = conn.execute(
                "SELECT report_date FROM daily_reports WHERE org_id = ? AND report_date BETWEEN ? AND ?",
                [org_id, self._date_param(start), self._date_param(end)],
            ).fetchall()
        return {as_date(row[0]) for row in rows}

    def delete_report(self, org_id: str, report_date: date) -> bool:
        with self._session(write=True) as conn:
            deleted = conn.execute(
                "DELETE FROM daily_reports WHERE org_id = ? AND report_date = ? RETURNING 1",
                [org_id, self._date_param(report_date)],
            ).fetchall()
        return bool(deleted)

    def report_overview(self, stale_since: date) -> list[ReportOverview]:
        with self._session() as conn:
            newest = conn.execute(_NEWEST_REPORTS).fetchall()
            stale = dict(conn.execute(_STALE_COUNTS, [self._date_param(stale_since)]).fetchall())
        return [
            ReportOverview(
                org_id=org_id,
                newest_report_date=as_date(report_date),
                newest_report_created_at=as_utc(created_at),
                stale_reports=int(stale.get(org_id, 0)),
            )
            for org_id, report_date, created_at in sorted(newest)
        ]
