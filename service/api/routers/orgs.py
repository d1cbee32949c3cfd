"""Organizations: the report store is their system of record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from reports_store import Organization
from reports_store.rules import Identifier
from service.api.deps import Admin, ServicesDep
from service.organizations.models import NewOrganization, OrganizationChanges

router = APIRouter(prefix="/api/orgs", tags=["organizations"])
OrgIdPath = Annotated[Identifier, Path(description="Organization id.")]


@router.get("", response_model=list[Organization])
def list_orgs(services: ServicesDep) -> list[Organization]:
    return services.organizations.list()


@router.get("/{org_id}", response_model=Organization)
def get_org(services: ServicesDep, org_id: OrgIdPath) -> Organization:
    return services.organizations.get(org_id)


@router.post("", response_model=Organization, status_code=status.HTTP_201_CREATED, dependencies=[Admin])
def create_org(services: ServicesDep, body: NewOrganization) -> Organization:
    return services.organizations.create(body)


@router.patch("/{org_id}", response_model=Organization, dependencies=[Admin])
def update_org(services: ServicesDep, org_id: OrgIdPath, body: OrganizationChanges) -> Organization:
    return services.organizations.update(org_id, body)
