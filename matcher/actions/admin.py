"""Companies and users: add, list and revoke, from the API, the admin pages or the console.

Each leaves the same entry whichever door it came through: ``company.create`` naming the
company, ``user.create`` naming the user by opaque id (reason ``role <role>``), ``user.revoke``,
and ``company.list`` / ``user.list`` for the lists. ``who`` is the signed-in admin, or the
console's actor (``cli:<login>``) for ``matcher companies`` / ``matcher users``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.audit import Actor
from matcher.core.vocabulary import AuditAction
from matcher.store import companies, sessions, users
from matcher.store.companies import Company
from matcher.store.users import User, audit_object

__all__ = ["add_company", "add_user", "list_companies", "list_users", "revoke_user"]

Who = Principal | Actor


def add_company(
    conn: Connection, who: Who, now: datetime, company_id: str, name: str, signing_key_pem: str
) -> Company:
    """Register a company (raises InvalidInput / ConflictError, nothing logged then)."""
    company = companies.add_company(conn, company_id, name, signing_key_pem)
    record(conn, who, AuditAction.COMPANY_CREATE, now, {"company": company.id})
    return company


def list_companies(conn: Connection, who: Who, now: datetime) -> list[Company]:
    found = companies.list_companies(conn)
    record(conn, who, AuditAction.COMPANY_LIST, now)
    return found


def add_user(
    conn: Connection, who: Who, now: datetime, name: str, role: str, company_id: str | None
) -> tuple[User, str]:
    """Add a user; returns it and its bearer token (shown once, stored nowhere)."""
    user, token = users.add_user(conn, name, role, company_id)
    record(conn, who, AuditAction.USER_CREATE, now, audit_object(user), reason=f"role {user.role}")
    return user, token


def list_users(conn: Connection, who: Who, now: datetime) -> list[User]:
    found = users.list_users(conn)
    record(conn, who, AuditAction.USER_LIST, now)
    return found


def revoke_user(conn: Connection, who: Who, now: datetime, name: str) -> User:
    """Revoke a user's token and end their web sessions at once (NotFound for an unknown name)."""
    user = users.revoke_user(conn, name)
    # Their web sessions end with the token, not at their next page view.
    sessions.end_user_sessions(conn, user.id, now, sessions.ENDED_REVOKED)
    record(conn, who, AuditAction.USER_REVOKE, now, audit_object(user))
    return user
