"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request

from reports_store import Organization
from reports_store.rules import Identifier
from service.core.calendar import DateWindow, LocalDate
from service.core.config import Settings
from service.jobs.scheduler import Scheduler
from service.reports.live import live_window
from service.reports.response_cache import StoredResponseCache
from service.services import Services


@dataclass
class ServiceState:
    settings: Settings
    services: Services
    scheduler: Scheduler
    response_cache: StoredResponseCache
    ready: bool = False
    starting: bool = True
    startup_error: str | None = None
    submit: Callable[..., Future] | None = None  # runs a background job, one at a time
    warehouse_ok_at: float = 0.0  # monotonic time of the last successful warehouse ping


def get_state(request: Request) -> ServiceState:
    return request.app.state.service


State = Annotated[ServiceState, Depends(get_state)]


def get_services(state: State) -> Services:
    return state.services


ServicesDep = Annotated[Services, Depends(get_services)]


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

OrgIdQuery = Annotated[Identifier | None, Query(description="Default: the default organization (ORG_ID).")]


def resolve_org(services: ServicesDep, org_id: OrgIdQuery = None) -> Organization:
    return services.organizations.get(org_id)


OrgDep = Annotated[Organization, Depends(resolve_org)]


def resolve_window(
    org: OrgDep,
    date_: Annotated[
        LocalDate | None, Query(alias="date", description="One local date (YYYY-MM-DD).")
    ] = None,
    start_date: Annotated[LocalDate | None, Query(description="First local date, inclusive.")] = None,
    end_date: Annotated[LocalDate | None, Query(description="Last local date, inclusive.")] = None,
) -> DateWindow:
    """`date`, or `start_date`/`end_date` (at most 366 days; default: yesterday in the org's zone)."""
    return live_window(org, date_, start_date, end_date)


WindowDep = Annotated[DateWindow, Depends(resolve_window)]
