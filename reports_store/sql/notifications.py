"""Where webhook deliveries are stored: `notification_deliveries`, `notification_attempts` (one row per
try) and `notification_keys` (events emitted at most once, e.g. one `daily.missed` per org-day)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reports_store.base import NotificationStore
from reports_store.models import NotificationAttempt, NotificationDelivery
from reports_store.sql.base import SqlStoreBase, as_utc, cols, marks

_COLUMNS = (
    "id",
    "event_id",
    "event_type",
    "url",
    "body",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
    "updated_at",
)
_ATTEMPT_COLUMNS = ("attempt", "attempted_at", "status_code", "error", "next_attempt_at")


def _delivery_from_row(row: tuple[Any, ...]) -> NotificationDelivery:
    values = dict(zip(_COLUMNS, row, strict=True))
    for name in ("next_attempt_at", "created_at", "updated_at"):
        values[name] = as_utc(values[name])
    return NotificationDelivery(**values)


def _attempt_from_row(row: tuple[Any, ...]) -> NotificationAttempt:
    values = dict(zip(_ATTEMPT_COLUMNS, row, strict=True))
    values["attempted_at"] = as_utc(values["attempted_at"])
    values["next_attempt_at"] = as_utc(values["next_attempt_at"])
    return NotificationAttempt(**values)


class SqlNotificationStore(SqlStoreBase, NotificationStore):
    def _ts(self, value: datetime | None) -> Any:
        return None if value is None else self._ts_param(value)

    def _with_history(self, conn: Any, deliveries: list[NotificationDelivery]) -> list[NotificationDelivery]:
        if not deliveries:
            return deliveries
        ids = [delivery.id for delivery in deliveries]
        rows = conn.execute(
            f"SELECT delivery_id, {cols(_ATTEMPT_COLUMNS)} FROM notification_attempts "
            f"WHERE delivery_id IN ({marks(len(ids))}) ORDER BY id",
            ids,
        ).fetchall()
        history: dict[int, list[NotificationAttempt]] = {}
        for row in rows:
            history.setdefault(row[0], []).append(_attempt_from_row(row[1:]))
        return [d.model_copy(update={"history": history.get(d.id, [])}) for d in deliveries]

    def _fetch(self, conn: Any, delivery_id: int) -> NotificationDelivery | None:
        row = conn.execute(
            f"SELECT {cols(_COLUMNS)} FROM notification_deliveries WHERE id = ?", [delivery_id]
        ).fetchone()
        return None if row is None else self._with_history(conn, [_delivery_from_row(row)])[0]

    def create_delivery(self, delivery: NotificationDelivery) -> NotificationDelivery:
        names = _COLUMNS[1:]
        values = [
            delivery.event_id,
            delivery.event_type,
            delivery.url,
            delivery.body,
            delivery.state,
            delivery.attempts,
            self._ts(delivery.next_attempt_at),
            self._ts(delivery.created_at),
            self._ts(delivery.updated_at),
        ]
        sql = f"INSERT INTO notification_deliveries ({cols(names)}) VALUES ({marks(len(names))}) RETURNING id"
        with self._session(write=True) as conn:
            ((delivery_id,),) = conn.execute(sql, values).fetchall()
        return delivery.model_copy(update={"id": delivery_id})

    def record_attempt(
        self, delivery_id: int, attempt: NotificationAttempt, state: str
    ) -> NotificationDelivery:
        with self._session(write=True) as conn:
            conn.execute(
                f"INSERT INTO notification_attempts (delivery_id, {cols(_ATTEMPT_COLUMNS)}) "
                f"VALUES ({marks(len(_ATTEMPT_COLUMNS) + 1)})",
                [
                    delivery_id,
                    attempt.attempt,
                    self._ts(attempt.attempted_at),
                    attempt.status_code,
                    attempt.error,
                    self._ts(attempt.next_attempt_at),
                ],
            )
            conn.execute(
                "UPDATE notification_deliveries SET state = ?, attempts = ?, next_attempt_at = ?, "
                "updated_at = ? WHERE id = ?",
                [
                    state,
                    attempt.attempt,
                    self._ts(attempt.next_attempt_at),
                    self._ts(attempt.attempted_at),
                    delivery_id,
                ],
            )
            delivery = self._fetch(conn, delivery_id)
        assert delivery is not None  # just updated in this transaction
        return delivery

    def get_delivery(self, delivery_id: int) -> NotificationDelivery | None:
        with self._session() as conn:
            return self._fetch(conn, delivery_id)

    def list_deliveries(self, limit: int = 50, offset: int = 0) -> list[NotificationDelivery]:
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {cols(_COLUMNS)} FROM notification_deliveries ORDER BY id DESC LIMIT ? OFFSET ?",
                [limit, offset],
            ).fetchall()
            return self._with_history(conn, [_delivery_from_row(row) for row in rows])

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[NotificationDelivery]:
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {cols(_COLUMNS)} FROM notification_deliveries "
                "WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
                "ORDER BY next_attempt_at, id LIMIT ?",
                [self._ts(now), limit],
            ).fetchall()
        return [_delivery_from_row(row) for row in rows]

    def next_pending_at(self) -> datetime | None:
        with self._session() as conn:
            (value,) = conn.execute(
                "SELECT MIN(next_attempt_at) FROM notification_deliveries WHERE state = 'pending'"
            ).fetchone()
        return as_utc(value)

    def resend_delivery(self, delivery_id: int, at: datetime) -> NotificationDelivery | None:
        with self._session(write=True) as conn:
            conn.execute(
                "UPDATE notification_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, "
                "updated_at = ? WHERE id = ?",
                [self._ts(at), self._ts(at), delivery_id],
            )
            return self._fetch(conn, delivery_id)

    def remember_key(self, key: str, at: datetime) -> bool:
        with self._session(write=True) as conn:
            if conn.execute("SELECT 1 FROM notification_keys WHERE key = ?", [key]).fetchone():
                return False
            conn.execute(
                "INSERT INTO notification_keys (key, recorded_at) VALUES (?, ?)", [key, self._ts(at)]
            )
        return True
