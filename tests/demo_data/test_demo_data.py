"""Demo data generator (determinism, idempotence, contract shape, the mess) and the metric oracle."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from demo_data import DemoSummary, demo_organizations, generate_demo_data, local_day_start_ms
from demo_data.calls import CallRows, generate_day, org_context
from reports_store import open_store
from reports_store.models import Organization
from reports_store.rules import IDENTIFIER_RE, PHONE_RE
from service.core.warehouse import create_source_tables, get_client
from tests import oracle
from tests.conftest import SESSION_DIR, make_settings

END = date(2025, 11, 3)  # the range holds Chicago's and New York's 25-hour 2025-11-02
ARGS: dict[str, Any] = {"orgs": 7, "days": 3, "calls_per_day": 150, "seed": 11, "end_date": END}
TABLE_COLUMNS = {
    "public_runs": "id, timestamp, status",
    "public_sessions": "id, run_id, org_id, user_number, duration, created_at",
    "public_nodes": "id, persistent_id, org_id, name, type, created_at",
    "public_node_outputs": "id, run_id, node_id, node_persistent_id, flat_data, created_at",
}


class FakeStore:
    def __init__(self) -> None:
        self.orgs: dict[str, Organization] = {}

    def upsert_organization(self, org: Organization) -> Organization:
        self.orgs[org.org_id] = org
        return org


def fresh_source(name: str) -> tuple[Client, str]:
    """A client and an empty source database of this module on the session warehouse."""
    settings = make_settings(f"demo_{name}")
    client = get_client(settings)
    client.command(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")
    create_source_tables(client, settings)
    return client, settings.clickhouse_database


def table_rows(client: Client, database: str, table: str) -> list[tuple[Any, ...]]:
    rows = client.query(f"SELECT {TABLE_COLUMNS[table]} FROM {database}.{table}").result_rows
    return sorted(rows, key=repr)


def counts(client: Client, database: str) -> dict[str, int]:
    return {t: client.command(f"SELECT count() FROM {database}.{t}") for t in TABLE_COLUMNS}


@pytest.fixture(scope="module")
def generated() -> tuple[Client, str, list[Organization], DemoSummary]:
    client, database = fresh_source("main")
    store = FakeStore()
    summary = generate_demo_data(client, store, database=database, **ARGS)
    return client, database, list(store.orgs.values()), summary


@pytest.fixture(scope="module")
def raw(generated: tuple[Client, str, list[Organization], DemoSummary]) -> dict[str, list[tuple[Any, ...]]]:
    client, database, _, _ = generated
    return {table: table_rows(client, database, table) for table in TABLE_COLUMNS}


# --- organizations ---------------------------------------------------------------------------


def test_demo_organizations_are_deterministic_and_valid() -> None:
    orgs = demo_organizations(8, seed=3)
    assert orgs == demo_organizations(8, seed=3)
    assert orgs[0].org_id != demo_organizations(1, seed=4)[0].org_id
    assert [o.timezone for o in orgs[:7]] == [
        "America/Chicago",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Europe/London",
        "America/Santiago",
        "America/New_York",
        "UTC",
    ]
    assert len({o.org_id for o in orgs}) == len({o.name for o in orgs}) == 8
    for org in orgs:
        assert IDENTIFIER_RE.match(org.org_id) and IDENTIFIER_RE.match(org.node_persistent_id)
        assert 1 <= len(org.excluded_numbers) <= 2
        assert all(PHONE_RE.match(n) for n in org.excluded_numbers)


def test_organizations_are_registered_in_the_report_store() -> None:
    client, database = fresh_source("store")
    with open_store(f"sqlite:///{SESSION_DIR / 'demo_store.db'}") as store:
        generate_demo_data(
            client, store, orgs=2, days=1, calls_per_day=3, seed=5, end_date=END, database=database
        )
        stored = {o.org_id: o for o in store.list_organizations()}
    for org in demo_organizations(2, seed=5):
        assert stored[org.org_id].timezone == org.timezone
        assert stored[org.org_id].excluded_numbers == org.excluded_numbers


# --- determinism and idempotence ---------------------------------------------------------------


def test_same_seed_gives_identical_rows(generated: Any, raw: dict[str, list[tuple[Any, ...]]]) -> None:
    _, _, orgs, summary = generated
    client, database = fresh_source("twin")
    store = FakeStore()
    twin = generate_demo_data(client, store, database=database, **ARGS)
    assert twin == summary
    assert list(store.orgs.values()) == orgs
    for table in TABLE_COLUMNS:
        assert table_rows(client, database, table) == raw[table], table


def test_rerun_adds_nothing(generated: Any) -> None:
    client, database, _, summary = generated
    before = counts(client, database)
    again = generate_demo_data(client, FakeStore(), database=database, **ARGS)
    assert again == DemoSummary(organizations=7, skipped_existing=summary.runs)
    assert counts(client, database) == before


def test_longer_range_adds_only_the_new_days() -> None:
    client, database = fresh_source("extend")
    small = {"orgs": 2, "calls_per_day": 20, "seed": 9, "end_date": END, "database": database}
    first = generate_demo_data(client, None, days=1, **small)
    second = generate_demo_data(client, None, days=2, **small)
    assert second.skipped_existing == first.runs and second.runs > 0 and second.nodes == 0
    assert client.command(f"SELECT count() FROM {database}.public_runs") == first.runs + second.runs
    assert client.command(f"SELECT uniqExact(id) FROM {database}.public_runs") == first.runs + second.runs


def test_default_end_date_is_yesterday_in_each_zone() -> None:
    client, database = fresh_source("yesterday")
    generate_demo_data(
        client, FakeStore(), orgs=3, days=1, calls_per_day=5, seed=2, database=database, dst_days=False
    )
    orgs = demo_organizations(3, seed=2)
    days = oracle.daily_metrics(client, orgs, database=database)
    for org in orgs:
        yesterday = datetime.now(ZoneInfo(org.timezone)).date() - timedelta(days=1)
        assert {day for org_id, day in days if org_id == org.org_id} <= {yesterday}


# --- shape of the rows -------------------------------------------------------------------------


def test_rows_respect_the_source_contract(generated: Any, raw: dict[str, list[tuple[Any, ...]]]) -> None:
    _, _, orgs, summary = generated
    org_ids = {o.org_id for o in orgs}
    assert len(raw["public_runs"]) == summary.runs and len(raw["public_sessions"]) == summary.sessions
    assert len(raw["public_node_outputs"]) == summary.outputs and len(raw["public_nodes"]) == summary.nodes
    run_ids = {r[0] for r in raw["public_runs"]}
    assert len(run_ids) == summary.runs
    for run_id, ts, status in raw["public_runs"]:
        # clickhouse-connect returns naive UTC datetimes for DateTime64(3, 'UTC') by default
        assert (
            isinstance(run_id, uuid.UUID)
            and ts.utcoffset() in (None, timedelta(0))
            and ts.microsecond % 1000 == 0
        )
        assert status in {"completed", "failed", "in_progress"}
    for _, run_id, org_id, user, duration, _ in raw["public_sessions"]:
        assert run_id in run_ids and org_id in org_ids
        assert user == "" or PHONE_RE.match(user)
        assert duration is None or 0 < duration < 3600
    nodes = {n[0]: (n[1], n[2]) for n in raw["public_nodes"]}
    assert {n[1] for n in raw["public_nodes"]} >= {o.node_persistent_id for o in orgs}
    for _, run_id, node_id, persistent, _, _ in raw["public_node_outputs"]:
        assert run_id in run_ids and nodes[node_id][0] == persistent


def test_calls_follow_the_daily_curve(generated: Any, raw: dict[str, list[tuple[Any, ...]]]) -> None:
    client, database, orgs, _ = generated
    days = oracle.daily_metrics(client, orgs, database=database, start=END - timedelta(days=2), end=END)
    for org in orgs:
        for offset in range(3):
            total = days[(org.org_id, END - timedelta(days=offset))]["total_calls"]
            assert 0.8 * 150 * 0.9 <= total <= 1.2 * 150 + 20  # ±20 %, minus test numbers, plus DST extras
    chicago = {o.org_id: o for o in orgs}[demo_organizations(1, seed=ARGS["seed"])[0].org_id]
    runs = {r[0]: r[1] for r in raw["public_runs"]}
    hours = Counter(
        runs[s[1]].astimezone(ZoneInfo(chicago.timezone)).hour
        for s in raw["public_sessions"]
        if s[2] == chicago.org_id
    )
    assert sum(hours[h] for h in range(9, 17)) > 4 * sum(hours[h] for h in range(0, 8))


def _latest_broker_outputs(
    raw: dict[str, list[tuple[Any, ...]]], orgs: list[Organization]
) -> dict[Any, list[Any]]:
    brokers = {o.node_persistent_id for o in orgs}
    by_run: dict[Any, list[Any]] = {}
    for row in raw["public_node_outputs"]:
        if row[3] in brokers:
            by_run.setdefault(row[1], []).append(row)
    for rows in by_run.values():
        rows.sort(key=lambda r: (r[5], oracle.clickhouse_uuid_key(r[0])))
    return by_run


def _parsed(flat: str) -> Any:
    try:
        return json.loads(flat)
    except ValueError:
        return None


def test_outcomes_are_consistent(generated: Any, raw: dict[str, list[tuple[Any, ...]]]) -> None:
    _, _, orgs, _ = generated
    success_by_qualification: Counter[tuple[str, bool]] = Counter()
    for rows in _latest_broker_outputs(raw, orgs).values():
        doc = _parsed(rows[-1][4])
        if not isinstance(doc, dict) or "transfer" not in doc["result"]:
            continue
        values = oracle.parse_outcome(rows[-1][4])
        stage, transfer = values["call_stage"], doc["result"]["transfer"]
        assert (stage == "TRANSFER_SUCCEEDED") == values["transfer_success"]
        assert (transfer["transfer_attempt"] == "YES") == (stage in ("TRANSFER_SUCCEEDED", "TRANSFER_FAILED"))
        qualification = values["carrier_qualification"] or "none"
        success_by_qualification[qualification, values["call_classification"] == "success"] += 1
    rate = {
        q: success_by_qualification[q, True]
        / (success_by_qualification[q, True] + success_by_qualification[q, False])
        for q in ("QUALIFIED", "NOT_QUALIFIED")
    }
    assert rate["QUALIFIED"] > 5 * rate["NOT_QUALIFIED"]


def _session_ties(sessions: list[tuple[Any, ...]]) -> int:
    """Runs whose latest created_at is shared by sessions with different ids."""
    latest: dict[Any, tuple[datetime, set[Any]]] = {}
    for sid, run, _, _, _, created in sessions:
        at, ids = latest.get(run, (created, set()))
        if created > at:
            at, ids = created, set()
        if created == at:
            ids.add(sid)
        latest[run] = (at, ids)
    return sum(len(ids) > 1 for _, ids in latest.values())


def test_the_mess_is_present(generated: Any, raw: dict[str, list[tuple[Any, ...]]]) -> None:
    _, _, orgs, _ = generated
    runs = {r[0]: r for r in raw["public_runs"]}
    sessions = raw["public_sessions"]
    outputs = _latest_broker_outputs(raw, orgs)
    excluded = {n for o in orgs for n in o.excluded_numbers}
    session_ids = Counter(s[0] for s in sessions)
    sessions_per_run = Counter(run for run, sid in {(s[1], s[0]) for s in sessions})
    latest = [rows[-1][4] for rows in outputs.values()]
    classification = Counter(
        repr(doc["result"]["call"].get("call_classification", "<missing>"))
        for doc in map(_parsed, latest)
        if isinstance(doc, dict)
    )
    transfer_success = Counter(
        repr(doc["result"]["transfer"].get("transfer_success"))
        for doc in map(_parsed, latest)
        if isinstance(doc, dict) and "transfer" in doc["result"]
    )
    lateness = [rows[-1][5] - runs[run][1] for run, rows in outputs.items()]
    found = {
        "malformed latest output": sum(_parsed(flat) is None for flat in latest),
        "malformed latest after a valid one": sum(
            _parsed(rows[-1][4]) is None and any(_parsed(r[4]) for r in rows[:-1])
            for rows in outputs.values()
        ),
        "no broker output": len(runs) - len(outputs),
        "no session": len(runs) - len(sessions_per_run),
        "duplicate session rows": sum(n > 1 for n in session_ids.values()),
        "second session of a run": sum(n > 1 for n in sessions_per_run.values()),
        "session created_at tie": _session_ties(sessions),
        "output created_at tie": sum(len({r[5] for r in rows}) < len(rows) for rows in outputs.values()),
        "NULL duration": sum(s[4] is None for s in sessions),
        "withheld number": sum(s[3] == "" for s in sessions),
        "excluded number": sum(s[3] in excluded for s in sessions),
        "late output": sum(lag > timedelta(hours=1) for lag in lateness),
        "failed run": sum(r[2] == "failed" for r in runs.values()),
        "in-progress run": sum(r[2] == "in_progress" for r in runs.values()),
        "classification missing": classification["'<missing>'"],
        "classification null": classification["None"],
        "classification empty": classification["''"],
        "classification number": classification["42"],
        "transfer_success as a string": sum(n for k, n in transfer_success.items() if k.startswith("'")),
    }
    assert all(found.values()), {k: v for k, v in found.items() if not v}
    assert max(lateness) < timedelta(hours=41)
    assert found["malformed latest output"] < 0.06 * len(runs)


def test_no_late_output_lands_after_the_range(generated: Any, raw: dict[str, list[tuple[Any, ...]]]) -> None:
    _, _, orgs, _ = generated
    # Rows from the future would sit above any created_at watermark and hide real late arrivals.
    horizon = max(local_day_start_ms(END + timedelta(days=1), ZoneInfo(o.timezone)) for o in orgs)
    latest = max(r[5] for table in ("public_sessions", "public_node_outputs") for r in raw[table])
    assert latest.replace(tzinfo=UTC).timestamp() * 1000 <= horizon + 16 * 60_000


@pytest.mark.parametrize("minutes_after_midnight", [0, 1, 5])
def test_a_range_that_ended_minutes_ago_has_no_future_rows(minutes_after_midnight: int) -> None:
    # Generated just after the local midnight ending the range: the last calls' sessions and
    # outputs (up to a quarter of an hour later) are written no later than the generation.
    org = demo_organizations(1, seed=3)[0]
    ctx = org_context(org, seed=3)
    day = date(2026, 3, 4)
    ctx.horizon = local_day_start_ms(day + timedelta(days=1), ctx.tz)
    ctx.now = ctx.horizon + minutes_after_midnight * 60_000
    rows = CallRows()
    generate_day(ctx, day, 3, 400, rows, extra=False)
    stamps = rows.sessions[5] + rows.outputs[5]
    assert max(stamps) <= ctx.now
    assert max(rows.runs[1]) < ctx.horizon
    # The same day generated long after has rows past that instant: the bound above is real.
    later = org_context(org, seed=3)
    later.horizon, later.now = ctx.horizon, ctx.horizon + 86_400_000
    unbounded = CallRows()
    generate_day(later, day, 3, 400, unbounded, extra=False)
    assert max(unbounded.sessions[5] + unbounded.outputs[5]) > ctx.now
    assert unbounded.runs == rows.runs  # only the stamps of later rows differ


def test_calls_at_local_midnight_and_on_dst_days(
    generated: Any, raw: dict[str, list[tuple[Any, ...]]]
) -> None:
    _, _, orgs, _ = generated
    by_zone = {o.timezone: ZoneInfo(o.timezone) for o in orgs}
    stamps = [r[1] for r in raw["public_runs"]]
    starts = {local_day_start_ms(END - timedelta(days=k), tz) for tz in by_zone.values() for k in range(4)}
    epoch_ms = {int(ts.timestamp() * 1000) for ts in stamps}
    assert epoch_ms & starts, "a call exactly at the first instant of a local day"
    assert {s - 1 for s in starts} & epoch_ms, "a call at the last millisecond of a local day"
    dst_days = {
        ("America/Chicago", date(2025, 11, 2)),  # inside the range
        ("Australia/Sydney", date(2025, 10, 5)),  # extra DST days before the range
        ("Europe/London", date(2025, 10, 26)),
        ("America/Santiago", date(2025, 9, 7)),  # the day that starts at 01:00
    }
    local_days = {(name, ts.astimezone(tz).date()) for ts in stamps for name, tz in by_zone.items()}
    assert dst_days <= local_days


# --- the oracle on a hand-made dataset ---------------------------------------------------------

CHI = Organization(
    org_id="org-chi",
    name="Chicago",
    node_persistent_id="node-chi",
    timezone="America/Chicago",
    excluded_numbers=["+15550000001"],
)
SYD = Organization(
    org_id="org-syd",
    name="Sydney",
    node_persistent_id="node-syd",
    timezone="Australia/Sydney",
    excluded_numbers=["+61400000000"],
)
SCL = Organization(
    org_id="org-scl", name="Santiago", node_persistent_id="node-scl", timezone="America/Santiago"
)
# Tie ids whose order differs between Python (128-bit) and ClickHouse (low 64 bits first):
# ClickHouse, and so the contract's "highest id", ranks TIE_HIGH above TIE_LOW.
TIE_LOW = uuid.UUID("00000000-0000-0002-0000-000000000001")
TIE_HIGH = uuid.UUID("00000000-0000-0001-0000-000000000002")
NULL = object()  # an explicit JSON null in `flat`


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def flat(
    cls: Any = None,
    stage: Any = None,
    ts: Any = None,
    reason: Any = None,
    load: Any = None,
    qual: Any = None,
    end: Any = None,
    notes: Any = None,
) -> str:
    """Outcome JSON at the contract's paths; None leaves a key out, NULL writes JSON null."""
    sections = {
        "call": {"call_classification": cls, "call_stage": stage},
        "transfer": {"transfer_success": ts, "transfer_reason": reason},
        "load": {"load_status": load},
        "carrier": {"carrier_qualification": qual, "carrier_end_state": end},
        "pricing": {"pricing_notes": notes},
    }
    doc = {
        name: {key: None if value is NULL else value for key, value in keys.items() if value is not None}
        for name, keys in sections.items()
    }
    return json.dumps({"result": {name: keys for name, keys in doc.items() if keys}})


