"""Shared reasons and marks for the conformance modules."""

from __future__ import annotations

import functools

import pytest

# What an embedded engine has not: these are skipped, with the reason in the summary.
NEEDS_CLUSTER = "needs a ClickHouse cluster (ON CLUSTER, Distributed tables): an embedded engine has none"
NEEDS_KEEPER = "needs ClickHouse Keeper (Replicated engines): an embedded engine has none"
NEEDS_USERS = "needs users and roles: chDB has no user management (grants: are skipped on chdb, see README)"
NEEDS_QUERY_LOG = "needs system.query_log, which chDB does not keep"
NEEDS_S3 = "needs an S3 bucket and network access"

full_only = pytest.mark.conformance_full


def adapter_gap(reason: str):
    """A dbt-tests-adapter case dbt-clickhouse itself does not pass: not chDB's doing, same on a server.

    Strict, so an upgrade that closes the gap shows up as a failure to re-classify.
    """
    return pytest.mark.xfail(reason=f"dbt-clickhouse: {reason} (same on a server)", strict=True)


def not_applicable(reason: str):
    return pytest.mark.skip(reason=f"not applicable to ClickHouse: {reason}")


def postgres_fixtures(detail: str):
    """A case whose own setup SQL is PostgreSQL: it cannot run on ClickHouse, embedded or server."""
    return pytest.mark.skip(
        reason=f"not applicable to ClickHouse: the case's fixture SQL is PostgreSQL ({detail})"
    )


def mark_methods(mark, *names: str):
    """Apply `mark` to some inherited test methods of a class (the others keep running as usual)."""

    def decorate(cls):
        for name in names:
            original = getattr(cls, name)

            @functools.wraps(original)
            def wrapper(*args, __original=original, **kwargs):
                return __original(*args, **kwargs)

            setattr(cls, name, mark(wrapper))
        return cls

    return decorate
