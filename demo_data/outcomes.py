"""Call outcomes and the broker node's output JSON, with the mess an outcome's text can carry.

An outcome is consistent (classification depends on the carrier's qualification, the stage on the
transfer); its JSON text now and then has a missing, null, empty, numeric or off-vocabulary
classification, a transfer_success written as a string, or is not JSON at all.

Hot path (a million calls): JSON sections are cached by their vocabulary values so each output is a
handful of string concatenations.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from demo_data.sampling import below, choose, cumulative, pick

__all__ = [
    "STAGES",
    "Outcome",
    "carrier_json",
    "draw_outcome",
    "malformed",
    "outcome_json",
    "partial_json",
]

P_CLASS_MISSING, P_CLASS_NULL, P_CLASS_EMPTY, P_CLASS_NUMBER = 0.015, 0.01, 0.01, 0.005
P_CLASS_ODD = 0.004  # values outside the vocabulary (or in another case) that must pass through
P_TS_STRING = 0.08  # transfer_success written as a string

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
STAGES = ("GREETING", "LOAD_LOOKUP", "CARRIER_VERIFICATION", "PRICING")
_CARRIERS = ("ABC Trucking", "Blue Line Carriers", "Lone Star Freight", "Koala Haul", "Ruta 5 Cargo")
_CARRIERS += ("Ganges Express", "Red Rose Transport", "Empire Flatbeds", "O'Neil & Sons", "Zürich Reefer")
_ODD_CLASSES = ("Success", "load_booked_elsewhere", " success")
_TS_STRINGS = ('"true"', '"TRUE"', '"yes"', '"Yes"', '"no"', '"false"', '"No"', '"YES"')
_NOT_JSON = ("", "ERROR: broker node timed out", "{'result': {'call': {'call_classification': 'success'}}}")
_NOT_JSON += ("<html><body>502 Bad Gateway</body></html>", "undefined")


def _j(value: str) -> str:
    return orjson.dumps(value).decode()


_QUAL_TABLE = cumulative(_QUALIFICATION)
_CLASS_TABLES = {qual: cumulative(rows) for qual, rows in _CLASS_BY_QUAL.items()}


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
class Outcome:
    classification: str
    stage: str
    transfer: tuple[str, bool] | None = None  # (reason, succeeded) when a transfer was attempted
    load_status: str | None = None
    end_state: str | None = None
    pricing_notes: str | None = None
    rate: int | None = None
    qualification: str | None = None


def _transfer(rng: random.Random, out: Outcome, reason: str, p_success: float) -> None:
    ok = rng.random() < p_success
    out.transfer = (reason, ok)
    out.stage = "TRANSFER_SUCCEEDED" if ok else "TRANSFER_FAILED"


def draw_outcome(rng: random.Random) -> Outcome:
    """A consistent call outcome: classification depends on qualification, stage on transfer."""
    qual = pick(rng, _QUAL_TABLE)
    cls = pick(rng, _CLASS_TABLES[qual])
    out = Outcome(cls, choose(rng, STAGES), qualification=qual)
    if cls == "success":
        out.stage, out.load_status, out.end_state = "PRICING", "ACTIVE", "booking_started"
        out.pricing_notes, out.rate = "AGREEMENT_REACHED_CARRIER_CONFIRMED", 900 + 25 * below(rng, 132)
        if rng.random() < 0.85:
            reason = "AGREEMENT_REACHED" if rng.random() < 0.75 else "CARRIER_ASKED_FOR_TRANSFER"
            _transfer(rng, out, reason, 1.0)
    elif cls == "rate_disagreement":
        out.stage, out.load_status, out.end_state = "PRICING", "ACTIVE", "rate_rejected"
        out.pricing_notes = choose(rng, ("RATE_TOO_HIGH", "NO_AGREEMENT", "COUNTER_OFFER_DECLINED"))
        if rng.random() < 0.35:
            _transfer(rng, out, "CARRIER_ASKED_FOR_TRANSFER", 0.55)
    elif cls == "load_not_available":
        out.stage, out.end_state = "LOAD_LOOKUP", "load_unavailable"
        out.load_status = choose(rng, ("COVERED", "COVERED", "CANCELLED", "NOT_FOUND"))
        if rng.random() < 0.1:
            _transfer(rng, out, "CARRIER_ASKED_FOR_TRANSFER", 0.5)
    elif cls == "equipment_mismatch":
        out.stage, out.load_status, out.end_state = "CARRIER_VERIFICATION", "ACTIVE", "equipment_mismatch"
    elif cls in ("voicemail", "wrong_number"):
        out.stage = "GREETING"
    elif cls == "callback_requested":
        out.stage, out.end_state = choose(rng, ("PRICING", "LOAD_LOOKUP")), "callback_scheduled"
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
    return _jv(choose(rng, _ODD_CLASSES))


def _success_text(rng: random.Random, ok: bool) -> str:
    if rng.random() >= P_TS_STRING:
        return "true" if ok else "false"
    return choose(rng, _TS_STRINGS[:4] if ok else _TS_STRINGS[4:7])


_SECTIONS: dict[tuple[Any, ...], str] = {}


def _section(key: tuple[Any, ...], *pairs: tuple[str, str | None]) -> str:
    """JSON object text for vocabulary-only values, built once per distinct combination."""
    text = _SECTIONS.get(key)
    if text is None:
        text = _SECTIONS[key] = _obj(*pairs)
    return text


def _transfer_json(rng: random.Random, out: Outcome) -> str:
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


def outcome_json(rng: random.Random, out: Outcome, carrier: str) -> str:
    cls = _classification_text(rng, out.classification)
    call = _section(("c", cls, out.stage), ("call_classification", cls), ("call_stage", _jv(out.stage)))
    load = "{}"
    if out.load_status is not None:
        load = f'{{"load_status":{_jv(out.load_status)},"reference_number":"{100000 + below(rng, 900000)}"}}'
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


def malformed(rng: random.Random, valid: str) -> str:
    # A proper prefix of a JSON object is never valid JSON, for Python and for ClickHouse alike.
    if rng.random() < 0.6:
        return valid[: 1 + below(rng, len(valid) - 2)]
    return choose(rng, _NOT_JSON)


_PARTIAL = '{"result":{"call":{"call_stage":%s}}}'
_CARRIER_JSON = [_j(name) for name in _CARRIERS]


def partial_json(rng: random.Random) -> str:
    """An early output: only the stage reached so far."""
    return _PARTIAL % _jv(choose(rng, STAGES))


def carrier_json(rng: random.Random) -> str:
    """The JSON text of a random carrier name."""
    return choose(rng, _CARRIER_JSON)