SUCCESS = flat(
    "success",
    "TRANSFER_SUCCEEDED",
    True,
    "AGREEMENT_REACHED",
    "ACTIVE",
    "QUALIFIED",
    "booking_started",
    "AGREEMENT_REACHED_CARRIER_CONFIRMED",
)


class HandData:
    """Rows written by hand; run n has id UUID(int=n), its session at +1 s, its output at +3 min."""

    def __init__(self) -> None:
        self.runs: list[list[Any]] = []
        self.sessions: list[list[Any]] = []
        self.outputs: list[list[Any]] = []
        self.last_id = 10_000

    def _id(self) -> uuid.UUID:
        self.last_id += 1
        return uuid.UUID(int=self.last_id)

    def call(self, n: int, ts: str, org: Organization | None, **kw: Any) -> uuid.UUID:
        run, at = uuid.UUID(int=n), _t(ts)
        self.runs.append([run, at, kw.get("status", "completed")])
        if org is not None:
            self.session(
                run, org, kw.get("user", "+15551230000"), kw.get("duration", 60.0), at + timedelta(seconds=1)
            )
        if "outcome" in kw:
            self.output(run, org or CHI, kw["outcome"], at + timedelta(minutes=3))
        return run

    def session(
        self,
        run: uuid.UUID,
        org: Organization,
        user: str,
        duration: float | None,
        at: datetime,
        sid: Any = None,
    ) -> None:
        self.sessions.append([sid or self._id(), run, org.org_id, user, duration, at])

    def output(
        self,
        run: uuid.UUID,
        org: Organization,
        text: str,
        at: datetime,
        oid: Any = None,
        node: str | None = None,
    ) -> None:
        self.outputs.append([oid or self._id(), run, self._id(), node or org.node_persistent_id, text, at])


