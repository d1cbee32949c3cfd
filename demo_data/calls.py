"""One organization's calls of one local day: runs, sessions and node outputs, with the mess.

The mess is a few percent each: failed and in-progress runs, withheld and excluded callers, NULL
durations, runs without a session, sessions ingested twice or superseded, created_at ties decided
by the higher id, missing, repeated, malformed and late outputs, outputs of other nodes, calls on
the edges of local midnight and around DST changes.

Rows go column-oriented into `CallRows`, with integer UUIDs and epoch-millisecond timestamps.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from demo_data.organizations import phone_plan, random_number
from demo_data.outcomes import (
    Outcome,
    carrier_json,
    draw_outcome,
    malformed,
    outcome_json,
    partial_json,
)
from demo_data.sampling import below, choose, cumulative, ordered_pair, pick, uuid_int
from demo_data.timeline import MS_DAY, MS_HOUR, day_bounds_ms, local_hour, ms, transition_ms
from reports_store.models import Organization
from service.core.calendar import zone

__all__ = [
    "NODE_COLUMNS",
    "OUTPUT_COLUMNS",
    "RUN_COLUMNS",
    "SESSION_COLUMNS",
    "CallRows",
    "OrgContext",
    "generate_day",
    "org_context",
]

# Share of calls per local wall-clock hour: quiet nights, a business-hours peak, a lunch dip.
_HOURLY = (0.6, 0.4, 0.3, 0.3, 0.4, 0.9, 2.0, 4.0, 7.0, 9.0, 10.0, 9.5)
_HOURLY += (7.5, 8.5, 9.0, 8.5, 7.0, 5.0, 3.0, 2.0, 1.5, 1.2, 0.9, 0.7)

# Rates of the mess (probabilities per call unless said otherwise); each is a few percent at most.
# The outcome JSON's own mess (classification, transfer_success) is in `demo_data.outcomes`.
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
P_LATE = 0.02  # output arriving 1 to 40 hours after the call
P_MIDNIGHT = 0.02  # call placed within seconds of a local midnight
P_OTHER_NODE = 0.3  # an output of a non-broker node of the same org
DST_EXTRA_CALLS_MIN = 4

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

RUN_COLUMNS = ["id", "timestamp", "status"]
SESSION_COLUMNS = ["id", "run_id", "org_id", "user_number", "duration", "created_at"]
OUTPUT_COLUMNS = ["id", "run_id", "node_id", "node_persistent_id", "flat_data", "created_at"]
NODE_COLUMNS = ["id", "persistent_id", "org_id", "name", "type", "created_at"]


@dataclass
class OrgContext:
    org: Organization
    tz: ZoneInfo
    broker_node_ids: tuple[int, int]
    other_nodes: list[tuple[int, str, str]]  # node id, persistent id, flat_data template
    node_rows: list[list[Any]]
    callers: list[str]
    excluded: list[str]
    # Epoch ms of the end of the generated range: late outputs never go past it (other rows by at
    # most a call's length, a quarter of an hour).
    horizon: int = 0
    # Epoch ms of the generation: a past call's later rows are never written after it, so a range
    # that ended minutes ago (just after a local midnight) has no future rows either. A future
    # created_at would sit above the marts' watermark until its time comes.
    now: int = field(default_factory=lambda: ms(datetime.now(UTC)))


def org_context(org: Organization, seed: int) -> OrgContext:
    """The organization's nodes (two broker versions, three others) and its pool of callers."""
    rng = random.Random(f"demo-nodes:{seed}:{org.org_id}")
    created = ms(datetime(2024, 6, 1, tzinfo=UTC)) + rng.randrange(30 * MS_DAY)
    broker = (uuid_int(rng), uuid_int(rng))  # two versions of the broker node, one persistent id
    rows = [
        [broker[0], org.node_persistent_id, org.org_id, "Broker agent", "broker", created],
        [broker[1], org.node_persistent_id, org.org_id, "Broker agent v2", "broker", created + 90 * MS_DAY],
    ]
    others = []
    for name, kind, template in _OTHER_NODES:
        node_id, persistent = uuid_int(rng), str(uuid.UUID(int=uuid_int(rng)))
        rows.append([node_id, persistent, org.org_id, name, kind, created])
        others.append((node_id, persistent, template))
    plan = phone_plan(org.timezone)
    excluded = list(org.excluded_numbers)
    pool = {random_number(rng, plan) for _ in range(400)} - set(excluded)
    return OrgContext(org, zone(org.timezone), broker, others, rows, sorted(pool), excluded)


