"""Organizations: the report store is their system of record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from starlette.concurrency import run_in_threadpool

from reports_store import Organization
from service.api.deps import Admin, JobsDep, StoreDep
from service.api.schemas import OrganizationIn, OrganizationOut, OrganizationPatch
from service.core.calendar import zone
from service.core.config import IDENTIFIER_RE

router = APIRouter(prefix="/api/orgs", tags=["organizations"])
OrgIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=IDENTIFIER_RE.pattern)]


@router.get("", response_model=list[OrganizationOut])
def list_orgs(store: StoreDep) -> list[dict[str, Any]]:
    return [org.model_dump() for org in store.list_organizations()]


@router.get("/{org_id}", response_model=OrganizationOut)
def get_org(store: StoreDep, org_id: OrgIdPath) -> dict[str, Any]:
    org = store.get_organization(org_id)
    if org is None:
        raise HTTPException(404, f"Unknown organization {org_id!r}")
    return org.model_dump()


@router.post("", response_model=OrganizationOut, status_code=status.HTTP_201_CREATED, dependencies=[Admin])
async def create_org(jobs: JobsDep, body: OrganizationIn) -> dict[str, Any]:
    zone(body.timezone)
    if jobs.store.get_organization(body.org_id) is not None:
        raise HTTPException(409, f"Organization {body.org_id!r} exists: PATCH it instead")
    org = await run_in_threadpool(jobs.save_organization, Organization(**body.model_dump()))
    return org.model_dump()


@router.patch("/{org_id}", response_model=OrganizationOut, dependencies=[Admin])
async def update_org(jobs: JobsDep, org_id: OrgIdPath, body: OrganizationPatch) -> dict[str, Any]:
    org = jobs.store.get_organization(org_id)
    if org is None:
        raise HTTPException(404, f"Unknown organization {org_id!r}")
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "timezone" in changes:
        zone(changes["timezone"])
    saved = await run_in_threadpool(jobs.save_organization, org.model_copy(update=changes))
    return saved.model_dump()