def _chicago_march(h: HandData) -> None:
    """Chicago 2025-03-09 lasts 23 hours: [06:00 UTC, 05:00 UTC next day)."""
    h.call(1, "2025-03-09 06:00:00", CHI, duration=120, outcome=SUCCESS)  # its first instant
    h.call(2, "2025-03-09 05:59:59.999", CHI, outcome=flat("voicemail", "GREETING"))  # 03-08
    r3 = h.call(3, "2025-03-10 04:59:59.999", CHI, duration=None)  # its last millisecond
    h.output(r3, CHI, SUCCESS, _t("2025-03-10 05:01:00"))
    h.output(r3, CHI, '{"result":{"call":{"call_classification":"succ', _t("2025-03-10 05:02:00"))  # latest
    h.call(4, "2025-03-10 05:00:00", CHI, duration=30, outcome=flat("load_not_available"))  # 03-10
    h.call(5, "2025-03-09 08:30:00", CHI, user="+15550000001", outcome=SUCCESS)  # a test number
    nq = (
        "load_not_available",
        "LOAD_LOOKUP",
        "YES",
        "CARRIER_ASKED_FOR_TRANSFER",
        "COVERED",
        "NOT_QUALIFIED",
    )
    h.call(6, "2025-03-09 12:00:00", CHI, duration=90, outcome=flat(*nq, end="not_qualified"))
    h.sessions.append(list(h.sessions[-1]))  # the same session ingested twice
    r7 = h.call(7, "2025-03-09 15:00:00", CHI, user="", duration=None, outcome=SUCCESS)
    h.session(r7, CHI, "+15550000001", 100, _t("2025-03-09 15:05:00"))  # latest session: a test number
    r8 = h.call(
        8, "2025-03-09 16:00:00", CHI, user="+15550000001", duration=None, outcome=flat(42, "PRICING")
    )
    h.session(r8, CHI, "+15559990000", 200, _t("2025-03-09 16:04:00"))  # latest session: a real caller
    r9 = h.call(9, "2025-03-09 17:00:00", SYD, user="+61299990000", duration=33)
    h.output(r9, CHI, SUCCESS, _t("2025-03-09 17:03:00"))  # written by another org's node
    rate = flat("rate_disagreement", "PRICING", "no", None, "ACTIVE", notes="RATE_TOO_HIGH")
    r10 = h.call(10, "2025-03-09 18:00:00", CHI, duration=45, outcome=rate)
    h.output(r10, CHI, SUCCESS, _t("2025-03-09 19:00:00"), node="node-qa")  # another node, later
    h.call(11, "2025-03-09 19:00:00", CHI, duration=15, outcome=flat("", "PRICING"))
    r12 = h.call(12, "2025-03-09 20:00:00", CHI, duration=75)
    mismatch = flat("equipment_mismatch", "CARRIER_VERIFICATION", qual="QUALIFIED", end="equipment_mismatch")
    h.output(r12, CHI, SUCCESS, _t("2025-03-09 20:05:00"), oid=TIE_LOW)
    h.output(r12, CHI, mismatch, _t("2025-03-09 20:05:00"), oid=TIE_HIGH)
    r13 = h.call(13, "2025-03-09 21:00:00", CHI, duration=300.5, status="failed")
    late = flat("Success", "TRANSFER_SUCCEEDED", "TRUE", "CARRIER_ASKED_FOR_TRANSFER", NULL, "QUALIFIED")
    h.output(r13, CHI, late, _t("2025-03-10 20:00:00"))  # 23 hours late, still the 03-09 call's outcome
    h.call(14, "2025-03-09 22:00:00", None, outcome=SUCCESS)  # no session: nobody's call
    r15 = h.call(15, "2025-03-09 23:00:00", None)
    h.session(r15, CHI, "+15551230015", 10, _t("2025-03-09 23:00:02"), sid=TIE_LOW)
    h.session(r15, CHI, "+15551230015", 20, _t("2025-03-09 23:00:02"), sid=TIE_HIGH)