@dataclass
class CallRows:
    """Rows of runs, sessions and outputs, column by column (in the order of the *_COLUMNS lists)."""

    runs: list[list[Any]] = field(default_factory=lambda: [[], [], []])
    sessions: list[list[Any]] = field(default_factory=lambda: [[] for _ in SESSION_COLUMNS])
    outputs: list[list[Any]] = field(default_factory=lambda: [[] for _ in OUTPUT_COLUMNS])

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


# --- calls -------------------------------------------------------------------------------------


class _DayWriter:
    """Writes the rows of one organization-day's calls into the `CallRows`."""

    def __init__(self, rng: random.Random, ctx: OrgContext, buf: CallRows) -> None:
        self.rng, self.ctx, self.buf = rng, ctx, buf
        self.org_id = ctx.org.org_id
        self.npid = ctx.org.node_persistent_id

    def _settled(self, ts: int, at: int) -> int:
        """`at` for a row of the call started at `ts`, never later than the generation if the call is past."""
        return min(at, max(ts, self.ctx.now))

    def call(self, ts: int) -> None:
        rng, buf = self.rng, self.buf
        run = uuid_int(rng)
        r = rng.random()
        status = "failed" if r < P_FAILED else "in_progress" if r < P_FAILED + P_IN_PROGRESS else "completed"
        buf.runs[0].append(run)
        buf.runs[1].append(ts)
        buf.runs[2].append(status)
        out = draw_outcome(rng)
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
            return choose(self.rng, self.ctx.excluded)
        return choose(self.rng, self.ctx.callers)

    def _sessions(self, run: int, ts: int, duration: float | None) -> None:
        rng, buf = self.rng, self.buf
        user, created = self._caller(), self._settled(ts, ts + 200 + below(rng, 2800))
        r = rng.random()
        if r < P_TIE:  # same created_at: the higher id carries the real values
            loser, winner = ordered_pair(rng)
            buf.session(loser, run, self.org_id, "", None, created)
            buf.session(winner, run, self.org_id, user, duration, created)
        elif r < P_TIE + P_SECOND_SESSION:  # an early in-progress session, then the final one
            buf.session(uuid_int(rng), run, self.org_id, "", None, created)
            end = self._settled(ts, created + int((duration or 60) * 1000) + 500 + below(rng, 4500))
            buf.session(uuid_int(rng), run, self.org_id, user, duration, end)
        else:
            sid = uuid_int(rng)
            buf.session(sid, run, self.org_id, user, duration, created)
            if r < P_TIE + P_SECOND_SESSION + P_DUP_SESSION:  # at-least-once ingestion
                buf.session(sid, run, self.org_id, user, duration, created)

    def _outputs(self, run: int, ts: int, duration: float | None, out: Outcome) -> None:
        rng = self.rng
        if rng.random() < P_OTHER_NODE:
            node, persistent, template = choose(rng, self.ctx.other_nodes)
            flat = template % below(rng, 10**6) if "%" in template else template
            at = self._settled(ts, ts + 1000 + below(rng, 900_000))
            self.buf.output(uuid_int(rng), run, node, persistent, flat, at)
        if rng.random() < P_NO_OUTPUT:
            return
        at = ts + int((duration or 60) * 1000) + 1000 + below(rng, 14_000)
        if rng.random() < P_LATE:
            late = ts + MS_HOUR + below(rng, 39 * MS_HOUR)
            # Never after the end of the range (today, for a range ending yesterday): an output from
            # the future would sit above every created_at watermark and hide real late arrivals.
            at = late if late < self.ctx.horizon else at
        at = self._settled(ts, at)
        node = self.ctx.broker_node_ids[rng.random() < 0.7]
        flat = outcome_json(rng, out, carrier_json(rng))
        r = rng.random()
        if r < P_MULTI_OUTPUT:
            self._earlier_outputs(run, ts, node, at)
            if rng.random() < P_LATEST_MALFORMED:
                flat = malformed(rng, flat)  # latest wins even when malformed: unclassified
        elif r < P_MULTI_OUTPUT + P_MALFORMED:
            flat = malformed(rng, flat)
        elif r < P_MULTI_OUTPUT + P_MALFORMED + P_TIE:  # same created_at: the higher id wins
            loser, oid = ordered_pair(rng)
            self.buf.output(loser, run, node, self.npid, outcome_json(rng, draw_outcome(rng), '""'), at)
            self.buf.output(oid, run, node, self.npid, flat, at)
            return
        self.buf.output(uuid_int(rng), run, node, self.npid, flat, at)

    def _earlier_outputs(self, run: int, ts: int, node: int, latest: int) -> None:
        """One or two earlier outputs (partial progress, a valid but superseded outcome)."""
        rng = self.rng
        for _ in range(1 + below(rng, 2)):
            at = ts + below(rng, max(1, latest - ts - 1))
            if rng.random() < 0.5:
                flat = partial_json(rng)
            else:
                flat = outcome_json(rng, draw_outcome(rng), carrier_json(rng))
            self.buf.output(uuid_int(rng), run, node, self.npid, flat, at)


