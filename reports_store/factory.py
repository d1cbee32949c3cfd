"""Open a report store from its URL: sqlite:///path.db or duckdb:///path.duckdb."""

from __future__ import annotations

from reports_store.base import ReportStore
from reports_store.errors import StoreError

_USAGE = (
    "use sqlite:///relative/path.db, sqlite:////absolute/path.db, duckdb:///path.duckdb or duckdb:///:memory:"
)


def _path_of(scheme: str, rest: str) -> str:
    # rest is what follows "scheme://": "/rel.db" or "//abs.db" (the usual SQLAlchemy-style URLs).
    if not rest.startswith("/") or len(rest) < 2:
        raise StoreError(f"Report store URL for {scheme} needs three slashes and a path: {_USAGE}")
    return rest[1:]


def open_store(url: str) -> ReportStore:
    """Open (creating or upgrading in place) the report store at `url`."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in ("sqlite", "duckdb"):
        # Only the scheme is echoed: other URLs (e.g. postgres://user:password@...) may hold secrets.
        shown = scheme if separator else "(none)"
        raise StoreError(f"Unsupported report store URL scheme {shown!r}: {_USAGE}")
    path = _path_of(scheme, rest)
    if scheme == "sqlite":
        if path == ":memory:":
            raise StoreError(
                "SQLite report stores need a file (each pooled connection would get its own "
                f"in-memory database): {_USAGE}"
            )
        from reports_store.sqlite_backend import SQLiteReportStore

        return SQLiteReportStore(path, url=url)
    # Imported lazily: DuckDB is only loaded by deployments that use it.
    from reports_store.duckdb_backend import DuckDBReportStore

    return DuckDBReportStore(path, url=url)
