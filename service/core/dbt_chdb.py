"""A chDB driver for dbt-clickhouse, which only ships HTTP and native drivers.

dbt-clickhouse builds its client through `get_db_client(credentials)`. We register a `chdb`
driver there: the adapter's HTTP client wrapper, with the underlying clickhouse-connect client
opened in-process on the embedded warehouse directory (`host` in the profile holds the path).
Everything else (view, table and incremental materializations) is dbt-clickhouse's own code.

The embedded engine is more lenient than a server in two ways that would let a model pass
locally and fail in production, so the driver behaves like a server's HTTP interface there:

- **One statement per query.** chDB runs `SET x = 1; SELECT ...` as two statements; a server
  refuses it with `Syntax error (Multi-statements are not allowed)` (code 62). The driver asks
  the engine's own parser (`formatQuery`, which parses exactly one statement, the way the HTTP
  interface does) whenever a semicolon is followed by more text, and raises the server's error.
- **`grants:`** needs users and roles, which an embedded engine has none of. GRANT and REVOKE
  are skipped with one warning line per dbt invocation, and the current grants read as empty,
  so models keep their production `grants:` config and build locally.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.exceptions import DatabaseError
from dbt.adapters.clickhouse import connections, dbclient
from dbt.adapters.clickhouse.httpclient import ChHttpClient
from dbt.adapters.clickhouse.logger import logger
from dbt_common.exceptions import DbtDatabaseError
from dbt_common.invocation import get_invocation_id

from service.core.warehouse import embedded_client

MULTI_STATEMENTS = "Multi-statements are not allowed"
MULTI_STATEMENTS_HINT = (
    "The embedded target refuses this as a ClickHouse server does: one statement per query. "
    "Put settings in the model's `settings`/`query_settings` config, not as `SET ...;` in a sql_header."
)
GRANTS_SKIPPED = (
    "grants: are not applied on the embedded chDB target (it has no users or roles); "
    "GRANT/REVOKE statements are skipped here and run on a ClickHouse server."
)

_DCL = re.compile(r"(?:grant|revoke)\b", re.IGNORECASE)
# dbt-clickhouse's `clickhouse__get_show_grant_sql`: reading system.grants needs SHOW USERS.
_SHOW_GRANTS = re.compile(
    r"select\s+toString\(\s*access_type\s*\)\s+as\s+privilege_type\b[^;]*?\bfrom\s+system\.grants\b",
    re.IGNORECASE,
)
_NO_GRANTS = "SELECT '' AS privilege_type, '' AS grantee WHERE 0"
_warned_invocations: set[str] = set()


def statement_start(sql: str) -> int:
    """Where the statement begins, after leading whitespace and comments (`--`, `# `, `/* */`)."""
    pos, end = 0, len(sql)
    while pos < end:
        if sql[pos].isspace():
            pos += 1
        elif sql.startswith("--", pos) or sql.startswith(("# ", "#!"), pos):
            newline = sql.find("\n", pos)
            pos = end if newline < 0 else newline + 1
        elif sql.startswith("/*", pos):
            close = sql.find("*/", pos + 2)
            pos = end if close < 0 else close + 2
        else:
            break
    return pos


def may_hold_several_statements(sql: str) -> bool:
    """Whether a semicolon is followed by more text (a trailing `;` alone is one statement)."""
    return ";" in sql.rstrip(" \t\r\n;")


def multi_statement_error(parser_message: str) -> str:
    """The server's error text from the engine parser's refusal of `formatQuery(<sql>)`.

    The parser's message is the one a server's HTTP interface gives, followed by the scope of
    our probe (`: In scope SELECT formatQuery(...)`), which is dropped.
    """
    head = parser_message.split(": In scope SELECT formatQuery(", 1)[0].rstrip()
    head = head[head.index("Code: 62") :] if "Code: 62" in head else head
    return f"{head} . (SYNTAX_ERROR)\n{MULTI_STATEMENTS_HINT}"


# Opening a clickhouse-connect client on the engine and closing it cost 0.1-0.3 s each, twice per
# dbt invocation (dbt's connections); the service refreshes often, so one client per directory and
# settings is kept for the life of the process (the engine itself is process-wide anyway).
_clients: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_clients_lock = threading.Lock()


def _shared_client(path: Path, settings: dict[str, Any]) -> Any:
    # A session id is new per dbt connection and means nothing to the embedded engine.
    key = (str(path), tuple(sorted((k, str(v)) for k, v in settings.items() if k != "session_id")))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = embedded_client(path, settings)
            _clients[key] = client
        return client


class ChdbClient(ChHttpClient):
    """dbt-clickhouse's HTTP client wrapper running on an embedded chDB engine."""

    def _create_client(self, credentials):
        return _shared_client(Path(credentials.host).resolve(), self._conn_settings)

    def query(self, sql, **kwargs):
        self._refuse_multi_statements(sql)
        if _SHOW_GRANTS.match(sql, statement_start(sql)):
            sql = _NO_GRANTS
        return super().query(sql, **kwargs)

    def command(self, sql, **kwargs):
        self._refuse_multi_statements(sql)
        if _DCL.match(sql, statement_start(sql)):
            _warn_grants_skipped()
            return None
        return super().command(sql, **kwargs)

    def _refuse_multi_statements(self, sql: str) -> None:
        if not may_hold_several_statements(sql):
            return
        try:
            self._client.command("SELECT formatQuery({sql:String})", parameters={"sql": sql})
        except DatabaseError as ex:
            # Any other parse error is left to the real query, which reports it as usual.
            if MULTI_STATEMENTS in str(ex):
                raise DbtDatabaseError(multi_statement_error(str(ex))) from None

    def close(self):
        # The client (and its session) is shared and kept for the next invocation (see
        # _shared_client); what a closed connection would have dropped goes now: the session's
        # temporary tables (unit tests and some materializations create them).
        try:
            temporary = self._client.query("SELECT name FROM system.tables WHERE is_temporary").result_rows
            for (name,) in temporary:
                self._client.command(f"DROP TEMPORARY TABLE IF EXISTS `{name.replace('`', '``')}`")
        finally:
            self._discard_dedicated_pool()


def _warn_grants_skipped() -> None:
    invocation = get_invocation_id()
    if invocation not in _warned_invocations:
        _warned_invocations.add(invocation)
        logger.warning(GRANTS_SKIPPED)


_original_get_db_client = dbclient.get_db_client


def _get_db_client(credentials):
    if credentials.driver == "chdb":
        credentials.port = credentials.port or 0
        return ChdbClient(credentials)
    return _original_get_db_client(credentials)


def register() -> None:
    """Make `driver: chdb` available to dbt-clickhouse (idempotent)."""
    connections.get_db_client = _get_db_client
