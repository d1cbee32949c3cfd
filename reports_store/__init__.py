"""The report store: organizations, report snapshots, job runs, mart versions, tokens, audit records and webhook deliveries.

store = open_store("sqlite:///reports.db")   # or "duckdb:///reports.duckdb"
store.upsert_organization(Organization(org_id="acme", name="Acme", node_persistent_id="n-1"))
store.save_report("acme", date(2024, 5, 1), {"kpis": {...}})

The interface is `base` (one ABC per aggregate, composed into `ReportStore`); the SQL of each
aggregate is in `sql/` (e.g. job runs in `sql/job_runs.py`); the backends are `sqlite_backend`
and `duckdb_backend`.
"""

from reports_store.base import (
    AuditStore,
    JobRunStore,
    MartVersionStore,
    NotificationStore,
    OrganizationStore,
    ReportSnapshotStore,
    ReportStore,
    TokenStore,
)
from reports_store.errors import SchemaVersionError, StoreBusy, StoreError, UnknownJob, UnknownOrganization
from reports_store.factory import open_store
from reports_store.models import (
    REVISION_REASONS,
    ApiToken,
    AuditRecord,
    JobRun,
    MartVersion,
    NotificationAttempt,
    NotificationDelivery,
    Organization,
    ReportOverview,
    ReportRevision,
    RevisionReason,
    StoredReport,
)
from reports_store.schema import LATEST_VERSION, SEED_DDL_DUCKDB, SEED_DDL_SQLITE

__all__ = [
    "ApiToken",
    "AuditRecord",
    "AuditStore",
    "TokenStore",
    "LATEST_VERSION",
    "SEED_DDL_DUCKDB",
    "SEED_DDL_SQLITE",
    "JobRun",
    "JobRunStore",
    "MartVersion",
    "MartVersionStore",
    "NotificationAttempt",
    "NotificationDelivery",
    "NotificationStore",
    "Organization",
    "OrganizationStore",
    "ReportOverview",
    "ReportSnapshotStore",
    "ReportStore",
    "SchemaVersionError",
    "StoreBusy",
    "StoreError",
    "StoredReport",
    "ReportRevision",
    "RevisionReason",
    "REVISION_REASONS",
    "UnknownJob",
    "UnknownOrganization",
    "open_store",
]
