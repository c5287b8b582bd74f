"""Authentication and role checks: FastAPI dependencies every route declares.

A request carries ``Authorization: Bearer cc_...``; the token's SHA-256 is looked up (only the
hash is stored) and must belong to an unrevoked user. Each route names the roles it admits with
``Depends(require("admin", ...))``: no or bad token -> 401, wrong role -> 403. Whether an
object belongs to the caller's company is decided by the repository queries (404 when not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from matcher.errors import AuthenticationError, PermissionDenied
from matcher.settings import Settings
from matcher.store.blobs import BlobStore
from matcher.store.tables import ROLES
from matcher.store.users import user_for_token

__all__ = [
    "AppState",
    "Principal",
    "app_state",
    "connection",
    "current_principal",
    "require",
]


@dataclass(frozen=True)
class AppState:
    """What ``create_app`` builds once and every request uses."""

    settings: Settings
    engine: Engine
    blobs: BlobStore
    reveal_key_fingerprint: str


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    name: str
    role: str
    company_id: str | None

    def own_company(self) -> str:
        """The company a company role is bound to (admins and auditors have none)."""
        if self.company_id is None:
            raise PermissionDenied(f"role {self.role} is not bound to a company")
        return self.company_id


def app_state(request: Request) -> AppState:
    state = request.app.state.matcher
    assert isinstance(state, AppState)
    return state


def connection(state: Annotated[AppState, Depends(app_state)]) -> Iterator[Connection]:
    """A connection in one transaction for the request, committed when the route returns."""
    with state.engine.begin() as conn:
        yield conn


_bearer = HTTPBearer(auto_error=False, description="A Crosscheck API token: cc_...")


def current_principal(
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError()
    with state.engine.connect() as conn:
        user = user_for_token(conn, credentials.credentials)
    if user is None:
        raise AuthenticationError("the bearer token is unknown or revoked")
    return Principal(user.id, user.name, user.role, user.company_id)


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only ``roles``; use as ``Depends(require("admin"))``."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise PermissionDenied(
                f"role {principal.role} may not use this route; it admits {', '.join(roles)}"
            )
        return principal

    return check
