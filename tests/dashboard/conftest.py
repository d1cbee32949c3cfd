"""Browser tests of the dashboard: Debian's Chromium driven by Playwright against the real service.

Nothing is downloaded: Playwright drives /usr/bin/chromium (apt-get install chromium) and axe-core
comes from node_modules (npm ci). When either is missing the tests fail and say what to install.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.core.calendar import today_in, zone
from service.core.config import Settings
from tests.conftest import load_demo_data, make_settings
from tests.service.api.conftest import serve  # noqa: F401 - the fixture that starts the service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
API_KEY = "dashboard-admin-key"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STORED_DAYS = 4  # stored reports end the day before yesterday: yesterday stays to be generated


def _require_tools() -> None:
    problems = []
    if not CHROMIUM.exists():
        problems.append(
            f"{CHROMIUM} is missing: install Debian's browser with `apt-get update && apt-get install -y chromium`"
        )
    if not AXE.exists():
        problems.append(
            f"{AXE.relative_to(ROOT)} is missing: run `npm ci` at the repository root (or scripts/install-browser-deps.sh)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package playwright is missing: run `make setup`")
    if problems:
        pytest.fail("Dashboard browser tests cannot run: " + "; ".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_tools()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Dashboard:
    url: str
    orgs: list[dict[str, Any]]
    settings: Settings  # the service's: tests may write to its report store directly
    yesterday: dict[str, date] = field(default_factory=dict)
    catalog: dict[str, Any] = field(default_factory=dict)  # GET /api/catalog, which the page follows

    def client(self, *, admin: bool = True) -> httpx.Client:
        """With API_KEY set every read needs a token too: the admin key unless `admin=False`."""
        headers = {"Authorization": f"Bearer {API_KEY}"} if admin else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        with self.client() as client:
            response = client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def _wait_for_job(client: httpx.Client, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] != "running":
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture(scope="module")
def dashboard(serve) -> Dashboard:  # noqa: F811 - the imported fixture
    """The service with two demo organizations and their stored reports of four days."""
    _require_tools()  # fail before the slow set-up when the browser cannot run anyway
    settings = make_settings("dashboard", api_key=API_KEY)
    load_demo_data(settings, orgs=2, days=7, calls_per_day=40, seed=11)
    service = serve(settings)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=120) as client:
        orgs = client.get("/api/orgs").json()
    board = Dashboard(service.url, orgs, settings)
    board.catalog = board.get("/api/catalog")
    with board.client(admin=True) as client:
        for org in orgs:
            yesterday = today_in(zone(org["timezone"])) - timedelta(days=1)
            board.yesterday[org["org_id"]] = yesterday
            body = {
                "org_id": org["org_id"],
                "start_date": (yesterday - timedelta(days=STORED_DAYS)).isoformat(),
                "end_date": (yesterday - timedelta(days=1)).isoformat(),
            }
            accepted = client.post("/api/reports/backfill", json=body)
            assert accepted.status_code == 202, accepted.text
            job = _wait_for_job(client, accepted.json()["id"])
            assert job["status"] == "succeeded", (
                f"backfill of {org['org_id']}: {job['status']}: {job['error']}"
            )
    return board


KEY_STORAGE = "callAnalytics.adminKey"  # where the page keeps the access token (sessionStorage)


def with_token(context: Any, token: str | None = API_KEY) -> Any:
    """A browser context whose tabs start signed in with `token`, as if it had been typed in the
    page's token prompt (the service has API_KEY set, so the page reads nothing without one).
    Seeded once per tab: a token the test changes, or forgets by signing out, stays so across
    reloads."""
    if token is not None:
        context.add_init_script(
            f"""if (!sessionStorage.getItem("test.seeded")) {{
                  sessionStorage.setItem("test.seeded", "1");
                  sessionStorage.setItem({KEY_STORAGE!r}, {token!r});
                }}"""
        )
    return context


@pytest.fixture
def page(browser, dashboard) -> Iterator[Any]:
    """A fresh tab at 1280x800, holding the admin key as its access token, that records script
    errors and any request leaving the service."""
    context = with_token(
        browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", timezone_id="UTC")
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request",
        lambda request: None if request.url.startswith(dashboard.url) else outside.append(request.url),
    )
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"
    assert not outside, f"the page reached outside the service: {outside}"


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
