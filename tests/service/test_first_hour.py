"""What a new user meets in the first hour, tried as they would: the CLI against a running service."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest

from service.core.calendar import today_in, zone
from tests.service.api.conftest import free_port
from tests.service.test_cli import cli_env, run_cli

API_KEY = "first-hour-key"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """Demo data, then `serve` in its own process (the owner of the embedded warehouse)."""
    tmp = tmp_path_factory.mktemp("first-hour")
    env = cli_env(tmp, API_KEY=API_KEY, DBT_TARGET_PATH=str(tmp / "target"))
    demo = run_cli(env, "demo-data", "--orgs", "1", "--days", "4", "--calls-per-day", "30", "--seed", "3")
    assert demo.returncode == 0, demo.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    statuses = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/health", timeout=2)
            statuses.append(health.json())
            if health.status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    org = json.loads(run_cli(env, "orgs", "list").stdout)[0]
    yield {"env": env, "url": url, "org": org, "statuses": statuses}
    server.terminate()
    server.wait(60)


def test_health_says_starting_while_start_up_work_runs(running):
    early = [s for s in running["statuses"] if s.get("status") != "healthy"]
    assert all(s["status"] == "starting" for s in early), early
    assert all(s["scheduler"] in ("starting", "disabled") for s in early)


def test_dbt_through_the_running_service_prints_what_dbt_prints(running):
    env = running["env"]
    listed = run_cli(env, "dbt", "ls", "--select", "marts")
    assert listed.returncode == 0, listed.stderr
    assert "running service" in listed.stderr
    for model in ("fct_calls", "agg_daily_org_metrics", "agg_daily_org_breakdowns"):
        assert f"call_analytics.marts.{model}" in listed.stdout
    tested = run_cli(env, "dbt", "test", "--select", "fct_calls")
    assert tested.returncode == 0, tested.stderr
    assert "PASS" in tested.stdout and "unique_fct_calls_run_id" in tested.stdout
    failed = run_cli(
        env, "dbt", "build", "--select", "fct_calls", "--vars", "{refresh_start_date: not-a-date}"
    )
    assert failed.returncode != 0
    assert "refresh_start_date" in failed.stdout + failed.stderr
    assert "\x1b[" not in listed.stdout + tested.stdout  # no colour codes through the service


def test_a_day_before_the_first_call_is_refused_then_allowed_then_deleted(running):
    env, org = running["env"], running["org"]["org_id"]
    refused = run_cli(env, "generate", "--org", org, "--date", "2020-01-01")
    assert refused.returncode == 1
    assert "recorded calls begin on" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    allowed = run_cli(env, "generate", "--org", org, "--date", "2020-01-01", "--allow-empty")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["kpis"]["total_calls"] == 0
    deleted = run_cli(env, "reports", "delete", "2020-01-01", "--org", org)
    assert deleted.returncode == 0, deleted.stderr
    shown = run_cli(env, "reports", "show", "2020-01-01", "--org", org)
    assert shown.returncode == 1 and "No stored report" in shown.stderr
    again = run_cli(env, "reports", "delete", "2020-01-01", "--org", org)
    assert again.returncode == 1 and "nothing to delete" in again.stderr
    with httpx.Client(base_url=running["url"], headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        jobs = http.get("/api/jobs").json()
    assert any(job["kind"] == "delete" and job["status"] == "succeeded" for job in jobs)


def test_generate_of_a_stored_day_says_it_skipped(running):
    env, org = running["env"], running["org"]
    day = (today_in(zone(org["timezone"])) - timedelta(days=2)).isoformat()
    first = run_cli(env, "generate", "--org", org["org_id"], "--date", day)
    assert first.returncode == 0 and "generated" in first.stderr
    second = run_cli(env, "generate", "--org", org["org_id"], "--date", day)
    assert second.returncode == 0 and second.stderr.startswith("skipped")
    assert "skipped" not in json.loads(second.stdout)  # the stored report as it is, as in-process
    with httpx.Client(base_url=running["url"], headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        body = http.post("/api/reports/generate", json={"org_id": org["org_id"], "date": day}).json()
    assert body["skipped"] is True


def test_live_endpoints_default_to_yesterday_and_mark_today_partial(running):
    org = running["org"]
    today = today_in(zone(org["timezone"]))
    with httpx.Client(base_url=running["url"], headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        default = http.get("/daily-report", params={"org_id": org["org_id"]}).json()
        explicit_today = http.get(
            "/daily-report", params={"org_id": org["org_id"], "date": today.isoformat()}
        )
    assert default["metadata"]["report_start_date"] == (today - timedelta(days=1)).isoformat()
    assert default["partial"] is False
    assert explicit_today.status_code == 200 and explicit_today.json()["partial"] is True


def test_metrics_version_is_the_same_across_refresh_windows(running):
    env, org = running["env"], running["org"]
    with httpx.Client(base_url=running["url"], headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        before = http.get("/api/catalog").json()["metrics_version"]
        day = (today_in(zone(org["timezone"])) - timedelta(days=3)).isoformat()
        windowed = run_cli(env, "generate", "--org", org["org_id"], "--date", day, "--force")
        assert windowed.returncode == 0, windowed.stderr
        plain = run_cli(env, "dbt", "run")
        assert plain.returncode == 0
        after = http.get("/api/catalog").json()["metrics_version"]
        live = http.get("/daily-report", params={"org_id": org["org_id"]}).json()
    assert before == after == json.loads(windowed.stdout)["metadata"]["metrics_version"]
    assert live["metadata"]["metrics_version"] == before


def test_out_of_range_dates_are_refused_at_the_edge_with_422(running):
    org = running["org"]["org_id"]
    with httpx.Client(base_url=running["url"], headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        bad = http.post("/api/reports/generate", json={"org_id": org, "date": "0011-03-28", "force": True})
        assert bad.status_code == 422 and "1970-01-01" in bad.json()["detail"]
        assert http.get("/daily-report", params={"org_id": org, "date": "2200-01-01"}).status_code == 422
        assert http.get("/api/reports/0011-03-28", params={"org_id": org}).status_code == 422
    cli = run_cli(running["env"], "generate", "--org", org, "--date", "0011-03-28")
    assert cli.returncode == 1 and "1970-01-01" in cli.stderr