def _chicago_november(h: HandData) -> None:
    """Chicago 2025-11-02 lasts 25 hours: [05:00 UTC, 06:00 UTC next day)."""
    h.call(
        21,
        "2025-11-03 05:30:00",
        CHI,
        outcome=flat("success", "TRANSFER_SUCCEEDED", "true", qual="QUALIFIED"),
    )
    h.call(22, "2025-11-02 06:30:00", CHI)  # 01:30 CDT, the first pass
    h.call(23, "2025-11-02 07:30:00", CHI, outcome=flat("wrong_number", "GREETING", qual=NULL))  # 01:30 CST
    h.call(24, "2025-11-03 06:00:00", CHI)  # 11-03 00:00 CST
    h.call(25, "2025-11-02 04:59:59.999", CHI)  # 11-01


def _sydney(h: HandData) -> None:
    """Sydney 2025-04-06 lasts 25 hours [13:00, 14:00 UTC); 2025-10-05 23 hours [14:00, 13:00 UTC)."""
    a1 = h.call(31, "2025-04-05 13:00:00", SYD, duration=100)
    h.output(a1, SYD, "not json", _t("2025-04-05 13:01:00"))
    h.output(a1, SYD, flat("success"), _t("2025-04-05 13:02:00"))  # latest and valid
    h.call(32, "2025-04-06 13:30:00", SYD, duration=200, outcome=flat(NULL, ts=True))
    h.call(33, "2025-04-05 12:59:59.999", SYD, duration=10)  # 04-05
    h.call(34, "2025-04-06 14:00:00", SYD, duration=10)  # 04-07
    h.call(35, "2025-04-05 20:00:00", SYD, user="+61400000000", outcome=SUCCESS)  # a test number
    h.call(
        41, "2025-10-05 12:59:59.999", SYD, duration=40, outcome=flat("caller_hung_up", qual="NOT_QUALIFIED")
    )
    h.call(42, "2025-10-05 13:00:00", SYD)  # 10-06
    h.call(43, "2025-10-04 14:00:00", SYD, duration=20, outcome=flat("callback_requested", qual="QUALIFIED"))
    h.call(44, "2025-10-04 13:59:59.999", SYD)  # 10-04


