"""The running service as seen from the CLI: while `serve` owns the embedded warehouse, CLI jobs
and dbt commands are sent to it over HTTP (with API_KEY) and run there, one at a time."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from service.core.config import Settings


class RemoteError(RuntimeError):
    """The running service refused or could not run the request; one line says why."""


def service_file(settings: Settings) -> Path:
    """Where `serve` records its pid and URL, beside the embedded warehouse's data."""
    return settings.chdb_dir / "service.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RemoteService:
    url: str
    settings: Settings

    def request(self, method: str, path: str, *, timeout: float = 3600, **kwargs: Any) -> Any:
        headers = {}
        if self.settings.api_key and self.settings.api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        try:
            response = httpx.request(method, f"{self.url}{path}", headers=headers, timeout=timeout, **kwargs)
        except httpx.TransportError as exc:
            raise RemoteError(
                f"the service at {self.url} owns the warehouse but does not answer ({type(exc).__name__}); "
                "wait for it to start or stop it"
            ) from None
        if response.status_code in (401, 403):
            raise RemoteError(f"the service at {self.url} refused the admin key: set API_KEY to its key")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:200]
            raise RemoteError(str(detail))
        return response.json()


def running_service(settings: Settings) -> RemoteService | None:
    """The service that owns the embedded warehouse, when one runs (never this process)."""
    if not settings.embedded:
        return None
    marker = service_file(settings)
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    pid, url = info.get("pid"), info.get("url")
    if not isinstance(pid, int) or pid == os.getpid() or not url or not _alive(pid):
        return None
    return RemoteService(url, settings)
