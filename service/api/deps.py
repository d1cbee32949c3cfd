"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request

from reports_store import Organization, ReportStore
from service.core.calendar import today_in, zone
from service.core.config import IDENTIFIER_RE, Settings
from service.jobs.report_jobs import MAX_RANGE_DAYS, Jobs
from service.jobs.scheduler import Scheduler
from service.reports.live import LiveReports


@dataclass
class ServiceState:
    settings: Settings
    jobs: Jobs
    live: LiveReports
    scheduler: Scheduler
    ready: bool = False
    startup_error: str | None = None
    submit: Callable[..., Future] | None = None  # runs a background job, one at a time
    warehouse_ok_at: float = 0.0  # monotonic time of the last successful warehouse ping


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]


def get_jobs(state: State) -> Jobs:
    return state.jobs


def get_store(state: State) -> ReportStore:
    return state.jobs.store


JobsDep = Annotated[Jobs, Depends(get_jobs)]
StoreDep = Annotated[ReportStore, Depends(get_store)]


def require_admin(state: State, authorization: Annotated[str | None, Header()] = None) -> None:
    """With API_KEY set, mutating and debug endpoints need `Authorization: Bearer <key>`."""
    key = state.settings.api_key
    if key is None or not key.get_secret_value():
        return
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(
            401,
            "This endpoint needs an admin key: send 'Authorization: Bearer <API_KEY>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = authorization.removeprefix("Bearer ").strip().encode()
    if not hmac.compare_digest(given, key.get_secret_value().encode()):
        raise HTTPException(403, "The admin key is not valid")


Admin = Depends(require_admin)


def resolve_org(
    state: State,
    org_id: Annotated[str | None, Query(description="Default: the default organization.")] = None,
) -> Organization:
    org_id = org_id or state.settings.org_id
    if not org_id:
        raise HTTPException(400, "No org_id given and no default organization (ORG_ID) is configured")
    if not IDENTIFIER_RE.match(org_id):
        raise HTTPException(400, "org_id must be 1-128 characters of letters, digits and . _ : -")
    org = state.jobs.store.get_organization(org_id)
    if org is None:
        raise HTTPException(404, f"Unknown organization {org_id!r}")
    return org


OrgDep = Annotated[Organization, Depends(resolve_org)]


@dataclass
class Window:
    start: date
    end: date


def resolve_window(
    org: OrgDep,
    date_: Annotated[date | None, Query(alias="date", description="One local date (YYYY-MM-DD).")] = None,
    start_date: Annotated[date | None, Query(description="First local date, inclusive.")] = None,
    end_date: Annotated[date | None, Query(description="Last local date, inclusive.")] = None,
) -> Window:
    """`date`, or `start_date`/`end_date` (default: today so far in the organization's zone)."""
    if date_ is not None and (start_date or end_date):
        raise HTTPException(400, "Give either date or start_date/end_date, not both")
    today = today_in(zone(org.timezone))
    start = date_ or start_date or end_date or today
    end = date_ or end_date or start_date or today
    if end < start:
        raise HTTPException(400, f"end_date {end} is before start_date {start}")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise HTTPException(400, f"The range spans more than {MAX_RANGE_DAYS} days: ask for a shorter one")
    if end > today:
        raise HTTPException(400, f"{end} is in the future in {org.timezone} (today there is {today})")
    if start < today - timedelta(days=3660):
        raise HTTPException(400, "Dates more than ten years back are not kept in the marts")
    return Window(start, end)


WindowDep = Annotated[Window, Depends(resolve_window)]
