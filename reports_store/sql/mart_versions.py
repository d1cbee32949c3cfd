"""Where mart versions are stored: the `mart_versions` table, one row per org and day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from reports_store.base import MartVersionStore
from reports_store.models import MartVersion
from reports_store.sql.base import SqlStoreBase, as_date, marks

_IN_CHUNK = 500  # dates per IN (...) list, well under SQLite's bound-parameter limit
_SELECT = "SELECT org_id, report_date, mart_refreshed_at, fingerprint FROM mart_versions WHERE org_id = ?"
_UPSERT = (
    "INSERT INTO mart_versions (org_id, report_date, mart_refreshed_at, fingerprint) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (org_id, report_date) DO UPDATE SET "
    "mart_refreshed_at = excluded.mart_refreshed_at, fingerprint = excluded.fingerprint"
)


class SqlMartVersionStore(SqlStoreBase, MartVersionStore):
    def record_mart_versions(self, rows: Iterable[MartVersion | Mapping[str, Any]]) -> int:
        versions = [row if isinstance(row, MartVersion) else MartVersion.model_validate(row) for row in rows]
        # One row per key (last wins): an upsert statement must not touch the same row twice.
        latest = {(v.org_id, v.report_date): v for v in versions}
        params = [
            [v.org_id, self._date_param(v.report_date), v.mart_refreshed_at, v.fingerprint]
            for v in latest.values()
        ]
        if params:
            with self._session(write=True) as conn:
                conn.executemany(_UPSERT, params)
        return len(versions)

    def _mart_version_queries(self, org_id: str, dates: Iterable[date] | None) -> list[tuple[str, list[Any]]]:
        if dates is None:
            return [(_SELECT, [org_id])]
        wanted = [self._date_param(day) for day in sorted(set(dates))]
        chunks = [wanted[i : i + _IN_CHUNK] for i in range(0, len(wanted), _IN_CHUNK)]
        return [(f"{_SELECT} AND report_date IN ({marks(len(chunk))})", [org_id, *chunk]) for chunk in chunks]

    def get_mart_versions(self, org_id: str, dates: Iterable[date] | None = None) -> dict[date, MartVersion]:
        found: dict[date, MartVersion] = {}
        with self._session() as conn:
            for sql, params in self._mart_version_queries(org_id, dates):
                for org, day, refreshed_at, fingerprint in conn.execute(sql, params).fetchall():
                    found[as_date(day)] = MartVersion(
                        org_id=org, report_date=day, mart_refreshed_at=refreshed_at, fingerprint=fingerprint
                    )
        return found
