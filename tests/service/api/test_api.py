"""The real app over HTTP on the real embedded warehouse: happy paths against the oracle,
bad input, auth, the 503 path and concurrent generates."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest

from service.core.calendar import today_in, zone
from service.core.warehouse import get_client
from tests import oracle
from tests.conftest import load_demo_data, make_settings
from tests.service.api.conftest import API_KEY

BREAKDOWN_ENDPOINTS = {
    "/call-stage-stats": "call_stage",
    "/call-classification-stats": "call_classification",
    "/load-status-stats": "load_status",
    "/carrier-end-state-stats": "carrier_end_state",
    "/pricing-notes-stats": "pricing_notes",
}
KPI_ENDPOINTS = {
    "/non-convertible-calls": "non_convertible_calls",
    "/non-convertible-calls-carrier-not-qualified": "carrier_not_qualified",
    "/non-convertible-calls-with-carrier-not-qualified": "non_convertible_calls_with_carrier_not_qualified",
    "/carrier-transfer-stats": "carrier_transfer_over_total_call_attempts",
    "/successful-transfer-stats": "successfully_transferred_for_booking",
}


@pytest.fixture(scope="module")
def api(serve):
    settings = make_settings("api", api_key=API_KEY)
    load_demo_data(settings, orgs=2, days=4, calls_per_day=40, seed=3)
    return serve(settings)


@pytest.fixture(scope="module")
def org(api):
    with api.client(admin=True) as client:
        return client.get("/api/orgs").json()[0]


@pytest.fixture(scope="module")
def reader(api) -> str:
    """A reader token of every demo organization: what a dashboard reads with."""
    with api.client(admin=True) as client:
        org_ids = [o["org_id"] for o in client.get("/api/orgs").json()]
        created = client.post("/api/tokens", json={"name": "api tests", "org_ids": org_ids})
    assert created.status_code == 201, created.text
    return created.json()["token"]


def past_day(org: dict, days_back: int = 1) -> date:
    return today_in(zone(org["timezone"])) - timedelta(days=days_back)


def oracle_metrics(api, org: dict, start: date, end: date) -> dict:
    from reports_store import Organization

    days = oracle.daily_metrics(
        get_client(api.settings),
        [Organization(**org)],
        database=api.settings.clickhouse_database,
        start=start,
        end=end,
    )
    return oracle.combine_metrics(days.values())


def test_health_is_healthy_with_the_scheduler_disabled(api):
    with api.client() as client:
        body = client.get("/health").json()
    assert body == {"status": "healthy", "warehouse": "ok", "store": "ok", "scheduler": "disabled"}


def test_generate_read_back_and_live_agree_with_the_oracle(api, org):
    day = past_day(org)
    expected = oracle_metrics(api, org, day, day)
    with api.client(admin=True) as client:
        generated = client.post(
            "/api/reports/generate", json={"org_id": org["org_id"], "date": day.isoformat()}
        )
        assert generated.status_code == 200, generated.text
        stored = client.get(f"/api/reports/{day}", params={"org_id": org["org_id"]}).json()
        latest = client.get("/api/reports/latest", params={"org_id": org["org_id"]}).json()
        live = client.get("/daily-report", params={"org_id": org["org_id"], "date": day.isoformat()})
        summaries = client.get("/api/reports", params={"org_id": org["org_id"]}).json()
    report = generated.json()
    assert report.pop("skipped") is False
    assert report["kpis"] == oracle.report_kpis(expected)
    assert report["breakdowns"] == oracle.report_breakdowns(expected)
    assert stored["stale"] is False and {k: stored[k] for k in report} == report
    assert latest["date_range"] == report["date_range"]
    assert live.status_code == 200 and live.headers["X-Data-Refreshed-At"] != "never"
    assert live.json()["kpis"] == report["kpis"] and live.json()["breakdowns"] == report["breakdowns"]
    assert live.json()["partial"] is False
    assert summaries[0]["report_date"] == day.isoformat()
    assert summaries[0]["total_calls"] == report["kpis"]["total_calls"]


def test_every_live_endpoint_over_a_range(api, org, reader):
    start, end = past_day(org, 3), past_day(org, 1)
    expected = oracle_metrics(api, org, start, end)
    params = {"org_id": org["org_id"], "start_date": start.isoformat(), "end_date": end.isoformat()}
    kpis, breakdowns = oracle.report_kpis(expected), oracle.report_breakdowns(expected)
    with api.client(token=reader) as client:
        for path, dimension in BREAKDOWN_ENDPOINTS.items():
            response = client.get(path, params=params)
            assert response.status_code == 200 and "X-Data-Refreshed-At" in response.headers
            assert response.json() == breakdowns[dimension], path
        for path, kpi in KPI_ENDPOINTS.items():
            assert client.get(path, params=params).json() == kpis[kpi], path
        totals = client.get("/total-calls-and-total-duration-stats", params=params).json()
    assert totals == {
        k: kpis[k]
        for k in ("total_calls", "classified_calls", "total_duration_hours", "avg_minutes_per_call")
    }


@pytest.mark.parametrize(
    ("path", "params", "status", "phrase"),
    [
        ("/daily-report", {"date": "2025-13-01"}, 422, "date"),
        ("/daily-report", {"date": "2025-02-30"}, 422, "date"),
        ("/daily-report", {"date": "yesterday"}, 422, "date"),
        ("/daily-report", {"start_date": "2025-03-10", "end_date": "2025-03-01"}, 400, "before"),
        ("/daily-report", {"start_date": "2023-01-01", "end_date": "2025-01-01"}, 400, "366"),
        ("/daily-report", {"date": "2100-01-01"}, 400, "future"),
        # Outside ClickHouse's Date range (1970-01-01..2149-06-06): refused before any query.
        ("/daily-report", {"date": "2999-01-01"}, 422, "date"),
        ("/daily-report", {"date": "0011-03-28"}, 422, "1970-01-01"),
        ("/call-stage-stats", {"start_date": "0011-03-28", "end_date": "2025-03-01"}, 422, "start_date"),
        ("/call-stage-stats", {"org_id": "no-such-org"}, 404, "Unknown organization"),
        ("/call-stage-stats", {"org_id": "bad id!"}, 422, "org_id: 'bad id!' must be"),
        ("/api/reports", {"limit": 0}, 422, "limit"),
        ("/api/reports", {"limit": 100000}, 422, "limit"),
        ("/api/reports/2025-02-30", {}, 422, "report_date"),
        ("/api/reports/0011-03-28", {}, 422, "report_date"),
        ("/api/reports", {"org_id": "bad id!"}, 422, "org_id"),
        ("/api/jobs/0", {}, 422, "job_id"),
    ],
)
def test_bad_input_says_what_to_fix(api, org, path, params, status, phrase):
    with api.client(admin=True) as client:  # an admin may ask about any organization, known or not
        response = client.get(path, params={"org_id": org["org_id"], **params})
    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]


def test_no_default_organization_is_a_400(api, reader):
    with api.client(admin=True) as client:
        response = client.get("/daily-report")
    assert response.status_code == 400 and "default organization" in response.json()["detail"]
    with api.client(token=reader) as client:  # a reader of two organizations must say which
        response = client.get("/daily-report")
    assert response.status_code == 400 and "give org_id" in response.json()["detail"]


def test_admin_endpoints_need_the_key(api, org, reader):
    body = {"org_id": org["org_id"], "date": past_day(org).isoformat()}
    with api.client() as client:
        assert client.post("/api/reports/generate", json=body).status_code == 401
        assert client.get("/debug-config").status_code == 401
        # A key that is no token at all is no credential: 401 (403 is for a valid token's limits).
        wrong = client.post("/api/reports/generate", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    with api.client(token=reader) as client:
        assert client.post("/api/reports/generate", json=body).status_code == 403
        assert client.get("/debug-config").status_code == 403
    with api.client(admin=True) as client:
        config = client.get("/debug-config")
        assert config.status_code == 200 and config.json()["api_key"] == "***"
        assert API_KEY not in config.text
        nodes = client.get("/debug-node-count", params={"org_id": org["org_id"]}).json()
        assert nodes["output_count"] > 0


def test_generate_refuses_today_and_unknown_orgs(api, org):
    with api.client(admin=True) as client:
        today = client.post(
            "/api/reports/generate", json={"org_id": org["org_id"], "date": past_day(org, 0).isoformat()}
        )
        unknown = client.post("/api/reports/generate", json={"org_id": "nobody"})
    assert today.status_code == 400 and "not over yet" in today.json()["detail"]
    assert unknown.status_code == 404


def test_concurrent_generates_store_one_report(api, org, reader):
    day = past_day(org, 2)
    responses = []

    def call():
        with api.client(admin=True) as client:
            responses.append(
                client.post("/api/reports/generate", json={"org_id": org["org_id"], "date": day.isoformat()})
            )

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in responses] == [200, 200, 200]
    bodies = [r.json() for r in responses]
    assert sorted(body.pop("skipped") for body in bodies) == [False, True, True]
    assert bodies[0] == bodies[1] == bodies[2]
    with api.client(token=reader) as client:
        summaries = client.get("/api/reports", params={"org_id": org["org_id"], "limit": 366}).json()
    assert [s["report_date"] for s in summaries].count(day.isoformat()) == 1


def test_backfill_runs_in_the_background_with_progress(api, org):
    start, end = past_day(org, 4), past_day(org, 1)
    with api.client(admin=True) as client:
        accepted = client.post(
            "/api/reports/backfill",
            json={"org_id": org["org_id"], "start_date": start.isoformat(), "end_date": end.isoformat()},
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = client.get(f"/api/jobs/{job_id}").json()
            if job["status"] != "running":
                break
            time.sleep(0.3)
        assert job["status"] == "succeeded", job
        assert sum(job["counts"].values()) == 4 and job["progress"] == 1.0
        assert any(j["id"] == job_id for j in client.get("/api/jobs").json())
        bad = client.post(
            "/api/reports/backfill",
            json={"org_id": org["org_id"], "start_date": end.isoformat(), "end_date": start.isoformat()},
        )
        assert bad.status_code == 400


def test_out_of_range_dates_in_bodies_are_refused(api, org):
    with api.client(admin=True) as client:
        generate = client.post("/api/reports/generate", json={"org_id": org["org_id"], "date": "0011-03-28"})
        backfill = client.post(
            "/api/reports/backfill",
            json={"org_id": org["org_id"], "start_date": "2025-01-01", "end_date": "2999-01-01"},
        )
        both = client.post(
            "/api/reports/backfill",
            json={"org_id": org["org_id"], "last_days": 3, "start_date": "2025-01-01"},
        )
    assert generate.status_code == 422 and "1970-01-01" in generate.json()["detail"]
    assert backfill.status_code == 422 and "end_date" in backfill.json()["detail"]
    assert both.status_code == 422 and "not both" in both.json()["detail"]


def test_live_defaults_to_yesterday_and_flags_today_as_partial(api, org, reader):
    with api.client(token=reader) as client:
        default = client.get("/daily-report", params={"org_id": org["org_id"]})
        today = client.get(
            "/daily-report", params={"org_id": org["org_id"], "date": past_day(org, 0).isoformat()}
        )
    assert default.status_code == 200 and today.status_code == 200
    assert default.json()["metadata"]["report_start_date"] == past_day(org).isoformat()
    assert default.json()["partial"] is False and today.json()["partial"] is True


def test_catalog_names_every_kpi_and_live_endpoint(api, org, reader):
    with api.client(token=reader) as client:
        catalog = client.get("/api/catalog").json()
        report = client.get("/daily-report", params={"org_id": org["org_id"]}).json()
    assert [kpi["key"] for kpi in catalog["kpis"]] == list(report["kpis"])
    assert [b["key"] for b in catalog["breakdowns"]] == list(report["breakdowns"])
    assert catalog["metrics_version"] == report["metadata"]["metrics_version"]
    endpoints = {kpi["endpoint"]: kpi["key"] for kpi in catalog["kpis"] if kpi["endpoint"]}
    assert set(KPI_ENDPOINTS) <= set(endpoints)
    assert {b["endpoint"]: b["key"] for b in catalog["breakdowns"]} == BREAKDOWN_ENDPOINTS


def test_a_stored_report_can_be_deleted(api, org):
    day = past_day(org, 6).isoformat()
    params = {"org_id": org["org_id"]}
    with api.client(admin=True) as client:
        stored = client.post(
            "/api/reports/generate", json={"org_id": org["org_id"], "date": day, "allow_empty": True}
        )
        assert stored.status_code == 200, stored.text
        assert client.get(f"/api/reports/{day}", params=params).status_code == 200
        assert (
            client.delete(f"/api/reports/{day}", params=params, headers={"Authorization": ""}).status_code
            == 401
        )
        deleted = client.delete(f"/api/reports/{day}", params=params)
        assert deleted.status_code == 200 and deleted.json()["kind"] == "delete", deleted.text
        assert deleted.json()["status"] == "succeeded"
        assert client.get(f"/api/reports/{day}", params=params).status_code == 404
        listed = client.get("/api/reports", params={**params, "limit": 366}).json()
        assert day not in [item["report_date"] for item in listed]
        again = client.delete(f"/api/reports/{day}", params=params)
        assert again.status_code == 404 and "nothing to delete" in again.json()["detail"]


def test_organizations_register_validate_and_update(api):
    new = {
        "org_id": "api-new-org",
        "name": "New Co",
        "node_persistent_id": "node-new",
        "timezone": "America/New_York",
        "excluded_numbers": ["+15555550100"],
    }
    with api.client(admin=True) as client:
        assert client.post("/api/orgs", json=new).status_code == 201
        assert client.post("/api/orgs", json=new).status_code == 409
        bad_tz = client.post("/api/orgs", json={**new, "org_id": "api-bad-tz", "timezone": "Mars/Base"})
        # The body is validated by its model now: 422, like every other invalid field.
        assert bad_tz.status_code == 422 and "Unknown timezone 'Mars/Base'" in bad_tz.json()["detail"]
        assert client.get("/api/orgs/api-bad-tz").status_code == 404
        bad_patch = client.patch("/api/orgs/api-new-org", json={"timezone": "Mars/Base"})
        assert bad_patch.status_code == 422 and "timezone" in bad_patch.json()["detail"]
        bad_number = client.post(
            "/api/orgs", json={**new, "org_id": "api-bad-num", "excluded_numbers": ["12345"]}
        )
        assert bad_number.status_code == 422 and "E.164" in bad_number.json()["detail"]
        patched = client.patch("/api/orgs/api-new-org", json={"excluded_numbers": ["+15555550101"]})
        assert patched.status_code == 200 and patched.json()["excluded_numbers"] == ["+15555550101"]
        assert client.get("/api/orgs/api-new-org").json()["name"] == "New Co"
        assert client.get("/api/orgs/nobody").status_code == 404
        assert client.patch("/api/orgs/nobody", json={"name": "x"}).status_code == 404


def test_warehouse_unavailable_is_a_503_and_stores_nothing(serve, api, org):
    down = serve(
        make_settings(
            "api",
            clickhouse_url="http://127.0.0.1:9",  # nothing listens on the discard port
            scheduler_enabled=False,
        ),
        wait_healthy=False,
    )
    day = past_day(org, 5)
    with down.client() as client:
        health = client.get("/health")
        live = client.get("/daily-report", params={"org_id": org["org_id"], "date": day.isoformat()})
        generated = client.post(
            "/api/reports/generate", json={"org_id": org["org_id"], "date": day.isoformat()}
        )
        stored = client.get(f"/api/reports/{day}", params={"org_id": org["org_id"]})
    assert health.status_code == 503 and health.json()["warehouse"].startswith("unavailable")
    assert live.status_code == 503 and "warehouse" in live.json()["detail"]
    assert generated.status_code == 503
    assert stored.status_code == 404
    assert "Traceback" not in live.text + generated.text


def test_revisions_diff_and_revision_reads_over_http(api, org, reader):
    day = past_day(org, 2)
    params = {"org_id": org["org_id"]}
    with api.client(token=reader) as client:  # other tests may have stored this day already
        before = client.get(f"/api/reports/{day}/revisions", params=params)
    known = len(before.json()) if before.status_code == 200 else 0
    first_new, second_new = known + 1, known + 2
    with api.client(admin=True) as admin:
        body = {"org_id": org["org_id"], "date": day.isoformat(), "force": True}
        assert admin.post("/api/reports/generate", json=body).status_code == 200
        assert admin.post("/api/reports/generate", json=body).status_code == 200
    with api.client(token=reader) as client:
        revisions = client.get(f"/api/reports/{day}/revisions", params=params)
        current = client.get(f"/api/reports/{day}", params=params).json()
        first = client.get(f"/api/reports/{day}", params=params | {"revision": first_new}).json()
        diff = client.get(f"/api/reports/{day}/diff", params=params)
        explicit = client.get(
            f"/api/reports/{day}/diff", params=params | {"from": second_new, "to": first_new}
        )
        missing = client.get(f"/api/reports/{day}", params=params | {"revision": 99})
        bad = client.get(f"/api/reports/{day}/diff", params=params | {"from": 0})
        # No test stores a report three years back.
        none = client.get(f"/api/reports/{past_day(org, 3 * 365)}/revisions", params=params)
    assert revisions.status_code == 200, revisions.text
    listed = revisions.json()
    assert [r["revision"] for r in listed] == list(range(1, second_new + 1))  # oldest first
    assert [(r["revision"], r["reason"], r["stale"]) for r in listed[-2:]] == [
        (first_new, "manual", False),
        (second_new, "manual", False),
    ]
    assert set(listed[0]) >= {"revision", "generated_at", "reason", "metrics_version", "stale"}
    assert current["revision"] == second_new and first["revision"] == first_new
    assert first["kpis"] == current["kpis"]  # the same numbers, regenerated
    assert first["metadata"]["generated_at"] <= current["metadata"]["generated_at"]
    assert diff.json() == {"from": first_new, "to": second_new, "changes": []}
    assert explicit.json() == {"from": second_new, "to": first_new, "changes": []}
    assert missing.status_code == 404 and "no revision 99" in missing.json()["detail"]
    assert bad.status_code == 422
    assert none.status_code == 404


def test_export_csv_and_parquet_read_back_equal_the_stored_reports(api, org, reader):
    import csv
    import io

    import pyarrow.parquet as pq

    start, end = past_day(org, 3), past_day(org, 1)
    with api.client(admin=True) as admin:
        for offset in range(3):
            day = (start + timedelta(days=offset)).isoformat()
            made = admin.post("/api/reports/generate", json={"org_id": org["org_id"], "date": day})
            assert made.status_code == 200, made.text
    params = {"org_id": org["org_id"], "start_date": start.isoformat(), "end_date": end.isoformat()}
    with api.client(token=reader) as client:
        stored = {
            (start + timedelta(days=n)).isoformat(): client.get(
                f"/api/reports/{start + timedelta(days=n)}", params={"org_id": org["org_id"]}
            ).json()
            for n in range(3)
        }
        as_csv = client.get("/api/reports/export", params=params)
        as_parquet = client.get("/api/reports/export", params=params | {"format": "parquet"})
        catalog = client.get("/api/catalog").json()
        reversed_window = client.get(
            "/api/reports/export",
            params=params | {"start_date": end.isoformat(), "end_date": start.isoformat()},
        )
        bad_format = client.get("/api/reports/export", params=params | {"format": "xlsx"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    table = pq.read_table(io.BytesIO(as_parquet.content)).to_pylist()
    assert [r["report_date"] for r in rows] == sorted(stored) == [r["report_date"].isoformat() for r in table]
    for row, parquet_row in zip(rows, table, strict=True):
        report = stored[row["report_date"]]
        assert int(row["revision"]) == parquet_row["revision"] == report["revision"]
        for kpi in catalog["kpis"]:
            value = report["kpis"][kpi["key"]]
            if kpi["object_keys"]:
                keys = kpi["object_keys"]
                expected = (value[keys["percentage"]], value[keys["count"]], value[keys["denominator"]])
            else:
                expected = (value, None, None)
            got = (
                parquet_row[kpi["key"]],
                parquet_row[f"{kpi['key']}_count"],
                parquet_row[f"{kpi['key']}_denominator"],
            )
            assert got[0] == expected[0], kpi["key"]
            assert row[kpi["key"]] == ("" if expected[0] is None else str(expected[0])), kpi["key"]
            if kpi["object_keys"]:
                assert got[1:] == expected[1:], kpi["key"]
            else:  # a plain KPI's count and denominator are the mart sums behind it
                assert got[1] is not None, kpi["key"]
    assert reversed_window.status_code == 400
    assert bad_format.status_code == 422
