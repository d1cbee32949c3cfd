"""What a log line is about, beyond its message: the request, organization and job in progress.

contextvars follow a request into FastAPI's thread pool (each handler call runs in a copy of the
request's context); a job binds itself for as long as it runs in its thread.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass

from reports_store.rules import IDENTIFIER_RE

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
org_id_var: ContextVar[str | None] = ContextVar("org_id", default=None)
job_id_var: ContextVar[int | None] = ContextVar("job_id", default=None)

# What a caller-chosen value (X-Request-ID, an org_id) must look like to be logged: an identifier.
SAFE_VALUE = IDENTIFIER_RE


def current() -> dict[str, str | int]:
    """The context fields that are set, for a log line."""
    fields: dict[str, str | int] = {}
    for name, var in (("request_id", request_id_var), ("org_id", org_id_var), ("job_id", job_id_var)):
        value = var.get()
        if value is not None:
            fields[name] = value
    return fields


@dataclass
class JobBinding:
    """A job's log context, undone when the job finishes."""

    job_token: Token
    org_token: Token | None


def bind_job(job_id: int | None, org_id: str | None) -> JobBinding:
    """Log lines of this thread carry the job (and its organization) until `unbind_job`."""
    return JobBinding(job_id_var.set(job_id), org_id_var.set(org_id) if org_id else None)


def unbind_job(binding: JobBinding | None) -> None:
    """Undo `bind_job`; a job finished in another thread than it started in just clears the job."""
    if binding is None:
        return
    try:
        if binding.org_token is not None:
            org_id_var.reset(binding.org_token)
        job_id_var.reset(binding.job_token)
    except ValueError:  # the token belongs to another thread's context
        job_id_var.set(None)
