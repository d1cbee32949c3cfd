"""The dashboard in a real browser: its figures equal the API's, its controls work by mouse and
keyboard, the admin actions are guarded, errors are visible, and axe-core finds no serious issue."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # say what to install instead of a bare import error
    pytest.fail("The Python package playwright is missing: run `make setup`", pytrace=False)

from service.api.routers.dashboard import _page
from tests.conftest import make_settings
from tests.dashboard.conftest import API_KEY, AXE, screenshot


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
    return f"over {days} days, {round(value / days):,} a day"


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
    expect(first_row).to_contain_text(str(stage["value"] or "No value"))
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


def test_generate_is_refused_without_the_key_and_works_with_it(page, dashboard):
    org_id = dashboard.orgs[0]["org_id"]
    day = dashboard.yesterday[org_id].isoformat()
    page.goto(f"{dashboard.url}/?org={org_id}&date={day}")
    expect(page.locator("#empty")).to_contain_text("No stored report for")
    page.get_by_role("button", name="Generate this day").click()
    assert page.input_value("#generate-date") == day
    assert page.evaluate("document.activeElement.id") == "admin-key"

    result = page.locator("#generate-result")
    page.click("#generate-button")
    expect(result).to_contain_text("needs the admin key")
    page.fill("#admin-key", "not-the-key")
    page.click("#generate-button")
    expect(result).to_contain_text("the admin key is not valid")
    expect(page.locator("[data-kpi]")).to_have_count(0)

    page.fill("#admin-key", API_KEY)
    page.click("#generate-button")
    expect(result).to_contain_text("Stored the report", timeout=60_000)
    wait_shown(page, org_id, day)
    assert_cards_match(page, dashboard, dashboard.get(f"/api/reports/{day}", org_id=org_id))
    # The key lives in this tab's sessionStorage: it survives a reload, and Forget removes it.
    page.reload()
    wait_shown(page, org_id, day)
    assert page.input_value("#admin-key") == API_KEY
    page.click("#forget-key")
    assert page.evaluate("sessionStorage.length") == 0


def test_backfill_shows_progress_and_its_result(page, dashboard):
    org_id = dashboard.orgs[0]["org_id"]
    yesterday = dashboard.yesterday[org_id]
    start, end = yesterday - timedelta(days=5), yesterday - timedelta(days=4)
    page.goto(f"{dashboard.url}/?org={org_id}")
    page.fill("#admin-key", API_KEY)
    page.fill("#backfill-start", start.isoformat())
    page.fill("#backfill-end", end.isoformat())
    page.click("#backfill-button")
    expect(page.locator("#backfill-job")).to_be_visible()
    result = page.locator("#backfill-result")
    expect(result).to_contain_text("1 generated, 1 already stored, 0 failed", timeout=60_000)
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
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
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
        page.fill("#admin-key", API_KEY)
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
        "date-input",
        "admin-key",
        "forget-key",
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
    context = browser.new_context(
        viewport={"width": width, "height": height}, locale="en-US", bypass_csp=True
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
