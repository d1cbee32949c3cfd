"""One settings object for the whole service, read from the environment and an optional `.env`."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reports_store.rules import Identifier, PhoneNumber, TimezoneName

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DATABASE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Default organization (seeded into the store at start when ORG_ID is set).
    org_id: Identifier | None = None
    broker_node_persistent_id: Identifier | None = None
    client_name: str | None = None
    default_timezone: TimezoneName = "UTC"
    excluded_numbers: Annotated[list[PhoneNumber], NoDecode] = Field(default_factory=list)

    # Warehouse: no CLICKHOUSE_URL means the embedded chDB warehouse at CHDB_PATH.
    clickhouse_url: str | None = None
    clickhouse_username: str = "default"
    clickhouse_password: SecretStr = SecretStr("")
    clickhouse_database: str = "default"
    clickhouse_secure: bool | None = None
    clickhouse_cluster: str | None = None
    clickhouse_query_timeout_s: int = 180
    clickhouse_max_memory_usage: int = 10_000_000_000
    chdb_path: Path = Path(".warehouse")
    dbt_schema: str = "analytics"
    # The dbt project (models, the KPI catalogue in its mart YAML).
    dbt_project_dir: Path = DBT_PROJECT_DIR
    # dbt's target folder (manifest, compiled SQL, docs); one per process that runs dbt.
    dbt_target_path: Path = DBT_PROJECT_DIR / "target"

    reports_store_url: str = "sqlite:///reports.db"
    api_key: SecretStr | None = None
    # Uncached live queries one token may run at once (each can cost hundreds of ms of warehouse time).
    live_query_concurrency_per_token: int = Field(default=2, ge=1, le=64)
    scheduler_enabled: bool = True
    scheduler_hour: int = Field(default=6, ge=0, le=23)
    scheduler_minute: int = Field(default=0, ge=0, le=59)
    scheduler_catchup_days: int = Field(default=7, ge=0, le=366)
    scheduler_refresh_minutes: int = Field(default=15, ge=1, le=1440)
    # After a mart refresh, stored reports of changed days this recent (in the organization's own
    # days) get a `restated` revision; older changed days stay `stale` for an operator to decide.
    restate_within_days: int = Field(default=7, ge=0, le=3660)
    # Full builds, backfills and large windows run in slices of this many local days of every
    # organization (bounded memory); a full build's per-call mart in ranges of run ids of as many calls.
    refresh_slice_days: int = Field(default=31, ge=1, le=3660)
    port: int = 8000
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Logs on stdout (service/observability/logs.py): one JSON object per line, or text for a
    # person; unset means json unless stdout is a terminal.
    log_format: Literal["json", "text"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics counts the stale stored reports of this many recent days (each scrape reads them).
    metrics_stale_report_days: int = Field(default=92, ge=1, le=3660)

    # Signed webhooks (service/notifications): job.succeeded, job.failed, daily.missed to each URL.
    notify_webhook_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    notify_webhook_secret: SecretStr | None = None
    notify_max_attempts: int = Field(default=6, ge=1, le=100)
    # 120 s doubling, capped at an hour: the default 6 attempts span about 62 minutes, so a receiver
    # that is down for an hour loses nothing.
    notify_backoff_seconds: float = Field(default=120.0, gt=0, le=3600)
    notify_max_backoff_seconds: float = Field(default=3600.0, gt=0, le=86400)
    notify_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("excluded_numbers", "cors_origins", "notify_webhook_urls", mode="before")
    @classmethod
    def _split_numbers(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _case_insensitive(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            value = value.strip()
            if info.field_name == "log_level":
                return value.upper() or "INFO"
            return value.lower() or None
        return value

    @field_validator("clickhouse_database", "dbt_schema")
    @classmethod
    def _valid_database(cls, value: str) -> str:
        if not DATABASE_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a valid ClickHouse database name")
        return value

    @property
    def embedded(self) -> bool:
        return not self.clickhouse_url

    @property
    def manifest_path(self) -> Path:
        return self.dbt_target_path / "manifest.json"

    @property
    def chdb_dir(self) -> Path:
        return self.chdb_path.resolve()

    def server_endpoint(self) -> tuple[str, int, bool]:
        """Host, port and TLS derived from CLICKHOUSE_URL (CLICKHOUSE_SECURE overrides the scheme)."""
        url = urlparse(
            self.clickhouse_url if "://" in (self.clickhouse_url or "") else f"http://{self.clickhouse_url}"
        )
        secure = self.clickhouse_secure if self.clickhouse_secure is not None else url.scheme == "https"
        port = url.port or (8443 if secure else 8123)
        return url.hostname or "localhost", port, secure

    def public_view(self) -> dict[str, object]:
        """The configuration with secrets masked (debug endpoint, logs)."""
        values = self.model_dump(mode="json")
        for secret in ("clickhouse_password", "api_key", "notify_webhook_secret"):
            values[secret] = (
                "***" if getattr(self, secret) and getattr(self, secret).get_secret_value() else None
            )
        return values

    def query_limits(self) -> dict[str, int]:
        """The seed's per-query limits, sent with every query."""
        return {
            "max_execution_time": self.clickhouse_query_timeout_s,
            "max_memory_usage": self.clickhouse_max_memory_usage,
        }


@lru_cache
def get_settings() -> Settings:
    return Settings()