def _santiago(h: HandData) -> None:
    h.call(51, "2025-09-07 04:00:00", SCL)  # 09-07 starts at 01:00 (-03): its midnight does not exist
    h.call(52, "2025-09-07 03:59:59.999", SCL)  # 09-06 23:59:59.999 (-04)


@pytest.fixture(scope="module")
def hand() -> tuple[Client, str]:
    client, database = fresh_source("hand")
    h = HandData()
    for build in (_chicago_march, _chicago_november, _sydney, _santiago):
        build(h)
    for table, rows in (
        ("public_runs", h.runs),
        ("public_sessions", h.sessions),
        ("public_node_outputs", h.outputs),
    ):
        names = [c.strip() for c in TABLE_COLUMNS[table].split(",")]
        client.insert(table, rows, column_names=names, database=database)
    return client, database


def test_oracle_attributes_calls_to_local_days(hand: tuple[Client, str]) -> None:
    client, database = hand
    days = oracle.daily_metrics(client, [CHI, SYD, SCL], database=database)
    assert {key: m["total_calls"] for key, m in days.items()} == {
        ("org-chi", date(2025, 3, 8)): 1,
        ("org-chi", date(2025, 3, 9)): 9,  # 23 hours: 06:00 UTC to 05:00 UTC
        ("org-chi", date(2025, 3, 10)): 1,
        ("org-chi", date(2025, 11, 1)): 1,
        ("org-chi", date(2025, 11, 2)): 3,  # 25 hours: 05:00 UTC to 06:00 UTC
        ("org-chi", date(2025, 11, 3)): 1,
        ("org-syd", date(2025, 3, 10)): 1,
        ("org-syd", date(2025, 4, 5)): 1,
        ("org-syd", date(2025, 4, 6)): 2,  # 25 hours: 13:00 UTC to 14:00 UTC
        ("org-syd", date(2025, 4, 7)): 1,
        ("org-syd", date(2025, 10, 4)): 1,
        ("org-syd", date(2025, 10, 5)): 2,  # 23 hours: 14:00 UTC to 13:00 UTC
        ("org-syd", date(2025, 10, 6)): 1,
        ("org-scl", date(2025, 9, 6)): 1,
        ("org-scl", date(2025, 9, 7)): 1,
    }


