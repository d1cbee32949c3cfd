"""Operations in this process, on the application layer; the API's admin routes use them too.

Each admin action is recorded once in the audit trail with the principal it acts as (a token,
API_KEY, or the in-process command line).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from reports_store import ApiToken, AuditRecord, JobRun, NotificationDelivery, Organization
from service.access.principal import CLI, Principal
from service.access.tokens import CreatedToken, TokenRequest
from service.core.calendar import DateWindow
from service.core.config import Settings
from service.core.dbt_runner import DbtOutcome
from service.jobs.recorder import ProgressCallback
from service.jobs.report_jobs import GenerateResult
from service.jobs.requests import BackfillRequest, DailyRunRequest, GenerateRequest
from service.organizations.models import NewOrganization, OrganizationChanges
from service.reports.export import ExportFormat, export_bytes
from service.services import Services


def _job_outcome(job: JobRun) -> str:
    counts = job.counts
    return f"{job.status} (job {job.id}: {counts.get('generated', 0)} generated, {counts.get('failed', 0)} failed)"


class LocalOperations:
    where = "in-process"

    def __init__(self, services: Services, actor: Principal, *, owns_services: bool = False) -> None:
        self.services = services
        self.actor = actor
        self._owns_services = owns_services

    @classmethod
    def open(cls, settings: Settings) -> LocalOperations:
        """The command line's own application layer (no service runs)."""
        services = Services.open(settings)
        try:
            services.organizations.seed_default()
        except BaseException:
            services.close()
            raise
        return cls(services, CLI, owns_services=True)

    def _audited(self, action: str, target: str | None, work, outcome=lambda _: "succeeded"):  # noqa: ANN001
        return self.services.audit.run(self.actor, action, target, work, outcome)

    # -- organizations -------------------------------------------------------------------------
    def organizations(self) -> list[Organization]:
        return self.services.organizations.list()

    def create_organization(self, new: NewOrganization) -> Organization:
        return self._audited("orgs.create", new.org_id, lambda: self.services.organizations.create(new))

    def update_organization(self, org_id: str, changes: OrganizationChanges) -> Organization:
        action = (
            "orgs.deactivate"
            if changes.model_dump(exclude_none=True) == {"is_active": False}
            else "orgs.update"
        )
        return self._audited(action, org_id, lambda: self.services.organizations.update(org_id, changes))

    # -- report jobs ---------------------------------------------------------------------------
    def generate(self, request: GenerateRequest) -> GenerateResult:
        target = f"{request.org_id or 'default org'} {request.date or 'yesterday'}"
        return self._audited(
            "reports.generate", target, lambda: self.services.jobs.generate(request), lambda r: r.status
        )

    def backfill(self, request: BackfillRequest, progress: ProgressCallback | None = None) -> JobRun:
        return self._audited(
            "reports.backfill",
            _backfill_target(request),
            lambda: self.services.jobs.backfill(request, progress=progress).job,
            _job_outcome,
        )

    def start_backfill(self, request: BackfillRequest):  # noqa: ANN201 - a JobOutcome to run later
        """Validate and record a backfill to run in the background (the API's 202)."""
        return self._audited(
            "reports.backfill",
            _backfill_target(request),
            lambda: self.services.jobs.start_backfill(request),
            lambda outcome: f"started (job {outcome.job.id})",
        )

    def run_daily(self, request: DailyRunRequest) -> JobRun:
        target = f"{request.org_id or 'active orgs'} {request.date or 'yesterday'}"
        return self._audited(
            "reports.run_daily", target, lambda: self.services.jobs.run_daily(request).job, _job_outcome
        )

    def delete_report(self, org_id: str | None, day: date) -> JobRun:
        return self._audited(
            "reports.delete",
            f"{org_id or 'default org'} {day}",
            lambda: self.services.jobs.delete_report(org_id, day).job,
        )

    def dbt(self, args: Sequence[str], *, capture_output: bool = False) -> DbtOutcome:
        return self._audited(
            "dbt",
            " ".join(args)[:200],
            lambda: self.services.refresher.run_dbt_command(args, capture_output=capture_output),
            lambda outcome: "succeeded" if outcome.success else f"failed (exit {outcome.exit_code})",
        )

    # -- stored reports ------------------------------------------------------------------------
    def report_summaries(self, org_id: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        return self.services.stored.summaries(self.services.organizations.get(org_id), limit, offset)

    def report(self, org_id: str | None, day: date | None, revision: int | None = None) -> dict[str, Any]:
        return self.services.stored.require(self.services.organizations.get(org_id), day, revision)

    def report_revisions(self, org_id: str | None, day: date) -> list[dict[str, Any]]:
        return self.services.stored.revisions(self.services.organizations.get(org_id), day)

    def report_diff(
        self, org_id: str | None, day: date, from_revision: int | None, to_revision: int | None
    ) -> dict[str, Any]:
        org = self.services.organizations.get(org_id)
        return self.services.stored.diff(org, day, from_revision, to_revision)

    def export_reports(self, org_id: str | None, start: date, end: date, format: ExportFormat) -> bytes:
        org = self.services.organizations.get(org_id)
        columns, rows = self.services.stored.export(org, DateWindow.of(start, end))
        return export_bytes(columns, rows, format)

    # -- access ----------------------------------------------------------------------------------
    def create_token(self, request: TokenRequest) -> CreatedToken:
        target = "admin" if request.admin else ",".join(request.org_ids)
        return self._audited(
            "tokens.create",
            f"{request.name} ({target})",
            lambda: self.services.tokens.create(request),
            lambda created: f"succeeded (token {created.id})",
        )

    def tokens(self) -> list[ApiToken]:
        return self.services.tokens.list()

    def revoke_token(self, token_id: str) -> ApiToken:
        return self._audited("tokens.revoke", token_id, lambda: self.services.tokens.revoke(token_id))

    def audit(self, limit: int, offset: int) -> list[AuditRecord]:
        return self.services.audit.list(limit, offset)

    # -- webhooks ------------------------------------------------------------------------------
    def notifications(self, limit: int, offset: int) -> list[NotificationDelivery]:
        return self.services.store.list_deliveries(limit, offset)

    def resend_notification(self, delivery_id: int) -> NotificationDelivery:
        return self._audited(
            "notifications.resend",
            str(delivery_id),
            lambda: self.services.notifier.resend(delivery_id),
            lambda delivery: f"succeeded ({delivery.state})",
        )

    def close(self) -> None:
        if self._owns_services:
            self.services.close()


def _backfill_target(request: BackfillRequest) -> str:
    days = (
        f"last {request.last_days} days" if request.last_days else f"{request.start_date}..{request.end_date}"
    )
    return f"{request.org_id or 'active orgs'} {days}"
