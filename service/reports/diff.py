"""What changed between two revisions of a report: one entry per changed leaf, in dotted paths.

`kpis.total_calls`, `kpis.carrier_not_qualified.percentage`, and list items by their label:
`breakdowns.call_stage[TRANSFER_SUCCEEDED].count` (a breakdown's `value`; `null` for no value),
`anomalies[success_rate_percent].z`. Metadata (when it was generated, from which build) and the
read-time flags are left out: they change with every revision and are not numbers of the day.
"""

from __future__ import annotations

from typing import Any

# Top-level keys that describe a revision rather than the day's numbers.
NOT_COMPARED = frozenset({"metadata", "stale", "revision", "partial", "skipped"})


def _label(item: Any, position: int) -> tuple[str, tuple[str, ...]]:
    """A list item's label and the fields that make it (left out of its leaves: they never change)."""
    if isinstance(item, dict):
        if "kpi" in item:  # anomalies; per day in a range report
            if "date" in item:
                return f"{item['date']} {item['kpi']}", ("date", "kpi")
            return str(item["kpi"]), ("kpi",)
        if "value" in item:  # breakdown items; no value is `null`
            return ("null" if item["value"] is None else str(item["value"])), ("value",)
    return str(position), ()


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of `value` by its dotted path (an empty object or list has none)."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, child in value.items():
            found |= leaves(child, f"{path}.{key}" if path else str(key))
        return found
    if isinstance(value, list):
        found = {}
        for position, item in enumerate(value):
            label, label_fields = _label(item, position)
            if label_fields:
                item = {key: child for key, child in item.items() if key not in label_fields}
            found |= leaves(item, f"{path}[{label}]")
        return found
    return {path: value}


def report_leaves(report: dict[str, Any]) -> dict[str, Any]:
    return leaves({key: value for key, value in report.items() if key not in NOT_COMPARED})


def diff_reports(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """`[{"path", "from", "to"}]` for every leaf that differs, in the order of `after`, then removed ones."""
    old, new = report_leaves(before), report_leaves(after)
    # An absent leaf reads as null, so a value that became null (a comparison without enough
    # calls) shows as its leaves going to null, and null -> absent is no change at all.
    changes = [
        {"path": path, "from": old.get(path), "to": value}
        for path, value in new.items()
        if old.get(path) != value
    ]
    changes += [
        {"path": path, "from": value, "to": None}
        for path, value in old.items()
        if path not in new and value is not None
    ]
    return changes
