"""Local days as epoch milliseconds, on top of `service.core.calendar`.

The generator works on integer milliseconds (what clickhouse-connect writes fastest); where a local
day starts and ends is the calendar module's business, so these only convert its instants.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from service.core.calendar import day_bounds, start_of_day

__all__ = [
    "MS_DAY",
    "MS_HOUR",
    "day_bounds_ms",
    "local_day_start_ms",
    "local_hour",
    "ms",
    "recent_dst_days",
    "transition_ms",
]

MS_HOUR = 3_600_000
MS_DAY = 24 * MS_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _moment(epoch_ms: int, tz: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(milliseconds=epoch_ms)).astimezone(tz)


def local_day_start_ms(day: date, tz: ZoneInfo) -> int:
    """First instant of local `day` in `tz` (`calendar.start_of_day`), in epoch milliseconds."""
    return ms(start_of_day(day, tz))


def day_bounds_ms(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """[start of `day`, start of the next day) in `tz` (`calendar.day_bounds`), in epoch milliseconds."""
    start, end = day_bounds(day, tz)
    return ms(start), ms(end)


def local_hour(epoch_ms: int, tz: ZoneInfo) -> int:
    """The local wall-clock hour in `tz` at an instant."""
    return _moment(epoch_ms, tz).hour


def transition_ms(start: int, end: int, tz: ZoneInfo) -> int | None:
    """The instant in [start, end) where the UTC offset of `tz` changes, if it does."""
    before = _moment(start, tz).utcoffset()
    if before == _moment(end - 1, tz).utcoffset():
        return None
    lo, hi = start, end - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _moment(mid, tz).utcoffset() == before:
            lo = mid + 1
        else:
            hi = mid
    return lo


def recent_dst_days(tz: ZoneInfo, end: date) -> list[date]:
    """The last two DST-change days (not 24 hours long) up to `end`, within a year; none without DST."""
    found: list[date] = []
    day = end
    while len(found) < 2 and day > end - timedelta(days=366):
        start, nxt = day_bounds_ms(day, tz)  # not aware datetimes: those subtract wall clocks
        if nxt - start != MS_DAY:
            found.append(day)
        day -= timedelta(days=1)
    return found
