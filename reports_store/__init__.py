"""The report store: organizations, daily report snapshots and job runs in SQLite or DuckDB.

store = open_store("sqlite:///reports.db")   # or "duckdb:///reports.duckdb"
store.upsert_organization(Organization(org_id="acme", name="Acme", node_persistent_id="n-1"))
store.save_report("acme", date(2024, 5, 1), {"kpis": {...}})
"""

from reports_store.base import ReportStore
from reports_store.errors import SchemaVersionError, StoreBusy, StoreError, UnknownJob, UnknownOrganization
from reports_store.factory import open_store
from reports_store.models import JobRun, MartVersion, Organization, StoredReport
from reports_store.schema import LATEST_VERSION, SEED_DDL_DUCKDB, SEED_DDL_SQLITE
from reports_store.summary import SUMMARY_KPIS, summarize_report

__all__ = [
    "LATEST_VERSION",
    "SEED_DDL_DUCKDB",
    "SEED_DDL_SQLITE",
    "SUMMARY_KPIS",
    "JobRun",
    "MartVersion",
    "Organization",
    "ReportStore",
    "SchemaVersionError",
    "StoreBusy",
    "StoreError",
    "StoredReport",
    "UnknownJob",
    "UnknownOrganization",
    "open_store",
    "summarize_report",
]
