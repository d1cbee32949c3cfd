"""Operations sent to the running service: while `serve` owns the embedded warehouse, CLI jobs and
dbt commands run there, one at a time, through its API (with API_KEY).

Request bodies are the application's own request models, dumped as JSON; answers are parsed back
into the same models the in-process implementation returns.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from reports_store import ApiToken, AuditRecord, JobRun, NotificationDelivery, Organization
from service.access.tokens import CreatedToken, TokenRequest
from service.core.config import Settings
from service.core.dbt_runner import DbtOutcome
from service.core.errors import ServiceError
from service.core.processes import pid_alive
from service.jobs.recorder import ProgressCallback
from service.jobs.report_jobs import GenerateResult
from service.jobs.requests import BackfillRequest, DailyRunRequest, GenerateRequest
from service.organizations.models import NewOrganization, OrganizationChanges
from service.reports.export import ExportFormat

POLL_SECONDS = 0.5


class RemoteError(ServiceError):
    """The running service refused or could not run the request; one line says why."""


def service_file(settings: Settings) -> Path:
    """Where `serve` records its pid and URL, beside the embedded warehouse's data."""
    return settings.chdb_dir / "service.json"


def running_service_url(settings: Settings) -> str | None:
    """The URL of the service that owns the embedded warehouse, when one runs (never this process)."""
    if not settings.embedded:
        return None
    try:
        info = json.loads(service_file(settings).read_text())
    except (OSError, ValueError):
        return None
    pid, url = info.get("pid"), info.get("url")
    if not isinstance(pid, int) or pid == os.getpid() or not url or not pid_alive(pid):
        return None
    return str(url)


class RemoteOperations:
    def __init__(self, settings: Settings, url: str) -> None:
        self.where = url
        self.settings = settings

    def _request(
        self, method: str, path: str, body: BaseModel | None = None, *, raw: bool = False, **kwargs: Any
    ) -> Any:
        headers = {}
        key = self.settings.api_key
        if key is not None and key.get_secret_value():
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        if body is not None:
            kwargs["json"] = body.model_dump(mode="json", exclude_unset=True)
        try:
            response = httpx.request(method, f"{self.where}{path}", headers=headers, timeout=3600, **kwargs)
        except httpx.TransportError as exc:
            raise RemoteError(
                f"the service at {self.where} owns the warehouse but does not answer ({type(exc).__name__}); "
                "wait for it to start or stop it"
            ) from None
        if response.status_code in (401, 403):
            raise RemoteError(f"the service at {self.where} refused the admin key: set API_KEY to its key")
        if response.status_code == 204:
            return None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:200]
            raise RemoteError(str(detail))
        return response.content if raw else response.json()

    def organizations(self) -> list[Organization]:
        return [Organization.model_validate(org) for org in self._request("GET", "/api/orgs")]

    def create_organization(self, new: NewOrganization) -> Organization:
        return Organization.model_validate(self._request("POST", "/api/orgs", new))

    def update_organization(self, org_id: str, changes: OrganizationChanges) -> Organization:
        return Organization.model_validate(self._request("PATCH", f"/api/orgs/{org_id}", changes))

    def generate(self, request: GenerateRequest) -> GenerateResult:
        report = self._request("POST", "/api/reports/generate", request)
        # The API's `skipped` flag becomes the status: the report itself is the stored one, as in-process.
        return GenerateResult("skipped" if report.pop("skipped", False) else "generated", report)

    def backfill(self, request: BackfillRequest, progress: ProgressCallback | None = None) -> JobRun:
        """Start the backfill in the running service and follow its progress to the end."""
        job = JobRun.model_validate(self._request("POST", "/api/reports/backfill", request))
        while job.status == "running":
            time.sleep(POLL_SECONDS)
            job = JobRun.model_validate(self._request("GET", f"/api/jobs/{job.id}"))
            if progress:
                progress(round(1000 * job.progress), 1000)
        return job

    def run_daily(self, request: DailyRunRequest) -> JobRun:
        return JobRun.model_validate(self._request("POST", "/api/admin/run-daily", request))

    def report_summaries(self, org_id: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        params = {"limit": limit, "offset": offset} | ({"org_id": org_id} if org_id else {})
        return self._request("GET", "/api/reports", params=params)

    def report(self, org_id: str | None, day: date | None, revision: int | None = None) -> dict[str, Any]:
        path = f"/api/reports/{day.isoformat()}" if day else "/api/reports/latest"
        params = _params(org_id=org_id, revision=revision)
        return self._request("GET", path, params=params)

    def report_revisions(self, org_id: str | None, day: date) -> list[dict[str, Any]]:
        return self._request(
            "GET", f"/api/reports/{day.isoformat()}/revisions", params=_params(org_id=org_id)
        )

    def report_diff(
        self, org_id: str | None, day: date, from_revision: int | None, to_revision: int | None
    ) -> dict[str, Any]:
        params = _params(org_id=org_id, **{"from": from_revision, "to": to_revision})
        return self._request("GET", f"/api/reports/{day.isoformat()}/diff", params=params)

    def export_reports(self, org_id: str | None, start: date, end: date, format: ExportFormat) -> bytes:
        params = _params(org_id=org_id, start_date=start.isoformat(), end_date=end.isoformat(), format=format)
        return self._request("GET", "/api/reports/export", params=params, raw=True)

    def delete_report(self, org_id: str | None, day: date) -> JobRun:
        params = {"org_id": org_id} if org_id else {}
        return JobRun.model_validate(
            self._request("DELETE", f"/api/reports/{day.isoformat()}", params=params)
        )

    def dbt(self, args: Sequence[str]) -> DbtOutcome:
        return DbtOutcome.model_validate(self._request("POST", "/api/admin/dbt", json={"args": list(args)}))

    def create_token(self, request: TokenRequest) -> CreatedToken:
        return CreatedToken.model_validate(self._request("POST", "/api/tokens", request))

    def tokens(self) -> list[ApiToken]:
        return [_listed_token(token) for token in self._request("GET", "/api/tokens")]

    def revoke_token(self, token_id: str) -> ApiToken:
        self._request("DELETE", f"/api/tokens/{token_id}")
        listed = {token.id: token for token in self.tokens()}
        return listed[token_id]

    def audit(self, limit: int, offset: int) -> list[AuditRecord]:
        records = self._request("GET", "/api/audit", params={"limit": limit, "offset": offset})
        return [AuditRecord.model_validate(record) for record in records]

    def notifications(self, limit: int, offset: int) -> list[NotificationDelivery]:
        deliveries = self._request("GET", "/api/notifications", params={"limit": limit, "offset": offset})
        return [NotificationDelivery.model_validate(delivery) for delivery in deliveries]

    def resend_notification(self, delivery_id: int) -> NotificationDelivery:
        return NotificationDelivery.model_validate(
            self._request("POST", f"/api/notifications/{delivery_id}/resend")
        )

    def close(self) -> None:
        pass


def _params(**values: Any) -> dict[str, Any]:
    """Query parameters without the ones left unset."""
    return {name: value for name, value in values.items() if value is not None}


def _listed_token(data: dict[str, Any]) -> ApiToken:
    """A token as the API lists it (never with its hash)."""
    return ApiToken.model_validate(data | {"secret_hash": ""})
