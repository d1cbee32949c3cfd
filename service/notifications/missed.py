"""`daily.missed`: an active organization without its yesterday's report two hours after its daily run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from reports_store import ReportStore
from service.core.calendar import zone
from service.jobs.scheduler import last_fire

GRACE = timedelta(hours=2)


@dataclass(frozen=True)
class MissedDay:
    org_id: str
    report_date: date
    due_at: datetime  # the scheduled run that should have stored it


def missed_days(store: ReportStore, hour: int, minute: int, now: datetime) -> list[MissedDay]:
    """For each active organization, its latest scheduled run at least GRACE ago, when that run's
    report day (the local yesterday of the run) has no stored report."""
    missed = []
    for org in store.list_organizations(active_only=True):
        due = last_fire(org, hour, minute, now - GRACE)
        if org.created_at is not None and org.created_at > due:
            continue  # created after that run: no report was expected
        day = due.astimezone(zone(org.timezone)).date() - timedelta(days=1)
        if not store.report_dates(org.org_id, day, day):
            missed.append(MissedDay(org.org_id, day, due))
    return missed
