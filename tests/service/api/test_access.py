"""Tenant access over HTTP: every route x every kind of credential, generated from the app's routes.

A route added without a scope (public, reader or admin) fails `test_every_route_declares_one_scope`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from reports_store import open_store
from service.access import tokens as tokens_module
from service.access.tokens import TokenRequest, Tokens
from service.api.deps import SCOPES
from service.core.dbt_runner import DBT_LOCK
from tests.conftest import load_demo_data, make_settings
from tests.service.api.conftest import API_KEY, free_port

CREDENTIALS = ("none", "reader_a", "reader_b", "admin", "revoked", "expired")


@pytest.fixture(scope="module")
def world(serve):
    """A service with API_KEY, two organizations with reports, and one token of each kind."""
    settings = make_settings("access", api_key=API_KEY, live_query_concurrency_per_token=2)
    load_demo_data(settings, orgs=2, days=3, calls_per_day=20, seed=21)
    service = serve(settings)
    admin = service.client(admin=True)
    org_a, org_b = sorted(org["org_id"] for org in admin.get("/api/orgs").json())
    day = (datetime.now(UTC) - timedelta(days=2)).date()
    for org in (org_a, org_b):
        made = admin.post("/api/reports/generate", json={"org_id": org, "date": day.isoformat()})
        assert made.status_code == 200, made.text

    def token(**body) -> dict:
        created = admin.post("/api/tokens", json=body)
        assert created.status_code == 201, created.text
        return created.json()

    tokens = {
        "reader_a": token(name="broker a", org_ids=[org_a])["token"],
        "reader_b": token(name="broker b", org_ids=[org_b])["token"],
        "admin": token(name="ops", admin=True)["token"],
    }
    revoked = token(name="old", org_ids=[org_a])
    assert admin.delete(f"/api/tokens/{revoked['id']}").status_code == 204
    tokens["revoked"] = revoked["token"]
    with open_store(settings.reports_store_url) as store:  # expired: created as if 3 days ago
        past = datetime.now(UTC) - timedelta(days=3)
        request = TokenRequest(name="expired", org_ids=[org_a], expires_in_days=1)
        tokens["expired"] = Tokens(settings, store).create(request, now=past).token
    return {"service": service, "tokens": tokens, "org_a": org_a, "org_b": org_b, "day": day}


def client(world, credential: str) -> httpx.Client:
    headers = {} if credential == "none" else {"Authorization": f"Bearer {world['tokens'][credential]}"}
    return httpx.Client(base_url=world["service"].url, headers=headers, timeout=120)


def scope_of(route) -> list[str]:
    return [SCOPES[dep.dependency] for dep in route.dependencies if dep.dependency in SCOPES]


def api_routes(world) -> list:
    """Every route of the app as served (with its routers' dependencies), but FastAPI's own
    /openapi.json, which is public by design."""
    app = world["service"].server.config.app
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def test_every_route_declares_one_scope(world):
    routes = api_routes(world)
    assert len(routes) > 30
    undecided = [f"{sorted(r.methods)} {r.path}" for r in routes if len(scope_of(r)) != 1]
    assert not undecided, f"routes without exactly one scope: {undecided}"


def concrete_request(route, method: str, world) -> tuple[str, dict, dict | None]:
    """A request for `route` about organization A that changes nothing (writes get an invalid body)."""
    values = {
        "report_date": world["day"].isoformat(),
        "org_id": world["org_a"],
        "job_id": "1",
        "token_id": "000000000000",
        "delivery_id": "999999",
        "name": "dashboard.js" if route.path.startswith("/dashboard") else "swagger-ui.css",
    }
    path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], route.path)
    if method == "DELETE" and "report_date" in route.path:
        path = path.replace(world["day"].isoformat(), "1999-01-01")  # nothing stored: a 404, not a delete
    dependant = route.original_route.dependant
    query_names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        query_names |= {param.alias for param in dependency.query_params}
        for sub in dependency.dependencies:
            query_names |= {param.alias for param in sub.query_params}
    params = {"org_id": world["org_a"]} if "org_id" in query_names else {}
    if "date" in query_names:
        params["date"] = world["day"].isoformat()
    if "start_date" in query_names and "end_date" in query_names:
        params |= {"start_date": world["day"].isoformat(), "end_date": world["day"].isoformat()}
    body = {"unexpected_field": 1} if method in ("POST", "PATCH") else None
    return path, params, body


def expected(scope: str, credential: str, org_scoped: bool) -> str:
    if scope == "public":
        return "allowed"
    if credential in ("none", "revoked", "expired"):
        return "401"
    if scope == "admin":
        return "allowed" if credential == "admin" else "403"
    # reader scope: a reader of B asking about organization A is refused; unscoped reads are open
    return "403" if credential == "reader_b" and org_scoped else "allowed"


def test_route_scope_matrix(world):
    failures = []
    rows = 0
    for route in api_routes(world):
        (scope,) = scope_of(route)
        for method in sorted(route.methods - {"HEAD"}):
            path, params, body = concrete_request(route, method, world)
            for credential in CREDENTIALS:
                with client(world, credential) as http:
                    response = http.request(method, path, params=params, json=body)
                org_scoped = "org_id" in params or "{org_id}" in route.path
                want = expected(scope, credential, org_scoped)
                got = response.status_code
                ok = got not in (401, 403, 429) and got < 500 if want == "allowed" else str(got) == want
                if scope == "reader" and credential == "reader_b" and route.path == "/api/orgs":
                    ok = got == 200 and world["org_a"] not in response.text  # its list, without A
                if not ok:
                    failures.append(
                        f"{method} {path} as {credential}: {got} (want {want}) {response.text[:120]}"
                    )
                if got == 401:
                    assert response.headers.get("www-authenticate") == "Bearer"
                rows += 1
    assert rows > 150
    assert not failures, "\n".join(failures)


def test_a_reader_never_sees_another_organizations_numbers(world):
    with client(world, "reader_b") as http:
        assert [org["org_id"] for org in http.get("/api/orgs").json()] == [world["org_b"]]
        for path in ("/daily-report", "/api/reports", "/api/reports/latest", f"/api/orgs/{world['org_a']}"):
            response = http.get(path, params={"org_id": world["org_a"]})
            assert response.status_code == 403, (path, response.text)
            assert world["org_a"] in response.json()["detail"] or "may not read" in response.json()["detail"]
        unknown = http.get("/daily-report", params={"org_id": "no-such-org"})
        assert unknown.status_code == 403  # the same answer as an existing org: no existence leak
        own = http.get("/daily-report", params={"date": world["day"].isoformat()})  # no org_id: its own
        assert own.status_code == 200 and own.json()["metadata"]["org_id"] == world["org_b"]


def test_tokens_are_hashed_prefixed_and_compared_in_constant_time(world, monkeypatch):
    token = world["tokens"]["reader_a"]
    assert token.startswith("cat_") and len(token.split("_", 2)[2]) >= 43  # 256 bits, url-safe base64
    store_file = Path(world["service"].settings.reports_store_url.removeprefix("sqlite:///"))
    data = b"".join(path.read_bytes() for path in store_file.parent.glob(store_file.name + "*"))
    assert token.split("_", 2)[2].encode() not in data
    compared = []
    real = tokens_module.hmac.compare_digest
    monkeypatch.setattr(tokens_module.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    with client(world, "reader_a") as http:
        assert http.get("/api/catalog").status_code == 200
    assert compared  # the secret's hash is compared with hmac.compare_digest
    with client(world, "admin") as http:
        listed = http.get("/api/tokens")
    assert listed.status_code == 200 and "cat_" not in listed.text and "secret" not in listed.text
    assert {
        "id",
        "name",
        "scope",
        "org_ids",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    } <= set(listed.json()[0])


def test_no_token_or_key_in_debug_config_jobs_or_audit(world):
    with client(world, "admin") as http:
        texts = [http.get(path).text for path in ("/debug-config", "/api/jobs", "/api/audit", "/api/tokens")]
    for text in texts:
        assert API_KEY not in text
        for token in world["tokens"].values():
            assert token not in text and token.split("_", 2)[2] not in text


def test_the_audit_trail_records_each_admin_action_once_with_its_actor(world):
    with client(world, "admin") as http:
        before = http.get("/api/audit", params={"limit": 500}).json()
        created = http.post(
            "/api/orgs", json={"org_id": "audited-org", "name": "Audited", "node_persistent_id": "n-9"}
        )
        assert created.status_code == 201
        refused = http.post(
            "/api/orgs", json={"org_id": "audited-org", "name": "Again", "node_persistent_id": "n"}
        )
        assert refused.status_code == 409
        after = http.get("/api/audit", params={"limit": 500}).json()
    new = after[: len(after) - len(before)]
    assert [(r["action"], r["target"], r["actor_name"]) for r in new] == [
        ("orgs.create", "audited-org", "ops"),
        ("orgs.create", "audited-org", "ops"),
    ]
    assert new[1]["outcome"] == "succeeded" and new[0]["outcome"].startswith("failed: Conflict")
    actions = {record["action"] for record in after}
    assert {"reports.generate", "tokens.create", "tokens.revoke"} <= actions
    with client(world, "reader_a") as http:
        assert http.get("/api/audit").status_code == 403


def test_uncached_live_queries_are_capped_per_token_and_cached_reads_never(world):
    base = world["day"]
    with client(world, "reader_a") as http:
        warm = http.get("/daily-report", params={"date": base.isoformat()})
        assert warm.status_code == 200
    # Hold the warehouse (as a running dbt job would): cold queries wait inside their slot.
    cold_days = [(base - timedelta(days=30 + n)).isoformat() for n in range(4)]
    DBT_LOCK.acquire()
    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [
                pool.submit(client(world, "reader_a").get, "/daily-report", params={"date": day})
                for day in cold_days
            ]
            time.sleep(1.5)  # the first two hold both slots by now
            with client(world, "reader_a") as http:
                cached = [http.get("/daily-report", params={"date": base.isoformat()}) for _ in range(5)]
            with client(world, "reader_b") as http:  # another token has its own slots
                other = pool.submit(http.get, "/daily-report", params={"date": cold_days[0]})
                time.sleep(0.5)
                DBT_LOCK.release()
                released = True
                other_status = other.result(timeout=120).status_code
            statuses = sorted(f.result(timeout=120).status_code for f in futures)
    finally:
        if not locals().get("released"):
            DBT_LOCK.release()
    assert [r.status_code for r in cached] == [200] * 5
    assert statuses.count(429) == 2 and statuses.count(200) == 2, statuses
    assert other_status == 200


def test_cli_tokens_create_once_list_without_secrets_and_revoke_in_the_running_service(tmp_path):
    from tests.service.test_cli import cli_env, run_cli

    port = free_port()
    env = cli_env(tmp_path, API_KEY="cli-admin-key")
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert run_cli(env, "orgs", "add", "tok-org", "--name", "T", "--node", "n-1").returncode == 0
        created = run_cli(env, "tokens", "create", "--name", "tok dash", "--org", "tok-org")
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip()
        assert token.startswith("cat_") and created.stdout.count(token) == 1 and token not in created.stderr
        listed = run_cli(env, "tokens", "list")
        assert (
            listed.returncode == 0
            and token not in listed.stdout
            and token.split("_", 2)[2] not in listed.stdout
        )
        token_id = json.loads(listed.stdout)[0]["id"]
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{url}/api/orgs/tok-org", headers=headers).status_code == 200
        revoked = run_cli(env, "tokens", "revoke", token_id)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(f"{url}/api/orgs/tok-org", headers=headers).status_code == 401
        audit = run_cli(env, "audit", "list")
        assert audit.returncode == 0 and '"tokens.revoke"' in audit.stdout and token not in audit.stdout
    finally:
        server.terminate()
        server.wait(60)


def test_without_api_key_everything_is_open_and_the_start_warns(serve, caplog):
    settings = make_settings("access_open")
    with caplog.at_level("WARNING"):
        service = serve(settings)
    with httpx.Client(base_url=service.url, timeout=60) as http:
        assert http.get("/api/orgs").status_code == 200
        assert http.get("/api/jobs").status_code == 200
    assert any("API_KEY is not set" in record.getMessage() for record in caplog.records)
