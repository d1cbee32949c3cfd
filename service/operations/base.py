"""Everything an operator does, as one interface with two implementations.

`LocalOperations` runs in this process on the application layer (`service.services`);
`RemoteOperations` asks the running service that owns the embedded warehouse, over its API.
The CLI calls `operations()` once per command and does not know which it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from reports_store import ApiToken, AuditRecord, JobRun, NotificationDelivery, Organization
from service.access.tokens import CreatedToken, TokenRequest
from service.core.dbt_runner import DbtOutcome
from service.jobs.recorder import ProgressCallback
from service.jobs.report_jobs import GenerateResult
from service.jobs.requests import BackfillRequest, DailyRunRequest, GenerateRequest
from service.organizations.models import NewOrganization, OrganizationChanges
from service.reports.export import ExportFormat


class Operations(Protocol):
    where: str  # "in-process" or the running service's URL, for messages

    def organizations(self) -> list[Organization]: ...

    def create_organization(self, new: NewOrganization) -> Organization: ...

    def update_organization(self, org_id: str, changes: OrganizationChanges) -> Organization: ...

    def generate(self, request: GenerateRequest) -> GenerateResult: ...

    def backfill(self, request: BackfillRequest, progress: ProgressCallback | None = None) -> JobRun: ...

    def run_daily(self, request: DailyRunRequest) -> JobRun: ...

    def report_summaries(self, org_id: str | None, limit: int, offset: int) -> list[dict[str, Any]]: ...

    def report(self, org_id: str | None, day: date | None, revision: int | None = None) -> dict[str, Any]:
        """The stored report of `day` (None: the latest; `revision`: an older one) with its `stale` flag."""
        ...

    def report_revisions(self, org_id: str | None, day: date) -> list[dict[str, Any]]: ...

    def report_diff(
        self, org_id: str | None, day: date, from_revision: int | None, to_revision: int | None
    ) -> dict[str, Any]: ...

    def export_reports(self, org_id: str | None, start: date, end: date, format: ExportFormat) -> bytes:
        """The stored reports of [start, end] as a CSV or Parquet file."""
        ...

    def delete_report(self, org_id: str | None, day: date) -> JobRun: ...

    def dbt(self, args: Sequence[str]) -> DbtOutcome: ...

    def create_token(self, request: TokenRequest) -> CreatedToken: ...

    def tokens(self) -> list[ApiToken]: ...

    def revoke_token(self, token_id: str) -> ApiToken: ...

    def audit(self, limit: int, offset: int) -> list[AuditRecord]: ...

    def notifications(self, limit: int, offset: int) -> list[NotificationDelivery]: ...

    def resend_notification(self, delivery_id: int) -> NotificationDelivery: ...

    def close(self) -> None: ...
