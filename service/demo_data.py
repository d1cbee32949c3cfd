"""Deterministic, realistic and deliberately messy demo data for the four source tables.

Each organization-day draws from its own `random.Random` seeded with (seed, org, local date), so the
same arguments always give identical rows, a longer range reuses the days it shares with a shorter
one, and a re-run only adds calls whose run id is not in the warehouse yet.

Rows are built column-oriented with integer UUIDs and millisecond timestamps (what clickhouse-connect
writes fastest) and JSON text is assembled from pre-encoded fragments rather than per-row dicts.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson
from clickhouse_connect.driver.client import Client

from reports_store.models import Organization
from service.core.config import DATABASE_NAME_RE

# Zones chosen for their traps: northern DST, southern DST, a +05:30 offset without DST, DST that
# skips local midnight (Santiago), and plain UTC.
TIMEZONES = (
    "America/Chicago",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Europe/London",
    "America/Santiago",
    "America/New_York",
    "UTC",
)
# E.164 prefix and number of local digits per zone, so numbers look like the org's country.
_PHONE_PLAN = {
    "America/Chicago": ("+1312", 7),
    "Australia/Sydney": ("+614", 8),
    "Asia/Kolkata": ("+9198", 8),
    "Europe/London": ("+447", 9),
    "America/Santiago": ("+569", 8),
    "America/New_York": ("+1212", 7),
    "UTC": ("+4930", 8),
}
_ORG_NAMES = (
    "Paul Logistics",
    "Southern Cross Freight",
    "Deccan Haulage",
    "Thames Brokerage",
    "Andes Cargo",
    "Hudson Loads",
    "Meridian Transport",
)
_NAMESPACE = uuid.UUID("6f1c2d5e-8a43-4c1b-9e0f-2b7d9a4c3e11")

_M64 = (1 << 64) - 1
# Force RFC 4122 version 4 / variant bits so ids look like real UUIDs.
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)

_MS_HOUR = 3_600_000
_MS_DAY = 24 * _MS_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Share of calls per local wall-clock hour: quiet nights, a business-hours peak, a lunch dip.
_HOURLY = (0.6, 0.4, 0.3, 0.3, 0.4, 0.9, 2.0, 4.0, 7.0, 9.0, 10.0, 9.5)
_HOURLY += (7.5, 8.5, 9.0, 8.5, 7.0, 5.0, 3.0, 2.0, 1.5, 1.2, 0.9, 0.7)

# Rates of the mess (probabilities per call unless said otherwise); each is a few percent at most.
P_FAILED, P_IN_PROGRESS = 0.04, 0.02
P_WITHHELD, P_EXCLUDED = 0.04, 0.02
P_NULL_DURATION = 0.02
P_NO_SESSION = 0.003  # a run whose session never arrived: not a call for anyone
P_DUP_SESSION = 0.02  # the same session row ingested twice
P_SECOND_SESSION = 0.01  # a later session with another id for the same run
P_TIE = 0.002  # equal created_at, decided by the higher id
P_NO_OUTPUT = 0.03
P_MULTI_OUTPUT = 0.08
P_LATEST_MALFORMED = 0.15  # among runs with several outputs
P_MALFORMED = 0.02
P_CLASS_MISSING, P_CLASS_NULL, P_CLASS_EMPTY, P_CLASS_NUMBER = 0.015, 0.01, 0.01, 0.005
P_CLASS_ODD = 0.004  # values outside the vocabulary (or in another case) that must pass through
P_TS_STRING = 0.08  # transfer_success written as a string
P_LATE = 0.02  # output arriving 1 to 40 hours after the call
P_MIDNIGHT = 0.02  # call placed within seconds of a local midnight
P_OTHER_NODE = 0.3  # an output of a non-broker node of the same org
DST_EXTRA_CALLS_MIN = 4


_CLASS_BY_QUAL: dict[str | None, tuple[tuple[str, float], ...]] = {
    "QUALIFIED": (
        ("success", 0.30),
        ("load_not_available", 0.22),
        ("rate_disagreement", 0.18),
        ("equipment_mismatch", 0.07),
        ("callback_requested", 0.10),
        ("caller_hung_up", 0.05),
        ("other", 0.08),
    ),
    "NOT_QUALIFIED": (
        ("load_not_available", 0.20),
        ("equipment_mismatch", 0.15),
        ("caller_hung_up", 0.15),
        ("other", 0.38),
        ("rate_disagreement", 0.05),
        ("callback_requested", 0.05),
        ("success", 0.02),
    ),
    None: (
        ("voicemail", 0.30),
        ("wrong_number", 0.15),
        ("caller_hung_up", 0.35),
        ("other", 0.10),
        ("load_not_available", 0.10),
    ),
}
_QUALIFICATION = (("QUALIFIED", 0.62), ("NOT_QUALIFIED", 0.23), (None, 0.15))
# Duration range in seconds per classification.
_DURATION = {
    "success": (240, 720),
    "rate_disagreement": (180, 600),
    "load_not_available": (60, 240),
    "equipment_mismatch": (90, 300),
    "caller_hung_up": (10, 120),
    "voicemail": (15, 50),
    "wrong_number": (10, 40),
    "callback_requested": (60, 240),
    "other": (30, 400),
}
_STAGES = ("GREETING", "LOAD_LOOKUP", "CARRIER_VERIFICATION", "PRICING")
_CARRIERS = ("ABC Trucking", "Blue Line Carriers", "Lone Star Freight", "Koala Haul", "Ruta 5 Cargo")
_CARRIERS += ("Ganges Express", "Red Rose Transport", "Empire Flatbeds", "O'Neil & Sons", "Zürich Reefer")
_ODD_CLASSES = ("Success", "load_booked_elsewhere", " success")
_TS_STRINGS = ('"true"', '"TRUE"', '"yes"', '"Yes"', '"no"', '"false"', '"No"', '"YES"')
_NOT_JSON = ("", "ERROR: broker node timed out", "{'result': {'call': {'call_classification': 'success'}}}")
_NOT_JSON += ("<html><body>502 Bad Gateway</body></html>", "undefined")

_OTHER_NODES = (
    ("Greeting", "llm", '{"result":{"greeting":{"language":"en","caller_name_captured":true}}}'),
    (
        "Carrier lookup",
        "tool",
        '{"result":{"carrier":{"mc_number":"MC%06d","carrier_qualification":"QUALIFIED"}}}',
    ),
    # Writes a classification too: a mart that forgets the broker-node filter counts it.
    ("QA review", "llm", '{"result":{"call":{"call_classification":"other","call_stage":"GREETING"}}}'),
)

_RUN_COLUMNS = ["id", "timestamp", "status"]
_SESSION_COLUMNS = ["id", "run_id", "org_id", "user_number", "duration", "created_at"]
_OUTPUT_COLUMNS = ["id", "run_id", "node_id", "node_persistent_id", "flat_data", "created_at"]
_NODE_COLUMNS = ["id", "persistent_id", "org_id", "name", "type", "created_at"]
BATCH_CALLS = 100_000  # calls per insert batch: large inserts, bounded memory


class OrganizationSink(Protocol):
    def upsert_organization(self, org: Organization) -> Any: ...


@dataclass
class DemoSummary:
    organizations: int = 0
    runs: int = 0
    sessions: int = 0
    outputs: int = 0
    nodes: int = 0
    skipped_existing: int = 0


def _j(value: str) -> str:
    return orjson.dumps(value).decode()


def _uuid_int(rng: random.Random) -> int:
    return (rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET


def _ordered_pair(rng: random.Random) -> tuple[int, int]:
    """Two ids (lower, higher) whose order is the same as Python UUIDs and as ClickHouse sorts them.

    ClickHouse compares UUIDs by their low 64 bits first, Python by the whole 128-bit number; for the
    deliberate created_at ties we want "highest id" to be unambiguous under both.
    """
    a, b = _uuid_int(rng), _uuid_int(rng)
    hi_a, hi_b, lo_a, lo_b = a >> 64, b >> 64, a & _M64, b & _M64
    return (min(hi_a, hi_b) << 64) | min(lo_a, lo_b), (max(hi_a, hi_b) << 64) | max(lo_a, lo_b)


def _cumulative(table: Sequence[tuple[Any, float]]) -> tuple[list[float], list[Any]]:
    total = sum(w for _, w in table)
    cum, acc = [], 0.0
    for _, weight in table:
        acc += weight / total
        cum.append(acc)
    cum[-1] = 1.0
    return cum, [value for value, _ in table]


def _pick(rng: random.Random, table: tuple[list[float], list[Any]]) -> Any:
    return table[1][bisect.bisect_right(table[0], rng.random())]


_QUAL_TABLE = _cumulative(_QUALIFICATION)
_CLASS_TABLES = {qual: _cumulative(rows) for qual, rows in _CLASS_BY_QUAL.items()}


# --- organizations ---------------------------------------------------------------------------


def demo_organizations(n: int, seed: int) -> list[Organization]:
    """`n` demo organizations, identical for the same (n, seed); zones cycle through TIMEZONES."""
    orgs = []
    for i in range(n):
        tz = TIMEZONES[i % len(TIMEZONES)]
        rng = random.Random(f"demo-org:{seed}:{i}")
        name = _ORG_NAMES[i % len(_ORG_NAMES)]
        if i >= len(_ORG_NAMES):
            name = f"{name} {i // len(_ORG_NAMES) + 1}"
        prefix, digits = _PHONE_PLAN[tz]
        excluded = sorted(
            {f"{prefix}{rng.randrange(10**digits):0{digits}d}" for _ in range(rng.randint(1, 2))}
        )
        orgs.append(
            Organization(
                org_id=str(uuid.uuid5(_NAMESPACE, f"org:{seed}:{i}")),
                name=name,
                node_persistent_id=str(uuid.uuid5(_NAMESPACE, f"broker-node:{seed}:{i}")),
                timezone=tz,
                excluded_numbers=excluded,
            )
        )
    return orgs


# --- local days --------------------------------------------------------------------------------


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def local_day_start_ms(day: date, tz: ZoneInfo) -> int:
    """First instant of local `day` in `tz`, in epoch milliseconds.

    `fold=0` maps a midnight that falls in a DST gap to the transition instant (Santiago), and a
    repeated midnight to its first occurrence; the check below guards against any other zone shape.
    """
    guess = _ms(datetime.combine(day, time(), tzinfo=tz))
    if _local_date(guess, tz) == day and _local_date(guess - 1, tz) < day:
        return guess
    lo, hi = guess - 2 * _MS_DAY, guess + 2 * _MS_DAY  # first instant whose local date is >= day
    while lo < hi:
        mid = (lo + hi) // 2
        if _local_date(mid, tz) >= day:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _local_date(ms: int, tz: ZoneInfo) -> date:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(tz).date()


def _offset(ms: int, tz: ZoneInfo) -> timedelta | None:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(tz).utcoffset()


def _transition_ms(start: int, end: int, tz: ZoneInfo) -> int | None:
    """The instant in [start, end) where the UTC offset changes, if it does."""
    if _offset(start, tz) == _offset(end - 1, tz):
        return None
    before = _offset(start, tz)
    lo, hi = start, end - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _offset(mid, tz) == before:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _recent_dst_days(tz: ZoneInfo, end: date) -> list[date]:
    """The last two DST-change days up to `end`, within a year (none for zones without DST)."""
    found: list[date] = []
    day = end
    while len(found) < 2 and day > end - timedelta(days=366):
        start, nxt = local_day_start_ms(day, tz), local_day_start_ms(day + timedelta(days=1), tz)
        if nxt - start != _MS_DAY:
            found.append(day)
        day -= timedelta(days=1)
    return found


# --- per-organization context and row buffers --------------------------------------------------


@dataclass
class _OrgContext:
    org: Organization
    tz: ZoneInfo
    broker_node_ids: tuple[int, int]
    other_nodes: list[tuple[int, str, str]]  # node id, persistent id, flat_data template
    node_rows: list[list[Any]]
    callers: list[str]
    excluded: list[str]
    # Epoch ms of the end of the generated range: late outputs never go past it (other rows by at
    # most a call's length, a quarter of an hour), so a range ending yesterday has no future rows.
    horizon: int = 0


def _org_context(org: Organization, seed: int) -> _OrgContext:
    rng = random.Random(f"demo-nodes:{seed}:{org.org_id}")
    created = _ms(datetime(2024, 6, 1, tzinfo=UTC)) + rng.randrange(30 * _MS_DAY)
    broker = (_uuid_int(rng), _uuid_int(rng))  # two versions of the broker node, one persistent id
    rows = [
        [broker[0], org.node_persistent_id, org.org_id, "Broker agent", "broker", created],
        [broker[1], org.node_persistent_id, org.org_id, "Broker agent v2", "broker", created + 90 * _MS_DAY],
    ]
    others = []
    for name, kind, template in _OTHER_NODES:
        node_id, persistent = _uuid_int(rng), str(uuid.UUID(int=_uuid_int(rng)))
        rows.append([node_id, persistent, org.org_id, name, kind, created])
        others.append((node_id, persistent, template))
    prefix, digits = _PHONE_PLAN.get(org.timezone, ("+1555", 7))
    excluded = list(org.excluded_numbers)
    pool = {f"{prefix}{rng.randrange(10**digits):0{digits}d}" for _ in range(400)} - set(excluded)
    return _OrgContext(org, ZoneInfo(org.timezone), broker, others, rows, sorted(pool), excluded)


@dataclass
class _Buffer:
    runs: list[list[Any]] = field(default_factory=lambda: [[], [], []])
    sessions: list[list[Any]] = field(default_factory=lambda: [[] for _ in _SESSION_COLUMNS])
    outputs: list[list[Any]] = field(default_factory=lambda: [[] for _ in _OUTPUT_COLUMNS])

    def __len__(self) -> int:
        return len(self.runs[0])

    def session(self, sid: int, run: int, org: str, user: str, duration: float | None, at: int) -> None:
        cols = self.sessions
        cols[0].append(sid)
        cols[1].append(run)
        cols[2].append(org)
        cols[3].append(user)
        cols[4].append(duration)
        cols[5].append(at)

    def output(self, oid: int, run: int, node: int, persistent: str, flat: str, at: int) -> None:
        cols = self.outputs
        cols[0].append(oid)
        cols[1].append(run)
        cols[2].append(node)
        cols[3].append(persistent)
        cols[4].append(flat)
        cols[5].append(at)


def _keep_new(columns: list[list[Any]], existing: set[int], run_col: int) -> tuple[list[list[Any]], int]:
    """Columns without the rows of runs already in the warehouse, and how many rows were dropped."""
    if not existing:
        return columns, 0
    keep = [i for i, run in enumerate(columns[run_col]) if run not in existing]
    dropped = len(columns[run_col]) - len(keep)
    return ([[col[i] for i in keep] for col in columns] if dropped else columns), dropped


def _flush(client: Client, database: str, buf: _Buffer, existing: set[int], summary: DemoSummary) -> None:
    # Runs go in last: a run id in the warehouse then implies its sessions and outputs are there,
    # so an interrupted generation is completed, not half-skipped, by the next run.
    outputs, _ = _keep_new(buf.outputs, existing, 1)
    sessions, _ = _keep_new(buf.sessions, existing, 1)
    runs, skipped = _keep_new(buf.runs, existing, 0)
    for table, columns, names in (
        ("public_node_outputs", outputs, _OUTPUT_COLUMNS),
        ("public_sessions", sessions, _SESSION_COLUMNS),
        ("public_runs", runs, _RUN_COLUMNS),
    ):
        if columns[0]:
            client.insert(table, columns, column_names=names, database=database, column_oriented=True)
    summary.runs += len(runs[0])
    summary.sessions += len(sessions[0])
    summary.outputs += len(outputs[0])
    summary.skipped_existing += skipped


# --- the outcome JSON --------------------------------------------------------------------------
# Hot path (a million calls): random() arithmetic instead of randrange/choice, and JSON sections
# cached by their vocabulary values so each output is a handful of string concatenations.


def _below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def _choose(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


_JV: dict[str, str] = {}


def _jv(value: str | None) -> str | None:
    """Cached JSON text of a vocabulary string (None stays None: the key is left out)."""
    if value is None:
        return None
    text = _JV.get(value)
    if text is None:
        text = _JV[value] = _j(value)
    return text


def _obj(*pairs: tuple[str, str | None]) -> str:
    return "{" + ",".join([_j(key) + ":" + value for key, value in pairs if value is not None]) + "}"


@dataclass
class _Outcome:
    classification: str
    stage: str
    transfer: tuple[str, bool] | None = None  # (reason, succeeded) when a transfer was attempted
    load_status: str | None = None
    end_state: str | None = None
    pricing_notes: str | None = None
    rate: int | None = None
    qualification: str | None = None


def _transfer(rng: random.Random, out: _Outcome, reason: str, p_success: float) -> None:
    ok = rng.random() < p_success
    out.transfer = (reason, ok)
    out.stage = "TRANSFER_SUCCEEDED" if ok else "TRANSFER_FAILED"


def _draw_outcome(rng: random.Random) -> _Outcome:
    """A consistent call outcome: classification depends on qualification, stage on transfer."""
    qual = _pick(rng, _QUAL_TABLE)
    cls = _pick(rng, _CLASS_TABLES[qual])
    out = _Outcome(cls, _choose(rng, _STAGES), qualification=qual)
    if cls == "success":
        out.stage, out.load_status, out.end_state = "PRICING", "ACTIVE", "booking_started"
        out.pricing_notes, out.rate = "AGREEMENT_REACHED_CARRIER_CONFIRMED", 900 + 25 * _below(rng, 132)
        if rng.random() < 0.85:
            reason = "AGREEMENT_REACHED" if rng.random() < 0.75 else "CARRIER_ASKED_FOR_TRANSFER"
            _transfer(rng, out, reason, 1.0)
    elif cls == "rate_disagreement":
        out.stage, out.load_status, out.end_state = "PRICING", "ACTIVE", "rate_rejected"
        out.pricing_notes = _choose(rng, ("RATE_TOO_HIGH", "NO_AGREEMENT", "COUNTER_OFFER_DECLINED"))
        if rng.random() < 0.35:
            _transfer(rng, out, "CARRIER_ASKED_FOR_TRANSFER", 0.55)
    elif cls == "load_not_available":
        out.stage, out.end_state = "LOAD_LOOKUP", "load_unavailable"
        out.load_status = _choose(rng, ("COVERED", "COVERED", "CANCELLED", "NOT_FOUND"))
        if rng.random() < 0.1:
            _transfer(rng, out, "CARRIER_ASKED_FOR_TRANSFER", 0.5)
    elif cls == "equipment_mismatch":
        out.stage, out.load_status, out.end_state = "CARRIER_VERIFICATION", "ACTIVE", "equipment_mismatch"
    elif cls in ("voicemail", "wrong_number"):
        out.stage = "GREETING"
    elif cls == "callback_requested":
        out.stage, out.end_state = _choose(rng, ("PRICING", "LOAD_LOOKUP")), "callback_scheduled"
        out.load_status = "ACTIVE"
    elif cls == "caller_hung_up":
        out.end_state = "hung_up"
    elif rng.random() < 0.2:  # other
        _transfer(rng, out, "ESCALATION", 0.5)
    if qual == "NOT_QUALIFIED" and cls != "success":
        out.end_state = "not_qualified"
    return out


_P_CLASS_ANY_MESS = P_CLASS_MISSING + P_CLASS_NULL + P_CLASS_EMPTY + P_CLASS_NUMBER + P_CLASS_ODD


def _classification_text(rng: random.Random, cls: str) -> str | None:
    """The JSON text of call_classification, now and then missing, null, empty, a number or odd."""
    r = rng.random()
    if r >= _P_CLASS_ANY_MESS:
        return _jv(cls)
    for text, p in (
        (None, P_CLASS_MISSING),
        ("null", P_CLASS_NULL),
        ('""', P_CLASS_EMPTY),
        ("42", P_CLASS_NUMBER),
    ):
        if r < p:
            return text
        r -= p
    return _jv(_choose(rng, _ODD_CLASSES))


def _success_text(rng: random.Random, ok: bool) -> str:
    if rng.random() >= P_TS_STRING:
        return "true" if ok else "false"
    return _choose(rng, _TS_STRINGS[:4] if ok else _TS_STRINGS[4:7])


_SECTIONS: dict[tuple[Any, ...], str] = {}


def _section(key: tuple[Any, ...], *pairs: tuple[str, str | None]) -> str:
    """JSON object text for vocabulary-only values, built once per distinct combination."""
    text = _SECTIONS.get(key)
    if text is None:
        text = _SECTIONS[key] = _obj(*pairs)
    return text


def _transfer_json(rng: random.Random, out: _Outcome) -> str:
    if out.transfer is None:
        ts = "false" if rng.random() < 0.7 else None
        return _section(("t", None, ts), ("transfer_attempt", '"NO"'), ("transfer_success", ts))
    reason, ok = out.transfer
    ts = _success_text(rng, ok)
    return _section(
        ("t", reason, ts),
        ("transfer_attempt", '"YES"'),
        ("transfer_reason", _jv(reason)),
        ("transfer_success", ts),
    )


def _outcome_json(rng: random.Random, out: _Outcome, carrier: str) -> str:
    cls = _classification_text(rng, out.classification)
    call = _section(("c", cls, out.stage), ("call_classification", cls), ("call_stage", _jv(out.stage)))
    load = "{}"
    if out.load_status is not None:
        load = f'{{"load_status":{_jv(out.load_status)},"reference_number":"{100000 + _below(rng, 900000)}"}}'
    carrier_obj = "{}"
    if out.qualification is not None:
        head = _section(
            ("q", out.qualification, out.end_state),
            ("carrier_qualification", _jv(out.qualification)),
            ("carrier_end_state", _jv(out.end_state)),
        )
        carrier_obj = f'{head[:-1]},"carrier_name":{carrier}}}'
    pricing = _section(("p", out.pricing_notes), ("pricing_notes", _jv(out.pricing_notes)))
    if out.rate is not None:
        pricing = f'{pricing[:-1]}{"," if out.pricing_notes else ""}"agreed_upon_rate":{out.rate}}}'
    return (
        f'{{"result":{{"call":{call},"transfer":{_transfer_json(rng, out)},'
        f'"load":{load},"carrier":{carrier_obj},"pricing":{pricing}}}}}'
    )


def _malformed(rng: random.Random, valid: str) -> str:
    # A proper prefix of a JSON object is never valid JSON, for Python and for ClickHouse alike.
    if rng.random() < 0.6:
        return valid[: 1 + _below(rng, len(valid) - 2)]
    return _choose(rng, _NOT_JSON)


_PARTIAL = '{"result":{"call":{"call_stage":%s}}}'
_CARRIER_JSON = [_j(name) for name in _CARRIERS]


# --- calls -------------------------------------------------------------------------------------


class _DayWriter:
    """Writes the rows of one organization-day's calls into the buffer."""

    def __init__(self, rng: random.Random, ctx: _OrgContext, buf: _Buffer) -> None:
        self.rng, self.ctx, self.buf = rng, ctx, buf
        self.org_id = ctx.org.org_id
        self.npid = ctx.org.node_persistent_id

    def call(self, ts: int) -> None:
        rng, buf = self.rng, self.buf
        run = _uuid_int(rng)
        r = rng.random()
        status = "failed" if r < P_FAILED else "in_progress" if r < P_FAILED + P_IN_PROGRESS else "completed"
        buf.runs[0].append(run)
        buf.runs[1].append(ts)
        buf.runs[2].append(status)
        out = _draw_outcome(rng)
        low, high = _DURATION[out.classification]
        seconds = low + rng.random() * (high - low) + (30 + rng.random() * 90 if out.transfer else 0)
        duration = None if status == "in_progress" or rng.random() < P_NULL_DURATION else round(seconds, 1)
        if rng.random() >= P_NO_SESSION:
            self._sessions(run, ts, duration)
        self._outputs(run, ts, duration, out)

    def _caller(self) -> str:
        r = self.rng.random()
        if r < P_WITHHELD:
            return ""
        if r < P_WITHHELD + P_EXCLUDED:
            return _choose(self.rng, self.ctx.excluded)
        return _choose(self.rng, self.ctx.callers)

    def _sessions(self, run: int, ts: int, duration: float | None) -> None:
        rng, buf = self.rng, self.buf
        user, created = self._caller(), ts + 200 + _below(rng, 2800)
        r = rng.random()
        if r < P_TIE:  # same created_at: the higher id carries the real values
            loser, winner = _ordered_pair(rng)
            buf.session(loser, run, self.org_id, "", None, created)
            buf.session(winner, run, self.org_id, user, duration, created)
        elif r < P_TIE + P_SECOND_SESSION:  # an early in-progress session, then the final one
            buf.session(_uuid_int(rng), run, self.org_id, "", None, created)
            end = created + int((duration or 60) * 1000) + 500 + _below(rng, 4500)
            buf.session(_uuid_int(rng), run, self.org_id, user, duration, end)
        else:
            sid = _uuid_int(rng)
            buf.session(sid, run, self.org_id, user, duration, created)
            if r < P_TIE + P_SECOND_SESSION + P_DUP_SESSION:  # at-least-once ingestion
                buf.session(sid, run, self.org_id, user, duration, created)

    def _outputs(self, run: int, ts: int, duration: float | None, out: _Outcome) -> None:
        rng = self.rng
        if rng.random() < P_OTHER_NODE:
            node, persistent, template = _choose(rng, self.ctx.other_nodes)
            flat = template % _below(rng, 10**6) if "%" in template else template
            self.buf.output(_uuid_int(rng), run, node, persistent, flat, ts + 1000 + _below(rng, 900_000))
        if rng.random() < P_NO_OUTPUT:
            return
        at = ts + int((duration or 60) * 1000) + 1000 + _below(rng, 14_000)
        if rng.random() < P_LATE:
            late = ts + _MS_HOUR + _below(rng, 39 * _MS_HOUR)
            # Never after the end of the range (today, for a range ending yesterday): an output from
            # the future would sit above every created_at watermark and hide real late arrivals.
            at = late if late < self.ctx.horizon else at
        node = self.ctx.broker_node_ids[rng.random() < 0.7]
        flat = _outcome_json(rng, out, _choose(rng, _CARRIER_JSON))
        r = rng.random()
        if r < P_MULTI_OUTPUT:
            self._earlier_outputs(run, ts, node, at)
            if rng.random() < P_LATEST_MALFORMED:
                flat = _malformed(rng, flat)  # latest wins even when malformed: unclassified
        elif r < P_MULTI_OUTPUT + P_MALFORMED:
            flat = _malformed(rng, flat)
        elif r < P_MULTI_OUTPUT + P_MALFORMED + P_TIE:  # same created_at: the higher id wins
            loser, oid = _ordered_pair(rng)
            self.buf.output(loser, run, node, self.npid, _outcome_json(rng, _draw_outcome(rng), '""'), at)
            self.buf.output(oid, run, node, self.npid, flat, at)
            return
        self.buf.output(_uuid_int(rng), run, node, self.npid, flat, at)

    def _earlier_outputs(self, run: int, ts: int, node: int, latest: int) -> None:
        """One or two earlier outputs (partial progress, a valid but superseded outcome)."""
        rng = self.rng
        for _ in range(1 + _below(rng, 2)):
            at = ts + _below(rng, max(1, latest - ts - 1))
            if rng.random() < 0.5:
                flat = _PARTIAL % _jv(_choose(rng, _STAGES))
            else:
                flat = _outcome_json(rng, _draw_outcome(rng), _choose(rng, _CARRIER_JSON))
            self.buf.output(_uuid_int(rng), run, node, self.npid, flat, at)


