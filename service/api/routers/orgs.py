"""Organizations: the report store is their system of record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from reports_store import Organization
from reports_store.rules import Identifier
from service.api.deps import Admin, AdminOps, PrincipalDep, Reader, ServicesDep, State
from service.organizations.models import NewOrganization, OrganizationChanges

router = APIRouter(prefix="/api/orgs", tags=["organizations"])
OrgIdPath = Annotated[Identifier, Path(description="Organization id.")]


@router.get("", response_model=list[Organization], dependencies=[Reader])
def list_orgs(services: ServicesDep, principal: PrincipalDep) -> list[Organization]:
    """Every organization for an admin; a reader token's own organizations only."""
    return [org for org in services.organizations.list() if principal.can_read(org.org_id)]


@router.get("/{org_id}", response_model=Organization, dependencies=[Reader])
def get_org(state: State, principal: PrincipalDep, org_id: OrgIdPath) -> Organization:
    return state.services.organizations.get(principal.readable_org_id(org_id, state.settings.org_id))


@router.post("", response_model=Organization, status_code=status.HTTP_201_CREATED, dependencies=[Admin])
def create_org(ops: AdminOps, body: NewOrganization) -> Organization:
    return ops.create_organization(body)


@router.patch("/{org_id}", response_model=Organization, dependencies=[Admin])
def update_org(ops: AdminOps, org_id: OrgIdPath, body: OrganizationChanges) -> Organization:
    return ops.update_organization(org_id, body)
