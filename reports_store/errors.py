"""Errors raised by the report store; every message is one line that says what to do."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The report store cannot do what was asked (bad URL, database error, closed store...)."""


class StoreBusy(StoreError):
    """Another process holds the store file (DuckDB allows one writing process per file)."""


class SchemaVersionError(StoreError):
    """The store file was written by a newer version of this code."""


class UnknownOrganization(StoreError, LookupError):
    """The organization is not registered in the store."""


class UnknownJob(StoreError, LookupError):
    """No job run has this id."""
