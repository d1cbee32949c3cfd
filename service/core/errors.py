"""Exceptions that carry their meaning for callers by type.

The API answers a `ServiceError` with its `status_code` and message; the CLI prints the message
as one line and exits 1. Nothing matches on message text.
"""

from __future__ import annotations

from typing import Any

from reports_store.rules import PATTERN_HELP


class ServiceError(Exception):
    """An expected failure whose message, one line, says what to do."""

    status_code = 500
    headers: dict[str, str] | None = None


class InvalidInput(ServiceError, ValueError):
    """The request cannot be done as asked (impossible date, range too long...)."""

    status_code = 400


class NotFound(ServiceError, LookupError):
    """The thing asked for does not exist."""

    status_code = 404


class Conflict(ServiceError):
    """The thing to create exists already."""

    status_code = 409


class Unauthorized(ServiceError):
    """No valid credentials: no token, or an unknown, expired or revoked one."""

    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    """Valid credentials that do not allow this (another organization, an admin action)."""

    status_code = 403


class TooManyRequests(ServiceError):
    """A per-token limit is reached; try again after Retry-After seconds."""

    status_code = 429
    headers = {"Retry-After": "1"}


class Unavailable(ServiceError):
    """A dependency (warehouse, dbt, report store) failed; nothing was changed."""

    status_code = 503


class OrganizationNotFound(NotFound):
    """No organization has this id."""


class RefreshFailed(Unavailable):
    """dbt could not refresh the marts; nothing was stored."""


class RefreshStopped(Unavailable):
    """The process is stopping: a sliced dbt run ended between two slices, the rest is not built
    (the next refresh rebuilds it: the run is remembered as unfinished)."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(
            f"the service stopped after {done} of {total} slices of the dbt run; the next refresh rebuilds the rest"
        )


class CatalogError(Unavailable):
    """The KPI declaration in the marts' YAML is missing or invalid."""


def describe_validation_error(exc: Any, skip: tuple[str, ...] = ("query", "body", "path")) -> str:
    """Every problem of a pydantic (or FastAPI request) validation error as `field: message`, on one line."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in skip)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        pattern = (error.get("ctx") or {}).get("pattern")
        if error.get("type") == "string_pattern_mismatch" and pattern in PATTERN_HELP:
            message = f"{error.get('input')!r} {PATTERN_HELP[pattern]}"
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
