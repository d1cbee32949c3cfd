"""Operations in this process: the application layer, as the API's routers call it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from reports_store import JobRun, Organization
from service.core.config import Settings
from service.core.dbt_runner import DbtOutcome
from service.jobs.recorder import ProgressCallback
from service.jobs.report_jobs import GenerateResult
from service.jobs.requests import BackfillRequest, DailyRunRequest, GenerateRequest
from service.organizations.models import NewOrganization, OrganizationChanges
from service.services import Services


class LocalOperations:
    where = "in-process"

    def __init__(self, settings: Settings) -> None:
        self.services = Services.open(settings)
        self.services.organizations.seed_default()

    def organizations(self) -> list[Organization]:
        return self.services.organizations.list()

    def create_organization(self, new: NewOrganization) -> Organization:
        return self.services.organizations.create(new)

    def update_organization(self, org_id: str, changes: OrganizationChanges) -> Organization:
        return self.services.organizations.update(org_id, changes)

    def generate(self, request: GenerateRequest) -> GenerateResult:
        return self.services.jobs.generate(request)

    def backfill(self, request: BackfillRequest, progress: ProgressCallback | None = None) -> JobRun:
        return self.services.jobs.backfill(request, progress=progress).job

    def run_daily(self, request: DailyRunRequest) -> JobRun:
        return self.services.jobs.run_daily(request).job

    def report_summaries(self, org_id: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        return self.services.stored.summaries(self.services.organizations.get(org_id), limit, offset)

    def report(self, org_id: str | None, day: date | None) -> dict[str, Any]:
        return self.services.stored.require(self.services.organizations.get(org_id), day)

    def delete_report(self, org_id: str | None, day: date) -> JobRun:
        return self.services.jobs.delete_report(org_id, day).job

    def dbt(self, args: Sequence[str]) -> DbtOutcome:
        return self.services.refresher.run_dbt_command(args)

    def close(self) -> None:
        self.services.close()
