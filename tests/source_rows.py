"""Rows written straight into the source tables, as the platform would (late outputs, new calls)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from service.core.config import Settings
from service.core.warehouse import get_client


def add_call(
    settings: Settings, org_id: str, started: datetime, user_number: str = "", duration: float = 60.0
) -> str:
    """A call of `org_id` (a completed run and its session) started at `started`; its run id."""
    client, db, run_id = get_client(settings), settings.clickhouse_database, str(uuid.uuid4())
    client.insert(
        "public_runs",
        [[run_id, started, "completed"]],
        database=db,
        column_names=["id", "timestamp", "status"],
    )
    client.insert(
        "public_sessions",
        [[uuid.uuid4(), run_id, org_id, user_number, duration, started]],
        database=db,
        column_names=["id", "run_id", "org_id", "user_number", "duration", "created_at"],
    )
    return run_id


def add_output(
    settings: Settings, run_id: str, node_persistent_id: str, classification: str, at: datetime
) -> None:
    """An output of `node_persistent_id` for the run, stamped `at`, classifying the call."""
    flat = json.dumps({"result": {"call": {"call_classification": classification}}})
    get_client(settings).insert(
        "public_node_outputs",
        [[uuid.uuid4(), run_id, uuid.uuid4(), node_persistent_id, flat, at]],
        database=settings.clickhouse_database,
        column_names=["id", "run_id", "node_id", "node_persistent_id", "flat_data", "created_at"],
    )
