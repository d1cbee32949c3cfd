"""The audit trail: every admin action, who did it (token id and name, or API_KEY) and how it ended."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from reports_store import AuditRecord, ReportStore
from service.access.principal import Principal

T = TypeVar("T")


class Audit:
    def __init__(self, store: ReportStore) -> None:
        self.store = store

    def record(self, actor: Principal, action: str, target: str | None, outcome: str) -> AuditRecord:
        return self.store.record_audit(
            AuditRecord(
                recorded_at=datetime.now(UTC),
                actor_id=actor.actor_id,
                actor_name=actor.name,
                action=action,
                target=target,
                outcome=outcome[:500],
            )
        )

    def run(
        self,
        actor: Principal,
        action: str,
        target: str | None,
        work: Callable[[], T],
        outcome: Callable[[T], str],
    ) -> T:
        """Do `work` and record it once, failed or not."""
        try:
            result = work()
        except Exception as exc:
            self.record(actor, action, target, f"failed: {type(exc).__name__}: {str(exc)[:300]}")
            raise
        self.record(actor, action, target, outcome(result))
        return result

    def list(self, limit: int = 50, offset: int = 0) -> list[AuditRecord]:
        return self.store.list_audit(limit, offset)
