"""Automatic restatement: after a mart refresh, recent stored reports whose numbers changed get a
new revision (reason `restated`) instead of staying wrong.

The store already knows which reports changed (the day's recorded mart fingerprint differs from
the report's, the `stale` rule), so finding them is one query; their new reports are built from
one read of the marts. Days older than `restate_within_days` in the organization's own calendar
stay `stale`: restating old history is an operator's decision (`generate --force`).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from reports_store import Organization, ReportStore
from service.core.calendar import today_in, zone
from service.reports.diff import diff_reports

log = logging.getLogger(__name__)

# Builds the reports of some organization-days from the current marts (ReportJobs.build_reports).
ReportBuilder = Callable[[list[Organization], dict[str, list[date]]], dict[tuple[str, date], dict[str, Any]]]


@dataclass
class Restatement:
    """One restated report: which day, the revision it replaced and the new one, what changed."""

    org_id: str
    report_date: date
    from_revision: int
    revision: int
    changes: list[dict[str, Any]] = field(default_factory=list)

    def event_data(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "report_date": self.report_date.isoformat(),
            "from_revision": self.from_revision,
            "revision": self.revision,
            "changes": self.changes,
        }


class Restater:
    def __init__(self, store: ReportStore, within_days: int, build_reports: ReportBuilder) -> None:
        self.store = store
        self.within_days = within_days
        self.build_reports = build_reports
        self.observers: list[Callable[[Restatement], None]] = []  # the `report.restated` event
        self._local = threading.local()

    @contextmanager
    def excluding(self, keys: Iterable[tuple[str, date]]) -> Iterator[None]:
        """Leave these organization-days alone during refreshes in this thread: the job that ran the
        refresh is about to store them itself (generate --force, a forced backfill)."""
        previous = getattr(self._local, "excluded", frozenset())
        self._local.excluded = previous | frozenset(keys)
        try:
            yield
        finally:
            self._local.excluded = previous

    def due(self, now: datetime | None = None) -> dict[str, list[date]]:
        """The changed stored reports recent enough to restate, by organization."""
        orgs = {org.org_id: org for org in self.store.list_organizations()}
        cutoffs = {
            org_id: today_in(zone(org.timezone), now) - timedelta(days=self.within_days)
            for org_id, org in orgs.items()
        }
        if not cutoffs:
            return {}
        excluded = getattr(self._local, "excluded", frozenset())
        due: defaultdict[str, list[date]] = defaultdict(list)
        for org_id, day in self.store.changed_reports(min(cutoffs.values())):
            if org_id in cutoffs and day >= cutoffs[org_id] and (org_id, day) not in excluded:
                due[org_id].append(day)
        return dict(due)

    def restate_changed(self, now: datetime | None = None) -> list[Restatement]:
        """Restate every due report; a failure is logged (the reports stay `stale` and the next refresh
        tries again), never raised into the refresh that triggered it."""
        try:
            return self._restate(now)
        except Exception:
            log.exception("restating changed reports failed; they stay stale until the next refresh")
            return []

    def _restate(self, now: datetime | None) -> list[Restatement]:
        due = self.due(now)
        if not due:
            return []
        orgs = [org for org in self.store.list_organizations() if org.org_id in due]
        reports = self.build_reports(orgs, due)
        done = []
        for (org_id, day), report in reports.items():
            before = self.store.get_report(org_id, day)
            if before is None:  # deleted meanwhile: nothing to restate
                continue
            self.store.save_report(org_id, day, report, reason="restated")
            after = self.store.get_report(org_id, day)
            restatement = Restatement(
                org_id,
                day,
                before.revision,
                after.revision if after else before.revision + 1,
                diff_reports(before.report_data, report),
            )
            done.append(restatement)
            for observer in self.observers:
                try:
                    observer(restatement)
                except Exception:
                    log.exception("restatement observer %r failed", observer)
        if done:
            log.info(
                "restated %d report(s) whose mart numbers changed: %s",
                len(done),
                ", ".join(f"{r.org_id}/{r.report_date} r{r.revision}" for r in done[:20]),
            )
        return done