def test_oracle_counts_a_messy_day(hand: tuple[Client, str]) -> None:
    client, database = hand
    day = date(2025, 3, 9)
    days = oracle.daily_metrics(client, [CHI, SYD], database=database, start=day, end=day)
    assert list(days) == [("org-chi", day)]
    m = days["org-chi", day]
    assert {k: v for k, v in m.items() if k != "breakdowns"} == {
        "total_calls": 9,  # runs 1, 3, 6, 8, 10, 11, 12, 13, 15
        "classified_calls": 5,  # 1, 6, 10, 12, 13 (3 malformed latest, 8 is 42, 11 is "", 15 no output)
        "total_duration_seconds": 865.5,  # 120 + 0 + 90 + 200 + 45 + 15 + 75 + 300.5 + 20
        "success_calls": 1,  # "Success" (13) is not "success"
        "carrier_not_qualified_calls": 1,  # 6
        "non_convertible_calls": 1,  # 12
        "non_convertible_or_not_qualified_calls": 2,  # 6, 12
        "carrier_asked_transfer_calls": 2,  # 6, 13
        "transferred_for_booking_calls": 3,  # true (1), "YES" (6), "TRUE" (13); not "no" (10)
    }
    b = m["breakdowns"]
    assert b["call_classification"] == Counter(
        {"success": 1, "load_not_available": 1, "rate_disagreement": 1, "equipment_mismatch": 1, "Success": 1}
    )
    assert b["call_stage"] == Counter(
        {"TRANSFER_SUCCEEDED": 2, "LOAD_LOOKUP": 1, "PRICING": 1, "CARRIER_VERIFICATION": 1}
    )
    assert b["load_status"] == Counter({"ACTIVE": 2, None: 2, "COVERED": 1})
    assert b["pricing_notes"] == Counter(
        {None: 3, "AGREEMENT_REACHED_CARRIER_CONFIRMED": 1, "RATE_TOO_HIGH": 1}
    )
    assert b["carrier_end_state"] == Counter(
        {None: 2, "booking_started": 1, "not_qualified": 1, "equipment_mismatch": 1}
    )
    assert oracle.breakdown_items(b["load_status"], 5) == [
        {"value": "ACTIVE", "count": 2, "percentage": 40.0},
        {"value": None, "count": 2, "percentage": 40.0},
        {"value": "COVERED", "count": 1, "percentage": 20.0},
    ]


