"""Local calendar days of an organization as UTC instants, computed with zoneinfo.

ClickHouse date functions need a constant timezone (a per-row zone silently gives wrong days),
so the warehouse gets, per organization, the UTC bounds of each local day and attributes calls
with an ASOF join. Days are 23 or 25 hours long on DST changes; where a zone skips midnight the
day starts at its first instant that exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reports_store.rules import UnknownTimezone, zone
from service.core.errors import InvalidInput, describe_validation_error

__all__ = [
    "MAX_RANGE_DAYS",
    "DateWindow",
    "LocalDate",
    "UnknownTimezone",
    "date_range",
    "day_bounds",
    "local_days",
    "start_of_day",
    "today_in",
    "zone",
]

# ClickHouse's Date type holds 1970-01-01 .. 2149-06-06: a date outside it is refused at the edge.
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(2149, 6, 6)
# The same bounds as a pattern, so the OpenAPI document states them (JSON Schema has no date minimum).
_DATE_PATTERN = (
    r"^((19[7-9][0-9]|20[0-9]{2}|21[0-3][0-9]|214[0-8])-[0-9]{2}-[0-9]{2}"
    r"|2149-(0[1-5]-[0-9]{2}|06-0[1-6]))$"
)
LocalDate = Annotated[
    date,
    Field(
        ge=FIRST_DATE,
        le=LAST_DATE,
        json_schema_extra={
            "pattern": _DATE_PATTERN,
            "formatMinimum": str(FIRST_DATE),
            "formatMaximum": str(LAST_DATE),
        },
    ),
]
MAX_RANGE_DAYS = 366


def first_instant_at(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant whose local wall-clock time in `tz` is at or after naive `wall`.

    An ambiguous wall time (clocks set back) gives its first occurrence; one that falls in a gap
    (clocks set forward) gives the end of the gap.
    """
    early, late = sorted(wall.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1))
    if early.astimezone(tz).replace(tzinfo=None) >= wall:
        return early.astimezone(tz)
    lo, hi = early, late  # in a gap: lo shows a wall time before `wall`, hi after; bisect to the second
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0).astimezone(tz)


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of local date `day` in `tz`, as an aware datetime in `tz`."""
    return first_instant_at(datetime.combine(day, time(0)), tz)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `day`, start of the next day) in `tz`."""
    return start_of_day(day, tz), start_of_day(day + timedelta(days=1), tz)


def today_in(tz: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(tz).date()


def date_range(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def local_days(tz_name: str, first: date, last: date) -> Iterable[tuple[date, datetime, datetime]]:
    """(local date, UTC start, UTC end) for each date in [first, last]."""
    tz = zone(tz_name)
    starts = [start_of_day(d, tz) for d in date_range(first, last + timedelta(days=1))]
    for index, day in enumerate(date_range(first, last)):
        yield day, starts[index].astimezone(UTC), starts[index + 1].astimezone(UTC)


class DateWindow(BaseModel):
    """Local dates [start, end], both inclusive: at most MAX_RANGE_DAYS days, inside the warehouse's range."""

    model_config = ConfigDict(frozen=True)

    start: LocalDate
    end: LocalDate

    @model_validator(mode="after")
    def _ordered_and_bounded(self) -> Self:
        if self.end < self.start:
            raise ValueError(f"end date {self.end} is before start date {self.start}")
        if (self.end - self.start).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(
                f"range {self.start}..{self.end} spans more than {MAX_RANGE_DAYS} days: split it"
            )
        return self

    @classmethod
    def of(cls, start: date, end: date) -> DateWindow:
        """The window, or InvalidInput with the rule it breaks."""
        try:
            return cls(start=start, end=end)
        except ValidationError as exc:
            raise InvalidInput(describe_validation_error(exc)) from None

    @property
    def days(self) -> list[date]:
        return list(date_range(self.start, self.end))
