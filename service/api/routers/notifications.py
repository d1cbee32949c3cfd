"""Webhook deliveries with their attempts, and resending one (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from reports_store import NotificationDelivery
from service.api.deps import Admin, AdminOps

router = APIRouter(prefix="/api", tags=["notifications"])


@router.get(
    "/notifications",
    response_model=list[NotificationDelivery],
    dependencies=[Admin],
    summary="Webhook deliveries with every attempt, newest first",
)
def list_notifications(
    ops: AdminOps,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[NotificationDelivery]:
    return ops.notifications(limit, offset)


@router.post(
    "/notifications/{delivery_id}/resend",
    response_model=NotificationDelivery,
    dependencies=[Admin],
    summary="Send a delivery again (pending, with a fresh attempt budget)",
)
def resend_notification(
    ops: AdminOps, delivery_id: Annotated[int, Path(ge=1, le=2**62)]
) -> NotificationDelivery:
    return ops.resend_notification(delivery_id)
