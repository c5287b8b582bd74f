"""Admin API: register companies, add, list and revoke users (tokens shown once).

Each call is an audit entry in the same transaction; users appear in the log by id, never by
name or token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from pydantic import BaseModel, ConfigDict, Field

from matcher.actions import admin as actions
from matcher.api.deps import Conn, Principal, require
from matcher.core import limits
from matcher.core.vocabulary import Role
from matcher.store.companies import Company
from matcher.store.database import MAX_ROW_ID, utcnow
from matcher.store.sessions import StoredSession
from matcher.store.tokens import MachineToken
from matcher.store.users import User

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["admin"])

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
# People: the operator's admins for everyone, company administrators for their own company.
PeopleAdmin = Annotated[Principal, Depends(require(Role.ADMIN, Role.COMPANY_ADMIN))]


class CompanyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(
        min_length=1, max_length=limits.COMPANY_ID_CHARS, pattern=limits.COMPANY_ID.pattern
    )
    name: str = Field(min_length=1, max_length=limits.COMPANY_NAME_CHARS)
    signing_public_key: str = Field(description="Ed25519 public key, PEM")


class CompanyOut(BaseModel):
    id: str
    name: str
    signing_public_key: str
    created_at: datetime

    @classmethod
    def of(cls, company: Company) -> CompanyOut:
        return cls(
            id=company.id,
            name=company.name,
            signing_public_key=company.signing_public_key,
            created_at=company.created_at,
        )


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=limits.USER_NAME_CHARS)
    role: str
    company_id: str | None = None


class UserOut(BaseModel):
    name: str
    role: str
    company_id: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            name=user.name,
            role=user.role,
            company_id=user.company_id,
            created_at=user.created_at,
            revoked_at=user.revoked_at,
        )


class NewUserOut(UserOut):
    token: str = Field(description="The bearer token; shown only in this response")


@router.post("/companies", status_code=status.HTTP_201_CREATED)
def post_company(body: CompanyIn, admin: Admin, conn: Conn) -> CompanyOut:
    company = actions.add_company(
        conn, admin, utcnow(), body.id, body.name, body.signing_public_key
    )
    return CompanyOut.of(company)


class SigningKeyIn(BaseModel):
    signing_public_key: str = Field(description="the company's new Ed25519 public key, PEM")
    compromised: bool = Field(
        default=False, description="revoke the old key at once instead of rotating"
    )
    overlap_days: int = Field(
        default=14, ge=0, le=90, description="days the old key is still accepted (rotation)"
    )


@router.post("/companies/{company_id}/signing-key")
def post_signing_key(
    company_id: Annotated[str, Path(max_length=64)], body: SigningKeyIn, admin: Admin, conn: Conn
) -> CompanyOut:
    """Replace a company's signing key: rotate (the old key still accepted for
    ``overlap_days``) or, with ``compromised``, revoke the old key at once."""
    pem, now = body.signing_public_key, utcnow()
    if body.compromised:
        company = actions.revoke_signing_key(conn, admin, now, company_id, pem)
    else:
        company = actions.rotate_signing_key(conn, admin, now, company_id, pem, body.overlap_days)
    return CompanyOut.of(company)


@router.get("/companies")
def get_companies(admin: Admin, conn: Conn) -> list[CompanyOut]:
    return [CompanyOut.of(c) for c in actions.list_companies(conn, admin, utcnow())]


@router.post("/users", status_code=status.HTTP_201_CREATED)
def post_user(body: UserIn, admin: PeopleAdmin, conn: Conn) -> NewUserOut:
    user, token = actions.add_user(conn, admin, utcnow(), body.name, body.role, body.company_id)
    return NewUserOut(**UserOut.of(user).model_dump(), token=token)


@router.get("/users")
def get_users(admin: PeopleAdmin, conn: Conn) -> list[UserOut]:
    return [UserOut.of(u) for u in actions.list_users(conn, admin, utcnow())]


@router.post("/users/{name}/revoke")
def post_revoke(name: str, admin: PeopleAdmin, conn: Conn) -> UserOut:
    user = actions.revoke_user(conn, admin, utcnow(), name)
    return UserOut.of(user)


class SessionOut(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    ended_reason: str | None = Field(
        description="sign-out, idle, absolute, user-revoked, ended-by-admin, provider-ended"
    )
    via_provider: bool = Field(description="begun at an OpenID provider (else with a token)")

    @classmethod
    def of(cls, row: StoredSession, user: User | None = None) -> SessionOut:
        return cls(
            id=row.id,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            ended_at=row.ended_at,
            ended_reason=row.ended_reason,
            via_provider=user is not None and user.issuer is not None,
        )


@router.get("/users/{name}/sessions")
def get_sessions(name: str, admin: PeopleAdmin, conn: Conn) -> list[SessionOut]:
    """A user's web sessions, newest first: open ones have no ``ended_at``."""
    user, found = actions.user_sessions(conn, admin, utcnow(), name)
    return [SessionOut.of(row, user) for row in found]


@router.post("/sessions/{session_id}/end")
def post_end_session(
    session_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], admin: PeopleAdmin, conn: Conn
) -> SessionOut:
    """End a web session at once: its cookie opens nothing from now on."""
    return SessionOut.of(actions.end_session(conn, admin, utcnow(), session_id))


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=1, max_length=100, description="what the token is for, e.g. 'nightly upload'"
    )
    days: int = Field(default=90, ge=1, le=actions.MAX_TOKEN_DAYS, description="valid this long")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_days: int = Field(
        default=7,
        ge=0,
        le=actions.MAX_TOKEN_OVERLAP_DAYS,
        description="the old token still works this long (switch the script meanwhile)",
    )


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    replaced_by: int | None

    @classmethod
    def of(cls, token: MachineToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
            replaced_by=token.replaced_by,
        )


class NewTokenOut(TokenOut):
    token: str = Field(description="The bearer token; shown only in this response")


TokenId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.post("/users/{name}/tokens", status_code=status.HTTP_201_CREATED)
def post_token(name: str, body: TokenIn, admin: PeopleAdmin, conn: Conn) -> NewTokenOut:
    """A machine token for a script or the connector's upload: it acts as the user ``name``
    (their role and company) until it expires."""
    token, secret = actions.add_token(conn, admin, utcnow(), name, body.name, body.days)
    return NewTokenOut(**TokenOut.of(token).model_dump(), token=secret)


@router.get("/users/{name}/tokens")
def get_tokens(name: str, admin: PeopleAdmin, conn: Conn) -> list[TokenOut]:
    """A user's machine tokens, newest first, with when each was last used."""
    _user, found = actions.list_tokens(conn, admin, utcnow(), name)
    return [TokenOut.of(t) for t in found]


@router.post("/tokens/{token_id}/rotate", status_code=status.HTTP_201_CREATED)
def post_rotate_token(
    token_id: TokenId, admin: PeopleAdmin, conn: Conn, body: RotateIn | None = None
) -> NewTokenOut:
    """A successor with the same name and lifetime; the old token works ``overlap_days``
    more, so the script can switch without downtime."""
    overlap = (body or RotateIn()).overlap_days
    token, secret = actions.rotate_token(conn, admin, utcnow(), token_id, overlap)
    return NewTokenOut(**TokenOut.of(token).model_dump(), token=secret)


@router.post("/tokens/{token_id}/revoke")
def post_revoke_token(token_id: TokenId, admin: PeopleAdmin, conn: Conn) -> TokenOut:
    """Stop one machine token at once."""
    return TokenOut.of(actions.revoke_token(conn, admin, utcnow(), token_id))
