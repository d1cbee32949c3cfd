"""The demo organizations: names, timezones chosen for their DST traps, and country-like phone numbers.

Every value passes the `Organization` rules of `reports_store.rules`: uuid5 ids are identifiers
(`^[A-Za-z0-9._:-]{1,128}$`), the zones are tz database names and the excluded numbers are E.164
(`^\\+[1-9][0-9]{1,14}$`: each prefix starts with a non-zero country code).
"""

from __future__ import annotations

import random
import uuid

from reports_store.models import Organization

__all__ = ["TIMEZONES", "demo_organizations", "phone_plan", "random_number"]

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
_FALLBACK_PLAN = ("+1555", 7)  # an organization whose zone the demo does not know
_ORG_NAMES = (
    "Paul Logistics",
    "Southern Cross Freight",
    "Deccan Haulage",
    "Thames Brokerage",
    "Andes Cargo",
    "Hudson Loads",
    "Meridian Transport",
)
NAMESPACE = uuid.UUID("6f1c2d5e-8a43-4c1b-9e0f-2b7d9a4c3e11")


def phone_plan(timezone: str) -> tuple[str, int]:
    """(E.164 prefix, local digits) of numbers for an organization in `timezone`."""
    return _PHONE_PLAN.get(timezone, _FALLBACK_PLAN)


def random_number(rng: random.Random, plan: tuple[str, int]) -> str:
    prefix, digits = plan
    return f"{prefix}{rng.randrange(10**digits):0{digits}d}"


def demo_organizations(n: int, seed: int) -> list[Organization]:
    """`n` demo organizations, identical for the same (n, seed); zones cycle through TIMEZONES."""
    orgs = []
    for i in range(n):
        tz = TIMEZONES[i % len(TIMEZONES)]
        rng = random.Random(f"demo-org:{seed}:{i}")
        name = _ORG_NAMES[i % len(_ORG_NAMES)]
        if i >= len(_ORG_NAMES):
            name = f"{name} {i // len(_ORG_NAMES) + 1}"
        plan = _PHONE_PLAN[tz]
        excluded = sorted({random_number(rng, plan) for _ in range(rng.randint(1, 2))})
        orgs.append(
            Organization(
                org_id=str(uuid.uuid5(NAMESPACE, f"org:{seed}:{i}")),
                name=name,
                node_persistent_id=str(uuid.uuid5(NAMESPACE, f"broker-node:{seed}:{i}")),
                timezone=tz,
                excluded_numbers=excluded,
            )
        )
    return orgs
