"""Where organizations are stored: the `organizations` table."""

from __future__ import annotations

from typing import Any

from reports_store.base import OrganizationStore
from reports_store.errors import UnknownOrganization
from reports_store.models import Organization
from reports_store.sql.base import SqlStoreBase, as_utc, cols, dumps, loads, marks, utcnow

_ORG_COLUMNS = (
    "org_id",
    "name",
    "node_persistent_id",
    "timezone",
    "excluded_numbers",
    "is_active",
    "created_at",
    "updated_at",
)


def unknown_organization(org_id: str) -> UnknownOrganization:
    return UnknownOrganization(f"organization {org_id!r} is not registered in the report store")


def require_organization(conn: Any, org_id: str) -> None:
    """Raise UnknownOrganization unless `org_id` is registered (for rows that belong to one)."""
    if conn.execute("SELECT 1 FROM organizations WHERE org_id = ?", [org_id]).fetchone() is None:
        raise unknown_organization(org_id)


def _org_from_row(row: tuple[Any, ...]) -> Organization:
    values = dict(zip(_ORG_COLUMNS, row, strict=True))
    values["timezone"] = values["timezone"] or "UTC"
    values["excluded_numbers"] = loads(values["excluded_numbers"], [])
    values["is_active"] = values["is_active"] is None or bool(values["is_active"])
    values["created_at"] = as_utc(values["created_at"])
    values["updated_at"] = as_utc(values["updated_at"])
    return Organization(**values)


def _fetch_org(conn: Any, org_id: str) -> Organization | None:
    row = conn.execute(
        f"SELECT {cols(_ORG_COLUMNS)} FROM organizations WHERE org_id = ?", [org_id]
    ).fetchone()
    return None if row is None else _org_from_row(row)


class SqlOrganizationStore(SqlStoreBase, OrganizationStore):
    def upsert_organization(self, org: Organization) -> Organization:
        now = utcnow()
        values = [
            org.org_id,
            org.name,
            org.node_persistent_id,
            org.timezone,
            dumps(org.excluded_numbers),
            org.is_active,
            self._ts_param(org.created_at or now),
            self._ts_param(now),
        ]
        # created_at keeps its first value; COALESCE fills it for seed rows that had none.
        sql = (
            f"INSERT INTO organizations ({cols(_ORG_COLUMNS)}) VALUES ({marks(len(values))}) "
            "ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, "
            "node_persistent_id = excluded.node_persistent_id, timezone = excluded.timezone, "
            "excluded_numbers = excluded.excluded_numbers, is_active = excluded.is_active, "
            "created_at = COALESCE(organizations.created_at, excluded.created_at), "
            "updated_at = excluded.updated_at"
        )
        with self._session(write=True) as conn:
            conn.execute(sql, values)
            stored = _fetch_org(conn, org.org_id)
        assert stored is not None  # just written in this transaction
        return stored

    def get_organization(self, org_id: str) -> Organization | None:
        with self._session() as conn:
            return _fetch_org(conn, org_id)

    def list_organizations(self, active_only: bool = False) -> list[Organization]:
        where = "WHERE COALESCE(is_active, TRUE)" if active_only else ""
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {cols(_ORG_COLUMNS)} FROM organizations {where} ORDER BY org_id"
            ).fetchall()
        return [_org_from_row(row) for row in rows]

    def deactivate_organization(self, org_id: str) -> None:
        with self._session(write=True) as conn:
            updated = conn.execute(
                "UPDATE organizations SET is_active = ?, updated_at = ? WHERE org_id = ? RETURNING 1",
                [False, self._ts_param(utcnow()), org_id],
            ).fetchall()
            if not updated:
                raise unknown_organization(org_id)