def test_oracle_report_kpis(hand: tuple[Client, str]) -> None:
    client, database = hand
    day = date(2025, 3, 9)
    kpis = oracle.report_kpis(oracle.daily_metrics(client, [CHI], database=database)["org-chi", day])
    assert kpis == {
        "total_calls": 9,
        "classified_calls": 5,
        "total_duration_hours": 0.24,  # 865.5 s
        "avg_minutes_per_call": 1.6,  # 14.425 min / 9
        "success_rate_percent": 20.0,
        "non_convertible_calls_with_carrier_not_qualified": {
            "count": 2,
            "total_calls": 5,
            "percentage": 40.0,
        },
        "carrier_not_qualified": {"count": 1, "total_calls": 5, "percentage": 20.0},
        "carrier_transfer_over_total_call_attempts": {
            "carrier_asked_count": 2,
            "total_call_attempts": 5,
            "carrier_asked_percentage": 40.0,
        },
        "successfully_transferred_for_booking": {
            "successfully_transferred_for_booking_count": 3,
            "total_calls": 5,
            "successfully_transferred_for_booking_percentage": 60.0,
        },
        "non_convertible_calls": {"count": 1, "total_calls": 5, "percentage": 20.0},
    }


def test_oracle_on_dst_days(hand: tuple[Client, str]) -> None:
    client, database = hand
    days = oracle.daily_metrics(client, [CHI, SYD], database=database)
    nov = days["org-chi", date(2025, 11, 2)]
    assert (nov["classified_calls"], nov["success_calls"], nov["transferred_for_booking_calls"]) == (2, 1, 1)
    assert (nov["non_convertible_calls"], nov["total_duration_seconds"]) == (1, 180.0)
    april = days["org-syd", date(2025, 4, 6)]  # latest output valid after a malformed one; JSON null
    assert (april["classified_calls"], april["success_calls"], april["transferred_for_booking_calls"]) == (
        1,
        1,
        0,
    )
    october = days["org-syd", date(2025, 10, 5)]
    assert (october["classified_calls"], october["carrier_not_qualified_calls"]) == (2, 1)
    assert (october["non_convertible_calls"], october["non_convertible_or_not_qualified_calls"]) == (0, 1)
    other_org = oracle.report_kpis(days["org-syd", date(2025, 3, 10)])  # only the CHI node wrote its outcome
    assert other_org["classified_calls"] == 0 and other_org["success_rate_percent"] is None
    assert other_org["carrier_not_qualified"] == {"count": 0, "total_calls": 0, "percentage": None}


