"""Signed webhooks against a real local HTTP receiver: retries, signature, attempts, restart, events."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from reports_store import NotificationDelivery, Organization, ReportStore, open_store
from service.access.principal import CLI
from service.jobs.recorder import JobRecorder
from service.jobs.scheduler import Scheduler
from service.notifications import Notifier
from service.operations.local import LocalOperations
from service.services import Services
from tests.conftest import make_settings

SECRET = "whsec-test-secret-123"


class Receiver:
    """A webhook receiver on 127.0.0.1 answering `statuses` in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def settings_for(tmp_path: Path, url: str, **overrides: object):
    values: dict[str, object] = {
        "reports_store_url": f"sqlite:///{tmp_path / 'notify.db'}",
        "notify_webhook_urls": url,  # the comma-separated form of the environment
        "notify_webhook_secret": SECRET,
        "notify_backoff_seconds": 0.05,
        "notify_max_backoff_seconds": 0.2,
        "notify_timeout_seconds": 2,
    }
    return make_settings("notify", **(values | overrides))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReportStore]:
    with open_store(f"sqlite:///{tmp_path / 'notify.db'}") as store:
        yield store


def wait_for(store: ReportStore, delivery_id: int, state: str, timeout: float = 10) -> NotificationDelivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery = store.get_delivery(delivery_id)
        if delivery is not None and delivery.state == state:
            return delivery
        time.sleep(0.02)
    raise AssertionError(f"delivery {delivery_id} not {state}: {store.get_delivery(delivery_id)}")


def finished_job(recorder: JobRecorder, **finish: object):
    outcome = recorder.start("daily", "acme", None, None)
    outcome.generated.append("acme/2026-11-25")
    return recorder.finish(outcome, **finish).job


