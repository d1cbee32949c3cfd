"""Organizations: lookup (with the default organization), create, update, deactivate.

The report store is their system of record. A change of timezone, node or excluded numbers
changes which calls fall on which day, so it rebuilds that organization's marts.
"""

from __future__ import annotations

from reports_store import Organization, ReportStore
from service.core.config import Settings
from service.core.errors import Conflict, InvalidInput, OrganizationNotFound
from service.jobs.refresh import Refresher
from service.organizations.models import NewOrganization, OrganizationChanges


class Organizations:
    def __init__(self, settings: Settings, store: ReportStore, refresher: Refresher) -> None:
        self.settings = settings
        self.store = store
        self.refresher = refresher

    def get(self, org_id: str | None = None) -> Organization:
        """`org_id`, or the default organization (ORG_ID) when None."""
        org_id = org_id or self.settings.org_id
        if not org_id:
            raise InvalidInput("No org_id given and no default organization (ORG_ID) is configured")
        org = self.store.get_organization(org_id)
        if org is None:
            raise OrganizationNotFound(f"Unknown organization {org_id!r}: register it first (orgs add)")
        return org

    def list(self, *, active_only: bool = False) -> list[Organization]:
        return self.store.list_organizations(active_only=active_only)

    def chosen_or_active(self, org_id: str | None) -> list[Organization]:
        """One organization when given, else every active one (what jobs run over)."""
        return [self.get(org_id)] if org_id else self.list(active_only=True)

    def create(self, new: NewOrganization) -> Organization:
        if self.store.get_organization(new.org_id) is not None:
            raise Conflict(f"Organization {new.org_id!r} exists: update it instead")
        return self.save(Organization(**new.model_dump()))

    def update(self, org_id: str, changes: OrganizationChanges) -> Organization:
        org = self.get(org_id)
        return self.save(org.model_copy(update=changes.model_dump(exclude_unset=True, exclude_none=True)))

    def deactivate(self, org_id: str) -> Organization:
        return self.update(org_id, OrganizationChanges(is_active=False))

    def save(self, org: Organization) -> Organization:
        """Create or update; a changed calendar (timezone, node, excluded numbers) rebuilds its marts."""
        org = Organization.model_validate(org.model_dump())  # model_copy(update=...) skips validation
        previous = self.store.get_organization(org.org_id)
        saved = self.store.upsert_organization(org)
        changed = previous is not None and previous.calendar_settings() != saved.calendar_settings()
        if changed and self.refresher.marts_exist():
            self.refresher.refresh(org_ids=[saved.org_id])
        return saved

    def seed_default(self) -> Organization | None:
        """Register the organization of ORG_ID / BROKER_NODE_PERSISTENT_ID / ... when configured."""
        settings = self.settings
        if not settings.org_id:
            return None
        if not settings.broker_node_persistent_id:
            raise InvalidInput("ORG_ID is set but BROKER_NODE_PERSISTENT_ID is not: set both")
        existing = self.store.get_organization(settings.org_id)
        return self.save(
            Organization(
                org_id=settings.org_id,
                name=settings.client_name or (existing.name if existing else settings.org_id),
                node_persistent_id=settings.broker_node_persistent_id,
                timezone=settings.default_timezone,
                excluded_numbers=settings.excluded_numbers,
                is_active=existing.is_active if existing else True,
            )
        )