def test_oracle_range_is_the_union_of_days(hand: tuple[Client, str]) -> None:
    client, database = hand
    days = oracle.daily_metrics(
        client, [CHI], database=database, start=date(2025, 3, 8), end=date(2025, 3, 10)
    )
    kpis = oracle.report_kpis(oracle.combine_metrics(days.values()))
    assert (kpis["total_calls"], kpis["classified_calls"]) == (11, 7)
    assert kpis["avg_minutes_per_call"] == round((865.5 + 60 + 30) / 60 / 11, 2)
    assert kpis["non_convertible_calls"]["count"] == 3  # + voicemail (03-08), load_not_available (03-10)


# --- KPI arithmetic ----------------------------------------------------------------------------


def test_report_kpis_without_calls_have_no_ratios() -> None:
    kpis = oracle.report_kpis(oracle.empty_metrics())
    assert kpis["total_duration_hours"] == 0.0
    assert kpis["avg_minutes_per_call"] is None and kpis["success_rate_percent"] is None
    assert (
        kpis["successfully_transferred_for_booking"]["successfully_transferred_for_booking_percentage"]
        is None
    )


def test_percentages_round_once_from_unrounded_values() -> None:
    metrics = oracle.empty_metrics() | {"total_calls": 3, "classified_calls": 3, "success_calls": 2}
    metrics["total_duration_seconds"] = 100.0
    kpis = oracle.report_kpis(metrics)
    assert kpis["success_rate_percent"] == 66.67
    assert kpis["avg_minutes_per_call"] == 0.56  # 100 / 60 / 3 = 0.5555..., not round(1.67) / 3
    assert kpis["total_duration_hours"] == 0.03


def test_breakdown_items_order() -> None:
    counter: Counter[str | None] = Counter({None: 3, "b": 3, "a": 3, "c": 5, "d": 1})
    items = oracle.breakdown_items(counter, 15)
    assert [i["value"] for i in items] == ["c", "a", "b", None, "d"]
    assert items[0] == {"value": "c", "count": 5, "percentage": 33.33}
    assert oracle.breakdown_items(Counter(), 0) == []


@pytest.mark.parametrize(
    ("flat", "expected"),
    [
        ('{"result":{"transfer":{"transfer_success":true}}}', True),
        ('{"result":{"transfer":{"transfer_success":"yEs"}}}', True),
        ('{"result":{"transfer":{"transfer_success":"TRUE"}}}', True),
        ('{"result":{"transfer":{"transfer_success":" true"}}}', False),
        ('{"result":{"transfer":{"transfer_success":1}}}', False),
        ('{"result":{"transfer":{"transfer_success":"no"}}}', False),
        ('{"result":{"transfer":{"transfer_success":true}', False),
    ],
)
def test_transfer_success_interpretation(flat: str, expected: bool) -> None:
    assert oracle.parse_outcome(flat)["transfer_success"] is expected


def test_field_values() -> None:
    values = oracle.parse_outcome('{"result":{"call":{"call_classification":" success","call_stage":7}}}')
    assert values["call_classification"] == " success" and values["call_stage"] is None
    assert oracle.parse_outcome("[1, 2]")["call_classification"] is None
    assert oracle.parse_outcome(None)["transfer_success"] is False


def test_clickhouse_uuid_order_matches_the_engine(hand: tuple[Client, str]) -> None:
    client, _ = hand
    ids = [TIE_LOW, TIE_HIGH, uuid.UUID(int=3), uuid.UUID(int=(5 << 64) | 1)]
    listed = ", ".join(f"toUUID('{u}')" for u in ids)
    engine = [r[0] for r in client.query(f"SELECT arrayJoin([{listed}]) AS u ORDER BY u").result_rows]
    assert engine == sorted(ids, key=oracle.clickhouse_uuid_key)


def test_oracle_on_generated_data_is_sane(generated: Any) -> None:
    client, database, orgs, _ = generated
    days = oracle.daily_metrics(client, orgs, database=database)
    total = oracle.combine_metrics(days.values())
    assert 0.80 < total["classified_calls"] / total["total_calls"] < 0.95
    for metrics in days.values():
        for counter in metrics["breakdowns"].values():
            assert sum(counter.values()) == metrics["classified_calls"]