# --- days --------------------------------------------------------------------------------------


def _call_times(rng: random.Random, start: int, end: int, n: int, tz: ZoneInfo) -> list[int]:
    """`n` call instants in [start, end) following the daily curve of local wall-clock hours."""
    buckets, weights = [], []
    for bucket_start in range(start, end, MS_HOUR):
        length = min(MS_HOUR, end - bucket_start)
        hour = local_hour(bucket_start, tz)
        buckets.append((bucket_start, length))
        weights.append(_HOURLY[hour] * length / MS_HOUR)
    cum = cumulative(list(zip(buckets, weights, strict=True)))
    times = []
    for _ in range(n):
        if rng.random() < P_MIDNIGHT:
            times.append(_near_midnight(rng, start, end))
            continue
        bucket_start, length = pick(rng, cum)
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


def generate_day(
    ctx: OrgContext, day: date, seed: int, calls_per_day: int, buf: CallRows, extra: bool
) -> None:
    """Append the calls of local `day` (about `calls_per_day`, or a few `extra` ones for a DST day)."""
    # Extra DST-day calls have their own stream: they never change the calls of a regular day.
    rng = random.Random(f"demo-{'dst' if extra else 'day'}:{seed}:{ctx.org.org_id}:{day.isoformat()}")
    start, end = day_bounds_ms(day, ctx.tz)
    n = round(calls_per_day * rng.uniform(0.8, 1.2))
    if extra:
        n = max(DST_EXTRA_CALLS_MIN, calls_per_day // 25) if calls_per_day else 0
    times = _call_times(rng, start, end, n, ctx.tz)
    transition = transition_ms(start, end, ctx.tz)
    if transition is not None and n:  # a few calls right around the DST change itself
        for _ in range(max(2, n // 20)):
            times.append(min(end - 1, max(start, transition + rng.randrange(-1_800_000, 1_800_000))))
    writer = _DayWriter(rng, ctx, buf)
    for ts in sorted(times):
        writer.call(ts)
