"""Where access tokens are stored: the `api_tokens` table (a SHA-256 of each secret, never the secret)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reports_store.base import TokenStore
from reports_store.models import ApiToken
from reports_store.sql.base import SqlStoreBase, as_utc, cols, dumps, loads, marks

_COLUMNS = (
    "id",
    "name",
    "secret_hash",
    "scope",
    "org_ids",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
)
_TIMESTAMPS = ("created_at", "expires_at", "last_used_at", "revoked_at")


def _token_from_row(row: tuple[Any, ...]) -> ApiToken:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["org_ids"] = loads(values["org_ids"], [])
    for name in _TIMESTAMPS:
        values[name] = as_utc(values[name])
    return ApiToken(**values)


class SqlTokenStore(SqlStoreBase, TokenStore):
    def _fetch_token(self, conn: Any, token_id: str) -> ApiToken | None:
        row = conn.execute(f"SELECT {cols(_COLUMNS)} FROM api_tokens WHERE id = ?", [token_id]).fetchone()
        return None if row is None else _token_from_row(row)

    def create_token(self, token: ApiToken) -> ApiToken:
        values = [
            token.id,
            token.name,
            token.secret_hash,
            token.scope,
            dumps(token.org_ids),
            *(
                None if getattr(token, name) is None else self._ts_param(getattr(token, name))
                for name in _TIMESTAMPS
            ),
        ]
        with self._session(write=True) as conn:
            conn.execute(f"INSERT INTO api_tokens ({cols(_COLUMNS)}) VALUES ({marks(len(values))})", values)
            stored = self._fetch_token(conn, token.id)
        assert stored is not None  # just written in this transaction
        return stored

    def get_token(self, token_id: str) -> ApiToken | None:
        with self._session() as conn:
            return self._fetch_token(conn, token_id)

    def list_tokens(self) -> list[ApiToken]:
        with self._session() as conn:
            rows = conn.execute(
                f"SELECT {cols(_COLUMNS)} FROM api_tokens ORDER BY created_at DESC, id"
            ).fetchall()
        return [_token_from_row(row) for row in rows]

    def revoke_token(self, token_id: str, at: datetime) -> ApiToken | None:
        with self._session(write=True) as conn:
            conn.execute(
                "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                [self._ts_param(at), token_id],
            )
            return self._fetch_token(conn, token_id)

    def touch_tokens(self, uses: Mapping[str, datetime]) -> None:
        with self._uncounted_write() as conn:  # no cache rests on a last use
            conn.executemany(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                [[self._ts_param(at), token_id] for token_id, at in sorted(uses.items())],
            )
