"""A chDB driver for dbt-clickhouse, which only ships HTTP and native drivers.

dbt-clickhouse builds its client through `get_db_client(credentials)`. We register a `chdb`
driver there: the adapter's HTTP client wrapper, with the underlying clickhouse-connect client
opened in-process on the embedded warehouse directory (`host` in the profile holds the path).
Everything else (view, table and incremental materializations) is dbt-clickhouse's own code.
"""

from __future__ import annotations

from pathlib import Path

import clickhouse_connect
from dbt.adapters.clickhouse import connections, dbclient
from dbt.adapters.clickhouse.httpclient import ChHttpClient

from service.core.warehouse import claim_embedded


class ChdbClient(ChHttpClient):
    """dbt-clickhouse's HTTP client wrapper running on an embedded chDB engine."""

    def _create_client(self, credentials):
        path = Path(credentials.host).resolve()
        claim_embedded(path)
        return clickhouse_connect.get_client(interface="chdb", path=str(path), settings=self._conn_settings)

    def close(self):
        # Clients share the process-wide engine; closing one handle keeps the engine open.
        self._client.close()


_original_get_db_client = dbclient.get_db_client


def _get_db_client(credentials):
    if credentials.driver == "chdb":
        credentials.port = credentials.port or 0
        return ChdbClient(credentials)
    return _original_get_db_client(credentials)


def register() -> None:
    """Make `driver: chdb` available to dbt-clickhouse (idempotent)."""
    connections.get_db_client = _get_db_client
