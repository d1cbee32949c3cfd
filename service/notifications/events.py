"""Webhook events and their signature (GitHub's scheme: HMAC-SHA256 of the raw body)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from reports_store import JobRun

JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
DAILY_MISSED = "daily.missed"
REPORT_RESTATED = "report.restated"
KPI_ANOMALY = "kpi.anomaly"
SIGNATURE_HEADER = "X-Signature-256"


def event_body(event_type: str, data: dict[str, Any], at: datetime | None = None) -> tuple[str, str]:
    """A new event's id and its JSON body `{"id", "type", "occurred_at", "data"}` (the bytes signed)."""
    event_id = uuid.uuid4().hex
    occurred_at = (at or datetime.now(UTC)).astimezone(UTC).isoformat()
    body = orjson.dumps({"id": event_id, "type": event_type, "occurred_at": occurred_at, "data": data})
    return event_id, body.decode()


def sign(secret: str, body: bytes) -> str:
    """The `X-Signature-256` value: `sha256=<hex HMAC-SHA256 of body with secret>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def job_event(job: JobRun) -> tuple[str, dict[str, Any]]:
    """The event type and data of a finished job run."""
    event_type = JOB_SUCCEEDED if job.status == "succeeded" else JOB_FAILED
    return event_type, {
        "kind": job.kind,
        "job_id": job.id,
        "status": job.status,
        "org_id": job.org_id,  # None: the job covered every organization
        "start_date": job.start_date.isoformat() if job.start_date else None,
        "end_date": job.end_date.isoformat() if job.end_date else None,
        "counts": job.counts,
        "error": job.error,
    }
