"""Companies and users: add, list and revoke, from the API, the admin pages or the console.

Each leaves the same entry whichever door it came through: ``company.create`` naming the
company, ``user.create`` naming the user by opaque id (reason ``role <role>``), ``user.revoke``,
and ``company.list`` / ``user.list`` for the lists. ``who`` is the signed-in admin, or the
console's actor (``cli:<login>``) for ``matcher companies`` / ``matcher users``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from matcher.actions import sessions as web_sessions
from matcher.actions.entries import record
from matcher.actions.principal import Principal
from matcher.core.audit import Actor
from matcher.core.vocabulary import COMPANY_ROLES, AuditAction, Role
from matcher.errors import InvalidInput, NotFound, PermissionDenied
from matcher.store import companies, sessions, tokens, users
from matcher.store.companies import Company
from matcher.store.sessions import StoredSession
from matcher.store.tokens import MachineToken
from matcher.store.users import User, audit_object

__all__ = [
    "MAX_TOKEN_DAYS",
    "MAX_TOKEN_OVERLAP_DAYS",
    "add_company",
    "add_token",
    "add_user",
    "end_session",
    "list_companies",
    "list_tokens",
    "list_users",
    "log_expired_tokens",
    "revoke_token",
    "revoke_user",
    "rotate_token",
    "user_sessions",
]

Who = Principal | Actor


def add_company(
    conn: Connection, who: Who, now: datetime, company_id: str, name: str, signing_key_pem: str
) -> Company:
    """Register a company (raises InvalidInput / ConflictError, nothing logged then)."""
    company = companies.add_company(conn, company_id, name, signing_key_pem)
    record(conn, who, AuditAction.COMPANY_CREATE, now, {"company": company.id})
    return company


MAX_OVERLAP_DAYS = 90


def rotate_signing_key(
    conn: Connection, who: Who, now: datetime, company_id: str, new_pem: str, overlap_days: int
) -> Company:
    """A planned key change: the new key from now, the old one still accepted for
    ``overlap_days`` (packages signed before the switch still upload)."""
    if not 0 <= overlap_days <= MAX_OVERLAP_DAYS:
        raise InvalidInput(f"the overlap is 0-{MAX_OVERLAP_DAYS} days")
    until = now + timedelta(days=overlap_days)
    company = companies.replace_signing_key(
        conn, company_id, new_pem, now, accept_old_until=until, revoke_old=False
    )
    record(
        conn,
        who,
        AuditAction.COMPANY_KEY_ROTATE,
        now,
        {"company": company_id, "old_key_until": until.strftime("%Y-%m-%dT%H:%MZ")},
    )
    return company


def revoke_signing_key(
    conn: Connection, who: Who, now: datetime, company_id: str, new_pem: str
) -> Company:
    """A compromised key: the new key from now, the old one (and any still in an overlap)
    refused at once, with its own refusal (``signing-key-revoked``)."""
    company = companies.replace_signing_key(
        conn, company_id, new_pem, now, accept_old_until=None, revoke_old=True
    )
    record(conn, who, AuditAction.COMPANY_KEY_REVOKE, now, {"company": company_id})
    return company


def list_companies(conn: Connection, who: Who, now: datetime) -> list[Company]:
    found = companies.list_companies(conn)
    record(conn, who, AuditAction.COMPANY_LIST, now)
    return found


def _company_admin(who: Who) -> str | None:
    """The company a company administrator acts for; None for the operator's admins."""
    if isinstance(who, Principal) and who.role == Role.COMPANY_ADMIN:
        return who.own_company()
    return None


def _within(who: Who, user: User) -> User:
    """A company administrator sees only their own company's people: others are not found."""
    own = _company_admin(who)
    if own is not None and user.company_id != own:
        raise NotFound(f"no user named {user.name}")
    return user


def add_user(
    conn: Connection, who: Who, now: datetime, name: str, role: str, company_id: str | None
) -> tuple[User, str]:
    """Add a user; returns it and its bearer token (shown once, stored nowhere). A company
    administrator adds people of their own company in its roles only."""
    own = _company_admin(who)
    if own is not None:
        if role not in COMPANY_ROLES:
            raise PermissionDenied(f"a company administrator may not give the role {role}")
        if company_id != own:
            raise PermissionDenied("a company administrator adds people of their own company")
    user, token = users.add_user(conn, name, role, company_id)
    record(conn, who, AuditAction.USER_CREATE, now, audit_object(user), reason=f"role {user.role}")
    return user, token


def list_users(conn: Connection, who: Who, now: datetime) -> list[User]:
    """Everyone (admins), or a company administrator's own company's people."""
    own = _company_admin(who)
    found = [u for u in users.list_users(conn) if own is None or u.company_id == own]
    record(conn, who, AuditAction.USER_LIST, now)
    return found