# --- days --------------------------------------------------------------------------------------


def _call_times(rng: random.Random, start: int, end: int, n: int, tz: ZoneInfo) -> list[int]:
    """`n` call instants in [start, end) following the daily curve of local wall-clock hours."""
    buckets, weights = [], []
    for bucket_start in range(start, end, _MS_HOUR):
        length = min(_MS_HOUR, end - bucket_start)
        hour = (_EPOCH + timedelta(milliseconds=bucket_start)).astimezone(tz).hour
        buckets.append((bucket_start, length))
        weights.append(_HOURLY[hour] * length / _MS_HOUR)
    cum = _cumulative(list(zip(buckets, weights, strict=True)))
    times = []
    for _ in range(n):
        if rng.random() < P_MIDNIGHT:
            times.append(_near_midnight(rng, start, end))
            continue
        bucket_start, length = _pick(rng, cum)
        times.append(bucket_start + int(rng.random() * length))
    return times


def _near_midnight(rng: random.Random, start: int, end: int) -> int:
    """Calls at the edges of the local day, including its first and last millisecond."""
    r = rng.random()
    if r < 0.15:
        return start
    if r < 0.3:
        return end - 1
    return start + rng.randrange(90_000) if r < 0.65 else end - 1 - rng.randrange(90_000)


