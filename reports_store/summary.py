"""Headline KPIs pulled out of a stored report's JSON, for report listings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Summary key -> path inside report_data["kpis"]. Flat KPIs are also looked up at the top level,
# so reports that keep them beside "kpis" still summarize.
SUMMARY_KPIS: dict[str, tuple[str, ...]] = {
    "total_calls": ("total_calls",),
    "classified_calls": ("classified_calls",),
    "total_duration_hours": ("total_duration_hours",),
    "success_rate_percent": ("success_rate_percent",),
    "carrier_transfer_percentage": ("carrier_transfer_over_total_call_attempts", "carrier_asked_percentage"),
    "successfully_transferred_percentage": (
        "successfully_transferred_for_booking",
        "successfully_transferred_for_booking_percentage",
    ),
}


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def summarize_report(report_data: Mapping[str, Any]) -> dict[str, Any]:
    """The SUMMARY_KPIS of a report; a KPI the report lacks is None."""
    kpis = report_data.get("kpis")
    summary: dict[str, Any] = {}
    for name, path in SUMMARY_KPIS.items():
        value = _dig(kpis, path)
        if value is None and len(path) == 1:
            value = report_data.get(path[0])
        summary[name] = value
    return summary
