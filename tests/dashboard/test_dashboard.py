"""The dashboard in a real browser: its figures equal the API's, its controls work by mouse and
keyboard, the admin actions are guarded, errors are visible, and axe-core finds no serious issue."""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # say what to install instead of a bare import error
    pytest.fail("The Python package playwright is missing: run `make setup`", pytrace=False)

from service.api.routers.dashboard import _page
from tests.conftest import make_settings
from tests.dashboard.conftest import API_KEY, AXE, KEY_STORAGE, screenshot, with_token


def _int(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _dec(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}%"


def _per_day(value: Any, report: dict[str, Any]) -> str:
    start = date.fromisoformat(report["metadata"]["report_start_date"])
    days = (date.fromisoformat(report["metadata"]["report_end_date"]) - start).days + 1
    if days == 1:
        return "on this day"
    if not isinstance(value, int | float):
        return f"over {days} days"
    return f"over {days} days, {math.floor(value / days + 0.5):,} a day"  # JS Math.round: halves up


def _humanise(raw: str) -> str:
    """A breakdown value as the page shows it: TRANSFER_SUCCEEDED reads "Transfer succeeded"."""
    text = re.sub(r"\s+", " ", re.sub(r"_+", " ", raw.strip()))
    if not text:
        return "(blank)"
    if re.search(r"[A-Z]", text) and text == text.upper():
        text = text.lower()
    return text[0].upper() + text[1:] if re.match(r"[a-z][^\sA-Z]*(\s|$)", text) else text


def _long_date(iso: str) -> str:
    """The page's long date in en-US: "Tue, Nov 24, 2026"."""
    return (
        date.fromisoformat(iso).strftime("%a, %b ")
        + str(date.fromisoformat(iso).day)
        + (date.fromisoformat(iso).strftime(", %Y"))
    )


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if re.match(r"[A-Z][^A-Z]", text) else text


def _denominator_noun(kpi: dict[str, Any], catalog: dict[str, Any]) -> str:
    """A ratio's denominator in words: the label of the catalogue KPI of that key."""
    column = kpi.get("denominator")
    if not column:
        return ""
    named = next((k for k in catalog["kpis"] if k["key"] == column), None)
    return _lower_first(named["label"]) if named else column.replace("_", " ")


def expected_card(kpi: dict[str, Any], report: dict[str, Any], catalog: dict[str, Any]) -> tuple[str, str]:
    """What a KPI's card must show, from its catalogue format: (the number, the line under it)."""
    k = report["kpis"]
    raw = k[kpi["key"]]
    total = k.get("total_calls") if kpi["key"] != "total_calls" else None
    noun = _denominator_noun(kpi, catalog)
    fmt = kpi["format"]
    if fmt == "share":
        keys = kpi["object_keys"]
        number = _pct(raw[keys["percentage"]])
        if number == "—" and noun:
            return number, f"No {noun}"
        return number, f"{raw[keys['count']]:,} of {raw[keys['denominator']]:,}" + (
            f" {noun}" if noun else ""
        )
    if fmt == "int":
        return _int(raw), f"of {total:,} calls" if total is not None else _per_day(raw, report)
    if fmt == "percent":
        number = _pct(raw)
        base = k.get(kpi.get("denominator") or "")
        if noun and isinstance(base, int | float):
            return number, f"No {noun}" if number == "—" else f"of {base:,} {noun}"
        return number, "No value for this period" if number == "—" else _per_day(None, report)
    number = _dec(raw)
    if total is not None:
        return number, "No calls" if number == "—" else f"over {total:,} calls"
    return number, "No value for this period" if number == "—" else _per_day(None, report)


def expected_cards(report: dict[str, Any], catalog: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Every card, in catalogue order: (key, label, number, detail); a KPI the report lacks has none."""
    return [
        (kpi["key"], kpi["label"], *expected_card(kpi, report, catalog))
        for kpi in catalog["kpis"]
        if kpi["key"] in report["kpis"]
    ]


def shown_cards(page) -> list[tuple[str, str, str, str]]:
    rows = page.eval_on_selector_all(
        "[data-kpi]",
        """cards => cards.map(c => [c.dataset.kpi, c.querySelector('.kpi-label').textContent,
                                   c.querySelector('.kpi-number').textContent,
                                   c.querySelector('.kpi-detail').textContent])""",
    )
    return [tuple(row) for row in rows]


def trend_charts(catalog: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The charts the catalogue declares: each distinct `trend`, in order of first appearance."""
    charts: dict[str, list[dict[str, Any]]] = {}
    for kpi in catalog["kpis"]:
        if kpi.get("trend") and kpi.get("summary_key"):
            charts.setdefault(kpi["trend"], []).append(kpi)
    return charts


def bar_series(catalog: dict[str, Any]) -> int:
    """How many bars a stored day has: one per series of the charts whose series are all counts."""
    return sum(
        len(kpis) for kpis in trend_charts(catalog).values() if all(k["format"] == "int" for k in kpis)
    )


def wait_shown(page, org_id: str, start: str, end: str | None = None, source: str = "stored") -> None:
    expect(page.locator("#summary")).to_have_attribute(
        "data-shown", f"{org_id}|{start}|{end or start}|{source}"
    )


def assert_cards_match(page, dashboard, report: dict[str, Any]) -> None:
    assert shown_cards(page) == expected_cards(report, dashboard.catalog)


def test_opens_on_the_first_organization_and_its_latest_report(page, dashboard):
    org = dashboard.orgs[0]
    latest = dashboard.get("/api/reports/latest", org_id=org["org_id"])
    day = latest["metadata"]["report_start_date"]
    page.goto(f"{dashboard.url}/")
    wait_shown(page, org["org_id"], day)
    assert_cards_match(page, dashboard, latest)
    assert page.input_value("#org-select") == org["org_id"]
    assert page.input_value("#date-input") == day
    expect(page.locator("#report-badges")).to_contain_text("Stored report")
    expect(page.locator("#report-badges")).to_contain_text("Up to date")
    # The seed catalogue's cards read as they did when the page named its KPIs itself.
    cards = {key: (number, detail) for key, _, number, detail in shown_cards(page)}
    k = latest["kpis"]
    assert cards["total_calls"] == (_int(k["total_calls"]), "on this day")
    assert cards["classified_calls"][1] == f"of {k['total_calls']:,} calls"
    if k["success_rate_percent"] is not None:
        assert cards["success_rate_percent"][1] == f"of {k['classified_calls']:,} classified calls"
    asked = k["carrier_transfer_over_total_call_attempts"]
    assert cards["carrier_transfer_over_total_call_attempts"][1] == (
        f"{asked['carrier_asked_count']:,} of {asked['total_call_attempts']:,} classified calls"
    )
    # Trends over the stored reports (4 days), the catalogue's breakdowns, freshness and the scheduler.
    charts = trend_charts(dashboard.catalog)
    expect(page.locator("#trends svg[role=img]")).to_have_count(len(charts))
    expect(page.locator("#trends .chart h3")).to_have_text(list(charts))
    expect(page.locator("#trends .bar")).to_have_count(4 * bar_series(dashboard.catalog))
    expect(page.locator("#trends .bar.selected")).to_have_count(bar_series(dashboard.catalog))
    expect(page.locator("#breakdowns h3")).to_have_text(
        [b["label"] for b in dashboard.catalog["breakdowns"] if b["key"] in latest["breakdowns"]]
    )
    stage = latest["breakdowns"]["call_stage"][0]
    first_row = page.locator("#breakdowns table").first.locator("tbody tr").first
    expect(first_row).to_contain_text(_humanise(stage["value"]) if stage["value"] is not None else "No value")
    expect(first_row).to_contain_text(_pct(stage["percentage"]))
    freshness = page.locator("#freshness")
    expect(freshness).to_contain_text("Report generated")
    expect(freshness.locator("time").first).to_have_attribute("datetime", latest["metadata"]["generated_at"])
    expect(page.locator("#scheduler")).to_contain_text("Disabled")
    # The /dashboard address serves the same page.
    page.goto(f"{dashboard.url}/dashboard")
    wait_shown(page, org["org_id"], day)


def test_switching_organization_and_date_updates_the_figures(page, dashboard):
    first, second = dashboard.orgs[0], dashboard.orgs[1]
    page.goto(f"{dashboard.url}/?org={first['org_id']}")
    wait_shown(
        page,
        first["org_id"],
        dashboard.get("/api/reports/latest", org_id=first["org_id"])["metadata"]["report_start_date"],
    )

    org_id = second["org_id"]
    latest = dashboard.get("/api/reports/latest", org_id=org_id)
    page.select_option("#org-select", org_id)
    wait_shown(page, org_id, latest["metadata"]["report_start_date"])
    assert_cards_match(page, dashboard, latest)
    assert f"org={org_id}" in page.url

    yesterday = dashboard.yesterday[org_id]
    earlier = (yesterday - timedelta(days=3)).isoformat()
    page.fill("#date-input", earlier)
    wait_shown(page, org_id, earlier)
    assert_cards_match(page, dashboard, dashboard.get(f"/api/reports/{earlier}", org_id=org_id))

    # The previous-day button, then a day without a stored report: an empty state with a way on.
    page.click("#prev-day")
    missing = (yesterday - timedelta(days=5)).isoformat()
    wait_shown(page, org_id, (yesterday - timedelta(days=4)).isoformat())
    page.click("#prev-day")
    expect(page.locator("#empty")).to_contain_text("No stored report for")
    expect(page.locator("[data-kpi]")).to_have_count(0)
    page.get_by_role("button", name="Show live numbers").click()
    wait_shown(page, org_id, missing, source="live")
    assert_cards_match(page, dashboard, dashboard.get("/daily-report", org_id=org_id, date=missing))

    # A range is a live report over the union of its days.
    start, end = (yesterday - timedelta(days=4)).isoformat(), (yesterday - timedelta(days=1)).isoformat()
    page.fill("#start-input", start)
    page.fill("#end-input", end)
    page.get_by_role("button", name="Show range").click()
    wait_shown(page, org_id, start, end, source="live")
    assert_cards_match(
        page, dashboard, dashboard.get("/daily-report", org_id=org_id, start_date=start, end_date=end)
    )
    expect(page.locator("#trends .bar.selected")).to_have_count(4 * bar_series(dashboard.catalog))

    # Back to one day from the URL of a view, as a bookmark would.
    page.goto(f"{dashboard.url}/?org={org_id}&date={earlier}")
    wait_shown(page, org_id, earlier)
    assert page.input_value("#org-select") == org_id


def test_the_page_follows_the_catalogue(page, dashboard):
    """Cards, breakdowns and trend charts come from GET /api/catalog: a KPI added with YAML only
    (and its numbers in the report) shows up, relabelled or removed KPIs follow, nothing is named
    in the page's code."""
    org_id = dashboard.orgs[0]["org_id"]
    real = dashboard.catalog
    by_key = {k["key"]: k for k in real["kpis"]}
    new_kpi = {
        "key": "voicemail_calls",
        "label": "Reached voicemail",
        "description": "Classified calls that ended in a voicemail.",
        "format": "share",
        "unit": None,
        "primary": True,
        "numerator": "voicemail_calls",
        "denominator": "classified_calls",
        "object_keys": {"count": "vm_count", "denominator": "vm_total", "percentage": "vm_pct"},
        "summary_key": "voicemail_percentage",
        "trend": "Voicemail",
        "endpoint": None,
    }
    # Reordered, one KPI relabelled, one removed, one the reports lack, one new; trends regrouped.
    kpis = [
        new_kpi,
        {**by_key["success_rate_percent"], "label": "Win rate", "trend": None},
        {**by_key["total_calls"]},
        {**by_key["total_duration_hours"], "trend": "Hours per day"},
        {**by_key["carrier_transfer_over_total_call_attempts"]},
        {**by_key["total_calls"], "key": "never_reported", "label": "Not in any report", "trend": None},
    ]
    catalog = {
        **real,
        "kpis": kpis,
        "breakdowns": [
            {"key": "load_status", "label": "Loads", "endpoint": None},
            {"key": "call_stage", "label": "Stage of the call", "endpoint": None},
        ],
    }
    vm = {"vm_count": 3, "vm_total": 12, "vm_pct": 25.0}

    def with_voicemail(route):
        response = route.fetch()
        report = response.json()
        route.fulfill(response=response, json={**report, "kpis": {**report["kpis"], "voicemail_calls": vm}})

    def voicemail_summaries(route):
        response = route.fetch()
        rows = response.json()
        route.fulfill(
            response=response, json=[{**row, "voicemail_percentage": 20.0 + i} for i, row in enumerate(rows)]
        )

    page.route("**/api/catalog", lambda route: route.fulfill(json=catalog))
    page.route("**/api/reports/latest?*", with_voicemail)
    page.route("**/api/reports?*", voicemail_summaries)
    page.goto(f"{dashboard.url}/?org={org_id}")
    latest = dashboard.get("/api/reports/latest", org_id=org_id)
    stored = len(dashboard.get("/api/reports", org_id=org_id, limit=60))
    wait_shown(page, org_id, latest["metadata"]["report_start_date"])

    k = latest["kpis"]
    asked = k["carrier_transfer_over_total_call_attempts"]
    assert [(key, label) for key, label, _, _ in shown_cards(page)] == [
        ("voicemail_calls", "Reached voicemail"),
        ("success_rate_percent", "Win rate"),
        ("total_calls", "Total calls"),
        ("total_duration_hours", "Hours on calls"),
        ("carrier_transfer_over_total_call_attempts", "Carrier asked for transfer"),
    ]
    cards = {key: (number, detail) for key, _, number, detail in shown_cards(page)}
    # classified_calls is gone from the catalogue, so a denominator is named by its column.
    assert cards["voicemail_calls"] == ("25.00%", "3 of 12 classified calls")
    assert cards["carrier_transfer_over_total_call_attempts"] == (
        _pct(asked["carrier_asked_percentage"]),
        f"{asked['carrier_asked_count']:,} of {asked['total_call_attempts']:,} classified calls",
    )
    assert cards["total_duration_hours"] == (
        _dec(k["total_duration_hours"]),
        f"over {k['total_calls']:,} calls",
    )
    expect(page.locator('[data-kpi="voicemail_calls"]')).to_have_class(re.compile(r"\bprimary\b"))
    expect(page.locator("#kpi-voicemail_calls")).to_have_attribute("title", new_kpi["description"])

    expect(page.locator("#breakdowns h3")).to_have_text(["Loads", "Stage of the call"])

    # Charts in order of first appearance; bars only when every series is a count.
    charts = page.locator("#trends .chart")
    expect(charts.locator("h3")).to_have_text(
        ["Voicemail", "Calls per day", "Hours per day", "Transfer rate"]
    )
    expect(charts.nth(0).locator(".dot")).to_have_count(stored)
    expect(charts.nth(0).locator("svg")).to_have_attribute(
        "aria-label", re.compile(r"^Reached voicemail from .* latest 20\.00%")
    )
    expect(charts.nth(1).locator(".bar")).to_have_count(stored)
    expect(charts.nth(2).locator(".bar")).to_have_count(0)
    expect(charts.nth(2).locator("path.line")).to_have_count(1)
    expect(charts.nth(2).locator(".axis").first).not_to_contain_text("%")
    expect(charts.nth(3).locator("path.line")).to_have_count(1)  # the second series' KPI was removed
    expect(charts.nth(0).locator(".axis").first).to_contain_text("%")
    page.click("#trends summary")
    expect(page.locator("#trends thead th")).to_have_text(
        ["Day", "Reached voicemail", "Total calls", "Hours on calls", "Carrier asked for transfer"]
    )
    expect(page.locator("#trends tbody tr").first).to_contain_text("20.00%")  # the newest day first


def test_a_catalogue_that_cannot_be_loaded_is_an_error_with_a_retry(page, dashboard):
    failing = {"on": True}

    def catalogue(route):
        if failing["on"]:
            route.fulfill(status=503, json={"detail": "The report store is unavailable."})
        else:
            route.continue_()

    page.route("**/api/catalog", catalogue)
    page.goto(f"{dashboard.url}/")
    status = page.locator("#status")
    expect(status).to_contain_text(
        "Could not load the KPI catalogue. The report store is unavailable. Try again"
    )
    expect(page.locator("[data-kpi]")).to_have_count(0)
    failing["on"] = False
    status.get_by_role("button", name="Try again").click()
    latest = dashboard.get("/api/reports/latest", org_id=dashboard.orgs[0]["org_id"])
    expect(page.locator("[data-kpi]")).to_have_count(
        len([k for k in dashboard.catalog["kpis"] if k["key"] in latest["kpis"]])
    )
    expect(status).to_be_empty()


def create_token(dashboard, name: str, *org_ids: str) -> dict[str, Any]:
    """A token made through the API with the admin key: a reader of `org_ids`, or an admin without."""
    body: dict[str, Any] = (
        {"name": name, "org_ids": list(org_ids)} if org_ids else {"name": name, "admin": True}
    )
    with dashboard.client() as client:
        created = client.post("/api/tokens", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def reader_token(dashboard, *org_ids: str) -> str:
    return create_token(dashboard, "dashboard reader", *org_ids)["token"]


def sign_in(page, token: str) -> None:
    """Types `token` in the page's token prompt and signs in with it."""
    expect(page.locator("#signin")).to_be_visible()
    page.fill("#admin-key", token)
    page.click("#sign-in")


def stored_token(page) -> str | None:
    return page.evaluate(f"sessionStorage.getItem({KEY_STORAGE!r})")


def test_generate_is_for_admins_only_and_works_with_the_admin_key(page, dashboard):
    org_id = dashboard.orgs[0]["org_id"]
    day = dashboard.yesterday[org_id].isoformat()
    page.goto(f"{dashboard.url}/?org={org_id}&date={day}")
    expect(page.locator("#empty")).to_contain_text("No stored report for")
    expect(page.locator("#session-who")).to_have_text("Signed in as API_KEY (admin)")
    # Sign out, then in with a reader token of this organization: the page reads, and offers no
    # admin action at all (nothing to click that the service would refuse).
    page.click("#sign-out")
    expect(page.locator("#signin-reason")).to_have_text(
        "You signed out. Enter an access token to sign in again."
    )
    assert stored_token(page) is None
    sign_in(page, reader_token(dashboard, org_id))
    expect(page.locator("#empty")).to_contain_text("No stored report for")
    expect(page.locator("#org-select option")).to_have_count(1)  # a reader sees its organizations only
    expect(page.locator("#empty").get_by_role("button", name="Show live numbers")).to_be_visible()
    expect(page.get_by_role("button", name="Generate this day")).to_have_count(0)
    expect(page.locator("#operator")).to_be_hidden()
    expect(page.locator("#scheduler-box")).to_be_hidden()

    # The admin key: the same empty day offers to generate it.
    page.click("#sign-out")
    sign_in(page, API_KEY)
    expect(page.locator("#operator")).to_be_visible()
    page.get_by_role("button", name="Generate this day").click()
    assert page.input_value("#generate-date") == day
    assert page.evaluate("document.activeElement.id") == "generate-button"
    result = page.locator("#generate-result")
    page.click("#generate-button")
    expect(result).to_contain_text(f"Stored the report of {dashboard.orgs[0]['name']}", timeout=60_000)
    wait_shown(page, org_id, day)
    assert_cards_match(page, dashboard, dashboard.get(f"/api/reports/{day}", org_id=org_id))
    # The key lives in this tab's sessionStorage: it survives a reload, and Sign out removes it.
    page.reload()
    wait_shown(page, org_id, day)
    assert stored_token(page) == API_KEY
    page.click("#sign-out")
    assert stored_token(page) is None
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#board")).to_be_hidden()
    expect(page.locator("[data-kpi]")).to_have_count(0)  # nothing read with the key stays on the page


def test_generating_a_stored_day_says_nothing_changed_and_offers_to_rebuild(page, dashboard):
    org = dashboard.orgs[1]
    day = (dashboard.yesterday[org["org_id"]] - timedelta(days=2)).isoformat()
    before = dashboard.get(f"/api/reports/{day}", org_id=org["org_id"])
    posted: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: posted.append(r.post_data_json) if r.url.endswith("/api/reports/generate") else None,
    )
    page.goto(f"{dashboard.url}/?org={org['org_id']}")
    expect(page.locator("[data-kpi]").first).to_be_visible()
    page.fill("#generate-date", day)
    page.click("#generate-button")
    result = page.locator("#generate-result")
    expect(result).to_contain_text(
        f"The report of {org['name']} for {_long_date(day)} was already stored; nothing changed.",
        timeout=60_000,
    )
    expect(result).not_to_contain_text("Stored the report")
    expect(result).to_have_class(re.compile(r"\bnotice\b"))
    wait_shown(page, org["org_id"], day)
    assert (
        dashboard.get(f"/api/reports/{day}", org_id=org["org_id"])["metadata"]["generated_at"]
        == (before["metadata"]["generated_at"])
    )
    result.get_by_role("button", name="Regenerate it").click()
    expect(result).to_contain_text(f"Regenerated and stored the report of {org['name']}", timeout=60_000)
    assert [p["force"] for p in posted] == [False, True]
    after = dashboard.get(f"/api/reports/{day}", org_id=org["org_id"])
    assert after["metadata"]["generated_at"] != before["metadata"]["generated_at"]


def test_a_refused_generate_shows_the_services_message(page, dashboard):
    """A day before the first recorded call is refused (400) in the service's words; storing an
    all-zero report anyway is one click, and that stray old report stays out of the trend window."""
    org = dashboard.orgs[0]
    org_id = org["org_id"]
    page.goto(f"{dashboard.url}/?org={org_id}")
    wait_shown(
        page, org_id, dashboard.get("/api/reports/latest", org_id=org_id)["metadata"]["report_start_date"]
    )
    # The trends load after the report: count their bars once this organization's are drawn.
    expect(page.locator("#trends")).to_have_attribute("data-window", re.compile(rf"^{re.escape(org_id)}\|"))
    drawn = page.locator("#trends .bar").count()
    page.fill("#generate-date", "2020-01-01")
    page.click("#generate-button")
    result = page.locator("#generate-result")
    expect(result).to_contain_text(
        re.compile(r"recorded calls begin on \d{4}-\d\d-\d\d: no report for 2020-01-01 \(allow_empty"),
        timeout=60_000,
    )
    expect(result).to_have_class(re.compile(r"\berror\b"))
    expect(result).not_to_contain_text("HTTP 400")
    expect(result).not_to_contain_text("Stored the report")
    try:
        result.get_by_role("button", name="Store an all-zero report anyway").click()
        expect(result).to_contain_text("Stored the report", timeout=60_000)
        wait_shown(page, org_id, "2020-01-01")
        # The 2020 report is stored, but the 28-day window ends at the newest report: not drawn.
        expect(page.locator("#trends-note")).to_contain_text("1 older report outside the window not drawn")
        expect(page.locator("#trends .bar")).to_have_count(drawn)
        expect(page.locator("#trends .axis.x").first).not_to_contain_text("2020")
    finally:
        with dashboard.client() as client:
            client.delete("/api/reports/2020-01-01", params={"org_id": org_id})


def test_operator_actions_wait_for_the_organizations(page, dashboard):
    """Generate and backfill act on the selected organization: while the organizations are still
    loading they are disabled, not clickable buttons that silently do nothing (a click there once
    left the backfill test waiting for a job that was never asked for)."""
    held = []
    page.route("**/api/orgs", lambda route: held.append(route))
    page.goto(f"{dashboard.url}/")
    expect(page.locator("#operator")).to_be_visible()
    for _ in range(200):  # the page asks once the catalogue is in
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked for the organizations"
    expect(page.locator("#generate-button")).to_be_disabled()
    expect(page.locator("#backfill-button")).to_be_disabled()
    held[0].continue_()
    expect(page.locator("#generate-button")).to_be_enabled()
    expect(page.locator("#backfill-button")).to_be_enabled()


def test_backfill_shows_progress_and_its_result(page, dashboard):
    org_id = dashboard.orgs[0]["org_id"]
    yesterday = dashboard.yesterday[org_id]
    start, end = yesterday - timedelta(days=5), yesterday - timedelta(days=4)
    page.goto(f"{dashboard.url}/?org={org_id}")
    page.fill("#backfill-start", start.isoformat())
    page.fill("#backfill-end", end.isoformat())
    page.click("#backfill-button")
    # Shown once the POST answers, which waits for the job to be queued (slow on a busy machine).
    expect(page.locator("#backfill-job")).to_be_visible(timeout=30_000)
    result = page.locator("#backfill-result")
    # How many days are new depends on what earlier tests stored and on each org's first call.
    expect(result).to_contain_text(
        re.compile(r"finished: \d+ generated, \d+ already stored, 0 failed\.$"), timeout=60_000
    )
    assert page.eval_on_selector("#backfill-progress", "p => p.value") == 1
    summaries = dashboard.get("/api/reports", org_id=org_id, limit=30)
    assert start.isoformat() in {s["report_date"] for s in summaries}
    expect(page.locator("#trends .bar")).to_have_count(len(summaries) * bar_series(dashboard.catalog))


def test_warehouse_unavailable_is_shown_not_hidden(browser, dashboard, serve):
    down = serve(
        make_settings("dashboard", api_key=API_KEY, clickhouse_url="http://127.0.0.1:9"), wait_healthy=False
    )
    org_id = dashboard.orgs[0]["org_id"]
    day = (dashboard.yesterday[org_id] - timedelta(days=2)).isoformat()
    context = with_token(browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US"))
    page = context.new_page()
    try:
        page.goto(f"{down.url}/?org={org_id}&start={day}&end={day}")
        empty = page.locator("#empty")
        expect(empty).to_contain_text("The warehouse is unavailable")
        expect(empty.get_by_role("button", name="Try again")).to_be_visible()
        screenshot(page, "dashboard-warehouse-unavailable.png")
        # Stored reports come from the report store, so they still show.
        page.click("#mode-day + label")
        wait_shown(page, org_id, day)
        page.fill("#generate-date", (dashboard.yesterday[org_id] - timedelta(days=6)).isoformat())
        page.click("#generate-button")
        expect(page.locator("#generate-result")).to_contain_text("warehouse is unavailable")
    finally:
        context.close()


def test_keyboard_reaches_every_control(page, dashboard):
    page.goto(f"{dashboard.url}/")
    expect(page.locator("[data-kpi]").first).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the report"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.reload()
    expect(page.locator("[data-kpi]").first).to_be_visible()
    reached = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
    for control in (
        "org-select",
        "mode-day",
        "prev-day",
        "trend-28",
        "date-input",
        "sign-out",
        "generate-date",
        "generate-button",
        "backfill-start",
        "backfill-button",
    ):
        assert control in reached, f"{control} cannot be reached with Tab"
    # Keyboard only: the Range radio by arrow key, then back to Day.
    page.focus("#mode-day")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#range-field")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#day-field")).to_be_visible()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_no_serious_accessibility_violation_and_a_screenshot(browser, dashboard, width, height):
    # axe is injected as an inline script, which the page's Content-Security-Policy would block.
    context = with_token(
        browser.new_context(viewport={"width": width, "height": height}, locale="en-US", bypass_csp=True)
    )
    page = context.new_page()
    try:
        org = dashboard.orgs[0]
        page.goto(f"{dashboard.url}/?org={org['org_id']}")
        expect(page.locator("[data-kpi]").first).to_be_visible()
        expect(page.locator("#trends svg")).to_have_count(len(trend_charts(dashboard.catalog)))
        page.click("#trends summary")  # the trend table is checked too
        page.add_script_tag(path=str(AXE))
        results = page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations'], "
            "runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
        )
        serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert not serious, json.dumps(
            [
                {k: v[k] for k in ("id", "impact", "help")} | {"nodes": [n["target"] for n in v["nodes"][:5]]}
                for v in serious
            ],
            indent=1,
        )
        # Readable at this width: nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.click("#trends summary")
        path = screenshot(page, f"dashboard-{width}x{height}.png")
        assert path.stat().st_size > 10_000
    finally:
        context.close()


def test_the_page_names_the_default_organization_safely():
    assert 'name="default-org" content="org-a"' in _page("org-a")
    assert 'content=""' in _page(None)
    assert "<script>alert" not in _page('"><script>alert(1)</script>')
    assert re.search(r'content="&quot;&gt;&lt;script&gt;', _page('"><script>alert(1)</script>'))


def test_stale_and_never_reported_states(page, dashboard):
    org_id = dashboard.orgs[0]["org_id"]

    def stale(route):
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "stale": True})

    # A stale stored report (the marts changed after it was generated) says so, in two places.
    page.route("**/api/reports/latest?*", stale)
    page.goto(f"{dashboard.url}/?org={org_id}")
    expect(page.locator("#report-badges")).to_contain_text("Stale")
    expect(page.locator("#freshness")).to_contain_text("Regenerate it")
    page.unroute("**/api/reports/latest?*")

    # An organization without any stored report yet: an empty state, not zeros.
    with dashboard.client(admin=True) as client:
        created = client.post(
            "/api/orgs",
            json={"org_id": "dash-quiet", "name": "Quiet Freight", "node_persistent_id": "node-quiet"},
        )
    assert created.status_code == 201, created.text
    page.goto(f"{dashboard.url}/?org=dash-quiet")
    expect(page.locator("#empty")).to_contain_text("No stored report for Quiet Freight yet")
    expect(page.locator("#trends")).to_contain_text("No stored reports yet")
    expect(page.locator("[data-kpi]")).to_have_count(0)


