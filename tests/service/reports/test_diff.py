"""The restatement diff: one entry per changed leaf, list items by label, metadata left out."""

from __future__ import annotations

from service.reports.diff import diff_reports

BEFORE = {
    "date_range": {"tz": "UTC", "start_date": "2026-11-01T00:00:00+00:00"},
    "kpis": {
        "total_calls": 271,
        "success_rate_percent": 15.0,
        "carrier_not_qualified": {"count": 3, "total_calls": 271, "percentage": 1.11},
    },
    "breakdowns": {
        "call_stage": [
            {"value": "TRANSFER_SUCCEEDED", "count": 40, "percentage": 14.76},
            {"value": None, "count": 5, "percentage": 1.85},
        ]
    },
    "anomalies": [],
    "metadata": {"generated_at": "2026-11-02T06:00:00+00:00", "mart_fingerprint": "a"},
    "stale": True,
    "revision": 1,
}


def after(**changes) -> dict:
    report = {
        **BEFORE,
        "kpis": {**BEFORE["kpis"], "total_calls": 274},
        "breakdowns": {
            "call_stage": [
                {"value": "TRANSFER_SUCCEEDED", "count": 43, "percentage": 15.69},
                {"value": "NEW_STAGE", "count": 1, "percentage": 0.36},
            ]
        },
        "metadata": {"generated_at": "2026-11-03T06:00:00+00:00", "mart_fingerprint": "b"},
        "stale": False,
        "revision": 2,
    }
    return report | changes


def test_every_changed_leaf_once_with_labels_and_nothing_from_metadata():
    changes = diff_reports(BEFORE, after())
    assert changes == [
        {"path": "kpis.total_calls", "from": 271, "to": 274},
        {"path": "breakdowns.call_stage[TRANSFER_SUCCEEDED].count", "from": 40, "to": 43},
        {"path": "breakdowns.call_stage[TRANSFER_SUCCEEDED].percentage", "from": 14.76, "to": 15.69},
        {"path": "breakdowns.call_stage[NEW_STAGE].count", "from": None, "to": 1},
        {"path": "breakdowns.call_stage[NEW_STAGE].percentage", "from": None, "to": 0.36},
        {"path": "breakdowns.call_stage[null].count", "from": 5, "to": None},
        {"path": "breakdowns.call_stage[null].percentage", "from": 1.85, "to": None},
    ]


def test_identical_numbers_are_no_change_whatever_the_metadata():
    same = {**BEFORE, "metadata": {"generated_at": "later"}, "stale": False, "revision": 7}
    assert diff_reports(BEFORE, same) == []


def test_nested_objects_and_anomalies_are_compared_by_kpi():
    new = after(
        kpis={
            **BEFORE["kpis"],
            "carrier_not_qualified": {"count": 4, "total_calls": 271, "percentage": 1.48},
        },
        breakdowns=BEFORE["breakdowns"],
        anomalies=[{"kpi": "success_rate_percent", "value": 15.0, "z": 4.2, "direction": "down"}],
    )
    paths = {change["path"] for change in diff_reports(BEFORE, new)}
    assert paths == {
        "kpis.carrier_not_qualified.count",
        "kpis.carrier_not_qualified.percentage",
        "anomalies[success_rate_percent].value",
        "anomalies[success_rate_percent].z",
        "anomalies[success_rate_percent].direction",
    }


def test_a_value_that_became_null_shows_as_its_leaves_and_null_to_absent_is_nothing():
    before = {
        "comparisons": {"total_calls": {"previous_day": {"value": 46, "delta": -5}, "previous_week": None}}
    }
    after = {"comparisons": {"total_calls": {"previous_day": None}}}
    assert diff_reports(before, after) == [
        {"path": "comparisons.total_calls.previous_day.value", "from": 46, "to": None},
        {"path": "comparisons.total_calls.previous_day.delta", "from": -5, "to": None},
    ]