def test_a_job_event_is_signed_retried_after_503_and_every_attempt_recorded(tmp_path, store, receiver):
    receiver.statuses = [503, 503]
    notifier = Notifier(settings_for(tmp_path, receiver.url), store)
    recorder = JobRecorder(store)
    recorder.observers.append(notifier.job_finished)
    notifier.start()
    try:
        job = finished_job(recorder)
        (delivery,) = store.list_deliveries()
        delivered = wait_for(store, delivery.id, "delivered")
    finally:
        notifier.close()

    assert [a.status_code for a in delivered.history] == [503, 503, 200]
    assert [a.attempt for a in delivered.history] == [1, 2, 3] and delivered.attempts == 3
    assert delivered.history[0].next_attempt_at is not None and delivered.history[-1].next_attempt_at is None
    assert len(receiver.requests) == 3
    headers, body = receiver.requests[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Signature-256"], expected)
    assert body.decode() == delivered.body  # the stored body is the exact bytes signed
    event = json.loads(body)
    assert headers["X-Event-Id"] == event["id"] == delivered.event_id
    assert headers["X-Event-Type"] == event["type"] == "job.succeeded"
    assert set(event) == {"id", "type", "occurred_at", "data"}
    assert datetime.fromisoformat(event["occurred_at"]).tzinfo is not None
    assert event["data"]["job_id"] == job.id and event["data"]["kind"] == "daily"
    assert event["data"]["org_id"] == "acme" and event["data"]["status"] == "succeeded"
    assert event["data"]["counts"] == {"generated": 1, "skipped": 0, "failed": 0}
    assert event["data"]["error"] is None
    # every attempt carried the same event id and signature
    assert {h["X-Event-Id"] for h, _ in receiver.requests} == {event["id"]}
    assert SECRET not in json.dumps([d.model_dump(mode="json") for d in store.list_deliveries()])


@pytest.mark.parametrize(
    ("finish", "status"),
    [({"error": "boom"}, "failed"), ({"interrupted": True, "error": "stop"}, "interrupted")],
)
def test_failed_and_interrupted_jobs_emit_job_failed_with_their_status(
    tmp_path, store, receiver, finish, status
):
    notifier = Notifier(settings_for(tmp_path, receiver.url), store)
    recorder = JobRecorder(store)
    recorder.observers.append(notifier.job_finished)
    finished_job(recorder, **finish)
    (delivery,) = store.list_deliveries()
    assert delivery.event_type == "job.failed" and delivery.state == "pending"
    data = json.loads(delivery.body)["data"]
    assert data["status"] == status and data["error"] == finish["error"]
    notifier.close()


def test_a_pending_delivery_is_sent_by_the_next_process(tmp_path, store, receiver):
    settings = settings_for(tmp_path, receiver.url)
    first = Notifier(settings, store)  # its worker never runs: the process "stops"
    (delivery,) = first.emit("job.succeeded", {"kind": "refresh"})
    first.close()
    assert store.get_delivery(delivery.id).state == "pending" and not receiver.requests

    second = Notifier(settings, store)
    second.start()
    try:
        delivered = wait_for(store, delivery.id, "delivered")
    finally:
        second.close()
    assert len(delivered.history) == 1 and len(receiver.requests) == 1
    assert receiver.requests[0][0]["X-Event-Id"] == delivery.event_id


def test_4xx_is_final_and_attempts_stop_at_the_maximum(tmp_path, store, receiver):
    receiver.statuses = [400] + [503] * 10
    notifier = Notifier(settings_for(tmp_path, receiver.url, notify_max_attempts=3), store)
    notifier.start()
    try:
        (refused,) = notifier.emit("job.succeeded", {})
        assert [a.status_code for a in wait_for(store, refused.id, "failed").history] == [400]
        (unavailable,) = notifier.emit("job.succeeded", {})
        failed = wait_for(store, unavailable.id, "failed")
    finally:
        notifier.close()
    assert [a.status_code for a in failed.history] == [503, 503, 503] and failed.next_attempt_at is None


def test_backoff_doubles_up_to_the_cap(tmp_path, store):
    notifier = Notifier(
        settings_for(
            tmp_path, "http://127.0.0.1:9/", notify_backoff_seconds=1, notify_max_backoff_seconds=600
        ),
        store,
    )
    assert [notifier.backoff(n) for n in range(1, 12)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600]
    notifier.close()


def test_network_errors_are_retried_and_resend_gives_a_fresh_budget(tmp_path, receiver):
    settings = settings_for(tmp_path, "http://127.0.0.1:9/hook", notify_max_attempts=2)  # nothing listens
    services = Services.open(settings)
    try:
        (delivery,) = services.notifier.emit("job.succeeded", {})
        services.notifier.start()
        failed = wait_for(services.store, delivery.id, "failed")
        services.notifier.stop()
        assert len(failed.history) == 2 and all(a.error and a.status_code is None for a in failed.history)
        # the receiver is back (here: the stored row is pointed at the test receiver)
        with services.store._session(write=True) as conn:
            conn.execute(
                "UPDATE notification_deliveries SET url = ? WHERE id = ?", [receiver.url, delivery.id]
            )
        ops = LocalOperations(services, CLI)
        resent = ops.resend_notification(delivery.id)  # no worker in this process: attempted at once
        assert resent.state == "delivered" and resent.history[-1].status_code == 200
        assert resent.history[-1].attempt == 1 and len(resent.history) == 3
        assert ops.notifications(10, 0)[0].id == delivery.id
        assert services.store.list_audit(1)[0].action == "notifications.resend"
    finally:
        services.close()


def test_daily_missed_once_per_org_day_and_not_when_the_report_exists(tmp_path, store):
    notifier = Notifier(settings_for(tmp_path, "http://127.0.0.1:9/"), store)
    for org_id in ("has-report", "missing"):
        store.upsert_organization(
            Organization(
                org_id=org_id,
                name=org_id,
                node_persistent_id="n-1",
                timezone="America/Chicago",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        store.save_report(org_id, date(2026, 11, 24), {"kpis": {}})  # the day before is complete
    store.save_report("has-report", date(2026, 11, 25), {"kpis": {}})
    # 06:00 Chicago on 2026-11-26 is 12:00 UTC: the 2026-11-25 reports are not missed before 14:00 UTC
    assert notifier.check_missed(datetime(2026, 11, 26, 13, 59, tzinfo=UTC)) == []
    (missed,) = notifier.check_missed(datetime(2026, 11, 26, 14, 0, tzinfo=UTC))
    event = json.loads(missed.body)
    assert event["type"] == "daily.missed"
    assert event["data"]["org_id"] == "missing" and event["data"]["report_date"] == "2026-11-25"
    assert notifier.check_missed(datetime(2026, 11, 26, 15, 0, tzinfo=UTC)) == []  # once per org-day
    notifier.close()


def test_the_scheduler_tick_runs_the_missed_check():
    now = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    seen: list[datetime] = []
    jobs = SimpleNamespace(
        settings=make_settings("notify"), store=SimpleNamespace(list_organizations=lambda **_: [])
    )
    Scheduler(jobs, clock=lambda: now, on_tick=seen.append).tick()  # type: ignore[arg-type]
    assert seen == [now]


def test_the_admin_api_lists_and_resends_deliveries(tmp_path, receiver):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from service.api.app import install_error_handlers
    from service.api.deps import SCOPES
    from service.api.routers import notifications

    services = Services.open(settings_for(tmp_path, receiver.url, api_key="admin-key-for-tests"))
    try:
        app = FastAPI()
        app.include_router(notifications.router)
        install_error_handlers(app)
        app.state.service = SimpleNamespace(services=services)
        assert all(
            [SCOPES.get(d.dependency) for d in route.dependencies] == ["admin"]
            for route in notifications.router.routes
        )
        (delivery,) = services.notifier.emit("job.failed", {"kind": "backfill"})
        with TestClient(app) as http:
            assert http.get("/api/notifications").status_code == 401
            admin = {"Authorization": "Bearer admin-key-for-tests"}
            listed = http.get("/api/notifications", params={"limit": 5}, headers=admin).json()
            assert [d["id"] for d in listed] == [delivery.id] and listed[0]["state"] == "pending"
            resent = http.post(f"/api/notifications/{delivery.id}/resend", headers=admin).json()
            assert resent["state"] == "delivered" and resent["history"][0]["status_code"] == 200
            assert http.post("/api/notifications/999/resend", headers=admin).status_code == 404
    finally:
        services.close()


def test_restated_reports_and_anomalies_of_scheduled_reports_are_events(tmp_path, store, receiver):
    from datetime import date

    from service.jobs.report_jobs import StoredDay
    from service.jobs.restatement import Restatement

    notifier = Notifier(settings_for(tmp_path, receiver.url), store)
    change = {"path": "kpis.total_calls", "from": 271, "to": 274}
    notifier.report_restated(Restatement("acme", date(2026, 11, 25), 1, 2, [change]))
    anomaly = {
        "kpi": "success_rate_percent",
        "value": 2.0,
        "baseline_median": 15.0,
        "z": 5.1,
        "direction": "down",
    }
    notifier.report_stored(StoredDay("acme", date(2026, 11, 25), "scheduled", {"anomalies": [anomaly]}))
    # Only scheduled reports page someone; a report without anomalies says nothing.
    notifier.report_stored(StoredDay("acme", date(2026, 11, 24), "backfill", {"anomalies": [anomaly]}))
    notifier.report_stored(StoredDay("acme", date(2026, 11, 23), "scheduled", {"anomalies": []}))
    restated, flagged = sorted(store.list_deliveries(), key=lambda d: d.id)
    assert restated.event_type == "report.restated"
    assert json.loads(restated.body)["data"] == {
        "org_id": "acme",
        "report_date": "2026-11-25",
        "from_revision": 1,
        "revision": 2,
        "changes": [change],
    }
    assert flagged.event_type == "kpi.anomaly"
    assert json.loads(flagged.body)["data"] == {
        "org_id": "acme",
        "report_date": "2026-11-25",
        "anomalies": [anomaly],
    }
    notifier.close()
