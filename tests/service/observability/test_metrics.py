"""GET /metrics of a real service after real requests and jobs, parsed as Prometheus parses it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from reports_store import MartVersion, open_store
from service.api.app import create_app
from tests.conftest import load_demo_data, make_settings
from tests.service.api.conftest import API_KEY


def scrape(service) -> dict[str, list]:
    """Every sample of /metrics by metric name (samples keep their own suffixed names)."""
    with service.client(admin=True) as http:
        response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(response.text)
    return {family.name: family.samples for family in families}


def value(samples: list, sample_name: str, **labels: str) -> float | None:
    found = [s.value for s in samples if s.name == sample_name and labels.items() <= s.labels.items()]
    return sum(found) if found else None


@pytest.fixture(scope="module")
def world(serve):
    settings = make_settings("observability", api_key=API_KEY)
    load_demo_data(settings, orgs=2, days=3, calls_per_day=20, seed=31)
    service = serve(settings)
    with service.client(admin=True) as admin:
        org_a, org_b = sorted(org["org_id"] for org in admin.get("/api/orgs").json())
        day = (datetime.now(UTC) - timedelta(days=2)).date()
        for org in (org_a, org_b):
            made = admin.post("/api/reports/generate", json={"org_id": org, "date": day.isoformat()})
            assert made.status_code == 200, made.text
        assert admin.get(f"/api/reports/{day}", params={"org_id": org_a}).status_code == 200
        assert admin.get("/api/reports/1999-01-02", params={"org_id": org_a}).status_code == 404
        assert admin.get("/no/such/path/2024-01-01").status_code == 404
        # a recorded job that fails: deleting a report that was never stored
        assert admin.delete("/api/reports/1999-01-01", params={"org_id": org_a}).status_code == 404
    return {"service": service, "settings": settings, "org_a": org_a, "org_b": org_b, "day": day}


def test_requests_are_counted_by_route_template_never_by_path(world):
    metrics = scrape(world["service"])
    requests = metrics["call_analytics_http_requests"]
    name = "call_analytics_http_requests_total"
    template = "/api/reports/{report_date}"
    assert value(requests, name, method="GET", route=template, status="200") == 1
    assert value(requests, name, method="GET", route=template, status="404") == 1
    assert value(requests, name, method="DELETE", route=template, status="404") == 1
    assert value(requests, name, method="POST", route="/api/reports/generate", status="200") == 2
    assert value(requests, name, route="unmatched", status="404") == 1
    routes = {sample.labels["route"] for sample in requests}
    assert not any("1999" in route or "2024-" in route or "/no/such" in route for route in routes), routes
    durations = metrics["call_analytics_http_request_duration_seconds"]
    assert (
        value(durations, "call_analytics_http_request_duration_seconds_count", method="GET", route=template)
        == 2
    )
    assert value(durations, "call_analytics_http_request_duration_seconds_sum", route=template) > 0
    buckets = [s for s in durations if s.name.endswith("_bucket") and s.labels["route"] == template]
    assert {s.labels["le"] for s in buckets} >= {"0.1", "1.0", "+Inf"}


def test_job_runs_dbt_durations_and_the_last_refresh(world):
    started = time.time()
    metrics = scrape(world["service"])
    jobs = metrics["call_analytics_job_runs"]
    assert value(jobs, "call_analytics_job_runs_total", kind="generate", status="succeeded") == 2
    assert value(jobs, "call_analytics_job_runs_total", kind="delete", status="failed") == 1
    dbt = metrics["call_analytics_dbt_run_duration_seconds"]
    # the start-up build and one refresh per generated report
    assert value(dbt, "call_analytics_dbt_run_duration_seconds_count", command="run", status="succeeded") >= 3
    assert value(dbt, "call_analytics_dbt_run_duration_seconds_sum", command="run") > 0.1
    (refreshed,) = metrics["call_analytics_mart_refreshed_timestamp_seconds"]
    assert started - 600 < refreshed.value <= started


def test_a_delegated_dbt_command_is_timed_under_its_command(world):
    with world["service"].client(admin=True) as admin:
        ran = admin.post("/api/admin/dbt", json={"args": ["ls", "--select", "agg_daily_org_metrics"]})
    assert ran.status_code == 200 and ran.json()["success"], ran.text
    dbt = scrape(world["service"])["call_analytics_dbt_run_duration_seconds"]
    assert value(dbt, "call_analytics_dbt_run_duration_seconds_count", command="ls", status="succeeded") == 1


def test_last_daily_report_per_organization_and_stale_reports(world):
    metrics = scrape(world["service"])
    last = metrics["call_analytics_last_daily_report_timestamp_seconds"]
    name = "call_analytics_last_daily_report_timestamp_seconds"
    for org in (world["org_a"], world["org_b"]):
        assert time.time() - 900 < value(last, name, org_id=org) <= time.time()
    stale = metrics["call_analytics_stale_reports"]
    assert value(stale, "call_analytics_stale_reports", org_id=world["org_a"]) == 0
    assert value(stale, "call_analytics_stale_reports", org_id=world["org_b"]) == 0

    # The warehouse's numbers of org A's day change after its report was stored: one stale report.
    with open_store(world["settings"].reports_store_url) as store:
        store.record_mart_versions(
            [MartVersion(org_id=world["org_a"], report_date=world["day"], fingerprint="changed-since")]
        )
    stale = scrape(world["service"])["call_analytics_stale_reports"]
    assert value(stale, "call_analytics_stale_reports", org_id=world["org_a"]) == 1
    assert value(stale, "call_analytics_stale_reports", org_id=world["org_b"]) == 0
    with world["service"].client(admin=True) as admin:  # the API agrees: that report reads as stale
        report = admin.get(f"/api/reports/{world['day']}", params={"org_id": world["org_a"]}).json()
    assert report["stale"] is True


def test_metrics_need_an_admin_when_auth_is_on(world):
    url = world["service"].url
    assert httpx.get(f"{url}/metrics").status_code == 401
    wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == 401


def test_the_request_id_is_echoed_or_made(world):
    with world["service"].client(admin=True) as http:
        given = http.get("/livez", headers={"X-Request-ID": "trace-42.a:b"})
        made = http.get("/livez")
        refused = http.get("/livez", headers={"X-Request-ID": "no spaces or { } please"})
        failed = http.get("/api/reports/not-a-date", headers={"X-Request-ID": "trace-43"})
    assert given.headers["x-request-id"] == "trace-42.a:b"
    assert len(made.headers["x-request-id"]) == 32 and made.headers["x-request-id"].isalnum()
    assert refused.headers["x-request-id"] not in ("no spaces or { } please", "")
    assert failed.status_code == 422 and failed.headers["x-request-id"] == "trace-43"


def test_each_app_has_its_own_registry():
    settings = make_settings("observability_registry")
    first, second = create_app(settings), create_app(settings)
    assert first.state.metrics.registry is not second.state.metrics.registry
    first.state.metrics.request_finished("GET", "/livez", 200, 0.01)
    assert (
        second.state.metrics.registry.get_sample_value(
            "call_analytics_http_requests_total", {"method": "GET", "route": "/livez", "status": "200"}
        )
        is None
    )
    assert not [name for name in REGISTRY._names_to_collectors if name.startswith("call_analytics")]


@pytest.mark.parametrize("openmetrics", [False, True])
def test_request_metrics_expose_exactly_what_prometheus_client_would(openmetrics: bool) -> None:
    """The request counter and histogram are counted by RequestMetrics (cheaper per request); a
    scrape must read the same as prometheus_client's own Counter and Histogram, in both formats,
    bucket edges included (a value equal to a bound counts in that bound's bucket)."""
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

    from service.observability.metrics import HTTP_BUCKETS, PREFIX, RequestMetrics

    reference = CollectorRegistry()
    counter = Counter(
        f"{PREFIX}_http_requests",
        "HTTP requests answered, by method, route template and status code.",
        ["method", "route", "status"],
        registry=reference,
    )
    histogram = Histogram(
        f"{PREFIX}_http_request_duration_seconds",
        "Time to answer an HTTP request, by method and route template.",
        ["method", "route"],
        buckets=HTTP_BUCKETS,
        registry=reference,
    )
    ours = CollectorRegistry()
    requests = RequestMetrics()
    ours.register(requests)
    for method, route, status, seconds in [
        ("GET", "/a", 200, 0.001),
        ("GET", "/a", 200, 0.005),  # on a bound
        ("GET", "/a", 404, 0.0051),
        ("POST", "/b", 200, 61.0),  # past the last bound
        ("GET", "/a", 200, 2.5),
    ]:
        counter.labels(method, route, str(status)).inc()
        histogram.labels(method, route).observe(seconds)
        requests.observe(method, route, status, seconds)
    render = generate_openmetrics if openmetrics else generate_latest

    def without_created_times(text: bytes) -> list[str]:
        return [line.rsplit(" ", 1)[0] if "_created" in line else line for line in text.decode().splitlines()]

    assert without_created_times(render(ours)) == without_created_times(render(reference))
