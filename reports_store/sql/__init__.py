"""The report store in SQL, shared by the SQLite and DuckDB backends.

One module per aggregate holds its queries, as a mixin over the shared machinery of `base`
(connection pool, transactions, error translation, migrations):

- `organizations`: `SqlOrganizationStore`, the organizations table
- `daily_reports`: `SqlReportSnapshotStore`, daily report snapshots
- `job_runs`: `SqlJobRunStore`, job runs and their progress
- `mart_versions`: `SqlMartVersionStore`, which mart build each stored day came from
- `tokens`: `SqlTokenStore`, access tokens (hashes only)
- `audit`: `SqlAuditStore`, the trail of admin actions
- `notifications`: `SqlNotificationStore`, webhook deliveries and their attempts

`SqlReportStore` composes them; the backends (`reports_store.sqlite_backend`,
`reports_store.duckdb_backend`) subclass it to say how to connect and bind values.
"""

from __future__ import annotations

from reports_store.base import ReportStore
from reports_store.sql.audit import SqlAuditStore
from reports_store.sql.base import SqlStoreBase, to_utc, utcnow
from reports_store.sql.daily_reports import SqlReportSnapshotStore
from reports_store.sql.job_runs import TERMINAL_JOB_STATUSES, SqlJobRunStore
from reports_store.sql.mart_versions import SqlMartVersionStore
from reports_store.sql.notifications import SqlNotificationStore
from reports_store.sql.organizations import SqlOrganizationStore
from reports_store.sql.tokens import SqlTokenStore


class SqlReportStore(
    SqlOrganizationStore,
    SqlReportSnapshotStore,
    SqlJobRunStore,
    SqlMartVersionStore,
    SqlTokenStore,
    SqlAuditStore,
    SqlNotificationStore,
    ReportStore,
):
    """A ReportStore over a DB-API-like driver whose connections each serve one thread at a time."""


__all__ = ["TERMINAL_JOB_STATUSES", "SqlReportStore", "SqlStoreBase", "to_utc", "utcnow"]
