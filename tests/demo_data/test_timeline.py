"""Local days in milliseconds agree with the calendar module, DST days included."""

from __future__ import annotations

import importlib.util
from datetime import date

from demo_data.timeline import day_bounds_ms, local_day_start_ms, ms, recent_dst_days, transition_ms
from service.core.calendar import local_days, zone


def test_day_bounds_are_the_calendar_days() -> None:
    for name, first, last in (
        ("America/Chicago", date(2025, 3, 8), date(2025, 3, 10)),  # 23 hours
        ("America/Chicago", date(2025, 11, 1), date(2025, 11, 3)),  # 25 hours
        ("America/Santiago", date(2025, 9, 6), date(2025, 9, 8)),  # midnight does not exist
        ("Asia/Kolkata", date(2025, 1, 1), date(2025, 1, 2)),
    ):
        for day, start, end in local_days(name, first, last):
            assert day_bounds_ms(day, zone(name)) == (ms(start), ms(end))
            assert local_day_start_ms(day, zone(name)) == ms(start)


def test_santiago_day_starts_at_one_in_the_morning() -> None:
    start, end = day_bounds_ms(date(2025, 9, 7), zone("America/Santiago"))
    assert start == 1_757_217_600_000  # 2025-09-07 04:00 UTC, 01:00 -03
    assert end - start == 23 * 3_600_000
    assert transition_ms(start, end, zone("America/Santiago")) is None  # it changed at the start


def test_recent_dst_days() -> None:
    assert recent_dst_days(zone("America/Chicago"), date(2025, 11, 3)) == [
        date(2025, 11, 2),
        date(2025, 3, 9),
    ]
    assert recent_dst_days(zone("Australia/Sydney"), date(2025, 11, 3)) == [
        date(2025, 10, 5),
        date(2025, 4, 6),
    ]
    assert recent_dst_days(zone("America/Santiago"), date(2025, 11, 3)) == [
        date(2025, 9, 7),
        date(2025, 4, 5),
    ]
    assert recent_dst_days(zone("Asia/Kolkata"), date(2025, 11, 3)) == []
    start, end = day_bounds_ms(date(2025, 11, 2), zone("America/Chicago"))
    assert transition_ms(start, end, zone("America/Chicago")) == 1_762_066_800_000  # 07:00 UTC


def test_demo_data_is_not_in_the_runtime_package() -> None:
    assert importlib.util.find_spec("service.demo_data") is None
