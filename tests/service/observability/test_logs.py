"""Structured logs: JSON lines with their context, dbt and uvicorn through the same formatter, and
never a secret, checked on the real `python -m service serve` output as well as unit by unit."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from service.core import dbt_runner
from service.core.config import PROJECT_ROOT, Settings
from service.observability import context
from service.observability.logs import JsonFormatter, Redactor, TextFormatter, configure_logging, timestamp
from tests.conftest import make_settings
from tests.service.api.conftest import free_port

ANSI = "\x1b["


def record(msg: str, *args: object, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("service.test", level, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    uvicorn_saved = {
        name: (
            list(logging.getLogger(name).handlers),
            logging.getLogger(name).propagate,
            logging.getLogger(name).level,
        )
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate, level) in uvicorn_saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)
    dbt_runner.log_events_through_logging(False)


# -- formatters, context, redaction -----------------------------------------------------------------


def test_a_json_line_has_the_fields_the_context_and_the_extras():
    request = context.request_id_var.set("req-1")
    binding = context.bind_job(7, "acme")
    try:
        line = JsonFormatter().format(record("GET %s", "/x", route="/x", status=200))
    finally:
        context.unbind_job(binding)
        context.request_id_var.reset(request)
    parsed = json.loads(line)
    assert "\n" not in line
    assert parsed["msg"] == "GET /x" and parsed["level"] == "info" and parsed["logger"] == "service.test"
    assert datetime.fromisoformat(parsed["ts"]).utcoffset() == timedelta(0)
    assert (parsed["request_id"], parsed["org_id"], parsed["job_id"]) == ("req-1", "acme", 7)
    assert (parsed["route"], parsed["status"]) == ("/x", 200)
    assert context.current() == {}  # unbound again


def test_an_exception_stays_on_one_line():
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        failed = record("it failed", level=logging.ERROR)
        failed.exc_info = sys.exc_info()
    line = JsonFormatter().format(failed)
    assert len(line.splitlines()) == 1
    assert "ValueError: boom" in json.loads(line)["exc"]


def test_secrets_are_masked_wherever_they_appear():
    redactor = Redactor(["sup3r-secret", 'quo"te-secret', "ab"])
    token = "cat_a1b2c3d4e5f6_" + "x" * 43
    text = JsonFormatter(redactor).format(
        record(
            "key=%s header=%s token=%s other=%s",
            "sup3r-secret",
            "Authorization: Bearer abc.def-ghi",
            token,
            'quo"te-secret',
            detail="sup3r-secret",
        )
    )
    for leaked in ("sup3r-secret", "abc.def-ghi", "x" * 43, "quo"):
        assert leaked not in text
    assert "Bearer ***" in text and "cat_***" in text
    assert "ab" in Redactor(["ab"])("ab")  # too short to search for: masking it would be noise
    plain = TextFormatter(redactor).format(record("password sup3r-secret", org="acme"))
    assert "sup3r-secret" not in plain and plain.endswith("[org=acme]")


@pytest.mark.parametrize("seconds", [0.0, 0.000004, 0.000049, 0.00012345, 0.0152, 1.23456, 3600.5])
@pytest.mark.parametrize("org_id", [None, "org-7:a.b_c"])
@pytest.mark.parametrize("path", ["/api/reports/2026-11-20", "/api/reports/%s%d%%{0}}{"])
def test_a_templated_access_line_is_the_line_the_formatter_writes(seconds, org_id, path):
    from service.observability.http import FinishedRequest, _access_entry, _templated_lines

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(Redactor(["sup3r-secret"])))
    at = 1795790444.123456
    request = FinishedRequest(at, "GET", "/api/reports/{report_date}", 200, seconds, path, "rid-1", org_id)
    created, message, context_fields, fields = _access_entry(request)
    expected = handler.formatter.render(
        timestamp(created), "INFO", "service.access", message, context_fields, fields
    )
    assert _templated_lines(handler, logging.INFO, [request]) == expected + "\n"
    assert json.loads(expected)["duration_ms"] == round(seconds * 1000, 2)


def test_a_timestamp_is_utc_to_the_millisecond():
    for created in (0.0, 1795790444.0, 1795790444.9996, 1795790445.0004, 1_700_000_000.5):
        written = datetime.fromisoformat(timestamp(created))
        assert written.utcoffset() == timedelta(0)
        assert abs(written.timestamp() - created) < 0.001 and written.timestamp() <= created
        assert timestamp(created) == datetime.fromtimestamp(int(created * 1000) / 1000, UTC).isoformat(
            timespec="milliseconds"
        )


def test_the_format_follows_log_format_else_the_terminal(restore_logging):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, setting, expected in (
        (io.StringIO(), None, "json"),
        (Terminal(), None, "text"),
        (Terminal(), "json", "json"),
        (io.StringIO(), "text", "text"),
    ):
        configure_logging(Settings(log_format=setting), stream)
        logging.getLogger("service.test").info("hello")
        first = stream.getvalue().splitlines()[0]
        assert first.startswith("{") == (expected == "json"), (setting, first)


def test_configure_logging_takes_over_root_and_uvicorn_once(restore_logging):
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="WARNING"), stream)
    configure_logging(Settings(log_format="json", log_level="INFO"), stream)  # replaces, not adds
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("service.test").debug("not at INFO")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["logger"], line["msg"]) for line in lines] == [
        ("uvicorn.error", "Application startup complete.")
    ]


def test_dbt_events_go_through_the_logger_without_colour_in_the_invoking_context(restore_logging):
    stream = io.StringIO()
    configure_logging(Settings(log_format="json"), stream)
    request = context.request_id_var.set("req-dbt")
    try:
        log_event = dbt_runner._event_logger(contextvars.copy_context())  # as run_dbt makes it
    finally:
        context.request_id_var.reset(request)
    event = SimpleNamespace(info=SimpleNamespace(level="info", msg=f"1 of 1 {ANSI}32mOK{ANSI}0m created"))
    debug = SimpleNamespace(info=SimpleNamespace(level="debug", msg="a debug event"))
    log_event(event)
    log_event(debug)  # below LOG_LEVEL: dropped
    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert line == line | {"logger": "dbt", "msg": "1 of 1 OK created", "request_id": "req-dbt"}
    assert dbt_runner.dbt_environment(make_settings("observability_env"))["DBT_LOG_LEVEL"] == "none"


def test_an_in_process_dbt_run_logs_json_and_prints_nothing_itself(restore_logging, capfd):
    stream = io.StringIO()
    configure_logging(Settings(log_format="json"), stream)
    outcome = dbt_runner.run_dbt(
        ["ls", "--select", "agg_daily_org_metrics"], make_settings("observability_ls"), capture_output=True
    )
    assert outcome.success, outcome.error
    printed = capfd.readouterr()
    assert "agg_daily_org_metrics" not in printed.out and "Running with dbt" not in printed.out
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    dbt_lines = [line["msg"] for line in lines if line["logger"] == "dbt"]
    assert any(msg.startswith("Running with dbt=") for msg in dbt_lines)
    assert "call_analytics.marts.agg_daily_org_metrics" in dbt_lines
    assert not any(ANSI in msg for msg in dbt_lines)
    assert "call_analytics.marts.agg_daily_org_metrics" in outcome.output  # the API's capture still works


# -- the real service's stdout ----------------------------------------------------------------------------


API_KEY = "obs-admin-key-8c1f9e"
CH_PASSWORD = "obs-ch-password-5d2a7b"


def cli_env(workdir: Path, **extra: str) -> dict[str, str]:
    """A separate process's environment: its own embedded warehouse, store and dbt target."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "API_KEY", "ORG_ID", "LOG_"))
    }
    env |= {
        "CHDB_PATH": str(workdir / "warehouse"),
        "REPORTS_STORE_URL": f"sqlite:///{workdir / 'reports.db'}",
        "DBT_TARGET_PATH": str(workdir / "target"),
        "SCHEDULER_ENABLED": "false",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    return env | extra


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict:
    """`python -m service serve` with LOG_FORMAT=json at DEBUG, its stdout read after real requests."""
    workdir = tmp_path_factory.mktemp("logs")
    env = cli_env(
        workdir, API_KEY=API_KEY, CLICKHOUSE_PASSWORD=CH_PASSWORD, LOG_FORMAT="json", LOG_LEVEL="DEBUG"
    )
    demo = run_cli(env, "demo-data", "--orgs", "1", "--days", "3", "--calls-per-day", "20", "--seed", "9")
    assert demo.returncode == 0, demo.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    with stdout_path.open("w") as out, stderr_path.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)], env=env, stdout=out, stderr=err
        )
        try:
            seen = exercise(url, stdout_path)
        finally:
            server.terminate()
            server.wait(60)
    seen |= {"stdout": stdout_path.read_text(), "stderr": stderr_path.read_text(), "env": env}
    return seen


