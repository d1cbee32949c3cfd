"""Request shapes for organizations, built from the same validated fields as the stored record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from reports_store import Organization
from reports_store.rules import Identifier, PhoneNumber, TimezoneName

__all__ = ["NewOrganization", "Organization", "OrganizationChanges"]


class NewOrganization(BaseModel):
    """What registering an organization takes (POST /api/orgs, `orgs add`)."""

    model_config = ConfigDict(extra="forbid")

    org_id: Identifier
    name: str = Field(min_length=1, max_length=200)
    node_persistent_id: Identifier
    timezone: TimezoneName = "UTC"
    excluded_numbers: list[PhoneNumber] = Field(default_factory=list, max_length=1000)


class OrganizationChanges(BaseModel):
    """A partial update (PATCH /api/orgs/{org_id}, `orgs update`): fields left out stay."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    node_persistent_id: Identifier | None = None
    timezone: TimezoneName | None = None
    excluded_numbers: list[PhoneNumber] | None = Field(default=None, max_length=1000)
    is_active: bool | None = None
