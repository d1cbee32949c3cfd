"""Recording mart versions after a refresh reads the marts in batches of organizations."""

from __future__ import annotations

from datetime import date, timedelta

from service.jobs.refresh import _batches

DAY = date(2026, 1, 1)


def window(first: int, last: int) -> tuple[date, date]:
    return DAY + timedelta(days=first), DAY + timedelta(days=last)


def test_batches_bound_the_organization_days_read_at_once():
    year = {f"org{i:02d}": window(0, 364) for i in range(20)}
    batches = list(_batches(year, 4000))
    assert [len(b) for b in batches] == [10, 10]  # 10 x 365 days each: 4 queries, not 40
    assert {org for batch in batches for org in batch} == set(year)
    assert all(batch[org] == year[org] for batch in batches for org in batch)


def test_an_organization_wider_than_a_batch_is_read_alone():
    windows = {"short": window(0, 0), "long": window(0, 5000), "later": window(100, 100)}
    assert [sorted(b) for b in _batches(windows, 4000)] == [["short"], ["long"], ["later"]]
    assert list(_batches({}, 4000)) == []