def exercise(url: str, stdout_path: Path) -> dict:
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, stdout_path.read_text()[-3000:]
        time.sleep(0.3)
    admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120)
    (org,) = [o["org_id"] for o in admin.get("/api/orgs", headers={"X-Request-ID": "trace-orgs-1"}).json()]
    created = admin.post("/api/tokens", json={"name": "log test", "org_ids": [org]})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    generated = admin.post(
        "/api/reports/generate", json={"org_id": org, "date": day}, headers={"X-Request-ID": "trace-gen-1"}
    )
    assert generated.status_code == 200, generated.text
    reader = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert reader.get("/api/reports", params={"org_id": org}).status_code == 200
    for attempt in (1, 2):  # the app answers the first read of a stored report, the fast path the next
        stored = reader.get(
            f"/api/reports/{day}", params={"org_id": org}, headers={"X-Request-ID": f"stored-{attempt}"}
        )
        assert stored.status_code == 200, stored.text
    assert reader.get("/debug-config").status_code == 403
    wrong = token[:-4] + "AAAA"
    assert httpx.get(f"{url}/api/reports", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    assert admin.get("/debug-config").status_code == 200
    assert admin.get("/metrics").status_code == 200
    assert admin.get("/no/such/page").status_code == 404
    return {"org": org, "token": token}


def log_lines(served: dict) -> list[dict]:
    return [json.loads(line) for line in served["stdout"].splitlines() if line.strip()]


def test_every_stdout_line_is_one_json_object_with_the_fields(served):
    lines = log_lines(served)  # raises on any line that is not JSON
    assert len(lines) > 50
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= line.keys(), line
    loggers = {line["logger"] for line in lines}
    assert {"uvicorn.error", "service.api", "service.access", "dbt", "service.jobs.recorder"} <= loggers
    assert not any(ANSI in line["msg"] for line in lines)


def test_access_lines_carry_method_route_status_duration_and_request_id(served):
    lines = log_lines(served)
    (orgs,) = [line for line in lines if line.get("request_id") == "trace-orgs-1"]
    assert orgs["logger"] == "service.access"
    assert (orgs["method"], orgs["route"], orgs["status"]) == ("GET", "/api/orgs", 200)
    assert orgs["duration_ms"] >= 0
    (unmatched,) = [line for line in lines if line.get("path") == "/no/such/page"]
    assert (unmatched["route"], unmatched["status"]) == ("unmatched", 404)
    reports = [line for line in lines if line.get("route") == "/api/reports" and line.get("status") == 200]
    assert reports and reports[0]["org_id"] == served["org"]


def test_the_fast_paths_access_lines_are_the_apps(served):
    lines = {line.get("request_id"): line for line in log_lines(served) if line["logger"] == "service.access"}
    by_app, by_fast_path = lines["stored-1"], lines["stored-2"]
    assert list(by_app) == list(by_fast_path)  # the same fields in the same order
    for line in (by_app, by_fast_path):
        assert (line["method"], line["route"], line["status"]) == ("GET", "/api/reports/{report_date}", 200)
        assert line["org_id"] == served["org"] and line["path"].startswith("/api/reports/")
        assert line["msg"].startswith("GET /api/reports/{report_date} 200 ") and line["duration_ms"] >= 0


def test_a_job_and_its_dbt_run_are_logged_with_request_org_and_job(served):
    traced = [line for line in log_lines(served) if line.get("request_id") == "trace-gen-1"]
    (finished,) = [line for line in traced if line["logger"] == "service.jobs.recorder"]
    assert finished["kind"] == "generate" and finished["status"] == "succeeded"
    assert finished["org_id"] == served["org"] and isinstance(finished["job_id"], int)
    dbt = [line for line in traced if line["logger"] == "dbt"]
    assert any(" START " in line["msg"] for line in dbt)  # fired in dbt's own threads, still in context
    assert all(line["job_id"] == finished["job_id"] for line in dbt)
    access = [line for line in traced if line["logger"] == "service.access"]
    assert [line["route"] for line in access] == ["/api/reports/generate"]


def test_no_secret_ever_appears(served):
    output = served["stdout"] + served["stderr"]
    token = served["token"]
    for secret in (API_KEY, CH_PASSWORD, token, token.split("_", 2)[2], token[:-4] + "AAAA"):
        assert secret not in output
    assert "bearer" not in output.lower() and "authorization" not in output.lower()


def test_the_cli_dbt_command_still_prints_dbt_output_for_a_person(served):
    """In-process (no service running any more) `python -m service dbt` is dbt's own human output."""
    listed = run_cli(served["env"], "dbt", "ls", "--select", "agg_daily_org_metrics")
    assert listed.returncode == 0, listed.stderr
    assert "call_analytics.marts.agg_daily_org_metrics" in listed.stdout
    assert "Running with dbt=" in listed.stdout and not listed.stdout.lstrip().startswith("{")


def test_a_request_path_is_one_safe_field():
    from service.observability.http import _printable

    assert _printable("/api/reports/2024-05-01") == "/api/reports/2024-05-01"
    assert _printable('/x\n{"level":"error"}') == '/x\\n{"level":"error"}'
    assert len(_printable("/" + "a" * 1000)) == 300


def test_answers_recorded_together_each_get_their_metrics_and_access_line_through_any_handler(caplog):
    """Not configure_logging's JSON handler alone (here pytest's too): each line goes through logging."""
    from service.observability.http import FinishedRequest, finish_requests
    from service.observability.metrics import ServiceMetrics

    metrics = ServiceMetrics(make_settings("finish_requests"))
    route = "/api/reports/{report_date}"
    answered = [
        FinishedRequest(time.time(), "GET", route, 200, 0.0002, "/api/reports/2026-11-20", "rid-a", "acme"),
        FinishedRequest(time.time(), "GET", route, 200, 0.0004, "/api/reports/2026-11-21", "rid-b", None),
    ]
    with caplog.at_level(logging.INFO, logger="service.access"):
        finish_requests(metrics, answered)
    lines = [(r.request_id, getattr(r, "org_id", None), r.path, r.status) for r in caplog.records]
    assert lines == [
        ("rid-a", "acme", "/api/reports/2026-11-20", 200),
        ("rid-b", None, "/api/reports/2026-11-21", 200),
    ]
    labels = {"method": "GET", "route": route, "status": "200"}
    assert metrics.registry.get_sample_value("call_analytics_http_requests_total", labels) == 2
