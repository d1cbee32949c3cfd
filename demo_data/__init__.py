"""Deterministic, realistic and deliberately messy demo data for the four source tables.

Not part of the runtime service: the `demo-data` CLI command and the tests and benchmarks use it.

Each organization-day draws from its own `random.Random` seeded with (seed, org, local date), so the
same arguments always give identical rows, a longer range reuses the days it shares with a shorter
one, and a re-run only adds calls whose run id is not in the warehouse yet.

Rows are built column-oriented with integer UUIDs and millisecond timestamps (what clickhouse-connect
writes fastest) and JSON text is assembled from pre-encoded fragments rather than per-row dicts.

- `organizations`: the demo organizations, their zones and phone numbers;
- `calls`: one organization-day's runs, sessions and outputs, with the mess;
- `outcomes`: call outcomes and the broker node's output JSON;
- `writer`: plans, idempotent batched inserts, `generate_demo_data`;
- `timeline`, `sampling`: local days in milliseconds (on `service.core.calendar`), random draws.
"""

from demo_data.organizations import TIMEZONES, demo_organizations
from demo_data.timeline import local_day_start_ms
from demo_data.writer import DemoSummary, OrganizationSink, generate_demo_data

__all__ = [
    "TIMEZONES",
    "DemoSummary",
    "OrganizationSink",
    "demo_organizations",
    "generate_demo_data",
    "local_day_start_ms",
]
