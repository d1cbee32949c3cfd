"""The one place that opens the configured warehouse: embedded chDB or a ClickHouse server."""

from __future__ import annotations

import fcntl
import math
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from service.core.config import Settings, get_settings
from service.core.errors import Unavailable

SOURCE_DDL_PATH = Path(__file__).with_name("source_tables.sql")
SOURCE_TABLES = ("public_runs", "public_sessions", "public_nodes", "public_node_outputs")


class WarehouseError(Unavailable):
    """The warehouse cannot be used; the message says why in one line."""


class WarehouseBusy(WarehouseError):
    """Another process owns the embedded warehouse."""


_lock = threading.Lock()
_owner_lock_file: object | None = None
_prepared: set[tuple[Path, str, str]] = set()


def claim_embedded(path: Path) -> None:
    """Take the process-wide ownership lock of an embedded warehouse directory.

    chDB allows one process per data directory and fails with an obscure engine error otherwise,
    so we hold an advisory lock for the life of the process and explain the conflict clearly.
    """
    global _owner_lock_file
    if _owner_lock_file is not None:
        return
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / "owner.lock", "a+")  # noqa: SIM115 - held open for the process lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise WarehouseBusy(
            f"The embedded warehouse {path} is in use by another process (pid {owner}); "
            "stop that process or send the command to the running service."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    _owner_lock_file = handle


# The engine's start-up options; the first client in a process sets them for its life. chDB starts
# its merges-and-mutations pool with 2 threads on a 2-core machine: a lightweight DELETE is a mutation
# of every part it touches, and with more parts than the pool takes at once the rest wait for the
# pool's next scheduling round, up to a second later (the delete of a refresh's window from a daily
# mart: 0.3-1.6 s instead of 0.05-0.1 s; ClickHouse's own server default is 16).
EMBEDDED_ENGINE_OPTIONS = {"background_pool_size": 8}


def embedded_client(path: Path, query_settings: dict[str, Any]) -> Client:
    """A client of the embedded engine on `path`, which this process then owns."""
    claim_embedded(path)
    return clickhouse_connect.get_client(
        interface="chdb", path=str(path), settings=query_settings, chdb_options=EMBEDDED_ENGINE_OPTIONS
    )


def embedded_owner_pid(path: Path) -> int | None:
    """The pid that holds the embedded warehouse, or None when it is free (or held by us)."""
    lock_path = path / "owner.lock"
    if _owner_lock_file is not None or not lock_path.exists():
        return None
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def source_ddl(database: str) -> list[str]:
    """The contract's CREATE TABLE statements, aimed at the configured source database."""
    text = SOURCE_DDL_PATH.read_text()
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    statements = [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    return [s.replace("default.", f"{database}.") for s in statements]


def get_client(settings: Settings | None = None) -> Client:
    """A new clickhouse-connect client for the configured warehouse.

    Clients are cheap and not shared between threads; in the embedded warehouse all clients of
    the process share one engine. On first use the embedded warehouse gets the source tables.
    """
    settings = settings or get_settings()
    if not settings.embedded:
        host, port, secure = settings.server_endpoint()
        try:
            return clickhouse_connect.get_client(
                host=host,
                port=port,
                secure=secure,
                username=settings.clickhouse_username,
                password=settings.clickhouse_password.get_secret_value(),
                database=settings.clickhouse_database,
                settings=settings.query_limits(),
            )
        except Exception as exc:  # connection errors carry no secrets, but keep the line short
            raise WarehouseError(f"Cannot reach ClickHouse at {host}:{port}: {type(exc).__name__}") from exc
    path = settings.chdb_dir
    with _lock:
        client = embedded_client(path, settings.query_limits())
        key = (path, settings.clickhouse_database, settings.dbt_schema)
        if key not in _prepared:
            create_source_tables(client, settings)
            _prepared.add(key)
    return client


def call_start_span(client: Client, database: str) -> tuple[datetime, datetime] | None:
    """The oldest and newest call start (public_runs.timestamp); None when there is no call.

    Each is the first row in the primary key's order (a few granules) where min()/max() would
    read the whole column (5M calls: 1.7 ms instead of 34)."""
    query = "SELECT timestamp FROM {database}.public_runs ORDER BY timestamp {order} LIMIT 1"
    oldest = client.query(query.format(database=database, order="ASC")).result_rows
    newest = client.query(query.format(database=database, order="DESC")).result_rows
    if not oldest or not newest:
        return None
    return oldest[0][0], newest[0][0]


def run_id_cuts(client: Client, database: str, runs_per_range: int) -> list[str]:
    """Run ids, ascending in ClickHouse's order of UUIDs (which compares their second half first),
    that cut public_runs into ranges of about `runs_per_range` runs each, the last holding the rest.

    Read from a sample of the ids (reading the id column once): a few hundred per range keep the
    ranges within a few percent of their size. Every range but the last is full, so a range's
    size (its memory) is the budget's whatever the history, not the history split evenly."""
    total = client.query(f"SELECT count() FROM {database}.public_runs").first_row[0]  # from metadata
    ranges = math.ceil(total / max(runs_per_range, 1))
    if ranges < 2:
        return []
    query = f"SELECT arraySort(groupArraySample({{size:UInt32}}, 1)(id)) FROM {database}.public_runs"
    sample = client.query(query, parameters={"size": max(200 * ranges, 10_000)}).first_row[0]
    cuts: list[str] = []
    for number in range(1, ranges):
        cut = str(sample[number * runs_per_range * len(sample) // total]) if sample else None
        if cut is not None and (not cuts or cut != cuts[-1]):
            cuts.append(cut)
    return cuts


def create_source_tables(client: Client, settings: Settings) -> None:
    """Create the source database and the four contract tables when absent (embedded only)."""
    client.command(f"CREATE DATABASE IF NOT EXISTS {settings.clickhouse_database}")
    client.command(f"CREATE DATABASE IF NOT EXISTS {settings.dbt_schema}")
    for statement in source_ddl(settings.clickhouse_database):
        client.command(statement)
