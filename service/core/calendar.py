"""Local calendar days of an organization as UTC instants, computed with zoneinfo.

ClickHouse date functions need a constant timezone (a per-row zone silently gives wrong days),
so the warehouse gets, per organization, the UTC bounds of each local day and attributes calls
with an ASOF join. Days are 23 or 25 hours long on DST changes; where a zone skips midnight the
day starts at its first instant that exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class UnknownTimezone(ValueError):
    pass


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """The tz database's zone names: available_timezones() walks the tzdata tree (milliseconds)."""
    return frozenset(available_timezones())


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The tz database zone `name`, or UnknownTimezone with a helpful message."""
    try:
        if name not in _zone_names() and name != "UTC":
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(
            f"Unknown timezone {name!r}: use a tz database name such as 'America/Chicago' or 'UTC'"
        ) from None


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