def revoke_user(conn: Connection, who: Who, now: datetime, name: str) -> User:
    """Revoke a user's token and end their web sessions at once (NotFound for an unknown name,
    and for another company's person when a company administrator asks)."""
    _within(who, users.user_named(conn, name))
    user = users.revoke_user(conn, name)
    # Their web sessions end with the token, not at their next page view.
    sessions.end_user_sessions(conn, user.id, now, sessions.ENDED_REVOKED)
    record(conn, who, AuditAction.USER_REVOKE, now, audit_object(user))
    return user


def user_sessions(
    conn: Connection, who: Who, now: datetime, name: str
) -> tuple[User, list[StoredSession]]:
    """A user's web sessions, newest first (``session.list``; NotFound for an unknown name)."""
    user = _within(who, users.user_named(conn, name))
    found = sessions.user_sessions(conn, user.id)
    record(conn, who, AuditAction.SESSION_LIST, now, audit_object(user))
    return user, found


def end_session(conn: Connection, who: Who, now: datetime, session_id: int) -> StoredSession:
    """End one of someone's sessions at once (``session.end``, reason ``ended-by-admin``)."""
    row = sessions.session_by_id(conn, session_id)
    owner = None if row is None else users.get_user(conn, row.user_id)
    if owner is None:
        raise NotFound(f"no session {session_id}")
    assert row is not None
    _within(who, owner)
    return web_sessions.end_by_admin(conn, who, row, now)


MAX_TOKEN_DAYS = 366
MAX_TOKEN_OVERLAP_DAYS = 30


def _token_object(user: User, token: MachineToken) -> dict[str, str]:
    return {**audit_object(user), "token": str(token.id)}


def add_token(
    conn: Connection, who: Who, now: datetime, user_name: str, token_name: str, days: int
) -> tuple[MachineToken, str]:
    """A machine token for a user, valid for ``days`` (``token.create``): returned once."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidInput(f"a token is valid for 1-{MAX_TOKEN_DAYS} days")
    user = _within(who, users.user_named(conn, user_name))
    if not user.active:
        raise InvalidInput(f"user {user.name} is revoked; a revoked user gets no token")
    token, secret = tokens.add_token(conn, user.id, token_name, now, now + timedelta(days=days))
    expires = token.expires_at.strftime("%Y-%m-%dT%H:%MZ")
    record(
        conn,
        who,
        AuditAction.TOKEN_CREATE,
        now,
        _token_object(user, token),
        reason=f"expires {expires}",
    )
    return token, secret


def list_tokens(
    conn: Connection, who: Who, now: datetime, user_name: str
) -> tuple[User, list[MachineToken]]:
    """A user's machine tokens, newest first (``token.list``)."""
    user = _within(who, users.user_named(conn, user_name))
    found = tokens.user_tokens(conn, user.id)
    record(conn, who, AuditAction.TOKEN_LIST, now, audit_object(user))
    return user, found


def _token_and_user(conn: Connection, who: Who, token_id: int) -> tuple[MachineToken, User]:
    token = tokens.get_token(conn, token_id)
    user = users.get_user(conn, token.user_id)
    if user is None:
        raise NotFound(f"no token {token_id}")
    try:
        _within(who, user)
    except NotFound:
        raise NotFound(f"no token {token_id}") from None
    return token, user


def rotate_token(
    conn: Connection, who: Who, now: datetime, token_id: int, overlap_days: int
) -> tuple[MachineToken, str]:
    """A successor token (returned once); the old one works ``overlap_days`` more, so the
    script can be switched without downtime (``token.rotate``)."""
    if not 0 <= overlap_days <= MAX_TOKEN_OVERLAP_DAYS:
        raise InvalidInput(f"the overlap is 0-{MAX_TOKEN_OVERLAP_DAYS} days")
    old, user = _token_and_user(conn, who, token_id)
    overlap = timedelta(days=overlap_days)
    fresh, secret = tokens.rotate_token(conn, old, now, overlap)
    record(
        conn,
        who,
        AuditAction.TOKEN_ROTATE,
        now,
        {**_token_object(user, old), "successor": str(fresh.id)},
        reason=f"old token until {min(old.expires_at, now + overlap):%Y-%m-%dT%H:%MZ}",
    )
    return fresh, secret


def revoke_token(conn: Connection, who: Who, now: datetime, token_id: int) -> MachineToken:
    """Stop one machine token at once (``token.revoke``)."""
    token, user = _token_and_user(conn, who, token_id)
    revoked = tokens.revoke_token(conn, token, now)
    record(conn, who, AuditAction.TOKEN_REVOKE, now, _token_object(user, token))
    return revoked


def log_expired_tokens(conn: Connection, who: Who, now: datetime) -> int:
    """A ``token.expire`` entry for each machine token that ran out since the last call (the
    periodic purge calls this); returns how many."""
    due = tokens.due_for_expiry_entry(conn, now)
    for token in due:
        user = users.get_user(conn, token.user_id)
        found = {"token": str(token.id)} if user is None else _token_object(user, token)
        record(conn, who, AuditAction.TOKEN_EXPIRE, now, found)
        tokens.mark_expiry_logged(conn, token.id)
    return len(due)