def _generate_day(
    ctx: _OrgContext, day: date, seed: int, calls_per_day: int, buf: _Buffer, extra: bool
) -> None:
    # Extra DST-day calls have their own stream: they never change the calls of a regular day.
    rng = random.Random(f"demo-{'dst' if extra else 'day'}:{seed}:{ctx.org.org_id}:{day.isoformat()}")
    start = local_day_start_ms(day, ctx.tz)
    end = local_day_start_ms(day + timedelta(days=1), ctx.tz)
    n = round(calls_per_day * rng.uniform(0.8, 1.2))
    if extra:
        n = max(DST_EXTRA_CALLS_MIN, calls_per_day // 25) if calls_per_day else 0
    times = _call_times(rng, start, end, n, ctx.tz)
    transition = _transition_ms(start, end, ctx.tz)
    if transition is not None and n:  # a few calls right around the DST change itself
        for _ in range(max(2, n // 20)):
            times.append(min(end - 1, max(start, transition + rng.randrange(-1_800_000, 1_800_000))))
    writer = _DayWriter(rng, ctx, buf)
    for ts in sorted(times):
        writer.call(ts)


@dataclass
class _Plan:
    ctx: _OrgContext
    days: list[tuple[date, bool]]  # (local date, extra calls for its DST change)
    windows: list[tuple[int, int]]


def _plan(org: Organization, seed: int, days: int, end_date: date | None, dst_days: bool) -> _Plan:
    ctx = _org_context(org, seed)
    end = end_date or datetime.now(ctx.tz).date() - timedelta(days=1)
    ctx.horizon = local_day_start_ms(end + timedelta(days=1), ctx.tz)
    first = end - timedelta(days=days - 1)
    plan_days = [(first + timedelta(days=i), False) for i in range(days)]
    if dst_days:  # they depend on `end` only, so a longer range re-generates the same ones
        plan_days += [(d, True) for d in _recent_dst_days(ctx.tz, end)]
    windows = [
        (local_day_start_ms(d, ctx.tz), local_day_start_ms(d + timedelta(days=1), ctx.tz))
        for d, _ in plan_days
    ]
    return _Plan(ctx, plan_days, windows)


def _merge(windows: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1] + _MS_DAY:  # close windows: one range scan is cheaper
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _existing_runs(client: Client, database: str, windows: list[tuple[int, int]]) -> set[int]:
    """Run ids already in the warehouse within the generated time windows."""
    if not windows:
        return set()
    where = " OR ".join(
        f"timestamp BETWEEN fromUnixTimestamp64Milli(toInt64({lo}), 'UTC') "
        f"AND fromUnixTimestamp64Milli(toInt64({hi}), 'UTC')"
        for lo, hi in _merge(windows)
    )
    result = client.query(f"SELECT id FROM {database}.public_runs WHERE {where}")
    return {row[0].int for row in result.result_rows}


def _insert_nodes(client: Client, database: str, plans: list[_Plan]) -> int:
    org_ids = ", ".join(_sql_string(p.ctx.org.org_id) for p in plans)
    result = client.query(f"SELECT id FROM {database}.public_nodes WHERE org_id IN ({org_ids})")
    present = {row[0].int for row in result.result_rows}
    rows = [row for p in plans for row in p.ctx.node_rows if row[0] not in present]
    if rows:
        client.insert("public_nodes", rows, column_names=_NODE_COLUMNS, database=database)
    return len(rows)


def _write_calls(
    client: Client,
    database: str,
    plans: list[_Plan],
    seed: int,
    calls_per_day: int,
    existing: set[int],
    summary: DemoSummary,
) -> None:
    # One writer thread: the engine's share of an insert overlaps the generation of the next batch;
    # at most one batch waits, which bounds memory. The client is only used by one thread at a time.
    buf = _Buffer()
    with ThreadPoolExecutor(max_workers=1) as writer:
        inflight: Future[None] | None = None
        for plan in plans:
            for day, extra in plan.days:
                _generate_day(plan.ctx, day, seed, calls_per_day, buf, extra)
                if len(buf) >= BATCH_CALLS:
                    if inflight is not None:
                        inflight.result()
                    inflight = writer.submit(_flush, client, database, buf, existing, summary)
                    buf = _Buffer()
        if inflight is not None:
            inflight.result()
    _flush(client, database, buf, existing, summary)


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def generate_demo_data(
    client: Client,
    store: OrganizationSink | None,
    *,
    orgs: int,
    days: int,
    calls_per_day: int,
    seed: int,
    end_date: date | None = None,
    database: str = "default",
    dst_days: bool = True,
) -> DemoSummary:
    """Generate demo calls into the source tables of `database` and register the orgs in `store`.

    `days` local days per organization end at `end_date` (default: yesterday in each org's zone).
    With `dst_days`, the two most recent DST-change days up to `end_date` (within a year) get a
    handful of extra calls, inside or outside the range, so DST handling is exercised whatever the
    range. Calls whose run id is already present are skipped, so re-running with the same
    arguments adds nothing.
    """
    if not DATABASE_NAME_RE.match(database):
        raise ValueError(f"{database!r} is not a valid ClickHouse database name")
    organizations = demo_organizations(orgs, seed)
    if store is not None:
        for org in organizations:
            store.upsert_organization(org)
    plans = [_plan(org, seed, days, end_date, dst_days) for org in organizations]
    summary = DemoSummary(organizations=len(organizations))
    summary.nodes = _insert_nodes(client, database, plans) if plans else 0
    existing = _existing_runs(client, database, [w for p in plans for w in p.windows])
    _write_calls(client, database, plans, seed, calls_per_day, existing, summary)
    return summary
