"""What each report job takes: one model per job, the API's request body and the CLI's call alike."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reports_store.rules import Identifier
from service.core.calendar import MAX_RANGE_DAYS, LocalDate


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: Identifier | None = Field(default=None, description="Default: the default organization.")
    date: LocalDate | None = Field(
        default=None, description="Local date; default: yesterday in the org's zone."
    )
    force: bool = Field(default=False, description="Regenerate a report that already exists.")
    allow_empty: bool = Field(
        default=False, description="Store a report for a day before the organization's first recorded call."
    )


class DailyRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: Identifier | None = Field(default=None, description="Default: every active organization.")
    date: LocalDate | None = Field(default=None, description="Default: yesterday in each org's zone.")
    force: bool = False


class BackfillRequest(BaseModel):
    """start_date and end_date, or last_days (the last N days that are over)."""

    model_config = ConfigDict(extra="forbid")

    org_id: Identifier | None = Field(default=None, description="Default: every active organization.")
    start_date: LocalDate | None = Field(default=None, description="First local date, inclusive.")
    end_date: LocalDate | None = Field(default=None, description="Last local date, inclusive.")
    last_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RANGE_DAYS,
        description="Instead of the dates: the last N days that are over.",
    )
    force: bool = False
    allow_empty: bool = Field(
        default=False, description="Also store days before each organization's first recorded call."
    )

    @model_validator(mode="after")
    def _one_way_to_say_the_days(self) -> Self:
        dates = (self.start_date is not None) + (self.end_date is not None)
        if self.last_days is None and dates != 2:
            raise ValueError("give start_date and end_date, or last_days")
        if self.last_days is not None and dates:
            raise ValueError("give either last_days or start_date/end_date, not both")
        return self
