"""Schema versions of the report store, as ordered migrations for each SQL dialect.

Version 1 is the seed DDL that older deployments created without any version table, so a file that
has `organizations` but no `schema_version` is taken to be at version 1 and upgraded in place.
"""

from __future__ import annotations

from typing import Literal

Dialect = Literal["sqlite", "duckdb"]

# Version 1, verbatim from the seed (SQLite syntax).
SEED_DDL_SQLITE = """
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    org_id TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    node_persistent_id TEXT NOT NULL,
    timezone TEXT DEFAULT 'UTC',
    is_active BOOLEAN DEFAULT 1,
    created_at TIMESTAMP
);
CREATE TABLE daily_reports (
    id INTEGER PRIMARY KEY,
    org_id TEXT NOT NULL,
    report_date DATE NOT NULL,
    report_data TEXT NOT NULL,
    created_at TIMESTAMP,
    UNIQUE(org_id, report_date)
);
"""

# The same tables for DuckDB, which has no implicit rowid: ids come from sequences.
SEED_DDL_DUCKDB = """
CREATE SEQUENCE organizations_id_seq;
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY DEFAULT nextval('organizations_id_seq'),
    org_id TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    node_persistent_id TEXT NOT NULL,
    timezone TEXT DEFAULT 'UTC',
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMP
);
CREATE SEQUENCE daily_reports_id_seq;
CREATE TABLE daily_reports (
    id INTEGER PRIMARY KEY DEFAULT nextval('daily_reports_id_seq'),
    org_id TEXT NOT NULL,
    report_date DATE NOT NULL,
    report_data TEXT NOT NULL,
    created_at TIMESTAMP,
    UNIQUE(org_id, report_date)
);
"""

SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)"
)

# Plain ADD COLUMNs: DuckDB refuses to ALTER a table that has secondary indexes, so we create none.
_V2 = """
ALTER TABLE organizations ADD COLUMN excluded_numbers TEXT DEFAULT '[]';
ALTER TABLE organizations ADD COLUMN updated_at TIMESTAMP;
ALTER TABLE daily_reports ADD COLUMN updated_at TIMESTAMP;
"""

_V3 = """
{sequence}
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY{id_default},
    kind TEXT NOT NULL,
    org_id TEXT,
    start_date DATE,
    end_date DATE,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status TEXT NOT NULL DEFAULT 'running',
    progress DOUBLE NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{{}}',
    error TEXT,
    details TEXT NOT NULL DEFAULT '{{}}'
);
"""

_V4 = """
CREATE TABLE mart_versions (
    org_id TEXT NOT NULL,
    report_date DATE NOT NULL,
    mart_refreshed_at TEXT,
    fingerprint TEXT,
    PRIMARY KEY (org_id, report_date)
);
"""

# Access tokens (only a hash of each secret is kept) and the audit trail of admin actions.
_V5 = """
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    org_ids TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
{sequence}
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY{id_default},
    recorded_at TIMESTAMP NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL
);
"""


# Signed webhook deliveries, every attempt of each, and the keys of events already emitted once.
_V6 = """
{delivery_sequence}
CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY{delivery_id_default},
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP
);
{attempt_sequence}
CREATE TABLE notification_attempts (
    id INTEGER PRIMARY KEY{attempt_id_default},
    delivery_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    status_code INTEGER,
    error TEXT,
    next_attempt_at TIMESTAMP
);
CREATE TABLE notification_keys (
    key TEXT PRIMARY KEY,
    recorded_at TIMESTAMP NOT NULL
);
"""

# Report revisions: every stored report, appended and never changed (daily_reports keeps the
# current one and its number). Reports stored before this version become revision 1.
_V7 = """
CREATE TABLE report_revisions (
    org_id TEXT NOT NULL,
    report_date DATE NOT NULL,
    revision INTEGER NOT NULL,
    generated_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    metrics_version TEXT,
    mart_refreshed_at TEXT,
    input_watermark TEXT,
    report_data TEXT NOT NULL,
    PRIMARY KEY (org_id, report_date, revision)
);
ALTER TABLE daily_reports ADD COLUMN revision INTEGER DEFAULT 1;
INSERT INTO report_revisions (org_id, report_date, revision, generated_at, reason, metrics_version,
    mart_refreshed_at, report_data)
SELECT org_id, report_date, 1, COALESCE(updated_at, created_at, CURRENT_TIMESTAMP), 'manual',
    report_data ->> '$.metadata.metrics_version', report_data ->> '$.metadata.mart_refreshed_at', report_data
FROM daily_reports
"""


def split_statements(script: str) -> list[str]:
    """The statements of a DDL script (ours contain no semicolons inside literals)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def migrations(dialect: Dialect) -> list[tuple[int, list[str]]]:
    """(version, statements) pairs in the order they must be applied."""
    if dialect == "sqlite":
        seed = SEED_DDL_SQLITE
        v3 = _V3.format(sequence="", id_default="")
        v5 = _V5.format(sequence="", id_default="")
        v6 = _V6.format(
            delivery_sequence="", delivery_id_default="", attempt_sequence="", attempt_id_default=""
        )
    else:
        seed = SEED_DDL_DUCKDB
        v3 = _V3.format(
            sequence="CREATE SEQUENCE job_runs_id_seq;", id_default=" DEFAULT nextval('job_runs_id_seq')"
        )
        v5 = _V5.format(
            sequence="CREATE SEQUENCE audit_log_id_seq;", id_default=" DEFAULT nextval('audit_log_id_seq')"
        )
        v6 = _V6.format(
            delivery_sequence="CREATE SEQUENCE notification_deliveries_id_seq;",
            delivery_id_default=" DEFAULT nextval('notification_deliveries_id_seq')",
            attempt_sequence="CREATE SEQUENCE notification_attempts_id_seq;",
            attempt_id_default=" DEFAULT nextval('notification_attempts_id_seq')",
        )
    scripts = [seed, _V2, v3, _V4, v5, v6, _V7]
    return [(version, split_statements(script)) for version, script in enumerate(scripts, start=1)]


LATEST_VERSION = len(migrations("sqlite"))
