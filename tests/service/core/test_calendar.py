"""Local days as UTC instants, DST in both hemispheres and zones that skip midnight."""

from datetime import UTC, date, datetime, timedelta

import pytest

from service.core.calendar import UnknownTimezone, day_bounds, first_instant_at, local_days, zone


@pytest.mark.parametrize(
    ("tz", "day", "hours", "start"),
    [
        ("America/Chicago", date(2025, 3, 9), 23, "2025-03-09T00:00:00-06:00"),
        ("America/Chicago", date(2025, 11, 2), 25, "2025-11-02T00:00:00-05:00"),
        ("Australia/Sydney", date(2025, 10, 5), 23, "2025-10-05T00:00:00+10:00"),
        ("Australia/Sydney", date(2025, 4, 6), 25, "2025-04-06T00:00:00+11:00"),
        ("Asia/Kolkata", date(2025, 6, 1), 24, "2025-06-01T00:00:00+05:30"),
        # Santiago sets clocks forward at midnight: the day starts at 01:00.
        ("America/Santiago", date(2025, 9, 7), 23, "2025-09-07T01:00:00-03:00"),
        # Havana sets them back at 01:00 to 00:00: the first midnight starts the day.
        ("America/Havana", date(2025, 11, 2), 25, "2025-11-02T00:00:00-04:00"),
    ],
)
def test_day_bounds(tz, day, hours, start):
    first, end = day_bounds(day, zone(tz))
    assert first.isoformat() == start
    assert end.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=hours)


def test_local_days_are_contiguous():
    days = list(local_days("America/Chicago", date(2025, 3, 1), date(2025, 11, 30)))
    assert all(prev[2] == nxt[1] for prev, nxt in zip(days, days[1:], strict=False))
    assert {d[1].tzinfo for d in days} == {UTC}


def test_wall_time_in_a_gap_fires_at_the_gap_end_and_ambiguous_fires_once():
    chicago = zone("America/Chicago")
    assert first_instant_at(datetime(2025, 3, 9, 2, 30), chicago).isoformat() == "2025-03-09T03:00:00-05:00"
    assert first_instant_at(datetime(2025, 11, 2, 1, 30), chicago).isoformat() == "2025-11-02T01:30:00-05:00"


def test_unknown_timezone_has_a_helpful_message():
    with pytest.raises(UnknownTimezone, match="tz database name"):
        zone("Mars/Olympus")
