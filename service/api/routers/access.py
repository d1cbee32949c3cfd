"""Access tokens and the audit trail (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from reports_store import ApiToken, AuditRecord
from service.access.tokens import CreatedToken, TokenRequest
from service.api.deps import Admin, AdminOps, PrincipalDep, Reader

router = APIRouter(prefix="/api", tags=["access"], dependencies=[Admin])
whoami_router = APIRouter(prefix="/api", tags=["access"])


class Me(BaseModel):
    """Who the request acts as: the dashboard shows a reader only its organizations' screens."""

    scope: str = Field(description="admin or reader")
    name: str
    org_ids: list[str] | None = Field(description="The organizations a reader may read; null for an admin.")


@whoami_router.get(
    "/me", response_model=Me, dependencies=[Reader], summary="The scope of this request's token"
)
def me(principal: PrincipalDep) -> Me:
    org_ids = None if principal.is_admin else sorted(principal.org_ids)
    return Me(scope=principal.kind, name=principal.name, org_ids=org_ids)


class TokenOut(BaseModel):
    """A token as listed: never its secret or hash."""

    id: str
    name: str
    scope: str
    org_ids: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@router.post(
    "/tokens",
    response_model=CreatedToken,
    status_code=status.HTTP_201_CREATED,
    summary="Create a token (shown once)",
)
def create_token(ops: AdminOps, body: TokenRequest) -> CreatedToken:
    return ops.create_token(body)


@router.get("/tokens", response_model=list[TokenOut], summary="Tokens without their secrets")
def list_tokens(ops: AdminOps) -> list[ApiToken]:
    return ops.tokens()


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke a token: it stops working at once",
)
def revoke_token(ops: AdminOps, token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]) -> Response:
    ops.revoke_token(token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/audit", response_model=list[AuditRecord], summary="Admin actions, newest first")
def audit(
    ops: AdminOps,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditRecord]:
    return ops.audit(limit, offset)
