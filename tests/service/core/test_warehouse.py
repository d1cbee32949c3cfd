"""The embedded engine (service/core/warehouse.py).

Real chDB: the session's embedded warehouse.
"""

from __future__ import annotations

from service.core.warehouse import EMBEDDED_ENGINE_OPTIONS, get_client
from tests.conftest import make_settings


def test_the_embedded_engine_runs_with_the_projects_start_up_options() -> None:
    # The first client of a process starts the engine; every client (the service's, dbt's) asks
    # for the same options, so the pool that runs a refresh's deletes is never chDB's 2 threads.
    client = get_client(make_settings("warehouse"))
    names = list(EMBEDDED_ENGINE_OPTIONS)
    rows = client.query(
        "SELECT name, value FROM system.server_settings WHERE name IN {names:Array(String)}",
        parameters={"names": names},
    ).result_rows
    assert {name: int(value) for name, value in rows} == EMBEDDED_ENGINE_OPTIONS
