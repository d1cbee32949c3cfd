"""Where the audit trail is stored: the append-only `audit_log` table."""

from __future__ import annotations

from typing import Any

from reports_store.base import AuditStore
from reports_store.models import AuditRecord
from reports_store.sql.base import SqlStoreBase, as_utc, cols, marks

_COLUMNS = ("id", "recorded_at", "actor_id", "actor_name", "action", "target", "outcome")


def _record_from_row(row: tuple[Any, ...]) -> AuditRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["recorded_at"] = as_utc(values["recorded_at"])
    return AuditRecord(**values)


class SqlAuditStore(SqlStoreBase, AuditStore):
    def record_audit(self, record: AuditRecord) -> AuditRecord:
        names = _COLUMNS[1:]
        values = [self._ts_param(record.recorded_at), *(getattr(record, name) for name in names[1:])]
        sql = f"INSERT INTO audit_log ({cols(names)}) VALUES ({marks(len(names))}) RETURNING id"
        with self._session(write=True) as conn:
            ((record_id,),) = conn.execute(sql, values).fetchall()
        return record.model_copy(update={"id": record_id})

    def list_audit(self, limit: int = 50, offset: int = 0) -> list[AuditRecord]:
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {cols(_COLUMNS)} FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?", [limit, offset]
            ).fetchall()
        return [_record_from_row(row) for row in rows]
