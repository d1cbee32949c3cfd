"""Webhook deliveries: stored first, then sent by one daemon worker thread with retries.

Every event becomes one `pending` delivery per URL in the report store. The worker sends due
deliveries, records each attempt, and retries network errors, 429 and 5xx after an exponential
backoff (NOTIFY_BACKOFF_SECONDS doubling per attempt, capped at NOTIFY_MAX_BACKOFF_SECONDS) until
NOTIFY_MAX_ATTEMPTS; any other 4xx is final. The store is the queue: a worker starting picks up
the pending deliveries a previous process left, so a restart loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from reports_store import JobRun, NotificationAttempt, NotificationDelivery, ReportStore
from service.core.config import Settings
from service.core.errors import NotFound
from service.notifications.events import (
    DAILY_MISSED,
    KPI_ANOMALY,
    REPORT_RESTATED,
    SIGNATURE_HEADER,
    event_body,
    job_event,
    sign,
)
from service.notifications.missed import missed_days

if TYPE_CHECKING:
    from service.jobs.report_jobs import StoredDay
    from service.jobs.restatement import Restatement

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 60.0  # the worker also looks at the store this often (deliveries of other processes)
_TERMINAL_JOB_STATUSES = {"succeeded", "failed", "partial", "interrupted"}


class Notifier:
    def __init__(
        self,
        settings: Settings,
        store: ReportStore,
        *,
        clock: Callable[[], datetime] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self._client = httpx.Client(timeout=settings.notify_timeout_seconds, transport=transport)
        self._wake: queue.Queue[int | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()  # one delivery attempt at a time (worker or a direct resend)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.notify_webhook_urls)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- events --------------------------------------------------------------------------------
    def emit(self, event_type: str, data: dict) -> list[NotificationDelivery]:
        """Store the event for every URL and wake the worker; never sends in the caller's thread."""
        if not self.enabled:
            return []
        now = self.clock()
        event_id, body = event_body(event_type, data, now)
        deliveries = [
            self.store.create_delivery(
                NotificationDelivery(
                    event_id=event_id,
                    event_type=event_type,
                    url=url,
                    body=body,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            for url in self.settings.notify_webhook_urls
        ]
        for delivery in deliveries:
            self._wake.put(delivery.id)
        return deliveries

    def job_finished(self, job: JobRun) -> None:
        """A job recorder observer: `job.succeeded`, or `job.failed` for failed/partial/interrupted."""
        if job.status in _TERMINAL_JOB_STATUSES:
            self.emit(*job_event(job))

    def report_restated(self, restatement: Restatement) -> None:
        """A restater observer: `report.restated` with the diff from the replaced revision."""
        self.emit(REPORT_RESTATED, restatement.event_data())

    def report_stored(self, stored: StoredDay) -> None:
        """A report-jobs observer: `kpi.anomaly` when a scheduled report flags anomalous KPIs."""
        anomalies = stored.report.get("anomalies") or []
        if stored.reason == "scheduled" and anomalies:
            data = {
                "org_id": stored.org_id,
                "report_date": stored.report_date.isoformat(),
                "anomalies": anomalies,
            }
            self.emit(KPI_ANOMALY, data)

    def check_missed(self, now: datetime | None = None) -> list[NotificationDelivery]:
        """`daily.missed` for each active organization without yesterday's report two hours after its
        scheduled run, once per organization-day (the keys are kept in the store)."""
        if not self.enabled:
            return []
        now = now or self.clock()
        sent = []
        hour, minute = self.settings.scheduler_hour, self.settings.scheduler_minute
        for missed in missed_days(self.store, hour, minute, now):
            if self.store.remember_key(f"{DAILY_MISSED}:{missed.org_id}:{missed.report_date}", now):
                data = {
                    "org_id": missed.org_id,
                    "report_date": missed.report_date.isoformat(),
                    "scheduled_at": missed.due_at.isoformat(),
                }
                sent.extend(self.emit(DAILY_MISSED, data))
        return sent

    # -- delivery ------------------------------------------------------------------------------
    def resend(self, delivery_id: int) -> NotificationDelivery:
        """Make a delivery pending again with a fresh attempt budget. With no worker in this process
        (the command line) it is attempted once at once; its retries wait for the service."""
        delivery = self.store.resend_delivery(delivery_id, self.clock())
        if delivery is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        if self.running:
            self._wake.put(delivery_id)
            return delivery
        return self.attempt(delivery)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1, 2, 4 ... times the base, capped)."""
        base = self.settings.notify_backoff_seconds
        return min(base * 2 ** (attempt - 1), self.settings.notify_max_backoff_seconds)

    def attempt(self, delivery: NotificationDelivery) -> NotificationDelivery:
        """Send one delivery once and record the attempt; returns the delivery as stored."""
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "call-analytics-webhooks/1",
            "X-Event-Id": delivery.event_id,
            "X-Event-Type": delivery.event_type,
        }
        secret = self.settings.notify_webhook_secret
        if secret is not None and secret.get_secret_value():
            headers[SIGNATURE_HEADER] = sign(secret.get_secret_value(), body)
        number = delivery.attempts + 1
        status_code: int | None = None
        error: str | None = None
        with self._send_lock:
            try:
                response = self._client.post(delivery.url, content=body, headers=headers)
                status_code = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
            now = self.clock()
            if status_code is not None and 200 <= status_code < 300:
                state, next_at = "delivered", None
            elif status_code is not None and 300 <= status_code < 500 and status_code != 429:
                state, next_at = "failed", None  # the receiver refuses it: retrying will not help
            elif number >= self.settings.notify_max_attempts:
                state, next_at = "failed", None
            else:
                state, next_at = "pending", now + timedelta(seconds=self.backoff(number))
            stored = self.store.record_attempt(
                delivery.id,
                NotificationAttempt(
                    attempt=number,
                    attempted_at=now,
                    status_code=status_code,
                    error=error,
                    next_attempt_at=next_at,
                ),
                state,
            )
        level = logging.INFO if state == "delivered" else logging.WARNING
        log.log(
            level,
            "webhook %s %s to %s: attempt %s %s (%s)",
            delivery.id,
            delivery.event_type,
            delivery.url,
            number,
            state,
            status_code if status_code is not None else error,
        )
        return stored

    def deliver_due(self) -> int:
        """Attempt every due pending delivery once; returns how many were attempted."""
        attempted = 0
        while not self._stop.is_set():
            due = self.store.due_deliveries(self.clock(), limit=50)
            if not due:
                break
            for delivery in due:
                if self._stop.is_set():
                    break
                self.attempt(delivery)
                attempted += 1
        return attempted

    # -- the worker ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker (it first sends what previous processes left pending)."""
        if self.running:
            return
        if self.enabled and not (
            self.settings.notify_webhook_secret and self.settings.notify_webhook_secret.get_secret_value()
        ):
            log.warning("NOTIFY_WEBHOOK_SECRET is not set: webhooks are sent without X-Signature-256")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def _wait_seconds(self) -> float:
        next_at = self.store.next_pending_at()
        if next_at is None:
            return IDLE_POLL_SECONDS
        return max(0.0, min(IDLE_POLL_SECONDS, (next_at - self.clock()).total_seconds()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
                timeout = self._wait_seconds()
            except Exception:  # the store may be briefly unavailable: try again later
                log.exception("webhook worker step failed")
                timeout = 5.0
            if timeout > 0:
                with suppress(queue.Empty):
                    self._wake.get(timeout=timeout)

    def stop(self, timeout: float = 10) -> None:
        """Stop the worker after the attempt in progress; pending deliveries stay in the store."""
        self._stop.set()
        self._wake.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._client.close()