def test_page_and_files_are_served_with_a_strict_policy(dashboard):
    with dashboard.client() as client:
        page = client.get("/")
        head = client.head("/dashboard")
        script = client.get("/dashboard/static/dashboard.js")
        outside = client.get("/dashboard/static/..%2F..%2Fapp.py")
        unknown = client.get("/dashboard/static/nothing.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert head.status_code == 200
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert outside.status_code == 404 and unknown.status_code == 404
    # No address outside the service in what the browser loads.
    for body in (page.text, script.text):
        assert not re.search(r"(src|href)=\"(https?:)?//", body)


# ---- access token -------------------------------------------------------------------------------


ADMIN_ONLY = (
    "/api/scheduler",
    "/api/jobs",
    "/api/reports/generate",
    "/api/reports/backfill",
    "/api/tokens",
    "/api/audit",
    "/debug-",
)


def assert_axe_clean(page) -> None:
    """axe-core finds no serious or critical issue (the context must bypass the page's CSP)."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'], "
        "runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(
        [
            {k: v[k] for k in ("id", "impact", "help")} | {"nodes": [n["target"] for n in v["nodes"][:5]]}
            for v in serious
        ],
        indent=1,
    )


class Traffic:
    """What a tab asked the service and heard back, and the errors its console printed."""

    def __init__(self, page, dashboard) -> None:
        self.requests: list[Any] = []
        self.answers: list[tuple[int, str, str]] = []
        self.console: list[str] = []
        page.on("request", lambda r: self.requests.append(r) if r.url.startswith(dashboard.url) else None)
        page.on(
            "response",
            lambda r: (
                self.answers.append((r.status, r.request.method, r.url))
                if r.url.startswith(dashboard.url)
                else None
            ),
        )
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)

    def with_status(self, status: int) -> list[tuple[int, str, str]]:
        return [answer for answer in self.answers if answer[0] == status]

    def paths(self) -> list[str]:
        return [urlsplit(r.url).path for r in self.requests]


def test_a_reader_sees_its_organizations_and_no_admin_control(browser, dashboard):
    """A reader token of organization A: the picker lists A only, no admin control is shown (hidden,
    not disabled), the page asks nothing a reader may not read (no 403), and axe-core finds no
    serious issue."""
    org_a, org_b = dashboard.orgs[0], dashboard.orgs[1]
    token = create_token(dashboard, "dispatch reader", org_a["org_id"])["token"]
    context = with_token(
        browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", bypass_csp=True), token
    )
    page = context.new_page()
    traffic = Traffic(page, dashboard)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # A shared link to another organization falls back to the reader's own, without asking for it.
        page.goto(f"{dashboard.url}/?org={org_b['org_id']}")
        latest = dashboard.get("/api/reports/latest", org_id=org_a["org_id"])
        wait_shown(page, org_a["org_id"], latest["metadata"]["report_start_date"])
        expect(page.locator("#trends")).to_have_attribute("data-window", f"{org_a['org_id']}|28")
        assert_cards_match(page, dashboard, latest)

        expect(page.locator("#session-who")).to_have_text(
            "Signed in as dispatch reader (reader of 1 organization)"
        )
        expect(page.locator("#sign-out")).to_be_visible()
        options = page.locator("#org-select option")
        expect(options).to_have_text([org_a["name"]])
        # Every admin control is hidden: the operator panel and its forms, the scheduler's status.
        for selector in (
            "#operator",
            "#generate-form",
            "#generate-button",
            "#backfill-form",
            "#backfill-button",
            "#backfill-job",
            "#scheduler-box",
            "#scheduler",
            "#signin",
        ):
            expect(page.locator(selector)).to_be_hidden()
        for name in ("Generate report", "Start backfill", "Regenerate it"):
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.get_by_role("heading", name="Operator actions")).to_have_count(0)
        expect(page.locator("#columns")).not_to_contain_text("Scheduler", use_inner_text=True)

        page.click("#trends summary")  # the trend table is checked too
        assert_axe_clean(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        screenshot(page, "dashboard-reader.png")

        # A day without a stored report: the live numbers are offered, generating it is not.
        stored = {s["report_date"] for s in dashboard.get("/api/reports", org_id=org_a["org_id"], limit=366)}
        yesterday = dashboard.yesterday[org_a["org_id"]]
        days_back = (yesterday - timedelta(days=n) for n in range(1, 60))
        missing = next(day.isoformat() for day in days_back if day.isoformat() not in stored)
        page.fill("#date-input", missing)
        expect(page.locator("#empty")).to_contain_text("No stored report for")
        expect(page.locator("#empty").get_by_role("button", name="Show live numbers")).to_be_visible()
        expect(page.get_by_role("button", name="Generate this day")).to_have_count(0)
        page.locator("#empty").get_by_role("button", name="Show live numbers").click()
        wait_shown(page, org_a["org_id"], missing, source="live")

        paths = traffic.paths()
        assert "/api/me" in paths
        assert not [p for p in paths if p.startswith(ADMIN_ONLY)], paths
        assert not [r for r in traffic.requests if r.method != "GET"]
        assert not traffic.with_status(403), traffic.with_status(403)
        assert not traffic.with_status(401), traffic.with_status(401)
        assert not [line for line in traffic.console if "403" in line or "401" in line], traffic.console
        assert not errors, errors
    finally:
        context.close()


def test_without_a_token_the_page_asks_for_one_and_keeps_it_in_the_tab_only(browser, dashboard):
    """With API_KEY set every read needs a token: the first 401 brings the token prompt, a typed
    token loads the dashboard, and it lives in sessionStorage only (no URL, no cookie)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", bypass_csp=True)
    page = context.new_page()
    traffic = Traffic(page, dashboard)
    try:
        page.goto(f"{dashboard.url}/")
        expect(page.locator("#signin-reason")).to_have_text(
            "This service needs an access token to show its reports. Enter yours to sign in."
        )
        for selector in ("#board", "#filters", "#session"):
            expect(page.locator(selector)).to_be_hidden()
        expect(page.locator("[data-kpi]")).to_have_count(0)
        assert page.evaluate("document.activeElement.id") == "admin-key"
        assert [a[0] for a in traffic.answers if "/api/" in a[2]] == [401]  # GET /api/me, nothing more
        assert_axe_clean(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "dashboard-sign-in-390x844.png")

        # A token the service does not know says so, and is not kept.
        page.keyboard.type("cat_000000000000_nope")
        page.keyboard.press("Enter")
        expect(page.locator("#signin-reason")).to_have_text(
            "Your access token was not accepted: the token is not valid. Enter a valid one to sign in."
        )
        assert stored_token(page) is None
        assert page.evaluate("document.activeElement.id") == "admin-key"

        created = create_token(dashboard, "night operator")
        token = created["token"]
        page.keyboard.type(token)
        page.keyboard.press("Enter")
        expect(page.locator("[data-kpi]").first).to_be_visible()
        expect(page.locator("#signin")).to_be_hidden()
        expect(page.locator("#status")).to_be_empty()
        # An admin token: everything shows, as with the admin key.
        expect(page.locator("#session-who")).to_have_text("Signed in as night operator (admin)")
        expect(page.locator("#operator")).to_be_visible()
        expect(page.locator("#scheduler")).to_contain_text("Daily run")
        expect(page.locator("#org-select option")).to_have_count(len(dashboard.get("/api/orgs")))

        # The token is in this tab's sessionStorage, never in the address, a cookie or localStorage.
        assert stored_token(page) == token
        assert token not in page.evaluate("location.href")
        assert token not in page.evaluate("document.cookie")
        assert page.evaluate("localStorage.length") == 0
        assert context.cookies() == []
        secret = token.rsplit("_", 1)[-1]
        assert not [r.url for r in traffic.requests if secret in r.url]
        # Before this token the page asked only who it was (GET /api/me); since, every read carries it.
        reads = [r for r in traffic.requests if urlsplit(r.url).path.startswith("/api/")]
        assert {urlsplit(r.url).path for r in reads[:2]} == {"/api/me"}
        assert all(r.all_headers().get("authorization") == f"Bearer {token}" for r in reads[2:]), [
            r.url for r in reads[2:] if r.all_headers().get("authorization") != f"Bearer {token}"
        ]
        # It survives a reload of the tab.
        page.reload()
        expect(page.locator("[data-kpi]").first).to_be_visible()
        expect(page.locator("#session-who")).to_have_text("Signed in as night operator (admin)")
    finally:
        context.close()


def test_a_token_revoked_while_the_page_is_open_returns_to_the_prompt(browser, dashboard):
    """The service stops accepting a reader token mid-session: the next read (a 401) brings the
    token prompt back with the reason, forgets the token and leaves none of its figures shown."""
    org = dashboard.orgs[0]
    created = create_token(dashboard, "temporary reader", org["org_id"])
    context = with_token(
        browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US"), created["token"]
    )
    page = context.new_page()
    traffic = Traffic(page, dashboard)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{dashboard.url}/?org={org['org_id']}")
        expect(page.locator("[data-kpi]").first).to_be_visible()
        expect(page.locator("#trends")).to_have_attribute("data-window", f"{org['org_id']}|28")
        expect(page.locator("#session-who")).to_contain_text("temporary reader")

        with dashboard.client() as client:
            assert client.delete(f"/api/tokens/{created['id']}").status_code == 204

        page.click("#trend-90 + label")  # a new trend window: the page reads again
        reason = page.locator("#signin-reason")
        expect(reason).to_have_text(
            "You were signed out: the token was revoked. Enter a valid access token to sign in again."
        )
        expect(page.locator("#board")).to_be_hidden()
        expect(page.locator("#session")).to_be_hidden()
        expect(page.locator("[data-kpi]")).to_have_count(0)
        assert page.evaluate("document.activeElement.id") == "admin-key"
        assert stored_token(page) is None
        assert len(traffic.with_status(401)) == 1  # one refused read, then nothing more was asked
        screenshot(page, "dashboard-signed-out.png")

        # Another token signs in again, on the same view.
        sign_in(page, create_token(dashboard, "new reader", org["org_id"])["token"])
        expect(page.locator("#trends")).to_have_attribute("data-window", f"{org['org_id']}|90")
        expect(page.locator("[data-kpi]").first).to_be_visible()
        expect(page.locator("#session-who")).to_contain_text("new reader")

        # A revoked token found at load (a tab restored later) gets the prompt too.
        page.evaluate(f"sessionStorage.setItem({KEY_STORAGE!r}, {created['token']!r})")
        page.reload()
        expect(reason).to_have_text(
            "Your access token was not accepted: the token was revoked. Enter a valid one to sign in."
        )
        assert not traffic.with_status(403), traffic.with_status(403)
        assert not errors, errors
    finally:
        context.close()


# ---- trend window ---------------------------------------------------------------------------------


def _fake_summaries(dashboard, org_id: str, days: list[str]) -> list[dict[str, Any]]:
    """Stored-report summaries of the given days (newest first, as the API answers), shaped like
    the real ones of this organization."""
    real = dashboard.get("/api/reports", org_id=org_id, limit=1)[0]
    return [{**real, "org_id": org_id, "report_date": day} for day in sorted(days, reverse=True)]


def _serve_summaries(page, dashboard, days: list[str], asked: list[tuple[str, int]]):
    """Answers GET /api/reports with summaries of `days`, the newest `limit` of them, as the API does."""

    def fulfill(route):
        params = dict(re.findall(r"[?&]([^=&]+)=([^&]*)", route.request.url))
        org_id, limit = params["org_id"], int(params.get("limit", 30))
        asked.append((org_id, limit))
        route.fulfill(json=_fake_summaries(dashboard, org_id, days)[:limit])

    page.route("**/api/reports?*", fulfill)


def _days(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def test_trend_window_is_chosen_and_survives_an_organization_change(page, dashboard):
    first, second = dashboard.orgs[0]["org_id"], dashboard.orgs[1]["org_id"]
    # A week across new year, one report of 100 days before and one stray report from 2020.
    days = [*_days("2025-12-28", "2026-01-03"), "2025-09-25", "2020-06-01"]
    asked: list[tuple[str, int]] = []
    _serve_summaries(page, dashboard, days, asked)
    page.goto(f"{dashboard.url}/?org={first}")
    trends = page.locator("#trends")
    expect(trends).to_have_attribute("data-window", f"{first}|28")
    assert asked[-1] == (first, 28)
    radios = page.get_by_role("group", name="Trend window").get_by_role("radio")
    expect(radios).to_have_count(3)
    expect(page.get_by_role("radio", name="28 days")).to_be_checked()
    per_day = bar_series(dashboard.catalog)
    # 28 days: the week only; the stray reports are not drawn and the note says so.
    expect(trends.locator(".bar")).to_have_count(7 * per_day)
    expect(page.locator("#trends-note")).to_contain_text("7 stored daily reports")
    expect(page.locator("#trends-note")).to_contain_text("2 older reports outside the window not drawn")
    x_labels = trends.locator(".chart").first.locator(".axis.x")
    expect(x_labels).to_have_text(["Dec 28, 2025", "Dec 31, 2025", "Jan 3, 2026"])  # two years: with the year
    page.click("#trends summary")
    expect(trends.locator("tbody th").first).to_have_text("Sat, Jan 3, 2026")
    expect(trends.locator("tbody th").last).to_have_text("Sun, Dec 28, 2025")

    # 90 days: still without the report of September (100 days before the newest) and 2020.
    page.get_by_text("90 days", exact=True).click()
    expect(trends).to_have_attribute("data-window", f"{first}|90")
    assert asked[-1] == (first, 90)
    expect(trends.locator(".bar")).to_have_count(7 * per_day)
    assert "trend=90" in page.url

    # 365 days, by keyboard: September joins, 2020 stays out, the axis starts in September.
    page.get_by_role("radio", name="90 days").focus()
    page.keyboard.press("ArrowRight")
    expect(trends).to_have_attribute("data-window", f"{first}|365")
    assert asked[-1] == (first, 365)
    expect(trends.locator(".bar")).to_have_count(8 * per_day)
    expect(x_labels.first).to_have_text("Sep 25, 2025")
    expect(x_labels.last).to_have_text("Jan 3, 2026")
    expect(page.locator("#trends-note")).to_contain_text("1 older report outside the window not drawn")

    # Another organization: the window stays.
    page.select_option("#org-select", second)
    expect(trends).to_have_attribute("data-window", f"{second}|365")
    assert asked[-1] == (second, 365)
    expect(page.get_by_role("radio", name="365 days")).to_be_checked()
    assert "trend=365" in page.url
    # And a reload keeps it (it is in the URL).
    page.reload()
    expect(trends).to_have_attribute("data-window", f"{second}|365")


def test_trend_labels_have_no_year_within_one_year(page, dashboard):
    org_id = dashboard.orgs[0]["org_id"]
    asked: list[tuple[str, int]] = []
    _serve_summaries(page, dashboard, _days("2026-03-01", "2026-03-05"), asked)
    page.goto(f"{dashboard.url}/?org={org_id}")
    trends = page.locator("#trends")
    expect(trends).to_have_attribute("data-window", f"{org_id}|28")
    expect(trends.locator(".chart").first.locator(".axis.x")).to_have_text(["Mar 1", "Mar 3", "Mar 5"])
    page.click("#trends summary")
    expect(trends.locator("tbody th").first).to_have_text("Thu, Mar 5")
    expect(page.locator("#trends-note")).not_to_contain_text("outside the window")


def test_the_trend_window_of_the_real_store(page, dashboard):
    """Against the service itself: the request carries limit=N and the drawn days are the stored ones."""
    org_id = dashboard.orgs[1]["org_id"]
    limits: list[str] = []
    page.on(
        "request",
        lambda r: (
            limits.append(re.search(r"limit=(\d+)", r.url).group(1)) if "/api/reports?" in r.url else None
        ),
    )
    page.goto(f"{dashboard.url}/?org={org_id}&trend=365")
    expect(page.locator("#trends")).to_have_attribute("data-window", f"{org_id}|365")
    stored = dashboard.get("/api/reports", org_id=org_id, limit=365)
    expect(page.locator("#trends .bar")).to_have_count(len(stored) * bar_series(dashboard.catalog))
    assert limits[-1] == "365"


# ---- breakdown tables -----------------------------------------------------------------------------


BIG_ITEMS = [
    {"value": "TRANSFER_SUCCEEDED", "count": 4182, "percentage": 46.86},
    {"value": "success", "count": 3000, "percentage": 33.61},
    {"value": "CARRIER_ASKED_FOR_TRANSFER_TO_ANOTHER_DEPARTMENT", "count": 1210, "percentage": 13.56},
    {"value": None, "count": 500, "percentage": 5.6},
    {"value": " success", "count": 20, "percentage": 0.22},
    {"value": "Success", "count": 9, "percentage": 0.1},
    {"value": "<b>BOLD</b>", "count": 3, "percentage": 0.03},
]


def _range_with_breakdown(page, dashboard, items: list[dict[str, Any]]) -> str:
    """The range view, its first catalogue breakdown answered with `items`; returns that key."""
    key = dashboard.catalog["breakdowns"][0]["key"]

    def fulfill(route):
        response = route.fetch()
        report = response.json()
        route.fulfill(response=response, json={**report, "breakdowns": {**report["breakdowns"], key: items}})

    page.route("**/daily-report?*", fulfill)
    return key


def _open_range(page, dashboard, org_id: str) -> tuple[str, str]:
    yesterday = dashboard.yesterday[org_id]
    start, end = (yesterday - timedelta(days=6)).isoformat(), yesterday.isoformat()
    page.goto(f"{dashboard.url}/?org={org_id}&start={start}&end={end}")
    wait_shown(page, org_id, start, end, source="live")
    return start, end


GEOMETRY = """table => [...table.querySelectorAll('tbody tr')].filter(r => !r.hidden).map(row => {
    const box = el => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect(); };
    const [count, share] = row.querySelectorAll('td.num');
    const label = row.querySelector('th .value-label') || row.querySelector('th');
    // Each word of the label on one line: a word broken across lines has more than one rect.
    const text = label.firstChild;
    const broken = [];
    if (text && text.nodeType === 3) {
        for (const m of text.data.matchAll(/\\S+/g)) {
            const r = document.createRange(); r.setStart(text, m.index); r.setEnd(text, m.index + m[0].length);
            const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
            if (lines.size > 1) broken.push(m[0]);
        }
    }
    const style = getComputedStyle(count);
    return {countRight: box(count).right, shareLeft: box(share).left, countCellRight: count.getBoundingClientRect().right,
            shareCellRight: share.getBoundingClientRect().right, shareRight: box(share).right,
            align: style.textAlign, numeric: style.fontVariantNumeric, broken,
            label: label.textContent};
})"""


@pytest.mark.parametrize("width", [1280, 390])
def test_breakdown_tables_read_clearly_at_range_scale(page, dashboard, width):
    org_id = dashboard.orgs[0]["org_id"]
    page.set_viewport_size({"width": width, "height": 900})
    key = _range_with_breakdown(page, dashboard, BIG_ITEMS)
    _open_range(page, dashboard, org_id)
    table = page.locator(f'table[aria-labelledby="breakdown-{key}"]')
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(5)  # the three spellings of "success" are one row
    first = rows.first
    expect(first.locator("th")).to_have_text("Transfer succeeded")
    expect(first.locator("th .value-label")).to_have_attribute("title", "TRANSFER_SUCCEEDED")
    expect(first.locator("td.num")).to_have_text(["4,182", "46.86%"])
    long_label = rows.nth(2).locator("th .value-label")
    expect(long_label).to_have_text("Carrier asked for transfer to another department")
    expect(long_label).to_have_attribute("title", "CARRIER_ASKED_FOR_TRANSFER_TO_ANOTHER_DEPARTMENT")
    assert table.locator("wbr").count() == 0
    # API text is text: the markup-looking value is shown, not rendered.
    expect(page.locator("#breakdowns b")).to_have_count(0)
    expect(rows.last.locator("th")).to_have_text("<b>BOLD</b>")
    for row in table.evaluate(GEOMETRY):
        assert row["align"] == "right", row
        assert "tabular-nums" in row["numeric"], row
        # Count and share never run together: at least a few pixels of space between them...
        assert row["shareLeft"] - row["countRight"] >= 8, row
        # ...and each stays inside its own column (right-aligned to it, no overflow).
        assert row["countRight"] <= row["countCellRight"] + 0.5, row
        assert row["shareRight"] <= row["shareCellRight"] + 0.5, row
        assert not row["broken"], f"words broken across lines in {row['label']!r}: {row['broken']}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"dashboard-breakdowns-{width}.png")


def test_spelling_variants_are_one_row_that_lists_each(page, dashboard):
    org_id = dashboard.orgs[0]["org_id"]
    items = [
        {"value": "success", "count": 30, "percentage": 30.0},
        {"value": "failure", "count": 25, "percentage": 25.0},
        {"value": None, "count": 12, "percentage": 12.0},
        {"value": " success", "count": 10, "percentage": 10.0},
        {"value": "Success", "count": 5, "percentage": 5.0},
        {"value": "FAILURE ", "count": 1, "percentage": 1.0},
        {"value": "successful", "count": 17, "percentage": 17.0},
    ]
    key = _range_with_breakdown(page, dashboard, items)
    _open_range(page, dashboard, org_id)
    rows = page.locator(f'table[aria-labelledby="breakdown-{key}"] tbody tr')
    # success (30 + 10 + 5), failure (25 + 1), successful, no value: ordered by the summed count.
    expect(rows).to_have_count(4)
    expect(rows.locator("th .value-label")).to_have_text(["Success", "Failure", "Successful"])
    success = rows.nth(0)
    expect(success.locator("td.num")).to_have_text(["45", "45.00%"])
    expect(success.locator(".variants-marker")).to_have_text("3 variants")
    expect(success.locator(".variant")).to_have_text(['"success" 30', '" success" 10', '"Success" 5'])
    expect(success.locator(".variants")).to_be_visible()
    failure = rows.nth(1)
    expect(failure.locator("td.num")).to_have_text(["26", "26.00%"])
    expect(failure.locator(".variant")).to_have_text(['"failure" 25', '"FAILURE " 1'])
    expect(rows.nth(2).locator(".variants")).to_have_count(0)  # one spelling: no marker
    expect(rows.nth(2).locator("td.num")).to_have_text(["17", "17.00%"])
    # The null value is its own row, never merged, its count unchanged.
    none = rows.nth(3)
    expect(none.locator("th")).to_have_text("No value")
    expect(none.locator("td.num")).to_have_text(["12", "12.00%"])
    # Every call is still counted once.
    counts = [int(t.replace(",", "")) for t in rows.locator("td.num:nth-of-type(2)").all_text_contents()]
    assert sum(counts) == sum(i["count"] for i in items)


# ---- offline API docs -----------------------------------------------------------------------------


REDOC_BADGE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_api_docs_render_without_the_internet(browser, dashboard):
    """/docs (Swagger UI) and /redoc load every file from the service: with every other address
    blocked, both still render the operations."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def local_only(route):
        if route.request.url.startswith(dashboard.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        assert dashboard.url.startswith("http://127.0.0.1:")
        page.goto(f"{dashboard.url}/docs")
        operation = page.locator('.opblock-summary-path[data-path="/api/catalog"]')
        expect(operation).to_be_visible(timeout=30_000)
        expect(page.locator(".opblock-summary-method").first).to_be_visible()
        assert page.locator(".opblock").count() > 10
        page.goto(f"{dashboard.url}/redoc")
        expect(page.locator("h1")).to_contain_text("Call analytics", timeout=30_000)
        catalog = page.locator("h2", has_text="Every KPI and breakdown the reports carry")
        expect(catalog).to_be_visible()
        expect(page.locator("h2", has_text="Stored reports with summary KPIs")).to_be_visible()
        assert not errors, errors
        # ReDoc's bundle asks for the Redocly badge's logo from its CDN and hides it when that
        # fails (an `onError` in redoc.standalone.js): cosmetic, so it is the one request allowed.
        outside = [url for url in blocked if url != REDOC_BADGE_LOGO]
        assert not outside, f"the docs asked for files outside the service: {outside}"
    finally:
        context.close()


# ---- comparisons, anomaly flags and revisions ----------------------------------------------------


def _signed(value: float, text: str) -> str:
    return ("+" if value > 0 else "\u2212" if value < 0 else "") + text


def expected_delta(kpi: dict[str, Any], entry: dict[str, Any] | None) -> str:
    """A comparison as a card shows it: percentage points for rates, a count or number with its
    relative change otherwise, "—" without one."""
    if entry is None or entry["delta"] is None:
        return "—"
    delta, percent = entry["delta"], entry["delta_percent"]
    if delta == 0:
        return "no change"
    relative = "" if percent is None else f" ({_signed(percent, f'{abs(percent):,.2f}')}%)"
    if kpi["format"] in ("percent", "share"):
        return _signed(delta, f"{abs(delta):,.2f} pts")
    if kpi["format"] == "int":
        return _signed(delta, f"{abs(delta):,}") + relative
    unit = f" {kpi['unit']}" if kpi["unit"] else ""
    return _signed(delta, f"{abs(delta):,.2f}{unit}") + relative


def shown_comparisons(page, key: str) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        f'[data-kpi="{key}"] .kpi-compare .delta',
        """spans => spans.map(s => ({name: s.dataset.compare, value: s.querySelector('.delta-value').textContent,
                                    text: s.textContent, title: s.title}))""",
    )


def test_cards_compare_with_the_previous_day_and_week(page, dashboard):
    """A stored day's cards carry its comparisons as the API computed them, in words and signs
    (never colour alone) with a tooltip naming the earlier day; a report without comparisons (an
    older stored one) shows none; a live range compares with the days before it."""
    org_id = dashboard.orgs[0]["org_id"]
    yesterday = dashboard.yesterday[org_id]
    day = (yesterday - timedelta(days=2)).isoformat()
    report = dashboard.get(f"/api/reports/{day}", org_id=org_id)
    comparisons = report["comparisons"]
    # The demo data has the day before (so it compares) but not the week before (so it does not).
    assert any(c["previous_day"] for c in comparisons.values()), comparisons
    page.goto(f"{dashboard.url}/?org={org_id}&date={day}")
    wait_shown(page, org_id, day)
    before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
    weekday = date.fromisoformat(day).strftime("%a")
    checked = 0
    for kpi in dashboard.catalog["kpis"]:
        if kpi["key"] not in report["kpis"]:
            continue
        entries = comparisons[kpi["key"]]
        shown = shown_comparisons(page, kpi["key"])
        assert [s["name"] for s in shown] == ["previous_day", "previous_week"], shown
        assert [s["value"] for s in shown] == [
            expected_delta(kpi, entries["previous_day"]),
            expected_delta(kpi, entries["previous_week"]),
        ], kpi["key"]
        assert shown[0]["text"].endswith(" vs previous day")
        assert shown[1]["text"].endswith(f" vs previous {weekday}")
        assert f"({_long_date(before)})" in shown[0]["title"]
        if entries["previous_day"] and entries["previous_day"]["delta"]:
            earlier = entries["previous_day"]["value"]
            assert ("▲" if entries["previous_day"]["delta"] > 0 else "▼") in shown[0]["text"]
            assert kpi["format"] in ("percent", "share") or f"{earlier:,}" in shown[0]["title"]
            checked += 1
        if entries["previous_week"] is None:
            assert "no comparison" in shown[1]["title"]
    assert checked, "no card compared with the previous day"
    # The day has one revision: a small note, no history panel.
    expect(page.locator("#revision-fact")).to_have_text("1 (the only one)")
    expect(page.locator("#history")).to_be_hidden()
    expect(page.locator("#revision-notice")).to_be_hidden()

    # A stored report from before comparisons and anomaly flags existed shows neither.
    def without_comparisons(route):
        response = route.fetch()
        old = {k: v for k, v in response.json().items() if k not in ("comparisons", "anomalies")}
        route.fulfill(response=response, json=old)

    page.route(f"**/api/reports/{day}?*", without_comparisons)
    page.reload()
    wait_shown(page, org_id, day)
    expect(page.locator("[data-kpi]").first).to_be_visible()
    expect(page.locator(".kpi-compare")).to_have_count(0)
    expect(page.locator(".kpi-anomaly")).to_have_count(0)
    page.unroute(f"**/api/reports/{day}?*")

    # A live range of two days compares with the two days before it and the same days a week earlier.
    start, end = (yesterday - timedelta(days=2)).isoformat(), (yesterday - timedelta(days=1)).isoformat()
    live = dashboard.get("/daily-report", org_id=org_id, start_date=start, end_date=end)
    page.goto(f"{dashboard.url}/?org={org_id}&start={start}&end={end}")
    wait_shown(page, org_id, start, end, source="live")
    total = next(k for k in dashboard.catalog["kpis"] if k["key"] == "total_calls")
    shown = shown_comparisons(page, "total_calls")
    assert [s["value"] for s in shown] == [
        expected_delta(total, live["comparisons"]["total_calls"]["previous_day"]),
        expected_delta(total, live["comparisons"]["total_calls"]["previous_week"]),
    ]
    assert shown[0]["text"].endswith(" vs previous 2 days")
    assert shown[1]["text"].endswith(" vs same days a week earlier")
    expect(page.locator("#history")).to_be_hidden()  # live reports have no revisions


def bypassing_csp(browser, dashboard) -> tuple[Any, Any, list[str]]:
    """A signed-in tab that axe can be injected into, and the script errors it records."""
    context = with_token(
        browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC", bypass_csp=True
        )
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def test_an_anomalous_kpi_is_marked_on_its_card(browser, dashboard):
    """A stored revision whose report flags two KPIs (written through the report store, as a
    job would store it): both cards say so in words with their usual value and z, the badge counts
    them, the history lists the new revision and its changes; axe finds no serious issue."""
    from reports_store import open_store

    org_id = dashboard.orgs[1]["org_id"]
    day = (dashboard.yesterday[org_id] - timedelta(days=4)).isoformat()
    report = dashboard.get(f"/api/reports/{day}", org_id=org_id)
    rate = report["kpis"]["success_rate_percent"]
    share = report["kpis"]["carrier_transfer_over_total_call_attempts"]["carrier_asked_percentage"]
    assert rate is not None and share is not None, report["kpis"]
    flags = [
        {"kpi": "success_rate_percent", "value": rate, "baseline_median": round(rate + 9.2, 2), "z": -4.2,
         "direction": "down"},
        {"kpi": "carrier_transfer_over_total_call_attempts", "value": share,
         "baseline_median": round(share / 2, 2), "z": None, "direction": "up"},
    ]  # fmt: skip
    body = {k: v for k, v in report.items() if k not in ("stale", "revision", "partial")}
    with open_store(dashboard.settings.reports_store_url) as store:
        assert store.save_report(
            org_id, date.fromisoformat(day), body | {"anomalies": flags}, reason="manual"
        )
    count = len(dashboard.get(f"/api/reports/{day}/revisions", org_id=org_id))

    context, page, errors = bypassing_csp(browser, dashboard)
    try:
        page.goto(f"{dashboard.url}/?org={org_id}&date={day}")
        wait_shown(page, org_id, day)
        low = page.locator('[data-kpi="success_rate_percent"]')
        expect(low).to_have_class(re.compile(r"\banomalous\b"))
        expect(low).to_have_attribute("data-anomaly", "down")
        expect(low.locator(".kpi-anomaly")).to_have_text(
            f"!Unusually low: {_pct(rate)} vs usual {_pct(flags[0]['baseline_median'])}, z = \u22124.2"
        )
        high = page.locator('[data-kpi="carrier_transfer_over_total_call_attempts"]')
        expect(high.locator(".kpi-anomaly")).to_have_text(
            f"!Unusually high: {_pct(share)} vs usual {_pct(flags[1]['baseline_median'])}, "
            "the usual value never varies"
        )
        expect(high.locator(".kpi-anomaly")).to_have_attribute(
            "title", re.compile("median of the same weekday")
        )
        expect(page.locator(".kpi.anomalous")).to_have_count(2)
        expect(page.locator(".kpi-anomaly .anomaly-icon").first).to_have_attribute("aria-hidden", "true")
        expect(page.locator("#report-badges")).to_contain_text("2 unusual KPIs")

        # The revision written is the current one; its changes against the one before are the flags.
        expect(page.locator("#history")).to_have_attribute("data-shown", f"{org_id}|{day}|{count}|{count}")
        expect(page.locator("#history tbody tr").first.locator("td").nth(1)).to_have_text(
            "Manual (generated by an operator)"
        )
        diff = dashboard.get(f"/api/reports/{day}/diff", org_id=org_id)
        changes = page.locator("#diff .changes li")
        expect(changes).to_have_count(len(diff["changes"]))
        value = page.locator('#diff li[title="anomalies[success_rate_percent].value"]')
        expect(value.locator(".change-what")).to_have_text("Success rate, unusual value (value)")
        expect(value.locator(".change-from")).to_have_text("—")
        expect(value.locator(".change-to")).to_have_text(_pct(rate))
        assert_axe_clean(page)
        screenshot(page, "dashboard-anomaly.png")
        assert not errors, errors
    finally:
        context.close()


def test_a_regenerated_day_shows_its_history_and_opens_an_older_revision(browser, dashboard):
    """Generate (already stored: skipped), then force: the day has a new revision. The page lists
    each revision with when and why, what changed, and opens revision 1, saying clearly it is an
    older one (and so does its URL, a reload and the way back to the current one)."""
    org_id = dashboard.orgs[0]["org_id"]
    day = (dashboard.yesterday[org_id] - timedelta(days=3)).isoformat()
    with dashboard.client() as client:
        again = client.post("/api/reports/generate", json={"org_id": org_id, "date": day})
        assert again.status_code == 200 and again.json()["skipped"], again.text
        forced = client.post("/api/reports/generate", json={"org_id": org_id, "date": day, "force": True})
        assert forced.status_code == 200 and not forced.json()["skipped"], forced.text
    revisions = dashboard.get(f"/api/reports/{day}/revisions", org_id=org_id)
    n = len(revisions)
    assert n >= 2 and (revisions[0]["reason"], revisions[-1]["reason"]) == ("backfill", "manual"), revisions
    diff = dashboard.get(f"/api/reports/{day}/diff", org_id=org_id)

    context, page, errors = bypassing_csp(browser, dashboard)
    history = page.locator("#history")
    try:
        page.goto(f"{dashboard.url}/?org={org_id}&date={day}")
        wait_shown(page, org_id, day)
        expect(history).to_have_attribute("data-shown", f"{org_id}|{day}|{n}|{n}")
        expect(history.get_by_role("heading", name="Revision history")).to_be_visible()
        rows = history.locator("tbody tr")
        expect(rows).to_have_count(n)
        expect(rows.first.locator("th")).to_have_text(f"{n} (current)")
        expect(rows.first).to_contain_text("Manual (generated by an operator)")
        expect(rows.first).to_contain_text("Up to date")
        expect(rows.first).to_contain_text("Shown")
        expect(rows.last.locator("th")).to_have_text("1")
        expect(rows.last).to_contain_text("Backfill")
        expect(rows.last.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
        expect(page.locator("#diff-title")).to_have_text(f"Changes from revision {n - 1} to revision {n}")
        if diff["changes"]:
            expect(page.locator("#diff .changes li")).to_have_count(min(len(diff["changes"]), 25))
        else:  # rebuilt from the same marts: the same numbers, and the page says so
            expect(page.locator("#diff")).to_have_text(
                "No figure changed: both revisions have the same numbers."
            )
        expect(page.locator("#revision-fact")).to_have_text(f"{n} of {n} (the current one; history below)")
        expect(page.locator("#revision-notice")).to_be_hidden()
        assert_axe_clean(page)

        # Revision 1: said in a notice, a badge and the freshness list; its own figures; in the URL.
        history.get_by_role("button", name="Show revision 1").click()
        expect(history).to_have_attribute("data-shown", f"{org_id}|{day}|1|{n}")
        notice = page.locator("#revision-notice")
        expect(notice).to_contain_text(f"You are looking at revision 1 of {n}, an older revision.")
        expect(notice).to_contain_text(f"(backfill). The current report is revision {n}.")
        expect(page.locator("#report-badges")).to_contain_text(f"Older revision 1 of {n}")
        expect(page.locator("#revision-fact")).to_have_text(f"1 of {n} (an older revision)")
        first = dashboard.get(f"/api/reports/{day}", org_id=org_id, revision=1)
        assert first["revision"] == 1
        assert_cards_match(page, dashboard, first)
        expect(page.locator("#freshness time").first).to_have_attribute(
            "datetime", first["metadata"]["generated_at"]
        )
        expect(history.locator("tr.shown th")).to_have_text("1")
        expect(page.locator("#diff-title")).to_have_text("Changes from revision 1 to revision 2")
        assert "rev=1" in page.url and f"date={day}" in page.url
        assert_axe_clean(page)
        screenshot(page, "dashboard-older-revision.png")

        # Compared with another revision by choice (the current one when there are more than two).
        page.select_option("#diff-base", str(n))
        expect(page.locator("#diff-title")).to_have_text(f"Changes from revision 1 to revision {n}")
        expect(page.locator("#diff")).to_have_attribute("data-pair", f"1|{n}")

        # A reload keeps the older revision; "Show the current revision" goes back.
        page.reload()
        expect(history).to_have_attribute("data-shown", f"{org_id}|{day}|1|{n}")
        expect(notice).to_be_visible()
        notice.get_by_role("button", name="Show the current revision").click()
        expect(history).to_have_attribute("data-shown", f"{org_id}|{day}|{n}|{n}")
        expect(notice).to_be_hidden()
        expect(page.locator("#report-badges")).not_to_contain_text("Older revision")
        assert "rev=" not in page.url
        assert_cards_match(page, dashboard, dashboard.get(f"/api/reports/{day}", org_id=org_id))

        # Another day: its own history (one revision) replaces this one.
        other = (dashboard.yesterday[org_id] - timedelta(days=2)).isoformat()
        page.fill("#date-input", other)
        wait_shown(page, org_id, other)
        expect(history).to_be_hidden()
        assert not errors, errors
    finally:
        context.close()


def test_revision_errors_are_readable(page, dashboard):
    """A revision the day does not have, and a history the service cannot answer: messages, not blanks."""
    org_id = dashboard.orgs[0]["org_id"]
    day = (dashboard.yesterday[org_id] - timedelta(days=2)).isoformat()
    page.goto(f"{dashboard.url}/?org={org_id}&date={day}&rev=99")
    empty = page.locator("#empty")
    expect(empty).to_contain_text(
        f"No revision 99 of {dashboard.orgs[0]['name']}'s report for {_long_date(day)}"
    )
    expect(empty).to_contain_text(f"on {day} has no revision 99: see its /revisions.")
    expect(page.locator("[data-kpi]")).to_have_count(0)
    empty.get_by_role("button", name="Show the current revision").click()
    wait_shown(page, org_id, day)
    assert "rev=" not in page.url

    page.route(
        "**/revisions?*",
        lambda route: route.fulfill(status=503, json={"detail": "The report store is unavailable."}),
    )
    page.reload()
    wait_shown(page, org_id, day)
    expect(page.locator("#history")).to_have_text(
        re.compile("Revision history unavailable. The report store is unavailable. Try again shortly.")
    )
    expect(page.locator("[data-kpi]").first).to_be_visible()  # the report itself still shows


def test_history_and_comparisons_fit_a_phone(browser, dashboard):
    """At 390 px the cards' comparisons, the older-revision notice and the history table stay
    inside the screen, and axe finds no serious issue there."""
    org_id = dashboard.orgs[1]["org_id"]
    day = (dashboard.yesterday[org_id] - timedelta(days=1)).isoformat()
    with dashboard.client() as client:
        forced = client.post("/api/reports/generate", json={"org_id": org_id, "date": day, "force": True})
    assert forced.status_code == 200, forced.text
    n = len(dashboard.get(f"/api/reports/{day}/revisions", org_id=org_id))
    context = with_token(
        browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", bypass_csp=True)
    )
    page = context.new_page()
    try:
        page.goto(f"{dashboard.url}/?org={org_id}&date={day}&rev=1")
        expect(page.locator("#history")).to_have_attribute("data-shown", f"{org_id}|{day}|1|{n}")
        expect(page.locator("#revision-notice")).to_be_visible()
        expect(page.locator(".kpi-compare").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert_axe_clean(page)
        screenshot(page, "dashboard-history-390x844.png")
    finally:
        context.close()


def test_diff_paths_read_as_words(page, dashboard):
    """Each kind of diff path (a KPI, a nested KPI field, a breakdown value, a comparison, a dated
    anomaly) reads in the catalogue's words with its values formatted; a long diff is cut with a
    "Show all". The diff is served by the test (its paths are the API's; the values are made up)."""
    org_id = dashboard.orgs[1]["org_id"]
    day = (dashboard.yesterday[org_id] - timedelta(days=3)).isoformat()
    with dashboard.client() as client:
        forced = client.post("/api/reports/generate", json={"org_id": org_id, "date": day, "force": True})
    assert forced.status_code == 200, forced.text
    n = len(dashboard.get(f"/api/reports/{day}/revisions", org_id=org_id))
    named = [
        ("kpis.total_calls", 271, 274, "Total calls", "271", "274"),
        ("kpis.carrier_not_qualified.percentage", 34.29, 35.1, "Carrier not qualified (share)", "34.29%", "35.10%"),
        ("breakdowns.call_stage[TRANSFER_SUCCEEDED].count", 7, 8, "Call stage · Transfer succeeded (calls)", "7", "8"),
        ("breakdowns.load_status[null].percentage", 26.3, None, "Load status · No value (share)", "26.30%", "—"),
        ("comparisons.success_rate_percent.previous_day.delta", -2.5, 1.25,
         "Success rate vs previous day (change)", "\u22122.50 pts", "+1.25 pts"),
        ("anomalies[2026-11-24 success_rate_percent].z", None, 4.2,
         "Success rate, unusual value on Tue, Nov 24, 2026 (z)", "—", "4.20"),
        ("metadata.something_new", "a", "b", "metadata.something_new", "a", "b"),
    ]  # fmt: skip
    filler = [(f"breakdowns.pricing_notes[note {i}].count", i, i + 1) for i in range(30)]
    changes = [{"path": p, "from": f, "to": t} for p, f, t, *_ in named] + [
        {"path": p, "from": f, "to": t} for p, f, t in filler
    ]
    page.route("**/diff?*", lambda route: route.fulfill(json={"from": n - 1, "to": n, "changes": changes}))
    page.goto(f"{dashboard.url}/?org={org_id}&date={day}")
    expect(page.locator("#history")).to_have_attribute("data-shown", f"{org_id}|{day}|{n}|{n}")
    items = page.locator("#diff .changes li")
    expect(items).to_have_count(len(changes))
    for index, (path, _, _, what, before, after) in enumerate(named):
        item = items.nth(index)
        expect(item).to_have_attribute("title", path)
        expect(item.locator(".change-what")).to_have_text(what)
        expect(item.locator(".change-from")).to_have_text(before)
        expect(item.locator(".change-to")).to_have_text(after)
    expect(page.locator("#diff")).to_contain_text(f"{len(changes)} values changed.")
    expect(page.locator("#diff .changes li:visible")).to_have_count(25)
    page.get_by_role("button", name=f"Show all {len(changes)} changes").click()
    expect(page.locator("#diff .changes li:visible")).to_have_count(len(changes))
