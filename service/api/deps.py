"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Query, Request

from reports_store import Organization
from reports_store.rules import Identifier
from service.access.principal import Principal
from service.api.limits import ConcurrencyLimiter
from service.core.calendar import DateWindow, LocalDate
from service.core.config import Settings
from service.jobs.scheduler import Scheduler
from service.operations.local import LocalOperations
from service.reports.live import live_window
from service.reports.response_cache import LiveBodyCache, StoredResponseCache
from service.services import Services


@dataclass
class ServiceState:
    settings: Settings
    services: Services
    scheduler: Scheduler
    response_cache: StoredResponseCache
    live_limiter: ConcurrencyLimiter
    live_bodies: LiveBodyCache = field(default_factory=LiveBodyCache)  # /daily-report and the fast path
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


# -- the credential check, one implementation for the dependencies and the fast path (fast_path.py) --


def authenticate(state: ServiceState, authorization: str | None, version: int | None = None) -> Principal:
    """Who is asking: 401 without a valid token when API_KEY is set; everyone is admin without it.
    (`version`: the store's data version, if the caller has just read it.)"""
    return state.services.tokens.authenticate(authorization, version=version)


def readable_org(state: ServiceState, principal: Principal, org_id: str | None) -> str | None:
    """The org_id a read is about, once this principal may read it (403 otherwise, known or not)."""
    return principal.readable_org_id(org_id, state.settings.org_id)


def get_principal(state: State, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Who is asking: 401 without a valid token when API_KEY is set; everyone is admin without it."""
    return authenticate(state, authorization)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# -- route scopes: every route declares exactly one (tests/service/api/test_access.py checks) -------


def public_scope() -> None:
    """Anyone: health probes, the dashboard page and its files, the API docs."""


def reader_scope(principal: PrincipalDep) -> Principal:
    """Any valid token; org-scoped reads also pass through `readable_org_id`."""
    return principal


def admin_scope(principal: PrincipalDep) -> Principal:
    """An admin token or API_KEY: writes, jobs, tokens, audit, debug and the admin doors."""
    principal.require_admin()
    return principal


Public = Depends(public_scope)
Reader = Depends(reader_scope)
Admin = Depends(admin_scope)
SCOPES = {public_scope: "public", reader_scope: "reader", admin_scope: "admin"}


def admin_operations(state: State, principal: Annotated[Principal, Admin]) -> LocalOperations:
    """The application's operations acting as this admin (each action lands in the audit trail)."""
    return LocalOperations(state.services, principal)


AdminOps = Annotated[LocalOperations, Depends(admin_operations)]

OrgIdQuery = Annotated[
    Identifier | None,
    Query(description="Default: the token's only organization, else the default organization (ORG_ID)."),
]


def readable_org_id(
    state: State, principal: Annotated[Principal, Reader], org_id: OrgIdQuery = None
) -> str | None:
    """The org_id a read is about, once this principal may read it (403 otherwise, known or not)."""
    return readable_org(state, principal, org_id)


ReadableOrgId = Annotated[str | None, Depends(readable_org_id)]


def resolve_org(services: ServicesDep, org_id: ReadableOrgId) -> Organization:
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
