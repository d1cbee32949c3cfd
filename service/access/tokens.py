"""Access tokens: `cat_<id>_<secret>`, a 256-bit secret of which the store keeps only a SHA-256.

The prefix lets secret scanners spot a leaked token; the id finds the stored hash, which is
compared in constant time. The plain token exists once, in the answer to its creation.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reports_store import ApiToken, ReportStore
from reports_store.rules import Identifier
from service.access.principal import API_KEY_ADMIN, CLI, OPEN, Principal
from service.core.config import Settings
from service.core.errors import InvalidInput, NotFound, Unauthorized

TOKEN_PREFIX = "cat_"
# last_used_at is a hint, not a write per request: every token's latest use is written together, at
# most once this often (each write changes the store's data version and so empties its readers' caches).
TOUCH_EVERY = timedelta(minutes=1)


class TokenRequest(BaseModel):
    """POST /api/tokens, `tokens create`: a reader of some organizations, or an admin."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    org_ids: list[Identifier] = Field(default_factory=list, max_length=1000)
    admin: bool = False
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        if self.admin and self.org_ids:
            raise ValueError("an admin token reads every organization: give org_ids or admin, not both")
        if not self.admin and not self.org_ids:
            raise ValueError("a reader token needs at least one org_id (or admin: true)")
        return self


class CreatedToken(BaseModel):
    """The one answer that carries the plain token."""

    id: str
    token: str = Field(description="Shown once: store it now, it cannot be read again.")
    name: str
    scope: str
    org_ids: list[str]
    created_at: datetime
    expires_at: datetime | None


BUILT_IN_ACTORS = frozenset(p.actor_id for p in (OPEN, API_KEY_ADMIN, CLI))  # not stored tokens


def _principal(token: ApiToken) -> Principal:
    check_again_at = token.expires_at.timestamp() if token.expires_at is not None else math.inf
    if token.scope == "admin":
        return Principal(kind="admin", actor_id=token.id, name=token.name, check_again_at=check_again_at)
    return Principal(
        kind="reader",
        actor_id=token.id,
        name=token.name,
        org_ids=frozenset(token.org_ids),
        check_again_at=check_again_at,
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(self, settings: Settings, store: ReportStore) -> None:
        self.settings = settings
        self.store = store
        self._lock = threading.Lock()
        # Stored tokens and their principals while the store is unchanged.
        self._cache: dict[str, tuple[ApiToken, Principal]] = {}
        self._cache_version: int | None = None
        # Uses not yet written (token id -> latest use) and when uses were last written.
        self._uses: dict[str, datetime] = {}
        self._uses_written_at: datetime | None = None

    @property
    def enabled(self) -> bool:
        key = self.settings.api_key
        return key is not None and bool(key.get_secret_value())

    def create(self, request: TokenRequest, now: datetime | None = None) -> CreatedToken:
        for org_id in request.org_ids:
            if self.store.get_organization(org_id) is None:
                raise InvalidInput(f"Unknown organization {org_id!r}: a token can only read registered ones")
        now = now or datetime.now(UTC)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        stored = self.store.create_token(
            ApiToken(
                id=token_id,
                name=request.name,
                scope="admin" if request.admin else "reader",
                org_ids=sorted(set(request.org_ids)),
                secret_hash=_hash(secret),
                created_at=now,
                expires_at=now + timedelta(days=request.expires_in_days) if request.expires_in_days else None,
            )
        )
        return CreatedToken(token=f"{TOKEN_PREFIX}{token_id}_{secret}", **stored.model_dump())

    def list(self) -> list[ApiToken]:
        return self.store.list_tokens()

    def revoke(self, token_id: str) -> ApiToken:
        revoked = self.store.revoke_token(token_id, datetime.now(UTC))
        if revoked is None:
            raise NotFound(f"No token {token_id!r}")
        with self._lock:
            self._cache.clear()
        return revoked

    def _stored(self, token_id: str, version: int | None) -> tuple[ApiToken, Principal] | None:
        """The stored token and its principal, cached while the store is unchanged (a revocation
        anywhere shows at once)."""
        with self._lock:
            if version is None or version != self._cache_version:
                self._cache.clear()
                self._cache_version = version
            cached = self._cache.get(token_id)
        if cached is None:
            token = self.store.get_token(token_id)
            if token is None:
                return None
            cached = token, _principal(token)
            if version is not None:
                with self._lock:
                    if self._cache_version == version:
                        self._cache[token_id] = cached
        return cached

    def authenticate(
        self, authorization: str | None, now: datetime | None = None, *, version: int | None = None
    ) -> Principal:
        """The principal of an `Authorization: Bearer ...` header (everyone is admin without API_KEY).

        `version`: the store's data version when the caller has just read it (the API's fast path
        reads it once a request); read here otherwise."""
        if not self.enabled:
            return OPEN
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("This needs a token: send 'Authorization: Bearer <token>'")
        given = authorization.removeprefix("Bearer ").strip()
        api_key = self.settings.api_key.get_secret_value()  # type: ignore[union-attr]  # enabled
        if hmac.compare_digest(given.encode(), api_key.encode()):
            return API_KEY_ADMIN
        return self._verified(
            given, now or datetime.now(UTC), self.store.data_version() if version is None else version
        )

    def _verified(self, given: str, now: datetime, version: int | None) -> Principal:
        token_id, _, secret = given.removeprefix(TOKEN_PREFIX).partition("_")
        stored = self._stored(token_id, version) if given.startswith(TOKEN_PREFIX) and secret else None
        # Compared even for an unknown id, so timing does not tell which ids exist.
        expected = stored[0].secret_hash if stored is not None else _hash("")
        if not hmac.compare_digest(_hash(secret), expected) or stored is None:
            raise Unauthorized("The token is not valid")
        token, principal = stored
        if token.revoked_at is not None:
            raise Unauthorized("The token was revoked")
        if token.expires_at is not None and token.expires_at <= now:
            raise Unauthorized("The token has expired")
        self.record_use(principal, now)
        return principal

    def record_use(self, principal: Principal, now: datetime) -> None:
        """Remember a token's use; all tokens' latest uses are written in one store write at most
        once a TOUCH_EVERY (the first use after start at once)."""
        if principal.actor_id in BUILT_IN_ACTORS:
            return
        with self._lock:
            self._uses[principal.actor_id] = now
            if self._uses_written_at is not None and now - self._uses_written_at < TOUCH_EVERY:
                return
            uses, self._uses, self._uses_written_at = self._uses, {}, now
        self.store.touch_tokens(uses)

    def write_uses(self) -> None:
        """Write the uses not yet written (at shutdown)."""
        with self._lock:
            uses, self._uses = self._uses, {}
        if uses:
            self.store.touch_tokens(uses)
