"""The principal a request or a command acts as, and what it may read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from service.core.errors import Forbidden, InvalidInput


@dataclass(frozen=True)
class Principal:
    kind: Literal["admin", "reader"]
    actor_id: str  # a token id, "API_KEY", "cli" or "open" (no API_KEY configured)
    name: str
    org_ids: frozenset[str] = field(default_factory=frozenset)
    # When the credentials must be looked at again (a token's expiry), as a time.time() value:
    # until then an answer made for them may be reused (the API fast path).
    check_again_at: float = math.inf

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def can_read(self, org_id: str) -> bool:
        return self.is_admin or org_id in self.org_ids

    def readable_org_id(self, org_id: str | None, default_org_id: str | None) -> str | None:
        """The organization a read is about: the one asked for (if this principal may read it), else
        the reader's only organization, else the default one. Never says whether an org exists."""
        if self.is_admin:
            return org_id
        if org_id is None:
            if len(self.org_ids) == 1:
                return next(iter(self.org_ids))
            if default_org_id in self.org_ids:
                return default_org_id
            raise InvalidInput("This token reads several organizations: give org_id")
        if org_id not in self.org_ids:
            raise Forbidden(f"This token may not read organization {org_id!r}")
        return org_id

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("This needs an admin token; a reader token only reads its organizations")


# No API_KEY configured: the service is open for local use (it says so loudly at start).
OPEN = Principal(kind="admin", actor_id="open", name="anyone (no API_KEY configured)")
# The command line working in-process: whoever can run it owns the files.
CLI = Principal(kind="admin", actor_id="cli", name="command line (in-process)")
API_KEY_ADMIN = Principal(kind="admin", actor_id="API_KEY", name="API_KEY")
